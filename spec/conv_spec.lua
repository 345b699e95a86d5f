-- conv_spec.lua -- nn.SpatialConvolution and the ft_conv2d_* kernels: forward and both
-- backward passes against naive float64 Lua loops (every stride, padding, kernel size
-- and batch-1 case below), finite-difference Jacobians of input, weight and bias in
-- float64, the float32 fast path (direct AVX-512 kernels) against the float64 general
-- path on ResNet-size layers and on odd shapes, accumulation semantics of
-- accGradParameters, and errors for every kind of wrong argument.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local J = require 'jacobian'
local F = require 'fathom.ffi'

local TOL = 1e-5

-- fn must raise an error whose message contains every string in `parts`.
local check = require 'check'
local expect_error = check.expect_error

local maxdiff = check.maxdiff
local function maxabs(a) return a:clone():abs():max() end

---------------------------------------------------------------- naive reference
-- Plain loops over 0-based contiguous float64 data; c = {N, Ci, H, W, Co, kH, kW, sH, sW, pH, pW}.
local function geometry(x, w, sH, sW, pH, pW)
  local N, Ci, H, W = x:size(1), x:size(2), x:size(3), x:size(4)
  local Co, kH, kW = w:size(1), w:size(3), w:size(4)
  local Ho = math.floor((H + 2 * pH - kH) / sH) + 1
  local Wo = math.floor((W + 2 * pW - kW) / sW) + 1
  return N, Ci, H, W, Co, kH, kW, Ho, Wo
end

-- Calls fn(xi, wi, yi) with flat 0-based indices of every (input, weight, output)
-- triple the convolution multiplies together.
local function each_product(x, w, sH, sW, pH, pW, fn)
  local N, Ci, H, W, Co, kH, kW, Ho, Wo = geometry(x, w, sH, sW, pH, pW)
  for n = 0, N - 1 do for co = 0, Co - 1 do for oh = 0, Ho - 1 do for ow = 0, Wo - 1 do
    local yi = ((n * Co + co) * Ho + oh) * Wo + ow
    for ci = 0, Ci - 1 do for kh = 0, kH - 1 do
      local ih = oh * sH - pH + kh
      if ih >= 0 and ih < H then
        for kw = 0, kW - 1 do
          local iw = ow * sW - pW + kw
          if iw >= 0 and iw < W then
            fn(((n * Ci + ci) * H + ih) * W + iw, ((co * Ci + ci) * kH + kh) * kW + kw, yi)
          end
        end
      end
    end end
  end end end end
end

local function ref_forward(x, w, b, sH, sW, pH, pW)
  local N, _, _, _, Co, _, _, Ho, Wo = geometry(x, w, sH, sW, pH, pW)
  local y = fathom.DoubleTensor(N, Co, Ho, Wo):zero()
  local xd, wd, yd = x:data(), w:data(), y:data()
  each_product(x, w, sH, sW, pH, pW, function(xi, wi, yi) yd[yi] = yd[yi] + xd[xi] * wd[wi] end)
  if b then
    local bd, P = b:data(), Ho * Wo
    for i = 0, y:nElement() - 1 do yd[i] = yd[i] + bd[math.floor(i / P) % Co] end
  end
  return y
end

local function ref_backward(x, w, gy, sH, sW, pH, pW)
  local gx = fathom.DoubleTensor():resizeAs(x):zero()
  local gw = fathom.DoubleTensor():resizeAs(w):zero()
  local xd, wd, gd, gxd, gwd = x:data(), w:data(), gy:data(), gx:data(), gw:data()
  each_product(x, w, sH, sW, pH, pW, function(xi, wi, yi)
    gxd[xi] = gxd[xi] + gd[yi] * wd[wi]
    gwd[wi] = gwd[wi] + gd[yi] * xd[xi]
  end)
  local gb = gy:sum(4):sum(3):sum(1):view(gy:size(2))
  return gx, gw, gb
end

-- {nIn, nOut, kW, kH, dW, dH, padW, padH, input size...}: strides, paddings, kernels,
-- batch 1, non-square inputs and kernels, 3-D input.
local CASES = {
  { 2, 3, 3, 3, 1, 1, 1, 1, { 2, 2, 5, 5 } },
  { 3, 2, 3, 3, 1, 1, 1, 1, { 1, 3, 4, 6 } },     -- batch 1, non-square
  { 2, 2, 3, 3, 2, 2, 1, 1, { 2, 2, 6, 5 } },     -- stride 2
  { 1, 3, 2, 3, 1, 2, 0, 1, { 2, 1, 5, 4 } },     -- non-square kernel, mixed stride/pad
  { 3, 2, 1, 1, 1, 1, 0, 0, { 2, 3, 3, 4 } },     -- 1x1
  { 2, 2, 5, 5, 1, 1, 2, 2, { 1, 2, 6, 5 } },     -- 5x5 pad 2
  { 2, 1, 3, 2, 3, 2, 2, 0, { 1, 2, 7, 8 } },     -- stride 3 x 2, pad only in W
  { 2, 3, 3, 3, 1, 1, 1, 1, { 2, 4, 5 } },        -- 3-D input
}

local function case_module(c, dtype)
  local m = nn.SpatialConvolution(c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8]):type(dtype)
  return m, fathom.Tensor(table.unpack(c[9])):type(m.weight:type()):uniform(-2, 2)
end

local function as4(t) return t:dim() == 3 and t:view(1, t:size(1), t:size(2), t:size(3)) or t end

describe('nn.SpatialConvolution', function()
  it('keeps Torch7\'s constructor, fields, defaults and initialisation', function()
    local m = nn.SpatialConvolution(3, 16, 5, 3)
    assert.are.same({ 3, 16, 5, 3, 1, 1, 0, 0 }, { m.nInputPlane, m.nOutputPlane, m.kW, m.kH,
      m.dW, m.dH, m.padW, m.padH })
    assert.are.same({ 16, 3, 3, 5 }, m.weight:size():totable())
    assert.are.same({ 16 }, m.bias:size():totable())
    assert.are.equal(0, m.gradWeight:clone():abs():max())
    local bound = 1 / math.sqrt(5 * 3 * 3)
    assert.is_true(maxabs(m.weight) <= bound and maxabs(m.weight) > 0.5 * bound)
    assert.are.equal(2, nn.SpatialConvolution(1, 1, 3, 3, 1, 1, 2).padH) -- padH defaults to padW
    assert.is_nil(m:noBias().bias)
    assert.is_nil(m.gradBias)
    assert.are.equal(1, #m:parameters())
  end)

  it('initHe draws normal(0, sqrt(2/fan)) with fan_in by default and fan_out on request', function()
    fathom.manualSeed(1)
    local m = nn.SpatialConvolution(16, 64, 3, 3)
    m:initHe()
    local std = math.sqrt(m.weight:clone():square():mean())
    assert.is_true(math.abs(std - math.sqrt(2 / (9 * 16))) < 0.03 * math.sqrt(2 / (9 * 16)))
    assert.are.equal(0, maxabs(m.bias))
    m:initHe('fan_out')
    std = math.sqrt(m.weight:clone():square():mean())
    assert.is_true(math.abs(std - math.sqrt(2 / (9 * 64))) < 0.03 * math.sqrt(2 / (9 * 64)))
    expect_error(function() m:initHe('fan') end, { 'fan_in', 'fan_out' })
  end)

  it('matches naive float64 loops forward and backward on every case', function()
    fathom.manualSeed(2)
    for _, c in ipairs(CASES) do
      local m, x = case_module(c, 'double')
      local y = m:forward(x)
      local x4 = as4(x)
      local yr = ref_forward(x4, m.weight, m.bias, m.dH, m.dW, m.padH, m.padW)
      assert.are.same(yr:size():totable(), as4(y):size():totable())
      assert.is_true(maxdiff(as4(y), yr) < 1e-12, 'forward differs for case ' .. _)
      local gy = y:clone():uniform(-1, 1)
      m:zeroGradParameters()
      local gx = m:backward(x, gy)
      local gxr, gwr, gbr = ref_backward(x4, m.weight, as4(gy), m.dH, m.dW, m.padH, m.padW)
      assert.is_true(maxdiff(as4(gx), gxr) < 1e-12, 'gradInput differs for case ' .. _)
      assert.is_true(maxdiff(m.gradWeight, gwr) < 1e-12, 'gradWeight differs for case ' .. _)
      assert.is_true(maxdiff(m.gradBias, gbr) < 1e-12, 'gradBias differs for case ' .. _)
    end
  end)

  it('passes the float64 Jacobian check for input, weight and bias', function()
    fathom.manualSeed(3)
    for i, c in ipairs(CASES) do
      local m, x = case_module(c, 'double')
      local err = J.testJacobian(m, x)
      assert.is_true(err < TOL, ('case %d: input jacobian error %g'):format(i, err))
      err = J.testJacobianParameters(m, x, m.weight, m.gradWeight)
      assert.is_true(err < TOL, ('case %d: weight jacobian error %g'):format(i, err))
      err = J.testJacobianParameters(m, x, m.bias, m.gradBias)
      assert.is_true(err < TOL, ('case %d: bias jacobian error %g'):format(i, err))
    end
  end)

  it('float32 (fast path) agrees with float64 on ResNet-size layers', function()
    fathom.manualSeed(4)
    -- ResNet-110's three stages and stem, plus a transitional stride-2 conv.
    local layers = {
      { 16, 16, 1, { 4, 16, 32, 32 } }, { 32, 32, 1, { 4, 32, 16, 16 } },
      { 64, 64, 1, { 4, 64, 8, 8 } }, { 3, 16, 1, { 4, 3, 32, 32 } }, { 16, 32, 2, { 4, 16, 32, 32 } },
    }
    for _, l in ipairs(layers) do
      local m64 = nn.SpatialConvolution(l[1], l[2], 3, 3, l[3], l[3], 1, 1):double():initHe()
      m64.bias:uniform(-1, 1)
      local m32 = nn.SpatialConvolution(l[1], l[2], 3, 3, l[3], l[3], 1, 1):float()
      m32.weight:copy(m64.weight); m32.bias:copy(m64.bias)
      local x = fathom.DoubleTensor(table.unpack(l[4])):uniform(-2, 2)
      local y64 = m64:forward(x)
      local y32 = m32:forward(x:float())
      local gy = y64:clone():uniform(-1, 1)
      m64:zeroGradParameters(); m32:zeroGradParameters()
      local gx64, gx32 = m64:backward(x, gy), m32:backward(x:float(), gy:float())
      -- float32 rounding: relative to the size of the terms summed (K = 9*Ci products).
      local K = 9 * l[1]
      local function close(a, b, what, terms)
        local tol = 2e-7 * math.sqrt(terms) * 4 * (1 + maxabs(b))
        assert.is_true(maxdiff(a, b) < tol, ('%d->%d %s: %g >= %g'):format(l[1], l[2], what, maxdiff(a, b), tol))
      end
      close(y32, y64, 'output', K)
      close(gx32, gx64, 'gradInput', 9 * l[2])
      close(m32.gradWeight, m64.gradWeight, 'gradWeight', y64:nElement() / l[2])
      close(m32.gradBias, m64.gradBias, 'gradBias', y64:nElement() / l[2])
    end
  end)

  it('float32 fast path with outputs of 8 MiB and more (streaming stores) matches float64', function()
    fathom.manualSeed(8)
    local m64 = nn.SpatialConvolution(16, 16, 3, 3, 1, 1, 1, 1):double():initHe()
    local m32 = nn.SpatialConvolution(16, 16, 3, 3, 1, 1, 1, 1):float()
    m32.weight:copy(m64.weight); m32.bias:copy(m64.bias)
    local x = fathom.DoubleTensor(129, 16, 32, 32):uniform(-2, 2) -- 8.1 MiB of float32 output
    local y64, y32 = m64:forward(x), m32:forward(x:float())
    assert.is_true(maxdiff(y32, y64) < 1e-5 * (1 + maxabs(y64)), 'forward')
    local gy = y64:clone():uniform(-1, 1)
    local gx64, gx32 = m64:updateGradInput(x, gy), m32:updateGradInput(x:float(), gy:float())
    assert.is_true(maxdiff(gx32, gx64) < 1e-5 * (1 + maxabs(gx64)), 'gradInput')
  end)

  it('float32 fast path handles edge shapes (tails, odd widths, 1x1, 5x5, batch 1)', function()
    fathom.manualSeed(5)
    -- {Ci, Co, k, pad, N, H, W}: widths that are not multiples of 16, planes that do not
    -- fill whole vectors, channel counts that do not fill register tiles.
    local shapes = {
      { 5, 7, 3, 1, 3, 9, 11 }, { 6, 5, 5, 2, 2, 7, 8 }, { 3, 9, 1, 0, 2, 4, 3 },
      { 17, 18, 3, 1, 1, 5, 17 }, { 2, 33, 3, 1, 2, 3, 40 }, { 1, 1, 3, 1, 1, 1, 1 },
      { 4, 6, 3, 0, 2, 6, 5 }, -- 3x3 without padding: general path in float32
    }
    for _, s in ipairs(shapes) do
      local Ci, Co, k, p, N, H, W = table.unpack(s)
      local m = nn.SpatialConvolution(Ci, Co, k, k, 1, 1, p, p):float()
      local x = fathom.FloatTensor(N, Ci, H, W):uniform(-2, 2)
      local y = m:forward(x)
      local yr = ref_forward(x:double(), m.weight:double(), m.bias:double(), 1, 1, p, p)
      assert.is_true(maxdiff(y, yr) < 1e-5 * (1 + maxabs(yr)), 'forward ' .. table.concat(s, ','))
      local gy = y:clone():uniform(-1, 1)
      m:zeroGradParameters()
      local gx = m:backward(x, gy)
      local gxr, gwr, gbr = ref_backward(x:double(), m.weight:double(), gy:double(), 1, 1, p, p)
      assert.is_true(maxdiff(gx, gxr) < 1e-5 * (1 + maxabs(gxr)), 'gradInput ' .. table.concat(s, ','))
      assert.is_true(maxdiff(m.gradWeight, gwr) < 1e-5 * (1 + maxabs(gwr)), 'gradWeight ' .. table.concat(s, ','))
      assert.is_true(maxdiff(m.gradBias, gbr) < 1e-5 * (1 + maxabs(gbr)), 'gradBias ' .. table.concat(s, ','))
    end
  end)

  it('float32 strided fast path (stride phases) matches naive loops on odd shapes', function()
    fathom.manualSeed(9)
    -- {Ci, Co, kH, kW, sH, sW, pH, pW, N, H, W}: ResNet's stride-2 3x3 pad 1 at even and odd
    -- sizes, batch 1, tiny planes, channel counts that do not fill tiles, stride 3, mixed
    -- strides, 1x1 stride 2 (a phase that no tap reads), non-square kernels.
    local shapes = {
      { 16, 32, 3, 3, 2, 2, 1, 1, 2, 32, 32 }, { 5, 7, 3, 3, 2, 2, 1, 1, 1, 9, 11 },
      { 3, 9, 3, 3, 2, 2, 1, 1, 2, 7, 7 }, { 2, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1 },
      { 4, 5, 3, 3, 2, 2, 1, 1, 1, 2, 3 }, { 17, 18, 3, 3, 2, 2, 1, 1, 1, 5, 17 },
      { 3, 4, 5, 5, 3, 3, 2, 2, 2, 10, 8 }, { 4, 3, 3, 3, 2, 1, 1, 1, 1, 7, 6 },
      { 6, 4, 1, 1, 2, 2, 0, 0, 2, 8, 7 }, { 3, 5, 2, 3, 2, 2, 0, 1, 2, 6, 9 },
    }
    for _, s in ipairs(shapes) do
      local Ci, Co, kH, kW, sH, sW, pH, pW, N, H, W = table.unpack(s)
      local what = table.concat(s, ',')
      local m = nn.SpatialConvolution(Ci, Co, kW, kH, sW, sH, pW, pH):float()
      local x = fathom.FloatTensor(N, Ci, H, W):uniform(-2, 2)
      local y = m:forward(x)
      local yr = ref_forward(x:double(), m.weight:double(), m.bias:double(), sH, sW, pH, pW)
      assert.are.same(yr:size():totable(), y:size():totable())
      assert.is_true(maxdiff(y, yr) < 1e-5 * (1 + maxabs(yr)), 'forward ' .. what)
      local gy = y:clone():uniform(-1, 1)
      m:zeroGradParameters()
      local gx = m:backward(x, gy)
      local gxr, gwr = ref_backward(x:double(), m.weight:double(), gy:double(), sH, sW, pH, pW)
      assert.is_true(maxdiff(gx, gxr) < 1e-5 * (1 + maxabs(gxr)), 'gradInput ' .. what)
      assert.is_true(maxdiff(m.gradWeight, gwr) < 1e-5 * (1 + maxabs(gwr)), 'gradWeight ' .. what)
    end
  end)

  it('float32 strided fast path overwrites gradInput, including phases no tap reaches', function()
    fathom.manualSeed(10)
    local m = nn.SpatialConvolution(3, 4, 1, 1, 2, 2, 0, 0):float()
    local x = fathom.FloatTensor(2, 3, 6, 6):uniform(-1, 1)
    local gy = m:forward(x):clone():uniform(-1, 1)
    m.gradInput:resizeAs(x):fill(7) -- stale values must not survive
    local gx = m:updateGradInput(x, gy)
    local gxr = ref_backward(x:double(), m.weight:double(), gy:double(), 2, 2, 0, 0)
    assert.is_true(maxdiff(gx, gxr) < 1e-5 * (1 + maxabs(gxr)))
    assert.are.equal(0, gx[{ {}, {}, 2, {} }]:clone():abs():max()) -- odd rows: no tap
  end)

  it('accGradParameters accumulates scale * gradient; gradInput is overwritten', function()
    fathom.manualSeed(6)
    for _, dtype in ipairs({ 'double', 'float' }) do
      local m = nn.SpatialConvolution(3, 4, 3, 3, 1, 1, 1, 1):type(dtype)
      local x = fathom.Tensor(2, 3, 6, 6):type(m.weight:type()):uniform(-1, 1)
      local gy = m:forward(x):clone():uniform(-1, 1)
      m:zeroGradParameters()
      m:accGradParameters(x, gy)
      local gw1, gb1 = m.gradWeight:clone(), m.gradBias:clone()
      assert.is_true(maxabs(gw1) > 0 and maxabs(gb1) > 0)
      m:accGradParameters(x, gy, 0.5)
      local tol = dtype == 'double' and 1e-12 or 1e-5
      assert.is_true(maxdiff(m.gradWeight, gw1 * 1.5) < tol * (1 + maxabs(gw1)), dtype .. ' gradWeight')
      assert.is_true(maxdiff(m.gradBias, gb1 * 1.5) < tol * (1 + maxabs(gb1)), dtype .. ' gradBias')
      local gx1 = m:updateGradInput(x, gy):clone()
      local gx2 = m:backward(x, gy, 2)
      assert.is_true(maxdiff(gx1, gx2) == 0, dtype .. ' gradInput must be overwritten')
      assert.is_true(maxdiff(m.gradWeight, gw1 * 3.5) < tol * (1 + maxabs(gw1)), dtype .. ' backward scale')
    end
  end)

  it('gives bit-identical gradients on repeated calls (threads split the batch statically)', function()
    fathom.manualSeed(7)
    for _, st in ipairs({ 1, 2 }) do
      local m = nn.SpatialConvolution(16, 16, 3, 3, st, st, 1, 1):float()
      local x = fathom.FloatTensor(16, 16, 16, 16):uniform(-1, 1)
      local gy = m:forward(x):clone():uniform(-1, 1)
      m:zeroGradParameters()
      m:accGradParameters(x, gy)
      local first = m.gradWeight:clone()
      for _ = 1, 3 do
        m:zeroGradParameters()
        m:accGradParameters(x, gy)
        assert.are.equal(0, maxdiff(m.gradWeight, first), 'stride ' .. st)
      end
    end
  end)

  it('reuses its output and gradInput buffers across calls', function()
    local m = nn.SpatialConvolution(2, 3, 3, 3, 1, 1, 1, 1)
    local x = fathom.Tensor(2, 2, 5, 5):uniform(-1, 1)
    local y1 = m:forward(x)
    local p1 = fathom.C.ft_data(y1.p)
    local y2 = m:forward(x)
    assert.are.equal(p1, fathom.C.ft_data(y2.p))
    local g1 = m:backward(x, y2)
    local q1 = fathom.C.ft_data(g1.p)
    assert.are.equal(q1, fathom.C.ft_data(m:backward(x, y2).p))
  end)

  it('rejects wrong shapes, dtypes and arguments naming the module and the expected shape', function()
    local m = nn.SpatialConvolution(3, 4, 3, 3, 1, 1, 1, 1)
    expect_error(function() m:forward(fathom.Tensor(2, 5, 6, 6)) end,
      { 'nn.SpatialConvolution', '[N,3,H,W] or [3,H,W]', '2x5x6x6' })
    expect_error(function() m:forward(fathom.Tensor(3, 6)) end, { 'nn.SpatialConvolution', '3x6' })
    expect_error(function() m:forward('x') end, { 'nn.SpatialConvolution', 'string' })
    local k = nn.SpatialConvolution(3, 4, 5, 5)
    expect_error(function() k:forward(fathom.Tensor(1, 3, 4, 9)) end, { 'H + 2*0 >= 5', '1x3x4x9' })
    expect_error(function() m:forward(fathom.DoubleTensor(1, 3, 6, 6)) end, { 'DoubleTensor' })
    expect_error(function() m:forward(fathom.LongTensor(1, 3, 6, 6)) end, { 'FloatTensor or DoubleTensor' })
    local x = fathom.Tensor(2, 3, 6, 6)
    m:forward(x)
    expect_error(function() m:backward(x, fathom.Tensor(2, 4, 6, 5)) end,
      { 'gradOutput', '2x4x6x6', '2x4x6x5' })
    expect_error(function() nn.SpatialConvolution(3, 0, 3, 3) end, { 'positive integers' })
    expect_error(function() nn.SpatialConvolution(3, 4, 3, 3, 1, 1, -1) end, { 'padding >= 0' })
    expect_error(function() nn.SpatialConvolution(3, 4, 2.5, 3) end, { 'nn.SpatialConvolution' })
  end)

  it('C kernels check every argument and report the function and the argument', function()
    local C = F.C
    local x = fathom.Tensor(2, 3, 6, 6)
    local w = fathom.Tensor(4, 3, 3, 3)
    local y = fathom.Tensor(2, 4, 6, 6)
    local function c_error(status, parts)
      assert.are_not.equal(0, status)
      local msg = F.ffi.string(C.ft_last_error())
      for _, p in ipairs(parts) do
        assert.is_truthy(msg:find(p, 1, true), ('error %q should mention %q'):format(msg, p))
      end
    end
    assert.are.equal(0, C.ft_conv2d_forward(x.p, y.p, w.p, nil, 1, 1, 1, 1))
    c_error(C.ft_conv2d_forward(x.p, fathom.Tensor(2, 4, 6, 5).p, w.p, nil, 1, 1, 1, 1),
      { 'ft_conv2d_forward', 'output', '2x4x6x6', '2x4x6x5' })
    c_error(C.ft_conv2d_forward(x.p, y.p, fathom.Tensor(4, 2, 3, 3).p, nil, 1, 1, 1, 1),
      { 'ft_conv2d_forward', 'weight', 'input planes' })
    c_error(C.ft_conv2d_forward(x.p, y.p, w.p, fathom.Tensor(5).p, 1, 1, 1, 1), { 'bias', '5' })
    c_error(C.ft_conv2d_forward(x.p, y.p, nil, nil, 1, 1, 1, 1), { 'weight', 'NULL' })
    c_error(C.ft_conv2d_forward(x.p, y.p, w.p, nil, 0, 1, 1, 1), { 'stride' })
    c_error(C.ft_conv2d_forward(x.p, y.p, w.p, nil, 1, 1, -1, 1), { 'pad' })
    c_error(C.ft_conv2d_forward(x.p, y:double().p, w.p, nil, 1, 1, 1, 1), { 'output', 'float64' })
    c_error(C.ft_conv2d_forward(x:transpose(3, 4).p, y.p, w.p, nil, 1, 1, 1, 1), { 'input', 'contiguous' })
    c_error(C.ft_conv2d_forward(fathom.Tensor(2, 3, 1, 1).p, y.p, w.p, nil, 1, 1, 0, 0), { 'larger' })
    c_error(C.ft_conv2d_forward(x.p, x.p, fathom.Tensor(3, 3, 3, 3).p, nil, 1, 1, 1, 1), { 'share memory' })
    c_error(C.ft_conv2d_backward_input(y.p, fathom.Tensor(2, 3, 6, 7).p, w.p, 1, 1, 1, 1),
      { 'ft_conv2d_backward_input', 'grad_output', '2x4x6x7' })
    c_error(C.ft_conv2d_backward_weight(x.p, y.p, fathom.Tensor(4, 3, 3, 2).p, nil, 1, 1, 1, 1, 1),
      { 'ft_conv2d_backward_weight', 'grad_output', '2x4x6x7' })
    c_error(C.ft_conv2d_backward_weight(x.p, y.p, w.p, fathom.Tensor(3).p, 1, 1, 1, 1, 1),
      { 'grad_bias', '4' })
  end)
end)
