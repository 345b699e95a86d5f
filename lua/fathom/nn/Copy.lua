-- nn/Copy.lua -- converts between tensor types: nn.Copy(intype, outtype) gives an output
-- of outtype ('torch.DoubleTensor', 'fathom.FloatTensor', 'float' ...) and a gradient of
-- intype. forceCopy copies even when the types match (else the input itself is passed
-- on); dontCast keeps the types when the module is converted with :type().
local fathom = require 'fathom'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Copy, parent = class('nn.Copy', Module)

local function key_of(name)
  if name == nil then return nil end
  local k = tostring(name):gsub('^%a+%.', ''):gsub('Tensor$', ''):lower()
  if not ({ float = 1, double = 1, long = 1, byte = 1 })[k] then
    error('nn.Copy: unknown tensor type ' .. tostring(name), 3)
  end
  return k
end

function Copy:__init(intype, outtype, forceCopy, dontCast)
  parent.__init(self)
  self.intype, self.outtype = key_of(intype), key_of(outtype)
  self.forceCopy, self.dontCast = forceCopy and true or false, dontCast and true or false
end

function Copy:updateOutput(input)
  if not fathom.isTensor(input) then error(self.__typename .. ': expected a tensor', 2) end
  local out = self.outtype or input:dtype()
  if out == input:dtype() and not self.forceCopy then self.output = input return input end
  if not fathom.isTensor(self.output) or self.output:dtype() ~= out then self.output = fathom.Tensor():type(out) end
  self.output:resize(input:size()):copy(input)
  return self.output
end

function Copy:updateGradInput(input, gradOutput)
  local key = self.intype or input:dtype()
  if key == gradOutput:dtype() and not self.forceCopy then self.gradInput = gradOutput return gradOutput end
  if not fathom.isTensor(self.gradInput) or self.gradInput:dtype() ~= key then self.gradInput = fathom.Tensor():type(key) end
  self.gradInput:resize(gradOutput:size()):copy(gradOutput)
  return self.gradInput
end

function Copy:type(name)
  if not self.dontCast then return parent.type(self, name) end
  return self
end

return Copy
