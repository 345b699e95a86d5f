-- nn/BatchNormalization.lua -- batch normalisation of [N,C] input per feature
-- (core/nn/batchnorm.c); nn.SpatialBatchNormalization is the [N,C,H,W] subclass.
--   nn.BatchNormalization(nFeature, eps = 1e-5, momentum = 0.1, affine = true)
-- Training normalises with the biased batch variance and keeps running averages
-- (running = (1 - momentum) * running + momentum * batch, with the unbiased variance);
-- evaluate() switches to the running statistics. weight starts at 1 and bias at 0
-- (fb.resnet.torch's and the paper's choice; old Torch7 drew weight uniform(0, 1)).
--
-- Fused ReLU: m:fuseReLU() makes the module compute ReLU(BN(x)) in the same passes over
-- memory, forward and backward, replacing a following nn.ReLU. The backward mask is
-- the module's own output, so nothing after it may modify that output in place.
local fathom = require 'fathom'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local BN, parent = class('nn.BatchNormalization', Module)
BN.nDim = 2
BN.shapeText = '[N,C]'

function BN:__init(nFeature, eps, momentum, affine)
  parent.__init(self)
  if type(nFeature) ~= 'number' or nFeature < 1 or nFeature ~= math.floor(nFeature) then
    error(('%s: nFeature must be a positive integer, got %s'):format(self.__typename,
      tostring(nFeature)), 2)
  end
  self.nFeature = nFeature
  self.eps = eps or 1e-5
  self.momentum = momentum or 0.1
  self.affine = affine ~= false
  self.fuse = false
  if self.affine then
    self.weight = fathom.Tensor(nFeature)
    self.bias = fathom.Tensor(nFeature)
    self.gradWeight = fathom.Tensor(nFeature):zero()
    self.gradBias = fathom.Tensor(nFeature):zero()
  end
  self.running_mean = fathom.Tensor(nFeature)
  self.running_var = fathom.Tensor(nFeature)
  self.save_mean = fathom.Tensor(nFeature)
  self.save_invstd = fathom.Tensor(nFeature)
  self:reset()
end

function BN:reset()
  if self.weight then self.weight:fill(1) end
  if self.bias then self.bias:zero() end
  self.running_mean:zero()
  self.running_var:fill(1)
  return self
end

-- fuseReLU() or fuseReLU(true): apply ReLU to the output; fuseReLU(false): plain BN.
function BN:fuseReLU(on)
  self.fuse = on ~= false
  return self
end

function BN:_check(input, what)
  local expected = ('%s with C = %d'):format(self.shapeText, self.nFeature)
  local x = self:checkInput(input, self.nDim, expected, what)
  if x:size(2) ~= self.nFeature then self:shapeError(input, expected, what) end
  return x
end

local function ptr(t) return t and t.p or nil end

function BN:updateOutput(input)
  local x = self:_check(input)
  self:buffer('output', x):resizeAs(x)
  check(C.ft_batchnorm_forward(x.p, self.output.p, ptr(self.weight), ptr(self.bias),
    self.running_mean.p, self.running_var.p, self.save_mean.p, self.save_invstd.p,
    self.train and 1 or 0, self.momentum, self.eps, self.fuse and 1 or 0), self.__typename)
  return self.output
end

-- One kernel call gives gradInput and the parameter gradients (pass nil to skip one).
function BN:_backward(input, gradOutput, gradInput, gradWeight, gradBias, scale)
  local x = self:_check(input)
  local g = self:_check(gradOutput, 'gradOutput')
  if gradInput then gradInput = self:buffer('gradInput', x):resizeAs(x) end
  check(C.ft_batchnorm_backward(x.p, g.p, ptr(gradInput), ptr(self.weight), ptr(gradWeight),
    ptr(gradBias), self.save_mean.p, self.save_invstd.p, self.fuse and self.output.p or nil,
    self.train and 1 or 0, scale or 1), self.__typename)
  return self.gradInput
end

function BN:backward(input, gradOutput, scale)
  return self:_backward(input, gradOutput, true, self.gradWeight, self.gradBias, scale)
end

function BN:updateGradInput(input, gradOutput)
  return self:_backward(input, gradOutput, true, nil, nil, 1)
end

function BN:accGradParameters(input, gradOutput, scale)
  if self.affine then self:_backward(input, gradOutput, nil, self.gradWeight, self.gradBias, scale) end
end

function BN:__tostring()
  return ('%s (%dD) (%d)%s%s'):format(self.__typename, self.nDim, self.nFeature,
    self.affine and '' or ' without affine', self.fuse and ' +ReLU' or '')
end

return BN
