-- fathom/tensor.lua -- the Tensor type: a small FFI struct holding one ft_tensor*,
-- with Torch7's interface. Dims and indices are 1-based here, 0-based in C.
-- Memory: every handle owns one reference (freed by __gc); views share storage in C,
-- so a view that outlives its parent stays valid. LuaJIT cannot see C memory, so
-- allocations past a soft limit trigger a collection (as Torch7 did).
local ffi = require 'ffi'
local F = require 'fathom.ffi'
local C, check, out = F.C, F.check, F.out

ffi.cdef [[ typedef struct fathom_Tensor { ft_tensor *p; } fathom_Tensor; ]]

local Tensor = {}        -- methods
local Size = {}          -- the result of :size(), Torch7's LongStorage stand-in
Size.__index = Size

local DTYPES = {
  float = { id = C.FT_FLOAT32, name = 'fathom.FloatTensor', ctype = 'float*' },
  double = { id = C.FT_FLOAT64, name = 'fathom.DoubleTensor', ctype = 'double*' },
  long = { id = C.FT_INT64, name = 'fathom.LongTensor', ctype = 'int64_t*' },
  byte = { id = C.FT_UINT8, name = 'fathom.ByteTensor', ctype = 'uint8_t*' },
}
local BY_ID = {}
for key, d in pairs(DTYPES) do d.key = key; BY_ID[tonumber(d.id)] = d end
local default_dtype = DTYPES.float

local handle_t = ffi.typeof('fathom_Tensor')

-- GC pressure: collect when live C bytes pass a soft limit that grows with use.
local gc_limit = 256 * 2^20
local function pressure()
  local live = tonumber(C.ft_bytes_allocated())
  if live > gc_limit then
    collectgarbage('collect')
    live = tonumber(C.ft_bytes_allocated())
    gc_limit = math.max(256 * 2^20, 2 * live)
  end
end

-- Wrap the tensor C handed us in out[0] (we own that reference).
local function wrap(ptr)
  local h = handle_t()
  h.p = ptr
  return h
end
Tensor._wrap = wrap

local function is_tensor(x) return ffi.istype(handle_t, x) end
Tensor.isTensor = is_tensor

local function is_size(x) return getmetatable(x) == Size end

local function argerr(fname, msg, level) error(fname .. ': ' .. msg, (level or 2) + 1) end

local function check_tensor(x, fname, what)
  if not is_tensor(x) then
    argerr(fname, (what or 'argument') .. ' must be a fathom tensor, got ' .. type(x), 3)
  end
  return x
end
Tensor._check = check_tensor

local function check_int(x, fname, what)
  if type(x) ~= 'number' or x ~= math.floor(x) then
    argerr(fname, (what or 'argument') .. ' must be an integer, got ' .. tostring(x), 3)
  end
  return x
end

local function check_dim(t, d, fname)
  check_int(d, fname, 'dimension')
  local n = t.p.ndim
  if d < 1 or d > n then
    argerr(fname, ('dimension %d out of range (tensor has %d dimensions)'):format(d, n), 3)
  end
  return d - 1
end

-- Sizes from varargs: numbers, a Size, or a table of numbers; fills F.sizes.
local function read_sizes(fname, ...)
  local first = ...
  local list
  if is_size(first) or (type(first) == 'table' and not is_tensor(first)) then
    list = first
  else
    list = { ... }
  end
  local n = #list
  if n > 8 then argerr(fname, 'at most 8 dimensions, got ' .. n, 3) end
  for i = 1, n do
    local s = list[i]
    if type(s) ~= 'number' or s ~= math.floor(s) then
      argerr(fname, ('size %d must be an integer, got %s'):format(i, tostring(s)), 3)
    end
    F.sizes[i - 1] = s
  end
  return n
end

local function new_tensor(dtype, ndim, sizes)
  check(C.ft_tensor_new(out, dtype.id, C.FT_CPU, ndim, sizes), 'fathom.Tensor', 3)
  local t = wrap(out[0])
  pressure()
  return t
end

-- Flatten a nested table of numbers, checking it is rectangular.
local function table_shape(tbl, fname)
  local sizes, node = {}, tbl
  while type(node) == 'table' do
    sizes[#sizes + 1] = #node
    node = node[1]
  end
  local flat = {}
  local function walk(x, d)
    if d > #sizes then
      if type(x) ~= 'number' then argerr(fname, 'table holds a non-number: ' .. tostring(x), 4) end
      flat[#flat + 1] = x
      return
    end
    if type(x) ~= 'table' or #x ~= sizes[d] then
      argerr(fname, 'table is not rectangular (dimension ' .. d .. ')', 4)
    end
    for i = 1, #x do walk(x[i], d + 1) end
  end
  walk(tbl, 1)
  return sizes, flat
end

local function construct(dtype, fname, ...)
  local first = ...
  if first == nil then return new_tensor(dtype, 0, nil) end
  if is_tensor(first) then -- Torch7: a new tensor on the same storage
    check(C.ft_tensor_alias(out, first.p), fname)
    return wrap(out[0])
  end
  if type(first) == 'table' and not is_size(first) then
    local sizes, flat = table_shape(first, fname)
    if #flat == 0 then return new_tensor(dtype, 0, nil) end
    for i, s in ipairs(sizes) do F.sizes[i - 1] = s end
    local t = new_tensor(dtype, #sizes, F.sizes)
    local p = ffi.cast(dtype.ctype, C.ft_data(t.p))
    for i = 1, #flat do p[i - 1] = flat[i] end
    return t
  end
  local n = read_sizes(fname, ...)
  return new_tensor(dtype, n, F.sizes)
end

---------------------------------------------------------------------------- shape
function Tensor.dim(t) return t.p.ndim end
Tensor.nDimension = Tensor.dim

function Tensor.size(t, d)
  if d then return tonumber(t.p.size[check_dim(t, d, 'size')]) end
  local s = setmetatable({}, Size)
  for i = 0, t.p.ndim - 1 do s[i + 1] = tonumber(t.p.size[i]) end
  return s
end

function Tensor.stride(t, d)
  if d then return tonumber(t.p.stride[check_dim(t, d, 'stride')]) end
  local s = setmetatable({}, Size)
  for i = 0, t.p.ndim - 1 do s[i + 1] = tonumber(t.p.stride[i]) end
  return s
end

function Tensor.nElement(t) return tonumber(C.ft_numel(t.p)) end
Tensor.numel = Tensor.nElement
function Tensor.isContiguous(t) return C.ft_is_contiguous(t.p) ~= 0 end
function Tensor.storageOffset(t) return tonumber(t.p.offset) + 1 end
function Tensor.type(t, name)
  if name == nil then return BY_ID[t.p.dtype].name end
  for _, d in pairs(DTYPES) do
    if d.name == name or d.key == name then return Tensor.to(t, d.key) end
  end
  argerr('type', 'unknown tensor type ' .. tostring(name))
end
function Tensor.dtype(t) return BY_ID[t.p.dtype].key end
-- A typed pointer to the first element, for hand-written Lua loops (keep t alive).
function Tensor.data(t) return ffi.cast(BY_ID[t.p.dtype].ctype, C.ft_data(t.p)) end
function Tensor.isSameSizeAs(a, b)
  check_tensor(b, 'isSameSizeAs')
  if a.p.ndim ~= b.p.ndim then return false end
  for i = 0, a.p.ndim - 1 do if a.p.size[i] ~= b.p.size[i] then return false end end
  return true
end

---------------------------------------------------------------------------- views
function Tensor.view(t, ...)
  local first = ...
  if is_tensor(first) then return Tensor.viewAs(t, first) end
  local n = read_sizes('view', ...)
  local known, infer = 1, nil
  for i = 0, n - 1 do
    if F.sizes[i] == -1 then
      if infer then argerr('view', 'only one size may be -1') end
      infer = i
    else
      known = known * tonumber(F.sizes[i])
    end
  end
  if infer then
    local total = Tensor.nElement(t)
    if known == 0 or total % known ~= 0 then
      argerr('view', ('cannot infer size -1: %d elements are not a multiple of %d'):format(total, known))
    end
    F.sizes[infer] = total / known
  end
  check(C.ft_tensor_view(out, t.p, n, F.sizes), 'view')
  return wrap(out[0])
end

function Tensor.viewAs(t, other)
  check_tensor(other, 'viewAs')
  check(C.ft_tensor_view(out, t.p, other.p.ndim, other.p.size), 'viewAs')
  return wrap(out[0])
end

function Tensor.reshape(t, ...)
  local v = Tensor.view(Tensor.contiguous(t), ...)
  if v.p.storage == t.p.storage then return Tensor.clone(v) end -- Torch7: reshape copies
  return v
end

function Tensor.narrow(t, d, index, size)
  local dim = check_dim(t, d, 'narrow')
  check_int(index, 'narrow', 'index'); check_int(size, 'narrow', 'size')
  check(C.ft_tensor_narrow(out, t.p, dim, index - 1, size), 'narrow')
  return wrap(out[0])
end

function Tensor.select(t, d, index)
  local dim = check_dim(t, d, 'select')
  check_int(index, 'select', 'index')
  check(C.ft_tensor_select(out, t.p, dim, index - 1), 'select')
  return wrap(out[0])
end

function Tensor.transpose(t, d1, d2)
  local a, b = check_dim(t, d1, 'transpose'), check_dim(t, d2, 'transpose')
  check(C.ft_tensor_transpose(out, t.p, a, b), 'transpose')
  return wrap(out[0])
end

function Tensor.t(t)
  if t.p.ndim ~= 2 then argerr('t', 'tensor must be 2-D, got ' .. t.p.ndim .. '-D') end
  return Tensor.transpose(t, 1, 2)
end

function Tensor.contiguous(t)
  check(C.ft_tensor_contiguous(out, t.p), 'contiguous')
  return wrap(out[0])
end

function Tensor.to(t, key)
  local d = DTYPES[key]
  if not d then argerr('to', 'unknown dtype ' .. tostring(key)) end
  if t.p.dtype == d.id then return t end
  check(C.ft_tensor_to_dtype(out, t.p, d.id), 'type conversion')
  pressure()
  return wrap(out[0])
end
function Tensor.float(t) return Tensor.to(t, 'float') end
function Tensor.double(t) return Tensor.to(t, 'double') end
function Tensor.long(t) return Tensor.to(t, 'long') end
function Tensor.byte(t) return Tensor.to(t, 'byte') end

function Tensor.clone(t)
  check(C.ft_tensor_to_dtype(out, t.p, t.p.dtype), 'clone')
  pressure()
  return wrap(out[0])
end

-- Resize in place (Torch7): the handle gets a new header; old views keep old memory.
function Tensor.resize(t, ...)
  local n = read_sizes('resize', ...)
  local same = n == t.p.ndim
  for i = 0, n - 1 do same = same and F.sizes[i] == t.p.size[i] end
  if same and C.ft_is_contiguous(t.p) ~= 0 then return t end
  local elems = 1
  for i = 0, n - 1 do elems = elems * tonumber(F.sizes[i]) end
  if C.ft_is_contiguous(t.p) ~= 0 and elems == Tensor.nElement(t) and n > 0 then
    check(C.ft_tensor_view(out, t.p, n, F.sizes), 'resize')
  else
    check(C.ft_tensor_new(out, t.p.dtype, t.p.device, n, F.sizes), 'resize')
    pressure()
  end
  local old = t.p
  t.p = out[0]
  C.ft_tensor_free(old)
  return t
end

function Tensor.resizeAs(t, other)
  check_tensor(other, 'resizeAs')
  return Tensor.resize(t, Tensor.size(other))
end

-- Share other's storage and shape (Torch7's set).
function Tensor.set(t, other)
  check_tensor(other, 'set')
  check(C.ft_tensor_alias(out, other.p), 'set')
  local old = t.p
  t.p = out[0]
  C.ft_tensor_free(old)
  return t
end

---------------------------------------------------------------------------- fill, copy
function Tensor.fill(t, v)
  if type(v) ~= 'number' then argerr('fill', 'value must be a number, got ' .. type(v)) end
  check(C.ft_fill(t.p, v), 'fill')
  return t
end
function Tensor.zero(t) return Tensor.fill(t, 0) end

function Tensor.copy(t, src)
  check_tensor(src, 'copy', 'source')
  check(C.ft_copy(t.p, src.p), 'copy')
  return t
end

---------------------------------------------------------------------------- arithmetic
local U = {
  neg = C.FT_OP_NEG, abs = C.FT_OP_ABS, sqrt = C.FT_OP_SQRT, exp = C.FT_OP_EXP,
  log = C.FT_OP_LOG, tanh = C.FT_OP_TANH, sigmoid = C.FT_OP_SIGMOID, square = C.FT_OP_SQUARE,
  sign = C.FT_OP_SIGN, floor = C.FT_OP_FLOOR, ceil = C.FT_OP_CEIL,
}
-- Torch7 style: t:abs() in place; r:abs(x) writes abs(x) into r.
for name, op in pairs(U) do
  Tensor[name] = function(t, src)
    src = src and check_tensor(src, name) or t
    if src ~= t then Tensor.resizeAs(t, src) end
    check(C.ft_unary(t.p, src.p, op, 0), name)
    return t
  end
end

local function scalar_op(name, op)
  return function(t, a, b) -- t:op(v) or t:op(src, v)
    local src, v = t, a
    if is_tensor(a) then src, v = a, b; Tensor.resizeAs(t, src) end
    if type(v) ~= 'number' then argerr(name, 'value must be a number, got ' .. type(v), 3) end
    check(C.ft_unary(t.p, src.p, op, v), name, 3)
    return t
  end
end
Tensor.mul = scalar_op('mul', C.FT_OP_MUL_SCALAR)
Tensor.pow = scalar_op('pow', C.FT_OP_POW)
function Tensor.div(t, a, b)
  if is_tensor(a) then return Tensor.mul(t, a, 1 / b) end
  return Tensor.mul(t, 1 / a)
end
function Tensor.clamp(t, lo, hi)
  check(C.ft_unary(t.p, t.p, C.FT_OP_CLAMP_MIN, lo), 'clamp')
  check(C.ft_unary(t.p, t.p, C.FT_OP_CLAMP_MAX, hi), 'clamp')
  return t
end

-- add: t:add(v) | t:add(y) | t:add(v, y) | t:add(a, b) | t:add(a, v, b)
function Tensor.add(t, a, b, c)
  if c ~= nil then -- t = a + b*c
    check_tensor(a, 'add'); check_tensor(c, 'add')
    Tensor.resizeAs(t, a)
    check(C.ft_axpy(t.p, a.p, b, c.p), 'add')
  elseif b ~= nil then
    if type(a) == 'number' then check_tensor(b, 'add'); check(C.ft_axpy(t.p, t.p, a, b.p), 'add')
    else
      check_tensor(a, 'add'); check_tensor(b, 'add')
      Tensor.resizeAs(t, a)
      check(C.ft_axpy(t.p, a.p, 1, b.p), 'add')
    end
  elseif type(a) == 'number' then
    check(C.ft_unary(t.p, t.p, C.FT_OP_ADD_SCALAR, a), 'add')
  else
    check_tensor(a, 'add')
    check(C.ft_axpy(t.p, t.p, 1, a.p), 'add')
  end
  return t
end

function Tensor.sub(t, a, b)
  if b ~= nil then return Tensor.add(t, a, -1, b) end
  if type(a) == 'number' then return Tensor.add(t, -a) end
  return Tensor.add(t, -1, a)
end

local function binary(name, op)
  return function(t, a, b)
    local x, y = t, a
    if b ~= nil then x, y = a, b; check_tensor(x, name); Tensor.resizeAs(t, x) end
    check_tensor(y, name)
    check(C.ft_binary(t.p, x.p, y.p, op), name, 3)
    return t
  end
end
Tensor.cmul = binary('cmul', C.FT_OP_MUL)
Tensor.cdiv = binary('cdiv', C.FT_OP_DIV)
Tensor.cmax = binary('cmax', C.FT_OP_MAX)
Tensor.cmin = binary('cmin', C.FT_OP_MIN)

-- Comparisons give a tensor of 0/1 of the same type.
for name, op in pairs({ eq = C.FT_OP_EQ, ne = C.FT_OP_NE, lt = C.FT_OP_LT, le = C.FT_OP_LE,
                        gt = C.FT_OP_GT, ge = C.FT_OP_GE }) do
  Tensor[name] = function(a, b)
    check_tensor(b, name)
    local r = Tensor.clone(a)
    check(C.ft_binary(r.p, a.p, b.p, op), name)
    return r
  end
end

-- Matrix products through OpenBLAS.
function Tensor.addmm(t, a, b, c, d, e) -- t:addmm(M1, M2) | t:addmm(beta, M, alpha, M1, M2)
  local beta, alpha, m1, m2 = 1, 1, a, b
  if type(a) == 'number' then beta, alpha, m1, m2 = a, c, d, e; t = Tensor.copy(t, b) end
  check_tensor(m1, 'addmm'); check_tensor(m2, 'addmm')
  check(C.ft_gemm(t.p, m1.p, m2.p, 0, 0, alpha, beta), 'addmm')
  return t
end
function Tensor.mm(t, a, b)
  check_tensor(a, 'mm'); check_tensor(b, 'mm')
  if a.p.ndim ~= 2 or b.p.ndim ~= 2 then argerr('mm', 'both matrices must be 2-D') end
  Tensor.resize(t, Tensor.size(a, 1), Tensor.size(b, 2))
  check(C.ft_gemm(t.p, a.p, b.p, 0, 0, 1, 0), 'mm')
  return t
end
function Tensor.dot(a, b)
  check_tensor(b, 'dot')
  local r = Tensor.clone(a)
  check(C.ft_binary(r.p, a.p, b.p, C.FT_OP_MUL), 'dot')
  return Tensor.sum(r)
end

---------------------------------------------------------------------------- reductions
local R = { sum = C.FT_RED_SUM, mean = C.FT_RED_MEAN, max = C.FT_RED_MAX, min = C.FT_RED_MIN,
            var = C.FT_RED_VAR, std = C.FT_RED_STD, prod = C.FT_RED_PROD }
for name, op in pairs(R) do
  Tensor[name] = function(t, d)
    if d == nil then
      check(C.ft_reduce_all(t.p, op, F.dbl), name)
      return F.dbl[0]
    end
    local dim = check_dim(t, d, name)
    local sz = Tensor.size(t)
    sz[d] = 1
    local r = construct(BY_ID[t.p.dtype] == DTYPES.long and DTYPES.double or BY_ID[t.p.dtype], name, sz)
    if name == 'max' or name == 'min' then
      local idx = construct(DTYPES.long, name, sz)
      check(C.ft_reduce_dim(r.p, idx.p, t.p, dim, op), name)
      return r, Tensor.add(idx, 1) -- Torch7 indices are 1-based
    end
    check(C.ft_reduce_dim(r.p, nil, t.p, dim, op), name)
    return r
  end
end

function Tensor.norm(t) return math.sqrt(Tensor.sum(Tensor.clone(t):square())) end

---------------------------------------------------------------------------- random
local rng = require 'fathom.random'
function Tensor.uniform(t, a, b) rng.uniform(t, a or 0, b or 1) return t end
function Tensor.normal(t, m, s) rng.normal(t, m or 0, s or 1) return t end
function Tensor.bernoulli(t, p) rng.bernoulli(t, p or 0.5) return t end

---------------------------------------------------------------------------- elements
local function coords(t, i, fname)
  check_int(i, fname, 'index')
  local n = tonumber(t.p.size[0])
  if i < 1 or i > n then
    argerr(fname, ('index %d out of range for dimension 1 of size %d'):format(i, n), 3)
  end
  F.idx[0] = i - 1
end

function Tensor.get(t, ...)
  local n = select('#', ...)
  if n ~= t.p.ndim then argerr('get', ('need %d indices, got %d'):format(t.p.ndim, n)) end
  for i = 1, n do F.idx[i - 1] = check_int(select(i, ...), 'get', 'index') - 1 end
  check(C.ft_get(t.p, F.idx, F.dbl), 'get')
  return F.dbl[0]
end

function Tensor.totable(t)
  local nd = t.p.ndim
  if nd == 0 then return {} end
  if nd == 1 then
    local r = {}
    for i = 1, tonumber(t.p.size[0]) do F.idx[0] = i - 1; C.ft_get(t.p, F.idx, F.dbl); r[i] = F.dbl[0] end
    return r
  end
  local r = {}
  for i = 1, tonumber(t.p.size[0]) do r[i] = Tensor.totable(Tensor.select(t, 1, i)) end
  return r
end

-- t[{ {1,2}, 3, {} }]: numbers select, {a,b} narrow (inclusive, negative from the end).
local function slice(t, spec, fname)
  local r, d = t, 1
  for k = 1, #spec do
    local s = spec[k]
    if d > r.p.ndim then argerr(fname, 'too many indices for a ' .. t.p.ndim .. '-D tensor', 3) end
    local n = tonumber(r.p.size[d - 1])
    if type(s) == 'number' then
      if s < 0 then s = n + 1 + s end
      if r.p.ndim == 1 then r = Tensor.narrow(r, 1, s, 1) d = d + 1
      else r = Tensor.select(r, d, s) end
    elseif type(s) == 'table' then
      local a, b = s[1] or 1, s[2] or s[1] or n
      if a < 0 then a = n + 1 + a end
      if b < 0 then b = n + 1 + b end
      r = Tensor.narrow(r, d, a, b - a + 1)
      d = d + 1
    else
      argerr(fname, 'index ' .. k .. ' must be a number or a table', 3)
    end
  end
  return r
end

---------------------------------------------------------------------------- metatable
local mt = {}
function mt.__index(t, k)
  if type(k) == 'number' then
    if t.p.ndim == 1 then
      coords(t, k, '__index')
      check(C.ft_get(t.p, F.idx, F.dbl), '__index')
      return F.dbl[0]
    end
    if t.p.ndim == 0 then argerr('__index', 'cannot index an empty tensor') end
    return Tensor.select(t, 1, k)
  elseif type(k) == 'table' then
    return slice(t, k, '__index')
  end
  return Tensor[k]
end

function mt.__newindex(t, k, v)
  local target
  if type(k) == 'number' then
    if t.p.ndim == 1 then
      coords(t, k, '__newindex')
      if type(v) ~= 'number' then argerr('__newindex', 'value must be a number, got ' .. type(v)) end
      check(C.ft_set(t.p, F.idx, v), '__newindex')
      return
    end
    if t.p.ndim == 0 then argerr('__newindex', 'cannot index an empty tensor') end
    target = Tensor.select(t, 1, k)
  elseif type(k) == 'table' then
    target = slice(t, k, '__newindex')
  else
    argerr('__newindex', 'cannot set field ' .. tostring(k) .. ' of a tensor')
  end
  if is_tensor(v) then Tensor.copy(target, v) else Tensor.fill(target, v) end
end

function mt.__len(t) return t.p.ndim > 0 and tonumber(t.p.size[0]) or 0 end
function mt.__gc(t) C.ft_tensor_free(t.p); t.p = nil end
mt.__tostring = function(t) return require('fathom.print').tensor(t) end
mt.__add = function(a, b)
  if type(a) == 'number' then a, b = b, a end
  if type(b) == 'number' then return Tensor.clone(a):add(b) end
  return Tensor.clone(a):add(b)
end
mt.__sub = function(a, b)
  if type(a) == 'number' then return Tensor.clone(b):mul(-1):add(a) end
  if type(b) == 'number' then return Tensor.clone(a):add(-b) end
  return Tensor.clone(a):add(-1, b)
end
mt.__mul = function(a, b)
  if type(a) == 'number' then a, b = b, a end
  if type(b) == 'number' then return Tensor.clone(a):mul(b) end
  if a.p.ndim == 2 and b.p.ndim == 2 then return construct(BY_ID[a.p.dtype], 'mm'):mm(a, b) end
  return Tensor.dot(a, b)
end
mt.__div = function(a, b) return Tensor.clone(a):div(b) end
mt.__unm = function(a) return Tensor.clone(a):neg() end
ffi.metatype(handle_t, mt)

function Size.__tostring(s)
  local parts = {}
  for i = 1, #s do parts[i] = tostring(s[i]) end
  return table.concat(parts, 'x') .. '\n[fathom.Size of size ' .. #s .. ']'
end
function Size.size(s) return #s end
Size.__eq = function(a, b)
  if #a ~= #b then return false end
  for i = 1, #a do if a[i] ~= b[i] then return false end end
  return true
end
function Size.totable(s) local r = {} for i = 1, #s do r[i] = s[i] end return r end

---------------------------------------------------------------------------- module
local M = { Tensor = Tensor, Size = Size, DTYPES = DTYPES, BY_ID = BY_ID,
            isTensor = is_tensor, wrap = wrap, construct = construct, pressure = pressure }

function M.new(key, ...)
  return construct(key and DTYPES[key] or default_dtype, 'fathom.Tensor', ...)
end
function M.setDefault(key)
  if not DTYPES[key] then argerr('setdefaulttensortype', 'unknown type ' .. tostring(key)) end
  default_dtype = DTYPES[key]
end
function M.getDefault() return default_dtype.key end
return M
