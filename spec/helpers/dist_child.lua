-- spec/helpers/dist_child.lua -- the program spec/distributed_spec.lua starts under mpirun:
--   mpirun -np 2 luajit spec/helpers/dist_child.lua MODE
-- Each mode checks one thing on every rank and prints "OK MODE rank R" when it holds;
-- a failed check raises, and dist.main ends the whole job with the message.
package.path = './?.lua;./spec/helpers/?.lua;' .. package.path
local ffi = require 'ffi'
local fathom = require 'fathom'
local dist = require 'fathom.distributed'
local nn = fathom.nn
pcall(ffi.cdef, 'int getpid(void); int kill(int pid, int sig); int usleep(unsigned int us);')

local mode = arg[1]
fathom.setnumthreads(1)

local check = require 'expect'
local expect, expect_error = check.expect, check.expect_error
local function maxdiff(a, b) return (a:double() - b:double()):abs():max() end

local modes = {}

-- Hand-computed sums: rank r contributes (r + 1) * i + 0.5 to element i.
function modes.collectives(rank, size)
  expect(size == 2, 'this mode expects 2 ranks')
  for _, ty in ipairs({ 'float', 'double' }) do
    local t = fathom.Tensor(1000):type('fathom.' .. (ty == 'float' and 'Float' or 'Double') .. 'Tensor')
    for i = 1, 1000 do t[i] = (rank + 1) * i + 0.5 end
    dist.allReduce(t)
    for i = 1, 1000 do expect(t[i] == 3 * i + 1, ('%s sum at %d: %g, want %g'):format(ty, i, t[i], 3 * i + 1)) end
    -- a sub-range (a bucket): only elements 11..30 change
    for i = 1, 1000 do t[i] = rank + 1 end
    dist.allReduce(t, 11, 20)
    for i = 1, 1000 do
      local want = (i >= 11 and i <= 30) and 3 or rank + 1
      expect(t[i] == want, ('%s range sum at %d: %g, want %g'):format(ty, i, t[i], want))
    end
  end
  -- float64 sums are float64: 1 + 2^-40 and 2^-40 add to 1 + 2^-39 (float32 would lose it)
  local d = fathom.DoubleTensor(3):fill(rank == 0 and 1 + 2^-40 or 2^-40)
  dist.allReduce(d)
  expect(d[1] == 1 + 2^-39 and d[3] == 1 + 2^-39, ('float64 sum %.17g, want %.17g'):format(d[1], 1 + 2^-39))
  -- a buffer larger than the largest MPI count goes in several calls
  dist.setMaxCount(7)
  local s0 = dist.sequence()
  local big = fathom.DoubleTensor(100)
  for i = 1, 100 do big[i] = rank * 1000 + i end
  dist.allReduce(big)
  for i = 1, 100 do expect(big[i] == 1000 + 2 * i, 'split all-reduce at ' .. i) end
  expect(dist.sequence() - s0 == 15, 'expected 15 calls of at most 7, got ' .. dist.sequence() - s0)
  -- buckets: the mean of the two ranks' gradients, exact here
  local g = fathom.FloatTensor(1000)
  for i = 1, 1000 do g[i] = (rank + 1) * i end
  dist.allReduceGradients(g, { bucketElements = 64 })
  for i = 1, 1000 do expect(g[i] == 1.5 * i, 'bucketed mean at ' .. i) end
  dist.setMaxCount(2^31 - 1)
  -- started all-reduces (overlap): three buckets in flight while the rank computes
  dist.setMaxCount(100)
  local a = fathom.DoubleTensor(1000)
  for i = 1, 1000 do a[i] = (rank + 1) * i end
  local reqs = { dist.allReduceStart(a, 1, 300), dist.allReduceStart(a, 301, 450), dist.allReduceStart(a, 751) }
  local work = fathom.DoubleTensor(200, 200):fill(1)
  for _ = 1, 5 do work:mm(work, work:clone():mul(1e-3)); for _, r in ipairs(reqs) do dist.test(r) end end
  for _, r in ipairs(reqs) do dist.wait(r) end
  for i = 1, 1000 do expect(a[i] == 3 * i, 'started all-reduce at ' .. i) end
  expect_error(function() dist.wait(reqs[1]) end, 'already waited')
  dist.setMaxCount(2^31 - 1)
  -- uneven shards: weights localCount / globalCount
  local w = fathom.DoubleTensor(4):fill(rank == 0 and 10 or 20)
  dist.allReduceGradients(w, { localCount = rank == 0 and 4 or 3, globalCount = 7 })
  expect(math.abs(w[1] - (10 * 4 + 20 * 3) / 7) < 1e-14, 'weighted mean ' .. w[1])
  -- broadcasts from either root, every dtype
  for root = 0, 1 do
    local l = fathom.LongTensor(5):fill(rank == root and 2^40 + 7 or -1)
    dist.broadcast(l, root)
    expect(l[5] == 2^40 + 7, 'int64 broadcast from ' .. root)
    local b = fathom.ByteTensor(3, 4):fill(rank == root and 200 or 0)
    dist.broadcast(b, root)
    expect(b[{ 3, 4 }] == 200, 'uint8 broadcast from ' .. root)
  end
  local f = fathom.DoubleTensor(2, 3):fill(rank == 0 and math.pi or 0)
  dist.broadcast(f)
  expect(f[{ 2, 3 }] == math.pi, 'float64 broadcast')
  -- a mismatched broadcast fails on every rank, naming the rank that differs
  local m = fathom.FloatTensor(rank == 0 and 4 or 5)
  expect_error(function() dist.broadcast(m) end, 'rank 1')
  local m2 = fathom.DoubleTensor(4)
  expect_error(function() dist.broadcast(rank == 0 and m or m2) end, 'rank 1')
  -- numbers (evaluation errors)
  local wrong, n = dist.reduceErrors(rank == 0 and 3 or 5, rank == 0 and 50 or 49)
  expect(wrong == 8 and n == 99, 'reduceErrors ' .. wrong .. ' ' .. n)
  local all = dist.allGatherNumber(rank * 10 + 1)
  expect(all[1] == 1 and all[2] == 11, 'allGatherNumber')
  -- bad arguments are refused before any communication (on every rank alike)
  expect_error(function() dist.allReduce(fathom.LongTensor(3)) end, 'float32 or float64')
  expect_error(function() dist.allReduce(fathom.DoubleTensor(4, 4):t()) end, 'contiguous')
  expect_error(function() dist.allReduce(fathom.DoubleTensor(4), 3, 5) end, 'outside')
  expect_error(function() dist.broadcast(fathom.DoubleTensor(2), 2) end, 'root must be in 0..1')
  dist.barrier()
  -- the options check names the rank that differs
  dist.checkSame({ lr = 0.1, depth = 110, nested = { a = 1 } }, 'options')
  expect_error(function() dist.checkSame({ lr = rank == 0 and 0.1 or 0.2 }, 'options') end,
               'the ranks disagree on options: rank 1 differs from rank 0')
end

-- A tiny model (per-sample independent layers: Linear, ReLU) trained on 2 ranks x B/2
-- equals 1 process x B to reduction tolerance. Every rank also runs the 1-process
-- reference itself, from the same start and the same global batches.
local function train_compare(rank, size, ty, B, tol)
  fathom.manualSeed(7 + rank * 1000) -- different on purpose: the broadcast must fix it
  local function mlp() return nn.Sequential():add(nn.Linear(6, 8)):add(nn.ReLU()):add(nn.Linear(8, 3)):type(ty) end
  local model = mlp()
  local params, grads = model:getParameters()
  dist.broadcastParameters(model)
  local ref = mlp()
  local rparams, rgrads = ref:getParameters()
  rparams:copy(params)
  local crit, rcrit = nn.CrossEntropyCriterion():type(ty), nn.CrossEntropyCriterion():type(ty)
  local g = fathom.Generator(99) -- the data stream, identical on every rank
  local first, n = dist.shard(B, rank, size)
  for step = 1, 5 do
    local X = fathom.Tensor(B, 6):type(ty)
    fathom.random.normal(X, 0, 1, g)
    local y = fathom.LongTensor(B)
    for i = 1, B do y[i] = math.floor(fathom.random.random_uniform(g) * 3) + 1 end
    -- distributed: this rank's slice, then the all-reduce
    grads:zero()
    local x, t = X:narrow(1, first, n), y:narrow(1, first, n)
    local out = model:forward(x)
    crit:forward(out, t)
    model:backward(x, crit:backward(out, t))
    dist.allReduceGradients(grads, { localCount = n, globalCount = B, bucketElements = 16 })
    params:add(-0.5, grads)
    -- reference: the whole batch in one process
    rgrads:zero()
    local rout = ref:forward(X)
    rcrit:forward(rout, y)
    ref:backward(X, rcrit:backward(rout, y))
    rparams:add(-0.5, rgrads)
  end
  local d = maxdiff(params, rparams)
  local moved = maxdiff(params, rparams:clone():zero())
  expect(d <= tol, ('%s, B=%d: 2 ranks differ from 1 process by %g (tolerance %g)'):format(ty, B, d, tol))
  expect(moved > 0.01, 'the weights did not move')
  -- and every rank holds the same weights, bit for bit
  local bytes = ffi.string(params:data(), params:nElement() * (ty == 'double' and 8 or 4))
  dist.checkSame(bytes, 'the weights after training')
  return d
end

function modes.train(rank, size)
  local d64 = train_compare(rank, size, 'fathom.DoubleTensor', 8, 1e-12)
  local d64odd = train_compare(rank, size, 'fathom.DoubleTensor', 7, 1e-12)
  local d32 = train_compare(rank, size, 'fathom.FloatTensor', 8, 2e-6)
  if rank == 0 then print(('max |2 ranks - 1 process|: float64 %.3g (B=8), %.3g (B=7), float32 %.3g'):format(d64, d64odd, d32)) end
end

-- Stochastic depth gates: the same seed gives the same gates on every rank without any
-- communication, although every rank forwards different data.
local function gate_hashes(seed, rank, generator)
  fathom.manualSeed(seed)
  local gen = generator and fathom.Generator(seed) or nil
  local blocks = nn.Sequential()
  for l = 1, 12 do blocks:add(nn.ResidualDrop(4, 4, 1, { p = 0.5, generator = gen })) end
  blocks:training()
  local data = fathom.Generator(1234 + rank) -- rank-dependent data, as a shard is
  local x = fathom.Tensor(2, 4, 4, 4)
  local text, opened = {}, 0
  for step = 1, 60 do
    fathom.random.normal(x, 0, 1, data)
    blocks:forward(x)
    for l, b in ipairs(blocks.modules) do text[#text + 1] = tostring(b.gate); opened = opened + b.gate end
  end
  return table.concat(text), opened, 60 * 12
end

function modes.gates(rank, size)
  for _, generator in ipairs({ false, true }) do
    local text, opened, total = gate_hashes(5, rank, generator)
    expect(opened > total * 0.3 and opened < total * 0.7, ('gates open %d of %d: not p = 0.5'):format(opened, total))
    dist.checkSame(text, 'the stochastic depth gates')
  end
  -- the check can fail: a rank-dependent seed gives different gates
  local text = gate_hashes(5 + rank, rank, true)
  expect_error(function() dist.checkSame(text, 'the gates') end, 'rank 1 differs')
end

-- Model helpers: rank 0's parameters and running statistics everywhere; running
-- statistics averaged (hand-computed), ResidualDrop's included.
function modes.models(rank, size)
  fathom.manualSeed(11 + rank) -- a different start on every rank
  local model = require('models.resnet_cifar').createModel{ depth = 8, pL = 0.5 }
  local stats = dist.batchNormStatistics(model)
  expect(#stats == 2 * (1 + 3 * 2), ('%d running statistics tensors, want 14'):format(#stats))
  for i, t in ipairs(stats) do t:fill(rank * 100 + i) end
  local params = model:parameters()
  local before = params[1]:clone()
  dist.broadcastParameters(model)
  local text = {}
  for _, t in ipairs(params) do text[#text + 1] = ffi.string(t:contiguous():data(), t:nElement() * 4) end
  for _, t in ipairs(stats) do text[#text + 1] = ffi.string(t:contiguous():data(), t:nElement() * 4) end
  dist.checkSame(table.concat(text), 'the parameters after broadcastParameters')
  expect((rank == 0) == (maxdiff(before, params[1]) == 0), 'rank 0 keeps its weights, rank 1 takes them')
  for i, t in ipairs(stats) do expect(t:max() == i and t:min() == i, 'broadcast running statistics ' .. i) end
  for i, t in ipairs(stats) do t:fill(rank * 100 + i) end
  dist.averageBatchNormStatistics(model)
  for i, t in ipairs(stats) do expect(t:max() == i + 50 and t:min() == i + 50, 'averaged running statistics ' .. i) end
end

-- The NCCL path on this rank's GPU (one GPU per rank): sums and broadcasts of CUDA
-- tensors equal the same operations on host copies.
function modes.nccl(rank, size)
  fathom.cuda.setDevice(rank % fathom.cuda.deviceCount() + 1)
  dist.initGPU()
  local host = fathom.FloatTensor(3000)
  for i = 1, 3000 do host[i] = (rank + 1) * i end
  local dev = host:cuda()
  dist.allReduce(dev)
  dist.allReduce(host)
  expect(maxdiff(dev:float(), host) == 0, 'GPU all-reduce differs from the MPI one')
  dist.allReduce(dev, 101, 50)
  local d64 = fathom.DoubleTensor(10):fill(rank + 0.25):cuda()
  dist.allReduceGradients(d64, { bucketElements = 3 })
  local want = 0
  for r = 0, size - 1 do want = want + r + 0.25 end
  expect(math.abs(d64:double()[10] - want / size) < 1e-15, 'GPU bucketed mean')
  local b = fathom.FloatTensor(7):fill(rank == 0 and 42 or 0):cuda()
  dist.broadcast(b, 0)
  expect(b:float()[7] == 42, 'GPU broadcast')
  if rank == 0 then print(('NCCL on %d rank(s): all-reduce, range, buckets, broadcast agree'):format(size)) end
end

-- Rank 1 never joins the all-reduce: rank 0 must give up after the timeout and name it.
function modes.stuck(rank, size)
  local t = fathom.FloatTensor(1000):fill(1)
  dist.allReduce(t)
  dist.setTimeout(1) -- short only now: startup on a busy machine may take longer
  if rank == 1 then
    for _ = 1, 600 do ffi.C.usleep(100000) end -- 60 s outside MPI
  end
  dist.allReduce(t)
end

-- Rank 1 dies by SIGKILL between collectives; rank 0 is inside an all-reduce.
function modes.kill(rank, size)
  local t = fathom.FloatTensor(100000):fill(1)
  for step = 1, 1000 do
    if rank == 1 and step == 20 then ffi.C.kill(ffi.C.getpid(), 9) end
    dist.allReduce(t)
    t:fill(1)
  end
end

dist.main(function()
  local rank, size = dist.init()
  if not modes[mode] then error('dist_child: unknown mode ' .. tostring(mode)) end
  modes[mode](rank, size)
  print(('OK %s rank %d'):format(mode, rank))
  io.stdout:flush()
end)
