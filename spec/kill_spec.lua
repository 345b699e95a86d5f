-- kill_spec.lua -- kill -9 a short training run, resume it, and get bit for bit what an
-- uninterrupted run gets: the final weights files and every logged value but timings.
-- Two kinds of kill: at each fault point of the checkpoint writer (fathom.fault: the
-- reference run counts them with FATHOM_FAULT_LOG, trial n sets FATHOM_FAULT_AT=n), and
-- at random moments (timeout -s KILL). Trials run FATHOM_KILL_JOBS at a time (default 2).
-- Data: FATHOM_DATA when set, else a synthetic CIFAR-10 in the official binary format
-- written here. FATHOM_KILL_SEED fixes the random moments.
require 'fathom'
local files = require 'datafiles'

local lib = os.getenv('FATHOM_LIB')
local ENV = 'env ' .. (lib and ("FATHOM_LIB='" .. lib .. "' ") or '')

-- exit status of a shell command line, 128 + signal when killed (as sh reports it)
local function run(cmd)
  local ok, _, code = os.execute(cmd)
  if type(ok) == 'number' then code = ok >= 256 and math.floor(ok / 256) or ok end
  return code
end

local function now()
  local p = io.popen('date +%s.%N')
  local t = tonumber(p:read('*l'))
  p:close()
  return t
end

local function synthetic_cifar10(root)
  local dir = files.mkdir(root .. '/cifar-10-batches-bin')
  local blocks = {}
  for k = 0, 96 do
    local px = {}
    for c = 0, 2 do for y = 0, 31 do
      local row = {}
      for x = 0, 31 do row[#row + 1] = files.pixel(k, c, y, x) end
      px[#px + 1] = string.char(unpack(row))
    end end
    blocks[k] = table.concat(px)
  end
  local function records(n)
    local r = {}
    for i = 0, n - 1 do r[#r + 1] = string.char(i % 10) .. blocks[(i * 13) % 97] end
    return table.concat(r)
  end
  local batch = records(10000)
  files.write(dir .. '/data_batch_1.bin', batch)
  for b = 2, 5 do -- the same 30 MB five times: links, not copies
    assert(run(("ln '%s/data_batch_1.bin' '%s/data_batch_%d.bin'"):format(dir, dir, b)) == 0)
  end
  files.write(dir .. '/test_batch.first1000.bin', records(1000))
  return root
end

-- values of a run that must not depend on interruptions: timings dropped, paths dropped
local outcome = require('runoutcome').outcome

local function same_outcome(ref, got, what)
  for name, bytes in pairs(ref.weights) do
    assert.is_truthy(got.weights[name], what .. ': ' .. name .. ' missing')
    assert.is_true(got.weights[name] == bytes, what .. ': ' .. name .. ' differs')
  end
  for name in pairs(got.weights) do assert.is_truthy(ref.weights[name], what .. ': extra ' .. name) end
  assert.are.same(ref.log, got.log, what .. ': log.jsonl differs')
  assert.are.same(ref.summary, got.summary, what .. ': summary.json differs')
end

-- Shell for one trial: `first` (a run that may be killed) into dir, then, while it died
-- by SIGKILL, -resume from its checkpoint, or start again when it died before writing one.
-- Writes dir.first (status of the first run) and dir.code (final status).
local function trial_script(first, base, dir)
  local q = "'" .. dir .. "'"
  return ([[%s -save %s >%s.out 2>&1; c=$?; echo $c >%s.first
n=0; while [ $c -eq 137 ] && [ $n -lt 3 ]; do n=$((n+1))
  if [ -f %s/latest.json ]; then %s -resume %s >%s.out 2>&1; c=$?
  else rm -rf %s; %s -save %s >%s.out 2>&1; c=$?; fi
done; echo $c >%s.code]]):format(first, q, q, q, q, base, q, q, q, base, q, q, q)
end

-- Runs the trials' scripts `jobs` at a time; each as sh -c in the background.
local function run_all(scripts, jobs)
  for i = 1, #scripts, jobs do
    local batch = {}
    for k = i, math.min(i + jobs - 1, #scripts) do
      local f = os.tmpname()
      files.write(f, scripts[k])
      batch[#batch + 1] = "sh '" .. f .. "' & "
    end
    os.execute(table.concat(batch) .. 'wait')
  end
end

local function status(path) return tonumber((files.read(path):match('%d+'))) end

describe('kill -9 and resume', function()
  local tmp, data, base, ref, npoints, duration
  local jobs = tonumber(os.getenv('FATHOM_KILL_JOBS') or '') or 2
  setup(function()
    tmp = files.tmpdir()
    data = os.getenv('FATHOM_DATA') or synthetic_cifar10(files.mkdir(tmp .. '/data'))
    base = ENV .. 'luajit recipes/cifar10_sd.lua -depth 8 -nEpochs 3 -maxIters 4 -maxEvalIters 2 ' ..
           "-trainSubset 1000 -batchSize 32 -nThreads 1 -computeThreads 1 -plot false -manualSeed 1 -data '" .. data .. "'"
  end)
  teardown(function() files.rmtree(tmp) end)

  it('runs uninterrupted once, as the reference, counting the fault points', function()
    local dir, log = tmp .. '/ref', tmp .. '/ref.points'
    local t0 = now()
    assert.are.equal(0, run(("FATHOM_FAULT_LOG='%s' %s -save '%s' >'%s.out' 2>&1"):format(log, base, dir, dir)),
                     files.read(dir .. '.out'))
    duration = now() - t0
    ref = outcome(dir)
    assert.is_truthy(ref.weights['model_best.safetensors'])
    assert.are.equal(3, #ref.log)
    npoints = select(2, files.read(log):gsub('\n', ''))
    -- three checkpoints and the best weights, several steps each: the hook is wired in
    assert.is_true(npoints >= 12, ('only %d fault points'):format(npoints))
  end)

  local function check_trials(dirs, what, must_die)
    local killed = 0
    for i, dir in ipairs(dirs) do
      local first, final = status(dir .. '.first'), status(dir .. '.code')
      if must_die then
        assert.are.equal(137, first, what(i) .. ': the run did not die: ' .. files.read(dir .. '.out'))
      end
      if first == 137 then killed = killed + 1 end
      assert.are.equal(0, final, what(i) .. ': resuming failed: ' .. files.read(dir .. '.out'))
      same_outcome(ref, outcome(dir), what(i))
    end
    return killed
  end

  it('is bit-identical after a kill at every fault point of the checkpoint writer', function()
    assert(ref, 'the reference run failed')
    local scripts, dirs = {}, {}
    for n = 1, npoints do
      dirs[n] = tmp .. '/fault' .. n
      scripts[n] = trial_script(('FATHOM_FAULT_AT=%d FATHOM_FAULT_LOG=%s.points %s'):format(n, dirs[n], base),
                                base, dirs[n])
    end
    run_all(scripts, jobs)
    check_trials(dirs, function(n)
      local ok, pts = pcall(files.read, dirs[n] .. '.points')
      return ('fault point %d (%s)'):format(n, ok and pts:match('([^\n]*)\n$') or '?')
    end, true)
  end)

  it('is bit-identical after kills at random moments', function()
    assert(ref, 'the reference run failed')
    local seed = tonumber(os.getenv('FATHOM_KILL_SEED') or '') or os.time()
    math.randomseed(seed)
    local scripts, dirs, at = {}, {}, {}
    for k = 1, 6 do
      -- within the first 70% of the reference run's time: the load on the machine varies, and
      -- a moment near the end can miss a run that happens to go faster this time
      dirs[k], at[k] = tmp .. '/random' .. k, 0.05 + math.random() * 0.7 * duration
      scripts[k] = trial_script(('timeout -s KILL %.3f %s'):format(at[k], base), base, dirs[k])
    end
    run_all(scripts, jobs)
    local killed = check_trials(dirs, function(k)
      return ('random kill %d at %.3f s (FATHOM_KILL_SEED=%d)'):format(k, at[k], seed)
    end, false)
    assert.is_true(killed >= 3, ('only %d of 6 runs were killed (seed %d)'):format(killed, seed))
  end)
end)
