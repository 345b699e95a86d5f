-- flatten_spec.lua -- getParameters (every parameter, and every gradient, in one flat
-- storage) changes nothing: a network holding every nn module, with every optional
-- parameter on (biases, affine batch norms, a projection shortcut), gives the same
-- output, the same gradients and the same SGD step flattened as unflattened. The C ops
-- therefore compare byte ranges, not storages; truly overlapping tensors are still
-- refused (the last tests).
local ffi = require 'ffi'
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local optim = require 'fathom.optim'
local check = require 'check'
local C = fathom.C

-- Every module of fathom.nn: conv (bias), spatial BN, ReLU, both ResidualDrop shortcut
-- kinds (identity; projection: conv + BN of its own), ConcatTable/CAddTable with Identity
-- and MulConstant, ChannelPad, max and average pooling, View, Linear (bias), 1-D BN,
-- LogSoftMax.
local function build(dtype)
  fathom.manualSeed(7)
  local m = nn.Sequential()
    :add(nn.SpatialConvolution(3, 4, 3, 3, 1, 1, 1, 1))
    :add(nn.SpatialBatchNormalization(4))
    :add(nn.ReLU())
    :add(nn.ResidualDrop(4, 4, 1, { p = 1 }))
    :add(nn.ResidualDrop(4, 6, 1, { p = 1, shortcut = 'B' }))
    :add(nn.ConcatTable():add(nn.Identity()):add(nn.MulConstant(0.5)))
    :add(nn.CAddTable())
    :add(nn.ChannelPad(8))
    :add(nn.SpatialMaxPooling(2, 2, 2, 2))
    :add(nn.SpatialAveragePooling(2, 2, 2, 2))
    :add(nn.View(8 * 2 * 2))
    :add(nn.Linear(32, 5))
    :add(nn.BatchNormalization(5))
    :add(nn.Linear(5, 3))
    :add(nn.LogSoftMax())
  return m:type(dtype)
end

local function data(dtype)
  fathom.manualSeed(11)
  local x = fathom.randn(4, 3, 8, 8):type(dtype)
  local target = fathom.Tensor({ 1, 3, 2, 3 })
  return x, target
end

local SGD = { learningRate = 0.1, momentum = 0.9, weightDecay = 1e-4 }

-- Forward and backward; returns the output, the loss and copies of the gradients
-- (SGD's weight decay then adds into the gradient tensors).
local function forward_backward(m, x, target)
  local crit = nn.ClassNLLCriterion()
  m:zeroGradParameters()
  local out = m:forward(x)
  local loss = crit:forward(out, target)
  m:backward(x, crit:backward(out, target))
  local _, gs = m:parameters()
  local copies = {}
  for i, g in ipairs(gs) do copies[i] = g:clone() end
  return out:clone(), loss, copies
end

for _, dtype in ipairs({ 'torch.DoubleTensor', 'torch.FloatTensor' }) do
  describe('getParameters on every nn module (' .. dtype .. ')', function()
    local tol = dtype == 'torch.DoubleTensor' and 1e-12 or 1e-5

    it('gives the same gradients and the same SGD step as the unflattened model', function()
      local x, target = data(dtype)
      -- unflattened: the optimiser steps each parameter tensor with its own gradient
      local ref = build(dtype)
      local rout, rloss, rgrads = forward_backward(ref, x, target)
      local rp, rg = ref:parameters()
      for i = 1, #rp do optim.sgd(function() return rloss, rg[i] end, rp[i], SGD, {}) end

      local m = build(dtype)
      local params, grads = m:getParameters()
      local n = 0
      for _, p in ipairs(rp) do n = n + p:nElement() end
      assert.are.equal(n, params:nElement())
      local out, loss, mgrads = forward_backward(m, x, target)
      optim.sgd(function() return loss, grads end, params, SGD, {})
      assert.is_true(math.abs(loss - rloss) <= tol * math.max(1, math.abs(rloss)))
      assert.is_true(check.maxdiff(out, rout) <= tol)
      local mp = m:parameters()
      assert.are.equal(#rp, #mp)
      assert.are.equal(#rgrads, #mgrads)
      for i = 1, #rp do
        assert.is_true(rgrads[i]:clone():abs():max() > 0, 'gradient ' .. i .. ' is all zero')
        local d = check.maxdiff(mgrads[i], rgrads[i])
        assert.is_true(d <= tol, ('gradient %d differs by %g'):format(i, d))
        -- the module tensors are views of the flat one, so this is what SGD wrote
        assert.is_true(check.maxdiff(mp[i], rp[i]) <= tol, 'parameter ' .. i)
      end
    end)
  end)
end

describe('overlap checks', function()
  local function c_error(status, parts)
    assert.are_not.equal(0, status)
    local msg = ffi.string(C.ft_last_error())
    for _, p in ipairs(parts) do
      assert.is_truthy(msg:find(p, 1, true), ('error %q should mention %q'):format(msg, p))
    end
  end

  it('accept neighbouring views of one storage', function()
    local flat = fathom.Tensor(4 * 3 * 3 * 3 + 4):double():zero()
    local gw = flat:narrow(1, 1, 108):view(4, 3, 3, 3)
    local gb = flat:narrow(1, 109, 4)
    local x, gy = fathom.randn(2, 3, 5, 5):double(), fathom.randn(2, 4, 5, 5):double()
    assert.are.equal(0, C.ft_conv2d_backward_weight(x.p, gy.p, gw.p, gb.p, 1, 1, 1, 1, 1.0))
    assert.is_true(gb:clone():abs():max() > 0)
  end)

  it('refuse a bias gradient that overlaps the weight gradient', function()
    local flat = fathom.Tensor(108):double():zero()
    local gw = flat:view(4, 3, 3, 3)
    local gb = flat:narrow(1, 105, 4) -- the weight gradient's last 4 elements
    local x, gy = fathom.randn(2, 3, 5, 5):double(), fathom.randn(2, 4, 5, 5):double()
    c_error(C.ft_conv2d_backward_weight(x.p, gy.p, gw.p, gb.p, 1, 1, 1, 1, 1.0),
            { 'ft_conv2d_backward_weight', 'grad_bias and grad_weight', 'share memory' })
    -- one element of overlap is enough
    local gb1 = fathom.Tensor(111):double():zero()
    c_error(C.ft_conv2d_backward_weight(x.p, gy.p, gb1:narrow(1, 1, 108):view(4, 3, 3, 3).p,
                                        gb1:narrow(1, 108, 4).p, 1, 1, 1, 1, 1.0),
            { 'grad_bias and grad_weight' })
  end)

  it('refuse an output that overlaps the input', function()
    local buf = fathom.randn(2 * 3 * 5 * 5 + 10):double()
    local x = buf:narrow(1, 1, 150):view(2, 3, 5, 5)
    local y = buf:narrow(1, 11, 150):view(2, 3, 5, 5)
    c_error(C.ft_conv2d_forward(x.p, y.p, fathom.randn(3, 3, 3, 3):double().p, nil, 1, 1, 1, 1),
            { 'ft_conv2d_forward', 'input and output', 'share memory' })
  end)

  it('refuse batch-norm parameter gradients that overlap', function()
    local x, g = fathom.randn(4, 3, 2, 2):double(), fathom.randn(4, 3, 2, 2):double()
    local w = fathom.Tensor(3):double():fill(1)
    local sm, si = fathom.Tensor(3):double():zero(), fathom.Tensor(3):double():fill(1)
    local flat = fathom.Tensor(5):double():zero()
    c_error(C.ft_batchnorm_backward(x.p, g.p, nil, w.p, flat:narrow(1, 1, 3).p,
                                    flat:narrow(1, 3, 3).p, sm.p, si.p, nil, 1, 1.0),
            { 'ft_batchnorm_backward', 'grad_weight and grad_bias' })
    local ok = fathom.Tensor(6):double():zero()
    assert.are.equal(0, C.ft_batchnorm_backward(x.p, g.p, nil, w.p, ok:narrow(1, 1, 3).p,
                                                ok:narrow(1, 4, 3).p, sm.p, si.p, nil, 1, 1.0))
  end)

  it('refuse SGD buffers that overlap', function()
    local buf = fathom.Tensor(12):double():zero()
    local x, dx = buf:narrow(1, 1, 8), buf:narrow(1, 5, 8)
    c_error(C.ft_sgd_step(x.p, dx.p, nil, 0.1, 0, 0, 0, 0, 1), { 'ft_sgd_step', 'distinct' })
    local y, dy = buf:narrow(1, 1, 6), buf:narrow(1, 7, 6)
    assert.are.equal(0, C.ft_sgd_step(y.p, dy.p, nil, 0.1, 0, 0, 0, 0, 1))
  end)
end)
