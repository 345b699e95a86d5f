-- spec/distributed_spec.lua -- data-parallel communication (core/dist/, fathom.distributed).
-- The collectives run in real 2-process jobs: each test starts
--   mpirun --oversubscribe --allow-run-as-root -np 2 luajit spec/helpers/dist_child.lua MODE
-- and reads what the ranks print. Without MPI in the build (or without mpirun) those tests
-- are reported as pending, and the no-MPI message is checked instead.
local ffi = require 'ffi'
local fathom = require 'fathom'
local dist = require 'fathom.distributed'
local check = require 'check'
local C = fathom.C

local mpijob = require 'mpijob'
local MPI, WHY = not mpijob.why, mpijob.why

-- Run MODE on np ranks; returns everything printed, the exit status and the seconds taken.
local function launch(mode, np, env)
  return mpijob.run(np or 2, 'luajit spec/helpers/dist_child.lua ' .. mode, env)
end
local mpi_it = mpijob.it
local function both_ok(mode, out, status) mpijob.all_ok(mode, out, status, 2) end

describe('distributed: shards of a global batch', function()
  it('cover 1..B once, contiguous, in rank order, with the remainder on the first ranks', function()
    for _, B in ipairs({ 0, 1, 5, 7, 8, 128, 129 }) do
      for K = 1, 5 do
        local next_first, sizes = 1, {}
        for k = 0, K - 1 do
          local first, n = dist.shard(B, k, K)
          assert.are.equal(next_first, first)
          next_first = first + n
          sizes[#sizes + 1] = n
        end
        assert.are.equal(B + 1, next_first)
        for k = 1, K do
          assert.are.equal(math.floor(B / K) + ((k - 1) < B % K and 1 or 0), sizes[k])
        end
      end
    end
    assert.are.same({ 1, 4 }, { dist.shard(7, 0, 2) })
    assert.are.same({ 5, 3 }, { dist.shard(7, 1, 2) })
  end)

  it('refuses bad arguments', function()
    check.expect_error(function() dist.shard(8, 2, 2) end, { 'rank 2 is not below size 2' })
    check.expect_error(function() dist.shard(-1, 0, 2) end, { 'globalBatchSize' })
    check.expect_error(function() dist.shard(8, 0, 0) end, { 'size' })
  end)

  it('a single process without init is rank 0 of 1, and its gradients stay as they are', function()
    if dist.initialized() then return end
    assert.are.equal(0, dist.rank())
    assert.are.equal(1, dist.size())
    local g = fathom.DoubleTensor(3):fill(2)
    dist.allReduceGradients(g)
    assert.are.equal(2, g[3])
  end)
end)

describe('distributed: fingerprints', function()
  it('are canonical for tables and tell values apart', function()
    assert.are.equal(dist.fingerprint({ b = 1, a = { 2, 'x' } }), dist.fingerprint({ a = { 2, 'x' }, b = 1 }))
    assert.are_not.equal(dist.fingerprint({ a = 1 }), dist.fingerprint({ a = '1' }))
    assert.are.equal(dist.hash('abc'), dist.hash('abc'))
    assert.are_not.equal(dist.hash('abc'), dist.hash('abd'))
    assert.is_true(dist.hash('abc') < 2^48 and dist.hash('abc') == math.floor(dist.hash('abc')))
  end)
end)

describe('distributed: a build without MPI', function()
  it('says how to get MPI, from C and from Lua', function()
    local msg
    if dist.available() then
      -- the no-MPI twin of the API (core/dist/stubs.c), built on its own against this library
      local so = os.tmpname() .. '.so'
      local lib = os.getenv('FATHOM_LIB') or 'build/libfathom.so'
      if lib:sub(1, 1) ~= '/' then lib = os.getenv('PWD') .. '/' .. lib end
      local ok = os.execute(('cc -shared -fPIC -std=gnu11 -Icore core/dist/stubs.c %s -o %s 2>&1'):format(lib, so))
      if not (ok == 0 or ok == true) then pending('no C compiler: the stub build is not checked') return end
      local S = ffi.load(so)
      os.remove(so)
      assert.are.equal(0, S.ft_has_mpi())
      assert.are_not.equal(0, S.ft_dist_init())
      msg = ffi.string(C.ft_last_error())
      assert.are_not.equal(0, S.ft_dist_allreduce(fathom.FloatTensor(2).p))
      assert.is_truthy(ffi.string(C.ft_last_error()):find('ft_dist_allreduce: this build of Fathom has no MPI', 1, true))
      assert.are.equal(0, S.ft_dist_set_timeout(5))
      assert.are.equal(5, S.ft_dist_get_timeout())
    else
      local ok, err = pcall(dist.init)
      assert.is_false(ok)
      msg = tostring(err)
      assert.is_falsy(msg:find('%.lua:%d+:'), 'no Lua position in: ' .. msg)
    end
    assert.is_truthy(msg:find('ft_dist_init: this build of Fathom has no MPI: install libopenmpi-dev ' ..
                              'openmpi-bin (bin/setup does) and rebuild', 1, true), msg)
  end)

  it('refuses bad settings in every build', function()
    assert.are_not.equal(0, C.ft_dist_set_timeout(0))
    assert.is_truthy(ffi.string(C.ft_last_error()):find('ft_dist_set_timeout', 1, true))
    assert.are_not.equal(0, C.ft_dist_set_max_count(0))
    assert.are_not.equal(0, C.ft_dist_set_max_count(2^31))
    check.expect_error(function() dist.setTimeout('x') end, { 'seconds must be a number' })
  end)

  it('collectives before init fail with a message', function()
    if dist.initialized() or not dist.available() then return end
    assert.are_not.equal(0, C.ft_dist_barrier())
    assert.is_truthy(ffi.string(C.ft_last_error()):find('not initialised', 1, true))
  end)
end)

describe('distributed: 2-process jobs', function()
  mpi_it('broadcast, all-reduce (whole, range, buckets, split calls) and number sums give hand-computed values', function()
    local out, status = launch('collectives')
    both_ok('collectives', out, status)
  end)

  -- Tolerances: float64 1e-12 and float32 2e-6 absolute on weights of size ~1 after 5 SGD
  -- steps; the layers are per-sample independent, so the only difference is the order of
  -- the gradient sums (seen: 1e-16 and 6e-8).
  mpi_it('an MLP trained on 2 ranks x B/2 equals 1 process x B (even and uneven shards), same weights on every rank', function()
    local out, status = launch('train')
    both_ok('train', out, status)
    assert.is_truthy(out:find('max |2 ranks - 1 process|', 1, true), out)
  end)

  mpi_it("broadcastParameters gives every rank rank 0's weights and BN statistics; averageBatchNormStatistics averages them", function()
    local out, status = launch('models')
    both_ok('models', out, status)
  end)

  mpi_it('stochastic depth gates are identical on every rank for the same seed, without communication', function()
    local out, status = launch('gates')
    both_ok('gates', out, status)
  end)

  -- A GPU machine runs this with one rank per GPU (NCCL refuses two ranks on one GPU).
  local GPUS = dist.hasNCCL() and fathom.cuda.deviceCount() or 0
  if GPUS > 0 and MPI then
    it('NCCL: CUDA tensors are summed and broadcast as the MPI path does', function()
      local out, status = launch('nccl', math.min(GPUS, 2))
      assert.are.equal(0, status, out)
      assert.is_truthy(out:find('agree', 1, true), out)
    end)
  else
    pending(('NCCL path: skipped (%s)'):format(not dist.hasNCCL() and 'this build has no NCCL' or not MPI and WHY
            or 'no CUDA device'))
  end

  it('initGPU without NCCL or without a GPU fails with a message', function()
    if GPUS > 0 then return end
    local ok, err = pcall(dist.initGPU)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find('ft_dist_nccl_init: ', 1, true), tostring(err))
  end)

  mpi_it('a rank stuck outside MPI ends the job after the timeout, naming the operation and the rank', function()
    local out, status, secs = launch('stuck', 2, 'FATHOM_DIST_TIMEOUT=30')
    assert.are_not.equal(0, status, out)
    assert.is_true(secs < 30, ('took %.1f s'):format(secs))
    for _, part in ipairs({ 'fathom: rank 0: fathom.distributed.allReduce: ft_dist_allreduce: rank 0 gave up on ' ..
                            'all-reduce of 1000 float32 (collective #1) after ', ' s: rank(s) 1 did not answer' }) do
      assert.is_truthy(out:find(part, 1, true), out)
    end
    assert.is_falsy(out:find('stack traceback', 1, true), out)
    assert.is_falsy(out:find('OK stuck', 1, true), out)
  end)

  mpi_it('a rank killed by SIGKILL mid-job ends the job within a bounded time, naming the rank', function()
    local out, status, secs = launch('kill', 2, 'FATHOM_DIST_TIMEOUT=5')
    assert.are_not.equal(0, status, out)
    assert.is_true(secs < 30, ('took %.1f s'):format(secs))
    -- mpirun sees the death itself and ends rank 0; if it did not, rank 0's timeout would
    local named = out:find('process rank 1', 1, true) or out:find('rank(s) 1 did not answer', 1, true)
    assert.is_truthy(named, out)
    assert.is_falsy(out:find('OK kill', 1, true), out)
  end)
end)
