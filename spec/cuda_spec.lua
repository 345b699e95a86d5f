-- cuda_spec.lua -- the GPU backend. Part 1 runs everywhere: with no usable device (or
-- in a build without CUDA) the library says so, a CUDA tensor is a clean Lua error, and
-- CPU work goes on unaffected. Part 2 needs a GPU and is reported as pending ("no CUDA
-- device: skipped") without one: every kernel against the CPU one (float32; the
-- tolerance of each op is stated where it is checked, relative to the largest CPU
-- value), a fused residual block, a ResNet-20 forward/backward and an SGD step, the
-- allocator, events, pinned memory and the error paths.
local fathom = require 'fathom'
local oracle = require 'resblock_oracle'
local ffi = require 'ffi'
local C = fathom.C
local cuda = fathom.cuda

local check = require 'check'
local expect_error = check.expect_error

local unpack = table.unpack or unpack
local GPU = cuda.isAvailable()
local NO_DEVICE = fathom.hasCUDA() and 'no CUDA device available' or 'no CUDA backend'

describe('CUDA without a device', function()
  it('reports the backend, the device count and why none is usable', function()
    assert.are.equal(fathom.hasCUDA(), cuda.hasBackend())
    local n = cuda.deviceCount()
    assert.are.equal('number', type(n))
    assert.is_true(n >= 0 and n == math.floor(n))
    assert.are.equal(n > 0, cuda.isAvailable())
    local cell = ffi.new('int[1]', -1)
    assert.are.equal(0, C.ft_cuda_device_count(cell)) -- no device is not an error
    assert.are.equal(n, cell[0])
    if n == 0 then
      assert.is_truthy(cuda.status():find(fathom.hasCUDA() and 'no CUDA device' or 'no CUDA backend', 1, true))
    else
      assert.are.equal('', cuda.status())
    end
  end)

  if GPU then
    pending('no-device behaviour: skipped (this machine has a GPU)')
    return
  end

  it('makes a CUDA tensor a clean error, from Lua and from C', function()
    local t = fathom.randn(3, 4)
    expect_error(function() return t:cuda() end, { 'cuda', NO_DEVICE })
    expect_error(function() return t:cudaDouble() end, { 'cudaDouble', NO_DEVICE })
    expect_error(function() return fathom.Tensor(2):type('torch.CudaTensor') end, { NO_DEVICE })
    expect_error(function() return fathom.Tensor(2):type('cuda') end, { NO_DEVICE })
    local nn = require 'fathom.nn'
    expect_error(function() return nn.Linear(3, 2):cuda() end, { NO_DEVICE })
    local out = ffi.new('ft_tensor*[1]')
    local sz = ffi.new('int64_t[2]', 2, 3)
    assert.are_not.equal(0, C.ft_tensor_new(out, C.FT_FLOAT32, C.FT_CUDA, 2, sz))
    assert.is_true(out[0] == nil)
    local msg = ffi.string(C.ft_last_error())
    assert.is_truthy(msg:find('ft_tensor_new', 1, true) and msg:find(NO_DEVICE, 1, true), msg)
  end)

  it('fails every device call with a message', function()
    for name, fn in pairs({
      memory = cuda.memory, emptyCache = cuda.emptyCache, synchronize = cuda.synchronize,
      Event = cuda.Event, getDevice = cuda.getDevice,
      pinned = function() return cuda.pinned('float', 4) end,
      setDevice = function() return cuda.setDevice(1) end,
      setDeterministic = function() return cuda.setDeterministic(true) end,
      setTF32 = function() return cuda.setTF32(true) end,
      properties = function() return cuda.getDeviceProperties(1) end,
    }) do
      local msg = expect_error(fn, { 'fathom.cuda.' })
      assert.is_truthy(msg:find(NO_DEVICE, 1, true) or msg:find('no CUDA', 1, true), name .. ': ' .. msg)
    end
    assert.are.equal(0, cuda.convPlans())
  end)

  it('leaves CPU tensors and CPU work unaffected', function()
    local a = fathom.DoubleTensor({ { 1, 2 }, { 3, 4 } })
    pcall(function() return a:cuda() end) -- a failed attempt changes nothing
    assert.are.equal('fathom.DoubleTensor', a:type())
    assert.are.equal('cpu', a:device())
    assert.is_false(a:isCuda())
    local p = a * a
    assert.are.same({ { 7, 10 }, { 15, 22 } }, p:totable())
    assert.are.equal(10, a:sum())
    assert.are.equal('fathom.FloatTensor', a:float():type())
  end)
end)

---------------------------------------------------------------------------------------------
-- Part 2: a GPU is needed. Everything below is skipped with a message when there is none.
local function gpu_it(name, fn)
  if GPU then it(name, fn) else pending('no CUDA device: skipped: ' .. name) end
end

-- The largest |a - b| (any devices, any float types), computed on the host in double.
local function maxdiff(a, b)
  local x, y = a:double(), b:double()
  assert.are.same(x:size():totable(), y:size():totable())
  if x:nElement() == 0 then return 0 end
  return (x - y):abs():max()
end
-- cpu and gpu agree within tol relative to the largest |cpu| (at least 1).
local function agree(cpu, gpu, tol, what)
  assert.is_true(gpu:isCuda(), what .. ': expected a CUDA tensor')
  local scale = math.max(1, cpu:nElement() > 0 and cpu:double():abs():max() or 0)
  local d = maxdiff(cpu, gpu)
  assert.is_true(d <= tol * scale,
    ('%s: CPU and GPU differ by %.3g (tolerance %g x %.3g)'):format(what, d, tol, scale))
end
local function same(cpu, gpu, what) agree(cpu, gpu, 0, what) end
local function check(status, what) if status ~= 0 then error(what .. ': ' .. ffi.string(C.ft_last_error()), 2) end end

describe('CUDA tensors', function()
  gpu_it('copy between devices exactly, in every dtype and layout', function()
    fathom.manualSeed(1)
    local t = fathom.randn(3, 4, 5)
    local g = t:cuda()
    assert.is_true(g:isCuda())
    assert.are.equal('cuda', g:device())
    assert.are.equal('fathom.CudaTensor', g:type())
    assert.are.equal('float', g:dtype())
    same(t, g, 'to the GPU and back')
    assert.are.equal('fathom.FloatTensor', g:float():type())
    assert.are.equal('fathom.CudaDoubleTensor', t:cudaDouble():type())
    same(t:double(), t:cudaDouble(), 'double')
    local l = fathom.LongTensor({ 1, -2, 2 ^ 40 + 3 })
    assert.are.same(l:totable(), l:cudaLong():long():totable())
    local b = fathom.ByteTensor({ 0, 7, 255 })
    assert.are.same(b:totable(), b:cudaByte():byte():totable())
    -- non-contiguous source on the GPU, non-contiguous destination on the GPU
    same(t:transpose(1, 3):contiguous(), g:transpose(1, 3), 'strided device source')
    local d = fathom.Tensor(5, 4, 3):cuda()
    d:transpose(1, 3):copy(t)
    same(t:transpose(1, 3):contiguous(), d, 'strided device destination')
    -- dtype conversion on the device and across devices
    local dd = fathom.Tensor(3, 4, 5):cudaDouble():copy(g)
    same(t:double(), dd, 'float -> double on the GPU')
    local fromd = fathom.Tensor(3, 4, 5):cuda():copy(t:double())
    same(t, fromd, 'host double -> device float')
    local h = fathom.DoubleTensor(5, 4, 3)
    h:transpose(1, 3):copy(g)
    assert.are.equal(0, maxdiff(t, h:transpose(1, 3)), 'device float -> strided host double')
    -- clone and views stay on the device
    assert.is_true(g:clone():isCuda() and g:narrow(2, 2, 2):isCuda() and g:select(1, 2):isCuda())
    same(t:narrow(2, 2, 2), g:narrow(2, 2, 2), 'narrow')
  end)

  gpu_it('fill, read and write elements, print through the host', function()
    local g = fathom.Tensor(2, 3):cuda():fill(2.5)
    same(fathom.Tensor(2, 3):fill(2.5), g, 'fill')
    g[{ 2, 3 }] = 7
    assert.are.equal(7, g[{ 2, 3 }])
    assert.are.equal(2.5, g[1][2])
    g:select(1, 1):fill(-1)
    assert.are.same({ { -1, -1, -1 }, { 2.5, 2.5, 7 } }, g:totable())
    local s = tostring(g)
    assert.is_truthy(s:find('[fathom.CudaTensor of size 2x3]', 1, true), s)
    assert.is_truthy(s:find('7', 1, true))
    expect_error(function() return g:data() end, { 'data', 'GPU' })
  end)

  -- Element-wise: computed in double and rounded, as on the CPU: within 1 float32 ulp
  -- (2e-7 relative; transcendental functions may differ in the last double bit).
  gpu_it('element-wise ops and comparisons agree with the CPU (2e-7)', function()
    fathom.manualSeed(2)
    local a, b = fathom.randn(17, 13), fathom.rand(17, 13):add(0.5)
    local ga, gb = a:cuda(), b:cuda()
    for _, op in ipairs({ 'abs', 'exp', 'tanh', 'sigmoid', 'neg', 'square', 'sign', 'floor', 'ceil' }) do
      local c, gc = a:clone(), ga:clone()
      agree(c[op](c), gc[op](gc), 2e-7, op)
    end
    agree(b:clone():sqrt(), gb:clone():sqrt(), 2e-7, 'sqrt')
    agree(b:clone():log(), gb:clone():log(), 2e-7, 'log')
    agree(b:clone():pow(2.5), gb:clone():pow(2.5), 2e-7, 'pow')
    agree(a:clone():clamp(-0.5, 0.5), ga:clone():clamp(-0.5, 0.5), 0, 'clamp')
    agree(a:clone():add(3), ga:clone():add(3), 2e-7, 'add scalar')
    agree(a:clone():mul(-1.5), ga:clone():mul(-1.5), 2e-7, 'mul scalar')
    agree(a:clone():div(3), ga:clone():div(3), 2e-7, 'div scalar')
    agree(a:double():div(3), ga:cudaDouble():div(3), 1e-15, 'div scalar (double)')
    agree(a + b, ga + gb, 2e-7, 'add')
    agree(a - b, ga - gb, 2e-7, 'sub')
    agree(a:clone():cmul(b), ga:clone():cmul(gb), 2e-7, 'cmul')
    agree(a:clone():cdiv(b), ga:clone():cdiv(gb), 2e-7, 'cdiv')
    agree(a:clone():cmax(b), ga:clone():cmax(gb), 0, 'cmax')
    agree(a:clone():cmin(b), ga:clone():cmin(gb), 0, 'cmin')
    agree(a:clone():add(0.5, b), ga:clone():add(0.5, gb), 2e-7, 'axpy')
    for _, op in ipairs({ 'lt', 'le', 'gt', 'ge', 'eq', 'ne' }) do
      same(a[op](a, b), ga[op](ga, gb), op)
      same(a[op](a, 0.25), ga[op](ga, 0.25), op .. ' with a number')
    end
    -- strided operands
    agree(a:t() + a:t(), ga:t() + ga:t(), 2e-7, 'transposed add')
  end)

  -- Sums in double in a fixed order: 1e-6 relative; max/min and their indices exact.
  gpu_it('reductions agree with the CPU, whole and along a dimension', function()
    fathom.manualSeed(3)
    local a = fathom.randn(33, 65)
    local g = a:cuda()
    for _, op in ipairs({ 'sum', 'mean', 'var', 'std' }) do
      local x, y = a[op](a), g[op](g)
      assert.is_true(math.abs(x - y) <= 1e-6 * math.max(1, math.abs(x)), op .. ': ' .. x .. ' vs ' .. y)
    end
    assert.are.equal(a:max(), g:max())
    assert.are.equal(a:min(), g:min())
    local small = fathom.rand(10):add(0.5)
    assert.is_true(math.abs(small:prod() - small:cuda():prod()) <= 1e-6 * small:prod())
    for _, d in ipairs({ 1, 2 }) do
      agree(a:sum(d), g:sum(d), 1e-6, 'sum along ' .. d)
      agree(a:mean(d), g:mean(d), 1e-6, 'mean along ' .. d)
      agree(a:std(d), g:std(d), 1e-6, 'std along ' .. d)
      local mv, mi = a:max(d)
      local gv, gi = g:max(d)
      same(mv, gv, 'max along ' .. d)
      assert.is_true(gi:isCuda())
      assert.are.same(mi:totable(), gi:long():totable())
    end
    agree(a:t():sum(1), g:t():sum(1), 1e-6, 'sum of a transposed view')
    assert.is_true(math.abs(a:t():sum() - g:t():sum()) <= 1e-6 * math.abs(a:sum()) + 1e-6)
  end)

  -- cuBLAS with TF32 off: float32 products, 1e-5 relative to the largest value.
  gpu_it('matrix products (cuBLAS) agree with OpenBLAS', function()
    fathom.manualSeed(4)
    local a, b = fathom.randn(65, 33), fathom.randn(33, 17)
    local ga, gb = a:cuda(), b:cuda()
    agree(a * b, ga * gb, 1e-5, 'mm')
    agree(b:t() * a:t(), gb:t() * ga:t(), 1e-5, 'mm of transposed views')
    local c = fathom.randn(65, 17)
    agree(c:clone():addmm(0.5, c, 2, a, b), c:cuda():addmm(0.5, c:cuda(), 2, ga, gb), 1e-5, 'addmm')
    local v = fathom.randn(33)
    agree(a * v, ga * v:cuda(), 1e-5, 'mv')
    agree(a:double() * b:double(), ga:cudaDouble() * gb:cudaDouble(), 1e-12, 'double mm')
    local nn = require 'fathom.nn'
    fathom.manualSeed(5)
    local lin = nn.Linear(33, 10)
    fathom.manualSeed(5)
    local glin = nn.Linear(33, 10):cuda()
    local go = fathom.randn(65, 10)
    agree(lin:forward(a), glin:forward(ga), 1e-5, 'Linear forward')
    agree(lin:backward(a, go), glin:backward(ga, go:cuda()), 1e-5, 'Linear gradInput')
    agree(lin.gradWeight, glin.gradWeight, 1e-5, 'Linear gradWeight')
    agree(lin.gradBias, glin.gradBias, 1e-5, 'Linear gradBias')
  end)
end)

describe('CUDA kernels against the CPU', function()
  local function conv_case(cfg, dtype)
    fathom.manualSeed(6)
    local x = fathom.randn(cfg.N, cfg.Ci, cfg.H, cfg.W):type(dtype)
    local w = fathom.randn(cfg.Co, cfg.Ci, cfg.k, cfg.k):type(dtype)
    local bias = cfg.bias and fathom.randn(cfg.Co):type(dtype) or nil
    local Ho = math.floor((cfg.H + 2 * cfg.p - cfg.k) / cfg.s) + 1
    local Wo = math.floor((cfg.W + 2 * cfg.p - cfg.k) / cfg.s) + 1
    local gy = fathom.randn(cfg.N, cfg.Co, Ho, Wo):type(dtype)
    local function run(dev) -- { output, grad_input, grad_weight, grad_bias }
      local mv = function(t) return t and (dev == 'cuda' and t:cuda(t:dtype()) or t) end
      local y = mv(fathom.Tensor(cfg.N, cfg.Co, Ho, Wo):type(dtype))
      local gx = mv(fathom.Tensor(cfg.N, cfg.Ci, cfg.H, cfg.W):type(dtype))
      local gw = mv(fathom.Tensor(cfg.Co, cfg.Ci, cfg.k, cfg.k):type(dtype):fill(1)) -- accumulates
      local gb = cfg.bias and mv(fathom.Tensor(cfg.Co):type(dtype):fill(1)) or nil
      local X, W, B, GY = mv(x), mv(w), mv(bias), mv(gy)
      check(C.ft_conv2d_forward(X.p, y.p, W.p, B and B.p or nil, cfg.s, cfg.s, cfg.p, cfg.p), 'forward')
      check(C.ft_conv2d_backward_input(GY.p, gx.p, W.p, cfg.s, cfg.s, cfg.p, cfg.p), 'backward input')
      check(C.ft_conv2d_backward_weight(X.p, GY.p, gw.p, gb and gb.p or nil, cfg.s, cfg.s, cfg.p, cfg.p, 0.5),
            'backward weight')
      return { y, gx, gw, gb }
    end
    return run('cpu'), run('cuda')
  end
  local conv_names = { 'output', 'grad_input', 'grad_weight', 'grad_bias' }

  -- cuDNN's algorithms (Winograd, FFT, implicit GEMM) sum in other orders: 1e-4
  -- relative to the largest value for float32, 1e-10 for float64.
  gpu_it('convolution (cuDNN): forward, backward data, backward filter, bias', function()
    local cfgs = {
      { N = 2, Ci = 3, H = 9, W = 7, Co = 5, k = 3, s = 1, p = 1, bias = true },
      { N = 3, Ci = 4, H = 8, W = 8, Co = 6, k = 3, s = 2, p = 1 },
      { N = 2, Ci = 4, H = 8, W = 8, Co = 8, k = 1, s = 2, p = 0 },
      { N = 1, Ci = 2, H = 10, W = 10, Co = 3, k = 5, s = 1, p = 2, bias = true },
      { N = 4, Ci = 16, H = 32, W = 32, Co = 16, k = 3, s = 1, p = 1 },
    }
    for i, cfg in ipairs(cfgs) do
      for _, dt in ipairs({ 'float', 'double' }) do
        local tol = dt == 'float' and 1e-4 or 1e-10
        local cpu, gpu = conv_case(cfg, dt)
        for k = 1, 4 do
          if cpu[k] then agree(cpu[k], gpu[k], tol, ('conv %d %s %s'):format(i, dt, conv_names[k])) end
        end
      end
    end
  end)

  gpu_it('convolution plans are searched once per shape; deterministic mode repeats bitwise', function()
    local before = cuda.convPlans()
    local cfg = { N = 2, Ci = 3, H = 11, W = 11, Co = 4, k = 3, s = 1, p = 1 }
    conv_case(cfg, 'float')
    local after = cuda.convPlans()
    assert.is_true(after >= before + 1)
    conv_case(cfg, 'float')
    assert.are.equal(after, cuda.convPlans())
    cuda.setDeterministic(true)
    local ok, err = pcall(function()
      local _, r1 = conv_case(cfg, 'float')
      local _, r2 = conv_case(cfg, 'float')
      for k = 1, 3 do same(r1[k]:float(), r2[k], 'deterministic rerun ' .. k) end
    end)
    cuda.setDeterministic(false)
    assert(ok, err)
    cuda.setBenchmark(false) -- heuristic choice: same results within tolerance
    ok, err = pcall(function()
      local cfg2 = { N = 2, Ci = 3, H = 12, W = 12, Co = 4, k = 3, s = 1, p = 1 }
      local cpu, gpu = conv_case(cfg2, 'float')
      for k = 1, 3 do agree(cpu[k], gpu[k], 1e-4, 'heuristic algorithm ' .. k) end
    end)
    cuda.setBenchmark(true)
    assert(ok, err)
  end)

  -- Statistics in double (Welford vs two-pass on the CPU): 1e-5 relative.
  gpu_it('batch normalisation: training, evaluation, fused ReLU, running statistics', function()
    for _, shape in ipairs({ { 4, 3, 5, 5 }, { 6, 4 }, { 2, 16, 8, 8 } }) do
      for _, fuse in ipairs({ 0, 1 }) do
        for _, training in ipairs({ 1, 0 }) do
          fathom.manualSeed(7)
          local C_ = shape[2]
          local x = fathom.randn(unpack(shape)):mul(2):add(0.5)
          local w, b = fathom.rand(C_):add(0.5), fathom.randn(C_)
          local rm, rv = fathom.randn(C_):mul(0.1), fathom.rand(C_):add(0.5)
          local go = fathom.randn(unpack(shape))
          local function run(dev)
            local mv = function(t) return dev == 'cuda' and t:cuda() or t:clone() end
            local X, W, B, RM, RV, GO = mv(x), mv(w), mv(b), mv(rm), mv(rv), mv(go)
            local y, sm, si = mv(x):zero(), mv(w):zero(), mv(w):zero()
            local gi, gw, gb = mv(x):zero(), mv(w):fill(1), mv(b):fill(1)
            check(C.ft_batchnorm_forward(X.p, y.p, W.p, B.p, RM.p, RV.p, sm.p, si.p, training, 0.1, 1e-5, fuse),
                  'bn forward')
            check(C.ft_batchnorm_backward(X.p, GO.p, gi.p, W.p, gw.p, gb.p, sm.p, si.p, fuse == 1 and y.p or nil,
                                          training, 0.5), 'bn backward')
            return { y, RM, RV, sm, si, gi, gw, gb }
          end
          local cpu, gpu = run('cpu'), run('cuda')
          local names = { 'output', 'running_mean', 'running_var', 'save_mean', 'save_invstd', 'grad_input',
                          'grad_weight', 'grad_bias' }
          for k = 1, #names do
            agree(cpu[k], gpu[k], 1e-5, ('bn %s fuse %d training %d: %s'):format(table.concat(shape, 'x'), fuse,
                                                                                 training, names[k]))
          end
        end
      end
    end
  end)

  gpu_it('ReLU, average pooling and channel padding (exact or 1e-6)', function()
    fathom.manualSeed(8)
    local x = fathom.randn(2, 3, 8, 8)
    local g = x:cuda()
    local function both(fn)
      return fn(x, function(t) return t end), fn(g, function(t) return t:cuda() end)
    end
    local a, b = both(function(X, mv)
      local y = mv(fathom.Tensor(2, 3, 8, 8))
      check(C.ft_relu_forward(X.p, y.p), 'relu')
      local gi = mv(fathom.Tensor(2, 3, 8, 8))
      check(C.ft_relu_backward(y.p, X.p, gi.p), 'relu backward')
      return gi
    end)
    same(a, b, 'relu')
    for _, k in ipairs({ { 2, 2, 2, 2 }, { 3, 3, 1, 1 }, { 3, 2, 2, 1 }, { 8, 8, 1, 1 } }) do
      local kH, kW, sH, sW = k[1], k[2], k[3], k[4]
      local Ho, Wo = math.floor((8 - kH) / sH) + 1, math.floor((8 - kW) / sW) + 1
      local gy = fathom.randn(2, 3, Ho, Wo)
      local r = { both(function(X, mv)
        local y = mv(fathom.Tensor(2, 3, Ho, Wo))
        check(C.ft_avgpool2d_forward(X.p, y.p, kH, kW, sH, sW), 'avgpool')
        local gx, GY = mv(fathom.Tensor(2, 3, 8, 8)), mv(gy)
        check(C.ft_avgpool2d_backward(GY.p, gx.p, kH, kW, sH, sW), 'avgpool backward')
        return { y, gx }
      end) }
      agree(r[1][1], r[2][1], 1e-6, 'avgpool ' .. table.concat(k, ','))
      agree(r[1][2], r[2][2], 1e-6, 'avgpool backward ' .. table.concat(k, ','))
    end
    local r = { both(function(X, mv)
      local y = mv(fathom.Tensor(2, 5, 8, 8))
      check(C.ft_channel_pad_forward(X.p, y.p), 'pad')
      local gx = mv(fathom.Tensor(2, 3, 8, 8))
      check(C.ft_channel_pad_backward(y.p, gx.p), 'pad backward')
      return { y, gx }
    end) }
    same(r[1][1], r[2][1], 'channel pad')
    same(r[1][2], r[2][2], 'channel pad backward')
  end)

  gpu_it('log-softmax, NLL and top-k errors, targets on either device (1e-6)', function()
    for _, K in ipairs({ 10, 100 }) do
      fathom.manualSeed(9)
      local N = 7
      local x = fathom.randn(N, K):mul(3)
      local t = fathom.LongTensor(N)
      for i = 1, N do t[i] = (i * 7) % K + 1 end
      local g = x:cuda()
      local y, gy = fathom.Tensor(N, K), fathom.Tensor(N, K):cuda()
      check(C.ft_log_softmax_forward(x.p, y.p), 'lsm')
      check(C.ft_log_softmax_forward(g.p, gy.p), 'lsm gpu')
      agree(y, gy, 1e-6, 'log-softmax K=' .. K)
      local go = fathom.randn(N, K)
      local ggo = go:cuda()
      local gi, ggi = fathom.Tensor(N, K), fathom.Tensor(N, K):cuda()
      check(C.ft_log_softmax_backward(y.p, go.p, gi.p), 'lsm bwd')
      check(C.ft_log_softmax_backward(gy.p, ggo.p, ggi.p), 'lsm bwd gpu')
      agree(gi, ggi, 1e-6, 'log-softmax backward K=' .. K)
      for _, target in ipairs({ t, t:cudaLong() }) do
        local l1, l2 = ffi.new('double[1]'), ffi.new('double[1]')
        check(C.ft_nll_forward(y.p, t.p, 1, 1, l1), 'nll')
        check(C.ft_nll_forward(gy.p, target.p, 1, 1, l2), 'nll gpu')
        assert.is_true(math.abs(l1[0] - l2[0]) <= 1e-6 * math.max(1, math.abs(l1[0])))
        local n1, n2 = fathom.Tensor(N, K), fathom.Tensor(N, K):cuda()
        check(C.ft_nll_backward(y.p, t.p, 1, 1, 2.0, n1.p), 'nll bwd')
        check(C.ft_nll_backward(gy.p, target.p, 1, 1, 2.0, n2.p), 'nll bwd gpu')
        same(n1, n2, 'nll backward')
        for _, k in ipairs({ 1, 5 }) do
          local e1, e2 = ffi.new('int64_t[1]'), ffi.new('int64_t[1]')
          check(C.ft_topk_errors(x.p, t.p, 1, k, e1), 'topk')
          check(C.ft_topk_errors(g.p, target.p, 1, k, e2), 'topk gpu')
          assert.are.equal(tonumber(e1[0]), tonumber(e2[0]))
        end
      end
      local bad = t:clone(); bad[3] = K + 1
      local gbad = bad:cudaLong()
      local l = ffi.new('double[1]')
      assert.are_not.equal(0, C.ft_nll_forward(gy.p, gbad.p, 1, 1, l))
      assert.is_truthy(ffi.string(C.ft_last_error()):find('position 3', 1, true))
    end
  end)

  gpu_it('the fused SGD step agrees (1e-6), every option', function()
    for _, cfg in ipairs({ { 0.1, 0.9, 0, 1e-4, 1, 1 }, { 0.1, 0.9, 0, 1e-4, 1, 0 }, { 0.05, 0.5, 0.5, 0, 0, 0 },
                           { 0.2, 0, 0, 1e-3, 0, 0 } }) do
      fathom.manualSeed(10)
      local x, dx, v = fathom.randn(1000), fathom.randn(1000), fathom.randn(1000)
      local gx, gdx, gv = x:cuda(), dx:cuda(), v:cuda()
      local lr, mu, damp, wd, nest, first = unpack(cfg)
      check(C.ft_sgd_step(x.p, dx.p, mu ~= 0 and v.p or nil, lr, mu, damp, wd, nest, first), 'sgd')
      check(C.ft_sgd_step(gx.p, gdx.p, mu ~= 0 and gv.p or nil, lr, mu, damp, wd, nest, first), 'sgd gpu')
      agree(x, gx, 1e-6, 'sgd x')
      agree(dx, gdx, 1e-6, 'sgd dx')
      agree(v, gv, 1e-6, 'sgd v')
    end
  end)

  gpu_it('errors: mixed devices, bad shapes and out of memory are messages, not crashes', function()
    local g = fathom.randn(2, 3, 8, 8):cuda()
    local w = fathom.randn(4, 3, 3, 3) -- on the CPU
    local y = fathom.Tensor(2, 4, 8, 8):cuda()
    assert.are_not.equal(0, C.ft_conv2d_forward(g.p, y.p, w.p, nil, 1, 1, 1, 1))
    assert.is_truthy(ffi.string(C.ft_last_error()):find('weight is on the CPU but the input is on the GPU', 1, true))
    local bad = fathom.Tensor(2, 3, 8, 7):cuda()
    assert.are_not.equal(0, C.ft_relu_forward(g.p, bad.p))
    assert.is_truthy(ffi.string(C.ft_last_error()):find('same size', 1, true))
    expect_error(function() return g:add(fathom.randn(2, 3, 8, 8)) end, { 'CUDA tensor' })
    local out = ffi.new('ft_tensor*[1]')
    local huge = ffi.new('int64_t[1]', 2 ^ 40) -- 4 TiB of float32
    assert.are_not.equal(0, C.ft_tensor_new(out, C.FT_FLOAT32, C.FT_CUDA, 1, huge))
    local msg = ffi.string(C.ft_last_error())
    assert.is_truthy(msg:find('ft_tensor_new', 1, true) and msg:find('out of GPU memory', 1, true), msg)
    -- the device still works afterwards
    same(fathom.ones(3), fathom.ones(3):cuda(), 'after an OOM')
  end)
end)

describe('CUDA runtime', function()
  gpu_it('device properties, memory statistics and the caching allocator', function()
    assert.is_true(cuda.deviceCount() >= 1)
    assert.are.equal(1, cuda.getDevice())
    local p = cuda.getDeviceProperties()
    assert.is_true(#p.name > 0 and p.totalGlobalMem > 0 and p.major >= 3)
    collectgarbage('collect')
    local m0 = cuda.memory()
    for _ = 1, 50 do
      local t = fathom.Tensor(1000, 1000):cuda() -- 4 MB, freed at once
      t = nil
      collectgarbage('collect')
    end
    local m1 = cuda.memory()
    assert.is_true(m1.mallocs - m0.mallocs <= 2, 'steady state should reuse blocks')
    assert.is_true(m1.reuses - m0.reuses >= 48)
    assert.is_true(m1.peak >= 4e6)
    cuda.emptyCache()
    assert.are.equal(0, cuda.memory().cached)
  end)

  gpu_it('events time GPU work; pinned memory and asynchronous copies', function()
    local a = fathom.randn(512, 512):cuda()
    local ms = cuda.time(function() local _ = a * a end, 5, 1)
    assert.is_true(ms > 0 and ms < 1000)
    local p = cuda.pinned('float', 1000)
    assert.is_false(p:isCuda())
    for i = 1, 1000 do p[i] = i end
    local g = fathom.Tensor(1000):cuda()
    cuda.copyAsync(g, p)
    cuda.synchronize()
    same(p, g, 'async copy from pinned memory')
    same(p, fathom.Tensor(1000):cuda():copy(p), 'copy from pinned memory')
  end)
end)

describe('CUDA networks against the CPU', function()
  local nn = require 'fathom.nn'
  -- One module built twice from one seed: a CPU one and its :cuda() twin.
  local function twins(make)
    fathom.manualSeed(11)
    local a = make()
    fathom.manualSeed(11)
    return a, make():cuda()
  end
  local function compare_params(m, g, tol, what)
    local p1, g1 = m:parameters()
    local p2, g2 = g:parameters()
    for i = 1, #p1 do
      agree(p1[i], p2[i], tol, what .. ' parameter ' .. i)
      agree(g1[i], g2[i], tol, what .. ' gradient ' .. i)
    end
  end

  gpu_it('a model moves to the GPU and back unchanged', function()
    local m, g = twins(function() return require('models.resnet_cifar').createModel({ depth = 8 }) end)
    g:float()
    local p1 = m:parameters()
    local p2 = g:parameters()
    for i = 1, #p1 do
      assert.are.equal('fathom.FloatTensor', p2[i]:type())
      same(p1[i], p2[i]:cuda(), 'parameter ' .. i)
    end
  end)

  -- Through two convolutions and two batch norms: 1e-4 relative.
  gpu_it('a residual block of plain modules agrees, forward and backward', function()
    local block = nn.ResidualDrop(16, 32, 2, { p = 1 })
    local m, g = twins(function() return oracle.composed(block, 1) end)
    fathom.manualSeed(12)
    local x, go = fathom.randn(4, 16, 8, 8), fathom.randn(4, 32, 4, 4)
    agree(m:forward(x), g:forward(x:cuda()), 1e-4, 'plain block output')
    agree(m:backward(x, go), g:backward(x:cuda(), go:cuda()), 1e-4, 'plain block gradInput')
    compare_params(m, g, 1e-4, 'plain block')
  end)

  -- The fused op (core/nn/resblock.c) on CUDA tensors, every gate mode: 1e-4 relative.
  gpu_it('the fused stochastic residual block agrees (batch and row gates, both test modes)', function()
    for _, opt in ipairs({ { p = 1 }, { p = 0.5, gate = 'row' }, { p = 0.7, testScaling = 'inverted' } }) do
      local m, g = twins(function() return nn.ResidualDrop(16, 32, 2, opt) end)
      fathom.manualSeed(13)
      local x, go = fathom.randn(6, 16, 8, 8), fathom.randn(6, 32, 4, 4)
      local gen1, gen2 = fathom.Generator(5), fathom.Generator(5) -- the same gate draws
      m:setGenerator(gen1); g:setGenerator(gen2)
      agree(m:forward(x), g:forward(x:cuda()), 1e-4, 'fused block output')
      agree(m:backward(x, go), g:backward(x:cuda(), go:cuda()), 1e-4, 'fused block gradInput')
      compare_params(m, g, 1e-4, 'fused block')
      m:evaluate(); g:evaluate()
      agree(m:forward(x), g:forward(x:cuda()), 1e-4, 'fused block evaluation')
    end
  end)

  -- 20 layers of float32 with batch statistics of 8 samples: 2e-3 relative.
  gpu_it('ResNet-20 forward, backward and an SGD step agree', function()
    local optim = require 'fathom.optim'
    -- stochastic depth (linear decay to 0.5), each twin with its own generator of one seed
    local m, g = twins(function()
      return require('models.resnet_cifar').createModel({ depth = 20, generator = fathom.Generator(3) })
    end)
    local crit1, crit2 = nn.CrossEntropyCriterion(), nn.CrossEntropyCriterion()
    fathom.manualSeed(14)
    local x = fathom.randn(8, 3, 32, 32)
    local t = fathom.LongTensor(8)
    for i = 1, 8 do t[i] = i % 10 + 1 end
    local gx = x:cuda()
    local w1, dw1 = m:getParameters()
    local w2, dw2 = g:getParameters()
    agree(w1, w2, 0, 'initial weights')
    local function feval(model, crit, input, w, dw)
      return function()
        dw:zero()
        local out = model:forward(input)
        local loss = crit:forward(out, t)
        model:backward(input, crit:backward(out, t))
        return loss, dw
      end
    end
    local o1 = m:forward(x)
    local o2 = g:forward(gx)
    agree(o1, o2, 2e-3, 'ResNet-20 output')
    local cfg1 = { learningRate = 0.1, momentum = 0.9, nesterov = true, weightDecay = 1e-4 }
    local cfg2 = { learningRate = 0.1, momentum = 0.9, nesterov = true, weightDecay = 1e-4 }
    local _, l1 = optim.sgd(feval(m, crit1, x, w1, dw1), w1, cfg1)
    local _, l2 = optim.sgd(feval(g, crit2, gx, w2, dw2), w2, cfg2)
    assert.is_true(math.abs(l1[1] - l2[1]) <= 1e-3 * math.abs(l1[1]), ('loss %g vs %g'):format(l1[1], l2[1]))
    agree(dw1, dw2, 2e-3, 'ResNet-20 gradients (after the step: with weight decay and momentum)')
    agree(w1, w2, 2e-3, 'ResNet-20 weights after one SGD step')
  end)
end)
