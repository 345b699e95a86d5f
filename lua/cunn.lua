-- cunn.lua -- `require 'cunn'`: Torch7's CUDA nn. Fathom's nn modules run on the GPU
-- themselves (model:cuda()), so this only needs cutorch, and fails as cutorch does
-- without a GPU.
require 'cutorch'
local nn = require 'nn'
rawset(_G, 'cunn', nn)
return nn
