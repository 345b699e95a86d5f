-- data_download_spec.lua -- fetching datasets for real over HTTP, without the internet: a
-- local server (python3 -m http.server on 127.0.0.1) serves a small archive in the official
-- layout, reached through the mirror option; a closed port stands for no network.
local fathom = require 'fathom'
local dl = require 'fathom.data.download'
local data = require 'fathom.data'
local progress = require 'fathom.progress'
local files = require 'datafiles'

local TGZ = 'cifar-10-binary.tar.gz'
local OFFICIAL_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530'
local CLOSED = 'http://127.0.0.1:9' -- the discard port: nothing listens there
local SRC = data.fs.abspath('.') -- specs run from the source root

local function capture()
  local c = { text = '' }
  function c:write(...) for _, s in ipairs({ ... }) do self.text = self.text .. s end end
  return c
end

local function shell(cmd)
  local p = io.popen(cmd .. ' 2>&1; echo "::rc=$?"')
  local out = p:read('*a')
  p:close()
  return tonumber(out:match('::rc=(%d+)')), out:gsub('::rc=%d+%s*$', '')
end

local function esc(s) return (s:gsub('%p', '%%%0')) end

describe('fathom.data.download', function()
  local tmp, www, srv
  before_each(function()
    tmp = files.tmpdir()
    www = files.mkdir(tmp .. '/www')
  end)
  after_each(function()
    if srv then srv.stop() srv = nil end
    files.rmtree(tmp)
  end)

  local function serve(rate)
    local why
    srv, why = files.http_server(www, 60, rate)
    assert(srv, why)
    return srv
  end

  it('publishes the official addresses and MD5s', function()
    assert.are.equal('https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz', dl.sources.cifar10.files[1].url)
    assert.are.equal(OFFICIAL_MD5, dl.sources.cifar10.files[1].md5)
    assert.are.equal('03b5dce01913d631647c71ecec9e9cb8', dl.sources.cifar100.files[1].md5)
    local svhn = {}
    for _, f in ipairs(dl.sources.svhn.files) do
      svhn[f.name] = f.md5
      assert.are.equal('http://ufldl.stanford.edu/housenumbers/' .. f.name, f.url)
    end
    assert.are.same({ ['train_32x32.mat'] = 'e26dedcc434d2e4c54c9b2d4a06d8373',
                      ['test_32x32.mat'] = 'eb5a983be6a315427106f1b164d9cef3',
                      ['extra_32x32.mat'] = 'a93ce644f1a588dc4d68dda5feec44a7' }, svhn)
  end)

  it('computes MD5s', function()
    files.write(tmp .. '/abc', 'abc')
    assert.are.equal('900150983cd24fb0d6963f7d28e17f72', dl.md5(tmp .. '/abc'))
  end)

  it('lets the constructor download from a mirror over HTTP: progress, MD5, unpack, load', function()
    local sum = dl.md5(files.cifar10_tgz(www, 3))
    serve()
    local out = capture()
    local root = tmp .. '/data'
    local d = data.cifar10{ dir = root, strictCounts = false, nVal = 3,
                            download = { baseUrl = srv.url, md5 = { [TGZ] = sum }, progress = out, tty = false } }
    assert.are.equal(tmp .. '/data/cifar-10-batches-bin', d.dir)
    assert.are.equal(12, d.train:size())
    assert.are.equal(3, d.val:size())
    assert.are.equal('test_batch.bin', d.testName)
    assert.are.equal(files.pixel(5 * 3 + 2, 1, 4, 5), d.test.images:data()[2 * 3072 + 1024 + 4 * 32 + 5])
    assert.are.equal('cat', d.classNames[4])
    assert.matches('CIFAR%-10 is not in ' .. esc(root) .. '; downloading ' .. esc(srv.url .. '/' .. TGZ), out.text)
    local size = #files.read(www .. '/' .. TGZ)
    assert.matches('\n' .. esc(TGZ) .. ' 100%%  ' .. math.floor(size / 1000) .. ' kB\n', out.text)
    assert.matches(esc(TGZ) .. ', md5 checked', out.text)
    assert.is_true(data.fs.isfile(root .. '/' .. TGZ))
    assert.is_false(data.fs.isdir(root .. '/.unpack-' .. TGZ))
    -- found on disk the next time: no download (the server is gone)
    srv.stop() srv = nil
    local again = capture()
    local d2 = data.cifar10{ dir = root, strictCounts = false, nVal = 3,
                             download = { baseUrl = CLOSED, progress = again } }
    assert.are.equal(12, d2.train:size())
    assert.are.equal('', again.text)
  end)

  it('reports progress in steps of 10% while the file arrives', function()
    local sum = dl.md5(files.cifar10_tgz(www, 2, 500000))
    serve(200000) -- about 2.5 s
    local out = capture()
    dl.fetch('cifar10', tmp .. '/d', { baseUrl = srv.url, md5 = { [TGZ] = sum }, progress = out, tty = false })
    local steps = {}
    for pct in out.text:gmatch(esc(TGZ) .. ' +(%d+)%%') do steps[#steps + 1] = tonumber(pct) end
    assert.is_true(#steps >= 3, out.text) -- 0%, at least one step on the way, 100%
    assert.are.equal(100, steps[#steps])
    for i = 2, #steps do assert.is_true(steps[i] > steps[i - 1]) end
    assert.is_true(steps[#steps - 1] < 100)
  end)

  it('draws a bar redrawn in place on a terminal', function()
    local sum = dl.md5(files.cifar10_tgz(www, 2))
    serve()
    local out = capture()
    local dir = dl.fetch('cifar10', tmp .. '/d', { baseUrl = srv.url, md5 = { [TGZ] = sum }, progress = out, tty = true })
    assert.are.equal(tmp .. '/d/cifar-10-batches-bin', dir)
    assert.matches('\r' .. esc(TGZ) .. ' %[' .. ('='):rep(30) .. '%] 100%%', out.text)
  end)

  it('refuses a file whose MD5 differs, and leaves nothing behind', function()
    local tgz = files.cifar10_tgz(www, 2)
    local sum = dl.md5(tgz)
    serve()
    local root = tmp .. '/data'
    local ok, err = pcall(dl.fetch, 'cifar10', root, { baseUrl = srv.url, progress = capture() })
    assert.is_false(ok)
    assert.matches('has md5 ' .. sum .. ', expected ' .. OFFICIAL_MD5, err)
    assert.matches('removed', err)
    assert.matches('download ' .. esc(dl.sources.cifar10.files[1].url) .. ' %(md5 ' .. OFFICIAL_MD5 ..
                   '%) and put it in ' .. esc(root), err)
    assert.is_false(data.fs.isfile(root .. '/' .. TGZ))
    assert.is_false(data.fs.isfile(root .. '/' .. TGZ .. '.part'))
    assert.is_false(data.fs.isdir(root)) -- it created the folder, and took it away again
    -- a folder that existed stays
    files.mkdir(root)
    assert.is_false((pcall(dl.fetch, 'cifar10', root, { baseUrl = srv.url, progress = capture() })))
    assert.is_true(data.fs.isdir(root))
    assert.are.same({}, data.fs.list(root))
  end)

  it('fails fast with one clear message when the address cannot be reached', function()
    local root = tmp .. '/data'
    local t0 = progress.now()
    local ok, err = pcall(data.cifar100, { dir = root, download = { baseUrl = CLOSED, progress = capture() } })
    local took = progress.now() - t0
    assert.is_false(ok)
    assert.is_true(took < 5, 'took ' .. took .. ' s')
    assert.matches('^fathom%.data%.download: could not download ' .. esc(CLOSED) .. '/cifar%-100%-binary%.tar%.gz into ' ..
                   esc(root) .. ' %(curl: %(7%)', err)
    assert.matches('To install it by hand, download https://www%.cs%.toronto%.edu/~kriz/cifar%-100%-binary%.tar%.gz ' ..
                   '%(md5 03b5dce01913d631647c71ecec9e9cb8%) and put it in ' .. esc(root) .. ' %(or unpack it there%)%.$', err)
    assert.is_nil(err:find('%.lua:%d+:'))
    assert.is_nil(err:find('\n'))
    assert.is_false(data.fs.isdir(root))
    -- nor the parents it made on the way
    assert.is_false((pcall(dl.fetch, 'svhn', tmp .. '/a/b/c', { baseUrl = CLOSED, progress = capture() })))
    assert.is_false(data.fs.isdir(tmp .. '/a'))
    -- the mirror variable is what the constructor uses when no baseUrl is given
    local rc, out = shell(("cd / && FATHOM_DATA_MIRROR=%s '%s/bin/fathom-data' svhn '%s'"):format(CLOSED, SRC, root))
    assert.are.equal(1, rc)
    assert.matches('could not download ' .. esc(CLOSED) .. '/train_32x32%.mat', out)
  end)

  it('prints a download command that works when pasted, from any directory', function()
    local ok, err = pcall(data.cifar10, { dir = tmp .. '/data', download = false })
    assert.is_false(ok)
    local cmd = err:match('Download it with (.-) %(or by hand')
    assert.is_truthy(cmd, err)
    assert.matches('^/.*/bin/fathom%-data cifar10 ', cmd) -- absolute, so the cwd does not matter
    local sum = dl.md5(files.cifar10_tgz(www, 2))
    serve()
    -- the official MD5 is kept for a mirror: the command runs, downloads, and refuses the file
    local rc, out = shell(('cd / && FATHOM_DATA_MIRROR=%s %s'):format(srv.url, cmd))
    assert.are.equal(1, rc)
    assert.matches('downloading ' .. esc(srv.url .. '/' .. TGZ), out)
    assert.matches('has md5 ' .. sum .. ', expected ' .. OFFICIAL_MD5, out)
    assert.is_nil(out:find('module'))
    rc, out = shell(('cd / && %s'):format(cmd:gsub(' cifar10 ', ' -h ')))
    assert.are.equal(0, rc)
    assert.matches('usage: fathom%-data NAME %[DIR%]', out)
  end)

  it('names unknown datasets', function()
    local ok, err = pcall(dl.fetch, 'mnist', tmp)
    assert.is_false(ok); assert.matches('unknown dataset mnist', err)
    ok, err = pcall(data.locate, 'mnist', tmp)
    assert.is_false(ok); assert.matches('unknown dataset mnist %(known: cifar10, cifar100, imagenet, svhn%)', err)
    ok, err = pcall(data.cifar10, { dir = tmp, download = 'yes' })
    assert.is_false(ok); assert.matches('download must be true, false or a table', err)
  end)
end)
