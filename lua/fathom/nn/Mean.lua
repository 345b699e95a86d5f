-- nn/Mean.lua -- the mean over one dimension: nn.Sum with sizeAverage (Torch7's nn.Mean).
local class = require 'fathom.class'
local Sum = require 'fathom.nn.Sum'

local Mean, parent = class('nn.Mean', Sum)

function Mean:__init(dim, nInputDims, squeeze)
  parent.__init(self, dim, nInputDims, true, squeeze)
end

return Mean
