-- study/plot.lua -- draws the side-by-side study's curves with Fathom's own plotter
-- (no matplotlib needed): reads the series.json that study/compare.py writes,
--   { "title": "...", "series": [ { "label": "..." or "", "x": [...], "y": [...],
--                                    "color": [r, g, b] }, ... ] }
-- and writes a PNG of validation error per epoch. An empty label stays out of the legend.
--   luajit study/plot.lua series.json out.png
local src = debug.getinfo(1, 'S').source:sub(2)
package.path = (src:match('^(.*)/[^/]+$') or '.') .. '/../?.lua;' .. package.path
require 'fathom'
local json = require 'fathom.json'
local plot = require 'fathom.plot'

local input, out = arg[1], arg[2]
if not input or not out then
  io.stderr:write('usage: luajit study/plot.lua series.json out.png\n')
  os.exit(2)
end
local ok, doc = pcall(json.read, input)
if not ok then io.stderr:write('error: ', tostring(doc), '\n') os.exit(1) end
local series = {}
for _, s in ipairs(doc.series or {}) do
  if #s.x > 0 then
    series[#series + 1] = { label = s.label ~= '' and s.label or nil, x = s.x, y = s.y, color = s.color }
  end
end
if #series == 0 then io.stderr:write('error: ', input, ' has no series to draw\n') os.exit(1) end
plot.lines { path = out, title = doc.title, xlabel = doc.xlabel or 'epoch', ylabel = doc.ylabel or 'validation error (%)',
             series = series, xinteger = doc.xlabel == nil }
print('wrote ' .. out)
