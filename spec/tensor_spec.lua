-- spec/tensor_spec.lua -- every Tensor constructor and operation against plain-Lua
-- float64 references (spec/helpers/naive.lua), on contiguous and non-contiguous
-- (transposed, narrowed) operands, in float64 (exact) and float32 (rounded) alike.
local fathom = require 'fathom'
local N = require 'naive'

local D = fathom.DoubleTensor
local F32 = 1e-6 -- relative tolerance for float32 results

-- A non-contiguous double tensor holding the 2-D table `a`: the transpose of a copy.
local function transposed(a) return D(N.transpose(a)):t() end
-- A narrowed view holding `a`: a wider tensor with a column of junk on each side.
local function narrowed(a)
  local wide = {}
  for i, row in ipairs(a) do
    wide[i] = { 99 }
    for j, v in ipairs(row) do wide[i][j + 1] = v end
    wide[i][#row + 2] = -99
  end
  return D(wide):narrow(2, 2, #a[1])
end

describe('constructors', function()
  it('Tensor(2,3) is a zeroed 2x3 float tensor with row-major strides', function()
    local t = fathom.Tensor(2, 3)
    assert.are.equal('fathom.FloatTensor', t:type())
    assert.are.equal(2, t:dim())
    assert.are.same({ 2, 3 }, t:size():totable())
    assert.are.same({ 3, 1 }, t:stride():totable())
    assert.are.equal(6, t:nElement())
    assert.is_true(t:isContiguous())
    N.check(t, { { 0, 0, 0 }, { 0, 0, 0 } })
  end)

  it('builds from nested tables', function()
    local a = N.random({ 3, 4, 2 }, 1)
    local t = D(a)
    assert.are.same({ 3, 4, 2 }, t:size():totable())
    N.check(t, a, 0)
    N.check(D({ 1, 2, 3 }), { 1, 2, 3 }, 0)
  end)

  it('gives each typed constructor its dtype and rounding', function()
    assert.are.equal('fathom.FloatTensor', fathom.FloatTensor(2):type())
    assert.are.equal('fathom.DoubleTensor', D(2):type())
    assert.are.equal('fathom.LongTensor', fathom.LongTensor(2):type())
    assert.are.equal('fathom.ByteTensor', fathom.ByteTensor(2):type())
    assert.are.equal(0.1, D({ 0.1 })[1])
    assert.are_not.equal(0.1, fathom.FloatTensor({ 0.1 })[1])
    assert.is_true(math.abs(fathom.FloatTensor({ 0.1 })[1] - 0.1) < 1e-8)
    assert.are.equal(2, fathom.LongTensor({ 2.7 })[1])
    assert.are.equal(2 ^ 40 + 3, fathom.LongTensor({ 2 ^ 40 + 3 })[1])
    assert.are.equal(255, fathom.ByteTensor({ 255 })[1])
  end)

  it('takes a size object, and a tensor (sharing its storage)', function()
    local a = fathom.Tensor(4, 5)
    local b = fathom.Tensor(a:size())
    assert.is_true(a:size() == b:size())
    assert.are.same({ 4, 5 }, b:size():totable())
    assert.are.same({ 4, 5 }, fathom.Tensor(fathom.LongStorage({ 4, 5 })):size():totable())
    local c = fathom.Tensor(a)
    c[{ 1, 1 }] = 7
    assert.are.equal(7, a[{ 1, 1 }])
  end)

  it('makes empty tensors', function()
    for _, t in ipairs({ fathom.Tensor(), fathom.Tensor({}), D() }) do
      assert.are.equal(0, t:dim())
      assert.are.equal(0, t:nElement())
      assert.are.same({}, t:totable())
    end
    local z = fathom.Tensor(0)
    assert.are.equal(1, z:dim())
    assert.are.equal(0, z:nElement())
    assert.are.equal(0, z:sum())
  end)

  it('zeros, ones, rand, randn, range, linspace, eye', function()
    N.check(fathom.zeros(2, 2), { { 0, 0 }, { 0, 0 } })
    N.check(fathom.ones(3), { 1, 1, 1 })
    N.check(fathom.ones(fathom.Tensor(2, 1):size()), { { 1 }, { 1 } })
    local r = fathom.rand(1000)
    assert.is_true(r:min() >= 0 and r:max() < 1)
    assert.is_true(r:max() > 0.9 and r:min() < 0.1)
    local n = fathom.randn(2000)
    assert.is_true(math.abs(n:mean()) < 0.1 and math.abs(n:std() - 1) < 0.1)
    N.check(fathom.range(1, 5), { 1, 2, 3, 4, 5 })
    N.check(fathom.range(0, 1, 0.25), { 0, 0.25, 0.5, 0.75, 1 })
    N.check(fathom.range(5, 1, -2), { 5, 3, 1 })
    N.check(fathom.linspace(-1, 1, 5), { -1, -0.5, 0, 0.5, 1 })
    N.check(fathom.eye(2, 3), { { 1, 0, 0 }, { 0, 1, 0 } })
  end)

  it('setdefaulttensortype changes what fathom.Tensor makes', function()
    fathom.setdefaulttensortype('torch.DoubleTensor')
    local ok, t = pcall(fathom.Tensor, 2)
    fathom.setdefaulttensortype('fathom.FloatTensor')
    assert.is_true(ok)
    assert.are.equal('fathom.DoubleTensor', t:type())
    assert.are.equal('fathom.FloatTensor', fathom.getdefaulttensortype())
  end)
end)

describe('shape queries', function()
  it('size, dim, nElement, stride, #t on contiguous and transposed tensors', function()
    local t = fathom.Tensor(2, 3, 4)
    assert.are.equal(3, t:size(2))
    assert.are.same({ 12, 4, 1 }, t:stride():totable())
    assert.are.equal(4, t:stride(2))
    local u = t:transpose(1, 3)
    assert.are.same({ 4, 3, 2 }, u:size():totable())
    assert.are.same({ 1, 4, 12 }, u:stride():totable())
    assert.is_false(u:isContiguous())
    assert.is_true(#t == t:size())
    assert.are.equal(24, u:nElement())
    assert.is_false(t:size() == u:size())
    assert.is_true(t:isSameSizeAs(fathom.Tensor(2, 3, 4)))
  end)
end)

describe('element access', function()
  it('t[i] reads and writes 1-D elements, negative from the end', function()
    local t = D({ 1, 2, 3 })
    assert.are.equal(2, t[2])
    assert.are.equal(3, t[-1])
    t[1] = 10
    t[-1] = 30
    N.check(t, { 10, 2, 30 })
  end)

  it('t[i] on a matrix is a row view that writes through', function()
    local t = D({ { 1, 2 }, { 3, 4 } })
    local row = t[2]
    N.check(row, { 3, 4 })
    row[1] = 9
    assert.are.equal(9, t[{ 2, 1 }])
    t[1] = 5
    N.check(t, { { 5, 5 }, { 9, 4 } })
    t[1] = D({ 7, 8 })
    N.check(t, { { 7, 8 }, { 9, 4 } })
  end)

  it('slices with t[{ ... }] read views and numbers', function()
    local a = N.random({ 4, 5 }, 2)
    local t = D(a)
    N.check(t[{ { 1, 2 }, 3 }], { a[1][3], a[2][3] })
    assert.are.equal(a[3][4], t[{ 3, 4 }])
    assert.are.equal(a[4][5], t[{ -1, -1 }])
    N.check(t[{ {}, { 2, -2 } }], N.map(t[{ {}, { 2, 4 } }]:totable(), function(x) return x end))
    N.check(t[{ { 2 }, {} }], { a[2] })
    N.check(t[{ 2, { 4, 5 } }], { a[2][4], a[2][5] })
  end)

  it('slices with t[{ ... }] write numbers and tensors', function()
    local t = D(3, 4):zero()
    t[{ { 1, 2 }, 3 }] = 5
    t[{ 3, {} }] = D({ 1, 2, 3, 4 })
    t[{ 1, 1 }] = -1
    N.check(t, { { -1, 0, 5, 0 }, { 0, 0, 5, 0 }, { 1, 2, 3, 4 } })
    local u = D(2, 3):zero()
    u[{ {}, { 2, 3 } }] = D({ { 1, 2 }, { 3, 4 } })
    N.check(u, { { 0, 1, 2 }, { 0, 3, 4 } })
  end)

  it('get and totable', function()
    local a = N.random({ 2, 3, 2 }, 3)
    local t = D(a)
    assert.are.equal(a[2][3][1], t:get(2, 3, 1))
    assert.are.same(a, t:totable())
    assert.are.same(N.transpose(a[1]), t[1]:t():totable())
  end)
end)

describe('views', function()
  local a = N.random({ 3, 4 }, 4)

  it('view, including -1, shares memory', function()
    local t = D(a)
    local v = t:view(4, 3)
    N.check(v:view(12), N.flat(a), 0)
    N.check(t:view(2, -1), { { table.unpack(N.flat(a), 1, 6) }, { table.unpack(N.flat(a), 7, 12) } }, 0)
    N.check(t:view(-1), N.flat(a), 0)
    v[{ 1, 1 }] = 42
    assert.are.equal(42, t[{ 1, 1 }])
    N.check(t:view(fathom.Tensor(6, 2):size()):select(2, 2), { a[1][2], a[1][4], a[2][2], a[2][4], a[3][2], a[3][4] })
  end)

  it('viewAs takes the other tensor shape', function()
    local t = D(a)
    assert.are.same({ 6, 2 }, t:viewAs(fathom.Tensor(6, 2)):size():totable())
  end)

  it('reshape copies, also from non-contiguous tensors', function()
    local t = D(a)
    local r = t:reshape(2, 6)
    r[{ 1, 1 }] = 1000
    assert.are.equal(a[1][1], t[{ 1, 1 }])
    local rt = t:t():reshape(12)
    N.check(rt, N.flat(N.transpose(a)), 0)
  end)

  it('narrow, select, transpose, t', function()
    local t = D(a)
    N.check(t:narrow(2, 2, 2), { { a[1][2], a[1][3] }, { a[2][2], a[2][3] }, { a[3][2], a[3][3] } }, 0)
    N.check(t:narrow(1, 3, 1), { a[3] }, 0)
    N.check(t:select(1, 2), a[2], 0)
    N.check(t:select(2, 4), { a[1][4], a[2][4], a[3][4] }, 0)
    N.check(t:transpose(1, 2), N.transpose(a), 0)
    N.check(t:t(), N.transpose(a), 0)
    N.check(t:t():t(), a, 0)
    local n = t:narrow(2, 2, 2)
    n:fill(0)
    assert.are.equal(0, t[{ 1, 2 }])
    assert.are.equal(a[1][1], t[{ 1, 1 }])
  end)

  it('contiguous copies only when needed; clone is independent', function()
    local t = D(a)
    local c = t:t():contiguous()
    assert.is_true(c:isContiguous())
    N.check(c, N.transpose(a), 0)
    local same = t:contiguous()
    same[{ 1, 1 }] = 5
    assert.are.equal(5, t[{ 1, 1 }])
    local k = t:clone()
    k:fill(3)
    assert.are.equal(5, t[{ 1, 1 }])
    N.check(transposed(a):clone(), a, 0)
  end)

  it('permute, expand, squeeze, index', function()
    local b = N.random({ 2, 3, 4 }, 5)
    local p = D(b):permute(3, 1, 2)
    assert.are.same({ 4, 2, 3 }, p:size():totable())
    assert.are.equal(b[2][3][4], p[{ 4, 2, 3 }])
    local e = D({ { 1 }, { 2 } }):expand(2, 3)
    N.check(e, { { 1, 1, 1 }, { 2, 2, 2 } })
    assert.are.same({ 3 }, fathom.Tensor(1, 3, 1):squeeze():size():totable())
    assert.are.same({ 3, 1 }, fathom.Tensor(1, 3, 1):squeeze(1):size():totable())
    N.check(D(a):index(1, fathom.LongTensor({ 3, 1 })), { a[3], a[1] }, 0)
  end)
end)

describe('copy, fill, conversions', function()
  local a = N.random({ 3, 4 }, 6)

  it('copies across dtypes with C conversions', function()
    local f = fathom.FloatTensor(3, 4):copy(D(a))
    N.check(f, a, F32)
    local l = fathom.LongTensor(2):copy(D({ 2.9, -2.9 }))
    N.check(l, { 2, -2 })
    local b = fathom.ByteTensor(2):copy(fathom.LongTensor({ 7, 255 }))
    N.check(b, { 7, 255 })
    N.check(D(2):copy(b), { 7, 255 })
  end)

  it('copies across strides, in and out of views', function()
    local dst = D(4, 3):copy(transposed(a)) -- row-major order of the source
    N.check(dst:view(12), N.flat(a), 0)
    local big = D(3, 6):zero()
    big:narrow(2, 2, 4):copy(narrowed(a))
    for i = 1, 3 do
      assert.are.equal(0, big[{ i, 1 }])
      assert.are.equal(0, big[{ i, 6 }])
      for j = 1, 4 do assert.are.equal(a[i][j], big[{ i, j + 1 }]) end
    end
    local f = fathom.FloatTensor(4, 3):copy(D(a):t()) -- dtype and strides at once
    N.check(f, N.transpose(a), F32)
  end)

  it('fill and zero on non-contiguous views', function()
    local t = D(a)
    t:t():narrow(1, 2, 1):fill(7)
    for i = 1, 3 do assert.are.equal(7, t[{ i, 2 }]) end
    t:select(2, 3):zero()
    for i = 1, 3 do assert.are.equal(0, t[{ i, 3 }]) end
    assert.are.equal(a[1][1], t[{ 1, 1 }])
  end)

  it('float(), double(), long(), byte() and type()', function()
    local t = D({ 1.5, -2.5, 300 })
    local f = t:float()
    assert.are.equal('fathom.FloatTensor', f:type())
    N.check(f, { 1.5, -2.5, 300 })
    assert.are.equal(t, t:double())
    N.check(t:long(), { 1, -2, 300 })
    N.check(D({ 1, 2 }):byte(), { 1, 2 })
    assert.are.equal('fathom.LongTensor', t:type('torch.LongTensor'):type())
    assert.are.equal('fathom.ByteTensor', t:typeAs(fathom.ByteTensor()):type())
  end)

  it('resize, resizeAs, set', function()
    local t = D({ 1, 2, 3, 4, 5, 6 })
    t:resize(2, 3)
    N.check(t, { { 1, 2, 3 }, { 4, 5, 6 } })
    t:resize(4, 5)
    assert.are.same({ 4, 5 }, t:size():totable())
    t:resizeAs(fathom.Tensor(7))
    assert.are.same({ 7 }, t:size():totable())
    t:resize(fathom.Tensor(1, 2):size())
    assert.are.same({ 1, 2 }, t:size():totable())
    local u = D({ 9, 8 })
    t:set(u)
    t[1] = 0
    assert.are.equal(0, u[1])
  end)
end)

describe('element-wise arithmetic', function()
  local a, b = N.random({ 3, 4 }, 7), N.random({ 3, 4 }, 8)
  local add = function(x, y) return x + y end

  it('add in every Torch7 form', function()
    N.check(D(a):add(2), N.map(a, function(x) return x + 2 end))
    N.check(D(a):add(D(b)), N.map2(a, b, add))
    N.check(D(a):add(3, D(b)), N.map2(a, b, function(x, y) return x + 3 * y end))
    N.check(D(1, 1):add(D(a), D(b)), N.map2(a, b, add))
    N.check(D():add(D(a), -0.5, D(b)), N.map2(a, b, function(x, y) return x - 0.5 * y end))
    -- non-contiguous operands and result
    N.check(D(a):add(transposed(b)), N.map2(a, b, add))
    N.check(D(a):add(narrowed(b)), N.map2(a, b, add))
    local r = D(4, 3):zero():t()
    r:add(transposed(a), 2, narrowed(b))
    N.check(r, N.map2(a, b, function(x, y) return x + 2 * y end))
  end)

  it('sub, mul, div, cmul, cdiv', function()
    N.check(D(a):sub(1), N.map(a, function(x) return x - 1 end))
    N.check(D(a):sub(D(b)), N.map2(a, b, function(x, y) return x - y end))
    N.check(D(a):sub(2, D(b)), N.map2(a, b, function(x, y) return x - 2 * y end))
    N.check(D():sub(D(a), D(b)), N.map2(a, b, function(x, y) return x - y end))
    N.check(D(a):mul(-3), N.map(a, function(x) return -3 * x end))
    N.check(D():mul(D(a), 0.5), N.map(a, function(x) return 0.5 * x end))
    N.check(D(a):div(3), N.map(a, function(x) return x / 3 end), 0)
    N.check(D():div(transposed(a), 3), N.map(a, function(x) return x / 3 end), 0)
    N.check(fathom.FloatTensor(a):div(3), N.map(a, function(x) return x / 3 end), F32)
    N.check(fathom.LongTensor({ 7, -7, 49 }):div(2), { 3, -3, 24 })
    N.check(fathom.LongTensor({ 49 }):div(49), { 1 })
    N.check(D(a):cmul(D(b)), N.map2(a, b, function(x, y) return x * y end))
    N.check(D():cmul(transposed(a), narrowed(b)), N.map2(a, b, function(x, y) return x * y end))
    N.check(D(a):cdiv(D(b)), N.map2(a, b, function(x, y) return x / y end))
    N.check(D():cdiv(D(a), transposed(b)), N.map2(a, b, function(x, y) return x / y end))
    N.check(D(a):cmax(D(b)), N.map2(a, b, math.max))
    N.check(D(a):cmin(D(b)), N.map2(a, b, math.min))
    N.check(D({ 1, 2 }):addcmul(2, D({ 3, 4 }), D({ 5, 6 })), { 31, 50 })
    N.check(D({ 1, 2 }):addcdiv(D({ 3, 4 }), D({ 2, 8 })), { 2.5, 2.5 })
  end)

  it('float32 arithmetic matches float64 references', function()
    local f = fathom.FloatTensor
    N.check(f(a):add(f(b)), N.map2(a, b, add), F32)
    N.check(f(a):cmul(f(b):t():t()), N.map2(a, b, function(x, y) return x * y end), F32)
    N.check(f(a):mul(1.5):add(-1, f(b)), N.map2(a, b, function(x, y) return 1.5 * x - y end), F32)
  end)

  it('unary ops, in place and into a result', function()
    local pos = N.random({ 3, 4 }, 9, 0.1, 3)
    local ops = {
      neg = function(x) return -x end, abs = math.abs, exp = math.exp, tanh = math.tanh,
      sigmoid = function(x) return 1 / (1 + math.exp(-x)) end,
      square = function(x) return x * x end, floor = math.floor, ceil = math.ceil,
      sign = function(x) return x > 0 and 1 or x < 0 and -1 or 0 end,
    }
    for name, f in pairs(ops) do
      local ok, why = N.close(D(a)[name](D(a)), N.map(a, f), 1e-14)
      assert(ok, name .. ': ' .. tostring(why))
      ok, why = N.close(D()[name](D(), transposed(a)), N.map(a, f), 1e-14)
      assert(ok, name .. ' (into a result, transposed source): ' .. tostring(why))
    end
    N.check(D(pos):sqrt(), N.map(pos, math.sqrt), 1e-14)
    N.check(D(pos):log(), N.map(pos, math.log), 1e-14)
    N.check(D(pos):pow(1.5), N.map(pos, function(x) return x ^ 1.5 end), 1e-14)
    N.check(D(a):clamp(-1, 0.5), N.map(a, function(x) return math.min(0.5, math.max(-1, x)) end))
    N.check(fathom.FloatTensor(a):tanh(), N.map(a, math.tanh), F32)
  end)

  it('comparisons give 0/1', function()
    N.check(D({ 1, 2, 3 }):lt(D({ 2, 2, 2 })), { 1, 0, 0 })
    N.check(D({ 1, 2, 3 }):le(2), { 1, 1, 0 })
    N.check(D({ 1, 2, 3 }):gt(2), { 0, 0, 1 })
    N.check(D({ 1, 2, 3 }):ge(D({ 2, 2, 2 })), { 0, 1, 1 })
    N.check(D({ 1, 2, 3 }):eq(2), { 0, 1, 0 })
    N.check(D({ 1, 2, 3 }):ne(2), { 1, 0, 1 })
    assert.is_true(D(a):equal(D(a)))
    assert.is_false(D(a):equal(D(b)))
    assert.is_false(D(a):equal(D(a):t()))
  end)

  it('operators + - * / and unary - make new tensors', function()
    local x, y = D(a), D(b)
    N.check(x + y, N.map2(a, b, add))
    N.check(x + 1, N.map(a, function(v) return v + 1 end))
    N.check(2 + x, N.map(a, function(v) return v + 2 end))
    N.check(x - y, N.map2(a, b, function(u, v) return u - v end))
    N.check(1 - x, N.map(a, function(v) return 1 - v end))
    N.check(x - 1, N.map(a, function(v) return v - 1 end))
    N.check(x * 2, N.map(a, function(v) return 2 * v end))
    N.check(3 * x, N.map(a, function(v) return 3 * v end))
    N.check(x / 4, N.map(a, function(v) return v / 4 end))
    N.check(-x, N.map(a, function(v) return -v end))
    N.check(x, a, 0) -- untouched
    N.check(x * y:t(), N.matmul(a, N.transpose(b)), 1e-12)
    local v = { 1, -2, 0.5, 3 }
    local mv = {}
    for i = 1, 3 do mv[i] = 0 for k = 1, 4 do mv[i] = mv[i] + a[i][k] * v[k] end end
    N.check(x * D(v), mv, 1e-12)
    assert.is_true(math.abs(D(a[1]) * D(b[1]) - N.sum(N.map2(a[1], b[1], function(p, q) return p * q end))) < 1e-12)
  end)
end)

describe('reductions', function()
  local a = N.random({ 4, 5 }, 10)

  it('over all elements, contiguous and not', function()
    for _, t in ipairs({ D(a), transposed(a), narrowed(a) }) do
      local l = N.flat(a)
      N.check(t:sum(), N.sum(l), 1e-12)
      N.check(t:mean(), N.mean(l), 1e-12)
      N.check(t:var(), N.var(l), 1e-12)
      N.check(t:std(), N.std(l), 1e-12)
      N.check(t:var(nil, true), N.var(l, true), 1e-12)
      N.check(t:prod(), N.prod(l), 1e-12)
      assert.are.equal(N.max(l), t:max())
      assert.are.equal(N.min(l), t:min())
    end
    N.check(fathom.FloatTensor(a):sum(), N.sum(N.flat(a)), F32)
    N.check(fathom.FloatTensor(a):mean(), N.mean(N.flat(a)), F32)
    assert.are.equal(6, fathom.LongTensor({ 1, 2, 3 }):sum())
  end)

  it('along a dim keeps it with size 1; max/min give 1-based indices', function()
    for _, t in ipairs({ D(a), transposed(a), narrowed(a) }) do
      for dim = 1, 2 do
        for _, name in ipairs({ 'sum', 'mean', 'var', 'std', 'prod' }) do
          local ok, why = N.close(t[name](t, dim), N.reduce2(a, dim, N[name]), 1e-12)
          assert(ok, name .. '(' .. dim .. '): ' .. tostring(why))
        end
        N.check(t:std(dim, true), N.reduce2(a, dim, function(l) return N.std(l, true) end), 1e-12)
        for _, name in ipairs({ 'max', 'min' }) do
          local v, i = t[name](t, dim)
          N.check(v, N.reduce2(a, dim, function(l) return (N[name](l)) end), 0)
          N.check(i, N.reduce2(a, dim, function(l) return select(2, N[name](l)) end), 0)
          assert.are.equal('fathom.LongTensor', i:type())
        end
      end
    end
    local f = fathom.FloatTensor(a)
    N.check(f:sum(2), N.reduce2(a, 2, N.sum), F32)
    assert.are.equal('fathom.FloatTensor', f:sum(2):type())
    assert.are.equal('fathom.LongTensor', fathom.ByteTensor({ 200, 100 }):sum(1):type())
    N.check(fathom.ByteTensor({ 200, 100 }):sum(1), { 300 })
  end)

  it('3-D reductions along the middle dim', function()
    local b = N.random({ 2, 3, 4 }, 11)
    local s = D(b):sum(2)
    assert.are.same({ 2, 1, 4 }, s:size():totable())
    for i = 1, 2 do
      for k = 1, 4 do
        local acc = 0
        for j = 1, 3 do acc = acc + b[i][j][k] end
        assert.is_true(math.abs(s[{ i, 1, k }] - acc) < 1e-12)
      end
    end
  end)

  it('large float sums do not depend on the thread count', function()
    local before = fathom.getnumthreads()
    fathom.manualSeed(1)
    local x = fathom.randn(1000003)
    fathom.setnumthreads(1)
    local s1, m1 = x:sum(), x:mean()
    fathom.setnumthreads(2)
    local s2, m2 = x:sum(), x:mean()
    fathom.setnumthreads(before)
    assert.are.equal(s1, s2)
    assert.are.equal(m1, m2)
    local ref = 0
    local d = x:data()
    for i = 0, x:nElement() - 1 do ref = ref + d[i] end
    assert.is_true(math.abs(s1 - ref) < 1e-9 * x:nElement())
  end)

  it('dot and norm', function()
    local x, y = N.random({ 7 }, 12), N.random({ 7 }, 13)
    local s, n = 0, 0
    for i = 1, 7 do s = s + x[i] * y[i]; n = n + x[i] * x[i] end
    N.check(D(x):dot(D(y)), s, 1e-12)
    N.check(D(x):norm(), math.sqrt(n), 1e-12)
  end)
end)

describe('matrix products', function()
  local a, b, c = N.random({ 3, 5 }, 14), N.random({ 5, 4 }, 15), N.random({ 3, 4 }, 16)
  local ab = N.matmul(a, b)

  it('mm with plain and transposed operands, float64 and float32', function()
    N.check(D():mm(D(a), D(b)), ab, 1e-12)
    N.check(D():mm(transposed(a), D(b)), ab, 1e-12)
    N.check(D():mm(D(a), transposed(b)), ab, 1e-12)
    N.check(D():mm(narrowed(a), narrowed(b)), ab, 1e-12)
    N.check(fathom.mm(D(a), D(b)), ab, 1e-12)
    N.check(fathom.FloatTensor():mm(fathom.FloatTensor(a), fathom.FloatTensor(b)), ab, 1e-5)
    -- result written into a transposed view
    local r = D(4, 3):zero()
    r:t():mm(D(a), D(b))
    N.check(r, N.transpose(ab), 1e-12)
    -- a column and a row of a matrix as operands (stride patterns of vectors)
    local col = D(b):narrow(2, 2, 1)
    N.check(D():mm(D(a), col), N.matmul(a, D(b):narrow(2, 2, 1):totable()), 1e-12)
  end)

  it('addmm in every Torch7 form', function()
    local expect = function(v1, v2)
      return N.map2(c, ab, function(x, y) return v1 * x + v2 * y end)
    end
    N.check(D(c):addmm(D(a), D(b)), expect(1, 1), 1e-12)
    N.check(D(c):addmm(2, D(a), D(b)), expect(1, 2), 1e-12)
    N.check(D():addmm(D(c), D(a), D(b)), expect(1, 1), 1e-12)
    N.check(D(c):addmm(0.5, 3, D(a), D(b)), expect(0.5, 3), 1e-12)
    N.check(D():addmm(0.5, D(c), D(a), D(b)), expect(0.5, 1), 1e-12)
    N.check(D():addmm(2, D(c), -1, transposed(a), narrowed(b)), expect(2, -1), 1e-12)
    N.check(D(c):t():addmm(D(b):t(), D(a):t()), N.transpose(expect(1, 1)), 1e-12)
    local sq = D(N.random({ 3, 3 }, 17))
    local sqt = sq:totable()
    sq:addmm(sq, sq) -- the result is also an operand
    N.check(sq, N.map2(sqt, N.matmul(sqt, sqt), function(x, y) return x + y end), 1e-12)
    local r = D(a)
    r:mm(r, D(b)) -- resizes r from 3x5 to 3x4 without losing the operand
    N.check(r, ab, 1e-12)
  end)

  it('mv, addmv, addr', function()
    local v = N.random({ 5 }, 18)
    local mv = {}
    for i = 1, 3 do mv[i] = 0 for k = 1, 5 do mv[i] = mv[i] + a[i][k] * v[k] end end
    N.check(D():mv(D(a), D(v)), mv, 1e-12)
    N.check(D():mv(transposed(a), D(v)), mv, 1e-12)
    N.check(D({ 1, 1, 1 }):addmv(2, D(a), D(v)), N.map(mv, function(x) return 1 + 2 * x end), 1e-12)
    local u = { 1, 2, 3 }
    local outer = {}
    for i = 1, 3 do outer[i] = {} for j = 1, 5 do outer[i][j] = u[i] * v[j] end end
    N.check(D(3, 5):zero():addr(D(u), D(v)), outer, 1e-12)
    N.check(D():ger(D(u), D(v)), outer, 1e-12)
  end)
end)

describe('cat, apply, map', function()
  it('cat joins along a dim', function()
    local x, y = D({ { 1, 2 } }), D({ { 3, 4 }, { 5, 6 } })
    N.check(fathom.cat(x, y, 1), { { 1, 2 }, { 3, 4 }, { 5, 6 } })
    N.check(fathom.cat({ y, y:t() }, 2), { { 3, 4, 3, 5 }, { 5, 6, 4, 6 } })
    N.check(fathom.cat(D({ 1 }), D({ 2, 3 })), { 1, 2, 3 })
  end)

  it('apply and map run Lua functions element by element', function()
    N.check(D({ 1, 2, 3 }):apply(function(x) return x * x end), { 1, 4, 9 })
    local t = D({ { 1, 2 }, { 3, 4 } })
    t:t():apply(function(x) return x + 1 end)
    N.check(t, { { 2, 3 }, { 4, 5 } })
    N.check(D({ 1, 2 }):map(D({ 10, 20 }), function(x, y) return x + y end), { 11, 22 })
  end)
end)

describe('printing', function()
  it('shows values, type and size', function()
    local s = tostring(D({ { 1, 2 }, { 3, 4 } }))
    assert.is_truthy(s:find('[fathom.DoubleTensor of size 2x2]', 1, true))
    assert.is_truthy(s:find('1%s+2\n%s+3%s+4'))
    assert.is_truthy(tostring(fathom.LongTensor({ 123456789012 })):find('123456789012', 1, true))
    assert.are.equal('[fathom.FloatTensor with no dimension]', tostring(fathom.Tensor()))
    local nan = tostring(D({ 0 / 0, 1 / 0, -1 / 0, 0.5 }))
    assert.is_truthy(nan:find('nan', 1, true) and nan:find('-inf', 1, true) and nan:find('0.5000', 1, true))
  end)

  it('3-D and 4-D tensors print one 2-D slice per leading index', function()
    local s = tostring(fathom.range(1, 16):view(2, 2, 2, 2))
    assert.is_truthy(s:find('(1,1,.,.) =', 1, true))
    assert.is_truthy(s:find('(2,2,.,.) =', 1, true))
    assert.is_truthy(s:find('15%s+16'))
  end)

  it('huge tensors print a summary only', function()
    local s = tostring(fathom.ones(1000, 1000))
    assert.is_true(#s < 2000)
    assert.is_truthy(s:find('...', 1, true))
    assert.is_truthy(s:find('[fathom.FloatTensor of size 1000x1000]', 1, true))
  end)
end)
