-- check.lua -- small assertions and scratch folders shared by the specs.
local assert = require 'luassert'
local M = {}

-- Largest absolute difference between two tensors, compared in float64.
function M.maxdiff(a, b) return (a:double() - b:double()):abs():max() end

-- fn must raise an error whose message contains every string in `parts`.
function M.expect_error(fn, parts)
  local ok, msg = pcall(fn)
  assert.is_false(ok, 'expected an error')
  msg = tostring(msg)
  for _, p in ipairs(parts) do
    assert.is_truthy(msg:find(p, 1, true), ('error %q should mention %q'):format(msg, p))
  end
  return msg
end

-- A fresh temporary path that does not exist yet (for a run's -save DIR).
function M.tmppath()
  local d = os.tmpname()
  os.remove(d)
  return d
end

-- A fresh, empty temporary directory.
function M.tmpdir()
  local d = M.tmppath()
  os.execute("mkdir -p '" .. d .. "'")
  return d
end

function M.rmdir(d) os.execute("rm -rf '" .. d .. "'") end

return M
