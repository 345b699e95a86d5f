-- paths.lua -- `require 'paths'`: the file-system helpers of Torch7's paths package
-- that training scripts use (dirp, filep, mkdir, concat, basename, dirname, ...).
local ffi = require 'ffi'
pcall(ffi.cdef, [[
typedef struct fathom_DIR fathom_DIR;
fathom_DIR *opendir(const char *name);
int closedir(fathom_DIR *d);
int mkdir(const char *path, unsigned int mode);
int access(const char *path, int mode);
char *getcwd(char *buf, size_t size);
]])
local paths = {}

function paths.dirp(p)
  if type(p) ~= 'string' then return false end
  local d = ffi.C.opendir(p)
  if d == nil then return false end
  ffi.C.closedir(d)
  return true
end
function paths.filep(p)
  if type(p) ~= 'string' or paths.dirp(p) then return false end
  local f = io.open(p, 'rb')
  if f then f:close() return true end
  return false
end
function paths.mkdir(p) return ffi.C.mkdir(p, 493) == 0 or paths.dirp(p) end -- 0755
function paths.concat(...)
  local parts = { ... }
  if #parts == 0 then return paths.cwd() end
  local out = ''
  for _, s in ipairs(parts) do
    if s:sub(1, 1) == '/' or out == '' then out = s else out = out:gsub('/$', '') .. '/' .. s end
  end
  return out
end
function paths.basename(p, ext)
  local b = (p:gsub('/+$', '')):match('([^/]*)$')
  if ext then b = b:gsub('%.' .. ext:gsub('^%.', '') .. '$', '') end
  return b
end
function paths.dirname(p)
  local d = (p:gsub('/+$', '')):match('^(.*)/[^/]*$')
  if d == nil then return '.' end
  return d == '' and '/' or d
end
function paths.extname(p) return p:match('%.([^%./]+)$') end
function paths.cwd()
  local buf = ffi.new('char[4096]')
  return ffi.C.getcwd(buf, 4096) ~= nil and ffi.string(buf) or '.'
end
function paths.home() return os.getenv('HOME') or '.' end
paths.tmpname = os.tmpname
-- Entries of a directory (without . and ..), as an iterator (Torch7's paths.files).
function paths.dir(p)
  if not paths.dirp(p) then return nil end
  local h = io.popen('ls -a ' .. ("'" .. p:gsub("'", "'\\''") .. "'"))
  local list = {}
  for line in h:lines() do list[#list + 1] = line end
  h:close()
  return list
end
function paths.files(p, pattern)
  local list, i = paths.dir(p) or {}, 0
  return function()
    repeat i = i + 1 until list[i] == nil or ((list[i] ~= '.' and list[i] ~= '..') and
      (not pattern or list[i]:find(pattern)))
    return list[i]
  end
end
function paths.rmall(p, confirm)
  if confirm ~= 'yes' then error("paths.rmall: pass 'yes' to confirm", 2) end
  return os.execute("rm -rf '" .. p:gsub("'", "'\\''") .. "'") == 0
end
rawset(_G, 'paths', paths)
return paths
