-- spec/torch_compat_spec.lua -- require 'torch' / 'nn' / 'paths' / 'nninit' / 'cudnn' /
-- 'cutorch': Torch7's names and semantics over Fathom.
local fathom = require 'fathom'
local torch = require 'torch'
local nn = require 'nn'

describe('torch.class', function()
  it('returns the class and its parent; nn.Name(...) constructs; parent.__init; tostring is the type name', function()
    local Foo, parent = torch.class('nn.CompatSpecFoo', 'nn.Module')
    assert.are.equal(nn.Module, parent)
    function Foo:__init(k)
      parent.__init(self)
      self.k = k
    end
    function Foo:updateOutput(x) self.output:resizeAs(x):copy(x):mul(self.k) return self.output end
    local f = nn.CompatSpecFoo(3)
    assert.are.equal(Foo, getmetatable(f))
    assert.are.equal('nn.CompatSpecFoo', tostring(f))
    assert.are.equal('nn.CompatSpecFoo', torch.type(f))
    assert.is_true(fathom.isTensor(f.output)) -- the parent's __init ran
    assert.are.same({ 3, 3 }, f:forward(torch.ones(2)):totable())
    assert.is_true(torch.isTypeOf(f, 'nn.Module'))
    assert.is_false(torch.isTypeOf(f, 'nn.Linear'))
    -- it works inside containers and subclasses again
    local Bar, p2 = torch.class('nn.CompatSpecBar', 'nn.CompatSpecFoo')
    assert.are.equal(Foo, p2)
    local s = nn.Sequential():add(nn.CompatSpecBar(2))
    assert.are.same({ 2 }, s:forward(torch.ones(1)):totable())
    assert.are.equal(Bar, torch.getmetatable('nn.CompatSpecBar'))
  end)

  it('classes outside nn, without a parent, and clear errors', function()
    local Point = torch.class('compatspec.Point')
    function Point:__init(x) self.x = x end
    local p = compatspec.Point(4)
    assert.are.equal(4, p.x)
    assert.are.equal('compatspec.Point', tostring(p))
    assert.has_error(function() torch.class('compatspec.Point') end, 'torch.class: class compatspec.Point already exists')
    assert.has_error(function() torch.class('nn.CompatSpecX', 'nn.NoSuchParent') end,
      'torch.class: parent class nn.NoSuchParent does not exist')
    _G.compatspec = nil
  end)
end)

describe('torch functions', function()
  it('tensor types, type names, range, linspace, isTensor, default type', function()
    assert.are.equal('torch.FloatTensor', torch.type(torch.Tensor(2)))
    assert.are.equal('torch.LongTensor', torch.type(torch.LongTensor(2)))
    assert.are.equal('number', torch.type(3))
    assert.is_true(torch.isTensor(torch.DoubleTensor(1)))
    assert.is_false(torch.isTensor({}))
    assert.are.same({ 1, 3, 5 }, torch.range(1, 5, 2):totable())
    assert.are.same({ 0, 0.5, 1 }, torch.linspace(0, 1, 3):totable())
    torch.setdefaulttensortype('torch.DoubleTensor')
    assert.are.equal('torch.DoubleTensor', torch.getdefaulttensortype())
    assert.are.equal('torch.DoubleTensor', torch.type(torch.Tensor(1)))
    torch.setdefaulttensortype('torch.FloatTensor')
    torch.manualSeed(5); local a = torch.rand(3)
    torch.manualSeed(5); assert.is_true(torch.rand(3):equal(a))
    assert.are.equal(fathom.randn, torch.randn) -- anything else is Fathom's
  end)

  it('Timer measures, stops and resumes', function()
    local t = torch.Timer()
    local x = 0
    for i = 1, 2e6 do x = x + i end
    local r1 = t:time().real
    assert.is_true(r1 > 0)
    t:stop()
    local stopped = t:time().real
    os.execute('sleep 0.05')
    assert.are.equal(stopped, t:time().real)
    t:resume()
    os.execute('sleep 0.1')
    assert.is_true(t:time().real >= stopped + 0.09)
    t:reset()
    assert.is_true(t:time().real < 0.09)
  end)

  it('CmdLine parses options by the type of their defaults', function()
    local cmd = torch.CmdLine()
    cmd:text('test')
    cmd:option('-lr', 0.1, 'learning rate')
    cmd:option('-name', 'run', 'name')
    cmd:option('-cuda', false, 'use the GPU')
    local opt = cmd:parse({ '-lr', '0.5', '-cuda', '-name', 'x' })
    assert.are.same({ lr = 0.5, name = 'x', cuda = true }, opt)
    assert.are.same({ lr = 0.1, name = 'run', cuda = false }, (cmd:parse({})))
    assert.has_error(function() cmd:parse({ '-lr', 'fast' }) end, 'CmdLine: option -lr expects a number, got "fast"')
    local ok, err = pcall(cmd.parse, cmd, { '-nope', '1' })
    assert.is_false(ok); assert.is_truthy(err:find('unknown option -nope', 1, true))
  end)

  it('save and load through torch.*', function()
    local name = os.tmpname()
    torch.save(name, { w = torch.range(1, 3) }, 'ascii')
    assert.are.same({ 1, 2, 3 }, torch.load(name).w:totable())
    os.remove(name)
  end)
end)

describe('paths, nninit, cudnn, cutorch', function()
  it('paths', function()
    local paths = require 'paths'
    local dir = os.tmpname(); os.remove(dir)
    assert.is_false(paths.dirp(dir))
    assert.is_true(paths.mkdir(dir))
    assert.is_true(paths.dirp(dir))
    local f = paths.concat(dir, 'a.t7')
    io.open(f, 'w'):close()
    assert.is_true(paths.filep(f))
    assert.is_false(paths.filep(dir))
    assert.are.equal('a.t7', paths.basename(f))
    assert.are.equal('a', paths.basename(f, 't7'))
    assert.are.equal(dir, paths.dirname(f))
    assert.are.equal('t7', paths.extname(f))
    local names = {}
    for n in paths.files(dir) do names[#names + 1] = n end
    assert.are.same({ 'a.t7' }, names)
    os.remove(f); os.remove(dir)
  end)

  it('nninit: chained :init calls with kaiming, xavier and constants', function()
    local nninit = require 'nninit'
    torch.manualSeed(1)
    local c = nn.SpatialConvolution(16, 32, 3, 3)
      :init('weight', nninit.kaiming, { gain = 'relu' })
      :init('bias', nninit.constant, 0.25)
    assert.is_true(math.abs(c.weight:std() - math.sqrt(2 / (16 * 9))) < 0.01)
    assert.are.equal(0.25, c.bias:min()); assert.are.equal(0.25, c.bias:max())
    local l = nn.Linear(100, 50):init('weight', nninit.xavier, { dist = 'uniform' })
    local a = math.sqrt(3) * math.sqrt(2 / 150)
    assert.is_true(l.weight:max() <= a and l.weight:max() > 0.9 * a)
    assert.has_error(function() nn.Linear(2, 2):init('nothing', nninit.constant, 1) end)
    assert.has_error(function() nn.Linear(2, 2):init('weight', nninit.kaiming, { gain = 'wat' }) end)
  end)

  it('cudnn names are nn modules with their own type names', function()
    require 'cudnn'
    local c = cudnn.SpatialConvolution(3, 4, 3, 3, 1, 1, 1, 1)
    assert.are.equal('cudnn.SpatialConvolution', torch.type(c))
    assert.is_true(torch.isTypeOf(c, 'nn.SpatialConvolution'))
    local m = nn.Sequential():add(c):add(cudnn.ReLU(true))
    assert.are.equal(1, #m:findModules('cudnn.SpatialConvolution'))
    assert.are.same({ 2, 4, 5, 5 }, m:forward(torch.randn(2, 3, 5, 5)):size():totable())
    local r = torch.deserialize(torch.serialize(m))
    assert.are.equal('cudnn.SpatialConvolution', torch.type(r:get(1)))
  end)

  it('cutorch says clearly when there is no GPU', function()
    if fathom.cuda.isAvailable() then
      assert.is_truthy(require('cutorch'))
      return
    end
    package.loaded.cutorch = nil
    local ok, err = pcall(require, 'cutorch')
    assert.is_false(ok)
    assert.is_truthy(tostring(err):find('cutorch: no usable CUDA device', 1, true), err)
  end)
end)
