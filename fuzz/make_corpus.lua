-- fuzz/make_corpus.lua -- writes the seed corpora of the fuzzers, one folder per target:
-- small valid files of every form each parser reads, from the same writers the specs use
-- (spec/helpers/datafiles.lua, the library's JPEG writer, fathom.safetensors, ck.save).
--   luajit fuzz/make_corpus.lua OUTDIR    (from the source root, after make)
package.path = './?.lua;./spec/helpers/?.lua;' .. package.path
local ffi = require 'ffi'
local fathom = require 'fathom'
local files = require 'datafiles'
local st = require 'fathom.safetensors'
local ck = require 'fathom.checkpoint'
local nn = require 'fathom.nn'
local t7 = require 'fathom.t7'
local C = fathom.C

local out = assert(arg[1], 'usage: luajit fuzz/make_corpus.lua OUTDIR')
local function dir(name) return files.mkdir(out .. '/' .. name) end

-- real deflate (zlib's compress2), next to the helpers' stored blocks
local deflate = files.deflate

-- CIFAR: CIFAR-10 (1 label byte) and CIFAR-100 (2) records
local d = dir('cifar')
files.cifar_bin(d .. '/c10_1.bin', { 3 })
files.cifar_bin(d .. '/c10_2.bin', { 0, 9 })
files.cifar_bin(d .. '/c100_2.bin', { { 1, 2 }, { 19, 99 } })

-- SVHN .mat: plain, zlib stored blocks, real deflate, uint8 labels, y before X
d = dir('mat')
files.svhn_mat(d .. '/plain.mat', { 1, 10 })
files.svhn_mat(d .. '/stored.mat', { 5 }, { compress = true })
files.svhn_mat(d .. '/deflate.mat', { 2, 3 }, { compress = true, zlib = deflate })
files.svhn_mat(d .. '/uint8.mat', { 7 }, { ymi = 'uint8' })
files.svhn_mat(d .. '/reverse.mat', { 4 }, { reverse = true, compress = true, zlib = deflate })

-- PNG: every colour type the decoders expand, 8 and 16 bits
d = dir('png')
local function rgb(x, y) return (x * 40 + y) % 256, (y * 50 + 3) % 256, (x + y * 7) % 256 end
files.png(d .. '/rgb.png', 5, 4, 2, rgb)
files.png(d .. '/rgba.png', 3, 3, 6, function(x, y) local r, g, b = rgb(x, y) return r, g, b, 77 end)
files.png(d .. '/grey.png', 4, 2, 0, function(x, y) return x * 50 + y end)
files.png(d .. '/greya.png', 2, 3, 4, function(x, y) return x * 50 + y, 200 end)
files.png(d .. '/rgb16.png', 3, 2, 2, function(x, y) local r, g, b = rgb(x, y) return r * 257, g * 257, b * 257 end, 16)
files.png(d .. '/palette.png', 4, 4, 3, function(x, y) return (x + y) % 3 end, 8,
          { { 255, 0, 0 }, { 0, 128, 0 }, { 1, 2, 3 } })
do -- deflated by libpng, as real encoders write
  local img = fathom.ByteTensor(6, 6, 3)
  local px = ffi.cast('uint8_t*', C.ft_data(img.p))
  for i = 0, 6 * 6 * 3 - 1 do px[i] = (i * 11) % 256 end
  assert(C.ft_png_write(d .. '/deflated.png', img.p) == 0, ffi.string(C.ft_last_error()))
end

-- JPEG: the library's writer, several sizes and qualities (4:2:0 MCUs, partial MCUs)
d = dir('jpeg')
for _, c in ipairs({ { 8, 8, 90 }, { 17, 9, 50 }, { 33, 20, 10 }, { 3, 40, 100 } }) do
  local w, h, q = c[1], c[2], c[3]
  local img = fathom.ByteTensor(3, h, w)
  local p = ffi.cast('uint8_t*', C.ft_data(img.p))
  for i = 0, 3 * h * w - 1 do p[i] = (i * 7 + w) % 256 end
  assert(C.ft_data_image_write_jpeg(('%s/%dx%d_q%d.jpg'):format(d, w, h, q), img.p, q) == 0,
         ffi.string(C.ft_last_error()))
end

-- safetensors: each dtype, 0-d to 4-d, several tensors, metadata
d = dir('safetensors')
st.write(d .. '/float.safetensors', { { 'w', fathom.FloatTensor(2, 3):fill(1.5) } }, { format = 'pt' })
st.write(d .. '/mixed.safetensors', {
  { 'a.weight', fathom.DoubleTensor(3):fill(-2) }, { 'b.count', fathom.LongTensor(2, 2):fill(7) },
  { 'c.bytes', fathom.ByteTensor(1, 2, 1, 2):fill(9) } }, { producer = 'fathom', epoch = '3' })
st.write(d .. '/empty.safetensors', {}, nil)

-- checkpoint JSON: what ck.save writes for a small model
d = dir('checkpoint')
local run = files.tmpdir()
local model = nn.Sequential():add(nn.Linear(4, 3)):add(nn.ReLU()):add(nn.Linear(3, 2))
ck.save(run, { model = model, optimState = { dfdx = fathom.FloatTensor(23):fill(0.5), learningRate = 0.1 },
               epoch = 1, iteration = 4, info = { note = 'seed', rng = fathom.getRNGState(),
                                                  log = { { epoch = 1, trainLoss = 2.3 } } } })
files.write(d .. '/latest.json', files.read(run .. '/latest.json'))
files.rmtree(run)
-- Torch7 .t7: the hand-built fixture, and Fathom's writer in both formats: every element
-- type, a transposed view, a tensor shared twice, nested tables, and a small model whose
-- modules go through the reader's fix-ups (View, SpatialConvolution, batch normalization)
d = dir('t7')
files.write(d .. '/fixture.t7', files.read('spec/fixtures/table_tensor.t7'))
local shared = fathom.FloatTensor(2, 3):fill(0.25)
local values = {
  tensors = { fathom.DoubleTensor(3):fill(-1), fathom.LongTensor(2, 2):fill(7),
              fathom.ByteTensor(4):fill(200), shared, shared:t(), fathom.FloatTensor() },
  scalars = { 1.5, -0, true, false, 'text', { nested = { 1, 2, 3 } } },
}
local net = nn.Sequential():add(nn.SpatialConvolution(1, 2, 3, 3, 1, 1, 1, 1))
  :add(nn.SpatialBatchNormalization(2)):add(nn.ReLU()):add(nn.View(2 * 4 * 4))
  :add(nn.Linear(2 * 4 * 4, 3)):add(nn.BatchNormalization(3))
for _, format in ipairs({ 'binary', 'ascii' }) do
  files.write(('%s/values_%s.t7'):format(d, format), t7.serialize(values, format))
  files.write(('%s/model_%s.t7'):format(d, format), t7.serialize(net, format))
end

print('fuzz corpora in ' .. out)
