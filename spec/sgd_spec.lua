-- sgd_spec.lua -- optim.sgd (one fused ft_sgd_step per call) against naive Lua
-- arithmetic of Torch7's optim.sgd, its configurations and errors, and a small MLP
-- trained to near-zero loss on a fixed batch.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local optim = require 'fathom.optim'
local unpack = table.unpack or unpack

local check = require 'check'
local expect_error = check.expect_error

-- The gradient used by every run: depends on x, so each step's history matters.
local C0 = { 0.3, -1.2, 0.05, 2.0 }
local function grad_of(x, i) return 2 * x[i] - C0[i] + 0.1 * i * x[i] ^ 2 end

-- Torch7's optim.sgd on plain Lua numbers (state: v, n).
local function naive_step(x, cfg, st)
  local lr, lrd = cfg.learningRate or 1e-3, cfg.learningRateDecay or 0
  local wd, mu = cfg.weightDecay or 0, cfg.momentum or 0
  local damp = cfg.dampening or (cfg.nesterov and 0 or mu) -- Fathom: 0 with nesterov
  local g = {}
  for i = 1, #x do g[i] = grad_of(x, i) + wd * x[i] end
  if mu ~= 0 then
    if not st.v then
      st.v = {}
      for i = 1, #x do st.v[i] = g[i] end
    else
      for i = 1, #x do st.v[i] = mu * st.v[i] + (1 - damp) * g[i] end
    end
    for i = 1, #x do g[i] = cfg.nesterov and g[i] + mu * st.v[i] or st.v[i] end
  end
  local clr = lr / (1 + (st.n or 0) * lrd)
  for i = 1, #x do x[i] = x[i] - clr * g[i] end
  st.n = (st.n or 0) + 1
end

local function run(cfg, dtype, steps)
  local x0 = { 1.5, -0.5, 0.25, 3.0 }
  local ref, st = { unpack(x0) }, {}
  local x = fathom.Tensor(x0):type(dtype)
  local dx = fathom.Tensor(4):type(dtype)
  local state = {}
  local function feval(p)
    local pd = p:double()
    for i = 1, 4 do dx[i] = grad_of(pd, i) end
    return 1.25, dx
  end
  for _ = 1, steps do
    local xr, fx = optim.sgd(feval, x, cfg, state)
    assert.are.equal(x, xr)
    assert.are.equal(1.25, fx[1])
    naive_step(ref, cfg, st)
  end
  return x, ref, state
end

describe('optim.sgd', function()
  it('matches 3 hand-computed steps: momentum 0.9, nesterov, weight decay 1e-4', function()
    local cfg = { learningRate = 0.1, momentum = 0.9, nesterov = true, dampening = 0, weightDecay = 1e-4 }
    local x, ref, state = run(cfg, 'double', 3)
    for i = 1, 4 do assert.is_true(math.abs(x[i] - ref[i]) < 1e-14, 'element ' .. i) end
    assert.are.equal(3, state.evalCounter)
    assert.are.equal(4, state.dfdx:nElement())
    -- and the first step by hand, spelled out for element 1 (x = 1.5):
    local g = (2 * 1.5 - 0.3 + 0.1 * 1.5 ^ 2) + 1e-4 * 1.5 -- v = g on the first step
    local x1 = run(cfg, 'double', 1)
    assert.is_true(math.abs(x1[1] - (1.5 - 0.1 * (g + 0.9 * g))) < 1e-15)
  end)

  it('defaults dampening to 0 with nesterov (Fathom) and refuses an explicit one', function()
    local a = run({ learningRate = 0.05, momentum = 0.9, nesterov = true }, 'double', 3)
    local b = run({ learningRate = 0.05, momentum = 0.9, nesterov = true, dampening = 0 }, 'double', 3)
    assert.are.equal(0, (a - b):abs():max())
    expect_error(function() run({ momentum = 0.9, nesterov = true, dampening = 0.9 }, 'double', 1) end,
      { 'optim.sgd', 'Nesterov' })
    expect_error(function() run({ nesterov = true }, 'double', 1) end, { 'Nesterov' })
  end)

  it('matches Torch7 for plain momentum, dampening, learning-rate decay and no momentum', function()
    for _, cfg in ipairs({
      { learningRate = 0.1, momentum = 0.9 },                        -- dampening = momentum
      { learningRate = 0.1, momentum = 0.5, dampening = 0.1, weightDecay = 0.01 },
      { learningRate = 0.2, learningRateDecay = 0.5 },
      { learningRate = 0.1, weightDecay = 1e-4 },
    }) do
      local x, ref = run(cfg, 'double', 4)
      for i = 1, 4 do assert.is_true(math.abs(x[i] - ref[i]) < 1e-13) end
    end
  end)

  it('agrees between float32 and float64', function()
    local cfg = { learningRate = 0.05, momentum = 0.9, nesterov = true, weightDecay = 1e-4 }
    local x32 = run(cfg, 'float', 3)
    local _, ref = run(cfg, 'double', 3)
    for i = 1, 4 do assert.is_true(math.abs(x32[i] - ref[i]) < 1e-5, ("element %d: %.9g vs %.9g"):format(i, x32[i], ref[i])) end
  end)

  it('rejects gradients of the wrong size or type, and per-parameter vectors', function()
    local x = fathom.Tensor(4)
    expect_error(function() optim.sgd(function() return 0, fathom.Tensor(3) end, x, {}) end,
      { 'optim.sgd', '4 elements' })
    expect_error(function() optim.sgd(function() return 0, fathom.DoubleTensor(4) end, x, {}) end,
      { 'optim.sgd' })
    expect_error(function() optim.sgd(function() return 0, fathom.Tensor(4) end, x, { learningRates = x }) end,
      { 'not supported' })
    expect_error(function() optim.sgd(nil, x, {}) end, { 'opfunc' })
  end)

  it('trains a Linear-ReLU-Linear-LogSoftMax MLP to near-zero loss on a fixed batch', function()
    fathom.manualSeed(1)
    for _, withBN in ipairs({ false, true }) do
      local model = nn.Sequential():add(nn.Linear(10, 32))
      if withBN then model:add(nn.BatchNormalization(32):fuseReLU()) else model:add(nn.ReLU(true)) end
      model:add(nn.Linear(32, 4)):add(nn.LogSoftMax())
      local crit = nn.ClassNLLCriterion()
      local x = fathom.randn(16, 10)
      local y = fathom.LongTensor(16)
      for i = 1, 16 do y[i] = (i - 1) % 4 + 1 end
      local w, dw = model:getParameters()
      local cfg = { learningRate = 0.1, momentum = 0.9, nesterov = true, weightDecay = 1e-4 }
      local first, loss
      local function feval()
        dw:zero()
        loss = crit:forward(model:forward(x), y)
        model:backward(x, crit:backward(model.output, y))
        return loss, dw
      end
      for step = 1, 300 do
        optim.sgd(feval, w, cfg)
        first = first or loss
      end
      assert.is_true(first > 1, 'starts near log(4)')
      if os.getenv('FATHOM_VERBOSE') then print(('MLP (BN: %s): loss %.4f -> %.5f'):format(tostring(withBN), first, loss)) end
      assert.is_true(loss < 0.05, ('final loss %g (BN: %s)'):format(loss, tostring(withBN)))
      model:evaluate()
      assert.are.equal(0, nn.topkError(model:forward(x), y, 1))
    end
  end)
end)
