-- spec/helpers/syncbn_child.lua -- the program spec/syncbn_spec.lua starts under mpirun:
--   mpirun -np 2 luajit spec/helpers/syncbn_child.lua MODE
-- Every rank runs the 1-process reference on the whole global batch itself (sync off),
-- then its shard with synchronised BN, and compares. A failed check raises (dist.main
-- ends the job with the message); each mode prints "OK MODE rank R" and, on rank 0, the
-- largest relative differences seen.
package.path = './?.lua;./spec/helpers/?.lua;' .. package.path
local fathom = require 'fathom'
local dist = require 'fathom.distributed'
local nn = fathom.nn

local mode = arg[1]
fathom.setnumthreads(1)

local check = require 'expect'
local expect, expect_error = check.expect, check.expect_error

-- max |a - b| / max |b| (on copies: abs() works in place)
local function rel(a, b)
  local d = (a:double() - b:double()):abs():max()
  local s = b:clone():double():abs():max()
  return s > 0 and d / s or d
end

local worst = {}
local function same(what, a, b, tol)
  local e = rel(a, b)
  local key = what:match('^(%S+)')
  worst[key] = math.max(worst[key] or 0, e)
  expect(e <= tol, ('%s: 2 ranks differ from 1 process by %.3g (relative; tolerance %g)'):format(what, e, tol))
end

local TOL = { double = 1e-12, float = 5e-6 }
local TYPES = { double = 'fathom.DoubleTensor', float = 'fathom.FloatTensor' }

local function random(ty, g, ...)
  local t = fathom.Tensor(...):type(TYPES[ty])
  fathom.random.normal(t, 0, 1, g)
  return t
end

-- Copies of the reference's parameters and running statistics into m.
local function copy_state(m, ref)
  local p, rp = m:parameters(), ref:parameters()
  for i = 1, #p do p[i]:copy(rp[i]) end
  local s, rs = dist.batchNormStatistics(m), dist.batchNormStatistics(ref)
  for i = 1, #s do s[i]:copy(rs[i]) end
end

-- `steps` training steps of m on this rank's rows and of ref on the whole batch; the
-- outputs, input gradients, summed parameter gradients and running statistics must agree.
-- make(ty) builds a module; shape: the global input's size; prep(m, ref) may set gates.
local function compare(name, ty, make, shape, steps, prep)
  local rank, size = dist.rank(), dist.size()
  local B = shape[1]
  local first, n = dist.shard(B, rank, size)
  local data = fathom.Generator(42) -- identical on every rank
  local ref, m = make(ty), make(ty)
  for _, t in ipairs(ref:parameters()) do fathom.random.normal(t, 0.5, 0.5, data) end
  copy_state(m, ref)
  ref:training(); m:training()
  if prep then prep(m, ref, first, n, B) end
  local tol = TOL[ty]
  for step = 1, steps do
    local X = random(ty, data, unpack(shape))
    -- reference: the whole batch, one process (no synchronisation)
    dist.setSyncBatchNorm(false)
    ref:zeroGradParameters()
    local ref_out = ref:forward(X)
    local G = random(ty, data, unpack(ref_out:size():totable()))
    local ref_gi = ref:backward(X, G)
    dist.setSyncBatchNorm(true)
    -- this rank: its slice, dy = the slice of the global loss's gradient
    m:zeroGradParameters()
    local x = X:narrow(1, first, n):contiguous()
    local out = m:forward(x)
    local gi = m:backward(x, G:narrow(1, first, n):contiguous())
    local label = ('%s %s, step %d'):format(name, ty, step)
    same('output ' .. label, out, ref_out:narrow(1, first, n), tol)
    same('gradInput ' .. label, gi, ref_gi:narrow(1, first, n), tol)
    local _, grads = m:parameters()
    local _, ref_grads = ref:parameters()
    for i, g in ipairs(grads) do
      local sum = g:clone()
      dist.allReduce(sum)
      same(('paramGrad %s #%d'):format(label, i), sum, ref_grads[i], tol)
    end
    local stats, ref_stats = dist.batchNormStatistics(m), dist.batchNormStatistics(ref)
    for i, t in ipairs(stats) do same(('runningStat %s #%d'):format(label, i), t, ref_stats[i], tol) end
  end
  return m, ref
end

local function report(mode_name)
  if dist.rank() ~= 0 then return end
  local keys = {}
  for k in pairs(worst) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = ('%s %.3g'):format(k, worst[k]) end
  print(('%s: max relative |2 ranks - 1 process|: %s'):format(mode_name, table.concat(parts, ', ')))
end

local modes = {}

-- A job of one rank: sync on computes exactly (bit for bit) what sync off does.
function modes.single(rank, size)
  expect(size == 1, 'this mode expects 1 rank')
  for _, make in ipairs({ function() return nn.SpatialBatchNormalization(3):fuseReLU():double() end,
                          function() return nn.ResidualDrop(3, 6, 2, { shortcut = 'B', gate = 'row', p = 0.5,
                                                                        generator = fathom.Generator(4) }):float() end }) do
    local outs = {}
    for _, on in ipairs({ false, true }) do
      dist.setSyncBatchNorm(on)
      fathom.manualSeed(3)
      local m = make()
      local g = fathom.Generator(8)
      local x = random(m:paramType() == 'fathom.FloatTensor' and 'float' or 'double', g, 6, 3, 4, 4)
      local text = {}
      for _ = 1, 2 do
        local y = m:forward(x)
        local gi = m:backward(x, y)
        for _, t in ipairs({ y, gi, dist.batchNormStatistics(m)[1] }) do
          local d = t:double():contiguous()
          text[#text + 1] = require('ffi').string(d:data(), d:nElement() * 8)
        end
      end
      outs[#outs + 1] = table.concat(text, ',')
    end
    expect(outs[1] == outs[2], 'sync on changed the results of a job of one rank')
  end
end

-- Standalone BN layers: [N,C,H,W], fused ReLU, [N,C]; uneven (4 + 3) and even shards.
function modes.bn(rank, size)
  expect_error(function() dist.setSyncBatchNorm(1) end, 'expected true or false')
  for _, ty in ipairs({ 'double', 'float' }) do
    worst = {}
    compare('spatial', ty, function(t) return nn.SpatialBatchNormalization(3):type(TYPES[t]) end, { 7, 3, 5, 4 }, 3)
    compare('spatial+relu', ty, function(t) return nn.SpatialBatchNormalization(3):fuseReLU():type(TYPES[t]) end,
            { 8, 3, 4, 4 }, 2)
    compare('flat', ty, function(t) return nn.BatchNormalization(5):type(TYPES[t]) end, { 6, 5 }, 2)
    report('bn ' .. ty)
  end
  -- CUDA tensors are refused while the switch is on (a header marked as a GPU tensor
  -- stands in for one; it is never dereferenced)
  local ffi = require 'ffi'
  local keep = {}
  local function gpu(t)
    local h = ffi.new('ft_tensor[1]')
    ffi.copy(h, t.p, ffi.sizeof('ft_tensor'))
    h[0].device = fathom.C.FT_CUDA
    keep[#keep + 1] = h
    return h + 0
  end
  local v, z, bx = fathom.DoubleTensor(3):fill(1), fathom.DoubleTensor(3):zero(), fathom.DoubleTensor(4, 3, 2, 2):fill(1)
  for _, call in ipairs({
    function() return fathom.C.ft_batchnorm_forward(gpu(bx), gpu(bx), gpu(v), gpu(z), gpu(z), gpu(v), gpu(z), gpu(v), 1, 0.1, 1e-5, 0) end,
    function() return fathom.C.ft_batchnorm_backward(gpu(bx), gpu(bx), gpu(bx), gpu(v), nil, nil, gpu(z), gpu(v), nil, 1, 1) end }) do
    expect(call() ~= 0, 'a GPU batch norm was accepted with sync on')
    local msg = ffi.string(fathom.C.ft_last_error())
    expect(msg:find('synchronised batch norm runs on CPU tensors only for now', 1, true), 'message: ' .. msg)
  end
  -- evaluation never communicates: rank 1 evaluates twice, rank 0 once, then both meet
  local m = nn.SpatialBatchNormalization(3):double():evaluate()
  local x = fathom.DoubleTensor(2, 3, 2, 2):fill(1)
  for _ = 1, rank + 1 do m:forward(x); m:backward(x, x) end
  dist.barrier()
  -- sync off: each rank's statistics are its own rows'
  dist.setSyncBatchNorm(false)
  local g = fathom.Generator(5)
  local X = random('double', g, 8, 3, 2, 2)
  local first, n = dist.shard(8, rank, size)
  local xs = X:narrow(1, first, n):contiguous()
  local a, own, all = nn.SpatialBatchNormalization(3):double(), nn.SpatialBatchNormalization(3):double(),
                      nn.SpatialBatchNormalization(3):double()
  a:forward(xs); own:forward(xs); all:forward(X)
  expect(rel(a.running_mean, own.running_mean) == 0, 'sync off: running mean is not the local one')
  expect(rel(a.running_mean, all.running_mean) > 1e-3, 'sync off: running mean is the global one')
  dist.setSyncBatchNorm(true)
  local b = nn.SpatialBatchNormalization(3):double()
  b:forward(xs)
  expect(rel(b.running_mean, all.running_mean) < 1e-12, 'sync on: running mean is not the global one')
end

local function block(nin, nout, stride, opt)
  return function(t) return nn.ResidualDrop(nin, nout, stride, opt):type(TYPES[t]) end
end

-- Fused residual blocks, gate open: identity, downsampling (A: pooled, B: projection BN),
-- bottleneck.
function modes.block(rank, size)
  if fathom.C.ft_has_cuda() ~= 0 then
    -- a CUDA build: a block whose tensors all claim to be on the GPU is refused (headers
    -- marked as GPU tensors; the refusal comes before any of them is used)
    local ffi = require 'ffi'
    local keep = {}
    local function gpu(p)
      if p == nil then return nil end
      local h = ffi.new('ft_tensor[1]')
      ffi.copy(h, p, ffi.sizeof('ft_tensor'))
      h[0].device = fathom.C.FT_CUDA
      keep[#keep + 1] = h
      return h + 0
    end
    local m = nn.ResidualDrop(2, 2, 1):double()
    local s = m:_sync()
    for _, f in ipairs({ 'conv_weight', 'grad_conv_weight', 'bn_weight', 'bn_bias', 'grad_bn_weight',
                         'grad_bn_bias', 'running_mean', 'running_var' }) do
      for j = 0, 3 do s[f][j] = gpu(s[f][j]) end
    end
    local x = fathom.DoubleTensor(2, 2, 3, 3)
    expect(fathom.C.ft_resblock_forward(s, gpu(x.p), gpu(fathom.DoubleTensor(2, 2, 3, 3).p), 1) ~= 0,
           'a GPU block was accepted with sync on')
    local msg = ffi.string(fathom.C.ft_last_error())
    expect(msg:find('ft_resblock_forward: synchronised batch norm runs on CPU tensors only', 1, true), 'message: ' .. msg)
    m._state = nil
  end
  for _, ty in ipairs({ 'double', 'float' }) do
    worst = {}
    compare('identity', ty, block(4, 4, 1), { 5, 4, 6, 6 }, 2)
    compare('down-A', ty, block(4, 8, 2, { shortcut = 'A' }), { 6, 4, 6, 6 }, 2)
    compare('down-B', ty, block(4, 8, 2, { shortcut = 'B' }), { 5, 4, 6, 6 }, 2)
    compare('bottleneck', ty, block(8, 8, 1, { block = 'bottleneck', shortcut = 'C' }), { 4, 8, 4, 4 }, 1)
    report('block ' .. ty)
  end
end

-- Row-mode gates: with setShard, every rank draws the global batch's gates (the same as one
-- process) and keeps its rows; with sync BN the block then equals the 1-process one, also
-- when all of a rank's rows are dropped (its BNs join the collectives on empty tensors).
function modes.rows(rank, size)
  local B, steps = 10, 12
  local first, n = dist.shard(B, rank, size)
  local function gates(shard)
    local m = nn.ResidualDrop(2, 2, 1, { gate = 'row', p = 0.5, generator = fathom.Generator(3) }):double()
    if shard then m:setShard(first - 1, B) end
    local x = fathom.DoubleTensor(shard and n or B, 2, 3, 3):fill(1)
    local text = {}
    for _ = 1, steps do
      m:forward(x)
      for i = 1, m.gate:size(1) do text[#text + 1] = tostring(m.gate[i]) end
    end
    return table.concat(text)
  end
  dist.setSyncBatchNorm(false)
  local mine, all = gates(true), gates(false)
  local want = {}
  for s = 0, steps - 1 do want[#want + 1] = all:sub(s * B + first, s * B + first + n - 1) end
  expect(mine == table.concat(want), ('rank %d: sharded gates %s, 1 process %s'):format(rank, mine, table.concat(want)))
  expect(all:find('0') and all:find('1'), 'the gates are all alike: p = 0.5 not exercised')
  local unsharded = gates(false):sub(1, n)
  expect(rank == 0 or unsharded ~= mine:sub(1, n), 'without setShard rank 1 drew the same gates (the test cannot fail)')
  dist.setSyncBatchNorm(true)
  expect_error(function()
    local m = nn.ResidualDrop(2, 2, 1, { gate = 'row', p = 0.5 }):double():setShard(9, 10)
    m:forward(fathom.DoubleTensor(2, 2, 3, 3):fill(1))
  end, 'does not fit')
  -- sync BN through random row gates (generators seeded alike), then gates forced so that
  -- rank 0 keeps no row while rank 1 keeps some
  for _, ty in ipairs({ 'double', 'float' }) do
    worst = {}
    local opt = { gate = 'row', p = 0.5, shortcut = 'B' }
    compare('rows', ty, function(t)
      opt.generator = fathom.Generator(11)
      return nn.ResidualDrop(3, 6, 2, opt):type(TYPES[t])
    end, { B, 3, 4, 4 }, 4, function(m, ref, f, k, BB) m:setShard(f - 1, BB) end)
    local forced = fathom.ByteTensor({ 0, 0, 0, 0, 0, 1, 0, 1, 1, 0 })
    compare('rows-empty-rank', ty, block(3, 3, 1, { gate = 'row', p = 0.5 }), { B, 3, 4, 4 }, 2,
      function(m, ref, f, k) ref:forceGate(forced); m:forceGate(forced:narrow(1, f, k):clone()) end)
    report('rows ' .. ty)
  end
end

dist.main(function()
  local rank, size = dist.init()
  dist.setSyncBatchNorm(true)
  expect(dist.getSyncBatchNorm(), 'the switch did not turn on')
  if not modes[mode] then error('syncbn_child: unknown mode ' .. tostring(mode)) end
  modes[mode](rank, size)
  print(('OK %s rank %d'):format(mode, rank))
  io.stdout:flush()
end)
