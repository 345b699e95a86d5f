-- bench/data_bench.lua -- throughput of the CIFAR-10 batch loader (core/data/loader.c):
-- images per second handed to a consumer that does nothing else, batch 128, with the
-- CIFAR augmentation (zero-pad 4 after normalisation, random crop, flip), for nThreads
-- 0 (built in the caller's thread), 1 and 2. Median of `reps` epochs of the 45,000-image
-- training split, after one warm-up epoch. Also: sample assembly without augmentation.
--   FATHOM_LIB=$PWD/build/libfathom.so luajit bench/data_bench.lua [reps=5] [threads=0,1,2]
package.path = './?.lua;' .. package.path
local ffi = require 'ffi'
local fathom = require 'fathom'
local data = require 'fathom.data'

local reps = tonumber(arg[1]) or 5
local threads = {}
for t in (arg[2] or '0,1,2'):gmatch('%d+') do threads[#threads + 1] = tonumber(t) end
pcall(ffi.cdef, 'typedef struct { long tv_sec; long tv_nsec; } fb_timespec; int clock_gettime(int, fb_timespec *);')
local ts = ffi.new('fb_timespec')
local function now() ffi.C.clock_gettime(1, ts) return tonumber(ts.tv_sec) + 1e-9 * tonumber(ts.tv_nsec) end

local t0 = now()
local d = data.cifar10{}
print(('loading CIFAR-10 (50,000 + %d images, split, statistics): %.2f s'):format(d.test:size(), now() - t0))

local function median(t) table.sort(t) return t[math.floor(#t / 2) + 1] end

local function bench(nt, augment)
  local l = data.Loader(d.train, { batchSize = 128, nThreads = nt, augment = augment, seed = 1 })
  for _ in l:run(0) do end -- warm-up: page in the buffers
  local rates = {}
  for e = 1, reps do
    local n, start = 0, now()
    for _, x in l:run(e) do n = n + x:size(1) end
    rates[e] = n / (now() - start)
  end
  return median(rates)
end

print(('%-10s %-12s %16s'):format('nThreads', 'augment', 'images/s'))
for _, nt in ipairs(threads) do
  for _, aug in ipairs({ true, false }) do
    print(('%-10d %-12s %16.0f'):format(nt, tostring(aug), bench(nt, aug)))
  end
end
