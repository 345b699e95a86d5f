-- spec/torch7/ResidualDropBlock.lua -- a stochastic-depth residual block written as Torch7
-- research code writes one (torch.class on nn.Container, cudnn.* layers, nninit's chained
-- :init calls, an open/closed gate, survival scaling at test time), to check that code of
-- this kind loads and trains unmodified. Our own code, in that style.
require 'nn'
require 'cudnn'
require 'cunn'
local nninit = require 'nninit'

local Block, parent = torch.class('nn.StochasticBlock', 'nn.Container')

function Block:__init(deathRate, nIn, nOut, stride)
  parent.__init(self)
  self.gradInput = torch.Tensor()
  self.gate = true
  self.train = true
  self.deathRate = deathRate or 0
  nOut = nOut or nIn
  stride = stride or 1

  self.net = nn.Sequential()
  self.net:add(cudnn.SpatialConvolution(nIn, nOut, 3, 3, stride, stride, 1, 1)
    :init('weight', nninit.kaiming, { gain = 'relu' })
    :init('bias', nninit.constant, 0))
  self.net:add(cudnn.SpatialBatchNormalization(nOut))
  self.net:add(cudnn.ReLU(true))
  self.net:add(cudnn.SpatialConvolution(nOut, nOut, 3, 3, 1, 1, 1, 1)
    :init('weight', nninit.kaiming, { gain = 'relu' })
    :init('bias', nninit.constant, 0))
  self.net:add(cudnn.SpatialBatchNormalization(nOut))

  self.skip = nn.Sequential()
  self.skip:add(nn.Identity())
  if stride > 1 then self.skip:add(nn.SpatialAveragePooling(stride, stride, stride, stride)) end
  if nOut > nIn then self.skip:add(nn.Padding(1, nOut - nIn, 3)) end
  self.modules = { self.net, self.skip }
end

function Block:updateOutput(input)
  local s = self.skip:forward(input)
  self.output:resizeAs(s):copy(s)
  if self.train then
    if self.gate then self.output:add(self.net:forward(input)) end
  else
    self.output:add(self.net:forward(input):mul(1 - self.deathRate))
  end
  return self.output
end

function Block:updateGradInput(input, gradOutput)
  self.gradInput:resizeAs(input):copy(self.skip:updateGradInput(input, gradOutput))
  if self.gate then self.gradInput:add(self.net:updateGradInput(input, gradOutput)) end
  return self.gradInput
end

function Block:accGradParameters(input, gradOutput, scale)
  if self.gate then self.net:accGradParameters(input, gradOutput, scale or 1) end
end

function addStochasticBlock(model, deathRate, nIn, nOut, stride)
  model:add(nn.StochasticBlock(deathRate, nIn, nOut, stride))
  model:add(cudnn.ReLU(true))
  return model
end
