-- workspace_spec.lua -- the nn kernels' scratch memory comes from one place: per-thread
-- workspaces that grow when a call needs more, are kept between calls (a second step
-- allocates nothing), count in ft_bytes_allocated, and go back with ft_workspace_free.
local fathom = require 'fathom'
local nn = require 'fathom.nn'
local C = fathom.C

local function bytes() return tonumber(C.ft_bytes_allocated()) end
local function held() return tonumber(C.ft_workspace_held()) end

describe('workspaces', function()
  before_each(function() C.ft_workspace_free() end)

  it('are kept between calls, counted, and released by ft_workspace_free', function()
    -- float64 takes the im2col path, whose columns live in the conv workspace
    local x, w = fathom.randn(4, 3, 16, 16):double(), fathom.randn(8, 3, 3, 3):double()
    local y, gx = fathom.Tensor(4, 8, 8, 8):double(), fathom.Tensor(4, 3, 16, 16):double()
    local gw = fathom.Tensor(8, 3, 3, 3):double():zero()
    local function step()
      assert.are.equal(0, C.ft_conv2d_forward(x.p, y.p, w.p, nil, 2, 2, 1, 1))
      assert.are.equal(0, C.ft_conv2d_backward_input(y.p, gx.p, w.p, 2, 2, 1, 1))
      assert.are.equal(0, C.ft_conv2d_backward_weight(x.p, y.p, gw.p, nil, 2, 2, 1, 1, 1.0))
    end
    assert.are.equal(0, held())
    -- no collection in between: other specs' garbage would change ft_bytes_allocated
    collectgarbage('collect')
    collectgarbage('stop')
    finally(function() collectgarbage('restart') end)
    local b0 = bytes()
    step()
    local h = held()
    assert.is_true(h >= 8 * 27 * 64, 'the columns of one image at least: ' .. h)
    assert.are.equal(b0 + h, bytes(), 'the workspace counts in ft_bytes_allocated')
    step()
    assert.are.equal(h, held(), 'a repeated step grows nothing')
    assert.are.equal(b0 + h, bytes(), 'a repeated step allocates nothing')
    C.ft_workspace_free()
    assert.are.equal(0, held())
    assert.are.equal(b0, bytes())
  end)

  it('make a repeated ResNet-style step allocate nothing after the first', function()
    -- float32 takes the direct kernels: stride 1 (forward, backward-input, backward-weight),
    -- stride 2 (its phase planes), and the residual block (plain and downsampling)
    local function sgd(m) m:zeroGradParameters() end
    local c1 = nn.SpatialConvolution(16, 16, 3, 3, 1, 1, 1, 1)
    local c2 = nn.SpatialConvolution(16, 32, 3, 3, 2, 2, 1, 1)
    local b1, b2 = nn.ResidualDrop(16, 16, 1), nn.ResidualDrop(16, 32, 2)
    local x = fathom.randn(8, 16, 16, 16)
    local function step()
      for _, m in ipairs({ c1, c2, b1, b2 }) do
        sgd(m)
        m:forward(x)
        m:backward(x, m.output:clone():fill(1))
      end
    end
    collectgarbage('collect')
    collectgarbage('stop')
    finally(function() collectgarbage('restart') end)
    assert.are.equal(0, held())
    step()
    local h, g = held(), tonumber(C.ft_workspace_grows())
    -- the direct kernels' masks and repacked weights at least (16x16x9 floats)
    assert.is_true(h >= 16 * 16 * 9 * 4, 'the step keeps its scratch: ' .. h)
    collectgarbage('collect') -- the first step's Lua garbage (the clones) out of the count
    collectgarbage('stop')
    step()
    collectgarbage('collect')
    collectgarbage('stop')
    local b0 = bytes()
    for _ = 1, 3 do step() end
    assert.are.equal(h, held(), 'repeated steps grow no workspace')
    assert.are.equal(g, tonumber(C.ft_workspace_grows()), 'repeated steps reallocate no workspace')
    collectgarbage('collect')
    assert.are.equal(b0, bytes(), 'repeated steps leave no bytes allocated')
  end)

  it('count every growth and none for a call that fits', function()
    local g0 = tonumber(C.ft_workspace_grows())
    local conv = nn.SpatialConvolution(4, 4, 3, 3, 1, 1, 1, 1)
    conv:forward(fathom.randn(2, 4, 16, 16))
    local g1 = tonumber(C.ft_workspace_grows())
    assert.is_true(g1 > g0)
    assert.is_true(held() > 0, 'the direct kernels keep their masks and weights')
    conv:forward(fathom.randn(1, 4, 8, 8)) -- smaller: served by what is held
    assert.are.equal(g1, tonumber(C.ft_workspace_grows()))
  end)

  it('grow for a larger call and serve the residual block too', function()
    local conv = nn.SpatialConvolution(3, 4, 3, 3, 2, 2, 1, 1):double()
    conv:forward(fathom.randn(1, 3, 8, 8):double())
    local small = held()
    conv:forward(fathom.randn(2, 3, 32, 32):double())
    assert.is_true(held() > small)
    C.ft_workspace_free()
    local b = nn.ResidualDrop(4, 4, 1):double()
    local x = fathom.randn(2, 4, 8, 8):double()
    b:forward(x)
    b:backward(x, b.output:clone():fill(1))
    assert.is_true(held() > 0)
    nn.ResidualDrop.freeWorkspace() -- the block's own name for the same release
    assert.are.equal(0, held())
  end)
end)
