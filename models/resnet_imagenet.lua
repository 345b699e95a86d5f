-- models/resnet_imagenet.lua -- the ImageNet ResNets of He et al. (2016), as in
-- fb.resnet.torch, with stochastic depth (Huang et al. 2016): a 7x7/2 conv with 64
-- filters + BN + ReLU + 3x3/2 max pooling, four stages of residual blocks (64, 128, 256,
-- 512 planes; the first block of stages 2..4 has stride 2), 7x7 average pooling, a
-- linear layer. Depth 50/101/152: bottleneck blocks (output 4 x planes); 18/34: basic.
-- Shortcuts: projection ('B') where the shape changes, identity elsewhere.
--   local model = require('models.resnet_imagenet').createModel{ depth = 152, pL = 0.5 }
-- opt: depth 152, nClasses 1000, shortcut 'B' | 'C' (projection everywhere),
--   pL | deathRate, deathMode, stochastic, gate, testScaling, generator, convInit
--   (as models/resnet_cifar.lua). Input: [N, 3, 224, 224].
local nn = require 'fathom.nn'
local schedule = require 'fathom.schedule'
local cifar = require 'models.resnet_cifar'

local M = {}

local CFG = {
  [18] = { 'basic', { 2, 2, 2, 2 } }, [34] = { 'basic', { 3, 4, 6, 3 } },
  [50] = { 'bottleneck', { 3, 4, 6, 3 } }, [101] = { 'bottleneck', { 3, 4, 23, 3 } },
  [152] = { 'bottleneck', { 3, 8, 36, 3 } },
}

-- The block kind and the number of blocks per stage for a depth.
function M.config(depth)
  local cfg = CFG[depth]
  if not cfg then
    error('resnet_imagenet: depth must be 18, 34, 50, 101 or 152, got ' .. tostring(depth), 0)
  end
  return cfg[1], { unpack(cfg[2]) }
end

function M.createModel(opt)
  opt = opt or {}
  local depth = opt.depth or 152
  local kind, counts = M.config(depth)
  local expansion = kind == 'bottleneck' and 4 or 1
  local shortcut = opt.shortcut or 'B'
  if shortcut ~= 'B' and shortcut ~= 'C' then
    error("resnet_imagenet: shortcut must be 'B' or 'C', got " .. tostring(shortcut), 2)
  end
  local L = 0
  for _, c in ipairs(counts) do L = L + c end
  local ps = schedule.probabilities(schedule.fromOptions(opt), L)

  local model = nn.Sequential()
  model:add(cifar.noBias(nn.SpatialConvolution(3, 64, 7, 7, 2, 2, 3, 3)))
  model:add(nn.SpatialBatchNormalization(64))
  model:add(nn.ReLU(true))
  model:add(nn.SpatialMaxPooling(3, 3, 2, 2, 1, 1))
  local blocks, cin, l = {}, 64, 0
  for stage, planes in ipairs({ 64, 128, 256, 512 }) do
    for i = 1, counts[stage] do
      l = l + 1
      local b = nn.ResidualDrop(cin, planes * expansion, (stage > 1 and i == 1) and 2 or 1, {
        block = kind, shortcut = shortcut, p = ps[l], gate = opt.gate,
        testScaling = opt.testScaling, generator = opt.generator, convInit = opt.convInit,
      })
      model:add(b)
      blocks[l] = b
      cin = planes * expansion
    end
  end
  model:add(nn.SpatialAveragePooling(7, 7, 1, 1))
  model:add(nn.View(cin):setNumInputDims(3))
  model:add(nn.Linear(cin, opt.nClasses or 1000))
  cifar.initWeights(model, opt.convInit)
  model.blocks = blocks
  model.depth = depth
  return model
end

return M
