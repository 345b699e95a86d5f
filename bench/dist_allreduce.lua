-- bench/dist_allreduce.lua -- the in-place sum all-reduce of core/dist/ (MPI_Iallreduce
-- polled against the timeout) against message size, float32, on the ranks mpirun starts:
-- median and best of `reps` calls after 3 warm-up calls, a barrier before each. Then the ResNet-110
-- gradient (1,727,962 float32, 6.9 MB) whole and in buckets, as allReduceGradients sends it.
-- -cuda 1: the same on GPU tensors through NCCL (one GPU per rank; needs an NCCL build).
-- Bus bandwidth = 2 (K-1)/K * bytes / time
-- (the ring all-reduce's traffic per rank, NCCL's convention; = bytes / time for K = 2).
--   mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2 \
--     env FATHOM_LIB=$PWD/build/libfathom.so OMP_NUM_THREADS=1 luajit bench/dist_allreduce.lua [-reps 30]
package.path = './?.lua;' .. package.path
local ffi = require 'ffi'
local fathom = require 'fathom'
local dist = require 'fathom.distributed'
local util = require 'bench.util'

local opt = util.options('bench/dist_allreduce.lua', { reps = 30, cuda = 0 }, arg)
pcall(ffi.cdef, 'typedef struct { long tv_sec; long tv_nsec; } da_timespec; int clock_gettime(int, da_timespec *);')
local ts = ffi.new('da_timespec')
local function now() ffi.C.clock_gettime(1, ts) return tonumber(ts.tv_sec) + 1e-9 * tonumber(ts.tv_nsec) end

local RESNET110 = 1727962 -- parameters of the CIFAR ResNet-110 (6.9 MB as float32)

dist.main(function()
  local rank, K = dist.init()
  fathom.setnumthreads(1)
  if opt.cuda == 1 then
    fathom.cuda.setDevice(rank % fathom.cuda.deviceCount() + 1)
    dist.initGPU()
  end
  local function time_it(n, fn)
    local t = fathom.FloatTensor(n):fill(1)
    if opt.cuda == 1 then t = t:cuda() end
    local times = {}
    for i = 1, opt.reps + 3 do
      dist.barrier()
      local t0 = now()
      fn(t)
      if i > 3 then times[#times + 1] = now() - t0 end
    end
    -- the slowest rank's median (and fastest call) is the collective's time
    return math.max(unpack(dist.allGatherNumber(util.median(times)))),
           math.max(unpack(dist.allGatherNumber(math.min(unpack(times)))))
  end
  local function report(label, n, secs, best)
    if rank ~= 0 then return end
    local bytes = 4 * n
    print(('%-34s %11d B  median %9.1f us  busbw %7.3f GB/s | best %9.1f us  busbw %7.3f GB/s'):format(label,
      bytes, secs * 1e6, 2 * (K - 1) / K * bytes / secs / 1e9, best * 1e6, 2 * (K - 1) / K * bytes / best / 1e9))
  end
  if rank == 0 then
    print(('all-reduce (sum, float32, %s), %d ranks, median and best of %d'):format(
      opt.cuda == 1 and 'GPU tensors, NCCL' or 'CPU tensors, MPI', K, opt.reps))
  end
  for _, n in ipairs({ 1, 256, 4096, 65536, 262144, 1048576, RESNET110, 4194304, 16777216 }) do
    report(n == RESNET110 and 'whole, ResNet-110 gradient' or 'whole', n, time_it(n, function(t) dist.allReduce(t) end))
  end
  for _, b in ipairs({ 2^20, 2^18, 2^16 }) do
    report(('ResNet-110 in buckets of %d'):format(b), RESNET110,
      time_it(RESNET110, function(t) dist.allReduceGradients(t, { bucketElements = b }) end))
  end
  report('2 doubles (reduceErrors)', 2, time_it(2, function() dist.reduceErrors(1, 2) end))
  if opt.cuda == 1 then return end
  -- Overlap: 20 float32 256x256 matrix products (stand-ins for the rest of a backward
  -- pass) then the ResNet-110 gradient in buckets of 2^18, against the same products with
  -- the buckets started first and tested after each product.
  local a = fathom.FloatTensor(256, 256):fill(0.01)
  local c = fathom.FloatTensor(256, 256)
  local function compute(test) for _ = 1, 20 do c:mm(a, a); if test then test() end end end
  local B = 2^18
  local _, compute_best = time_it(1, function() compute() end)
  local seq, seq_best = time_it(RESNET110, function(t) compute(); dist.allReduceGradients(t, { bucketElements = B }) end)
  local ovl, ovl_best = time_it(RESNET110, function(t)
    local reqs = {}
    for first = 1, RESNET110, B do reqs[#reqs + 1] = dist.allReduceStart(t, first, math.min(B, RESNET110 - first + 1)) end
    compute(function() for _, r in ipairs(reqs) do if not dist.test(r) then break end end end)
    for _, r in ipairs(reqs) do dist.wait(r) end
    t:mul(1 / K)
  end)
  if rank == 0 then
    print(('overlap: 20 products alone %.1f ms (best); products then all-reduce %.1f ms median / %.1f best; ' ..
           'started first and tested %.1f ms median / %.1f best'):format(compute_best * 1e3, seq * 1e3, seq_best * 1e3,
           ovl * 1e3, ovl_best * 1e3))
  end
end)
