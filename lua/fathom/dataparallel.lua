-- fathom/dataparallel.lua -- the run's side of `-distributed mpi` (fathom.distributed does
-- the communication). K processes started by mpirun train ONE model:
--   * -batchSize is the global batch; every rank's loaders walk the same global order and
--     build only the rank's rows of each batch (fathom.data.Loader's rank/ranks);
--   * the initial weights are rank 0's (broadcast, then compared), options and data are
--     compared at the start (a mismatch stops the job naming the rank);
--   * each rank scales its loss gradient by B_local / B_global, so the summed gradients are
--     those of the global-mean loss (also for an uneven last batch), and every rank takes
--     the same SGD step; stochastic-depth gates need no communication (same seeds);
--   * batch-norm statistics stay per rank (or global with -syncBN true); the running ones
--     are averaged before each evaluation and each checkpoint; evaluations are sharded and
--     their errors summed, so every rank has the same numbers;
--   * rank 0 alone prints, logs and writes checkpoints; at every checkpoint the ranks
--     compare their weights, momentum, gates and resumable state, so one checkpoint
--     restores every rank exactly.
--   local par = dataparallel.init(opt)   -- nil for -distributed none
local fathom = require 'fathom'
local dist = require 'fathom.distributed'
local usererror = require 'fathom.usererror'

local M = {}
local P = {}
P.__index = P

-- Startup (data loading, model building) may differ between ranks on a busy machine by
-- more than a short -distTimeout; collectives before training wait at least this long.
local STARTUP_TIMEOUT = 120

M.NO_MPI = '-distributed mpi: this build of Fathom has no MPI: install libopenmpi-dev openmpi-bin ' ..
           '(bin/setup does), run make again, and start the run with mpirun -np K'

-- Joins the job (recipe.main calls it before anything else) and compares the command
-- lines (plain options) of the ranks; nil for -distributed none.
function M.init(opt, plainOptions)
  if opt.distributed ~= 'mpi' then
    if opt.syncBN then usererror.usage('option -syncBN true needs -distributed mpi') end
    return nil
  end
  if not dist.available() then usererror.fail('%s', M.NO_MPI) end
  dist.init { timeout = math.max(opt.distTimeout, STARTUP_TIMEOUT) }
  local self = setmetatable({ rank = dist.rank(), size = dist.size(), timeout = opt.distTimeout,
                              syncBN = opt.syncBN, gateHash = 0, commTime = 0, commSteps = 0 }, P)
  if opt.syncBN then
    if not dist.setSyncBatchNorm then usererror.fail('-syncBN true: this build has no synchronised batch norm') end
    dist.setSyncBatchNorm(true)
  end
  dist.checkSame(plainOptions or {}, 'the options (give every rank the same command line)')
  return self
end

function P:isWriter() return self.rank == 0 end

-- One GPU per rank (by local rank), NCCL for the collectives of CUDA tensors. Before the
-- model moves to the GPU.
function P:useGPU()
  local n = fathom.cuda.deviceCount()
  local lr = tonumber(os.getenv('OMPI_COMM_WORLD_LOCAL_RANK') or os.getenv('MPI_LOCALRANKID') or '') or self.rank
  fathom.cuda.setDevice(lr % n + 1)
  if not dist.hasNCCL() then
    usererror.fail('-distributed mpi -backend cuda needs NCCL (nccl.h at build time, libnccl.so.2 at run time); run make again with it')
  end
  dist.initGPU()
  self.gpu = true
end

-- Checks at the start: the options (those of a resumed run too) and the data every rank
-- sees, and the row-mode gates' shard setting; then rank 0's weights everywhere, compared.
function P:start(run, data, plainOptions)
  dist.checkSame(plainOptions, 'the options of the run')
  local fp = {}
  for _, k in ipairs({ 'train', 'val', 'test' }) do
    if data[k] and data[k].fingerprint then fp[k] = data[k]:fingerprint() end
  end
  dist.checkSame(fp, 'the data (sizes and contents of train, validation and test)')
  self.rowGates = run.opt.gate == 'row'
  if self.rowGates and self.size > 1 then
    for _, b in ipairs(run.blocks) do
      if not b.setShard then
        usererror.fail('-gate row -distributed mpi: this build\'s blocks cannot draw the gates of the global batch (no setShard)')
      end
    end
  end
  dist.broadcastParameters(run.model)
  dist.checkSame(self:fingerprint(run), 'the initial weights')
end

-- The training loop's timeout from now on.
function P:startTraining() dist.setTimeout(self.timeout) end

-- Row-mode gates: the blocks draw the global batch's gates and keep this rank's rows.
function P:setShard(blocks, offset, globalRows)
  if not self.rowGates then return end
  for _, b in ipairs(blocks) do
    if b.setShard then b:setShard(offset, globalRows) end
  end
end

-- The step's numbers summed over the ranks: the loss times the rows, the wrong
-- predictions, the Ctrl-C counts (so every rank stops at the same step).
function P:stepNumbers(lossTimesRows, wrong, interrupts)
  local s = dist.allReduceNumbers({ lossTimesRows, wrong, interrupts })
  return s[1], s[2], s[3]
end

-- A running hash of the batch-mode gates (compared at checkpoints: identical on every rank).
function P:noteGates(blocks)
  local h = self.gateHash
  for _, b in ipairs(blocks) do
    if type(b.gate) == 'number' then h = (h * 3 + b.gate + 1) % 35184372088832 end -- 2^45: exact
  end
  self.gateHash = h
end

function P:sumGradients(grads)
  self.commTime = self.commTime + dist.sumGradients(grads)
  self.commSteps = self.commSteps + 1
end

function P:reduceEval(wrong, wrongk, n)
  local s = dist.allReduceNumbers({ wrong, wrongk, n })
  return s[1], s[2], s[3]
end

function P:averageStatistics(model) dist.averageBatchNormStatistics(model) end

-- What must be identical on every rank for one checkpoint to restore them all: weights
-- (BN statistics included), momentum, gates, random streams, loader, counters.
function P:fingerprint(run)
  local f = { params = dist.hashTensor(run.params), gates = self.gateHash, bn = {} }
  for i, t in ipairs(dist.batchNormStatistics(run.model)) do f.bn[i] = dist.hashTensor(t) end
  for k, v in pairs(run.optimState) do
    if fathom.isTensor(v) then f[k] = dist.hashTensor(v) end
  end
  local s = run:state()
  s.startedAt = nil
  if type(s.partial) == 'table' then
    local p = {}
    for k, v in pairs(s.partial) do if k ~= 'time' then p[k] = v end end -- wall time is per rank
    s.partial = p
  end
  f.state = dist.fingerprint(s)
  return f
end

-- Before a checkpoint: running statistics averaged, then every rank compared.
function P:beforeCheckpoint(run)
  dist.averageBatchNormStatistics(run.model)
  dist.checkSame(self:fingerprint(run), 'the weights, momentum, gates and state at iteration ' .. run.iteration)
end

-- Mean seconds per step spent summing gradients (for the benchmarks).
function P:commPerStep() return self.commSteps > 0 and self.commTime / self.commSteps or 0 end

-- The end of a clean run, and the end of a failed one: every rank's message goes to
-- stderr prefixed with its rank, and the whole job stops (the others would wait in their
-- next collective until the timeout).
function P:finish() dist.finalize() end
function P:abort(msg, code) dist.abort(msg, code) end

return M
