-- fathom/data/download.lua -- fetch a dataset from its official address, as torchvision's
-- download=True does: a progress bar, the published MD5 checked, archives unpacked.
--   bin/fathom-data cifar10 [DIR]                                  (from a checkout)
--   luajit -e "require('fathom').data.download('cifar10')"        (installed with luarocks)
--   require('fathom.data.download').fetch('cifar10', '/abs/root') -> the dataset's folder
-- Names: cifar10, cifar100, svhn. Needs curl (wget works too, without the bar) and tar.
-- A mirror: FATHOM_DATA_MIRROR=BASEURL (or opts.baseUrl) fetches BASEURL/<file name>
-- instead of the official address; the MD5 stays the published one.
-- The connection times out after 15 s (opts.connectTimeout) and a transfer that stalls
-- below 1 kB/s for 60 s is abandoned, so it never hangs. A failed or wrong download leaves
-- nothing behind; a file already present with the right MD5 is not fetched again.
-- Tests: opts.urls / opts.md5 (tables keyed by file name) replace the addresses and sums;
-- opts.progress (anything with :write, default io.stderr) and opts.tty take the progress.
local ffi = require 'ffi'
local fs = require 'fathom.data.fs'
pcall(ffi.cdef, 'int isatty(int fd);')

local M = {}
local FN = 'fathom.data.download'

M.sources = {
  cifar10 = { title = 'CIFAR-10', folder = 'cifar-10-batches-bin',
    page = 'https://www.cs.toronto.edu/~kriz/cifar.html', files = {
    { name = 'cifar-10-binary.tar.gz', md5 = 'c32a1d4ab5d03f1284b67883e8d87530', unpack = true,
      url = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz' } } },
  cifar100 = { title = 'CIFAR-100', folder = 'cifar-100-binary',
    page = 'https://www.cs.toronto.edu/~kriz/cifar.html', files = {
    { name = 'cifar-100-binary.tar.gz', md5 = '03b5dce01913d631647c71ecec9e9cb8', unpack = true,
      url = 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz' } } },
  -- SVHN sums as published by torchvision (datasets/svhn.py)
  svhn = { title = 'SVHN', folder = 'svhn', sub = 'svhn',
    page = 'http://ufldl.stanford.edu/housenumbers/', files = {
    { name = 'train_32x32.mat', md5 = 'e26dedcc434d2e4c54c9b2d4a06d8373',
      url = 'http://ufldl.stanford.edu/housenumbers/train_32x32.mat' },
    { name = 'test_32x32.mat', md5 = 'eb5a983be6a315427106f1b164d9cef3',
      url = 'http://ufldl.stanford.edu/housenumbers/test_32x32.mat' },
    { name = 'extra_32x32.mat', md5 = 'a93ce644f1a588dc4d68dda5feec44a7',
      url = 'http://ufldl.stanford.edu/housenumbers/extra_32x32.mat' } } },
}

local function fail(fmt, ...) error(FN .. ': ' .. fmt:format(...), 0) end
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

local function source(name)
  local src = M.sources[name]
  if not src then fail('unknown dataset %s (known: cifar10, cifar100, svhn)', tostring(name)) end
  return src
end

-- The page to download a dataset from by hand.
function M.page(name) return source(name).page end

-- A command that downloads dataset `name` into root and works when pasted as is:
-- bin/fathom-data of this checkout (absolute path), else the installed module.
function M.command(name, root)
  local src = debug.getinfo(1, 'S').source:match('^@(.*)/lua/fathom/data/download%.lua$')
  local bin = src and fs.join(fs.abspath(src == '' and '.' or src), 'bin/fathom-data')
  if bin and fs.isfile(bin) then return ('%s %s %s'):format(bin, name, q(root)) end
  return ('luajit -e "require(\'fathom\').data.download(\'%s\', \'%s\')"'):format(name, root)
end

-- The MD5 of a file as 32 hex digits (md5sum, md5 or openssl).
function M.md5(path)
  for _, cmd in ipairs({ 'md5sum ' .. q(path), 'md5 -q ' .. q(path), 'openssl md5 -r ' .. q(path) }) do
    local ok, out = run(cmd)
    local sum = ok and out:match('^(%x+)')
    if sum and #sum == 32 then return sum:lower() end
  end
  fail('cannot compute the MD5 of %s (no md5sum, md5 or openssl)', path)
end

local function filesize(path)
  local f = io.open(path, 'rb')
  if not f then return 0 end
  local n = f:seek('end')
  f:close()
  return n or 0
end

local function mb(n) return n < 1e6 and ('%d kB'):format(math.floor(n / 1e3)) or ('%.1f MB'):format(n / 1e6) end

-- The progress display: redrawn in place on a terminal, a line every 10% otherwise.
local function bar(out, tty, label)
  local lastStep = -1
  return function(pct, bytes, final)
    if tty then
      local w = 30
      local done = math.floor(w * pct / 100 + 0.5)
      out:write(('\r%s [%s%s] %3d%%  %s\27[K'):format(label, ('='):rep(done), (' '):rep(w - done),
                math.floor(pct), mb(bytes)))
      if final then out:write('\n') end
    else
      -- 100% once the file is complete on disk (curl reports it before its last write)
      local step = final and 10 or math.min(math.floor(pct / 10), 9)
      if step > lastStep then
        lastStep = step
        out:write(('%s %3d%%  %s\n'):format(label, step * 10, mb(bytes)))
      end
    end
    if out.flush then out:flush() end
  end
end

-- Downloads url into dest; returns ok, the tool's last message.
local function fetch_url(url, dest, opts, show)
  local timeout = opts.connectTimeout or 15
  if have('curl') then
    local cmd = ('curl -f -L -# --connect-timeout %d --speed-limit 1000 --speed-time 60 -o %s %s 2>&1; echo "::status=$?"')
                :format(timeout, q(dest), q(url))
    local p = io.popen(cmd)
    local seg, msgs, status = {}, {}, nil
    local function flush_seg()
      local s = table.concat(seg)
      seg = {}
      local code = s:match('::status=(%d+)%s*$')
      if code then status, s = tonumber(code), s:gsub('::status=%d+%s*$', '') end
      local pct = s:match('^[#%s]*(%d+%.?%d*)%%%s*$') -- curl's bar: '#####     30.6%'
      if pct then
        show(tonumber(pct), filesize(dest))
      elseif s:match('%S') then
        msgs[#msgs + 1] = s
      end
    end
    while true do
      local c = p:read(1)
      if not c then break end
      if c == '\r' or c == '\n' then flush_seg() else seg[#seg + 1] = c end
    end
    flush_seg()
    p:close()
    return status == 0, msgs[#msgs]
  elseif have('wget') then
    local ok, out = run(('wget -q -T %d -O %s %s'):format(timeout, q(dest), q(url)))
    if ok then show(100, filesize(dest)) end
    return ok, out:match('([^\n]*)$')
  end
  return false, 'neither curl nor wget is installed'
end

-- Downloads (if needed), checks and unpacks dataset `name` into the folder root; returns
-- the absolute folder holding its files.
function M.fetch(name, root, opts)
  opts = opts or {}
  local src = source(name)
  if type(root) ~= 'string' or root == '' then fail('fetch(name, root): root must be a folder') end
  root = fs.abspath(root)
  local into = src.sub and fs.join(root, src.sub) or root
  local made = {} -- the folders this call creates, outermost first, removed (when empty) on failure
  if into ~= root and not fs.isdir(into) then made[1] = into end
  local p = root
  while p ~= '/' and p ~= '' and not fs.isdir(p) do
    table.insert(made, 1, p)
    p = p:match('^(.*)/[^/]+$') or ''
  end
  local ok, out = run('mkdir -p ' .. q(into))
  if not ok then fail('cannot create the data folder %s: %s', into, out) end
  local function fail_clean(...)
    for i = #made, 1, -1 do run('rmdir ' .. q(made[i])) end -- rmdir leaves non-empty ones
    fail(...)
  end
  local out_ = opts.progress or io.stderr
  local tty = opts.tty
  if tty == nil then tty = not opts.progress and ffi.C.isatty(2) == 1 end
  local mirror = opts.baseUrl or os.getenv('FATHOM_DATA_MIRROR')
  if mirror == '' then mirror = nil end
  for _, f in ipairs(src.files) do
    local url = opts.urls and opts.urls[f.name] or (mirror and (mirror:gsub('/+$', '') .. '/' .. f.name)) or f.url
    local md5 = opts.md5 and opts.md5[f.name] or f.md5
    local dest = fs.join(into, f.name)
    local by_hand = ('To install it by hand, download %s (md5 %s) and put it in %s%s.')
                    :format(f.url, md5, into, f.unpack and ' (or unpack it there)' or '')
    if not (fs.isfile(dest) and M.md5(dest) == md5) then
      out_:write(('%s: %s is not in %s; downloading %s\n'):format(FN, src.title, root, url))
      local part = dest .. '.part'
      local show = bar(out_, tty, f.name)
      local t0 = os.time()
      local got, msg = fetch_url(url, part, opts, show)
      if not got then
        os.remove(part)
        fail_clean('could not download %s into %s (%s). %s', url, into, msg or 'failed', by_hand)
      end
      show(100, filesize(part), true)
      local sum = M.md5(part)
      if sum ~= md5 then
        os.remove(part)
        fail_clean('%s has md5 %s, expected %s (a corrupt or incomplete download; removed). %s',
             url, sum, md5, by_hand)
      end
      assert(os.rename(part, dest))
      out_:write(('%s: %s, md5 checked (%d s)\n'):format(FN, f.name, os.time() - t0))
    end
    if f.unpack then
      -- unpack beside, then move in, so a failed unpack leaves no half folder
      local tmp = fs.join(root, '.unpack-' .. f.name)
      run('rm -rf ' .. q(tmp))
      local okt, msg = run(('mkdir -p %s && tar -xzf %s -C %s'):format(q(tmp), q(dest), q(tmp)))
      if okt then
        okt, msg = run(('mkdir -p %s && cp -R %s/. %s && rm -rf %s'):format(
          q(fs.join(root, src.folder)), q(fs.join(tmp, src.folder)), q(fs.join(root, src.folder)), q(tmp)))
      end
      if not okt then
        run('rm -rf ' .. q(tmp))
        fail_clean('cannot unpack %s into %s: %s', dest, root, msg)
      end
    end
  end
  return fs.join(root, src.folder)
end

return M
