-- fathom/random.lua -- the seeded generators: the default Philox stream (manualSeed,
-- getRNGState/setRNGState, exact), independent split streams, and Torch7's MT19937.
local ffi = require 'ffi'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local M = {}
local default = C.ft_default_generator()

local function gen_of(g) return g or default end

-- A generator object of our own: fathom.Generator(seed).
function M.Generator(seed)
  local g = ffi.new('ft_generator')
  C.ft_generator_seed(g, seed or 0)
  return g
end
M.generator_t = ffi.typeof('ft_generator')

local function check_seed(s, fname)
  if type(s) ~= 'number' or s ~= math.floor(s) or s < 0 then
    error(fname .. ': seed must be a non-negative integer, got ' .. tostring(s), 3)
  end
end

function M.manualSeed(seed, g)
  check_seed(seed, 'manualSeed')
  C.ft_generator_seed(gen_of(g), seed)
end

-- The whole state: two integers. Kept as strings so 64-bit values survive JSON and Lua.
function M.getRNGState(g)
  g = gen_of(g)
  return { seed = tostring(g.seed):gsub('ULL$', ''), counter = tostring(g.counter):gsub('ULL$', '') }
end
function M.setRNGState(state, g)
  if type(state) ~= 'table' or not state.seed or not state.counter then
    error('setRNGState: state must be a table from getRNGState', 2)
  end
  g = gen_of(g)
  -- exact 64-bit parse of the decimal strings
  local function parse(s)
    local v = 0ULL
    for d in tostring(s):gmatch('%d') do v = v * 10ULL + (d:byte() - 48) end
    return v
  end
  g.seed = parse(state.seed)
  g.counter = parse(state.counter)
end

function M.split(stream, g)
  local child = ffi.new('ft_generator')
  C.ft_generator_split(gen_of(g), stream, child)
  return child
end

function M.uniform(t, a, b, g) check(C.ft_rand_uniform(gen_of(g), t.p, a, b), 'uniform', 2) end
function M.normal(t, m, s, g) check(C.ft_rand_normal(gen_of(g), t.p, m, s), 'normal', 2) end
function M.bernoulli(t, p, g) check(C.ft_rand_bernoulli(gen_of(g), t.p, p), 'bernoulli', 2) end
function M.random_uniform(g) return C.ft_generator_uniform(gen_of(g)) end

-- Torch7's MT19937 with torch.randperm's exact algorithm.
function M.MT19937(seed)
  check_seed(seed, 'MT19937')
  local m = ffi.new('ft_mt19937')
  C.ft_mt_seed(m, seed)
  return m
end

return M
