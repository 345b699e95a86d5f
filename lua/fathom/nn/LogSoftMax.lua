-- nn/LogSoftMax.lua -- log(softmax(x)) over the last dimension of [K] or [N,K] input,
-- computed stably (the row maximum is subtracted first; core/nn/loss.c).
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local LogSoftMax = class('nn.LogSoftMax', Module)

local function as2d(t) return t:dim() == 1 and t:view(1, t:size(1)) or t end

function LogSoftMax:updateOutput(input)
  local x = self:checkInput(input, { 1, 2 }, '[K] or [N,K]')
  local out = self:buffer('output', x):resizeAs(x)
  check(C.ft_log_softmax_forward(as2d(x).p, as2d(out).p), self.__typename)
  return out
end

function LogSoftMax:updateGradInput(input, gradOutput)
  local g = self:checkInput(gradOutput, nil, 'the output\'s size', 'gradOutput')
  self:checkSize(g, self.output:size(), 'gradOutput')
  local gi = self:buffer('gradInput', g):resizeAs(g)
  check(C.ft_log_softmax_backward(as2d(self.output).p, as2d(g).p, as2d(gi).p), self.__typename)
  return gi
end

return LogSoftMax
