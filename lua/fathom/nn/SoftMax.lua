-- nn/SoftMax.lua -- exp(x_i) / sum_j exp(x_j) over the feature dimension, as Torch7
-- picks it: a vector (1-D), each row of a batch (2-D), the channels of each pixel of an
-- image (3-D: dim 1) or of a batch of images (4-D: dim 2). The maximum is subtracted
-- first, so large inputs do not overflow. Gradient: y * (g - sum(g * y)).
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local SoftMax, parent = class('nn.SoftMax', Module)

local FEATURE_DIM = { 1, 2, 1, 2 }

function SoftMax:updateOutput(input)
  local x = self:checkInput(input, { 1, 2, 3, 4 }, 'a 1-D to 4-D tensor')
  local d = FEATURE_DIM[x:dim()]
  local y = self:buffer('output', x)
  y:sub(x, x:max(d):expandAs(x)):exp()
  y:cdiv(y:sum(d):expandAs(y))
  return y
end

function SoftMax:updateGradInput(input, gradOutput)
  local g = self:checkInput(gradOutput, nil, "the output's size", 'gradOutput')
  self:checkSize(g, self.output:size(), 'gradOutput')
  local d = FEATURE_DIM[g:dim()]
  local y = self.output
  local gi = self:buffer('gradInput', g)
  gi:cmul(g, y)
  local s = gi:sum(d)
  gi:sub(g, s:expandAs(g)):cmul(y)
  return gi
end

return SoftMax
