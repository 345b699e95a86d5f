-- recipes/plot_runs.lua -- several runs on one plot (Fig. 3 / Fig. 4 style): the test
-- error per epoch of each run directory, the point of lowest validation error circled.
--   luajit recipes/plot_runs.lua runs/cifar10_sd_d110_pL1 runs/cifar10_sd_d110_pL0.5 \
--          [-out fig3.png] [-metric testErr|valErr|trainErr|trainLoss] [-title TEXT]
-- Labels come from each run's options (constant depth, or the survival rule and p_L).
local src = debug.getinfo(1, 'S').source:sub(2)
package.path = (src:match('^(.*)/[^/]+$') or '.') .. '/../?.lua;' .. package.path
require 'fathom'
local logmod = require 'fathom.log'
local plot = require 'fathom.plot'
local ck = require 'fathom.checkpoint'

local dirs, out, metric, title = {}, 'runs.png', 'testErr', nil
local i = 1
while i <= #arg do
  local a = arg[i]
  if a == '-out' or a == '-metric' or a == '-title' then
    local v = arg[i + 1]
    if not v then io.stderr:write('error: ', a, ' needs a value\n') os.exit(2) end
    if a == '-out' then out = v elseif a == '-metric' then metric = v else title = v end
    i = i + 2
  elseif a == '-help' or a:match('^%-') then
    io.stderr:write('usage: luajit recipes/plot_runs.lua DIR [DIR...] [-out file.png] [-metric testErr|valErr|trainErr|trainLoss] [-title TEXT]\n')
    os.exit(a == '-help' and 0 or 2)
  else
    dirs[#dirs + 1] = a
    i = i + 1
  end
end
if #dirs == 0 then io.stderr:write('error: give at least one run directory\n') os.exit(2) end
local METRICS = { testErr = 'test error', valErr = 'validation error', trainErr = 'training error', trainLoss = 'training loss' }
if not METRICS[metric] then
  io.stderr:write(('error: -metric %s is not one of testErr, valErr, trainErr, trainLoss\n'):format(metric))
  os.exit(2)
end

-- A legend per run from its options: data set, depth, constant or the survival rule and
-- p_L; the folder name is added where two runs would otherwise read the same.
local function describe(o, dir)
  if not o.pL then return dir:match('([^/]+)/*$') end
  local depth = ('%sResNet-%s'):format(o.dataset and (o.dataset .. ' ') or '', tostring(o.depth))
  if o.pL >= 1 then return ('%s, constant depth'):format(depth) end
  return ('%s, stochastic depth (%s, p_L %g)'):format(depth, tostring(o.deathMode), o.pL)
end

local series = {}
for k, dir in ipairs(dirs) do
  local ok, recs = pcall(logmod.read, dir .. '/log.jsonl')
  if not ok then io.stderr:write('error: ', tostring(recs), '\n') os.exit(1) end
  local info = ck.readInfo(dir, true)
  local o = info and info.opt or {}
  local label = describe(o, dir)
  local x, y, mark = {}, {}, nil
  for _, r in ipairs(recs) do
    if r.type == 'epoch' and type(r[metric]) == 'number' then x[#x + 1] = r.epoch; y[#y + 1] = r[metric] end
  end
  local last = recs[#recs]
  if metric == 'testErr' and last and last.bestEpoch then mark = { last.bestEpoch, last.testAtBestVal } end
  series[k] = { label = label, x = x, y = y, mark = mark }
  print(('%s: %d epochs%s'):format(dir, #x, mark and ('; test error at best validation %.2f%% (epoch %d)'):format(mark[2], mark[1]) or ''))
end
local count = {}
for _, sr in ipairs(series) do count[sr.label] = (count[sr.label] or 0) + 1 end
for k, sr in ipairs(series) do
  if count[sr.label] > 1 then sr.label = sr.label .. ' [' .. dirs[k]:match('([^/]+)/*$') .. ']' end
end
plot.lines { path = out, series = series, xlabel = 'epoch', ylabel = metric == 'trainLoss' and 'loss' or 'error (%)',
             title = title or METRICS[metric] .. ' per epoch', xinteger = true }
print('wrote ' .. out)
