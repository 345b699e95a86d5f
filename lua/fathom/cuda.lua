-- fathom/cuda.lua -- the GPU from Lua (cutorch's role): is one there, which, its memory,
-- the convolution settings, pinned host buffers, copies and events for timing.
--   local fathom = require 'fathom'
--   if fathom.cuda.isAvailable() then
--     local x = fathom.randn(128, 3, 32, 32):cuda()   -- float32 on the GPU
--     model:cuda(); local y = model:forward(x); print(y:float())
--   end
-- Tensors move with t:cuda() / t:float() / t:double() and print through a host copy.
-- Every op on a CUDA tensor runs on the GPU (the same C API dispatches on the device).
-- Without a GPU (or in a build without CUDA) isAvailable() is false, status() says why,
-- and making a CUDA tensor is an error that says "no CUDA device available".
-- Devices are numbered from 1, as in cutorch.
local ffi = require 'ffi'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local cuda = {}
local int1 = ffi.new('int[1]')

function cuda.hasBackend() return C.ft_has_cuda() ~= 0 end

function cuda.deviceCount()
  check(C.ft_cuda_device_count(int1), 'fathom.cuda.deviceCount')
  return int1[0]
end

function cuda.isAvailable() return cuda.deviceCount() > 0 end

-- Why no device is usable ('' when one is).
function cuda.status() return ffi.string(C.ft_cuda_status()) end

local function need(fname)
  if cuda.deviceCount() == 0 then error(fname .. ': ' .. cuda.status(), 3) end
end

function cuda.setDevice(i)
  if type(i) ~= 'number' or i ~= math.floor(i) then
    error('fathom.cuda.setDevice: device must be an integer (1-based), got ' .. tostring(i), 2)
  end
  check(C.ft_cuda_set_device(i - 1), 'fathom.cuda.setDevice')
end

function cuda.getDevice()
  check(C.ft_cuda_get_device(int1), 'fathom.cuda.getDevice')
  return int1[0] + 1
end

-- { name, totalGlobalMem, major, minor } of device i (default: the current one).
function cuda.getDeviceProperties(i)
  i = i or cuda.getDevice()
  local name = ffi.new('char[256]')
  local total, major, minor = ffi.new('int64_t[1]'), ffi.new('int[1]'), ffi.new('int[1]')
  check(C.ft_cuda_device_info(i - 1, name, 256, total, major, minor), 'fathom.cuda.getDeviceProperties')
  return { name = ffi.string(name), totalGlobalMem = tonumber(total[0]), major = major[0], minor = minor[0] }
end

-- Wait until the GPU has finished everything queued (for timing, or before exit).
function cuda.synchronize() check(C.ft_cuda_synchronize(), 'fathom.cuda.synchronize') end

-- The caching allocator's counters, in bytes (mallocs and reuses are counts).
function cuda.memory()
  local s = ffi.new('ft_cuda_memory')
  check(C.ft_cuda_memory_stats(s), 'fathom.cuda.memory')
  return { inUse = tonumber(s.in_use), cached = tonumber(s.cached), peak = tonumber(s.peak),
           mallocs = tonumber(s.mallocs), reuses = tonumber(s.reuses) }
end

-- Hand the cached free blocks back to the driver (after collecting dead tensors).
function cuda.emptyCache()
  collectgarbage('collect')
  check(C.ft_cuda_empty_cache(), 'fathom.cuda.emptyCache')
end

local function flag(fname, v)
  if type(v) ~= 'boolean' then error(fname .. ': expected true or false, got ' .. tostring(v), 3) end
  return v and 1 or 0
end
-- Convolution and matrix settings (see the CUDA-SECTION of core/fathom.h).
function cuda.setDeterministic(on) check(C.ft_cuda_set_deterministic(flag('fathom.cuda.setDeterministic', on)), 'fathom.cuda.setDeterministic') end
function cuda.setBenchmark(on) check(C.ft_cuda_set_benchmark(flag('fathom.cuda.setBenchmark', on)), 'fathom.cuda.setBenchmark') end
function cuda.setTF32(on) check(C.ft_cuda_set_tf32(flag('fathom.cuda.setTF32', on)), 'fathom.cuda.setTF32') end
function cuda.convPlans() return tonumber(C.ft_cuda_conv_plans()) end

-- A CPU tensor in pinned (page-locked) memory: cuda.pinned('float', 128, 3, 32, 32).
-- Copies from it to the GPU are faster, and cuda.copyAsync can overlap them.
local KEYS = { float = C.FT_FLOAT32, double = C.FT_FLOAT64, long = C.FT_INT64, byte = C.FT_UINT8 }
function cuda.pinned(key, ...)
  local id = KEYS[key]
  if not id then error("fathom.cuda.pinned: dtype must be 'float', 'double', 'long' or 'byte', got " .. tostring(key), 2) end
  local sizes = { ... }
  if #sizes > 8 then error('fathom.cuda.pinned: at most 8 dimensions', 2) end
  for i, s in ipairs(sizes) do
    if type(s) ~= 'number' or s < 0 or s ~= math.floor(s) then
      error(('fathom.cuda.pinned: size %d must be a non-negative integer, got %s'):format(i, tostring(s)), 2)
    end
    F.sizes[i - 1] = s
  end
  check(C.ft_cuda_pinned_new(F.out, id, #sizes, F.sizes), 'fathom.cuda.pinned')
  local T = require 'fathom.tensor'
  local t = T.wrap(F.out[0])
  T.pressure()
  return t
end

-- Queue dst:copy(src) without waiting (one side on the GPU, the other pinned): the host
-- tensor must stay untouched until an event recorded after it completes.
function cuda.copyAsync(dst, src)
  local T = require 'fathom.tensor'
  if not T.isTensor(dst) or not T.isTensor(src) then error('fathom.cuda.copyAsync: expected two tensors', 2) end
  check(C.ft_cuda_copy_async(dst.p, src.p), 'fathom.cuda.copyAsync')
  return dst
end

-- Events: e = cuda.Event(); e:record(); ...; ms = e:elapsedSince(start) (waits for e).
local Event = {}
Event.__index = Event
function cuda.Event()
  local cell = ffi.new('ft_cuda_event*[1]')
  check(C.ft_cuda_event_new(cell), 'fathom.cuda.Event')
  return setmetatable({ e = ffi.gc(cell[0], C.ft_cuda_event_free) }, Event)
end
function Event:record() check(C.ft_cuda_event_record(self.e), 'Event:record') return self end
function Event:synchronize() check(C.ft_cuda_event_synchronize(self.e), 'Event:synchronize') return self end
function Event:elapsedSince(start)
  local ms = ffi.new('double[1]')
  check(C.ft_cuda_event_elapsed(start.e, self.e, ms), 'Event:elapsedSince')
  return ms[0]
end

-- fn() timed on the GPU: median milliseconds over n runs after `warmup` runs.
function cuda.time(fn, n, warmup)
  need('fathom.cuda.time')
  n, warmup = n or 10, warmup or 3
  for _ = 1, warmup do fn() end
  local a, b, times = cuda.Event(), cuda.Event(), {}
  for i = 1, n do
    a:record(); fn(); b:record()
    times[i] = b:elapsedSince(a)
  end
  table.sort(times)
  return times[math.floor((n + 1) / 2)]
end

return cuda
