-- fathom.data -- datasets and the batch loader.
--   local data = require 'fathom.data'
--   local d = data.cifar10{ split='seeded', seed=1, preprocess='pixel', nVal=5000 }
--   local loader = data.Loader(d.train, { batchSize=128, shuffle=true, augment=true,
--                                         seed=1, nThreads=2 })
--   for i, inputs, targets in loader:run(epoch) do ... end
--   data.locate('cifar10', dir)      the dataset's folder (downloaded when missing)
--   data.download('cifar10', dir)    the same, said plainly; data.defaultDir()
-- Where the data lives and how it is fetched: fathom/data/locate.lua, download.lua.
-- Readers, statistics and batch assembly are C (core/data_*.c); this is the protocol.
local M = {}

function M.cifar10(opts) return require('fathom.data.cifar').load('cifar10', opts) end
function M.cifar100(opts) return require('fathom.data.cifar').load('cifar100', opts) end
function M.svhn(opts) return require('fathom.data.svhn').load(opts) end
function M.imagefolder(opts) return require('fathom.data.imagefolder').load(opts) end
function M.locate(name, dir, opts) return require('fathom.data.locate').locate(name, dir, opts) end
function M.defaultDir() return require('fathom.data.locate').defaultDir() end
function M.download(name, dir, opts)
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.download = true
  return M.locate(name, dir, o)
end
M.Loader = function(...) return require('fathom.data.loader').Loader(...) end
M.Dataset = require('fathom.data.dataset').Dataset
M.FileDataset = require('fathom.data.dataset').FileDataset
M.split = require 'fathom.data.split'
M.fs = require 'fathom.data.fs'

return M
