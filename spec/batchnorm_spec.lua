-- batchnorm_spec.lua -- nn.BatchNormalization ([N,C]) and nn.SpatialBatchNormalization
-- ([N,C,H,W]): outputs and running statistics against a float64 Lua reference and a
-- hand computation, train/evaluate switching, fused BN+ReLU against BN then ReLU,
-- finite-difference Jacobians (input, weight, bias; training and evaluation; batch 1
-- with H*W > 1), float32 vs float64, and the error paths.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local J = require 'jacobian'
local check = require 'check'
local maxdiff, expect_error = check.maxdiff, check.expect_error

local TOL = 1e-5
local unpack = table.unpack or unpack


-- x as [N, C, S]: every value of channel c, in order.
local function channel_values(x, c)
  local N, S = x:size(1), x:nElement() / (x:size(1) * x:size(2))
  local v = {}
  local x3 = x:contiguous():view(N, x:size(2), S)
  for n = 1, N do for j = 1, S do v[#v + 1] = x3[n][c][j] end end
  return v
end

-- Per-channel batch mean, biased and unbiased variance, in plain Lua.
local function stats(x, c)
  local v = channel_values(x, c)
  local s = 0
  for _, a in ipairs(v) do s = s + a end
  local mean = s / #v
  local ss = 0
  for _, a in ipairs(v) do ss = ss + (a - mean) ^ 2 end
  return mean, ss / #v, ss / (#v - 1)
end

-- y = (x - mean) / sqrt(var + eps) * w + b with the given per-channel statistics.
local function normalise(x, means, vars, w, b, eps)
  local N, C = x:size(1), x:size(2)
  local S = x:nElement() / (N * C)
  local y = fathom.DoubleTensor(N, C, S)
  local x3 = x:contiguous():view(N, C, S)
  for n = 1, N do for c = 1, C do for j = 1, S do
    y[n][c][j] = (x3[n][c][j] - means[c]) / math.sqrt(vars[c] + eps) * (w and w[c] or 1) + (b and b[c] or 0)
  end end end
  return y:view(x:size())
end

local function randomise(m)
  if m.weight then m.weight:uniform(0.5, 1.5); m.bias:uniform(-0.5, 0.5) end
  return m
end

local function check_jacobians(m, x)
  local err = J.testJacobian(m, x)
  assert.is_true(err < TOL, ('%s input jacobian error %g'):format(tostring(m), err))
  if m.weight then
    local ew = J.testJacobianParameters(m, x, m.weight, m.gradWeight)
    local eb = J.testJacobianParameters(m, x, m.bias, m.gradBias)
    assert.is_true(ew < TOL, ('%s weight jacobian error %g'):format(tostring(m), ew))
    assert.is_true(eb < TOL, ('%s bias jacobian error %g'):format(tostring(m), eb))
  end
end

describe('nn.SpatialBatchNormalization', function()
  it('has the paper defaults: eps 1e-5, momentum 0.1, weight 1, bias 0, running var 1', function()
    local m = nn.SpatialBatchNormalization(3)
    assert.are.equal(1e-5, m.eps)
    assert.are.equal(0.1, m.momentum)
    assert.are.same({ 1, 1, 1 }, m.weight:totable())
    assert.are.same({ 0, 0, 0 }, m.bias:totable())
    assert.are.same({ 0, 0, 0 }, m.running_mean:totable())
    assert.are.same({ 1, 1, 1 }, m.running_var:totable())
    assert.are.equal('nn.SpatialBatchNormalization (4D) (3)', tostring(m))
    assert.are.equal('nn.SpatialBatchNormalization (4D) (3) +ReLU', tostring(m:fuseReLU()))
  end)

  it('keeps running statistics as a hand computation says (unbiased var, momentum 0.1)', function()
    -- one channel, values 1 2 3 6: mean 3, squared deviations 4 1 0 9 = 14,
    -- biased var 14/4 = 3.5, unbiased 14/3
    local x = fathom.DoubleTensor({ { { { 1, 2 } } }, { { { 3, 6 } } } }) -- 2x1x1x2
    local m = nn.SpatialBatchNormalization(1):double()
    local y = m:forward(x)
    assert.is_true(math.abs(m.running_mean[1] - 0.3) < 1e-15)
    assert.is_true(math.abs(m.running_var[1] - (0.9 + 0.1 * 14 / 3)) < 1e-15)
    local inv = 1 / math.sqrt(3.5 + 1e-5)
    assert.is_true(math.abs(y[1][1][1][1] - (1 - 3) * inv) < 1e-14)
    assert.is_true(math.abs(y[2][1][1][2] - (6 - 3) * inv) < 1e-14)
    -- a second step: running = 0.9 * running + 0.1 * batch
    x:mul(2) -- mean 6, unbiased var 56/3
    m:forward(x)
    assert.is_true(math.abs(m.running_mean[1] - (0.9 * 0.3 + 0.1 * 6)) < 1e-14)
    assert.is_true(math.abs(m.running_var[1] - (0.9 * (0.9 + 0.1 * 14 / 3) + 0.1 * 56 / 3)) < 1e-14)
  end)

  it('normalises each channel with the biased batch variance (several shapes, batch 1)', function()
    for _, shape in ipairs({ { 2, 3, 4, 4 }, { 1, 2, 3, 3 }, { 5, 1, 2, 1 }, { 3, 4, 1, 1 } }) do
      local x = J.input(unpack(shape)):mul(3):add(1.5)
      local m = randomise(nn.SpatialBatchNormalization(shape[2]):double())
      local means, vars, uvars = {}, {}, {}
      for c = 1, shape[2] do means[c], vars[c], uvars[c] = stats(x, c) end
      local y = m:forward(x)
      assert.is_true(maxdiff(y, normalise(x, means, vars, m.weight, m.bias, 1e-5)) < 1e-12)
      for c = 1, shape[2] do
        assert.is_true(math.abs(m.running_mean[c] - 0.1 * means[c]) < 1e-14)
        assert.is_true(math.abs(m.running_var[c] - (0.9 + 0.1 * uvars[c])) < 1e-13)
        assert.is_true(math.abs(m.save_mean[c] - means[c]) < 1e-14)
        assert.is_true(math.abs(m.save_invstd[c] - 1 / math.sqrt(vars[c] + 1e-5)) < 1e-12)
      end
    end
  end)

  it('uses the running statistics in evaluate() and leaves them alone', function()
    local m = randomise(nn.SpatialBatchNormalization(3):double())
    m.running_mean:copy(fathom.DoubleTensor({ 0.5, -1, 2 }))
    m.running_var:copy(fathom.DoubleTensor({ 2, 0.25, 1 }))
    m:evaluate()
    local x = J.input(2, 3, 2, 2)
    local y = m:forward(x)
    local ref = normalise(x, { 0.5, -1, 2 }, { 2, 0.25, 1 }, m.weight, m.bias, 1e-5)
    assert.is_true(maxdiff(y, ref) < 1e-12)
    assert.are.same({ 0.5, -1, 2 }, m.running_mean:totable())
    assert.are.same({ 2, 0.25, 1 }, m.running_var:totable())
    -- back to training: batch statistics again, running ones move
    m:training()
    local yt = m:forward(x)
    assert.is_true(maxdiff(yt, ref) > 1e-3)
    assert.is_true(math.abs(m.running_mean[1] - 0.5) > 1e-6)
    -- evaluate() reaches BN inside containers
    local s = nn.Sequential():add(nn.SpatialBatchNormalization(3))
    s:evaluate()
    assert.is_false(s:get(1).train)
    s:training()
    assert.is_true(s:get(1).train)
  end)

  it('passes the Jacobian check in training (incl. N = 1 with H*W > 1) and evaluation', function()
    for _, shape in ipairs({ { 2, 2, 3, 3 }, { 1, 3, 2, 2 }, { 4, 1, 1, 2 }, { 3, 2, 1, 1 } }) do
      check_jacobians(randomise(nn.SpatialBatchNormalization(shape[2]):double()), J.input(unpack(shape)))
    end
    local m = randomise(nn.SpatialBatchNormalization(2):double())
    m:forward(J.input(4, 2, 2, 2)) -- some running statistics
    m:evaluate()
    check_jacobians(m, J.input(2, 2, 2, 2))
    check_jacobians(nn.SpatialBatchNormalization(2, 1e-3, 0.2, false):double(), J.input(2, 2, 2, 2))
  end)

  it('splits backward into updateGradInput + accGradParameters consistently', function()
    local x, go = J.input(3, 2, 2, 3), J.input(3, 2, 2, 3)
    local a = randomise(nn.SpatialBatchNormalization(2):double())
    local b = nn.SpatialBatchNormalization(2):double()
    b.weight:copy(a.weight); b.bias:copy(a.bias)
    a:forward(x); b:forward(x)
    a:zeroGradParameters(); b:zeroGradParameters()
    local gia = a:backward(x, go, 0.7):clone()
    b:updateGradInput(x, go)
    b:accGradParameters(x, go, 0.7)
    assert.is_true(maxdiff(gia, b.gradInput) < 1e-14)
    assert.is_true(maxdiff(a.gradWeight, b.gradWeight) < 1e-14)
    assert.is_true(maxdiff(a.gradBias, b.gradBias) < 1e-14)
    assert.is_true(a.gradBias:clone():abs():max() > 0)
  end)

  it('fused BN+ReLU equals BN then ReLU, forward and backward, in training and evaluation', function()
    for _, mode in ipairs({ 'training', 'evaluate' }) do
      local x, go = J.input(3, 4, 3, 3), J.input(3, 4, 3, 3)
      local bn = randomise(nn.SpatialBatchNormalization(4):double())
      local fused = nn.SpatialBatchNormalization(4):double():fuseReLU()
      fused.weight:copy(bn.weight); fused.bias:copy(bn.bias)
      local seq = nn.Sequential():add(bn):add(nn.ReLU())
      seq[mode](seq); fused[mode](fused)
      seq:zeroGradParameters(); fused:zeroGradParameters()
      local y1 = seq:forward(x)
      local y2 = fused:forward(x)
      assert.is_true(maxdiff(y1, y2) < 1e-14, mode)
      assert.is_true(y2:min() == 0 and y2:max() > 0)
      local g1 = seq:backward(x, go)
      local g2 = fused:backward(x, go)
      assert.is_true(maxdiff(g1, g2) < 1e-13, mode)
      assert.is_true(maxdiff(bn.gradWeight, fused.gradWeight) < 1e-13)
      assert.is_true(maxdiff(bn.gradBias, fused.gradBias) < 1e-13)
      assert.is_true(maxdiff(bn.running_var, fused.running_var) < 1e-15)
    end
    check_jacobians(randomise(nn.SpatialBatchNormalization(2):double()):fuseReLU(), J.input(3, 2, 2, 2))
  end)

  it('agrees between float32 and float64, plain and fused', function()
    for _, fuse in ipairs({ false, true }) do
      local x = J.input(4, 3, 5, 5):mul(2):add(3)
      local go = J.input(4, 3, 5, 5)
      local m64 = randomise(nn.SpatialBatchNormalization(3):double()):fuseReLU(fuse)
      local m32 = nn.SpatialBatchNormalization(3):fuseReLU(fuse)
      m32.weight:copy(m64.weight); m32.bias:copy(m64.bias)
      local y64, y32 = m64:forward(x), m32:forward(x:float())
      assert.are.equal('fathom.FloatTensor', y32:type())
      assert.is_true(maxdiff(y32, y64) < 1e-5)
      assert.is_true(maxdiff(m32.running_var, m64.running_var) < 1e-5)
      local g64, g32 = m64:backward(x, go), m32:backward(x:float(), go:float())
      assert.is_true(maxdiff(g32, g64) < 1e-5)
      assert.is_true(maxdiff(m32.gradWeight, m64.gradWeight) < 1e-4)
    end
  end)

  it('rejects wrong shapes, dtypes and a single value per channel in training', function()
    local m = nn.SpatialBatchNormalization(3)
    expect_error(function() m:forward(fathom.Tensor(2, 4, 2, 2)) end,
      { 'nn.SpatialBatchNormalization', '[N,C,H,W] with C = 3', '2x4x2x2' })
    expect_error(function() m:forward(fathom.Tensor(2, 3)) end, { 'nn.SpatialBatchNormalization', '2x3' })
    expect_error(function() m:forward(fathom.DoubleTensor(2, 3, 2, 2)) end, { 'DoubleTensor', 'FloatTensor' })
    expect_error(function() m:forward(fathom.Tensor(1, 3, 1, 1)) end,
      { 'nn.SpatialBatchNormalization', 'more than one value per channel' })
    m:evaluate()
    assert.are.same({ 1, 3, 1, 1 }, m:forward(fathom.Tensor(1, 3, 1, 1)):size():totable()) -- fine in evaluation
    expect_error(function() nn.SpatialBatchNormalization(0) end, { 'nFeature' })
  end)
end)

describe('nn.BatchNormalization', function()
  it('normalises [N,C] per feature and keeps running statistics', function()
    local x = J.input(5, 3)
    local m = randomise(nn.BatchNormalization(3):double())
    local means, vars, uvars = {}, {}, {}
    for c = 1, 3 do means[c], vars[c], uvars[c] = stats(x, c) end
    assert.is_true(maxdiff(m:forward(x), normalise(x, means, vars, m.weight, m.bias, 1e-5)) < 1e-12)
    for c = 1, 3 do assert.is_true(math.abs(m.running_var[c] - (0.9 + 0.1 * uvars[c])) < 1e-13) end
    assert.are.equal('nn.BatchNormalization (2D) (3)', tostring(m))
  end)

  it('passes the Jacobian check (batch 2 and more; evaluation with batch 1)', function()
    check_jacobians(randomise(nn.BatchNormalization(3):double()), J.input(2, 3))
    check_jacobians(randomise(nn.BatchNormalization(2):double()), J.input(6, 2))
    check_jacobians(randomise(nn.BatchNormalization(4, 1e-5, 0.1):double()):fuseReLU(), J.input(5, 4))
    local m = randomise(nn.BatchNormalization(3):double())
    m:forward(J.input(4, 3))
    m:evaluate()
    check_jacobians(m, J.input(1, 3))
  end)

  it('rejects 4-D input and a batch of one in training', function()
    expect_error(function() nn.BatchNormalization(3):forward(fathom.Tensor(2, 3, 1, 1)) end,
      { 'nn.BatchNormalization', '[N,C] with C = 3', '2x3x1x1' })
    expect_error(function() nn.BatchNormalization(3):forward(fathom.Tensor(1, 3)) end,
      { 'more than one value per channel' })
  end)
end)
