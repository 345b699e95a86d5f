-- nn/Module.lua -- the base of every module, with Torch7's protocol.
-- Subclasses implement updateOutput, updateGradInput and (if they have parameters)
-- accGradParameters, list their tensors in parameters(), and never override forward
-- or backward. Gradients accumulate; callers zero them. output/gradInput are buffers
-- the module owns and reuses.
local fathom = require 'fathom'
local class = require 'fathom.class'

local Module = class('nn.Module')

function Module:__init()
  self.output = fathom.Tensor()
  self.gradInput = fathom.Tensor()
  self.train = true
end

function Module:updateOutput(input) return self.output end
function Module:updateGradInput(input, gradOutput) return self.gradInput end
function Module:accGradParameters(input, gradOutput, scale) end

function Module:forward(input) return self:updateOutput(input) end

function Module:backward(input, gradOutput, scale)
  scale = scale or 1
  self:updateGradInput(input, gradOutput)
  self:accGradParameters(input, gradOutput, scale)
  return self.gradInput
end

function Module:__call(input, gradOutput)
  self:forward(input)
  if gradOutput then self:backward(input, gradOutput) return self.output, self.gradInput end
  return self.output
end

-- Default: weight/bias and their gradients, when the module has them.
function Module:parameters()
  if self.weight and self.bias then return { self.weight, self.bias }, { self.gradWeight, self.gradBias } end
  if self.weight then return { self.weight }, { self.gradWeight } end
  if self.bias then return { self.bias }, { self.gradBias } end
end

function Module:zeroGradParameters()
  local _, grads = self:parameters()
  for _, g in ipairs(grads or {}) do g:zero() end
end

function Module:training() self.train = true return self end
function Module:evaluate() self.train = false return self end

-- Release the buffers (before saving or to free memory); they regrow on next use.
function Module:clearState()
  for _, k in ipairs({ 'output', 'gradInput' }) do
    if fathom.isTensor(self[k]) then self[k] = fathom.Tensor():type(self[k]:type()) end
  end
  return self
end

-- Convert every tensor field (and those of children) to a dtype: 'float' or 'double'.
function Module:type(name)
  local function convert(x)
    if fathom.isTensor(x) then return x:type(name) end
    if type(x) == 'table' and getmetatable(x) == nil then
      for k, v in pairs(x) do x[k] = convert(v) end
    elseif type(x) == 'table' and x.type and x ~= self and class.isinstance(x, Module) then
      x:type(name)
    end
    return x
  end
  for k, v in pairs(self) do self[k] = convert(v) end
  self:_retype(name)
  return self
end
function Module:_retype(name) end
function Module:float() return self:type('float') end
function Module:double() return self:type('double') end

-- Flatten every parameter (and every gradient) into one contiguous tensor and
-- re-point the modules' tensors at views of it: the optimiser then makes one pass.
function Module:getParameters()
  local params, grads = self:parameters()
  params, grads = params or {}, grads or {}
  local function flatten(list)
    local n = 0
    for _, t in ipairs(list) do n = n + t:nElement() end
    local dtype = list[1] and list[1]:type() or 'fathom.FloatTensor'
    if n == 0 then return fathom.Tensor():type(dtype) end
    local flat = fathom.Tensor(n):type(dtype)
    local offset = 1
    for _, t in ipairs(list) do
      local k = t:nElement()
      local view = flat:narrow(1, offset, k):view(t:size())
      view:copy(t)
      t:set(view) -- every holder of this tensor now sees the flat storage
      offset = offset + k
    end
    return flat
  end
  return flatten(params), flatten(grads)
end

function Module:__tostring() return self.__typename end

-- Apply fn to this module and every descendant.
function Module:apply(fn)
  fn(self)
  for _, m in ipairs(self.modules or {}) do m:apply(fn) end
end

-- Clear error helper for wrong shapes: names the module and the expected shape.
function Module:shapeError(input, expected)
  local got = fathom.isTensor(input) and table.concat(input:size():totable(), 'x') or type(input)
  error(('%s: expected input of %s, got %s'):format(self.__typename, expected, got), 3)
end

return Module
