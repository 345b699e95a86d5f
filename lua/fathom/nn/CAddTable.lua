-- nn/CAddTable.lua -- the element-wise sum of a table of same-sized tensors.
-- nn.CAddTable(true) works in place: the output IS input[1] (its storage is reused),
-- and every gradInput[i] shares gradOutput, as Torch7's. Use it only when nothing else
-- needs input[1] afterwards (a fused BN+ReLU that produced input[1] would), and put
-- nothing that overwrites its gradOutput (nn.ReLU(true)) at the end of a branch
-- whose gradient is shared this way.
local fathom = require 'fathom'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local CAddTable, parent = class('nn.CAddTable', Module)

function CAddTable:__init(inplace)
  parent.__init(self)
  self.inplace = inplace and true or false
  self.gradInput = {}
end

function CAddTable:_check(input)
  if type(input) ~= 'table' or #input < 1 then
    self:shapeError(input, 'a table of one or more same-sized tensors')
  end
  for i = 1, #input do
    local x = input[i]
    if not fathom.isTensor(x) or not x:isSameSizeAs(input[1]) or x:type() ~= input[1]:type() then
      error(('%s: input[%d] is %s %s but input[1] is %s %s (a table of same-sized tensors of one '
        .. 'type expected)'):format(self.__typename, i, Module.shapeOf(x),
        fathom.isTensor(x) and x:type() or '', Module.shapeOf(input[1]),
        fathom.isTensor(input[1]) and input[1]:type() or ''), 3)
    end
  end
end

function CAddTable:updateOutput(input)
  self:_check(input)
  if self.inplace then
    self.output:set(input[1])
  else
    self:buffer('output', input[1]):resizeAs(input[1]):copy(input[1])
  end
  for i = 2, #input do self.output:add(input[i]) end
  return self.output
end

function CAddTable:updateGradInput(input, gradOutput)
  for i = 1, #input do
    if self.inplace then
      self.gradInput[i] = self.gradInput[i] or fathom.Tensor()
      self.gradInput[i]:set(gradOutput)
    else
      local g = self.gradInput[i]
      if not fathom.isTensor(g) or g:type() ~= gradOutput:type() then
        g = fathom.Tensor():type(gradOutput:type())
        self.gradInput[i] = g
      end
      g:resizeAs(gradOutput):copy(gradOutput)
    end
  end
  for i = #input + 1, #self.gradInput do self.gradInput[i] = nil end
  return self.gradInput
end

function CAddTable:__tostring()
  return self.inplace and self.__typename .. ' (in place)' or self.__typename
end

return CAddTable
