-- fathom/distributed.lua -- synchronous data-parallel training over MPI (core/dist/):
-- K processes started by mpirun train one model; each takes a slice of every global batch,
-- gradients are summed across them, and every rank takes the same step.
--   local dist = require 'fathom.distributed'
--   dist.main(function()
--     dist.init{ timeout = 300 }
--     local params, grads = model:getParameters()
--     dist.broadcastParameters(model)                  -- everyone starts from rank 0's
--     local first, n = dist.shard(B, dist.rank(), dist.size())  -- this rank's samples
--     ... forward/backward on inputs:narrow(1, first, n) ...
--     dist.allReduceGradients(grads, { localCount = n, globalCount = B })
--     ... optimiser step ...
--   end)
-- Ranks are 0-based as in MPI (rank 0 prints and writes checkpoints). A process that never
-- calls init is rank 0 of 1. Every collective here must be called by every rank in the same
-- order; none waits forever (see the DIST-SECTION of core/fathom.h): a dead or stuck rank
-- ends the job with a message naming the operation and the ranks that did not answer.
-- Tensors are CPU tensors, or CUDA tensors after initGPU (NCCL); the model helpers stage
-- GPU tensors through host buffers.
local ffi = require 'ffi'
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local C = F.C

local dist = {}
local NAME = 'fathom.distributed'
local int1 = ffi.new('int[1]')

-- Failures of the job (MPI errors, timeouts) reach people running recipes: no Lua positions.
local function check(status, fname)
  if status ~= 0 then error(NAME .. '.' .. fname .. ': ' .. ffi.string(C.ft_last_error()), 0) end
end
local function argerror(fname, msg) error(NAME .. '.' .. fname .. ': ' .. msg, 3) end

function dist.available() return C.ft_has_mpi() ~= 0 end
function dist.initialized() return C.ft_dist_is_initialized() ~= 0 end

-- opts.timeout: seconds any collective may wait (default $FATHOM_DIST_TIMEOUT, else 300).
function dist.init(opts)
  opts = opts or {}
  if type(opts) ~= 'table' then argerror('init', 'opts must be a table, got ' .. type(opts)) end
  local timeout = opts.timeout or tonumber(os.getenv('FATHOM_DIST_TIMEOUT') or '')
  if timeout ~= nil then dist.setTimeout(timeout) end
  check(C.ft_dist_init(), 'init')
  return dist.rank(), dist.size()
end

function dist.setTimeout(seconds)
  if type(seconds) ~= 'number' then argerror('setTimeout', 'seconds must be a number, got ' .. type(seconds)) end
  check(C.ft_dist_set_timeout(seconds), 'setTimeout')
end
function dist.getTimeout() return C.ft_dist_get_timeout() end

-- Largest element count of one MPI call (larger buffers are split); for tests and tuning.
function dist.setMaxCount(n)
  if type(n) ~= 'number' then argerror('setMaxCount', 'n must be a number, got ' .. type(n)) end
  check(C.ft_dist_set_max_count(n), 'setMaxCount')
end

function dist.rank()
  if not dist.initialized() then return 0 end
  check(C.ft_dist_rank(int1), 'rank')
  return int1[0]
end
function dist.size()
  if not dist.initialized() then return 1 end
  check(C.ft_dist_size(int1), 'size')
  return int1[0]
end
function dist.isMaster() return dist.rank() == 0 end

function dist.finalize()
  if dist.initialized() then
    check(C.ft_dist_nccl_finalize(), 'finalize')
    check(C.ft_dist_finalize(), 'finalize')
  end
end

-- GPU collectives (NCCL): after init and fathom.cuda.setDevice (one GPU per rank), every
-- rank calls initGPU; then allReduce, broadcast and allReduceGradients take CUDA tensors.
function dist.hasNCCL() return C.ft_has_nccl() ~= 0 end
function dist.initGPU() check(C.ft_dist_nccl_init(), 'initGPU') end

-- End every process of the job: message to stderr (prefixed with this rank), then MPI_Abort.
-- Outside a job (or without MPI) it raises the message instead.
function dist.abort(msg, code)
  msg = tostring(msg or 'aborted')
  io.stderr:write(('fathom: rank %d: %s\n'):format(dist.rank(), msg))
  io.stderr:flush()
  if dist.initialized() then C.ft_dist_abort(code or 1) end
  error(msg, 0)
end

-- Run fn(...) so that an error on any rank ends the whole job (the others would otherwise
-- wait in their next collective until the timeout), and finalize after a clean finish.
function dist.main(fn, ...)
  local args = { n = select('#', ...), ... }
  -- A failure of the job (level-0 message) is shown as it is; a Lua error with a file
  -- position is a bug, shown with its traceback.
  local ok, err = xpcall(function() return fn(unpack(args, 1, args.n)) end, function(e)
    e = tostring(e)
    if e:match('^[^%s:]+%.lua:%d+:') then return debug.traceback(e, 2) end
    return e
  end)
  if not ok then
    if dist.initialized() then dist.abort(err, 1) end
    error(err, 0)
  end
  dist.finalize()
end

function dist.barrier() check(C.ft_dist_barrier(), 'barrier') end
-- Collectives completed since init (identical on every rank while the job is healthy).
function dist.sequence() return tonumber(C.ft_dist_sequence()) end

-- CUDA tensors are accepted when the build has NCCL and initGPU was called (C checks).
local function need_tensor(fname, t, what)
  if not fathom.isTensor(t) then argerror(fname, (what or 'tensor') .. ' must be a tensor, got ' .. type(t)) end
  if not t:isContiguous() then argerror(fname, (what or 'tensor') .. ' must be contiguous') end
end

-- t (contiguous CPU tensor, any type) becomes root's copy (root: a 0-based rank, default 0).
function dist.broadcast(t, root)
  need_tensor('broadcast', t)
  root = root or 0
  if type(root) ~= 'number' or root ~= math.floor(root) then
    argerror('broadcast', 'root must be an integer rank, got ' .. tostring(root))
  end
  check(C.ft_dist_broadcast(t.p, root), 'broadcast')
  return t
end

-- In place: t (float or double, contiguous CPU) becomes the sum over the ranks; with first
-- and count (1-based, as narrow), only that range of the flattened t.
function dist.allReduce(t, first, count)
  need_tensor('allReduce', t)
  if first == nil then
    check(C.ft_dist_allreduce(t.p), 'allReduce')
  else
    if type(first) ~= 'number' or type(count) ~= 'number' then
      argerror('allReduce', 'first and count must be numbers')
    end
    check(C.ft_dist_allreduce_range(t.p, first - 1, count), 'allReduce')
  end
  return t
end

-- Started all-reduce of t's range first .. first+count-1 (default: all of t): returns a
-- request; t must stay untouched until dist.wait(request). dist.test(request) lets MPI
-- move data while the caller computes (true once complete). Every request must be waited for.
local req_out = ffi.new('ft_dist_request*[1]')
function dist.allReduceStart(t, first, count)
  need_tensor('allReduceStart', t)
  first = first or 1
  count = count or (t:nElement() - first + 1)
  if type(first) ~= 'number' or type(count) ~= 'number' then
    argerror('allReduceStart', 'first and count must be numbers')
  end
  check(C.ft_dist_allreduce_start(t.p, first - 1, count, req_out), 'allReduceStart')
  return { ptr = req_out[0], tensor = t } -- keeps t alive
end
local function need_request(fname, r)
  if type(r) == 'table' and r.finished then argerror(fname, 'this request was already waited for') end
  if type(r) ~= 'table' or r.ptr == nil then argerror(fname, 'expected a request from allReduceStart') end
end
function dist.test(r)
  need_request('test', r)
  check(C.ft_dist_test(r.ptr, int1), 'test')
  return int1[0] ~= 0
end
function dist.wait(r)
  need_request('wait', r)
  check(C.ft_dist_wait(r.ptr), 'wait')
  r.finished, r.ptr = true, nil
  return r.tensor
end

-- Sums over the ranks of a list of numbers: returns a new list.
local dbl_cache = {}
function dist.allReduceNumbers(list)
  if type(list) ~= 'table' then argerror('allReduceNumbers', 'expected a list of numbers, got ' .. type(list)) end
  local n = #list
  local buf = dbl_cache[n]
  if not buf then buf = ffi.new('double[?]', math.max(n, 1)); dbl_cache[n] = buf end
  for i = 1, n do
    if type(list[i]) ~= 'number' then argerror('allReduceNumbers', ('entry %d is not a number'):format(i)) end
    buf[i - 1] = list[i]
  end
  check(C.ft_dist_allreduce_doubles(buf, n), 'allReduceNumbers')
  local out = {}
  for i = 1, n do out[i] = buf[i - 1] end
  return out
end

-- Every rank's x (a number), as a list indexed by rank + 1 (one all-reduce of size slots).
function dist.allGatherNumber(x)
  if type(x) ~= 'number' then argerror('allGatherNumber', 'x must be a number, got ' .. type(x)) end
  local slots = {}
  for i = 1, dist.size() do slots[i] = 0 end
  slots[dist.rank() + 1] = x
  return dist.allReduceNumbers(slots)
end

-- Evaluation: the errors and sample counts of every rank's shard, summed.
function dist.reduceErrors(wrong, n)
  if type(wrong) ~= 'number' or type(n) ~= 'number' then
    argerror('reduceErrors', 'wrong and n must be numbers')
  end
  local s = dist.allReduceNumbers({ wrong, n })
  return s[1], s[2]
end

---------------------------------------------------------------------------- batches
-- This rank's slice of a global batch of B samples: returns first (1-based) and count.
-- The rule (deterministic, contiguous, rank order): with q = floor(B / K) and r = B % K,
-- rank k takes q + 1 samples if k < r, else q, starting after everything ranks 0..k-1
-- take. The slices cover 1..B exactly once; a rank may get 0 samples when B < K.
function dist.shard(B, rank, size)
  rank, size = rank or dist.rank(), size or dist.size()
  for _, v in ipairs({ { B, 'globalBatchSize', 0 }, { size, 'size', 1 }, { rank, 'rank', 0 } }) do
    if type(v[1]) ~= 'number' or v[1] ~= math.floor(v[1]) or v[1] < v[3] then
      argerror('shard', ('%s must be an integer >= %d, got %s'):format(v[2], v[3], tostring(v[1])))
    end
  end
  if rank >= size then argerror('shard', ('rank %d is not below size %d'):format(rank, size)) end
  local q, r = math.floor(B / size), B % size
  local count = q + (rank < r and 1 or 0)
  local first = rank * q + math.min(rank, r) + 1
  return first, count
end

-- Sum the flat gradient vector over the ranks, then turn it into the global batch's mean:
-- divided by size (equal shards), or, with opts.localCount and opts.globalCount, each
-- rank's part weighted by localCount / globalCount first (uneven shards, a last partial
-- batch). In buckets of opts.bucketElements (default 2^20 elements), the unit a training
-- loop can later overlap with the backward pass.
function dist.allReduceGradients(grads, opts)
  need_tensor('allReduceGradients', grads, 'gradients')
  opts = opts or {}
  local n = grads:nElement()
  local bucket = opts.bucketElements or 2^20
  if type(bucket) ~= 'number' or bucket < 1 or bucket ~= math.floor(bucket) then
    argerror('allReduceGradients', 'opts.bucketElements must be a positive integer, got ' .. tostring(bucket))
  end
  local size = dist.size()
  local weighted = opts.localCount ~= nil or opts.globalCount ~= nil
  if weighted then
    local l, g = opts.localCount, opts.globalCount
    if type(l) ~= 'number' or type(g) ~= 'number' or g <= 0 or l < 0 or l > g then
      argerror('allReduceGradients', ('need 0 <= localCount <= globalCount and globalCount > 0, got %s, %s')
        :format(tostring(l), tostring(g)))
    end
    if l ~= g then grads:mul(l / g) end
  end
  if size > 1 then
    for first = 1, n, bucket do
      check(C.ft_dist_allreduce_range(grads.p, first - 1, math.min(bucket, n - first + 1)), 'allReduceGradients')
    end
  end
  if not weighted and size > 1 then grads:mul(1 / size) end
  return grads
end

-- The convention of training runs (and of synchronised batch norm): each rank's loss
-- gradient is already that of the GLOBAL-mean loss (scaled by localCount / globalCount),
-- so the flat gradient vector is only summed. In buckets of bucketElements (default 2^22,
-- 16 MB of float32: the ResNet-110 gradient in one call; not overlapped with the backward
-- pass, each bucket only adds a latency, see BENCHMARKS.md); returns the seconds it took.
function dist.sumGradients(grads, bucketElements)
  need_tensor('sumGradients', grads, 'gradients')
  local bucket = bucketElements or 2^22
  if type(bucket) ~= 'number' or bucket < 1 or bucket ~= math.floor(bucket) then
    argerror('sumGradients', 'bucketElements must be a positive integer, got ' .. tostring(bucket))
  end
  if dist.size() == 1 then return 0 end
  local now = require('fathom.progress').now
  local t0 = now()
  local n = grads:nElement()
  for first = 1, n, bucket do
    check(C.ft_dist_allreduce_range(grads.p, first - 1, math.min(bucket, n - first + 1)), 'sumGradients')
  end
  return now() - t0
end

---------------------------------------------------------------------------- models
-- Lists of tensors go through one contiguous host buffer per tensor type.
local function host_type(t) return t:type() == 'fathom.CudaTensor' and 'fathom.FloatTensor' or t:type() end

local function groups_of(list)
  local groups, order = {}, {}
  for _, t in ipairs(list) do
    local ty = host_type(t)
    if not groups[ty] then groups[ty] = { n = 0 }; order[#order + 1] = ty end
    local g = groups[ty]
    g[#g + 1] = t
    g.n = g.n + t:nElement()
  end
  return groups, order
end

local function through_buffers(list, fn)
  local groups, order = groups_of(list)
  for _, ty in ipairs(order) do
    local g = groups[ty]
    if g.n > 0 then
      local buf = fathom.Tensor(g.n):type(ty)
      local off = 1
      for _, t in ipairs(g) do
        local k = t:nElement()
        if k > 0 then buf:narrow(1, off, k):copy(t:contiguous():view(k)); off = off + k end
      end
      fn(buf)
      off = 1
      for _, t in ipairs(g) do
        local k = t:nElement()
        if k > 0 then t:copy(buf:narrow(1, off, k):view(t:size())); off = off + k end
      end
    end
  end
end

-- Running statistics of every batch-norm layer (nn.*BatchNormalization, nn.ResidualDrop).
local function bn_statistics(model)
  local list = {}
  for _, m in ipairs(model:listModules()) do
    if fathom.isTensor(m.running_mean) and fathom.isTensor(m.running_var) then
      list[#list + 1] = m.running_mean; list[#list + 1] = m.running_var
    end
    if type(m.runningMean) == 'table' and type(m.runningVar) == 'table' and m.stageIds then
      for _, i in ipairs(m.stageIds) do
        list[#list + 1] = m.runningMean[i]; list[#list + 1] = m.runningVar[i]
      end
    end
  end
  return list
end
dist.batchNormStatistics = bn_statistics

local function need_model(fname, model)
  if type(model) ~= 'table' or type(model.parameters) ~= 'function' or type(model.listModules) ~= 'function' then
    argerror(fname, 'expected an nn module, got ' .. type(model))
  end
end

-- Rank `root`'s (default 0) parameters and batch-norm running statistics on every rank.
function dist.broadcastParameters(model, root)
  need_model('broadcastParameters', model)
  local list = model:parameters() or {}
  for _, t in ipairs(bn_statistics(model)) do list[#list + 1] = t end
  through_buffers(list, function(buf) check(C.ft_dist_broadcast(buf.p, root or 0), 'broadcastParameters') end)
end

-- Running means and variances replaced by their averages over the ranks (each rank saw
-- its own shards): before evaluation and before rank 0 writes a checkpoint.
function dist.averageBatchNormStatistics(model)
  need_model('averageBatchNormStatistics', model)
  local size = dist.size()
  if size == 1 then return end
  through_buffers(bn_statistics(model), function(buf)
    check(C.ft_dist_allreduce(buf.p), 'averageBatchNormStatistics')
    buf:mul(1 / size)
  end)
end

---------------------------------------------------------------------------- consistency
-- 48 bits of FNV-1a 64 of a string: a number every rank can compare exactly.
function dist.hash(s)
  if type(s) ~= 'string' then argerror('hash', 'expected a string, got ' .. type(s)) end
  local h = 0xcbf29ce484222325ULL
  for i = 1, #s do h = bit.bxor(h, s:byte(i)) * 0x100000001b3ULL end
  return tonumber(h % 0x1000000000000ULL)
end

-- 64-bit FNV-1a over the 32-bit words of a contiguous host tensor (every stride-th word),
-- as 16 hex digits: weights and data compared across ranks without sending them.
function dist.hashTensor(t, stride)
  if not fathom.isTensor(t) then argerror('hashTensor', 'expected a tensor, got ' .. type(t)) end
  if t:isCuda() then t = t:float() end
  t = t:contiguous()
  local n = math.floor(t:nElement() * C.ft_dtype_size(t.p.dtype) / 4)
  local w = ffi.cast('const uint32_t *', C.ft_data(t.p))
  local h = 14695981039346656037ULL
  for i = 0, n - 1, stride or 1 do h = bit.bxor(h, w[i]) * 1099511628211ULL end
  return bit.tohex(h)
end

-- A canonical text for a table of options (sorted keys, nested tables included).
function dist.fingerprint(v)
  local t = type(v)
  if t ~= 'table' then return t:sub(1, 1) .. tostring(v) end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. '=' .. dist.fingerprint(v[k]) end
  return '{' .. table.concat(parts, ',') .. '}'
end

-- Every rank must pass the same value (a string, or a table of options); otherwise every
-- rank raises the same error naming the ranks that differ from rank 0.
function dist.checkSame(value, what)
  what = what or 'value'
  local s = type(value) == 'string' and value or dist.fingerprint(value)
  local all = dist.allGatherNumber(dist.hash(s))
  local bad = {}
  for r = 2, #all do if all[r] ~= all[1] then bad[#bad + 1] = tostring(r - 1) end end
  if #bad > 0 then
    error(('%s.checkSame: the ranks disagree on %s: rank%s %s differ%s from rank 0'):format(NAME, what,
      #bad > 1 and 's' or '', table.concat(bad, ', '), #bad > 1 and '' or 's'), 0)
  end
end

---------------------------------------------------------------------------- synchronised BN
-- setSyncBatchNorm(true): every batch norm in training (the BN modules and the ones inside
-- nn.ResidualDrop) takes its statistics over the global batch, all ranks together (C switch
-- ft_batchnorm_set_sync; see the SYNCBN-SECTION of core/fathom.h). Needs init first; CPU
-- tensors only. Convention: each rank's gradient at the output is that of the GLOBAL-mean
-- loss (scale the local loss gradient by localCount / globalCount) and gradients are then
-- summed over the ranks. A job of one rank computes exactly what it did without it.
function dist.setSyncBatchNorm(on)
  if type(on) ~= 'boolean' then argerror('setSyncBatchNorm', 'expected true or false, got ' .. type(on)) end
  check(C.ft_batchnorm_set_sync(on and 1 or 0), 'setSyncBatchNorm')
end
function dist.getSyncBatchNorm() return C.ft_batchnorm_get_sync() ~= 0 end

-- Row-mode stochastic depth under sharding: every nn.ResidualDrop of model draws the gates of
-- the whole global batch of globalRows samples (the same draws as one process) and keeps
-- rows offset+1 .. offset+n, this rank's slice (offset = first - 1 of dist.shard). With no
-- arguments the blocks draw for their own batch again. Batch-mode gates need nothing.
function dist.shardGates(model, offset, globalRows)
  need_model('shardGates', model)
  for _, m in ipairs(model:listModules()) do
    if type(m.setShard) == 'function' then m:setShard(offset, globalRows) end
  end
  return model
end

return dist
