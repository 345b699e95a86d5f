-- recipes/cifar10_sd.lua -- CIFAR-10 with stochastic depth (Huang et al. 2016, Table 1):
-- ResNet-110, linear decay of the survival probability to p_L = 0.5, 500 epochs, batch 128,
-- SGD LR 0.1 divided by 10 at epochs 250 and 375, momentum 0.9 Nesterov, weight decay
-- 1e-4, flip + 4-pixel translation. Paper: 5.25% test error (constant depth: 6.41%).
--   luajit recipes/cifar10_sd.lua                      the paper's run
--   luajit recipes/cifar10_sd.lua -pL 1                the constant-depth baseline
--   luajit recipes/cifar10_sd.lua -augment false       Sec. 4, without augmentation
--   luajit recipes/cifar10_sd.lua -depth 20 -nEpochs 3 -maxIters 20   a quick look
local src = debug.getinfo(1, 'S').source:sub(2)
package.path = (src:match('^(.*)/[^/]+$') or '.') .. '/../?.lua;' .. package.path
require 'fathom'
local recipe = require 'fathom.recipe'
local lr = require 'fathom.lr'
local nn = require 'fathom.nn'
local resnet = require 'models.resnet_cifar'

local r = {
  name = 'cifar10_sd',
  datasets = { 'cifar10' },
  description = 'CIFAR-10 with stochastic depth, ResNet-110 (Table 1 and Fig. 3 of the paper)',
  defaults = { dataset = 'cifar10', depth = 110, nEpochs = 500, batchSize = 128, LR = 0.1, pL = 0.5,
               momentum = 0.9, nesterov = true, weightDecay = 1e-4, augment = true },
  lrSchedule = lr.fraction({ 0.5, 0.75 }),
  scheduleText = function(opt) return lr.fractionText({ 0.5, 0.75 }, opt) end,
  paper = function(opt)
    if opt.augment then return { constant = 6.41, stochastic = 5.25, depth = 110, source = 'Table 1, CIFAR-10+' } end
    return { constant = 13.63, stochastic = 11.66, depth = 110, source = 'Sec. 4, CIFAR-10 without augmentation' }
  end,
}


-- The 6n+2 check before any data is read.
function r.validate(opt) resnet.checkDepth(opt.depth) end
function r.build(opt, data)
  return { model = resnet.createModel(recipe.modelOptions(opt, data)), criterion = nn.CrossEntropyCriterion() }
end

if (...) == '--recipe-table' then return r end -- loaded by a test or another recipe
recipe.main(r, arg)
