-- data_cifar_spec.lua -- CIFAR-10 and CIFAR-100 on small files in the official format
-- written here (the split, the statistics, bad input), and CIFAR-10 on the real files when
-- they are there (FATHOM_DATA=DIR make test; pending otherwise): counts, pixels, the
-- torch7 split. Reference values come from the data's README.md and from reading the
-- files in plain Lua.
local ffi = require 'ffi'
local fathom = require 'fathom'
local data = require 'fathom.data'
local files = require 'datafiles'
local C = fathom.C

-- Class counts per file, from cifar-10-batches-bin/README.md.
local COUNTS = {
  { 1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981 },
  { 984, 1007, 1010, 995, 1010, 988, 1008, 1026, 987, 985 },
  { 994, 1042, 965, 997, 990, 1029, 978, 1015, 961, 1029 },
  { 1003, 963, 1041, 976, 1004, 1021, 1004, 981, 1024, 983 },
  { 1014, 1014, 952, 1016, 997, 1025, 980, 977, 1003, 1022 },
}
local TEST1000 = { 103, 89, 100, 103, 90, 86, 112, 102, 106, 109 }

local REAL, WHY = files.real('cifar10', 'cifar-10-batches-bin')
local d = REAL and data.cifar10{ download = false } -- split 'seeded', seed 1, 'pixel', nVal 5000
local dir = REAL
-- the real test file: the 1,000-image prefix or the official 10,000 (1,000 per class)
local TEST = d and (d.testName == 'test_batch.bin' and { n = 10000, counts = { 1000, 1000, 1000, 1000,
  1000, 1000, 1000, 1000, 1000, 1000 } } or { n = 1000, counts = TEST1000 })

-- raw bytes of record r (0-based) of a .bin file, read in plain Lua
local function record(name, r)
  local f = assert(io.open(dir .. '/' .. name, 'rb'))
  f:seek('set', r * 3073)
  local s = f:read(3073)
  f:close()
  return s
end

if not REAL then
  describe('CIFAR-10 on the real files', function() pending(WHY) end)
else
describe('CIFAR-10 files', function()
  it('have 10000 records per training file and 1000 in the test prefix', function()
    local n = ffi.new('int64_t[1]')
    for b = 1, 5 do
      assert.are.equal(0, C.ft_data_cifar_count(dir .. '/data_batch_' .. b .. '.bin', 1, 10000, n))
      assert.are.equal(10000, tonumber(n[0]))
    end
    assert.are.equal(0, C.ft_data_cifar_count(dir .. '/' .. d.testName, 1, TEST.n, n))
    assert.are.equal(TEST.n, tonumber(n[0]))
    assert.are.equal(50000, d.train.images:size(1))
    assert.are.equal(TEST.n, d.test:size())
  end)

  it('have the class counts of the README, file by file', function()
    local lab = d.train.labels:data()
    for b = 1, 5 do
      local counts = {}
      for c = 1, 10 do counts[c] = 0 end
      for i = (b - 1) * 10000, b * 10000 - 1 do local c = tonumber(lab[i]) + 1; counts[c] = counts[c] + 1 end
      assert.are.same(COUNTS[b], counts)
    end
    assert.are.same(TEST.counts, d.test:classCounts())
  end)

  it('keep the known first pixels and labels (a frog, then a truck; the test starts with a cat)', function()
    local img = d.train.images:data()
    assert.are.same({ 59, 43, 50, 68 }, { img[0], img[1], img[2], img[3] })
    assert.are.equal(6, tonumber(d.train.labels:data()[0]))
    assert.are.equal(9, tonumber(d.train.labels:data()[1]))
    assert.are.equal(3, tonumber(d.test.labels:data()[0]))
    assert.are.equal(158, d.test.images:data()[0])
    assert.are.same({ 'airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse',
                      'ship', 'truck' }, d.classNames)
  end)

  it('match the raw file bytes for records spread over all five files', function()
    local img, lab = d.train.images:data(), d.train.labels:data()
    for _, row in ipairs({ 0, 1, 4321, 10000, 19999, 25017, 33333, 41000, 49999 }) do
      local b, r = math.floor(row / 10000) + 1, row % 10000
      local s = record('data_batch_' .. b .. '.bin', r)
      assert.are.equal(s:byte(1), tonumber(lab[row]))
      for k = 0, 3071, 97 do assert.are.equal(s:byte(k + 2), img[row * 3072 + k]) end
      assert.are.equal(s:byte(3073), img[row * 3072 + 3071])
    end
  end)
end)

describe('the CIFAR-10 split', function()
  it('is 45000 / 5000, disjoint, covering all 50000, validation = the last 5000 of the permutation', function()
    assert.are.equal(45000, d.train:size())
    assert.are.equal(5000, d.val:size())
    local seen = {}
    for _, ds in ipairs({ d.train, d.val }) do
      local ix = ds.index:data()
      for i = 0, ds:size() - 1 do
        local r = tonumber(ix[i])
        assert(not seen[r], 'row in both sets or twice: ' .. r)
        seen[r] = true
      end
    end
    for r = 0, 49999 do assert(seen[r], 'row missing: ' .. r) end
    for i = 0, 4999 do assert.are.equal(d.permutation:data()[45000 + i], d.val.index:data()[i]) end
    for i = 0, 44999 do assert.are.equal(d.permutation:data()[i], d.train.index:data()[i]) end
    assert.are.equal(10, d.nClasses)
  end)

  it("with split='torch7' uses torch.randperm(50000) after torch.manualSeed(1)", function()
    local t = data.cifar10{ split = 'torch7' }
    -- reference values derived in data_split_spec.lua
    local val = { 530, 1189, 4701, 48410, 31205, 22059, 27832, 43956, 43260, 9159 }
    for i = 1, 10 do assert.are.equal(val[i] - 1, tonumber(t.val.index:data()[i - 1])) end
    assert.are.equal(45846 - 1, tonumber(t.train.index:data()[0]))
    assert.are.equal(8476 - 1, tonumber(t.val.index:data()[4999]))
    -- a different split from the seeded one
    assert.are_not.equal(d.val.index:data()[0], t.val.index:data()[0])
  end)

  it('depends on the seed; dir may name the folder itself; trainSubset keeps the statistics', function()
    local a = data.cifar10{ dir = dir, seed = 2, nVal = 100, trainSubset = 1000 }
    assert.are.equal(dir, a.dir)
    assert.are.equal(1000, a.train:size())
    assert.are.equal(100, a.val:size())
    local same = 0
    for i = 0, 99 do same = same + (a.val.index:data()[i] == d.permutation:data()[49900 + i] and 1 or 0) end
    assert.is_true(same < 5)
    for i = 0, 999 do assert.are.equal(a.permutation:data()[i], a.train.index:data()[i]) end
    -- statistics of the whole 49,900-image training split, not of the subset
    local full = data.split.generator('seeded', 2):perm(50000):narrow(1, 1, 49900)
    local mean, std = require('fathom.data.dataset').statistics(a.train.images, full, 'pixel', 'test')
    assert.are.equal(mean:data()[5], a.mean:data()[5])
    assert.are.equal(std:data()[5], a.std:data()[5])
  end)
end)

describe('CIFAR-10 preprocessing', function()
  -- sums over the training split, in plain Lua from the raw bytes
  local img, ix = d.train.images:data(), d.train.index:data()
  local n = d.train:size()
  local s1, s2, pix = 0, 0, { 0, 1000, 2047, 3071 }
  local psum = { 0, 0, 0, 0 }
  for i = 0, n - 1 do
    local base = tonumber(ix[i]) * 3072
    for k = 0, 3071 do local v = img[base + k]; s1 = s1 + v; s2 = s2 + v * v end
    for j, p in ipairs(pix) do psum[j] = psum[j] + img[base + p] end
  end
  local m = n * 3072
  local gstd = math.sqrt((s2 - s1 * s1 / m) / (m - 1))

  it("'pixel': the mean image and one global std of the training split", function()
    for j, p in ipairs(pix) do
      assert.is_true(math.abs(d.mean:data()[p] - psum[j] / n) < 1e-4)
    end
    for _, p in ipairs({ 0, 1500, 3071 }) do assert.is_true(math.abs(d.std:data()[p] - gstd) < 1e-4) end
    assert.is_true(gstd > 60 and gstd < 66)
  end)

  it('normalises samples as (x - mean) / std, the same for val and test', function()
    for _, set in ipairs({ d.train, d.val, d.test }) do
      local x, y = set:get(7)
      local row = set:row(7)
      for _, k in ipairs({ 0, 5, 1023, 1024, 3071 }) do
        local raw = set.images:data()[row * 3072 + k]
        local want = (raw - d.mean:data()[k]) / d.std:data()[k]
        assert.is_true(math.abs(x:data()[k] - want) < 1e-5)
      end
      assert.are.equal(tonumber(set.labels:data()[row]) + 1, y)
    end
  end)

  it('gives training data of mean ~0 and std ~1 (on 5000 images)', function()
    local x = d.train:batch(20001, 5000)
    local p, sum, sq, cnt = x:data(), 0, 0, x:nElement()
    for k = 0, cnt - 1 do local v = p[k]; sum = sum + v; sq = sq + v * v end
    local mean = sum / cnt
    local std = math.sqrt(sq / cnt - mean * mean)
    assert.is_true(math.abs(mean) < 0.02)
    -- one global std leaves the spread of the per-pixel means out: a little under 1
    assert.is_true(std > 0.93 and std <= 1.01)
  end)

  it("'channel': per-channel statistics of the split; nVal = 0 trains on all 50000", function()
    local root = dir:gsub('/cifar%-10%-batches%-bin$', '')
    local c = data.cifar10{ dir = root, preprocess = 'channel', nVal = 0 }
    assert.are.equal(dir, c.dir)
    assert.is_nil(c.val)
    assert.are.equal(50000, c.train:size())
    local cs1, cs2 = { 0, 0, 0 }, { 0, 0, 0 }
    local im = c.train.images:data()
    for i = 0, 49999 do
      for ch = 0, 2 do
        local base, a, b = i * 3072 + ch * 1024, 0, 0
        for k = 0, 1023 do local v = im[base + k]; a = a + v; b = b + v * v end
        cs1[ch + 1], cs2[ch + 1] = cs1[ch + 1] + a, cs2[ch + 1] + b
      end
    end
    local m = 50000 * 1024
    for ch = 0, 2 do
      local mean = cs1[ch + 1] / m
      local std = math.sqrt((cs2[ch + 1] - cs1[ch + 1] * mean) / (m - 1))
      assert.is_true(math.abs(c.mean:data()[ch * 1024] - mean) < 1e-3)
      assert.is_true(math.abs(c.mean:data()[ch * 1024 + 1023] - mean) < 1e-3)
      assert.is_true(math.abs(c.std:data()[ch * 1024 + 7] - std) < 1e-3)
    end
    local x = c.train:batch(1, 5000)
    for ch = 1, 3 do
      local p = x:select(2, ch):contiguous()
      local s, q, n2, dp = 0, 0, p:nElement(), p:data()
      for k = 0, n2 - 1 do s = s + dp[k]; q = q + dp[k] * dp[k] end
      assert.is_true(math.abs(s / n2) < 0.05)
      assert.is_true(math.abs(math.sqrt(q / n2 - (s / n2) ^ 2) - 1) < 0.05)
    end
  end)
end)

end

describe('CIFAR-10 on small files: options, the split, bad input', function()
  local tmp
  before_each(function() tmp = files.tmpdir() end)
  after_each(function() files.rmtree(tmp) end)

  it('rejects unknown options and bad values, with no Lua position in the message', function()
    files.cifar10_dir(tmp, 5)
    local function try(o)
      o.dir, o.strictCounts, o.download, o.nVal = o.dir or tmp, false, false, o.nVal or 5
      local ok, err = pcall(data.cifar10, o)
      assert.is_false(ok)
      assert.is_nil(err:find('%.lua:%d+:'), err)
      return err
    end
    assert.matches('unknown option nval', try{ nval = 10 })
    assert.matches("preprocess must be 'pixel' or 'channel'", try{ preprocess = 'zca' })
    assert.matches('nVal must be an integer in 0..24', try{ nVal = 25 })
    assert.matches("split must be 'seeded' or 'torch7'", try{ split = 'random' })
    assert.matches('trainSubset must be an integer in 1..20', try{ trainSubset = 0 })
    assert.matches('unknown option label', try{ label = 'fine' })
  end)

  it('names the folders it looked in and a download command when the data is missing', function()
    local ok, err = pcall(data.cifar10, { dir = tmp .. '/nowhere', download = false })
    assert.is_false(ok)
    assert.matches('^fathom%.data: cannot find CIFAR%-10: no data_batch_1%.bin in ' .. tmp ..
                   '/nowhere/cifar%-10%-batches%-bin or ' .. tmp .. '/nowhere %(from %-data%)', err)
    assert.matches('Download it with /%S+/bin/fathom%-data cifar10 \'' .. tmp .. '/nowhere\'', err)
    assert.matches('or pass %-data DIR / set FATHOM_DATA=DIR', err)
    assert.is_nil(err:find('%.lua:%d+:'))
    assert.is_false(data.fs.isdir(tmp .. '/nowhere')) -- looking creates nothing
  end)

  it('splits small files as the paper: disjoint, covering, validation = the last nVal of the permutation', function()
    files.cifar10_dir(tmp, 40, 10)
    local s = data.cifar10{ dir = tmp, strictCounts = false, nVal = 30, seed = 3 }
    assert.are.equal(tmp .. '/cifar-10-batches-bin', s.dir)
    assert.are.equal(170, s.train:size())
    assert.are.equal(30, s.val:size())
    local seen = {}
    for _, set in ipairs({ s.train, s.val }) do
      local ix = set.index:data()
      for i = 0, set:size() - 1 do
        local r = tonumber(ix[i])
        assert(not seen[r], 'row in both sets or twice: ' .. r)
        seen[r] = true
      end
    end
    for r = 0, 199 do assert(seen[r], 'row missing: ' .. r) end
    for i = 0, 29 do assert.are.equal(s.permutation:data()[170 + i], s.val.index:data()[i]) end
    for i = 0, 169 do assert.are.equal(s.permutation:data()[i], s.train.index:data()[i]) end
    -- the images are the files' records, in file order
    assert.are.equal(files.pixel(123, 2, 5, 7), s.train.images:data()[123 * 3072 + 2048 + 5 * 32 + 7])
    assert.are.equal(123 % 10 + 1, s.train.labels:data()[123] + 1)
    assert.are.equal('truck', s.classNames[10])
    -- another seed, another split
    local t = data.cifar10{ dir = tmp, strictCounts = false, nVal = 30, seed = 4 }
    local same = 0
    for i = 0, 29 do same = same + (t.val.index:data()[i] == s.val.index:data()[i] and 1 or 0) end
    assert.is_true(same < 10)
  end)

  it("normalises with the training split's statistics ('pixel' and 'channel'), the same for val and test", function()
    files.cifar10_dir(tmp, 20, 10)
    for _, pre in ipairs({ 'pixel', 'channel' }) do
      local s = data.cifar10{ dir = tmp, strictCounts = false, nVal = 20, preprocess = pre }
      -- the mean of pixel k over the training rows, in plain Lua
      local img, ix, n = s.train.images:data(), s.train.index:data(), s.train:size()
      for _, k in ipairs({ 0, 1500, 3071 }) do
        local sum = 0
        if pre == 'pixel' then
          for i = 0, n - 1 do sum = sum + img[tonumber(ix[i]) * 3072 + k] end
          assert.is_true(math.abs(s.mean:data()[k] - sum / n) < 1e-4)
        else
          local ch = math.floor(k / 1024)
          for i = 0, n - 1 do
            for j = 0, 1023 do sum = sum + img[tonumber(ix[i]) * 3072 + ch * 1024 + j] end
          end
          assert.is_true(math.abs(s.mean:data()[k] - sum / (n * 1024)) < 1e-3)
        end
      end
      for _, set in ipairs({ s.train, s.val, s.test }) do
        local x, y = set:get(3)
        local row = set:row(3)
        for _, k in ipairs({ 0, 5, 1023, 1024, 3071 }) do
          local raw = set.images:data()[row * 3072 + k]
          assert.is_true(math.abs(x:data()[k] - (raw - s.mean:data()[k]) / s.std:data()[k]) < 1e-5)
        end
        assert.are.equal(tonumber(set.labels:data()[row]) + 1, y)
      end
    end
  end)

  local function cifar10_dir(opts)
    local cd = files.mkdir(tmp .. '/cifar-10-batches-bin')
    for b = 1, 5 do files.cifar_bin(cd .. '/data_batch_' .. b .. '.bin', { 1, 2, 3, b }) end
    files.cifar_bin(cd .. '/test_batch.bin', { 0, 9 })
    return cd
  end

  it('reads small files with strictCounts = false, and prefers test_batch.bin', function()
    local cd = cifar10_dir()
    local s = data.cifar10{ dir = tmp, strictCounts = false, nVal = 4 }
    assert.are.equal(16, s.train:size())
    assert.are.equal('test_batch.bin', s.testName)
    assert.are.equal(2, s.test:size())
    assert.are.equal(10, s.test:label(2))
    assert.are.equal(files.pixel(1, 0, 0, 5), s.test.images:data()[3072 + 5])
    -- strict counts (the default) reject them
    local ok, err = pcall(data.cifar10, { dir = tmp })
    assert.is_false(ok)
    assert.matches('data_batch_1.bin has 4 records %(12292 bytes%), expected 10000', err)
    assert.matches('truncated', err)
    assert.is_truthy(cd)
  end)

  it('reports truncated files, oversized files and labels out of range, naming the file', function()
    local cd = cifar10_dir()
    local f = cd .. '/data_batch_3.bin'
    files.write(f, files.read(f) .. 'xyz')
    local ok, err = pcall(data.cifar10, { dir = tmp, strictCounts = false })
    assert.is_false(ok)
    assert.matches('data_batch_3.bin is truncated or not a CIFAR file: 12295 bytes', err)
    files.cifar_bin(f, { 1, 2, 12 })
    ok, err = pcall(data.cifar10, { dir = tmp, strictCounts = false, nVal = 2 })
    assert.is_false(ok)
    assert.matches('data_batch_3.bin: record 2 %(byte offset 6146%) has label 12, outside 0..9', err)
    local n = ffi.new('int64_t[1]')
    assert.are.equal(1, C.ft_data_cifar_count(f, 1, 2, n))
    assert.matches('has 3 records.*expected 2.*oversized', ffi.string(C.ft_last_error()))
    files.write(f, '')
    ok, err = pcall(data.cifar10, { dir = tmp, strictCounts = false })
    assert.is_false(ok); assert.matches('data_batch_3.bin is empty', err)
    os.remove(f)
    ok, err = pcall(data.cifar10, { dir = tmp, strictCounts = false })
    assert.is_false(ok); assert.matches('cannot open .*data_batch_3.bin', err)
    os.remove(cd .. '/test_batch.bin')
    files.cifar_bin(f, { 1, 2, 3 })
    ok, err = pcall(data.cifar10, { dir = tmp, strictCounts = false, nVal = 2 })
    assert.is_false(ok); assert.matches('no test file in .*test_batch.bin, test_batch.first1000.bin', err)
  end)

  it('checks tensor arguments in C', function()
    local imgs, labs = fathom.ByteTensor(2, 3, 32, 32), fathom.LongTensor(2)
    local f = tmp .. '/five.bin'
    files.cifar_bin(f, { 1, 2, 3, 4, 5 })
    assert.are.equal(1, C.ft_data_cifar_read(f, 1, 0, 10, imgs.p, labs.p, 0))
    assert.matches('5 records of .* at row 0 do not fit in 2 rows', ffi.string(C.ft_last_error()))
    assert.are.equal(1, C.ft_data_cifar_read(f, 1, 0, 10, fathom.FloatTensor(5, 3, 32, 32).p, labs.p, 0))
    assert.matches('images must be uint8, got float32', ffi.string(C.ft_last_error()))
    assert.are.equal(1, C.ft_data_cifar_read(f, 3, 0, 10, imgs.p, labs.p, 0))
    assert.matches('label_bytes must be 1', ffi.string(C.ft_last_error()))
  end)
end)

describe('CIFAR-100 (synthetic files)', function()
  local tmp
  before_each(function()
    tmp = files.tmpdir()
    local cd = files.mkdir(tmp .. '/cifar-100-binary')
    local train, test = {}, {}
    for i = 0, 59 do train[#train + 1] = { i % 20, (i * 7) % 100 } end
    for i = 0, 9 do test[#test + 1] = { 19 - i, 99 - i } end
    files.cifar_bin(cd .. '/train.bin', train)
    files.cifar_bin(cd .. '/test.bin', test)
    local names = {}
    for i = 1, 100 do names[i] = 'fine' .. i end
    files.write(cd .. '/fine_label_names.txt', table.concat(names, '\n') .. '\n\n')
  end)
  after_each(function() files.rmtree(tmp) end)

  it('reads fine labels by default and coarse ones on request', function()
    local f = data.cifar100{ dir = tmp, strictCounts = false, nVal = 10 }
    assert.are.equal(100, f.nClasses)
    assert.are.equal(50, f.train:size())
    assert.are.equal(10, f.val:size())
    assert.are.equal('test.bin', f.testName)
    assert.are.equal(100, f.test:label(1))
    assert.are.equal('fine7', f.classNames[7])
    local row = f.train:row(3)
    assert.are.equal((row * 7) % 100 + 1, f.train:label(3))
    local c = data.cifar100{ dir = tmp, strictCounts = false, nVal = 10, label = 'coarse' }
    assert.are.equal(20, c.nClasses)
    assert.are.equal(row % 20 + 1, c.train:label(3))
    assert.are.equal(20, c.test:label(1))
    local ok, err = pcall(data.cifar100, { dir = tmp, label = 'both' })
    assert.is_false(ok); assert.matches("label must be 'fine' or 'coarse'", err)
  end)

  it('rejects a fine label of 100', function()
    files.cifar_bin(tmp .. '/cifar-100-binary/test.bin', { { 1, 2 }, { 3, 100 } })
    local ok, err = pcall(data.cifar100, { dir = tmp, strictCounts = false, nVal = 10 })
    assert.is_false(ok)
    assert.matches('test.bin: record 1 %(byte offset 3074%) has label 100, outside 0..99', err)
  end)
end)
