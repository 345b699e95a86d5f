-- nn/Linear.lua -- the fully connected layer y = W x + b (core/nn/linear.c, OpenBLAS).
--   nn.Linear(inputSize, outputSize, bias = true)
-- Input [inputSize] or [N,inputSize]. Torch7's initialisation: weight and bias uniform
-- in +-1/sqrt(inputSize) (reset(stdv) draws in +-stdv*sqrt(3) instead).
local fathom = require 'fathom'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local Linear, parent = class('nn.Linear', Module)

local function posint(x) return type(x) == 'number' and x >= 1 and x == math.floor(x) end

function Linear:__init(inputSize, outputSize, bias)
  parent.__init(self)
  if not (posint(inputSize) and posint(outputSize)) then
    error(('nn.Linear: sizes must be positive integers, got %s and %s'):format(tostring(inputSize),
      tostring(outputSize)), 2)
  end
  self.weight = fathom.Tensor(outputSize, inputSize)
  self.gradWeight = fathom.Tensor(outputSize, inputSize):zero()
  if bias ~= false then
    self.bias = fathom.Tensor(outputSize)
    self.gradBias = fathom.Tensor(outputSize):zero()
  end
  self:reset()
end

function Linear:noBias()
  self.bias, self.gradBias = nil, nil
  return self
end

function Linear:reset(stdv)
  stdv = stdv and stdv * math.sqrt(3) or 1 / math.sqrt(self.weight:size(2))
  self.weight:uniform(-stdv, stdv)
  if self.bias then self.bias:uniform(-stdv, stdv) end
  return self
end

-- input as [N,in].
function Linear:_input(input)
  local nIn = self.weight:size(2)
  local expected = ('[%d] or [N,%d]'):format(nIn, nIn)
  local x = self:checkInput(input, { 1, 2 }, expected)
  if x:size(x:dim()) ~= nIn then self:shapeError(input, expected) end
  return x:dim() == 1 and x:view(1, nIn) or x
end

function Linear:_gradOutput(input, gradOutput)
  local nOut = self.weight:size(1)
  local g = self:checkInput(gradOutput, nil, 'the output\'s size', 'gradOutput')
  self:checkSize(g, input:dim() == 1 and { nOut } or { input:size(1), nOut }, 'gradOutput')
  return g:dim() == 1 and g:view(1, nOut) or g
end

function Linear:updateOutput(input)
  local x = self:_input(input)
  local nOut = self.weight:size(1)
  local out = self:buffer('output', x)
  if input:dim() == 1 then out:resize(nOut) else out:resize(x:size(1), nOut) end
  check(C.ft_linear_forward(x.p, out:view(x:size(1), nOut).p, self.weight.p,
    self.bias and self.bias.p or nil), self.__typename)
  return out
end

function Linear:updateGradInput(input, gradOutput)
  local x = self:_input(input)
  local g = self:_gradOutput(input, gradOutput)
  local gi = self:buffer('gradInput', x):resizeAs(input)
  check(C.ft_linear_backward_input(g.p, gi:view(x:size()).p, self.weight.p), self.__typename)
  return gi
end

function Linear:accGradParameters(input, gradOutput, scale)
  local x = self:_input(input)
  local g = self:_gradOutput(input, gradOutput)
  check(C.ft_linear_backward_weight(x.p, g.p, self.gradWeight.p,
    self.gradBias and self.gradBias.p or nil, scale or 1), self.__typename)
end

function Linear:__tostring()
  return ('%s(%d -> %d)%s'):format(self.__typename, self.weight:size(2), self.weight:size(1),
    self.bias and '' or ' without bias')
end

return Linear
