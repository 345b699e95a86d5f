-- resblock_spec.lua -- the fused stochastic residual block (core/nn/resblock.c,
-- nn.ResidualDrop): finite-difference gradients in float64 with the gate open and
-- closed, for every shortcut and both block kinds; equality with the same block built
-- from plain modules; the expectation identities of 'scale' and 'inverted' test-time
-- scaling (Monte Carlo); gate frequencies; what a closed gate must leave untouched;
-- row mode against batch mode on the kept samples; errors.
local fathom = require 'fathom'
local oracle = require 'resblock_oracle'
local nn = require 'fathom.nn'
local schedule = require 'fathom.schedule'
local J = require 'jacobian'

local TOL = 1e-5

-- A float64 block with non-trivial BN parameters and running statistics.
local function block(ci, co, stride, opt)
  local b = nn.ResidualDrop(ci, co, stride, opt):double()
  for _, i in ipairs(b.stageIds) do
    b.bnWeight[i]:uniform(0.5, 1.5)
    b.bnBias[i]:uniform(-0.5, 0.5)
    b.runningMean[i]:uniform(-0.5, 0.5)
    b.runningVar[i]:uniform(0.5, 2)
  end
  return b
end

local function maxdiff(a, b) return (a:clone():add(-1, b)):abs():max() end

-- Each configuration: constructor arguments and an input shape.
local CONFIGS = {
  { name = 'basic, identity', args = { 3, 3, 1 }, input = { 2, 3, 4, 4 } },
  { name = 'basic, shortcut A (avg + pad)', args = { 2, 4, 2 }, input = { 2, 2, 4, 4 } },
  { name = 'basic, subsample + pad', args = { 2, 4, 2, { shortcut = 'subsample' } }, input = { 2, 2, 5, 5 } },
  { name = 'basic, pad only (stride 1)', args = { 2, 3, 1 }, input = { 2, 2, 3, 3 } },
  { name = 'basic, projection B', args = { 2, 4, 2, { shortcut = 'B' } }, input = { 2, 2, 4, 4 } },
  { name = 'basic, projection C (same shape)', args = { 3, 3, 1, { shortcut = 'C' } }, input = { 2, 3, 3, 3 } },
  { name = 'bottleneck, identity', args = { 8, 8, 1, { block = 'bottleneck' } }, input = { 2, 8, 3, 3 } },
  { name = 'bottleneck, projection B', args = { 4, 8, 2, { block = 'bottleneck' } }, input = { 2, 4, 4, 4 } },
}

-- The specs below run thousands of tiny forwards: one thread avoids paying for OpenMP
-- team start-ups (and, on a loaded machine, for waiting on descheduled threads).
local threads0 = fathom.getnumthreads()
local function one_thread()
  setup(function() fathom.setnumthreads(1) end)
  teardown(function() fathom.setnumthreads(threads0) end)
end

describe('nn.ResidualDrop gradients (float64 finite differences)', function()
  one_thread()
  for _, cfg in ipairs(CONFIGS) do
    it(cfg.name .. ', gate open', function()
      fathom.manualSeed(11)
      local b = block(unpack(cfg.args)):forceGate(1)
      local x = J.input(unpack(cfg.input))
      assert.is_true(J.testJacobian(b, x) < TOL)
      local params, grads = b:parameters()
      for k = 1, #params do
        local err = J.testJacobianParameters(b, x, params[k], grads[k])
        assert(err < TOL, ('parameter %d: error %g'):format(k, err))
      end
      assert.are.equal(1, b.gate)
    end)

    -- Closed: the input Jacobian, and the branch's parameters neither change the output
    -- nor receive gradient (what their finite-difference Jacobian, all zeros, says).
    it(cfg.name .. ', gate closed', function()
      fathom.manualSeed(12)
      local b = block(unpack(cfg.args)):forceGate(0)
      local x = J.input(unpack(cfg.input))
      assert.is_true(J.testJacobian(b, x) < TOL)
      local y = b:forward(x):clone()
      local params, grads = b:parameters()
      local nbranch = #params - (b.shortcut == 'projection' and 3 or 0)
      for k = 1, nbranch do params[k]:add(J.input(params[k]:size())) end
      b:zeroGradParameters()
      assert.are.equal(0, maxdiff(b:forward(x), y))
      b:backward(x, J.input(y:size()))
      for k = 1, nbranch do assert.are.equal(0, grads[k]:abs():max()) end
      for k = nbranch + 1, #params do -- the projection shortcut: still checked
        assert.is_true(J.testJacobianParameters(b, x, params[k], grads[k]) < TOL)
      end
      assert.are.equal(0, b.gate)
    end)
  end

  it('batch of 1 and evaluation mode, both test scalings', function()
    fathom.manualSeed(12)
    for _, ts in ipairs({ 'scale', 'inverted' }) do
      local b = block(2, 4, 2, { p = 0.7, testScaling = ts })
      assert.is_true(J.testJacobian(b:forceGate(1), J.input(1, 2, 4, 4)) < TOL)
      b:evaluate()
      local x = J.input(2, 2, 4, 4)
      assert.is_true(J.testJacobian(b, x) < TOL)
      local params, grads = b:parameters()
      assert.is_true(J.testJacobianParameters(b, x, params[4], grads[4]) < TOL)
    end
  end)

  it("training with 'inverted' scaling (branch times 1/p)", function()
    fathom.manualSeed(13)
    local b = block(2, 4, 2, { p = 0.6, testScaling = 'inverted' }):forceGate(1)
    local x = J.input(2, 2, 4, 4)
    assert.is_true(J.testJacobian(b, x) < TOL)
    local params, grads = b:parameters()
    assert.is_true(J.testJacobianParameters(b, x, params[1], grads[1]) < TOL)
  end)

  it('row mode with fixed per-sample gates, both block kinds', function()
    fathom.manualSeed(14)
    local cases = { { 2, 4, 2, {} }, { 4, 8, 2, { block = 'bottleneck' } } }
    for _, c in ipairs(cases) do
      c[4].gate = 'row'
      local b = block(c[1], c[2], c[3], c[4]):forceGate(fathom.ByteTensor({ 1, 0, 1, 1 }))
      local x = J.input(4, c[1], 4, 4)
      assert.is_true(J.testJacobian(b, x) < TOL)
      local params, grads = b:parameters()
      for k = 1, #params do assert.is_true(J.testJacobianParameters(b, x, params[k], grads[k]) < TOL) end
      assert.are.equal(3, b.nKept)
    end
  end)
end)

describe('nn.ResidualDrop equals the block built from plain modules', function()
  one_thread()
  -- Run both on the same input and gradOutput; compare output, gradInput, every
  -- parameter gradient (accumulated with a scale) and the BN running statistics.
  local function compare(b, twin, train, x)
    if train then b:training(); twin:training() else b:evaluate(); twin:evaluate() end
    b:zeroGradParameters(); twin:zeroGradParameters()
    local y = b:forward(x)
    local y2 = twin:forward(x)
    assert.is_true(maxdiff(y, y2) < 1e-10)
    local go = fathom.DoubleTensor(y:size()):uniform(-1, 1)
    local gi = b:backward(x, go, 0.5)
    local gi2 = twin:backward(x, go, 0.5)
    assert.is_true(maxdiff(gi, gi2) < 1e-10)
    local _, g = b:parameters()
    local _, g2 = twin:parameters()
    assert.are.equal(#g2, #g)
    for k = 1, #g do assert(maxdiff(g[k], g2[k]) < 1e-10, 'gradient ' .. k) end
    for i, m in pairs(twin.bns) do
      assert.is_true(maxdiff(b.runningMean[i], m.running_mean) < 1e-12)
      assert.is_true(maxdiff(b.runningVar[i], m.running_var) < 1e-12)
    end
  end

  for _, cfg in ipairs(CONFIGS) do
    it(cfg.name, function()
      fathom.manualSeed(21)
      local x = J.input(unpack(cfg.input))
      -- training, gate open (s = 1) and closed (s = 0)
      for _, gate in ipairs({ 1, 0 }) do
        local b = block(unpack(cfg.args)):forceGate(gate)
        compare(b, oracle.composed(b, gate), true, x)
      end
      -- evaluation, 'scale': the branch times p
      local b = block(unpack(cfg.args))
      b:setSurvival(0.625)
      compare(b, oracle.composed(b, 0.625), false, x)
    end)
  end

  it("'inverted': training times 1/p, evaluation plain; row mode", function()
    fathom.manualSeed(22)
    local x = J.input(3, 2, 4, 4)
    local b = block(2, 4, 2, { p = 0.8, testScaling = 'inverted' }):forceGate(1)
    compare(b, oracle.composed(b, 1 / 0.8), true, x)
    compare(b, oracle.composed(b, 1), false, x)
    -- row mode with every gate open is batch mode
    local r = block(2, 4, 2, { gate = 'row' }):forceGate(1)
    compare(r, oracle.composed(r, 1), true, x)
    assert.are.equal(3, r.nKept)
  end)
end)

describe('nn.ResidualDrop expectations over gate draws (Monte Carlo)', function()
  one_thread()
  -- BN frozen (running statistics in training too) and fixed parameters, so the
  -- training output depends on the gate alone. Positive inputs and a positive branch
  -- keep the final ReLU linear; then eval = E[train] exactly in expectation, and the
  -- sample mean differs only by (phat - p) f, phat the observed gate frequency.
  local K = 1500
  local function setup(ts, p)
    fathom.manualSeed(31)
    local b = block(2, 4, 2, { p = p, testScaling = ts, generator = fathom.Generator(5) })
    b:freezeBN()
    b.bnWeight[2]:fill(0.1); b.bnBias[2]:fill(1) -- f = 0.1 * conv2(..) + 1 > 0 here
    local x = fathom.DoubleTensor(4, 2, 4, 4):uniform(0.5, 2)
    return b, x
  end
  local function train_mean(b, x)
    b:training()
    local acc, opened = nil, 0
    for _ = 1, K do
      local y = b:forward(x)
      acc = acc and acc:add(y) or y:clone()
      opened = opened + b.gate
    end
    return acc:div(K), opened / K
  end

  for _, ts in ipairs({ 'scale', 'inverted' }) do
    it(ts .. ': eval output = mean of training outputs', function()
      local p = 0.7
      local b, x = setup(ts, p)
      -- the branch alone: open minus closed (both in the ReLU's linear range)
      local open = b:training():forceGate(1):forward(x):clone()
      local closed = b:forceGate(0):forward(x):clone()
      local f = open:clone():add(-1, closed):div(b:branchScale(true, 1))
      assert.is_true(closed:min() >= 0 and f:min() > 0) -- padded channels are 0
      b:forceGate(nil)
      local mean, phat = train_mean(b, x)
      local eval = b:evaluate():forward(x)
      -- the mechanism, exactly: mean = phat * open + (1 - phat) * closed
      local mix = open:clone():mul(phat):add(1 - phat, closed)
      assert.is_true(maxdiff(mean, mix) < 1e-9)
      -- the statistics: phat within 4 sigma of p, and so is the output
      local sigma = math.sqrt(p * (1 - p) / K)
      assert.is_true(math.abs(phat - p) < 4 * sigma)
      local tol = 4 * sigma * f:max() * (ts == 'inverted' and 1 / p or 1)
      assert(maxdiff(eval, mean) < tol, ('|eval - mean| %g > %g'):format(maxdiff(eval, mean), tol))
      -- and the deterministic identity with phat in place of p
      local expect = closed:clone():add(ts == 'inverted' and phat / p or phat, f)
      assert.is_true(maxdiff(mean, expect) < 1e-9)
      local expect_eval = closed:clone():add(ts == 'inverted' and 1 or p, f)
      assert.is_true(maxdiff(eval, expect_eval) < 1e-9)
    end)
  end

  it("outside the ReLU's linear range: mean of training outputs >= eval (Jensen)", function()
    fathom.manualSeed(32)
    local b = block(3, 3, 1, { p = 0.5 }):freezeBN()
    local x = J.input(4, 3, 4, 4)
    local mean, phat = train_mean(b, x)
    b:setSurvival(phat) -- eval with the observed frequency: ReLU(phat f + x)
    local eval = b:evaluate():forward(x)
    assert.is_true(mean:clone():add(-1, eval):min() > -1e-9)
    assert.is_true(maxdiff(mean, eval) > 1e-3) -- and the gap is real
  end)
end)

describe('nn.ResidualDrop gate draws', function()
  one_thread()
  -- Tiny blocks: the draws are what is tested.
  local function blocks_for(sched, L, gen)
    local ps, bs = schedule.probabilities(sched, L), {}
    for l = 1, L do bs[l] = nn.ResidualDrop(1, 1, 1, { p = ps[l], generator = gen }):double() end
    return bs, ps
  end

  it('closes each block with frequency 1 - p_l', function()
    local L, K = 5, 2000
    local bs, ps = blocks_for(schedule.linear(0.2), L, fathom.Generator(7))
    local x = J.input(2, 1, 2, 2)
    local open = {}
    for l = 1, L do open[l] = 0 end
    for _ = 1, K do
      for l = 1, L do bs[l]:forward(x); open[l] = open[l] + bs[l].gate end
    end
    for l = 1, L do
      local sigma = math.sqrt(ps[l] * (1 - ps[l]) / K)
      assert(math.abs(open[l] / K - ps[l]) < 4 * sigma + 1e-12,
        ('block %d: kept %g, p %g'):format(l, open[l] / K, ps[l]))
    end
  end)

  it('keeps (3L-1)/4 blocks on average under linear decay to 0.5 (L = 54)', function()
    local L, K = 54, 200
    local bs = blocks_for(schedule.linear(0.5), L, fathom.Generator(8))
    local x = J.input(1, 1, 2, 2)
    local total = 0
    for _ = 1, K do
      for l = 1, L do bs[l]:forward(x); total = total + bs[l].gate end
    end
    -- sd of the mean: sqrt(sum p(1-p) / K) ~ 0.23
    assert.is_true(math.abs(total / K - (3 * L - 1) / 4) < 1.0)
  end)

  it('row mode draws one gate per sample', function()
    local b = nn.ResidualDrop(1, 1, 1, { p = 0.3, gate = 'row', generator = fathom.Generator(9) }):double()
    local x = J.input(500, 1, 2, 2)
    b:forward(x)
    assert.are.equal(500, b.gate:nElement())
    assert.are.equal(b.nKept, b.gate:double():sum())
    local sigma = math.sqrt(0.3 * 0.7 / 500)
    assert.is_true(math.abs(b.nKept / 500 - 0.3) < 4 * sigma)
  end)

  it('is reproducible from a seed, on its own generator or the default stream', function()
    local function draws(b, x, n)
      local r = {}
      for i = 1, n do b:forward(x); r[i] = b.gate end
      return table.concat(r)
    end
    local x = J.input(1, 1, 2, 2)
    local a = draws(nn.ResidualDrop(1, 1, 1, { p = 0.5, generator = fathom.Generator(3) }):double(), x, 64)
    local b = draws(nn.ResidualDrop(1, 1, 1, { p = 0.5, generator = fathom.Generator(3) }):double(), x, 64)
    local c = draws(nn.ResidualDrop(1, 1, 1, { p = 0.5, generator = fathom.Generator(4) }):double(), x, 64)
    assert.are.equal(a, b)
    assert.are_not.equal(a, c)
    local d = nn.ResidualDrop(1, 1, 1, { p = 0.5 }):double()
    fathom.manualSeed(99); local e1 = draws(d, x, 64)
    fathom.manualSeed(99); local e2 = draws(d, x, 64)
    assert.are.equal(e1, e2)
    -- p = 1 draws nothing: constant depth does not consume the stream
    local const = nn.ResidualDrop(1, 1, 1):double() -- (its initialisation draws)
    local before = fathom.getRNGState().counter
    draws(const, x, 5)
    assert.are.equal(before, fathom.getRNGState().counter)
  end)
end)

describe('nn.ResidualDrop with a closed gate', function()
  it('leaves the branch BN running statistics and gradients untouched', function()
    fathom.manualSeed(41)
    local b = block(2, 4, 2, { shortcut = 'B', releaseSkipped = true }):forceGate(0)
    local _, grads = b:parameters()
    for _, g in ipairs(grads) do g:uniform(-1, 1) end
    local before_g, before_rm, before_rv = {}, {}, {}
    for k, g in ipairs(grads) do before_g[k] = g:clone() end
    for _, i in ipairs(b.stageIds) do
      before_rm[i] = b.runningMean[i]:clone(); before_rv[i] = b.runningVar[i]:clone()
    end
    local x = J.input(3, 2, 4, 4)
    local y = b:forward(x)
    b:backward(x, y:clone():uniform(-1, 1))
    for k = 1, 6 do assert.are.equal(0, maxdiff(grads[k], before_g[k])) end -- branch: untouched
    for i = 1, 2 do
      assert.are.equal(0, maxdiff(b.runningMean[i], before_rm[i]))
      assert.are.equal(0, maxdiff(b.runningVar[i], before_rv[i]))
    end
    -- the projection shortcut still runs and learns
    assert.is_true(maxdiff(grads[7], before_g[7]) > 0)
    assert.is_true(maxdiff(b.runningMean[4], before_rm[4]) > 0)
    assert.are.equal(0, b.gate)
    assert.are.equal(0, b.nKept)
  end)

  it('stores no branch activation; an open gate does', function()
    local x = J.input(4, 3, 8, 8)
    local b = block(3, 3, 1, { releaseSkipped = true })
    b:forceGate(1):forward(x)
    local open = b:savedBytes()
    assert.are.equal(3 * x:nElement() * 8, open) -- h1, a1, h2 of [4,3,8,8] doubles
    b:forceGate(0):forward(x)
    assert.are.equal(0, b:savedBytes())
    b:clearState()
    assert.are.equal(0, b:savedBytes())
  end)

  -- Deterministic proof that a closed gate computes nothing of the branch: poison the
  -- branch's weights with NaN. A branch that ran, even multiplied by 0, would change the
  -- output away from ReLU(x) (the final ReLU maps NaN to 0) and put NaN into the input
  -- gradient; the open gate shows both, so the checks can fail.
  it('costs no branch compute: a NaN branch never reaches a closed block', function()
    local b = nn.ResidualDrop(16, 16, 1)
    local x = fathom.FloatTensor(4, 16, 8, 8):uniform(-1, 1)
    for _, p in ipairs(b:parameters()) do p:fill(0 / 0) end
    local relu_x = x:clone():cmax(fathom.FloatTensor(4, 16, 8, 8):zero())
    local function finite(t) local s = t:double():sum() return s == s and math.abs(s) ~= math.huge end
    local go = x:clone():fill(1)
    b:training():forceGate(0)
    assert.are.equal(0, maxdiff(b:forward(x), relu_x))
    assert.is_true(finite(b:backward(x, go)), 'closed gate: gradInput must not see the branch')
    b:forceGate(1)
    assert.is_true(maxdiff(b:forward(x), relu_x) > 0, 'open gate: the NaN branch must show')
    assert.is_false(finite(b:backward(x, go)), 'open gate: NaN must reach gradInput')
  end)
end)

describe("nn.ResidualDrop 'row' mode", function()
  one_thread()
  -- (A projection shortcut runs on every sample, so its BN statistics would differ:
  -- the bottleneck case uses the identity.)
  it('equals batch mode run on the kept samples', function()
    fathom.manualSeed(51)
    for _, c in ipairs({ { 2, 4, 2, {} }, { 8, 8, 1, { block = 'bottleneck' } } }) do
      local gates = { 1, 0, 1, 1, 0 }
      local keep, drop = { 1, 3, 4 }, { 2, 5 }
      c[4].gate = 'row'
      local r = block(c[1], c[2], c[3], c[4])
      local bopt = {}
      for k, v in pairs(c[4]) do bopt[k] = v end
      bopt.gate = 'batch'
      local b = nn.ResidualDrop(c[1], c[2], c[3], bopt):double()
      for k, t in ipairs(({ r:parameters() })[1]) do b:parameters()[k]:copy(t) end
      for _, i in ipairs(r.stageIds) do
        b.runningMean[i]:copy(r.runningMean[i]); b.runningVar[i]:copy(r.runningVar[i])
      end
      local x = J.input(5, c[1], 4, 4)
      local function rows(t, list)
        local out = fathom.DoubleTensor(#list, t:size(2), t:size(3), t:size(4))
        for j, i in ipairs(list) do out[j]:copy(t[i]) end
        return out
      end
      r:forceGate(fathom.ByteTensor(gates))
      local y = r:forward(x):clone()
      local go = y:clone():uniform(-1, 1)
      r:zeroGradParameters()
      local gi = r:backward(x, go):clone()
      -- kept rows: the open block on the kept sub-batch (same BN statistics, same grads)
      local xk = rows(x, keep)
      b:forceGate(1):zeroGradParameters()
      local yk = b:forward(xk):clone()
      local gik = b:backward(xk, rows(go, keep)):clone()
      assert.is_true(maxdiff(rows(y, keep), yk) < 1e-12)
      assert.is_true(maxdiff(rows(gi, keep), gik) < 1e-12)
      local _, gr = r:parameters()
      local _, gb = b:parameters()
      for k = 1, #gb do assert.is_true(maxdiff(gr[k], gb[k]) < 1e-12) end
      for _, i in ipairs(r.stageIds) do
        assert.is_true(maxdiff(r.runningMean[i], b.runningMean[i]) < 1e-14)
        assert.is_true(maxdiff(r.runningVar[i], b.runningVar[i]) < 1e-14)
      end
      -- dropped rows: the closed block
      local xd = rows(x, drop)
      b:forceGate(0)
      local yd = b:forward(xd):clone()
      local gid = b:backward(xd, rows(go, drop))
      assert.is_true(maxdiff(rows(y, drop), yd) < 1e-12)
      assert.is_true(maxdiff(rows(gi, drop), gid) < 1e-12)
      assert.are.equal(3, r.nKept)
      assert.are.same(gates, r.gate:totable())
    end
  end)
end)

describe('nn.ResidualDrop in a network', function()
  it('follows getParameters (tensors re-pointed into one flat vector)', function()
    fathom.manualSeed(61)
    local net = nn.Sequential():add(block(2, 2, 1)):add(block(2, 4, 2))
    local x = J.input(2, 2, 4, 4)
    local y0 = net:forward(x):clone()
    local w, dw = net:getParameters()
    assert.are.equal(0, maxdiff(net:forward(x), y0))
    w:mul(1.5)
    assert.is_true(maxdiff(net:forward(x), y0) > 1e-3) -- the blocks read the flat vector
    dw:zero()
    net:backward(x, y0)
    assert.is_true(dw:abs():sum() > 0)
  end)

  it('updateGradInput + accGradParameters(scale) = backward(scale)', function()
    fathom.manualSeed(63)
    for _, args in ipairs({ { 2, 4, 2, { shortcut = 'B' } }, { 4, 8, 2, { block = 'bottleneck' } } }) do
      local b = block(unpack(args)):forceGate(1)
      local x = J.input(2, args[1], 4, 4)
      local go = J.input(b:forward(x):size())
      b:zeroGradParameters()
      local gi = b:backward(x, go, 0.3):clone()
      local _, g = b:parameters()
      local g1 = {}
      for k, t in ipairs(g) do g1[k] = t:clone() end
      b:zeroGradParameters()
      local gi2 = b:updateGradInput(x, go):clone()
      for _, t in ipairs(g) do assert.are.equal(0, t:abs():max()) end -- no parameter gradient yet
      b:accGradParameters(x, go, 0.3)
      assert.are.equal(0, maxdiff(gi, gi2))
      for k, t in ipairs(g) do assert.is_true(maxdiff(t, g1[k]) < 1e-14) end
    end
  end)

  it('gives the same results on the threaded paths (large float32 batch, row mode)', function()
    fathom.manualSeed(64)
    fathom.setnumthreads(2)
    local x = fathom.FloatTensor(24, 16, 16, 16):uniform(0, 1)
    local gates = fathom.ByteTensor(24):bernoulli(0.5)
    local r = nn.ResidualDrop(16, 32, 2, { gate = 'row' }):forceGate(gates)
    local y = r:forward(x):clone()
    local gi = r:backward(x, y):clone()
    -- the same, row by row: open rows through the open block (same BN statistics: the
    -- kept rows as one sub-batch), closed rows through the closed one
    local keep, drop = {}, {}
    for i = 1, 24 do if gates[i] == 1 then keep[#keep + 1] = i else drop[#drop + 1] = i end end
    local b = nn.ResidualDrop(16, 32, 2)
    for k, t in ipairs(({ r:parameters() })[1]) do b:parameters()[k]:copy(t) end
    local function rows(t, list)
      local out = fathom.FloatTensor(#list, t:size(2), t:size(3), t:size(4))
      for j, i in ipairs(list) do out[j]:copy(t[i]) end
      return out
    end
    for _, part in ipairs({ { keep, 1 }, { drop, 0 } }) do
      local xs = rows(x, part[1])
      local ys = b:forceGate(part[2]):forward(xs)
      assert.is_true(maxdiff(ys, rows(y, part[1])) < 1e-5)
      assert.is_true(maxdiff(b:backward(xs, rows(y, part[1])), rows(gi, part[1])) < 1e-5)
    end
    fathom.setnumthreads(threads0)
  end)

  it('frees everything it allocated', function()
    collectgarbage(); collectgarbage()
    nn.ResidualDrop.freeWorkspace()
    local bytes0, tensors0 = fathom.memory()
    do
      local b = nn.ResidualDrop(2, 4, 2, { shortcut = 'B', gate = 'row' })
      local x = fathom.FloatTensor(3, 2, 4, 4):uniform(-1, 1)
      b:forward(x); b:backward(x, b.output)
      assert.is_true(b:savedBytes() > 0)
    end
    collectgarbage(); collectgarbage()
    nn.ResidualDrop.freeWorkspace()
    local bytes1, tensors1 = fathom.memory()
    assert.are.equal(bytes0, bytes1)
    assert.are.equal(tensors0, tensors1)
  end)

  it('float32 agrees with float64', function()
    fathom.manualSeed(62)
    local b = block(3, 6, 2, { p = 0.5 })
    local x = J.input(2, 3, 6, 6)
    local y = b:forceGate(1):forward(x):clone()
    local gi = b:backward(x, y):clone()
    b:float()
    local xf = x:float()
    assert.is_true(maxdiff(b:forward(xf):double(), y) < 1e-4)
    assert.is_true(maxdiff(b:backward(xf, y:float()):double(), gi) < 1e-3)
  end)

  it('prints like a Torch7 module', function()
    local s = tostring(nn.ResidualDrop(16, 32, 2, { p = 0.75 }))
    assert.are.equal('nn.ResidualDrop(16 -> 32, stride 2, basic, shortcut A, p = 0.75, batch gate, scale)', s)
  end)
end)

describe('nn.ResidualDrop errors', function()
  local function err_match(pattern, fn)
    local ok, msg = pcall(fn)
    assert.is_false(ok)
    assert(tostring(msg):find(pattern, 1, true), 'message was: ' .. tostring(msg))
  end

  it('rejects bad options', function()
    err_match('shortcut', function() nn.ResidualDrop(2, 4, 2, { shortcut = 'Z' }) end)
    err_match('survival probability', function() nn.ResidualDrop(2, 2, 1, { p = 1.5 }) end)
    err_match('opt.gate', function() nn.ResidualDrop(2, 2, 1, { gate = 'sample' }) end)
    err_match('identity shortcut', function() nn.ResidualDrop(2, 4, 1, { shortcut = 'identity' }) end)
    err_match('nOutputPlane >= nInputPlane', function() nn.ResidualDrop(4, 2, 2) end)
    err_match('nInputPlane', function() nn.ResidualDrop(0, 2, 1) end)
    err_match('divides by p', function() nn.ResidualDrop(2, 2, 1, { p = 0, testScaling = 'inverted' }) end)
    err_match('generator', function() nn.ResidualDrop(2, 2, 1, { generator = 3 }) end)
  end)

  it('rejects bad inputs with a message naming the shape', function()
    local b = nn.ResidualDrop(2, 4, 2):double()
    err_match('[N, 2, H, W]', function() b:forward(J.input(2, 3, 4, 4)) end)
    err_match('[N, 2, H, W]', function() b:forward(J.input(2, 4, 4)) end)
    err_match('FloatTensor', function() b:forward(fathom.FloatTensor(2, 2, 4, 4)) end)
    err_match('gradOutput', function()
      b:forward(J.input(2, 2, 4, 4)); b:backward(J.input(2, 2, 4, 4), J.input(2, 4, 3, 2))
    end)
    -- odd sizes: 2x2 average pooling and the strided conv disagree
    err_match('pooling', function() b:forward(J.input(2, 2, 5, 5)) end)
    local r = nn.ResidualDrop(2, 2, 1, { gate = 'row' }):double():forceGate(fathom.ByteTensor({ 1, 0 }))
    err_match('2 forced gates for a batch of 3', function() r:forward(J.input(3, 2, 4, 4)) end)
  end)

  it('C entry points check their arguments', function()
    local ffi = require 'ffi'
    local C = fathom.C
    local b = nn.ResidualDrop(2, 2, 1):double()
    local x, y = J.input(2, 2, 4, 4), J.input(2, 2, 4, 4)
    assert.are_not.equal(0, C.ft_resblock_forward(nil, x.p, y.p, 1))
    assert.truthy(ffi.string(C.ft_last_error()):find('block is NULL', 1, true))
    local s = b:_sync()
    s.force_gate = -1
    assert.are_not.equal(0, C.ft_resblock_forward(s, x.p, x.p, 1))
    assert.truthy(ffi.string(C.ft_last_error()):find('must not share memory', 1, true))
    s.conv_weight[1] = nil
    assert.are_not.equal(0, C.ft_resblock_forward(s, x.p, y.p, 1))
    assert.truthy(ffi.string(C.ft_last_error()):find('conv_weight[1]', 1, true))
    local fresh = ffi.new('ft_resblock')
    b._state = nil
    local s2 = b:_sync()
    ffi.copy(fresh, s2, ffi.sizeof('ft_resblock'))
    fresh.saved = nil
    assert.are_not.equal(0, C.ft_resblock_backward(fresh, x.p, y.p, y.p, nil, 0, 0))
    assert.truthy(ffi.string(C.ft_last_error()):find('no forward', 1, true))
    s2.p = 2
    assert.are_not.equal(0, C.ft_resblock_forward(s2, x.p, y.p, 1))
    assert.truthy(ffi.string(C.ft_last_error()):find('[0, 1]', 1, true))
  end)

  it('backward needs the forward of the same input shape', function()
    local b = nn.ResidualDrop(2, 2, 1):double()
    b:forward(J.input(2, 2, 4, 4))
    local ok, msg = pcall(function() b.output = J.input(3, 2, 4, 4); b:backward(J.input(3, 2, 4, 4), J.input(3, 2, 4, 4)) end)
    assert.is_false(ok)
    assert.truthy(tostring(msg):find('differs from the last forward', 1, true))
  end)
end)
