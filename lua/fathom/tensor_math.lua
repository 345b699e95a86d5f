-- fathom/tensor_math.lua -- the Tensor methods that compute: fill, copy, element-wise
-- arithmetic in Torch7's argument forms, comparisons, matrix products through OpenBLAS,
-- reductions, random fills. fathom/tensor.lua calls this with its method table and the
-- internal helpers (I), so both files share one set of argument checks.
local F = require 'fathom.ffi'
local C, check, out = F.C, F.check, F.out

return function(Tensor, I)
local argerr, check_tensor, is_tensor, wrap = I.argerr, I.check_tensor, I.is_tensor, I.wrap
local new_tensor, construct, check_dim = I.new_tensor, I.construct, I.check_dim
local DTYPES, BY_ID = I.DTYPES, I.BY_ID

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
-- A number seen as a tensor of t's type and size (all strides 0, one element): lets
-- ft_binary apply an exact scalar operation (division) without a full-size buffer.
local function scalar_like(t, v, fname)
  F.sizes[0] = 1
  local one = new_tensor(BY_ID[t.p.dtype], 1, F.sizes)
  Tensor.fill(one, v)
  for i = 0, t.p.ndim - 1 do F.sizes[i] = t.p.size[i]; F.strides[i] = 0 end
  check(C.ft_tensor_as_strided(out, one.p, t.p.ndim, F.sizes, F.strides, 0), fname, 3)
  return wrap(out[0])
end
Tensor._scalar_like = scalar_like

-- t:div(v) | t:div(src, v). float32 multiplies by 1/v (same result after rounding to
-- float); double and integer types divide exactly (integers truncate, as in C and Torch7).
function Tensor.div(t, a, b)
  local src, v = t, a
  if is_tensor(a) and b ~= nil then src, v = a, b end
  if type(v) ~= 'number' then
    local what = is_tensor(v) and 'a tensor' or type(v)
    argerr('div', 'divisor must be a number, got ' .. what .. ' (cdiv divides by a tensor)')
  end
  if src ~= t then Tensor.resizeAs(t, src) end
  if t.p.dtype == C.FT_FLOAT32 then return Tensor.mul(t, src, 1 / v) end
  check(C.ft_binary(t.p, src.p, scalar_like(src, v, 'div').p, C.FT_OP_DIV), 'div')
  return t
end
function Tensor.clamp(t, lo, hi)
  if type(lo) ~= 'number' or type(hi) ~= 'number' then
    argerr('clamp', ('bounds must be numbers, got %s and %s'):format(type(lo), type(hi)))
  end
  check(C.ft_unary(t.p, t.p, C.FT_OP_CLAMP_MIN, lo), 'clamp')
  check(C.ft_unary(t.p, t.p, C.FT_OP_CLAMP_MAX, hi), 'clamp')
  return t
end

-- add: t:add(v) | t:add(y) | t:add(v, y) | t:add(a, b) | t:add(a, v, b)   (t = a + v*b)
-- sub: the same forms with the sign of the second term flipped (Torch7's csub).
local function add_forms(fname, sign, t, a, b, c)
  local function num(v) if type(v) ~= 'number' then argerr(fname, 'scale must be a number, got ' .. type(v), 4) end return v end
  local function ten(x, what) return check_tensor(x, fname, what) end
  if c ~= nil then -- t = a + b*c
    ten(a, 'first tensor'); num(b); ten(c, 'second tensor')
    if t ~= a then Tensor.resizeAs(t, a) end
    check(C.ft_axpy(t.p, a.p, sign * b, c.p), fname, 3)
  elseif b ~= nil then
    if type(a) == 'number' then -- t = t + a*b
      ten(b, 'tensor')
      check(C.ft_axpy(t.p, t.p, sign * a, b.p), fname, 3)
    else -- t = a + b
      ten(a, 'first tensor'); ten(b, 'second tensor')
      if t ~= a then Tensor.resizeAs(t, a) end
      check(C.ft_axpy(t.p, a.p, sign, b.p), fname, 3)
    end
  elseif type(a) == 'number' then
    check(C.ft_unary(t.p, t.p, C.FT_OP_ADD_SCALAR, sign * a), fname, 3)
  else
    ten(a, 'argument')
    check(C.ft_axpy(t.p, t.p, sign, a.p), fname, 3)
  end
  return t
end
function Tensor.add(t, a, b, c) return add_forms('add', 1, t, a, b, c) end
function Tensor.sub(t, a, b, c) return add_forms('sub', -1, t, a, b, c) end
Tensor.csub = Tensor.sub

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

-- Comparisons with a tensor or a number give 0/1 in a tensor of a's type (Torch7 gives
-- a ByteTensor; :byte() converts).
for name, op in pairs({ eq = C.FT_OP_EQ, ne = C.FT_OP_NE, lt = C.FT_OP_LT, le = C.FT_OP_LE,
                        gt = C.FT_OP_GT, ge = C.FT_OP_GE }) do
  Tensor[name] = function(a, b)
    if type(b) == 'number' then b = scalar_like(a, b, name) end
    check_tensor(b, name, 'the value compared with')
    local r = Tensor.clone(a)
    check(C.ft_binary(r.p, a.p, b.p, op), name)
    return r
  end
end

-- Matrix products through OpenBLAS. Torch7's argument forms, read from the end:
--   t:addmm([v1,] [M,] [v2,] M1, M2)   t = v1*M + v2*(M1 M2); M defaults to t, v's to 1
-- and the same for addmv (matrix, vector) and addr (vector, vector: the outer product).
local function product_args(fname, ...)
  local n = select('#', ...)
  local args = { ... }
  local x, y = args[n - 1], args[n]
  if n < 2 or not is_tensor(x) or not is_tensor(y) then
    argerr(fname, 'the last two arguments must be tensors, got ' .. type(x) .. ' and ' .. type(y), 3)
  end
  local i, v1, M, v2 = n - 2, 1, nil, 1
  if type(args[i]) == 'number' then v2 = args[i]; i = i - 1 end
  if is_tensor(args[i]) then M = args[i]; i = i - 1 end
  if type(args[i]) == 'number' then v1 = args[i]; i = i - 1 end
  if i > 0 then argerr(fname, 'unexpected argument ' .. i .. ' (' .. type(args[i]) .. ')', 3) end
  return v1, M, v2, x, y
end

local function need_dims(fname, x, nd, what)
  if x.p.ndim ~= nd then
    argerr(fname, ('%s must be %d-D, got %d-D'):format(what, nd, x.p.ndim), 4)
  end
end

-- A 1-D tensor seen as a k x 1 column (or 1 x k row) matrix, sharing its memory.
local function as_matrix(v, row)
  local n, st = v.p.size[0], v.p.stride[0]
  F.sizes[0], F.sizes[1] = row and 1 or n, row and n or 1
  F.strides[0], F.strides[1] = row and n * st or st, row and st or 1
  check(C.ft_tensor_as_strided(out, v.p, 2, F.sizes, F.strides, v.p.offset), 'as_matrix', 3)
  return wrap(out[0])
end

-- t = v1*M + v2*(a b) for matrices a (m x k), b (k x n); t is resized to m x n when M is
-- another tensor (copied in) or when v1 is 0 (t's values are not read).
local function gemm_into(fname, t, v1, M, v2, a, b)
  local m, k, k2, n = tonumber(a.p.size[0]), tonumber(a.p.size[1]), tonumber(b.p.size[0]),
    tonumber(b.p.size[1])
  if k ~= k2 then
    argerr(fname, ('size mismatch: %dx%d times %dx%d'):format(m, k, k2, n), 4)
  end
  if M and M ~= t then
    if M.p.ndim ~= 2 or M.p.size[0] ~= m or M.p.size[1] ~= n then
      argerr(fname, ('the added matrix must be %dx%d, got %s'):format(m, n, table.concat(Tensor.size(M), 'x')), 4)
    end
    Tensor.resize(t, m, n); Tensor.copy(t, M)
  elseif v1 == 0 and (t.p.ndim ~= 2 or t.p.size[0] ~= m or t.p.size[1] ~= n) then
    Tensor.resize(t, m, n)
  elseif t.p.ndim ~= 2 or t.p.size[0] ~= m or t.p.size[1] ~= n then
    argerr(fname, ('the result must be %dx%d, got %s'):format(m, n, table.concat(Tensor.size(t), 'x')), 4)
  end
  check(C.ft_gemm(t.p, a.p, b.p, 0, 0, v2, v1), fname, 4)
  return t
end

function Tensor.addmm(t, ...)
  local v1, M, v2, a, b = product_args('addmm', ...)
  need_dims('addmm', a, 2, 'first matrix'); need_dims('addmm', b, 2, 'second matrix')
  return gemm_into('addmm', t, v1, M, v2, a, b)
end
function Tensor.mm(t, a, b)
  check_tensor(a, 'mm', 'first matrix'); check_tensor(b, 'mm', 'second matrix')
  if t == a or t == b then -- t:mm(t, b): resizing t would lose an operand
    return Tensor.set(t, Tensor.mm(construct(BY_ID[t.p.dtype], 'mm'), a, b))
  end
  need_dims('mm', a, 2, 'first matrix'); need_dims('mm', b, 2, 'second matrix')
  return gemm_into('mm', t, 0, nil, 1, a, b)
end

-- Vector results go through 2-D views of t (n x 1), so they share one code path.
local function vector_product(fname, t, v1, M, v2, a, b, row_a, row_b)
  local rows = row_a and 1 or tonumber(a.p.size[0])
  local cols = row_b and tonumber(b.p.size[0]) or 1
  local len = fname == 'addr' and rows * cols or rows -- (addmv and mv: a vector)
  if M and M ~= t then
    if M.p.ndim ~= (fname == 'addr' and 2 or 1) or Tensor.nElement(M) ~= len then
      argerr(fname, 'the added tensor has the wrong size', 3)
    end
    Tensor.resizeAs(t, M); Tensor.copy(t, M)
  elseif v1 == 0 and Tensor.nElement(t) ~= len then
    if fname == 'addr' then Tensor.resize(t, rows, cols) else Tensor.resize(t, len) end
  end
  local am = row_a and as_matrix(a, true) or (a.p.ndim == 1 and as_matrix(a) or a)
  local bm = b.p.ndim == 1 and as_matrix(b, row_b) or b
  local tm = t.p.ndim == 1 and as_matrix(t) or t
  return gemm_into(fname, tm, v1, nil, v2, am, bm) and t
end

local function addmv(fname, t, ...)
  local v1, M, v2, a, b = product_args(fname, ...)
  need_dims(fname, a, 2, 'matrix'); need_dims(fname, b, 1, 'vector')
  if t.p.ndim ~= 1 and not M and v1 ~= 0 then argerr(fname, 'the result must be 1-D', 3) end
  return vector_product(fname, t, v1, M, v2, a, b)
end
function Tensor.addmv(t, ...) return addmv('addmv', t, ...) end
function Tensor.mv(t, a, b)
  check_tensor(a, 'mv', 'matrix'); check_tensor(b, 'mv', 'vector')
  return addmv('mv', t, 0, 1, a, b)
end
function Tensor.addr(t, ...)
  local v1, M, v2, a, b = product_args('addr', ...)
  need_dims('addr', a, 1, 'first vector'); need_dims('addr', b, 1, 'second vector')
  return vector_product('addr', t, v1, M, v2, a, b, false, true)
end
function Tensor.ger(t, a, b) return Tensor.addr(t, 0, 1, a, b) end

function Tensor.dot(a, b)
  check_tensor(b, 'dot')
  if Tensor.nElement(a) ~= Tensor.nElement(b) then
    argerr('dot', ('tensors must have the same number of elements (%d and %d)'):format(
      Tensor.nElement(a), Tensor.nElement(b)))
  end
  local r = Tensor.clone(a)
  check(C.ft_binary(r.p, r.p, Tensor.viewAs(Tensor.contiguous(b), r).p, C.FT_OP_MUL), 'dot')
  return Tensor.sum(r)
end

---------------------------------------------------------------------------- reductions
local R = { sum = C.FT_RED_SUM, mean = C.FT_RED_MEAN, max = C.FT_RED_MAX, min = C.FT_RED_MIN,
            var = C.FT_RED_VAR, std = C.FT_RED_STD, prod = C.FT_RED_PROD }
-- Result type along a dim: float types keep theirs; integer sums and products become
-- LongTensors (a byte sum would overflow), mean/var/std of integers DoubleTensors.
local function reduce_dtype(t, name)
  local d = BY_ID[t.p.dtype]
  if d == DTYPES.float or d == DTYPES.double or name == 'max' or name == 'min' then return d end
  if name == 'sum' or name == 'prod' then return DTYPES.long end
  return DTYPES.double
end

for name, op in pairs(R) do
  -- t:sum() is a number; t:sum(d) keeps dim d with size 1 (Torch7); t:max(d) also returns
  -- the 1-based indices. var/std are unbiased (n-1) unless `biased` is true.
  Tensor[name] = function(t, d, biased)
    check_tensor(t, name)
    local scale = 1
    if biased and (name == 'var' or name == 'std') then
      local n = d and Tensor.size(t, d) or Tensor.nElement(t)
      scale = name == 'var' and (n - 1) / n or math.sqrt((n - 1) / n)
    end
    if d == nil then
      check(C.ft_reduce_all(t.p, op, F.dbl), name)
      return F.dbl[0] * scale
    end
    local dim = check_dim(t, d, name)
    local sz = Tensor.size(t)
    sz[d] = 1
    local r = construct(reduce_dtype(t, name), name, sz)
    if name == 'max' or name == 'min' then
      local idx = construct(DTYPES.long, name, sz)
      check(C.ft_reduce_dim(r.p, idx.p, t.p, dim, op), name)
      return r, Tensor.add(idx, 1) -- Torch7 indices are 1-based
    end
    check(C.ft_reduce_dim(r.p, nil, t.p, dim, op), name)
    if scale ~= 1 then Tensor.mul(r, scale) end
    return r
  end
end

function Tensor.norm(t) return math.sqrt(Tensor.sum(Tensor.clone(t):square())) end

---------------------------------------------------------------------------- random
local rng = require 'fathom.random'
local function numbers(fname, a, b)
  if type(a) ~= 'number' or type(b) ~= 'number' then
    argerr(fname, ('parameters must be numbers, got %s and %s'):format(type(a), type(b)), 3)
  end
end
function Tensor.uniform(t, a, b) a, b = a or 0, b or 1; numbers('uniform', a, b); rng.uniform(t, a, b) return t end
function Tensor.normal(t, m, s) m, s = m or 0, s or 1; numbers('normal', m, s); rng.normal(t, m, s) return t end
function Tensor.bernoulli(t, p) p = p or 0.5; numbers('bernoulli', p, 0); rng.bernoulli(t, p) return t end

end
