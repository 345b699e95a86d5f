-- nn/MulConstant.lua -- multiplies by a fixed number: the test-time scaling of a
-- stochastic-depth branch by its survival probability (paper eq. 5).
-- nn.MulConstant(c, true) scales in place (output is the input; gradInput is gradOutput).
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local MulConstant, parent = class('nn.MulConstant', Module)

function MulConstant:__init(constant, inplace)
  parent.__init(self)
  if type(constant) ~= 'number' then
    error('nn.MulConstant: constant must be a number, got ' .. type(constant), 2)
  end
  self.constant_scalar = constant
  self.inplace = inplace and true or false
end

function MulConstant:updateOutput(input)
  local x = self:checkInput(input, nil, 'a float or double tensor')
  if self.inplace then
    self.output:set(input)
    self.output:mul(self.constant_scalar)
  else
    self:buffer('output', x):resizeAs(x):copy(x):mul(self.constant_scalar)
  end
  return self.output
end

function MulConstant:updateGradInput(input, gradOutput)
  local g = self:checkInput(gradOutput, nil, 'a float or double tensor', 'gradOutput')
  if self.inplace then
    self.gradInput:set(gradOutput)
    self.gradInput:mul(self.constant_scalar)
    -- restore the input, as Torch7's in-place version does
    if self.constant_scalar ~= 0 then input:div(self.constant_scalar) end
  else
    self:buffer('gradInput', g):resizeAs(g):copy(g):mul(self.constant_scalar)
  end
  return self.gradInput
end

function MulConstant:__tostring()
  return ('%s(%g)%s'):format(self.__typename, self.constant_scalar, self.inplace and ' (in place)' or '')
end

return MulConstant
