-- models/resnet_cifar.lua -- the CIFAR/SVHN ResNets of He et al. (2016) with stochastic
-- depth (Huang et al. 2016): depth 6n+2 = a 3x3 conv with 16 filters + BN + ReLU, three
-- stages of n basic blocks with 16, 32, 64 filters (the first block of stages 2 and 3
-- halves the resolution), 8x8 global average pooling, a linear layer.
-- ResNet-110 (n = 18, L = 54 blocks) has 1.73M parameters.
--   local model = require('models.resnet_cifar').createModel{ depth = 110, pL = 0.5 }
-- opt (all optional):
--   depth 110 (any 6n+2), nClasses 10 (or 100),
--   pL 0.5 | deathRate (= 1 - pL, the authors' name), deathMode 'lin_decay' | 'uniform' |
--   a function (l, L) -> p, stochastic (false: constant depth, as pL = 1),
--   shortcut 'avg' ('A', default) | 'subsample' (the authors' first code),
--   gate 'batch' | 'row', testScaling 'scale' | 'inverted', generator (gate draws),
--   convInit 'fan_in' (default) | 'fan_out', tensorType 'float' (default) | 'double'.
-- The model exposes model.blocks (its nn.ResidualDrop blocks, l = 1..L) and
-- model.schedule (the survival schedule).
local nn = require 'fathom.nn'
local schedule = require 'fathom.schedule'

local M = {}

-- Convolutions: normal, std sqrt(2/fan); BN: weight 1, bias 0; linear bias 0.
local function init_stem_and_head(model, convInit)
  model:apply(function(m)
    local t = m.__typename
    if t == 'nn.SpatialConvolution' then
      local fan = m.weight:size(3) * m.weight:size(4) *
                  (convInit == 'fan_out' and m.weight:size(1) or m.weight:size(2))
      m.weight:normal(0, math.sqrt(2 / fan))
      if m.bias then m.bias:zero() end
    elseif t == 'nn.SpatialBatchNormalization' then
      m.weight:fill(1); m.bias:zero()
    elseif t == 'nn.Linear' then
      if m.bias then m.bias:zero() end
    end
  end)
end
M.initWeights = init_stem_and_head

-- The stem conv feeds a BN, which cancels any bias: none, as in the blocks.
local function conv_no_bias(m)
  if m.noBias then m:noBias() end
  return m
end
M.noBias = conv_no_bias

-- The one depth check of the CIFAR/SVHN nets (recipes call it before reading data).
function M.checkDepth(depth)
  if type(depth) ~= 'number' or depth < 8 or (depth - 2) % 6 ~= 0 or depth > 10000 then
    error('resnet_cifar: depth must be 6n+2 with n >= 1 (20, 32, 44, 56, 110, 1202, ...), got ' .. tostring(depth), 0)
  end
  return depth
end

function M.createModel(opt)
  opt = opt or {}
  local depth = M.checkDepth(opt.depth or 110)
  local nClasses = opt.nClasses or 10
  if type(nClasses) ~= 'number' or nClasses < 2 or nClasses ~= math.floor(nClasses) then
    error('resnet_cifar: nClasses must be an integer >= 2, got ' .. tostring(nClasses), 2)
  end
  local shortcut = opt.shortcut or 'avg'
  if shortcut == 'A' then shortcut = 'avg' end
  if shortcut ~= 'avg' and shortcut ~= 'subsample' then
    error("resnet_cifar: shortcut must be 'avg' (A) or 'subsample', got " .. tostring(shortcut), 2)
  end
  local n = (depth - 2) / 6
  local L = 3 * n
  local sched = schedule.fromOptions(opt)
  local ps = schedule.probabilities(sched, L)

  local model = nn.Sequential()
  model:add(conv_no_bias(nn.SpatialConvolution(3, 16, 3, 3, 1, 1, 1, 1)))
  model:add(nn.SpatialBatchNormalization(16))
  model:add(nn.ReLU(true))
  local blocks, cin, l = {}, 16, 0
  for stage, planes in ipairs({ 16, 32, 64 }) do
    for i = 1, n do
      l = l + 1
      local stride = (stage > 1 and i == 1) and 2 or 1
      local b = nn.ResidualDrop(cin, planes, stride, {
        p = ps[l], shortcut = shortcut, gate = opt.gate, testScaling = opt.testScaling,
        generator = opt.generator, convInit = opt.convInit, releaseSkipped = opt.releaseSkipped,
      })
      model:add(b)
      blocks[l] = b
      cin = planes
    end
  end
  model:add(nn.SpatialAveragePooling(8, 8, 1, 1))
  model:add(nn.View(64):setNumInputDims(3))
  model:add(nn.Linear(64, nClasses))
  init_stem_and_head(model, opt.convInit)
  if opt.tensorType == 'double' then model:double() end
  model.blocks = blocks
  model.schedule = sched
  model.depth = depth
  return model
end

return M
