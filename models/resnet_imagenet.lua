-- models/resnet_imagenet.lua -- the ImageNet ResNets of He et al. (2016), as in
-- fb.resnet.torch, with stochastic depth (Huang et al. 2016): a 7x7/2 conv with 64
-- filters + BN + ReLU + 3x3/2 max pooling, four stages of residual blocks (64, 128, 256,
-- 512 planes; the first block of stages 2..4 has stride 2), 7x7 average pooling, a
-- linear layer. Depth 50/101/152: bottleneck blocks (output 4 x planes); 18/34: basic.
-- Shortcuts: projection ('B') where the shape changes, identity elsewhere.
--   local model = require('models.resnet_imagenet').createModel{ depth = 152, pL = 0.5 }
-- opt: depth 152, nClasses 1000, shortcut 'B' | 'C' (projection everywhere),
--   pL | deathRate, deathMode, stochastic, gate, testScaling, generator, convInit
--   (as models/resnet_cifar.lua). Input: [N, 3, 224, 224].
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local schedule = require 'fathom.schedule'
local cifar = require 'models.resnet_cifar'

local M = {}

local CFG = {
  [18] = { 'basic', { 2, 2, 2, 2 } }, [34] = { 'basic', { 3, 4, 6, 3 } },
  [50] = { 'bottleneck', { 3, 4, 6, 3 } }, [101] = { 'bottleneck', { 3, 4, 23, 3 } },
  [152] = { 'bottleneck', { 3, 8, 36, 3 } },
}

-- k x k max pooling, stride s, padding pad, in plain LuaJIT loops: the fallback when the
-- nn library has no SpatialMaxPooling (the stem's pooling is a tiny share of the work).
local MaxPool = class('nn.StemMaxPooling', Module)
function MaxPool:__init(k, s, pad) Module.__init(self) self.k, self.s, self.pad = k, s, pad end
function MaxPool:updateOutput(x)
  x = self:checkInput(x, 4, '[N, C, H, W]')
  local N, Cc, H, W = x:size(1), x:size(2), x:size(3), x:size(4)
  local k, s, pad = self.k, self.s, self.pad
  local Ho, Wo = math.floor((H + 2 * pad - k) / s) + 1, math.floor((W + 2 * pad - k) / s) + 1
  local out = self:buffer('output', x):resize(N, Cc, Ho, Wo)
  self.argmax = self.argmax or fathom.LongTensor()
  self.argmax:resize(N, Cc, Ho, Wo)
  local xp, op, ap = x:data(), out:data(), self.argmax:data()
  for plane = 0, N * Cc - 1 do
    local xb, ob = plane * H * W, plane * Ho * Wo
    for i = 0, Ho - 1 do
      for j = 0, Wo - 1 do
        local best, arg = -math.huge, -1
        for di = 0, k - 1 do
          local r = i * s - pad + di
          if r >= 0 and r < H then
            for dj = 0, k - 1 do
              local c = j * s - pad + dj
              if c >= 0 and c < W and xp[xb + r * W + c] > best then
                best, arg = xp[xb + r * W + c], r * W + c
              end
            end
          end
        end
        op[ob + i * Wo + j] = best
        ap[ob + i * Wo + j] = arg
      end
    end
  end
  return out
end
function MaxPool:updateGradInput(x, g)
  local gi = self:buffer('gradInput', x):resizeAs(x):zero()
  g = g:contiguous()
  local N, Cc, H, W = x:size(1), x:size(2), x:size(3), x:size(4)
  local HWo = g:size(3) * g:size(4)
  local gp, ip, ap = g:data(), gi:data(), self.argmax:data()
  for plane = 0, N * Cc - 1 do
    for o = 0, HWo - 1 do
      local at = ap[plane * HWo + o]
      ip[plane * H * W + at] = ip[plane * H * W + at] + gp[plane * HWo + o]
    end
  end
  return gi
end
function MaxPool:__tostring()
  return ('nn.SpatialMaxPooling(%dx%d, %d,%d, %d,%d)'):format(self.k, self.k, self.s, self.s,
    self.pad, self.pad)
end

local function max_pool()
  local ok, Max = pcall(function() return nn.SpatialMaxPooling end)
  if ok and Max then return Max(3, 3, 2, 2, 1, 1) end
  return MaxPool(3, 2, 1)
end

-- The block kind and the number of blocks per stage for a depth.
function M.config(depth)
  local cfg = CFG[depth]
  if not cfg then
    error('resnet_imagenet: depth must be 18, 34, 50, 101 or 152, got ' .. tostring(depth), 3)
  end
  return cfg[1], { unpack(cfg[2]) }
end

function M.createModel(opt)
  opt = opt or {}
  local depth = opt.depth or 152
  local kind, counts = M.config(depth)
  local expansion = kind == 'bottleneck' and 4 or 1
  local shortcut = opt.shortcut or 'B'
  if shortcut ~= 'B' and shortcut ~= 'C' then
    error("resnet_imagenet: shortcut must be 'B' or 'C', got " .. tostring(shortcut), 2)
  end
  local L = 0
  for _, c in ipairs(counts) do L = L + c end
  local ps = schedule.probabilities(schedule.fromOptions(opt), L)

  local model = nn.Sequential()
  model:add(cifar.noBias(nn.SpatialConvolution(3, 64, 7, 7, 2, 2, 3, 3)))
  model:add(nn.SpatialBatchNormalization(64))
  model:add(nn.ReLU(true))
  model:add(max_pool())
  local blocks, cin, l = {}, 64, 0
  for stage, planes in ipairs({ 64, 128, 256, 512 }) do
    for i = 1, counts[stage] do
      l = l + 1
      local b = nn.ResidualDrop(cin, planes * expansion, (stage > 1 and i == 1) and 2 or 1, {
        block = kind, shortcut = shortcut, p = ps[l], gate = opt.gate,
        testScaling = opt.testScaling, generator = opt.generator, convInit = opt.convInit,
      })
      model:add(b)
      blocks[l] = b
      cin = planes * expansion
    end
  end
  model:add(nn.SpatialAveragePooling(7, 7, 1, 1))
  model:add(nn.View(cin):setNumInputDims(3))
  model:add(nn.Linear(cin, opt.nClasses or 1000))
  cifar.initWeights(model, opt.convInit)
  model.blocks = blocks
  model.depth = depth
  return model
end

return M
