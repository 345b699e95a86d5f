-- golden_spec.lua -- Fathom against an independent PyTorch implementation, in float64:
-- two SGD steps of a stochastic-depth ResNet-8 on real CIFAR-10 images with a fixed gate
-- pattern (open and closed blocks, identity and downsampling), from the fixture that
-- spec/golden/make_golden.py wrote (PyTorch is needed only to remake it). Compared: the
-- inputs (normalisation, padding, crop, flip), the training logits and losses, every
-- gradient, every weight and momentum buffer after each step, every BN running statistic,
-- and the evaluation logits after the two steps (branches scaled by p_l).
-- Tolerance: max |Fathom - PyTorch| <= 1e-10 * max |PyTorch| per tensor (exactly zero where
-- PyTorch's tensor is zero, as a closed block's gradients); the data pipeline must agree
-- to the bit. FATHOM_GOLDEN_VERBOSE=1 prints the worst relative difference per kind.
local ffi = require 'ffi'
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local optim = require 'fathom.optim'
local st = require 'fathom.safetensors'
local json = require 'fathom.json'
local resnet = require 'models.resnet_cifar'
local C = fathom.C

local TOL = 1e-10
local HERE = debug.getinfo(1, 'S').source:sub(2):match('^(.*)/[^/]+$') or '.'
local BASE = HERE .. '/golden/resnet8_sd_f64'
local REF = st.read(BASE .. '.safetensors')
local INFO = json.read(BASE .. '.json')
local VERBOSE = os.getenv('FATHOM_GOLDEN_VERBOSE')

local function ref(name)
  local t = REF[name]
  assert(t, 'the fixture has no tensor ' .. name)
  return t
end

-- Relative difference of got against the reference tensor: max |got - want| / max |want|
-- (the absolute difference where want is all zeros).
local worst = {}
local function relative(got, want)
  local d = (got:double():clone():add(-1, want:double())):abs():max()
  local scale = want:double():clone():abs():max()
  return scale > 0 and d / scale or d
end
local function expect_close(kind, name, got, want, tol)
  assert.is_true(got:isSameSizeAs(want), ('%s %s: shape %s, the reference has %s'):format(kind,
    name, table.concat(got:size():totable(), 'x'), table.concat(want:size():totable(), 'x')))
  local r = relative(got, want)
  if not worst[kind] or r > worst[kind][1] then worst[kind] = { r, name } end
  assert.is_true(r <= (tol or TOL), ('%s %s differs from PyTorch by %.3g (relative; tolerance %g)')
    :format(kind, name, r, tol or TOL))
end

-- Fathom's tensors under the fixture's names: parameters with their gradients, and the
-- BN running statistics.
local function named(model)
  local m = model.modules
  local stemConv, stemBN, fc = m[1], m[2], m[#m]
  assert.are.equal('nn.SpatialConvolution', stemConv.__typename)
  assert.are.equal('nn.SpatialBatchNormalization', stemBN.__typename)
  assert.are.equal('nn.Linear', fc.__typename)
  local P = { ['stem.conv.weight'] = { stemConv.weight, stemConv.gradWeight },
              ['stem.bn.weight'] = { stemBN.weight, stemBN.gradWeight },
              ['stem.bn.bias'] = { stemBN.bias, stemBN.gradBias },
              ['fc.weight'] = { fc.weight, fc.gradWeight }, ['fc.bias'] = { fc.bias, fc.gradBias } }
  local B = { ['stem.bn'] = { stemBN.running_mean, stemBN.running_var } }
  for l, b in ipairs(model.blocks) do
    for i = 1, 2 do
      local pre = ('block%d.'):format(l)
      P[pre .. 'conv' .. i .. '.weight'] = { b.convWeight[i], b.gradConvWeight[i] }
      P[pre .. 'bn' .. i .. '.weight'] = { b.bnWeight[i], b.gradBnWeight[i] }
      P[pre .. 'bn' .. i .. '.bias'] = { b.bnBias[i], b.gradBnBias[i] }
      B[pre .. 'bn' .. i] = { b.runningMean[i], b.runningVar[i] }
    end
  end
  return P, B
end

-- The model with the fixture's initial weights and statistics, flattened for SGD.
local function golden_model()
  local model = resnet.createModel { depth = INFO.depth, pL = INFO.pL, tensorType = 'double' }
  local P, B = named(model)
  -- every Fathom parameter has a name in the fixture, and every name a parameter
  local byTensor = {}
  for name, pg in pairs(P) do byTensor[pg[1]] = name end
  local params = model:parameters()
  assert.are.equal(#INFO.parameters, #params)
  for _, p in ipairs(params) do assert.is_truthy(byTensor[p], 'a parameter without a name') end
  for _, name in ipairs(INFO.parameters) do
    assert.is_truthy(P[name], 'Fathom has no parameter ' .. name)
    assert.is_true(P[name][1]:isSameSizeAs(ref('init/' .. name)), name .. ': shapes differ')
    P[name][1]:copy(ref('init/' .. name))
  end
  for _, name in ipairs(INFO.batchnorms) do
    B[name][1]:copy(ref('init/' .. name .. '.running_mean'))
    B[name][2]:copy(ref('init/' .. name .. '.running_var'))
  end
  local flat, flatGrad = model:getParameters()
  return model, P, B, flat, flatGrad
end

-- The part of a flat vector (the momentum buffer) that holds parameter t.
local function slice_of(flat, base, t)
  local off = (ffi.cast('char *', t:data()) - ffi.cast('char *', base:data())) / ffi.sizeof('double')
  return flat:narrow(1, tonumber(off) + 1, t:nElement()):view(t:size())
end

local function targets_of(step)
  local labels = ref('data/labels')
  local n = INFO.batchSize
  local y = fathom.LongTensor(n)
  for i = 0, n - 1 do y:data()[i] = labels:data()[(step - 1) * n + i] + 1 end
  return y
end

describe('golden test against PyTorch (float64 ResNet-8, stochastic depth, two SGD steps)', function()
  it('reads a fixture that holds what the comparison needs', function()
    assert.are.equal(8, INFO.depth)
    assert.are.equal(2, #INFO.gates)
    local open, closed = 0, 0
    for _, g in ipairs(INFO.gates) do
      for _, v in ipairs(g) do if v == 1 then open = open + 1 else closed = closed + 1 end end
    end
    assert.is_true(open > 0 and closed > 0, 'the gate pattern must have open and closed blocks')
    for _, k in ipairs({ 'data/images', 'step1/input', 'step2/grad/fc.bias', 'eval/output' }) do
      assert.is_truthy(REF[k], k)
    end
  end)

  it('builds the same inputs from the raw images (normalise, zero-pad 4, crop, flip)', function()
    local images, aug = ref('data/images'), ref('data/augment')
    local n = images:size(1)
    local rows = fathom.LongTensor(n)
    for i = 0, n - 1 do rows:data()[i] = i end
    local labels = ref('data/labels')
    local out = fathom.FloatTensor(n, 3, 32, 32)
    assert.are.equal(0, C.ft_data_gather(images.p, labels.p, rows.p, aug.p, ref('data/mean').p,
                                         ref('data/std').p, out.p, nil))
    local b = INFO.batchSize
    for step = 1, 2 do
      local got = out:narrow(1, (step - 1) * b + 1, b)
      expect_close('input', 'step' .. step, got, ref('step' .. step .. '/input'), 0)
    end
  end)

  it('matches every logit, loss, gradient, weight, momentum and BN statistic', function()
    local model, P, B, flat, flatGrad = golden_model()
    local criterion = nn.CrossEntropyCriterion()
    -- the configuration train.fit gives optim.sgd
    local state = { learningRate = INFO.learningRate, learningRateDecay = 0, momentum = INFO.momentum,
                    nesterov = INFO.nesterov, dampening = INFO.dampening, weightDecay = INFO.weightDecay }
    for step = 1, 2 do
      local s = 'step' .. step .. '/'
      for l, b in ipairs(model.blocks) do b:forceGate(INFO.gates[step][l]) end
      model:training()
      local x, y = ref(s .. 'input'), targets_of(step)
      local out = model:forward(x)
      for l, b in ipairs(model.blocks) do
        assert.are.equal(INFO.gates[step][l], tonumber(b.gate), 'gate of block ' .. l)
      end
      expect_close('logits', s .. 'output', out, ref(s .. 'output'))
      local loss = criterion:forward(out, y)
      assert.is_true(math.abs(loss - ref(s .. 'loss'):data()[0]) <= TOL * math.abs(ref(s .. 'loss'):data()[0]),
        ('%sloss: Fathom %.17g, PyTorch %.17g'):format(s, loss, ref(s .. 'loss'):data()[0]))
      flatGrad:zero()
      model:backward(x, criterion:backward(out, y))
      -- the raw gradients: optim.sgd adds the weight decay into them in place
      local grads = {}
      for _, name in ipairs(INFO.parameters) do grads[name] = P[name][2]:clone() end
      optim.sgd(function() return loss, flatGrad end, flat, state)
      for _, name in ipairs(INFO.parameters) do
        expect_close('gradient', s .. name, grads[name], ref(s .. 'grad/' .. name))
        expect_close('weight', s .. name, P[name][1], ref(s .. 'weight/' .. name))
        expect_close('momentum', s .. name, slice_of(state.dfdx, flat, P[name][1]),
                     ref(s .. 'momentum/' .. name))
      end
      for _, name in ipairs(INFO.batchnorms) do
        expect_close('running mean', s .. name, B[name][1], ref(s .. name .. '.running_mean'))
        expect_close('running var', s .. name, B[name][2], ref(s .. name .. '.running_var'))
      end
    end
    model:evaluate()
    local x = fathom.DoubleTensor(2 * INFO.batchSize, 3, 32, 32)
    x:narrow(1, 1, INFO.batchSize):copy(ref('step1/input'))
    x:narrow(1, INFO.batchSize + 1, INFO.batchSize):copy(ref('step2/input'))
    expect_close('eval logits', 'eval/output', model:forward(x), ref('eval/output'))
    if VERBOSE then
      for kind, w in pairs(worst) do io.stderr:write(('golden: %-13s worst %.3g (%s)\n'):format(kind, w[1], w[2])) end
    end
  end)

  local dir = os.getenv('FATHOM_DATA')
  local cifar = dir and dir ~= '' and dir .. '/cifar-10-batches-bin/data_batch_1.bin'
  if cifar and io.open(cifar, 'rb') then
    it('took its images and statistics from the real data_batch_1.bin as Fathom reads it', function()
      local images, labels = fathom.ByteTensor(10000, 3, 32, 32), fathom.LongTensor(10000)
      assert.are.equal(0, C.ft_data_cifar_read(cifar, 1, 0, 10, images.p, labels.p, 0))
      local all = fathom.LongTensor(10000)
      for i = 0, 9999 do all:data()[i] = i end
      local mean, std = require('fathom.data.dataset').statistics(images, all, 'pixel', 'golden')
      expect_close('data', 'mean', mean, ref('data/mean'), 0)
      expect_close('data', 'std', std, ref('data/std'), 0)
      local n = ref('data/images'):size(1)
      expect_close('data', 'images', images:narrow(1, 1, n), ref('data/images'), 0)
      expect_close('data', 'labels', labels:narrow(1, 1, n), ref('data/labels'), 0)
    end)
  else
    pending('the fixture against the real data_batch_1.bin: FATHOM_DATA=DIR make test runs it')
  end
end)
