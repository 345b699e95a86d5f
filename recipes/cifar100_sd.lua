-- recipes/cifar100_sd.lua -- CIFAR-100 with stochastic depth (Table 1, Fig. 3 right): the
-- CIFAR-10 settings with a 100-way classifier. Paper: 24.98% test error (constant depth:
-- 27.22% in the text, 27.76% in Table 1); without augmentation 37.8% (44.74%).
--   luajit recipes/cifar100_sd.lua [-pL 1] [-augment false] [options]
local src = debug.getinfo(1, 'S').source:sub(2)
package.path = (src:match('^(.*)/[^/]+$') or '.') .. '/../?.lua;' .. package.path
require 'fathom'
local recipe = require 'fathom.recipe'
local lr = require 'fathom.lr'
local nn = require 'fathom.nn'
local resnet = require 'models.resnet_cifar'

local r = {
  name = 'cifar100_sd',
  datasets = { 'cifar100' },
  description = 'CIFAR-100 with stochastic depth, ResNet-110 (Table 1 and Fig. 3 of the paper)',
  defaults = { dataset = 'cifar100', depth = 110, nEpochs = 500, batchSize = 128, LR = 0.1, pL = 0.5,
               momentum = 0.9, nesterov = true, weightDecay = 1e-4, augment = true },
  lrSchedule = lr.fraction({ 0.5, 0.75 }),
  scheduleText = function(opt) return lr.fractionText({ 0.5, 0.75 }, opt) end,
  paper = function(opt)
    if opt.augment then
      return { constant = 27.22, stochastic = 24.98, depth = 110, source = 'Sec. 4 (Table 1 gives 27.76 for constant depth), CIFAR-100+' }
    end
    return { constant = 44.74, stochastic = 37.8, depth = 110, source = 'Sec. 4, CIFAR-100 without augmentation' }
  end,
}


-- The 6n+2 check before any data is read.
function r.validate(opt) resnet.checkDepth(opt.depth) end
function r.build(opt, data)
  return { model = resnet.createModel(recipe.modelOptions(opt, data)), criterion = nn.CrossEntropyCriterion() }
end

if (...) == '--recipe-table' then return r end
recipe.main(r, arg)
