-- schedule_spec.lua -- survival schedules of stochastic depth (lua/fathom/schedule.lua):
-- the paper's linear decay (eq. 4) and its expected depth (3L-1)/4, uniform, functions,
-- the authors' option names, and bad arguments.
require 'fathom' -- puts lua/ on the path
local schedule = require 'fathom.schedule'

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-12) end

describe('fathom.schedule', function()
  it('linear decay: p_l = 1 - (l/L)(1 - pL), from ~1 to pL', function()
    local s = schedule.linear(0.5)
    local ps = schedule.probabilities(s, 54)
    assert.are.equal(54, #ps)
    for l = 1, 54 do assert.is_true(close(ps[l], 1 - l / 54 * 0.5)) end
    assert.is_true(close(ps[54], 0.5))
    assert.is_true(close(ps[1], 1 - 0.5 / 54))
    assert.is_true(close(s(27, 54), 0.75))
    for l = 2, 54 do assert.is_true(ps[l] < ps[l - 1]) end
    assert.are.equal('linear(pL = 0.5)', tostring(s))
  end)

  it('expected active blocks: (3L-1)/4 for linear to 0.5 (40.25 of 54)', function()
    assert.is_true(close(schedule.expectedActive(schedule.linear(0.5), 54), 40.25))
    for _, L in ipairs({ 1, 3, 9, 18, 200, 600 }) do
      local direct = 0
      for l = 1, L do direct = direct + (1 - l / L * 0.5) end
      assert.is_true(close(schedule.expectedActive(schedule.linear(0.5), L), (3 * L - 1) / 4, 1e-9))
      assert.is_true(close(direct, (3 * L - 1) / 4, 1e-9))
    end
    -- general pL: L - (1 - pL)(L + 1)/2
    assert.is_true(close(schedule.expectedActive(schedule.linear(0.2), 54), 54 - 0.8 * 55 / 2, 1e-9))
  end)

  it('uniform, constant and plain functions', function()
    assert.is_true(close(schedule.expectedActive(schedule.uniform(0.3), 10), 3))
    assert.are.same({ 1, 1, 1 }, schedule.probabilities(schedule.constant(), 3))
    local f = function(l, L) return l % 2 == 0 and 0.5 or 1 end
    assert.are.same({ 1, 0.5, 1, 0.5 }, schedule.probabilities(f, 4))
    assert.is_true(close(schedule.expectedActive(f, 4), 3))
  end)

  it('reads the authors\' options (deathRate, deathMode) and ours (pL, stochastic)', function()
    local function ps(opt) return schedule.probabilities(schedule.fromOptions(opt), 4) end
    assert.are.same(ps({ pL = 0.5 }), ps({ deathRate = 0.5 }))
    assert.are.same(ps({ pL = 0.5 }), ps({ deathMode = 'lin_decay', deathRate = 0.5 }))
    assert.is_true(close(ps({})[4], 0.5)) -- default: linear to 0.5
    assert.are.same({ 0.8, 0.8, 0.8, 0.8 }, ps({ deathMode = 'uniform', pL = 0.8 }))
    assert.are.same({ 1, 1, 1, 1 }, ps({ stochastic = false, pL = 0.5 }))
    assert.are.same({ 1, 1, 1, 1 }, ps({ pL = 1 }))
    assert.are.same({ 0.25, 0.25, 0.25, 0.25 }, ps({ deathMode = function() return 0.25 end }))
  end)

  it('rejects bad arguments with clear messages', function()
    local function err(pattern, fn)
      local ok, msg = pcall(fn)
      assert.is_false(ok)
      assert(tostring(msg):find(pattern, 1, true), tostring(msg))
    end
    err('pL must be a number in [0, 1]', function() schedule.linear(1.5) end)
    err('pL must be a number in [0, 1]', function() schedule.uniform('x') end)
    err('L must be a positive integer', function() schedule.probabilities(schedule.linear(0.5), 0) end)
    err('a schedule is a function', function() schedule.expectedActive(0.5, 10) end)
    err('gives p = 2 for block 1', function() schedule.probabilities(function() return 2 end, 3) end)
    err('deathMode must be', function() schedule.fromOptions({ deathMode = 'cosine' }) end)
    err('disagree', function() schedule.fromOptions({ pL = 0.5, deathRate = 0.3 }) end)
  end)
end)
