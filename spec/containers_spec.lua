-- containers_spec.lua -- nn.Sequential, nn.ConcatTable, nn.CAddTable and what every
-- container must propagate: Jacobians of whole networks (input and every parameter),
-- residual blocks with in-place addition, Torch7-style printing, getParameters
-- re-pointing (both ways, gradients too), training/evaluate, type, clearState.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local J = require 'jacobian'
local check = require 'check'
local maxdiff, expect_error = check.maxdiff, check.expect_error

local TOL = 1e-5
local unpack = table.unpack or unpack


local function check_jacobians(m, x)
  local err = J.testJacobian(m, x)
  assert.is_true(err < TOL, 'input jacobian error ' .. err)
  local params, grads = m:parameters()
  for i = 1, #params do
    local e = J.testJacobianParameters(m, x, params[i], grads[i])
    assert.is_true(e < TOL, ('parameter %d jacobian error %g'):format(i, e))
  end
end

-- A fully connected residual block: ReLU(f(x) + x), the addition in place.
local function residual(n)
  return nn.Sequential()
    :add(nn.ConcatTable()
      :add(nn.Sequential():add(nn.Linear(n, n)):add(nn.BatchNormalization(n):fuseReLU()):add(nn.Linear(n, n)))
      :add(nn.Identity()))
    :add(nn.CAddTable(true))
    :add(nn.ReLU(true))
end

-- The CIFAR transition shortcut "A" around a BN branch, on [N,C,H,W] input.
local function transition(c)
  local pool = function() return nn.SpatialAveragePooling(2, 2, 2, 2) end
  return nn.Sequential()
    :add(nn.ConcatTable()
      :add(nn.Sequential():add(pool()):add(nn.ChannelPad(2 * c)):add(nn.SpatialBatchNormalization(2 * c)))
      :add(nn.Sequential():add(pool()):add(nn.ChannelPad(2 * c))))
    :add(nn.CAddTable())
    :add(nn.ReLU())
end

describe('nn.Sequential', function()
  it('chains modules and prints like Torch7', function()
    local s = nn.Sequential():add(nn.Linear(3, 4)):add(nn.ReLU())
    s:add(nn.Linear(4, 2), 2) -- insert at 2
    assert.are.equal(3, s:size())
    assert.are.equal('nn.Linear(4 -> 2)', tostring(s:get(2)))
    assert.are.equal(3, #s.modules)
    local x = fathom.randn(5, 3)
    local manual = s:get(3):forward(s:get(2):forward(s:get(1):forward(x)))
    assert.are.equal(0, maxdiff(s:forward(x), manual))
    local want = table.concat({
      'nn.Sequential {',
      '  [input -> (1) -> (2) -> (3) -> output]',
      '  (1): nn.Linear(3 -> 4)',
      '  (2): nn.Linear(4 -> 2)',
      '  (3): nn.ReLU',
      '}' }, '\n')
    assert.are.equal(want, tostring(s))
  end)

  it('passes the Jacobian check over the input and every parameter of an MLP', function()
    for _, N in ipairs({ 1, 3 }) do
      local s = nn.Sequential():add(nn.Linear(4, 5)):add(nn.ReLU()):add(nn.Linear(5, 3)):add(nn.LogSoftMax())
      check_jacobians(s:double(), J.input(N, 4))
    end
  end)

  it('inserts, removes and finds modules as Torch7', function()
    local s = nn.Sequential():add(nn.ReLU()):add(nn.Linear(2, 2))
    s:insert(nn.Identity(), 1)
    assert.are.equal('nn.Identity', s:get(1).__typename)
    assert.are.equal('nn.Linear', s:remove().__typename)
    assert.are.equal(2, s:size())
    local net = residual(2)
    assert.are.equal(2, #net:findModules('nn.Linear'))
    assert.are.equal(1, #net:findModules('nn.BatchNormalization'))
    assert.are.equal(net, net:listModules()[1])
    assert.are.equal(9, #net:listModules()) -- Seq, Concat, Seq, Linear, BN, Linear, Identity, CAdd, ReLU
    expect_error(function() s:remove(5) end, { 'out of range' })
  end)

  it('is the identity when empty, and rejects non-modules', function()
    local x = fathom.randn(2, 2)
    assert.are.equal(x, nn.Sequential():forward(x))
    expect_error(function() nn.Sequential():add(42) end, { 'nn.Sequential:add', 'expected an nn module' })
    expect_error(function() nn.Sequential():add(nn.ReLU(), 3) end, { 'out of range' })
  end)
end)

describe('nn.ConcatTable and nn.CAddTable', function()
  it('ConcatTable gives each child the input and sums their gradients', function()
    local a, b = nn.Linear(3, 2):double(), nn.Linear(3, 2):double()
    local c = nn.ConcatTable():add(a):add(b)
    local x = J.input(4, 3)
    local out = c:forward(x)
    assert.are.equal(2, #out)
    assert.are.equal(0, maxdiff(out[1], a.output))
    local g1, g2 = J.input(4, 2), J.input(4, 2)
    local gi = c:backward(x, { g1, g2 })
    local want = a:updateGradInput(x, g1):clone():add(b:updateGradInput(x, g2))
    assert.is_true(maxdiff(gi, want) < 1e-14)
    expect_error(function() c:backward(x, { g1 }) end, { 'nn.ConcatTable', 'table of 2 tensors' })
  end)

  it('CAddTable adds, and in place reuses input[1] and shares gradOutput', function()
    local x1, x2, x3 = J.input(2, 3), J.input(2, 3), J.input(2, 3)
    local want = x1 + x2 + x3
    local m = nn.CAddTable()
    assert.is_true(maxdiff(m:forward({ x1, x2, x3 }), want) < 1e-15)
    local go = J.input(2, 3)
    local gi = m:backward({ x1, x2, x3 }, go)
    assert.are.equal(3, #gi)
    go:fill(0) -- the out-of-place gradients are copies
    assert.is_true(gi[2]:clone():abs():max() > 0)
    local mi = nn.CAddTable(true)
    local y = mi:forward({ x1, x2, x3 })
    assert.is_true(maxdiff(y, want) < 1e-15)
    assert.is_true(maxdiff(x1, want) < 1e-15) -- input[1] became the sum
    local go2 = J.input(2, 3)
    local gi2 = mi:backward({ x1, x2, x3 }, go2)
    go2:fill(7)
    assert.are.equal(7, gi2[3][1][1]) -- shared with gradOutput
    expect_error(function() m:forward({ x1, J.input(3, 2) }) end, { 'nn.CAddTable', 'input[2]', '3x2' })
    expect_error(function() m:forward(x1) end, { 'nn.CAddTable', 'table' })
  end)

  it('a residual block with in-place addition passes the Jacobian check', function()
    for _, N in ipairs({ 2, 4 }) do check_jacobians(residual(3):double(), J.input(N, 3)) end
  end)

  it('the shortcut-A transition block passes the Jacobian check', function()
    for _, shape in ipairs({ { 2, 2, 4, 4 }, { 1, 1, 4, 2 } }) do
      local t = transition(shape[2]):double()
      -- the padded channels are constant, so BN maps them to its bias: keep the bias off
      -- ReLU's kink at 0, where finite differences are meaningless
      local bn = t:get(1):get(1):get(3)
      bn.weight:uniform(0.5, 1.5)
      bn.bias:uniform(0.2, 0.8)
      check_jacobians(t, J.input(unpack(shape)))
    end
  end)

  it('prints like Torch7', function()
    local c = nn.ConcatTable():add(nn.Linear(3, 3)):add(nn.Identity())
    local want = table.concat({
      'nn.ConcatTable {',
      '  input',
      '    |`-> (1): nn.Linear(3 -> 3)',
      '     `-> (2): nn.Identity',
      '     ... -> output',
      '}' }, '\n')
    assert.are.equal(want, tostring(c))
    assert.is_truthy(tostring(residual(2)):find('      |      (3): nn.Linear(2 -> 2)', 1, true))
  end)
end)

describe('containers propagate', function()
  it('getParameters re-points every parameter and gradient into one flat tensor', function()
    local net = residual(3):add(nn.Linear(3, 2))
    local params, grads = net:parameters()
    local n = 0
    for _, p in ipairs(params) do n = n + p:nElement() end
    assert.are.equal(3 * 3 + 3 + 3 + 3 + 3 * 3 + 3 + 3 * 2 + 2, n)
    local first_lin = net:get(1):get(1):get(1)
    local before = first_lin.weight:clone()
    local w, dw = net:getParameters()
    assert.are.equal(n, w:nElement())
    assert.are.equal(n, dw:nElement())
    assert.are.equal(0, maxdiff(w:narrow(1, 1, 9), before:view(9))) -- values kept
    -- flat -> module
    w:fill(0.5)
    assert.are.equal(0.5, first_lin.weight[2][3])
    assert.are.equal(0.5, net:get(4).bias[2])
    -- module -> flat
    first_lin.weight[1][1] = -3
    assert.are.equal(-3, w[1])
    net:get(4).bias[2] = 9
    assert.are.equal(9, w[n])
    -- gradients land in the flat gradient; zeroGradParameters clears it
    dw:zero()
    local x = fathom.randn(4, 3)
    net:forward(x)
    net:backward(x, fathom.randn(4, 2))
    assert.is_true(dw:clone():abs():max() > 0)
    assert.are.equal(0, maxdiff(dw:narrow(1, n - 1, 2), net:get(4).gradBias))
    net:zeroGradParameters()
    assert.are.equal(0, dw:clone():abs():max())
    assert.are.equal(#params, #grads)
  end)

  it('training/evaluate reach nested modules', function()
    local net = residual(2)
    net:evaluate()
    local bn = net:get(1):get(1):get(2)
    assert.is_false(bn.train)
    assert.is_false(net:get(1).train)
    net:training()
    assert.is_true(bn.train)
  end)

  it('type() converts nested modules and criterions; clearState frees buffers', function()
    local net = residual(3)
    net:double()
    local bn = net:get(1):get(1):get(2)
    assert.are.equal('fathom.DoubleTensor', bn.running_var:type())
    assert.are.equal('fathom.DoubleTensor', net:get(1):get(1):get(3).weight:type())
    local y = net:forward(J.input(2, 3))
    assert.are.equal('fathom.DoubleTensor', y:type())
    net:float()
    assert.are.equal('fathom.FloatTensor', net:forward(fathom.randn(2, 3)):type())
    local ce = nn.CrossEntropyCriterion():double()
    assert.are.equal('fathom.DoubleTensor', ce:backward(J.input(2, 3), fathom.LongTensor({ 1, 2 })):type())
    ce:float()
    assert.are.equal('fathom.LongTensor', ce.nll.target:type()) -- labels stay integers
    net:clearState()
    assert.are.equal(0, net:get(1):get(1):get(1).output:nElement())
    assert.are.same({}, net:get(1).output)
    assert.are.equal(3, net:forward(fathom.randn(2, 3)):size(2)) -- buffers regrow
  end)

  it('getParameters refuses networks of mixed dtypes', function()
    local s = nn.Sequential():add(nn.Linear(2, 2)):add(nn.Linear(2, 2):double())
    expect_error(function() s:getParameters() end, { 'getParameters', 'DoubleTensor', 'FloatTensor' })
  end)
end)
