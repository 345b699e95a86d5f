-- spec/torch7/resnet_model.lua -- a ResNet definition in the style of fb.resnet.torch's
-- models/*.lua: `return createModel`, cudnn.* layers as locals, shortcut types A/B/C,
-- findModules-based initialisation that drops convolution biases for cuDNN >= 4, then
-- model:cuda(). Our own code, in that style; CIFAR only.
local nn = require 'nn'
require 'cunn'
require 'cudnn'

local Conv = cudnn.SpatialConvolution
local Avg = cudnn.SpatialAveragePooling
local ReLU = cudnn.ReLU
local BN = nn.SpatialBatchNormalization

local function createModel(opt)
  local shortcutType = opt.shortcutType or 'B'
  local planes

  local function shortcut(nIn, nOut, stride)
    if shortcutType == 'C' or (shortcutType == 'B' and nIn ~= nOut) then
      return nn.Sequential():add(Conv(nIn, nOut, 1, 1, stride, stride)):add(BN(nOut))
    elseif nIn ~= nOut then
      return nn.Sequential()
        :add(nn.SpatialAveragePooling(1, 1, stride, stride))
        :add(nn.Concat(2):add(nn.Identity()):add(nn.MulConstant(0)))
    end
    return nn.Identity()
  end

  local function block(n, stride)
    local nIn = planes
    planes = n
    local body = nn.Sequential()
      :add(Conv(nIn, n, 3, 3, stride, stride, 1, 1)):add(BN(n)):add(ReLU(true))
      :add(Conv(n, n, 3, 3, 1, 1, 1, 1)):add(BN(n))
    return nn.Sequential()
      :add(nn.ConcatTable():add(body):add(shortcut(nIn, n, stride)))
      :add(nn.CAddTable(true))
      :add(ReLU(true))
  end

  local function stage(n, count, stride)
    local s = nn.Sequential()
    for i = 1, count do s:add(block(n, i == 1 and stride or 1)) end
    return s
  end

  assert((opt.depth - 2) % 6 == 0, 'depth must be 6n+2')
  local n = (opt.depth - 2) / 6
  planes = 16
  local model = nn.Sequential()
  model:add(Conv(3, 16, 3, 3, 1, 1, 1, 1)):add(BN(16)):add(ReLU(true))
  model:add(stage(16, n, 1)):add(stage(32, n, 2)):add(stage(64, n, 2))
  model:add(Avg(8, 8, 1, 1))
  model:add(nn.View(64):setNumInputDims(3))
  model:add(nn.Linear(64, opt.nClasses or 10))

  for _, name in ipairs({ 'cudnn.SpatialConvolution', 'nn.SpatialConvolution' }) do
    for _, v in pairs(model:findModules(name)) do
      v.weight:normal(0, math.sqrt(2 / (v.kW * v.kH * v.nOutputPlane)))
      if cudnn.version >= 4000 then v.bias = nil; v.gradBias = nil else v.bias:zero() end
    end
  end
  for _, v in pairs(model:findModules('nn.SpatialBatchNormalization')) do
    v.weight:fill(1); v.bias:zero()
  end
  for _, v in pairs(model:findModules('nn.Linear')) do v.bias:zero() end
  model:cuda()
  model:get(1).gradInput = nil
  return model
end

return createModel
