-- optim/Logger.lua -- Torch7's optim.Logger: a text log of named columns, and a PNG plot
-- of them (through fathom.plot, no gnuplot needed).
--   local log = optim.Logger('train.log')
--   log:setNames{'train error', 'test error'}
--   log:add{0.5, 0.6}; log:style{'-', '-'}; log:plot()    -- writes train.log.png
-- The file starts with the names separated by tabs; each add writes one row of values
-- ('%.4e', tab separated). add{name = value} also works when names were set.
local class = require 'fathom.class'

local Logger = class('optim.Logger')

function Logger:__init(filename, timestamp)
  if filename ~= nil and type(filename) ~= 'string' then error('optim.Logger: filename must be a string', 2) end
  self.name = filename
  if filename then
    if timestamp then self.name = filename .. os.date('_%Y_%m_%d_%X') end
    local f, err = io.open(self.name, 'w')
    if not f then error('optim.Logger: cannot open ' .. tostring(err), 2) end
    self.file = f
  end
  self.names, self.symbols, self.styles = {}, {}, {}
  self.logscale = false
  self.epsfile = self.name and self.name .. '.png'
end

function Logger:setNames(names)
  if type(names) ~= 'table' then error('optim.Logger:setNames: expected a list of names', 2) end
  self.names = {}
  for i, n in ipairs(names) do self.names[i] = tostring(n); self.symbols[i] = {} end
  if self.file then self.file:write(table.concat(self.names, '\t'), '\n'); self.file:flush() end
  return self
end

function Logger:add(values)
  if type(values) ~= 'table' then error('optim.Logger:add: expected a table of values', 2) end
  if #self.names == 0 then
    local names = {}
    for k in pairs(values) do names[#names + 1] = tostring(k) end
    table.sort(names)
    self:setNames(names)
  end
  local row = {}
  for i, n in ipairs(self.names) do
    local v = values[i]
    if v == nil then v = values[n] end
    if type(v) ~= 'number' then
      error(('optim.Logger:add: no number for column %q'):format(n), 2)
    end
    row[i] = ('%.4e'):format(v)
    local s = self.symbols[i]
    s[#s + 1] = v
  end
  if self.file then self.file:write(table.concat(row, '\t'), '\n'); self.file:flush() end
  return self
end

function Logger:style(styles) self.styles = styles return self end
function Logger:setlogscale(on) self.logscale = on ~= false return self end
function Logger:display() return self end

-- A PNG of every column against the row number (filename.png unless given).
function Logger:plot(path)
  path = path or self.epsfile
  if not path then error('optim.Logger:plot: the logger has no file; give a path', 2) end
  local series = {}
  for i, n in ipairs(self.names) do
    local xs = {}
    for j = 1, #self.symbols[i] do xs[j] = j end
    if #xs > 0 then series[#series + 1] = { label = n, x = xs, y = self.symbols[i] } end
  end
  if #series == 0 then return self end
  require('fathom.plot').lines({ path = path, title = self.name or 'log', xlabel = 'step',
    ylabel = 'value', logy = self.logscale, series = series, xinteger = true })
  return self
end

function Logger:close()
  if self.file then self.file:close(); self.file = nil end
end

return Logger
