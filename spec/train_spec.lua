-- train_spec.lua -- the training loop: schedules at their boundaries, the paper's metric,
-- NaN handling, and a bit-identical resume, on a tiny model and synthetic data fed
-- through the real data loader.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local data = require 'fathom.data'
local opts = require 'fathom.opts'
local train = require 'fathom.train'
local lrs = require 'fathom.lr'
local Run = require 'fathom.run'
local report = require 'fathom.report'
local schedule = require 'fathom.schedule'
local usererror = require 'fathom.usererror'
local ck = require 'fathom.checkpoint'
local logmod = require 'fathom.log'
local json = require 'fathom.json'

local check = require 'check'
local tmpdir = check.tmpdir
local rmdir = check.rmdir

-- Synthetic 3x8x8 images of 3 classes: class k brightens channel k, plus noise.
local function synthetic(n, seed)
  local g = fathom.Generator(seed)
  local images = fathom.ByteTensor(n, 3, 8, 8)
  local labels = fathom.LongTensor(n)
  local noise = fathom.FloatTensor(n, 3, 8, 8)
  fathom.random.uniform(noise, 0, 100, g)
  local p, q, l = images:data(), noise:data(), labels:data()
  for i = 0, n - 1 do
    local k = i % 3
    l[i] = k
    for c = 0, 2 do
      for j = 0, 63 do
        local o = (i * 3 + c) * 64 + j
        p[o] = math.floor(q[o] + (c == k and 120 or 0))
      end
    end
  end
  local index = fathom.LongTensor(n)
  for i = 0, n - 1 do index:data()[i] = i end
  return data.Dataset { images = images, labels = labels, index = index, nClasses = 3, name = 'synthetic',
                        mean = fathom.FloatTensor(3, 8, 8):fill(90), std = fathom.FloatTensor(3, 8, 8):fill(60) }
end

-- Survival set once, at build: linear decay to p over the 2 blocks (0.75, 0.5).
local function tiny_model(p)
  local ps = schedule.probabilities(schedule.linear(p), 2)
  local m = nn.Sequential()
  m:add(nn.ResidualDrop(3, 3, 1, { p = ps[1] })):add(nn.ResidualDrop(3, 3, 1, { p = ps[2] }))
  m:add(nn.SpatialAveragePooling(8, 8, 8, 8)):add(nn.View(3)):add(nn.Linear(3, 3))
  m.blocks = { m.modules[1], m.modules[2] }
  return m
end

local function options(over)
  local opt = opts.parse({})
  opt.nEpochs, opt.LR, opt.pL, opt.deathRate = 3, 0.05, 0.5, 0.5
  opt.printEvery, opt.plot = 1000, false
  for k, v in pairs(over or {}) do opt[k] = v end
  return opt
end

-- One run: a fresh model and loaders built from the same seeds, as a new process would.
local function run(dir, over, resume, wrap, lrSchedule)
  fathom.manualSeed(11)
  local model = tiny_model(0.5)
  local loaders = {
    train = data.Loader(synthetic(96, 1), { batchSize = 16, shuffle = true, augment = true, seed = 5, nThreads = 1 }),
    val = data.Loader(synthetic(30, 2), { batchSize = 16, shuffle = false, augment = false, nThreads = 1 }),
    test = data.Loader(synthetic(30, 3), { batchSize = 16, shuffle = false, augment = false, nThreads = 1 }),
  }
  if wrap then loaders.train = wrap(loaders.train) end
  local r = Run.new { opt = options(over), model = model, criterion = nn.CrossEntropyCriterion(),
                      dir = dir, lrSchedule = lrSchedule }
  if resume then r:load(dir) end
  local summary = train.fit(r, loaders, report.console { silent = true, tty = false })
  return model, summary, r
end

describe('schedules', function()
  local opt = { LR = 0.1, pL = 0.5 }
  local function near(a, b) assert.is_true(math.abs(a - b) < 1e-12, ('%g ~= %g'):format(a, b)) end

  it('steps the LR at the milestone epochs (CIFAR: /10 at 250 and 375)', function()
    local lr = lrs.step({ 250, 375 })
    near(0.1, lr(1, 1, opt)); near(0.1, lr(249, 1, opt))
    near(0.01, lr(250, 1, opt)); near(0.01, lr(374, 1, opt))
    near(0.001, lr(375, 1, opt)); near(0.001, lr(500, 1, opt))
  end)

  it('places fractional milestones as the authors\' code, never at epoch 1', function()
    local lr = lrs.fraction({ 0.5, 0.75 })
    local o = { LR = 0.1, nEpochs = 500 }
    near(0.1, lr(249, 1, o)); near(0.01, lr(250, 1, o)); near(0.01, lr(374, 1, o)); near(0.001, lr(375, 1, o))
    o.nEpochs = 10 -- epoch < 5 -> 0.1, < 7.5 -> 0.01
    near(0.1, lr(4, 1, o)); near(0.01, lr(5, 1, o)); near(0.01, lr(7, 1, o)); near(0.001, lr(8, 1, o))
    o.nEpochs = 1
    near(0.1, lr(1, 1, o))
    assert.are.same({ 30, 35 }, lrs.fractionEpochs({ 0.6, 0.7 }, 50))
  end)

  it('describes the schedule a short run really gets, and the command line\'s', function()
    assert.are.equal('x0.01 from epoch 2 (milestones at 50% and 75% of the 2 epochs)', lrs.fractionText({ 0.5, 0.75 }, { nEpochs = 2 }))
    assert.are.equal('x0.1 from epoch 250, x0.01 from epoch 375 (milestones at 50% and 75% of the 500 epochs)',
                     lrs.fractionText({ 0.5, 0.75 }, { nEpochs = 500 }))
    local o = { LR = 0.1, nEpochs = 10, lrMilestoneList = { 3, 6 }, lrFactor = 0.5, warmupEpochs = 1, warmupLR = 0.01 }
    local f, text = lrs.fromOptions(o, function() return 99 end, 'recipe default')
    near(0.01, f(1, 1, o)); near(0.1, f(2, 1, o)); near(0.05, f(3, 1, o)); near(0.025, f(6, 1, o))
    assert.matches('warm%-up', text)
    o.lrMilestoneList, o.warmupEpochs = nil, 0
    f, text = lrs.fromOptions(o, function() return 99 end, 'recipe default')
    assert.are.equal(99, f(1, 1, o)) -- the recipe's (the paper's) schedule by default
    assert.are.equal('recipe default', text)
  end)

  it('warms up the 1202-layer net at 0.01 for 10 epochs', function()
    local lr = lrs.warmup(10, 0.01, { 150, 225 })
    near(0.01, lr(1, 1, opt)); near(0.01, lr(10, 1, opt))
    near(0.1, lr(11, 1, opt)); near(0.1, lr(149, 1, opt))
    near(0.01, lr(150, 1, opt)); near(0.001, lr(225, 1, opt))
  end)

  it('gives the survival probabilities of the paper', function()
    local lin, uni = schedule.linear(opt.pL), schedule.uniform(opt.pL)
    near(1 - 0.5 / 54, lin(1, 54))
    near(0.75, lin(27, 54))
    near(0.5, lin(54, 54))
    near(0.5, uni(1, 54)); near(0.5, uni(54, 54))
    near((3 * 54 - 1) / 4, schedule.expectedActive(lin, 54)) -- expected active blocks
    near(0.5, schedule.probabilities(lin, 54)[54])
    assert.has_error(function() schedule.probabilities(function() return 2 end, 54) end)
  end)
end)

describe('the metric', function()
  it('takes the test error at the lowest validation error, the first of equals', function()
    local evals = {
      { epoch = 1, valErr = 50, testErr = 51 },
      { epoch = 2, valErr = 30, testErr = 33 },
      { epoch = 3, valErr = 31, testErr = 20 },  -- lower test, but not the best validation
      { epoch = 4, valErr = 30, testErr = 25 },  -- ties the best: the earlier one stays
      { epoch = 5, testErr = 10 },               -- no validation here
      { epoch = 6, valErr = 0 / 0, testErr = 5 },
    }
    local best = train.bestValidation(evals)
    assert.are.equal(2, best.epoch)
    assert.are.equal(33, best.testErr)
    evals[#evals + 1] = { epoch = 7, valErr = 29.99, testErr = 40 }
    assert.are.equal(40, train.bestValidation(evals).testErr)
    assert.is_nil(train.bestValidation({}))
  end)
end)

describe('progress and log', function()
  local progress = require 'fathom.progress'
  local function sink()
    local buf = {}
    return { write = function(self, ...) for _, x in ipairs({ ... }) do buf[#buf + 1] = x end end,
             flush = function() end, text = function() return table.concat(buf) end }
  end

  it('prints a line every N iterations and the last one when not on a terminal', function()
    local out = sink()
    local bar = progress.new { total = 10, title = 'epoch 1/2', every = 4, tty = false, out = out }
    for i = 1, 7 do bar:update(i, 32, { loss = 1 / i, err = 50 }) end
    bar:finish()
    local lines = {}
    for l in out.text():gmatch('[^\n]+') do lines[#lines + 1] = l end
    assert.are.equal(2, #lines) -- iteration 4, then the last (7)
    assert.matches('^epoch 1/2 4/10  loss 0.2500  err 50.00%%  %d+ img/s  ETA', lines[1])
    assert.matches('^epoch 1/2 7/10', lines[2])
  end)

  it('redraws one line with a bar on a terminal', function()
    local out = sink()
    local bar = progress.new { total = 4, every = 1, tty = true, out = out, width = 8 }
    bar:update(4, 1, { loss = 0.5 })
    bar:finish()
    assert.matches('^\r%[========%] 4/4  loss 0.5000', out.text())
    assert.matches('\n$', out.text())
    assert.are.equal('1m05s', progress.duration(65))
    assert.are.equal('2h01m', progress.duration(7260))
  end)

  it('prints top-1 and top-5 in the epoch line and the result where top-5 was measured', function()
    local lines = {}
    local h = report.console { out = function(l) lines[#lines + 1] = l end }
    local run = { opt = { nEpochs = 2 }, blocks = {} }
    h.onEpochEnd({ epoch = 1, trainLoss = 1, trainErr = 50, valErr = 40, testErr = 41, valTop5 = 12.5, testTop5 = 13.25,
                   time = 2, lr = 0.1 }, run)
    assert.matches('val 40%.00%%  test 41%.00%%  top%-5 val 12%.50%% test 13%.25%%', lines[1])
    h.onEpochEnd({ epoch = 2, trainLoss = 1, valErr = 40, testErr = 41, time = 2, lr = 0.1 }, run)
    assert.is_nil(lines[2]:find('top-5', 1, true)) -- CIFAR: no top-5 column
    local real, out = io.stdout, {}
    io.stdout = { write = function(_, ...) for _, x in ipairs({ ... }) do out[#out + 1] = x end end, flush = function() end }
    local ok, err = pcall(report.result, { testErrAtBestVal = 23.5, bestEpoch = 3, bestValErr = 22, testTop5AtBestVal = 6.75,
                                           bestValTop5 = 6.5 }, { dir = 'd' })
    io.stdout = real
    assert.is_true(ok, tostring(err))
    assert.matches('23%.50%% %(epoch 3, validation 22%.00%%%); top%-5 6%.75%% %(validation 6%.50%%%)', table.concat(out))
  end)

  it('reads a log whose last line was torn by a crash', function()
    local path = os.tmpname()
    local f = io.open(path, 'wb')
    f:write('{"epoch":1}\n{"epoch":2}\n{"epo')
    f:close()
    local recs = logmod.read(path)
    assert.are.equal(2, #recs)
    assert.are.equal(2, recs[2].epoch)
    os.remove(path)
  end)
end)

describe('the loop', function()
  it('trains, logs every epoch, checkpoints and writes the metric', function()
    local dir = tmpdir()
    local _, summary = run(dir)
    local recs = logmod.read(dir .. '/log.jsonl')
    assert.are.equal(3, #recs)
    for e, r in ipairs(recs) do
      assert.are.equal('epoch', r.type)
      assert.are.equal(e, r.epoch)
      assert.are.equal(6 * e, r.iteration)
      assert.is_number(r.trainLoss); assert.is_number(r.valErr); assert.is_number(r.testErr)
      assert.is_number(r.time)
      assert.is_true(r.activeBlocks >= 0 and r.activeBlocks <= 2)
      assert.is_true(math.abs(r.expectedActiveBlocks - (0.75 + 0.5)) < 1e-12)
    end
    local best = train.bestValidation(recs)
    assert.are.equal(best.testErr, summary.testErrAtBestVal)
    assert.are.equal(recs[3].testAtBestVal, summary.testErrAtBestVal)
    assert.is_true(recs[3].valErr < 40, 'the tiny model should learn the synthetic classes: ' .. recs[3].valErr)
    assert.are.equal(3, ck.readInfo(dir).epoch)
    assert.is_true(ck.exists(dir .. '/model_best.safetensors'))
    rmdir(dir)
  end)

  it('resumes bit-identically: 3 epochs straight == 1 epoch, then resume for 2', function()
    local a, b = tmpdir(), tmpdir()
    local ma = run(a, { nEpochs = 3 })
    run(b, { nEpochs = 1 })
    local mb = run(b, { nEpochs = 3 }, true)
    local pa, pb = ma:getParameters(), mb:getParameters()
    local diff = (pa:double() - pb:double()):abs():max()
    assert.are.equal(0, diff)
    -- BN statistics, momentum buffers, and the logged losses agree exactly as well
    local ia, wa, oa = ck.load(a)
    local ib, wb, ob = ck.load(b)
    for name, t in pairs(wa) do assert.are.same(t:totable(), wb[name]:totable(), name) end
    assert.are.same(oa.dfdx:totable(), ob.dfdx:totable())
    assert.are.equal(ia.iteration, ib.iteration)
    local la, lb = logmod.read(a .. '/log.jsonl'), logmod.read(b .. '/log.jsonl')
    assert.are.equal(3, #lb)
    for e = 1, 3 do
      assert.are.equal(la[e].trainLoss, lb[e].trainLoss)
      assert.are.equal(la[e].testErr, lb[e].testErr)
    end
    -- and a run with another seed differs (the comparison can fail)
    local c = tmpdir()
    fathom.manualSeed(12)
    local other = tiny_model(0.5):getParameters()
    assert.is_true((pa:double() - other:double()):abs():max() > 0)
    rmdir(a); rmdir(b); rmdir(c)
  end)

  it('stops on a NaN or infinite loss with a clear message, keeping the last good checkpoint', function()
    local dir = tmpdir()
    -- a learning rate that blows the weights up in epoch 2
    local ok, err = pcall(run, dir, { nEpochs = 3 }, false, nil, function(epoch) return epoch >= 2 and 1e30 or 0.05 end)
    assert.is_false(ok)
    assert.is_true(usererror.is(err), tostring(err))
    local msg = tostring(err)
    assert.matches('loss is %-?[naif]+ at epoch 2, iteration %d+ %(batch %d+ of the epoch, LR 1e%+30%): training diverged', msg)
    assert.matches('latest.json %(epoch 1%) is kept', msg)
    local info, weights = ck.load(dir)
    assert.are.equal(1, info.epoch)
    for name, t in pairs(weights) do
      assert.is_true(t:double():ne(t:double()):sum() == 0, name .. ' holds NaN') -- no NaN saved
    end
    local recs = logmod.read(dir .. '/log.jsonl')
    assert.are.equal('diverged', recs[#recs].type)
    rmdir(dir)
  end)
end)
