-- nn/SpatialBatchNormalization.lua -- batch normalisation of [N,C,H,W] input per
-- channel over N, H and W: everything of nn.BatchNormalization, including :fuseReLU().
--   nn.SpatialBatchNormalization(nFeature, eps = 1e-5, momentum = 0.1, affine = true)
local class = require 'fathom.class'
local BN = require 'fathom.nn.BatchNormalization'

local SpatialBN = class('nn.SpatialBatchNormalization', BN)
SpatialBN.nDim = 4
SpatialBN.shapeText = '[N,C,H,W]'

return SpatialBN
