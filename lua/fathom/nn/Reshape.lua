-- nn/Reshape.lua -- the input seen with other sizes: nn.Reshape(2, 8) turns 16 elements
-- into 2x8, and a batch N x 16 into N x 2 x 8 (the first dimension is kept when the
-- input has more elements than the sizes hold; nn.Reshape(..., true) always keeps it).
-- Output and gradient are views (or contiguous copies of non-contiguous tensors).
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Reshape, parent = class('nn.Reshape', Module)

function Reshape:__init(...)
  parent.__init(self)
  local args = { ... }
  if type(args[1]) == 'table' then -- nn.Reshape(torch.LongStorage{2, 8}[, batchMode])
    local b = args[2]
    args = { unpack(args[1]) }
    args[#args + 1] = b
  end
  self.size, self.nelement, self.batchMode = {}, 1, nil
  for _, v in ipairs(args) do
    if type(v) == 'boolean' then self.batchMode = v
    elseif type(v) == 'number' and v >= 1 and v == math.floor(v) then
      self.size[#self.size + 1] = v
      self.nelement = self.nelement * v
    else error('nn.Reshape: sizes must be positive integers, got ' .. tostring(v), 2) end
  end
  if #self.size == 0 then error('nn.Reshape: give at least one size', 2) end
end

function Reshape:updateOutput(input)
  local x = self:checkInput(input, nil, ('%d elements (or a batch of them)'):format(self.nelement))
  local n = x:nElement()
  if not self.batchMode and n == self.nelement then
    self.output = x:view(unpack(self.size))
  elseif self.batchMode ~= false and x:dim() >= 1 and n == x:size(1) * self.nelement then
    self.output = x:view(x:size(1), unpack(self.size))
  else
    self:shapeError(input, ('%d elements per sample (sizes %s)'):format(self.nelement, table.concat(self.size, 'x')))
  end
  return self.output
end

function Reshape:updateGradInput(input, gradOutput)
  self.gradInput = gradOutput:contiguous():view(input:size())
  return self.gradInput
end

function Reshape:__tostring()
  return self.__typename .. '(' .. table.concat(self.size, 'x') .. ')'
end

return Reshape
