-- conv_winograd_spec.lua -- the float32 Winograd F(2x2,3x3) and F(4x4,3x3) paths of the
-- 3x3 stride-1 pad-1 convolutions (core/nn/conv_winograd.c): forward and backward-input against the
-- float64 convolution (the general path, itself checked against naive loops in
-- conv_spec.lua) on ResNet's shapes and on odd ones (planes not a multiple of the 2x2
-- tile, channels not a multiple of 16, batch 1, rows of more than 16 tiles), the
-- algorithm switch (ft_conv_set_algorithm, FATHOM_CONV), and a ResNet trained a few
-- steps with Winograd on and off.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local optim = require 'fathom.optim'
local F = require 'fathom.ffi'
local check = require 'check'
local C = fathom.C

local function maxabs(a) return a:clone():abs():max() end
local function relerr(a, ref) return check.maxdiff(a:double(), ref) / maxabs(ref) end

-- Float32 Winograd F(2,3) measures 1e-7 to 4e-7 here (relative to the largest output);
-- the direct kernel 1e-7 to 1e-6. Wrong transforms, planted once each: one of G's 1/2
-- as 0.505 gave 6e-3, one sign of the output transform flipped gave 1.3.
local REL = 5e-6
-- F(4x4,3x3) (planes 32, 16 or 8 wide) rounds more: its transforms multiply by up to 8.
-- Measured 2e-6 to 7e-6 (64 channels at 8x8 the most); planted once: one
-- of G's 1/6 as 0.17 gave 1.7e-2, one output-transform 8 as 7.9 gave 7.3e-2.
local REL4 = 2e-5

local function set(name) assert(C.ft_conv_set_algorithm(name) == 0, F.ffi.string(C.ft_last_error())) end
local function winograd() return F.ffi.string(C.ft_conv_algorithm()) end

describe('Winograd F(2x2,3x3) convolution (float32, 3x3 stride 1 pad 1)', function()
  local saved
  before_each(function() saved = winograd() end)
  after_each(function() set(saved) end)

  -- Ci, Co, H, W, N
  local shapes = {
    { 16, 16, 32, 32, 2 }, { 32, 32, 16, 16, 2 }, { 64, 64, 8, 8, 2 },  -- ResNet's stages
    { 16, 32, 16, 16, 1 }, { 32, 16, 8, 8, 1 },                        -- channels change
    { 5, 7, 9, 11, 1 }, { 20, 33, 7, 13, 2 }, { 17, 3, 1, 1, 1 },      -- odd sizes, tails
    { 3, 17, 2, 3, 3 }, { 1, 1, 1, 40, 1 }, { 9, 18, 35, 70, 1 },      -- 1 row, > 16 tiles per row
    { 64, 24, 8, 8, 7 }, { 8, 24, 12, 16, 5 }, { 16, 16, 16, 8, 3 },    -- full-vector transforms,
    { 24, 8, 6, 32, 4 }, { 16, 16, 4, 8, 2 }, { 16, 16, 32, 30, 1 },   -- chunks across images
  }

  -- One shape in float32 (the algorithm set) against float64: forward, backward-input, and
  -- backward-weight accumulating (gradWeight starts nonzero, scale 0.5). Returns the float32
  -- module, input, output and the shape's name.
  local function against_f64(s, bound)
    local ci, co, h, w, n = unpack(s)
    local m64 = nn.SpatialConvolution(ci, co, 3, 3, 1, 1, 1, 1):double():initHe()
    m64.bias:uniform(-1, 1)
    local m32 = nn.SpatialConvolution(ci, co, 3, 3, 1, 1, 1, 1):float()
    m32.weight:copy(m64.weight); m32.bias:copy(m64.bias)
    local x = fathom.DoubleTensor(n, ci, h, w):uniform(-2, 2)
    local y64 = m64:forward(x)
    local gy = y64:clone():uniform(-1, 1)
    local gx64 = m64:updateGradInput(x, gy)
    m64.gradWeight:uniform(-1, 1)
    m32.gradWeight:copy(m64.gradWeight)
    m64:accGradParameters(x, gy, 0.5)
    local y32 = m32:forward(x:float()):clone()
    local gx32 = m32:updateGradInput(x:float(), gy:float())
    m32:accGradParameters(x:float(), gy:float(), 0.5)
    local name = ('%d->%d %dx%d batch %d'):format(ci, co, h, w, n)
    local ef, eb, ew = relerr(y32, y64), relerr(gx32, gx64), relerr(m32.gradWeight, m64.gradWeight)
    assert.is_true(ef < bound, ('%s output: relative error %g >= %g'):format(name, ef, bound))
    assert.is_true(eb < bound, ('%s gradInput: relative error %g >= %g'):format(name, eb, bound))
    assert.is_true(ew < bound, ('%s gradWeight: relative error %g >= %g'):format(name, ew, bound))
    return m32, x:float(), y32, name
  end

  it('forward and both backward passes match the float64 convolution on every shape', function()
    fathom.manualSeed(11)
    set('winograd')
    for _, s in ipairs(shapes) do against_f64(s, REL) end
  end)

  -- Ci, Co, H, W, N where F(4x4,3x3) runs: ResNet's 32, 16 and 8 wide planes, odd channel
  -- counts, chunks across images, H a multiple of 8 (W 32) or 16 (W 16), 8x8 with N a
  -- multiple of 4
  local shapes4 = {
    { 16, 16, 32, 32, 2 }, { 32, 32, 16, 16, 2 }, { 16, 32, 16, 16, 3 }, { 64, 64, 32, 32, 1 },
    { 5, 7, 24, 32, 1 }, { 16, 16, 8, 32, 3 }, { 24, 8, 16, 16, 5 }, { 8, 24, 32, 16, 2 },
    { 3, 17, 32, 32, 2 }, { 33, 1, 16, 16, 1 },
    { 64, 64, 8, 8, 4 }, { 16, 8, 8, 8, 8 }, { 7, 5, 8, 8, 12 },       -- 8x8: 4 images per vector
  }

  it('F(4x4,3x3): forward and both backward passes match the float64 convolution', function()
    fathom.manualSeed(15)
    set('winograd4')
    for _, s in ipairs(shapes4) do
      local m32, x, y32, name = against_f64(s, REL4)
      -- it is not F(2x2,3x3) in disguise: that one rounds 10x less on these shapes
      set('winograd')
      local y2 = m32:forward(x)
      set('winograd4')
      assert.is_true(check.maxdiff(y32, y2) > 0, name .. ': F(4x4) and F(2x2) are different computations')
    end
  end)

  it('F(4x4,3x3) falls back to F(2x2,3x3) where it does not run, and auto takes it where it does', function()
    fathom.manualSeed(16)
    local function outputs(algo, ci, h, w, n)
      local m = nn.SpatialConvolution(ci, ci, 3, 3, 1, 1, 1, 1):noBias():float()
      m.weight:copy(fathom.FloatTensor(ci, ci, 3, 3):normal(0, 0.1))
      local x = fathom.FloatTensor(n or 2, ci, h, w):normal(0, 1)
      local gy = fathom.FloatTensor(n or 2, ci, h, w):normal(0, 1)
      set(algo)
      m.gradWeight:zero()
      local y, gx = m:forward(x):clone(), m:updateGradInput(x, gy):clone()
      m:accGradParameters(x, gy)
      return y, gx, m.gradWeight:clone()
    end
    for _, s in ipairs({ { 16, 8, 8, 2 }, { 16, 8, 8, 6 }, { 16, 12, 16 }, { 16, 4, 32 }, { 16, 32, 24 },
                         { 16, 9, 9 }, { 16, 16, 8 } }) do
      fathom.manualSeed(17)
      local y2, g2, w2 = outputs('winograd', unpack(s))
      fathom.manualSeed(17)
      local y4, g4, w4 = outputs('winograd4', unpack(s))
      local name = ('%d channels %dx%d'):format(unpack(s))
      assert.are.equal(0, check.maxdiff(y4, y2), name .. ': output')
      assert.are.equal(0, check.maxdiff(g4, g2), name .. ': gradInput')
      assert.are.equal(0, check.maxdiff(w4, w2), name .. ': gradWeight')
    end
    for _, s in ipairs({ { 16, 32, 32 }, { 32, 16, 16 }, { 64, 8, 8, 4 } }) do
      fathom.manualSeed(18)
      local y4, g4, w4 = outputs('winograd4', unpack(s))
      fathom.manualSeed(18)
      local ya, ga, wa = outputs('auto', unpack(s))
      local name = ('%d channels %dx%d'):format(unpack(s))
      assert.are.equal(0, check.maxdiff(ya, y4), name .. ': auto output')
      assert.are.equal(0, check.maxdiff(ga, g4), name .. ': auto gradInput')
      assert.are.equal(0, check.maxdiff(wa, w4), name .. ': auto gradWeight')
    end
  end)

  it('agrees with the direct kernel on ResNet-110 layers at batch 8', function()
    fathom.manualSeed(12)
    for _, s in ipairs({ { 16, 32 }, { 32, 16 }, { 64, 8 } }) do
      local c, hw = s[1], s[2]
      local m = nn.SpatialConvolution(c, c, 3, 3, 1, 1, 1, 1):noBias():float():initHe()
      local x = fathom.FloatTensor(8, c, hw, hw):normal(0, 1)
      local gy = fathom.FloatTensor(8, c, hw, hw):normal(0, 1)
      set('direct')
      local yd, gd = m:forward(x):clone(), m:updateGradInput(x, gy):clone()
      for _, a in ipairs({ { 'winograd', REL }, { 'winograd4', REL4 } }) do
        set(a[1])
        local yw, gw = m:forward(x):clone(), m:updateGradInput(x, gy):clone()
        assert.is_true(check.maxdiff(yw, yd) < a[2] * maxabs(yd), c .. ' channels: output, ' .. a[1])
        assert.is_true(check.maxdiff(gw, gd) < a[2] * maxabs(gd), c .. ' channels: gradInput, ' .. a[1])
        assert.is_true(check.maxdiff(yw, yd) > 0, 'the two paths are different computations')
      end
    end
  end)

  it('gives the same bits with one thread and with two', function()
    fathom.manualSeed(14)
    local threads = fathom.getnumthreads()
    local ok, err = pcall(function()
      for _, s in ipairs({ { 16, 32, 5, 'winograd' }, { 32, 16, 3, 'winograd' }, { 64, 8, 7, 'winograd' },
                           { 9, 11, 3, 'winograd' }, { 16, 32, 5, 'winograd4' }, { 32, 16, 3, 'winograd4' },
                           { 64, 8, 8, 'winograd4' },
                           -- batch 128: two threads split these layers into other chunks
                           { 64, 8, 128, 'winograd' }, { 64, 8, 128, 'winograd4' } }) do
        set(s[4])
        local c, hw, n = s[1], s[2], s[3]
        local m = nn.SpatialConvolution(c, c, 3, 3, 1, 1, 1, 1):noBias():float():initHe()
        local x = fathom.FloatTensor(n, c, hw, hw):normal(0, 1)
        local gy = fathom.FloatTensor(n, c, hw, hw):normal(0, 1)
        fathom.setnumthreads(1)
        local y1, g1 = m:forward(x):clone(), m:updateGradInput(x, gy):clone()
        fathom.setnumthreads(2)
        for _ = 1, 3 do
          assert.are.equal(0, check.maxdiff(m:forward(x), y1), c .. ' channels: output')
          assert.are.equal(0, check.maxdiff(m:updateGradInput(x, gy), g1), c .. ' channels: gradInput')
        end
      end
    end)
    fathom.setnumthreads(threads)
    assert(ok, err)
  end)

  it('leaves float64, strided and other kernels on their own paths', function()
    fathom.manualSeed(13)
    local x = fathom.DoubleTensor(2, 16, 8, 8):normal(0, 1)
    local m = nn.SpatialConvolution(16, 16, 3, 3, 1, 1, 1, 1):double():initHe()
    set('direct')
    local yd = m:forward(x):clone()
    set('winograd')
    assert.are.equal(0, check.maxdiff(m:forward(x), yd)) -- float64: bit-identical
    for _, c in ipairs({ { 3, 2, 1 }, { 5, 1, 2 }, { 1, 1, 0 }, { 3, 1, 0 } }) do
      local k, st, p = c[1], c[2], c[3]
      local m32 = nn.SpatialConvolution(16, 16, k, k, st, st, p, p):float():initHe()
      local xf = x:float()
      set('direct')
      local a = m32:forward(xf):clone()
      set('winograd')
      assert.are.equal(0, check.maxdiff(m32:forward(xf), a), ('kernel %d stride %d pad %d'):format(k, st, p))
    end
  end)

  it('chooses by ft_conv_set_algorithm, with FATHOM_CONV as the initial choice', function()
    for _, name in ipairs({ 'direct', 'winograd', 'winograd4', 'auto' }) do
      set(name)
      assert.are.equal(name, winograd())
    end
    assert.are.equal(1, C.ft_conv_set_algorithm('fast'))
    local msg = F.ffi.string(C.ft_last_error())
    assert.is_truthy(msg:find('ft_conv_set_algorithm', 1, true) and msg:find('"fast"', 1, true)
                     and msg:find('winograd4', 1, true), msg)
    assert.are.equal(1, C.ft_conv_set_algorithm(nil))
    assert.are.equal('auto', winograd()) -- a rejected name changes nothing
    local lib = os.getenv('FATHOM_LIB')
    local pre = lib and ("FATHOM_LIB='" .. lib .. "' ") or ''
    for _, e in ipairs({ { 'direct', 'direct' }, { 'winograd', 'winograd' }, { 'winograd4', 'winograd4' },
                         { 'bogus', 'auto' } }) do
      local p = assert(io.popen(pre .. 'FATHOM_CONV=' .. e[1] .. [[ luajit -e "package.path='./?.lua;./lua/?.lua;'..package.path
        local f = require 'fathom' io.write(require('ffi').string(f.C.ft_conv_algorithm()))"]]))
      local out = p:read('*a')
      p:close()
      assert.are.equal(e[2], out, 'FATHOM_CONV=' .. e[1])
    end
  end)

  it('trains a ResNet-20 to the same losses with Winograd on and off (float32)', function()
    -- One thread, three steps, the first two compared: this small batch (8) with BN
    -- amplifies any float32 rounding step by step (the direct kernels alone, run with two
    -- threads instead of one, move the 6th loss by 7e-4; F(2x2,3x3) by 5e-5 at the 4th, and
    -- at the 3rd when the library is built -O1 for the sanitizers; F(4x4,3x3), whose
    -- rounding is 10x larger, 2.5e-8 and 3.6e-6 at steps 1 and 2, 2e-4 at the 3rd).
    local cifar = require 'models.resnet_cifar'
    local threads = fathom.getnumthreads()
    local function losses(algo, double)
      set(algo)
      fathom.manualSeed(21)
      local model = cifar.createModel({ depth = 20, pL = 1 })
      local crit = nn.CrossEntropyCriterion()
      local x = fathom.FloatTensor(8, 3, 32, 32):normal(0, 1)
      if double then model:double(); crit:double(); x = x:double() end
      local w, dw = model:getParameters()
      local y = fathom.LongTensor(8)
      for i = 1, 8 do y[i] = i % 10 + 1 end
      local cfg, st, out = { learningRate = 0.05, momentum = 0.9, nesterov = true, dampening = 0 }, {}, {}
      for s = 1, 3 do
        local _, l = optim.sgd(function()
          dw:zero()
          local o = model:forward(x)
          local loss = crit:forward(o, y)
          model:backward(x, crit:backward(o, y))
          return loss, dw
        end, w, cfg, st)
        out[s] = l[1]
      end
      return out
    end
    fathom.setnumthreads(1)
    local ok, err = pcall(function()
      local d, wg, wg4, f64 = losses('direct'), losses('winograd'), losses('winograd4'), losses('direct', true)
      for s = 1, 2 do
        for _, c in ipairs({ { 'winograd', wg[s], d[s] }, { 'winograd', wg[s], f64[s] }, { 'direct', d[s], f64[s] },
                             { 'winograd4', wg4[s], f64[s] } }) do
          assert.is_true(math.abs(c[2] - c[3]) < 1e-5 * math.abs(c[3]),
                         ('step %d: loss %.9g (%s) vs %.9g'):format(s, c[2], c[1], c[3]))
        end
      end
      assert.is_true(d[3] < d[1] and wg[3] < wg[1] and wg4[3] < wg4[1], 'the loss falls')
    end)
    fathom.setnumthreads(threads)
    assert(ok, err)
  end)
end)
