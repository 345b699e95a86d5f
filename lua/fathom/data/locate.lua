-- fathom/data/locate.lua -- where a dataset's files are, and getting them when they are not.
--   data.locate('cifar10', dir)  -> '/home/me/.cache/fathom/cifar-10-batches-bin'
--   data.defaultDir()            -> '$XDG_CACHE_HOME/fathom', else '~/.cache/fathom'
-- The data root is, in this order (the first one set wins; nothing else is searched):
--   1. dir (a recipe's -data DIR), used as is;
--   2. $FATHOM_DATA;
--   3. defaultDir().
-- In the root a dataset is its official folder (cifar-10-batches-bin, cifar-100-binary,
-- svhn, imagenet), or the root itself when it holds the files. When they are missing and
-- the dataset has an official address, it is downloaded into the root (fathom/data/
-- download.lua) unless opts.download is false; ImageNet has none and is never fetched.
local fs = require 'fathom.data.fs'

local M = {}
local FN = 'fathom.data'

M.datasets = {
  cifar10 = { title = 'CIFAR-10', folder = 'cifar-10-batches-bin', marker = 'data_batch_1.bin' },
  cifar100 = { title = 'CIFAR-100', folder = 'cifar-100-binary', marker = 'train.bin' },
  svhn = { title = 'SVHN', folder = 'svhn', marker = 'train_32x32.mat' },
  imagenet = { title = 'ImageNet', folder = 'imagenet', marker = 'train', isdir = true },
}

local function fail(fmt, ...) error(FN .. ': ' .. fmt:format(...), 0) end

function M.defaultDir()
  local xdg = os.getenv('XDG_CACHE_HOME')
  if xdg and xdg ~= '' then return fs.join(fs.abspath(xdg), 'fathom') end
  local home = os.getenv('HOME')
  if home and home ~= '' then return fs.join(fs.abspath(home), '.cache/fathom') end
  fail('neither HOME nor XDG_CACHE_HOME is set, so there is no default data folder; ' ..
       'pass -data DIR or set FATHOM_DATA=DIR')
end

-- The data root (absolute) and which rule chose it.
function M.root(dir)
  if dir ~= nil then
    if type(dir) ~= 'string' or dir == '' then fail('dir must be a folder name, got %s', tostring(dir)) end
    return fs.abspath(dir), '-data'
  end
  local env = os.getenv('FATHOM_DATA')
  if env and env ~= '' then return fs.abspath(env), 'FATHOM_DATA' end
  return M.defaultDir(), 'the default folder'
end

local function present(spec, cand)
  local p = fs.join(cand, spec.marker)
  if spec.isdir then return fs.isdir(p) end
  return fs.isfile(p)
end

-- The absolute folder holding dataset `name`, downloading it when missing.
-- opts: download (default true; false: only look), and the options of download.fetch.
function M.locate(name, dir, opts)
  opts = opts or {}
  local spec = M.datasets[name]
  if not spec then
    local known = {}
    for k in pairs(M.datasets) do known[#known + 1] = k end
    table.sort(known)
    fail('unknown dataset %s (known: %s)', tostring(name), table.concat(known, ', '))
  end
  local root, why = M.root(dir)
  local cands = { fs.join(root, spec.folder), root }
  for _, cand in ipairs(cands) do
    if present(spec, cand) then return cand end
  end
  local where = ('%s (from %s)'):format(root, why)
  if name == 'imagenet' then
    fail('cannot find ImageNet: no %s/ folder in %s or %s. ImageNet cannot be downloaded ' ..
         'automatically (it needs an account at https://image-net.org); put its train/ and val/ ' ..
         'folders (one folder of images per class) in %s, or pass -data DIR naming such a folder',
         spec.marker, cands[1], where, cands[1])
  end
  local dl = require 'fathom.data.download'
  if opts.download == false then
    fail('cannot find %s: no %s in %s or %s. Download it with %s (or by hand from %s and ' ..
         'unpack it there), or pass -data DIR / set FATHOM_DATA=DIR to a folder that has it',
         spec.title, spec.marker, cands[1], where, dl.command(name, root), dl.page(name))
  end
  local folder = dl.fetch(name, root, opts)
  if not present(spec, folder) then
    fail('the download of %s into %s did not give %s; the archive may have changed layout',
         spec.title, root, fs.join(folder, spec.marker))
  end
  return folder
end

-- A constructor's download option (nil or true: fetch when missing; false: only look; a
-- table: fetch with those download.fetch options) as locate options.
function M.downloadOptions(v, fname)
  if v == nil or v == true then return {} end
  if v == false then return { download = false } end
  if type(v) ~= 'table' then
    error(('%s: download must be true, false or a table of download options, got %s'):format(
          fname, tostring(v)), 0)
  end
  return v
end

return M
