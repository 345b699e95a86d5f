-- bench/gemm_fathom.lua -- Fathom's matrix multiply against the OpenBLAS ceiling
-- (bench/gemm_openblas.c): n x n float32, C = A B, through t:mm (the Lua path, checks
-- included) and through C.ft_gemm directly; median of `runs` after one warm-up.
--   FATHOM_LIB=$PWD/build/libfathom.so luajit bench/gemm_fathom.lua [n=1024] [runs=30] [threads=2]
package.path = './?.lua;' .. package.path
local fathom = require 'fathom'
local C = fathom.C

local n, runs, threads = tonumber(arg[1]) or 1024, tonumber(arg[2]) or 30, tonumber(arg[3]) or 2
fathom.setnumthreads(threads)
fathom.manualSeed(1)
local a, b = fathom.rand(n, n):add(-0.5), fathom.rand(n, n):add(-0.5)
local c = fathom.Tensor(n, n)

local function clock()
  local ffi = require 'ffi'
  pcall(ffi.cdef, 'typedef struct { long tv_sec; long tv_nsec; } fb_timespec; int clock_gettime(int, fb_timespec *);')
  local ts = ffi.new('fb_timespec')
  return function() ffi.C.clock_gettime(1, ts) return tonumber(ts.tv_sec) + 1e-9 * tonumber(ts.tv_nsec) end
end
local now = clock()

local function median(f)
  f()
  local t = {}
  for r = 1, runs do
    local t0 = now()
    f()
    t[r] = now() - t0
  end
  table.sort(t)
  return t[math.floor(runs / 2) + 1]
end

local flops = 2 * n ^ 3
local function report(name, s)
  print(('fathom %-8s n=%d threads=%d runs=%d: median %.3f ms, %.1f GFLOP/s'):format(
    name, n, threads, runs, 1e3 * s, flops / s * 1e-9))
end
report('t:mm', median(function() c:mm(a, b) end))
report('ft_gemm', median(function() assert(C.ft_gemm(c.p, a.p, b.p, 0, 0, 1, 0) == 0) end))
