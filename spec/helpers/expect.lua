-- spec/helpers/expect.lua -- checks for the programs the specs start in child processes
-- (the MPI ranks of spec/helpers/*_child.lua), where busted's assert is not loaded: a
-- failed check raises, and the program's error handling reports it.
local M = {}

function M.expect(cond, msg) if not cond then error(msg, 2) end end

function M.expect_error(fn, part)
  local ok, msg = pcall(fn)
  M.expect(not ok, 'expected an error mentioning ' .. part)
  M.expect(tostring(msg):find(part, 1, true), ('error %q should mention %q'):format(tostring(msg), part))
end

return M
