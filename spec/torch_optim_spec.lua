-- spec/torch_optim_spec.lua -- optim.adam, optim.nag/nesterov and optim.Logger against
-- their update rules written out by hand, and Torch7's config-as-state convention.
local fathom = require 'fathom'
local optim = require 'optim'

-- f(x) = 0.5 * sum(a .* x^2): gradient a .* x.
local a = fathom.DoubleTensor({ 1, 10, 0.5 })
local function feval(x) return 0.5 * x:clone():cmul(x):cmul(a):sum(), x:clone():cmul(a) end

describe('optim (Torch7 interface)', function()
  it('adam follows its update rule step by step, keeping t, m and v in the config', function()
    local x = fathom.DoubleTensor({ 1, -2, 3 })
    local cfg = { learningRate = 0.1 }
    local ref, m, v = { 1, -2, 3 }, { 0, 0, 0 }, { 0, 0, 0 }
    for t = 1, 5 do
      optim.adam(feval, x, cfg)
      local step = 0.1 * math.sqrt(1 - 0.999 ^ t) / (1 - 0.9 ^ t)
      for i = 1, 3 do
        local g = a[i] * ref[i]
        m[i] = 0.9 * m[i] + 0.1 * g
        v[i] = 0.999 * v[i] + 0.001 * g * g
        ref[i] = ref[i] - step * m[i] / (math.sqrt(v[i]) + 1e-8)
      end
    end
    assert.are.equal(5, cfg.t)
    for i = 1, 3 do assert.is_true(math.abs(x[i] - ref[i]) < 1e-12, i) end
  end)

  it('nag looks ahead along the velocity; nesterov is the same', function()
    assert.are.equal(optim.nag, optim.nesterov)
    local x = fathom.DoubleTensor({ 1, -2, 3 })
    local cfg = { learningRate = 0.05, momentum = 0.9 }
    local ref, vel = { 1, -2, 3 }, nil
    for _ = 1, 4 do
      optim.nag(feval, x, cfg)
      if vel then for i = 1, 3 do ref[i] = ref[i] + 0.9 * vel[i] end end
      local g = {}
      for i = 1, 3 do g[i] = a[i] * ref[i] end
      if not vel then vel = { 0, 0, 0 } else for i = 1, 3 do vel[i] = vel[i] * 0.9 end end
      for i = 1, 3 do ref[i] = ref[i] - 0.05 * g[i]; vel[i] = vel[i] - 0.05 * g[i] end
    end
    assert.are.equal(4, cfg.evalCounter)
    for i = 1, 3 do assert.is_true(math.abs(x[i] - ref[i]) < 1e-12, i) end
    local f0 = feval(fathom.DoubleTensor({ 1, -2, 3 }))
    assert.is_true(feval(x) < f0)
  end)

  it('sgd keeps Torch7 defaults and its state in the config table', function()
    local x = fathom.DoubleTensor({ 1, -2, 3 })
    local cfg = { learningRate = 0.01, momentum = 0.9 }
    optim.sgd(feval, x, cfg); optim.sgd(feval, x, cfg)
    assert.are.equal(2, cfg.evalCounter)
    assert.is_true(fathom.isTensor(cfg.dfdx))
  end)

  it('Logger writes a text log and a PNG plot', function()
    local name = os.tmpname()
    local log = optim.Logger(name)
    log:setNames({ 'train', 'test' })
    for i = 1, 5 do log:add({ 1 / i, 2 / i }) end
    log:style({ '-', '-' })
    log:plot()
    log:close()
    local text = io.open(name):read('*a')
    assert.is_truthy(text:find('^train\ttest\n1%.0000e%+00\t2%.0000e%+00\n'), text)
    local png = io.open(name .. '.png', 'rb')
    assert.is_truthy(png, 'no PNG written')
    assert.are.equal('\137PNG', png:read(4))
    png:close()
    local img = require('fathom.plot').readPNG(name .. '.png')
    assert.is_true(img:size(1) > 50)
    os.remove(name .. '.png')
    local bad = optim.Logger(name)
    assert.has_error(function() bad:add({ 'x' }) end)
    bad:close()
    os.remove(name)
  end)
end)
