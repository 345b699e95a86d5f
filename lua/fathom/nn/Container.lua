-- nn/Container.lua -- the base of modules that hold other modules (Sequential,
-- ConcatTable): the children list, and the calls that must reach every child
-- (parameters, training/evaluate, zeroGradParameters, clearState; type() walks
-- self.modules through Module.retypeFields).
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local Container, parent = class('nn.Container', Module)

function Container:__init(...)
  parent.__init(self, ...)
  self.modules = {}
end

-- add(module) appends; add(module, index) inserts at index (Torch7's Sequential:insert).
function Container:add(module, index)
  if type(module) ~= 'table' or not class.isinstance(module, Module) then
    error(('%s:add: expected an nn module, got %s'):format(self.__typename,
      type(module) == 'table' and tostring(module.__typename) or type(module)), 2)
  end
  if index then
    if type(index) ~= 'number' or index < 1 or index > #self.modules + 1 then
      error(('%s:add: index %s out of range 1..%d'):format(self.__typename, tostring(index),
        #self.modules + 1), 2)
    end
    table.insert(self.modules, index, module)
  else
    self.modules[#self.modules + 1] = module
  end
  return self
end

function Container:get(index) return self.modules[index] end
function Container:size() return #self.modules end

function Container:parameters()
  local params, grads = {}, {}
  for _, m in ipairs(self.modules) do
    local p, g = m:parameters()
    for i = 1, #(p or {}) do
      params[#params + 1] = p[i]
      grads[#grads + 1] = g[i]
    end
  end
  return params, grads
end

function Container:zeroGradParameters()
  for _, m in ipairs(self.modules) do m:zeroGradParameters() end
end

function Container:training()
  parent.training(self)
  for _, m in ipairs(self.modules) do m:training() end
  return self
end

function Container:evaluate()
  parent.evaluate(self)
  for _, m in ipairs(self.modules) do m:evaluate() end
  return self
end

function Container:clearState()
  parent.clearState(self)
  for _, m in ipairs(self.modules) do m:clearState() end
  return self
end

return Container
