-- fathom/data/dataset.lua -- the datasets d.train, d.val, d.test.
-- A Dataset is a view on a source: rows `index` (0-based) of images uint8 [M,C,H,W] with
-- labels (0-based) and the normalisation (mean, std float [C,H,W]) of its training split.
-- Images stay uint8 in memory (SVHN train+extra is 1.9 GB as bytes, 7.4 GB as floats);
-- normalisation happens when a sample or batch is built, in C.
--   ds:size(); local x, y = ds:get(i)   -- FloatTensor CxHxW (normalised), label 1..nClasses
-- A FileDataset (image folders) has paths instead of images and decodes on demand.
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local ffi = require 'ffi'
local class = require 'fathom.class'
local C = F.C

local M = {}

local Dataset = class('fathom.data.Dataset')
M.Dataset = Dataset

-- t: { images=, labels=, index=, mean=, std=, nClasses=, name=, classNames= }
function Dataset:__init(t)
  self.images, self.labels, self.index = t.images, t.labels, t.index
  self.mean, self.std = t.mean, t.std
  self.nClasses, self.name, self.classNames = t.nClasses, t.name or 'dataset', t.classNames
  self.augmentDefault = t.augment or false -- the loader's default: true for training splits
  self._row = fathom.LongTensor(1)
end

function Dataset:size() return self.index:size(1) end
function Dataset:__tostring()
  return ('%s: %d images %s, %d classes'):format(self.name, self:size(),
    table.concat(self:sampleSize(), 'x'), self.nClasses)
end

function Dataset:sampleSize()
  local s = self.images:size()
  return { s[2], s[3], s[4] }
end

function Dataset:_check(i, fname)
  if type(i) ~= 'number' or i ~= math.floor(i) or i < 1 or i > self:size() then
    error(('%s.%s: index must be an integer in 1..%d, got %s'):format(self.name, fname,
          self:size(), tostring(i)), 3)
  end
end

-- The 0-based source row of sample i.
function Dataset:row(i) return tonumber(self.index:data()[i - 1]) end

function Dataset:label(i)
  self:_check(i, 'label')
  return tonumber(self.labels:data()[self:row(i)]) + 1
end

-- Sample i: FloatTensor CxHxW, normalised with the training split's statistics; its label.
function Dataset:get(i)
  self:_check(i, 'get')
  local s = self:sampleSize()
  local x = fathom.FloatTensor(s[1], s[2], s[3])
  self._row:data()[0] = self.index:data()[i - 1]
  F.check(C.ft_data_gather(self.images.p, self.labels.p, self._row.p, nil, self.mean.p,
                           self.std.p, x:view(1, s[1], s[2], s[3]).p, nil), self.name .. '.get')
  return x, self:label(i)
end

-- Samples first..first+n-1 as one batch (no augmentation): inputs [n,C,H,W], targets [n].
function Dataset:batch(first, n)
  self:_check(first, 'batch')
  self:_check(first + n - 1, 'batch')
  local s = self:sampleSize()
  local x, y = fathom.FloatTensor(n, s[1], s[2], s[3]), fathom.LongTensor(n)
  local rows = self.index:narrow(1, first, n):contiguous()
  F.check(C.ft_data_gather(self.images.p, self.labels.p, rows.p, nil, self.mean.p, self.std.p,
                           x.p, y.p), self.name .. '.batch')
  return x, y
end

-- All labels, 1-based, as a LongTensor [size].
function Dataset:targets()
  local n, out = self:size(), fathom.LongTensor(self:size())
  local ix, lab, o = self.index:data(), self.labels:data(), out:data()
  for i = 0, n - 1 do o[i] = lab[ix[i]] + 1 end
  return out
end

-- Images per class: a Lua table indexed 1..nClasses.
function Dataset:classCounts()
  local counts = {}
  for c = 1, self.nClasses do counts[c] = 0 end
  local ix, lab = self.index:data(), self.labels:data()
  for i = 0, self:size() - 1 do
    local c = tonumber(lab[ix[i]]) + 1
    counts[c] = counts[c] + 1
  end
  return counts
end

local function words_hash(t, stride) return require('fathom.distributed').hashTensor(t, stride) end

-- A short text that tells data sets apart (data-parallel ranks compare theirs): the size,
-- and a hash of the index, the labels, the normalisation and every 61st word of the images.
function Dataset:fingerprint()
  return table.concat({ self:size(), words_hash(self.index), words_hash(self.labels), words_hash(self.mean),
                        words_hash(self.std), words_hash(self.images, 61) }, ':')
end

-- What the loader needs (core/data/loader.c's ft_loader_config).
function Dataset:_loaderSource(cfg)
  cfg.images, cfg.labels, cfg.index = self.images.p, self.labels.p, self.index.p
  cfg.mean, cfg.std = self.mean.p, self.std.p
  return { self.images, self.labels, self.index, self.mean, self.std } -- kept alive
end

---------------------------------------------------------------------- files
local FileDataset = class('fathom.data.FileDataset', Dataset)
M.FileDataset = FileDataset

-- t: { paths = {...}, labels = LongTensor (0-based), transform = ft_image_transform,
--      nClasses=, name=, classNames=, augment= (the loader's default) }
function FileDataset:__init(t)
  self.paths, self.labels, self.transform = t.paths, t.labels, t.transform
  self.nClasses, self.name, self.classNames = t.nClasses, t.name or 'files', t.classNames
  self.augmentDefault = t.augment or false
  local n = #t.paths
  assert(n > 0, 'FileDataset: no files')
  self.index = fathom.LongTensor(n)
  for i = 0, n - 1 do self.index:data()[i] = i end
  self._blob = table.concat(t.paths, '\0') .. '\0'
end

function FileDataset:size() return #self.paths end
function FileDataset:sampleSize() return { 3, self.transform.size, self.transform.size } end
function FileDataset:row(i) return i - 1 end
function FileDataset:label(i)
  self:_check(i, 'label')
  return tonumber(self.labels:data()[i - 1]) + 1
end
function FileDataset:path(i) self:_check(i, 'path') return self.paths[i] end

-- Sample i with the evaluation transform (scale, centre crop, normalise).
function FileDataset:get(i)
  self:_check(i, 'get')
  local s = self.transform.size
  local x = fathom.FloatTensor(3, s, s)
  F.check(C.ft_data_image_sample(self.paths[i], self.transform, 0, nil, x.p), self.name .. '.get')
  return x, self:label(i)
end

function FileDataset:batch(first, n)
  self:_check(first, 'batch')
  self:_check(first + n - 1, 'batch')
  local s = self.transform.size
  local x, y = fathom.FloatTensor(n, 3, s, s), fathom.LongTensor(n)
  for k = 0, n - 1 do
    local xi, yi = self:get(first + k)
    x:select(1, k + 1):copy(xi)
    y:data()[k] = yi
  end
  return x, y
end

function FileDataset:targets()
  local out = fathom.LongTensor(self:size())
  for i = 0, self:size() - 1 do out:data()[i] = self.labels:data()[i] + 1 end
  return out
end

function FileDataset:fingerprint()
  return table.concat({ self:size(), words_hash(self.index), words_hash(self.labels), require('fathom.distributed').hash(self._blob) }, ':')
end

function FileDataset:_loaderSource(cfg)
  cfg.images = nil
  cfg.labels, cfg.index = self.labels.p, self.index.p
  cfg.paths, cfg.paths_bytes = self._blob, #self._blob
  cfg.transform = self.transform
  return { self.labels, self.index, self._blob, self.transform }
end

---------------------------------------------------------------------- helpers
-- A C status: its message, named after the dataset, without a Lua position (these
-- messages are for people running recipes).
function M.check(status, fname)
  if status ~= 0 then error(fname .. ': ' .. ffi.string(F.C.ft_last_error()), 0) end
end

-- Unknown option names are errors (a typo must not silently fall back to a default).
function M.checkOptions(opts, allowed, fname)
  if opts == nil then return {} end
  if type(opts) ~= 'table' then error(fname .. ': options must be a table, got ' .. type(opts), 0) end
  local ok = {}
  for _, k in ipairs(allowed) do ok[k] = true end
  for k in pairs(opts) do
    if not ok[k] then
      error(('%s: unknown option %s (known: %s)'):format(fname, tostring(k),
            table.concat(allowed, ', ')), 0)
    end
  end
  return opts
end

-- Normalisation statistics of the rows `index` of images: 'pixel' (mean image, one global
-- std: the authors') or 'channel' (per-channel mean and std: fb.resnet.torch).
function M.statistics(images, index, preprocess, fname)
  local mode = ({ pixel = 0, channel = 1 })[preprocess or 'pixel']
  if not mode then
    error(fname .. ": preprocess must be 'pixel' or 'channel', got " .. tostring(preprocess), 0)
  end
  local s = images:size()
  local mean, std = fathom.FloatTensor(s[2], s[3], s[4]), fathom.FloatTensor(s[2], s[3], s[4])
  F.check(C.ft_data_stats(images.p, index.p, mode, mean.p, std.p), fname)
  return mean, std
end

function M.checkSeed(seed, fname)
  if type(seed) ~= 'number' or seed < 0 or seed ~= math.floor(seed) or seed >= 2^53 then
    error(fname .. ': seed must be a non-negative integer, got ' .. tostring(seed), 0)
  end
  return seed
end

return M
