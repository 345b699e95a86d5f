-- optim.lua -- `require 'optim'` for code written for Torch7: Fathom's optimisers
-- (fathom.optim: sgd, adam, nesterov, Logger) under Torch7's global name.
local optim = require 'fathom.optim'
rawset(_G, 'optim', optim)
return optim
