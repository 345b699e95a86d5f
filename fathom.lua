-- fathom.lua -- lets `require 'fathom'` work from the root of a source checkout after
-- `make`: it puts lua/ on the path and maps the bindings to their installed names.
-- (An installed Fathom is found through luarocks' paths and never reads this file.)
local here = debug.getinfo(1, 'S').source:match('^@(.*)fathom%.lua$') or './'
local root = here == '' and '.' or here:gsub('/$', '')
package.path = root .. '/lua/?.lua;' .. root .. '/lua/?/init.lua;' .. package.path
package.loaded['fathom.root'] = root
package.preload['fathom.loader'] = function() return dofile(root .. '/bindings/loader.lua') end
package.preload['fathom.cdef'] = function()
  local f = loadfile(root .. '/bindings/cdef.lua')
  if not f then error('fathom: bindings/cdef.lua is missing; run `make` first', 3) end
  return f()
end
package.loaded.fathom = nil
return dofile(root .. '/lua/fathom/init.lua')
