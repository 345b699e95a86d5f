-- optim/adam.lua -- Adam (Kingma and Ba 2015) with Torch7's optim.adam interface:
--   optim.adam(feval, x, { learningRate = 1e-3, beta1 = 0.9, beta2 = 0.999,
--                          epsilon = 1e-8, weightDecay = 0 }, state)
-- state (defaults to config) keeps t (steps), m and v (the moment estimates) and denom.
-- The step: g += wd x; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
--   x -= lr sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps).   Returns x, {fx}.
local fathom = require 'fathom'

return function(opfunc, x, config, state)
  config = config or {}
  state = state or config
  if type(opfunc) ~= 'function' then error('optim.adam: opfunc must be a function', 2) end
  if not fathom.isTensor(x) then error('optim.adam: x must be a tensor (from getParameters)', 2) end
  local lr = config.learningRate or 1e-3
  local b1, b2 = config.beta1 or 0.9, config.beta2 or 0.999
  local eps = config.epsilon or 1e-8
  local wd = config.weightDecay or 0

  local fx, dfdx = opfunc(x)
  if not fathom.isTensor(dfdx) or dfdx:nElement() ~= x:nElement() then
    error(('optim.adam: opfunc must return the loss and a gradient like x (%d elements)'):format(x:nElement()), 2)
  end
  if wd ~= 0 then dfdx:add(wd, x) end
  state.t = (state.t or 0) + 1
  if not state.m then
    state.m = fathom.Tensor():type(x:type()):resizeAs(dfdx):zero()
    state.v = fathom.Tensor():type(x:type()):resizeAs(dfdx):zero()
    state.denom = fathom.Tensor():type(x:type()):resizeAs(dfdx):zero()
    state.sq = fathom.Tensor():type(x:type()):resizeAs(dfdx):zero()
  end
  state.m:mul(b1):add(1 - b1, dfdx)
  state.v:mul(b2):add(1 - b2, state.sq:cmul(dfdx, dfdx))
  state.denom:copy(state.v):sqrt():add(eps)
  local step = lr * math.sqrt(1 - b2 ^ state.t) / (1 - b1 ^ state.t)
  x:add(-step, state.sq:cdiv(state.m, state.denom))
  return x, { fx }
end
