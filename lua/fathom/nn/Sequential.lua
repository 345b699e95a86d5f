-- nn/Sequential.lua -- modules applied one after another: the output of module i is
-- the input of module i+1. backward runs each child's backward once, so children that
-- compute both gradients in one kernel (batch normalisation) do so.
local class = require 'fathom.class'
local Container = require 'fathom.nn.Container'

local Sequential = class('nn.Sequential', Container)

-- Torch7's insert(module, index) and remove(index = last).
function Sequential:insert(module, index)
  return self:add(module, index or #self.modules + 1)
end

function Sequential:remove(index)
  index = index or #self.modules
  if type(index) ~= 'number' or index < 1 or index > #self.modules then
    error(('%s:remove: index %s out of range 1..%d'):format(self.__typename, tostring(index),
      #self.modules), 2)
  end
  return table.remove(self.modules, index)
end

function Sequential:updateOutput(input)
  local cur = input
  for i = 1, #self.modules do cur = self.modules[i]:updateOutput(cur) end
  self.output = cur
  return cur
end

-- The input module i saw.
local function input_of(self, input, i)
  if i == 1 then return input end
  return self.modules[i - 1].output
end

function Sequential:updateGradInput(input, gradOutput)
  local cur = gradOutput
  for i = #self.modules, 1, -1 do
    cur = self.modules[i]:updateGradInput(input_of(self, input, i), cur)
  end
  self.gradInput = cur
  return cur
end

function Sequential:accGradParameters(input, gradOutput, scale)
  scale = scale or 1
  local cur = gradOutput
  for i = #self.modules, 1, -1 do
    local m = self.modules[i]
    m:accGradParameters(input_of(self, input, i), cur, scale)
    cur = m.gradInput
  end
end

function Sequential:backward(input, gradOutput, scale)
  scale = scale or 1
  local cur = gradOutput
  for i = #self.modules, 1, -1 do
    cur = self.modules[i]:backward(input_of(self, input, i), cur, scale)
  end
  self.gradInput = cur
  return cur
end

-- Torch7's layout:
-- nn.Sequential {
--   [input -> (1) -> (2) -> output]
--   (1): nn.Linear(10 -> 20)
--   (2): nn.ReLU
-- }
function Sequential:__tostring()
  local tab, line, arrow = '  ', '\n', ' -> '
  local s = self.__typename .. ' {' .. line .. tab .. '[input'
  for i = 1, #self.modules do s = s .. arrow .. '(' .. i .. ')' end
  s = s .. arrow .. 'output]'
  for i = 1, #self.modules do
    local child = tostring(self.modules[i]):gsub(line, line .. tab)
    s = s .. line .. tab .. '(' .. i .. '): ' .. child
  end
  return s .. line .. '}'
end

return Sequential
