-- openblas_spec.lua -- the choice of OpenBLAS kernels at load (bindings/loader.lua):
-- the decision is tested on injected inputs (CPU flags, the core OpenBLAS reports, the
-- user's OPENBLAS_CORETYPE), never by changing the variable of this process; and
-- fathom.openblasInfo() reports what the loader saw and did.
local fathom = require 'fathom'
local openblas = require 'fathom.openblas'

local function set(list)
  local s = {}
  for w in list:gmatch('%S+') do s[w] = true end
  return s
end
local AVX512 = set('sse4_2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512cd')
local ZEN4 = set('sse4_2 avx avx2 fma avx512f avx512dq avx512bw avx512vl avx512_bf16')
local AVX2 = set('sse4_2 avx avx2 fma')
local OLD = set('sse4_2 avx')

describe('fathom.openblas.decide', function()
  it('forces SkylakeX on an AVX-512 CPU that OpenBLAS does not know (Prescott)', function()
    local d = openblas.decide({ flags = AVX512, reported = 'Prescott', cpu = 'Xeon 6/207' })
    assert.are.equal('SkylakeX', d.set)
    assert.truthy(d.message:find('OPENBLAS_CORETYPE=SkylakeX', 1, true))
    assert.truthy(d.message:find('Prescott', 1, true))
  end)

  it('asks for Cooperlake when the CPU has AVX-512 BF16, Haswell on AVX2 only', function()
    assert.are.equal('Cooperlake', openblas.decide({ flags = ZEN4, reported = 'Sandybridge' }).set)
    assert.are.equal('Haswell', openblas.decide({ flags = AVX2, reported = 'Nehalem' }).set)
    -- an AVX-512 CPU reported as an AVX2 core is raised too
    assert.are.equal('SkylakeX', openblas.decide({ flags = AVX512, reported = 'Haswell' }).set)
  end)

  it('keeps OpenBLAS\'s choice when it already uses the CPU\'s best kernels', function()
    for _, c in ipairs({ 'SkylakeX', 'Cooperlake', 'SapphireRapids' }) do
      local d = openblas.decide({ flags = ZEN4, reported = c, cpu = 'AMD EPYC' })
      assert.is_nil(d.set)
      assert.truthy(d.message:find(c .. ', its own choice', 1, true))
    end
    assert.is_nil(openblas.decide({ flags = AVX2, reported = 'Zen' }).set)
    assert.is_nil(openblas.decide({ flags = AVX2, reported = 'Haswell' }).set)
  end)

  it('never overrides the user, and does nothing without AVX2 or without facts', function()
    local d = openblas.decide({ flags = AVX512, reported = 'Prescott', user = 'Haswell' })
    assert.is_nil(d.set)
    assert.truthy(d.message:find('OPENBLAS_CORETYPE=Haswell (set by you)', 1, true))
    assert.is_nil(openblas.decide({ flags = OLD, reported = 'Prescott' }).set)
    assert.is_nil(openblas.decide({ flags = nil, reported = 'Prescott' }).set)
    local unknown = openblas.decide({ flags = AVX512, reported = nil, cpu = 'X' })
    assert.is_nil(unknown.set)
    assert.truthy(unknown.message:find('set OPENBLAS_CORETYPE=SkylakeX', 1, true))
  end)

  it('knows the levels of the core names, whatever their case', function()
    assert.are.equal(3, openblas.coreLevel('SKYLAKEX'))
    assert.are.equal(2, openblas.coreLevel('zen'))
    assert.are.equal(1, openblas.coreLevel('Prescott'))
    assert.are.equal(1, openblas.coreLevel(nil))
    assert.are.equal(3, (openblas.cpuLevel(AVX512)))
    assert.are.equal(1, (openblas.cpuLevel(set('avx512f avx2'))))
  end)
end)

describe('fathom.openblasInfo', function()
  it('reports the core in use and one line for people', function()
    local info = fathom.openblasInfo()
    assert.are.equal('string', type(info.message))
    assert.is_nil(info.message:find('\n', 1, true))
    assert.are.equal('boolean', type(info.forced))
    assert.are.equal('string', type(info.core))
    assert.truthy(info.core:match('^%w+$'))
    -- the core in use is at least what OpenBLAS picks by itself
    if info.reported then
      assert.is_true(openblas.coreLevel(info.core) >= openblas.coreLevel(info.reported))
    end
    if os.getenv('OPENBLAS_CORETYPE') and not info.forced then
      assert.truthy(info.message:find('set by you', 1, true))
    end
  end)
end)
