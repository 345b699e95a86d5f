-- recipes/gradient_strength.lua -- Fig. 7 of the paper: the mean absolute gradient of the
-- first convolutional layer of the first residual block, per epoch, for a constant-depth
-- ResNet-110 and one with stochastic depth, on CIFAR-10+ with the paper's settings.
-- Runs both (in DIR/constant and DIR/stochastic, each resumable: run the same command
-- again to continue), then writes DIR/gradient_strength.png (log scale, the LR drops
-- dotted). The mean is over the iterations in which block 1 was active (its gradient is
-- zero when it is dropped). Each epoch record of log.jsonl carries gradFirstConv.
--   luajit recipes/gradient_strength.lua [-nEpochs 500] [-depth 110] [-save DIR] [options]
local src = debug.getinfo(1, 'S').source:sub(2)
package.path = (src:match('^(.*)/[^/]+$') or '.') .. '/../?.lua;' .. package.path
require 'fathom'
local recipe = require 'fathom.recipe'
local lr = require 'fathom.lr'
local ck = require 'fathom.checkpoint'
local logmod = require 'fathom.log'
local plot = require 'fathom.plot'

local cifar = loadfile((src:match('^(.*)/[^/]+$') or '.') .. '/cifar10_sd.lua')('--recipe-table')

-- Accumulate mean |dL/dW| of block 1's first convolution after each backward.
local function gradient_hooks()
  local sum, count, buf = 0, 0, nil
  return {
    afterBackward = function(ctx)
      local b = ctx.blocks[1]
      if not b then return end
      local g = b.gate
      if g == 0 or g == false then return end
      local _, grads = b:parameters()
      buf = buf or grads[1]:clone()
      buf:resizeAs(grads[1]):copy(grads[1]):abs()
      sum, count = sum + buf:mean(), count + 1
    end,
    onEpoch = function(rec)
      rec.gradFirstConv = count > 0 and sum / count or nil
      rec.gradSteps = count
      sum, count = 0, 0
    end,
  }
end

local function copy(t) local r = {} for k, v in pairs(t) do r[k] = v end return r end

local function run(opt, _, given)
  local dir = opt.save ~= '' and opt.save or (opt.resume ~= '' and opt.resume or 'runs/gradient_strength')
  ck.mkdir(dir)
  local runs = { { 'constant', 1 }, { 'stochastic', opt.pL < 1 and opt.pL or 0.5 } }
  print(('== gradient_strength: Fig. 7, mean |gradient| of block 1\'s first conv per epoch; ResNet-%d on %s, %d epochs; runs in %s/{constant,stochastic}')
    :format(opt.depth, opt.dataset, opt.nEpochs, dir))
  local series = {}
  for k, r in ipairs(runs) do
    local o = copy(opt)
    o.pL, o.deathRate, o.save, o.resume = r[2], 1 - r[2], dir .. '/' .. r[1], ''
    if ck.exists(o.save .. '/summary.json') and ck.exists(o.save .. '/latest.json') and ck.readInfo(o.save).epoch >= o.nEpochs then
      print(('-- %s: already done (%s)'):format(r[1], o.save))
    else
      if ck.exists(o.save .. '/latest.json') then o.resume = o.save end
      print(('-- %s depth (p_L = %g)'):format(r[1], r[2]))
      local rr = copy(cifar)
      rr.name, rr.hooks = 'gradient_strength_' .. r[1], gradient_hooks()
      rr.description = ('Fig. 7 run with %s depth'):format(r[1])
      recipe.run(o, rr, {})
    end
    local x, y = {}, {}
    for _, rec in ipairs(logmod.read(o.save .. '/log.jsonl')) do
      if rec.type == 'epoch' and rec.gradFirstConv then x[#x + 1] = rec.epoch; y[#y + 1] = rec.gradFirstConv end
    end
    series[k] = { label = ('%s depth%s'):format(r[1], r[2] < 1 and (' (p_L %g)'):format(r[2]) or ''), x = x, y = y }
  end
  local path = dir .. '/gradient_strength.png'
  if recipe.isWriter() then plot.lines { path = path, title = ('Fig. 7: gradient magnitude, first conv of block 1 (ResNet-%d)'):format(opt.depth),
               xlabel = 'epoch', ylabel = 'mean |gradient|', logy = true, series = series,
               vlines = lr.fractionEpochs({ 0.5, 0.75 }, opt.nEpochs), legend = 'bottomright', xinteger = true } end
  print('== result')
  for _, s in ipairs(series) do
    if #s.y > 0 then
      local mean = 0
      for _, v in ipairs(s.y) do mean = mean + v end
      print(('%-32s mean over %d epochs %.3e, last epoch %.3e'):format(s.label, #s.y, mean / #s.y, s.y[#s.y]))
    end
  end
  print('paper (Fig. 7): the stochastic-depth gradient is larger throughout, most of all after the LR drops')
  print('plot: ' .. path)
end

local r = {
  name = 'gradient_strength',
  description = 'Fig. 7: gradient strength, constant vs stochastic depth',
  defaults = copy(cifar.defaults),
  run = run,
}
r.defaults.save = ''

if (...) == '--recipe-table' then return r end
recipe.main(r, arg)
