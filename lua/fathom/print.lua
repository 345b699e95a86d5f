-- fathom/print.lua -- tensors printed the way Torch7 users expect: the values (1-D as a
-- column, 2-D as rows, higher dims as 2-D slices headed "(i,j,.,.) = "), then
-- "[fathom.FloatTensor of size 2x3]". Tensors of more than SUMMARY elements show only
-- EDGE entries at each end of every dimension, with "..." between, so printing a
-- million-element tensor is instant and fits a screen.
local M = { SUMMARY = 1000, EDGE = 3 }

local function special(v) -- nan / inf printed the same on every platform
  if v ~= v then return 'nan' end
  if v == math.huge then return 'inf' end
  if v == -math.huge then return '-inf' end
end

-- One format for all shown values, chosen from their range (as Torch7 does).
local function format_for(values, integer_type)
  local maxabs, allint = 0, true
  for _, v in ipairs(values) do
    if not special(v) then
      local a = math.abs(v)
      if a > maxabs then maxabs = a end
      if v ~= math.floor(v) then allint = false end
    end
  end
  local fmt
  if integer_type or (allint and maxabs < 1e9) then
    local w = #string.format('%d', maxabs) + 2
    fmt = function(v) return string.format('%' .. w .. 'd', v) end
    return function(v) local s = special(v) return s and ('%' .. w .. 's'):format(s) or fmt(v) end
  elseif maxabs >= 1e5 or maxabs < 1e-4 then
    fmt = function(v) return string.format('%11.4e', v) end
    return function(v) local s = special(v) return s and ('%11s'):format(s) or fmt(v) end
  end
  local w = #string.format('%d', math.floor(maxabs)) + 6
  fmt = function(v) return string.format('%' .. w .. '.4f', v) end
  return function(v) local s = special(v) return s and ('%' .. w .. 's'):format(s) or fmt(v) end
end

-- The indices shown along a dimension of size n: all, or EDGE at each end around false.
local function shown(n, summarize)
  local r = {}
  if summarize and n > 2 * M.EDGE then
    for i = 1, M.EDGE do r[#r + 1] = i end
    r[#r + 1] = false
    for i = n - M.EDGE + 1, n do r[#r + 1] = i end
  else
    for i = 1, n do r[i] = i end
  end
  return r
end

-- Walk the shown part of t: leaf(m) for every shown 2-D (or 1-D) block m, gap() for "...".
local function walk(t, summarize, label, leaf, gap)
  if t:dim() <= 2 then return leaf(t, label) end
  for _, i in ipairs(shown(t:size(1), summarize)) do
    if i then
      local l = label and (label .. ',' .. i) or tostring(i)
      walk(t:select(1, i), summarize, l, leaf, gap)
    else
      gap()
    end
  end
end

local function rows_of(m, summarize, fn) -- fn(row index or false, row tensor or nil)
  if m:dim() == 1 then
    for _, i in ipairs(shown(m:size(1), summarize)) do fn(i, i and m[i]) end
    return
  end
  local cols = shown(m:size(2), summarize)
  for _, i in ipairs(shown(m:size(1), summarize)) do
    local vals = {}
    if i then
      local r = m:select(1, i)
      for k, j in ipairs(cols) do vals[k] = j and r[j] or false end
    end
    fn(i, i and vals)
  end
end

function M.tensor(t)
  if t:dim() == 0 then return '[' .. t:type() .. ' with no dimension]' end
  local sizes = {}
  for i = 1, t:dim() do sizes[i] = tostring(t:size(i)) end
  local header = '[' .. t:type() .. ' of size ' .. table.concat(sizes, 'x') .. ']'
  if t:nElement() == 0 then return header end
  local summarize = t:nElement() > M.SUMMARY

  -- first pass: the values shown, to pick one format
  local values = {}
  walk(t, summarize, nil, function(m)
    rows_of(m, summarize, function(_, v)
      if type(v) == 'number' then values[#values + 1] = v
      elseif v then for _, x in ipairs(v) do if x then values[#values + 1] = x end end end
    end)
  end, function() end)
  local dtype = t:dtype()
  local fmt = format_for(values, dtype == 'long' or dtype == 'byte')

  local lines = {}
  walk(t, summarize, nil, function(m, label)
    if label then lines[#lines + 1] = '(' .. label .. ',.,.) = ' end
    rows_of(m, summarize, function(i, v)
      if not i then lines[#lines + 1] = '...'
      elseif type(v) == 'number' then lines[#lines + 1] = fmt(v)
      else
        local parts = {}
        for k, x in ipairs(v) do parts[k] = x and fmt(x) or '...' end
        lines[#lines + 1] = table.concat(parts, ' ')
      end
    end)
    if label then lines[#lines + 1] = '' end
  end, function() lines[#lines + 1] = '...'; lines[#lines + 1] = '' end)
  lines[#lines + 1] = header
  return table.concat(lines, '\n')
end

return M
