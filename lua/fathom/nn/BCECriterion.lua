-- nn/BCECriterion.lua -- binary cross-entropy between probabilities x and targets y:
-- -sum(w * (y log(x) + (1 - y) log(1 - x))) / n (sizeAverage, the default). Optional
-- weights (a tensor of one sample's size) scale each element. As in Torch7, eps = 1e-12
-- keeps the logarithms finite at 0 and 1.
local class = require 'fathom.class'
local Criterion = require 'fathom.nn.Criterion'

local BCECriterion, parent = class('nn.BCECriterion', Criterion)
local EPS = 1e-12

function BCECriterion:__init(weights, sizeAverage)
  parent.__init(self)
  self.weights = weights
  self.sizeAverage = sizeAverage == nil and true or sizeAverage
end

BCECriterion.check = require('fathom.nn.MSECriterion').check

function BCECriterion:weightsFor(x)
  if not self.weights then return nil end
  local w = self.weights
  if w:nElement() == x:nElement() then return w:viewAs(x) end
  if x:dim() >= 2 and w:nElement() * x:size(1) == x:nElement() then
    local sizes = x:size():totable()
    sizes[1] = 1
    return w:contiguous():view(unpack(sizes)):expandAs(x)
  end
  error(('%s: weights of %d elements do not match the input'):format(self.__typename, w:nElement()), 3)
end

function BCECriterion:updateOutput(input, target)
  local x, y = self:check(input, target)
  local a = self:buffer('buf', x):resizeAs(x):copy(x):add(EPS):log():cmul(y)            -- y log(x + eps)
  local b = self:buffer('buf2', x):mul(x, -1):add(1 + EPS):log()       -- log(1 - x + eps)
  local c = self:buffer('buf3', x):mul(y, -1):add(1):cmul(b)           -- (1 - y) log(...)
  a:add(c)
  local w = self:weightsFor(x)
  if w then a:cmul(w) end
  local loss = -a:sum()
  if self.sizeAverage then loss = loss / x:nElement() end
  self.output = loss
  return loss
end

-- d/dx = -w (y - x) / ((x + eps)(1 - x + eps)) / n
function BCECriterion:updateGradInput(input, target)
  local x, y = self:check(input, target)
  local den = self:buffer('buf', x):mul(x, -1):add(1 + EPS)
  den:cmul(self:buffer('buf2', x):resizeAs(x):copy(x):add(EPS))
  local gi = self:buffer('gradInput', x):add(x, -1, y):cdiv(den)
  local w = self:weightsFor(x)
  if w then gi:cmul(w) end
  if self.sizeAverage then gi:div(x:nElement()) end
  return gi
end

return BCECriterion
