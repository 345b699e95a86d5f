-- fathom/recipe.lua -- small helpers with which a recipe script assembles a run, and the
-- command-line entry point. A recipe is a table:
--   name, description, defaults (option values), options (extra options), datasets (the
--   -dataset values it accepts), check(opt, fail, given), build(opt, data) -> { model =,
--   criterion = } (the recipe picks its model), lrSchedule(epoch, iteration, opt),
--   scheduleText(opt), paper(opt), hooks, shortcutText, run (replaces recipe.run).
--   recipe.main(r, arg)       parse options, run, report; user errors exit without traceback
--   recipe.run(opt, r, given) data, model, Run, fit with the reporting hooks, summary.json
--   recipe.data(opt)          the data set -dataset names (fathom.data finds its folder)
--   recipe.loaders(d, opt)    { train, val, test } loaders of a data set
local fathom = require 'fathom'
local json = require 'fathom.json'
local opts = require 'fathom.opts'
local ck = require 'fathom.checkpoint'
local logmod = require 'fathom.log'
local lr = require 'fathom.lr'
local Run = require 'fathom.run'
local train = require 'fathom.train'
local report = require 'fathom.report'
local usererror = require 'fathom.usererror'
local dataparallel = require 'fathom.dataparallel'

local M = {}
local fail, usage = usererror.fail, usererror.usage
local say = report.say

local function copy(t) local r = {} for k, v in pairs(t) do r[k] = v end return r end
M.copy = copy

-- A path as the system resolves it (for messages): absolute, without "..".
function M.resolve(path)
  if type(path) ~= 'string' or path == '' then return path end
  local p = io.popen("readlink -m '" .. path:gsub("'", "'\\''") .. "' 2>/dev/null")
  local r = p and p:read('*l')
  if p then p:close() end
  return (r and r ~= '') and r or path
end

---------------------------------------------------------------------------- data
-- The data set of opt.dataset, from -data DIR when given (else fathom.data's own search).
function M.data(opt)
  local data = require 'fathom.data'
  local dir = (opt.data ~= '' and opt.data) or nil
  local subset = opt.trainSubset > 0 and opt.trainSubset or nil
  local d
  if opt.dataset == 'cifar10' or opt.dataset == 'cifar100' then
    d = data[opt.dataset] { dir = dir, split = opt.split, seed = opt.splitSeed, preprocess = opt.preprocess,
                            trainSubset = subset }
  elseif opt.dataset == 'svhn' then
    if subset then usage('option -trainSubset is not available for -dataset svhn') end
    d = data.svhn { dir = dir, split = opt.split, seed = opt.splitSeed, preprocess = opt.preprocess }
  elseif opt.dataset == 'imagenet' then
    if subset then usage('option -trainSubset is not available for -dataset imagenet') end
    if not dir then usage('-dataset imagenet needs -data DIR (a folder with train/ and val/ of class folders)') end
    d = data.imagefolder { dir = dir }
  else
    usage('no loader for -dataset %s', tostring(opt.dataset))
  end
  if d.test and d.test == d.val then d.test = nil; d.testIsVal = true end -- ImageNet: val is the test
  if opt.batchSize > d.train:size() then
    usage('option -batchSize %d is larger than the %d training images', opt.batchSize, d.train:size())
  end
  return d
end

-- par (a fathom.dataparallel job): every loader builds this rank's rows of each batch only.
function M.loaders(d, opt, par)
  local data = require 'fathom.data'
  local function loader(set, train_)
    return data.Loader(set, { batchSize = opt.batchSize, shuffle = train_, augment = train_ and opt.augment,
                              seed = opt.manualSeed, nThreads = opt.nThreads,
                              rank = par and par.rank, ranks = par and par.size })
  end
  return { train = loader(d.train, true), val = d.val and d.val:size() > 0 and loader(d.val, false) or nil,
           test = d.test and loader(d.test, false) or nil }
end

-- The model options: the command line's, with the data set's number of classes.
function M.modelOptions(opt, d)
  local m = copy(opt)
  m.nClasses = d.nClasses
  return m
end

---------------------------------------------------------------------------- checks
local ARCH = { 'dataset', 'depth', 'shortcut', 'gate', 'testScaling' }
-- How this process runs, not what it trains: always the command line's, never the saved ones.
local RUNTIME = { 'distributed', 'distTimeout', 'syncBN' }

-- Resume: the saved options, with those given on the command line again on top; an
-- architecture other than the saved one is refused.
function M.resumeOptions(opt, given)
  local info = ck.readInfo(opt.resume)
  local saved = info.opt or {}
  for _, k in ipairs(ARCH) do
    if given and given[k] and saved[k] ~= nil and saved[k] ~= opt[k] then
      usage('-resume %s: the run was started with -%s %s; it cannot continue with -%s %s (start a new run with -save)',
            opt.resume, k, tostring(saved[k]), k, tostring(opt[k]))
    end
  end
  local merged = copy(saved)
  for k in pairs(given or {}) do merged[k] = opt[k] end
  for _, k in ipairs(RUNTIME) do merged[k] = opt[k] end
  for k, v in pairs(opt) do if merged[k] == nil then merged[k] = v end end -- options added since
  merged.resume = opt.resume
  if not given or not given.save then merged.save = opt.resume end
  if type(merged.pL) ~= 'number' then usage('%s/latest.json: field opt.pL must be a number', opt.resume) end
  merged.deathRate = 1 - merged.pL
  local ok, err = pcall(opts.checkRanges, merged) -- the saved options are input too
  if not ok then usage('%s/latest.json: the saved options do not parse: %s', opt.resume, tostring(err.message or err)) end
  return merged, info
end

function M.defaultSave(opt, r)
  local tag = ('%s_d%d_pL%g'):format(r.name or 'run', opt.depth, opt.pL)
  if opt.deathMode ~= 'lin_decay' and opt.pL < 1 then tag = tag .. '_' .. opt.deathMode end
  return 'runs/' .. tag
end

-- Checks that need no data: the data set the recipe trains on, the backend.
function M.validate(opt, r)
  if r.datasets then
    local ok = false
    for _, d in ipairs(r.datasets) do if d == opt.dataset then ok = true end end
    if not ok then
      usage('-dataset %s: %s trains on %s; run the recipe of that data set instead', opt.dataset,
            r.script or r.name or 'this recipe', table.concat(r.datasets, ', '))
    end
  end
  if r.validate then r.validate(opt) end
  if opt.backend == 'cuda' and not fathom.cuda.isAvailable() then
    fail('-backend cuda: %s; use -backend cpu', fathom.cuda.status())
  end
end

---------------------------------------------------------------------------- run
local function paper_of(r, opt)
  local p = r.paper
  if type(p) == 'function' then p = p(opt) end
  return p
end

local function read_baseline(dir)
  if dir == '' then return nil end
  local okb, recs = pcall(logmod.read, dir .. '/log.jsonl')
  if not okb then io.stderr:write('warning: -baseline: ', tostring(recs), '\n') recs = nil end
  local oks, sm = pcall(json.read, dir .. '/summary.json')
  return recs, oks and sm or nil
end

-- The data-parallel job this process belongs to (recipe.main joins it), or nil; files of a
-- recipe's own (plots, tables) are written where isWriter() (rank 0, or no job).
M.parallel = nil
function M.isWriter() return M.parallel == nil or M.parallel:isWriter() end

-- Data, model, criterion and a Run of recipe r (not yet trained).
function M.assemble(opt, r)
  local par = M.parallel
  if opt.computeThreads > 0 then fathom.setnumthreads(opt.computeThreads) end
  fathom.manualSeed(opt.manualSeed)
  if opt.verbose and fathom.openblasInfo then say('blas    ' .. tostring(fathom.openblasInfo().message)) end
  local d = M.data(opt)
  local parts = r.build(opt, d)
  if opt.retrain ~= '' and opt.resume == '' then -- a resume loads its own weights
    ck.loadWeights(parts.model, opt.retrain)
    local n, np = #ck.namedTensors(parts.model), 0
    for _, p in ipairs(parts.model:parameters() or {}) do np = np + p:nElement() end
    say(('retrain %s: loaded %d tensors (%d parameters) into the ResNet-%d'):format(M.resolve(opt.retrain), n, np, opt.depth))
  end
  if opt.backend == 'cuda' then
    if par and not par.gpu then par:useGPU() end
    parts.model:cuda(); parts.criterion:cuda() -- before getParameters
  end
  local schedule, text = lr.fromOptions(opt, r.lrSchedule, r.scheduleText)
  local run = Run.new { opt = opt, model = parts.model, criterion = parts.criterion, lrSchedule = schedule,
                        recipe = r.name }
  run.testIsVal = d.testIsVal
  run.topk = d.testIsVal and d.nClasses > 5 and 5 or nil -- ImageNet: top-5 as well
  run.parallel = par
  run.silent = par ~= nil and not par:isWriter() -- rank 0 alone prints, logs and writes
  return run, d, M.loaders(d, opt, par), text
end

-- -testOnly: the saved model's validation and test errors, nothing trained.
local function test_only(opt, r, given)
  if opt.retrain == '' and opt.resume == '' then usage('-testOnly needs -retrain FILE or -resume DIR') end
  local info
  if opt.resume ~= '' then opt, info = M.resumeOptions(opt, given) end -- the run's own options
  M.validate(opt, r)
  local run, d, loaders = M.assemble(opt, r)
  if info then run:load(opt.resume, info) say(('loaded %s (epoch %d)'):format(M.resolve(opt.resume), run.epoch)) end
  if run.parallel then run.parallel:start(run, d, Run.plain(opt)) end
  local res = train.evaluateAll(run, loaders, run.epoch)
  local function e(x) return x and ('%.2f%%'):format(x) or '-' end
  say(('validation error %s, test error %s%s'):format(e(res.valErr), e(res.testErr),
    run.topk and (' (top-5: validation %s, test %s)'):format(e(res.valTop5), e(res.testTop5)) or ''))
  return { valErr = res.valErr, testErr = res.testErr, valTop5 = res.valTop5, testTop5 = res.testTop5 }
end

-- Set up, describe, train and report one run; returns the summary. r.quiet: no start
-- and end report (sweeps print their own).
function M.run(opt, r, given)
  if opt.testOnly then return test_only(opt, r, given) end
  local resuming, info = opt.resume ~= '', nil
  if resuming then opt, info = M.resumeOptions(opt, given) end
  if opt.save == '' then opt.save = M.defaultSave(opt, r) end
  local dir = opt.save
  M.validate(opt, r)
  if not resuming and ck.exists(dir .. '/latest.json') then
    fail('%s already holds a checkpoint: continue it with -resume %s, or choose another -save directory', dir, dir)
  end
  local writer = not (M.parallel and not M.parallel:isWriter())
  local fresh = not require('fathom.data.fs').isdir(dir)
  if writer then ck.mkdir(dir) end
  local ok, summary = xpcall(function() return M.train(opt, r, dir, resuming and info) end, M.errorHandler)
  if not ok then
    if fresh and writer then os.remove(dir) end -- a failed run leaves no empty folder (remove() keeps a full one)
    error(summary, 0)
  end
  return summary
end

-- resumed: latest.json of the run continued (nil for a new run).
function M.train(opt, r, dir, resumed)
  local run, d, loaders, scheduleText = M.assemble(opt, r)
  run.dir = dir
  if resumed then -- from -resume DIR, into -save (by default the same folder)
    run:load(opt.resume, resumed)
    -- this run writes here now: drop the tensor files a kill left beside the checkpoint
    if M.resolve(dir) == M.resolve(opt.resume) and not run.silent then ck.prune(dir, resumed) end
    say(('=> resumed %s at epoch %d (iteration %d)'):format(M.resolve(opt.resume), run.epoch, run.iteration))
  end
  if run.parallel then run.parallel:start(run, d, Run.plain(opt)) end
  local paper = paper_of(r, opt)
  local stochastic = opt.pL < 1 and #run.blocks > 0
  local baselineRecords, baselineSummary = read_baseline(opt.baseline)
  local nIters = loaders.train:size()
  if opt.maxIters > 0 then nIters = math.min(nIters, opt.maxIters) end
  local ctx = { name = r.name, description = r.description, data = d, dataDir = M.resolve(d.dir or opt.data),
                nIters = nIters, scheduleText = scheduleText, paper = paper, stochastic = stochastic,
                shortcutText = r.shortcutText, baseline = opt.baseline, dir = M.resolve(dir), parallel = run.parallel }
  if not r.quiet then report.describe(run, ctx) end
  local hooks = { r.hooks or {}, report.console { silent = r.quiet or run.silent } }
  if opt.plot and not run.silent then
    hooks[#hooks + 1] = report.plots(dir, ('%s ResNet-%d, p_L %g%s'):format(opt.dataset, opt.depth, opt.pL,
      stochastic and ' (' .. opt.deathMode .. ')' or ''), baselineRecords)
  end
  local summary = train.fit(run, loaders, hooks)
  summary.recipe, summary.dataset, summary.depth, summary.pL, summary.deathMode = r.name, opt.dataset, opt.depth, opt.pL, opt.deathMode
  summary.paper, summary.options = paper, Run.plain(opt)
  if baselineSummary and baselineSummary.meanEpochTime and summary.meanEpochTime then
    summary.baselineEpochTime = baselineSummary.meanEpochTime
    summary.timeSaving = 1 - summary.meanEpochTime / baselineSummary.meanEpochTime
  end
  if run.parallel then -- the job's size, and the seconds per step spent summing gradients
    summary.ranks, summary.allReduceTime = run.parallel.size, run.parallel:commPerStep()
  end
  if not run.silent then ck.writeText(dir .. '/summary.json', json.encode(summary, { indent = 2 }) .. '\n') end
  if not r.quiet then report.result(summary, ctx) end
  return summary
end

-- A message from a library check (bad data path, corrupt file) needs no traceback; a Lua
-- runtime error is a bug and does.
function M.errorHandler(e)
  if type(e) == 'string' and e:find('\nstack traceback:', 1, true) then return e end
  local runtime = type(e) == 'string' and (e:find('attempt to ') or e:find('bad argument') or e:find('stack overflow'))
  if not os.getenv('FATHOM_DEBUG') and (usererror.is(e) or (type(e) == 'string' and not runtime)) then return e end
  return debug.traceback(tostring(e), 2)
end

-- Entry point of a recipe script: `recipe.main(r, arg)`. Exits non-zero on errors: usage
-- errors 2, other user errors 1 (130 after Ctrl-C); user errors print one message, bugs
-- a traceback (set FATHOM_DEBUG=1 for all).
function M.main(r, args)
  r.script = r.script or ('recipes/' .. (r.name or 'recipe') .. '.lua')
  local opt, given = opts.parseOrExit(args, r)
  fathom.C.ft_interrupt_install(2) -- Ctrl-C: checkpoint and stop; a second one exits at once
  local ok, err = xpcall(function()
    M.parallel = dataparallel.init(opt, Run.plain(opt)) -- -distributed mpi: join the job first
    if not M.isWriter() then report.quiet = true; print = function() end end -- rank 0 alone prints
    return (r.run or M.run)(opt, r, given)
  end, M.errorHandler)
  local par = M.parallel
  if ok and par then par:finish() end
  if not ok then
    io.stdout:flush()
    local msg = type(err) == 'table' and err.message or tostring(err)
    if not os.getenv('FATHOM_DEBUG') and not msg:find('\nstack traceback:', 1, true) then
      msg = msg:gsub('^[^%s:]+%.lua:%d+: ', '') -- no Lua file positions in messages for people
    end
    if type(err) == 'table' and err.code == 130 and r.script then -- Ctrl-C: the command that continues
      msg = msg:gsub('continue with %-resume (%S+)', 'continue with: luajit ' .. r.script .. ' -resume %1')
    end
    local code = type(err) == 'table' and (err.code or (err.usage and 2)) or 1
    if par and par.size > 1 then par:abort('error: ' .. msg, code) end -- ends every rank
    io.stderr:write('error: ', msg, '\n')
    os.exit(type(err) == 'table' and (err.code or (err.usage and 2)) or 1)
  end
  return err
end

return M
