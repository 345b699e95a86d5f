-- spec/torch7/train_resnet.lua -- loads resnet_model.lua the way fb.resnet.torch's
-- models/init.lua does (require the file, call createModel(opt)), then trains a few
-- steps with getParameters + optim.sgd and a criterion moved with :cuda().
require 'torch'
require 'nn'
require 'optim'
require 'cunn'
local dir = arg[0]:match('^(.*)/[^/]*$') or '.'
local createModel = dofile(dir .. '/resnet_model.lua')

local cmd = torch.CmdLine()
cmd:option('-shortcutType', 'A', 'A, B or C')
cmd:option('-steps', 3, 'training steps')
local opt = cmd:parse(arg)
opt.depth, opt.dataset = 8, 'cifar10'
torch.manualSeed(2)

local model = createModel(opt)
local criterion = nn.CrossEntropyCriterion():cuda()
local params, grads = model:getParameters()
local inputs, targets = torch.randn(8, 3, 32, 32), torch.Tensor(8)
for i = 1, 8 do targets[i] = (i - 1) % 10 + 1 end
local state = { learningRate = 0.1, momentum = 0.9, nesterov = true, dampening = 0.0, weightDecay = 1e-4 }
local losses = {}
for step = 1, opt.steps do
  local _, fs = optim.sgd(function()
    grads:zero()
    local out = model:forward(inputs)
    local loss = criterion:forward(out, targets)
    model:backward(inputs, criterion:backward(out, targets))
    return loss, grads
  end, params, state)
  losses[step] = fs[1]
end
print(('convs %d (biases %d), params %d, losses %s'):format(#model:findModules('cudnn.SpatialConvolution'),
  #(function() local b = {} for _, c in ipairs(model:findModules('cudnn.SpatialConvolution')) do if c.bias then b[#b + 1] = c end end return b end)(),
  params:nElement(), table.concat(losses, ' ')))
print('first ' .. losses[1] .. ' last ' .. losses[#losses])
