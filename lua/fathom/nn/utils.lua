-- nn/utils.lua -- Torch7's nn.utils: helpers over a tensor or a (nested) table of tensors,
-- as tables-of-tensors modules (JoinTable, ConcatTable) and user code use them.
local fathom = require 'fathom'
local utils = {}

-- t resized to `like` (a tensor or a nested table of them); returns the result.
function utils.recursiveResizeAs(t, like)
  if type(like) == 'table' and not fathom.isTensor(like) then
    t = (type(t) == 'table' and not fathom.isTensor(t)) and t or {}
    for k, v in pairs(like) do t[k] = utils.recursiveResizeAs(t[k], v) end
    for k in pairs(t) do if like[k] == nil then t[k] = nil end end
    return t
  end
  if not fathom.isTensor(t) or t:type() ~= like:type() then t = fathom.Tensor():type(like:type()) end
  return t:resizeAs(like)
end

function utils.recursiveFill(t, v)
  if fathom.isTensor(t) then t:fill(v) else for _, x in pairs(t) do utils.recursiveFill(x, v) end end
  return t
end

-- t += alpha * x, element by element (alpha defaults to 1).
function utils.recursiveAdd(t, alpha, x)
  if x == nil then x, alpha = alpha, 1 end
  if fathom.isTensor(t) then t:add(alpha, x)
  else for k, v in pairs(t) do utils.recursiveAdd(v, alpha, x[k]) end end
  return t
end

function utils.recursiveCopy(t, src)
  if fathom.isTensor(src) then
    t = utils.recursiveResizeAs(t, src)
    return t:copy(src)
  end
  t = type(t) == 'table' and not fathom.isTensor(t) and t or {}
  for k, v in pairs(src) do t[k] = utils.recursiveCopy(t[k], v) end
  return t
end

function utils.recursiveType(x, name)
  if fathom.isTensor(x) then return x:type(name) end
  if type(x) == 'table' then
    if type(x.type) == 'function' and x.__typename then return x:type(name) end
    for k, v in pairs(x) do x[k] = utils.recursiveType(v, name) end
  end
  return x
end

-- A view of t with a size-1 dimension inserted at dim (default 1).
function utils.addSingletonDimension(t, dim)
  dim = dim or 1
  if not fathom.isTensor(t) then error('nn.utils.addSingletonDimension: expected a tensor', 2) end
  if dim < 1 or dim > t:dim() + 1 then
    error(('nn.utils.addSingletonDimension: dim %d out of range 1..%d'):format(dim, t:dim() + 1), 2)
  end
  local sizes = {}
  for i = 1, t:dim() do sizes[#sizes + 1] = t:size(i) end
  table.insert(sizes, dim, 1)
  return t:contiguous():view(unpack(sizes))
end

-- t as `sizes`, through a contiguous copy when it must be.
function utils.contiguousView(t, ...)
  return t:contiguous():view(...)
end

-- Replace the named fields of a module with empty tensors (or empty tables).
function utils.clear(m, ...)
  local names = select('#', ...) == 1 and type((...)) == 'table' and (...) or { ... }
  for _, k in ipairs(names) do
    if fathom.isTensor(m[k]) then m[k] = fathom.Tensor():type(m[k]:type())
    elseif type(m[k]) == 'table' then m[k] = {} end
  end
  return m
end

function utils.tableSize(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n
end

return utils
