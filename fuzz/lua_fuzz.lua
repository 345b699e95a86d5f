-- fuzz/lua_fuzz.lua -- a mutation fuzzer, in LuaJIT, for the parsers written in Lua that
-- libFuzzer cannot reach: the safetensors reader (fathom.safetensors), the checkpoint
-- JSON (fathom.json, then the checkpoint's own checks and restore into a small model) and
-- the Torch7 .t7 reader (fathom.t7, binary and ascii).
--   luajit fuzz/lua_fuzz.lua TARGET CORPUS_DIR SECONDS [FINDINGS_DIR]
-- TARGET is safetensors, checkpoint or t7. Inputs are seeds from CORPUS_DIR mutated (bit
-- flips, interesting bytes and numbers, insertions, deletions, copies, splices); an input
-- that covers a new line of the target modules (a debug hook) joins the working corpus.
-- A clean outcome is success or an error raised on purpose (error(msg, 0): no Lua file
-- position in it); an error with a position is a bug in the parser (e.g. "attempt to
-- index a nil value"), saved to FINDINGS_DIR. Exit status 1 when something was found.
package.path = './?.lua;' .. package.path
local ffi = require 'ffi'
local fathom = require 'fathom'
local st = require 'fathom.safetensors'
local json = require 'fathom.json'
local ck = require 'fathom.checkpoint'
local nn = require 'fathom.nn'
local t7 = require 'fathom.t7'

local target, corpus_dir, seconds, findings = arg[1], arg[2], tonumber(arg[3] or '10'), arg[4]
local TARGETS = { safetensors = true, checkpoint = true, t7 = true }
if not TARGETS[target] or not corpus_dir then
  io.stderr:write('usage: luajit fuzz/lua_fuzz.lua safetensors|checkpoint|t7 CORPUS_DIR SECONDS [FINDINGS_DIR]\n')
  os.exit(2)
end

local function read(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end
local function write(path, s)
  local f = assert(io.open(path, 'wb'))
  f:write(s)
  f:close()
end

local corpus = {}
local p = io.popen("ls '" .. corpus_dir .. "'")
for name in p:lines() do corpus[#corpus + 1] = read(corpus_dir .. '/' .. name) end
p:close()
assert(#corpus > 0, 'empty corpus ' .. corpus_dir)
local nseeds = #corpus

local work = os.tmpname()
os.remove(work)
os.execute("mkdir -p '" .. work .. "'")

-- The model and files a checkpoint names: the JSON is fuzzed, the tensor files are real.
local function small_model()
  return nn.Sequential():add(nn.Linear(4, 3)):add(nn.ReLU()):add(nn.Linear(3, 2))
end
if target == 'checkpoint' then
  ck.save(work, { model = small_model(), optimState = { dfdx = fathom.FloatTensor(23):fill(0.5),
                  learningRate = 0.1 }, epoch = 1, iteration = 4, info = { note = 'seed' } })
end

local run
if target == 'safetensors' then
  local path = work .. '/x.safetensors'
  run = function(input)
    write(path, input)
    local tensors = st.read(path)
    for _, t in pairs(tensors) do if fathom.isTensor(t) then t:sum() end end
  end
elseif target == 't7' then
  -- every tensor of what was loaded is summed (its view of the storage is read)
  local function walk(v, seen)
    if fathom.isTensor(v) then v:sum() return end
    if type(v) ~= 'table' or seen[v] then return end
    seen[v] = true
    for k, x in pairs(v) do walk(k, seen) walk(x, seen) end
  end
  run = function(input)
    walk(t7.deserialize(input), {}) -- the format guessed from the first bytes, as torch.load does
  end
else
  local path = work .. '/latest.json'
  run = function(input)
    pcall(json.decode, input, 'input') -- the bare decoder first
    write(path, input)
    local info, weights, optim = ck.load(work)
    local model, optimState = small_model(), {}
    ck.restore(model, optimState, weights, optim, info)
  end
end

-- line coverage of the modules under test
local covered, ncovered, fresh = {}, 0, false
local watched = { ['fathom/safetensors.lua'] = true, ['fathom/json.lua'] = true,
                  ['fathom/checkpoint.lua'] = true, ['fathom/t7.lua'] = true }
local function hook(_, line)
  local src = debug.getinfo(2, 'S').source
  local short = src:match('(fathom/[%w_]+%.lua)$')
  if short and watched[short] then
    local key = short .. ':' .. line
    if not covered[key] then covered[key], ncovered, fresh = true, ncovered + 1, true end
  end
end

local INTERESTING = { '\0', '\255', '\127', '\128', '"', '{', '}', '[', ']', ',', ':', '\\', '9', '-' }
local NUMBERS = { '0', '-1', '1e999', '-1e999', '18446744073709551616', '9007199254740993',
                  '4294967296', '2147483648', '1.5', 'NaN', '-0', '1e-400', '99999999999999999999' }
local function mutate(s)
  local n = math.random(1, 8)
  for _ = 1, n do
    local len, k = #s, math.random(1, 8)
    local i = len > 0 and math.random(1, len) or 1
    if k == 1 and len > 0 then -- flip a bit
      local b = s:byte(i)
      s = s:sub(1, i - 1) .. string.char(bit.bxor(b, bit.lshift(1, math.random(0, 7)))) .. s:sub(i + 1)
    elseif k == 2 and len > 0 then -- an interesting byte
      s = s:sub(1, i - 1) .. INTERESTING[math.random(#INTERESTING)] .. s:sub(i + 1)
    elseif k == 3 then -- insert random bytes
      local r = {}
      for j = 1, math.random(1, 8) do r[j] = string.char(math.random(0, 255)) end
      s = s:sub(1, i - 1) .. table.concat(r) .. s:sub(i)
    elseif k == 4 and len > 1 then -- delete a range
      s = s:sub(1, i - 1) .. s:sub(i + math.random(1, math.min(64, len - i + 1)))
    elseif k == 5 and len > 1 then -- copy a range elsewhere
      local j, m = math.random(1, len), math.random(1, math.min(32, len))
      s = s:sub(1, i - 1) .. s:sub(j, j + m - 1) .. s:sub(i)
    elseif k == 6 then -- replace a number by an interesting one
      local a, b = s:find('%-?%d+%.?%d*', i)
      if a then s = s:sub(1, a - 1) .. NUMBERS[math.random(#NUMBERS)] .. s:sub(b + 1) end
    elseif k == 7 then -- splice with another input
      local o = corpus[math.random(#corpus)]
      s = s:sub(1, i) .. o:sub(math.random(1, math.max(1, #o)))
    elseif k == 8 and len > 0 then -- truncate
      s = s:sub(1, i)
    end
  end
  return s
end

local function clean(msg)
  return type(msg) == 'string' and not msg:find('%.lua:%d+:') and not msg:find('not enough memory')
end

local seed = tonumber(os.getenv('FUZZ_SEED') or '') or os.time()
math.randomseed(seed)
local t_end, execs, found, started = os.time() + seconds, 0, 0, os.clock()
debug.sethook(hook, 'l')
for _, s in ipairs(corpus) do pcall(run, s) end
local base = ncovered
while os.time() < t_end do
  for _ = 1, 50 do
    local input = mutate(corpus[math.random(#corpus)])
    fresh = false
    local ok, err = pcall(run, input)
    execs = execs + 1
    if fresh then corpus[#corpus + 1] = input end
    if not ok and not clean(err) then
      found = found + 1
      debug.sethook()
      io.stderr:write(('lua_fuzz %s: finding %d: %s\n'):format(target, found, tostring(err)))
      if findings then
        os.execute("mkdir -p '" .. findings .. "'")
        write(('%s/%s-%d-%d'):format(findings, target, seed, execs), input)
      end
      debug.sethook(hook, 'l')
    end
    collectgarbage('step', 200)
  end
end
debug.sethook()
os.execute("rm -rf '" .. work .. "'")
print(('lua_fuzz %s: %d execs in %ds (%.0f/s), seed %d, corpus %d -> %d inputs, %d lines covered ' ..
       '(%d from the seeds), %d findings'):format(target, execs, seconds, execs / seconds, seed,
       nseeds, #corpus, ncovered, base, found))
os.exit(found > 0 and 1 or 0)
