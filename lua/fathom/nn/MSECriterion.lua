-- nn/MSECriterion.lua -- the mean squared error sum((x - y)^2) / n (sizeAverage, the
-- default) or the plain sum; the gradient is 2 (x - y) / n.
local class = require 'fathom.class'
local Criterion = require 'fathom.nn.Criterion'

local MSECriterion, parent = class('nn.MSECriterion', Criterion)

function MSECriterion:__init(sizeAverage)
  parent.__init(self)
  self.sizeAverage = sizeAverage == nil and true or sizeAverage
end

function MSECriterion:check(input, target)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  local y = self:checkInput(target, nil, "the input's size", 'target')
  if x:nElement() ~= y:nElement() then
    error(('%s: input has %d elements, target %d'):format(self.__typename, x:nElement(), y:nElement()), 3)
  end
  return x, y:viewAs(x)
end

function MSECriterion:updateOutput(input, target)
  local x, y = self:check(input, target)
  local d = self:buffer('diff', x):add(x, -1, y)
  local loss = d:dot(d)
  if self.sizeAverage then loss = loss / x:nElement() end
  self.output = loss
  return loss
end

function MSECriterion:updateGradInput(input, target)
  local x, y = self:check(input, target)
  local gi = self:buffer('gradInput', x):add(x, -1, y)
  gi:mul(self.sizeAverage and 2 / x:nElement() or 2)
  return gi
end

return MSECriterion
