-- bench/ffi_call.lua -- what crossing from Lua into C costs: one trivial FFI call
-- (C.ft_numel) and one Lua method call (t:size(1)), in nanoseconds per call, the
-- median of `batches` timed loops of `n` calls each, with the JIT on and off.
--   FATHOM_LIB=$PWD/build/libfathom.so luajit bench/ffi_call.lua [n=1e7] [batches=15]
package.path = './?.lua;' .. package.path
local ffi = require 'ffi'
local fathom = require 'fathom'
local C = fathom.C

local n, batches = tonumber(arg[1]) or 1e7, tonumber(arg[2]) or 15
pcall(ffi.cdef, 'typedef struct { long tv_sec; long tv_nsec; } fb_timespec; int clock_gettime(int, fb_timespec *);')
local ts = ffi.new('fb_timespec')
local function now() ffi.C.clock_gettime(1, ts) return tonumber(ts.tv_sec) + 1e-9 * tonumber(ts.tv_nsec) end

local t = fathom.Tensor(3, 4)
local p = t.p

local function median_ns(loop)
  loop() -- compile
  local r = {}
  for b = 1, batches do
    local t0 = now()
    local sink = loop()
    r[b] = (now() - t0) / n * 1e9
    assert(sink > 0)
  end
  table.sort(r)
  return r[math.floor(batches / 2) + 1]
end

local function run(mode)
  local ffi_ns = median_ns(function() local s = 0 for _ = 1, n do s = s + C.ft_numel(p) end return tonumber(s) end)
  local size_ns = median_ns(function() local s = 0 for _ = 1, n do s = s + t:size(1) end return s end)
  print(('%-12s C.ft_numel(p) (FFI call) %6.2f ns/call   t:size(1) (Lua method) %6.2f ns/call'):format(
    mode, ffi_ns, size_ns))
end
-- Compiled traces inline t:size(1) down to a few loads; the interpreter shows the full
-- cost of a call (run with fewer iterations: it is ~50x slower).
run('JIT on')
jit.off()
jit.flush()
n = n / 20
run('JIT off')
