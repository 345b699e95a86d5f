-- fathom/data/fs.lua -- the little file-system help the data code needs, through the C
-- library and libc (no LuaFileSystem dependency): directory listings, existence checks,
-- absolute paths. Where the data lives is fathom/data/locate.lua's business.
local ffi = require 'ffi'
local F = require 'fathom.ffi'
local C = F.C
pcall(ffi.cdef, [[
char *realpath(const char *path, char *resolved);
char *getcwd(char *buf, size_t size);
]])

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

-- '.' and '..' removed from an absolute path, lexically.
local function normalize(path)
  local parts = {}
  for p in path:gmatch('[^/]+') do
    if p == '..' then parts[#parts] = nil
    elseif p ~= '.' then parts[#parts + 1] = p end
  end
  return '/' .. table.concat(parts, '/')
end

-- The absolute form of path: symbolic links and '..' resolved when it exists, else the
-- current directory put in front (so messages and d.dir never show a relative path).
function M.abspath(path)
  -- into our own PATH_MAX buffer: realpath(path, NULL) mallocs inside libc, and freeing that
  -- from Lua crashes under an ASan-preloaded LuaJIT (make sanitize)
  local out = ffi.new('char[4096]')
  if C.realpath(path, out) ~= nil then return ffi.string(out) end
  local parent, leaf = path:match('^(.*)/([^/]+)/*$')
  if parent then -- resolve the part that exists
    return normalize((parent == '' and '' or M.abspath(parent)) .. '/' .. leaf)
  end
  local buf = ffi.new('char[4096]')
  if C.getcwd(buf, 4096) == nil then return path end
  return normalize(ffi.string(buf) .. '/' .. path)
end

return M
