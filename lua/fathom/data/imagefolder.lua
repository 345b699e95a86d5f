-- fathom/data/imagefolder.lua -- image folders, ImageNet style.
--   local d = data.imagefolder{ dir = '/data/imagenet' }   -- dir/train/<class>/*.jpg, dir/val/...
-- dir holds train/ (and optionally val/), each with one folder per class; or dir itself
-- holds the class folders (then there is no d.val). Without dir: the imagenet/ folder of
-- the data root ($FATHOM_DATA, else data.defaultDir(); ImageNet is never downloaded).
-- Classes are the folder names sorted (strcmp); files ending .png, .jpg or .jpeg (any
-- case) are images, told apart by content; other files (.gif, .txt) are left out, listed
-- in d.notImages (relative to dir) and reported in one line.
-- Every image's header is read once here (check='header'; 'full' decodes it, 'none' skips
-- the check): an unreadable file is a warning, is left out, and is counted in d.skipped.
-- Samples: d.train:get(i) and the loader without augmentation use the evaluation transform
-- (shorter side to `scale` 256, centre crop `size` 224); the loader with augmentation uses
-- fb.resnet.torch's training transform (core/data/image.c). Colour statistics are
-- fb.resnet.torch's ImageNet values unless mean/std are given.
local ffi = require 'ffi'
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local fs = require 'fathom.data.fs'
local ds = require 'fathom.data.dataset'
local locate = require 'fathom.data.locate'
local C = F.C

local M = {}
local FN = 'fathom.data.imagefolder'

M.imagenet = {
  mean = { 0.485, 0.456, 0.406 }, std = { 0.229, 0.224, 0.225 },
  eigval = { 0.2175, 0.0188, 0.0045 },
  eigvec = { -0.5675, 0.7192, 0.4009, -0.5808, -0.0045, -0.8140, -0.5836, -0.6948, 0.4203 },
}

local OPTIONS = { 'dir', 'size', 'scale', 'minArea', 'brightness', 'contrast', 'saturation',
                  'lighting', 'flip', 'mean', 'std', 'check', 'quiet' }

local function is_image(name)
  local ext = name:match('%.([^.]+)$')
  ext = ext and ext:lower()
  return ext == 'png' or ext == 'jpg' or ext == 'jpeg'
end

function M.transform(opts)
  local tf = ffi.new('ft_image_transform')
  tf.size = opts.size or 224
  tf.scale = opts.scale or 256
  tf.min_area = opts.minArea or 0.08
  tf.brightness = opts.brightness or 0.4
  tf.contrast = opts.contrast or 0.4
  tf.saturation = opts.saturation or 0.4
  tf.lighting = opts.lighting or 0.1
  tf.flip = opts.flip or 0.5
  local mean, std = opts.mean or M.imagenet.mean, opts.std or M.imagenet.std
  for c = 0, 2 do
    tf.mean[c], tf.std[c], tf.eigval[c] = mean[c + 1], std[c + 1], M.imagenet.eigval[c + 1]
  end
  for k = 0, 8 do tf.eigvec[k] = M.imagenet.eigvec[k + 1] end
  if tf.size < 1 or tf.scale < tf.size then
    error(('%s: need 1 <= size <= scale, got size %d, scale %d'):format(FN, tf.size, tf.scale), 0)
  end
  return tf
end

-- Scans one split folder: paths, 0-based labels, skipped files.
local function scan(root, classes, classOf, check, quiet, name, ignored)
  local paths, labels, skipped = {}, {}, {}
  local w, h = ffi.new('int64_t[1]'), ffi.new('int64_t[1]')
  local entries, err = fs.list(root)
  if not entries then error(FN .. ': ' .. err, 0) end
  for _, e in ipairs(entries) do
    if e.kind == 'd' and not classOf[e.name] then
      error(('%s: %s has a class folder %q that %s'):format(FN, root, e.name,
            'the training folder does not have'), 0)
    elseif e.kind ~= 'd' then
      ignored[#ignored + 1] = fs.join(root, e.name)
    end
  end
  for ci, cname in ipairs(classes) do
    local cdir = fs.join(root, cname)
    local files = fs.list(cdir) or {}
    for _, e in ipairs(files) do
      local path = fs.join(cdir, e.name)
      if e.kind == 'f' and is_image(e.name) then
        local bad
        if check == 'header' and C.ft_data_image_probe(path, w, h) ~= 0 then
          bad = ffi.string(C.ft_last_error())
        elseif check == 'full' then
          local out = ffi.new('ft_tensor*[1]')
          if C.ft_data_image_decode(path, out) ~= 0 then bad = ffi.string(C.ft_last_error())
          else C.ft_tensor_free(out[0]) end
        end
        if bad then
          skipped[#skipped + 1] = { path = path, reason = bad }
          if not quiet then io.stderr:write(FN .. ': warning: skipping ' .. bad .. '\n') end
        else
          paths[#paths + 1] = path
          labels[#labels + 1] = ci - 1
        end
      else
        ignored[#ignored + 1] = path
      end
    end
  end
  if #paths == 0 then error(('%s: no readable images in %s'):format(FN, root), 0) end
  if #skipped > 0 and not quiet then
    io.stderr:write(('%s: %s: %d images in %d classes; %d unreadable file(s) skipped\n'):format(
                    FN, name, #paths, #classes, #skipped))
  end
  local lt = fathom.LongTensor(#labels)
  for i = 1, #labels do lt:data()[i - 1] = labels[i] end
  return paths, lt, skipped
end

-- One line for the files that are not images: how many, and which (the first few).
function M.notImagesLine(list)
  local n = #list
  local shown = {}
  for i = 1, math.min(n, 5) do shown[i] = list[i] end
  return ('%s: skipped %d %s not PNG/JPEG: %s%s'):format(FN, n,
         n == 1 and 'file that is' or 'files that are', table.concat(shown, ', '),
         n > 5 and (', and %d more'):format(n - 5) or '')
end

function M.load(opts)
  opts = ds.checkOptions(opts, OPTIONS, FN)
  if opts.dir ~= nil and (type(opts.dir) ~= 'string' or opts.dir == '') then
    error(FN .. ': dir must be the image folder, got ' .. tostring(opts.dir), 0)
  end
  local dir = opts.dir and fs.abspath(opts.dir) or locate.locate('imagenet', nil, { download = false })
  local check = opts.check or 'header'
  if check ~= 'header' and check ~= 'full' and check ~= 'none' then
    error(FN .. ": check must be 'header', 'full' or 'none', got " .. tostring(check), 0)
  end
  local top, err = fs.list(dir)
  if not top then
    error(FN .. ': ' .. err .. '; the image folder (-data DIR) must hold train/ and val/ with one ' ..
          'folder of images per class (ImageNet cannot be downloaded automatically)', 0)
  end
  local trainDir, valDir = dir, nil
  if fs.isdir(fs.join(dir, 'train')) then
    trainDir = fs.join(dir, 'train')
    if fs.isdir(fs.join(dir, 'val')) then valDir = fs.join(dir, 'val') end
  end
  local classes, classOf = {}, {}
  for _, e in ipairs(fs.list(trainDir)) do
    if e.kind == 'd' then classes[#classes + 1] = e.name classOf[e.name] = #classes end
  end
  if #classes == 0 then error(('%s: no class folders in %s'):format(FN, trainDir), 0) end
  local tf = M.transform(opts)
  local d = { nClasses = #classes, classNames = classes, dir = dir, transform = tf, skipped = {},
              notImages = {} }
  local ignored = {}
  local function make(name, root)
    local paths, labels, skipped = scan(root, classes, classOf, check, opts.quiet, name, ignored)
    for _, s in ipairs(skipped) do d.skipped[#d.skipped + 1] = s end
    return ds.FileDataset{ paths = paths, labels = labels, transform = tf, nClasses = #classes,
                           name = 'imagefolder.' .. name, classNames = classes,
                           augment = name == 'train' }
  end
  d.train = make('train', trainDir)
  if valDir then
    d.val = make('val', valDir)
    d.test, d.testName = d.val, 'val'
  end
  for i, p in ipairs(ignored) do d.notImages[i] = p:sub(#dir + 2) end
  if #d.notImages > 0 and not opts.quiet then io.stderr:write(M.notImagesLine(d.notImages), '\n') end
  return d
end

return M
