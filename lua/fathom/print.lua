-- fathom/print.lua -- tensors printed the way Torch7 users expect: the values (2-D
-- slices for higher dims, each headed "(i,j,.,.) ="), then "[fathom.FloatTensor of size 2x3]".
local M = {}

local function format_for(values)
  local maxabs, allint = 0, true
  for _, v in ipairs(values) do
    local a = math.abs(v)
    if a ~= math.huge and a == a then
      if a > maxabs then maxabs = a end
      if v ~= math.floor(v) then allint = false end
    end
  end
  if allint and maxabs < 1e9 then
    local w = #string.format('%d', maxabs) + 1
    return function(v)
      if v ~= v or math.abs(v) == math.huge then return string.format('%' .. (w + 1) .. 's', tostring(v)) end
      return string.format('%' .. (w + 1) .. 'd', v)
    end
  end
  if maxabs >= 1e5 or maxabs < 1e-4 then
    return function(v) return string.format('%12.4e', v) end
  end
  local w = #string.format('%d', math.floor(maxabs)) + 6
  return function(v) return string.format('%' .. w .. '.4f', v) end
end

local function sizes_str(t)
  local s = {}
  for i = 1, t:dim() do s[i] = tostring(t:size(i)) end
  return table.concat(s, 'x')
end

local function matrix_lines(m, fmt, lines)
  for i = 1, m:size(1) do
    local row = {}
    local r = m:select(1, i)
    for j = 1, r:size(1) do row[j] = fmt(r[j]) end
    lines[#lines + 1] = table.concat(row, ' ')
  end
end

function M.tensor(t)
  local nd = t:dim()
  local header = '[' .. t:type() .. ' of size ' .. sizes_str(t) .. ']'
  if nd == 0 then return '[' .. t:type() .. ' with no dimension]' end
  local all = t:contiguous():view(t:nElement())
  local values = {}
  local limit = math.min(t:nElement(), 100000)
  for i = 1, limit do values[i] = all[i] end
  local fmt = format_for(values)
  local lines = {}
  if nd == 1 then
    for i = 1, t:size(1) do lines[#lines + 1] = fmt(t[i]) end
  elseif nd == 2 then
    matrix_lines(t, fmt, lines)
  else
    -- iterate over all leading indices, printing each trailing 2-D slice
    local lead = {}
    for d = 1, nd - 2 do lead[d] = 1 end
    while true do
      local m = t
      for d = 1, nd - 2 do m = m:select(1, lead[d]) end
      local label = {}
      for d = 1, nd - 2 do label[d] = tostring(lead[d]) end
      lines[#lines + 1] = '(' .. table.concat(label, ',') .. ',.,.) = '
      matrix_lines(m, fmt, lines)
      lines[#lines + 1] = ''
      local d = nd - 2
      while d >= 1 do
        lead[d] = lead[d] + 1
        if lead[d] <= t:size(d) then break end
        lead[d] = 1
        d = d - 1
      end
      if d < 1 then break end
    end
  end
  lines[#lines + 1] = header
  return table.concat(lines, '\n')
end

return M
