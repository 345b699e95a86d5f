-- loader.lua -- declare the C API to the FFI and open libfathom.so.
-- Looks, in order: $FATHOM_LIB; the source tree's build/ (when run from a checkout,
-- see fathom.lua at the root); Lua's cpath, where `luarocks make` installs it; the
-- system's library path. Returns the library namespace (cache it: `local C = ...`).
local ffi = require 'ffi'

ffi.cdef(require 'fathom.cdef')

local tried = {}
local function try(path)
  if not path then return nil end
  tried[#tried + 1] = path
  local ok, lib = pcall(ffi.load, path)
  if ok then return lib end
  tried[#tried] = path .. ' (' .. tostring(lib) .. ')'
end

local root = package.loaded['fathom.root']
local lib = try(os.getenv('FATHOM_LIB'))
  or (root and try(root .. '/build/libfathom.so'))
  or try(package.searchpath('libfathom', package.cpath))
  or try('fathom')
if not lib then
  error('fathom: cannot load libfathom.so; run `make` in the source tree or install with ' ..
        'luarocks. Tried:\n  ' .. table.concat(tried, '\n  '), 2)
end
return lib
