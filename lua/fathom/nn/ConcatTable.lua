-- nn/ConcatTable.lua -- every child sees the same input; the output is the table of
-- their outputs, and the input's gradient is the sum of the children's. With
-- CAddTable it makes a residual block: ConcatTable(branch, shortcut) -> CAddTable.
local class = require 'fathom.class'
local Container = require 'fathom.nn.Container'

local ConcatTable, parent = class('nn.ConcatTable', Container)

function ConcatTable:__init()
  parent.__init(self)
  self.output = {}
end

function ConcatTable:updateOutput(input)
  for i, m in ipairs(self.modules) do self.output[i] = m:updateOutput(input) end
  for i = #self.modules + 1, #self.output do self.output[i] = nil end
  return self.output
end

function ConcatTable:_checkGradOutput(gradOutput)
  if type(gradOutput) ~= 'table' or #gradOutput ~= #self.modules then
    error(('%s: expected gradOutput as a table of %d tensors, got %s'):format(self.__typename,
      #self.modules, type(gradOutput) == 'table' and #gradOutput .. ' entries' or type(gradOutput)), 3)
  end
end

-- gradInput = sum over children of child_gradInput(i), each computed by `step`.
function ConcatTable:_sumGradInputs(input, gradOutput, step)
  self:_checkGradOutput(gradOutput)
  for i, m in ipairs(self.modules) do
    local gi = step(m, input, gradOutput[i])
    if i == 1 then
      self:buffer('gradInput', gi):resizeAs(gi):copy(gi)
    else
      self.gradInput:add(gi)
    end
  end
  return self.gradInput
end

function ConcatTable:updateGradInput(input, gradOutput)
  return self:_sumGradInputs(input, gradOutput, function(m, x, g) return m:updateGradInput(x, g) end)
end

function ConcatTable:backward(input, gradOutput, scale)
  scale = scale or 1
  return self:_sumGradInputs(input, gradOutput, function(m, x, g) return m:backward(x, g, scale) end)
end

function ConcatTable:accGradParameters(input, gradOutput, scale)
  self:_checkGradOutput(gradOutput)
  for i, m in ipairs(self.modules) do m:accGradParameters(input, gradOutput[i], scale or 1) end
end

-- Torch7's layout:
-- nn.ConcatTable {
--   input
--     |`-> (1): nn.Linear(3 -> 3)
--      `-> (2): nn.Identity
--      ... -> output
-- }
function ConcatTable:__tostring()
  local tab, line = '  ', '\n'
  local next, lastNext = '  |`-> ', '   `-> '
  local ext, extLast = '  |    ', '       '
  local s = self.__typename .. ' {' .. line .. tab .. 'input'
  for i = 1, #self.modules do
    local last = i == #self.modules
    local child = tostring(self.modules[i]):gsub(line, line .. tab .. (last and extLast or ext))
    s = s .. line .. tab .. (last and lastNext or next) .. '(' .. i .. '): ' .. child
  end
  return s .. line .. tab .. '   ... -> output' .. line .. '}'
end

return ConcatTable
