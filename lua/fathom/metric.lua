-- fathom/metric.lua -- what a run measures: the paper's metric (the test error at the
-- evaluation with the lowest validation error so far, the first such on ties), the
-- active blocks of a stochastic-depth step, and the summary of a run.
local fathom = require 'fathom'
local metric = {}

-- evals: list of { valErr = , testErr = , epoch = , iteration = }. Returns the one with
-- the lowest validation error (the first of equals), or nil when none has one.
function metric.bestValidation(evals)
  local best
  for _, e in ipairs(evals) do
    if type(e.valErr) == 'number' and e.valErr == e.valErr and (not best or e.valErr < best.valErr) then
      best = e
    end
  end
  return best
end

-- Active blocks of the last training forward (gate: 1/0 per batch, or per-sample bytes).
function metric.activeBlocks(blocks)
  local n = 0
  for _, b in ipairs(blocks) do
    local g = b.gate
    if type(g) == 'number' then n = n + g
    elseif type(g) == 'boolean' then n = n + (g and 1 or 0)
    elseif fathom.isTensor(g) and g:nElement() > 0 then n = n + g:sum() / g:nElement()
    else n = n + 1 end
  end
  return n
end

-- The summary of a run from its records and evaluations.
function metric.summarize(run)
  local best = metric.bestValidation(run.evals)
  local times, active, nact = 0, 0, 0
  for _, r in ipairs(run.records) do
    times = times + (r.time or 0)
    if r.activeBlocks then active, nact = active + r.activeBlocks, nact + 1 end
  end
  local last, nb = run.records[#run.records] or {}, #run.blocks
  return {
    epochs = run.epoch, iterations = run.iteration,
    testErrAtBestVal = best and best.testErr, bestValErr = best and best.valErr,
    bestEpoch = best and best.epoch, bestIteration = best and best.iteration,
    testTop5AtBestVal = best and best.testTop5, bestValTop5 = best and best.valTop5,
    finalTestErr = last.testErr, finalValErr = last.valErr, finalTrainErr = last.trainErr,
    meanEpochTime = #run.records > 0 and times / #run.records or nil, trainTime = times,
    nBlocks = nb, expectedActiveBlocks = nb > 0 and run.expectedActive or nil,
    meanActiveBlocks = nact > 0 and active / nact or nil, nParams = run.params:nElement(),
  }
end

return metric
