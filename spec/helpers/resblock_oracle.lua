-- spec/helpers/resblock_oracle.lua -- the test oracle of nn.ResidualDrop: the same block
-- composed of plain modules, against which the fused op is checked.
local M = {}
-- The same block built from plain modules, with a fixed branch multiplier s (0: the
-- branch is absent, as a closed gate), holding copies of `block`'s parameters and
-- running statistics: the reference the fused op is checked against.
--   s ~= 0: Sequential{ ConcatTable{ Sequential{conv, BN, ReLU, conv, BN[, ...], MulConstant(s)},
--                                    shortcut }, CAddTable, ReLU }
--   s == 0: Sequential{ shortcut, ReLU }
-- Its parameters() come in the fused block's order.

function M.composed(block, s)
  local nn = require 'fathom.nn'
  if type(s) ~= 'number' then error('composed(block, s): s must be a number', 2) end
  local dtype = block.convWeight[1]:type()
  local conv_of = {}
  local function conv(i, stride, pad)
    local w = block.convWeight[i]
    local m = nn.SpatialConvolution(w:size(2), w:size(1), w:size(4), w:size(3), stride, stride,
                                    pad, pad)
    if m.noBias then m:noBias() end
    m:type(dtype)
    m.weight:copy(w)
    if m.bias then m.bias:zero() end
    conv_of[i] = m
    return m
  end
  local bn_of = {}
  local function bn(i)
    local m = nn.SpatialBatchNormalization(block.bnWeight[i]:nElement(), block.eps, block.momentum)
    m:type(dtype)
    m.weight:copy(block.bnWeight[i]); m.bias:copy(block.bnBias[i])
    m.running_mean:copy(block.runningMean[i]); m.running_var:copy(block.runningVar[i])
    bn_of[i] = m
    return m
  end
  local st = block.stride
  local branch = nn.Sequential()
  if block.block == 'basic' then
    branch:add(conv(1, st, 1)):add(bn(1)):add(nn.ReLU()):add(conv(2, 1, 1)):add(bn(2))
  else
    branch:add(conv(1, 1, 0)):add(bn(1)):add(nn.ReLU()):add(conv(2, st, 1)):add(bn(2))
          :add(nn.ReLU()):add(conv(3, 1, 0)):add(bn(3))
  end
  if s ~= 1 then branch:add(nn.MulConstant(s)) end
  local shortcut
  if block.shortcut == 'identity' then
    shortcut = nn.Identity()
  elseif block.shortcut == 'projection' then
    shortcut = nn.Sequential():add(conv(4, st, 0)):add(bn(4))
  else
    shortcut = nn.Sequential()
    if st > 1 then
      local k = block.shortcut == 'avg' and st or 1
      shortcut:add(nn.SpatialAveragePooling(k, k, st, st))
    end
    if block.nOutputPlane > block.nInputPlane then shortcut:add(nn.ChannelPad(block.nOutputPlane)) end
    if #shortcut.modules == 0 then shortcut = nn.Identity() end
  end
  local net = nn.Sequential()
  if s ~= 0 then
    net:add(nn.ConcatTable():add(branch):add(shortcut)):add(nn.CAddTable())
  else
    net:add(shortcut)
  end
  net:add(nn.ReLU())
  net:type(dtype)
  -- parameters in the fused block's order; an absent branch lists copies of its
  -- parameters with gradients that stay zero (what a closed gate must leave)
  local absent = {}
  for _, i in ipairs(block.stageIds) do
    if not conv_of[i] then
      absent[i] = { block.convWeight[i]:clone(), block.convWeight[i]:clone():zero(),
                    block.bnWeight[i]:clone(), block.bnWeight[i]:clone():zero(),
                    block.bnBias[i]:clone(), block.bnBias[i]:clone():zero() }
    end
  end
  function net.parameters()
    local params, grads = {}, {}
    for _, i in ipairs(block.stageIds) do
      local a = absent[i]
      local list = a or { conv_of[i].weight, conv_of[i].gradWeight, bn_of[i].weight,
                          bn_of[i].gradWeight, bn_of[i].bias, bn_of[i].gradBias }
      for k = 1, 6, 2 do params[#params + 1] = list[k]; grads[#grads + 1] = list[k + 1] end
    end
    return params, grads
  end
  net.convs, net.bns = conv_of, bn_of
  return net
end

return M
