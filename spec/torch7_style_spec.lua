-- spec/torch7_style_spec.lua -- code in the style of the stochastic-depth authors' Torch7
-- scripts and of fb.resnet.torch (spec/torch7/*.lua: torch.class containers, nninit,
-- cudnn.* names, createModel(opt)) loads unmodified through bin/fathom and trains.
local root = io.popen('pwd'):read('*l')

local function run(args)
  local p = io.popen(('cd / && "%s/bin/fathom" %s/spec/torch7/%s 2>&1; echo "rc=$?"'):format(root, root, args))
  local out = p:read('*a')
  p:close()
  return out
end

local function losses_fall(out)
  assert.is_truthy(out:find('rc=0', 1, true), out)
  local first, last = out:match('first (%S+) last (%S+)')
  assert.is_truthy(first, out)
  assert.is_true(tonumber(last) < tonumber(first), out)
end

describe('Torch7 research code, unmodified', function()
  it('a torch.class ResidualDrop-style container with nninit and cudnn names builds and trains', function()
    local out = run('train_stochastic.lua -noparams -steps 3')
    losses_fall(out)
    assert.is_truthy(out:find('blocks 3, output 8x10', 1, true), out)
  end)

  -- With getParameters() its biased convolutions' gradients share one storage.
  it('the same network trains with getParameters + optim.sgd', function()
    losses_fall(run('train_stochastic.lua -steps 3'))
  end)

  it('an fb.resnet.torch-style createModel(opt) (shortcuts A and B) trains with optim.sgd', function()
    for _, s in ipairs({ 'A', 'B' }) do
      local out = run('train_resnet.lua -steps 3 -shortcutType ' .. s)
      losses_fall(out)
      assert.is_truthy(out:find('(biases 0)', 1, true), out) -- ConvInit saw cudnn.version >= 4000
    end
  end)
end)
