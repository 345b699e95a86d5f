-- nn/Dropout.lua -- in training, zero each element with probability p and scale the
-- survivors by 1/(1-p) (Torch7's default "v2" dropout), so evaluation is the identity.
-- nn.Dropout(p = 0.5, v1, inplace): v1 scales at evaluation (by 1-p) instead. The mask
-- drawn by forward (self.noise) is the one backward applies.
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Dropout, parent = class('nn.Dropout', Module)

function Dropout:__init(p, v1, inplace)
  parent.__init(self)
  self.p = p or 0.5
  if type(self.p) ~= 'number' or self.p < 0 or self.p >= 1 then
    error('nn.Dropout: p must be a number in [0, 1), got ' .. tostring(p), 2)
  end
  self.v2 = not v1
  self.inplace = inplace and true or false
end

-- The mask for input x: one Bernoulli(1-p) draw per element (per plane in SpatialDropout).
function Dropout:drawNoise(x)
  return self:buffer('noise', x):resizeAs(x):bernoulli(1 - self.p)
end

function Dropout:updateOutput(input)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  if self.inplace and x == input then self.output:set(input) else self:buffer('output', x):resizeAs(x):copy(x) end
  if self.train and self.p > 0 then
    local noise = self:drawNoise(x)
    if self.v2 then noise:div(1 - self.p) end
    self.output:cmul(noise:expandAs(x))
  elseif not self.train and not self.v2 then
    self.output:mul(1 - self.p)
  end
  return self.output
end

function Dropout:updateGradInput(input, gradOutput)
  local g = self:checkInput(gradOutput, nil, "the output's size", 'gradOutput')
  self:checkSize(g, self.output:size(), 'gradOutput')
  if self.inplace and g == gradOutput then self.gradInput:set(gradOutput)
  else self:buffer('gradInput', g):resizeAs(g):copy(g) end
  if self.train and self.p > 0 then
    self.gradInput:cmul(self.noise:expandAs(g))
  elseif not self.train and not self.v2 then
    self.gradInput:mul(1 - self.p)
  end
  return self.gradInput
end

function Dropout:setp(p) self.p = p end

function Dropout:clearState()
  self.noise = nil
  return parent.clearState(self)
end

function Dropout:__tostring()
  return ('%s(%g%s)'):format(self.__typename, self.p, self.inplace and ', in place' or '')
end

return Dropout
