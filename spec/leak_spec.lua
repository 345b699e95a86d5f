-- spec/leak_spec.lua -- C memory is accounted exactly and always given back. The counters
-- behind fathom.memory() (live storage bytes, live tensor headers) are first checked to
-- move by exactly what each operation allocates; then a stress loop of views, copies,
-- slices, reductions, products, printing and failing calls must return both counters
-- to their starting values once the Lua garbage collector has run.
local fathom = require 'fathom'

local function settle()
  collectgarbage('collect')
  collectgarbage('collect') -- the first cycle runs finalizers; the second frees the rest
  return fathom.memory()
end

describe('memory counters', function()
  it('count storage bytes and tensor headers exactly', function()
    local b0, t0 = settle()
    local x = fathom.FloatTensor(10, 10)
    local b1, t1 = fathom.memory()
    assert.are.equal(400, b1 - b0)
    assert.are.equal(1, t1 - t0)
    local v = x:narrow(1, 2, 3) -- a view: a header, no bytes
    local b2, t2 = fathom.memory()
    assert.are.equal(b1, b2)
    assert.are.equal(t1 + 1, t2)
    local d = fathom.DoubleTensor(3, 7)
    local b3 = fathom.memory()
    assert.are.equal(b2 + 168, b3)
    x = nil -- the view keeps the storage alive
    local b4, t4 = settle()
    assert.are.equal(b3, b4)
    assert.are.equal(t2 + 1 - 1, t4) -- x's header went, v's and d's stay
    v, d = nil, nil
    local b5, t5 = settle()
    assert.are.equal(b0, b5)
    assert.are.equal(t0, t5)
  end)

  it('resize and set release what they replace', function()
    local b0, t0 = settle()
    local x = fathom.Tensor(100)
    x:resize(1000)
    x:resize(10, 10)
    x:set(fathom.Tensor(5))
    x:resizeAs(fathom.Tensor(3, 3))
    x = nil
    local b1, t1 = settle()
    assert.are.equal(b0, b1)
    assert.are.equal(t0, t1)
  end)
end)

describe('stress loop', function()
  it('returns every byte and header after garbage collection', function()
    local b0, t0 = settle()
    local sink = 0
    for i = 1, 200 do
      local a = fathom.randn(17, 13)
      local b = a:t():contiguous()
      local c = a:narrow(1, 2, 5):select(2, 3)
      local d = a[{ { 2, 6 }, { 1, -2 } }]:clone()
      local e = a:view(13, 17):reshape(221)
      local f = (a + 1) * b * a - a:double():float() / 2
      local s, idx = f:max(2)
      sink = sink + s:sum() + idx:sum() + c:mean() + d:std() + e:var() + f:sum(1):prod()
      local g = fathom.DoubleTensor(5, 5):copy(fathom.rand(25):view(5, 5):t())
      g:addmm(0.5, g, 2, g:t(), g) -- aliased result goes through a temporary
      sink = sink + fathom.cat(g, g:clone(), 1):sum() + g:permute(2, 1):expand(5, 5):sum()
      sink = sink + fathom.randperm(20):sum() + fathom.random.MT19937(i):randperm(10):sum()
      local q = fathom.LongTensor({ i, 2 * i }):div(2):byte()
      sink = sink + #tostring(q) + #tostring(fathom.range(1, 24):view(2, 3, 4)) + #tostring(a)
      if i % 50 == 0 then sink = sink + #tostring(fathom.ones(100, 100)) end
      -- failing calls must not leak what they allocated before failing
      pcall(function() return a:add(b) end)
      pcall(function() return fathom.mm(a, a) end)
      pcall(function() return a:t():view(221) end)
      pcall(function() return a:max(3) end)
      pcall(function() local r = fathom.Tensor() r:cmul(a, fathom.DoubleTensor(17, 13)) end)
    end
    assert.is_true(sink == sink) -- the results were used (and are not NaN)
    local b1, t1 = settle()
    assert.are.equal(b0, b1, ('%d bytes leaked'):format(b1 - b0))
    assert.are.equal(t0, t1, ('%d tensor headers leaked'):format(t1 - t0))
  end)

  it('C temporaries inside ft_gemm and reshape are freed on success and failure', function()
    local b0, t0 = settle()
    local a = fathom.DoubleTensor(30, 40):uniform()
    for _ = 1, 20 do
      -- strides (60, 3): BLAS cannot read it, so ft_gemm copies it to a temporary
      local v = fathom.DoubleTensor(40, 60):uniform():view(40, 20, 3):select(3, 1)
      assert.is_false(v:isContiguous())
      local r = fathom.mm(a, v)
      assert.are.same({ 30, 20 }, r:size():totable())
      r:t():addmm(v:t(), a:t()) -- a transposed result also goes through a temporary
      assert.is_false(pcall(function() return fathom.DoubleTensor(30, 21):addmm(a, v) end))
      assert.is_false(pcall(function() return fathom.C.ft_gemm(r.p, a.p, a.p, 0, 0, 1, 0) == 0 or error('x') end))
      v:reshape(800)
      a:t():reshape(1200)
    end
    a = nil
    local b1, t1 = settle()
    assert.are.equal(b0, b1)
    assert.are.equal(t0, t1)
  end)
end)
