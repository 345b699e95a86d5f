-- nn/Tanh.lua -- tanh(x), element-wise; the gradient is gradOutput * (1 - output^2).
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Tanh, parent = class('nn.Tanh', Module)

function Tanh:updateOutput(input)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  self:buffer('output', x):tanh(x)
  return self.output
end

function Tanh:updateGradInput(input, gradOutput)
  local g = self:checkInput(gradOutput, nil, "the output's size", 'gradOutput')
  self:checkSize(g, self.output:size(), 'gradOutput')
  local gi = self:buffer('gradInput', g)
  gi:cmul(self.output, self.output):mul(-1):add(1):cmul(g)
  return gi
end

return Tanh
