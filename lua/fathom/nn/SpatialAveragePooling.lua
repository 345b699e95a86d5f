-- nn/SpatialAveragePooling.lua -- average pooling over kH x kW windows with stride
-- dH x dW, no padding (core/nn/pool.c): the CIFAR ResNets' 2x2 shortcut pooling, the
-- 1x1 stride-2 "subsample" shortcut, and the global pool (kernel = input size).
--   nn.SpatialAveragePooling(kW, kH, dW = 1, dH = 1)    -- Torch7's argument order
-- Input [N,C,H,W] or [C,H,W]; output H' = floor((H - kH) / dH) + 1 (Torch7's floor mode).
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local Pool, parent = class('nn.SpatialAveragePooling', Module)

local function posint(x) return type(x) == 'number' and x >= 1 and x == math.floor(x) end

function Pool:__init(kW, kH, dW, dH, padW, padH)
  parent.__init(self)
  dW, dH = dW or 1, dH or 1
  if not (posint(kW) and posint(kH) and posint(dW) and posint(dH)) then
    error(('nn.SpatialAveragePooling: kernel and stride must be positive integers, got kW=%s, '
      .. 'kH=%s, dW=%s, dH=%s'):format(tostring(kW), tostring(kH), tostring(dW), tostring(dH)), 2)
  end
  if (padW or 0) ~= 0 or (padH or 0) ~= 0 then
    error('nn.SpatialAveragePooling: padding is not supported (got padW=' .. tostring(padW)
      .. ', padH=' .. tostring(padH) .. ')', 2)
  end
  self.kW, self.kH, self.dW, self.dH = kW, kH, dW, dH
end

-- The input as a 4-D tensor, and the output sizes.
function Pool:_dims(input, what)
  local expected = ('[N,C,H,W] or [C,H,W] with H >= %d and W >= %d'):format(self.kH, self.kW)
  local x = self:checkInput(input, { 3, 4 }, expected, what)
  local x4 = x:dim() == 3 and x:view(1, x:size(1), x:size(2), x:size(3)) or x
  local N, Cn, H, W = x4:size(1), x4:size(2), x4:size(3), x4:size(4)
  if H < self.kH or W < self.kW then self:shapeError(input, expected, what) end
  return x, x4, N, Cn, math.floor((H - self.kH) / self.dH) + 1, math.floor((W - self.kW) / self.dW) + 1
end

function Pool:updateOutput(input)
  local x, x4, N, Cn, Ho, Wo = self:_dims(input)
  local out = self:buffer('output', x)
  if x:dim() == 3 then out:resize(Cn, Ho, Wo) else out:resize(N, Cn, Ho, Wo) end
  check(C.ft_avgpool2d_forward(x4.p, out:view(N, Cn, Ho, Wo).p, self.kH, self.kW, self.dH,
    self.dW), self.__typename)
  return out
end

function Pool:updateGradInput(input, gradOutput)
  local x, x4, N, Cn, Ho, Wo = self:_dims(input)
  local g = self:checkInput(gradOutput, nil, 'the output\'s size', 'gradOutput')
  self:checkSize(g, x:dim() == 3 and { Cn, Ho, Wo } or { N, Cn, Ho, Wo }, 'gradOutput')
  local gi = self:buffer('gradInput', x):resizeAs(x)
  check(C.ft_avgpool2d_backward(g:view(N, Cn, Ho, Wo).p, gi:view(x4:size()).p, self.kH, self.kW,
    self.dH, self.dW), self.__typename)
  return gi
end

function Pool:__tostring()
  return ('%s(%dx%d, %d,%d)'):format(self.__typename, self.kW, self.kH, self.dW, self.dH)
end

return Pool
