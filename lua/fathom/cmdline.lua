-- fathom/cmdline.lua -- Torch7's torch.CmdLine: declare options, parse `arg`.
--   local cmd = CmdLine()
--   cmd:text('Train a model'); cmd:option('-lr', 0.1, 'learning rate')
--   local opt = cmd:parse(arg)          -- opt.lr is a number, as its default
-- An option's type follows its default (number, boolean, string); a boolean option
-- given without a value is set to true. Unknown options and bad numbers are errors.
local class = require 'fathom.class'

local CmdLine = class('torch.CmdLine')

function CmdLine:__init()
  self.options, self.order, self.texts, self.args = {}, {}, {}, {}
end

function CmdLine:text(s) self.order[#self.order + 1] = { text = s or '' } end

function CmdLine:option(name, default, help)
  if type(name) ~= 'string' or not name:match('^%-%-?[%w_%-]+$') then
    error('CmdLine:option: option name must look like -name, got ' .. tostring(name), 2)
  end
  local key = name:gsub('^%-+', '')
  if self.options[key] then error('CmdLine:option: duplicate option ' .. name, 2) end
  local o = { name = name, key = key, default = default, help = help or '' }
  self.options[key] = o
  self.order[#self.order + 1] = o
end

function CmdLine:argument(name, help)
  self.args[#self.args + 1] = { key = name, help = help or '' }
  self.order[#self.order + 1] = { text = '  ' .. name .. '  ' .. (help or '') }
end

function CmdLine:help(progname)
  local lines = { 'Usage: ' .. (progname or 'script') .. ' [options]' }
  for _, o in ipairs(self.order) do
    if o.text then lines[#lines + 1] = o.text
    else lines[#lines + 1] = ('  %-20s %s [%s]'):format(o.name, o.help, tostring(o.default)) end
  end
  return table.concat(lines, '\n')
end

-- Returns the options table (defaults filled in) and a string naming the non-default ones.
function CmdLine:parse(argv)
  argv = argv or {}
  local opt = {}
  for k, o in pairs(self.options) do opt[k] = o.default end
  local i, pos = 1, 0
  while i <= #argv do
    local a = argv[i]
    if a == '-h' or a == '--help' or a == '-help' then
      print(self:help(argv[0]))
      os.exit(0)
    end
    local key = type(a) == 'string' and a:match('^%-%-?([%a_][%w_%-]*)$')
    if key then
      local o = self.options[key]
      if not o then error(('CmdLine: unknown option %s\n%s'):format(a, self:help(argv[0])), 0) end
      local v = argv[i + 1]
      if type(o.default) == 'boolean' then
        if v == 'true' or v == 'false' then opt[key] = v == 'true'; i = i + 1
        else opt[key] = not o.default end
      else
        if v == nil then error('CmdLine: option ' .. a .. ' needs a value', 0) end
        if type(o.default) == 'number' then
          local n = tonumber(v)
          if not n then error(('CmdLine: option %s expects a number, got %q'):format(a, v), 0) end
          opt[key] = n
        else opt[key] = v end
        i = i + 1
      end
    else
      pos = pos + 1
      local spec = self.args[pos]
      if not spec then error('CmdLine: unexpected argument ' .. tostring(a), 0) end
      opt[spec.key] = a
    end
    i = i + 1
  end
  for p = pos + 1, #self.args do
    error('CmdLine: missing argument ' .. self.args[p].key, 0)
  end
  local parts = {}
  for _, o in ipairs(self.order) do
    if o.key and opt[o.key] ~= o.default then parts[#parts + 1] = o.key .. '=' .. tostring(opt[o.key]) end
  end
  return opt, table.concat(parts, ',')
end

-- Torch7's string form of the non-default options (used to name run directories).
function CmdLine:string(prefix, opt, ignore)
  local _, s = nil, {}
  for _, o in ipairs(self.order) do
    if o.key and not (ignore and ignore[o.key]) and opt[o.key] ~= o.default then
      s[#s + 1] = o.key .. '=' .. tostring(opt[o.key])
    end
  end
  return (prefix or '') .. table.concat(s, ',')
end

function CmdLine:__tostring() return 'torch.CmdLine' end

return CmdLine
