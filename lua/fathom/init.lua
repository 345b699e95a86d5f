-- fathom -- a deep-learning training engine: C/CUDA cores driven from LuaJIT.
--   local fathom = require 'fathom'
--   local x = fathom.randn(2, 3); print(x)
-- Submodules load on first use: fathom.nn, fathom.optim, fathom.data, ...
local F = require 'fathom.ffi'
local T = require 'fathom.tensor'
local rng = require 'fathom.random'
local C = F.C

local fathom = { C = C, Tensor_methods = T.Tensor, Size = T.Size }

function fathom.Tensor(...) return T.new(nil, ...) end
function fathom.FloatTensor(...) return T.new('float', ...) end
function fathom.DoubleTensor(...) return T.new('double', ...) end
function fathom.LongTensor(...) return T.new('long', ...) end
function fathom.ByteTensor(...) return T.new('byte', ...) end
fathom.isTensor = T.isTensor
function fathom.setdefaulttensortype(name) T.setDefault((name:gsub('^fathom%.', ''):gsub('Tensor$', ''):lower())) end
function fathom.getdefaulttensortype() return T.getDefault() end
function fathom.typename(x) if T.isTensor(x) then return x:type() end end

function fathom.zeros(...) return fathom.Tensor(...) end
function fathom.ones(...) return fathom.Tensor(...):fill(1) end
function fathom.rand(...) return fathom.Tensor(...):uniform(0, 1) end
function fathom.randn(...) return fathom.Tensor(...):normal(0, 1) end
function fathom.range(a, b, step)
  step = step or 1
  local n = math.floor((b - a) / step) + 1
  local t = fathom.Tensor(n)
  for i = 1, n do t[i] = a + (i - 1) * step end
  return t
end
-- A random permutation of 1..n (1-based, as Torch7's), as a LongTensor.
function fathom.randperm(n, g)
  if type(n) ~= 'number' or n < 1 or n ~= math.floor(n) then
    error('randperm: n must be a positive integer, got ' .. tostring(n), 2)
  end
  local t = fathom.LongTensor(n)
  F.check(C.ft_randperm(g or C.ft_default_generator(), t.p), 'randperm')
  return t:add(1)
end
function fathom.mm(a, b) return T.construct(T.BY_ID[a.p.dtype], 'mm'):mm(a, b) end

fathom.manualSeed = rng.manualSeed
fathom.getRNGState = rng.getRNGState
fathom.setRNGState = rng.setRNGState
fathom.Generator = rng.Generator
fathom.random = rng

function fathom.setnumthreads(n) F.check(C.ft_set_num_threads(n), 'setnumthreads') end
function fathom.getnumthreads() return C.ft_get_num_threads() end
function fathom.hasCUDA() return C.ft_has_cuda() ~= 0 end
-- Live C memory and tensor headers: what leak checks assert on.
function fathom.memory() return tonumber(C.ft_bytes_allocated()), tonumber(C.ft_live_tensors()) end

-- Torch7-style free functions: fathom.sum(x), fathom.add(a, b), ...
for _, name in ipairs({ 'sum', 'mean', 'std', 'var', 'max', 'min', 'prod', 'norm', 'dot' }) do
  fathom[name] = function(t, ...) return T.Tensor[name](t, ...) end
end
for _, name in ipairs({ 'abs', 'sqrt', 'exp', 'log', 'tanh', 'sigmoid', 'neg', 'square', 'sign',
                        'floor', 'ceil' }) do
  fathom[name] = function(t) local r = T.Tensor.clone(t) return r[name](r) end
end
fathom.clone = T.Tensor.clone
fathom.contiguous = T.Tensor.contiguous
function fathom.add(a, b, c) local r = T.Tensor.clone(a) if c then return r:add(b, c) end return r:add(b) end
function fathom.cmul(a, b) return T.Tensor.clone(a):cmul(b) end
function fathom.cdiv(a, b) return T.Tensor.clone(a):cdiv(b) end
function fathom.mul(a, v) return T.Tensor.clone(a):mul(v) end

-- Submodules on first use.
setmetatable(fathom, { __index = function(_, k)
  local ok, mod = pcall(require, 'fathom.' .. k)
  if ok then rawset(fathom, k, mod) return mod end
  if not tostring(mod):find("module 'fathom." .. k .. "' not found", 1, true) then error(mod, 2) end
  return nil
end })

if C.ft_get_num_threads() < 1 then C.ft_set_num_threads(1) end
return fathom
