-- fathom.nn -- Torch7-style modules, one per file, loaded on first use:
--   local nn = require 'fathom.nn'; local conv = nn.SpatialConvolution(3, 16, 3, 3, 1, 1, 1, 1)
local nn = {}
setmetatable(nn, { __index = function(_, name)
  local ok, mod = pcall(require, 'fathom.nn.' .. name)
  if ok then rawset(nn, name, mod) return mod end
  if tostring(mod):find("module 'fathom.nn." .. name .. "' not found", 1, true) then
    error('fathom.nn: no module named ' .. tostring(name), 2)
  end
  error(mod, 2)
end })
return nn
