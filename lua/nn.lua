-- nn.lua -- `require 'nn'` for code written for Torch7: Fathom's modules (fathom.nn) under
-- Torch7's global name `nn`. Classes a script defines with torch.class('nn.Foo', ...)
-- live here too (Fathom's own registry is not touched).
local fnn = require 'fathom.nn'
local nn = rawget(_G, 'nn')
if type(nn) ~= 'table' or nn == fnn then nn = {} end
setmetatable(nn, { __index = fnn })
nn.utils = require 'fathom.nn.utils'
package.loaded.nn = nn
rawset(_G, 'nn', nn)
require 'torch'
return nn
