-- nn_spec.lua -- the element-wise, pooling, padding, reshaping and linear modules:
-- outputs against naive float64 Lua loops, finite-difference Jacobians (input and
-- every parameter, float64, several shapes incl. batch 1), float32 vs float64,
-- in-place variants, and wrong inputs giving errors that name the module.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local J = require 'jacobian'
local check = require 'check'
local maxdiff, expect_error = check.maxdiff, check.expect_error

local TOL = 1e-5
local unpack = table.unpack or unpack


-- Jacobians of the input and of every parameter of module m (float64).
local function check_jacobians(m, x, tol)
  tol = tol or TOL
  local err = J.testJacobian(m, x)
  assert.is_true(err < tol, ('%s input jacobian error %g'):format(tostring(m), err))
  local params, grads = m:parameters()
  for i = 1, #(params or {}) do
    local e = J.testJacobianParameters(m, x, params[i], grads[i])
    assert.is_true(e < tol, ('%s parameter %d jacobian error %g'):format(tostring(m), i, e))
  end
end

-- A float copy of a double module gives the same output and gradients (float tolerance).
local function check_float_vs_double(m64, x64)
  local go = fathom.DoubleTensor():resizeAs(m64:forward(x64)):uniform(-1, 1)
  local y64 = m64:forward(x64):clone()
  m64:zeroGradParameters()
  local gi64 = m64:backward(x64, go):clone()
  local _, g64 = m64:parameters()
  local m32 = m64:clone_float()
  m32:zeroGradParameters()
  local x32, go32 = x64:float(), go:float()
  local y32 = m32:forward(x32)
  local gi32 = m32:backward(x32, go32)
  assert.are.equal('fathom.FloatTensor', y32:type())
  local scale = 1 + y64:clone():abs():max()
  assert.is_true(maxdiff(y32, y64) < 1e-5 * scale, 'float32 output differs')
  assert.is_true(maxdiff(gi32, gi64) < 1e-5 * (1 + gi64:clone():abs():max()), 'float32 gradInput differs')
  local _, g32 = m32:parameters()
  for i = 1, #(g64 or {}) do
    assert.is_true(maxdiff(g32[i], g64[i]) < 1e-5 * (1 + g64[i]:clone():abs():max()),
      'float32 parameter gradient differs')
  end
end

-- A module copy converted to float (parameters copied): type() on a fresh instance.
local function float_copy(make)
  return function(m64)
    local m = make()
    local p, _ = m:parameters()
    local q = m64:parameters()
    for i = 1, #(p or {}) do p[i]:copy(q[i]) end
    return m:float()
  end
end

local function with_float(m, make)
  m.clone_float = float_copy(make)
  return m
end

describe('nn.ReLU', function()
  it('matches max(x, 0) and masks the gradient with output > 0', function()
    local x = J.input(3, 4)
    local m = nn.ReLU():double()
    local y = m:forward(x)
    local go = J.input(3, 4)
    local gi = m:backward(x, go)
    for i = 1, 3 do
      for j = 1, 4 do
        local v = x[i][j]
        assert.are.equal(v > 0 and v or 0, y[i][j])
        assert.are.equal(v > 0 and go[i][j] or 0, gi[i][j])
      end
    end
  end)

  it('passes the Jacobian check on several shapes', function()
    for _, shape in ipairs({ { 1, 5 }, { 3, 4 }, { 2, 3, 2, 2 }, { 7 } }) do
      check_jacobians(nn.ReLU():double(), J.input(unpack(shape)))
    end
  end)

  it('in place gives the same values and reuses the input and gradOutput', function()
    local x = J.input(2, 3, 4)
    local go = J.input(2, 3, 4)
    local ref = nn.ReLU():double()
    local y_ref = ref:forward(x):clone()
    local gi_ref = ref:backward(x, go):clone()
    local m = nn.ReLU(true):double()
    local x2, go2 = x:clone(), go:clone()
    local y = m:forward(x2)
    assert.are.equal(0, maxdiff(y, y_ref))
    assert.are.equal(0, maxdiff(x2, y_ref)) -- the input itself was overwritten
    local gi = m:backward(x2, go2)
    assert.are.equal(0, maxdiff(gi, gi_ref))
    assert.are.equal(0, maxdiff(go2, gi_ref))
  end)

  it('follows the input dtype and agrees between float32 and float64', function()
    local x = J.input(4, 5)
    local m = nn.ReLU()
    assert.are.equal('fathom.DoubleTensor', m:forward(x):type())
    assert.are.equal('fathom.FloatTensor', m:forward(x:float()):type())
    assert.are.equal(0, maxdiff(m:forward(x:float()), nn.ReLU():forward(x):float()))
  end)

  it('rejects non-tensors and integer tensors', function()
    expect_error(function() nn.ReLU():forward(3) end, { 'nn.ReLU', 'expected input' })
    expect_error(function() nn.ReLU():forward(fathom.LongTensor(3)) end, { 'nn.ReLU', 'FloatTensor or DoubleTensor' })
    local m = nn.ReLU()
    m:forward(fathom.Tensor(2, 3))
    expect_error(function() m:backward(fathom.Tensor(2, 3), fathom.Tensor(3, 2)) end,
      { 'nn.ReLU', 'gradOutput', '2x3', '3x2' })
  end)
end)

describe('nn.Linear', function()
  local function reference(x, w, b)
    local N, I, O = x:size(1), x:size(2), w:size(1)
    local y = fathom.DoubleTensor(N, O)
    for n = 1, N do
      for o = 1, O do
        local s = b and b[o] or 0
        for i = 1, I do s = s + w[o][i] * x[n][i] end
        y[n][o] = s
      end
    end
    return y
  end

  it('initialises weight and bias uniformly in +-1/sqrt(inputSize)', function()
    fathom.manualSeed(3)
    local m = nn.Linear(16, 50)
    local bound = 1 / math.sqrt(16)
    assert.is_true(m.weight:max() <= bound and m.weight:min() >= -bound)
    assert.is_true(m.bias:max() <= bound and m.bias:min() >= -bound)
    assert.is_true(m.weight:max() > 0.8 * bound and m.weight:min() < -0.8 * bound) -- spread out
    assert.are.same({ 50, 16 }, m.weight:size():totable())
    assert.are.equal('nn.Linear(16 -> 50)', tostring(m))
  end)

  it('computes x W^T + b, batched and single', function()
    local m = nn.Linear(5, 3):double()
    local x = J.input(4, 5)
    assert.is_true(maxdiff(m:forward(x), reference(x, m.weight, m.bias)) < 1e-12)
    local x1 = J.input(5)
    local y1 = m:forward(x1)
    assert.are.same({ 3 }, y1:size():totable())
    assert.is_true(maxdiff(y1:view(1, 3), reference(x1:view(1, 5), m.weight, m.bias)) < 1e-12)
    local nb = nn.Linear(5, 3, false):double()
    assert.is_nil(nb.bias)
    assert.is_true(maxdiff(nb:forward(x), reference(x, nb.weight, nil)) < 1e-12)
  end)

  it('accumulates scale * gradient into gradWeight and gradBias', function()
    local m = nn.Linear(3, 2):double()
    local x, go = J.input(4, 3), J.input(4, 2)
    m:zeroGradParameters()
    m:forward(x)
    m:backward(x, go, 0.5)
    m:backward(x, go, 0.5) -- twice: sums to the full gradient
    for o = 1, 2 do
      local sb = 0
      for n = 1, 4 do sb = sb + go[n][o] end
      assert.is_true(math.abs(m.gradBias[o] - sb) < 1e-12)
      for i = 1, 3 do
        local s = 0
        for n = 1, 4 do s = s + go[n][o] * x[n][i] end
        assert.is_true(math.abs(m.gradWeight[o][i] - s) < 1e-12)
      end
    end
  end)

  it('passes the Jacobian check for input, weight and bias', function()
    for _, c in ipairs({ { 1, 3, 4 }, { 3, 5, 2 }, { 2, 1, 6 } }) do
      local N, I, O = c[1], c[2], c[3]
      check_jacobians(nn.Linear(I, O):double(), J.input(N, I))
    end
    check_jacobians(nn.Linear(4, 3):double(), J.input(4)) -- a single 1-D sample
    check_jacobians(nn.Linear(4, 3, false):double(), J.input(2, 4))
  end)

  it('agrees between float32 and float64', function()
    local m = with_float(nn.Linear(7, 5):double(), function() return nn.Linear(7, 5) end)
    check_float_vs_double(m, J.input(6, 7))
  end)

  it('rejects wrong shapes and dtypes with the module name and expected shape', function()
    local m = nn.Linear(4, 3)
    expect_error(function() m:forward(fathom.Tensor(2, 5)) end, { 'nn.Linear', '[N,4]', '2x5' })
    expect_error(function() m:forward(fathom.Tensor(2, 4, 1)) end, { 'nn.Linear', '2x4x1' })
    expect_error(function() m:forward(fathom.DoubleTensor(2, 4)) end, { 'nn.Linear', 'DoubleTensor', 'FloatTensor' })
    m:forward(fathom.Tensor(2, 4))
    expect_error(function() m:backward(fathom.Tensor(2, 4), fathom.Tensor(2, 4)) end,
      { 'nn.Linear', 'gradOutput', '2x3' })
    expect_error(function() nn.Linear(0, 3) end, { 'nn.Linear', 'positive integers' })
  end)
end)

describe('nn.SpatialAveragePooling', function()
  local function reference(x, kW, kH, dW, dH)
    local N, C, H, W = x:size(1), x:size(2), x:size(3), x:size(4)
    local Ho, Wo = math.floor((H - kH) / dH) + 1, math.floor((W - kW) / dW) + 1
    local y = fathom.DoubleTensor(N, C, Ho, Wo)
    for n = 1, N do for c = 1, C do for i = 1, Ho do for j = 1, Wo do
      local s = 0
      for a = 0, kH - 1 do for b = 0, kW - 1 do
        s = s + x[n][c][(i - 1) * dH + 1 + a][(j - 1) * dW + 1 + b]
      end end
      y[n][c][i][j] = s / (kW * kH)
    end end end end
    return y
  end

  local cases = {
    { 1, 2, 4, 4, 2, 2, 2, 2 },  -- shortcut A's pooling
    { 2, 3, 5, 5, 3, 3, 1, 1 },  -- overlapping windows
    { 2, 2, 4, 6, 6, 4, 6, 4 },  -- global pool (kernel = input size)
    { 3, 1, 5, 4, 1, 1, 2, 2 },  -- "subsample" shortcut (1x1, stride 2), odd size
    { 1, 2, 7, 5, 2, 3, 2, 1 },  -- rectangular kernel and stride
  }

  it('matches the naive average for every case', function()
    for _, c in ipairs(cases) do
      local N, C, H, W, kW, kH, dW, dH = unpack(c)
      local x = J.input(N, C, H, W)
      local m = nn.SpatialAveragePooling(kW, kH, dW, dH)
      assert.is_true(maxdiff(m:forward(x), reference(x, kW, kH, dW, dH)) < 1e-12)
    end
  end)

  it('passes the Jacobian check, batched and 3-D', function()
    for _, c in ipairs(cases) do
      local N, C, H, W, kW, kH, dW, dH = unpack(c)
      check_jacobians(nn.SpatialAveragePooling(kW, kH, dW, dH):double(), J.input(N, C, H, W))
    end
    local m = nn.SpatialAveragePooling(2, 2, 2, 2):double()
    local x = J.input(3, 4, 4)
    assert.are.same({ 3, 2, 2 }, m:forward(x):size():totable())
    check_jacobians(m, x)
  end)

  it('agrees between float32 and float64', function()
    local m = nn.SpatialAveragePooling(8, 8, 1, 1)
    local x = J.input(4, 3, 8, 8)
    assert.is_true(maxdiff(m:forward(x:float()), nn.SpatialAveragePooling(8, 8):forward(x)) < 1e-6)
  end)

  it('rejects kernels larger than the input, padding and wrong dims', function()
    local m = nn.SpatialAveragePooling(3, 3, 1, 1)
    expect_error(function() m:forward(fathom.Tensor(1, 2, 2, 5)) end,
      { 'nn.SpatialAveragePooling', 'H >= 3', '1x2x2x5' })
    expect_error(function() m:forward(fathom.Tensor(4, 4)) end, { 'nn.SpatialAveragePooling', '[N,C,H,W]' })
    expect_error(function() nn.SpatialAveragePooling(2, 2, 2, 2, 1, 1) end, { 'padding' })
    expect_error(function() nn.SpatialAveragePooling(0, 2) end, { 'positive integers' })
    local p = nn.SpatialAveragePooling(2, 2, 2, 2)
    p:forward(fathom.Tensor(1, 1, 4, 4))
    expect_error(function() p:backward(fathom.Tensor(1, 1, 4, 4), fathom.Tensor(1, 1, 3, 3)) end,
      { 'gradOutput', '1x1x2x2', '1x1x3x3' })
  end)
end)

describe('nn.ChannelPad', function()
  it('puts the input channels first and zeros after', function()
    local x = J.input(2, 3, 2, 2)
    local m = nn.ChannelPad(5)
    local y = m:forward(x)
    assert.are.same({ 2, 5, 2, 2 }, y:size():totable())
    assert.are.equal(0, maxdiff(y:narrow(2, 1, 3), x))
    assert.are.equal(0, y:narrow(2, 4, 2):clone():abs():max())
    local go = J.input(2, 5, 2, 2)
    assert.are.equal(0, maxdiff(m:backward(x, go), go:narrow(2, 1, 3)))
  end)

  it('passes the Jacobian check, including no padding and 3-D input', function()
    check_jacobians(nn.ChannelPad(4):double(), J.input(2, 2, 3, 3))
    check_jacobians(nn.ChannelPad(3):double(), J.input(1, 3, 2, 2))
    check_jacobians(nn.ChannelPad(6):double(), J.input(2, 2, 2))
  end)

  it('pools then pads as shortcut A, in float32 too', function()
    local x = J.input(2, 4, 4, 4)
    local s = nn.Sequential():add(nn.SpatialAveragePooling(2, 2, 2, 2)):add(nn.ChannelPad(8))
    local y = s:forward(x:float())
    assert.are.same({ 2, 8, 2, 2 }, y:size():totable())
    assert.is_true(math.abs(y[2][3][1][2] - (x[2][3][1][3] + x[2][3][1][4] + x[2][3][2][3] + x[2][3][2][4]) / 4) < 1e-6)
    assert.are.equal(0, y:narrow(2, 5, 4):clone():abs():max())
  end)

  it('rejects more input channels than output channels', function()
    expect_error(function() nn.ChannelPad(2):forward(fathom.Tensor(1, 3, 2, 2)) end,
      { 'nn.ChannelPad', 'C <= 2', '1x3x2x2' })
    expect_error(function() nn.ChannelPad(0) end, { 'nn.ChannelPad' })
  end)
end)

describe('nn.View', function()
  it('reshapes a batch and a single sample as Torch7', function()
    local m = nn.View(12)
    assert.are.same({ 5, 12 }, m:forward(fathom.Tensor(5, 3, 2, 2)):size():totable())
    assert.are.same({ 12 }, m:forward(fathom.Tensor(3, 2, 2)):size():totable())
    -- a batch of one keeps its batch dim when numInputDims says what one sample is
    local mv = nn.View(12):setNumInputDims(3)
    assert.are.same({ 1, 12 }, mv:forward(fathom.Tensor(1, 3, 2, 2)):size():totable())
    assert.are.same({ 12 }, mv:forward(fathom.Tensor(3, 2, 2)):size():totable())
    assert.are.same({ 6, 4 }, nn.View(-1, 4):forward(fathom.Tensor(2, 3, 4)):size():totable())
    local y = m:forward(fathom.Tensor(2, 12):fill(1))
    assert.are.same({ 2, 12 }, y:size():totable())
  end)

  it('shares storage with the input and passes the Jacobian check', function()
    local x = J.input(2, 3, 1, 1)
    local m = nn.View(3):double()
    local y = m:forward(x)
    x[1][2][1][1] = 42
    assert.are.equal(42, y[1][2])
    local gi = m:backward(x, J.input(2, 3))
    assert.are.same({ 2, 3, 1, 1 }, gi:size():totable())
    check_jacobians(nn.View(6):double(), J.input(2, 3, 2))
    check_jacobians(nn.View(2, 3):setNumInputDims(2):double(), J.input(1, 6, 1))
  end)

  it('rejects inputs that do not split into the view', function()
    expect_error(function() nn.View(5):forward(fathom.Tensor(2, 3)) end, { 'nn.View', '2x3', '5' })
    expect_error(function() nn.View(-1, -1) end, { 'only one size may be -1' })
    expect_error(function() nn.View(0) end, { 'nn.View' })
  end)
end)

describe('nn.MulConstant and nn.Identity', function()
  it('scale and pass through, with Jacobians', function()
    local x = J.input(3, 2)
    assert.is_true(maxdiff(nn.MulConstant(0.5):forward(x), x * 0.5) < 1e-15)
    check_jacobians(nn.MulConstant(-1.5):double(), J.input(2, 3))
    check_jacobians(nn.Identity(), J.input(2, 3))
    local id = nn.Identity()
    assert.are.equal(x, id:forward(x)) -- the same tensor, not a copy
  end)

  it('MulConstant in place scales the input and restores it in backward', function()
    local x = J.input(4)
    local orig = x:clone()
    local m = nn.MulConstant(0.25, true)
    local y = m:forward(x)
    assert.is_true(maxdiff(y, orig * 0.25) < 1e-15)
    local go = J.input(4)
    local gi = m:backward(x, go:clone())
    assert.is_true(maxdiff(gi, go * 0.25) < 1e-15)
    assert.is_true(maxdiff(x, orig) < 1e-14)
    expect_error(function() nn.MulConstant('a') end, { 'nn.MulConstant' })
  end)
end)
