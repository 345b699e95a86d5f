-- bench/resnet_flops.lua -- the floor of a CIFAR ResNet training step, counted: the
-- floating-point operations (convolutions and the linear layer, forward and backward)
-- and the bytes the step must move through device memory, for constant depth and in
-- expectation under stochastic depth (linear decay to pL). Needs no GPU; the numbers go
-- into the GPU benchmark notes (METHOD: floor = max(FLOPs / rate, bytes / bandwidth)).
--   luajit bench/resnet_flops.lua [-depth 110] [-batch 128] [-pL 0.5]
--                                 [-tflops 67] [-tf32 495] [-tbs 3.0]
-- Conventions: a multiply-add is 2 FLOPs; a convolution's backward is two products of
-- its forward's size (data and filter gradients), except the first layer's data
-- gradient, which training never needs. Element-wise work (BN, ReLU, pooling, SGD) is
-- counted in bytes only: a few FLOPs per element, under 1% of the total.
-- Bytes are float32 activations (weights: 1.7M parameters, negligible) in two models:
--   ideal:  every fusion imaginable: each conv reads its input and writes its output
--           (BN, ReLU, the residual sum fused in), backward reads the output gradient
--           and the saved input, writes the input gradient: 5 tensors per conv.
--   kernels: Fathom's present kernel sequence, each kernel reading its inputs and
--           writing its outputs once (cuDNN convolutions counted at their tensor sizes,
--           BN two passes, the block's combine and masks separate).
package.path = './?.lua;' .. package.path
local util = require 'bench.util'
local opt = util.options('resnet_flops', { depth = 110, batch = 128, pL = 0.5, tflops = 67, tf32 = 495, tbs = 3.0 }, arg)
assert((opt.depth - 2) % 6 == 0, 'depth must be 6n+2')

local N, B4 = opt.batch, 4
local n = (opt.depth - 2) / 6
local L = 3 * n

local function conv_flops(cin, cout, hout, k) return 2 * N * cout * hout * hout * cin * k * k end
local function act(c, h) return N * c * h * h * B4 end -- bytes of one activation tensor

-- the stem and the head
local stem_f = conv_flops(3, 16, 32, 3)
local head_f = 2 * N * 64 * 10
-- ideal: forward reads x, writes y; backward reads dy and x (filter gradient only)
local stem = { fwd = stem_f, bwd = stem_f, ideal = 2 * act(3, 32) + 2 * act(16, 32), kernels = 0 }
-- stem kernels: conv (x, h), BN stats (h), BN+ReLU (h, a); backward: BN (h, g, a) twice, apply writes gh;
-- conv filter gradient (x, gh)
stem.kernels = (act(3, 32) + act(16, 32)) + act(16, 32) + 2 * act(16, 32)
  + 3 * act(16, 32) + 4 * act(16, 32) + (act(3, 32) + act(16, 32))

-- One basic block: cin -> cout at output size h (stride 2 when cin < cout).
local function block(cin, cout, h)
  local hin = cin < cout and 2 * h or h
  local f = conv_flops(cin, cout, h, 3) + conv_flops(cout, cout, h, 3)
  local X, Y = act(cin, hin), act(cout, h)
  -- ideal: conv1 X -> Y; conv2 with the residual sum: Y, X -> Y; backward conv2: dY, A1 -> dA1;
  -- conv1: dH1, X -> dX (filter gradients in the same passes)
  local ideal = (X + Y) + (Y + X + Y) + 3 * Y + (Y + 2 * X)
  -- branch kernels, forward: conv1 (X -> H1), BN1 stats (H1), BN1+ReLU (H1 -> A1), conv2 (A1 -> H2),
  -- BN2 stats (H2), BN2 (H2 -> out), shortcut pool (X -> P, when strided), combine (out, P -> out)
  local P = cin < cout and act(cin, h) or 0
  local kf = (X + Y) + Y + 2 * Y + 2 * Y + Y + 2 * Y + (P > 0 and (X + P) or 0) + (2 * Y + (P > 0 and P or X))
  -- backward: ReLU mask (gOut, out -> G), shortcut (G -> gX: pad/pool or copy), BN2 sums (H2, G),
  -- BN2 apply (H2, G -> gH2), conv2 filter (A1, gH2), conv2 data (gH2 -> gA1), BN1 sums (H1, gA1, A1),
  -- BN1 apply (H1, gA1, A1 -> gH1), conv1 filter (X, gH1), conv1 data (gH1 -> gXb), gX += gXb
  local kb = 3 * Y + (Y + X + (P > 0 and P or 0)) + 2 * Y + 3 * Y + 2 * Y + 2 * Y + 3 * Y + 4 * Y
    + (X + Y) + (Y + X) + 3 * X
  -- a closed gate: out = ReLU(shortcut(X)) forward, the masked gradient back to X
  local closed_ideal = (X + Y) + (2 * Y + X)
  local closed_kernels = (P > 0 and (X + P) or 0) + (Y + (P > 0 and P or X)) + 3 * Y + (Y + X + (P > 0 and P or 0))
  return { fwd = f, bwd = 2 * f, ideal = ideal, kernels = kf + kb, closed_ideal = closed_ideal,
           closed_kernels = closed_kernels }
end

local blocks = {}
do
  local cin = 16
  for stage, planes in ipairs({ 16, 32, 64 }) do
    local h = 32 / 2 ^ (stage - 1)
    for _ = 1, n do
      blocks[#blocks + 1] = block(cin, planes, h)
      cin = planes
    end
  end
end

-- survival probabilities: linear decay, p_l = 1 - (l / L) (1 - pL)
local function p_of(l) return 1 - (l / L) * (1 - opt.pL) end

local function total(expect)
  local t = { fwd = stem.fwd + head_f, bwd = stem.bwd + 2 * head_f, ideal = stem.ideal, kernels = stem.kernels }
  for l, b in ipairs(blocks) do
    local p = expect and p_of(l) or 1
    t.fwd = t.fwd + p * b.fwd
    t.bwd = t.bwd + p * b.bwd
    t.ideal = t.ideal + p * b.ideal + (1 - p) * b.closed_ideal
    t.kernels = t.kernels + p * b.kernels + (1 - p) * b.closed_kernels
  end
  t.kernels = t.kernels + 2 * act(64, 8) -- global average pooling, both ways
  return t
end

local function gb(x) return x / 1e9 end
print(('ResNet-%d training step, batch %d, float32 (%d blocks, %d convolutions)'):format(opt.depth, N, L, 2 * L + 1))
print(('%-34s %10s %10s %10s %12s %12s'):format('', 'fwd GFLOP', 'bwd GFLOP', 'total', 'ideal GB', 'kernels GB'))
local rows = { { 'constant depth', total(false) },
               { ('stochastic depth (E, pL %g)'):format(opt.pL), total(true) } }
for _, r in ipairs(rows) do
  local t = r[2]
  print(('%-34s %10.2f %10.2f %10.2f %12.2f %12.2f'):format(r[1], gb(t.fwd), gb(t.bwd), gb(t.fwd + t.bwd),
    gb(t.ideal), gb(t.kernels)))
end
local expected_active = 0
for l = 1, L do expected_active = expected_active + p_of(l) end
print(('expected blocks run under stochastic depth: %.2f of %d (paper: (3L-1)/4 = %.2f)')
  :format(expected_active, L, (3 * L - 1) / 4))
print(('floors at %g TFLOP/s (FP32 FMA), %g TFLOP/s (TF32 tensor cores), %g TB/s:'):format(opt.tflops, opt.tf32, opt.tbs))
print(('%-34s %10s %10s %10s %10s %12s'):format('', 'FP32 ms', 'TF32 ms', 'ideal ms', 'kern ms', 'img/s floor'))
for _, r in ipairs(rows) do
  local t = r[2]
  local f = t.fwd + t.bwd
  local a, b = f / (opt.tflops * 1e12) * 1e3, f / (opt.tf32 * 1e12) * 1e3
  local c, d = t.ideal / (opt.tbs * 1e12) * 1e3, t.kernels / (opt.tbs * 1e12) * 1e3
  local floor32 = math.max(a, c)
  print(('%-34s %10.2f %10.2f %10.2f %10.2f %12.0f'):format(r[1], a, b, c, d, N / floor32 * 1e3))
end
