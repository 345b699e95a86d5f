-- fathom/run.lua -- a Run owns everything a training run must carry across a restart:
-- the model, the optimizer state, the counters (epochs done, iterations done, the
-- position inside an unfinished epoch), the evaluations so far, every random stream (the
-- global one, the generators kept by modules such as the block gates, the training
-- loader's) and the loader's position.
--   local r = Run.new { opt = opt, model = m, criterion = c, lrSchedule = f, dir = DIR }
--   r:save(DIR)    -- a checkpoint (fathom.checkpoint): tensors + latest.json
--   r:load(DIR)    -- the exact inverse; latest.json is read once, each field checked
-- The log (DIR/log.jsonl) is the one record of what happened; a checkpoint does not copy
-- it, and load() trims the log to the checkpoint's iteration.
local fathom = require 'fathom'
local json = require 'fathom.json'
local ck = require 'fathom.checkpoint'
local logmod = require 'fathom.log'

local Run = {}
Run.__index = Run

-- The options as saved: plain values only.
local function plain(t)
  local r = {}
  for k, v in pairs(t) do
    local tv = type(v)
    if tv == 'number' or tv == 'string' or tv == 'boolean' then r[k] = v end
  end
  return r
end
Run.plain = plain

local function finite(t)
  return t:ne(t):sum() == 0 and t:double():abs():max() < math.huge
end

-- cfg: opt, model, criterion, lrSchedule (default: constant opt.LR), optimizer (default
-- optim.sgd), blocks (default model.blocks), recipe (name), dir (run directory or nil).
function Run.new(cfg)
  local opt = cfg.opt
  local self = setmetatable({ opt = opt, model = cfg.model, criterion = cfg.criterion, dir = cfg.dir,
                              recipe = cfg.recipe, blocks = cfg.blocks or cfg.model.blocks or {} }, Run)
  self.lrSchedule = cfg.lrSchedule or function(_, _, o) return o.LR end
  self.optimize = cfg.optimizer or require('fathom.optim').sgd
  self.expectedActive = 0
  for _, b in ipairs(self.blocks) do self.expectedActive = self.expectedActive + (b.p or 1) end
  self.params, self.gradParams = self.model:getParameters()
  self.cuda = self.params:nElement() > 0 and self.params:isCuda()
  self.optimState = { learningRate = opt.LR, learningRateDecay = 0, momentum = opt.momentum,
                      nesterov = opt.nesterov and opt.momentum ~= 0, dampening = 0, weightDecay = opt.weightDecay }
  self.generators = ck.namedGenerators(self.model)
  -- the resumable counters
  self.epoch, self.iteration = 0, 0   -- epochs finished, iterations done
  self.evals, self.records = {}, {}   -- every evaluation; the epoch records (from the log)
  self.partial = nil                  -- sums of the unfinished epoch (a mid-epoch checkpoint)
  self.startedAt = os.time()
  self.saved = nil                    -- { epoch, iteration } of the last checkpoint written
  self.logLines = {}                  -- a new run starts its log afresh (load keeps the old lines)
  return self
end

-- The training loader whose position the run keeps (set by fit); a loaded state is
-- applied to it here.
function Run:attach(loader)
  self.loader = loader
  if self.loaderState ~= nil and loader.setState then
    local ok, err = pcall(loader.setState, loader, self.loaderState)
    if not ok then
      error(('checkpoint: field loader does not fit this data loader: %s'):format(tostring(err):gsub('^[^:]*:%d+: ', '')), 0)
    end
  end
  self.loaderState = nil
end

-- Every resumable value that is not a tensor, as JSON: what save() writes and load() reads.
function Run:state()
  local gens = {}
  for _, g in ipairs(self.generators) do gens[g[1]] = fathom.getRNGState(g[2]) end
  local loader = self.loaderState
  if self.loader and self.loader.getState then loader = self.loader:getState() end
  return {
    opt = plain(self.opt), recipe = self.recipe, startedAt = self.startedAt,
    epoch = self.epoch, iteration = self.iteration, evals = json.array(self.evals),
    partial = self.partial, rng = fathom.getRNGState(), generators = gens, loader = loader,
  }
end

-- What a checkpoint may not hold: non-finite parameters or optimizer state.
function Run:checkFinite()
  if not finite(self.params) then return false, 'the parameters' end
  for k, v in pairs(self.optimState) do
    if fathom.isTensor(v) and not finite(v) then return false, 'the optimizer state (' .. k .. ')' end
  end
  return true
end

function Run:save(dir)
  dir = dir or self.dir
  local ok, what = self:checkFinite()
  if not ok then
    error(('%s not finite at iteration %d: no checkpoint written'):format(what, self.iteration), 0)
  end
  local s = self:state()
  local info = {}
  for k, v in pairs(s) do if k ~= 'epoch' and k ~= 'iteration' then info[k] = v end end
  ck.save(dir, { model = self.model, optimState = self.optimState, epoch = self.epoch,
                 iteration = self.iteration, info = info })
  self.saved = { epoch = self.epoch, iteration = self.iteration }
end

local function check_evals(path, evals)
  if type(evals) ~= 'table' then ck.refuse(path, 'evals', 'must be a list, got %s', type(evals)) end
  for i, e in ipairs(evals) do
    if type(e) ~= 'table' then ck.refuse(path, 'evals[' .. i .. ']', 'must be a table') end
    ck.checkCount(path, ('evals[%d].iteration'):format(i), e.iteration)
    ck.checkCount(path, ('evals[%d].epoch'):format(i), e.epoch)
    for _, k in ipairs({ 'valErr', 'testErr', 'valTop5', 'testTop5' }) do
      if e[k] ~= nil and type(e[k]) ~= 'number' then ck.refuse(path, ('evals[%d].%s'):format(i, k), 'must be a number') end
    end
  end
  return evals
end

local PARTIAL = { 'lossSum', 'wrongSum', 'seen', 'activeSum', 'steps', 'time', 'lr' }
local function check_partial(path, p)
  if p == nil then return nil end
  if type(p) ~= 'table' then ck.refuse(path, 'partial', 'must be a table, got %s', type(p)) end
  for _, k in ipairs(PARTIAL) do
    if type(p[k]) ~= 'number' or p[k] ~= p[k] then ck.refuse(path, 'partial.' .. k, 'must be a number') end
  end
  return p
end

-- Restore everything save() wrote, checking each field; the inverse of save(). info:
-- latest.json when the caller has read it already (it is read once).
function Run:load(dir, info)
  dir = dir or self.dir
  local weights, optimTensors
  info, weights, optimTensors = ck.load(dir, info)
  local path = dir .. '/latest.json'
  local epoch = ck.checkCount(path, 'epoch', info.epoch)
  local iteration = ck.checkCount(path, 'iteration', info.iteration)
  if epoch > iteration then ck.refuse(path, 'epoch', '(%d) exceeds the iterations done (%d)', epoch, iteration) end
  local evals = check_evals(path, info.evals or {})
  local partial = check_partial(path, info.partial)
  local rng = ck.checkRNGState(path, 'rng', info.rng)
  local gens = info.generators or {}
  for _, g in ipairs(self.generators) do
    if gens[g[1]] == nil then ck.refuse(path, 'generators.' .. g[1], 'is missing; the model keeps this generator') end
    ck.checkRNGState(path, 'generators.' .. g[1], gens[g[1]])
  end
  ck.restore(self.model, self.optimState, weights, optimTensors, info, self.params, dir .. '/' .. info.optim)
  if not finite(self.params) then ck.refuse(dir .. '/' .. info.weights, 'weights', 'hold non-finite values') end
  if self.cuda then -- the checkpoint's optimizer tensors (momentum) are host tensors
    for k, v in pairs(self.optimState) do
      if fathom.isTensor(v) and not v:isCuda() then self.optimState[k] = v:cuda() end
    end
  end
  fathom.setRNGState(rng)
  for _, g in ipairs(self.generators) do fathom.setRNGState(gens[g[1]], g[2]) end
  self.epoch, self.iteration, self.evals, self.partial = epoch, iteration, evals, partial
  self.startedAt = type(info.startedAt) == 'number' and info.startedAt or self.startedAt
  self.recipe = info.recipe
  self.loaderState = info.loader
  self.saved = { epoch = epoch, iteration = iteration }
  -- the log agrees with the checkpoint: lines past its iteration are dropped
  self.records, self.logLines = {}, {}
  local ok, lines = pcall(logmod.read, dir .. '/log.jsonl')
  for _, r in ipairs(ok and lines or {}) do
    if type(r.iteration) == 'number' and r.iteration <= iteration and r.type ~= 'diverged' then
      self.logLines[#self.logLines + 1] = r
      if r.type == 'epoch' then self.records[#self.records + 1] = r end
    end
  end
  return info
end

-- The run's log, opened once: rewritten to agree with a loaded checkpoint.
function Run:openLog(dir)
  self.log = logmod.open(dir .. '/log.jsonl', self.logLines)
  self.logLines = nil
  return self.log
end

function Run:write(record)
  if self.log then self.log:write(record) end
end

return Run
