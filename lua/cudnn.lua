-- cudnn.lua -- `require 'cudnn'`: Torch7's cuDNN bindings, as subclasses of Fathom's nn
-- modules (which call cuDNN themselves on the GPU): cudnn.SpatialConvolution(...) is an
-- nn.SpatialConvolution whose type name is 'cudnn.SpatialConvolution', so
-- model:findModules('cudnn.SpatialConvolution') finds it, as in Torch7. Without a GPU they
-- run on Fathom's CPU kernels, so code that builds models with cudnn.* runs unchanged.
local nn = require 'nn'
local torch = require 'torch'
local cudnn = rawget(_G, 'cudnn')
if type(cudnn) ~= 'table' then cudnn = {} end
cudnn.benchmark, cudnn.fastest, cudnn.verbose = false, false, false
cudnn.version = 5105 -- what fb.resnet.torch tests (>= 4000: convolutions before BN drop their bias)

for _, name in ipairs({ 'SpatialConvolution', 'SpatialBatchNormalization', 'BatchNormalization',
                        'ReLU', 'Tanh', 'Sigmoid', 'SoftMax', 'LogSoftMax', 'SpatialMaxPooling',
                        'SpatialAveragePooling' }) do
  -- no __init of its own: the nn module's runs
  if not torch.classes['cudnn.' .. name] then torch.class('cudnn.' .. name, nn[name], cudnn) end
end
-- cudnn.convert(net, backend): the modules already are Fathom's.
function cudnn.convert(net) return net end
rawset(_G, 'cudnn', cudnn)
return cudnn
