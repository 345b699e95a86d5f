-- nn/SpatialZeroPadding.lua -- zeros around each image (C x H x W or N x C x H x W):
-- nn.SpatialZeroPadding(left, right, top, bottom) (right/top/bottom default to left);
-- negative amounts crop instead.
local class = require 'fathom.class'
local Module = require 'fathom.nn.Module'

local SpatialZeroPadding, parent = class('nn.SpatialZeroPadding', Module)

function SpatialZeroPadding:__init(l, r, t, b)
  parent.__init(self)
  self.pad_l = l
  self.pad_r = r or l
  self.pad_t = t or l
  self.pad_b = b or l
  for _, v in ipairs({ self.pad_l, self.pad_r, self.pad_t, self.pad_b }) do
    if type(v) ~= 'number' or v ~= math.floor(v) then
      error('nn.SpatialZeroPadding: the amounts must be integers', 2)
    end
  end
end

-- The overlapping regions of input and output, as narrow() arguments on the H and W dims.
function SpatialZeroPadding:regions(x)
  local hd = x:dim() - 1
  local h, w = x:size(hd), x:size(hd + 1)
  local oh, ow = h + self.pad_t + self.pad_b, w + self.pad_l + self.pad_r
  if oh < 1 or ow < 1 then error(self.__typename .. ': cropping removes the whole image', 3) end
  -- first input row/column kept, and where it lands in the output (0-based)
  local ih, oh0 = math.max(0, -self.pad_t), math.max(0, self.pad_t)
  local iw, ow0 = math.max(0, -self.pad_l), math.max(0, self.pad_l)
  local hh = h - ih - math.max(0, -self.pad_b)
  local ww = w - iw - math.max(0, -self.pad_r)
  return hd, oh, ow, { ih + 1, hh, iw + 1, ww }, { oh0 + 1, hh, ow0 + 1, ww }
end

local function region(t, hd, r)
  return t:narrow(hd, r[1], r[2]):narrow(hd + 1, r[3], r[4])
end

function SpatialZeroPadding:updateOutput(input)
  local x = self:checkInput(input, { 3, 4 }, 'C x H x W or N x C x H x W')
  local hd, oh, ow, ri, ro = self:regions(x)
  local sizes = x:size():totable()
  sizes[hd], sizes[hd + 1] = oh, ow
  local y = self:buffer('output', x):resize(unpack(sizes)):zero()
  if ri[2] > 0 and ri[4] > 0 then region(y, hd, ro):copy(region(x, hd, ri)) end
  return y
end

function SpatialZeroPadding:updateGradInput(input, gradOutput)
  local hd, _, _, ri, ro = self:regions(input)
  local gi = self:buffer('gradInput', gradOutput):resizeAs(input):zero()
  if ri[2] > 0 and ri[4] > 0 then region(gi, hd, ri):copy(region(gradOutput, hd, ro)) end
  return gi
end

function SpatialZeroPadding:__tostring()
  return ('%s(l=%d, r=%d, t=%d, b=%d)'):format(self.__typename, self.pad_l, self.pad_r, self.pad_t, self.pad_b)
end

return SpatialZeroPadding
