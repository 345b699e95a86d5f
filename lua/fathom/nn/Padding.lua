-- nn/Padding.lua -- |pad| entries of `value` added along dimension dim: after the input
-- when pad > 0, before it when pad < 0 (Torch7's nn.Padding(dim, pad, nInputDim, value,
-- index); index, when given, puts them before position index instead). With nInputDim,
-- an input with more dimensions is a batch and dim counts from its second dimension.
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Padding, parent = class('nn.Padding', Module)

function Padding:__init(dim, pad, nInputDim, value, index)
  parent.__init(self)
  if type(dim) ~= 'number' or dim < 1 or type(pad) ~= 'number' then
    error('nn.Padding: expected (dim, pad[, nInputDim, value, index]) with dim >= 1', 2)
  end
  self.dim, self.pad, self.nInputDim, self.value, self.index = dim, pad, nInputDim, value or 0, index or 1
end

-- The dimension padded, and where the input goes in the output (its first index there).
function Padding:place(x)
  local d = self.dim
  if self.nInputDim and x:dim() > self.nInputDim then d = d + 1 end
  if d > x:dim() then self:shapeError(x, 'at least ' .. d .. ' dimensions') end
  local pad = math.abs(self.pad)
  local at
  if self.index ~= 1 then
    at = self.index - 1 -- input[1 .. index-1], padding, input[index ..]
    if at < 0 or at > x:size(d) then error(self.__typename .. ': index out of range', 3) end
  elseif self.pad > 0 then at = x:size(d) else at = 0 end
  return d, pad, at
end

function Padding:updateOutput(input)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  local d, pad, at = self:place(x)
  local sizes = x:size():totable()
  local n = sizes[d]
  sizes[d] = n + pad
  local y = self:buffer('output', x):resize(unpack(sizes)):fill(self.value)
  if at > 0 then y:narrow(d, 1, at):copy(x:narrow(d, 1, at)) end
  if n - at > 0 then y:narrow(d, at + pad + 1, n - at):copy(x:narrow(d, at + 1, n - at)) end
  return y
end

function Padding:updateGradInput(input, gradOutput)
  local d, pad, at = self:place(input)
  local n = input:size(d)
  local gi = self:buffer('gradInput', gradOutput):resizeAs(input)
  if at > 0 then gi:narrow(d, 1, at):copy(gradOutput:narrow(d, 1, at)) end
  if n - at > 0 then gi:narrow(d, at + 1, n - at):copy(gradOutput:narrow(d, at + pad + 1, n - at)) end
  return gi
end

return Padding
