-- fathom/fault.lua -- fault injection for crash tests. The checkpoint write path calls
-- fault.point(name) at each of its steps; with FATHOM_FAULT_AT=n in the environment, the
-- n-th call in the process kills the process (SIGKILL, as a power cut would); without
-- it, point() does nothing.
local M = {}

local at = tonumber(os.getenv('FATHOM_FAULT_AT') or '')
local calls = 0

function M.point(name)
  if not at then return end
  calls = calls + 1
  if calls == at then
    local ffi = require 'ffi'
    pcall(ffi.cdef, 'int getpid(void); int kill(int pid, int sig);')
    io.stdout:flush()
    io.stderr:write(('fault: killed at point %d (%s)\n'):format(calls, tostring(name)))
    ffi.C.kill(ffi.C.getpid(), 9)
  end
end

return M
