-- nn/Criterion.lua -- the base of loss functions, with Torch7's protocol:
-- forward(input, target) returns the loss as a number (also kept in self.output),
-- backward(input, target) returns d loss / d input (self.gradInput, a buffer the
-- criterion owns). Subclasses implement updateOutput and updateGradInput.
local fathom = require 'fathom'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Criterion = class('nn.Criterion')

function Criterion:__init()
  self.gradInput = fathom.Tensor()
  self.output = 0
end

function Criterion:updateOutput(input, target) return self.output end
function Criterion:updateGradInput(input, target) return self.gradInput end

function Criterion:forward(input, target) return self:updateOutput(input, target) end
function Criterion:backward(input, target) return self:updateGradInput(input, target) end

function Criterion:__call(input, target)
  self.output = self:forward(input, target)
  self.gradInput = self:backward(input, target)
  return self.output, self.gradInput
end

function Criterion:type(name)
  Module.retypeFields(self, name)
  return self
end
function Criterion:float() return self:type('float') end
function Criterion:double() return self:type('double') end
-- To the GPU, as Module:cuda() (criteria also work without it: their buffers follow
-- the input's type).
function Criterion:cuda() return self:type('fathom.CudaTensor') end

function Criterion:clearState()
  if fathom.isTensor(self.gradInput) then self.gradInput = fathom.Tensor():type(self.gradInput:type()) end
  return self
end

function Criterion:__tostring() return self.__typename end

-- The shared helpers of Module (checkInput, buffer, shapeError, checkSize).
Criterion.checkInput = Module.checkInput
Criterion.buffer = Module.buffer
Criterion.shapeError = Module.shapeError
Criterion.checkSize = Module.checkSize
function Criterion:paramType() end

return Criterion
