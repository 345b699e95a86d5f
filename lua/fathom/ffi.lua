-- fathom/ffi.lua -- the library namespace and the one helper every wrapper uses:
-- check(status, fname) turns a C status into a Lua error naming the Lua function and
-- carrying the C message (which names the C function and the argument).
local ffi = require 'ffi'
local C = require 'fathom.loader'

local M = { C = C, ffi = ffi }

-- Out-parameter cells, allocated once (never in hot loops).
M.out = ffi.new('ft_tensor*[1]')
M.out2 = ffi.new('ft_tensor*[1]')
M.dbl = ffi.new('double[1]')
M.idx = ffi.new('int64_t[8]')
M.sizes = ffi.new('int64_t[8]')
M.strides = ffi.new('int64_t[8]')

function M.check(status, fname, level)
  if status ~= 0 then
    error(fname .. ': ' .. ffi.string(C.ft_last_error()), (level or 2) + 1)
  end
end

return M
