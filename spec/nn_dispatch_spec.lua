-- nn_dispatch_spec.lua -- the nn ops and the tensor ops (fill, copy, element-wise,
-- reductions, gemm) check their arguments once, for both devices, before they pick the
-- CPU or the CUDA implementation: a tensor on another device than the call's input, or
-- of the wrong shape, is refused by that one check, naming it, whatever the build (a
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

describe('one argument check per tensor op, before the device is chosen', function()
  local keep = {}
  local function gpu(t) local h, p = on_gpu(t) keep[#keep + 1] = h return p end
  local a = fathom.randn(2, 3):double()
  local o = fathom.Tensor(2, 3):double()

  it('refuses mixed devices in the element-wise ops, naming the tensor and both devices', function()
    refused(C.ft_unary(o.p, gpu(a), C.FT_OP_NEG, 0),
            { 'ft_unary', 'input must be a CPU tensor (it is on the GPU)' })
    refused(C.ft_unary(gpu(o), a.p, C.FT_OP_NEG, 0),
            { 'ft_unary', 'input must be a CUDA tensor (it is on the CPU)' })
    refused(C.ft_binary(gpu(o), gpu(a), a.p, C.FT_OP_ADD),
            { 'ft_binary', 'input must be a CUDA tensor (it is on the CPU)' })
    refused(C.ft_axpy(gpu(o), a.p, 2, gpu(a)), { 'ft_axpy', 'input must be a CUDA tensor' })
  end)

  it('refuses bad shapes, dtypes and op codes of GPU operands before any GPU code runs', function()
    local l = fathom.randn(3):double()
    refused(C.ft_axpy(gpu(o), gpu(a), 1, gpu(l)), { 'ft_axpy: output (2x3) and input (3)' })
    refused(C.ft_unary(gpu(o), gpu(a:float()), C.FT_OP_NEG, 0),
            { 'ft_unary: output is float64 but input is float32' })
    refused(C.ft_binary(gpu(o), gpu(a), gpu(a), 99), { 'ft_binary: unknown op 99' })
    local dbl = ffi.new('double[1]')
    refused(C.ft_reduce_all(gpu(a), 42, dbl), { 'ft_reduce_all: unknown op 42' })
    refused(C.ft_reduce_all(gpu(fathom.Tensor(0):double()), C.FT_RED_MAX, dbl),
            { 'ft_reduce_all: max/min of an empty tensor' })
    refused(C.ft_reduce_dim(gpu(o), nil, gpu(a), 0, C.FT_RED_SUM), { 'ft_reduce_dim: output is 2x3, expected' })
    local bad = ffi.new('ft_tensor[1]')
    ffi.copy(bad, o.p, ffi.sizeof('ft_tensor'))
    bad[0].device = 7
    refused(C.ft_fill(bad, 1), { 'ft_fill: tensor is on unknown device 7' })
  end)

  it('keeps a reduction\'s output and indices on its input\'s device', function()
    local r = fathom.Tensor(1, 3):double()
    local idx = fathom.LongTensor(1, 3)
    refused(C.ft_reduce_dim(r.p, nil, gpu(a), 0, C.FT_RED_MAX),
            { 'ft_reduce_dim', 'output must be a CUDA tensor (it is on the CPU)' })
    -- the CPU loop would have written the indices through a GPU pointer
    refused(C.ft_reduce_dim(r.p, gpu(idx), a.p, 0, C.FT_RED_MAX),
            { 'ft_reduce_dim', 'indices must be a CPU tensor (it is on the GPU)' })
  end)

  it('lets copy cross devices but checks its sizes once', function()
    refused(C.ft_copy(gpu(o), fathom.randn(3):double().p),
            { 'ft_copy: destination has 6 elements, source has 3' })
    refused(C.ft_copy(o.p, gpu(fathom.randn(7))), { 'ft_copy: destination has 6 elements, source has 7' })
  end)

  it('checks gemm once: one device, matching sizes', function()
    local m, n = fathom.randn(3, 2):double(), fathom.Tensor(2, 2):double()
    refused(C.ft_gemm(gpu(n), a.p, gpu(m), 0, 0, 1, 0), { 'ft_gemm', 'A must be a CUDA tensor (it is on the CPU)' })
    refused(C.ft_gemm(n.p, a.p, gpu(m), 0, 0, 1, 0), { 'ft_gemm', 'B must be a CPU tensor (it is on the GPU)' })
    refused(C.ft_gemm(gpu(n), gpu(a), gpu(a), 0, 0, 1, 0), { 'ft_gemm: sizes do not match' })
  end)
end)

describe('gemm and memory shared between its operands', function()
  local check = require 'check'
  -- op(A) op(B) computed from private copies: what any C must end up holding.
  local function product(a, b) return fathom.mm(a:clone(), b:clone()) end

  it('multiplies into a disjoint view of the operands\' storage (written in place, no temporary)', function()
    local big = fathom.randn(40, 16):double()
    local a, b, c = big:narrow(1, 1, 8), big:narrow(1, 9, 16), big:narrow(1, 25, 8)
    local a0, b0, want = a:clone(), b:clone(), product(a, b)
    assert.are.equal(0, C.ft_gemm(c.p, a.p, b.p, 0, 0, 1, 0), ffi.string(C.ft_last_error()))
    assert.is_true(check.maxdiff(c, want) < 1e-12)
    assert.are.equal(0, check.maxdiff(a, a0))
    assert.are.equal(0, check.maxdiff(b, b0))
  end)

  it('goes through a temporary when C overlaps A or B, giving the product of the old values', function()
    -- large enough that BLAS works in blocks: writing C in place would change B under it
    local n = 600
    local big = fathom.randn(n + 7, n):double()
    local b = big:narrow(1, 1, n)
    local c = big:narrow(1, 8, n) -- overlaps B, shifted by 7 rows
    local a = fathom.randn(n, n):double()
    local want = product(a, b)
    assert.are.equal(0, C.ft_gemm(c.p, a.p, b.p, 0, 0, 1, 0), ffi.string(C.ft_last_error()))
    assert.is_true(check.maxdiff(c, want) < 1e-9, 'maxdiff ' .. check.maxdiff(c, want))
    -- and C overlapping A (A's transpose as a view of C's rows)
    local m = fathom.randn(n, n):double()
    local at = m:t()
    local want2 = product(at, b:clone())
    local bb = b:clone()
    assert.are.equal(0, C.ft_gemm(m.p, at.p, bb.p, 0, 0, 1, 0), ffi.string(C.ft_last_error()))
    assert.is_true(check.maxdiff(m, want2) < 1e-9)
  end)
end)
