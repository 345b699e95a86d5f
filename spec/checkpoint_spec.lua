-- checkpoint_spec.lua -- safetensors files (byte layout, round trip, corrupt input), JSON,
-- and checkpoints: atomic writes, stable names, clear errors on damaged files.
local ffi = require 'ffi'
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local json = require 'fathom.json'
local st = require 'fathom.safetensors'
local ck = require 'fathom.checkpoint'

local check = require 'check'
local tmpdir = check.tmpdir
local function slurp(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end
local function spit(path, s)
  local f = assert(io.open(path, 'wb'))
  f:write(s)
  f:close()
end
local function err_of(fn, ...)
  local ok, err = pcall(fn, ...)
  assert.is_false(ok, 'expected an error')
  return tostring(err)
end
local function u64(s, at) -- little-endian
  local n = 0
  for i = at + 7, at, -1 do n = n * 256 + s:byte(i) end
  return n
end
local function tiny_model()
  local m = nn.Sequential():add(nn.ResidualDrop(4, 4, 1, { p = 0.5 })):add(nn.SpatialAveragePooling(4, 4, 4, 4))
    :add(nn.View(4)):add(nn.Linear(4, 3))
  m.blocks = { m.modules[1] }
  return m
end

describe('json', function()
  it('round-trips values exactly and sorts keys', function()
    local v = { b = { 1, 2.5, -3e-300, 0.1 + 0.2 }, a = 'x"\\\n\1é', c = true, d = false }
    local s = json.encode(v)
    assert.are.equal('{"a":"x\\"\\\\\\n\\u0001é","b":[1,2.5,-3e-300,0.30000000000000004],"c":true,"d":false}', s)
    local back = json.decode(s)
    assert.are.equal(v.a, back.a)
    for i = 1, 4 do assert.are.equal(v.b[i], back.b[i]) end
    assert.are.equal('[]', json.encode(json.array()))
    assert.are.equal('null', json.encode(0 / 0))
  end)
  it('rejects malformed text with the position', function()
    for _, bad in ipairs({ '{', '[1,]', '01', '{"a" 1}', '"abc', '[1] x', 'nul', '1e' }) do
      local msg = err_of(json.decode, bad, 'thing.json')
      assert.matches('thing.json: invalid JSON at byte %d+', msg)
    end
  end)
end)

describe('safetensors', function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  it('lays out header and data byte by byte', function()
    local a = fathom.FloatTensor({ 1, -2 })
    local b = fathom.LongTensor({ { 5 } })
    local path = dir .. '/x.safetensors'
    st.write(path, { { 'a', a }, { 'b', b } }, { k = 'v' })
    local s = slurp(path)
    local n = u64(s, 1)
    assert.are.equal(0, (8 + n) % 8)                      -- data 8-byte aligned
    local header = s:sub(9, 8 + n)
    assert.are.equal('{', header:sub(1, 1))
    assert.matches('^[^ ]*} *$', header)                  -- padded with spaces only
    local h = json.decode(header)
    assert.are.same({ dtype = 'F32', shape = { 2 }, data_offsets = { 0, 8 } }, h.a)
    assert.are.same({ dtype = 'I64', shape = { 1, 1 }, data_offsets = { 8, 16 } }, h.b)
    assert.are.same({ k = 'v' }, h.__metadata__)
    local data = s:sub(9 + n)
    assert.are.equal(16, #data)
    -- 1.0f = 00 00 80 3f, -2.0f = 00 00 00 c0, int64 5 = 05 00 .. 00 (little-endian)
    assert.are.equal('\0\0\128\63\0\0\0\192\5\0\0\0\0\0\0\0', data)
  end)

  it('round-trips every dtype and shape', function()
    local t = {
      { 'w.f32', fathom.FloatTensor(3, 4, 5):normal(0, 1) },
      { 'w.f64', fathom.DoubleTensor(7):uniform(-1, 1) },
      { 'i64', fathom.LongTensor({ -1, 2 ^ 40, 3 }) },
      { 'u8', fathom.ByteTensor({ 0, 255, 17 }) },
      { 'view', fathom.FloatTensor(4, 6):uniform():narrow(2, 2, 3) }, -- non-contiguous
    }
    local path = dir .. '/r.safetensors'
    st.write(path, t, { note = 'x' })
    local back, meta, names = st.read(path)
    assert.are.same({ 'w.f32', 'w.f64', 'i64', 'u8', 'view' }, names)
    assert.are.equal('x', meta.note)
    for _, e in ipairs(t) do
      local r = back[e[1]]
      assert.are.equal(e[2]:type(), r:type())
      assert.are.same(e[2]:size():totable(), r:size():totable())
      assert.are.same(e[2]:totable(), r:totable())
    end
  end)

  it('names the file and the problem for damaged files', function()
    local path = dir .. '/d.safetensors'
    st.write(path, { { 'a', fathom.FloatTensor(10):fill(1) } })
    local good = slurp(path)
    -- truncated data
    spit(path, good:sub(1, #good - 4))
    local msg = err_of(st.read, path)
    assert.truthy(msg:find(path, 1, true))
    assert.matches('truncated', msg)
    -- truncated header
    spit(path, good:sub(1, 20))
    assert.matches('truncated', err_of(st.read, path))
    -- shorter than the length field
    spit(path, good:sub(1, 5))
    assert.matches('truncated', err_of(st.read, path))
    -- garbage length
    spit(path, ('\255'):rep(8) .. good:sub(9))
    assert.matches('implausible', err_of(st.read, path))
    -- corrupt header JSON
    local n = u64(good, 1)
    spit(path, good:sub(1, 8) .. '[' .. good:sub(10))
    msg = err_of(st.read, path)
    assert.truthy(msg:find(path, 1, true))
    assert.matches('not a valid safetensors file', msg)
    -- offsets that do not match the shape
    local h = good:sub(9, 8 + n):gsub('%[0,40%]', '[0,36]')
    spit(path, good:sub(1, 8) .. h .. good:sub(9 + n))
    assert.matches('need 40', err_of(st.read, path))
    -- extra bytes after the data
    spit(path, good .. 'xx')
    assert.matches('past the last tensor', err_of(st.read, path))
    -- unsupported dtype
    h = good:sub(9, 8 + n):gsub('F32', 'F16')
    spit(path, good:sub(1, 8) .. h .. good:sub(9 + n))
    assert.matches('dtype F16', err_of(st.read, path))
    -- missing file
    assert.matches('cannot open', err_of(st.read, dir .. '/nope.safetensors'))
  end)
end)

describe('checkpoint', function()
  local dir
  before_each(function() dir = tmpdir() end)
  after_each(function() os.execute("rm -rf '" .. dir .. "'") end)

  it('names every parameter and BN statistic stably', function()
    fathom.manualSeed(3)
    local m = tiny_model()
    local names = {}
    for _, e in ipairs(ck.namedTensors(m)) do names[#names + 1] = e[1] end
    -- module path + field (+ index for a module's list of tensors), parameters first
    assert.are.same({ '4.weight', '4.bias' }, { names[#names - 1], names[#names] })
    local block, running, seen = 0, 0, {}
    for _, n in ipairs(names) do
      assert.is_nil(seen[n], 'duplicate name ' .. n)
      seen[n] = true
      if n:match('^1%.') then block = block + 1 end
      if n:match('^1%.running') then running = running + 1 end
    end
    assert.are.equal(12, #names)
    assert.are.equal(10, block)   -- 2 convs, 2 BN weights and biases, 4 running statistics
    assert.are.equal(4, running)
    -- the same after getParameters (tensors re-pointed into the flat vector)
    m:getParameters()
    local again = {}
    for _, e in ipairs(ck.namedTensors(m)) do again[#again + 1] = e[1] end
    assert.are.same(names, again)
  end)

  it('saves and restores weights, optimizer state and info', function()
    fathom.manualSeed(4)
    local m = tiny_model()
    local p = m:getParameters()
    m.modules[1].runningMean[1]:fill(0.25)
    local optimState = { dfdx = fathom.FloatTensor(p:nElement()):uniform(), evalCounter = 12, learningRate = 0.1 }
    ck.save(dir, { model = m, optimState = optimState, epoch = 2, iteration = 40, info = { note = 'hi' } })
    local info, weights, optimTensors = ck.load(dir)
    assert.are.equal(2, info.epoch)
    assert.are.equal(40, info.iteration)
    assert.are.equal('hi', info.note)

    fathom.manualSeed(5)
    local m2 = tiny_model()
    local p2 = m2:getParameters()
    local o2 = { learningRate = 1 }
    ck.restore(m2, o2, weights, optimTensors, info)
    assert.are.same(p:totable(), p2:totable())
    assert.are.same(m.modules[1].runningMean[1]:totable(), m2.modules[1].runningMean[1]:totable())
    assert.are.same(optimState.dfdx:totable(), o2.dfdx:totable())
    assert.are.equal(12, o2.evalCounter)
    assert.are.equal(0.1, o2.learningRate)
    -- the weights file is plain safetensors with the names
    local w = st.read(dir .. '/' .. info.weights)
    assert.are.same(m.modules[4].weight:totable(), w['4.weight']:totable())
  end)

  it('keeps one checkpoint, replacing the previous only when the new one is complete', function()
    local m = tiny_model()
    m:getParameters()
    ck.save(dir, { model = m, optimState = {}, epoch = 1, iteration = 10 })
    local first = ck.readInfo(dir)
    ck.save(dir, { model = m, optimState = {}, epoch = 2, iteration = 20 })
    local second = ck.readInfo(dir)
    assert.are.equal(2, second.epoch)
    assert.is_false(ck.exists(dir .. '/' .. first.weights)) -- old files dropped
    assert.is_true(ck.exists(dir .. '/' .. second.weights))
  end)

  it('leaves the previous file and checkpoint intact when a write fails', function()
    local path = dir .. '/f.txt'
    ck.writeText(path, 'old contents')
    local msg = err_of(ck.atomicWrite, path, function(tmp)
      local f = assert(io.open(tmp, 'wb'))
      f:write('half of the new')
      f:close()
      error('disk full')
    end)
    assert.matches('disk full', msg)
    assert.are.equal('old contents', slurp(path))
    assert.is_false(ck.exists(path .. '.tmp'))

    -- a checkpoint whose second file fails: latest.json still names the old, whole set
    local m = tiny_model()
    m:getParameters()
    ck.save(dir, { model = m, optimState = { dfdx = fathom.FloatTensor(3):fill(1) }, epoch = 1, iteration = 5 })
    local before = slurp(dir .. '/latest.json')
    local real = st.write
    local calls = 0
    st.write = function(p, ...)
      calls = calls + 1
      if calls == 2 then error('simulated failure writing ' .. p) end
      return real(p, ...)
    end
    local ok = pcall(ck.save, dir, { model = m, optimState = { dfdx = fathom.FloatTensor(3) }, epoch = 2, iteration = 10 })
    st.write = real
    assert.is_false(ok)
    assert.are.equal(before, slurp(dir .. '/latest.json'))
    local info, weights = ck.load(dir)
    assert.are.equal(1, info.epoch)
    assert.truthy(weights['4.weight'])
    -- and the new weights file written before the failure is not left behind
    assert.is_false(ck.exists(dir .. '/model_e0002_i00000010.safetensors'))
    assert.is_true(ck.exists(dir .. '/' .. info.weights))
  end)

  it('FATHOM_FAULT_AT=n kills the process at the n-th fault point, and only there', function()
    local p = io.popen([[FATHOM_FAULT_AT=2 luajit -e "package.path='./lua/?.lua;'..package.path
local f = require 'fathom.fault'; f.point('a'); print('after 1'); io.stdout:flush(); f.point('b'); print('after 2')" 2>&1; echo "status $?"]])
    local out = p:read('*a')
    p:close()
    assert.matches('after 1', out)
    assert.is_nil(out:find('after 2', 1, true), out)
    assert.matches('status 137', out)
  end)

  it('calls a fault point at each step of a write (FATHOM_FAULT_AT kills there)', function()
    local fault = require 'fathom.fault'
    local real, names = fault.point, {}
    fault.point = function(name) names[#names + 1] = name end
    local m = tiny_model()
    m:getParameters()
    local ok, err = pcall(ck.save, dir, { model = m, optimState = { dfdx = fathom.FloatTensor(3):fill(1) }, epoch = 7, iteration = 70 })
    fault.point = real
    assert.is_true(ok, tostring(err))
    local text = table.concat(names, '|')
    assert.matches('written [^|]*model_e0007_i00000070%.safetensors%.tmp', text)
    assert.matches('renamed [^|]*optim_e0007', text)
    assert.matches('before latest%.json|written [^|]*latest%.json%.tmp|renamed [^|]*latest%.json$', text)
  end)

  it('gives a clear error naming the file for a truncated or corrupt checkpoint', function()
    local m = tiny_model()
    m:getParameters()
    ck.save(dir, { model = m, optimState = {}, epoch = 3, iteration = 30 })
    local info = ck.readInfo(dir)
    local wpath = dir .. '/' .. info.weights
    local good = slurp(wpath)
    spit(wpath, good:sub(1, #good - 10))
    local msg = err_of(ck.load, dir)
    assert.truthy(msg:find(wpath, 1, true), msg)
    assert.matches('truncated', msg)
    spit(wpath, good)

    local lpath = dir .. '/latest.json'
    local text = slurp(lpath)
    spit(lpath, text:sub(1, #text / 2))
    msg = err_of(ck.load, dir)
    assert.truthy(msg:find(lpath, 1, true), msg)
    assert.matches('corrupt or truncated', msg)

    spit(lpath, '{"format": "something-else"}')
    assert.matches('not a Fathom checkpoint', err_of(ck.load, dir))
    -- a file name that tries to leave the directory is refused
    spit(lpath, text:gsub('"weights": "[^"]*"', '"weights": "../../etc/passwd"'))
    assert.matches('must name a file in the run directory', err_of(ck.load, dir))
    os.remove(lpath)
    assert.matches('no checkpoint in', err_of(ck.load, dir))
  end)

  it('loads weights only (-retrain), refusing a file that does not fit', function()
    fathom.manualSeed(6)
    local m = tiny_model()
    local path = dir .. '/w.safetensors'
    ck.saveWeights(path, m)
    fathom.manualSeed(7)
    local m2 = tiny_model()
    ck.loadWeights(m2, path)
    assert.are.same(m.modules[4].weight:totable(), m2.modules[4].weight:totable())
    assert.are.same(m.modules[1].convWeight[2]:totable(), m2.modules[1].convWeight[2]:totable())
    local other = nn.Sequential():add(nn.Linear(4, 5))
    local msg = err_of(ck.loadWeights, other, path)
    assert.truthy(msg:find(path, 1, true))
    assert.matches('does not fit', msg)
  end)
end)
