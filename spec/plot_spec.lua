-- plot_spec.lua -- PNG writing (libpng, core/data/png.c) and the rasterised plots.
local fathom = require 'fathom'
local F = require 'fathom.ffi'
local plot = require 'fathom.plot'

local function slurp(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end
local function be32(s, at) return ((s:byte(at) * 256 + s:byte(at + 1)) * 256 + s:byte(at + 2)) * 256 + s:byte(at + 3) end
local function tmp(name) return os.tmpname() .. name end

describe('png', function()
  it('writes a decodable PNG: signature, IHDR, pixels', function()
    local img = fathom.ByteTensor(5, 7, 3)
    local p = img:data()
    for i = 0, 5 * 7 * 3 - 1 do p[i] = (i * 37) % 256 end
    local path = tmp('.png')
    F.check(F.C.ft_png_write(path, img.p), 'png')
    local s = slurp(path)
    assert.are.equal('\137PNG\r\n\26\n', s:sub(1, 8))
    assert.are.equal('IHDR', s:sub(13, 16))
    assert.are.equal(7, be32(s, 17))  -- width
    assert.are.equal(5, be32(s, 21))  -- height
    assert.are.equal(8, s:byte(25))   -- bit depth
    assert.are.equal(2, s:byte(26))   -- colour type RGB
    local back = plot.readPNG(path)
    assert.are.same({ 5, 7, 3 }, back:size():totable())
    assert.are.same(img:totable(), back:totable())
    os.remove(path)
  end)

  it('writes gray images too', function()
    local img = fathom.ByteTensor(3, 4):fill(9)
    local path = tmp('.png')
    F.check(F.C.ft_png_write(path, img.p), 'png')
    local back = plot.readPNG(path)
    assert.are.same({ 3, 4, 1 }, back:size():totable())
    assert.are.equal(9 * 12, back:sum())
    os.remove(path)
  end)

  it('refuses bad arguments with a message, never a crash', function()
    local function err(t, path)
      local status = F.C.ft_png_write(path, t and t.p or nil)
      assert.are_not.equal(0, status)
      return require('ffi').string(F.C.ft_last_error())
    end
    assert.matches('uint8', err(fathom.FloatTensor(2, 2, 3), tmp('.png')))
    assert.matches('channels', err(fathom.ByteTensor(2, 2, 2), tmp('.png')))
    assert.matches('%[H,W,C%]', err(fathom.ByteTensor(2), tmp('.png')))
    assert.matches('contiguous', err(fathom.ByteTensor(4, 4, 3):narrow(2, 1, 2), tmp('.png')))
    assert.matches('cannot open', err(fathom.ByteTensor(2, 2, 3), '/nonexistent/dir/x.png'))
    assert.matches('NULL', err(nil, tmp('.png')))
    assert.has_error(function() plot.readPNG('/nonexistent.png') end)
    local notpng = tmp('.png')
    local f = io.open(notpng, 'wb') f:write('hello world, not a png') f:close()
    assert.has_error(function() plot.readPNG(notpng) end, 'plot.readPNG: ft_png_read: \'' .. notpng .. '\' is not a PNG file (bad signature)')
    os.remove(notpng)
  end)
end)

describe('plot', function()
  it('chooses nice ticks', function()
    local t, step = plot.niceTicks(0, 100, 5)
    assert.are.same({ 0, 20, 40, 60, 80, 100 }, t)
    assert.are.equal(20, step)
    t, step = plot.niceTicks(3.2, 9.7, 6)
    assert.are.equal(2, step)
    assert.are.same({ 4, 6, 8 }, t)
    t, step = plot.niceTicks(0.01, 0.09, 4)
    assert.are.equal(0.02, step)
    assert.are.equal(4, #t)
    assert.is_true(math.abs(t[4] - 0.08) < 1e-12)
  end)

  it('labels ticks of every step size', function()
    for _, r in ipairs({ { 1, 3 }, { 0, 10 }, { 71.3, 81.6 }, { 0, 1000 }, { 0.001, 0.004 }, { 5, 5 }, { 0, 5 }, { 71.35, 80.7 } }) do
      local path = tmp('.png')
      plot.lines { path = path, series = { { x = { 1, 2 }, y = r } } }
      assert.are.equal(960, plot.readPNG(path):size(2))
      os.remove(path)
    end
  end)

  it('draws text from the bitmap font', function()
    local cv = plot.Canvas(40, 20)
    cv:text(1, 1, 'I', { 0, 0, 0 }, 1)
    -- 'I' is .###. / ..#.. x5 / .###.: row 0 cols 1-3 ink, row 1 only col 2
    local function ink(x, y) return (cv:get(x, y)) == 0 end
    assert.is_true(ink(2, 1) and ink(3, 1) and ink(4, 1))
    assert.is_false(ink(1, 1) or ink(5, 1))
    assert.is_true(ink(3, 2))
    assert.is_false(ink(2, 2))
    assert.are.equal(17, plot.textWidth('abc', 1))
  end)

  it('writes an error-curve plot with legend and a marked point', function()
    local x, a, b = {}, {}, {}
    for e = 1, 50 do x[e] = e; a[e] = 40 * math.exp(-e / 10) + 8; b[e] = 40 * math.exp(-e / 12) + 6 end
    local path = tmp('.png')
    plot.lines { path = path, title = 'test error', xlabel = 'epoch', ylabel = 'error (%)',
                 series = { { label = 'constant', x = x, y = a }, { label = 'stochastic', x = x, y = b, mark = { 40, b[40] } } },
                 vlines = { 25 } }
    local img = plot.readPNG(path)
    assert.are.same({ 600, 960, 3 }, img:size():totable())
    -- both series colours are on the canvas
    local found = { false, false }
    local p, n = img:data(), 600 * 960
    for i = 0, n - 1 do
      for k = 1, 2 do
        local c = plot.COLORS[k]
        if p[3 * i] == c[1] and p[3 * i + 1] == c[2] and p[3 * i + 2] == c[3] then found[k] = true end
      end
    end
    assert.is_true(found[1] and found[2])
    os.remove(path)
  end)

  it('writes a heat map, empty cells included', function()
    local path = tmp('.png')
    plot.heatmap { path = path, title = 'hm', xlabel = 'p_L', ylabel = 'depth', xticks = { '0.5', '1.0' },
                   yticks = { '20', '56', '110' }, values = { { 7, 8 }, { 6, nil }, { 5.5, 9 } } }
    local img = plot.readPNG(path)
    assert.are.equal(3, img:size(3))
    assert.are.equal(110 + 2 * 72 + 140, img:size(2))
    assert.are.equal(60 + 3 * 72 + 80, img:size(1))
    os.remove(path)
  end)
end)
