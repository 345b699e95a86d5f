-- fathom/fault.lua -- fault injection for the kill tests: the checkpoint writer calls
-- point(name) at each step of a write. With FATHOM_FAULT_AT=n in the environment the
-- n-th call in this process sends SIGKILL to the process itself (no handler, no flush:
-- what a power cut or an OOM kill leaves behind); without it, point() does nothing.
-- FATHOM_FAULT_LOG=FILE also appends each point's name to FILE, to count and name them.
local ffi = require 'ffi'

pcall(ffi.cdef, 'int kill(int pid, int sig); int getpid(void);')

local M = {}
local at = tonumber(os.getenv('FATHOM_FAULT_AT') or '')
local log = os.getenv('FATHOM_FAULT_LOG')
local count = 0
local SIGKILL = 9

function M.point(name)
  if not at and not log then return end
  count = count + 1
  if log then
    local f = io.open(log, 'a')
    if f then f:write(count, ' ', tostring(name), '\n') f:close() end
  end
  if count == at then ffi.C.kill(ffi.C.getpid(), SIGKILL) end
end

return M
