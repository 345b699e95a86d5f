-- gen_cdef.lua -- copy the FFI region of core/fathom.h into a Lua module.
-- Usage: luajit bindings/gen_cdef.lua core/fathom.h > bindings/cdef.lua
-- Generating the declarations from the header is what keeps them from drifting.
local path = assert(arg[1], 'usage: gen_cdef.lua core/fathom.h')
local f = assert(io.open(path, 'rb'))
local text = f:read('*a')
f:close()
local region = text:match('/%* FFI%-BEGIN %*/(.-)/%* FFI%-END %*/')
assert(region, 'FFI-BEGIN / FFI-END markers not found in ' .. path)
region = region:gsub('/%*.-%*/', '') -- comments: the FFI parser needs none of them
assert(not region:find('\n%s*#'), 'preprocessor lines are not allowed in the FFI region')
io.write('-- Generated from core/fathom.h by bindings/gen_cdef.lua. Do not edit.\n')
io.write('return [[\n', region, ']]\n')
