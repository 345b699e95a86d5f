-- bench/resnet_step.lua -- one training step of a CIFAR ResNet (forward, backward, SGD
-- with Nesterov momentum and weight decay), constant depth against stochastic depth
-- (linear decay to pL), side by side in one run: the two models take turns, step by
-- step, so both see the same machine state. Reports the median seconds per step and
-- images per second, and how many blocks the stochastic model ran on average.
-- The PyTorch counterpart is bench/resnet_torch.py.
--   luajit bench/resnet_step.lua [-depth 110] [-batch 128] [-threads 2] [-steps 7]
--                                [-warmup 2] [-pL 0.5] [-gate batch|row] [-seed 1]
--                                [-clock wall|cpu] [-models both|constant|sd]
-- -clock cpu times each step by the process's CPU time (with -threads 1, the step's cost
-- even on a machine shared with other jobs); -models runs one of the two alone, so that
-- the peak resident memory printed at the end (getrusage) is that model's.
package.path = './?.lua;' .. package.path
local util = require 'bench.util'
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local optim = require 'fathom.optim'
local progress = require 'fathom.progress'
local cifar = require 'models.resnet_cifar'

local opt = util.options('resnet_step', { depth = 110, batch = 128, threads = 2, steps = 7, warmup = 2, pL = 0.5,
              gate = 'batch', seed = 1, clock = 'wall', models = 'both' }, arg)

fathom.setnumthreads(opt.threads)
fathom.manualSeed(opt.seed)

local function setup(name, pL)
  local model = cifar.createModel({ depth = opt.depth, pL = pL, gate = opt.gate,
                                    generator = fathom.Generator(opt.seed) })
  local w, dw = model:getParameters()
  return { name = name, model = model, w = w, dw = dw, times = {}, active = 0, state = {} }
end

local ffi = require 'ffi'
pcall(ffi.cdef, [[typedef struct { long tv_sec, tv_usec; } rs_timeval;
typedef struct { rs_timeval ru_utime, ru_stime; long ru_maxrss, ru_rest[13]; } rs_rusage;
int getrusage(int, rs_rusage *);]])
local now = opt.clock == 'cpu' and util.cpuClock() or progress.now

local runs = {}
if opt.models ~= 'sd' then runs[#runs + 1] = setup('constant depth', 1) end
if opt.models ~= 'constant' then
  runs[#runs + 1] = setup(('stochastic depth (linear to %g)'):format(opt.pL), opt.pL)
end
local crit = nn.CrossEntropyCriterion()
local x, y, config = util.resnetBatch(opt.batch)

local function step(r)
  local t0 = now()
  optim.sgd(function()
    r.dw:zero()
    local out = r.model:forward(x)
    local loss = crit:forward(out, y)
    r.model:backward(x, crit:backward(out, y))
    return loss, r.dw
  end, r.w, config, r.state)
  local dt = now() - t0
  local n = 0
  for _, b in ipairs(r.model.blocks) do n = n + b.nKept / opt.batch end -- row mode: fractions
  return dt, n
end

-- Warm-up with every gate open, so every block has allocated its saved activations
-- (a one-time cost a real run pays in its first steps): the timed steps are the
-- steady state.
for _, r in ipairs(runs) do for _, b in ipairs(r.model.blocks) do b:forceGate(1) end end
for s = 1, opt.warmup + opt.steps do
  if s == opt.warmup + 1 then
    for _, r in ipairs(runs) do for _, b in ipairs(r.model.blocks) do b:forceGate(nil) end end
  end
  for k = 1, #runs do
    local r = runs[s % 2 == 1 and k or #runs + 1 - k] -- alternate which model goes first
    local dt, n = step(r)
    if s > opt.warmup then
      r.times[#r.times + 1] = dt
      r.active = r.active + n
    end
  end
end

local median = util.median

local L = #runs[1].model.blocks
print(('Fathom ResNet-%d training step, batch %d, %d threads, float32, %d timed steps (after %d warm-up), gate %s, clock %s, conv %s')
  :format(opt.depth, opt.batch, opt.threads, opt.steps, opt.warmup, opt.gate, opt.clock,
          ffi.string(fathom.C.ft_conv_algorithm())))
print(('%-36s %10s %10s %10s %14s'):format('', 's/step', 'min', 'img/s', 'blocks run'))
local base
for _, r in ipairs(runs) do
  local med = median(r.times)
  local mn = math.min(unpack(r.times))
  base = base or med
  print(('%-36s %10.3f %10.3f %10.1f %9.2f / %d'):format(r.name, med, mn, opt.batch / med,
    r.active / #r.times, L))
end
if #runs == 2 then
  local sd = median(runs[2].times)
  print(('stochastic depth saves %.1f%% of the step time (expected blocks run: %.2f of %d)')
    :format(100 * (1 - sd / base), require('fathom.schedule').expectedActive(runs[2].model.schedule, L), L))
end
local ru = ffi.new('rs_rusage')
ffi.C.getrusage(0, ru)
print(('peak resident memory of the process: %.0f MiB'):format(tonumber(ru.ru_maxrss) / 1024))
