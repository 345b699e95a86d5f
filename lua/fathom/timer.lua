-- fathom/timer.lua -- Torch7's torch.Timer: wall-clock and CPU time since creation or
-- the last reset, with stop/resume.
--   local t = Timer(); ...; print(t:time().real)   -- seconds
local ffi = require 'ffi'
local class = require 'fathom.class'

pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } fathom_timespec;
int clock_gettime(int clk, fathom_timespec *ts);
]])
local ts = ffi.new('fathom_timespec')
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local Timer = class('torch.Timer')

function Timer:__init() self:reset() end

function Timer:reset()
  self.real0, self.cpu0 = now(), os.clock()
  self.realAcc, self.cpuAcc = 0, 0
  self.running = true
  return self
end

function Timer:stop()
  if self.running then
    self.realAcc = self.realAcc + now() - self.real0
    self.cpuAcc = self.cpuAcc + os.clock() - self.cpu0
    self.running = false
  end
  return self
end

function Timer:resume()
  if not self.running then
    self.real0, self.cpu0 = now(), os.clock()
    self.running = true
  end
  return self
end

-- { real, user, sys } in seconds (user is the process CPU time; sys is not separated).
function Timer:time()
  local real, cpu = self.realAcc, self.cpuAcc
  if self.running then real, cpu = real + now() - self.real0, cpu + os.clock() - self.cpu0 end
  return { real = real, user = cpu, sys = 0 }
end

function Timer:__tostring() return 'torch.Timer' end

return Timer
