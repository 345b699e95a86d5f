-- nn/ChannelPad.lua -- widens [N,C,H,W] (or [C,H,W]) input to nOutputPlane channels:
-- the input's channels first, zeros after (core/nn/pool.c). With
-- SpatialAveragePooling(2, 2, 2, 2) it is the CIFAR ResNets' shortcut "A" into a stage
-- with more filters; the gradient is the first C channels of gradOutput.
--   nn.ChannelPad(nOutputPlane)
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local ChannelPad, parent = class('nn.ChannelPad', Module)

function ChannelPad:__init(nOutputPlane)
  parent.__init(self)
  if type(nOutputPlane) ~= 'number' or nOutputPlane < 1 or nOutputPlane ~= math.floor(nOutputPlane) then
    error('nn.ChannelPad: nOutputPlane must be a positive integer, got ' .. tostring(nOutputPlane), 2)
  end
  self.nOutputPlane = nOutputPlane
end

function ChannelPad:_dims(input, what)
  local expected = ('[N,C,H,W] or [C,H,W] with C <= %d'):format(self.nOutputPlane)
  local x = self:checkInput(input, { 3, 4 }, expected, what)
  local x4 = x:dim() == 3 and x:view(1, x:size(1), x:size(2), x:size(3)) or x
  if x4:size(2) > self.nOutputPlane then self:shapeError(input, expected, what) end
  return x, x4, x4:size(1), x4:size(3), x4:size(4)
end

function ChannelPad:updateOutput(input)
  local x, x4, N, H, W = self:_dims(input)
  local out = self:buffer('output', x)
  if x:dim() == 3 then out:resize(self.nOutputPlane, H, W) else out:resize(N, self.nOutputPlane, H, W) end
  check(C.ft_channel_pad_forward(x4.p, out:view(N, self.nOutputPlane, H, W).p), self.__typename)
  return out
end

function ChannelPad:updateGradInput(input, gradOutput)
  local x, x4, N, H, W = self:_dims(input)
  local g = self:checkInput(gradOutput, nil, 'the output\'s size', 'gradOutput')
  local Co = self.nOutputPlane
  self:checkSize(g, x:dim() == 3 and { Co, H, W } or { N, Co, H, W }, 'gradOutput')
  local gi = self:buffer('gradInput', x):resizeAs(x)
  check(C.ft_channel_pad_backward(g:view(N, self.nOutputPlane, H, W).p, gi:view(x4:size()).p),
    self.__typename)
  return gi
end

function ChannelPad:__tostring()
  return ('%s(-> %d channels)'):format(self.__typename, self.nOutputPlane)
end

return ChannelPad
