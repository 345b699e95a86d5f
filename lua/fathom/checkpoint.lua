-- fathom/checkpoint.lua -- save and restore a training run, atomically and without
-- executing anything on load.
-- A checkpoint in a run directory DIR is three files:
--   DIR/model_<tag>.safetensors   every parameter and BN running statistic, with stable
--                                 names (module path + field), readable by other frameworks
--   DIR/optim_<tag>.safetensors   the optimizer's tensors (momentum buffer)
--   DIR/latest.json               epoch, iteration, best validation so far, generator
--                                 states, loader state, the log, and the two file names
-- Each is written as X.tmp, flushed to disk, closed, renamed over X. latest.json goes last
-- and names the tensor files, so a crash at any point leaves the previous checkpoint whole;
-- the previous tensor files are deleted only after the new latest.json is in place.
local fathom = require 'fathom'
local json = require 'fathom.json'
local st = require 'fathom.safetensors'
local fault = require 'fathom.fault'

local ck = {}
ck.FORMAT = 'fathom-checkpoint'
ck.VERSION = 1

---------------------------------------------------------------------------- files
local function exists(path)
  local f = io.open(path, 'rb')
  if f then f:close() return true end
  return false
end
ck.exists = exists

-- Write `path` atomically: writer(tmp) must write and close tmp; then rename.
-- On failure the tmp file is removed and `path` (if it existed) is untouched.
function ck.atomicWrite(path, writer)
  local tmp = path .. '.tmp'
  local ok, err = pcall(writer, tmp)
  fault.point('written ' .. tmp)
  if ok then
    local renamed, rerr = os.rename(tmp, path)
    if not renamed then ok, err = false, ('cannot rename %s to %s: %s'):format(tmp, path, tostring(rerr)) end
  end
  if not ok then
    os.remove(tmp)
    error(err, 0)
  end
  fault.point('renamed ' .. path)
end

function ck.writeText(path, text)
  ck.atomicWrite(path, function(tmp)
    local f = st.open(tmp, 'wb')
    local ok, err = pcall(f.write, f, text)
    if not ok then f:close() error(err, 0) end
    f:sync_close()
  end)
end

function ck.mkdir(dir)
  if dir == '' then return end
  local ok = os.execute(("mkdir -p '%s'"):format(dir:gsub("'", "'\\''")))
  if ok ~= 0 and ok ~= true then error('cannot create directory ' .. dir, 0) end
end

---------------------------------------------------------------------------- names
local function is_module(x)
  return type(x) == 'table' and type(x.forward) == 'function' and type(x.parameters) == 'function'
end

local function same(a, b)
  return a.p.storage == b.p.storage and a.p.offset == b.p.offset and a:nElement() == b:nElement()
end

-- The tensors a module keeps in its own fields, named: `weight`, or `convWeight.2` for a
-- plain table of tensors (ResidualDrop keeps one per stage of its branch).
local function tensor_fields(m)
  local list = {}
  for k, v in pairs(m) do
    if type(k) == 'string' and k ~= 'output' and k ~= 'gradInput' then
      if fathom.isTensor(v) then
        list[#list + 1] = { k, v }
      elseif type(v) == 'table' and getmetatable(v) == nil and k ~= 'modules' then
        for i, t in pairs(v) do
          if type(i) == 'number' and fathom.isTensor(t) then list[#list + 1] = { k .. '.' .. i, t } end
        end
      end
    end
  end
  table.sort(list, function(a, b) return a[1] < b[1] end)
  return list
end

-- The children of a module, in order: `modules`, then fields holding modules (by key).
local function children_of(m)
  local children = {}
  if type(m.modules) == 'table' then
    for i, child in ipairs(m.modules) do
      if is_module(child) then children[#children + 1] = { tostring(i), child } end
    end
  end
  local keys = {}
  for k, v in pairs(m) do
    if type(k) == 'string' and k ~= 'modules' and is_module(v) then keys[#keys + 1] = k end
  end
  table.sort(keys)
  for _, k in ipairs(keys) do children[#children + 1] = { k, m[k] } end
  return children
end

-- Visit every module once, depth first, with its path prefix ("4.", "4.branch.").
local function walk_modules(model, visit)
  local seen = {}
  local function walk(m, prefix)
    if seen[m] then return end
    seen[m] = true
    local children = children_of(m)
    visit(m, prefix, children)
    for _, c in ipairs(children) do walk(c[2], prefix .. c[1] .. '.') end
  end
  walk(model, '')
end

-- Generators kept by modules (a `generator` field holding an ft_generator), named by
-- module path like tensors, so a run whose blocks draw from their own streams resumes.
function ck.namedGenerators(model)
  local ffi = require 'ffi'
  local list = {}
  walk_modules(model, function(m, prefix)
    local g = rawget(m, 'generator')
    if g ~= nil and type(g) == 'cdata' and (ffi.istype('ft_generator', g) or ffi.istype('ft_generator*', g)) then
      list[#list + 1] = { prefix .. 'generator', g }
    end
  end)
  return list
end

-- Every saved tensor of `model` as an ordered list of {name, tensor}: each module's
-- parameters (its parameters(), for a module without children; `weight` and `bias`
-- otherwise) then its buffers (fields whose name starts with "running": BN statistics).
-- Names are the path of module indices and field names from the root
-- ("4.convWeight.1", "58.weight"): stable as long as the architecture is. Children come
-- from `modules` (in order), then from fields holding modules (sorted by key).
function ck.namedTensors(model)
  local entries = {}
  walk_modules(model, function(m, prefix, children)
    local fields = tensor_fields(m)
    local params = {}
    if #children == 0 then params = m:parameters() or {}
    else
      for _, k in ipairs({ 'weight', 'bias' }) do
        if fathom.isTensor(rawget(m, k)) then params[#params + 1] = m[k] end
      end
    end
    for i, p in ipairs(params) do
      local name
      for _, f in ipairs(fields) do if same(f[2], p) then name = f[1] break end end
      if not name then
        error(('checkpoint: parameter %d of %s (%s) is not kept in a field of the module, so it cannot be named')
          :format(i, tostring(m.__typename or m), table.concat(p:size():totable(), 'x')), 0)
      end
      entries[#entries + 1] = { prefix .. name, p }
    end
    for _, f in ipairs(fields) do
      if f[1]:match('^running') and f[2]:nElement() > 0 then entries[#entries + 1] = { prefix .. f[1], f[2] } end
    end
  end)
  return entries
end

-- Check the names cover every parameter of the model exactly once.
local function check_coverage(model, entries)
  local params = model:parameters() or {}
  for i, p in ipairs(params) do
    local found = false
    for _, e in ipairs(entries) do if same(e[2], p) then found = true break end end
    if not found then
      error(('checkpoint: parameter %d of the model (%s) was not found while naming the modules')
        :format(i, table.concat(p:size():totable(), 'x')), 0)
    end
  end
end

---------------------------------------------------------------------------- weights
-- Weights alone, as one safetensors file (what -retrain reads, and other frameworks).
function ck.saveWeights(path, model, metadata)
  local entries = ck.namedTensors(model)
  check_coverage(model, entries)
  local meta = { format = 'pt', producer = 'fathom' }
  for k, v in pairs(metadata or {}) do meta[k] = tostring(v) end
  ck.atomicWrite(path, function(tmp) st.write(tmp, entries, meta) end)
end

-- Copy named tensors (a map, or a path to a safetensors file) into the model. Every
-- tensor of the model must be present with the same shape; extra names are an error too.
function ck.loadWeights(model, source)
  local tensors, where = source, 'weights'
  if type(source) == 'string' then tensors, where = st.read(source), source end
  local entries = ck.namedTensors(model)
  local used, problems = {}, {}
  for _, e in ipairs(entries) do
    local name, dst = e[1], e[2]
    local src = tensors[name]
    if not src then
      problems[#problems + 1] = 'missing ' .. name
    elseif src:nElement() ~= dst:nElement() or not src:isSameSizeAs(dst) then
      problems[#problems + 1] = ('%s has shape %s, the model needs %s'):format(name,
        table.concat(src:size():totable(), 'x'), table.concat(dst:size():totable(), 'x'))
    elseif src:dtype() ~= dst:dtype() then -- never converted silently
      problems[#problems + 1] = ('%s is %s, the model needs %s'):format(name, src:dtype(), dst:dtype())
    end
    used[name] = true
  end
  for name in pairs(tensors) do
    if not used[name] then problems[#problems + 1] = 'unexpected ' .. name end
  end
  if #problems > 0 then
    table.sort(problems)
    local shown = { unpack(problems, 1, math.min(#problems, 8)) }
    error(('%s does not fit this model (%d problems): %s%s'):format(where, #problems,
      table.concat(shown, '; '), #problems > 8 and '; ...' or ''), 0)
  end
  for _, e in ipairs(entries) do e[2]:copy(tensors[e[1]]) end
end

---------------------------------------------------------------------------- runs
-- Optimizer state: tensors go to safetensors, scalars to the JSON.
local function split_optim(optimState)
  local tensors, scalars = {}, {}
  local keys = {}
  for k in pairs(optimState or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = optimState[k]
    if fathom.isTensor(v) then tensors[#tensors + 1] = { k, v }
    elseif type(v) == 'number' or type(v) == 'boolean' or type(v) == 'string' then scalars[k] = v end
  end
  return tensors, scalars
end

-- Save a checkpoint of a run into dir.
--   state.model, state.optimState (tensors and scalars), state.epoch, state.iteration,
--   state.info: any JSON-encodable table (rng, loader, log, best, opt, ...).
function ck.save(dir, state)
  local tag = ('e%04d_i%08d'):format(state.epoch or 0, state.iteration or 0)
  local weights, optimFile = 'model_' .. tag .. '.safetensors', 'optim_' .. tag .. '.safetensors'
  local previous = exists(dir .. '/latest.json') and ck.readInfo(dir, true) or nil

  local entries = ck.namedTensors(state.model)
  check_coverage(state.model, entries)
  local meta = { format = 'pt', producer = 'fathom', epoch = tostring(state.epoch or 0),
                 iteration = tostring(state.iteration or 0) }
  local kept = {} -- files the previous checkpoint names: never removed on failure
  if previous then kept[previous.weights], kept[previous.optim] = true, true end
  local written = {}
  local ok, err = pcall(function()
    ck.atomicWrite(dir .. '/' .. weights, function(tmp) st.write(tmp, entries, meta) end)
    written[#written + 1] = weights
    local otensors, oscalars = split_optim(state.optimState)
    ck.atomicWrite(dir .. '/' .. optimFile, function(tmp) st.write(tmp, otensors, { producer = 'fathom' }) end)
    written[#written + 1] = optimFile

    local info = {}
    for k, v in pairs(state.info or {}) do info[k] = v end
    info.format, info.version = ck.FORMAT, ck.VERSION
    info.epoch, info.iteration = state.epoch or 0, state.iteration or 0
    info.weights, info.optim, info.optimScalars = weights, optimFile, oscalars
    fault.point('before latest.json')
    ck.writeText(dir .. '/latest.json', json.encode(info, { indent = 1 }) .. '\n')
  end)
  if not ok then -- no orphan tensor files: the previous checkpoint stays the whole one
    for _, f in ipairs(written) do if not kept[f] then os.remove(dir .. '/' .. f) end end
    error(err, 0)
  end

  ck.prune(dir, { weights = weights, optim = optimFile }) -- the new checkpoint is complete
  return dir .. '/' .. weights
end

-- Drop every tensor file of a checkpoint older than info's (not only the previous one's:
-- a run killed before this point left its predecessor's behind). Only a writer calls it,
-- once its latest.json is in place (a reader could race a writer's new files).
function ck.prune(dir, info)
  for _, e in ipairs(require('fathom.data.fs').list(dir) or {}) do
    local f = e.name
    if f ~= info.weights and f ~= info.optim and (f:match('^model_e%d+_i%d+%.safetensors$') or
                                                  f:match('^optim_e%d+_i%d+%.safetensors$')) then
      os.remove(dir .. '/' .. f)
      fault.point('old ' .. f .. ' removed')
    end
  end
end

-- latest.json of dir, decoded and checked. quiet: return nil instead of failing.
function ck.readInfo(dir, quiet)
  local path = dir .. '/latest.json'
  local ok, info = pcall(function()
    if not exists(path) then error(('no checkpoint in %s (%s is missing)'):format(dir, path), 0) end
    local f = assert(io.open(path, 'rb'))
    local text = f:read('*a')
    f:close()
    local ok2, v = pcall(json.decode, text, path)
    if not ok2 then error(('checkpoint %s is corrupt or truncated: %s'):format(path, v), 0) end
    if type(v) ~= 'table' or v.format ~= ck.FORMAT then
      error(('%s is not a Fathom checkpoint (format field is %s)'):format(path, tostring(type(v) == 'table' and v.format)), 0)
    end
    if v.version ~= ck.VERSION then
      error(('%s has checkpoint version %s; this Fathom reads version %d'):format(path, tostring(v.version), ck.VERSION), 0)
    end
    for _, k in ipairs({ 'weights', 'optim' }) do
      if type(v[k]) ~= 'string' or not v[k]:match('^[%w_%.]+$') then
        error(('%s: field %s must name a file in the run directory'):format(path, k), 0)
      end
    end
    return v
  end)
  if not ok then
    if quiet then return nil end
    error(info, 0)
  end
  return info
end

-- Load the latest checkpoint of dir: info (the JSON), weights (name -> tensor),
-- optim tensors (name -> tensor). Nothing is applied to a model here. info: latest.json
-- as readInfo already returned it (so that a resume reads it once).
function ck.load(dir, info)
  info = info or ck.readInfo(dir)
  local weights = st.read(dir .. '/' .. info.weights)
  local optimTensors = st.read(dir .. '/' .. info.optim)
  return info, weights, optimTensors
end

---------------------------------------------------------------------------- checks
-- A checkpoint is untrusted input: every field is checked against what it restores, and
-- a refusal names the file and the field.
local function refuse(path, field, fmt, ...)
  error(('%s: field %s %s'):format(path, field, fmt:format(...)), 0)
end
ck.refuse = refuse

-- A non-negative integer that a double holds exactly.
function ck.checkCount(path, field, v)
  if type(v) ~= 'number' or v ~= v or v < 0 or v ~= math.floor(v) or v > 2^53 then
    refuse(path, field, 'must be a non-negative integer, got %s', tostring(v))
  end
  return v
end

-- A generator state { seed = "<decimal>", counter = "<decimal>" }, each below 2^64.
function ck.checkRNGState(path, field, s)
  if type(s) ~= 'table' then refuse(path, field, 'must be a generator state {seed, counter}, got %s', type(s)) end
  for _, k in ipairs({ 'seed', 'counter' }) do
    local v = s[k]
    local ok = type(v) == 'string' and v:match('^%d+$') and (#v < 20 or (#v == 20 and v <= '18446744073709551615'))
    if not ok then refuse(path, field .. '.' .. k, 'must be a decimal integer below 2^64, got %s', tostring(v)) end
  end
  return s
end

-- The optimizer's scalars: the types its fields need.
local SCALAR_KINDS = { learningRate = 'number', learningRateDecay = 'number', momentum = 'number',
                       dampening = 'number', weightDecay = 'number', nesterov = 'boolean', evalCounter = 'number' }
function ck.checkOptim(path, optimScalars, optimTensors, params)
  if type(optimScalars) ~= 'table' then refuse(path, 'optimScalars', 'must be a table, got %s', type(optimScalars)) end
  for k, v in pairs(optimScalars) do
    local kind = SCALAR_KINDS[k]
    if not kind then refuse(path, 'optimScalars.' .. tostring(k), 'is not an optimizer setting') end
    if type(v) ~= kind or (kind == 'number' and (v ~= v or v == math.huge or v == -math.huge)) then
      refuse(path, 'optimScalars.' .. k, 'must be a finite %s, got %s', kind, tostring(v))
    end
  end
  for k, t in pairs(optimTensors) do
    if params and (t:dtype() ~= params:dtype() or not t:isSameSizeAs(params)) then
      refuse(path, k, 'is %s of %s elements; the optimizer needs %s of %d (the flattened parameters)',
             t:dtype(), table.concat(t:size():totable(), 'x'), params:dtype(), params:nElement())
    end
    if t:ne(t):sum() ~= 0 or t:double():abs():max() == math.huge then refuse(path, k, 'holds non-finite values') end
  end
end

-- Put a loaded checkpoint back: weights into the model, tensors and scalars into
-- optimState (tensors are copied into existing ones of the same shape when present).
function ck.restore(model, optimState, weights, optimTensors, info, params, where)
  where = where or 'checkpoint'
  ck.checkOptim(where, info.optimScalars or {}, optimTensors, params)
  ck.loadWeights(model, weights)
  for k, v in pairs(info.optimScalars or {}) do optimState[k] = v end
  for k, t in pairs(optimTensors) do
    local cur = optimState[k]
    if fathom.isTensor(cur) and cur:isSameSizeAs(t) and cur:type() == t:type() then cur:copy(t)
    else optimState[k] = t end
  end
end

return ck
