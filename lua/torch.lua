-- torch.lua -- `require 'torch'` for code written for Torch7: thin names over Fathom.
--   require 'torch'            -- also sets the global `torch`, as Torch7 does
--   local x = torch.Tensor(2, 3):uniform()
--   local Foo, parent = torch.class('nn.Foo', 'nn.Module')
-- Everything not defined here falls through to `fathom` (torch.randn, torch.cat ...).
-- Fathom's own `require 'fathom'` stays the primary style; this module only renames.
local fathom = require 'fathom'
local fclass = require 'fathom.class'
local T = require 'fathom.tensor'
local ffi = require 'ffi'

local torch = {}
setmetatable(torch, { __index = fathom })

for _, k in ipairs({ 'Tensor', 'FloatTensor', 'DoubleTensor', 'LongTensor', 'ByteTensor',
                     'LongStorage', 'isTensor', 'manualSeed', 'range', 'linspace',
                     'setdefaulttensortype', 'getdefaulttensortype', 'setnumthreads',
                     'getnumthreads', 'Generator' }) do
  torch[k] = fathom[k]
end

-- Fathom names its types 'fathom.FloatTensor'; Torch7 code compares with 'torch.FloatTensor'.
local function torchname(name)
  return (type(name) == 'string' and name:gsub('^fathom%.', 'torch.')) or name
end
torch.torchname = torchname

function torch.getdefaulttensortype() return torchname(fathom.getdefaulttensortype()) end
function torch.seed()
  local s = os.time() + math.floor(os.clock() * 1e6)
  fathom.manualSeed(s)
  return s
end
function torch.initialSeed() return fathom.random.initialSeed and fathom.random.initialSeed() end

---------------------------------------------------------------------------- classes
-- The registry of named classes, as Torch7's torch.getmetatable(name): the nn modules
-- (Fathom's and the ones scripts define) are found by name.
local registry = {}
torch.classes = registry

local function namespace(prefix)
  if prefix == 'nn' then return require 'nn' end
  if prefix == 'torch' then return torch end
  local ns = rawget(_G, prefix)
  if type(ns) ~= 'table' then ns = {}; rawset(_G, prefix, ns) end
  return ns
end

-- The class called `name` ('nn.Linear', 'torch.FloatTensor'), or nil.
function torch.getmetatable(name)
  if type(name) ~= 'string' then return nil end
  if registry[name] then return registry[name] end
  local prefix, short = name:match('^([%w_]+)%.([%w_]+)$')
  if prefix == 'nn' then
    local ok, cls = pcall(function() return require('nn')[short] end)
    if ok and type(cls) == 'table' and rawget(cls, '__typename') == name then return cls end
  end
  return nil
end

-- torch.class(name[, parent]): a new class; parent is a class name or a class.
-- Returns the class (its metatable: define methods on it) and the parent's. The
-- constructor is `Namespace.Short(...)` (nn.Foo(...)), which calls __init; tostring
-- of an instance gives the type name unless the class defines __tostring.
function torch.class(name, parent, module)
  if type(name) ~= 'string' then error('torch.class: name must be a string', 2) end
  if torch.getmetatable(name) and registry[name] then
    error('torch.class: class ' .. name .. ' already exists', 2)
  end
  local pcls
  if type(parent) == 'string' then
    pcls = torch.getmetatable(parent)
    if not pcls then error('torch.class: parent class ' .. parent .. ' does not exist', 2) end
  elseif type(parent) == 'table' then
    pcls = parent
  elseif parent ~= nil then
    error('torch.class: parent must be a class name or a class', 2)
  end
  local cls = fclass(name, pcls)
  if not pcls then
    function cls:__init() end
    cls.__tostring = function(self) return torch.typename(self) end
  end
  registry[name] = cls
  local prefix, short = name:match('^([%w_]+)%.([%w_]+)$')
  local ns = module or (prefix and namespace(prefix)) or _G
  rawset(ns, short or name, cls)
  return cls, pcls
end

function torch.typename(x)
  if T.isTensor(x) then return torchname(x:type()) end
  if type(x) == 'table' then
    local mt = getmetatable(x)
    return mt and rawget(mt, '__typename') or x.__typename
  end
  return nil
end

function torch.type(x)
  return torch.typename(x) or type(x)
end

-- Is obj an instance of the class `name` (or a subclass)?
function torch.isTypeOf(obj, cls)
  if type(cls) == 'string' then
    if T.isTensor(obj) then return torch.typename(obj) == cls or cls == 'torch.Tensor' end
    cls = torch.getmetatable(cls)
  end
  return type(cls) == 'table' and type(obj) == 'table' and fclass.isinstance(obj, cls) or false
end

function torch.factory(name)
  local cls = torch.getmetatable(name)
  if not cls then return nil end
  return function() return setmetatable({}, cls) end
end

function torch.setmetatable(obj, name)
  local cls = type(name) == 'string' and torch.getmetatable(name) or name
  if not cls then error('torch.setmetatable: unknown class ' .. tostring(name), 2) end
  return setmetatable(obj, cls)
end

function torch.pointer(x)
  if T.isTensor(x) then return tonumber(ffi.cast('intptr_t', x.p)) end
  return tonumber(tostring(x):match('0x%x+') or 0)
end

---------------------------------------------------------------------------- files
local t7 = require 'fathom.t7'
torch.save = t7.save
torch.load = t7.load
torch.serialize = t7.serialize
torch.deserialize = t7.deserialize

---------------------------------------------------------------------------- tools
torch.Timer = require 'fathom.timer'
torch.CmdLine = require 'fathom.cmdline'

function torch.tic() return torch.Timer() end
function torch.toc(t) return t:time().real end

-- Scripts call this to make Lua's collector see C memory; Fathom's tensors already run a
-- collection when live C memory passes a growing limit, so there is nothing to switch on.
function torch.setheaptracking() end

rawset(_G, 'torch', torch)
return torch
