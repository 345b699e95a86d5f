-- fathom/data/split.lua -- the random permutations behind the data splits.
--   local g = split.generator('torch7', 1); local p = g:perm(50000)  -- 0-based LongTensor
-- 'torch7': Torch7's MT19937 seeded with torch.manualSeed(seed) and torch.randperm's exact
--   algorithm (THTensorMath.c), so a run can use the authors' very split; successive perm()
--   calls continue the same stream, as successive torch.randperm calls did.
-- 'seeded': Fathom's Philox generator seeded with seed and ft_randperm (Fisher-Yates).
local ffi = require 'ffi'
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local C = F.C

local M = {}
local Gen = {}
Gen.__index = Gen

function M.generator(kind, seed, fname)
  fname = fname or 'fathom.data'
  if type(seed) ~= 'number' or seed < 0 or seed ~= math.floor(seed) then
    error(fname .. ': seed must be a non-negative integer, got ' .. tostring(seed), 0)
  end
  local g = setmetatable({ kind = kind, seed = seed }, Gen)
  if kind == 'torch7' then
    g.mt = ffi.new('ft_mt19937')
    C.ft_mt_seed(g.mt, seed)
  elseif kind == 'seeded' then
    g.gen = ffi.new('ft_generator')
    C.ft_generator_seed(g.gen, seed)
  else
    error(fname .. ": split must be 'seeded' or 'torch7', got " .. tostring(kind), 0)
  end
  return g
end

-- A random permutation of 0..n-1 as a LongTensor [n].
function Gen:perm(n)
  local t = fathom.LongTensor(n)
  if self.mt then F.check(C.ft_mt_randperm(self.mt, t.p), 'split.perm')
  else F.check(C.ft_randperm(self.gen, t.p), 'split.perm') end
  return t
end

return M
