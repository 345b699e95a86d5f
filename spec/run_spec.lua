-- run_spec.lua -- the Run: save/load symmetry (every field saved is restored), a bit-exact
-- resume from a mid-epoch checkpoint (-checkpointEvery), the best weights at a mid-epoch
-- evaluation, no non-finite checkpoint, and checkpoint fields checked on resume.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local data = require 'fathom.data'
local opts = require 'fathom.opts'
local train = require 'fathom.train'
local Run = require 'fathom.run'
local ck = require 'fathom.checkpoint'
local json = require 'fathom.json'
local schedule = require 'fathom.schedule'
local check = require 'check'

local tmpdir = check.tmpdir
local rmdir = check.rmdir

local function dataset(n, seed)
  local g = fathom.Generator(seed)
  local images, labels = fathom.ByteTensor(n, 3, 8, 8), fathom.LongTensor(n)
  local noise = fathom.FloatTensor(n, 3, 8, 8)
  fathom.random.uniform(noise, 0, 255, g)
  images:copy(noise)
  local index = fathom.LongTensor(n)
  for i = 0, n - 1 do labels:data()[i] = i % 3; index:data()[i] = i end
  return data.Dataset { images = images, labels = labels, index = index, nClasses = 3, name = 'synthetic',
                        mean = fathom.FloatTensor(3, 8, 8):fill(128), std = fathom.FloatTensor(3, 8, 8):fill(70) }
end

local function model()
  local ps = schedule.probabilities(schedule.linear(0.5), 2)
  local m = nn.Sequential()
  m:add(nn.ResidualDrop(3, 3, 1, { p = ps[1], generator = fathom.Generator(3) }))
  m:add(nn.ResidualDrop(3, 3, 1, { p = ps[2] }))
  m:add(nn.SpatialAveragePooling(8, 8, 8, 8)):add(nn.View(3)):add(nn.Linear(3, 3))
  m.blocks = { m.modules[1], m.modules[2] }
  return m
end

local function setup(dir, over)
  fathom.manualSeed(11)
  local opt = opts.parse({})
  opt.nEpochs, opt.LR, opt.printEvery, opt.plot = 2, 0.05, 1000, false
  for k, v in pairs(over or {}) do opt[k] = v end
  local r = Run.new { opt = opt, model = model(), criterion = nn.CrossEntropyCriterion(), dir = dir }
  local loaders = {
    train = data.Loader(dataset(96, 1), { batchSize = 16, shuffle = true, augment = true, seed = 5, nThreads = 1 }),
    val = data.Loader(dataset(32, 2), { batchSize = 16, shuffle = false, augment = false, nThreads = 1 }),
    test = data.Loader(dataset(32, 3), { batchSize = 16, shuffle = false, augment = false, nThreads = 1 }),
  }
  return r, loaders
end

if os.getenv('FATHOM_RUN_SPEC_HELPER') then return setup end -- the Ctrl-C child uses setup

describe('Run', function()
  it('restores every field it saves (save, load into a fresh Run, save again: the same)', function()
    local dir, dir2 = tmpdir(), tmpdir()
    local a, la = setup(dir, { nEpochs = 1, evalEveryIters = 4 })
    train.fit(a, la, {})
    a.partial = { lossSum = 1.5, wrongSum = 2, seen = 3, activeSum = 4, steps = 5, time = 6, lr = 0.05 }
    a:save(dir)
    local sa = a:state()
    fathom.manualSeed(999) -- load must put the streams back
    local b, lb = setup(dir, { nEpochs = 1, evalEveryIters = 4 })
    b:load(dir)
    b:attach(lb.train)
    local sb = b:state()
    assert.are.same(sa, sb) -- a field saved but not restored makes these differ
    -- and the tensors: weights and optimizer state
    b:save(dir2)
    local _, wa, oa = ck.load(dir)
    local _, wb, ob = ck.load(dir2)
    for name, t in pairs(wa) do assert.are.equal(0, check.maxdiff(t, wb[name]), name) end
    for name, t in pairs(oa) do assert.are.equal(0, check.maxdiff(t, ob[name]), name) end
    -- the check can fail: a state differing in one field is seen
    b.iteration = b.iteration + 1
    assert.are_not.same(sa, b:state())
    rmdir(dir); rmdir(dir2)
  end)

  it('resumes bit-exactly from a mid-epoch checkpoint (-checkpointEvery)', function()
    local a, b = tmpdir(), tmpdir()
    local ra, la = setup(a)
    train.fit(ra, la, {})
    -- b: stop after iteration 8 (a checkpoint every 4, epoch of 6: mid-epoch 2)
    local rb, lb = setup(b, { checkpointEvery = 4 })
    local stop = { onStep = function(run) if run.iteration == 9 then error('stop') end end }
    assert.is_false(pcall(train.fit, rb, lb, stop))
    if rb.log then rb.log:close() end
    local info = ck.readInfo(b)
    assert.are.equal(8, info.iteration)
    assert.are.equal(1, info.epoch) -- epoch 2 unfinished
    local rc, lc = setup(b, { checkpointEvery = 4 })
    rc:load(b)
    train.fit(rc, lc, {})
    assert.are.equal(0, check.maxdiff(ra.params, rc.params))
    assert.are.equal(0, check.maxdiff(ra.optimState.dfdx, rc.optimState.dfdx))
    assert.are.equal(ra.records[2].trainLoss, rc.records[2].trainLoss)
    rmdir(a); rmdir(b)
  end)

  it('saves model_best at a mid-epoch evaluation that is the best', function()
    local dir = tmpdir()
    local r, l = setup(dir, { nEpochs = 1, evalEveryIters = 2, LR = 0.8 })
    local summary = train.fit(r, l, {})
    assert.is_true(ck.exists(dir .. '/model_best.safetensors'))
    local best = train.bestValidation(r.evals)
    assert.are.equal(best.iteration, summary.bestIteration)
    rmdir(dir)
  end)

  it('Ctrl-C (SIGINT to a child run) saves a checkpoint of where it is and says how to resume', function()
    local dir = tmpdir()
    local script = os.tmpname()
    local f = assert(io.open(script, 'w'))
    f:write(([[
package.path = './?.lua;./spec/helpers/?.lua;' .. package.path
local ffi = require 'ffi'
pcall(ffi.cdef, 'int getpid(void); int kill(int pid, int sig);')
local fathom = require 'fathom'
local setup = dofile('spec/run_spec.lua')
local train = require 'fathom.train'
fathom.C.ft_interrupt_install(2)
local r, l = setup(%q)
local ok, err = pcall(train.fit, r, l, { onStep = function(run) if run.iteration == 3 then ffi.C.kill(ffi.C.getpid(), 2) end end })
io.write(tostring(err and err.message), '\n', tostring(err and err.code), '\n')
]]):format(dir))
    f:close()
    local env = os.getenv('FATHOM_LIB') and ("FATHOM_LIB='" .. os.getenv('FATHOM_LIB') .. "' ") or ''
    local p = io.popen(env .. 'FATHOM_RUN_SPEC_HELPER=1 luajit ' .. script .. ' 2>&1')
    local out = p:read('*a')
    p:close()
    os.remove(script)
    assert.matches('interrupted at epoch 1, iteration 3', out)
    assert.matches('%-resume ' .. dir:gsub('%p', '%%%0'), out)
    assert.matches('\n130\n', out)
    assert.are.equal(3, ck.readInfo(dir).iteration)
    rmdir(dir)
  end)

  it('never writes a checkpoint that is not finite', function()
    local dir = tmpdir()
    local r, l = setup(dir, { nEpochs = 1, maxIters = 1, LR = 1e300 })
    local ok, err = pcall(train.fit, r, l, {})
    if r.log then r.log:close() end
    assert.is_false(ok)
    assert.matches('not finite', tostring(err))
    assert.matches('No checkpoint was written yet', tostring(err))
    assert.is_false(ck.exists(dir .. '/latest.json'))
    rmdir(dir)
  end)

  it('refuses a checkpoint whose fields do not fit, naming the file and field', function()
    local dir = tmpdir()
    local r, l = setup(dir, { nEpochs = 1, maxIters = 2 })
    train.fit(r, l, {})
    local path = dir .. '/latest.json'
    local good = json.read(path)
    local function with(edit, parts)
      local info = json.read(path)
      edit(info)
      ck.writeText(path, json.encode(info))
      local fresh = setup(dir)
      check.expect_error(function() fresh:load(dir) end, parts)
      ck.writeText(path, json.encode(good))
    end
    with(function(i) i.epoch = -2 end, { 'latest.json', 'field epoch', 'non-negative integer' })
    with(function(i) i.iteration = 2.5 end, { 'field iteration' })
    with(function(i) i.optimScalars.learningRate = 'fast' end, { 'optimScalars.learningRate' })
    with(function(i) i.rng.seed = 'x1y2' end, { 'field rng.seed' })
    with(function(i) i.rng.counter = '18446744073709551616' end, { 'field rng.counter', '2^64' })
    -- a loader position past the epoch
    local info = json.read(path)
    info.loader.position = 9999
    ck.writeText(path, json.encode(info))
    local fresh, fl = setup(dir)
    fresh:load(dir)
    check.expect_error(function() fresh:attach(fl.train) end, { 'field loader', '9999' })
    ck.writeText(path, json.encode(good))
    -- a momentum buffer of another shape
    local st = require 'fathom.safetensors'
    st.write(dir .. '/' .. good.optim, { { 'dfdx', fathom.FloatTensor(5):zero() } }, {})
    check.expect_error(function() setup(dir):load(dir) end, { good.optim, 'dfdx', 'flattened parameters' })
    rmdir(dir)
  end)
end)
