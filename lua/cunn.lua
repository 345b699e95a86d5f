-- cunn.lua -- `require 'cunn'`: Torch7's CUDA nn. Fathom's nn modules run on the GPU
-- themselves (model:cuda()), so this is nn. It also loads without a usable GPU, so
-- research code that requires it unconditionally still builds and trains its models:
-- then, and only after this require, model:cuda() / criterion:cuda() keep the modules
-- on the CPU (saying so once on stderr) instead of failing. `require 'cutorch'` fails
-- clearly without a GPU, for scripts that test for one.
local nn = require 'nn'
local fathom = require 'fathom'
local ok, usable = pcall(function() return fathom.cuda.hasBackend() and fathom.cuda.isAvailable() end)
if not (ok and usable) then
  local warned = false
  local function cpu(self)
    if not warned then
      warned = true
      io.stderr:write('cunn: no usable GPU; :cuda() keeps the modules on the CPU\n')
    end
    return self
  end
  require('fathom.nn.Module').cuda = cpu
  require('fathom.nn.Criterion').cuda = cpu
end
rawset(_G, 'cunn', nn)
return nn
