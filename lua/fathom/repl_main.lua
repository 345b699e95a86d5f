-- fathom/repl_main.lua -- the script bin/fathom runs: loads fathom, torch, nn and optim as
-- globals, then hands its arguments (`arg`) to fathom.repl.main.
local root = os.getenv('FATHOM_ROOT')
if root then package.path = root .. '/?.lua;' .. package.path end
fathom = require 'fathom'
for _, name in ipairs({ 'torch', 'nn', 'optim' }) do
  local ok, err = pcall(require, name)
  if not ok then io.stderr:write('fathom: ', name, ' did not load: ', tostring(err), '\n') end
end
local args = {}
for i = 1, #arg do args[i] = arg[i] end
io.stdout:setvbuf('line')
os.exit(require('fathom.repl').main(args))
