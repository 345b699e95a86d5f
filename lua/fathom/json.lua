-- fathom/json.lua -- a small, strict JSON encoder and decoder for logs, summaries,
-- checkpoint state and safetensors headers.
--   json.encode(value [, {indent = 2}]) -> string   (object keys sorted: stable output)
--   json.decode(text [, what]) -> value              (errors name `what` and the position)
-- Decoding never executes code: it is a hand-written parser, not load().
-- Numbers: integers up to 2^53 are written as integers, others with the fewest digits
-- (15 to 17) so a double survives the round trip exactly. NaN and infinities have no JSON
-- spelling: they are written as null. JSON null decodes to json.null (a sentinel), so
-- arrays keep their positions. An empty Lua table encodes as {} unless made with
-- json.array().
local json = {}

json.null = setmetatable({}, { __tostring = function() return 'null' end })
local array_mt = { __jsontype = 'array' }
local object_mt = { __jsontype = 'object' }
-- Mark a table as a JSON array / object (decides how an empty table is written).
function json.array(t) return setmetatable(t or {}, array_mt) end
function json.object(t) return setmetatable(t or {}, object_mt) end

---------------------------------------------------------------------------- encode
local escapes = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f',
                  ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t' }
local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or ('\\u%04x'):format(c:byte())
  end) .. '"'
end

local function encode_number(x)
  if x ~= x or x == math.huge or x == -math.huge then return 'null' end
  if x == math.floor(x) and math.abs(x) < 2^53 then return ('%d'):format(x) end
  for digits = 15, 16 do -- the shortest form that reads back exactly
    local s = ('%.' .. digits .. 'g'):format(x)
    if tonumber(s) == x then return s end
  end
  return ('%.17g'):format(x)
end

-- Is t an array 1..n with no other keys? Returns n, or nil for an object.
local function array_length(t)
  local mt = getmetatable(t)
  if mt == object_mt then return nil end
  local n = 0
  for k in pairs(t) do
    if type(k) ~= 'number' or k < 1 or k ~= math.floor(k) then return nil end
    if k > n then n = k end
  end
  if n == 0 and mt ~= array_mt then return nil end
  for i = 1, n do
    if t[i] == nil then error('json.encode: sparse array (index ' .. i .. ' is nil)', 0) end
  end
  return n
end

local encode_value
local function encode_table(t, indent, depth, seen)
  if seen[t] then error('json.encode: cycle in the table', 0) end
  seen[t] = true
  local nl, pad, pad_in, colon = '', '', '', ':'
  if indent then
    nl = '\n'
    pad = (' '):rep(indent * depth)
    pad_in = (' '):rep(indent * (depth + 1))
    colon = ': '
  end
  local parts = {}
  local n = array_length(t)
  local out
  if n then
    for i = 1, n do parts[i] = pad_in .. encode_value(t[i], indent, depth + 1, seen) end
    out = n == 0 and '[]' or '[' .. nl .. table.concat(parts, ',' .. nl) .. nl .. pad .. ']'
  else
    local keys = {}
    for k in pairs(t) do
      local tk = type(k)
      if tk ~= 'string' and tk ~= 'number' then
        error('json.encode: object key must be a string, got ' .. tk, 0)
      end
      keys[#keys + 1] = k
    end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for i, k in ipairs(keys) do
      parts[i] = pad_in .. encode_string(tostring(k)) .. colon ..
                 encode_value(t[k], indent, depth + 1, seen)
    end
    out = #keys == 0 and '{}' or '{' .. nl .. table.concat(parts, ',' .. nl) .. nl .. pad .. '}'
  end
  seen[t] = nil
  return out
end

function encode_value(v, indent, depth, seen)
  local tv = type(v)
  if v == nil or v == json.null then return 'null'
  elseif tv == 'boolean' then return tostring(v)
  elseif tv == 'number' then return encode_number(v)
  elseif tv == 'string' then return encode_string(v)
  elseif tv == 'table' then return encode_table(v, indent, depth, seen)
  end
  error('json.encode: cannot encode a value of type ' .. tv, 0)
end

function json.encode(v, options)
  local indent = options and options.indent
  return encode_value(v, indent, 0, {})
end

---------------------------------------------------------------------------- decode
local MAX_DEPTH = 200

local function decode_error(s, pos, what, msg)
  local line = 1
  for _ in s:sub(1, pos - 1):gmatch('\n') do line = line + 1 end
  error(('%s: invalid JSON at byte %d (line %d): %s'):format(what, pos, line, msg), 0)
end

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
  end
  return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
                     0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local simple_unescape = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f',
                          n = '\n', r = '\r', t = '\t' }

local function skip_ws(s, pos) return s:find('[^ \t\r\n]', pos) or #s + 1 end

local decode_value
local function decode_string(s, pos, what)
  -- pos is at the opening quote
  local parts, i = {}, pos + 1
  while true do
    local j = s:find('["\\%c]', i)
    if not j then decode_error(s, pos, what, 'unterminated string') end
    parts[#parts + 1] = s:sub(i, j - 1)
    local c = s:sub(j, j)
    if c == '"' then return table.concat(parts), j + 1 end
    if c ~= '\\' then decode_error(s, j, what, 'control character in string') end
    local e = s:sub(j + 1, j + 1)
    if simple_unescape[e] then
      parts[#parts + 1] = simple_unescape[e]
      i = j + 2
    elseif e == 'u' then
      local hex = s:match('^%x%x%x%x', j + 2)
      if not hex then decode_error(s, j, what, 'bad \\u escape') end
      local cp = tonumber(hex, 16)
      i = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF then -- surrogate pair
        local lo = s:match('^\\u(%x%x%x%x)', i)
        local lv = lo and tonumber(lo, 16)
        if not lv or lv < 0xDC00 or lv > 0xDFFF then decode_error(s, j, what, 'lone surrogate') end
        cp = 0x10000 + (cp - 0xD800) * 0x400 + (lv - 0xDC00)
        i = i + 6
      end
      parts[#parts + 1] = utf8_char(cp)
    else
      decode_error(s, j, what, 'bad escape \\' .. e)
    end
  end
end

local function decode_number(s, pos, what)
  local int = s:match('^-?%d+', pos)
  if not int or int:match('^-?0%d') then decode_error(s, pos, what, 'malformed number') end
  local p = pos + #int
  local frac = s:match('^%.%d+', p)
  if frac then p = p + #frac elseif s:sub(p, p) == '.' then decode_error(s, p, what, 'malformed number') end
  local ex = s:match('^[eE][-+]?%d+', p)
  if ex then p = p + #ex elseif s:match('^[eE]', p) then decode_error(s, p, what, 'malformed number') end
  return tonumber(s:sub(pos, p - 1)), p
end

local literals = { ['true'] = true, ['false'] = false }

function decode_value(s, pos, what, depth)
  if depth > MAX_DEPTH then decode_error(s, pos, what, 'nested too deeply') end
  pos = skip_ws(s, pos)
  local c = s:sub(pos, pos)
  if c == '{' then
    local obj = {}
    pos = skip_ws(s, pos + 1)
    if s:sub(pos, pos) == '}' then return obj, pos + 1 end
    while true do
      if s:sub(pos, pos) ~= '"' then decode_error(s, pos, what, 'expected a string key') end
      local key
      key, pos = decode_string(s, pos, what)
      pos = skip_ws(s, pos)
      if s:sub(pos, pos) ~= ':' then decode_error(s, pos, what, "expected ':'") end
      local v
      v, pos = decode_value(s, pos + 1, what, depth + 1)
      obj[key] = v
      pos = skip_ws(s, pos)
      local d = s:sub(pos, pos)
      if d == '}' then return obj, pos + 1 end
      if d ~= ',' then decode_error(s, pos, what, "expected ',' or '}'") end
      pos = skip_ws(s, pos + 1)
    end
  elseif c == '[' then
    local arr = json.array({})
    pos = skip_ws(s, pos + 1)
    if s:sub(pos, pos) == ']' then return arr, pos + 1 end
    while true do
      local v
      v, pos = decode_value(s, pos, what, depth + 1)
      arr[#arr + 1] = v
      pos = skip_ws(s, pos)
      local d = s:sub(pos, pos)
      if d == ']' then return arr, pos + 1 end
      if d ~= ',' then decode_error(s, pos, what, "expected ',' or ']'") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(s, pos, what)
  elseif c == '-' or c:match('%d') then
    return decode_number(s, pos, what)
  elseif c == '' then
    decode_error(s, pos, what, 'unexpected end of input')
  else
    for lit, v in pairs(literals) do
      if s:sub(pos, pos + #lit - 1) == lit then return v, pos + #lit end
    end
    if s:sub(pos, pos + 3) == 'null' then return json.null, pos + 4 end
    decode_error(s, pos, what, ('unexpected character %q'):format(c))
  end
end

function json.decode(s, what)
  what = what or 'json.decode'
  if type(s) ~= 'string' then error(what .. ': expected a string, got ' .. type(s), 2) end
  local v, pos = decode_value(s, 1, what, 0)
  pos = skip_ws(s, pos)
  if pos <= #s then decode_error(s, pos, what, 'trailing characters') end
  return v
end

-- Read a whole file and decode it; errors name the file.
function json.read(path)
  local f, err = io.open(path, 'rb')
  if not f then error('cannot open ' .. path .. ': ' .. tostring(err), 0) end
  local s = f:read('*a')
  f:close()
  return json.decode(s, path)
end

return json
