-- fathom/data/download.lua -- fetch the datasets from their official addresses.
--   luajit -e "require('fathom.data.download').fetch('cifar10', 'data')"
--   (names: cifar10, cifar100, svhn; the folder defaults to $FATHOM_DATA, else ./data)
-- Uses curl (or wget), checks the published MD5 of every file, unpacks archives with tar.
-- Files already present with the right MD5 are not fetched again. When a download fails
-- (no network) or a checksum differs, the error says which file to put where by hand.
-- opts.urls / opts.md5 (tables keyed by file name) override the addresses and sums (tests).
local fs = require 'fathom.data.fs'

local M = {}
local FN = 'fathom.data.download'

M.sources = {
  cifar10 = { folder = 'cifar-10-batches-bin', files = {
    { name = 'cifar-10-binary.tar.gz', md5 = 'c32a1d4ab5d03f1284b67883e8d87530', unpack = true,
      url = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz' } } },
  cifar100 = { folder = 'cifar-100-binary', files = {
    { name = 'cifar-100-binary.tar.gz', md5 = '03b5dce01913d631647c71ecec9e9cb8', unpack = true,
      url = 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz' } } },
  -- SVHN sums as published by torchvision (datasets/svhn.py)
  svhn = { folder = 'svhn', sub = 'svhn', files = {
    { name = 'train_32x32.mat', md5 = 'e26dedcc434d2e4c54c9b2d4a06d8373',
      url = 'http://ufldl.stanford.edu/housenumbers/train_32x32.mat' },
    { name = 'test_32x32.mat', md5 = 'eb5a983be6a315427106f1b164d9cef3',
      url = 'http://ufldl.stanford.edu/housenumbers/test_32x32.mat' },
    { name = 'extra_32x32.mat', md5 = 'a93ce644f1a588dc4d68dda5feec44a7',
      url = 'http://ufldl.stanford.edu/housenumbers/extra_32x32.mat' } } },
}

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- Runs a shell command; returns ok, its output (stdout and stderr).
local function run(cmd)
  local p = io.popen(cmd .. ' 2>&1; echo "::status=$?"')
  local out = p:read('*a')
  p:close()
  local status = tonumber(out:match('::status=(%d+)%s*$'))
  return status == 0, (out:gsub('::status=%d+%s*$', ''):gsub('%s+$', ''))
end

local function have(tool) return (run('command -v ' .. tool)) end

-- The MD5 of a file as 32 hex digits (md5sum, md5 or openssl).
function M.md5(path)
  for _, cmd in ipairs({ 'md5sum ' .. q(path), 'md5 -q ' .. q(path), 'openssl md5 -r ' .. q(path) }) do
    local ok, out = run(cmd)
    local sum = ok and out:match('^(%x+)')
    if sum and #sum == 32 then return sum:lower() end
  end
  error(FN .. ': cannot compute the MD5 of ' .. path .. ' (no md5sum, md5 or openssl)', 2)
end

local function fetch_url(url, dest)
  if have('curl') then
    return run(('curl -fsSL --retry 2 --connect-timeout 20 -o %s %s'):format(q(dest), q(url)))
  elseif have('wget') then
    return run(('wget -q -O %s %s'):format(q(dest), q(url)))
  end
  return false, 'neither curl nor wget is installed'
end

-- Downloads (if needed), checks and unpacks dataset `name` into dir; returns the folder
-- holding the data files.
function M.fetch(name, dir, opts)
  opts = opts or {}
  local src = M.sources[name]
  if not src then
    error(('%s: unknown dataset %s (known: cifar10, cifar100, svhn)'):format(FN, tostring(name)), 2)
  end
  dir = dir or os.getenv('FATHOM_DATA') or 'data'
  local into = src.sub and fs.join(dir, src.sub) or dir
  local ok, out = run('mkdir -p ' .. q(into))
  if not ok then error(('%s: cannot create %s: %s'):format(FN, into, out), 2) end
  for _, f in ipairs(src.files) do
    local url = opts.urls and opts.urls[f.name] or f.url
    local md5 = opts.md5 and opts.md5[f.name] or f.md5
    local dest = fs.join(into, f.name)
    local by_hand = ('Download %s by hand (md5 %s) and put it in %s, then run this again.')
                    :format(url, md5, into)
    if not (fs.isfile(dest) and M.md5(dest) == md5) then
      io.stderr:write(('%s: fetching %s\n'):format(FN, url))
      local part = dest .. '.part'
      local got, msg = fetch_url(url, part)
      if not got then
        os.remove(part)
        msg = (msg or ''):match('([^\n]*)$')
        error(('%s: could not download %s (%s). %s'):format(FN, url, msg ~= '' and msg or 'failed', by_hand), 2)
      end
      local sum = M.md5(part)
      if sum ~= md5 then
        os.remove(part)
        error(('%s: %s has md5 %s, expected %s (a corrupt or incomplete download). %s')
              :format(FN, url, sum, md5, by_hand), 2)
      end
      assert(os.rename(part, dest))
    end
    if f.unpack then
      local okt, msg = run(('tar -xzf %s -C %s'):format(q(dest), q(into)))
      if not okt then error(('%s: cannot unpack %s: %s'):format(FN, dest, msg), 2) end
    end
  end
  return fs.join(dir, src.folder)
end

return M
