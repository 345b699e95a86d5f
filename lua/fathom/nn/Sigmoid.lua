-- nn/Sigmoid.lua -- 1 / (1 + exp(-x)), element-wise; the gradient is
-- gradOutput * output * (1 - output).
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Sigmoid, parent = class('nn.Sigmoid', Module)

function Sigmoid:updateOutput(input)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  self:buffer('output', x):sigmoid(x)
  return self.output
end

function Sigmoid:updateGradInput(input, gradOutput)
  local g = self:checkInput(gradOutput, nil, "the output's size", 'gradOutput')
  self:checkSize(g, self.output:size(), 'gradOutput')
  local gi = self:buffer('gradInput', g)
  gi:mul(self.output, -1):add(1):cmul(self.output):cmul(g)
  return gi
end

return Sigmoid
