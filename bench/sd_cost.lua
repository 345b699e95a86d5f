-- bench/sd_cost.lua -- where the stochastic-depth saving comes from: the CPU time of each
-- top-level module of the ResNet (forward + backward), of the loss and of the SGD update,
-- for the constant-depth and the stochastic-depth model of bench/resnet_step.lua, run the
-- same way (same seed, same warm-up with every gate open, the models taking turns), so the
-- stochastic model draws the same gates as that benchmark. Prints per stage the cost of an
-- open block and of a closed one, how many blocks the gates closed per stage, the cost of
-- what every step runs regardless, and the saving predicted from these parts against the
-- one measured. Use -threads 1 (CPU time is the process's), or -clock wall on a quiet
-- machine (with -threads 2: which parts gain least from the second thread).
--   luajit bench/sd_cost.lua [-depth 110] [-batch 128] [-threads 1] [-steps 11]
--                            [-warmup 2] [-pL 0.5] [-seed 1] [-clock cpu|wall]
package.path = './?.lua;' .. package.path
local util = require 'bench.util'
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local optim = require 'fathom.optim'
local cifar = require 'models.resnet_cifar'
local ffi = require 'ffi'

local opt = util.options('sd_cost', { depth = 110, batch = 128, threads = 1, steps = 11, warmup = 2,
                                      pL = 0.5, seed = 1, clock = 'cpu' }, arg)
fathom.setnumthreads(opt.threads)
fathom.manualSeed(opt.seed)

local now = util.cpuClock(opt.clock == 'wall')

local timing = false -- only the timed steps accumulate
-- Wrap a module's updateOutput and backward (instance fields) to add their CPU time to acc.
local function instrument(m, acc)
  local fwd, bwd = m.updateOutput, m.backward
  m.updateOutput = function(self, input)
    local t0 = now()
    local out = fwd(self, input)
    if timing then
      local dt = now() - t0
      local g = self.gate
      if type(g) == 'number' and g == 0 then acc.fclosed = acc.fclosed + dt; acc.nclosed = acc.nclosed + 1
      else acc.fopen = acc.fopen + dt; acc.nopen = acc.nopen + 1 end
      acc.last = (type(g) == 'number' and g == 0) and 'closed' or 'open'
    end
    return out
  end
  m.backward = function(self, input, gradOutput, scale)
    local t0 = now()
    local gi = bwd(self, input, gradOutput, scale)
    if timing then
      local dt = now() - t0
      if acc.last == 'closed' then acc.bclosed = acc.bclosed + dt else acc.bopen = acc.bopen + dt end
    end
    return gi
  end
end

local function setup(name, pL)
  local model = cifar.createModel({ depth = opt.depth, pL = pL, generator = fathom.Generator(opt.seed) })
  local w, dw = model:getParameters()
  local r = { name = name, model = model, w = w, dw = dw, state = {}, acc = {}, times = {},
              loss = 0, update = 0, zero = 0 }
  for i, m in ipairs(model.modules) do
    r.acc[i] = { fopen = 0, bopen = 0, fclosed = 0, bclosed = 0, nopen = 0, nclosed = 0 }
    instrument(m, r.acc[i])
  end
  return r
end

local runs = { setup('constant', 1), setup('sd', opt.pL) }
local crit = nn.CrossEntropyCriterion()
local x, y, config = util.resnetBatch(opt.batch)

local function step(r)
  local t0, inner = now(), 0
  optim.sgd(function()
    local a = now()
    r.dw:zero()
    local b = now()
    local out = r.model:forward(x)
    local c = now()
    local loss = crit:forward(out, y)
    local gl = crit:backward(out, y)
    local d = now()
    r.model:backward(x, gl)
    local e = now()
    if timing then r.zero = r.zero + (b - a); r.loss = r.loss + (d - c) end
    inner = e - a
    return loss, r.dw
  end, r.w, config, r.state)
  local dt = now() - t0
  if timing then r.update = r.update + (dt - inner); r.times[#r.times + 1] = dt end
end

for _, r in ipairs(runs) do for _, b in ipairs(r.model.blocks) do b:forceGate(1) end end
for s = 1, opt.warmup + opt.steps do
  if s == opt.warmup + 1 then
    for _, r in ipairs(runs) do for _, b in ipairs(r.model.blocks) do b:forceGate(nil) end end
    timing = true
  end
  for k = 1, #runs do step(runs[s % 2 == 1 and k or #runs + 1 - k]) end
end

local S, n = opt.steps, (opt.depth - 2) / 6
local first = 4 -- model.modules: conv, BN, ReLU, then the blocks
local function stage_of(l) return math.floor((l - 1) / n) + 1 end
local function is_down(l) return l > n and (l - 1) % n == 0 end

print(('Fathom ResNet-%d, batch %d, %d threads, conv %s, %s ms per step (%d steps after %d warm-up)')
  :format(opt.depth, opt.batch, opt.threads, ffi.string(fathom.C.ft_conv_algorithm()),
          opt.clock == 'wall' and 'wall' or 'CPU', S, opt.warmup))
local c, sd = runs[1], runs[2]
-- Per group: mean open cost per block (constant model), mean closed cost (sd model), and the
-- sd model's mean count of open blocks per step.
local groups = { { 'stage 1 (16 ch, 32x32)', function(l) return stage_of(l) == 1 end },
                 { 'stage 2 downsampling block', function(l) return stage_of(l) == 2 and is_down(l) end },
                 { 'stage 2 (32 ch, 16x16)', function(l) return stage_of(l) == 2 and not is_down(l) end },
                 { 'stage 3 downsampling block', function(l) return stage_of(l) == 3 and is_down(l) end },
                 { 'stage 3 (64 ch, 8x8)', function(l) return stage_of(l) == 3 and not is_down(l) end } }
print(('%-28s %6s %9s %9s %9s %9s %10s %10s'):format('', 'blocks', 'open fwd', 'open bwd', 'open f+b',
  'closed', 'sd open', 'sd saves'))
local blockSum, predSaved = 0, 0
for _, g in ipairs(groups) do
  local nb, f, b, cl, ncl, open = 0, 0, 0, 0, 0, 0
  for l = 1, #c.model.blocks do
    if g[2](l) then
      local a, s2 = c.acc[first + l - 1], sd.acc[first + l - 1]
      nb = nb + 1
      f = f + a.fopen / a.nopen; b = b + a.bopen / a.nopen
      cl = cl + s2.fclosed + s2.bclosed; ncl = ncl + s2.nclosed
      open = open + s2.nopen / S
    end
  end
  f, b = 1000 * f / nb, 1000 * b / nb
  local closed = ncl > 0 and 1000 * cl / ncl or 0
  local saves = (nb - open) * (f + b - closed) -- ms per step
  blockSum = blockSum + nb * (f + b)
  predSaved = predSaved + saves
  print(('%-28s %6d %9.2f %9.2f %9.2f %9.3f %10.2f %10.1f'):format(g[1], nb, f, b, f + b, closed, open, saves))
end
-- What every step runs regardless: the non-block modules, the loss, zeroing dw, the update.
local rest = {}
local function rest_of(r)
  local t = { stem = 0, head = 0 }
  for i, a in ipairs(r.acc) do
    if i < first then t.stem = t.stem + a.fopen + a.bopen
    elseif i >= first + #r.model.blocks then t.head = t.head + a.fopen + a.bopen end
  end
  for k, v in pairs(t) do t[k] = 1000 * v / S end
  t.loss, t.zero, t.update = 1000 * r.loss / S, 1000 * r.zero / S, 1000 * r.update / S
  local tot = 0
  for _, v in pairs(t) do tot = tot + v end
  t.total = tot
  return t
end
rest = rest_of(c)
print(('every step (constant model): stem conv+BN+ReLU %.1f, pool+view+linear %.1f, loss %.1f, zero dw %.1f, SGD update %.1f; total %.1f ms')
  :format(rest.stem, rest.head, rest.loss, rest.zero, rest.update, rest.total))
local cs, ss = util.median(c.times) * 1000, util.median(sd.times) * 1000
local cmean, smean = 0, 0
for _, v in ipairs(c.times) do cmean = cmean + v end
for _, v in ipairs(sd.times) do smean = smean + v end
cmean, smean = 1000 * cmean / S, 1000 * smean / S
print(('constant step: median %.1f, mean %.1f ms; blocks %.1f (%.1f%%), every-step part %.1f (%.1f%%), untimed %.1f')
  :format(cs, cmean, blockSum, 100 * blockSum / cmean, rest.total, 100 * rest.total / cmean,
          cmean - blockSum - rest.total))
local sdBlocks = 0
for l = 1, #sd.model.blocks do
  local a = sd.acc[first + l - 1]
  sdBlocks = sdBlocks + a.fopen + a.bopen + a.fclosed + a.bclosed
end
sdBlocks = 1000 * sdBlocks / S
print(('stochastic step: median %.1f, mean %.1f ms; blocks %.1f (predicted from the constant model\'s open and the closed costs: %.1f), every-step part %.1f')
  :format(ss, smean, sdBlocks, blockSum - predSaved, rest_of(sd).total))
print(('saving: predicted from the parts %.1f ms = %.1f%% of the mean constant step; measured %.1f%% (means), %.1f%% (medians)')
  :format(predSaved, 100 * predSaved / cmean, 100 * (1 - smean / cmean), 100 * (1 - ss / cs)))
