-- optim/nag.lua -- Nesterov's accelerated gradient with Torch7's optim.nag interface
-- (also reachable as optim.nesterov): the gradient is taken at x + momentum * dfdx,
-- after the look-ahead step, as in Sutskever et al. 2013.
--   optim.nag(feval, x, { learningRate = 1e-3, momentum = 0.9, weightDecay = 0,
--                         learningRateDecay = 0 }, state)
-- state (defaults to config): evalCounter, dfdx (the velocity). Returns x, {fx}.
local fathom = require 'fathom'

return function(opfunc, x, config, state)
  config = config or {}
  state = state or config
  if type(opfunc) ~= 'function' then error('optim.nag: opfunc must be a function', 2) end
  if not fathom.isTensor(x) then error('optim.nag: x must be a tensor (from getParameters)', 2) end
  local lr = config.learningRate or 1e-3
  local lrd = config.learningRateDecay or 0
  local wd = config.weightDecay or 0
  local mom = config.momentum or 0.9
  if mom <= 0 then error('optim.nag: momentum must be positive for Nesterov accelerated gradient', 2) end
  state.evalCounter = state.evalCounter or 0

  if state.dfdx then x:add(mom, state.dfdx) end -- look ahead
  local fx, dfdx = opfunc(x)
  if not fathom.isTensor(dfdx) or dfdx:nElement() ~= x:nElement() then
    error(('optim.nag: opfunc must return the loss and a gradient like x (%d elements)'):format(x:nElement()), 2)
  end
  if wd ~= 0 then dfdx:add(wd, x) end
  local clr = lr / (1 + state.evalCounter * lrd)
  if not state.dfdx then state.dfdx = fathom.Tensor():type(dfdx:type()):resizeAs(dfdx):zero()
  else state.dfdx:mul(mom) end
  x:add(-clr, dfdx)
  state.dfdx:add(-clr, dfdx)
  state.evalCounter = state.evalCounter + 1
  return x, { fx }
end
