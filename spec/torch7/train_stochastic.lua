-- spec/torch7/train_stochastic.lua -- a stochastic-depth CIFAR-style network built and
-- trained the way the authors' Torch7 scripts do it (global helper adding blocks, death
-- rates set linearly, gates drawn per step, getParameters + optim.sgd), on random data.
-- Usage: fathom train_stochastic.lua [-steps 3] [-noparams]
--   -noparams  update with model:parameters() instead of getParameters() + optim.sgd
require 'torch'
require 'nn'
require 'optim'
require 'cudnn'
local nninit = require 'nninit'
local dir = arg[0]:match('^(.*)/[^/]*$') or '.'
dofile(dir .. '/ResidualDropBlock.lua')

local cmd = torch.CmdLine()
cmd:option('-steps', 3, 'training steps')
cmd:option('-noparams', false, 'update without getParameters')
local opt = cmd:parse(arg)
torch.manualSeed(1)

local model = nn.Sequential()
model:add(cudnn.SpatialConvolution(3, 16, 3, 3, 1, 1, 1, 1)
  :init('weight', nninit.kaiming, { gain = 'relu' }):init('bias', nninit.constant, 0))
model:add(cudnn.SpatialBatchNormalization(16))
model:add(cudnn.ReLU(true))
local blocks = {}
addStochasticBlock(model, 0, 16); blocks[#blocks + 1] = model:size() - 1
addStochasticBlock(model, 0, 16, 32, 2); blocks[#blocks + 1] = model:size() - 1
addStochasticBlock(model, 0, 32, 64, 2); blocks[#blocks + 1] = model:size() - 1
model:add(nn.SpatialAveragePooling(8, 8)):add(nn.Reshape(64))
model:add(nn.Linear(64, 10))
model:add(nn.LogSoftMax())
for i, b in ipairs(blocks) do model:get(b).deathRate = i / #blocks * 0.5 end

local criterion = nn.ClassNLLCriterion()
local inputs = torch.randn(8, 3, 32, 32)
local targets = torch.Tensor(8)
for i = 1, 8 do targets[i] = (i - 1) % 10 + 1 end

local losses = {}
local params, grads
if not opt.noparams then params, grads = model:getParameters() end
local config = { learningRate = 0.1, momentum = 0.9 }
model:training()
for step = 1, opt.steps do
  for _, b in ipairs(blocks) do
    local block = model:get(b)
    block.gate = step == 1 or torch.rand(1)[1] >= block.deathRate
  end
  local function feval()
    model:zeroGradParameters()
    local out = model:forward(inputs)
    local loss = criterion:forward(out, targets)
    model:backward(inputs, criterion:backward(out, targets))
    return loss, grads
  end
  if opt.noparams then
    local loss = feval()
    local p, g = model:parameters()
    for i = 1, #p do p[i]:add(-config.learningRate, g[i]) end
    losses[step] = loss
  else
    local _, fs = optim.sgd(feval, params, config)
    losses[step] = fs[1]
  end
end
model:evaluate()
local out = model:forward(inputs)
print(('blocks %d, output %s, losses %s'):format(#model:findModules('nn.StochasticBlock'),
  table.concat(out:size():totable(), 'x'), table.concat(losses, ' ')))
print('first ' .. losses[1] .. ' last ' .. losses[#losses])
