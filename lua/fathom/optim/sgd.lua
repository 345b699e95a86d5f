-- optim/sgd.lua -- stochastic gradient descent with Torch7's optim.sgd interface and
-- semantics, the whole update fused into one C pass over the flat parameters
-- (ft_sgd_step, core/nn/sgd.c):
--   local x, dx = model:getParameters()
--   local function feval(x) ... return loss, dx end
--   optim.sgd(feval, x, { learningRate = 0.1, momentum = 0.9, nesterov = true,
--                         dampening = 0, weightDecay = 1e-4 }, state)
-- config: learningRate (1e-3), learningRateDecay (0), weightDecay (0), momentum (0),
-- dampening (momentum; see below), nesterov (false). state (defaults to config):
-- evalCounter (steps taken), dfdx (the momentum buffer). The step:
--   dfdx += wd * x;  v = first step ? dfdx : mu * v + (1 - dampening) * dfdx
--   dfdx = nesterov ? dfdx + mu * v : v;  x -= lr / (1 + evalCounter * lrd) * dfdx
-- Returns x, {fx}.
--
-- Fathom's deviation: when nesterov is true and dampening is not given, dampening
-- defaults to 0 (Torch7 defaults it to momentum and then refuses nesterov), so
-- { momentum = 0.9, nesterov = true } just works. An explicit non-zero dampening with
-- nesterov is still an error. Per-parameter learningRates / weightDecays vectors are
-- not supported (an error), since the step is one fused pass.
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

return function(opfunc, x, config, state)
  config = config or {}
  state = state or config
  if type(opfunc) ~= 'function' then error('optim.sgd: opfunc must be a function', 2) end
  if not fathom.isTensor(x) then error('optim.sgd: x must be a tensor (from getParameters)', 2) end
  if config.learningRates or config.weightDecays then
    error('optim.sgd: per-parameter learningRates/weightDecays are not supported', 2)
  end
  local lr = config.learningRate or 1e-3
  local lrd = config.learningRateDecay or 0
  local wd = config.weightDecay or 0
  local mom = config.momentum or 0
  local nesterov = config.nesterov or false
  local damp = config.dampening or (nesterov and 0 or mom)
  state.evalCounter = state.evalCounter or 0
  if nesterov and not (mom > 0 and damp == 0) then
    error('optim.sgd: Nesterov momentum requires a momentum and zero dampening', 2)
  end

  local fx, dfdx = opfunc(x)
  if not fathom.isTensor(dfdx) or dfdx:nElement() ~= x:nElement() or dfdx:type() ~= x:type() then
    error(('optim.sgd: opfunc must return the loss and a gradient like x (%d elements, %s)')
      :format(x:nElement(), x:type()), 2)
  end

  local first = false
  if mom ~= 0 and not state.dfdx then
    state.dfdx = fathom.Tensor(x:nElement()):type(x:type())
    first = true
  end
  local clr = lr / (1 + state.evalCounter * lrd)
  local function flat(t)
    if t:dim() == 1 and t:isContiguous() then return t end
    if not t:isContiguous() then
      error('optim.sgd: x and its gradient must be contiguous (use getParameters)', 3)
    end
    return t:view(t:nElement())
  end
  local xf, gf = flat(x), flat(dfdx)
  local v = mom ~= 0 and flat(state.dfdx) or nil
  if v and v:nElement() ~= x:nElement() then
    error(('optim.sgd: state.dfdx has %d elements, x has %d'):format(v:nElement(), x:nElement()), 2)
  end
  check(C.ft_sgd_step(xf.p, gf.p, v and v.p or nil, clr, mom, damp, wd, nesterov and 1 or 0,
    first and 1 or 0), 'optim.sgd')
  state.evalCounter = state.evalCounter + 1
  return x, { fx }
end
