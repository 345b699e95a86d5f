-- recipes_spec.lua -- the recipes as a user runs them: their schedules and paper numbers,
-- option errors (message, exit status, no traceback), and a short real run of
-- cifar10_sd.lua on a slice of CIFAR-10 that writes log, checkpoint, summary and plot,
-- learns (validation error well below chance), and resumes from the command line.
local fathom = require 'fathom'
local json = require 'fathom.json'
local logmod = require 'fathom.log'
local ck = require 'fathom.checkpoint'
local plot = require 'fathom.plot'

local function recipe(name) return assert(loadfile('recipes/' .. name .. '.lua'))('--recipe-table') end

-- Run a recipe in a child process: status, stdout, stderr.
local function sh(args)
  local out, err = os.tmpname(), os.tmpname()
  local env = os.getenv('FATHOM_LIB') and ("FATHOM_LIB='" .. os.getenv('FATHOM_LIB') .. "' ") or ''
  local ok, _, code = os.execute(env .. 'luajit ' .. args .. ' >' .. out .. ' 2>' .. err)
  if type(ok) == 'number' then code = ok >= 256 and ok / 256 or ok end -- Lua 5.1 semantics
  local function slurp(p) local f = io.open(p) local s = f:read('*a') f:close() os.remove(p) return s end
  return code, slurp(out), slurp(err)
end

local check = require 'check'
local tmpdir = check.tmppath

-- Tests that need the real CIFAR-10 (FATHOM_DATA) report as pending without it.
local function needs_data()
  if os.getenv('FATHOM_DATA') then return true end
  pending('needs CIFAR-10: FATHOM_DATA=/path/to/data make test runs it')
  return false
end

local function near(a, b) assert.is_true(math.abs(a - b) < 1e-12, ('%g ~= %g'):format(a, b)) end

describe('recipes', function()
  it('carry the paper\'s schedules and numbers', function()
    local c10 = recipe('cifar10_sd')
    local opt = { LR = 0.1, nEpochs = 500, augment = true }
    near(0.1, c10.lrSchedule(249, 1, opt)); near(0.01, c10.lrSchedule(250, 1, opt))
    near(0.01, c10.lrSchedule(374, 1, opt)); near(0.001, c10.lrSchedule(375, 1, opt))
    assert.are.equal(5.25, c10.paper(opt).stochastic)
    assert.are.equal(6.41, c10.paper(opt).constant)
    opt.augment = false
    assert.are.equal(11.66, c10.paper(opt).stochastic)
    assert.are.equal(110, c10.defaults.depth)
    assert.are.equal(0.5, c10.defaults.pL)

    local svhn = recipe('svhn_sd')
    opt = { LR = 0.1, nEpochs = 50 }
    near(0.1, svhn.lrSchedule(29, 1, opt)); near(0.01, svhn.lrSchedule(30, 1, opt))
    near(0.01, svhn.lrSchedule(34, 1, opt)); near(0.001, svhn.lrSchedule(35, 1, opt))
    assert.are.equal(200, svhn.defaults.evalEveryIters)
    assert.are.equal(152, svhn.defaults.depth)
    assert.is_false(svhn.defaults.augment)

    local deep = recipe('cifar10_1202_sd')
    opt = { LR = 0.1, nEpochs = 300 }
    near(0.01, deep.lrSchedule(1, 1, opt)); near(0.01, deep.lrSchedule(10, 1, opt))
    near(0.1, deep.lrSchedule(11, 1, opt)); near(0.1, deep.lrSchedule(149, 1, opt))
    near(0.01, deep.lrSchedule(150, 1, opt)); near(0.001, deep.lrSchedule(225, 1, opt))

    local inet = recipe('imagenet_sd')
    opt = { LR = 0.1, nEpochs = 90 }
    near(0.1, inet.lrSchedule(30, 1, opt)); near(0.01, inet.lrSchedule(31, 1, opt))
    near(0.001, inet.lrSchedule(61, 1, opt))
    assert.are.equal(256, inet.defaults.batchSize)

    local c100 = recipe('cifar100_sd')
    assert.are.equal('cifar100', c100.defaults.dataset)
    assert.are.equal(24.98, c100.paper({ augment = true }).stochastic)
    assert.truthy(recipe('sweep_pL').run)
    assert.truthy(recipe('gradient_strength').run)
  end)

  it('stop on bad options with a message and a non-zero status, no traceback', function()
    local code, out, err = sh('recipes/cifar10_sd.lua -depht 20')
    assert.are.equal(2, code)
    assert.matches('unknown option %-depht', err)
    assert.matches('%-depth', err)
    assert.is_nil(err:find('traceback'))
    code, out, err = sh('recipes/cifar10_sd.lua -depth 21 -save ' .. tmpdir())
    assert.are.equal(1, code)
    assert.matches('6n%+2', err)
    assert.is_nil(err:find('traceback'))
    -- without a usable GPU: CPU-only build "this build of Fathom has no CUDA backend",
    -- CUDA build "no CUDA device available (...)" (fathom.cuda.status()); with a GPU
    -- the run would start training, so it is only tried where none is usable
    if not fathom.cuda.isAvailable() then
      code, out, err = sh('recipes/cifar10_sd.lua -backend cuda')
      assert.are.equal(1, code)
      assert.matches('%-backend cuda: .*CUDA.*; use %-backend cpu', err)
      assert.is_nil(err:find('traceback'))
    end
    code, out, err = sh('recipes/cifar10_sd.lua -help')
    assert.are.equal(0, code)
    assert.matches('%-nEpochs', out)
    code, out, err = sh('recipes/sweep_pL.lua -pLs 0.5,x')
    assert.are.equal(2, code)
    assert.matches('not a number', err)
  end)

  it('run cifar10_sd.lua on a slice of CIFAR-10: learns, logs, checkpoints, plots, resumes', function()
    if not needs_data() then return end
    local dir = tmpdir()
    local args = 'recipes/cifar10_sd.lua -depth 8 -trainSubset 4000 -nEpochs 3 -batchSize 32 -maxEvalIters 24 ' ..
                 '-LR 0.1 -nThreads 1 -computeThreads 1 -save ' .. dir
    local code, out, err = sh(args)
    assert.are.equal(0, code, err .. out)
    -- what it said it would do, and the result next to the paper's number
    assert.matches('data +cifar10', out)
    assert.matches('test_batch', out)
    assert.matches('ResNet%-8, 3 residual blocks', out)
    assert.matches('expected active blocks 2%.00 of 3', out) -- (3L-1)/4 with L = 3
    assert.matches('test error at the lowest validation error %(the paper\'s metric%): [%d.]+%%', out)
    assert.matches('paper %(Table 1, CIFAR%-10%+%): 5.25%% with stochastic depth', out)
    -- log: one line per epoch, learning well below chance (90%)
    local recs = logmod.read(dir .. '/log.jsonl')
    assert.are.equal(3, #recs)
    for e, r in ipairs(recs) do assert.are.equal(e, r.epoch) end
    assert.is_true(recs[3].valErr < 80, 'validation error after 3 epochs: ' .. tostring(recs[3].valErr))
    assert.is_true(recs[3].trainLoss < recs[1].trainLoss)
    local summary = json.read(dir .. '/summary.json')
    assert.are.equal(recs[3].testAtBestVal, summary.testErrAtBestVal)
    assert.are.equal(5.25, summary.paper.stochastic)
    -- checkpoint and weights
    local info, weights = ck.load(dir)
    assert.are.equal(3, info.epoch)
    assert.truthy(weights['1.weight']) -- the stem convolution
    assert.is_true(ck.exists(dir .. '/model_best.safetensors'))
    -- the error plot
    local img = plot.readPNG(dir .. '/error.png')
    assert.are.same({ 600, 960, 3 }, img:size():totable())
    -- the same command again refuses to overwrite; -resume continues
    code, out, err = sh(args)
    assert.are.equal(1, code)
    assert.matches('%-resume', err)
    code, out, err = sh('recipes/cifar10_sd.lua -resume ' .. dir .. ' -nEpochs 4 -maxIters 3')
    assert.are.equal(0, code, err .. out)
    assert.matches('resumed', out)
    recs = logmod.read(dir .. '/log.jsonl')
    assert.are.equal(4, #recs)
    assert.are.equal(3, recs[4].iterations)
    assert.are.equal(4, ck.readInfo(dir).epoch)
    os.execute("rm -rf '" .. dir .. "'")
  end)
  it('run the p_L sweep and the gradient-strength study, resumably, writing their figures', function()
    if not needs_data() then return end
    local quick = ' -depth 8 -nEpochs 1 -trainSubset 256 -batchSize 64 -maxEvalIters 2 -nThreads 1 -computeThreads 1 -save '
    local dir = tmpdir()
    local code, out, err = sh('recipes/sweep_pL.lua -depths 8 -pLs 0.5,1 -modes lin_decay' .. quick .. dir)
    assert.are.equal(0, code, err .. out)
    local sweep = json.read(dir .. '/sweep.json')
    assert.is_number(sweep.testErrAtBestVal.lin_decay[1][1])
    assert.is_number(sweep.testErrAtBestVal.lin_decay[1][2])
    assert.are.equal(3, plot.readPNG(dir .. '/heatmap_lin_decay.png'):size(3))
    assert.is_true(ck.exists(dir .. '/constant_d8/summary.json'))
    assert.matches('depth \\ p_L', out)
    code, out = sh('recipes/sweep_pL.lua -depths 8 -pLs 0.5,1 -modes lin_decay' .. quick .. dir) -- all cells done
    assert.are.equal(0, code)
    assert.is_nil(out:find('cell 1/2', 1, true))
    os.execute("rm -rf '" .. dir .. "'")

    dir = tmpdir()
    code, out, err = sh('recipes/gradient_strength.lua' .. quick:gsub('nEpochs 1', 'nEpochs 2') .. dir)
    assert.are.equal(0, code, err .. out)
    for _, run in ipairs({ 'constant', 'stochastic' }) do
      local recs = logmod.read(dir .. '/' .. run .. '/log.jsonl')
      assert.are.equal(2, #recs)
      assert.is_true(recs[2].gradFirstConv > 0)
    end
    assert.are.equal(960, plot.readPNG(dir .. '/gradient_strength.png'):size(2))
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)

describe('recipe options', function()
  it('refuse what makes no sense up front, with exit status 2 and no file positions', function()
    for _, a in ipairs({ '-dataset svhn', '-LR inf', '-LR nan', '-LR 1e999', '-depth 2e9', '-computeThreads 100000',
                         '-batchSize 0', '-lrMilestones 250,x', '-nEpochs 1e12' }) do
      local code, _, err = sh('recipes/cifar10_sd.lua ' .. a .. ' -save ' .. tmpdir())
      assert.are.equal(2, code, a .. ': ' .. err)
      assert.matches('^error: ', err)
      assert.is_nil(err:find('%.lua:%d+'), a .. ': ' .. err)
      assert.is_nil(err:find('traceback'), a .. ': ' .. err)
    end
    local code, _, err = sh('recipes/imagenet_sd.lua -data /nonexistent -shortcut avg')
    assert.are.equal(2, code)
    assert.matches('%-shortcut', err)
    for _, h in ipairs({ '-h', '--help', '-help' }) do
      local c, out = sh('recipes/cifar10_sd.lua ' .. h)
      assert.are.equal(0, c, h)
      assert.matches('%-lrMilestones', out)
      assert.matches('%-testOnly', out)
    end
  end)

  it('save the best weights at a mid-epoch evaluation; -testOnly evaluates them; -resume keeps the architecture', function()
    if not needs_data() then return end
    local dir = tmpdir()
    local code, out, err = sh('recipes/cifar10_sd.lua -depth 8 -nEpochs 1 -maxIters 12 -evalEveryIters 4 -maxEvalIters 3 ' ..
                              '-LR 0.8 -manualSeed 2 -nThreads 1 -save ' .. dir)
    assert.are.equal(0, code, err .. out)
    local summary = json.read(dir .. '/summary.json')
    assert.is_true(summary.bestIteration < 12, 'this run\'s best evaluation is mid-epoch: ' .. summary.bestIteration)
    assert.is_true(ck.exists(dir .. '/model_best.safetensors'))
    code, out, err = sh('recipes/cifar10_sd.lua -depth 8 -testOnly -maxEvalIters 3 -nThreads 1 -retrain ' .. dir .. '/model_best.safetensors')
    assert.are.equal(0, code, err .. out)
    assert.matches('loaded %d+ tensors', out)
    -- the weights of the best evaluation give exactly its errors (whichever iteration it was)
    assert.matches(('validation error %.2f%%%%, test error %.2f%%%%'):format(summary.bestValErr, summary.testErrAtBestVal), out)
    code, out, err = sh('recipes/cifar10_sd.lua -resume ' .. dir .. ' -depth 20')
    assert.are.equal(2, code)
    assert.matches('started with %-depth 8', err)
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it('plot_runs: an unknown -metric is an error listing the valid ones', function()
    local dir = tmpdir()
    os.execute("mkdir -p '" .. dir .. "'")
    local f = io.open(dir .. '/log.jsonl', 'w')
    f:write('{"type":"epoch","epoch":1,"testErr":50}\n') f:close()
    local code, _, err = sh('recipes/plot_runs.lua ' .. dir .. ' -metric testError -out ' .. dir .. '/p.png')
    assert.are.equal(2, code)
    assert.matches('testErr, valErr, trainErr, trainLoss', err)
    code = sh('recipes/plot_runs.lua ' .. dir .. ' ' .. dir .. ' -metric testErr -out ' .. dir .. '/p.png')
    assert.are.equal(0, code)
    assert.are.equal(3, plot.readPNG(dir .. '/p.png'):size(3))
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it('leave no empty run folder when a run fails', function()
    if not needs_data() then return end
    local dir = tmpdir()
    local code, _, err = sh('recipes/cifar10_sd.lua -depth 8 -trainSubset 10 -batchSize 32 -save ' .. dir)
    assert.are.equal(2, code)
    assert.matches('larger than the 10 training images', err)
    assert.is_nil(io.open(dir), 'the run folder was left behind')
  end)
end)
