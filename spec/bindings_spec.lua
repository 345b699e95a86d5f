-- spec/bindings_spec.lua -- the FFI declarations never drift from the library: every
-- function bindings/cdef.lua declares resolves in the loaded libfathom.so, and
-- bindings/cdef.lua is exactly what bindings/gen_cdef.lua makes from core/fathom.h now.
local fathom = require 'fathom'
local C = fathom.C

local function read(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end

-- Names of the functions declared in a block of C declarations: each statement that is
-- not a typedef, enum or struct and has an identifier right before '('.
local function declared_functions(decls)
  decls = decls:gsub('/%*.-%*/', ''):gsub('//[^\n]*', '')
  decls = decls:gsub('typedef%s+struct%s*[%w_]*%s*%b{}%s*[%w_]+%s*;', '')
  decls = decls:gsub('typedef%s+enum%s*%b{}%s*[%w_]+%s*;', ''):gsub('enum%s*%b{}%s*;', '')
  local names = {}
  for stmt in decls:gmatch('[^;]+') do
    if not stmt:find('^%s*typedef') then
      local name = stmt:match('([%a_][%w_]*)%s*%(')
      if name then names[#names + 1] = name end
    end
  end
  return names
end

describe('bindings', function()
  local cdef = require 'fathom.cdef'

  it('finds the declared functions (the parser itself works)', function()
    local names = declared_functions(cdef)
    local set = {}
    for _, n in ipairs(names) do set[n] = true end
    for _, n in ipairs({ 'ft_last_error', 'ft_tensor_new', 'ft_data', 'ft_gemm', 'ft_mt_random' }) do
      assert.is_true(set[n], n .. ' not parsed')
    end
    assert.is_nil(set.ft_tensor) -- a struct, not a function
    assert.is_true(#names > 40)
  end)

  it('every declared function resolves in the loaded library', function()
    local missing = {}
    for _, name in ipairs(declared_functions(cdef)) do
      if not pcall(function() return C[name] end) then missing[#missing + 1] = name end
    end
    assert.are.equal(0, #missing, #missing .. ' declared functions are missing from libfathom.so: ' ..
      table.concat(missing, ', '))
  end)

  it('bindings/cdef.lua is what gen_cdef.lua makes from core/fathom.h now', function()
    local p = assert(io.popen('luajit bindings/gen_cdef.lua core/fathom.h'))
    local generated = p:read('*a')
    assert.is_true(p:close() ~= false, 'gen_cdef.lua failed')
    local committed = read('bindings/cdef.lua')
    assert.is_true(#generated > 1000)
    assert.is_true(generated == committed,
      'bindings/cdef.lua is stale: run `make` (it regenerates it from core/fathom.h)')
  end)
end)
