-- opts_spec.lua -- the recipes' command-line options: defaults, parsing, errors.
require 'fathom'
local opts = require 'fathom.opts'

local recipe = { name = 'test', defaults = { depth = 20, nEpochs = 7, LR = 0.05 },
                 options = { { 'depths', 'string', '20,32', 'a recipe option' } } }

local function usage_error(args, rec)
  local ok, err = pcall(opts.parse, args, rec or recipe)
  assert.is_false(ok)
  assert.is_true(opts.isUsageError(err), 'expected a usage error, got ' .. tostring(err))
  return err.message
end

describe('opts', function()
  it('gives the recipe defaults, then the common ones', function()
    local opt, given = opts.parse({}, recipe)
    assert.are.equal(20, opt.depth)
    assert.are.equal(7, opt.nEpochs)
    assert.are.equal(0.05, opt.LR)
    assert.are.equal(128, opt.batchSize)
    assert.are.equal(0.9, opt.momentum)
    assert.are.equal(1e-4, opt.weightDecay)
    assert.is_true(opt.nesterov)
    assert.are.equal(0.5, opt.pL)
    assert.are.equal(0.5, opt.deathRate)
    assert.are.equal('lin_decay', opt.deathMode)
    assert.are.equal('20,32', opt.depths)
    assert.are.same({}, given)
  end)

  it('parses every syntax and type', function()
    local opt, given = opts.parse({ '-depth', '56', '--LR=0.2', '-augment', 'false', '-nesterov',
                                    '-deathMode', 'uniform', '-save', '/tmp/x', '-depths', '1,2' }, recipe)
    assert.are.equal(56, opt.depth)
    assert.are.equal(0.2, opt.LR)
    assert.is_false(opt.augment)
    assert.is_true(opt.nesterov)
    assert.are.equal('uniform', opt.deathMode)
    assert.are.equal('/tmp/x', opt.save)
    assert.are.equal('1,2', opt.depths)
    assert.is_true(given.depth and given.LR and given.augment and given.depths)
    assert.is_nil(given.nEpochs)
    -- a bare boolean followed by another option
    opt = opts.parse({ '-augment', '-depth', '8' })
    assert.is_true(opt.augment)
    assert.are.equal(8, opt.depth)
    -- negative numbers are values, not options (then range-checked)
    assert.matches('%-LR must not be negative, got %-0.5', usage_error({ '-LR', '-0.5' }))
  end)

  it('treats -deathRate as 1 - pL', function()
    local opt = opts.parse({ '-deathRate', '0.2' })
    assert.are.equal(0.8, opt.pL)
    assert.are.equal(0.2, opt.deathRate)
    opt = opts.parse({ '-pL', '1' })
    assert.are.equal(0, opt.deathRate)
    opt = opts.parse({ '-pL', '0.5', '-deathRate', '0.5' }) -- consistent: fine
    assert.are.equal(0.5, opt.pL)
    local msg = usage_error({ '-pL', '0.5', '-deathRate', '0.2' })
    assert.matches('disagree', msg)
  end)

  it('rejects unknown options, listing the valid ones', function()
    local msg = usage_error({ '-depht', '20' })
    assert.matches('unknown option %-depht', msg)
    assert.matches('%-depth', msg)
    assert.matches('%-nEpochs', msg)
    assert.matches('%-depths', msg) -- the recipe's own
    msg = usage_error({ 'stray' })
    assert.matches('unexpected argument', msg)
  end)

  it('rejects malformed values with the option name', function()
    assert.matches('%-depth expects a number', usage_error({ '-depth', 'abc' }))
    assert.matches('%-depth expects an integer', usage_error({ '-depth', '2.5' }))
    assert.matches('%-deathMode: "linear" is not one of lin_decay, uniform', usage_error({ '-deathMode', 'linear' }))
    assert.matches('%-augment expects true or false', usage_error({ '-augment=maybe' }))
    assert.matches('%-LR needs a value', usage_error({ '-LR' }))
    assert.matches('%-pL must be in %[0, 1%]', usage_error({ '-pL', '1.5' }))
    assert.matches('%-batchSize must be at least 1', usage_error({ '-batchSize', '0' }))
    assert.matches('%-weightDecay must not be negative', usage_error({ '-weightDecay', '-1' }))
  end)

  it('lets a recipe check its own options', function()
    local r = { name = 'r', check = function(opt, fail) if opt.depth > 100 then fail('too deep: %d', opt.depth) end end }
    assert.matches('too deep: 110', usage_error({ '-depth', '110' }, r))
    assert.are.equal(56, opts.parse({ '-depth', '56' }, r).depth)
  end)

  it('prints help with every option and its default', function()
    local h = opts.help(recipe)
    for _, o in ipairs(opts.OPTIONS) do
      if o[1] then assert.truthy(h:find('-' .. o[1], 1, true), 'help lacks -' .. o[1]) end
    end
    assert.matches('%-depths', h)
    assert.matches('%[20%]', h) -- the recipe's depth default
    assert.is_true(opts.parse({ '-help' }, recipe).help)
  end)

  it('bounds every number: no inf, NaN, 1e999 or huge values; -h and --help are -help', function()
    for _, a in ipairs({ { '-LR', 'inf' }, { '-LR', 'nan' }, { '-LR', '1e999' }, { '-depth', '2e9' },
                         { '-computeThreads', '100000' }, { '-nEpochs', '1e12' }, { '-batchSize', '1e9' },
                         { '-momentum', '2' }, { '-manualSeed', '1e300' }, { '-nThreads', '5000' } }) do
      assert.matches('%-' .. a[1]:sub(2), usage_error(a), table.concat(a, ' '))
    end
    assert.are.equal(20, opts.parse({ '-depth', '20' }).depth)
    assert.is_true(opts.parse({ '-h' }).help)
    assert.is_true(opts.parse({ '--help' }).help)
    assert.are.same({ 250, 375 }, opts.parse({ '-lrMilestones', '250,375' }).lrMilestoneList)
    assert.matches('lrMilestones', usage_error({ '-lrMilestones', '250,abc' }))
  end)
end)
