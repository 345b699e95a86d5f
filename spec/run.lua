-- spec/run.lua -- run the busted suite under LuaJIT (Debian's busted runs plain Lua,
-- which has no FFI). Usage, from the source root: luajit spec/run.lua [busted options]
-- The exit status is non-zero when any spec fails or errors.
package.path = './?.lua;./spec/helpers/?.lua;' .. package.path
require 'busted.runner'({ standalone = false })
