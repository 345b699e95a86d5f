-- nn/ReLU.lua -- max(x, 0), element-wise (core/nn/pointwise.c). nn.ReLU(true) works in
-- place: the output is the input tensor and the gradient overwrites gradOutput; the
-- backward mask is output > 0, so no copy of the input is kept either way.
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local ReLU, parent = class('nn.ReLU', Module)

function ReLU:__init(inplace)
  parent.__init(self)
  self.inplace = inplace and true or false
end

function ReLU:updateOutput(input)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  if self.inplace then
    if x ~= input then error(self.__typename .. ': in-place ReLU needs a contiguous input', 2) end
    self.output:set(input)
  else
    self:buffer('output', x):resizeAs(x)
  end
  check(C.ft_relu_forward(x.p, self.output.p), self.__typename)
  return self.output
end

function ReLU:updateGradInput(input, gradOutput)
  local g = self:checkInput(gradOutput, nil, 'the output\'s size', 'gradOutput')
  self:checkSize(g, self.output:size(), 'gradOutput')
  if self.inplace then
    if g ~= gradOutput then error(self.__typename .. ': in-place ReLU needs a contiguous gradOutput', 2) end
    self.gradInput:set(gradOutput)
  else
    self:buffer('gradInput', g):resizeAs(g)
  end
  check(C.ft_relu_backward(self.output.p, g.p, self.gradInput.p), self.__typename)
  return self.gradInput
end

function ReLU:__tostring()
  return self.inplace and self.__typename .. ' (in place)' or self.__typename
end

return ReLU
