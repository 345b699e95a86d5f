-- fathom/log.lua -- the run log: one JSON object per line (JSON Lines) in DIR/log.jsonl,
-- which other tools read line by line (jq, pandas.read_json(lines=True), ...).
--   local L = log.open(path)          -- appends; log.open(path, records) rewrites first
--   L:write{type = 'epoch', epoch = 3, ...}; L:close()
--   log.read(path) -> list of records  (a torn last line, from a crash, is ignored)
-- Every line is flushed as it is written, so a crash loses at most the line in flight.
local json = require 'fathom.json'

local log = {}
local Log = {}
Log.__index = Log

-- records: when given, the file is replaced (atomically) by these records first; resume
-- uses it to make the log agree with the checkpoint it continues from.
function log.open(path, records)
  if records then
    local lines = {}
    for i, r in ipairs(records) do lines[i] = json.encode(r) end
    require('fathom.checkpoint').writeText(path, #lines > 0 and table.concat(lines, '\n') .. '\n' or '')
  end
  local f, err = io.open(path, 'ab')
  if not f then error('cannot open log ' .. path .. ': ' .. tostring(err), 0) end
  return setmetatable({ f = f, path = path }, Log)
end

function Log:write(record)
  self.f:write(json.encode(record), '\n')
  self.f:flush()
end

function Log:close()
  if self.f then self.f:close() end
  self.f = nil
end

function log.read(path)
  local f, err = io.open(path, 'rb')
  if not f then error('cannot open log ' .. path .. ': ' .. tostring(err), 0) end
  local text = f:read('*a')
  f:close()
  local records, lineno = {}, 0
  for line in text:gmatch('([^\n]*)\n') do
    lineno = lineno + 1
    if line:match('%S') then records[#records + 1] = json.decode(line, path .. ':' .. lineno) end
  end
  return records
end

return log
