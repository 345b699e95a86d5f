-- bench/util.lua -- what the benchmark scripts share: `-name value` options, medians, the
-- process CPU clock and the ResNet step's synthetic batch.
local M = {}

-- Parse `-key value` pairs into a copy of defaults; a value becomes a number when the
-- default is one. Unknown, incomplete or non-numeric options stop with exit code 2.
function M.options(script, defaults, args)
  local opt = {}
  for k, v in pairs(defaults) do opt[k] = v end
  local i = 1
  while i <= #args do
    local k = args[i]:match('^%-(.+)$')
    local v = args[i + 1]
    if type(opt[k]) == 'number' then v = tonumber(v or '') end
    if not k or opt[k] == nil or v == nil then
      io.stderr:write(script .. ': unknown or incomplete option ' .. args[i] .. '\n')
      os.exit(2)
    end
    opt[k] = v
    i = i + 2
  end
  return opt
end

-- The median of a list of numbers (the list is left as it is).
function M.median(t)
  local c = {}
  for i, v in ipairs(t) do c[i] = v end
  table.sort(c)
  local n = #c
  return n % 2 == 1 and c[(n + 1) / 2] or (c[n / 2] + c[n / 2 + 1]) / 2
end

-- Seconds of CPU time used by the process (CLOCK_PROCESS_CPUTIME_ID): with one thread, a
-- kernel's cost even on a loaded machine.
function M.cpuClock(wall)
  local ffi = require 'ffi'
  require 'fathom.progress' -- declares fathom_timespec and clock_gettime
  local ts = ffi.new('fathom_timespec')
  local id = wall and 1 or 2 -- CLOCK_MONOTONIC (wall) or CLOCK_PROCESS_CPUTIME_ID
  return function() ffi.C.clock_gettime(id, ts) return tonumber(ts.tv_sec) + 1e-9 * tonumber(ts.tv_nsec) end
end

-- The ResNet step benchmarks' input: N(0, 1) images (drawn from the global stream, so call
-- it where the scripts always have), labels cycling over the 10 classes, and the paper's SGD.
function M.resnetBatch(batch)
  local fathom = require 'fathom'
  local x = fathom.FloatTensor(batch, 3, 32, 32):normal(0, 1)
  local y = fathom.LongTensor(batch)
  for i = 1, batch do y[i] = (i - 1) % 10 + 1 end
  return x, y, { learningRate = 0.1, momentum = 0.9, nesterov = true, dampening = 0, weightDecay = 1e-4 }
end

return M
