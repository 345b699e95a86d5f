-- spec/helpers/mpijob.lua -- what the MPI specs share: whether a job can start here, and
-- how a spec starts one (Open MPI on localhost, oversubscribed, as root where needed).
--   local mpijob = require 'mpijob'
--   mpijob.it(name, fn)                      -- pending, with the reason, when MPI is missing
--   local out, status, secs = mpijob.run(np, 'luajit spec/helpers/dist_child.lua collectives', env)
--   mpijob.all_ok(mode, out, status, np)      -- every rank printed "OK MODE rank R"
local dist = require 'fathom.distributed'
local now = require('fathom.progress').now -- monotonic seconds

local M = {}

local found = os.execute('command -v mpirun >/dev/null 2>&1')
M.mpirun = found == 0 or found == true
-- nil when jobs can run; else why not, as a pending test says it
M.why = not dist.available() and 'this build of Fathom has no MPI (bin/setup installs it; then make)'
        or not M.mpirun and 'mpirun not found (apt-get install openmpi-bin)' or nil

-- the mpirun command line, under a wall-clock limit of %d seconds (then -np K and the program)
M.MPIRUN = 'OMP_NUM_THREADS=1 timeout %d mpirun --oversubscribe --allow-run-as-root --bind-to none'

-- A shell command line; returns everything printed, its exit status and the seconds taken.
function M.sh(cmd)
  local t0 = now()
  local p = io.popen(cmd .. ' 2>&1; echo "status $?"')
  local out = p:read('*a')
  p:close()
  return out, tonumber(out:match('status (%d+)%s*$')), now() - t0
end

-- `program` on np ranks under a wall-clock limit (default 120 s); env: 'VAR=value ...'.
function M.run(np, program, env, limit)
  return M.sh(('%s %s -np %d %s'):format(env or '', M.MPIRUN:format(limit or 120), np, program))
end

-- busted puts it, pending and assert in each spec file's environment, not in _G: these
-- take them from the caller's.
function M.it(name, fn)
  local env = getfenv(2)
  if M.why then env.pending(M.why .. ': skipped: ' .. name) else env.it(name, fn) end
end

function M.all_ok(mode, out, status, np)
  local assert = getfenv(2).assert
  assert.are.equal(0, status, out)
  for r = 0, (np or 2) - 1 do
    assert.is_truthy(out:find(('OK %s rank %d'):format(mode, r), 1, true), out)
  end
end

return M
