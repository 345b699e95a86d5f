-- fathom/train.lua -- the training loop, and only the loop:
--   train.fit(run, loaders, hooks) -> summary
-- run: a fathom.run Run (model, optimizer state, counters, random streams); loaders:
-- { train, val, test }; hooks: a table or a list of tables whose methods are called at
-- fixed points (all optional):
--   onStart(run, nIters)  onEpochStart(run, epoch, nIters)  onStep(run, step)
--   afterBackward(run)    onEpoch(record, run)
--   onEpochEnd(record, run)  onAbort(run)  onEnd(run, summary)
-- Printing, progress bars, plots and the paper comparison are hooks (fathom.report);
-- the loop steps, evaluates, logs (DIR/log.jsonl) and checkpoints (Run:save).
-- The paper's metric: the test error at the evaluation with the lowest validation error
-- so far (the first such, on ties).
local fathom = require 'fathom'
local progress = require 'fathom.progress'
local usererror = require 'fathom.usererror'
local metric = require 'fathom.metric'

local train = {}
local now = progress.now
local fail = usererror.fail

local function emit(hooks, name, ...)
  for _, h in ipairs(hooks) do
    if h[name] then h[name](...) end
  end
end

local function as_list(hooks)
  if hooks == nil then return {} end
  if hooks[1] == nil and next(hooks) ~= nil then return { hooks } end
  return hooks
end

train.bestValidation = metric.bestValidation

-- Batches come from the loaders as host tensors; a model on the GPU gets each copied
-- into one device tensor kept across steps. Targets stay on the host.
local function input_mover(cuda)
  if not cuda then return function(x) return x end end
  local buf
  return function(x)
    if not buf then buf = x:cuda() return buf end
    return buf:resize(x:size()):copy(x)
  end
end

-- Error (%) of model on loader, in evaluation mode; also top-k with topk. maxBatches
-- (optional) shortens it. Returns err, errTopk, n (nil when the loader is empty). par (a
-- fathom.dataparallel job): the loader holds this rank's shards; the counts are summed.
function train.evaluate(model, loader, maxBatches, topk, par)
  model:evaluate()
  local wrong, wrongk, n = 0, 0, 0
  local topkError = require('fathom.nn').topkError
  local p = model:parameters()
  local toModel = input_mover(p ~= nil and p[1] ~= nil and p[1]:isCuda())
  for i, inputs, targets in loader:run(1) do
    if maxBatches and i > maxBatches then break end
    local out = model:forward(toModel(inputs))
    wrong = wrong + topkError(out, targets, 1)
    if topk then wrongk = wrongk + topkError(out, targets, topk) end
    n = n + out:size(1)
  end
  model:training()
  if par then wrong, wrongk, n = par:reduceEval(wrong, wrongk, n) end
  if n == 0 then return nil end
  return 100 * wrong / n, topk and 100 * wrongk / n or nil, n
end

-- Validation and test now; noted in run.evals and the log; the best weights saved.
function train.evaluateAll(run, loaders, epoch, midEpoch)
  local opt, r, t0 = run.opt, {}, now()
  local batches = opt.maxEvalIters > 0 and opt.maxEvalIters or nil
  local par = run.parallel
  if par then par:averageStatistics(run.model) end -- each rank's running statistics, averaged
  if loaders.val then r.valErr, r.valTop5 = train.evaluate(run.model, loaders.val, batches, run.topk, par) end
  if loaders.test then r.testErr, r.testTop5 = train.evaluate(run.model, loaders.test, batches, run.topk, par)
  elseif run.testIsVal then r.testErr, r.testTop5 = r.valErr, r.valTop5 end
  r.evalTime = now() - t0
  r.epoch, r.iteration = epoch, run.iteration
  run.evals[#run.evals + 1] = { epoch = epoch, iteration = run.iteration, valErr = r.valErr, testErr = r.testErr,
                                valTop5 = r.valTop5, testTop5 = r.testTop5 }
  local best = metric.bestValidation(run.evals)
  r.best = best
  if midEpoch then run:write { type = 'eval', epoch = epoch, iteration = run.iteration, valErr = r.valErr, testErr = r.testErr,
              valTop5 = r.valTop5, testTop5 = r.testTop5,
              bestValErr = best and best.valErr, testAtBestVal = best and best.testErr } end
  if best and best == run.evals[#run.evals] and run.dir and not run.silent then
    -- the weights at the best validation so far, mid-epoch or not (for -retrain, other tools)
    require('fathom.checkpoint').saveWeights(run.dir .. '/model_best.safetensors', run.model,
      { epoch = epoch, iteration = run.iteration, valErr = best.valErr, testErr = best.testErr })
  end
  run.lastEval = r
  return r
end

-- Stop with the message a person needs: what went wrong and what is kept.
local function diverged(run, hooks, what, epoch, batch, lr)
  emit(hooks, 'onAbort', run)
  local s = run.saved
  local kept = (s and run.dir) and ('The last good checkpoint %s/latest.json (%s) is kept'):format(run.dir,
    s.iteration == 0 and 'epoch 0' or ('epoch %d%s'):format(s.epoch, run.partialSaved and (', iteration ' .. s.iteration) or ''))
    or 'No checkpoint was written yet'
  run:write { type = 'diverged', epoch = epoch, iteration = run.iteration, batch = batch, lr = lr }
  fail('%s at epoch %d, iteration %d (batch %d of the epoch, LR %g): training diverged and stopped. %s; lower -LR or check the data.',
       what, epoch, run.iteration, batch, lr, kept)
end

-- A checkpoint of where the run is; refused (the run stops) when it is not finite.
-- Data-parallel: every rank averages its BN statistics and compares its state; rank 0 writes.
local function checkpoint(run, hooks, epoch, batch, lr)
  if not run.dir then return end
  if run.parallel then run.parallel:beforeCheckpoint(run) end
  local ok, what = run:checkFinite()
  if not ok then diverged(run, hooks, what .. ' are not finite', epoch, batch, lr or 0) end
  if run.silent then run.saved = { epoch = run.epoch, iteration = run.iteration }
  else run:save(run.dir) end
  run.partialSaved = run.partial ~= nil
end

-- One data-parallel step on this rank's rows of a global batch of B: the loss and errors
-- summed over the ranks, the loss gradient scaled to that of the global mean, the
-- gradients summed. Returns the global loss, wrong count and rows.
local function parallel_step(run, par, model, inputs, targets, output, B)
  local n = output:size(1)
  local loss = run.criterion:forward(output, targets)
  local wrong = require('fathom.nn').topkError(output, targets, 1)
  local lossSum, wrongAll, interrupts = par:stepNumbers(loss * n, wrong, fathom.C.ft_interrupt_count())
  run.interrupts = interrupts
  loss = lossSum / B
  if loss ~= loss or loss == math.huge or loss == -math.huge then return loss, wrongAll, B, true end
  par:noteGates(run.blocks)
  run.gradParams:zero()
  local dy = run.criterion:backward(output, targets)
  if n ~= B then dy:mul(n / B) end
  model:backward(inputs, dy)
  par:sumGradients(run.gradParams)
  return loss, wrongAll, B
end

-- One SGD step on one batch; returns the LR used. B: the global batch size (data-parallel).
function train.step(run, hooks, epoch, i, inputs, targets, B)
  local opt, model, p, par = run.opt, run.model, run.partial, run.parallel
  run.iteration = run.iteration + 1
  local lr = run.lrSchedule(epoch, run.iteration, opt)
  run.optimState.learningRate = lr
  inputs = run.toModel(inputs)
  local output = model:forward(inputs)
  local loss, n, wrong
  if par then
    local bad
    loss, wrong, n, bad = parallel_step(run, par, model, inputs, targets, output, B)
    if bad then diverged(run, hooks, 'loss is ' .. tostring(loss), epoch, i, lr) end
  else
    loss = run.criterion:forward(output, targets)
    if loss ~= loss or loss == math.huge or loss == -math.huge then
      diverged(run, hooks, 'loss is ' .. tostring(loss), epoch, i, lr)
    end
    run.gradParams:zero()
    model:backward(inputs, run.criterion:backward(output, targets))
  end
  run.batch, run.loss, run.inputs, run.targets = i, loss, inputs, targets
  emit(hooks, 'afterBackward', run)
  run.optimize(function() return loss, run.gradParams end, run.params, run.optimState)
  if not par then
    n = output:size(1)
    wrong = require('fathom.nn').topkError(output, targets, 1)
  end
  local active = metric.activeBlocks(run.blocks)
  p.lossSum, p.wrongSum, p.seen = p.lossSum + loss * n, p.wrongSum + wrong, p.seen + n
  p.activeSum, p.steps, p.lr = p.activeSum + active, p.steps + 1, lr
  if opt.logIters > 0 and run.iteration % opt.logIters == 0 then
    run:write { type = 'iter', epoch = epoch, iteration = run.iteration, loss = loss, err = 100 * wrong / n,
                lr = lr, active = #run.blocks > 0 and active or nil, time = p.time }
  end
  emit(hooks, 'onStep', run, { epoch = epoch, batch = i, n = n, loss = loss, lr = lr, active = active })
  return lr
end

-- Ctrl-C (counted in C, polled here): a checkpoint of where the run is, then stop.
local function poll_interrupt(run, hooks, epoch, i, lr)
  if (run.parallel and run.interrupts or fathom.C.ft_interrupt_count()) == 0 then return end
  emit(hooks, 'onAbort', run)
  checkpoint(run, hooks, epoch, i, lr)
  local how = run.dir and ('a checkpoint of iteration %d is in %s; continue with -resume %s'):format(
    run.iteration, run.dir, run.dir) or 'nothing was saved (no run directory)'
  error(usererror.new(('interrupted at epoch %d, iteration %d: %s (a second Ctrl-C exits at once)')
    :format(epoch, run.iteration, how), 130), 0)
end

local function epoch_record(run, epoch, p)
  local nb = #run.blocks
  return { type = 'epoch', epoch = epoch, iteration = run.iteration, lr = p.lr, iterations = p.steps,
           trainLoss = p.seen > 0 and p.lossSum / p.seen or nil, trainErr = p.seen > 0 and 100 * p.wrongSum / p.seen or nil,
           time = p.time, imagesPerSec = p.time > 0 and p.seen / p.time or nil,
           activeBlocks = nb > 0 and p.steps > 0 and p.activeSum / p.steps or nil,
           expectedActiveBlocks = nb > 0 and run.expectedActive or nil }
end

local function run_epoch(run, loaders, hooks, epoch, nIters)
  local opt = run.opt
  run.model:training()
  run.partial = run.partial or { lossSum = 0, wrongSum = 0, seen = 0, activeSum = 0, steps = 0, time = 0, lr = 0 }
  local p = run.partial
  emit(hooks, 'onEpochStart', run, epoch, nIters)
  local t0 = now() - p.time
  local par = run.parallel
  for i, inputs, targets in loaders.train:run(epoch) do
    if i > nIters then break end
    local B
    if par then
      local offset
      B, offset = loaders.train:shard(i)
      par:setShard(run.blocks, offset, B)
    end
    train.step(run, hooks, epoch, i, inputs, targets, B)
    p.time = now() - t0
    if opt.evalEveryIters > 0 and run.iteration % opt.evalEveryIters == 0 then
      t0 = t0 + train.evaluateAll(run, loaders, epoch, true).evalTime -- evaluation is not training time
    end
    if (opt.checkpointEvery or 0) > 0 and run.iteration % opt.checkpointEvery == 0 and i < nIters then
      checkpoint(run, hooks, epoch, i, p.lr)
    end
    poll_interrupt(run, hooks, epoch, i, p.lr)
  end
  run.epoch, run.partial = epoch, nil
  local rec = epoch_record(run, epoch, p)
  if epoch % opt.evalEvery == 0 or epoch == opt.nEpochs then
    local r = run.lastEval
    if not (r and r.iteration == run.iteration) then r = train.evaluateAll(run, loaders, epoch) end
    rec.valErr, rec.testErr, rec.valTop5, rec.testTop5, rec.evalTime = r.valErr, r.testErr, r.valTop5, r.testTop5, r.evalTime
  end
  local best = metric.bestValidation(run.evals)
  if best then rec.bestValErr, rec.testAtBestVal, rec.bestEpoch = best.valErr, best.testErr, best.epoch end
  emit(hooks, 'onEpoch', rec, run)
  run.records[#run.records + 1] = rec
  -- the line first: a kill between the two leaves a line past the checkpoint, which load()
  -- drops and the rerun epoch writes again; the other order would lose the line for good
  run:write(rec)
  checkpoint(run, hooks, epoch, nIters, p.lr)
  emit(hooks, 'onEpochEnd', rec, run)
end

-- Train run from where it is to opt.nEpochs. Returns the summary.
function train.fit(run, loaders, hooks)
  hooks = as_list(hooks)
  local opt = run.opt
  run:attach(loaders.train)
  run.toModel = input_mover(run.cuda)
  if run.dir and not run.log and not run.silent then run:openLog(run.dir) end
  if run.parallel then run.parallel:startTraining() end
  local nIters = loaders.train:size()
  if opt.maxIters > 0 then nIters = math.min(nIters, opt.maxIters) end
  emit(hooks, 'onStart', run, nIters)
  for epoch = run.epoch + 1, opt.nEpochs do run_epoch(run, loaders, hooks, epoch, nIters) end
  if run.log then run.log:close() run.log = nil end
  local summary = train.summarize(run)
  emit(hooks, 'onEnd', run, summary)
  return summary
end

train.summarize = metric.summarize

return train
