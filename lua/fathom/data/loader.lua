-- fathom/data/loader.lua -- batches for training and evaluation, built in C threads.
--   local loader = data.Loader(d.train, { batchSize=128, shuffle=true, augment=true,
--                                         seed=1, nThreads=2, dropLast=false })
--   loader:size()                                  -- batches per epoch
--   for i, inputs, targets in loader:run(epoch) do ... end
--   local s = loader:getState(); ...; loader:setState(s); loader:run() -- resumes exactly
-- inputs: contiguous FloatTensor [B,C,H,W]; targets: LongTensor [B], labels 1..nClasses.
-- Both are the loader's buffers: valid until the next iteration (clone to keep them).
-- Data-parallel shards: with { rank = k, ranks = K } every loader walks the same global
-- order and builds only rank k's rows of each batch (fathom.distributed.shard's rule);
-- loader:shard(i) says which: the batch's global size, this rank's offset (0-based) and count.
-- Batches depend only on (seed, epoch, batch index), never on nThreads; see
-- core/data/loader.c. CIFAR augmentation: zero-pad `pad` (4) after normalisation, random
-- crop back to 32x32, horizontal flip with probability 1/2. Image folders: the training
-- transform of fb.resnet.torch. Defaults: shuffle and augment for training splits only.
local ffi = require 'ffi'
local F = require 'fathom.ffi'
local T = require 'fathom.tensor'
local class = require 'fathom.class'
local dsmod = require 'fathom.data.dataset'
local C = F.C

local M = {}
local Loader = class('fathom.data.Loader')
M.Loader = Loader

local OPTIONS = { 'batchSize', 'shuffle', 'augment', 'seed', 'nThreads', 'dropLast', 'prefetch', 'pad', 'rank', 'ranks' }
local FN = 'fathom.data.Loader'

local function int_opt(v, default, lo, hi, name)
  if v == nil then return default end
  if type(v) ~= 'number' or v ~= math.floor(v) or v < lo or v > hi then
    error(('%s: %s must be an integer in %d..%d, got %s'):format(FN, name, lo, hi, tostring(v)), 4)
  end
  return v
end
local function bool_opt(v, default, name)
  if v == nil then return default end
  if type(v) ~= 'boolean' then error(('%s: %s must be a boolean, got %s'):format(FN, name, tostring(v)), 4) end
  return v
end

function Loader:__init(dataset, opts)
  if type(dataset) ~= 'table' or type(dataset._loaderSource) ~= 'function' then
    error(FN .. ': the first argument must be a dataset (d.train, d.val, d.test), got ' .. type(dataset), 3)
  end
  opts = dsmod.checkOptions(opts, OPTIONS, FN)
  self.dataset = dataset
  self.batchSize = int_opt(opts.batchSize, 128, 1, 2^31, 'batchSize')
  -- defaults: shuffle and augment the training splits, not val or test
  self.shuffle = bool_opt(opts.shuffle, dataset.augmentDefault, 'shuffle')
  self.augment = bool_opt(opts.augment, dataset.augmentDefault, 'augment')
  self.dropLast = bool_opt(opts.dropLast, false, 'dropLast')
  self.nThreads = int_opt(opts.nThreads, 2, 0, 64, 'nThreads')
  self.prefetch = int_opt(opts.prefetch, math.max(2, 2 * self.nThreads), 1, 256, 'prefetch')
  self.pad = int_opt(opts.pad, 4, 0, 1024, 'pad')
  self.seed = dsmod.checkSeed(opts.seed or 1, FN)
  self.ranks = int_opt(opts.ranks, 1, 1, 65536, 'ranks')
  self.rank = int_opt(opts.rank, 0, 0, self.ranks - 1, 'rank')
  if self.dropLast and dataset:size() < self.batchSize then
    error(('%s: dropLast with batchSize %d leaves no batch of %d samples'):format(FN,
          self.batchSize, dataset:size()), 3)
  end
  local cfg = ffi.new('ft_loader_config')
  self._keep = dataset:_loaderSource(cfg)
  cfg.batch_size = self.batchSize
  cfg.shuffle, cfg.augment, cfg.drop_last = self.shuffle and 1 or 0, self.augment and 1 or 0, self.dropLast and 1 or 0
  cfg.pad, cfg.nthreads, cfg.prefetch = self.pad, self.nThreads, self.prefetch
  cfg.shard_rank, cfg.shard_size = self.rank, self.ranks
  local out = ffi.new('ft_loader*[1]')
  F.check(C.ft_loader_new(out, cfg), FN)
  self._ptr = ffi.gc(out[0], C.ft_loader_free)
  self._slots = {}
  local ti, tt = ffi.new('ft_tensor*[1]'), ffi.new('ft_tensor*[1]')
  for k = 0, C.ft_loader_nslots(self._ptr) - 1 do
    F.check(C.ft_loader_slot(self._ptr, k, ti, tt), FN)
    self._slots[k] = { inputs = T.wrap(ti[0]), targets = T.wrap(tt[0]) }
  end
  self._rows = self._slots[0].inputs:size(1) -- the largest shard of a batch
  self._cells = { slot = ffi.new('int[1]'), batch = ffi.new('int64_t[1]'), count = ffi.new('int64_t[1]'),
                  offset = ffi.new('int64_t[1]') }
  self._epoch, self._pos, self._generation, self._failures = 1, 0, 0, 0
end

function Loader:size() return tonumber(C.ft_loader_batches(self._ptr)) end

-- Batch i (1-based): its global size, this rank's offset in it (0-based) and row count.
function Loader:shard(i)
  local c = self._cells
  F.check(C.ft_loader_shard(self._ptr, i - 1, c.batch, c.offset, c.count), FN .. ':shard')
  return tonumber(c.batch[0]), tonumber(c.offset[0]), tonumber(c.count[0])
end

-- Iterates over the batches of `epoch` (default: the next one). After setState, the epoch
-- it names resumes at its saved position. Starting a run abandons any earlier one.
function Loader:run(epoch)
  epoch = epoch == nil and self._epoch or epoch
  if type(epoch) ~= 'number' or epoch ~= math.floor(epoch) or epoch < 0 then
    error(FN .. ':run: epoch must be a non-negative integer, got ' .. tostring(epoch), 2)
  end
  local start = 0
  if self._resume and self._resume.epoch == epoch then start = self._resume.position end
  self._resume = nil
  F.check(C.ft_loader_start(self._ptr, self.seed, epoch, start), FN .. ':run')
  self._generation = self._generation + 1
  self._epoch, self._pos = epoch, start
  local gen, cells, ptr, B = self._generation, self._cells, self._ptr, self._rows
  return function()
    if gen ~= self._generation then
      error(FN .. ':run: this loader was restarted by another run(); this iteration is over', 2)
    end
    F.check(C.ft_loader_next(ptr, cells.slot, cells.batch, cells.count), FN .. ':run')
    local k = cells.slot[0]
    if k < 0 then
      self._epoch, self._pos = epoch + 1, 0
      self:_reportFailures()
      return nil
    end
    local b, n = tonumber(cells.batch[0]), tonumber(cells.count[0])
    self._pos = b + 1
    local s = self._slots[k]
    if n == B then return b + 1, s.inputs, s.targets end
    return b + 1, s.inputs:narrow(1, 1, n), s.targets:narrow(1, 1, n)
  end
end

-- Files that could not be decoded while building batches (their samples were zeros).
function Loader:failures()
  local msg = ffi.new('char[512]')
  local n = tonumber(C.ft_loader_failures(self._ptr, msg, 512))
  return n, ffi.string(msg)
end
function Loader:_reportFailures()
  local n, msg = self:failures()
  if n > self._failures then
    io.stderr:write(('%s: warning: %d image(s) failed to decode and were replaced by zeros; ' ..
                     'last: %s\n'):format(FN, n - self._failures, msg))
    self._failures = n
  end
end

-- The row of the source and the augmentation (dy, dx, flip) of sample `position` (1-based)
-- of `epoch`: what the batches are built from (for tests and inspection).
function Loader:plan(epoch, position)
  local row, params = ffi.new('int64_t[1]'), ffi.new('int64_t[3]')
  F.check(C.ft_loader_plan(self._ptr, self.seed, epoch, position - 1, row, params), FN .. ':plan')
  return tonumber(row[0]), tonumber(params[0]), tonumber(params[1]), tonumber(params[2])
end

-- Where the loader stands: the epoch to run next and the batches of it already handed out.
-- Plain numbers only, so it fits any checkpoint format. (shuffle, augment and dropLast are
-- the loader's options: resume with the same ones.)
function Loader:getState()
  return { epoch = self._epoch, position = self._pos, seed = self.seed,
           batchSize = self.batchSize, size = self.dataset:size() }
end

function Loader:setState(s)
  local fn = FN .. ':setState'
  if type(s) ~= 'table' then error(fn .. ': state must be a table from getState, got ' .. type(s), 2) end
  for _, k in ipairs({ 'epoch', 'position', 'seed' }) do
    if type(s[k]) ~= 'number' or s[k] ~= math.floor(s[k]) or s[k] < 0 then
      error(('%s: state.%s must be a non-negative integer, got %s'):format(fn, k, tostring(s[k])), 2)
    end
  end
  for _, k in ipairs({ 'batchSize', 'size' }) do
    if s[k] ~= nil and s[k] ~= self:getState()[k] then
      error(('%s: the state was saved with %s = %s, this loader has %s'):format(fn, k,
            tostring(s[k]), tostring(self:getState()[k])), 2)
    end
  end
  if s.position > self:size() then
    error(('%s: position %d is past the %d batches of an epoch'):format(fn, s.position, self:size()), 2)
  end
  self.seed, self._epoch, self._pos = s.seed, s.epoch, s.position
  self._resume = { epoch = s.epoch, position = s.position }
end

return M
