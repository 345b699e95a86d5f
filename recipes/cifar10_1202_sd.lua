-- recipes/cifar10_1202_sd.lua -- CIFAR-10 with a 1202-layer ResNet (n = 200, 600 blocks),
-- Sec. 4 and Fig. 4 right / Fig. 5: 300 epochs, LR 0.01 for the first 10 epochs to warm
-- the network up, then 0.1, divided by 10 at epochs 150 and 225; otherwise as CIFAR-10+.
-- Paper: 4.91% test error with stochastic depth (constant depth: 6.67%).
--   luajit recipes/cifar10_1202_sd.lua [-pL 1] [options]
local src = debug.getinfo(1, 'S').source:sub(2)
package.path = (src:match('^(.*)/[^/]+$') or '.') .. '/../?.lua;' .. package.path
require 'fathom'
local recipe = require 'fathom.recipe'
local lr = require 'fathom.lr'
local nn = require 'fathom.nn'
local resnet = require 'models.resnet_cifar'

-- Warm-up for the first 1/30 of the epochs (10 of 300), at LR/10; then /10 at 50% and 75%.
local function schedule(epoch, iteration, opt)
  if epoch <= math.max(1, math.floor(opt.nEpochs / 30 + 0.5)) then return opt.LR * 0.1 end
  return lr.fraction({ 0.5, 0.75 })(epoch, iteration, opt)
end

local r = {
  name = 'cifar10_1202_sd',
  datasets = { 'cifar10' },
  description = 'CIFAR-10 with stochastic depth, ResNet-1202 (Fig. 4 right and Fig. 5 of the paper)',
  defaults = { dataset = 'cifar10', depth = 1202, nEpochs = 300, batchSize = 128, LR = 0.1, pL = 0.5,
               momentum = 0.9, nesterov = true, weightDecay = 1e-4, augment = true },
  lrSchedule = schedule,
  scheduleText = function(opt)
    return ('LR/10 for epochs 1-%d (warm-up), then %s'):format(math.max(1, math.floor(opt.nEpochs / 30 + 0.5)),
                                                                lr.fractionText({ 0.5, 0.75 }, opt))
  end,
  paper = { constant = 6.67, stochastic = 4.91, depth = 1202, source = 'Sec. 4, Fig. 4 right' },
}


-- The 6n+2 check before any data is read.
function r.validate(opt) resnet.checkDepth(opt.depth) end
function r.build(opt, data)
  return { model = resnet.createModel(recipe.modelOptions(opt, data)), criterion = nn.CrossEntropyCriterion() }
end

if (...) == '--recipe-table' then return r end
recipe.main(r, arg)
