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
-- Sizes as Torch7 code builds them: fathom.LongStorage({2, 3}) or fathom.LongStorage(n).
function fathom.LongStorage(x)
  local s = setmetatable({}, T.Size)
  if type(x) == 'table' then for i, v in ipairs(x) do s[i] = v end
  elseif type(x) == 'number' then for i = 1, x do s[i] = 0 end
  elseif x ~= nil then error('LongStorage: expected a table or a size, got ' .. type(x), 2) end
  return s
end
-- Accepts 'fathom.DoubleTensor', Torch7's 'torch.DoubleTensor' or 'double'.
function fathom.setdefaulttensortype(name)
  if type(name) ~= 'string' then error('setdefaulttensortype: name must be a string', 2) end
  T.setDefault((name:gsub('^%a+%.', ''):gsub('Tensor$', ''):lower()))
end
function fathom.getdefaulttensortype() return T.DTYPES[T.getDefault()].name end
function fathom.typename(x) if T.isTensor(x) then return x:type() end end

function fathom.zeros(...) return fathom.Tensor(...) end
function fathom.ones(...) return fathom.Tensor(...):fill(1) end
function fathom.rand(...) return fathom.Tensor(...):uniform(0, 1) end
function fathom.randn(...) return fathom.Tensor(...):normal(0, 1) end

local function need_numbers(fname, ...)
  for i = 1, select('#', ...) do
    local v = select(i, ...)
    if type(v) ~= 'number' then error(('%s: argument %d must be a number, got %s'):format(fname, i, type(v)), 3) end
  end
end
-- a, a+step, ..., up to b inclusive (Torch7's torch.range), in the default type.
function fathom.range(a, b, step)
  step = step or 1
  need_numbers('range', a, b, step)
  if step == 0 or (b - a) * step < 0 then
    error(('range: cannot go from %g to %g in steps of %g'):format(a, b, step), 2)
  end
  local n = math.floor((b - a) / step + 1e-9) + 1
  local t = fathom.Tensor(n)
  local p = t:double()
  local d = p:data()
  for i = 0, n - 1 do d[i] = a + i * step end
  return p == t and t or t:copy(p)
end
-- n points from a to b inclusive.
function fathom.linspace(a, b, n)
  n = n or 100
  need_numbers('linspace', a, b, n)
  if n < 1 or n ~= math.floor(n) then error('linspace: n must be a positive integer, got ' .. n, 2) end
  local t = fathom.DoubleTensor(n)
  local d = t:data()
  for i = 0, n - 1 do d[i] = n == 1 and a or a + (b - a) * i / (n - 1) end
  return fathom.Tensor(n):copy(t)
end
-- The n x m identity (m defaults to n).
function fathom.eye(n, m)
  m = m or n
  need_numbers('eye', n, m)
  local t = fathom.Tensor(n, m)
  for i = 1, math.min(n, m) do t[{ i, i }] = 1 end
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

local check_tensor = T.Tensor._check
local function result_like(a, fname) return T.construct(T.BY_ID[a.p.dtype], fname) end
function fathom.mm(a, b)
  check_tensor(a, 'mm', 'first matrix')
  return result_like(a, 'mm'):mm(a, b)
end
function fathom.mv(a, b)
  check_tensor(a, 'mv', 'matrix')
  return result_like(a, 'mv'):mv(a, b)
end
function fathom.cat(first, ...)
  local a = first
  if type(first) == 'table' then a = first[1] end
  check_tensor(a, 'cat', 'first tensor')
  return result_like(a, 'cat'):cat(first, ...)
end
function fathom.reshape(t, ...) check_tensor(t, 'reshape') return t:reshape(...) end

fathom.manualSeed = rng.manualSeed
fathom.getRNGState = rng.getRNGState
fathom.setRNGState = rng.setRNGState
fathom.Generator = rng.Generator
fathom.random = rng

function fathom.setnumthreads(n)
  if type(n) ~= 'number' then error('setnumthreads: n must be a number, got ' .. type(n), 2) end
  F.check(C.ft_set_num_threads(n), 'setnumthreads')
end
function fathom.getnumthreads() return C.ft_get_num_threads() end
function fathom.hasCUDA() return C.ft_has_cuda() ~= 0 end
-- Live C memory and tensor headers: what leak checks assert on.
function fathom.memory() return tonumber(C.ft_bytes_allocated()), tonumber(C.ft_live_tensors()) end

-- Torch7-style free functions: fathom.sum(x), fathom.add(a, b), ... (new results).
for _, name in ipairs({ 'sum', 'mean', 'std', 'var', 'max', 'min', 'prod', 'norm', 'dot',
                        'squeeze', 'permute', 'expand', 'index', 'equal', 't', 'transpose',
                        'narrow', 'select', 'view', 'clone', 'contiguous', 'totable' }) do
  fathom[name] = function(t, ...) check_tensor(t, name) return T.Tensor[name](t, ...) end
end
for _, name in ipairs({ 'abs', 'sqrt', 'exp', 'log', 'tanh', 'sigmoid', 'neg', 'square', 'sign',
                        'floor', 'ceil', 'pow', 'clamp' }) do
  fathom[name] = function(t, ...) check_tensor(t, name) local r = T.Tensor.clone(t) return r[name](r, ...) end
end
for _, name in ipairs({ 'add', 'sub', 'mul', 'div', 'cmul', 'cdiv', 'cmax', 'cmin' }) do
  fathom[name] = function(a, ...) check_tensor(a, name) return T.Tensor[name](T.Tensor.clone(a), ...) end
end
for _, name in ipairs({ 'lt', 'le', 'gt', 'ge', 'eq', 'ne' }) do
  fathom[name] = function(a, b) check_tensor(a, name) return T.Tensor[name](a, b) end
end

-- Submodules on first use.
setmetatable(fathom, { __index = function(_, k)
  local ok, mod = pcall(require, 'fathom.' .. k)
  if ok then rawset(fathom, k, mod) return mod end
  if not tostring(mod):find("module 'fathom." .. k .. "' not found", 1, true) then error(mod, 2) end
  return nil
end })

if C.ft_get_num_threads() < 1 then C.ft_set_num_threads(1) end

-- OpenBLAS's kernels as the loader found and chose them (bindings/loader.lua):
-- { core = the core in use, cpu = the CPU's model name, forced = whether Fathom set
--   OPENBLAS_CORETYPE, reported = what OpenBLAS would have picked by itself,
--   message = one line for people }.
function fathom.openblasInfo()
  local info = require('fathom.openblas').info
  return { core = info.core, cpu = info.cpu, forced = info.forced, reported = info.reported,
           message = info.message }
end
return fathom
