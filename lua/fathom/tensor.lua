-- fathom/tensor.lua -- the Tensor type: a small FFI struct holding one ft_tensor*,
-- with Torch7's interface. Dims and indices are 1-based here, 0-based in C.
-- Memory: every handle owns one reference (freed by __gc); views share storage in C,
-- so a view that outlives its parent stays valid. LuaJIT cannot see C memory, so
-- allocations past a soft limit trigger a collection (as Torch7 did).
local ffi = require 'ffi'
local F = require 'fathom.ffi'
local C, check, out = F.C, F.check, F.out

-- The FFI type and its metatable can be set only once per process, so a second load of
-- this file (busted's insulation unloads modules between spec files) must hand back the
-- first instance, or tensors and Size objects would have two incompatible method tables.
local REG = debug.getregistry()
if REG.fathom_tensor_module then return REG.fathom_tensor_module end

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
-- Tensors on the GPU (device FT_CUDA) have cutorch's type names; :cuda() makes float32.
local CUDA_NAMES = { float = 'fathom.CudaTensor', double = 'fathom.CudaDoubleTensor',
                     long = 'fathom.CudaLongTensor', byte = 'fathom.CudaByteTensor' }
local CUDA_KEYS = { cuda = 'float' }
for key, name in pairs(CUDA_NAMES) do CUDA_KEYS[name] = key end
local function is_cuda(t) return t.p.device == C.FT_CUDA end

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
-- t:type() names the type; t:type(name) converts ('fathom.DoubleTensor', Torch7's
-- 'torch.DoubleTensor' or just 'double'), returning t itself when it already is one.
function Tensor.type(t, name)
  if name == nil then
    local key = BY_ID[t.p.dtype].key
    return is_cuda(t) and CUDA_NAMES[key] or BY_ID[t.p.dtype].name
  end
  if type(name) == 'string' then
    local n = name:gsub('^torch%.', 'fathom.')
    if CUDA_KEYS[n] then return Tensor.cuda(t, CUDA_KEYS[n]) end
    for _, d in pairs(DTYPES) do
      if d.name == n or d.key == n then return Tensor.to(t, d.key) end
    end
  end
  argerr('type', 'unknown tensor type ' .. tostring(name))
end
function Tensor.typeAs(t, other) return Tensor.type(t, Tensor.type(check_tensor(other, 'typeAs'))) end
function Tensor.dtype(t) return BY_ID[t.p.dtype].key end
-- A typed pointer to the first element, for hand-written Lua loops (keep t alive).
function Tensor.data(t)
  if is_cuda(t) then argerr('data', 'the tensor is in GPU memory; copy it to the host first (t:float())') end
  return ffi.cast(BY_ID[t.p.dtype].ctype, C.ft_data(t.p))
end
-- 'cpu' or 'cuda'; t:isCuda() as a boolean.
function Tensor.device(t) return is_cuda(t) and 'cuda' or 'cpu' end
function Tensor.isCuda(t) return is_cuda(t) end
function Tensor.isSameSizeAs(a, b)
  check_tensor(b, 'isSameSizeAs')
  if a.p.ndim ~= b.p.ndim then return false end
  for i = 0, a.p.ndim - 1 do if a.p.size[i] ~= b.p.size[i] then return false end end
  return true
end

---------------------------------------------------------------------------- views
-- Read view/reshape sizes into F.sizes, inferring one -1 from t's element count.
local function view_sizes(t, fname, ...)
  local n = read_sizes(fname, ...)
  local known, infer = 1, nil
  for i = 0, n - 1 do
    if F.sizes[i] == -1 then
      if infer then argerr(fname, 'only one size may be -1', 3) end
      infer = i
    else
      known = known * tonumber(F.sizes[i])
    end
  end
  if infer then
    local total = Tensor.nElement(t)
    if known == 0 or total % known ~= 0 then
      argerr(fname, ('cannot infer size -1: %d elements are not a multiple of %d'):format(total, known), 3)
    end
    F.sizes[infer] = total / known
  end
  return n
end

function Tensor.view(t, ...)
  if is_tensor((...)) then return Tensor.viewAs(t, (...)) end
  local n = view_sizes(t, 'view', ...)
  check(C.ft_tensor_view(out, t.p, n, F.sizes), 'view')
  return wrap(out[0])
end

function Tensor.viewAs(t, other)
  check_tensor(other, 'viewAs')
  check(C.ft_tensor_view(out, t.p, other.p.ndim, other.p.size), 'viewAs')
  return wrap(out[0])
end

-- A new tensor with t's elements in row-major order and the given sizes (Torch7's
-- reshape always copies; view shares).
function Tensor.reshape(t, ...)
  local n = view_sizes(t, 'reshape', ...)
  check(C.ft_tensor_reshape(out, t.p, n, F.sizes), 'reshape')
  local v = wrap(out[0])
  if v.p.storage == t.p.storage then return Tensor.clone(v) end
  pressure()
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
  local r = wrap(out[0])
  if r.p.storage ~= t.p.storage then pressure() end
  return r
end

-- t:to(key): a CPU tensor of that dtype (from a CUDA tensor: a copy on the host, as
-- cutorch's :float() and :double()); t:cuda(key): a CUDA tensor (key 'float' unless given).
local function to_device(t, key, device, fname)
  local d = DTYPES[key]
  if not d then argerr(fname, 'unknown dtype ' .. tostring(key), 3) end
  if t.p.dtype == d.id and t.p.device == device then return t end
  check(C.ft_tensor_new(out, d.id, device, t.p.ndim, t.p.size), fname, 3)
  local r = wrap(out[0])
  check(C.ft_copy(r.p, t.p), fname, 3)
  pressure()
  return r
end
function Tensor.cuda(t, key) return to_device(t, key or 'float', C.FT_CUDA, 'cuda') end
function Tensor.cudaDouble(t) return to_device(t, 'double', C.FT_CUDA, 'cudaDouble') end
function Tensor.cudaLong(t) return to_device(t, 'long', C.FT_CUDA, 'cudaLong') end
function Tensor.cudaByte(t) return to_device(t, 'byte', C.FT_CUDA, 'cudaByte') end

function Tensor.to(t, key)
  local d = DTYPES[key]
  if not d then argerr('to', 'unknown dtype ' .. tostring(key)) end
  if is_cuda(t) then return to_device(t, key, C.FT_CPU, 'to') end
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

-- fill, copy, arithmetic, products, reductions, random fills: fathom/tensor_math.lua
require('fathom.tensor_math')(Tensor, {
  argerr = argerr, check_tensor = check_tensor, is_tensor = is_tensor, wrap = wrap,
  new_tensor = new_tensor, construct = construct, check_dim = check_dim, check_int = check_int,
  DTYPES = DTYPES, BY_ID = BY_ID,
})
-- permute, expand, squeeze, index, equal, cat, apply, ...: fathom/tensor_extra.lua
require('fathom.tensor_extra')(Tensor, {
  argerr = argerr, check_tensor = check_tensor, is_tensor = is_tensor, wrap = wrap,
  construct = construct, check_dim = check_dim, check_int = check_int, BY_ID = BY_ID,
})

---------------------------------------------------------------------------- elements
-- A 1-based index into a dimension of size n; negative counts from the end (Torch7).
local function index_in(i, n, dim, fname)
  check_int(i, fname, 'index')
  if i < 0 then i = n + 1 + i end
  if i < 1 or i > n then
    argerr(fname, ('index %d out of range for dimension %d of size %d'):format(i, dim, n), 4)
  end
  return i
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
  if is_cuda(t) then return Tensor.totable(Tensor.to(t, BY_ID[t.p.dtype].key)) end
  if nd == 1 then
    local r = {}
    for i = 1, tonumber(t.p.size[0]) do F.idx[0] = i - 1; C.ft_get(t.p, F.idx, F.dbl); r[i] = F.dbl[0] end
    return r
  end
  local r = {}
  for i = 1, tonumber(t.p.size[0]) do r[i] = Tensor.totable(Tensor.select(t, 1, i)) end
  return r
end

-- t[{ {1,2}, 3, {} }]: a number selects, {a,b} narrows (inclusive), {a} is {a,a}, {} all;
-- negative indices count from the end. As in Torch7, a number for every dimension
-- addresses one element: it returns true and fills F.idx instead of returning a view.
local function slice(t, spec, fname)
  local nd, all_numbers = t.p.ndim, #spec == t.p.ndim and #spec > 0
  for k = 1, #spec do all_numbers = all_numbers and type(spec[k]) == 'number' end
  if all_numbers then
    for k = 1, nd do F.idx[k - 1] = index_in(spec[k], tonumber(t.p.size[k - 1]), k, fname) - 1 end
    return true
  end
  if #spec > nd then argerr(fname, ('%d indices for a %d-D tensor'):format(#spec, nd), 3) end
  local r, d = t, 1
  for k = 1, #spec do
    local s = spec[k]
    local n = tonumber(r.p.size[d - 1])
    if type(s) == 'number' then
      s = index_in(s, n, k, fname)
      if r.p.ndim == 1 then r = Tensor.narrow(r, 1, s, 1) d = d + 1
      else r = Tensor.select(r, d, s) end
    elseif type(s) == 'table' then
      local a, b = s[1] or 1, s[2] or s[1] or n
      if type(a) ~= 'number' or type(b) ~= 'number' then
        argerr(fname, 'range ' .. k .. ' must hold numbers', 3)
      end
      if a < 0 then a = n + 1 + a end
      if b < 0 then b = n + 1 + b end
      if a < 1 or b > n or b < a - 1 then
        argerr(fname, ('range {%d,%d} out of bounds for dimension %d of size %d'):format(a, b, k, n), 3)
      end
      r = Tensor.narrow(r, d, a, b - a + 1)
      d = d + 1
    else
      argerr(fname, 'index ' .. k .. ' must be a number or a table, got ' .. type(s), 3)
    end
  end
  return r
end

---------------------------------------------------------------------------- metatable
local mt = {}
function mt.__index(t, k)
  if type(k) == 'number' then
    local n = t.p.ndim
    if n == 0 then argerr('__index', 'cannot index an empty tensor') end
    k = index_in(k, tonumber(t.p.size[0]), 1, '__index')
    if n > 1 then return Tensor.select(t, 1, k) end
    F.idx[0] = k - 1
    check(C.ft_get(t.p, F.idx, F.dbl), '__index')
    return F.dbl[0]
  elseif type(k) == 'table' then
    local r = slice(t, k, '__index')
    if r ~= true then return r end
    check(C.ft_get(t.p, F.idx, F.dbl), '__index')
    return F.dbl[0]
  end
  return Tensor[k]
end

function mt.__newindex(t, k, v)
  local target
  if not is_tensor(v) and type(v) ~= 'number' then
    argerr('__newindex', 'value must be a number or a tensor, got ' .. type(v))
  end
  if type(k) == 'number' then
    local n = t.p.ndim
    if n == 0 then argerr('__newindex', 'cannot index an empty tensor') end
    k = index_in(k, tonumber(t.p.size[0]), 1, '__newindex')
    if n > 1 then
      target = Tensor.select(t, 1, k)
    else
      if type(v) ~= 'number' then argerr('__newindex', 'value must be a number, got ' .. type(v)) end
      F.idx[0] = k - 1
      check(C.ft_set(t.p, F.idx, v), '__newindex')
      return
    end
  elseif type(k) == 'table' then
    target = slice(t, k, '__newindex')
    if target == true then
      if type(v) ~= 'number' then argerr('__newindex', 'value must be a number, got ' .. type(v)) end
      check(C.ft_set(t.p, F.idx, v), '__newindex')
      return
    end
  else
    argerr('__newindex', 'cannot set field ' .. tostring(k) .. ' of a tensor')
  end
  if is_tensor(v) then Tensor.copy(target, v) else Tensor.fill(target, v) end
end

-- #t is t:size(), as in Torch7 (use t:size(1) or t:nElement() for a number).
function mt.__len(t) return Tensor.size(t) end
function mt.__gc(t) C.ft_tensor_free(t.p); t.p = nil end
mt.__tostring = function(t)
  if not is_cuda(t) then return require('fathom.print').tensor(t) end
  local host = Tensor.to(t, BY_ID[t.p.dtype].key) -- printed from a host copy, named as on the GPU
  local s = require('fathom.print').tensor(host)
  local name = host:type()
  local at = s:find('[' .. name, 1, true)
  while at do
    s = s:sub(1, at) .. Tensor.type(t) .. s:sub(at + 1 + #name)
    at = s:find('[' .. name, at + 1, true)
  end
  return s
end

-- Operators make new tensors. a*b: matrix-matrix, matrix-vector, or a dot product.
local function operand(x, fname)
  if type(x) ~= 'number' and not is_tensor(x) then
    argerr(fname, 'operand must be a tensor or a number, got ' .. type(x), 3)
  end
  return x
end
mt.__add = function(a, b)
  operand(a, '__add'); operand(b, '__add')
  if type(a) == 'number' then a, b = b, a end
  return Tensor.add(Tensor.clone(a), b)
end
mt.__sub = function(a, b)
  operand(a, '__sub'); operand(b, '__sub')
  if type(a) == 'number' then return Tensor.add(Tensor.neg(Tensor.clone(b)), a) end
  return Tensor.sub(Tensor.clone(a), b)
end
mt.__mul = function(a, b)
  operand(a, '__mul'); operand(b, '__mul')
  if type(a) == 'number' then a, b = b, a end
  if type(b) == 'number' then return Tensor.mul(Tensor.clone(a), b) end
  local da, db = a.p.ndim, b.p.ndim
  local function like() -- an empty result on a's device
    local r = construct(BY_ID[a.p.dtype], '__mul')
    return is_cuda(a) and Tensor.cuda(r, BY_ID[a.p.dtype].key) or r
  end
  if da == 2 and db == 2 then return Tensor.mm(like(), a, b) end
  if da == 2 and db == 1 then return Tensor.mv(like(), a, b) end
  if da == 1 and db == 1 then return Tensor.dot(a, b) end
  argerr('__mul', ('cannot multiply a %d-D tensor by a %d-D tensor'):format(da, db))
end
mt.__div = function(a, b)
  if not is_tensor(a) then argerr('__div', 'only tensor / number is defined') end
  return Tensor.div(Tensor.clone(a), b)
end
mt.__unm = function(a) return Tensor.neg(Tensor.clone(a)) end
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
            isTensor = is_tensor, wrap = wrap, construct = construct, pressure = pressure,
            CUDA_NAMES = CUDA_NAMES }

function M.new(key, ...)
  return construct(key and DTYPES[key] or default_dtype, 'fathom.Tensor', ...)
end
function M.setDefault(key)
  if not DTYPES[key] then argerr('setdefaulttensortype', 'unknown type ' .. tostring(key)) end
  default_dtype = DTYPES[key]
end
function M.getDefault() return default_dtype.key end
REG.fathom_tensor_module = M
return M
