-- nn/ClassNLLCriterion.lua -- the negative log-likelihood of the target classes, for
-- input that holds log-probabilities (after nn.LogSoftMax; core/nn/loss.c):
--   nn.ClassNLLCriterion(weights = nil, sizeAverage = true)
-- input [K] with a target number, or [N,K] with a target tensor of N labels (1-based,
-- as Torch7; a LongTensor, or any tensor holding integers). loss = -sum_i input[i,
-- target_i], divided by N when sizeAverage. Per-class weights are not supported (an error).
local fathom = require 'fathom'
local class = require 'fathom.class'
local Criterion = require 'fathom.nn.Criterion'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local NLL, parent = class('nn.ClassNLLCriterion', Criterion)

function NLL:__init(weights, sizeAverage)
  parent.__init(self)
  if weights ~= nil then error('nn.ClassNLLCriterion: per-class weights are not supported', 2) end
  self.sizeAverage = sizeAverage ~= false
  self.target = fathom.LongTensor(1)
end

-- input as [N,K] and target as a LongTensor [N].
function NLL:_args(input, target)
  local x = self:checkInput(input, { 1, 2 }, '[K] or [N,K] log-probabilities')
  local N = x:dim() == 1 and 1 or x:size(1)
  local t
  if type(target) == 'number' then
    if x:dim() ~= 1 then
      error(('%s: a number target needs [K] input; for [N,K] input give a tensor of N labels')
        :format(self.__typename), 3)
    end
    t = self.target:resize(1):fill(target)
  elseif fathom.isTensor(target) then
    if target:nElement() ~= N or target:dim() > 2 then
      error(('%s: target must hold %d label%s for input %s, got %s'):format(self.__typename, N,
        N == 1 and '' or 's', table.concat(x:size():totable(), 'x'),
        table.concat(target:size():totable(), 'x')), 3)
    end
    t = target:dtype() == 'long' and target or self.target:resize(N):copy(target)
    if t:dim() ~= 1 or not t:isContiguous() then t = self.target:resize(N):copy(t) end
  else
    error(('%s: target must be a number or a tensor of labels, got %s'):format(self.__typename,
      type(target)), 3)
  end
  return x:dim() == 1 and x:view(1, x:size(1)) or x, t
end

function NLL:updateOutput(input, target)
  local x, t = self:_args(input, target)
  check(C.ft_nll_forward(x.p, t.p, 1, self.sizeAverage and 1 or 0, F.dbl), self.__typename)
  self.output = F.dbl[0]
  return self.output
end

function NLL:updateGradInput(input, target)
  local x, t = self:_args(input, target)
  local gi = self:buffer('gradInput', x):resizeAs(input)
  check(C.ft_nll_backward(x.p, t.p, 1, self.sizeAverage and 1 or 0, 1, gi:view(x:size()).p),
    self.__typename)
  return gi
end

return NLL
