-- fathom.optim -- optimisers with Torch7's optim interface, loaded on first use.
local optim = {}
setmetatable(optim, { __index = function(_, name)
  local ok, mod = pcall(require, 'fathom.optim.' .. name)
  if ok then rawset(optim, name, mod) return mod end
  if tostring(mod):find("module 'fathom.optim." .. name .. "' not found", 1, true) then
    error('fathom.optim: no optimiser named ' .. tostring(name), 2)
  end
  error(mod, 2)
end })
return optim
