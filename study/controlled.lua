-- study/controlled.lua -- Fathom's half of the controlled comparison: the recipe's own
-- run, set up exactly as recipes/cifar10_sd.lua sets it up, trained for the first
-- -maxIters iterations of epoch 1 with the loss of every iteration written down, and
-- everything the PyTorch side (study/controlled_torch.py) needs to repeat it step for step:
--   luajit study/controlled.lua OUT [recipe options: -depth 20 -pL 1 -manualSeed 1 -maxIters 200 ...]
-- OUT/init.safetensors    the initial weights and BN statistics (Fathom's names)
-- OUT/plan.json           per sample of the iterations: [row of the 50,000, dy, dx, flip],
--                         and the labels; mean / std in OUT/stats.safetensors
-- OUT/batch1.safetensors  the first batch's inputs as Fathom's loader built them (a check)
-- OUT/fathom.json         { loss = [...], err = [...] } per iteration, and the options
-- OUT/final.safetensors   the weights after the last iteration
-- With -retrain FILE the run starts from FILE's weights (e.g. PyTorch's initial draw).
local src = debug.getinfo(1, 'S').source:sub(2)
local root = (src:match('^(.*)/[^/]+$') or '.') .. '/..'
package.path = root .. '/?.lua;' .. package.path
require 'fathom'
local opts = require 'fathom.opts'
local recipe = require 'fathom.recipe'
local train = require 'fathom.train'
local ck = require 'fathom.checkpoint'
local st = require 'fathom.safetensors'
local json = require 'fathom.json'

local out = arg[1]
if not out or out:sub(1, 1) == '-' then
  io.stderr:write('usage: luajit study/controlled.lua OUT [recipe options]\n')
  os.exit(2)
end
local r = assert(loadfile(root .. '/recipes/cifar10_sd.lua'))('--recipe-table')
local rest = {}
for i = 2, #arg do rest[#rest + 1] = arg[i] end
local opt = opts.parseOrExit(rest, r)
ck.mkdir(out)

local run, d, loaders = recipe.assemble(opt, r)
local nIters = loaders.train:size()
if opt.maxIters > 0 then nIters = math.min(nIters, opt.maxIters) end
ck.saveWeights(out .. '/init.safetensors', run.model)
st.write(out .. '/stats.safetensors', { { 'mean', d.train.mean or d.mean }, { 'std', d.train.std or d.std } }, {})

local B, plan, labels = opt.batchSize, {}, {}
local N = d.train:size()
for pos = 1, math.min(nIters * B, N) do
  local row, dy, dx, flip = loaders.train:plan(1, pos)
  plan[#plan + 1] = json.array { row, dy, dx, flip }
end

run:attach(loaders.train)
run.toModel = function(x) return x end
run.partial = { lossSum = 0, wrongSum = 0, seen = 0, activeSum = 0, steps = 0, time = 0, lr = 0 }
run.model:training()
local losses, errs = {}, {}
local hook = { onStep = function(_, s) losses[#losses + 1] = s.loss end }
local t0 = os.clock()
for i, inputs, targets in loaders.train:run(1) do
  if i > nIters then break end
  if i == 1 then
    st.write(out .. '/batch1.safetensors', { { 'inputs', inputs:clone() }, { 'targets', targets:clone() } }, {})
  end
  for k = 1, targets:size(1) do labels[#labels + 1] = targets[k] - 1 end
  train.step(run, { hook }, 1, i, inputs, targets)
  errs[#errs + 1] = run.partial.wrongSum
end
local cpu = os.clock() - t0
ck.saveWeights(out .. '/final.safetensors', run.model)
local f = assert(io.open(out .. '/plan.json', 'w'))
f:write(json.encode { batchSize = B, plan = json.array(plan), labels = json.array(labels) })
f:close()
f = assert(io.open(out .. '/fathom.json', 'w'))
f:write(json.encode { loss = json.array(losses), cpuSeconds = cpu, options = require('fathom.run').plain(opt) })
f:close()
print(('fathom: %d iterations, loss %.4f -> %.4f, %.1f s CPU'):format(#losses, losses[1], losses[#losses], cpu))
