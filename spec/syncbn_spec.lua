-- spec/syncbn_spec.lua -- synchronised batch norm (SYNCBN-SECTION of core/fathom.h) and
-- row-mode gates under sharding (nn.ResidualDrop:setShard). The comparisons run in real
-- MPI jobs, started as spec/distributed_spec.lua does:
--   mpirun --oversubscribe --allow-run-as-root -np 2 luajit spec/helpers/syncbn_child.lua MODE
-- where every rank computes the 1-process reference on the whole batch itself. Without
-- MPI in the build (or without mpirun) those tests are pending.
local ffi = require 'ffi'
local fathom = require 'fathom'
local dist = require 'fathom.distributed'
local nn = fathom.nn
local check = require 'check'
local C = fathom.C

local mpijob = require 'mpijob'
local MPI, WHY = not mpijob.why, mpijob.why

-- Run MODE on np ranks; returns everything printed and the exit status. A short timeout:
-- a rank left out of a collective must end the job in seconds, not minutes.
local function launch(mode, np)
  local out, status = mpijob.run(np or 2, 'luajit spec/helpers/syncbn_child.lua ' .. mode, 'FATHOM_DIST_TIMEOUT=20')
  return out, status
end
local mpi_it = mpijob.it
local all_ok = mpijob.all_ok

describe('synchronised batch norm: the switch', function()
  it('is off by default, and turning it off always works', function()
    assert.is_false(dist.getSyncBatchNorm())
    dist.setSyncBatchNorm(false)
    assert.are.equal(0, C.ft_batchnorm_get_sync())
    check.expect_error(function() dist.setSyncBatchNorm('yes') end, { 'setSyncBatchNorm', 'true or false' })
  end)

  it('needs distributed mode first', function()
    if dist.initialized() or not dist.available() then return end
    local ok, err = pcall(dist.setSyncBatchNorm, true)
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find('ft_batchnorm_set_sync: distributed mode is not initialised', 1, true), tostring(err))
    assert.is_falsy(tostring(err):find('%.lua:%d+:'), tostring(err))
    assert.is_false(dist.getSyncBatchNorm())
  end)

  it('says how to get MPI in a build without it', function()
    local msg
    if dist.available() then
      -- the no-MPI build of core/dist/ (stubs + switch), built on its own against this library
      local so = os.tmpname() .. '.so'
      local lib = os.getenv('FATHOM_LIB') or 'build/libfathom.so'
      if lib:sub(1, 1) ~= '/' then lib = os.getenv('PWD') .. '/' .. lib end
      local ok = os.execute(('cc -shared -fPIC -std=gnu11 -Icore core/dist/stubs.c core/dist/syncbn.c %s -o %s 2>&1')
                            :format(lib, so))
      if not (ok == 0 or ok == true) then pending('no C compiler: the stub build is not checked') return end
      local S = ffi.load(so)
      os.remove(so)
      assert.are_not.equal(0, S.ft_batchnorm_set_sync(1))
      msg = ffi.string(C.ft_last_error())
      assert.are.equal(0, S.ft_batchnorm_get_sync())
      assert.are.equal(0, S.ft_batchnorm_set_sync(0))
    else
      local ok, err = pcall(dist.setSyncBatchNorm, true)
      assert.is_false(ok)
      msg = tostring(err)
    end
    assert.is_truthy(msg:find('ft_batchnorm_set_sync: this build of Fathom has no MPI: install libopenmpi-dev ' ..
                              'openmpi-bin (bin/setup does) and rebuild', 1, true), msg)
  end)
end)

describe('row-mode gates: the shard setting', function()
  it('checks its arguments, in Lua and in C', function()
    local m = nn.ResidualDrop(2, 2, 1, { gate = 'row', p = 0.5 }):double()
    check.expect_error(function() m:setShard(-1, 4) end, { 'offset must be an integer >= 0' })
    check.expect_error(function() m:setShard(0, 0) end, { 'globalRows must be a positive integer' })
    check.expect_error(function() m:setShard(4, 4) end, { 'offset 4 is outside a global batch of 4' })
    m:setShard(3, 4)
    check.expect_error(function() m:forward(fathom.DoubleTensor(2, 2, 3, 3):fill(1)) end,
                       { 'a batch of 2 rows from offset 3 does not fit the shard of 4 global rows' })
    m:setShard()
    m:forward(fathom.DoubleTensor(2, 2, 3, 3):fill(1))
    local s = m:_sync()
    s.row_offset, s.global_rows = 1, 0
    local y = fathom.DoubleTensor(2, 2, 3, 3)
    assert.are_not.equal(0, C.ft_resblock_forward(s, fathom.DoubleTensor(2, 2, 3, 3):fill(1).p, y.p, 1))
    assert.is_truthy(ffi.string(C.ft_last_error()):find('an offset needs global_rows', 1, true))
    s.row_offset, s.global_rows = 1, 2
    assert.are_not.equal(0, C.ft_resblock_forward(s, fathom.DoubleTensor(2, 2, 3, 3):fill(1).p, y.p, 1))
    assert.is_truthy(ffi.string(C.ft_last_error()):find('do not fit in the global batch of global_rows 2', 1, true))
  end)

  it('draws the global batch: the slices of K shards are the gates of one process', function()
    local B, steps = 9, 20
    local function run(offset, n)
      local m = nn.ResidualDrop(2, 2, 1, { gate = 'row', p = 0.5, generator = fathom.Generator(21) }):double()
      if offset then m:setShard(offset, B) end
      local x = fathom.DoubleTensor(n, 2, 3, 3):fill(1)
      local text = {}
      for _ = 1, steps do
        m:forward(x)
        for i = 1, n do text[#text + 1] = tostring(m.gate[i]) end
      end
      return text
    end
    local all = run(nil, B)
    for K = 2, 4 do
      local got = {}
      for k = 0, K - 1 do
        local first, n = dist.shard(B, k, K)
        local mine = run(first - 1, n)
        for s = 1, steps do
          for i = 1, n do got[(s - 1) * B + first + i - 1] = mine[(s - 1) * n + i] end
        end
      end
      assert.are.equal(table.concat(all), table.concat(got))
    end
    local zeros = select(2, table.concat(all):gsub('0', ''))
    assert.is_true(zeros > 0.3 * B * steps and zeros < 0.7 * B * steps, 'p = 0.5 not exercised')
    -- and it matters: without the shard setting the second shard draws the first's gates
    local first, n = dist.shard(B, 1, 2)
    assert.are_not.equal(table.concat(run(nil, n)), table.concat(run(first - 1, n)))
  end)

  it('dist.shardGates sets every block of a model', function()
    local model = nn.Sequential():add(nn.ResidualDrop(2, 2, 1, { gate = 'row' })):add(nn.ReLU())
                    :add(nn.ResidualDrop(2, 2, 1))
    dist.shardGates(model, 3, 8)
    assert.are.same({ 3, 8 }, { model.modules[1].rowOffset, model.modules[1].globalRows })
    assert.are.same({ 3, 8 }, { model.modules[3].rowOffset, model.modules[3].globalRows })
    dist.shardGates(model)
    assert.is_nil(model.modules[1].globalRows)
    check.expect_error(function() dist.shardGates(42) end, { 'shardGates', 'expected an nn module' })
  end)
end)

describe('synchronised batch norm: 2 ranks x their shard == 1 process x the global batch', function()
  -- Tolerances (relative to the largest value): float64 1e-12, float32 5e-6. Seen:
  -- float64 <= 2e-15; float32 outputs, input gradients and running statistics identical,
  -- summed parameter gradients <= 5e-7 (float32 sums of the ranks' shares).
  mpi_it('BN layers ([N,C,H,W], fused ReLU, [N,C]; uneven shards): outputs, input and parameter gradients, running statistics; sync off keeps per-rank statistics; CUDA refused', function()
    local out, status = launch('bn')
    all_ok('bn', out, status)
    assert.is_truthy(out:find('bn double: max relative', 1, true), out)
  end)

  mpi_it('fused residual blocks with the gate open (identity, downsampling A and B, bottleneck); in a CUDA build GPU blocks are refused', function()
    local out, status = launch('block')
    all_ok('block', out, status)
    assert.is_truthy(out:find('block float: max relative', 1, true), out)
  end)

  mpi_it('row-mode gates: sharded ranks draw the gates of one process; sync BN through them, also with a rank whose rows are all dropped', function()
    local out, status = launch('rows')
    all_ok('rows', out, status)
  end)

  mpi_it('a job of one rank gives bit-identical results with the switch on', function()
    local out, status = launch('single', 1)
    all_ok('single', out, status, 1)
  end)
end)
