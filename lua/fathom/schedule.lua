-- fathom/schedule.lua -- survival probabilities p_l of stochastic depth (Huang et al. 2016,
-- Sec. 3): block l = 1..L of a network of L residual blocks (transitional blocks count)
-- is kept with probability p_l; the input counts as p_0 = 1.
--   local schedule = require 'fathom.schedule'
--   local s = schedule.linear(0.5)            -- p_l = 1 - (l/L)(1 - 0.5), the paper's rule
--   s(1, 54), schedule.expectedActive(s, 54)  -- 0.9907..., 40.25 = (3L - 1)/4
-- A schedule is anything callable as s(l, L) -> p in [0, 1]: the tables made here (they
-- print their rule) or any plain Lua function.
local M = {}

local Schedule = {}
Schedule.__index = Schedule
Schedule.__call = function(s, l, L) return s.fn(l, L) end
Schedule.__tostring = function(s) return s.name end

local function make(name, fn) return setmetatable({ name = name, fn = fn }, Schedule) end

local function check_p(p, fname)
  if type(p) ~= 'number' or p ~= p or p < 0 or p > 1 then
    error(('schedule.%s: pL must be a number in [0, 1], got %s'):format(fname, tostring(p)), 3)
  end
  return p
end

-- The paper's linear decay from p_0 = 1 to p_L = pL.
function M.linear(pL)
  check_p(pL, 'linear')
  return make(('linear(pL = %g)'):format(pL), function(l, L) return 1 - (l / L) * (1 - pL) end)
end

-- The same survival probability for every block.
function M.uniform(pL)
  check_p(pL, 'uniform')
  return make(('uniform(pL = %g)'):format(pL), function() return pL end)
end

-- Every block always kept: a constant-depth ResNet.
function M.constant() return make('constant depth', function() return 1 end) end

local function check_schedule(s, fname)
  local ok = type(s) == 'function' or getmetatable(s) == Schedule
  if not ok then
    error(('schedule.%s: a schedule is a function (l, L) -> p or a schedule table, got %s')
      :format(fname, type(s)), 3)
  end
end

local function check_L(L, fname)
  if type(L) ~= 'number' or L < 1 or L ~= math.floor(L) then
    error(('schedule.%s: L must be a positive integer, got %s'):format(fname, tostring(L)), 3)
  end
end

-- { p_1, ..., p_L }, each checked to lie in [0, 1].
function M.probabilities(s, L)
  check_schedule(s, 'probabilities')
  check_L(L, 'probabilities')
  local ps = {}
  for l = 1, L do
    local p = s(l, L)
    if type(p) ~= 'number' or p ~= p or p < 0 or p > 1 then
      error(('schedule.probabilities: %s gives p = %s for block %d of %d; need [0, 1]')
        :format(tostring(s), tostring(p), l, L), 2)
    end
    ps[l] = p
  end
  return ps
end

-- E[number of active blocks] = sum_l p_l ((3L - 1)/4 for linear decay to 0.5).
function M.expectedActive(s, L)
  local n = 0
  for _, p in ipairs(M.probabilities(s, L)) do n = n + p end
  return n
end

-- The schedule an options table asks for, in the authors' vocabulary and ours:
--   opt.stochastic == false -> constant depth;
--   opt.pL, or opt.deathRate (= 1 - pL; the authors' name), default pL = 0.5;
--   opt.deathMode 'lin_decay' (default) | 'uniform' | a function (l, L) -> p.
function M.fromOptions(opt)
  opt = opt or {}
  if opt.stochastic == false then return M.constant() end
  local mode = opt.deathMode or 'lin_decay'
  if type(mode) == 'function' or getmetatable(mode) == Schedule then return mode end
  if opt.pL ~= nil and opt.deathRate ~= nil and math.abs(opt.pL - (1 - opt.deathRate)) > 1e-12 then
    error(('schedule.fromOptions: pL = %s and deathRate = %s disagree (pL = 1 - deathRate)')
      :format(tostring(opt.pL), tostring(opt.deathRate)), 2)
  end
  local pL = opt.pL
  if pL == nil and opt.deathRate ~= nil then
    if type(opt.deathRate) ~= 'number' then
      error('schedule.fromOptions: deathRate must be a number, got ' .. type(opt.deathRate), 2)
    end
    pL = 1 - opt.deathRate
  end
  if pL == nil then pL = 0.5 end
  if pL == 1 then return M.constant() end
  if mode == 'lin_decay' or mode == 'linear' then return M.linear(pL) end
  if mode == 'uniform' then return M.uniform(pL) end
  error("schedule.fromOptions: deathMode must be 'lin_decay', 'uniform' or a function, got "
    .. tostring(mode), 2)
end

M.isSchedule = function(s) return type(s) == 'function' or getmetatable(s) == Schedule end

return M
