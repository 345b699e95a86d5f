-- bench/util.lua -- what the benchmark scripts share: `-name value` options and medians.
local M = {}

-- Parse `-key value` pairs into a copy of defaults; a value becomes a number when the
-- default is one. Unknown, incomplete or non-numeric options stop with exit code 2.
function M.options(script, defaults, args)
  local opt = {}
  for k, v in pairs(defaults) do opt[k] = v end
  local i = 1
  while i <= #args do
    local k = args[i]:match('^%-(.+)$')
    local v = args[i + 1]
    if type(opt[k]) == 'number' then v = tonumber(v or '') end
    if not k or opt[k] == nil or v == nil then
      io.stderr:write(script .. ': unknown or incomplete option ' .. args[i] .. '\n')
      os.exit(2)
    end
    opt[k] = v
    i = i + 2
  end
  return opt
end

-- The median of a list of numbers (the list is left as it is).
function M.median(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  local n = #c
  return n % 2 == 1 and c[(n + 1) / 2] or (c[n / 2] + c[n / 2 + 1]) / 2
end

return M
