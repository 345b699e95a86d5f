-- nn/SpatialConvolution.lua -- 2-D convolution with zero padding (core/nn/conv.c: direct
-- AVX-512 kernels for float32 stride-1 "same" convolutions, im2col + OpenBLAS otherwise).
--   nn.SpatialConvolution(nInputPlane, nOutputPlane, kW, kH, dW = 1, dH = 1, padW = 0, padH = padW)
-- Torch7's argument order (width before height). Input [N,nInputPlane,H,W] or
-- [nInputPlane,H,W]; output H' = floor((H + 2*padH - kH) / dH) + 1, same for W.
-- weight [nOutputPlane, nInputPlane, kH, kW]; bias [nOutputPlane] unless :noBias().
--
-- Initialisation. The constructor keeps Torch7's reset(): uniform in +-1/sqrt(fan_in),
-- fan_in = kW*kH*nInputPlane. :initHe(fan) draws the ResNet initialisation, normal with
-- std sqrt(2/fan) and a zero bias. MISSION.md specifies fan = fan_in ('fan_in', the
-- default here); the authors' code (fb.resnet.torch, Stochastic_Depth) uses
-- n = kW*kH*nOutputPlane instead ('fan_out'). The two agree whenever the convolution
-- keeps its channel count, i.e. every ResNet conv except the first of stages 2 and 3
-- and the stem.
local fathom = require 'fathom'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local Conv, parent = class('nn.SpatialConvolution', Module)

local function posint(x) return type(x) == 'number' and x >= 1 and x == math.floor(x) end
local function natural(x) return type(x) == 'number' and x >= 0 and x == math.floor(x) end

function Conv:__init(nInputPlane, nOutputPlane, kW, kH, dW, dH, padW, padH)
  parent.__init(self)
  dW, dH = dW or 1, dH or 1
  padW = padW or 0
  padH = padH or padW
  if not (posint(nInputPlane) and posint(nOutputPlane) and posint(kW) and posint(kH)
          and posint(dW) and posint(dH) and natural(padW) and natural(padH)) then
    error(('nn.SpatialConvolution(nInputPlane, nOutputPlane, kW, kH, dW, dH, padW, padH): planes, '
      .. 'kernel and stride must be positive integers and padding >= 0, got %s, %s, %s, %s, %s, '
      .. '%s, %s, %s'):format(tostring(nInputPlane), tostring(nOutputPlane), tostring(kW),
      tostring(kH), tostring(dW), tostring(dH), tostring(padW), tostring(padH)), 2)
  end
  self.nInputPlane, self.nOutputPlane = nInputPlane, nOutputPlane
  self.kW, self.kH, self.dW, self.dH, self.padW, self.padH = kW, kH, dW, dH, padW, padH
  self.weight = fathom.Tensor(nOutputPlane, nInputPlane, kH, kW)
  self.gradWeight = fathom.Tensor(nOutputPlane, nInputPlane, kH, kW):zero()
  self.bias = fathom.Tensor(nOutputPlane)
  self.gradBias = fathom.Tensor(nOutputPlane):zero()
  self:reset()
end

-- Drop the bias (the ResNets: every conv feeds a batch normalization).
function Conv:noBias()
  self.bias, self.gradBias = nil, nil
  return self
end

-- Torch7's reset: uniform in +-stdv*sqrt(3) when stdv is given, else +-1/sqrt(fan_in).
function Conv:reset(stdv)
  stdv = stdv and stdv * math.sqrt(3) or 1 / math.sqrt(self.kW * self.kH * self.nInputPlane)
  self.weight:uniform(-stdv, stdv)
  if self.bias then self.bias:uniform(-stdv, stdv) end
  return self
end

-- He initialisation: weight normal(0, sqrt(2/fan)), bias 0. fan: 'fan_in' (default,
-- MISSION.md) = kW*kH*nInputPlane, or 'fan_out' (the authors' code) = kW*kH*nOutputPlane.
function Conv:initHe(fan)
  fan = fan or 'fan_in'
  local n
  if fan == 'fan_in' then n = self.kW * self.kH * self.nInputPlane
  elseif fan == 'fan_out' then n = self.kW * self.kH * self.nOutputPlane
  else error(("nn.SpatialConvolution:initHe: fan must be 'fan_in' or 'fan_out', got %s")
    :format(tostring(fan)), 2) end
  self.weight:normal(0, math.sqrt(2 / n))
  if self.bias then self.bias:zero() end
  return self
end

-- The input as a contiguous 4-D tensor x4 (3-D input is a batch of one), and the output size.
function Conv:_dims(input)
  local expected = ('[N,%d,H,W] or [%d,H,W] with H + 2*%d >= %d and W + 2*%d >= %d'):format(
    self.nInputPlane, self.nInputPlane, self.padH, self.kH, self.padW, self.kW)
  local x = self:checkInput(input, { 3, 4 }, expected)
  local x4 = x:dim() == 3 and x:view(1, x:size(1), x:size(2), x:size(3)) or x
  local N, Ci, H, W = x4:size(1), x4:size(2), x4:size(3), x4:size(4)
  if Ci ~= self.nInputPlane or H + 2 * self.padH < self.kH or W + 2 * self.padW < self.kW then
    self:shapeError(input, expected)
  end
  return x, x4, N, math.floor((H + 2 * self.padH - self.kH) / self.dH) + 1,
    math.floor((W + 2 * self.padW - self.kW) / self.dW) + 1
end

-- gradOutput as a 4-D tensor, checked against the output size for x.
function Conv:_gradOutput(x, gradOutput, N, Ho, Wo)
  local Co = self.nOutputPlane
  local g = self:checkInput(gradOutput, nil, 'the output\'s size', 'gradOutput')
  self:checkSize(g, x:dim() == 3 and { Co, Ho, Wo } or { N, Co, Ho, Wo }, 'gradOutput')
  return g:dim() == 3 and g:view(1, Co, Ho, Wo) or g
end

function Conv:updateOutput(input)
  local x, x4, N, Ho, Wo = self:_dims(input)
  local Co = self.nOutputPlane
  local out = self:buffer('output', x)
  if x:dim() == 3 then out:resize(Co, Ho, Wo) else out:resize(N, Co, Ho, Wo) end
  check(C.ft_conv2d_forward(x4.p, out:view(N, Co, Ho, Wo).p, self.weight.p,
    self.bias and self.bias.p or nil, self.dH, self.dW, self.padH, self.padW), self.__typename)
  return out
end

function Conv:updateGradInput(input, gradOutput)
  local x, x4, N, Ho, Wo = self:_dims(input)
  local g = self:_gradOutput(x, gradOutput, N, Ho, Wo)
  local gi = self:buffer('gradInput', x):resizeAs(x)
  check(C.ft_conv2d_backward_input(g.p, gi:view(x4:size()).p, self.weight.p, self.dH, self.dW,
    self.padH, self.padW), self.__typename)
  return gi
end

function Conv:accGradParameters(input, gradOutput, scale)
  local x, x4, N, Ho, Wo = self:_dims(input)
  local g = self:_gradOutput(x, gradOutput, N, Ho, Wo)
  check(C.ft_conv2d_backward_weight(x4.p, g.p, self.gradWeight.p,
    self.gradBias and self.gradBias.p or nil, self.dH, self.dW, self.padH, self.padW, scale or 1),
    self.__typename)
end

function Conv:__tostring()
  local s = ('%s(%d -> %d, %dx%d'):format(self.__typename, self.nInputPlane, self.nOutputPlane,
    self.kW, self.kH)
  if self.dW ~= 1 or self.dH ~= 1 or self.padW ~= 0 or self.padH ~= 0 then
    s = s .. (', %d,%d'):format(self.dW, self.dH)
  end
  if self.padW ~= 0 or self.padH ~= 0 then s = s .. (', %d,%d'):format(self.padW, self.padH) end
  return s .. ')' .. (self.bias and '' or ' without bias')
end

return Conv
