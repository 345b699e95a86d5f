-- fathom/progress.lua -- the progress display of a training epoch.
-- On a terminal: one line redrawn in place,
--   epoch 3/500 [=========>         ] 120/351  loss 1.234  err 45.3%  1234 img/s  ETA 1m23s
-- When stdout is not a terminal (a log file, a pipe, CI): a plain line every `every`
-- iterations and at the last one, so logs stay readable.
--   local bar = progress.new{ total = n, title = 'epoch 3/500', every = 50 }
--   bar:update(i, images, { loss = ..., err = ... });  bar:finish()
local ffi = require 'ffi'
pcall(ffi.cdef, 'int isatty(int fd);')

local progress = {}
local Bar = {}
Bar.__index = Bar

function progress.isatty()
  local ok, r = pcall(function() return ffi.C.isatty(1) end)
  return ok and r == 1
end

local clock = os.clock
do -- wall-clock time with sub-second resolution (os.time has whole seconds)
  pcall(ffi.cdef, 'typedef struct { long tv_sec; long tv_nsec; } fathom_timespec; int clock_gettime(int clk, fathom_timespec *ts);')
  local ts = ffi.new('fathom_timespec')
  local ok = pcall(function() return ffi.C.clock_gettime(1, ts) end)
  if ok then clock = function() ffi.C.clock_gettime(1, ts) return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9 end end
end
progress.now = clock

function progress.duration(s)
  if s ~= s or s == math.huge then return '?' end
  if s < 9.95 then return ('%.1fs'):format(s) end
  s = math.floor(s + 0.5)
  if s < 60 then return s .. 's' end
  if s < 3600 then return ('%dm%02ds'):format(math.floor(s / 60), s % 60) end
  return ('%dh%02dm'):format(math.floor(s / 3600), math.floor(s / 60) % 60)
end

function progress.new(o)
  local self = setmetatable({}, Bar)
  self.total = o.total or 0
  self.title = o.title or ''
  self.every = o.every or 50
  self.out = o.out or io.stdout
  if o.tty == nil then self.tty = progress.isatty() else self.tty = o.tty end
  self.width = o.width or 24
  self.start = clock()
  self.lastDraw = -1
  self.images = 0
  return self
end

local function fields_str(fields)
  local parts = {}
  if fields.loss then parts[#parts + 1] = ('loss %.4f'):format(fields.loss) end
  if fields.err then parts[#parts + 1] = ('err %.2f%%'):format(fields.err) end
  if fields.lr then parts[#parts + 1] = ('lr %g'):format(fields.lr) end
  if fields.active then parts[#parts + 1] = ('blocks %.1f'):format(fields.active) end
  return table.concat(parts, '  ')
end

function Bar:line(i, fields)
  local elapsed = clock() - self.start
  local rate = elapsed > 0 and self.images / elapsed or 0
  local eta = i > 0 and elapsed / i * (self.total - i) or math.huge
  local f = fields_str(fields or {})
  local head = self.title ~= '' and self.title .. ' ' or ''
  if self.tty then
    local done = self.total > 0 and math.floor(self.width * i / self.total) or 0
    local bar = ('='):rep(math.max(done - 1, 0)) .. (done > 0 and (i < self.total and '>' or '=') or '') ..
                (' '):rep(self.width - done)
    return ('%s[%s] %d/%d  %s  %.0f img/s  ETA %s'):format(head, bar, i, self.total, f, rate,
                                                          progress.duration(eta))
  end
  return ('%s%d/%d  %s  %.0f img/s  ETA %s'):format(head, i, self.total, f, rate, progress.duration(eta))
end

-- i: iterations done; images: images in this step; fields: loss, err (%), lr, active.
function Bar:update(i, images, fields)
  self.images = self.images + (images or 0)
  if self.tty then
    local t = clock()
    if t - self.lastDraw < 0.1 and i < self.total then return end -- redraw at most 10x a second
    self.lastDraw = t
    self.out:write('\r', self:line(i, fields), '\27[K')
    self.out:flush()
  elseif i % self.every == 0 or i == self.total then
    self.out:write(self:line(i, fields), '\n')
    self.out:flush()
    self.printed = i
  end
  self.last = { i = i, fields = fields }
end

-- End the bar's line (terminal) so the next output starts clean.
function Bar:finish()
  if self.tty then self.out:write('\n') self.out:flush()
  elseif self.last and self.printed ~= self.last.i then -- the last step, when not printed yet
    self.out:write(self:line(self.last.i, self.last.fields), '\n')
    self.out:flush()
  end
  return clock() - self.start
end

return progress
