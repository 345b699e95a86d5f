-- spec/helpers/runoutcome.lua -- what a training run leaves that must not depend on how it
-- was run (interrupted and resumed, or on several processes): summary.json and log.jsonl
-- with timings and paths dropped, and the bytes of its tensor files.
--   local outcome = require('runoutcome').outcome
--   outcome(dir)                                      -- model_*.safetensors only
--   outcome(dir, { optim = true, timing = { 'allReduceTime' } })
local json = require 'fathom.json'
local files = require 'datafiles'

local M = {}

local TIMING = { 'time', 'evalTime', 'imagesPerSec', 'meanEpochTime', 'trainTime' }

local function strip(v, drop)
  if type(v) ~= 'table' then return v end
  local out = {}
  for k, x in pairs(v) do if not drop[k] then out[k] = strip(x, drop) end end
  return out
end

-- opts.optim: also the optim_*.safetensors files; opts.timing: more keys to drop.
function M.outcome(dir, opts)
  opts = opts or {}
  local drop = { save = true, resume = true }
  for _, k in ipairs(TIMING) do drop[k] = true end
  for _, k in ipairs(opts.timing or {}) do drop[k] = true end
  local r = { summary = strip(json.read(dir .. '/summary.json'), drop), log = {}, weights = {} }
  for line in io.lines(dir .. '/log.jsonl') do r.log[#r.log + 1] = strip(json.decode(line), drop) end
  local p = io.popen("ls '" .. dir .. "'")
  for name in p:lines() do
    if name:match('^model_.*%.safetensors$') or (opts.optim and name:match('^optim_.*%.safetensors$')) then
      r.weights[name] = files.read(dir .. '/' .. name)
    end
  end
  p:close()
  return r
end

return M
