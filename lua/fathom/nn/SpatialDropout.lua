-- nn/SpatialDropout.lua -- dropout of whole feature maps: one Bernoulli(1-p) draw per
-- channel of each image (C x H x W, or N x C x H x W), shared by all its pixels, as
-- Torch7's nn.SpatialDropout (which scales the survivors by 1/(1-p) like Dropout's v2).
local class = require 'fathom.class'
local Dropout = require 'fathom.nn.Dropout'

local SpatialDropout, parent = class('nn.SpatialDropout', Dropout)

function SpatialDropout:__init(p)
  parent.__init(self, p)
end

function SpatialDropout:drawNoise(x)
  if x:dim() ~= 3 and x:dim() ~= 4 then self:shapeError(x, 'C x H x W or N x C x H x W') end
  local n = self:buffer('noise', x)
  if x:dim() == 3 then n:resize(x:size(1), 1, 1) else n:resize(x:size(1), x:size(2), 1, 1) end
  return n:bernoulli(1 - self.p)
end

return SpatialDropout
