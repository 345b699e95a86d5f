-- cudnn.lua -- `require 'cudnn'`: Torch7's cuDNN bindings, as names for Fathom's nn
-- modules (which call cuDNN themselves on the GPU). cudnn.SpatialConvolution(...) is an
-- nn.SpatialConvolution, and so on; without a GPU they are Fathom's CPU modules, so code
-- that builds models with cudnn.* runs unchanged on the CPU.
local nn = require 'nn'
local cudnn = { benchmark = false, fastest = false, verbose = false }
-- Any other name is nn's: cudnn.SpatialConvolution is nn.SpatialConvolution (the class).
setmetatable(cudnn, { __index = function(_, k) return nn[k] end })
-- cudnn.convert(net, backend): the modules already are Fathom's.
function cudnn.convert(net) return net end
rawset(_G, 'cudnn', cudnn)
return cudnn
