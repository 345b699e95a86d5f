-- spec/torch7/train_convnet.lua -- a training script written the Torch7 way, run unmodified
-- by bin/fathom (spec/torch_script_spec.lua): biased convolutions, Dropout,
-- getParameters, optim.sgd with a closure, torch.save/torch.load, torch.Timer, CmdLine.
require 'torch'
require 'nn'
require 'optim'

local cmd = torch.CmdLine()
cmd:option('-steps', 30, 'training steps')
cmd:option('-save', '', 'where to save the model')
cmd:option('-nobias', false, 'convolutions without a bias')
local opt = cmd:parse(arg)

torch.setdefaulttensortype('torch.FloatTensor')
torch.manualSeed(7)

local model = nn.Sequential()
local function conv(nIn, nOut)
  local c = nn.SpatialConvolution(nIn, nOut, 3, 3, 1, 1, 1, 1)
  if opt.nobias then c:noBias() end
  return c
end
model:add(conv(3, 8))
model:add(nn.ReLU(true))
model:add(nn.SpatialMaxPooling(2, 2, 2, 2))
model:add(conv(8, 8))
model:add(nn.Tanh())
model:add(nn.View(8 * 4 * 4))
model:add(nn.Dropout(0.2))
model:add(nn.Linear(8 * 4 * 4, 4))
model:add(nn.LogSoftMax())
local criterion = nn.ClassNLLCriterion()

-- four classes of 8x8 images, each a noisy constant pattern
local N = 32
local inputs = torch.Tensor(N, 3, 8, 8)
local targets = torch.Tensor(N)
local patterns = torch.randn(4, 3, 8, 8)
for i = 1, N do
  local c = (i - 1) % 4 + 1
  targets[i] = c
  inputs[i]:copy(patterns[c]):add(torch.randn(3, 8, 8):mul(0.3))
end

local params, gradParams = model:getParameters()
local config = { learningRate = 0.05, momentum = 0.9 }
local timer = torch.Timer()
local first, last
for step = 1, opt.steps do
  local function feval(x)
    if x ~= params then params:copy(x) end
    gradParams:zero()
    local output = model:forward(inputs)
    local loss = criterion:forward(output, targets)
    model:backward(inputs, criterion:backward(output, targets))
    return loss, gradParams
  end
  local _, fs = optim.sgd(feval, params, config)
  first = first or fs[1]
  last = fs[1]
end
print(('loss %.4f -> %.4f in %d steps, %.3f s'):format(first, last, config.evalCounter, timer:time().real))

model:evaluate()
local before = model:forward(inputs):clone()
local path = opt.save ~= '' and opt.save or os.tmpname()
torch.save(path, model)
local loaded = torch.load(path)
local after = loaded:forward(inputs)
print(('reloaded %s: max difference %g'):format(torch.type(loaded), (after - before):abs():max()))
print('first ' .. first .. ' last ' .. last)
if opt.save == '' then os.remove(path) end
