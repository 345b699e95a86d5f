-- bench/resnet_gpu.lua -- one training step of a CIFAR ResNet on the GPU (forward,
-- backward, SGD with Nesterov momentum and weight decay), constant depth against
-- stochastic depth (linear decay to pL), batch 128 by default, on generated data that
-- stays on the GPU (the input pipeline is timed elsewhere). The two models take turns
-- step by step; each step is timed with CUDA events around it (no host clock, no
-- synchronisation inside the step except what the loss itself needs), and the report
-- gives the median milliseconds per step, images per second, and the blocks run.
-- With -torch 1 it then runs bench/resnet_torch_gpu.py on the same GPU (PyTorch with
-- cudnn.benchmark, NCHW and channels_last, mask-based and skipping stochastic depth),
-- so both tables come from one run.
--   luajit bench/resnet_gpu.lua [-depth 110] [-batch 128] [-steps 50] [-warmup 10]
--       [-pL 0.5] [-tf32 0] [-deterministic 0] [-benchmark 1] [-torch 0] [-seed 1]
package.path = './?.lua;' .. package.path
local util = require 'bench.util'
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local optim = require 'fathom.optim'
local cifar = require 'models.resnet_cifar'
local cuda = fathom.cuda

local opt = util.options('resnet_gpu', { depth = 110, batch = 128, steps = 50, warmup = 10, pL = 0.5, tf32 = 0, deterministic = 0,
              benchmark = 1, torch = 0, seed = 1 }, arg)

if not cuda.isAvailable() then
  io.stderr:write('resnet_gpu: ' .. cuda.status() .. '\n')
  os.exit(1)
end
cuda.setTF32(opt.tf32 ~= 0)
cuda.setDeterministic(opt.deterministic ~= 0)
cuda.setBenchmark(opt.benchmark ~= 0)
fathom.manualSeed(opt.seed)

local function setup(name, pL)
  local model = cifar.createModel({ depth = opt.depth, pL = pL, generator = fathom.Generator(opt.seed) })
  model:cuda()
  local w, dw = model:getParameters()
  return { name = name, model = model, w = w, dw = dw, times = {}, active = 0, state = {} }
end

local runs = { setup('constant depth', 1), setup(('stochastic depth (linear to %g)'):format(opt.pL), opt.pL) }
local crit = nn.CrossEntropyCriterion()
local x = fathom.FloatTensor(opt.batch, 3, 32, 32):normal(0, 1):cuda()
local y = fathom.LongTensor(opt.batch)
for i = 1, opt.batch do y[i] = (i - 1) % 10 + 1 end
y = y:cudaLong()
local config = { learningRate = 0.1, momentum = 0.9, nesterov = true, dampening = 0, weightDecay = 1e-4 }
local e0, e1 = cuda.Event(), cuda.Event()

local function step(r)
  e0:record()
  optim.sgd(function()
    r.dw:zero()
    local out = r.model:forward(x)
    local loss = crit:forward(out, y)
    r.model:backward(x, crit:backward(out, y))
    return loss, r.dw
  end, r.w, config, r.state)
  e1:record()
  local ms = e1:elapsedSince(e0)
  local n = 0
  for _, b in ipairs(r.model.blocks) do n = n + b.gate end
  return ms, n
end

for s = 1, opt.warmup + opt.steps do
  for k = 1, #runs do
    local r = runs[s % 2 == 1 and k or #runs + 1 - k] -- alternate which model goes first
    local ms, n = step(r)
    if s > opt.warmup then
      r.times[#r.times + 1] = ms
      r.active = r.active + n
    end
  end
end

local median = util.median

local p = cuda.getDeviceProperties()
local L = #runs[1].model.blocks
print(('Fathom ResNet-%d training step on %s, batch %d, float32 (TF32 %s, deterministic %s, benchmark %s), ' ..
       '%d timed steps after %d warm-up'):format(opt.depth, p.name, opt.batch, opt.tf32 ~= 0 and 'on' or 'off',
       opt.deterministic ~= 0 and 'on' or 'off', opt.benchmark ~= 0 and 'on' or 'off', opt.steps, opt.warmup))
print(('%-40s %10s %10s %10s %14s'):format('', 'ms/step', 'min', 'img/s', 'blocks run'))
local base
for _, r in ipairs(runs) do
  local med = median(r.times)
  local mn = math.min(unpack(r.times))
  base = base or med
  print(('%-40s %10.3f %10.3f %10.0f %9.2f / %d'):format(r.name, med, mn, opt.batch / med * 1e3,
    r.active / #r.times, L))
end
local sd = median(runs[2].times)
print(('stochastic depth saves %.1f%% of the step time (expected blocks run: %.2f of %d; speed-up %.2fx)')
  :format(100 * (1 - sd / base), require('fathom.schedule').expectedActive(runs[2].model.schedule, L), L, base / sd))
local m = cuda.memory()
print(('GPU memory: peak %.0f MB in tensors, %d cudaMalloc calls, %d reuses; %d convolution plans')
  :format(m.peak / 2 ^ 20, m.mallocs, m.reuses, cuda.convPlans()))
io.stdout:flush()

if opt.torch ~= 0 then
  local cmd = ('python3 bench/resnet_torch_gpu.py --depth %d --batch %d --steps %d --warmup %d --pL %g --tf32 %d')
    :format(opt.depth, opt.batch, opt.steps, opt.warmup, opt.pL, opt.tf32)
  print('\n$ ' .. cmd)
  io.stdout:flush()
  os.execute(cmd)
end
