-- recipes/svhn_sd.lua -- SVHN with stochastic depth (Table 1, Fig. 4 left): a CIFAR-style
-- ResNet-152 (n = 25, 75 blocks), train + extra, validation 400 per class from train and
-- 200 per class from extra, no augmentation, mean/std preprocessing, batch 128, 50 epochs,
-- LR 0.1 divided by 10 at epochs 30 and 35, validation every 200 iterations.
-- Paper: 1.75% test error (constant depth: 1.80%).
--   luajit recipes/svhn_sd.lua [-pL 1] [options]
local src = debug.getinfo(1, 'S').source:sub(2)
package.path = (src:match('^(.*)/[^/]+$') or '.') .. '/../?.lua;' .. package.path
require 'fathom'
local recipe = require 'fathom.recipe'
local lr = require 'fathom.lr'
local nn = require 'fathom.nn'
local resnet = require 'models.resnet_cifar'

local r = {
  name = 'svhn_sd',
  datasets = { 'svhn' },
  description = 'SVHN with stochastic depth, ResNet-152 CIFAR-style (Table 1 and Fig. 4 of the paper)',
  defaults = { dataset = 'svhn', depth = 152, nEpochs = 50, batchSize = 128, LR = 0.1, pL = 0.5,
               momentum = 0.9, nesterov = true, weightDecay = 1e-4, augment = false, evalEveryIters = 200 },
  lrSchedule = lr.fraction({ 0.6, 0.7 }),
  scheduleText = function(opt) return lr.fractionText({ 0.6, 0.7 }, opt) end,
  paper = { constant = 1.80, stochastic = 1.75, depth = 152, source = 'Table 1, SVHN' },
}


-- The 6n+2 check before any data is read.
function r.validate(opt) resnet.checkDepth(opt.depth) end
function r.build(opt, data)
  return { model = resnet.createModel(recipe.modelOptions(opt, data)), criterion = nn.CrossEntropyCriterion() }
end

if (...) == '--recipe-table' then return r end
recipe.main(r, arg)
