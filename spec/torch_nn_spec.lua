-- spec/torch_nn_spec.lua -- the Torch7 modules added for code written for Torch7: values
-- against direct formulas, and float64 finite-difference gradients on single and batch
-- inputs (spec/helpers/jacobian.lua).
local fathom = require 'fathom'
local nn = fathom.nn
local J = require 'jacobian'
local TOL = 1e-7

local function grad_ok(m, x)
  local err = J.testJacobian(m, x)
  assert(err < TOL, tostring(m) .. ' jacobian error ' .. err)
end

describe('Torch7 element-wise modules', function()
  it('Tanh and Sigmoid: values and gradients, single and batch', function()
    for _, x in ipairs({ J.input(5), J.input(3, 4) }) do
      local t = nn.Tanh()
      local y = t:forward(x)
      local yf, xf = y:contiguous():view(y:nElement()), x:contiguous():view(x:nElement())
      assert.is_true(math.abs(yf[1] - math.tanh(xf[1])) < 1e-12)
      grad_ok(nn.Tanh(), x)
      local s = nn.Sigmoid():forward(x):clone():view(x:nElement())
      local v = x:view(x:nElement())[2]
      assert.is_true(math.abs(s[2] - 1 / (1 + math.exp(-v))) < 1e-12)
      grad_ok(nn.Sigmoid(), x)
    end
  end)

  it('SoftMax sums to one along the feature dimension and has the right gradient', function()
    local x = J.input(3, 5)
    local y = nn.SoftMax():forward(x)
    local s = y:sum(2)
    for i = 1, 3 do assert.is_true(math.abs(s[{ i, 1 }] - 1) < 1e-12) end
    local e = math.exp(x[{ 2, 3 }]) / (function() local t = 0 for j = 1, 5 do t = t + math.exp(x[{ 2, j }]) end return t end)()
    assert.is_true(math.abs(y[{ 2, 3 }] - e) < 1e-12)
    grad_ok(nn.SoftMax(), J.input(4))
    grad_ok(nn.SoftMax(), J.input(2, 4))
    grad_ok(nn.SoftMax(), J.input(2, 3, 2, 2))
    -- large inputs do not overflow
    local big = nn.SoftMax():forward(fathom.DoubleTensor({ 1000, 1001 }))
    assert.is_true(math.abs(big[2] - 1 / (1 + math.exp(-1))) < 1e-12)
  end)
end)

describe('Dropout and SpatialDropout', function()
  it('drop about p of the elements, scale the rest by 1/(1-p), and backward applies the same mask', function()
    fathom.manualSeed(1)
    local x = fathom.DoubleTensor(200, 50):fill(1)
    local d = nn.Dropout(0.3)
    local y = d:forward(x)
    local kept = y:gt(0):sum()
    assert.is_true(math.abs(kept / x:nElement() - 0.7) < 0.02, 'kept ' .. kept)
    assert.is_true(math.abs(y:max() - 1 / 0.7) < 1e-12)
    local g = d:backward(x, fathom.DoubleTensor(200, 50):fill(2))
    assert.is_true(g:equal(y:clone():mul(2)))
    d:evaluate()
    assert.is_true(d:forward(x):equal(x))
    grad_ok(d, J.input(3, 4))
    local v1 = nn.Dropout(0.25, true):evaluate()
    assert.is_true(math.abs(v1:forward(x)[{ 1, 1 }] - 0.75) < 1e-12)
    assert.has_error(function() nn.Dropout(1) end)
  end)

  it('SpatialDropout drops whole feature maps', function()
    fathom.manualSeed(2)
    local x = fathom.DoubleTensor(4, 16, 3, 3):fill(1)
    local y = nn.SpatialDropout(0.5):forward(x)
    local zero_planes = 0
    for n = 1, 4 do for c = 1, 16 do
      local p = y[n][c]
      assert.is_true(p:max() == p:min(), 'a plane is not all one value')
      if p:max() == 0 then zero_planes = zero_planes + 1 end
    end end
    assert.is_true(zero_planes > 10 and zero_planes < 54, 'dropped ' .. zero_planes)
    grad_ok(nn.SpatialDropout(0.5):evaluate(), J.input(2, 3, 2, 2))
  end)
end)

describe('shape modules', function()
  it('Reshape: single and batch inputs', function()
    local r = nn.Reshape(2, 3)
    assert.are.same({ 2, 3 }, r:forward(J.input(6)):size():totable())
    assert.are.same({ 4, 2, 3 }, r:forward(J.input(4, 6)):size():totable())
    grad_ok(nn.Reshape(3, 2), J.input(6))
    grad_ok(nn.Reshape(3, 2), J.input(2, 6))
    assert.has_error(function() nn.Reshape(2, 3):forward(J.input(5)) end)
  end)

  it('Narrow: a slice, negative lengths from the end, zero gradient outside', function()
    local x = J.input(3, 6)
    local y = nn.Narrow(2, 2, 3):forward(x)
    assert.is_true(y:equal(x:narrow(2, 2, 3)))
    assert.are.same({ 3, 4 }, nn.Narrow(2, 3, -1):forward(x):size():totable())
    grad_ok(nn.Narrow(1, 2, 2), J.input(4))
    grad_ok(nn.Narrow(2, 2, 3), x)
    assert.has_error(function() nn.Narrow(2, 5, 3):forward(x) end)
  end)

  it('Padding: after, before, batch mode, value', function()
    local x = J.input(3)
    local y = nn.Padding(1, 2, 1, 7):forward(x)
    assert.are.same({ x[1], x[2], x[3], 7, 7 }, y:totable())
    local z = nn.Padding(1, -1):forward(x)
    assert.are.same({ 0, x[1], x[2], x[3] }, z:totable())
    assert.are.same({ 2, 5 }, nn.Padding(1, 2, 1):forward(J.input(2, 3)):size():totable())
    grad_ok(nn.Padding(1, 2, 1), J.input(3))
    grad_ok(nn.Padding(1, -2, 1), J.input(2, 3))
    grad_ok(nn.Padding(1, 1, 1, 0, 2), J.input(2, 3))
  end)

  it('SpatialZeroPadding pads and crops', function()
    local x = J.input(2, 3, 3)
    local y = nn.SpatialZeroPadding(1, 2, 0, 1):forward(x)
    assert.are.same({ 2, 4, 6 }, y:size():totable())
    assert.is_true(y:narrow(2, 1, 3):narrow(3, 2, 3):equal(x))
    assert.are.equal(0, y[{ 1, 4, 1 }])
    local c = nn.SpatialZeroPadding(-1, 0, 0, -1):forward(x)
    assert.is_true(c:equal(x:narrow(2, 1, 2):narrow(3, 2, 2)))
    grad_ok(nn.SpatialZeroPadding(1, 0, 1, 1), J.input(1, 2, 2))
    grad_ok(nn.SpatialZeroPadding(-1, 1, 1, -1), J.input(2, 1, 3, 3))
  end)

  it('JoinTable concatenates a table, with batch dims', function()
    local a, b = J.input(2, 3), J.input(2, 2)
    local j = nn.JoinTable(2)
    local y = j:forward({ a, b })
    assert.is_true(y:narrow(2, 1, 3):equal(a) and y:narrow(2, 4, 2):equal(b))
    local g = J.input(2, 5)
    local gi = j:backward({ a, b }, g)
    assert.is_true(gi[1]:equal(g:narrow(2, 1, 3)) and gi[2]:equal(g:narrow(2, 4, 2)))
    local jb = nn.JoinTable(1, 1)
    assert.are.same({ 2, 5 }, jb:forward({ a, b }):size():totable())
  end)

  it('Sum and Mean over a dimension, single and batch', function()
    local x = J.input(3, 4)
    local s = nn.Sum(2):forward(x)
    assert.are.same({ 3 }, s:size():totable())
    assert.is_true(math.abs(s[1] - x[1]:sum()) < 1e-12)
    assert.is_true(math.abs(nn.Mean(1):forward(x)[2] - x:select(2, 2):sum() / 3) < 1e-12)
    grad_ok(nn.Sum(1), J.input(4))
    grad_ok(nn.Sum(1, 1), J.input(3, 4))
    grad_ok(nn.Mean(2), J.input(3, 4))
    grad_ok(nn.Mean(1, 1), J.input(2, 3))
  end)

  it('Copy converts types both ways', function()
    local c = nn.Copy('torch.FloatTensor', 'torch.DoubleTensor')
    local x = fathom.FloatTensor(3):fill(1.5)
    local y = c:forward(x)
    assert.are.equal('fathom.DoubleTensor', y:type())
    assert.are.equal('fathom.FloatTensor', c:backward(x, y:clone()):type())
    grad_ok(nn.Copy('double', 'double', true), J.input(2, 3))
  end)
end)

describe('MSECriterion and BCECriterion', function()
  it('MSE: value and gradient', function()
    local x, y = J.input(3, 4), J.input(3, 4)
    local c = nn.MSECriterion()
    local d = x:clone():add(-1, y)
    assert.is_true(math.abs(c:forward(x, y) - d:dot(d) / 12) < 1e-12)
    assert.is_true(J.testCriterion(c, x, y) < TOL)
    assert.is_true(J.testCriterion(nn.MSECriterion(false), J.input(5), J.input(5)) < TOL)
  end)

  it('BCE: value and gradient, with weights', function()
    local x = fathom.DoubleTensor(3, 4):uniform(0.1, 0.9)
    local y = fathom.DoubleTensor(3, 4):bernoulli(0.5)
    local c = nn.BCECriterion()
    local want = 0
    for i = 1, 3 do for j = 1, 4 do
      local p, t = x[{ i, j }], y[{ i, j }]
      want = want - (t * math.log(p) + (1 - t) * math.log(1 - p))
    end end
    assert.is_true(math.abs(c:forward(x, y) - want / 12) < 1e-9)
    assert.is_true(J.testCriterion(c, x, y, 1e-7) < 1e-6)
    local w = fathom.DoubleTensor(4):uniform(0.5, 2)
    assert.is_true(J.testCriterion(nn.BCECriterion(w), x, y, 1e-7) < 1e-6)
    assert.is_true(J.testCriterion(nn.BCECriterion(nil, false), fathom.DoubleTensor(5):uniform(0.2, 0.8),
      fathom.DoubleTensor(5):bernoulli(0.5), 1e-7) < 1e-6)
  end)
end)
