-- fathom/tensor_extra.lua -- the rest of Torch7's Tensor interface that users reach for:
-- permute, expand, squeeze, index, equal, addcmul/addcdiv, cat, apply/map. All are
-- built from the C views and element-wise ops, so they need no C of their own.
local F = require 'fathom.ffi'
local C, check, out = F.C, F.check, F.out

return function(Tensor, I)
local argerr, check_tensor, is_tensor, wrap = I.argerr, I.check_tensor, I.is_tensor, I.wrap
local construct, check_dim, check_int, BY_ID = I.construct, I.check_dim, I.check_int, I.BY_ID

-- A view of t with the given sizes and strides (Lua tables, 0-based positions 1..n).
local function strided(t, sizes, strides, fname)
  for i = 1, #sizes do F.sizes[i - 1] = sizes[i]; F.strides[i - 1] = strides[i] end
  check(C.ft_tensor_as_strided(out, t.p, #sizes, F.sizes, F.strides, t.p.offset), fname, 3)
  return wrap(out[0])
end

-- t:permute(2, 3, 1): dimension i of the result is dimension perm[i] of t.
function Tensor.permute(t, ...)
  local perm, nd = { ... }, t.p.ndim
  if #perm ~= nd then argerr('permute', ('need %d dimensions, got %d'):format(nd, #perm)) end
  local sizes, strides, seen = {}, {}, {}
  for i, d in ipairs(perm) do
    local c = check_dim(t, d, 'permute')
    if seen[c] then argerr('permute', 'dimension ' .. d .. ' appears twice') end
    seen[c] = true
    sizes[i], strides[i] = t.p.size[c], t.p.stride[c]
  end
  return strided(t, sizes, strides, 'permute')
end

-- t:expand(4, 3) or t:expand(size): dimensions of size 1 repeat with stride 0 (no copy).
function Tensor.expand(t, ...)
  local want = type(...) == 'table' and (...) or { ... }
  local nd = t.p.ndim
  if #want ~= nd then argerr('expand', ('need %d sizes, got %d'):format(nd, #want)) end
  local sizes, strides = {}, {}
  for i = 1, nd do
    local have, s = tonumber(t.p.size[i - 1]), check_int(want[i], 'expand', 'size')
    if have ~= s and have ~= 1 then
      argerr('expand', ('dimension %d has size %d, cannot expand it to %d'):format(i, have, s))
    end
    sizes[i], strides[i] = s, have == s and t.p.stride[i - 1] or 0
  end
  return strided(t, sizes, strides, 'expand')
end
function Tensor.expandAs(t, other) return Tensor.expand(t, Tensor.size(check_tensor(other, 'expandAs'))) end

-- t:squeeze() drops every dimension of size 1; t:squeeze(d) only dimension d (a view).
function Tensor.squeeze(t, d)
  local only = d and check_dim(t, d, 'squeeze')
  local sizes, strides = {}, {}
  for i = 0, t.p.ndim - 1 do
    if t.p.size[i] ~= 1 or (only and i ~= only) then
      sizes[#sizes + 1], strides[#strides + 1] = t.p.size[i], t.p.stride[i]
    end
  end
  if #sizes == 0 and t.p.ndim > 0 then sizes[1], strides[1] = 1, 1 end -- keep one element
  return strided(t, sizes, strides, 'squeeze')
end

-- t:index(dim, idx): a new tensor holding the slices idx[1], idx[2], ... of t along dim.
function Tensor.index(t, d, idx)
  local dim = check_dim(t, d, 'index') + 1
  if is_tensor(idx) then idx = Tensor.totable(idx) end
  if type(idx) ~= 'table' then argerr('index', 'indices must be a LongTensor or a table') end
  local sz, n = Tensor.size(t), Tensor.size(t, dim)
  sz[dim] = #idx
  local r = construct(BY_ID[t.p.dtype], 'index', sz)
  if t:isCuda() then r = r:cuda(t:dtype()) end
  for k, i in ipairs(idx) do
    check_int(i, 'index', 'index')
    if i < 1 or i > n then
      argerr('index', ('index %d out of range for dimension %d of size %d'):format(i, dim, n))
    end
    Tensor.copy(Tensor.narrow(r, dim, k, 1), Tensor.narrow(t, dim, i, 1))
  end
  return r
end

-- True when both have the same size and every element is equal.
function Tensor.equal(a, b)
  check_tensor(b, 'equal')
  if not Tensor.isSameSizeAs(a, b) then return false end
  if Tensor.nElement(a) == 0 then return true end
  return Tensor.sum(Tensor.ne(Tensor.double(a), Tensor.double(b))) == 0
end


-- t:addcmul([v,] a, b): t = t + v * a .* b (and addcdiv with a ./ b).
local function addc(name, op)
  Tensor[name] = function(t, v, a, b)
    if is_tensor(v) then v, a, b = 1, v, a end
    if type(v) ~= 'number' then argerr(name, 'scale must be a number, got ' .. type(v)) end
    check_tensor(a, name); check_tensor(b, name)
    local tmp = Tensor.clone(a)
    Tensor[op](tmp, b)
    return Tensor.add(t, v, tmp)
  end
end
addc('addcmul', 'cmul')
addc('addcdiv', 'cdiv')

-- fathom.cat({a, b, ...}, dim) or t:cat(a, b, dim): join along dim (default: the last).
function Tensor.cat(t, ...)
  local args = { ... }
  local list, dim
  if type(args[1]) == 'table' and not is_tensor(args[1]) then list, dim = args[1], args[2]
  else
    list = {}
    for _, x in ipairs(args) do if is_tensor(x) then list[#list + 1] = x else dim = x end end
  end
  if #list == 0 then argerr('cat', 'nothing to concatenate') end
  for i, x in ipairs(list) do check_tensor(x, 'cat', 'tensor ' .. i) end
  local first = list[1]
  dim = dim or first.p.ndim
  check_dim(first, dim, 'cat')
  local sz, total = Tensor.size(first), 0
  for i, x in ipairs(list) do
    if x.p.ndim ~= first.p.ndim then argerr('cat', 'tensor ' .. i .. ' has a different number of dimensions') end
    for k = 1, #sz do
      if k ~= dim and Tensor.size(x, k) ~= sz[k] then
        argerr('cat', ('tensor %d has size %d at dimension %d, expected %d'):format(i, Tensor.size(x, k), k, sz[k]))
      end
    end
    total = total + Tensor.size(x, dim)
  end
  sz[dim] = total
  Tensor.resize(t, sz)
  local at = 1
  for _, x in ipairs(list) do
    local n = Tensor.size(x, dim)
    if n > 0 then Tensor.copy(Tensor.narrow(t, dim, at, n), x) end
    at = at + n
  end
  return t
end

-- t:apply(function(x) return y end) and t:map(other, function(x, y) return z end), in
-- place, in row-major order (plain Lua: for small tensors and tests).
function Tensor.apply(t, fn)
  if type(fn) ~= 'function' then argerr('apply', 'argument must be a function') end
  if t:isCuda() then return Tensor.copy(t, Tensor.apply(t:to(t:dtype()), fn)) end -- on a host copy
  local c = Tensor.contiguous(t)
  local p, n = Tensor.data(c), Tensor.nElement(c)
  for i = 0, n - 1 do
    local v = fn(tonumber(p[i]))
    if v ~= nil then p[i] = v end
  end
  if c.p.storage ~= t.p.storage then Tensor.copy(t, c) end
  return t
end
function Tensor.map(t, other, fn)
  check_tensor(other, 'map')
  if type(fn) ~= 'function' then argerr('map', 'last argument must be a function') end
  if Tensor.nElement(other) ~= Tensor.nElement(t) then argerr('map', 'tensors differ in size') end
  local o = other:isCuda() and other:to(other:dtype()) or Tensor.contiguous(other)
  local q = Tensor.data(o)
  local k = -1
  return Tensor.apply(t, function(x) k = k + 1 return fn(x, tonumber(q[k])) end)
end

---------------------------------------------------------------------------- CUDA tensors
-- Random fills of a CUDA tensor draw on the host, from the same generator, and copy:
-- the values are exactly those a CPU tensor would get (a model initialised and moved
-- with :cuda() equals one initialised on the GPU).
for _, name in ipairs({ 'uniform', 'normal', 'bernoulli' }) do
  local host_fill = Tensor[name]
  Tensor[name] = function(t, a, b)
    if not t:isCuda() then return host_fill(t, a, b) end
    return Tensor.copy(t, host_fill(t:to(t:dtype()), a, b))
  end
end

-- Reductions along a dimension of a CUDA tensor: results on the GPU too (cutorch's
-- behaviour); the types follow the CPU rules (integer sums long, means double).
local RED = { sum = C.FT_RED_SUM, mean = C.FT_RED_MEAN, max = C.FT_RED_MAX, min = C.FT_RED_MIN,
              var = C.FT_RED_VAR, std = C.FT_RED_STD, prod = C.FT_RED_PROD }
for name, op in pairs(RED) do
  local host_reduce = Tensor[name]
  Tensor[name] = function(t, d, biased)
    if d == nil or not is_tensor(t) or not t:isCuda() then return host_reduce(t, d, biased) end
    local dim = check_dim(t, d, name)
    local key = t:dtype()
    if key ~= 'float' and key ~= 'double' and name ~= 'max' and name ~= 'min' then
      key = (name == 'sum' or name == 'prod') and 'long' or 'double'
    end
    local sz = t:size()
    sz[d] = 1
    local r = construct(BY_ID[tonumber(C.FT_FLOAT32)], name, sz):cuda(key)
    if name == 'max' or name == 'min' then
      local idx = construct(BY_ID[tonumber(C.FT_FLOAT32)], name, sz):cuda('long')
      check(C.ft_reduce_dim(r.p, idx.p, t.p, dim, op), name)
      return r, Tensor.add(idx, 1)
    end
    check(C.ft_reduce_dim(r.p, nil, t.p, dim, op), name)
    if biased and (name == 'var' or name == 'std') then
      local n = t:size(d)
      Tensor.mul(r, name == 'var' and (n - 1) / n or math.sqrt((n - 1) / n))
    end
    return r
  end
end
end
