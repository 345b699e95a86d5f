-- fathom/class.lua -- minimal classes in Torch7's style:
--   local Linear, parent = class('nn.Linear', Module)
--   function Linear:__init(a, b) parent.__init(self) ... end
--   local m = Linear(3, 4)       -- calls __init
local class = {}

local function isinstance(obj, cls)
  local mt = getmetatable(obj)
  while mt do
    if mt == cls then return true end
    mt = getmetatable(mt) and getmetatable(mt).__index
    if type(mt) ~= 'table' then return false end
  end
  return false
end

setmetatable(class, { __call = function(_, name, parent)
  local cls = {}
  cls.__index = cls
  cls.__typename = name
  if parent then
    setmetatable(cls, { __index = parent, __call = function(c, ...)
      local obj = setmetatable({}, c)
      obj:__init(...)
      return obj
    end })
    -- metamethods are not inherited through __index: copy the ones modules use
    for _, mm in ipairs({ '__tostring', '__call' }) do
      if rawget(cls, mm) == nil and parent[mm] then cls[mm] = parent[mm] end
    end
  else
    setmetatable(cls, { __call = function(c, ...)
      local obj = setmetatable({}, c)
      obj:__init(...)
      return obj
    end })
  end
  return cls, parent
end })

class.isinstance = isinstance
return class
