-- nn/Narrow.lua -- a slice of the input along one dimension: nn.Narrow(dim, offset,
-- length) keeps elements offset .. offset+length-1 (a negative length counts from the
-- end: -1 keeps everything from offset on). The gradient is zero outside the slice.
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Narrow, parent = class('nn.Narrow', Module)

function Narrow:__init(dim, offset, length)
  parent.__init(self)
  for _, v in ipairs({ dim, offset }) do
    if type(v) ~= 'number' or v < 1 then error('nn.Narrow: dim and offset must be positive integers', 2) end
  end
  self.dimension, self.index, self.length = dim, offset, length or 1
end

function Narrow:span(x)
  if self.dimension > x:dim() then self:shapeError(x, 'at least ' .. self.dimension .. ' dimensions') end
  local size = x:size(self.dimension)
  local len = self.length
  if len < 0 then len = size - self.index + len + 2 end
  if self.index + len - 1 > size or len < 1 then
    error(('%s: slice %d..%d does not fit dimension %d of size %d'):format(self.__typename,
      self.index, self.index + len - 1, self.dimension, size), 3)
  end
  return len
end

function Narrow:updateOutput(input)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  local len = self:span(x)
  self:buffer('output', x):resizeAs(x:narrow(self.dimension, self.index, len)):copy(x:narrow(self.dimension, self.index, len))
  return self.output
end

function Narrow:updateGradInput(input, gradOutput)
  local len = self:span(input)
  local gi = self:buffer('gradInput', gradOutput):resizeAs(input):zero()
  gi:narrow(self.dimension, self.index, len):copy(gradOutput)
  return gi
end

function Narrow:__tostring()
  return ('%s(%d, %d, %d)'):format(self.__typename, self.dimension, self.index, self.length)
end

return Narrow
