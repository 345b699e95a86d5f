-- nn/SpatialMaxPooling.lua -- max pooling over kH x kW windows with stride dH x dW and
-- zero-area padding padH x padW (padding is never selected), core/nn/maxpool.c: the
-- ImageNet ResNets' 3x3/2 pad-1 stem pooling.
--   nn.SpatialMaxPooling(kW, kH, dW = kW, dH = kH, padW = 0, padH = 0)  -- Torch7's order
-- Input [N,C,H,W] or [C,H,W]; output H' = floor((H + 2*padH - kH) / dH) + 1 (Torch7's
-- floor mode). self.indices (LongTensor, [N,C,H',W']) holds each output's argmax
-- position h*W + w (0-based) within its input plane; backward routes gradients there.
local fathom = require 'fathom'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local Pool, parent = class('nn.SpatialMaxPooling', Module)

local function int(x, min) return type(x) == 'number' and x >= min and x == math.floor(x) end

function Pool:__init(kW, kH, dW, dH, padW, padH)
  parent.__init(self)
  dW, dH, padW, padH = dW or kW, dH or kH, padW or 0, padH or 0
  if not (int(kW, 1) and int(kH, 1) and int(dW, 1) and int(dH, 1)) then
    error(('nn.SpatialMaxPooling: kernel and stride must be positive integers, got kW=%s, '
      .. 'kH=%s, dW=%s, dH=%s'):format(tostring(kW), tostring(kH), tostring(dW), tostring(dH)), 2)
  end
  -- Torch7's rule: each window must overlap the input.
  if not (int(padW, 0) and int(padH, 0) and 2 * padW <= kW and 2 * padH <= kH) then
    error(('nn.SpatialMaxPooling: padding must be an integer in [0, kernel/2], got padW=%s, '
      .. 'padH=%s for kernel %sx%s'):format(tostring(padW), tostring(padH), tostring(kW),
      tostring(kH)), 2)
  end
  self.kW, self.kH, self.dW, self.dH, self.padW, self.padH = kW, kH, dW, dH, padW, padH
  self.indices = fathom.LongTensor()
end

-- The input as a 4-D tensor, and the output sizes.
function Pool:_dims(input, what)
  local kH, kW = self.kH - 2 * self.padH, self.kW - 2 * self.padW
  local expected = ('[N,C,H,W] or [C,H,W] with H >= %d and W >= %d'):format(kH, kW)
  local x = self:checkInput(input, { 3, 4 }, expected, what)
  local x4 = x:dim() == 3 and x:view(1, x:size(1), x:size(2), x:size(3)) or x
  local N, Cn, H, W = x4:size(1), x4:size(2), x4:size(3), x4:size(4)
  if H < kH or W < kW then self:shapeError(input, expected, what) end
  return x, x4, N, Cn, math.floor((H + 2 * self.padH - self.kH) / self.dH) + 1,
    math.floor((W + 2 * self.padW - self.kW) / self.dW) + 1
end

function Pool:updateOutput(input)
  local x, x4, N, Cn, Ho, Wo = self:_dims(input)
  local out = self:buffer('output', x)
  if x:dim() == 3 then out:resize(Cn, Ho, Wo) else out:resize(N, Cn, Ho, Wo) end
  if not fathom.isTensor(self.indices) then self.indices = fathom.LongTensor() end
  self.indices:resize(N, Cn, Ho, Wo)
  check(C.ft_maxpool2d_forward(x4.p, out:view(N, Cn, Ho, Wo).p, self.indices.p, self.kH,
    self.kW, self.dH, self.dW, self.padH, self.padW), self.__typename)
  return out
end

function Pool:updateGradInput(input, gradOutput)
  local x, x4, N, Cn, Ho, Wo = self:_dims(input)
  local g = self:checkInput(gradOutput, nil, 'the output\'s size', 'gradOutput')
  self:checkSize(g, x:dim() == 3 and { Cn, Ho, Wo } or { N, Cn, Ho, Wo }, 'gradOutput')
  local idx = self.indices
  if not fathom.isTensor(idx) or idx:nElement() ~= N * Cn * Ho * Wo then
    error(self.__typename .. ': backward needs a forward pass on an input of this size first', 2)
  end
  local gi = self:buffer('gradInput', x):resizeAs(x)
  check(C.ft_maxpool2d_backward(g:view(N, Cn, Ho, Wo).p, gi:view(x4:size()).p, idx.p),
    self.__typename)
  return gi
end

function Pool:clearState()
  self.indices = fathom.LongTensor()
  return parent.clearState(self)
end

function Pool:__tostring()
  local s = ('%s(%dx%d, %d,%d'):format(self.__typename, self.kW, self.kH, self.dW, self.dH)
  if self.padW ~= 0 or self.padH ~= 0 then s = s .. (', %d,%d'):format(self.padW, self.padH) end
  return s .. ')'
end

return Pool
