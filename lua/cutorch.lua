-- cutorch.lua -- `require 'cutorch'`: Torch7's CUDA tensors, mapped onto Fathom's CUDA
-- backend. Without a CUDA build or a GPU, requiring it fails with a clear message, so
-- scripts that test `pcall(require, 'cutorch')` fall back to the CPU as they did in Torch7.
local fathom = require 'fathom'
local torch = require 'torch'
local ok, cuda = pcall(function() return fathom.cuda end)
local usable = ok and cuda and cuda.hasBackend() and cuda.isAvailable()
if not usable then
  error('cutorch: no usable CUDA device (' .. (ok and cuda and cuda.status() or 'no CUDA backend') .. '); ' ..
    'the model runs on the CPU without cutorch', 0)
end
local cutorch = {}
function torch.CudaTensor(...) return fathom.Tensor(...):cuda() end
function cutorch.synchronize() if cuda.synchronize then cuda.synchronize() end end
function cutorch.getDeviceCount() return cuda.deviceCount and cuda.deviceCount() or 1 end
function cutorch.setDevice(i) if cuda.setDevice then cuda.setDevice(i) end end
function cutorch.manualSeed(s) fathom.manualSeed(s) end
function cutorch.manualSeedAll(s) fathom.manualSeed(s) end
rawset(_G, 'cutorch', cutorch)
return cutorch
