-- maxpool_spec.lua -- nn.SpatialMaxPooling (core/nn/maxpool.c): outputs, argmax indices
-- and gradients against naive float64 Lua loops (padding, stride != kernel, batch 1,
-- 3-D input), float64 finite-difference Jacobians on tie-free inputs, float32 vs
-- float64, ties and NaN, and wrong arguments giving errors that name the module or the
-- C function.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local F = require 'fathom.ffi'
local J = require 'jacobian'
local check = require 'check'
local maxdiff, expect_error = check.maxdiff, check.expect_error

-- Distinct values in [-2, 2] (a scaled random permutation): every window has a unique
-- maximum, so max pooling is differentiable there and the argmax is unambiguous.
local function distinct(...)
  local x = fathom.DoubleTensor(...)
  local n = x:nElement()
  local p = fathom.randperm(n):double()
  return x:copy(p:add(-(n + 1) / 2):mul(4 / n):view(x:size()))
end

-- Output, 0-based argmax (h*W + w) and the gradient for gradOutput go, by plain loops.
local function reference(x, go, kW, kH, dW, dH, padW, padH)
  local N, C, H, W = x:size(1), x:size(2), x:size(3), x:size(4)
  local Ho = math.floor((H + 2 * padH - kH) / dH) + 1
  local Wo = math.floor((W + 2 * padW - kW) / dW) + 1
  local y, idx = fathom.DoubleTensor(N, C, Ho, Wo), fathom.DoubleTensor(N, C, Ho, Wo)
  local gx = fathom.DoubleTensor(N, C, H, W):zero()
  for n = 1, N do for c = 1, C do for i = 1, Ho do for j = 1, Wo do
    local best, bh, bw = -math.huge, nil, nil
    for a = 0, kH - 1 do for b = 0, kW - 1 do
      local h, w = (i - 1) * dH - padH + a + 1, (j - 1) * dW - padW + b + 1
      if h >= 1 and h <= H and w >= 1 and w <= W and x[n][c][h][w] > best then
        best, bh, bw = x[n][c][h][w], h, w
      end
    end end
    y[n][c][i][j] = best
    idx[n][c][i][j] = (bh - 1) * W + (bw - 1)
    if go then gx[n][c][bh][bw] = gx[n][c][bh][bw] + go[n][c][i][j] end
  end end end end
  return y, idx, gx
end

-- { N, C, H, W, kW, kH, dW, dH, padW, padH } (nil stride/pad: the defaults).
local SHAPES = {
  { 2, 3, 7, 7, 3, 3, 2, 2, 1, 1 },   -- the ImageNet stem's pooling
  { 1, 2, 5, 6, 2, 2 },               -- defaults: stride = kernel, no padding
  { 3, 2, 9, 9, 3, 3, 3, 3, 0, 0 },   -- stride = kernel, 9 divisible
  { 2, 2, 8, 5, 3, 2, 1, 2, 1, 0 },   -- stride < kernel (overlap), asymmetric
  { 1, 1, 4, 4, 4, 4, 1, 1, 2, 2 },   -- pad = kernel/2: edge windows mostly padding
  { 1, 4, 6, 7, 2, 3, 2, 1, 1, 1 },   -- kW ~= kH, dW ~= dH
  { 2, 1, 10, 11, 3, 3, 2, 2, 1, 1 }, -- floor mode drops a partial window
}

describe('nn.SpatialMaxPooling', function()
  it('matches naive loops: output, indices and gradient (float64)', function()
    for _, s in ipairs(SHAPES) do
      local N, C, H, W, kW, kH, dW, dH, padW, padH = unpack(s)
      local m = nn.SpatialMaxPooling(kW, kH, dW, dH, padW, padH):double()
      dW, dH, padW, padH = dW or kW, dH or kH, padW or 0, padH or 0
      local x = J.input(N, C, H, W)
      local y = m:forward(x)
      local go = fathom.DoubleTensor():resizeAs(y):uniform(-1, 1)
      local ry, ridx, rgx = reference(x, go, kW, kH, dW, dH, padW, padH)
      local name = table.concat(s, ',')
      assert.are.same(ry:size():totable(), y:size():totable(), name)
      assert.is_true(maxdiff(y, ry) == 0, name .. ': output')
      assert.is_true(maxdiff(m.indices, ridx) == 0, name .. ': indices')
      assert.is_true(maxdiff(m:backward(x, go), rgx) < 1e-12, name .. ': gradInput')
    end
  end)

  it('treats a 3-D input as a batch of one', function()
    local m = nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1):double()
    local x = J.input(3, 7, 6)
    local y = m:forward(x)
    assert.are.same({ 3, 4, 3 }, y:size():totable())
    local go = fathom.DoubleTensor(3, 4, 3):uniform(-1, 1)
    local ry, _, rgx = reference(x:view(1, 3, 7, 6), go:view(1, 3, 4, 3), 3, 3, 2, 2, 1, 1)
    assert.is_true(maxdiff(y, ry:view(3, 4, 3)) == 0)
    local gi = m:backward(x, go)
    assert.are.same({ 3, 7, 6 }, gi:size():totable())
    assert.is_true(maxdiff(gi, rgx:view(3, 7, 6)) < 1e-12)
  end)

  it('passes the float64 finite-difference Jacobian check on tie-free inputs', function()
    for _, s in ipairs({ SHAPES[1], SHAPES[2], SHAPES[4], SHAPES[5], { 1, 1, 5, 5, 3, 3, 2, 2, 1, 1 } }) do
      local N, C, H, W, kW, kH, dW, dH, padW, padH = unpack(s)
      local m = nn.SpatialMaxPooling(kW, kH, dW, dH, padW, padH):double()
      local err = J.testJacobian(m, distinct(N, C, H, W))
      assert.is_true(err < 1e-5, ('%s: jacobian error %g'):format(table.concat(s, ','), err))
    end
  end)

  it('gives the same result in float32 as in float64', function()
    local m64 = nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1):double()
    local m32 = nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1):float()
    local x = distinct(2, 3, 9, 8) -- values 4/432 apart: float rounding keeps the order
    local y64, y32 = m64:forward(x), m32:forward(x:float())
    assert.are.equal('fathom.FloatTensor', y32:type())
    assert.is_true(maxdiff(y64, y32) < 1e-6)
    assert.is_true(maxdiff(m64.indices, m32.indices) == 0)
    local go = fathom.DoubleTensor():resizeAs(y64):uniform(-1, 1)
    local g64, g32 = m64:backward(x, go), m32:backward(x:float(), go:float())
    assert.are.equal('fathom.FloatTensor', g32:type())
    assert.is_true(maxdiff(g64, g32) < 1e-6)
  end)

  it('picks the first maximum on ties, never padding, and propagates NaN', function()
    local m = nn.SpatialMaxPooling(2, 2, 1, 1, 1, 1):double()
    -- All -5: the pad must not win (Torch7 pads with -inf); the first real element does.
    local x = fathom.DoubleTensor(1, 1, 2, 2):fill(-5)
    local y = m:forward(x)
    assert.are.same({ 1, 1, 3, 3 }, y:size():totable())
    assert.are.equal(-5, y:max())
    assert.are.equal(-5, y:min())
    -- window (i=2, j=2) covers the whole plane: the first tie (index 0) wins
    assert.are.equal(0, m.indices[1][1][2][2])
    -- each output's gradient goes to exactly one input: the sum is preserved
    local gi = m:backward(x, fathom.DoubleTensor(1, 1, 3, 3):fill(1))
    assert.are.equal(9, gi:sum())
    assert.are.same({ 4, 2, 2, 1 }, { gi[1][1][1][1], gi[1][1][1][2], gi[1][1][2][1], gi[1][1][2][2] })
    local z = fathom.DoubleTensor(1, 1, 2, 2):fill(1)
    z[1][1][2][1] = 0 / 0
    local w = nn.SpatialMaxPooling(2, 2):double():forward(z)
    assert.is_true(w[1][1][1][1] ~= w[1][1][1][1], 'NaN should propagate')
  end)

  it('is what the ImageNet ResNet stem uses', function()
    local model = require('models.resnet_imagenet').createModel { depth = 18, nClasses = 10 }
    assert.are.equal('nn.SpatialMaxPooling', model:get(4).__typename)
    assert.are.equal('nn.SpatialMaxPooling(3x3, 2,2, 1,1)', tostring(model:get(4)))
  end)

  it('rejects bad arguments and wrong inputs with a message naming the module', function()
    expect_error(function() nn.SpatialMaxPooling(0, 2) end, { 'nn.SpatialMaxPooling', 'positive integers' })
    expect_error(function() nn.SpatialMaxPooling(2, 2, 1.5) end, { 'positive integers' })
    expect_error(function() nn.SpatialMaxPooling(3, 3, 1, 1, 2, 0) end, { 'nn.SpatialMaxPooling', 'padding', 'kernel/2' })
    expect_error(function() nn.SpatialMaxPooling(3, 3, 1, 1, -1, 0) end, { 'padding' })
    local m = nn.SpatialMaxPooling(3, 3, 2, 2)
    expect_error(function() m:forward(fathom.Tensor(4, 4)) end, { 'nn.SpatialMaxPooling', '[N,C,H,W]', '4x4' })
    expect_error(function() m:forward(fathom.Tensor(1, 1, 2, 5)) end, { 'nn.SpatialMaxPooling', 'H >= 3', '1x1x2x5' })
    expect_error(function() m:forward(fathom.LongTensor(1, 1, 4, 4)) end, { 'nn.SpatialMaxPooling', 'FloatTensor or DoubleTensor' })
    expect_error(function() m:forward('x') end, { 'nn.SpatialMaxPooling', 'input' })
    m:forward(fathom.Tensor(1, 1, 5, 5):uniform())
    expect_error(function() m:backward(fathom.Tensor(1, 1, 5, 5), fathom.Tensor(1, 1, 3, 3)) end,
      { 'nn.SpatialMaxPooling', 'gradOutput', '1x1x2x2', '1x1x3x3' })
    local fresh = nn.SpatialMaxPooling(2, 2)
    expect_error(function() fresh:backward(fathom.Tensor(1, 1, 4, 4), fathom.Tensor(1, 1, 2, 2)) end,
      { 'nn.SpatialMaxPooling', 'forward' })
  end)

  it('checks every argument of the C entry points', function()
    local C = F.C
    local x, y = fathom.DoubleTensor(1, 2, 5, 5):uniform(), fathom.DoubleTensor(1, 2, 3, 3)
    local idx, gi = fathom.LongTensor(1, 2, 3, 3), fathom.DoubleTensor(1, 2, 5, 5)
    local function fwd(...) F.check(C.ft_maxpool2d_forward(...), 'maxpool') end
    local function bwd(...) F.check(C.ft_maxpool2d_backward(...), 'maxpool') end
    fwd(x.p, y.p, idx.p, 3, 3, 2, 2, 1, 1) -- the valid call
    expect_error(function() fwd(nil, y.p, idx.p, 3, 3, 2, 2, 1, 1) end, { 'ft_maxpool2d_forward', 'input is NULL' })
    expect_error(function() fwd(x.p, y.p, nil, 3, 3, 2, 2, 1, 1) end, { 'indices is NULL' })
    expect_error(function() fwd(x.p, y:float().p, idx.p, 3, 3, 2, 2, 1, 1) end, { 'output', 'dtype' })
    expect_error(function() fwd(x.p, y.p, fathom.DoubleTensor(1, 2, 3, 3).p, 3, 3, 2, 2, 1, 1) end, { 'indices' })
    expect_error(function() fwd(x.p, y.p, fathom.LongTensor(1, 2, 2, 3).p, 3, 3, 2, 2, 1, 1) end, { 'indices must be 1x2x3x3', '1x2x2x3' })
    expect_error(function() fwd(x.p, fathom.DoubleTensor(1, 2, 2, 2).p, idx.p, 3, 3, 2, 2, 1, 1) end, { 'output must be 1x2x3x3' })
    expect_error(function() fwd(x.p, y.p, idx.p, 0, 3, 2, 2, 1, 1) end, { 'positive' })
    expect_error(function() fwd(x.p, y.p, idx.p, 3, 3, 2, 2, 2, 1) end, { 'padding' })
    expect_error(function() fwd(x:view(2, 5, 5).p, y.p, idx.p, 3, 3, 2, 2, 1, 1) end, { 'dimensions' })
    expect_error(function() fwd(x:narrow(4, 1, 4).p, y.p, idx.p, 3, 3, 2, 2, 1, 1) end, { 'contiguous' })
    bwd(y.p, gi.p, idx.p) -- the valid call (indices from the forward above)
    expect_error(function() bwd(y.p, nil, idx.p) end, { 'ft_maxpool2d_backward', 'grad_input is NULL' })
    expect_error(function() bwd(y.p, gi.p, fathom.LongTensor(1, 2, 3, 2).p) end, { 'same size' })
    expect_error(function() bwd(y.p, fathom.DoubleTensor(1, 3, 5, 5).p, idx.p) end, { 'N and C' })
    local bad = idx:clone(); bad[1][2][3][3] = 25
    expect_error(function() bwd(y.p, gi.p, bad.p) end, { 'outside the 5x5 input plane' })
    bad[1][2][3][3] = -1
    expect_error(function() bwd(y.p, gi.p, bad.p) end, { 'outside' })
  end)
end)
