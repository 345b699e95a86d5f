-- fathom/lr.lua -- learning-rate schedules: functions (epoch, iteration, opt) -> LR, each
-- with a sentence saying what it does, for the start-of-run report.
--   lr.step({250, 375}, 0.1)           LR x 0.1 from epoch 250, x 0.01 from 375
--   lr.fraction({0.5, 0.75})           the same milestones as fractions of -nEpochs
--   lr.warmup(10, 0.01, {150, 225})    0.01 for epochs 1..10, then the step schedule
--   lr.fromOptions(opt, default)       -lrMilestones / -lrFactor / -warmupEpochs / -warmupLR
--                                      when given, else the recipe's default schedule
local lr = {}

-- Step schedule: LR times factor for every milestone epoch reached. "/10 at 250" means
-- epochs 250 and later use LR/10, as the authors' code (epoch < 250 -> 0.1).
function lr.step(milestones, factor)
  factor = factor or 0.1
  return function(epoch, iteration, opt)
    local r = opt.LR
    for _, m in ipairs(milestones) do if epoch >= m then r = r * factor end end
    return r
  end
end

-- The authors' form: milestones as fractions of -nEpochs (their code: epoch < 0.5 * max
-- -> 0.1, < 0.75 * max -> 0.01), so a shortened run keeps the shape of the schedule.
-- Epoch 1 always runs at the full LR (a 1-epoch look would otherwise start at LR/100).
function lr.fractionEpochs(fractions, nEpochs)
  local e = {}
  for i, f in ipairs(fractions) do e[i] = math.max(2, math.ceil(f * nEpochs - 1e-9)) end
  return e
end
function lr.fraction(fractions, factor)
  return function(epoch, iteration, opt)
    return lr.step(lr.fractionEpochs(fractions, opt.nEpochs), factor)(epoch, iteration, opt)
  end
end

-- "x0.1 from epoch 250, x0.01 from epoch 375" for the milestones within the run; equal
-- milestones (a short run) are one drop by the product of the factors.
function lr.stepText(milestones, factor, nEpochs)
  factor = factor or 0.1
  local drops, order = {}, {}
  for _, m in ipairs(milestones) do
    if m <= nEpochs then
      if not drops[m] then order[#order + 1] = m end
      drops[m] = (drops[m] or 1) * factor
    end
  end
  table.sort(order)
  if #order == 0 then return ('constant within the %d epoch(s) (no milestone reached)'):format(nEpochs) end
  local parts, total = {}, 1
  for _, m in ipairs(order) do
    total = total * drops[m]
    parts[#parts + 1] = ('x%g from epoch %d'):format(total, m)
  end
  return table.concat(parts, ', ')
end
function lr.fractionText(fractions, opt, factor)
  local pct = {}
  for i, f in ipairs(fractions) do pct[i] = ('%g%%'):format(100 * f) end
  return ('%s (milestones at %s of the %d epochs)'):format(
    lr.stepText(lr.fractionEpochs(fractions, opt.nEpochs), factor, opt.nEpochs), table.concat(pct, ' and '), opt.nEpochs)
end

-- Warm-up: warmLR for epochs 1..warmEpochs, then the step schedule (1202-layer net).
function lr.warmup(warmEpochs, warmLR, milestones, factor)
  local step = lr.step(milestones, factor)
  return function(epoch, iteration, opt)
    if epoch <= warmEpochs then return warmLR end
    return step(epoch, iteration, opt)
  end
end

-- "250,375" -> {250, 375}; nil for ''. fail(fmt, ...) reports a bad list.
function lr.parseMilestones(s, fail)
  if s == nil or s == '' then return nil end
  local list = {}
  for item in s:gmatch('[^,]+') do
    local v = tonumber(item)
    if not v or v ~= math.floor(v) or v < 1 or v > 1e6 then
      fail('option -lrMilestones: %q is not an epoch number (give e.g. -lrMilestones 250,375)', item)
    end
    list[#list + 1] = v
  end
  if #list == 0 then fail('option -lrMilestones is empty (give e.g. -lrMilestones 250,375)') end
  return list
end

-- The schedule and its description: the command line's when -lrMilestones or
-- -warmupEpochs is given, else the recipe's (default, defaultText(opt)).
function lr.fromOptions(opt, default, defaultText)
  local milestones = opt.lrMilestoneList
  if not milestones and (opt.warmupEpochs or 0) == 0 then
    local text = type(defaultText) == 'function' and defaultText(opt) or defaultText or 'constant LR'
    return default or function(_, _, o) return o.LR end, text
  end
  milestones = milestones or {}
  local factor = opt.lrFactor or 0.1
  local text = lr.stepText(milestones, factor, opt.nEpochs)
  if (opt.warmupEpochs or 0) > 0 then
    local w = opt.warmupLR > 0 and opt.warmupLR or opt.LR * 0.1
    return lr.warmup(opt.warmupEpochs, w, milestones, factor),
           ('LR %g for epochs 1-%d (warm-up), then %g, %s'):format(w, opt.warmupEpochs, opt.LR, text)
  end
  return lr.step(milestones, factor), text
end

return lr
