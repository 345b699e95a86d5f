-- nn_dispatch_spec.lua -- the nn ops check their arguments once, for both devices,
-- before they pick the CPU or the CUDA implementation: a tensor on another device than
-- the call's input is refused by that one check, naming it, whatever the build (a
-- header marked as a GPU tensor stands in for one; it is never dereferenced).
local ffi = require 'ffi'
local fathom = require 'fathom'
local C = fathom.C

-- A copy of t's header that claims to live on the GPU (same storage pointer).
local function on_gpu(t)
  local h = ffi.new('ft_tensor[1]')
  ffi.copy(h, t.p, ffi.sizeof('ft_tensor'))
  h[0].device = C.FT_CUDA
  return h, h + 0
end

local function refused(status, parts)
  assert.are_not.equal(0, status)
  local msg = ffi.string(C.ft_last_error())
  for _, p in ipairs(parts) do
    assert.is_truthy(msg:find(p, 1, true), ('error %q should mention %q'):format(msg, p))
  end
end

describe('one argument check per nn op, before the device is chosen', function()
  local x = fathom.randn(2, 3, 5, 5):double()
  local y = fathom.Tensor(2, 4, 5, 5):double()
  local w = fathom.randn(4, 3, 3, 3):double()

  it('refuses a weight on another device than the input (conv)', function()
    local keep, wg = on_gpu(w)
    refused(C.ft_conv2d_forward(x.p, y.p, wg, nil, 1, 1, 1, 1),
            { 'ft_conv2d_forward', 'weight is on the GPU but the input is on the CPU' })
    assert.is_not_nil(keep)
  end)

  it('refuses mixed devices in batch norm, ReLU, linear, losses and SGD', function()
    local keep = {}
    local function gpu(t) local h, p = on_gpu(t) keep[#keep + 1] = h return p end
    local v = fathom.Tensor(3):double():fill(1)
    local z = fathom.Tensor(3):double():zero()
    local bx = fathom.randn(4, 3, 2, 2):double()
    refused(C.ft_batchnorm_forward(bx.p, gpu(bx), v.p, z.p, z.p, v.p, z.p, v.p, 1, 0.1, 1e-5, 0),
            { 'ft_batchnorm_forward', 'output is on the GPU' })
    refused(C.ft_relu_forward(bx.p, gpu(bx)), { 'ft_relu_forward', 'output is on the GPU' })
    local a, lw = fathom.randn(2, 3):double(), fathom.randn(4, 3):double()
    local lo = fathom.Tensor(2, 4):double()
    refused(C.ft_linear_forward(a.p, lo.p, gpu(lw), nil), { 'ft_linear_forward', 'weight is on the GPU' })
    local scores = fathom.randn(2, 3):double()
    refused(C.ft_log_softmax_forward(scores.p, gpu(scores)), { 'ft_log_softmax_forward', 'on the GPU' })
    local px, pdx = fathom.Tensor(4):double():zero(), fathom.Tensor(4):double():zero()
    refused(C.ft_sgd_step(px.p, gpu(pdx), nil, 0.1, 0, 0, 0, 0, 1), { 'ft_sgd_step', 'dx is on the GPU' })
  end)

  it('keeps CPU scores with their labels on the CPU (losses)', function()
    local scores = fathom.randn(2, 3):double()
    local target = fathom.LongTensor and fathom.LongTensor({ 1, 2 }) or fathom.Tensor({ 1, 2 }):type('torch.LongTensor')
    local _, tg = on_gpu(target)
    local loss = ffi.new('double[1]')
    refused(C.ft_nll_forward(scores.p, tg, 1, 1, loss), { 'ft_nll_forward', 'target must be a CPU tensor' })
    -- and on the CPU a label out of range is named with its position
    local bad = fathom.Tensor({ 1, 4 }):type(target:type())
    refused(C.ft_nll_forward(scores.p, bad.p, 1, 1, loss), { 'target 4 at position 2' })
  end)

  it('checks the residual block once with the same rules', function()
    local nn = require 'fathom.nn'
    local b = nn.ResidualDrop(2, 2, 1):double()
    local s = b:_sync()
    local bx, by = fathom.randn(2, 2, 4, 4):double(), fathom.Tensor(2, 2, 4, 4):double()
    local keep, wg = on_gpu(b.convWeight[2])
    s.conv_weight[1] = wg
    refused(C.ft_resblock_forward(s, bx.p, by.p, 1),
            { 'ft_resblock_forward', 'conv_weight[1] is on the GPU but the input is on the CPU' })
    assert.is_not_nil(keep)
    s.conv_weight[1] = b.convWeight[2].p
    -- the block runs its kernels unchecked, so it refuses what they would have
    local empty, eout = fathom.Tensor(2, 2, 0, 4):double(), fathom.Tensor(2, 2, 0, 4):double()
    refused(C.ft_resblock_forward(s, empty.p, eout.p, 1), { 'ft_resblock_forward', 'must not be empty' })
  end)
end)
