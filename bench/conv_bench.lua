-- bench/conv_bench.lua -- Fathom's convolution on ResNet-110's shapes: the three stages'
-- 3x3 stride-1 pad-1 convolutions, the stem and the two stride-2 transitional
-- convolutions, batch 128, no bias, float32, through
-- nn.SpatialConvolution (checks and FFI included). Forward (updateOutput), backward-input
-- (updateGradInput) and backward-weight (accGradParameters) timed separately, median of
-- `runs` after a warm-up. bench/conv_torch.py measures PyTorch on the same shapes; run
-- both in one command so they share the machine's conditions (see BENCHMARKS.md):
--   make BUILD=build && FATHOM_LIB=$PWD/build/libfathom.so luajit bench/conv_bench.lua \
--     && /usr/bin/python3 bench/conv_torch.py
--   luajit bench/conv_bench.lua [threads=2] [runs=15] [batch=128] [stride=all] [clock=wall|cpu]
--   clock cpu: process CPU time instead of wall time (with 1 thread, a kernel's cost
--   even on a loaded machine, where wall time counts lost scheduler slices)
--   FATHOM_CONV=direct|winograd|winograd4|auto chooses the 3x3 stride-1 algorithm (default auto)
package.path = './?.lua;' .. package.path
local ffi = require 'ffi'
local fathom = require 'fathom'
local nn = require 'fathom.nn'

local threads = tonumber(arg[1]) or 2
local runs = tonumber(arg[2]) or 15
local batch = tonumber(arg[3]) or 128
local only_stride = tonumber(arg[4]) -- run only the shapes of this stride
local CLOCK = arg[5] == 'cpu' and 2 or 1 -- CLOCK_PROCESS_CPUTIME_ID or CLOCK_MONOTONIC
fathom.setnumthreads(threads)
fathom.manualSeed(1)

pcall(ffi.cdef, 'typedef struct { long tv_sec; long tv_nsec; } fb_timespec; int clock_gettime(int, fb_timespec *);')
local ts = ffi.new('fb_timespec')
local function now() ffi.C.clock_gettime(CLOCK, ts) return tonumber(ts.tv_sec) + 1e-9 * tonumber(ts.tv_nsec) end

local function timed(f) local t0 = now() f() return (now() - t0) * 1e3 end
local function median(t) table.sort(t) return t[math.floor(#t / 2) + 1] end

-- Ci, Co, H = W, stride: the three stages, the stem, and the two transitional (stride-2) convs.
local SHAPES = { { 16, 16, 32, 1 }, { 32, 32, 16, 1 }, { 64, 64, 8, 1 }, { 3, 16, 32, 1 },
                 { 16, 32, 32, 2 }, { 32, 64, 16, 2 } }

print(('# fathom, threads %d, batch %d, runs %d (median), clock %s, conv %s, OPENBLAS_CORETYPE=%s'):format(
  fathom.getnumthreads(), batch, runs, CLOCK == 2 and 'cpu' or 'wall', ffi.string(fathom.C.ft_conv_algorithm()),
  os.getenv('OPENBLAS_CORETYPE') or '(unset)'))
for _, s in ipairs(SHAPES) do
  local ci, co, hw, st = s[1], s[2], s[3], s[4]
  if only_stride and st ~= only_stride then goto continue end
  local ho = math.floor((hw - 1) / st) + 1
  local m = nn.SpatialConvolution(ci, co, 3, 3, st, st, 1, 1):noBias():float():initHe()
  local x = fathom.FloatTensor(batch, ci, hw, hw):normal(0, 1)
  local gy = fathom.FloatTensor(batch, co, ho, ho):normal(0, 1)
  local fwd = function() m:updateOutput(x) end
  local bwi = function() m:updateGradInput(x, gy) end
  local bww = function() m:accGradParameters(x, gy, 1) end
  for _ = 1, 2 do fwd() bwi() bww() end -- warm-up: buffers, page faults
  local tf, ti, tw = {}, {}, {}
  for r = 1, runs do tf[r] = timed(fwd) ti[r] = timed(bwi) tw[r] = timed(bww) end
  local f, i, w = median(tf), median(ti), median(tw)
  local total = f + i + w
  local flops = 2 * batch * co * ci * 9 * ho * ho
  print(('fathom NCHW          %3d->%-3d %2dx%-2d s%d  fwd %7.3f  bwd-in %7.3f  bwd-w %7.3f  total %7.3f ms'
    .. '  %6.1f GFLOP/s'):format(ci, co, hw, hw, st, f, i, w, total, 3 * flops / total / 1e6))
  ::continue::
end
