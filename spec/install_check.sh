#!/bin/sh
# spec/install_check.sh -- the luarocks installation, checked for real: build and install
# a copy of this checkout into a scratch LuaRocks tree with rockspec/fathom-scm-1.rockspec,
# then, from another directory and with only `luarocks path` set, require 'fathom' and
# print a random tensor. Exits non-zero on any failure (CI runs it).
#   sh spec/install_check.sh            tree in a temporary directory, removed after
#   ROCKTREE=/tmp/rt sh spec/install_check.sh   keep the installed tree there
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/fathom-install.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
tree=${ROCKTREE:-$work/tree}
LR="luarocks --lua-version 5.1" # LuaJIT is Lua 5.1 to LuaRocks

# Build from a copy, so that the checkout's own build/ and bindings stay untouched.
mkdir -p "$work/src"
(cd "$here" && tar --exclude='./build' --exclude='./build-*' --exclude='./.git' -cf - .) |
  (cd "$work/src" && tar -xf -)
(cd "$work/src" && $LR make --tree "$tree" rockspec/fathom-scm-1.rockspec) > "$work/log" 2>&1 || {
  cat "$work/log"; echo "install_check: luarocks make failed" >&2; exit 1; }

cd "$work" # not the source tree: only the installed copy can be found
eval "$($LR --tree "$tree" path)"
unset FATHOM_LIB
luajit -e "
local f = require 'fathom'
local t = f.randn(2, 3)
print(t)
assert(t:size(1) == 2 and t:size(2) == 3 and t:std() > 0, 'bad tensor')
local lua = package.searchpath('fathom', package.path)
local lib = package.searchpath('libfathom', package.cpath)
assert(lua and lua:find('$tree', 1, true), 'fathom was not loaded from the rock tree: ' .. tostring(lua))
assert(lib and lib:find('$tree', 1, true), 'libfathom.so is not in the rock tree: ' .. tostring(lib))
for _, m in ipairs({ 'fathom.loader', 'fathom.cdef', 'fathom.tensor', 'fathom.nn' }) do
  assert(package.searchpath(m, package.path):find('$tree', 1, true), m .. ' not installed')
end
print('install_check: ok (' .. lua .. ', ' .. lib .. ')')
"
