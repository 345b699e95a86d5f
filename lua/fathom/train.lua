-- fathom/train.lua -- the training loop shared by every recipe (recipes/*.lua hold only
-- their options and schedules), in the layout of fb.resnet.torch's train.lua:
--   train.main(recipe, arg)     parse options, run, report; user errors exit without traceback
--   train.run(opt, recipe)      set up data, model, criterion (train.setup), train, report
--   train.fit{...}              the loop itself: epochs of SGD with progress, validation and
--                               test, the paper's metric, JSON logs, checkpoints, plots
-- The paper's metric: the test error at the evaluation with the lowest validation error
-- so far (the first such, on ties). Stochastic runs also report the average number of
-- active blocks; every run reports the time per epoch.
-- A recipe table: name, description, defaults (option values), options (extra options),
-- lrSchedule(epoch, iteration, opt) -> lr, survival(l, L, opt) -> p_l, paper(opt) ->
-- { constant = x, stochastic = y, source = '...' }, hooks { afterBackward, onEpoch }.
local fathom = require 'fathom'
local json = require 'fathom.json'
local opts = require 'fathom.opts'
local progress = require 'fathom.progress'
local logmod = require 'fathom.log'
local ck = require 'fathom.checkpoint'

local train = {}
local now = progress.now

---------------------------------------------------------------------------- errors
-- A user-facing failure (bad data path, diverged loss, corrupt checkpoint): main() prints
-- the message alone. Anything else is a bug and gets a traceback.
local UserError = {}
UserError.__index = UserError
UserError.__tostring = function(e) return e.message end
function train.userError(message, code)
  return setmetatable({ message = message, code = code or 1 }, UserError)
end
function train.isUserError(e) return getmetatable(e) == UserError or opts.isUsageError(e) end
local function fail(fmt, ...) error(train.userError(fmt:format(...)), 0) end

---------------------------------------------------------------------------- schedules
-- Step schedule: LR times factor (0.1) for every milestone epoch reached. "/10 at 250"
-- means epochs 250 and later use LR/10, as the authors' code (epoch < 250 -> 0.1).
function train.stepLR(milestones, factor)
  factor = factor or 0.1
  return function(epoch, iteration, opt)
    local lr = opt.LR
    for _, m in ipairs(milestones) do if epoch >= m then lr = lr * factor end end
    return lr
  end
end

-- The authors' form: milestones as fractions of -nEpochs (their code: epoch < 0.5 * max
-- -> 0.1, < 0.75 * max -> 0.01), so a shortened run keeps the shape of the schedule;
-- with the paper's epoch count it is the paper's schedule exactly. Epoch 1 always runs
-- at the full LR (a 1-epoch look would otherwise start at LR/100).
function train.fractionEpochs(fractions, nEpochs)
  local e = {}
  for i, f in ipairs(fractions) do e[i] = math.max(2, math.ceil(f * nEpochs - 1e-9)) end
  return e
end
function train.fractionLR(fractions, factor)
  return function(epoch, iteration, opt)
    return train.stepLR(train.fractionEpochs(fractions, opt.nEpochs), factor)(epoch, iteration, opt)
  end
end
function train.fractionText(fractions, opt)
  local e, pct = {}, {}
  for i, f in ipairs(fractions) do pct[i] = ('%g%%'):format(100 * f) end
  for _, m in ipairs(train.fractionEpochs(fractions, opt.nEpochs)) do
    if m <= opt.nEpochs then e[#e + 1] = m end
  end
  if #e == 0 then return ('no drop within %d epoch(s) (drops at %s of the epochs)'):format(opt.nEpochs, table.concat(pct, ' and ')) end
  return ('/10 from epochs %s (%s of the %d epochs)'):format(table.concat(e, ' and '), table.concat(pct, ' and '), opt.nEpochs)
end

-- Warm-up: warmLR for epochs 1..warmEpochs, then the step schedule (1202-layer net).
function train.warmupLR(warmEpochs, warmLR, milestones, factor)
  local step = train.stepLR(milestones, factor)
  return function(epoch, iteration, opt)
    if epoch <= warmEpochs then return warmLR end
    return step(epoch, iteration, opt)
  end
end

-- Survival probabilities p_l of blocks l = 1..L (the input is p_0 = 1).
train.survival = {
  lin_decay = function(l, L, opt) return 1 - l / L * (1 - opt.pL) end,
  uniform = function(l, L, opt) return opt.pL end,
}
function train.survivalOf(opt, recipe)
  if recipe and recipe.survival then return recipe.survival end
  local f = train.survival[opt.deathMode]
  if not f then fail('unknown -deathMode %s', tostring(opt.deathMode)) end
  return f
end

-- Set p_l on the blocks; returns the expected number of active blocks, sum of p_l.
function train.applySurvival(blocks, survival, opt)
  local L, expected = #blocks, 0
  for l, b in ipairs(blocks) do
    local p = survival(l, L, opt)
    if type(p) ~= 'number' or p < 0 or p > 1 then fail('survival(%d, %d) gave %s; need a number in [0, 1]', l, L, tostring(p)) end
    if b.setSurvival then b:setSurvival(p) else b.p = p end
    expected = expected + p
  end
  return expected
end

---------------------------------------------------------------------------- metric
-- evals: list of { valErr = , testErr = , epoch = , iteration = }. Returns the one with
-- the lowest validation error (the first of equals), or nil when none has one.
function train.bestValidation(evals)
  local best
  for _, e in ipairs(evals) do
    if type(e.valErr) == 'number' and e.valErr == e.valErr and (not best or e.valErr < best.valErr) then
      best = e
    end
  end
  return best
end

---------------------------------------------------------------------------- helpers
local function shallow_copy(t)
  local r = {}
  for k, v in pairs(t) do r[k] = v end
  return r
end

-- The options as saved: plain values only.
local function plain(t)
  local r = {}
  for k, v in pairs(t) do
    local tv = type(v)
    if tv == 'number' or tv == 'string' or tv == 'boolean' then r[k] = v end
  end
  return r
end

-- Active blocks of the last training forward (gate: 1/0 per batch, or per-sample bytes).
local function active_blocks(blocks)
  local n = 0
  for _, b in ipairs(blocks) do
    local g = b.gate
    if type(g) == 'number' then n = n + g
    elseif type(g) == 'boolean' then n = n + (g and 1 or 0)
    elseif fathom.isTensor(g) and g:nElement() > 0 then n = n + g:sum() / g:nElement()
    else n = n + 1 end
  end
  return n
end

-- Generators kept by modules (fields holding an ft_generator): named like tensors, so a
-- run whose blocks draw from their own streams still resumes exactly.
local function module_generators(model)
  local ffi = require 'ffi'
  local list, seen = {}, {}
  local function walk(m, prefix)
    if seen[m] then return end
    seen[m] = true
    if m.generator ~= nil and (ffi.istype('ft_generator', m.generator) or ffi.istype('ft_generator*', m.generator)) then
      list[#list + 1] = { prefix .. 'generator', m.generator }
    end
    for i, c in ipairs(m.modules or {}) do walk(c, prefix .. i .. '.') end
  end
  walk(model, '')
  return list
end

-- Batches come from the loaders as host tensors. A model on the GPU gets each one copied
-- into a device tensor kept across steps (one allocation, resized only for a shorter
-- last batch); a CPU model gets the batch itself. Targets stay on the host: the loss and
-- top-k kernels read host int64 labels.
local function on_cuda(model)
  local p = model:parameters()
  return p ~= nil and p[1] ~= nil and p[1]:isCuda()
end
local function input_mover(cuda)
  if not cuda then return function(x) return x end end
  local buf
  return function(x)
    if not buf then buf = x:cuda() return buf end
    return buf:resize(x:size()):copy(x)
  end
end

local function top1(output, targets)
  local wrong = require('fathom.nn').topkError(output, targets, 1)
  return wrong
end

-- Error (%) of model on loader, in evaluation mode. maxBatches (optional) shortens it.
function train.evaluate(model, loader, maxBatches, topk)
  model:evaluate()
  local wrong, wrong5, n = 0, 0, 0
  local topkError = require('fathom.nn').topkError
  local toModel = input_mover(on_cuda(model))
  for i, inputs, targets in loader:run(1) do
    if maxBatches and i > maxBatches then break end
    local out = model:forward(toModel(inputs))
    wrong = wrong + topkError(out, targets, 1)
    if topk then wrong5 = wrong5 + topkError(out, targets, topk) end
    n = n + out:size(1)
  end
  model:training()
  if n == 0 then return nil end
  return 100 * wrong / n, topk and 100 * wrong5 / n or nil, n
end

local function fmt_err(x) return x and ('%.2f%%'):format(x) or '-' end

---------------------------------------------------------------------------- the loop
-- cfg: opt, model, criterion, loaders = { train, val, test }, blocks (default
-- model.blocks), lrSchedule, survival, hooks, optimizer (default optim.sgd), dir (run
-- directory; nil: nothing written), resume (bool), out (print function), silent,
-- evalBatches (limit evaluation batches), topk (also report top-k error, ImageNet).
-- Returns the summary table.
function train.fit(cfg)
  local opt, model, criterion = cfg.opt, cfg.model, cfg.criterion
  local loaders = cfg.loaders
  local blocks = cfg.blocks or model.blocks or {}
  local lrSchedule = cfg.lrSchedule or train.stepLR({})
  local survival = cfg.survival or train.survivalOf(opt)
  local hooks = cfg.hooks or {}
  local optimize = cfg.optimizer or require('fathom.optim').sgd
  local say = cfg.out or function(s) io.stdout:write(s, '\n') io.stdout:flush() end
  local barOut = cfg.silent and { write = function() end, flush = function() end } or nil
  if cfg.silent then say = function() end end
  local dir = cfg.dir
  local expectedActive = train.applySurvival(blocks, survival, opt)

  local params, gradParams = model:getParameters()
  local cuda = on_cuda(model)
  local toModel = input_mover(cuda)
  local optimState = { learningRate = opt.LR, learningRateDecay = 0, momentum = opt.momentum,
                       nesterov = opt.nesterov, dampening = 0, weightDecay = opt.weightDecay }
  if opt.momentum == 0 then optimState.nesterov = false end

  -- run state (all of it goes into the checkpoint)
  local S = { epoch = 0, iteration = 0, records = {}, evals = {}, startedAt = os.time() }
  local gens = module_generators(model)

  if cfg.resume then
    local info, weights, optimTensors = ck.load(dir)
    ck.restore(model, optimState, weights, optimTensors, info)
    ck.prune(dir, info) -- files a run killed while saving left behind
    if cuda then -- the checkpoint's optimizer tensors (momentum) are host tensors
      for k, v in pairs(optimState) do
        if fathom.isTensor(v) and not v:isCuda() then optimState[k] = v:cuda() end
      end
    end
    if info.rng then fathom.setRNGState(info.rng) end
    if info.loader ~= nil and loaders.train.setState then loaders.train:setState(info.loader) end
    for _, g in ipairs(gens) do
      local s = info.generators and info.generators[g[1]]
      if s then fathom.setRNGState(s, g[2]) end
    end
    S.epoch, S.iteration = info.epoch, info.iteration
    S.records = info.log or {}
    S.evals = info.evals or {}
    S.startedAt = info.startedAt or S.startedAt
    say(('=> resumed %s at epoch %d (iteration %d)'):format(dir, S.epoch, S.iteration))
  end

  local logf
  if dir then
    -- the log must agree with the checkpoint: on resume keep the lines up to its iteration
    -- (a run stopped later wrote lines the checkpoint does not know)
    local lines = nil
    if cfg.resume then
      local ok, old = pcall(logmod.read, dir .. '/log.jsonl')
      lines = {}
      local have = {}
      for _, r in ipairs(ok and old or S.records) do
        if type(r.iteration) == 'number' and r.iteration <= S.iteration and r.type ~= 'diverged' then
          lines[#lines + 1] = r
          if r.type == 'epoch' then have[r.epoch] = true end
        end
      end
      -- killed between the checkpoint and its log line: the checkpoint has the line
      for _, r in ipairs(S.records) do
        if r.type == 'epoch' and not have[r.epoch] then lines[#lines + 1] = r end
      end
    end
    logf = logmod.open(dir .. '/log.jsonl', lines)
  end

  local nIters = loaders.train:size()
  if opt.maxIters > 0 then nIters = math.min(nIters, opt.maxIters) end
  local function evaluate_all()
    local r = {}
    local t0 = now()
    if loaders.val then r.valErr, r.valTop5 = train.evaluate(model, loaders.val, cfg.evalBatches, cfg.topk) end
    if loaders.test then r.testErr, r.testTop5 = train.evaluate(model, loaders.test, cfg.evalBatches, cfg.topk)
    elseif cfg.testIsVal then r.testErr, r.testTop5 = r.valErr, r.valTop5 end
    r.evalTime = now() - t0
    return r
  end
  local lastEval = {}
  local function note_eval(r, epoch, iteration)
    local e = { epoch = epoch, iteration = iteration, valErr = r.valErr, testErr = r.testErr }
    S.evals[#S.evals + 1] = e
    lastEval = { iteration = iteration, r = r }
    return train.bestValidation(S.evals)
  end

  local function save_checkpoint()
    if not dir then return end
    local rngs = {}
    for _, g in ipairs(gens) do rngs[g[1]] = fathom.getRNGState(g[2]) end
    ck.save(dir, {
      model = model, optimState = optimState, epoch = S.epoch, iteration = S.iteration,
      info = { opt = plain(opt), rng = fathom.getRNGState(),
               loader = loaders.train.getState and loaders.train:getState() or nil,
               generators = rngs, log = json.array(S.records), evals = json.array(S.evals),
               startedAt = S.startedAt, recipe = cfg.recipeName },
    })
  end

  local ctx = { opt = opt, model = model, blocks = blocks, params = params, gradParams = gradParams,
                optimState = optimState, state = S }

  for epoch = S.epoch + 1, opt.nEpochs do
    ctx.epoch = epoch
    model:training()
    local bar = progress.new { total = nIters, title = ('epoch %d/%d'):format(epoch, opt.nEpochs),
                               every = opt.printEvery, tty = cfg.tty, out = barOut }
    local lossSum, wrongSum, seen, activeSum, steps = 0, 0, 0, 0, 0
    local t0 = now()
    local lr
    for i, inputs, targets in loaders.train:run(epoch) do
      if i > nIters then break end
      S.iteration = S.iteration + 1
      lr = lrSchedule(epoch, S.iteration, opt)
      optimState.learningRate = lr
      inputs = toModel(inputs)
      local output = model:forward(inputs)
      local loss = criterion:forward(output, targets)
      if loss ~= loss or loss == math.huge or loss == -math.huge then
        bar:finish()
        local last = S.epoch > 0 and dir and ('%s/latest.json (epoch %d) is kept'):format(dir, S.epoch)
                     or 'no checkpoint was written yet'
        if logf then logf:write { type = 'diverged', epoch = epoch, iteration = S.iteration, batch = i, lr = lr } end
        fail('loss is %s at epoch %d, iteration %d (batch %d of the epoch, LR %g): training diverged and stopped. ' ..
             'The last good checkpoint %s; lower -LR or check the data.', tostring(loss), epoch, S.iteration, i, lr, last)
      end
      gradParams:zero()
      local gradOutput = criterion:backward(output, targets)
      model:backward(inputs, gradOutput)
      ctx.iteration, ctx.batch, ctx.loss, ctx.inputs, ctx.targets = S.iteration, i, loss, inputs, targets
      if hooks.afterBackward then hooks.afterBackward(ctx) end
      optimize(function() return loss, gradParams end, params, optimState)

      local n = output:size(1)
      local wrong = top1(output, targets)
      local active = active_blocks(blocks)
      lossSum, wrongSum, seen = lossSum + loss * n, wrongSum + wrong, seen + n
      activeSum, steps = activeSum + active, steps + 1
      bar:update(i, n, { loss = lossSum / seen, err = 100 * wrongSum / seen, lr = lr,
                         active = #blocks > 0 and activeSum / steps or nil })
      if logf and opt.logIters > 0 and S.iteration % opt.logIters == 0 then
        logf:write { type = 'iter', epoch = epoch, iteration = S.iteration, loss = loss, err = 100 * wrong / n,
                     lr = lr, active = #blocks > 0 and active or nil, time = now() - t0 }
      end
      if opt.evalEveryIters > 0 and S.iteration % opt.evalEveryIters == 0 then
        local r = evaluate_all()
        local best = note_eval(r, epoch, S.iteration)
        if logf then
          logf:write { type = 'eval', epoch = epoch, iteration = S.iteration, valErr = r.valErr, testErr = r.testErr,
                       bestValErr = best and best.valErr, testAtBestVal = best and best.testErr }
        end
        t0 = t0 + r.evalTime -- evaluation does not count as training time
      end
    end
    bar:finish()
    local trainTime = now() - t0
    S.epoch = epoch

    local rec = { type = 'epoch', epoch = epoch, iteration = S.iteration, lr = lr, iterations = steps,
                  trainLoss = seen > 0 and lossSum / seen or nil, trainErr = seen > 0 and 100 * wrongSum / seen or nil,
                  time = trainTime, imagesPerSec = trainTime > 0 and seen / trainTime or nil,
                  activeBlocks = #blocks > 0 and steps > 0 and activeSum / steps or nil,
                  expectedActiveBlocks = #blocks > 0 and expectedActive or nil }
    if epoch % opt.evalEvery == 0 or epoch == opt.nEpochs then
      local r
      if lastEval.iteration == S.iteration then r = lastEval.r -- evaluated at this very iteration
      else
        r = evaluate_all()
        note_eval(r, epoch, S.iteration)
      end
      rec.valErr, rec.testErr, rec.valTop5, rec.testTop5, rec.evalTime = r.valErr, r.testErr, r.valTop5, r.testTop5, r.evalTime
    end
    local best = train.bestValidation(S.evals)
    if best then rec.bestValErr, rec.testAtBestVal, rec.bestEpoch = best.valErr, best.testErr, best.epoch end
    if hooks.onEpoch then hooks.onEpoch(rec, ctx) end
    S.records[#S.records + 1] = rec

    say(('epoch %d/%d  loss %.4f  train %s  val %s  test %s  | best-val test %s (epoch %s)  lr %g%s  %s/epoch (%.0f img/s)')
      :format(epoch, opt.nEpochs, rec.trainLoss or 0 / 0, fmt_err(rec.trainErr), fmt_err(rec.valErr),
              fmt_err(rec.testErr), fmt_err(rec.testAtBestVal), tostring(rec.bestEpoch or '-'), lr or 0,
              rec.activeBlocks and ('  blocks %.1f/%d'):format(rec.activeBlocks, #blocks) or '',
              progress.duration(trainTime), rec.imagesPerSec or 0))

    if best and best.epoch == epoch and best.iteration == S.iteration and dir then
      -- weights at the best validation so far, for other frameworks and -retrain; before
      -- the checkpoint, so a kill in between repeats this epoch and writes them again
      ck.saveWeights(dir .. '/model_best.safetensors', model, { epoch = epoch, valErr = best.valErr, testErr = best.testErr })
    end
    save_checkpoint() -- before the log line: the log never runs ahead of the checkpoint
    if logf then logf:write(rec) end
    if dir and opt.plot then train.plotRun(dir, S.records, cfg.plotTitle, cfg.baselineRecords) end
  end
  if logf then logf:close() end
  return train.summarize(S, opt, blocks, expectedActive, params:nElement())
end

-- The summary of a run from its records and evaluations.
function train.summarize(S, opt, blocks, expectedActive, nParams)
  local best = train.bestValidation(S.evals)
  local times, active, nact = 0, 0, 0
  for _, r in ipairs(S.records) do
    times = times + (r.time or 0)
    if r.activeBlocks then active, nact = active + r.activeBlocks, nact + 1 end
  end
  local last = S.records[#S.records] or {}
  return {
    epochs = S.epoch, iterations = S.iteration,
    testErrAtBestVal = best and best.testErr, bestValErr = best and best.valErr,
    bestEpoch = best and best.epoch, bestIteration = best and best.iteration,
    finalTestErr = last.testErr, finalValErr = last.valErr, finalTrainErr = last.trainErr,
    meanEpochTime = #S.records > 0 and times / #S.records or nil, trainTime = times,
    nBlocks = #blocks, expectedActiveBlocks = #blocks > 0 and expectedActive or nil,
    meanActiveBlocks = nact > 0 and active / nact or nil, nParams = nParams,
  }
end

---------------------------------------------------------------------------- plots
-- DIR/error.png: train, validation and test error per epoch, the best-validation
-- point circled (Fig. 3/4 style); with a baseline run, its test error too.
function train.plotRun(dir, records, title, baselineRecords)
  local plot = require 'fathom.plot'
  local function series(recs, key, label)
    local x, y = {}, {}
    for _, r in ipairs(recs) do
      if r.type == 'epoch' and type(r[key]) == 'number' then x[#x + 1] = r.epoch; y[#y + 1] = r[key] end
    end
    return { label = label, x = x, y = y }
  end
  local s = { series(records, 'trainErr', 'train'), series(records, 'valErr', 'validation'),
              series(records, 'testErr', 'test') }
  local last = records[#records]
  if last and last.bestEpoch and last.testAtBestVal then s[3].mark = { last.bestEpoch, last.testAtBestVal } end
  if baselineRecords then
    local b = series(baselineRecords, 'testErr', 'test, baseline')
    b.color = { 120, 120, 120 }
    s[#s + 1] = b
  end
  local any = false
  for _, x in ipairs(s) do if #x.x > 0 then any = true end end
  if not any then return end
  local ok, err = pcall(plot.lines, { path = dir .. '/error.png', title = title or 'error per epoch',
                                     xlabel = 'epoch', ylabel = 'error (%)', series = s, xinteger = true })
  if not ok then io.stderr:write('warning: could not write ', dir, '/error.png: ', tostring(err), '\n') end
end

---------------------------------------------------------------------------- setup
-- The data directory: -data, else $FATHOM_DATA, else ../shared/data beside the repo.
function train.dataDir(opt)
  if opt.data ~= '' then return opt.data end
  local env = os.getenv('FATHOM_DATA')
  if env and env ~= '' then return env end
  local root = package.loaded['fathom.root'] or '.'
  return root .. '/../shared/data'
end

local CIFAR_LIKE = { cifar10 = true, cifar100 = true, svhn = true }

-- Checks that need no data: the backend, the depth.
function train.validate(opt)
  if opt.backend == 'cuda' and not fathom.cuda.isAvailable() then
    -- "this build of Fathom has no CUDA backend" or "no CUDA device available (why)"
    fail('-backend cuda: %s; use -backend cpu', fathom.cuda.status())
  end
  if CIFAR_LIKE[opt.dataset] and (opt.depth - 2) % 6 ~= 0 then
    fail('-depth %d: CIFAR/SVHN ResNets have depth 6n+2 (20, 32, 44, 56, 110, 1202, ...)', opt.depth)
  end
end

-- Data, loaders, model and criterion from the options.
function train.setup(opt)
  train.validate(opt)
  if opt.computeThreads > 0 then fathom.setnumthreads(opt.computeThreads) end
  fathom.manualSeed(opt.manualSeed)

  local data = require 'fathom.data'
  local d
  local subset = opt.trainSubset > 0 and opt.trainSubset or nil
  if opt.dataset == 'cifar10' or opt.dataset == 'cifar100' then
    d = data[opt.dataset] { dir = train.dataDir(opt), split = opt.split, seed = opt.splitSeed,
                            preprocess = opt.preprocess, trainSubset = subset }
  elseif opt.dataset == 'svhn' then
    if subset then fail('-trainSubset is not available for svhn') end
    d = data.svhn { dir = train.dataDir(opt), split = opt.split, seed = opt.splitSeed, preprocess = opt.preprocess }
  elseif opt.dataset == 'imagenet' then
    if subset then fail('-trainSubset is not available for imagenet') end
    if opt.data == '' then fail('-dataset imagenet needs -data DIR (a folder with train/ and val/ of class folders)') end
    d = data.imagefolder { dir = opt.data }
  else
    fail('no loader for -dataset %s', opt.dataset)
  end
  if d.test and d.test == d.val then d.test = nil; d.testIsVal = true end -- ImageNet: val is the test
  local loaders = {
    train = data.Loader(d.train, { batchSize = opt.batchSize, shuffle = true, augment = opt.augment,
                                   seed = opt.manualSeed, nThreads = opt.nThreads }),
    val = d.val and d.val:size() > 0 and data.Loader(d.val, { batchSize = opt.batchSize, shuffle = false,
                                                   augment = false, seed = opt.manualSeed, nThreads = opt.nThreads }) or nil,
    test = d.test and data.Loader(d.test, { batchSize = opt.batchSize, shuffle = false, augment = false,
                                            seed = opt.manualSeed, nThreads = opt.nThreads }) or nil,
  }
  local mopt = shallow_copy(opt)
  mopt.nClasses = d.nClasses
  if opt.dataset == 'imagenet' then mopt.shortcut = nil end -- projection shortcuts (fb.resnet.torch's B)
  local modelName = opt.dataset == 'imagenet' and 'models.resnet_imagenet' or 'models.resnet_cifar'
  local model = require(modelName).createModel(mopt)
  if opt.retrain ~= '' and opt.resume == '' then ck.loadWeights(model, opt.retrain) end -- a resume loads its own
  local criterion = require('fathom.nn').CrossEntropyCriterion()
  -- to the GPU before train.fit's getParameters flattens the parameters
  if opt.backend == 'cuda' then model:cuda(); criterion:cuda() end
  return { data = d, loaders = loaders, model = model, criterion = criterion }
end

---------------------------------------------------------------------------- run
local function paper_of(recipe, opt)
  local p = recipe.paper
  if type(p) == 'function' then p = p(opt) end
  return p
end

local function say(s) io.stdout:write(s, '\n') io.stdout:flush() end

function train.defaultSave(opt, recipe)
  local tag = ('%s_d%d_pL%g'):format(recipe.name or 'run', opt.depth, opt.pL)
  if opt.deathMode ~= 'lin_decay' and opt.pL < 1 then tag = tag .. '_' .. opt.deathMode end
  return 'runs/' .. tag
end

-- What a run will do, printed at its start.
function train.describe(opt, recipe, S, blocks, expected, nParams, paper)
  local d = S.data
  local stochastic = opt.pL < 1 and #blocks > 0
  say(('== %s: %s'):format(recipe.name or 'run', recipe.description or ''))
  local testText
  if d.testIsVal then testText = 'test = the validation folder (the paper reports ImageNet validation error)'
  else
    testText = ('%d test (%s)'):format(d.test and d.test:size() or 0, tostring(d.testName or 'test set'))
  end
  local splitText = d.testIsVal and '' or (' (split %s, seed %d)'):format(opt.split, opt.splitSeed)
  say(('data    %s in %s: %d train%s, %d validation%s, %s; preprocess %s, augmentation %s')
    :format(opt.dataset, d.dir or train.dataDir(opt), d.train:size(), opt.trainSubset > 0 and ' (-trainSubset)' or '',
            d.val and d.val:size() or 0, splitText, testText, d.testIsVal and 'fb.resnet.torch (per channel)' or opt.preprocess,
            opt.augment and 'on' or 'off'))
  if d.testName and d.testName:find('first1000', 1, true) then
    say('        note: only the first 1000 test images are present; test errors are not comparable to the paper\'s')
  end
  say(('model   ResNet-%d, %d residual blocks, %d parameters (%.1f MB as float32); shortcut %s, gate %s, test scaling %s')
    :format(opt.depth, #blocks, nParams, nParams * 4 / 2^20,
            opt.dataset == 'imagenet' and 'projection where shapes change (B)' or opt.shortcut, opt.gate, opt.testScaling))
  if stochastic then
    say(('depth   stochastic, %s to p_L = %g: expected active blocks %.2f of %d, so about %.0f%% of the block compute is skipped%s')
      :format(opt.deathMode == 'lin_decay' and 'linear decay' or 'uniform', opt.pL, expected, #blocks,
              100 * (1 - expected / #blocks),
              opt.deathMode == 'lin_decay' and (' ((3L-1)/4 = %.2f at p_L 0.5)'):format((3 * #blocks - 1) / 4) or ''))
  else
    say(('depth   constant (p_L = %g): all %d blocks every step; this is the baseline'):format(opt.pL, #blocks))
  end
  local nIt = S.loaders.train:size()
  say(('train   %d epochs x %d iterations (batch %d); SGD LR %g, %s; momentum %g%s, weight decay %g; seed %d')
    :format(opt.nEpochs, opt.maxIters > 0 and math.min(opt.maxIters, nIt) or nIt, opt.batchSize, opt.LR,
            type(recipe.scheduleText) == 'function' and recipe.scheduleText(opt) or recipe.scheduleText or 'constant LR', opt.momentum, opt.nesterov and ' (Nesterov)' or '',
            opt.weightDecay, opt.manualSeed))
  local evalText = opt.evalEveryIters > 0 and ('every %d iterations and every %d epoch(s)'):format(opt.evalEveryIters, opt.evalEvery)
                   or ('every %d epoch(s)'):format(opt.evalEvery)
  say(('eval    validation and test error %s%s; metric: test error at the lowest validation error')
    :format(evalText, opt.maxEvalIters > 0 and (' (at most %d batches each: -maxEvalIters)'):format(opt.maxEvalIters) or ''))
  if opt.maxIters > 0 or opt.trainSubset > 0 or opt.maxEvalIters > 0 then
    say('        note: a shortened run (-maxIters/-trainSubset/-maxEvalIters): a quick look, not the paper\'s setting')
  end
  say(('output  %s: log.jsonl, summary.json, error.png, latest.json + model_*/optim_*.safetensors (checkpoint), model_best.safetensors')
    :format(opt.save))
  if paper then
    say(('paper   %s: %s%% constant depth, %s%% stochastic depth%s'):format(paper.source or 'the paper',
      tostring(paper.constant), tostring(paper.stochastic),
      paper.depth and paper.depth ~= opt.depth and (' (for ResNet-%d; this run is ResNet-%d)'):format(paper.depth, opt.depth) or ''))
  end
end

-- Resume: the saved options, with those given on the command line again on top.
function train.resumeOptions(opt, given)
  local info = ck.readInfo(opt.resume)
  local saved = info.opt or {}
  local merged = shallow_copy(saved)
  for k in pairs(given or {}) do merged[k] = opt[k] end
  for k, v in pairs(opt) do if merged[k] == nil then merged[k] = v end end -- options added since
  merged.resume = opt.resume
  if not given or not given.save then merged.save = opt.resume end
  merged.deathRate = 1 - merged.pL
  return merged, info
end

-- Set up, describe, train and report one run; returns the summary.
-- recipe.quiet: no start/end report (sweeps print their own).
function train.run(opt, recipe, given)
  recipe = recipe or {}
  local resuming = opt.resume ~= ''
  if resuming then opt = train.resumeOptions(opt, given) end
  if opt.save == '' then opt.save = train.defaultSave(opt, recipe) end
  local dir = opt.save
  train.validate(opt)
  if not resuming and ck.exists(dir .. '/latest.json') then
    fail('%s already holds a checkpoint: continue it with -resume %s, or choose another -save directory', dir, dir)
  end
  ck.mkdir(dir)

  local S = train.setup(opt)
  local model = S.model
  local survival = train.survivalOf(opt, recipe)
  local blocks = model.blocks or {}
  local expected = train.applySurvival(blocks, survival, opt)
  local nParams = 0
  for _, p in ipairs(model:parameters() or {}) do nParams = nParams + p:nElement() end
  local paper = paper_of(recipe, opt)
  local stochastic = opt.pL < 1 and #blocks > 0

  local baselineRecords, baselineSummary
  if opt.baseline ~= '' then
    local okb, recs = pcall(logmod.read, opt.baseline .. '/log.jsonl')
    if okb then baselineRecords = recs else io.stderr:write('warning: -baseline: ', tostring(recs), '\n') end
    local oks, sm = pcall(json.read, opt.baseline .. '/summary.json')
    if oks then baselineSummary = sm end
  end

  if not recipe.quiet then train.describe(opt, recipe, S, blocks, expected, nParams, paper) end

  local summary = train.fit {
    opt = opt, model = model, criterion = S.criterion, loaders = S.loaders, blocks = blocks,
    lrSchedule = recipe.lrSchedule, survival = survival, hooks = recipe.hooks, dir = dir,
    resume = resuming, recipeName = recipe.name, baselineRecords = baselineRecords,
    testIsVal = S.data.testIsVal, topk = opt.dataset == 'imagenet' and S.data.nClasses > 5 and 5 or nil,
    evalBatches = opt.maxEvalIters > 0 and opt.maxEvalIters or nil,
    plotTitle = ('%s ResNet-%d, p_L %g%s'):format(opt.dataset, opt.depth, opt.pL, stochastic and ' (' .. opt.deathMode .. ')' or ''),
  }
  summary.recipe, summary.dataset, summary.depth, summary.pL, summary.deathMode = recipe.name, opt.dataset, opt.depth, opt.pL, opt.deathMode
  summary.paper = paper
  summary.options = plain(opt)
  if baselineSummary and baselineSummary.meanEpochTime and summary.meanEpochTime then
    summary.baselineEpochTime = baselineSummary.meanEpochTime
    summary.timeSaving = 1 - summary.meanEpochTime / baselineSummary.meanEpochTime
  end
  ck.writeText(dir .. '/summary.json', json.encode(summary, { indent = 2 }) .. '\n')

  if not recipe.quiet then
    say('== result')
    if summary.testErrAtBestVal then
      say(('test error at the lowest validation error (the paper\'s metric): %.2f%% (epoch %d, validation %.2f%%)')
        :format(summary.testErrAtBestVal, summary.bestEpoch, summary.bestValErr))
    else
      say('no validation error was measured (empty validation set?), so the paper\'s metric is not defined')
    end
    if paper then
      say(('paper (%s): %s%% %s'):format(paper.source or 'paper',
        tostring(stochastic and paper.stochastic or paper.constant), stochastic and 'with stochastic depth' or 'constant depth'))
    end
    if summary.meanEpochTime then
      say(('time per epoch %s (training only)%s'):format(progress.duration(summary.meanEpochTime),
        summary.meanActiveBlocks and ('; active blocks %.2f on average (expected %.2f of %d)'):format(
          summary.meanActiveBlocks, summary.expectedActiveBlocks, summary.nBlocks) or ''))
    end
    if summary.timeSaving then
      say(('against the baseline in %s: %s per epoch, %.1f%% less training time (paper: 25%% with linear decay to 0.5)')
        :format(opt.baseline, progress.duration(summary.baselineEpochTime), 100 * summary.timeSaving))
    end
    say(('results in %s (summary.json, log.jsonl, error.png)'):format(dir))
  end
  return summary
end

-- Entry point of a recipe script: `train.main(recipe, arg)`. Exits non-zero on errors;
-- user errors print one message, bugs a traceback (set FATHOM_DEBUG=1 for all).
function train.main(recipe, args)
  recipe.script = recipe.script or ('recipes/' .. (recipe.name or 'recipe') .. '.lua')
  local opt, given = opts.parseOrExit(args, recipe)
  local ok, err = xpcall(function() return (recipe.run or train.run)(opt, recipe, given) end, function(e)
    -- a message from a library check (bad data path, corrupt file) needs no traceback;
    -- a Lua runtime error is a bug and does
    local runtime = type(e) == 'string' and (e:find('attempt to ') or e:find('bad argument') or e:find('stack overflow'))
    if not os.getenv('FATHOM_DEBUG') and (train.isUserError(e) or (type(e) == 'string' and not runtime)) then return e end
    return debug.traceback(tostring(e), 2)
  end)
  if not ok then
    io.stdout:flush()
    io.stderr:write('error: ', tostring(err), '\n')
    os.exit(type(err) == 'table' and err.code or 1)
  end
  return err
end

return train
