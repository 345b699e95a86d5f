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

-- Fill tensor t in place from generator g (default: the global one).
local function target(t, g, fname)
  if not ffi.istype('fathom_Tensor', t) then
    error(fname .. ': target must be a fathom tensor, got ' .. type(t), 3)
  end
  if g ~= nil and not (ffi.istype('ft_generator', g) or ffi.istype('ft_generator*', g)) then
    error(fname .. ': generator must come from fathom.Generator or fathom.random.split', 3)
  end
  return t.p, gen_of(g)
end
function M.uniform(t, a, b, g) local p, gg = target(t, g, 'uniform') check(C.ft_rand_uniform(gg, p, a, b), 'uniform', 2) end
function M.normal(t, m, s, g) local p, gg = target(t, g, 'normal') check(C.ft_rand_normal(gg, p, m, s), 'normal', 2) end
function M.bernoulli(t, pr, g) local p, gg = target(t, g, 'bernoulli') check(C.ft_rand_bernoulli(gg, p, pr), 'bernoulli', 2) end
function M.random_uniform(g) return C.ft_generator_uniform(gen_of(g)) end

-- Torch7's MT19937 (THRandom.c: init_genrand seeding, genrand_int32 draws) with
-- torch.randperm's exact algorithm:
--   local m = fathom.random.MT19937(1); m:random(); m:randperm(50000) -- 1-based
--   m:manualSeed(s) reseeds (the struct's own field m.seed holds the seed)
local MT = {}
function MT.random(m) return tonumber(C.ft_mt_random(m)) end
function MT.manualSeed(m, seed) check_seed(seed, 'MT19937:manualSeed') C.ft_mt_seed(m, seed) return m end
function MT.randperm(m, n)
  if type(n) ~= 'number' or n < 1 or n ~= math.floor(n) then
    error('MT19937:randperm: n must be a positive integer, got ' .. tostring(n), 2)
  end
  local t = require('fathom').LongTensor(n)
  check(C.ft_mt_randperm(m, t.p), 'MT19937:randperm')
  return t:add(1)
end
local mt_t = ffi.metatype('ft_mt19937', { __index = MT })

function M.MT19937(seed)
  check_seed(seed, 'MT19937')
  local m = mt_t()
  C.ft_mt_seed(m, seed)
  return m
end

return M
