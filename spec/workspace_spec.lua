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
