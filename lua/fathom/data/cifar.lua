-- fathom/data/cifar.lua -- CIFAR-10 and CIFAR-100 with the paper's protocol.
--   local d = data.cifar10{ split='seeded'|'torch7', seed=1, preprocess='pixel'|'channel',
--                           nVal=5000, trainSubset=nil, dir=nil, download=true }
--   dir, download: where the files are and whether to fetch them (fathom/data/locate.lua);
--   download may also be a table of options for fathom/data/download.lua.
--   d.train (45,000), d.val (5,000), d.test; d.nClasses; d.testName
-- Split (the authors' code): a random permutation of the 50,000 training images; the LAST
-- nVal of it are the validation set, the rest (in permutation order) the training set.
-- split='torch7' draws it with Torch7's MT19937 and torch.randperm (the authors ran
-- torch.manualSeed(1) then torch.randperm(50000)); 'seeded' with Fathom's generator.
-- Statistics come from the training split (all of it, even with trainSubset, so val and
-- test inputs never depend on the subset) and are applied to val and test.
-- Test file: test_batch.bin when present, else test_batch.first1000.bin (d.testName).
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local ffi = require 'ffi'
local fs = require 'fathom.data.fs'
local split = require 'fathom.data.split'
local ds = require 'fathom.data.dataset'
local locate = require 'fathom.data.locate'
local C = F.C

local M = {}

local KINDS = {
  cifar10 = {
    fname = 'fathom.data.cifar10',
    train = { 'data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin',
              'data_batch_5.bin' },
    tests = { 'test_batch.bin', 'test_batch.first1000.bin' },
    counts = { ['data_batch_1.bin'] = 10000, ['data_batch_2.bin'] = 10000,
               ['data_batch_3.bin'] = 10000, ['data_batch_4.bin'] = 10000,
               ['data_batch_5.bin'] = 10000, ['test_batch.bin'] = 10000,
               ['test_batch.first1000.bin'] = 1000 },
    labelBytes = 1, namesFile = 'batches.meta.txt',
  },
  cifar100 = {
    fname = 'fathom.data.cifar100',
    train = { 'train.bin' }, tests = { 'test.bin' },
    counts = { ['train.bin'] = 50000, ['test.bin'] = 10000 },
    labelBytes = 2,
  },
}

local function read_names(path, n)
  local f = io.open(path, 'r')
  if not f then return nil end
  local names = {}
  for line in f:lines() do
    line = line:gsub('%s+$', '')
    if line ~= '' then names[#names + 1] = line end
  end
  f:close()
  return #names == n and names or nil
end

-- Reads files (in order) into one uint8 [N,3,32,32] tensor and int64 [N] labels.
local function read_files(dir, files, k, labelIndex, nClasses, strict)
  local n, counts = 0, {}
  local cnt = ffi.new('int64_t[1]')
  for i, name in ipairs(files) do
    local path = fs.join(dir, name)
    ds.check(C.ft_data_cifar_count(path, k.labelBytes, strict and k.counts[name] or 0, cnt), k.fname)
    counts[i] = tonumber(cnt[0])
    n = n + counts[i]
  end
  local images, labels = fathom.ByteTensor(n, 3, 32, 32), fathom.LongTensor(n)
  local at = 0
  for i, name in ipairs(files) do
    ds.check(C.ft_data_cifar_read(fs.join(dir, name), k.labelBytes, labelIndex, nClasses,
                                  images.p, labels.p, at), k.fname)
    at = at + counts[i]
  end
  return images, labels
end

local function identity(n)
  local t = fathom.LongTensor(n)
  for i = 0, n - 1 do t:data()[i] = i end
  return t
end

function M.load(kind, opts)
  local k = KINDS[kind]
  local allowed = { 'dir', 'download', 'split', 'seed', 'preprocess', 'nVal', 'trainSubset', 'strictCounts' }
  if kind == 'cifar100' then allowed[#allowed + 1] = 'label' end
  opts = ds.checkOptions(opts, allowed, k.fname)
  local seed = ds.checkSeed(opts.seed or 1, k.fname)
  local strict = opts.strictCounts ~= false
  local labelIndex, nClasses, namesFile = 0, 10, k.namesFile
  if kind == 'cifar100' then
    local which = opts.label or 'fine'
    if which ~= 'fine' and which ~= 'coarse' then
      error(k.fname .. ": label must be 'fine' or 'coarse', got " .. tostring(which), 0)
    end
    labelIndex = which == 'fine' and 1 or 0
    nClasses = which == 'fine' and 100 or 20
    namesFile = which .. '_label_names.txt'
  end

  local dir = locate.locate(kind, opts.dir, locate.downloadOptions(opts.download, k.fname))
  local images, labels = read_files(dir, k.train, k, labelIndex, nClasses, strict)
  local testName
  for _, name in ipairs(k.tests) do
    if fs.isfile(fs.join(dir, name)) then testName = name break end
  end
  if not testName then
    error(('%s: no test file in %s (looked for %s)'):format(k.fname, dir,
          table.concat(k.tests, ', ')), 0)
  end
  local timages, tlabels = read_files(dir, { testName }, k, labelIndex, nClasses, strict)

  local N = images:size(1)
  local nVal = opts.nVal or 5000
  if type(nVal) ~= 'number' or nVal ~= math.floor(nVal) or nVal < 0 or nVal >= N then
    error(('%s: nVal must be an integer in 0..%d, got %s'):format(k.fname, N - 1, tostring(nVal)), 0)
  end
  local perm = split.generator(opts.split or 'seeded', seed, k.fname):perm(N)
  local trainIdx = perm:narrow(1, 1, N - nVal):clone()
  local valIdx = nVal > 0 and perm:narrow(1, N - nVal + 1, nVal):clone() or nil
  local mean, std = ds.statistics(images, trainIdx, opts.preprocess, k.fname)
  if opts.trainSubset then
    local s = opts.trainSubset
    if type(s) ~= 'number' or s ~= math.floor(s) or s < 1 or s > N - nVal then
      error(('%s: trainSubset must be an integer in 1..%d, got %s'):format(k.fname, N - nVal,
            tostring(s)), 0)
    end
    trainIdx = trainIdx:narrow(1, 1, s):clone()
  end

  local names = (namesFile and read_names(fs.join(dir, namesFile), nClasses))
  local function make(name, imgs, labs, index)
    return ds.Dataset{ images = imgs, labels = labs, index = index, mean = mean, std = std,
                       nClasses = nClasses, name = kind .. '.' .. name, classNames = names,
                       augment = name == 'train' }
  end
  return {
    train = make('train', images, labels, trainIdx),
    val = valIdx and make('val', images, labels, valIdx) or nil,
    test = make('test', timages, tlabels, identity(timages:size(1))),
    nClasses = nClasses, classNames = names, testName = testName, dir = dir,
    split = opts.split or 'seeded', seed = seed, preprocess = opts.preprocess or 'pixel',
    mean = mean, std = std, permutation = perm,
  }
end

return M
