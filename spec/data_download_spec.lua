-- data_download_spec.lua -- fetching datasets, without the network: file:// addresses
-- (curl and wget read them) for the success and checksum paths, a closed port for failure.
require 'fathom'
local dl = require 'fathom.data.download'
local data = require 'fathom.data'
local files = require 'datafiles'

describe('fathom.data.download', function()
  local tmp
  before_each(function() tmp = files.tmpdir() end)
  after_each(function() files.rmtree(tmp) end)

  -- a miniature cifar-10-binary.tar.gz: the official layout with tiny files
  local function archive()
    local src = files.mkdir(tmp .. '/src/cifar-10-batches-bin')
    for b = 1, 5 do files.cifar_bin(src .. '/data_batch_' .. b .. '.bin', { 1, 2, b }) end
    files.cifar_bin(src .. '/test_batch.bin', { 4, 5 })
    local tgz = tmp .. '/cifar-10-binary.tar.gz'
    assert.are.equal(0, os.execute(("tar -czf '%s' -C '%s/src' cifar-10-batches-bin"):format(tgz, tmp)))
    return tgz
  end

  it('publishes the official addresses and MD5s', function()
    assert.are.equal('c32a1d4ab5d03f1284b67883e8d87530', dl.sources.cifar10.files[1].md5)
    assert.are.equal('03b5dce01913d631647c71ecec9e9cb8', dl.sources.cifar100.files[1].md5)
    local svhn = {}
    for _, f in ipairs(dl.sources.svhn.files) do svhn[f.name] = f.md5 end
    assert.are.same({ ['train_32x32.mat'] = 'e26dedcc434d2e4c54c9b2d4a06d8373',
                      ['test_32x32.mat'] = 'eb5a983be6a315427106f1b164d9cef3',
                      ['extra_32x32.mat'] = 'a93ce644f1a588dc4d68dda5feec44a7' }, svhn)
  end)

  it('computes MD5s', function()
    files.write(tmp .. '/abc', 'abc')
    assert.are.equal('900150983cd24fb0d6963f7d28e17f72', dl.md5(tmp .. '/abc'))
  end)

  it('downloads, checks and unpacks, and the data then loads', function()
    local tgz = archive()
    local sum = dl.md5(tgz)
    local out = tmp .. '/data'
    local opts = { urls = { ['cifar-10-binary.tar.gz'] = 'file://' .. tgz },
                   md5 = { ['cifar-10-binary.tar.gz'] = sum } }
    local dir = dl.fetch('cifar10', out, opts)
    assert.are.equal(out .. '/cifar-10-batches-bin', dir)
    local d = data.cifar10{ dir = out, strictCounts = false, nVal = 3 }
    assert.are.equal(12, d.train:size())
    assert.are.equal('test_batch.bin', d.testName)
    -- a second fetch finds the archive in place and does not download it again
    opts.urls['cifar-10-binary.tar.gz'] = 'file://' .. tmp .. '/gone.tar.gz'
    assert.are.equal(dir, dl.fetch('cifar10', out, opts))
  end)

  it('refuses a file whose MD5 differs, and leaves nothing behind', function()
    local stub = tmp .. '/stub.mat'
    files.write(stub, 'not the real file')
    local url = 'file://' .. stub
    local ok, err = pcall(dl.fetch, 'svhn', tmp .. '/data', { urls = { ['train_32x32.mat'] = url } })
    assert.is_false(ok)
    assert.matches('has md5 ' .. dl.md5(stub) .. ', expected e26dedcc434d2e4c54c9b2d4a06d8373', err)
    assert.matches('Download ' .. url:gsub('%p', '%%%0') .. ' by hand %(md5 e26dedcc434d2e4c54c9b2d4a06d8373%) and put it in .*/data/svhn', err)
    assert.is_false(data.fs.isfile(tmp .. '/data/svhn/train_32x32.mat'))
    assert.is_false(data.fs.isfile(tmp .. '/data/svhn/train_32x32.mat.part'))
  end)

  it('says where to put the files when the download fails', function()
    local ok, err = pcall(dl.fetch, 'cifar100', tmp .. '/data',
      { urls = { ['cifar-100-binary.tar.gz'] = 'http://127.0.0.1:9/cifar-100-binary.tar.gz' } })
    assert.is_false(ok)
    assert.matches('could not download http://127.0.0.1:9/cifar%-100%-binary.tar.gz', err)
    assert.matches('by hand %(md5 03b5dce01913d631647c71ecec9e9cb8%) and put it in .*/data', err)
    ok, err = pcall(dl.fetch, 'mnist', tmp)
    assert.is_false(ok); assert.matches('unknown dataset mnist', err)
  end)
end)
