-- fathom/report.lua -- what a run tells the person running it, as hooks of the loop
-- (fathom.train.fit) and two printers:
--   report.describe(run, ctx)    the start-of-run lines: data, model, depth, schedule, output
--   report.console{...}          hooks: a progress bar per epoch, one line per epoch
--   report.plots(dir, title, baselineRecords)   hooks: DIR/error.png after every epoch
--   report.result(summary, ctx)  the end-of-run lines: the paper's metric next to the paper's
local progress = require 'fathom.progress'

local report = {}

-- report.quiet: nothing printed (the ranks other than 0 of a data-parallel job).
local function say(s) if not report.quiet then io.stdout:write(s, '\n') io.stdout:flush() end end
report.say = say

local function fmt_err(x) return x and ('%.2f%%'):format(x) or '-' end

-- Hooks printing a progress bar per epoch and one line per epoch. cfg: tty (nil: ask the
-- terminal), every (lines every N iterations off a terminal), silent, out (print function).
function report.console(cfg)
  cfg = cfg or {}
  local out = cfg.out or say
  local silent = cfg.silent or report.quiet
  if silent then out = function() end end
  local barOut = silent and { write = function() end, flush = function() end } or nil
  local bar, nIters
  local h = {}
  function h.onStart(run, n) nIters = n end
  function h.onEpochStart(run, epoch)
    bar = progress.new { total = nIters, title = ('epoch %d/%d'):format(epoch, run.opt.nEpochs),
                         every = cfg.every or run.opt.printEvery, tty = cfg.tty, out = barOut }
  end
  function h.onStep(run, s)
    local p = run.partial
    bar:update(s.batch, s.n, { loss = p.lossSum / p.seen, err = 100 * p.wrongSum / p.seen, lr = s.lr,
                               active = #run.blocks > 0 and p.activeSum / p.steps or nil })
  end
  function h.onAbort() if bar then bar:finish() bar = nil end end
  function h.onEpoch() if bar then bar:finish() bar = nil end end
  function h.onEpochEnd(rec, run)
    local top5 = ''
    if rec.valTop5 or rec.testTop5 then
      top5 = ('  top-5 val %s test %s'):format(fmt_err(rec.valTop5), fmt_err(rec.testTop5))
    end
    out(('epoch %d/%d  loss %.4f  train %s  val %s  test %s%s  | best-val test %s (epoch %s)  lr %g%s  %s/epoch (%.0f img/s)')
      :format(rec.epoch, run.opt.nEpochs, rec.trainLoss or 0 / 0, fmt_err(rec.trainErr), fmt_err(rec.valErr),
              fmt_err(rec.testErr), top5, fmt_err(rec.testAtBestVal), tostring(rec.bestEpoch or '-'), rec.lr or 0,
              rec.activeBlocks and ('  blocks %.1f/%d'):format(rec.activeBlocks, #run.blocks) or '',
              progress.duration(rec.time or 0), rec.imagesPerSec or 0))
  end
  return h
end

-- DIR/error.png: train, validation and test error per epoch, the best-validation point
-- circled (Fig. 3/4 style); with a baseline run, its test error too.
function report.plotRun(dir, records, title, baselineRecords)
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

function report.plots(dir, title, baselineRecords)
  return { onEpochEnd = function(_, run) report.plotRun(dir, run.records, title, baselineRecords) end }
end

-- What a run will do, printed at its start. ctx: name, description, data (the dataset
-- table), dataDir, trainSize, nIters, scheduleText, paper, stochastic, shortcutText.
function report.describe(run, ctx)
  local opt, d, blocks = run.opt, ctx.data, run.blocks
  say(('== %s: %s'):format(ctx.name or 'run', ctx.description or ''))
  local testText
  if d.testIsVal then testText = 'test = the validation folder (the paper reports ImageNet validation error)'
  else testText = ('%d test (%s)'):format(d.test and d.test:size() or 0, tostring(d.testName or 'test set')) end
  local splitText = d.testIsVal and '' or (' (split %s, seed %d)'):format(opt.split, opt.splitSeed)
  say(('data    %s in %s: %d train%s, %d validation%s, %s; preprocess %s, augmentation %s')
    :format(opt.dataset, tostring(ctx.dataDir), d.train:size(), opt.trainSubset > 0 and ' (-trainSubset)' or '',
            d.val and d.val:size() or 0, splitText, testText, d.testIsVal and 'fb.resnet.torch (per channel)' or opt.preprocess,
            opt.augment and 'on' or 'off'))
  if d.testName and d.testName:find('first1000', 1, true) then
    say('        note: only the first 1000 test images are present; test errors are not comparable to the paper\'s')
  end
  local nParams = run.params:nElement()
  say(('model   ResNet-%d, %d residual blocks, %d parameters (%.1f MB as float32); shortcut %s, gate %s, test scaling %s')
    :format(opt.depth, #blocks, nParams, nParams * 4 / 2^20, ctx.shortcutText or opt.shortcut, opt.gate, opt.testScaling))
  local expected = run.expectedActive
  if ctx.stochastic then
    say(('depth   stochastic, %s to p_L = %g: expected active blocks %.2f of %d, so about %.0f%% of the block compute is skipped%s')
      :format(opt.deathMode == 'lin_decay' and 'linear decay' or 'uniform', opt.pL, expected, #blocks,
              100 * (1 - expected / #blocks),
              opt.deathMode == 'lin_decay' and (' ((3L-1)/4 = %.2f at p_L 0.5)'):format((3 * #blocks - 1) / 4) or ''))
  else
    say(('depth   constant (p_L = %g): all %d blocks every step; this is the baseline'):format(opt.pL, #blocks))
  end
  local par = ctx.parallel
  if par and par.size == 1 then
    say('ranks   1 process (an MPI job of one: what -distributed none computes)')
  elseif par then
    say(('ranks   %d processes (MPI), each on its shard of every batch of %d (about %d rows); batch norm %s; rank 0 writes')
      :format(par.size, opt.batchSize, math.ceil(opt.batchSize / par.size),
              opt.syncBN and 'statistics over the global batch (-syncBN)' or 'statistics per rank, running ones averaged before evaluations and checkpoints'))
  end
  say(('train   %d epochs x %d iterations (batch %d); SGD LR %g, %s; momentum %g%s, weight decay %g; seed %d')
    :format(opt.nEpochs, ctx.nIters, opt.batchSize, opt.LR, ctx.scheduleText or 'constant LR', opt.momentum,
            opt.nesterov and ' (Nesterov)' or '', opt.weightDecay, opt.manualSeed))
  local evalText = opt.evalEveryIters > 0 and ('every %d iterations and every %d epoch(s)'):format(opt.evalEveryIters, opt.evalEvery)
                   or ('every %d epoch(s)'):format(opt.evalEvery)
  say(('eval    validation and test error %s%s; metric: test error at the lowest validation error')
    :format(evalText, opt.maxEvalIters > 0 and (' (at most %d batches each: -maxEvalIters)'):format(opt.maxEvalIters) or ''))
  if opt.maxIters > 0 or opt.trainSubset > 0 or opt.maxEvalIters > 0 then
    say('        note: a shortened run (-maxIters/-trainSubset/-maxEvalIters): a quick look, not the paper\'s setting')
  end
  say(('output  %s: log.jsonl, summary.json, error.png, latest.json + model_*/optim_*.safetensors (checkpoint), model_best.safetensors%s')
    :format(ctx.dir or opt.save, (opt.checkpointEvery or 0) > 0 and ('; a checkpoint every %d iterations'):format(opt.checkpointEvery) or ''))
  local paper = ctx.paper
  if paper then
    say(('paper   %s: %s%% constant depth, %s%% stochastic depth%s'):format(paper.source or 'the paper',
      tostring(paper.constant), tostring(paper.stochastic),
      paper.depth and paper.depth ~= opt.depth and (' (for ResNet-%d; this run is ResNet-%d)'):format(paper.depth, opt.depth) or ''))
  end
end

-- The end of a run: the paper's metric (top-5 too where measured), the paper's number,
-- the time per epoch and the measured saving against a baseline.
function report.result(summary, ctx)
  say('== result')
  if summary.testErrAtBestVal then
    say(('test error at the lowest validation error (the paper\'s metric): %.2f%% (epoch %d, validation %.2f%%)%s')
      :format(summary.testErrAtBestVal, summary.bestEpoch, summary.bestValErr,
              summary.testTop5AtBestVal and ('; top-5 %.2f%% (validation %.2f%%)'):format(summary.testTop5AtBestVal,
                                                                                         summary.bestValTop5 or 0 / 0) or ''))
  else
    say('no validation error was measured (empty validation set?), so the paper\'s metric is not defined')
  end
  local paper = ctx.paper
  if paper then
    say(('paper (%s): %s%% %s'):format(paper.source or 'paper',
      tostring(ctx.stochastic and paper.stochastic or paper.constant), ctx.stochastic and 'with stochastic depth' or 'constant depth'))
  end
  if summary.meanEpochTime then
    say(('time per epoch %s (training only)%s'):format(progress.duration(summary.meanEpochTime),
      summary.meanActiveBlocks and ('; active blocks %.2f on average (expected %.2f of %d)'):format(
        summary.meanActiveBlocks, summary.expectedActiveBlocks, summary.nBlocks) or ''))
  end
  if summary.timeSaving then
    say(('against the baseline in %s: %s per epoch, %.1f%% less training time (paper: 25%% with linear decay to 0.5)')
      :format(ctx.baseline, progress.duration(summary.baselineEpochTime), 100 * summary.timeSaving))
  end
  say(('results in %s (summary.json, log.jsonl, error.png)'):format(ctx.dir))
end

return report
