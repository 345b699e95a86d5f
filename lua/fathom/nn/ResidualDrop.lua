-- nn/ResidualDrop.lua -- the stochastic residual block of "Deep Networks with Stochastic
-- Depth" (Huang et al. 2016), named after the authors' Torch7 module, as one C op
-- (core/nn/resblock.c):  out = ReLU(s * f(x) + shortcut(x)).
--   nn.ResidualDrop(nInputPlane, nOutputPlane, stride, opt)
-- opt (all optional):
--   block       'basic' (conv3x3-BN-ReLU-conv3x3-BN) | 'bottleneck' (1x1-3x3-1x1, output
--               nOutputPlane = 4 * planes; opt.planes overrides the width)
--   shortcut    'A' | 'avg' (2x2 average pooling with the stride, then zero-padded
--               channels), 'subsample' (1x1 pooling with the stride: the authors' first
--               code), 'B' (learned 1x1 projection + BN), 'C' (projection always),
--               'identity'. A, subsample and B become the identity when shapes match.
--               Default: 'A' for basic blocks, 'B' for bottlenecks.
--   p | deathRate  survival probability (p = 1 - deathRate), default 1 (constant depth)
--   gate        'batch' (one draw per mini-batch, the paper) | 'row' (one per sample; the
--               kept samples are gathered, so the branch's BN batch statistics come from
--               the kept samples only)
--   testScaling 'scale' (eval multiplies the branch by p, paper eq. 5) | 'inverted'
--               (training divides kept branches by p; eval runs the plain block)
--   generator   a fathom.Generator for the gate draws (default stream otherwise)
--   momentum, eps   BN settings (0.1, 1e-5); convInit 'fan_in' (default) | 'fan_out'
--   releaseSkipped  free the saved activations whenever the gate closes (default false:
--               they are kept for reuse; a closed block never writes or reads them)
-- Data parallelism: block:setShard(offset, globalRows) (row mode draws the global batch's
-- gates, keeps its rows); synchronised BN: fathom.distributed.setSyncBatchNorm(true).
-- After a training forward, .gate holds the draw: 1 or 0 in batch mode, a ByteTensor of
-- N gates in row mode; .nKept counts the samples that went through the branch.
local ffi = require 'ffi'
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'
local C, check = F.C, F.check

local ResidualDrop, parent = class('nn.ResidualDrop', Module)

local SHORTCUTS = { A = 'avg', avg = 'avg', subsample = 'subsample', B = 'B', C = 'C',
                    identity = 'identity' }
local C_SHORTCUT = { identity = C.FT_SHORTCUT_IDENTITY, avg = C.FT_SHORTCUT_AVG,
                     subsample = C.FT_SHORTCUT_SUBSAMPLE, projection = C.FT_SHORTCUT_PROJECT }

local function argerror(msg) error('nn.ResidualDrop: ' .. msg, 3) end

local function positive_int(x, what)
  if type(x) ~= 'number' or x < 1 or x ~= math.floor(x) then
    argerror(what .. ' must be a positive integer, got ' .. tostring(x))
  end
  return x
end

local function choice(value, default, allowed, what)
  value = value == nil and default or value
  for _, a in ipairs(allowed) do if a == value then return value end end
  argerror(("%s must be one of '%s', got %s"):format(what, table.concat(allowed, "', '"),
    tostring(value)))
end

function ResidualDrop:__init(nInputPlane, nOutputPlane, stride, opt)
  parent.__init(self)
  opt = opt or {}
  if type(opt) ~= 'table' then argerror('opt must be a table, got ' .. type(opt)) end
  self.nInputPlane = positive_int(nInputPlane, 'nInputPlane')
  self.nOutputPlane = positive_int(nOutputPlane, 'nOutputPlane')
  self.stride = positive_int(stride or 1, 'stride')
  self.block = choice(opt.block, 'basic', { 'basic', 'bottleneck' }, 'opt.block')
  local sc = opt.shortcut or (self.block == 'basic' and 'A' or 'B')
  if not SHORTCUTS[sc] then
    argerror("opt.shortcut must be 'A', 'avg', 'subsample', 'B', 'C' or 'identity', got " .. tostring(sc))
  end
  sc = SHORTCUTS[sc]
  local same = self.nInputPlane == self.nOutputPlane and self.stride == 1
  if sc == 'C' or (sc == 'B' and not same) then sc = 'projection'
  elseif same then sc = 'identity' end
  if sc == 'identity' and not same then
    argerror(('an identity shortcut needs nInputPlane == nOutputPlane and stride 1 (got %d -> %d, stride %d)')
      :format(self.nInputPlane, self.nOutputPlane, self.stride))
  end
  if (sc == 'avg' or sc == 'subsample') and self.nOutputPlane < self.nInputPlane then
    argerror(('shortcut %s zero-pads channels, so needs nOutputPlane >= nInputPlane (got %d -> %d)')
      :format(sc, self.nInputPlane, self.nOutputPlane))
  end
  self.shortcut = sc
  self.gateMode = choice(opt.gate, 'batch', { 'batch', 'row' }, 'opt.gate')
  self.testScaling = choice(opt.testScaling, 'scale', { 'scale', 'inverted' }, 'opt.testScaling')
  self.momentum = opt.momentum or 0.1
  self.eps = opt.eps or 1e-5
  self.releaseSkipped = opt.releaseSkipped and true or false
  self.bnFrozen = false
  self.forcedGate = -1
  local p = opt.p
  if opt.deathRate ~= nil then
    if p ~= nil then argerror('give opt.p or opt.deathRate, not both') end
    if type(opt.deathRate) ~= 'number' then argerror('opt.deathRate must be a number') end
    p = 1 - opt.deathRate
  end
  self:setSurvival(p == nil and 1 or p)
  self:setGenerator(opt.generator)

  -- stages: widths and kernel sizes of the branch's convolutions
  local widths, ks
  if self.block == 'basic' then
    widths, ks = { self.nOutputPlane, self.nOutputPlane }, { 3, 3 }
  else
    local planes = opt.planes or self.nOutputPlane / 4
    positive_int(planes, 'the bottleneck width (nOutputPlane / 4 or opt.planes)')
    widths, ks = { planes, planes, self.nOutputPlane }, { 1, 3, 1 }
  end
  self.stageIds = {}
  for i = 1, #widths do self.stageIds[i] = i end
  if sc == 'projection' then
    widths[4], ks[4] = self.nOutputPlane, 1
    self.stageIds[#self.stageIds + 1] = 4
  end
  self.convWeight, self.gradConvWeight = {}, {}
  self.bnWeight, self.bnBias, self.gradBnWeight, self.gradBnBias = {}, {}, {}, {}
  self.runningMean, self.runningVar = {}, {}
  local cin = self.nInputPlane
  for _, i in ipairs(self.stageIds) do
    local inp = i == 4 and self.nInputPlane or cin
    self.convWeight[i] = fathom.Tensor(widths[i], inp, ks[i], ks[i])
    self.gradConvWeight[i] = fathom.Tensor(widths[i], inp, ks[i], ks[i])
    for _, k in ipairs({ 'bnWeight', 'bnBias', 'gradBnWeight', 'gradBnBias', 'runningMean',
                         'runningVar' }) do
      self[k][i] = fathom.Tensor(widths[i])
    end
    if i ~= 4 then cin = widths[i] end
  end
  self.convInit = choice(opt.convInit, 'fan_in', { 'fan_in', 'fan_out' }, 'opt.convInit')
  self:reset()
end

-- Convolutions: normal, std sqrt(2 / fan) (fan_in by default, as the mission's setting;
-- fan_out is fb.resnet.torch's and the authors'). BN: weight 1, bias 0, running 0 / 1.
function ResidualDrop:reset()
  for _, i in ipairs(self.stageIds) do
    local w = self.convWeight[i]
    local fan = self.convInit == 'fan_in' and w:size(2) * w:size(3) * w:size(4)
                                           or w:size(1) * w:size(3) * w:size(4)
    w:normal(0, math.sqrt(2 / fan))
    self.bnWeight[i]:fill(1); self.bnBias[i]:zero()
    self.runningMean[i]:zero(); self.runningVar[i]:fill(1)
    self.gradConvWeight[i]:zero(); self.gradBnWeight[i]:zero(); self.gradBnBias[i]:zero()
  end
  return self
end

function ResidualDrop:setSurvival(p)
  if type(p) ~= 'number' or p ~= p or p < 0 or p > 1 then
    argerror('survival probability must be a number in [0, 1], got ' .. tostring(p))
  end
  if self.testScaling == 'inverted' and p == 0 then
    argerror("'inverted' test scaling divides by p, which must be > 0")
  end
  self.p = p
  return self
end
function ResidualDrop:getSurvival() return self.p end

-- g: a fathom.Generator (or nil for the default stream). The module keeps a reference.
function ResidualDrop:setGenerator(g)
  if g ~= nil and not ffi.istype('ft_generator', g) and not ffi.istype('ft_generator*', g) then
    argerror('generator must be a fathom.Generator, got ' .. type(g))
  end
  self.generator = g
  return self
end

-- Fix the gates of training forwards: nil draws them; 0 or 1 closes or opens every gate;
-- a ByteTensor of N 0/1 values gives row mode's gates.
function ResidualDrop:forceGate(g)
  if g == nil then self.forcedGate = -1
  elseif g == 0 or g == 1 then self.forcedGate = g
  elseif fathom.isTensor(g) then
    if self.gateMode ~= 'row' then argerror('per-sample gates need gate mode row') end
    if g:dim() ~= 1 then argerror('per-sample gates must be a 1-D tensor') end
    self.forcedGate = g:byte()
  else
    argerror('forceGate takes nil, 0, 1 or a ByteTensor, got ' .. tostring(g))
  end
  return self
end

-- Data parallelism, row mode: this module's batch is rows offset+1 .. offset+N of a global
-- batch of globalRows samples; training forwards draw all globalRows gates (the draws of one
-- process over the global batch) and keep this slice. setShard() goes back to the local batch.
function ResidualDrop:setShard(offset, globalRows)
  if offset == nil and globalRows == nil then
    self.rowOffset, self.globalRows = nil, nil
    return self
  end
  if type(offset) ~= 'number' or offset < 0 or offset ~= math.floor(offset) then
    argerror('setShard: offset must be an integer >= 0, got ' .. tostring(offset))
  end
  if type(globalRows) ~= 'number' or globalRows < 1 or globalRows ~= math.floor(globalRows) then
    argerror('setShard: globalRows must be a positive integer, got ' .. tostring(globalRows))
  end
  if offset >= globalRows then
    argerror(('setShard: offset %d is outside a global batch of %d'):format(offset, globalRows))
  end
  self.rowOffset, self.globalRows = offset, globalRows
  return self
end

-- BN with running statistics even while training (fine-tuning; the Monte Carlo tests).
function ResidualDrop:freezeBN(on)
  self.bnFrozen = on ~= false
  return self
end

-- The branch multiplier s for a training (gate 0/1) or evaluation forward.
function ResidualDrop:branchScale(train, gate)
  if not train then return self.testScaling == 'scale' and self.p or 1 end
  if gate == 0 then return 0 end
  return self.testScaling == 'inverted' and 1 / self.p or 1
end

function ResidualDrop:parameters()
  local params, grads = {}, {}
  for _, i in ipairs(self.stageIds) do
    params[#params + 1] = self.convWeight[i]; grads[#grads + 1] = self.gradConvWeight[i]
    params[#params + 1] = self.bnWeight[i]; grads[#grads + 1] = self.gradBnWeight[i]
    params[#params + 1] = self.bnBias[i]; grads[#grads + 1] = self.gradBnBias[i]
  end
  return params, grads
end

---------------------------------------------------------------------------- the C state
-- The struct is rebuilt lazily (after clearState or loading); tensor pointers are
-- refreshed at every call because getParameters and type() re-point the tensors.
function ResidualDrop:_sync()
  local s = self._state
  if s == nil then
    s = ffi.gc(ffi.new('ft_resblock'), C.ft_resblock_release)
    self._state = s
  end
  s.kind = self.block == 'basic' and C.FT_BLOCK_BASIC or C.FT_BLOCK_BOTTLENECK
  s.shortcut = C_SHORTCUT[self.shortcut]
  s.stride = self.stride
  s.gate_mode = self.gateMode == 'batch' and C.FT_GATE_BATCH or C.FT_GATE_ROW
  s.test_mode = self.testScaling == 'scale' and C.FT_TEST_SCALE or C.FT_TEST_INVERTED
  s.bn_frozen = self.bnFrozen and 1 or 0
  s.release_skipped = self.releaseSkipped and 1 or 0
  s.p = self.p
  s.bn_momentum = self.momentum
  s.bn_eps = self.eps
  s.generator = self.generator
  s.row_offset = self.rowOffset or 0
  s.global_rows = self.globalRows or 0
  for _, i in ipairs(self.stageIds) do
    local j = i - 1
    s.conv_weight[j] = self.convWeight[i].p
    s.grad_conv_weight[j] = self.gradConvWeight[i].p
    s.bn_weight[j] = self.bnWeight[i].p
    s.bn_bias[j] = self.bnBias[i].p
    s.grad_bn_weight[j] = self.gradBnWeight[i].p
    s.grad_bn_bias[j] = self.gradBnBias[i].p
    s.running_mean[j] = self.runningMean[i].p
    s.running_var[j] = self.runningVar[i].p
  end
  return s
end

function ResidualDrop:_outputSize(input)
  local H, W = input:size(3), input:size(4)
  return input:size(1), self.nOutputPlane, math.floor((H - 1) / self.stride) + 1,
         math.floor((W - 1) / self.stride) + 1
end

function ResidualDrop:updateOutput(input)
  local expected = ('[N, %d, H, W]'):format(self.nInputPlane)
  input = self:checkInput(input, 4, expected)
  if input:size(2) ~= self.nInputPlane then self:shapeError(input, expected) end
  local s = self:_sync()
  local N = input:size(1)
  self:buffer('output', input):resize(self:_outputSize(input))
  s.force_gate = type(self.forcedGate) == 'number' and self.forcedGate or 2
  s.row_gate = nil
  if self.gateMode == 'row' then
    self.rowGate = self.rowGate or fathom.ByteTensor()
    self.rowGate:resize(N)
    if s.force_gate == 2 then
      if self.forcedGate:nElement() ~= N then
        argerror(('%d forced gates for a batch of %d'):format(self.forcedGate:nElement(), N))
      end
      self.rowGate:copy(self.forcedGate)
    end
    s.row_gate = self.rowGate.p
    if self.train and self.globalRows and self.rowOffset + N > self.globalRows then
      argerror(('a batch of %d rows from offset %d does not fit the shard of %d global rows (setShard)')
        :format(N, self.rowOffset, self.globalRows))
    end
  end
  check(C.ft_resblock_forward(s, input.p, self.output.p, self.train and 1 or 0),
        'nn.ResidualDrop.updateOutput')
  self.nKept = tonumber(s.n_kept)
  if self.gateMode == 'row' then
    if not self.train then self.rowGate:fill(1) end
    self.gate = self.rowGate
  else
    self.gate = s.gate
  end
  return self.output
end

-- One C call gives both gradients: backward is the fused path (updateGradInput then
-- accGradParameters give the same results but run the branch's backward twice).
function ResidualDrop:_backward(input, gradOutput, wantInput, scale)
  local expected = ('[N, %d, H, W]'):format(self.nInputPlane)
  input = self:checkInput(input, 4, expected)
  if not fathom.isTensor(gradOutput) or not gradOutput:isSameSizeAs(self.output) then
    self:shapeError(gradOutput, table.concat(self.output:size():totable(), 'x'), 'gradOutput')
  end
  gradOutput = self:checkInput(gradOutput, 4, '', 'gradOutput')
  local s = self:_sync()
  local gi = nil
  if wantInput then gi = self:buffer('gradInput', input):resizeAs(input).p end
  check(C.ft_resblock_backward(s, input.p, self.output.p, gradOutput.p, gi, scale and 1 or 0,
                               scale or 0), 'nn.ResidualDrop.backward')
  return self.gradInput
end

function ResidualDrop:updateGradInput(input, gradOutput)
  return self:_backward(input, gradOutput, true, nil)
end

function ResidualDrop:accGradParameters(input, gradOutput, scale)
  self:_backward(input, gradOutput, false, scale or 1)
end

function ResidualDrop:backward(input, gradOutput, scale)
  return self:_backward(input, gradOutput, true, scale or 1)
end

-- Bytes of activations held for backward (0 for a skipped block with releaseSkipped).
function ResidualDrop:savedBytes()
  return self._state and tonumber(C.ft_resblock_saved_bytes(self._state)) or 0
end

-- The temporaries every block of this thread shares (a few activations' worth): free
-- them, e.g. between training and a memory-tight evaluation. They regrow on use.
function ResidualDrop.freeWorkspace() C.ft_resblock_workspace_free() end

function ResidualDrop:clearState()
  if self._state then C.ft_resblock_release(self._state) end
  self._state = nil
  return parent.clearState(self)
end

-- type() converts every tensor field; the gates stay bytes.
function ResidualDrop:_retype()
  if fathom.isTensor(self.rowGate) then self.rowGate = self.rowGate:byte() end
  if fathom.isTensor(self.forcedGate) then self.forcedGate = self.forcedGate:byte() end
  if self.gateMode == 'row' and fathom.isTensor(self.gate) then self.gate = self.rowGate end
end

function ResidualDrop:__tostring()
  local sc = self.shortcut == 'avg' and 'A' or self.shortcut
  return ('nn.ResidualDrop(%d -> %d, stride %d, %s, shortcut %s, p = %.4g, %s gate, %s)')
    :format(self.nInputPlane, self.nOutputPlane, self.stride, self.block, sc, self.p,
            self.gateMode, self.testScaling)
end

return ResidualDrop
