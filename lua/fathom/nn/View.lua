-- nn/View.lua -- reshapes its input without copying, as Torch7's nn.View:
--   nn.View(64)             -- [N,64,1,1] -> [N,64] in a batch, [64,1,1] -> [64]
--   nn.View(-1, 8)          -- one size may be -1: inferred
--   nn.View(64):setNumInputDims(3)   -- say how many trailing dims one sample has, so
--                                    -- that a batch of 1 keeps its batch dimension
-- When the input holds a whole number (> 1) of views, the leading dimension is the batch.
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local View, parent = class('nn.View', Module)

function View:__init(...)
  parent.__init(self)
  local first = ...
  local sizes = type(first) == 'table' and first or { ... }
  self.size = {}
  self.numElements = 1
  local infer = false
  for i = 1, #sizes do
    local s = sizes[i]
    if type(s) ~= 'number' or s ~= math.floor(s) or (s < 1 and s ~= -1) then
      error('nn.View: sizes must be positive integers or -1, got ' .. tostring(s), 2)
    end
    if s == -1 then
      if infer then error('nn.View: only one size may be -1', 2) end
      infer = true
    else
      self.numElements = self.numElements * s
    end
    self.size[i] = s
  end
  if #self.size == 0 then error('nn.View: give at least one size', 2) end
  self.inferDim = infer
end

function View:setNumInputDims(n)
  self.numInputDims = n
  return self
end

-- The batch size, or nil when the input is one sample (Torch7's rule).
function View:_batchSize(input)
  local nd = input:dim()
  local maxdim = self.numInputDims or nd
  if maxdim > nd then
    error(('%s: numInputDims is %d but the input has %d dimensions'):format(self.__typename,
      maxdim, nd), 3)
  end
  local ne = 1
  for i = nd, nd - maxdim + 1, -1 do ne = ne * input:size(i) end
  if ne % self.numElements ~= 0 then
    error(('%s: input %s does not split into views of %s'):format(self.__typename,
      Module.shapeOf(input), table.concat(self.size, 'x')), 3)
  end
  local bsz = self.inferDim and 1 or ne / self.numElements
  for i = nd - maxdim, 1, -1 do bsz = bsz * input:size(i) end
  if bsz == 1 and (not self.numInputDims or nd <= self.numInputDims) then return nil end
  return bsz
end

function View:updateOutput(input)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  local bsz = self:_batchSize(x)
  local sizes = {}
  for i = 1, #self.size do sizes[i] = self.size[i] end
  if bsz then table.insert(sizes, 1, bsz) end
  self.output = x:view(sizes)
  return self.output
end

function View:updateGradInput(input, gradOutput)
  local g = self:checkInput(gradOutput, nil, 'the output\'s size', 'gradOutput')
  if g:nElement() ~= input:nElement() then
    error(('%s: gradOutput has %d elements, the input %d'):format(self.__typename, g:nElement(),
      input:nElement()), 2)
  end
  self.gradInput = g:view(input:size())
  return self.gradInput
end

function View:__tostring()
  return self.__typename .. '(' .. table.concat(self.size, 'x') .. ')'
end

return View
