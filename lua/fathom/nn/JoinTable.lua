-- nn/JoinTable.lua -- a table of tensors concatenated along one dimension:
-- nn.JoinTable(dim[, nInputDims]); with nInputDims, inputs with more dimensions are
-- batches and dim counts from their second dimension. gradInput is a table of slices.
local fathom = require 'fathom'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local JoinTable, parent = class('nn.JoinTable', Module)

function JoinTable:__init(dim, nInputDims)
  parent.__init(self)
  if type(dim) ~= 'number' or dim < 1 then error('nn.JoinTable: dim must be a positive integer', 2) end
  self.dimension, self.nInputDims = dim, nInputDims
  self.gradInput = {}
end

function JoinTable:dimFor(x)
  if self.nInputDims and x:dim() > self.nInputDims then return self.dimension + 1 end
  return self.dimension
end

function JoinTable:updateOutput(input)
  if type(input) ~= 'table' or fathom.isTensor(input) or #input == 0 then
    error(self.__typename .. ': expected a table of tensors', 2)
  end
  for i, x in ipairs(input) do
    if not fathom.isTensor(x) then error(('%s: input %d is not a tensor'):format(self.__typename, i), 2) end
  end
  local d = self:dimFor(input[1])
  self.output = fathom.cat(input, d)
  return self.output
end

function JoinTable:updateGradInput(input, gradOutput)
  local d = self:dimFor(input[1])
  local offset = 1
  for i, x in ipairs(input) do
    local n = x:size(d)
    local gi = self.gradInput[i]
    if not fathom.isTensor(gi) or gi:type() ~= gradOutput:type() then gi = fathom.Tensor():type(gradOutput:type()) end
    gi:resizeAs(x):copy(gradOutput:narrow(d, offset, n))
    self.gradInput[i] = gi
    offset = offset + n
  end
  for i = #input + 1, #self.gradInput do self.gradInput[i] = nil end
  return self.gradInput
end

function JoinTable:clearState()
  self.output, self.gradInput = fathom.Tensor(), {}
  return self
end

return JoinTable
