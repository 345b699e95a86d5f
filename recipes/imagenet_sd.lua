-- recipes/imagenet_sd.lua -- ImageNet (ILSVRC 2012) with stochastic depth, Sec. 4 and
-- Fig. 6: ResNet-152 with 50 bottleneck blocks, fb.resnet.torch's settings: 90 epochs,
-- batch 256, LR 0.1 divided by 10 every 30 epochs, momentum 0.9 Nesterov, weight decay
-- 1e-4, fb.resnet.torch's augmentation (random-sized crop, colour jitter, lighting, flip).
-- Reports top-1 (and top-5) validation error. Paper: 23.06% constant / 23.38% stochastic
-- after 90 epochs; 21.78% / 21.98% after 120 (-nEpochs 120; the LR keeps stepping every 30).
--   luajit recipes/imagenet_sd.lua -data /path/to/imagenet [-pL 1] [options]
local src = debug.getinfo(1, 'S').source:sub(2)
package.path = (src:match('^(.*)/[^/]+$') or '.') .. '/../?.lua;' .. package.path
require 'fathom'
local recipe = require 'fathom.recipe'
local lr = require 'fathom.lr'
local nn = require 'fathom.nn'
local resnet = require 'models.resnet_imagenet'

local r = {
  name = 'imagenet_sd',
  datasets = { 'imagenet' },
  description = 'ImageNet with stochastic depth, ResNet-152 bottleneck (Table 1 and Fig. 6 of the paper)',
  defaults = { dataset = 'imagenet', depth = 152, nEpochs = 90, batchSize = 256, LR = 0.1, pL = 0.5,
               momentum = 0.9, nesterov = true, weightDecay = 1e-4, augment = true, preprocess = 'channel',
               nThreads = 4 },
  lrSchedule = function(epoch, iteration, opt) return opt.LR * 0.1 ^ math.floor((epoch - 1) / 30) end,
  scheduleText = '/10 every 30 epochs (fb.resnet.torch)',
  paper = function(opt)
    if opt.nEpochs >= 120 then return { constant = 21.78, stochastic = 21.98, depth = 152, source = 'Sec. 4, 120 epochs (Table 1)' } end
    return { constant = 23.06, stochastic = 23.38, depth = 152, source = 'Sec. 4, 90 epochs' }
  end,
  shortcutText = 'projection where shapes change (B)',
  check = function(opt, fail, given)
    if opt.data == '' and not opt.help then fail('ImageNet needs -data DIR: a folder with train/ and val/, one sub-folder per class') end
    if given.shortcut then fail('option -shortcut is for the CIFAR/SVHN nets; the ImageNet net uses projection shortcuts (B)') end
  end,
}


function r.validate(opt) resnet.config(opt.depth) end
function r.build(opt, data)
  local m = recipe.modelOptions(opt, data)
  m.shortcut = nil -- projection shortcuts (fb.resnet.torch's B)
  return { model = resnet.createModel(m), criterion = nn.CrossEntropyCriterion() }
end

if (...) == '--recipe-table' then return r end
recipe.main(r, arg)
