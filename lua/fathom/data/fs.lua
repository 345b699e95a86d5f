-- fathom/data/fs.lua -- the little file-system help the data code needs, through the C
-- library (no LuaFileSystem dependency): directory listings, existence checks, and where
-- the data lives (option dir, $FATHOM_DATA, ../shared/data next to the source tree, ./data).
local ffi = require 'ffi'
local F = require 'fathom.ffi'
local C = F.C

local M = {}
local needed, count = ffi.new('int64_t[1]'), ffi.new('int64_t[1]')

-- Entries of a directory, sorted: { {name=, kind='d'|'f'|'?'}, ... }; nil, message if absent.
function M.list(path)
  if C.ft_data_list_dir(path, nil, 0, needed, count) ~= 0 then
    return nil, ffi.string(C.ft_last_error())
  end
  local cap = tonumber(needed[0])
  local buf = ffi.new('char[?]', math.max(cap, 1))
  F.check(C.ft_data_list_dir(path, buf, cap, needed, count), 'fathom.data.list')
  local out, at = {}, 0
  for _ = 1, tonumber(count[0]) do
    local name = ffi.string(buf + at + 1)
    out[#out + 1] = { kind = string.char(buf[at]), name = name }
    at = at + #name + 2
  end
  return out
end

function M.isdir(path) return path ~= nil and (M.list(path)) ~= nil end
function M.isfile(path)
  local f = path and io.open(path, 'rb')
  if not f then return false end
  f:close()
  return not M.isdir(path)
end
function M.join(a, b) return (a:gsub('/+$', '')) .. '/' .. b end

-- The root of the source tree (when running from a checkout), from this file's path.
local function source_root()
  if package.loaded['fathom.root'] then return package.loaded['fathom.root'] end
  local src = debug.getinfo(1, 'S').source
  local dir = src:match('^@(.*)/lua/fathom/data/fs%.lua$')
  return dir
end

-- Candidate data roots, in order: option dir, $FATHOM_DATA, <repo>/../shared/data, ./data.
function M.roots(dir)
  if dir then return { dir } end
  local r = {}
  local env = os.getenv('FATHOM_DATA')
  if env and env ~= '' then r[#r + 1] = env end
  local root = source_root()
  if root then r[#r + 1] = M.join(root, '../shared/data') end
  r[#r + 1] = 'data'
  return r
end

-- Finds the folder holding `marker` (a file name): <root>/<sub>/marker or <root>/marker.
-- how: text telling the user how to get the data. Errors list every place tried.
function M.find(opts, sub, marker, how, fname)
  local tried = {}
  for _, root in ipairs(M.roots(opts.dir)) do
    for _, cand in ipairs({ M.join(root, sub), root }) do
      tried[#tried + 1] = cand
      if M.isfile(M.join(cand, marker)) then return cand end
    end
  end
  error(('%s: cannot find %s (looked for %s in: %s). %s'):format(fname, sub, marker,
        table.concat(tried, ', '), how), 3)
end

return M
