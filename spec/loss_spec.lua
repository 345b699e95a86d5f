-- loss_spec.lua -- nn.LogSoftMax, nn.ClassNLLCriterion, nn.CrossEntropyCriterion and
-- nn.topkError: values against float64 Lua references, finite-difference gradients,
-- numerical stability, float32 vs float64, and bad targets naming label and position.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local J = require 'jacobian'
local check = require 'check'
local maxdiff, expect_error = check.maxdiff, check.expect_error

local TOL = 1e-5
local unpack = table.unpack or unpack


-- log(softmax(row)) in plain Lua, shifted by the row max.
local function log_softmax_ref(x)
  local N, K = x:size(1), x:size(2)
  local y = fathom.DoubleTensor(N, K)
  for n = 1, N do
    local mx = -math.huge
    for k = 1, K do mx = math.max(mx, x[n][k]) end
    local s = 0
    for k = 1, K do s = s + math.exp(x[n][k] - mx) end
    for k = 1, K do y[n][k] = x[n][k] - mx - math.log(s) end
  end
  return y
end

local function labels(N, K)
  local t = fathom.LongTensor(N)
  for i = 1, N do t[i] = math.random(1, K) end
  return t
end

describe('nn.LogSoftMax', function()
  it('matches the reference and its rows exponentiate to 1', function()
    local x = J.input(4, 6)
    local y = nn.LogSoftMax():forward(x)
    assert.is_true(maxdiff(y, log_softmax_ref(x)) < 1e-14)
    for n = 1, 4 do assert.is_true(math.abs(y[n]:clone():exp():sum() - 1) < 1e-14) end
    local y1 = nn.LogSoftMax():forward(x[2])
    assert.are.same({ 6 }, y1:size():totable())
    assert.is_true(maxdiff(y1, y[2]) < 1e-15)
  end)

  it('stays finite for huge scores (float32 and float64)', function()
    local x = fathom.DoubleTensor({ { 1000, 1001, 999 }, { -1000, -1e4, -999 } })
    for _, t in ipairs({ x, x:float() }) do
      local y = nn.LogSoftMax():forward(t)
      assert.is_true(y:max() == y:max() and y:max() <= 0 and y:min() > -1e5, 'finite')
      assert.is_true(maxdiff(y, log_softmax_ref(x)) < 1e-3)
    end
  end)

  it('passes the Jacobian check, batched and single', function()
    for _, shape in ipairs({ { 1, 5 }, { 3, 4 }, { 6 } }) do
      local err = J.testJacobian(nn.LogSoftMax():double(), J.input(unpack(shape)))
      assert.is_true(err < TOL, 'jacobian error ' .. err)
    end
  end)

  it('rejects 3-D input', function()
    expect_error(function() nn.LogSoftMax():forward(fathom.Tensor(2, 3, 4)) end,
      { 'nn.LogSoftMax', '[N,K]', '2x3x4' })
  end)
end)

describe('nn.ClassNLLCriterion', function()
  it('is minus the mean (or sum) of the target log-probabilities', function()
    local x = J.input(5, 4)
    local t = fathom.LongTensor({ 1, 4, 2, 2, 3 })
    local s = 0
    for i = 1, 5 do s = s - x[i][t[i]] end
    assert.is_true(math.abs(nn.ClassNLLCriterion():forward(x, t) - s / 5) < 1e-14)
    assert.is_true(math.abs(nn.ClassNLLCriterion(nil, false):forward(x, t) - s) < 1e-14)
    -- a single sample with a number target; targets in a DoubleTensor
    assert.is_true(math.abs(nn.ClassNLLCriterion():forward(x[2], 4) + x[2][4]) < 1e-15)
    assert.is_true(math.abs(nn.ClassNLLCriterion():forward(x, t:double()) - s / 5) < 1e-14)
  end)

  it('has the gradient -1/N at each target, 0 elsewhere', function()
    local x = J.input(3, 4)
    local t = fathom.LongTensor({ 2, 2, 4 })
    local c = nn.ClassNLLCriterion()
    c:forward(x, t)
    local g = c:backward(x, t)
    for i = 1, 3 do for k = 1, 4 do
      assert.are.equal(k == t[i] and -1 / 3 or 0, g[i][k])
    end end
    for _, sa in ipairs({ true, false }) do
      local err = J.testCriterion(nn.ClassNLLCriterion(nil, sa), J.input(4, 3), labels(4, 3))
      assert.is_true(err < TOL, 'criterion gradient error ' .. err)
    end
  end)

  it('names the bad label and its position', function()
    local x = fathom.Tensor(3, 10)
    expect_error(function() nn.ClassNLLCriterion():forward(x, fathom.LongTensor({ 1, 11, 3 })) end,
      { 'nn.ClassNLLCriterion', 'target 11 at position 2', '1 to 10' })
    expect_error(function() nn.ClassNLLCriterion():forward(x, fathom.LongTensor({ 1, 2, 0 })) end,
      { 'target 0 at position 3' })
    expect_error(function() nn.ClassNLLCriterion():backward(x, fathom.LongTensor({ -1, 2, 3 })) end,
      { 'target -1 at position 1' })
    expect_error(function() nn.ClassNLLCriterion():forward(x, fathom.LongTensor({ 1, 2 })) end,
      { 'nn.ClassNLLCriterion', '3 labels' })
    expect_error(function() nn.ClassNLLCriterion():forward(x, 'a') end, { 'target must be' })
    expect_error(function() nn.ClassNLLCriterion(fathom.ones(10)) end, { 'weights are not supported' })
  end)
end)

describe('nn.CrossEntropyCriterion', function()
  it('equals LogSoftMax + ClassNLLCriterion and passes the gradient check', function()
    local x, t = J.input(4, 5), labels(4, 5)
    local ce = nn.CrossEntropyCriterion()
    local ref = nn.ClassNLLCriterion():forward(log_softmax_ref(x), t)
    assert.is_true(math.abs(ce:forward(x, t) - ref) < 1e-13)
    -- gradient of mean cross-entropy: (softmax - onehot) / N
    local g = ce:backward(x, t)
    local p = log_softmax_ref(x):exp()
    for i = 1, 4 do for k = 1, 5 do
      local want = (p[i][k] - (k == t[i] and 1 or 0)) / 4
      assert.is_true(math.abs(g[i][k] - want) < 1e-14)
    end end
    for _, N in ipairs({ 1, 3 }) do
      local err = J.testCriterion(nn.CrossEntropyCriterion(), J.input(N, 4), labels(N, 4))
      assert.is_true(err < TOL, 'criterion gradient error ' .. err)
    end
    local err = J.testCriterion(nn.CrossEntropyCriterion(), J.input(4), 2)
    assert.is_true(err < TOL, 'single-sample criterion gradient error ' .. err)
  end)

  it('agrees between float32 and float64', function()
    local x, t = J.input(8, 10), labels(8, 10)
    local a = nn.CrossEntropyCriterion():forward(x, t)
    local c32 = nn.CrossEntropyCriterion():float()
    local b = c32:forward(x:float(), t)
    assert.is_true(math.abs(a - b) < 1e-5)
    assert.is_true(maxdiff(c32:backward(x:float(), t), nn.CrossEntropyCriterion():backward(x, t)) < 1e-6)
  end)
end)

describe('nn.topkError', function()
  it('counts samples whose target is outside the k best scores', function()
    local out = fathom.Tensor({ { 0.1, 0.5, 0.4 },   -- best 2, then 3, then 1
                                { 0.9, 0.05, 0.05 }, -- best 1
                                { 0.2, 0.2, 0.6 } }) -- best 3; tie 1/2: 1 ranks first
    local t = fathom.LongTensor({ 3, 1, 2 })
    local w1, r1 = nn.topkError(out, t, 1)
    assert.are.equal(2, w1)                     -- samples 1 and 3 wrong at top-1
    assert.is_true(math.abs(r1 - 2 / 3) < 1e-15)
    assert.are.equal(1, nn.topkError(out, t, 2)) -- sample 3: class 2 ranks third (tie)
    assert.are.equal(0, nn.topkError(out, t, 3))
    assert.are.equal(0, nn.topkError(out[2], 1, 1))
    assert.are.equal(1, nn.topkError(out:double(), t:double(), 2))
  end)

  it('rejects bad k and bad labels', function()
    local out = fathom.Tensor(2, 3)
    expect_error(function() nn.topkError(out, fathom.LongTensor({ 1, 2 }), 4) end, { 'k must be between 1' })
    expect_error(function() nn.topkError(out, fathom.LongTensor({ 1, 4 }), 1) end, { 'target 4 at position 2' })
    expect_error(function() nn.topkError(out, fathom.LongTensor({ 1 }), 1) end, { '2 labels' })
  end)
end)
