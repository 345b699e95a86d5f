-- nn/Identity.lua -- passes its input (and the gradient) through unchanged, sharing the
-- tensors: the shortcut branch of a residual block whose shapes do not change.
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Identity = class('nn.Identity', Module)

function Identity:updateOutput(input)
  self.output = input
  return input
end

function Identity:updateGradInput(input, gradOutput)
  self.gradInput = gradOutput
  return gradOutput
end

return Identity
