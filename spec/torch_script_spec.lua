-- spec/torch_script_spec.lua -- scripts written the Torch7 way run unmodified through
-- bin/fathom (like `th script.lua`) and train: spec/torch7/train_convnet.lua.
local root = io.popen('pwd'):read('*l')

local function run(args)
  local p = io.popen(('cd / && "%s/bin/fathom" %s 2>&1; echo "rc=$?"'):format(root, args))
  local out = p:read('*a')
  p:close()
  return out
end

local function check_training(out)
  assert.is_truthy(out:find('rc=0', 1, true), out)
  local first, last = out:match('first (%S+) last (%S+)')
  assert.is_truthy(first, out)
  assert.is_true(tonumber(last) < 0.6 * tonumber(first), out)
  assert.is_truthy(out:find('reloaded nn.Sequential: max difference 0\n', 1, true), out)
  assert.is_truthy(out:match('in 15 steps, [%d.]+ s'), out)
end

describe('a Torch7-style training script', function()
  it('trains (loss falls), saves and reloads its model, with bias-free convolutions', function()
    check_training(run(root .. '/spec/torch7/train_convnet.lua -steps 15 -nobias'))
  end)

  -- The same script with biased convolutions: after getParameters() every gradient shares
  -- one storage, which the C checks must accept (they compare byte ranges).
  it('trains with biased convolutions', function()
    check_training(run(root .. '/spec/torch7/train_convnet.lua -steps 15'))
  end)

  it('reports a bad option clearly', function()
    local out = run(root .. '/spec/torch7/train_convnet.lua -stepz 3')
    assert.is_truthy(out:find('unknown option -stepz', 1, true), out)
    assert.is_falsy(out:find('rc=0', 1, true), out)
  end)
end)
