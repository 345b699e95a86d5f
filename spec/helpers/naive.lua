-- spec/helpers/naive.lua -- plain-Lua references for the tensor specs: nested tables of
-- float64 numbers, built and combined with naive loops that share no code with Fathom,
-- plus a comparison that reports the first mismatch.
local N = {}

-- A deterministic nested table of the given sizes, values uniform in [lo, hi).
function N.random(sizes, seed, lo, hi)
  lo, hi = lo or -2, hi or 2
  math.randomseed(seed or 1)
  local function build(d)
    local r = {}
    for i = 1, sizes[d] do
      r[i] = d == #sizes and lo + (hi - lo) * math.random() or build(d + 1)
    end
    return r
  end
  return build(1)
end

-- Integers in [lo, hi] (exact in every dtype).
function N.ints(sizes, seed, lo, hi)
  local t = N.random(sizes, seed, 0, 1)
  return N.map(t, function(x) return math.floor(lo + (hi - lo + 1) * x) end)
end

function N.shape(t)
  local s = {}
  while type(t) == 'table' do s[#s + 1] = #t; t = t[1] end
  return s
end

-- Element-wise f over one or two nested tables of the same shape.
function N.map(a, f)
  if type(a) ~= 'table' then return f(a) end
  local r = {}
  for i = 1, #a do r[i] = N.map(a[i], f) end
  return r
end
function N.map2(a, b, f)
  if type(a) ~= 'table' then return f(a, b) end
  local r = {}
  for i = 1, #a do r[i] = N.map2(a[i], b[i], f) end
  return r
end

function N.flat(t, out)
  out = out or {}
  if type(t) ~= 'table' then out[#out + 1] = t return out end
  for i = 1, #t do N.flat(t[i], out) end
  return out
end

function N.transpose(a) -- 2-D
  local r = {}
  for j = 1, #a[1] do
    r[j] = {}
    for i = 1, #a do r[j][i] = a[i][j] end
  end
  return r
end

function N.matmul(a, b)
  local r = {}
  for i = 1, #a do
    r[i] = {}
    for j = 1, #b[1] do
      local s = 0
      for k = 1, #b do s = s + a[i][k] * b[k][j] end
      r[i][j] = s
    end
  end
  return r
end

-- Reduce a 2-D table along dim (1 or 2) with f(list) -> value, keeping the dim (size 1).
function N.reduce2(a, dim, f)
  local r = {}
  if dim == 1 then
    r[1] = {}
    for j = 1, #a[1] do
      local col = {}
      for i = 1, #a do col[i] = a[i][j] end
      r[1][j] = f(col)
    end
  else
    for i = 1, #a do r[i] = { f(a[i]) } end
  end
  return r
end

function N.sum(l) local s = 0 for _, v in ipairs(l) do s = s + v end return s end
function N.prod(l) local s = 1 for _, v in ipairs(l) do s = s * v end return s end
function N.mean(l) return N.sum(l) / #l end
function N.var(l, biased)
  local m, s = N.mean(l), 0
  for _, v in ipairs(l) do s = s + (v - m) ^ 2 end
  return s / (biased and #l or #l - 1)
end
function N.std(l, biased) return math.sqrt(N.var(l, biased)) end
function N.max(l) local m, k = -math.huge, 0 for i, v in ipairs(l) do if v > m then m, k = v, i end end return m, k end
function N.min(l) local m, k = math.huge, 0 for i, v in ipairs(l) do if v < m then m, k = v, i end end return m, k end

-- Compare a tensor (or number) with a nested table (or number): same shape, values
-- within tol (absolute + relative). Returns true or false plus the first difference.
function N.close(t, expect, tol)
  tol = tol or 1e-12
  local got = type(t) == 'number' and t or t:totable()
  if type(t) ~= 'number' then
    local s1, s2 = table.concat(t:size():totable(), 'x'), table.concat(N.shape(expect), 'x')
    if s1 ~= s2 then return false, 'shape ' .. s1 .. ' ~= expected ' .. s2 end
  end
  local g, e = N.flat(got), N.flat(expect)
  if #g ~= #e then return false, ('%d values, expected %d'):format(#g, #e) end
  for i = 1, #g do
    local d = math.abs(g[i] - e[i])
    local bad = (d > tol * (1 + math.abs(e[i]))) or (g[i] ~= g[i]) ~= (e[i] ~= e[i])
    if bad and not (g[i] == e[i]) then
      return false, ('value %d: got %.17g, expected %.17g'):format(i, g[i], e[i])
    end
  end
  return true
end

-- assert-style wrapper for busted: N.check(t, expect, tol)
local luassert = require 'luassert'
function N.check(t, expect, tol)
  local ok, why = N.close(t, expect, tol)
  luassert(ok, why)
end

return N
