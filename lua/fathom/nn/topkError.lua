-- nn/topkError.lua -- nn.topkError(output, target, k = 1): how many samples of a batch
-- have their target outside the k highest scores (ties broken by lower class index,
-- a stable descending sort), and that count as a fraction of the batch.
--   local wrong, rate = nn.topkError(model.output, labels, 5)
-- output [N,K] (or [K]) scores of any monotone kind (logits, log-probabilities);
-- target: N labels, 1-based (a LongTensor, or any tensor of integers).
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local cells = require('ffi').new('int64_t[1]')
local labels = nil

return function(output, target, k)
  k = k or 1
  if not fathom.isTensor(output) or (output:dim() ~= 1 and output:dim() ~= 2) then
    error('nn.topkError: output must be a [N,K] or [K] tensor of scores', 2)
  end
  local x = output:dim() == 1 and output:view(1, output:size(1)) or output
  if not x:isContiguous() then x = x:contiguous() end
  local N = x:size(1)
  if type(target) == 'number' then target = fathom.LongTensor({ target }) end
  if not fathom.isTensor(target) or target:nElement() ~= N then
    error(('nn.topkError: target must hold %d labels'):format(N), 2)
  end
  if type(k) ~= 'number' or k ~= math.floor(k) then error('nn.topkError: k must be an integer', 2) end
  local t = target
  if t:dtype() ~= 'long' or t:dim() ~= 1 or not t:isContiguous() then
    labels = labels or fathom.LongTensor()
    t = labels:resize(N):copy(target)
  end
  check(C.ft_topk_errors(x.p, t.p, 1, k, cells), 'nn.topkError')
  local wrong = tonumber(cells[0])
  return wrong, wrong / N
end
