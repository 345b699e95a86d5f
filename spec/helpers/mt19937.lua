-- spec/helpers/mt19937.lua -- an independent MT19937 in plain Lua (the reference
-- mt19937ar.c formulation: init_genrand, genrand_int32), and torch.randperm's algorithm
-- (Torch7 THTensorMath.c: for i = 0..n-2, z = random() % (n-i), swap p[i], p[i+z]).
-- Slow but simple; used to check core/tensor/random.c's transcription of Torch7's THRandom.c.
local bit = require 'bit'
local M = {}

local function u32(x) return x % 4294967296 end
local function mul32(a, x) -- (a * x) mod 2^32, exact in doubles
  local hi, lo = math.floor(x / 65536), x % 65536
  return ((a * hi) % 65536 * 65536 + a * lo) % 4294967296
end

function M.new(seed)
  local s = { [0] = seed % 4294967296 }
  for j = 1, 623 do
    s[j] = (mul32(1812433253, u32(bit.bxor(s[j - 1], bit.rshift(s[j - 1], 30)))) + j) % 4294967296
  end
  return { s = s, i = 624 }
end

function M.random(m)
  local s = m.s
  if m.i >= 624 then
    for k = 0, 623 do
      local y = bit.bor(bit.band(s[k], 0x80000000), bit.band(s[(k + 1) % 624], 0x7fffffff))
      local v = bit.bxor(s[(k + 397) % 624], bit.rshift(y, 1))
      if bit.band(y, 1) == 1 then v = bit.bxor(v, 0x9908b0df) end
      s[k] = u32(v)
    end
    m.i = 0
  end
  local y = s[m.i]
  m.i = m.i + 1
  y = bit.bxor(y, bit.rshift(y, 11))
  y = bit.bxor(y, bit.band(bit.lshift(y, 7), 0x9d2c5680))
  y = bit.bxor(y, bit.band(bit.lshift(y, 15), 0xefc60000))
  y = bit.bxor(y, bit.rshift(y, 18))
  return u32(y)
end

-- torch.randperm(n) as Torch7 returns it: 1-based values, Lua table [1..n].
function M.randperm(m, n)
  local p = {}
  for i = 0, n - 1 do p[i] = i end
  for i = 0, n - 2 do
    local z = M.random(m) % (n - i)
    p[i], p[i + z] = p[i + z], p[i]
  end
  local out = {}
  for i = 0, n - 1 do out[i + 1] = p[i] + 1 end
  return out
end

return M
