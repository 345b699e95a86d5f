-- fathom/data/svhn.lua -- SVHN (cropped digits) with the paper's protocol.
--   local d = data.svhn{ split='seeded'|'torch7', seed=1, preprocess='pixel', useExtra=true,
--                        valPerClass={400, 200}, dir=nil, download=true }
-- Files: <root>/svhn/{train,test,extra}_32x32.mat (MATLAB .mat, see core/data/mat.c); the
-- root and the download as in fathom/data/locate.lua.
-- Split (the authors' svhn-dataset.lua): shuffle train and extra with two successive random
-- permutations (split='torch7': torch.randperm(73257) then torch.randperm(531131) from
-- Torch7's MT19937 seeded with seed); the validation set is, for each class, the first 400
-- of the shuffled train images and the first 200 of the shuffled extra images (6,000 in
-- all); everything else is the training set (598,388 images). No augmentation by default.
-- Labels: digit d is class d for d = 1..9, the digit 0 is class 10 (the files' y).
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local ffi = require 'ffi'
local fs = require 'fathom.data.fs'
local split = require 'fathom.data.split'
local ds = require 'fathom.data.dataset'
local locate = require 'fathom.data.locate'
local C = F.C

local M = {}
local FN = 'fathom.data.svhn'
M.classNames = { '1', '2', '3', '4', '5', '6', '7', '8', '9', '0' }

local function count(path)
  local n = ffi.new('int64_t[1]')
  ds.check(C.ft_data_svhn_count(path, n), FN)
  return tonumber(n[0])
end

local function tensor_of(list)
  local t = fathom.LongTensor(#list)
  for i = 1, #list do t:data()[i - 1] = list[i] end
  return t
end

function M.load(opts)
  opts = ds.checkOptions(opts, { 'dir', 'download', 'split', 'seed', 'preprocess', 'useExtra', 'valPerClass' }, FN)
  local seed = ds.checkSeed(opts.seed or 1, FN)
  local useExtra = opts.useExtra ~= false
  local vpc = opts.valPerClass or { 400, 200 }
  if type(vpc) ~= 'table' or type(vpc[1]) ~= 'number' or (useExtra and type(vpc[2]) ~= 'number') then
    error(FN .. ': valPerClass must be {perClassFromTrain, perClassFromExtra}', 0)
  end
  local dir = locate.locate('svhn', opts.dir, locate.downloadOptions(opts.download, FN))
  local files = { fs.join(dir, 'train_32x32.mat') }
  if useExtra then files[2] = fs.join(dir, 'extra_32x32.mat') end
  local sizes, M_ = {}, 0
  for i, path in ipairs(files) do sizes[i] = count(path) M_ = M_ + sizes[i] end
  local images, labels = fathom.ByteTensor(M_, 3, 32, 32), fathom.LongTensor(M_)
  local at = 0
  for i, path in ipairs(files) do
    ds.check(C.ft_data_svhn_read(path, images.p, labels.p, at), FN)
    at = at + sizes[i]
  end
  local tpath = fs.join(dir, 'test_32x32.mat')
  local nt = count(tpath)
  local timages, tlabels = fathom.ByteTensor(nt, 3, 32, 32), fathom.LongTensor(nt)
  ds.check(C.ft_data_svhn_read(tpath, timages.p, tlabels.p, 0), FN)

  -- the authors' selection, part by part: per class, the first k in shuffled order
  local gen = split.generator(opts.split or 'seeded', seed, FN)
  local val, train = {}, {}
  local lab = labels:data()
  local base = 0
  for part, n in ipairs(sizes) do
    local perm = gen:perm(n)
    local k = vpc[part]
    if type(k) ~= 'number' or k < 0 or k ~= math.floor(k) then
      error(FN .. ': valPerClass entries must be non-negative integers', 0)
    end
    local pv, pt = {}, {}
    for c = 0, 9 do pv[c], pt[c] = {}, {} end
    for i = 0, n - 1 do
      local row = base + tonumber(perm:data()[i])
      local c = tonumber(lab[row])
      local list = #pv[c] < k and pv[c] or pt[c]
      list[#list + 1] = row
    end
    for c = 0, 9 do
      if #pv[c] < k then
        error(('%s: %s has only %d images of class %d; %d are needed for validation'):format(
              FN, files[part], #pv[c], c + 1, k), 0)
      end
      for _, r in ipairs(pv[c]) do val[#val + 1] = r end
      for _, r in ipairs(pt[c]) do train[#train + 1] = r end
    end
    base = base + n
  end
  local trainIdx, valIdx = tensor_of(train), #val > 0 and tensor_of(val) or nil
  local mean, std = ds.statistics(images, trainIdx, opts.preprocess, FN)
  local function make(name, imgs, labs, index)
    return ds.Dataset{ images = imgs, labels = labs, index = index, mean = mean, std = std,
                       nClasses = 10, name = 'svhn.' .. name, classNames = M.classNames,
                       augment = false }
  end
  local tidx = fathom.LongTensor(nt)
  for i = 0, nt - 1 do tidx:data()[i] = i end
  return {
    train = make('train', images, labels, trainIdx),
    val = valIdx and make('val', images, labels, valIdx) or nil,
    test = make('test', timages, tlabels, tidx),
    nClasses = 10, classNames = M.classNames, testName = 'test_32x32.mat', dir = dir,
    split = opts.split or 'seeded', seed = seed, preprocess = opts.preprocess or 'pixel',
    mean = mean, std = std,
  }
end

return M
