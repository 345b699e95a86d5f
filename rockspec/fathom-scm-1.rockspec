-- fathom-scm-1.rockspec -- install Fathom with LuaRocks from a source checkout:
--   luarocks --lua-version 5.1 make rockspec/fathom-scm-1.rockspec
-- (LuaJIT is Lua 5.1 to LuaRocks; Debian's luarocks defaults to 5.2, hence the flag.)
-- It runs the Makefile: `make` builds libfathom.so (CPU always, CUDA when found) and
-- bindings/cdef.lua; `make install` copies lua/fathom/*.lua plus fathom/cdef.lua and
-- fathom/loader.lua into LUADIR, with models/*.lua (modules models.NAME) and recipes/*.lua
-- (modules recipes.NAME), libfathom.so into LIBDIR, where the loader finds it through
-- package.cpath, and bin/fathom-train into BINDIR (fathom-train cifar10_sd -depth 20).
-- Needs gcc, OpenBLAS, libpng and libjpeg (see bin/setup).
rockspec_format = "3.0"
package = "fathom"
version = "scm-1"
source = {
   url = "git+file:///fathom", -- `luarocks make` builds the checkout it runs in
}
description = {
   summary = "A deep-learning training engine: C cores driven from LuaJIT, Torch7 style",
   detailed = [[
Tensors, nn modules with explicit forward/backward, SGD, data loaders and experiment
recipes, built to reproduce "Deep Networks with Stochastic Depth" (Huang et al. 2016).
]],
   license = "MIT",
}
dependencies = {
   "lua == 5.1", -- LuaJIT 2.1; the library uses the FFI, so plain Lua 5.1 will not do
}
build = {
   type = "make",
   build_target = "all",
   build_variables = {
      LUAJIT = "$(LUA)",
   },
   install_target = "install",
   install_variables = {
      LUAJIT = "$(LUA)",
      LUADIR = "$(LUADIR)",
      LIBDIR = "$(LIBDIR)",
      BINDIR = "$(BINDIR)", -- bin/fathom, the REPL and script runner
   },
}
