#!/bin/sh
# spec/install_check.sh -- the luarocks installation, checked for real: build and install
# a copy of this checkout into a scratch LuaRocks tree with rockspec/fathom-scm-1.rockspec,
# then, from another directory and with only `luarocks path` set, require 'fathom' and
# print a random tensor, require the models and the Torch7 names (torch, nn, optim, ...),
# run the installed fathom command, and run a ResNet-20 recipe for a few
# iterations with fathom-train (needs FATHOM_DATA with CIFAR-10; skipped, saying so,
# without it). Exits non-zero on any failure (CI runs it).
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

# The models and the recipes are installed too: a run needs no checkout.
luajit -e "
local m = require('models.resnet_cifar').createModel { depth = 20 }
assert(#m.blocks == 9, 'ResNet-20 has 9 blocks')
assert(package.searchpath('models.resnet_imagenet', package.path):find('$tree', 1, true), 'models not installed')
assert(package.searchpath('recipes.cifar10_sd', package.path):find('$tree', 1, true), 'recipes not installed')
print('install_check: models and recipes installed')
"
# The Torch7 names and the fathom command (REPL and script runner) are installed too.
luajit -e "
for _, m in ipairs({ 'torch', 'nn', 'optim', 'paths', 'nninit', 'cudnn', 'cunn', 'fathom.t7', 'fathom.repl' }) do
  local p = package.searchpath(m, package.path)
  assert(p and p:find('$tree', 1, true), m .. ' is not installed in the rock tree: ' .. tostring(p))
  require(m)
end
local f = os.tmpname()
torch.save(f, nn.Sequential():add(nn.Linear(2, 3)))
assert(torch.type(torch.load(f)) == 'nn.Sequential')
os.remove(f)
"
out=$("$tree/bin/fathom" -e 'print(torch.type(torch.range(1, 3)), nn.Tanh())')
echo "$out"
echo "$out" | grep -q 'torch.FloatTensor	nn.Tanh' || { echo "install_check: installed fathom command failed" >&2; exit 1; }
echo "install_check: Torch7 names and the fathom command installed"

if [ -z "${FATHOM_DATA:-}" ]; then
  echo "install_check: recipe run skipped: set FATHOM_DATA=DIR (a folder with cifar-10-batches-bin) to run it"
  exit 0
fi
[ -x "$tree/bin/fathom-train" ] || { echo "install_check: fathom-train not installed in $tree/bin" >&2; exit 1; }
"$tree/bin/fathom-train" cifar10_sd -depth 20 -nEpochs 1 -maxIters 3 -maxEvalIters 1 -batchSize 16 \
  -nThreads 1 -computeThreads 1 -plot false -save "$work/run" > "$work/run.log" 2>&1 || {
  cat "$work/run.log"; echo "install_check: the installed recipe failed" >&2; exit 1; }
grep -q 'ResNet-20, 9 residual blocks' "$work/run.log" || { cat "$work/run.log"; exit 1; }
[ -f "$work/run/latest.json" ] && [ -f "$work/run/summary.json" ] || {
  echo "install_check: the recipe wrote no checkpoint or summary" >&2; exit 1; }
echo "install_check: fathom-train cifar10_sd -depth 20 ran 3 iterations from $tree"
