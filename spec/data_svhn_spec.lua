-- data_svhn_spec.lua -- SVHN .mat reading and the authors' split, on small synthetic files
-- written by spec/helpers/datafiles.lua (MATLAB level 5: plain, stored-block zlib, and
-- real zlib through the system's libz), and every kind of bad file.
local ffi = require 'ffi'
local fathom = require 'fathom'
local data = require 'fathom.data'
local files = require 'datafiles'
local mt = require 'mt19937'
local C = fathom.C

ffi.cdef [[ int compress2(uint8_t *dest, unsigned long *destLen, const uint8_t *source,
                          unsigned long sourceLen, int level); ]]
local z = ffi.load('z')
local function zlib_real(s)
  local cap = ffi.new('unsigned long[1]', #s + 1024)
  local buf = ffi.new('uint8_t[?]', cap[0])
  assert(z.compress2(buf, cap, s, #s, 9) == 0)
  return ffi.string(buf, cap[0])
end

-- labels: n per class for classes 1..10 (10 = the digit 0), interleaved
local function labels_of(per_class)
  local t = {}
  for i = 0, 10 * per_class - 1 do t[#t + 1] = i % 10 + 1 end
  return t
end

local function write_set(dir, opts)
  local sd = files.mkdir(dir .. '/svhn')
  files.svhn_mat(sd .. '/train_32x32.mat', labels_of(5), opts)
  files.svhn_mat(sd .. '/extra_32x32.mat', labels_of(4), opts)
  files.svhn_mat(sd .. '/test_32x32.mat', labels_of(2), opts)
  return sd
end

-- the authors' selection computed here: per class the first k in shuffled order
local function expected_split(perms, sizes, labels, k)
  local val, train, base = {}, {}, 0
  for part = 1, #sizes do
    local pv, pt = {}, {}
    for c = 1, 10 do pv[c], pt[c] = {}, {} end
    for i = 1, sizes[part] do
      local row = base + perms[part][i]
      local c = labels[part][perms[part][i] + 1]
      table.insert(#pv[c] < k[part] and pv[c] or pt[c], row)
    end
    for c = 1, 10 do
      for _, r in ipairs(pv[c]) do val[#val + 1] = r end
      for _, r in ipairs(pt[c]) do train[#train + 1] = r end
    end
    base = base + sizes[part]
  end
  return val, train
end

local function rows(ds)
  local t = {}
  for i = 0, ds:size() - 1 do t[i + 1] = tonumber(ds.index:data()[i]) end
  return t
end

describe('SVHN', function()
  local tmp
  before_each(function() tmp = files.tmpdir() end)
  after_each(function() files.rmtree(tmp) end)

  it('reads X (column-major) and y, mapping y = 10 (digit 0) to class 10', function()
    write_set(tmp)
    local d = data.svhn{ dir = tmp, valPerClass = { 2, 1 } }
    assert.are.equal(10, d.nClasses)
    assert.are.equal('test_32x32.mat', d.testName)
    assert.are.equal(20, d.test:size())
    assert.are.equal(30, d.val:size())
    assert.are.equal(60, d.train:size())
    local img = d.train.images:data()
    for _, r in ipairs({ 0, 17, 49, 50, 89 }) do -- rows 50.. are the extra file's
      local i = r < 50 and r or r - 50
      for _, cyx in ipairs({ { 0, 0, 0 }, { 0, 0, 1 }, { 0, 1, 0 }, { 1, 5, 9 }, { 2, 31, 30 } }) do
        local c, y, x = cyx[1], cyx[2], cyx[3]
        assert.are.equal(files.pixel(i, c, y, x), img[r * 3072 + c * 1024 + y * 32 + x])
      end
    end
    assert.are.equal(1, d.test:label(1))
    assert.are.equal(10, d.test:label(10))
    assert.are.equal('0', d.classNames[10])
    assert.are.equal(9, tonumber(d.test.labels:data()[9]))  -- 0-based storage
    assert.is_false(d.train.augmentDefault)
    assert.is_false(data.Loader(d.train, { batchSize = 8 }).augment)
  end)

  it("selects the authors' validation set: per class the first k of the shuffled train and extra", function()
    write_set(tmp)
    local labs = { labels_of(5), labels_of(4) }
    for _, kind in ipairs({ 'seeded', 'torch7' }) do
      local d = data.svhn{ dir = tmp, valPerClass = { 2, 1 }, split = kind, seed = 3 }
      local perms = {}
      if kind == 'torch7' then -- independent MT19937: torch.randperm(50) then torch.randperm(40)
        local m = mt.new(3)
        for part, n in ipairs({ 50, 40 }) do
          local p = mt.randperm(m, n)
          for i = 1, n do p[i] = p[i] - 1 end
          perms[part] = p
        end
      else
        local g = data.split.generator('seeded', 3)
        for part, n in ipairs({ 50, 40 }) do
          local t, p = g:perm(n), {}
          for i = 1, n do p[i] = tonumber(t:data()[i - 1]) end
          perms[part] = p
        end
      end
      local val, train = expected_split(perms, { 50, 40 }, labs, { 2, 1 })
      assert.are.same(val, rows(d.val))
      assert.are.same(train, rows(d.train))
      local per = {}
      for _, c in ipairs(d.val:classCounts()) do per[#per + 1] = c end
      assert.are.same({ 3, 3, 3, 3, 3, 3, 3, 3, 3, 3 }, per)
    end
  end)

  it('reads plain, stored-zlib and real-zlib files alike, in any variable order, y of any numeric type', function()
    write_set(tmp)
    local ref = data.svhn{ dir = tmp, valPerClass = { 2, 1 } }
    local variants = {
      { compress = true }, { compress = true, zlib = zlib_real }, { reverse = true, ymi = 'uint8' },
      { compress = true, zlib = zlib_real, reverse = true, ymi = 'uint8' },
    }
    for _, v in ipairs(variants) do
      write_set(tmp, v)
      local d = data.svhn{ dir = tmp, valPerClass = { 2, 1 } }
      assert.is_true(d.train.images:equal(ref.train.images))
      assert.is_true(d.train.labels:equal(ref.train.labels))
      assert.is_true(d.test.images:equal(ref.test.images))
      assert.are.same(rows(ref.val), rows(d.val))
    end
    assert.is_true(#files.read(tmp .. '/svhn/train_32x32.mat') < 50 * 3072 / 2) -- really compressed
  end)

  it('normalises with the training split and can leave extra out', function()
    write_set(tmp)
    local d = data.svhn{ dir = tmp, valPerClass = { 2 }, useExtra = false, preprocess = 'channel' }
    assert.are.equal(30, d.train:size())
    assert.are.equal(20, d.val:size())
    assert.are.equal(50, d.train.images:size(1))
    local s, n = 0, 0
    local im, ix = d.train.images:data(), d.train.index:data()
    for i = 0, 29 do for k = 0, 1023 do s = s + im[tonumber(ix[i]) * 3072 + k]; n = n + 1 end end
    assert.is_true(math.abs(d.mean:data()[0] - s / n) < 1e-3)
    local ok, err = pcall(data.svhn, { dir = tmp, valPerClass = { 6, 1 } })
    assert.is_false(ok)
    assert.matches('train_32x32.mat has only 5 images of class 1; 6 are needed for validation', err)
  end)

  it('reports every kind of bad file, naming it', function()
    local sd = write_set(tmp)
    local f = sd .. '/train_32x32.mat'
    local n = ffi.new('int64_t[1]')
    local function err_of(content)
      files.write(f, content)
      assert.are.equal(1, C.ft_data_svhn_count(f, n) == 0 and
                          C.ft_data_svhn_read(f, fathom.ByteTensor(100, 3, 32, 32).p, fathom.LongTensor(100).p, 0) or 1)
      local msg = ffi.string(C.ft_last_error())
      assert.matches(f:gsub('%p', '%%%0'), msg)
      local ok, lerr = pcall(data.svhn, { dir = tmp, valPerClass = { 1, 1 } })
      assert.is_false(ok)
      return lerr
    end
    local good = files.read(f)
    local X = { name = 'X', class = 9, dims = { 32, 32, 3, 1 }, mi = files.MI.uint8, data = string.rep('\0', 3072) }
    local y = { name = 'y', class = 6, dims = { 1, 1 }, mi = files.MI.uint8, data = '\1' }
    assert.matches('is not a MATLAB .mat file', err_of('hello, this is text' .. string.rep(' ', 200)))
    assert.matches('MATLAB 7.3 %(HDF5%)', err_of(files.mat_header('MATLAB 7.3 MAT-file, HDF5') .. string.rep('\0', 64)))
    assert.matches('big%-endian', err_of(files.mat_header():sub(1, 126) .. 'MI'))
    assert.matches("expected variables 'X' and 'y', found 'X'", err_of(files.mat_header() .. files.mat_variable(X)))
    assert.matches("unexpected variable 'z'", err_of(files.mat_header() .. files.mat_variable(X) ..
      files.mat_variable(y) .. files.mat_variable{ name = 'z', class = 6, dims = { 1, 1 }, mi = files.MI.uint8, data = '\1' }))
    local X1 = { name = 'X', class = 9, dims = { 32, 32, 1, 1 }, mi = files.MI.uint8, data = string.rep('\0', 1024) }
    assert.matches('X must be a uint8 %(class 9%) array of size 32x32x3xN %(got class 9, size 32x32x1x1%)',
      err_of(files.mat_header() .. files.mat_variable(X1) .. files.mat_variable(y)))
    local y0 = { name = 'y', class = 6, dims = { 1, 1 }, mi = files.MI.uint8, data = '\11' }
    assert.matches('label 1 is 11, outside 1..10', err_of(files.mat_header() .. files.mat_variable(X) .. files.mat_variable(y0)))
    local y2 = { name = 'y', class = 6, dims = { 2, 1 }, mi = files.MI.uint8, data = '\1\2' }
    assert.matches('X has 1 images but y has 2 labels', err_of(files.mat_header() .. files.mat_variable(X) .. files.mat_variable(y2)))
    assert.matches('truncated', err_of(good:sub(1, 128 + 5000)))
    -- compressed: cut short, and corrupted
    files.svhn_mat(f, labels_of(5), { compress = true, zlib = zlib_real })
    local zgood = files.read(f)
    assert.matches('runs past the end of the file .*the file is truncated', err_of(zgood:sub(1, 128 + 400)))
    local Xz = zlib_real(files.mat_variable{ name = 'X', class = 9, dims = { 32, 32, 3, 2 }, mi = files.MI.uint8,
                                             data = string.rep('\7', 2 * 3072) })
    local cut = Xz:sub(1, #Xz - 10)
    assert.matches('compressed data ends inside X data %(truncated file%?%)',
      err_of(files.mat_header() .. files.u32(15) .. files.u32(#cut) .. cut .. files.mat_variable(y2)))
    local bad = zgood:sub(1, 128 + 20) .. string.rep('\255', 40) .. zgood:sub(128 + 61)
    assert.matches('corrupt compressed data', err_of(bad))
    -- a missing file and a missing folder
    os.remove(f)
    local ok, e = pcall(data.svhn, { dir = tmp, download = false })
    assert.is_false(ok)
    assert.matches('^fathom%.data: cannot find SVHN: no train_32x32%.mat in ' .. tmp .. '/svhn or ' .. tmp, e)
    assert.matches('Download it with /%S+/bin/fathom%-data svhn ', e)
    assert.matches('by hand from http://ufldl%.stanford%.edu/housenumbers/', e)
    -- a file missing beside the others: named, with no Lua position
    write_set(tmp)
    os.remove(sd .. '/extra_32x32.mat')
    ok, e = pcall(data.svhn, { dir = tmp, download = false })
    assert.is_false(ok)
    assert.matches('^fathom%.data%.svhn: .*cannot open .*/svhn/extra_32x32%.mat', e)
  end)
end)
