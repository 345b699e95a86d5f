-- fathom/plot.lua -- training plots as PNG files, with no plotting program: we rasterise
-- into a uint8 tensor [H,W,3] in Lua and write it with ft_png_write (libpng).
--   plot.lines{ path = 'err.png', title = ..., xlabel = ..., ylabel = ..., logy = false,
--               series = { {label = 'SD', x = {...}, y = {...}, mark = {x, y}}, ... },
--               vlines = {250, 375}, xinteger = true }    -- Fig. 3, 4 and 7 style
--   plot.heatmap{ path = 'hm.png', title = ..., xlabel = ..., ylabel = ...,
--                 xticks = {'0.1', ...}, yticks = {'20', ...}, values = {{...}, ...} }  -- Fig. 8
--   plot.Canvas(w, h) for anything else: :line, :rect, :text, :circle, :save(path)
-- Text uses a 5x7 bitmap font defined below (drawn at 2x by default).
local ffi = require 'ffi'
local fathom = require 'fathom'
local F = require 'fathom.ffi'

local plot = {}

---------------------------------------------------------------------------- font
-- 5x7 glyphs, rows top to bottom, '#' = ink (g, j, p, q, y add two rows of descender).
-- Our own drawing of printable ASCII.
local GLYPHS = {
  [' '] = '..... ..... ..... ..... ..... ..... .....',
  ['!'] = '..#.. ..#.. ..#.. ..#.. ..#.. ..... ..#..',
  ['"'] = '.#.#. .#.#. ..... ..... ..... ..... .....',
  ['#'] = '.#.#. .#.#. ##### .#.#. ##### .#.#. .#.#.',
  ['$'] = '..#.. .#### #.#.. .###. ..#.# ####. ..#..',
  ['%'] = '##... ##..# ...#. ..#.. .#... #..## ...##',
  ['&'] = '.##.. #..#. #.#.. .#... #.#.# #..#. .##.#',
  ["'"] = '..#.. ..#.. ..... ..... ..... ..... .....',
  ['('] = '...#. ..#.. .#... .#... .#... ..#.. ...#.',
  [')'] = '.#... ..#.. ...#. ...#. ...#. ..#.. .#...',
  ['*'] = '..... ..#.. #.#.# .###. #.#.# ..#.. .....',
  ['+'] = '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
  [','] = '..... ..... ..... ..... .##.. ..#.. .#...',
  ['-'] = '..... ..... ..... ##### ..... ..... .....',
  ['.'] = '..... ..... ..... ..... ..... .##.. .##..',
  ['/'] = '..... ....# ...#. ..#.. .#... #.... .....',
  ['0'] = '.###. #...# #..## #.#.# ##..# #...# .###.',
  ['1'] = '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
  ['2'] = '.###. #...# ....# ...#. ..#.. .#... #####',
  ['3'] = '##### ...#. ..#.. ...#. ....# #...# .###.',
  ['4'] = '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
  ['5'] = '##### #.... ####. ....# ....# #...# .###.',
  ['6'] = '..##. .#... #.... ####. #...# #...# .###.',
  ['7'] = '##### ....# ...#. ..#.. .#... .#... .#...',
  ['8'] = '.###. #...# #...# .###. #...# #...# .###.',
  ['9'] = '.###. #...# #...# .#### ....# ...#. .##..',
  [':'] = '..... .##.. .##.. ..... .##.. .##.. .....',
  [';'] = '..... .##.. .##.. ..... .##.. ..#.. .#...',
  ['<'] = '...#. ..#.. .#... #.... .#... ..#.. ...#.',
  ['='] = '..... ..... ##### ..... ##### ..... .....',
  ['>'] = '.#... ..#.. ...#. ....# ...#. ..#.. .#...',
  ['?'] = '.###. #...# ....# ...#. ..#.. ..... ..#..',
  ['@'] = '.###. #...# ....# .##.# #.#.# #.#.# .###.',
  A = '.###. #...# #...# ##### #...# #...# #...#',
  B = '####. #...# #...# ####. #...# #...# ####.',
  C = '.###. #...# #.... #.... #.... #...# .###.',
  D = '###.. #..#. #...# #...# #...# #..#. ###..',
  E = '##### #.... #.... ####. #.... #.... #####',
  F = '##### #.... #.... ####. #.... #.... #....',
  G = '.###. #...# #.... #.### #...# #...# .####',
  H = '#...# #...# #...# ##### #...# #...# #...#',
  I = '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  J = '..### ...#. ...#. ...#. ...#. #..#. .##..',
  K = '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
  L = '#.... #.... #.... #.... #.... #.... #####',
  M = '#...# ##.## #.#.# #.#.# #...# #...# #...#',
  N = '#...# #...# ##..# #.#.# #..## #...# #...#',
  O = '.###. #...# #...# #...# #...# #...# .###.',
  P = '####. #...# #...# ####. #.... #.... #....',
  Q = '.###. #...# #...# #...# #.#.# #..#. .##.#',
  R = '####. #...# #...# ####. #.#.. #..#. #...#',
  S = '.#### #.... #.... .###. ....# ....# ####.',
  T = '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  U = '#...# #...# #...# #...# #...# #...# .###.',
  V = '#...# #...# #...# #...# #...# .#.#. ..#..',
  W = '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
  X = '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
  Y = '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
  Z = '##### ....# ...#. ..#.. .#... #.... #####',
  ['['] = '.###. .#... .#... .#... .#... .#... .###.',
  ['\\'] = '..... #.... .#... ..#.. ...#. ....# .....',
  [']'] = '.###. ...#. ...#. ...#. ...#. ...#. .###.',
  ['^'] = '..#.. .#.#. #...# ..... ..... ..... .....',
  ['_'] = '..... ..... ..... ..... ..... ..... #####',
  ['`'] = '.#... ..#.. ..... ..... ..... ..... .....',
  a = '..... ..... .###. ....# .#### #...# .####',
  b = '#.... #.... #.##. ##..# #...# #...# ####.',
  c = '..... ..... .###. #.... #.... #...# .###.',
  d = '....# ....# .##.# #..## #...# #...# .####',
  e = '..... ..... .###. #...# ##### #.... .###.',
  f = '..##. .#..# .#... ###.. .#... .#... .#...',
  g = '..... ..... .#### #...# #...# #...# .#### ....# .###.',
  h = '#.... #.... #.##. ##..# #...# #...# #...#',
  i = '..#.. ..... .##.. ..#.. ..#.. ..#.. .###.',
  j = '...#. ..... ..##. ...#. ...#. ...#. ...#. #..#. .##..',
  k = '#.... #.... #..#. #.#.. ##... #.#.. #..#.',
  l = '.##.. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
  m = '..... ..... ##.#. #.#.# #.#.# #...# #...#',
  n = '..... ..... #.##. ##..# #...# #...# #...#',
  o = '..... ..... .###. #...# #...# #...# .###.',
  p = '..... ..... ####. #...# #...# #...# ####. #.... #....',
  q = '..... ..... .#### #...# #...# #...# .#### ....# ....#',
  r = '..... ..... #.##. ##..# #.... #.... #....',
  s = '..... ..... .###. #.... .###. ....# ####.',
  t = '.#... .#... ###.. .#... .#... .#..# ..##.',
  u = '..... ..... #...# #...# #...# #..## .##.#',
  v = '..... ..... #...# #...# #...# .#.#. ..#..',
  w = '..... ..... #...# #...# #.#.# #.#.# .#.#.',
  x = '..... ..... #...# .#.#. ..#.. .#.#. #...#',
  y = '..... ..... #...# #...# #...# #...# .#### ....# .###.',
  z = '..... ..... ##### ...#. ..#.. .#... #####',
  ['{'] = '...#. ..#.. ..#.. .#... ..#.. ..#.. ...#.',
  ['|'] = '..#.. ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
  ['}'] = '.#... ..#.. ..#.. ...#. ..#.. ..#.. .#...',
  ['~'] = '..... ..... .#... #.#.# ...#. ..... .....',
}
-- Decoded once: FONT[byte] = list of {col, row} ink cells (0-based).
local FONT = {}
for ch, rows in pairs(GLYPHS) do
  local cells, r = {}, 0
  for row in rows:gmatch('%S+') do
    for c = 1, 5 do if row:sub(c, c) == '#' then cells[#cells + 1] = { c - 1, r } end end
    r = r + 1
  end
  FONT[ch:byte()] = cells
end
plot.GLYPH_W, plot.GLYPH_H = 5, 7

---------------------------------------------------------------------------- canvas
local Canvas = {}
Canvas.__index = Canvas

function plot.Canvas(w, h, bg)
  local self = setmetatable({ w = w, h = h }, Canvas)
  self.img = fathom.ByteTensor(h, w, 3):fill(255)
  self.px = self.img:data()
  if bg then self:rect(0, 0, w, h, bg) end
  return self
end

-- Blend colour c (rgb 0..255 table) into pixel (x, y) with coverage a in [0, 1].
function Canvas:blend(x, y, c, a)
  if x < 0 or y < 0 or x >= self.w or y >= self.h or a <= 0 then return end
  local i = (y * self.w + x) * 3
  local px = self.px
  if a >= 1 then
    px[i], px[i + 1], px[i + 2] = c[1], c[2], c[3]
  else
    px[i] = px[i] + (c[1] - px[i]) * a + 0.5
    px[i + 1] = px[i + 1] + (c[2] - px[i + 1]) * a + 0.5
    px[i + 2] = px[i + 2] + (c[3] - px[i + 2]) * a + 0.5
  end
end

function Canvas:get(x, y)
  local i = (y * self.w + x) * 3
  return self.px[i], self.px[i + 1], self.px[i + 2]
end

-- Filled axis-aligned rectangle [x, x+w) x [y, y+h).
function Canvas:rect(x, y, w, h, c)
  x, y = math.floor(x), math.floor(y)
  for yy = math.max(y, 0), math.min(y + h - 1, self.h - 1) do
    for xx = math.max(x, 0), math.min(x + w - 1, self.w - 1) do self:blend(xx, yy, c, 1) end
  end
end

-- Rectangle outline, 1 px.
function Canvas:frame(x, y, w, h, c)
  self:rect(x, y, w, 1, c); self:rect(x, y + h - 1, w, 1, c)
  self:rect(x, y, 1, h, c); self:rect(x + w - 1, y, 1, h, c)
end

-- Anti-aliased line of width `lw` from (x0, y0) to (x1, y1): each pixel near the segment
-- gets coverage from its distance to it. Scans a band along the major axis only.
function Canvas:line(x0, y0, x1, y1, c, lw)
  lw = lw or 1
  local hw = lw / 2
  local dx, dy = x1 - x0, y1 - y0
  local len2 = dx * dx + dy * dy
  local function cover(px, py)
    local t = len2 > 0 and ((px - x0) * dx + (py - y0) * dy) / len2 or 0
    if t < 0 then t = 0 elseif t > 1 then t = 1 end
    local ex, ey = x0 + t * dx - px, y0 + t * dy - py
    local d = math.sqrt(ex * ex + ey * ey)
    return math.min(1, hw + 0.5 - d)
  end
  local pad = math.ceil(hw + 1)
  if math.abs(dx) >= math.abs(dy) then
    local xa, xb = math.floor(math.min(x0, x1)) - pad, math.ceil(math.max(x0, x1)) + pad
    local slope = dx ~= 0 and dy / dx or 0
    local band = math.ceil((hw + 1) * math.sqrt(1 + slope * slope)) + 1
    for x = xa, xb do
      local xc = math.max(math.min(x, math.max(x0, x1)), math.min(x0, x1))
      local yc = math.floor(y0 + (xc - x0) * slope + 0.5)
      for y = yc - band, yc + band do self:blend(x, y, c, cover(x, y)) end
    end
  else
    local ya, yb = math.floor(math.min(y0, y1)) - pad, math.ceil(math.max(y0, y1)) + pad
    local slope = dx / dy
    local band = math.ceil((hw + 1) * math.sqrt(1 + slope * slope)) + 1
    for y = ya, yb do
      local yc = math.max(math.min(y, math.max(y0, y1)), math.min(y0, y1))
      local xc = math.floor(x0 + (yc - y0) * slope + 0.5)
      for x = xc - band, xc + band do self:blend(x, y, c, cover(x, y)) end
    end
  end
end

-- Polyline through points {{x, y}, ...}; breaks at nil/NaN points.
function Canvas:polyline(pts, c, lw)
  for i = 2, #pts do
    local a, b = pts[i - 1], pts[i]
    if a and b and a[2] == a[2] and b[2] == b[2] then self:line(a[1], a[2], b[1], b[2], c, lw) end
  end
end

-- Vertical dotted line (the LR drops of Fig. 7).
function Canvas:vdots(x, y0, y1, c, on, off)
  on, off = on or 4, off or 4
  x = math.floor(x + 0.5)
  for y = math.floor(y0), math.floor(y1) do
    if (y - math.floor(y0)) % (on + off) < on then self:blend(x, y, c, 1) end
  end
end

-- Circle outline (r) or disc (fill), anti-aliased.
function Canvas:circle(cx, cy, r, c, lw, fill)
  lw = lw or 2
  for y = math.floor(cy - r - lw - 1), math.ceil(cy + r + lw + 1) do
    for x = math.floor(cx - r - lw - 1), math.ceil(cx + r + lw + 1) do
      local d = math.sqrt((x - cx) ^ 2 + (y - cy) ^ 2)
      local a = fill and math.min(1, r + 0.5 - d) or math.min(1, lw / 2 + 0.5 - math.abs(d - r))
      self:blend(x, y, c, a)
    end
  end
end

-- Text with its top-left corner at (x, y); scale: pixel size of a font cell.
-- vertical: rotated 90 degrees counter-clockwise, reading bottom to top from (x, y).
function Canvas:text(x, y, s, c, scale, vertical)
  scale = scale or 2
  local adv = (plot.GLYPH_W + 1) * scale
  for i = 1, #s do
    local cells = FONT[s:byte(i)] or FONT[('?'):byte()]
    for _, cell in ipairs(cells) do
      local cx, cy = cell[1] * scale, cell[2] * scale
      if vertical then
        self:rect(x + cy, y - (i - 1) * adv - cx - scale, scale, scale, c)
      else
        self:rect(x + (i - 1) * adv + cx, y + cy, scale, scale, c)
      end
    end
  end
end

function plot.textWidth(s, scale)
  scale = scale or 2
  return #s > 0 and (#s * (plot.GLYPH_W + 1) - 1) * scale or 0
end

function Canvas:save(path)
  F.check(F.C.ft_png_write(path, self.img.p), 'plot: writing ' .. path)
  return path
end

---------------------------------------------------------------------------- axes
plot.COLORS = {
  { 31, 119, 180 }, { 214, 39, 40 }, { 44, 160, 44 }, { 255, 127, 14 }, { 148, 103, 189 },
  { 140, 86, 75 }, { 227, 119, 194 }, { 127, 127, 127 }, { 188, 189, 34 }, { 23, 190, 207 },
}
local BLACK, GRAY, LIGHT, WHITE = { 0, 0, 0 }, { 90, 90, 90 }, { 225, 225, 225 }, { 255, 255, 255 }

-- "Nice" tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten.
-- minStep: a floor for the step (1 for epochs: no ticks between integers).
function plot.niceTicks(lo, hi, n, minStep)
  n = n or 6
  if hi <= lo then hi = lo + 1 end
  local raw = (hi - lo) / n
  local mag = 10 ^ math.floor(math.log10(raw))
  local step
  for _, m in ipairs({ 1, 2, 2.5, 5, 10 }) do
    step = m * mag
    if step >= raw and not (minStep and m == 2.5 and step < 10 * minStep) then break end
  end
  if minStep and step < minStep then step = minStep end
  local first = math.ceil(lo / step - 1e-9) * step
  local ticks = {}
  for v = first, hi + step * 1e-9, step do ticks[#ticks + 1] = math.abs(v) < step * 1e-9 and 0 or v end
  return ticks, step
end

local function fmt_tick(v, step)
  local decimals = -math.floor(math.log10(step) + 1e-9)
  if decimals < 1 then decimals = 0 end -- also turns -0 (step 1) into 0: "%.-0f" is no format
  if step * 10 ^ decimals % 1 > 1e-6 then decimals = decimals + 1 end -- 2.5-steps
  return ('%.' .. decimals .. 'f'):format(v)
end

local function fmt_pow10(e)
  if e >= 0 and e <= 3 then return tostring(math.floor(10 ^ e + 0.5)) end
  return '1e' .. e
end

-- Data range of the series, padded; nil values and NaN skipped.
local function range_of(series, key, logscale)
  local lo, hi = math.huge, -math.huge
  for _, s in ipairs(series) do
    for _, v in ipairs(s[key]) do
      if v == v and v ~= nil and v ~= math.huge and v ~= -math.huge and (not logscale or v > 0) then
        if v < lo then lo = v end
        if v > hi then hi = v end
      end
    end
  end
  if lo > hi then lo, hi = 0, 1 end
  return lo, hi
end

-- Line plot with axes, ticks, grid, legend. See the header for the arguments.
function plot.lines(o)
  local W, H = o.width or 960, o.height or 600
  local cv = plot.Canvas(W, H)
  local scale = o.fontScale or 2
  local series = o.series or {}
  local left, right, top, bottom = 100, 30, 56, 80
  local pw, ph = W - left - right, H - top - bottom

  local xlo, xhi = range_of(series, 'x')
  if o.xlim then xlo, xhi = o.xlim[1], o.xlim[2] end
  local ylo, yhi = range_of(series, 'y', o.logy)
  if o.ylim then ylo, yhi = o.ylim[1], o.ylim[2] end
  local xticks, xstep = plot.niceTicks(xlo, xhi, 8, o.xinteger and 1 or nil)
  if not o.xlim then xlo, xhi = math.min(xlo, xticks[1]), math.max(xhi, xticks[#xticks]) end

  local ymap, yticks, ylabels
  if o.logy then
    local elo, ehi = math.floor(math.log10(ylo)), math.ceil(math.log10(yhi))
    if ehi == elo then ehi = elo + 1 end
    ylo, yhi = 10 ^ elo, 10 ^ ehi
    ymap = function(v) return top + ph - (math.log10(v) - elo) / (ehi - elo) * ph end
    yticks, ylabels = {}, {}
    for e = elo, ehi do
      yticks[#yticks + 1] = 10 ^ e; ylabels[#ylabels + 1] = fmt_pow10(e)
      if ehi - elo <= 2 and e < ehi then -- few decades: label 2x and 5x too
        for _, m in ipairs({ 2, 5 }) do
          yticks[#yticks + 1] = m * 10 ^ e
          ylabels[#ylabels + 1] = e >= 0 and e <= 2 and tostring(m * 10 ^ e) or (m .. 'e' .. e)
        end
      end
    end
  else
    if not o.ylim then
      local pad = (yhi - ylo) * 0.05
      ylo, yhi = ylo - pad, yhi + pad
      if o.yzero ~= false and ylo < 0 and range_of(series, 'y') >= 0 then ylo = 0 end
    end
    local ys
    yticks, ys = plot.niceTicks(ylo, yhi, 6)
    if not o.ylim then ylo, yhi = math.min(ylo, yticks[1]), math.max(yhi, yticks[#yticks]) end
    ymap = function(v) return top + ph - (v - ylo) / (yhi - ylo) * ph end
    ylabels = {}
    for i, v in ipairs(yticks) do ylabels[i] = fmt_tick(v, ys) end
  end
  local function xmap(v) return left + (v - xlo) / (xhi - xlo) * pw end

  -- grid, ticks and labels
  for i, v in ipairs(yticks) do
    local y = math.floor(ymap(v) + 0.5)
    if y >= top and y <= top + ph then
      cv:rect(left, y, pw, 1, LIGHT)
      cv:rect(left - 6, y, 6, 1, BLACK)
      local s = ylabels[i]
      cv:text(left - 10 - plot.textWidth(s, scale), y - 7 * scale / 2, s, BLACK, scale)
    end
  end
  for _, v in ipairs(xticks) do
    local x = math.floor(xmap(v) + 0.5)
    if x >= left and x <= left + pw then
      cv:rect(x, top, 1, ph, LIGHT)
      cv:rect(x, top + ph, 1, 6, BLACK)
      local s = fmt_tick(v, xstep)
      cv:text(x - plot.textWidth(s, scale) / 2, top + ph + 12, s, BLACK, scale)
    end
  end
  for _, v in ipairs(o.vlines or {}) do
    if v >= xlo and v <= xhi then cv:vdots(xmap(v), top, top + ph, GRAY) end
  end
  cv:frame(left, top, pw + 1, ph + 1, BLACK)

  -- the curves, clipped to the plot area by skipping points outside it
  for k, s in ipairs(series) do
    local c = s.color or plot.COLORS[(k - 1) % #plot.COLORS + 1]
    local pts = {}
    for i = 1, #s.x do
      local x, y = s.x[i], s.y[i]
      if y ~= nil and y == y and (not o.logy or y > 0) and y >= ylo and y <= yhi then
        pts[i] = { xmap(x), ymap(y) }
      else
        pts[i] = false
      end
    end
    for i = 2, #pts do
      if pts[i - 1] and pts[i] then cv:line(pts[i - 1][1], pts[i - 1][2], pts[i][1], pts[i][2], c, s.lineWidth or 2) end
    end
    if #s.x <= 30 then -- few points: show each one
      for i = 1, #pts do if pts[i] then cv:circle(pts[i][1], pts[i][2], 3, c, 2, true) end end
    end
    if s.mark and s.mark[2] and s.mark[2] >= ylo and s.mark[2] <= yhi then
      cv:circle(xmap(s.mark[1]), ymap(s.mark[2]), 7, c, 2)
    end
  end

  -- title, axis labels
  if o.title then cv:text((W - plot.textWidth(o.title, scale)) / 2, 16, o.title, BLACK, scale) end
  if o.xlabel then
    cv:text(left + (pw - plot.textWidth(o.xlabel, scale)) / 2, H - 7 * scale - 14, o.xlabel, BLACK, scale)
  end
  if o.ylabel then
    cv:text(12, top + (ph + plot.textWidth(o.ylabel, scale)) / 2, o.ylabel, BLACK, scale, true)
  end

  -- legend, top right inside the axes
  local named = {}
  for k, s in ipairs(series) do if s.label then named[#named + 1] = k end end
  if #named > 0 then
    local lw = 0
    for _, k in ipairs(named) do lw = math.max(lw, plot.textWidth(series[k].label, scale)) end
    local rowh = 7 * scale + 8
    local bw, bh = lw + 52, #named * rowh + 10
    local bx, by = left + pw - bw - 10, top + 10
    if o.legend == 'bottomright' then by = top + ph - bh - 10 end
    cv:rect(bx, by, bw, bh, WHITE)
    cv:frame(bx, by, bw, bh, GRAY)
    for r, k in ipairs(named) do
      local s = series[k]
      local c = s.color or plot.COLORS[(k - 1) % #plot.COLORS + 1]
      local y = by + 5 + (r - 1) * rowh + rowh / 2
      cv:line(bx + 8, y, bx + 36, y, c, 3)
      cv:text(bx + 44, y - 7 * scale / 2, s.label, BLACK, scale)
    end
  end
  if o.path then cv:save(o.path) end
  return cv
end

---------------------------------------------------------------------------- heat map
-- A perceptual ramp (dark blue -> teal -> yellow), t in [0, 1].
local RAMP = { { 48, 18, 110 }, { 50, 90, 160 }, { 35, 145, 140 }, { 95, 195, 90 }, { 250, 230, 35 } }
function plot.colormap(t)
  if t ~= t then return { 200, 200, 200 } end
  t = math.max(0, math.min(1, t)) * (#RAMP - 1)
  local i = math.min(math.floor(t), #RAMP - 2)
  local f = t - i
  local a, b = RAMP[i + 1], RAMP[i + 2]
  return { a[1] + (b[1] - a[1]) * f + 0.5, a[2] + (b[2] - a[2]) * f + 0.5, a[3] + (b[3] - a[3]) * f + 0.5 }
end

-- values[row][col]; rows run top to bottom as yticks, cols as xticks. A nil (or NaN)
-- cell is drawn gray and marked "-" (not run yet). Cell text: the value, `fmt`.
function plot.heatmap(o)
  local rows, cols = #o.yticks, #o.xticks
  local scale = o.fontScale or 2
  local cell = o.cell or 72
  local left, top, right, bottom = 110, 60, 140, 80
  local W, H = left + cols * cell + right, top + rows * cell + bottom
  if o.title then W = math.max(W, plot.textWidth(o.title, scale) + 40) end -- room for the title
  local cv = plot.Canvas(W, H)
  local lo, hi = math.huge, -math.huge
  for r = 1, rows do
    for c = 1, cols do
      local v = o.values[r] and o.values[r][c]
      if v and v == v then lo, hi = math.min(lo, v), math.max(hi, v) end
    end
  end
  if lo > hi then lo, hi = 0, 1 end
  if hi == lo then hi = lo + 1 end
  local fmt = o.fmt or '%.2f'
  for r = 1, rows do
    for c = 1, cols do
      local v = o.values[r] and o.values[r][c]
      local x, y = left + (c - 1) * cell, top + (r - 1) * cell
      local t = (v and v == v) and (v - lo) / (hi - lo) or 0 / 0
      if o.reverse then t = 1 - t end
      local col = plot.colormap(t)
      cv:rect(x, y, cell, cell, col)
      local s = (v and v == v) and fmt:format(v) or '-'
      local ink = (t ~= t or t > 0.6) and BLACK or WHITE
      local sc = plot.textWidth(s, scale) <= cell - 6 and scale or 1
      cv:text(x + (cell - plot.textWidth(s, sc)) / 2, y + (cell - 7 * sc) / 2, s, ink, sc)
    end
  end
  cv:frame(left - 1, top - 1, cols * cell + 2, rows * cell + 2, BLACK)
  for c = 1, cols do
    local s = tostring(o.xticks[c])
    cv:text(left + (c - 0.5) * cell - plot.textWidth(s, scale) / 2, top + rows * cell + 10, s, BLACK, scale)
  end
  for r = 1, rows do
    local s = tostring(o.yticks[r])
    cv:text(left - 10 - plot.textWidth(s, scale), top + (r - 0.5) * cell - 7 * scale / 2, s, BLACK, scale)
  end
  -- colour bar with its range
  local bx, bw, bh = left + cols * cell + 24, 20, rows * cell
  for i = 0, bh - 1 do
    local t = 1 - i / math.max(bh - 1, 1)
    cv:rect(bx, top + i, bw, 1, plot.colormap(o.reverse and 1 - t or t))
  end
  cv:frame(bx - 1, top - 1, bw + 2, bh + 2, BLACK)
  cv:text(bx + bw + 6, top, fmt:format(hi), BLACK, scale)
  cv:text(bx + bw + 6, top + bh - 7 * scale, fmt:format(lo), BLACK, scale)
  if o.title then cv:text((W - plot.textWidth(o.title, scale)) / 2, 18, o.title, BLACK, scale) end
  if o.xlabel then
    cv:text(left + (cols * cell - plot.textWidth(o.xlabel, scale)) / 2, H - 7 * scale - 14, o.xlabel, BLACK, scale)
  end
  if o.ylabel then
    cv:text(14, top + (rows * cell + plot.textWidth(o.ylabel, scale)) / 2, o.ylabel, BLACK, scale, true)
  end
  if o.path then cv:save(o.path) end
  return cv
end

-- Read a PNG back as a uint8 tensor [H,W,C] (for tests and tools).
function plot.readPNG(path)
  F.check(F.C.ft_png_read(F.out, path), 'plot.readPNG')
  return require('fathom.tensor').wrap(F.out[0])
end

return plot
