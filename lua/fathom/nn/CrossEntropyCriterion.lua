-- nn/CrossEntropyCriterion.lua -- LogSoftMax followed by ClassNLLCriterion, for raw
-- scores: the classification loss of the paper's networks.
--   nn.CrossEntropyCriterion(weights = nil, sizeAverage = true)
-- input [K] with a target number, or [N,K] with N labels (1-based).
local class = require 'fathom.class'
local Criterion = require 'fathom.nn.Criterion'

local CE, parent = class('nn.CrossEntropyCriterion', Criterion)

function CE:__init(weights, sizeAverage)
  parent.__init(self)
  local nn = require 'fathom.nn'
  if weights ~= nil then error('nn.CrossEntropyCriterion: per-class weights are not supported', 2) end
  self.lsm = nn.LogSoftMax()
  self.nll = nn.ClassNLLCriterion(nil, sizeAverage)
  self.sizeAverage = self.nll.sizeAverage
end

function CE:updateOutput(input, target)
  self.nll.sizeAverage = self.sizeAverage
  self.lsm:updateOutput(input)
  self.output = self.nll:updateOutput(self.lsm.output, target)
  return self.output
end

-- Recomputes the log-softmax (N x K, cheap) so backward is right even when it is not
-- preceded by forward on the same input.
function CE:updateGradInput(input, target)
  self.nll.sizeAverage = self.sizeAverage
  self.lsm:updateOutput(input)
  local g = self.nll:updateGradInput(self.lsm.output, target)
  self.gradInput = self.lsm:updateGradInput(input, g)
  return self.gradInput
end

return CE
