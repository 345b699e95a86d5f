-- data_loader_spec.lua -- the threaded batch loader on CIFAR-10 files in the official format
-- written here (8,000 training images: 3,000 train and 5,000 validation, 1,000 test):
-- shapes, augmentation (a crop is a shifted copy with zero fill, flips), determinism per
-- seed whatever the thread count, shuffling per epoch, exact resume.
local ffi = require 'ffi'
local fathom = require 'fathom'
local data = require 'fathom.data'
local files = require 'datafiles'

local tmp = files.tmpdir()
files.cifar10_dir(tmp, 1600, 1000)
local d = data.cifar10{ dir = tmp, strictCounts = false, download = false }
files.rmtree(tmp) -- everything is in memory now

-- An order-sensitive checksum of a batch (inputs and targets).
local function checksum(x, y)
  local p, s = x:data(), 0
  for k = 0, x:nElement() - 1 do s = s + p[k] * (k % 1013 + 1) end
  for k = 0, y:nElement() - 1 do s = s + tonumber(y:data()[k]) * (k + 7) end
  return s
end

local function epoch_sums(loader, epoch)
  local sums = {}
  for i, x, y in loader:run(epoch) do sums[i] = checksum(x, y) end
  return sums
end

describe('data.Loader', function()
  it('hands out contiguous float [B,3,32,32] inputs and 1-based long targets; counts batches', function()
    local l = data.Loader(d.val, { batchSize = 128, nThreads = 2, seed = 1 })
    assert.is_false(l.augment or l.shuffle) -- evaluation splits: neither by default
    local lt = data.Loader(d.train)
    assert.is_true(lt.augment and lt.shuffle)
    assert.are.equal(24, lt:size())          -- batch 128 by default
    assert.are.equal(40, l:size())
    local n, last = 0, nil
    for i, x, y in l:run(1) do
      assert.are.equal(n / 128 + 1, i)
      assert.is_true(x:isContiguous())
      assert.are.equal('fathom.FloatTensor', x:type())
      assert.are.equal('fathom.LongTensor', y:type())
      assert.are.equal(x:size(1), y:size(1))
      assert.are.same({ 3, 32, 32 }, { x:size(2), x:size(3), x:size(4) })
      for k = 0, y:size(1) - 1 do
        local v = tonumber(y:data()[k])
        assert(v >= 1 and v <= 10, 'target out of range')
      end
      n, last = n + x:size(1), x:size(1)
    end
    assert.are.equal(5000, n)
    assert.are.equal(5000 - 39 * 128, last)
    local dl = data.Loader(d.val, { batchSize = 128, dropLast = true, nThreads = 1 })
    assert.are.equal(39, dl:size())
    local m = 0
    for _, x in dl:run(1) do m = m + 1; assert.are.equal(128, x:size(1)) end
    assert.are.equal(39, m)
  end)

  it('without shuffle or augmentation gives the dataset in order', function()
    local l = data.Loader(d.test, { batchSize = 100, shuffle = false, augment = false, nThreads = 2 })
    for i, x, y in l:run(1) do
      local ex, ey = d.test:batch((i - 1) * 100 + 1, 100)
      assert.is_true(x:equal(ex))
      assert.is_true(y:equal(ey))
    end
  end)

  it('augments by a zero-filled shift of up to 4 pixels and a flip, after normalisation', function()
    local l = data.Loader(d.train, { batchSize = 250, nThreads = 2, seed = 11, augment = true })
    local seen, flips, total, zero_shift = {}, 0, 0, 0
    for i, x, y in l:run(3) do
      for j = 1, x:size(1) do
        local pos = (i - 1) * 250 + j
        local row, dy, dx, flip = l:plan(3, pos)
        assert(dy >= -4 and dy <= 4 and dx >= -4 and dx <= 4, 'shift out of range')
        seen[dy * 10 + dx] = true
        flips, total = flips + flip, total + 1
        if dy == 0 and dx == 0 then zero_shift = zero_shift + 1 end
        assert.are.equal(tonumber(d.train.labels:data()[row]) + 1, tonumber(y:data()[j - 1]))
        if j <= 12 then -- compare pixel by pixel with a shift computed here
          local base = fathom.FloatTensor(3, 32, 32)
          local rows = fathom.LongTensor(1); rows:data()[0] = row
          fathom.C.ft_data_gather(d.train.images.p, d.train.labels.p, rows.p, nil, d.mean.p,
                                  d.std.p, base:view(1, 3, 32, 32).p, nil)
          local b, o = base:data(), x:select(1, j):contiguous():data()
          for c = 0, 2 do for yy = 0, 31 do for xx = 0, 31 do
            local sy, sx = yy + dy, (flip == 1 and 31 - xx or xx) + dx
            local want = (sy < 0 or sy > 31 or sx < 0 or sx > 31) and 0 or b[(c * 32 + sy) * 32 + sx]
            if o[(c * 32 + yy) * 32 + xx] ~= want then
              error(('sample %d (dy %d dx %d flip %d) differs at %d,%d,%d'):format(pos, dy, dx, flip, c, yy, xx))
            end
          end end end
        end
      end
    end
    local kinds = 0
    for _ in pairs(seen) do kinds = kinds + 1 end
    assert.are.equal(81, kinds)             -- every shift in [-4,4]^2 occurs
    assert.is_true(math.abs(flips / total - 0.5) < 0.04)
    assert.is_true(math.abs(zero_shift / total - 1 / 81) < 0.01)
  end)

  it('gives the same batches for the same seed, whatever the number of threads', function()
    local ref = epoch_sums(data.Loader(d.train, { batchSize = 128, nThreads = 0, seed = 5 }), 1)
    assert.are.equal(24, #ref)
    for _, nt in ipairs({ 1, 2, 3 }) do
      local got = epoch_sums(data.Loader(d.train, { batchSize = 128, nThreads = nt, seed = 5, prefetch = 3 }), 1)
      assert.are.same(ref, got)
    end
    local other = epoch_sums(data.Loader(d.train, { batchSize = 128, nThreads = 2, seed = 6 }), 1)
    assert.are_not.same(ref[1], other[1])
  end)

  it('shuffles every epoch, visiting each sample once per epoch', function()
    local l = data.Loader(d.train, { batchSize = 128, nThreads = 2, seed = 1, augment = false })
    local orders = {}
    for e = 1, 2 do
      local rows, seen = {}, {}
      for p = 1, 3000 do
        local row = l:plan(e, p)
        assert.is_nil(seen[row]); seen[row] = true
        rows[p] = row
      end
      orders[e] = rows
    end
    local same = 0
    for p = 1, 3000 do same = same + (orders[1][p] == orders[2][p] and 1 or 0) end
    assert.is_true(same < 20)
    -- the batches follow the plan
    for i, _, y in l:run(2) do
      for j = 0, y:size(1) - 1 do
        local row = orders[2][(i - 1) * 128 + j + 1]
        assert.are.equal(tonumber(d.train.labels:data()[row]) + 1, tonumber(y:data()[j]))
      end
    end
  end)

  it('resumes mid-epoch with identical batches, from a plain-number state', function()
    local opts = { batchSize = 100, nThreads = 2, seed = 9 }
    local full = epoch_sums(data.Loader(d.train, opts), 4)
    local a = data.Loader(d.train, opts)
    a:setState({ epoch = 4, position = 0, seed = 9 })
    for i in a:run() do if i == 7 then break end end
    local state = a:getState()
    assert.are.same({ epoch = 4, position = 7, seed = 9, batchSize = 100, size = 3000 }, state)
    local b = data.Loader(d.train, { batchSize = 100, nThreads = 1, seed = 1 }) -- seed comes from the state
    b:setState(state)
    local n = 0
    for i, x, y in b:run() do
      assert.are.equal(full[i], checksum(x, y))
      n = n + 1
    end
    assert.are.equal(23, n)
    assert.are.same({ epoch = 5, position = 0, seed = 9, batchSize = 100, size = 3000 }, b:getState())
    -- the next epoch continues as an uninterrupted run would
    local c = data.Loader(d.train, opts)
    assert.are.same(epoch_sums(c, 5), epoch_sums(b, nil))
  end)

  it('shards every batch over ranks: rank k builds exactly its rows of the 1-process batch', function()
    -- 3000 training images, batch 128: 24 batches, the last of 56
    for _, B in ipairs({ 128 }) do
      local full = data.Loader(d.train, { batchSize = B, seed = 9, nThreads = 1 })
      local ref = {}
      for i, x, y in full:run(3) do ref[i] = { x:clone(), y:clone() } end
      for _, K in ipairs({ 2, 3 }) do
        local covered = {}
        for k = 0, K - 1 do
          local l = data.Loader(d.train, { batchSize = B, seed = 9, nThreads = k % 2 * 2, rank = k, ranks = K })
          assert.are.equal(full:size(), l:size())
          for i, x, y in l:run(3) do
            local n, offset, count = l:shard(i)
            assert.are.equal(ref[i][1]:size(1), n)
            assert.are.same({ (require 'fathom.distributed').shard(n, k, K) }, { offset + 1, count })
            assert.are.equal(count, x:size(1))
            assert.are.equal(0, (ref[i][1]:narrow(1, offset + 1, count) - x):abs():max())
            assert.are.equal(0, (ref[i][2]:narrow(1, offset + 1, count) - y):abs():max())
            covered[i] = (covered[i] or 0) + count
          end
        end
        for i = 1, full:size() do assert.are.equal(ref[i][1]:size(1), covered[i]) end
      end
    end
    assert.has_error(function() data.Loader(d.train, { batchSize = 2999, rank = 0, ranks = 2 }) end,
      'fathom.data.Loader: ft_loader_new: a batch of 1 samples cannot be split over 2 ranks (batch size 2999, ' ..
      '3000 samples): every rank needs at least one; choose another batch size')
    assert.has_error(function() data.Loader(d.train, { rank = 2, ranks = 2 }) end,
      'fathom.data.Loader: rank must be an integer in 0..1, got 2')
  end)

  it('rejects bad arguments and stale iterators with clear errors', function()
    local ok, err = pcall(data.Loader, nil, {})
    assert.is_false(ok); assert.matches('first argument must be a dataset', err)
    ok, err = pcall(data.Loader, d.val, { batchsize = 10 })
    assert.is_false(ok); assert.matches('unknown option batchsize', err)
    ok, err = pcall(data.Loader, d.val, { batchSize = 0 })
    assert.is_false(ok); assert.matches('batchSize must be an integer', err)
    ok, err = pcall(data.Loader, d.val, { shuffle = 1 })
    assert.is_false(ok); assert.matches('shuffle must be a boolean', err)
    ok, err = pcall(data.Loader, d.test, { batchSize = 2000, dropLast = true })
    assert.is_false(ok); assert.matches('leaves no batch', err)
    local l = data.Loader(d.val, { batchSize = 1000 })
    ok, err = pcall(l.setState, l, { epoch = 1, position = 0, seed = 1, batchSize = 10 })
    assert.is_false(ok); assert.matches('saved with batchSize = 10, this loader has 1000', err)
    ok, err = pcall(l.setState, l, { epoch = 1, position = 6, seed = 1 })
    assert.is_false(ok); assert.matches('position 6 is past the 5 batches', err)
    local it1 = l:run(1)
    it1()
    local it2 = l:run(2)
    it2()
    ok, err = pcall(it1)
    assert.is_false(ok); assert.matches('restarted by another run', err)
    ok, err = pcall(l.run, l, -1)
    assert.is_false(ok); assert.matches('epoch must be a non%-negative integer', err)
  end)

  it('frees its buffers and threads when collected', function()
    collectgarbage(); collectgarbage()
    local bytes0, live0 = fathom.memory()
    do
      local l = data.Loader(d.train, { batchSize = 64, nThreads = 2 })
      for i in l:run(1) do if i == 3 then break end end -- workers still prefetching
    end
    collectgarbage(); collectgarbage()
    local bytes1, live1 = fathom.memory()
    assert.are.equal(bytes0, bytes1)
    assert.are.equal(live0, live1)
  end)

  it('has C entry points that reject NULL arguments with a message', function()
    local C = fathom.C
    local n = ffi.new('int64_t[1]')
    local cases = {
      { function() return C.ft_data_cifar_count(nil, 1, 0, n) end, 'ft_data_cifar_count: path or records is NULL' },
      { function() return C.ft_data_cifar_read('x', 1, 0, 10, nil, nil, 0) end, 'ft_data_cifar_read: images is NULL' },
      { function() return C.ft_data_svhn_count(nil, n) end, 'ft_data_svhn_count: path or count is NULL' },
      { function() return C.ft_data_svhn_read(nil, nil, nil, 0) end, 'ft_data_svhn_read: path is NULL' },
      { function() return C.ft_data_stats(nil, nil, 0, nil, nil) end, 'ft_data_stats: images is NULL' },
      { function() return C.ft_data_gather(nil, nil, nil, nil, nil, nil, nil, nil) end, 'ft_data_gather: images is NULL' },
      { function() return C.ft_data_list_dir(nil, nil, 0, n, n) end, 'ft_data_list_dir: path, needed or count is NULL' },
      { function() return C.ft_data_image_probe(nil, n, n) end, 'ft_data_image_probe: path is NULL' },
      { function() return C.ft_data_image_decode('x', nil) end, 'ft_data_image_decode: out is NULL' },
      { function() return C.ft_data_image_write_jpeg(nil, nil, 90) end, 'ft_data_image_write_jpeg: path is NULL' },
      { function() return C.ft_data_image_sample('x', nil, 0, nil, nil) end, 'ft_data_image_sample: transform is NULL' },
      { function() return C.ft_loader_new(nil, nil) end, 'ft_loader_new: out is NULL' },
      { function() return C.ft_loader_start(nil, 1, 1, 0) end, 'ft_loader_start: loader is NULL' },
      { function() return C.ft_loader_next(nil, nil, nil, nil) end, 'ft_loader_next: an argument is NULL' },
      { function() return C.ft_loader_slot(nil, 0, nil, nil) end, 'ft_loader_slot: loader, inputs or targets is NULL' },
      { function() return C.ft_loader_plan(nil, 1, 1, 0, nil, nil) end, 'ft_loader_plan: loader, row or params is NULL' },
    }
    for _, c in ipairs(cases) do
      assert.are.equal(1, c[1]())
      assert.matches(c[2], ffi.string(C.ft_last_error()), 1, true)
    end
    assert.are.equal(0, tonumber(C.ft_loader_batches(nil)))
    C.ft_loader_free(nil)
  end)

  it('checks its configuration in C too', function()
    local cfg = ffi.new('ft_loader_config')
    local out = ffi.new('ft_loader*[1]')
    cfg.batch_size, cfg.prefetch = 4, 1
    cfg.labels, cfg.index = d.train.labels.p, d.train.index.p
    cfg.images, cfg.mean, cfg.std = d.train.images.p, d.mean.p, fathom.FloatTensor(3, 32, 31).p
    assert.are.equal(1, fathom.C.ft_loader_new(out, cfg))
    assert.matches('std must have the shape of one image', ffi.string(fathom.C.ft_last_error()))
    local bad = fathom.LongTensor(2); bad:data()[0] = 0; bad:data()[1] = 8000
    cfg.std, cfg.index = d.std.p, bad.p
    assert.are.equal(1, fathom.C.ft_loader_new(out, cfg))
    assert.matches('index%[1%] = 8000 is outside 0..7999', ffi.string(fathom.C.ft_last_error()))
  end)
end)
