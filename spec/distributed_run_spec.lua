-- spec/distributed_run_spec.lua -- `-distributed mpi` in the recipes: real 2-process
-- training jobs started with mpirun (a tiny ResNet-8, a few iterations each):
--   * 2 processes train like 1 process (same gates per iteration, losses close, loss falls),
--     and every rank holds the same weights, momentum, gates, evaluations and state at each
--     checkpoint (the run compares them itself and stops when they differ);
--   * with -syncBN, 2 processes equal 1 process at the same global batch;
--   * a 2-process run killed and resumed is bit-exact against an uninterrupted one;
--   * a rank killed (SIGKILL) or stuck (SIGSTOP) ends the job within a bounded time, naming it;
--   * different options on the ranks stop the job naming the rank;
--   * -distributed mpi without MPI in the build says how to get it.
-- Pending without mpirun / MPI in the build, and (the training jobs) without FATHOM_DATA.
local fathom = require 'fathom'
local dist = require 'fathom.distributed'
local json = require 'fathom.json'
local files = require 'datafiles'

local mpijob = require 'mpijob'
local DATA = os.getenv('FATHOM_DATA')
local WHY = mpijob.why

local RECIPE = 'luajit recipes/cifar10_sd.lua'
-- ResNet-8 on 2000 training images, batches of 64 (split 32 + 32), 3 evaluation batches
local BASE = '-depth 8 -batchSize 64 -trainSubset 2000 -maxEvalIters 3 -nThreads 1 -computeThreads 1 ' ..
             '-plot false -manualSeed 5 -logIters 1'

local sh = mpijob.sh
local MPI_CMD = mpijob.MPIRUN:format(180)
local function job(np, args, env)
  return sh(('%s %s -np %d %s %s -distributed mpi'):format(env or '', MPI_CMD, np, RECIPE, args))
end

local mpi_it = mpijob.it
local function data_it(name, fn)
  if WHY then pending(WHY .. ': skipped: ' .. name)
  elseif not DATA then pending('needs CIFAR-10: FATHOM_DATA=/path/to/data make test runs it: ' .. name)
  else it(name, fn) end
end

local function records(dir, kind)
  local r = {}
  for line in io.lines(dir .. '/log.jsonl') do
    local rec = json.decode(line)
    if rec.type == kind then r[#r + 1] = rec end
  end
  return r
end

-- What must not depend on interruptions: timings and paths dropped; weights and momentum.
local function outcome(dir)
  return require('runoutcome').outcome(dir, { optim = true, timing = { 'allReduceTime' } })
end

-- The weights of a run directory's latest checkpoint, as float64 tensors by name.
local function weights(dir)
  local st = require 'fathom.safetensors'
  local info = json.read(dir .. '/latest.json')
  return (st.read(dir .. "/" .. info.weights))
end

describe('-distributed mpi: training jobs', function()
  local tmp
  setup(function() tmp = files.tmpdir() end)
  teardown(function() files.rmtree(tmp) end)

  data_it('2 processes train like 1 process: the same gates, close losses, the loss falls, one report', function()
    local args = BASE .. ' -nEpochs 2 -maxIters 8 -data ' .. DATA
    local out, status = job(2, args .. ' -save ' .. tmp .. '/two')
    assert.are.equal(0, status, out)
    local out1, status1 = sh(('OMP_NUM_THREADS=1 %s %s -save %s/one'):format(RECIPE, args, tmp))
    assert.are.equal(0, status1, out1)
    -- rank 0 alone reports (every rank ran the same evaluations: the run compares them)
    assert.are.equal(1, select(2, out:gsub('== result', '')), out)
    assert.is_truthy(out:find('ranks   2 processes (MPI)', 1, true), out)
    local two, one = records(tmp .. '/two', 'epoch'), records(tmp .. '/one', 'epoch')
    assert.are.equal(2, #two)
    assert.is_true(two[2].trainLoss < two[1].trainLoss, 'the loss did not fall')
    for e = 1, 2 do
      assert.is_number(two[e].valErr)
      assert.is_number(two[e].testErr)
      -- per-rank BN statistics (32 rows) against 64: close, not equal (seen: 0.002)
      assert.is_true(math.abs(two[e].trainLoss - one[e].trainLoss) < 0.05,
                     ('epoch %d: loss %g on 2 processes, %g on 1'):format(e, two[e].trainLoss, one[e].trainLoss))
    end
    -- stochastic depth: the same gates as 1 process, iteration by iteration
    local it2, it1 = records(tmp .. '/two', 'iter'), records(tmp .. '/one', 'iter')
    assert.are.equal(16, #it2)
    for i = 1, #it1 do assert.are.equal(it1[i].active, it2[i].active, 'active blocks at iteration ' .. i) end
  end)

  -- Tolerance: float32 weights after 6 SGD steps (LR 0.1), |difference| over max(1, |w|) of
  -- each tensor. Only the order of the sums differs: after 1 step every tensor agrees to
  -- 1e-6 relative in both modes; the steps then amplify it (seen after 6: batch gates 1.2e-7,
  -- row gates 1.4e-5, where per-sample gates make the steps more sensitive). These jobs run
  -- the direct convolutions (FATHOM_CONV=direct): the Winograd backward-weight is more
  -- sensitive to the order of its sums (its transforms scale values before they cancel),
  -- which the 6 steps amplify to 1.3e-4 (F(4x4,3x3), batch gates) and 5e-4 (row gates, with
  -- F(2x2,3x3) as with F(4x4,3x3)); what this test compares is the batch-norm and gradient
  -- sums across ranks.
  for _, gate in ipairs({ 'batch', 'row' }) do
    data_it(('with -syncBN, 2 processes equal 1 process at the same global batch (stochastic depth, %s gates)'):format(gate), function()
      if not dist.setSyncBatchNorm then pending('this build has no synchronised batch norm (fathom.distributed.setSyncBatchNorm)') return end
      local args = BASE .. ' -nEpochs 1 -maxIters 6 -syncBN true -gate ' .. gate .. ' -data ' .. DATA
      local d2, d1 = tmp .. '/sync2' .. gate, tmp .. '/sync1' .. gate
      local out, status = job(2, args .. ' -save ' .. d2, 'FATHOM_CONV=direct')
      assert.are.equal(0, status, out)
      local out1, status1 = job(1, args .. ' -save ' .. d1, 'FATHOM_CONV=direct')
      assert.are.equal(0, status1, out1)
      local a, b = weights(d2), weights(d1)
      local worst, n = 0, 0
      for name, t in pairs(b) do
        local ref = t:double()
        local d = (a[name]:double() - ref):abs():max() / math.max(1, ref:clone():abs():max())
        worst, n = math.max(worst, d), n + 1
      end
      assert.is_true(n > 10)
      if os.getenv('FATHOM_VERBOSE') then print(('\nsyncBN %s gates: max relative difference %.3g'):format(gate, worst)) end
      local tol = gate == 'batch' and 1e-5 or 1e-4
      assert.is_true(worst < tol, ('2 processes differ from 1 by %g (relative)'):format(worst))
      if gate == 'batch' then
        local it2, it1 = records(d2, 'iter'), records(d1, 'iter')
        assert.are.equal(6, #it1)
        for i = 1, #it1 do assert.are.equal(it1[i].active, it2[i].active, 'active blocks at iteration ' .. i) end
      end
      -- the losses of every iteration agree as well
      local it2, it1 = records(d2, 'iter'), records(d1, 'iter')
      for i = 1, #it1 do assert.is_true(math.abs(it1[i].loss - it2[i].loss) < 1e-5, 'loss at iteration ' .. i) end
    end)
  end

  data_it('a 2-process run killed mid-run and resumed is bit-exact against an uninterrupted one', function()
    local args = BASE .. ' -nEpochs 2 -maxIters 6 -checkpointEvery 2 -data ' .. DATA
    local ref, points = tmp .. '/ref', tmp .. '/ref.points'
    local out, status = job(2, args .. ' -save ' .. ref, 'FATHOM_FAULT_LOG=' .. points)
    assert.are.equal(0, status, out)
    local npoints = select(2, files.read(points):gsub('\n', ''))
    assert.is_true(npoints >= 12, 'only ' .. npoints .. ' fault points')
    -- rank 0 dies (SIGKILL) inside a checkpoint of the first epoch; mpirun ends rank 1
    local dir = tmp .. '/killed'
    out, status = job(2, args .. ' -save ' .. dir, 'FATHOM_FAULT_AT=' .. math.floor(npoints / 3))
    assert.are_not.equal(0, status, out)
    assert.is_truthy(io.open(dir .. "/latest.json") ~= nil, 'no checkpoint before the kill')
    out, status = job(2, '-resume ' .. dir)
    assert.are.equal(0, status, out)
    assert.is_truthy(out:find('=> resumed', 1, true), out)
    local a, b = outcome(ref), outcome(dir)
    for name, bytes in pairs(a.weights) do
      assert.is_truthy(b.weights[name], name .. ' missing')
      assert.is_true(b.weights[name] == bytes, name .. ' differs')
    end
    assert.are.same(a.log, b.log)
    assert.are.same(a.summary, b.summary)
  end)

  -- Rank 1's pid comes from a wrapper that writes it before exec'ing the recipe.
  local function start_then(dir, signal, args)
    local cmd = ([[mkdir -p %s; (%s -np 2 sh -c 'echo $$ > %s/pid.$OMPI_COMM_WORLD_RANK; exec %s %s -distributed mpi -save %s/run' >%s/out 2>&1; echo $? >%s/status) &
for i in $(seq 1200); do grep -q '"iter"' %s/run/log.jsonl 2>/dev/null && break; sleep 0.1; done
t0=$(date +%%s.%%N); kill -%s $(cat %s/pid.1); wait; t1=$(date +%%s.%%N)
kill -9 $(cat %s/pid.1) 2>/dev/null; echo "seconds $(echo "$t1 - $t0" | bc)"]]):format(dir, MPI_CMD, dir, RECIPE, args,
      dir, dir, dir, dir, signal, dir, dir)
    local o = sh(cmd)
    return files.read(dir .. '/out'), tonumber(files.read(dir .. '/status')), tonumber(o:match('seconds ([%d.]+)'))
  end

  data_it('rank 1 killed by SIGKILL mid-training ends the job within seconds, naming the rank', function()
    local out, status, secs = start_then(tmp .. '/sigkill', 'KILL', BASE .. ' -nEpochs 1 -maxIters 300 -distTimeout 5 -data ' .. DATA)
    assert.are_not.equal(0, status, out)
    assert.is_true(secs < 20, ('took %.1f s'):format(secs))
    local named = out:find('process rank 1', 1, true) or out:find('rank(s) 1 did not answer', 1, true)
    assert.is_truthy(named, out)
    assert.is_falsy(out:find('== result', 1, true), out)
  end)

  data_it('rank 1 stuck (SIGSTOP) ends the job after -distTimeout, naming the operation and the rank', function()
    local out, status, secs = start_then(tmp .. '/sigstop', 'STOP', BASE .. ' -nEpochs 1 -maxIters 300 -distTimeout 3 -data ' .. DATA)
    assert.are_not.equal(0, status, out)
    assert.is_true(secs < 25, ('took %.1f s'):format(secs))
    assert.is_truthy(out:find('fathom: rank 0: error: ', 1, true), out)
    assert.is_truthy(out:find('rank(s) 1 did not answer', 1, true), out)
    assert.is_falsy(out:find('stack traceback', 1, true), out)
  end)
end)

describe('-distributed mpi: checks', function()
  mpi_it('ranks started with different options stop at once, naming the rank', function()
    local a = ('%s -depth 8 -LR 0.1 -distributed mpi -save /nonexistent/x'):format(RECIPE)
    local b = ('%s -depth 8 -LR 0.2 -distributed mpi -save /nonexistent/x'):format(RECIPE)
    local out, status, secs = sh(('%s -np 1 %s : -np 1 %s'):format(MPI_CMD, a, b))
    assert.are_not.equal(0, status, out)
    assert.is_true(secs < 60, ('took %.1f s'):format(secs))
    assert.is_truthy(out:find('the ranks disagree on the options (give every rank the same command line): rank 1 differs from rank 0', 1, true), out)
    assert.is_falsy(out:find('stack traceback', 1, true), out)
  end)

  it('-distributed mpi without MPI in the build says how to get it', function()
    local dp = require 'fathom.dataparallel'
    local available = dist.available
    dist.available = function() return false end
    local ok, err = pcall(dp.init, { distributed = 'mpi', distTimeout = 5, syncBN = false })
    dist.available = available
    assert.is_false(ok)
    local msg = tostring(err.message or err)
    assert.is_truthy(msg:find('install libopenmpi-dev openmpi-bin', 1, true), msg)
    assert.is_truthy(msg:find('mpirun -np K', 1, true), msg)
  end)

  it('-syncBN without -distributed mpi is a usage error', function()
    local dp = require 'fathom.dataparallel'
    local ok, err = pcall(dp.init, { distributed = 'none', syncBN = true })
    assert.is_false(ok)
    assert.is_truthy(tostring(err.message):find('-syncBN true needs -distributed mpi', 1, true))
    assert.is_nil(dp.init { distributed = 'none', syncBN = false })
  end)
end)
