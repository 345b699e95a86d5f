-- check.lua -- small assertions shared by the nn specs.
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
end

return M
