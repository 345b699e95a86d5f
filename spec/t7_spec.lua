-- spec/t7_spec.lua -- Torch7's .t7 files: a file built byte by byte from the format's
-- definition (Torch7's File.lua writeObject and generic/Tensor.c write) loads, and
-- Fathom writes exactly those bytes; round trips of every type, shared references,
-- nn modules; bad and truncated files give clear errors and never run code.
local fathom = require 'fathom'
local torch = require 'torch'
local nn = require 'nn'
local ffi = require 'ffi'

-- Little-endian binary pieces of the format.
local function int(v) local b = ffi.new('int32_t[1]', v) return ffi.string(b, 4) end
local function long(v) local b = ffi.new('int64_t[1]', v) return ffi.string(b, 8) end
local function double(v) local b = ffi.new('double[1]', v) return ffi.string(b, 8) end
local function str(s) return int(#s) .. s end
local function num(v) return int(1) .. double(v) end

-- { [1] = torch.DoubleTensor{1, 2, 3}, [2] = 'hi' }
local BIN = int(3) .. int(1) .. int(2)
  .. num(1) .. int(4) .. int(2) .. str('V 1') .. str('torch.DoubleTensor')
  .. int(1) .. long(3) .. long(1) .. long(1)
  .. int(4) .. int(3) .. str('V 1') .. str('torch.DoubleStorage') .. long(3)
  .. double(1) .. double(2) .. double(3)
  .. num(2) .. int(2) .. str('hi')
local ASCII = '3\n1\n2\n1\n1\n4\n2\n3\nV 1\n18\ntorch.DoubleTensor\n1\n3\n1\n1\n'
  .. '4\n3\n3\nV 1\n19\ntorch.DoubleStorage\n3\n1 2 3\n1\n2\n2\n2\nhi\n'

local function tmpfile(data)
  local name = os.tmpname()
  local f = assert(io.open(name, 'wb'))
  f:write(data)
  f:close()
  return name
end

local function load_error(data, format)
  local name = tmpfile(data)
  local ok, err = pcall(torch.load, name, format)
  os.remove(name)
  assert.is_false(ok, 'loaded a bad file')
  return tostring(err)
end

describe('torch.load / torch.save (.t7)', function()
  it('loads a binary file built from the format definition, and writes the same bytes', function()
    local name = tmpfile(BIN)
    local t = torch.load(name)
    os.remove(name)
    assert.are.equal('hi', t[2])
    assert.are.equal('torch.DoubleTensor', torch.type(t[1]))
    assert.are.same({ 1, 2, 3 }, t[1]:totable())
    assert.are.equal(BIN, torch.serialize({ fathom.DoubleTensor({ 1, 2, 3 }), 'hi' }))
  end)

  it('loads and writes the ascii form byte for byte', function()
    local t = torch.deserialize(ASCII)
    assert.are.same({ 1, 2, 3 }, t[1]:totable())
    assert.are.equal('hi', t[2])
    assert.are.equal(ASCII, torch.serialize({ fathom.DoubleTensor({ 1, 2, 3 }), 'hi' }, 'ascii'))
  end)

  it('loads the checked-in fixture written from the format definition', function()
    local t = torch.load('spec/fixtures/table_tensor.t7')
    assert.are.same({ 1, 2, 3 }, t[1]:totable())
    assert.are.equal('hi', t[2])
  end)

  it('round-trips numbers, strings, booleans, nested tables and every tensor type, in both formats', function()
    for _, fmt in ipairs({ 'binary', 'ascii' }) do
      local obj = {
        n = 3.25, s = 'a\nb', yes = true, no = false, nested = { 1, 2, { deep = 'x' } },
        f = fathom.FloatTensor(2, 3):uniform(), d = fathom.DoubleTensor(4):normal(),
        l = fathom.LongTensor({ -5, 7, 2 ^ 40 }), b = fathom.ByteTensor({ 0, 255, 7 }),
        e = fathom.FloatTensor(), t = fathom.DoubleTensor(3, 2):uniform():t(),
      }
      local r = torch.deserialize(torch.serialize(obj, fmt), fmt)
      assert.are.equal(3.25, r.n); assert.are.equal('a\nb', r.s)
      assert.is_true(r.yes); assert.is_false(r.no)
      assert.are.equal('x', r.nested[3].deep)
      for _, k in ipairs({ 'f', 'd', 'l', 'b', 't' }) do
        assert.are.equal(obj[k]:type(), r[k]:type(), k)
        assert.is_true(r[k]:equal(obj[k]), k .. ' differs (' .. fmt .. ')')
      end
      assert.are.equal(0, r.e:dim())
    end
  end)

  it('keeps shared references, cycles and shared storages', function()
    local x = fathom.DoubleTensor(6):uniform()
    local t = { a = x, b = x, v = x:narrow(1, 2, 3) }
    t.self = t
    local r = torch.deserialize(torch.serialize(t))
    assert.are.equal(r, r.self)
    assert.are.equal(r.a, r.b)
    r.v:fill(9)
    assert.are.equal(9, r.a[3])
  end)

  it('loads Int, Short and Char storages as LongTensors', function()
    local function file(cls, elem, bytes)
      return int(4) .. int(1) .. str('V 1') .. str('torch.' .. cls .. 'Tensor') .. int(1) .. long(2) .. long(1) .. long(1)
        .. int(4) .. int(2) .. str('V 1') .. str('torch.' .. cls .. 'Storage') .. long(2) .. bytes
    end
    local i = ffi.new('int32_t[2]', { -3, 70000 })
    local s = ffi.new('int16_t[2]', { -3, 300 })
    local c = ffi.new('int8_t[2]', { -3, 100 })
    for cls, bytes in pairs({ Int = ffi.string(i, 8), Short = ffi.string(s, 4), Char = ffi.string(c, 2) }) do
      local r = torch.deserialize(file(cls, nil, bytes))
      assert.are.equal('torch.LongTensor', torch.type(r), cls)
      assert.are.equal(-3, r[1], cls)
    end
  end)

  it('saves and loads nn modules of known classes: the loaded model computes the same', function()
    fathom.manualSeed(3)
    local model = nn.Sequential()
    model:add(nn.SpatialConvolution(2, 3, 3, 3, 1, 1, 1, 1)):add(nn.ReLU(true))
    model:add(nn.View(3 * 4 * 4)):add(nn.Linear(48, 5)):add(nn.Tanh())
    local x = fathom.FloatTensor(2, 2, 4, 4):uniform()
    local want = model:forward(x):clone()
    local name = os.tmpname()
    torch.save(name, model)
    local m2 = torch.load(name)
    os.remove(name)
    assert.are.equal('nn.Sequential', torch.type(m2))
    assert.are.equal('nn.SpatialConvolution', torch.type(m2:get(1)))
    assert.is_true(m2:forward(x):equal(want))
  end)

  it('refuses serialized functions and unknown classes, never running them', function()
    _G.T7_SPEC_RAN = nil
    local dumped = string.dump(function() _G.T7_SPEC_RAN = true end)
    local err = load_error(int(6) .. int(1) .. str(dumped))
    assert.is_truthy(err:find('serialized Lua function', 1, true), err)
    assert.is_nil(_G.T7_SPEC_RAN)
    local e2 = load_error(int(4) .. int(1) .. str('V 1') .. str('evil.Thing') .. int(3) .. int(2) .. int(0))
    assert.is_truthy(e2:find('class evil.Thing', 1, true), e2)
    assert.has_error(function() torch.serialize({ f = print }) end)
  end)

  it('gives clear errors for truncated and corrupt files', function()
    for n = 1, #BIN - 1 do
      local err = load_error(BIN:sub(1, n), 'binary')
      assert.is_truthy(err:find('^torch.load: .*truncated') or err:find('^torch.load: '), err)
      assert.is_falsy(err:find('%.lua:%d+'), err)
    end
    assert.is_truthy(load_error(''):find('empty', 1, true))
    assert.is_truthy(load_error(int(99)):find('unknown object type 99', 1, true))
    assert.is_truthy(load_error(int(2) .. int(-5)):find('bad string length', 1, true))
    -- a tensor that claims more elements than its storage holds
    local over = int(4) .. int(1) .. str('V 1') .. str('torch.DoubleTensor') .. int(1) .. long(10) .. long(1) .. long(1)
      .. int(4) .. int(2) .. str('V 1') .. str('torch.DoubleStorage') .. long(2) .. double(1) .. double(2)
    assert.is_truthy(load_error(over):find('does not fit its storage', 1, true))
    assert.is_truthy(load_error(int(4) .. int(1) .. str('V 1') .. str('torch.HalfTensor')):find('HalfTensor', 1, true))
    assert.is_truthy(load_error('1\nabc\n', 'ascii'):find('expected a number', 1, true))
    local deep = {}
    for i = 1, 5000 do deep[i] = int(3) .. int(i) .. int(1) .. num(1) end
    assert.is_truthy(load_error(table.concat(deep)):find('nested more than', 1, true))
    local ok, err = pcall(torch.load, '/nonexistent/file.t7')
    assert.is_false(ok); assert.is_truthy(tostring(err):find('cannot open', 1, true))
  end)
end)

describe('a model written by Torch7', function()
  -- nn.Sequential { nn.View(4) (its size a LongStorage), nn.Linear(4 -> 2) }, with the
  -- fields Torch7's nn gives these classes.
  local function obj(index, class, fields) return int(4) .. int(index) .. str('V 1') .. str(class) .. fields end
  local function tbl(index, pairs_)
    local n = #pairs_ / 2
    local s = int(3) .. int(index) .. int(n)
    for _, p in ipairs(pairs_) do s = s .. p end
    return s
  end
  local function s(v) return int(2) .. str(v) end
  local function b(v) return int(5) .. int(v and 1 or 0) end
  local function dtensor(index, sindex, sizes, values)
    local strides, acc = {}, 1
    for i = #sizes, 1, -1 do strides[i] = acc; acc = acc * sizes[i] end
    local body = int(#sizes)
    for _, v in ipairs(sizes) do body = body .. long(v) end
    for _, v in ipairs(strides) do body = body .. long(v) end
    body = body .. long(1) .. int(4) .. int(sindex) .. str('V 1') .. str('torch.DoubleStorage') .. long(#values)
    for _, v in ipairs(values) do body = body .. double(v) end
    return obj(index, 'torch.DoubleTensor', body)
  end
  local function empty(index) return obj(index, 'torch.DoubleTensor', int(0) .. long(1) .. int(0)) end
  local size = obj(20, 'torch.LongStorage', long(1) .. long(4))
  local view = obj(2, 'nn.View', tbl(3, { s('size'), size, s('numElements'), num(4), s('train'), b(true),
    s('output'), empty(4), s('gradInput'), empty(5) }))
  local linear = obj(6, 'nn.Linear', tbl(7, {
    s('weight'), dtensor(8, 9, { 2, 4 }, { 1, 2, 3, 4, 5, 6, 7, 8 }),
    s('bias'), dtensor(10, 11, { 2 }, { 0.5, -1 }),
    s('gradWeight'), dtensor(12, 13, { 2, 4 }, { 0, 0, 0, 0, 0, 0, 0, 0 }),
    s('gradBias'), dtensor(14, 15, { 2 }, { 0, 0 }),
    s('output'), empty(16), s('gradInput'), empty(17), s('train'), b(true) }))
  local FILE = obj(1, 'nn.Sequential', tbl(18, { s('modules'), tbl(19, { num(1), view, num(2), linear }),
    s('output'), empty(21), s('gradInput'), empty(22), s('train'), b(true) }))

  it('loads into Fathom modules that compute what Torch7 computed', function()
    local m = torch.deserialize(FILE)
    assert.are.equal('nn.Sequential', torch.type(m))
    assert.are.equal('nn.View', torch.type(m:get(1)))
    local x = fathom.DoubleTensor({ { 1, 0 }, { 0, 1 } }):view(1, 2, 2)
    local y = m:forward(x)
    -- weight * (1, 0, 0, 1) + bias
    assert.are.same({ 1 + 4 + 0.5, 5 + 8 - 1 }, y:totable())
    -- and trains: backward fills the gradients
    m:backward(x, fathom.DoubleTensor({ 1, 1 }))
    assert.are.same({ 1, 1 }, m:get(2).gradBias:totable())
  end)
end)
