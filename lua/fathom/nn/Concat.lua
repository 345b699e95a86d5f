-- nn/Concat.lua -- every child applied to the same input, the outputs concatenated along
-- dimension dim (Torch7's nn.Concat; fb.resnet.torch's shortcut "A" is
-- Concat(2){Identity, MulConstant(0)}). The gradient is the sum of the children's
-- gradients, each from its slice of gradOutput.
local fathom = require 'fathom'
local class = require 'fathom.class'
local Container = require 'fathom.nn.Container'

local Concat, parent = class('nn.Concat', Container)

function Concat:__init(dim)
  parent.__init(self)
  if type(dim) ~= 'number' or dim < 1 then error('nn.Concat: dim must be a positive integer', 2) end
  self.dimension = dim
end

function Concat:updateOutput(input)
  if #self.modules == 0 then error(self.__typename .. ': no modules to concatenate', 2) end
  local outs = {}
  for i, m in ipairs(self.modules) do outs[i] = m:updateOutput(input) end
  self.output = fathom.cat(outs, self.dimension)
  return self.output
end

-- Calls fn(module, slice of gradOutput) per child, summing the gradients it returns.
local function each_slice(self, input, gradOutput, fn)
  local offset = 1
  local gi
  for _, m in ipairs(self.modules) do
    local n = m.output:size(self.dimension)
    local g = fn(m, gradOutput:narrow(self.dimension, offset, n):contiguous())
    if g then
      if not gi then gi = self:buffer('gradInput', g):resizeAs(g):copy(g) else gi:add(g) end
    end
    offset = offset + n
  end
  if gi then self.gradInput = gi end
  return self.gradInput
end

function Concat:updateGradInput(input, gradOutput)
  return each_slice(self, input, gradOutput, function(m, g) return m:updateGradInput(input, g) end)
end

function Concat:accGradParameters(input, gradOutput, scale)
  each_slice(self, input, gradOutput, function(m, g) m:accGradParameters(input, g, scale or 1) end)
end

function Concat:backward(input, gradOutput, scale)
  return each_slice(self, input, gradOutput, function(m, g) return m:backward(input, g, scale or 1) end)
end

function Concat:__tostring()
  local s = self.__typename .. ' {'
  for i, m in ipairs(self.modules) do s = s .. '\n  (' .. i .. '): ' .. tostring(m):gsub('\n', '\n  ') end
  return s .. '\n}'
end

return Concat
