-- hardening_spec.lua -- bad input through the public C entry points (fathom.C is public):
-- a thread count libgomp cannot take, offsets and strides whose sums overflow 64 bits,
-- images whose header declares far more pixels than the file can hold, an empty folder.
-- Each case used to crash, corrupt the heap or allocate gigabytes; the ones that crashed
-- run in a child process, so a regression shows as a failed test, not a dead suite.
local ffi = require 'ffi'
local fathom = require 'fathom'
local files = require 'datafiles'
local C = fathom.C

local INT64_MAX = ffi.new('int64_t', 0x7fffffffffffffffLL)

local function last_error() return ffi.string(C.ft_last_error()) end

-- Runs `code` (Lua, with fathom, ffi and C in scope) in a child luajit; returns its exit
-- status and output. The child prints "OK <message>" when the call failed cleanly.
local function child(code)
  local tmp = os.tmpname()
  files.write(tmp, ('package.path = "./?.lua;" .. package.path\nlocal ffi = require "ffi"\n' ..
                    'local fathom = require "fathom"\nlocal C = fathom.C\n%s\n'):format(code))
  local p = io.popen(("luajit '%s' 2>&1; echo \"rc=$?\""):format(tmp))
  local out = p:read('*a')
  p:close()
  os.remove(tmp)
  return tonumber(out:match('rc=(%d+)%s*$')), out
end

local function expect_clean_failure(code, parts)
  local rc, out = child(code)
  assert.are.equal(0, rc, 'child crashed or failed: ' .. out)
  assert.is_truthy(out:find('OK ', 1, true), 'the call should have failed cleanly: ' .. out)
  for _, p in ipairs(parts) do
    assert.is_truthy(out:find(p, 1, true), ('output %q should mention %q'):format(out, p))
  end
end

describe('threads', function()
  it('refuses more than a few threads per core, with the bound in the message', function()
    local max = C.ft_max_num_threads()
    assert.is_true(max >= 4 and max <= 1024)
    expect_clean_failure([[
      local st = C.ft_set_num_threads(100000)
      if st ~= 0 then print('OK ' .. ffi.string(C.ft_last_error())) end]],
      { 'ft_set_num_threads', '100000 threads requested', 'at most ' .. max })
    expect_clean_failure(([[
      local st = C.ft_set_num_threads(%d)
      if st ~= 0 then print('OK ' .. ffi.string(C.ft_last_error())) end]]):format(max + 1),
      { 'at most ' .. max })
  end)

  it('still takes the bound itself', function()
    local before = C.ft_get_num_threads()
    assert.are.equal(0, C.ft_set_num_threads(C.ft_max_num_threads()), last_error())
    assert.are.equal(0, C.ft_set_num_threads(before))
  end)
end)

describe('offsets and strides that overflow 64 bits', function()
  local tmp
  before_each(function() tmp = files.tmpdir() end)
  after_each(function() files.rmtree(tmp) end)

  it('ft_data_cifar_read refuses offset INT64_MAX instead of writing before the buffer', function()
    local path = tmp .. '/b.bin'
    files.cifar_bin(path, { 1, 2 })
    expect_clean_failure(([[
      local images, labels = fathom.ByteTensor(4, 3, 32, 32), fathom.LongTensor(4)
      for _, off in ipairs({ 0x7fffffffffffffffLL, 0x7ffffffffffffffeLL, 3LL, -1LL }) do
        local st = C.ft_data_cifar_read(%q, 1, 0, 10, images.p, labels.p, off)
        if st == 0 then error('accepted offset ' .. tostring(off)) end
      end
      print('OK ' .. ffi.string(C.ft_last_error()))]]):format(path),
      { 'ft_data_cifar_read', 'do not fit in 4 rows' })
  end)

  it('ft_data_svhn_read refuses offset INT64_MAX (plain and zlib files)', function()
    for _, compress in ipairs({ false, true }) do
      local path = tmp .. '/s.mat'
      files.svhn_mat(path, { 1, 2, 3 }, { compress = compress })
      expect_clean_failure(([[
        local images, labels = fathom.ByteTensor(4, 3, 32, 32), fathom.LongTensor(4)
        for _, off in ipairs({ 0x7fffffffffffffffLL, 0x7ffffffffffffffdLL, 2LL }) do
          local st = C.ft_data_svhn_read(%q, images.p, labels.p, off)
          if st == 0 then error('accepted offset ' .. tostring(off)) end
        end
        print('OK ' .. ffi.string(C.ft_last_error()))]]):format(path),
        { 'ft_data_svhn_read', 'do not fit in 4 rows' })
    end
  end)

  it('ft_tensor_as_strided refuses a view whose extent overflows', function()
    expect_clean_failure([[
      local t = fathom.FloatTensor(16)
      local out = ffi.new('ft_tensor*[1]')
      local size = ffi.new('int64_t[2]', 3, 2)
      -- 2 * 2^62 + 1 * 2^62 wraps to a small number without checked arithmetic
      local stride = ffi.new('int64_t[2]', 0x4000000000000000LL, 0x4000000000000000LL)
      local st = C.ft_tensor_as_strided(out, t.p, 2, size, stride, 0)
      if st == 0 then
        local v = require('fathom.tensor').wrap(out[0])
        print('accepted; reading it: ' .. v:sum())
        os.exit(3)
      end
      print('OK ' .. ffi.string(C.ft_last_error()))]],
      { 'ft_tensor_as_strided', 'overflows 64 bits' })
  end)

  it('ft_tensor_narrow refuses start + length past INT64_MAX', function()
    expect_clean_failure([[
      local t = fathom.FloatTensor(4, 4)
      local out = ffi.new('ft_tensor*[1]')
      local st = C.ft_tensor_narrow(out, t.p, 0, 2, 0x7fffffffffffffffLL)
      if st == 0 then print('accepted a view of ' .. tostring(out[0].size[0]) .. ' rows') os.exit(3) end
      print('OK ' .. ffi.string(C.ft_last_error()))]],
      { 'ft_tensor_narrow', 'out of bounds for dimension 1 of size 4' })
    -- in range: still a view
    local out = ffi.new('ft_tensor*[1]')
    local t = fathom.FloatTensor(4, 4)
    assert.are.equal(0, C.ft_tensor_narrow(out, t.p, 0, 2, 2), last_error())
    assert.are.equal(2, tonumber(out[0].size[0]))
    C.ft_tensor_free(out[0])
  end)
end)

---------------------------------------------------------------- decompression bombs
local z = ffi.load('z')
local deflate = files.deflate
local function be32(v) return string.char(bit.band(bit.rshift(v, 24), 255), bit.band(bit.rshift(v, 16), 255),
                                          bit.band(bit.rshift(v, 8), 255), bit.band(v, 255)) end
local function crc32(s) return ffi.cast('uint32_t', z.crc32(0, s, #s)) end
ffi.cdef 'unsigned long crc32(unsigned long crc, const char *buf, unsigned int len);'
local function chunk(kind, payload)
  return be32(#payload) .. kind .. payload .. be32(tonumber(crc32(kind .. payload)))
end
-- grey 8-bit PNG of w x h, IDAT from `idat` (default: every pixel 0, deflated by zlib)
local function grey_png(path, w, h, idat)
  idat = idat or deflate(string.rep('\0', (w + 1) * h))
  local s = '\137PNG\r\n\26\n' .. chunk('IHDR', be32(w) .. be32(h) .. string.char(8, 0, 0, 0, 0)) ..
            chunk('IDAT', idat) .. chunk('IEND', '')
  files.write(path, s)
  return #s
end

local function jpeg(path, w, h)
  local img = fathom.ByteTensor(3, h, w)
  for i = 0, 3 * h * w - 1 do ffi.cast('uint8_t*', C.ft_data(img.p))[i] = (i * 7) % 256 end
  assert(C.ft_data_image_write_jpeg(path, img.p, 90) == 0, last_error())
  return files.read(path)
end
-- the same JPEG with its frame header (SOF0) declaring W x H instead
local function patch_sof(s, W, H)
  local at = s:find('\255\192', 3, true)
  assert(at, 'no SOF0 marker')
  local size = string.char(bit.rshift(H, 8), bit.band(H, 255), bit.rshift(W, 8), bit.band(W, 255))
  return s:sub(1, at + 4) .. size .. s:sub(at + 9)
end

local function decode(path)
  local out = ffi.new('ft_tensor*[1]')
  local before = C.ft_bytes_allocated()
  local st = C.ft_data_image_decode(path, out)
  if st ~= 0 then return nil, last_error(), before end
  return require('fathom.tensor').wrap(out[0])
end
local function png_read(path)
  local out = ffi.new('ft_tensor*[1]')
  if C.ft_png_read(out, path) ~= 0 then return nil, last_error() end
  return require('fathom.tensor').wrap(out[0])
end

describe('decompression bombs', function()
  local tmp
  before_each(function() tmp = files.tmpdir() end)
  after_each(function() files.rmtree(tmp) end)

  it('has a documented pixel limit, changed through ft_set_max_image_pixels', function()
    assert.are.equal(2 ^ 26, tonumber(C.ft_get_max_image_pixels()))
    local old = ffi.new('int64_t[1]')
    assert.are.equal(0, C.ft_set_max_image_pixels(1000, old))
    assert.are.equal(2 ^ 26, tonumber(old[0]))
    local path = tmp .. '/a.png'
    grey_png(path, 40, 30)
    local t, err = decode(path)
    assert.is_nil(t)
    assert.is_truthy(err:find('40x30 pixels is larger than the limit of 1000 pixels', 1, true), err)
    local _, err2 = png_read(path)
    assert.is_truthy(err2 and err2:find('limit of 1000 pixels', 1, true), err2)
    assert.are.equal(0, C.ft_set_max_image_pixels(old[0], nil))
    assert(decode(path))
    assert(png_read(path))
    assert.are_not.equal(0, C.ft_set_max_image_pixels(0, nil))
    assert.is_truthy(last_error():find('ft_set_max_image_pixels', 1, true))
  end)

  it('refuses a PNG declaring more pixels than the limit, from its header', function()
    local path = tmp .. '/huge.png'
    local bytes = grey_png(path, 30000, 30000, deflate(string.rep('\0', 30001)))
    assert.is_true(bytes < 200)
    for _, read in ipairs({ decode, png_read }) do
      local t, err = read(path)
      assert.is_nil(t)
      assert.is_truthy(err:find('30000x30000 pixels is larger than the limit', 1, true), err)
    end
  end)

  it('refuses a PNG too small for its declared size before allocating, keeps a legitimate one', function()
    local path = tmp .. '/bomb.png'
    local bytes = grey_png(path, 8000, 8000, deflate(string.rep('\0', 8001 * 10)))
    assert.is_true(bytes < 400)
    for _, read in ipairs({ decode, png_read }) do
      -- collect first: a collection during the read may free older tensors, never add bytes
      collectgarbage('collect') collectgarbage('collect')
      local before = C.ft_bytes_allocated()
      local t, err = read(path)
      assert.is_nil(t)
      assert.is_truthy(err:find('8000x8000 pixels cannot fit in ' .. bytes .. ' bytes', 1, true), err)
      assert.is_true(C.ft_bytes_allocated() <= before, 'the refused read allocated')
    end
    -- zlib's best effort on a flat image stays within deflate's 1032:1, so it is decoded
    local ok = tmp .. '/flat.png'
    grey_png(ok, 1024, 1024)
    local t = assert(decode(ok))
    assert.are.equal(0, t:double():sum())
    local u = assert(png_read(ok))
    assert.are.same({ 1024, 1024, 1 }, { u:size(1), u:size(2), u:size(3) })
  end)

  it('refuses a 600-byte JPEG declaring 32768x8192 pixels, with or without the limit', function()
    local small = jpeg(tmp .. '/small.jpg', 16, 16)
    local path = tmp .. '/bomb.jpg'
    files.write(path, patch_sof(small, 32768, 8192))
    local t, err = decode(path)
    assert.is_nil(t)
    assert.is_truthy(err:find('32768x8192 pixels is larger than the limit', 1, true), err)
    local old = ffi.new('int64_t[1]')
    assert.are.equal(0, C.ft_set_max_image_pixels(2 ^ 30, old))
    local t0 = os.clock()
    t, err = decode(path)
    C.ft_set_max_image_pixels(old[0], nil)
    assert.is_nil(t)
    assert.is_truthy(err:find('32768x8192 pixels cannot fit in ' .. #small .. ' bytes', 1, true), err)
    assert.is_true(os.clock() - t0 < 0.5, 'refused from the header, not after decoding')
  end)

  it('stops at the first sign of data ending early instead of decoding filler', function()
    local small = jpeg(tmp .. '/small.jpg', 16, 16)
    -- 128x128 fits the size bound for these bytes, but the data ends after 16x16
    local path = tmp .. '/short.jpg'
    files.write(path, patch_sof(small, 128, 128))
    local t, err = decode(path)
    assert.is_nil(t)
    assert.is_truthy(err:find('truncated JPEG (the data ends early)', 1, true), err)
    assert(decode(tmp .. '/small.jpg'))
  end)
end)

describe('ft_data_list_dir', function()
  it('lists an empty directory (no qsort of a NULL array)', function()
    local tmp = files.tmpdir()
    local needed, count = ffi.new('int64_t[1]', -1), ffi.new('int64_t[1]', -1)
    local st = C.ft_data_list_dir(tmp, nil, 0, needed, count)
    files.rmtree(tmp)
    assert.are.equal(0, st, last_error())
    assert.are.equal(0, tonumber(needed[0]))
    assert.are.equal(0, tonumber(count[0]))
  end)
end)

describe('ft_data_image_sample', function()
  it('refuses to scale a thin image past the pixel limit (an int overflow before)', function()
    local tmp = files.tmpdir()
    local path = tmp .. '/thin.png'
    grey_png(path, 4000, 1)
    local tf = ffi.new('ft_image_transform', { size = 8, scale = 30000, min_area = 0.08,
                                               std = { 1, 1, 1 } })
    local out = fathom.FloatTensor(3, 8, 8)
    local st = C.ft_data_image_sample(path, tf, 0, nil, out.p)
    files.rmtree(tmp)
    assert.are_not.equal(0, st)
    assert.is_truthy(last_error():find('cannot scale 4000x1 to 30000', 1, true), last_error())
    tf.scale = 100000
    assert.are_not.equal(0, C.ft_data_image_sample(path, tf, 0, nil, out.p))
    assert.is_truthy(last_error():find('transform scale must be <= 32768', 1, true), last_error())
  end)
end)

---------------------------------------------------------------- size and geometry arithmetic
-- Sizes, strides and geometry a caller passes through fathom.C, whose products or sums
-- overflowed before they were checked (found by the audit of RELIABILITY.md).
describe('size and geometry arithmetic', function()
  local BIG = ffi.new('int64_t', 0x4000000000000000LL) -- 2^62
  local function sizes(t) return ffi.new('int64_t[?]', #t, t) end
  local function refused(st, parts)
    assert.are_not.equal(0, st, 'the call should have failed')
    for _, p in ipairs(parts) do
      assert.is_truthy(last_error():find(p, 1, true), ('%q should mention %q'):format(last_error(), p))
    end
  end

  it('bounds the non-zero sizes of an empty tensor (its contiguous strides overflowed)', function()
    local out = ffi.new('ft_tensor*[1]')
    refused(C.ft_tensor_new(out, C.FT_FLOAT32, C.FT_CPU, 3, sizes { 0, BIG, BIG }),
            { 'ft_tensor_new', 'size too large' })
    local t = fathom.FloatTensor(0)
    refused(C.ft_tensor_view(out, t.p, 3, sizes { 0, BIG, BIG }), { 'ft_tensor_view', 'size too large' })
    -- an empty tensor with ordinary sizes is still made
    assert.are.equal(0, C.ft_tensor_new(out, C.FT_FLOAT32, C.FT_CPU, 3, sizes { 0, 1000, 1000 }), last_error())
    C.ft_tensor_free(out[0])
  end)

  it('ft_tensor_as_strided keeps an empty view within its storage (offset 2^62 before)', function()
    local t = fathom.FloatTensor(4)
    local out = ffi.new('ft_tensor*[1]')
    refused(C.ft_tensor_as_strided(out, t.p, 2, sizes { 0, 3 }, sizes { 1, 1 }, BIG),
            { 'ft_tensor_as_strided', 'view reaches element' })
    -- a stride of 2^62 along a non-empty dimension of an empty view: select stepped there
    refused(C.ft_tensor_as_strided(out, t.p, 2, sizes { 2, 0 }, sizes { BIG, 1 }, 0),
            { 'ft_tensor_as_strided', 'view reaches element' })
    -- an empty view just past the end, and an empty slice at the end, are still views
    assert.are.equal(0, C.ft_tensor_as_strided(out, t.p, 1, sizes { 0 }, sizes { 1 }, 4), last_error())
    C.ft_tensor_free(out[0])
    local m = fathom.FloatTensor(4, 3)
    assert.are.equal(0, C.ft_tensor_narrow(out, m.p, 0, 4, 0), last_error())
    assert.are.equal(0, C.ft_fill(out[0], 1))
    C.ft_tensor_free(out[0])
  end)

  it('names dimension INT_MAX + 1 without an int overflow in the message', function()
    local t = fathom.FloatTensor(2, 2)
    local out = ffi.new('ft_tensor*[1]')
    refused(C.ft_tensor_transpose(out, t.p, 0x7fffffff, 0), { 'dimension 2147483648 out of range' })
    refused(C.ft_reduce_dim(fathom.FloatTensor(2).p, nil, t.p, 0x7fffffff, 0),
            { 'dimension 2147483648 out of range' })
  end)

  it('ft_conv2d_* refuse a stride or padding beyond 32-bit geometry (stride INT_MAX segfaulted)', function()
    for _, case in ipairs({ { 0x7fffffff, 1 }, { 1, 0x7fffffff } }) do
      expect_clean_failure(([[
        local x, w, y = fathom.FloatTensor(1, 1, 4, 4), fathom.FloatTensor(1, 1, 3, 3), fathom.FloatTensor(1, 1, 1, 1)
        local s, p = %d, %d
        for _, call in ipairs({ function() return C.ft_conv2d_forward(x.p, y.p, w.p, nil, s, s, p, p) end,
                                function() return C.ft_conv2d_backward_input(y.p, x.p, w.p, s, s, p, p) end,
                                function() return C.ft_conv2d_backward_weight(x.p, y.p, w.p, nil, s, s, p, p, 1) end }) do
          if call() == 0 then print('accepted') os.exit(3) end
          io.write('OK ', ffi.string(C.ft_last_error()), '\n')
        end]]):format(case[1], case[2]), { 'ft_conv2d_forward', 'ft_conv2d_backward_input',
        'ft_conv2d_backward_weight', 'beyond 32-bit geometry' })
    end
  end)

  it('a residual block with a huge stride runs (the strided direct conv took 2^62 phases)', function()
    local rc, out = child([[
      local nn = require 'fathom.nn'
      for _, sc in ipairs({ 'B', 'subsample' }) do
        local m = nn.ResidualDrop(2, 4, 0x7fffffff, { shortcut = sc })
        local x = fathom.FloatTensor(2, 2, 8, 8):fill(1)
        local y = m:forward(x)
        local gi = m:backward(x, y:clone():fill(1))
        print(sc, y:size(3), y:size(4), gi:size(3))
      end]])
    assert.are.equal(0, rc, out)
    assert.is_truthy(out:find('B\t1\t1\t8') and out:find('subsample\t1\t1\t8'), out)
  end)

  it('a pooling shortcut whose window is larger than the input is refused (it read past the input)', function()
    expect_clean_failure([[
      local nn = require 'fathom.nn'
      local m = nn.ResidualDrop(2, 4, 16, { shortcut = 'A' })
      local ok, err = pcall(m.forward, m, fathom.FloatTensor(2, 2, 8, 8):fill(1))
      if not ok then print('OK ' .. tostring(err)) end]],
      { 'ft_resblock_forward', '16x16 pooling window is larger than input 2x2x8x8' })
  end)

  it('ft_data_gather refuses a shift past the image (y + dy overflowed)', function()
    local images, labels = fathom.ByteTensor(1, 3, 4, 4):zero(), fathom.LongTensor(1):zero()
    local mean, std = fathom.FloatTensor(3, 4, 4):zero(), fathom.FloatTensor(3, 4, 4):fill(1)
    local rows, out = fathom.LongTensor(1):zero(), fathom.FloatTensor(1, 3, 4, 4)
    for _, shift in ipairs({ { INT64_MAX, 0 }, { 0, -INT64_MAX }, { 5, 0 } }) do
      local params = fathom.LongTensor(1, 3):zero()
      ffi.cast('int64_t *', params:data())[0] = shift[1]
      ffi.cast('int64_t *', params:data())[1] = shift[2]
      refused(C.ft_data_gather(images.p, labels.p, rows.p, params.p, mean.p, std.p, out.p, nil),
              { 'ft_data_gather', 'shift', 'must be within the image' })
    end
    local params = fathom.LongTensor(1, 3):zero()
    ffi.cast('int64_t *', params:data())[0] = 4   -- a whole-image shift is fine: all zeros
    assert.are.equal(0, C.ft_data_gather(images.p, labels.p, rows.p, params.p, mean.p, std.p, out.p, nil))
    assert.are.equal(0, out:abs():sum())
  end)

  it('ft_loader_new refuses batch_size INT64_MAX (the batch count overflowed)', function()
    local images, labels = fathom.ByteTensor(2, 3, 4, 4):zero(), fathom.LongTensor(2):zero()
    local mean, std = fathom.FloatTensor(3, 4, 4):zero(), fathom.FloatTensor(3, 4, 4):fill(1)
    local index = fathom.LongTensor(2):zero()
    local cfg = ffi.new('ft_loader_config')
    cfg.images, cfg.labels, cfg.index, cfg.mean, cfg.std = images.p, labels.p, index.p, mean.p, std.p
    cfg.batch_size, cfg.prefetch = INT64_MAX, 1
    local l = ffi.new('ft_loader*[1]')
    refused(C.ft_loader_new(l, cfg), { 'ft_loader_new', 'batch_size must be 1..2^40' })
  end)

  it('ft_maxpool2d_forward checks pad <= kernel/2 without computing 2 * pad in int', function()
    local x, y, i = fathom.FloatTensor(1, 1, 4, 4), fathom.FloatTensor(1, 1, 1, 1), fathom.LongTensor(1, 1, 1, 1)
    refused(C.ft_maxpool2d_forward(x.p, y.p, i.p, 0x7fffffff, 0x7fffffff, 1, 1, 0x7fffffff, 0x7fffffff),
            { 'ft_maxpool2d_forward', 'padding must be in [0, kernel/2]' })
  end)
end)
