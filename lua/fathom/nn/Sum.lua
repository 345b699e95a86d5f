-- nn/Sum.lua -- the sum over one dimension: nn.Sum(dim, nInputDims, sizeAverage,
-- squeeze). With nInputDims, a larger input is a batch and dim counts from its second
-- dimension; sizeAverage divides by the size summed over (nn.Mean); squeeze (default
-- true, as in Torch7) drops the summed dimension.
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Sum, parent = class('nn.Sum', Module)

function Sum:__init(dim, nInputDims, sizeAverage, squeeze)
  parent.__init(self)
  self.dimension = dim or 1
  if type(self.dimension) ~= 'number' or self.dimension < 1 then error('nn.Sum: dim must be a positive integer', 2) end
  self.nInputDims, self.sizeAverage = nInputDims, sizeAverage or false
  self.squeeze = squeeze == nil and true or squeeze
end

function Sum:dimFor(x)
  local d = self.dimension
  if self.nInputDims and x:dim() > self.nInputDims then d = d + 1 end
  if d > x:dim() then self:shapeError(x, 'at least ' .. d .. ' dimensions') end
  return d
end

function Sum:updateOutput(input)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  local d = self:dimFor(x)
  local s = x:sum(d)
  if self.sizeAverage then s:div(x:size(d)) end
  if self.squeeze and x:dim() > 1 then
    local sizes = x:size():totable()
    table.remove(sizes, d)
    s = s:view(unpack(sizes))
  end
  self.output = s
  return s
end

function Sum:updateGradInput(input, gradOutput)
  local d = self:dimFor(input)
  local sizes = input:size():totable()
  sizes[d] = 1
  local g = gradOutput:contiguous():view(unpack(sizes))
  local gi = self:buffer('gradInput', g):resizeAs(input):copy(g:expandAs(input))
  if self.sizeAverage then gi:div(input:size(d)) end
  return gi
end

return Sum
