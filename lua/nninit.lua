-- nninit.lua -- `require 'nninit'`: the nninit package's chained initialisation of
-- module parameters, over Fathom's nn.Module:
--   nn.SpatialConvolution(16, 16, 3, 3):init('weight', nninit.kaiming, { gain = 'relu' })
--                                       :init('bias', nninit.constant, 0)
-- The accessor names a field ('weight', 'bias'), a {field, index...} pair (a slice), or
-- is a function(module) returning the tensor. Fan-in/out come from the tensor's shape
-- (outputs x inputs [x kH x kW]), as for Linear and SpatialConvolution weights.
local nn = require 'nn'
local Module = require 'fathom.nn.Module'
local nninit = {}

local function fans(t)
  if t:dim() < 2 then return t:size(1), t:size(1) end
  local r = 1
  for d = 3, t:dim() do r = r * t:size(d) end
  return t:size(2) * r, t:size(1) * r
end

local GAINS = { linear = 1, sigmoid = 1, conv = 1, tanh = 5 / 3, relu = math.sqrt(2) }
local function gain_of(g)
  if g == nil then return 1 end
  if type(g) == 'number' then return g end
  if type(g) == 'table' and g[1] == 'lrelu' then
    local a = g.leakiness or 0.01
    return math.sqrt(2 / (1 + a * a))
  end
  if g == 'lrelu' then return math.sqrt(2 / (1 + 0.01 ^ 2)) end
  local v = GAINS[g]
  if not v then error('nninit: unknown gain ' .. tostring(g), 3) end
  return v
end
nninit.gain = gain_of

local function fill_dist(t, dist, std)
  if dist == nil or dist == 'normal' then t:normal(0, std)
  elseif dist == 'uniform' then local a = math.sqrt(3) * std; t:uniform(-a, a)
  else error("nninit: dist must be 'normal' or 'uniform', got " .. tostring(dist), 3) end
end

function nninit.constant(m, t, v) t:fill(v) return m end
function nninit.addConstant(m, t, v) t:add(v) return m end
function nninit.mulConstant(m, t, v) t:mul(v) return m end
function nninit.copy(m, t, src) t:copy(src) return m end
function nninit.normal(m, t, mean, std) t:normal(mean or 0, std or 1) return m end
function nninit.uniform(m, t, a, b) t:uniform(a or 0, b or 1) return m end
function nninit.eye(m, t)
  if t:dim() ~= 2 then error('nninit.eye: needs a 2-D tensor', 2) end
  t:zero()
  for i = 1, math.min(t:size(1), t:size(2)) do t[{ i, i }] = 1 end
  return m
end
-- He et al. 2015: std = gain / sqrt(fanIn).
function nninit.kaiming(m, t, opts)
  opts = opts or {}
  local fanIn = fans(t)
  fill_dist(t, opts.dist, gain_of(opts.gain) * math.sqrt(1 / fanIn))
  return m
end
-- Glorot and Bengio 2010: std = gain * sqrt(2 / (fanIn + fanOut)).
function nninit.xavier(m, t, opts)
  opts = opts or {}
  local fanIn, fanOut = fans(t)
  fill_dist(t, opts.dist, gain_of(opts.gain) * math.sqrt(2 / (fanIn + fanOut)))
  return m
end

local function access(m, accessor)
  if type(accessor) == 'function' then return accessor(m) end
  if type(accessor) == 'string' then return m[accessor] end
  if type(accessor) == 'table' then
    local t = m[accessor[1]]
    for i = 2, #accessor do t = t[accessor[i]] end
    return t
  end
end

function Module:init(accessor, initialiser, ...)
  local t = access(self, accessor)
  if not (require 'fathom').isTensor(t) then
    error(('%s:init: %s is not a tensor of this module'):format(self.__typename,
      type(accessor) == 'table' and tostring(accessor[1]) or tostring(accessor)), 2)
  end
  if type(initialiser) ~= 'function' then error(self.__typename .. ':init: initialiser must be a function', 2) end
  initialiser(self, t, ...)
  return self
end

rawset(_G, 'nninit', nninit)
return nninit
