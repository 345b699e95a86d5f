-- nn/Module.lua -- the base of every module, with Torch7's protocol.
-- Subclasses implement updateOutput, updateGradInput and (if they have parameters)
-- accGradParameters, list their tensors in parameters(), and never override forward
-- (containers, and modules whose kernel computes both gradients in one call, such as
-- batch normalisation, override backward, as in Torch7). Gradients accumulate; callers
-- zero them. output/gradInput are buffers the module owns and reuses.
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
    if fathom.isTensor(self[k]) then self[k] = fathom.Tensor():type(self[k]:type())
    elseif type(self[k]) == 'table' and getmetatable(self[k]) == nil then self[k] = {} end
  end
  return self
end

-- Convert every float/double tensor reachable from obj's fields (plain tables are walked, child
-- modules and criterions convert themselves) to a dtype: 'float' or 'double'.
-- Shared by nn.Criterion.
function Module.retypeFields(obj, name)
  local seen = {}
  local function convert(x)
    if fathom.isTensor(x) then
      local dt = x:dtype() -- index tensors (long, byte) keep their type
      return (dt == 'float' or dt == 'double') and x:type(name) or x
    end
    if type(x) == 'table' and not seen[x] then
      seen[x] = true
      if getmetatable(x) == nil then
        for k, v in pairs(x) do x[k] = convert(v) end
      elseif type(x.type) == 'function' and x.__typename then
        x:type(name)
      end
    end
    return x
  end
  seen[obj] = true
  for k, v in pairs(obj) do obj[k] = convert(v) end
  return obj
end

-- Convert the module (and its children) to a dtype. Call getParameters afterwards:
-- a conversion makes new tensors, so earlier flat views no longer alias them.
function Module:type(name)
  Module.retypeFields(self, name)
  self:_retype(name)
  return self
end
function Module:_retype(name) end
function Module:float() return self:type('float') end
function Module:double() return self:type('double') end
-- To the GPU (cutorch's model:cuda()): float32 CUDA tensors; model:float() brings it back.
function Module:cuda() return self:type('fathom.CudaTensor') end

-- Flatten every parameter (and every gradient) into one contiguous tensor and
-- re-point the modules' tensors at views of it: the optimiser then makes one pass.
function Module:getParameters()
  local params, grads = self:parameters()
  params, grads = params or {}, grads or {}
  local function flatten(list, what)
    local n = 0
    for _, t in ipairs(list) do
      if t:type() ~= list[1]:type() then
        error(('%s:getParameters: %s mix %s and %s; convert the network with :type()')
          :format(self.__typename, what, list[1]:type(), t:type()), 3)
      end
      n = n + t:nElement()
    end
    local dtype = list[1] and list[1]:type() or fathom.Tensor():type()
    if n == 0 then return fathom.Tensor():type(dtype) end
    local flat = fathom.Tensor(n):type(dtype)
    local offset = 1
    for _, t in ipairs(list) do
      local k = t:nElement()
      if k > 0 then
        local view = flat:narrow(1, offset, k):view(t:size())
        view:copy(t)
        t:set(view) -- every holder of this tensor now sees the flat storage
        offset = offset + k
      end
    end
    return flat
  end
  return flatten(params, 'parameters'), flatten(grads, 'gradients')
end

function Module:__tostring() return self.__typename end

-- Apply fn to this module and every descendant.
function Module:apply(fn)
  fn(self)
  for _, m in ipairs(self.modules or {}) do m:apply(fn) end
end

-- This module and every descendant, depth first (Torch7's listModules).
function Module:listModules()
  local list = {}
  self:apply(function(m) list[#list + 1] = m end)
  return list
end

-- Every module (this one included) whose type is typename, e.g. 'nn.Linear'.
function Module:findModules(typename)
  local found = {}
  self:apply(function(m) if m.__typename == typename then found[#found + 1] = m end end)
  return found
end

---------------------------------------------------------------------------- helpers
-- For subclasses: argument checks with messages that name the module and what it
-- expected, and output buffers that follow the input's dtype.

local function shape_of(x)
  if fathom.isTensor(x) then
    local s = x:size():totable()
    return #s > 0 and table.concat(s, 'x') or 'an empty tensor'
  end
  return type(x)
end
Module.shapeOf = shape_of

-- Clear error helper for wrong shapes: names the module and the expected shape.
function Module:shapeError(input, expected, what)
  error(('%s: expected %s of %s, got %s'):format(self.__typename, what or 'input', expected,
    shape_of(input)), 3)
end

-- The dtype ('fathom.FloatTensor' ...) the module's parameters hold, or nil.
function Module:paramType()
  local params = self:parameters()
  if params and params[1] then return params[1]:type() end
  if fathom.isTensor(self.running_mean) then return self.running_mean:type() end
end

-- input must be a float or double tensor with one of the dims in `dims` (a number, a
-- list, or nil for any non-empty tensor), of the module's dtype. Returns it, made contiguous when it is not.
function Module:checkInput(input, dims, expected, what)
  what = what or 'input'
  if not fathom.isTensor(input) then self:shapeError(input, expected, what) end
  local d = input:dim()
  local ok = false
  if dims == nil then ok = d >= 1
  elseif type(dims) == 'number' then ok = d == dims
  else for _, v in ipairs(dims) do ok = ok or d == v end end
  if not ok then self:shapeError(input, expected, what) end
  local dt = input:dtype()
  if dt ~= 'float' and dt ~= 'double' then
    error(('%s: %s must be a FloatTensor or DoubleTensor, got %s'):format(self.__typename, what,
      input:type()), 3)
  end
  local pt = self:paramType()
  if pt and pt ~= input:type() then
    error(('%s: %s is a %s but the module holds %s parameters (convert one with :type())')
      :format(self.__typename, what, input:type(), pt), 3)
  end
  if not input:isContiguous() then input = input:contiguous() end
  return input
end

-- t (already checked by checkInput) must have exactly `sizes` (a list of numbers).
function Module:checkSize(t, sizes, what)
  local ok = t:dim() == #sizes
  for i = 1, #sizes do ok = ok and t:size(i) == sizes[i] end
  if not ok then
    error(('%s: expected %s of size %s, got %s'):format(self.__typename, what or 'input',
      table.concat(sizes, 'x'), shape_of(t)), 3)
  end
  return t
end

-- self[key] as a tensor of like's dtype (a new empty one when the dtype changed).
function Module:buffer(key, like)
  local b = self[key]
  if not fathom.isTensor(b) or b:type() ~= like:type() then
    b = fathom.Tensor():type(like:type())
    self[key] = b
  end
  return b
end

return Module
