-- spec/repl_spec.lua -- bin/fathom, the REPL launcher, driven non-interactively from
-- another directory: it loads fathom and nn as globals and prints tensors nicely.
local root = io.popen('pwd'):read('*l')

local function repl(input)
  local tmp = os.tmpname()
  local f = assert(io.open(tmp, 'w'))
  f:write(input)
  f:close()
  local p = io.popen(('cd / && "%s/bin/fathom" < "%s" 2>&1'):format(root, tmp))
  local text = p:read('*a')
  p:close()
  os.remove(tmp)
  return text
end

describe('bin/fathom', function()
  it('prints a tensor with print(x) and with "= x", from any directory', function()
    local text = repl('print(fathom.ones(2))\n= fathom.range(1, 3):view(3, 1)\n')
    assert.is_truthy(text:find('[fathom.FloatTensor of size 2]', 1, true), text)
    assert.is_truthy(text:find('[fathom.FloatTensor of size 3x1]', 1, true), text)
    assert.is_truthy(text:find('\n?%s*1\n%s*2\n%s*3\n'), text)
  end)

  it('has nn loaded as a global too', function()
    local text = repl('print(type(nn), type(fathom.nn))\n')
    assert.is_truthy(text:find('table\ttable', 1, true), text)
  end)

  it('reports an error and keeps going', function()
    local text = repl('fathom.Tensor(2):view(3)\nprint("still here")\n')
    assert.is_truthy(text:find('view:', 1, true), text)
    assert.is_truthy(text:find('still here', 1, true), text)
  end)
end)
