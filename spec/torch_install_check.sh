#!/bin/sh
# spec/torch_install_check.sh -- the Torch7 names after a luarocks installation: build and
# install a copy of this checkout into a scratch tree (as spec/install_check.sh does), then,
# from another directory with only `luarocks path` set, require 'torch', 'nn', 'optim',
# 'paths', 'nninit', 'cudnn', 'cunn', and run the installed `fathom` command.
#   sh spec/torch_install_check.sh        (CUDA=0 in the environment skips the CUDA build)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/fathom-torch-install.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM
tree=$work/tree
LR="luarocks --lua-version 5.1"
mkdir -p "$work/src"
(cd "$here" && tar --exclude='./build' --exclude='./build-*' --exclude='./.git' -cf - .) |
  (cd "$work/src" && tar -xf -)
(cd "$work/src" && $LR make --tree "$tree" rockspec/fathom-scm-1.rockspec) > "$work/log" 2>&1 || {
  cat "$work/log"; echo "torch_install_check: luarocks make failed" >&2; exit 1; }
cd "$work"
eval "$($LR --tree "$tree" path)"
unset FATHOM_LIB
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
echo "$out" | grep -q 'torch.FloatTensor	nn.Tanh' || { echo "torch_install_check: installed fathom command failed" >&2; exit 1; }
echo "torch_install_check: ok"
