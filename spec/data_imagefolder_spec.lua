-- data_imagefolder_spec.lua -- PNG/JPEG decoding, fb.resnet.torch's transforms and image
-- folders, on files written here: PNGs by spec/helpers/datafiles.lua (independent of
-- libpng), JPEGs by ft_data_image_write_jpeg. Every bad-file case names the file.
local ffi = require 'ffi'
local fathom = require 'fathom'
local data = require 'fathom.data'
local files = require 'datafiles'
local C = fathom.C

local function decode(path)
  local out = ffi.new('ft_tensor*[1]')
  if C.ft_data_image_decode(path, out) ~= 0 then return nil, ffi.string(C.ft_last_error()) end
  return require('fathom.tensor').wrap(out[0])
end

local function rgb(x, y) return (x * 40 + y) % 256, (y * 50 + 3) % 256, (x + y * 7) % 256 end

describe('image decoding', function()
  local tmp
  before_each(function() tmp = files.tmpdir() end)
  after_each(function() files.rmtree(tmp) end)

  it('reads PNG in RGB, RGBA, grey, grey+alpha, 16-bit and palette forms', function()
    local W, H = 5, 4
    local cases = {
      { 2, function(x, y) return rgb(x, y) end, 8, nil, function(x, y) return rgb(x, y) end },
      { 6, function(x, y) local r, g, b = rgb(x, y) return r, g, b, 77 end, 8, nil, function(x, y) return rgb(x, y) end },
      { 0, function(x, y) return x * 50 + y end, 8, nil, function(x, y) local v = x * 50 + y return v, v, v end },
      { 4, function(x, y) return x * 50 + y, 200 end, 8, nil, function(x, y) local v = x * 50 + y return v, v, v end },
      { 2, function(x, y) local r, g, b = rgb(x, y) return r * 257, g * 257, b * 257 end, 16, nil,
        function(x, y) return rgb(x, y) end },
      { 3, function(x, y) return (x + y) % 3 end, 8, { { 255, 0, 0 }, { 0, 128, 0 }, { 1, 2, 3 } },
        function(x, y) local p = ({ { 255, 0, 0 }, { 0, 128, 0 }, { 1, 2, 3 } })[(x + y) % 3 + 1] return p[1], p[2], p[3] end },
    }
    for k, case in ipairs(cases) do
      local path = tmp .. '/img' .. k .. '.png'
      files.png(path, W, H, case[1], case[2], case[3], case[4])
      local t, err = decode(path)
      assert(t, err)
      assert.are.same({ 3, H, W }, { t:size(1), t:size(2), t:size(3) })
      for y = 0, H - 1 do for x = 0, W - 1 do
        local want = { case[5](x, y) }
        for c = 1, 3 do assert.are.equal(want[c], t[c][y + 1][x + 1]) end
      end end
      local w, h = ffi.new('int64_t[1]'), ffi.new('int64_t[1]')
      assert.are.equal(0, C.ft_data_image_probe(path, w, h))
      assert.are.same({ W, H }, { tonumber(w[0]), tonumber(h[0]) })
    end
  end)

  it('round-trips a smooth image through JPEG, and decodes by content whatever the extension', function()
    local img = fathom.ByteTensor(3, 24, 40)
    for c = 1, 3 do for y = 1, 24 do for x = 1, 40 do img[c][y][x] = 30 + x * 2 + y * 2 + c * 30 end end end
    local path = tmp .. '/photo.png' -- a JPEG named .png
    assert.are.equal(0, C.ft_data_image_write_jpeg(path, img.p, 95))
    assert.are.equal(0xFF, files.read(path):byte(1))
    local t = assert(decode(path))
    assert.are.same({ 3, 24, 40 }, { t:size(1), t:size(2), t:size(3) })
    local diff = (t:double() - img:double()):abs():mean()
    assert.is_true(diff < 2, 'mean abs difference ' .. diff)
    assert.are.equal(1, C.ft_data_image_write_jpeg(path, img.p, 0))
    assert.matches('quality must be 1..100', ffi.string(C.ft_last_error()))
  end)

  it('rejects other formats, truncated and corrupt files, naming them', function()
    local function fails(name, content, pattern)
      local path = tmp .. '/' .. name
      if content then files.write(path, content) end
      local t, err = decode(path)
      assert.is_nil(t)
      assert.matches(path:gsub('%p', '%%%0'), err)
      assert.matches(pattern, err)
    end
    fails('text.jpg', 'just some text', 'neither a PNG nor a JPEG file %(it starts with bytes 6a 75 73 74%)')
    fails('empty.png', '', 'is empty')
    fails('missing.png', nil, 'cannot open')
    local png = files.png(tmp .. '/ok.png', 30, 20, 2, rgb)
    fails('cut.png', png:sub(1, #png - 200), 'corrupt or truncated PNG')
    fails('crc.png', png:sub(1, 20) .. 'X' .. png:sub(22), 'corrupt or truncated PNG %(libpng: IHDR: CRC error%)')
    local img = fathom.ByteTensor(3, 64, 64)
    for c = 1, 3 do for y = 1, 64 do for x = 1, 64 do img[c][y][x] = (x * x * 7 + y * 13 + c * 91) % 256 end end end
    assert.are.equal(0, C.ft_data_image_write_jpeg(tmp .. '/ok.jpg', img.p, 90))
    local jpg = files.read(tmp .. '/ok.jpg')
    fails('cut.jpg', jpg:sub(1, math.floor(#jpg * 0.7)), 'truncated JPEG %(the data ends early%)')
    fails('garbage.jpg', jpg:sub(1, 3) .. string.rep('\0', 100), 'corrupt JPEG %(libjpeg:')
  end)
end)

-- folder: root/train/{ant,cat,dog}, root/val/{ant,cat,dog}; constant-colour images
local COLOURS = { ant = { 10, 200, 30 }, cat = { 250, 5, 128 }, dog = { 60, 60, 180 } }
local function build_folder(root, opts)
  opts = opts or {}
  for _, split in ipairs({ 'train', 'val' }) do
    for cname, col in pairs(COLOURS) do
      local dir = files.mkdir(root .. '/' .. split .. '/' .. cname)
      local n = split == 'train' and 4 or 2
      for i = 1, n do
        if i % 2 == 0 then
          local img = fathom.ByteTensor(3, 30, 40)
          for c = 1, 3 do img[c]:fill(col[c]) end
          assert(C.ft_data_image_write_jpeg(dir .. '/' .. i .. '.JPG', img.p, 100) == 0)
        else
          files.png(dir .. '/' .. i .. '.png', 40, 30, 2, function() return col[1], col[2], col[3] end)
        end
      end
      files.write(dir .. '/notes.txt', 'not an image')
    end
  end
  if opts.bad then files.write(root .. '/train/dog/broken.jpg', 'this is not a JPEG') end
end

describe('data.imagefolder', function()
  local tmp
  before_each(function() tmp = files.tmpdir() end)
  after_each(function() files.rmtree(tmp) end)

  it('lists directories sorted, with kinds', function()
    build_folder(tmp)
    local list = data.fs.list(tmp .. '/train/cat')
    assert.are.same({ '1.png', '2.JPG', '3.png', '4.JPG', 'notes.txt' },
                    { list[1].name, list[2].name, list[3].name, list[4].name, list[5].name })
    assert.are.equal('f', list[1].kind)
    assert.are.equal('d', data.fs.list(tmp)[1].kind)
    local l, err = data.fs.list(tmp .. '/none')
    assert.is_nil(l); assert.matches('cannot open directory .*none', err)
  end)

  it('finds classes (sorted) and images, skipping unreadable files with a count', function()
    build_folder(tmp, { bad = true })
    local d = data.imagefolder{ dir = tmp, size = 16, scale = 20, quiet = true }
    assert.are.same({ 'ant', 'cat', 'dog' }, d.classNames)
    assert.are.equal(3, d.nClasses)
    assert.are.equal(12, d.train:size())
    assert.are.equal(6, d.val:size())
    assert.are.equal(d.val, d.test)
    assert.are.equal('val', d.testName)
    assert.are.equal(1, #d.skipped)
    assert.matches('broken.jpg is neither a PNG nor a JPEG', d.skipped[1].reason)
    assert.are.same({ 4, 4, 4 }, d.train:classCounts())
    assert.are.equal(2, d.train:label(5))
    assert.matches('/train/cat/1.png$', d.train:path(5))
  end)

  it('counts the files that are not images and reports them in one line', function()
    local function stderr_of(fn)
      local real, text = io.stderr, {}
      io.stderr = { write = function(_, ...) for _, x in ipairs({ ... }) do text[#text + 1] = x end end }
      local ok, res = pcall(fn)
      io.stderr = real
      assert(ok, res)
      return res, table.concat(text)
    end
    local small = files.mkdir(tmp .. '/small/train/ants')
    files.png(small .. '/1.png', 8, 8, 2, rgb)
    files.write(small .. '/imageNotFound.gif', 'GIF89a')
    local d, said = stderr_of(function() return data.imagefolder{ dir = tmp .. '/small', size = 4, scale = 8 } end)
    assert.are.equal(1, d.train:size())
    assert.are.same({ 'train/ants/imageNotFound.gif' }, d.notImages)
    assert.are.equal('fathom.data.imagefolder: skipped 1 file that is not PNG/JPEG: train/ants/imageNotFound.gif\n', said)
    build_folder(tmp)
    files.write(tmp .. '/train/ant/imageNotFound.gif', 'GIF89a')
    files.write(tmp .. '/train/README', 'a file beside the class folders')
    d, said = stderr_of(function() return data.imagefolder{ dir = tmp, size = 16, scale = 20 } end)
    assert.are.equal(12, d.train:size())
    assert.are.equal(6, d.val:size())
    assert.are.same({ 'train/README', 'train/ant/imageNotFound.gif', 'train/ant/notes.txt', 'train/cat/notes.txt',
                      'train/dog/notes.txt', 'val/ant/notes.txt', 'val/cat/notes.txt', 'val/dog/notes.txt' }, d.notImages)
    assert.are.equal('fathom.data.imagefolder: skipped 8 files that are not PNG/JPEG: train/README, ' ..
                     'train/ant/imageNotFound.gif, train/ant/notes.txt, train/cat/notes.txt, train/dog/notes.txt, ' ..
                     'and 3 more\n', said)
    d, said = stderr_of(function() return data.imagefolder{ dir = tmp, size = 16, scale = 20, quiet = true } end)
    assert.are.equal(8, #d.notImages)
    assert.are.equal('', said)
  end)

  it("evaluates with Scale(scale) then CenterCrop(size), normalised per channel", function()
    build_folder(tmp)
    local d = data.imagefolder{ dir = tmp, size = 16, scale = 20, quiet = true }
    local mean, std = { 0.485, 0.456, 0.406 }, { 0.229, 0.224, 0.225 }
    local x, y = d.val:get(3) -- cat, a PNG of constant colour
    assert.are.equal(2, y)
    assert.are.same({ 3, 16, 16 }, { x:size(1), x:size(2), x:size(3) })
    for c = 1, 3 do
      local want = (COLOURS.cat[c] / 255 - mean[c]) / std[c]
      assert.is_true(math.abs(x[c][5][7] - want) < 1e-5)
    end
    -- geometry: a horizontal ramp 40x30 -> shorter side 20 gives 26x20 (Torch truncates),
    -- then the centre crop starts at x = ceil((26-16)/2) = 5; bicubic keeps a ramp a ramp
    local ramp = tmp .. '/val/ant/ramp.png'
    files.png(ramp, 40, 30, 0, function(xx) return xx * 6 end)
    local tf = d.transform
    local out = fathom.FloatTensor(3, 16, 16)
    assert.are.equal(0, C.ft_data_image_sample(ramp, tf, 0, nil, out.p))
    for xx = 0, 15 do
      local src = (xx + 5) * 39 / 25 -- end points aligned: dst x maps to x * (40-1)/(26-1)
      local want = (src * 6 / 255 - mean[1]) / std[1]
      assert.is_true(math.abs(out[1][8][xx + 1] - want) < 1e-4, 'x=' .. xx)
    end
  end)

  it("augments with fb.resnet.torch's training transform, deterministically", function()
    build_folder(tmp)
    local d = data.imagefolder{ dir = tmp, size = 16, scale = 20, quiet = true }
    local function sums(nt)
      local l = data.Loader(d.train, { batchSize = 5, nThreads = nt, seed = 4 })
      assert.is_true(l.augment)
      local t = {}
      for i, x, y in l:run(1) do
        assert.are.same({ 3, 16, 16 }, { x:size(2), x:size(3), x:size(4) })
        t[i] = x:sum() + y:sum() * 1000
      end
      return t
    end
    local a = sums(0)
    assert.are.equal(3, #a)
    assert.are.same(a, sums(2))
    -- brightness only: a constant image stays constant, scaled by alpha in [0.6, 1.4]
    local b = data.imagefolder{ dir = tmp, size = 16, scale = 20, quiet = true, contrast = 0,
                                saturation = 0, lighting = 0 }
    local l = data.Loader(b.train, { batchSize = 12, nThreads = 1, seed = 2 })
    local alphas = {}
    for _, x, y in l:run(1) do
      for j = 1, 12 do
        local cls = b.classNames[tonumber(y[j])]
        local v = x[j][1][3][3] * 0.229 + 0.485 -- back to [0,1]
        local alpha = v / (COLOURS[cls][1] / 255)
        assert.is_true(alpha >= 0.6 - 1e-4 and alpha <= 1.4 + 1e-4)
        assert.is_true(math.abs(x[j][1][1][1] - x[j][1][16][16]) < 1e-4)
        alphas[#alphas + 1] = alpha
      end
    end
    table.sort(alphas)
    assert.is_true(alphas[12] - alphas[1] > 0.1)
  end)

  it('zero-fills and counts files that fail while loading', function()
    build_folder(tmp)
    local path = tmp .. '/train/ant/5.png'
    local png = files.png(path, 40, 30, 2, rgb)
    files.write(path, png:sub(1, #png - 100)) -- header fine, data cut
    local d = data.imagefolder{ dir = tmp, size = 16, scale = 20, quiet = true }
    assert.are.equal(13, d.train:size())
    local l = data.Loader(d.train, { batchSize = 13, nThreads = 2, augment = false, shuffle = false })
    for _, x in l:run(1) do assert.are.equal(0, x[5]:abs():sum()) end
    local n, msg = l:failures()
    assert.are.equal(1, n)
    assert.matches('5.png: corrupt or truncated PNG', msg)
    local full = data.imagefolder{ dir = tmp, size = 16, scale = 20, quiet = true, check = 'full' }
    assert.are.equal(12, full.train:size())
    assert.are.equal(1, #full.skipped)
  end)

  it('reports missing folders, empty folders and unknown classes', function()
    local ok, err = pcall(data.imagefolder, { dir = tmp .. '/none' })
    assert.is_false(ok); assert.matches('cannot open directory', err)
    ok, err = pcall(data.imagefolder, { dir = '' })
    assert.is_false(ok); assert.matches('dir must be the image folder', err)
    ok, err = pcall(data.locate, 'imagenet', tmp)
    assert.is_false(ok)
    assert.matches('^fathom%.data: cannot find ImageNet: no train/ folder in ' .. tmp .. '/imagenet or ' .. tmp, err)
    assert.matches('cannot be downloaded automatically', err)
    ok, err = pcall(data.imagefolder, { dir = tmp })
    assert.is_false(ok); assert.matches('no class folders in', err)
    build_folder(tmp)
    files.mkdir(tmp .. '/val/zebra')
    ok, err = pcall(data.imagefolder, { dir = tmp, quiet = true })
    assert.is_false(ok); assert.matches('class folder "zebra" that the training folder does not have', err)
    ok, err = pcall(data.imagefolder, { dir = tmp, size = 300, quiet = true })
    assert.is_false(ok); assert.matches('need 1 <= size <= scale', err)
    ok, err = pcall(data.imagefolder, { dir = tmp, check = 'some' })
    assert.is_false(ok); assert.matches("check must be 'header', 'full' or 'none'", err)
  end)
end)
