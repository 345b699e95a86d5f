-- jacobian.lua -- finite-difference gradient checks in float64, as Torch7's
-- nn.Jacobian: the full Jacobian by central differences against the one assembled
-- from backward passes (one per output element). Returns the maximum absolute error.
local fathom = require 'fathom'
local J = {}

local function flat(t) return t:contiguous():view(t:nElement()) end

-- The module's output as a flat copy for input x.
local function out_of(module, x)
  return flat(module:forward(x)):clone()
end

-- Perturb `target` (a tensor the forward pass reads: the input or a parameter).
local function fd_jacobian(module, input, target, eps)
  local t = flat(target) -- shares storage when target is contiguous
  assert(target:isContiguous(), 'jacobian: target must be contiguous')
  local nOut = out_of(module, input):nElement()
  local jac = fathom.DoubleTensor(t:nElement(), nOut)
  for i = 1, t:nElement() do
    local orig = t[i]
    t[i] = orig - eps
    local a = out_of(module, input)
    t[i] = orig + eps
    local b = out_of(module, input)
    t[i] = orig
    jac[i]:copy(b:add(-1, a):div(2 * eps))
  end
  return jac
end

-- which: 'input' or a {param, gradParam} pair.
local function bp_jacobian(module, input, which)
  local out = module:forward(input):clone()
  local nOut = out:nElement()
  local n = which == 'input' and input:nElement() or which[1]:nElement()
  local jac = fathom.DoubleTensor(n, nOut)
  local go = fathom.DoubleTensor(nOut)
  for j = 1, nOut do
    go:zero(); go[j] = 1
    module:zeroGradParameters()
    module:forward(input)
    local gi = module:backward(input, go:view(out:size()))
    local g = which == 'input' and gi or which[2]
    jac:select(2, j):copy(flat(g))
  end
  return jac
end

function J.testJacobian(module, input, eps)
  eps = eps or 1e-6
  local a = fd_jacobian(module, input, input, eps)
  local b = bp_jacobian(module, input, 'input')
  return a:add(-1, b):abs():max()
end

function J.testJacobianParameters(module, input, param, gradParam, eps)
  eps = eps or 1e-6
  local a = fd_jacobian(module, input, param, eps)
  local b = bp_jacobian(module, input, { param, gradParam })
  return a:add(-1, b):abs():max()
end

-- A criterion: d loss / d input by central differences against backward.
function J.testCriterion(crit, input, target, eps)
  eps = eps or 1e-6
  local x = flat(input)
  local grad = flat(crit:backward(input, target)):clone()
  local maxerr = 0
  for i = 1, x:nElement() do
    local orig = x[i]
    x[i] = orig - eps; local a = crit:forward(input, target)
    x[i] = orig + eps; local b = crit:forward(input, target)
    x[i] = orig
    maxerr = math.max(maxerr, math.abs((b - a) / (2 * eps) - grad[i]))
  end
  return maxerr
end

-- Uniform in [-2, 2], float64, as Torch7's nn tests draw.
function J.input(...)
  return fathom.DoubleTensor(...):uniform(-2, 2)
end

return J
