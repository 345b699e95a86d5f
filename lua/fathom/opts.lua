-- fathom/opts.lua -- command-line options of the training recipes, in the style of
-- fb.resnet.torch's opts.lua: one table of options with types, defaults and help; each
-- recipe supplies its own defaults (and may add options of its own).
--   local opt, given = opts.parse(arg, recipe)    -- raises an opts.UsageError
--   local opt = opts.parseOrExit(arg, recipe)     -- prints the message, exits non-zero
-- `given` is the set of option names that appeared on the command line (resume uses it:
-- the saved options are kept except those given again).
-- Syntax: -name value, -name=value, --name value; a boolean alone (-augment) means true,
-- or takes true/false/1/0 (-augment false).
local opts = {}

-- kind: 'int' | 'number' | 'string' | 'bool' | a list of choices.
opts.OPTIONS = {
  { group = 'Data' },
  { 'dataset', { 'cifar10', 'cifar100', 'svhn', 'imagenet' }, 'cifar10', 'which data set' },
  { 'data', 'string', '', 'data directory (default: $FATHOM_DATA, else the cache folder fathom.data uses)' },
  { 'split', { 'seeded', 'torch7' }, 'seeded', 'validation split: our seeded permutation, or Torch7 MT19937 randperm (the authors\')' },
  { 'splitSeed', 'int', 1, 'seed of the validation split' },
  { 'preprocess', { 'pixel', 'channel' }, 'pixel', 'pixel: per-pixel mean, one global std (the authors\'); channel: per-channel mean/std (fb.resnet.torch)' },
  { 'augment', 'bool', true, 'random 4-pixel translation (zero fill) and horizontal flip' },
  { 'trainSubset', 'int', 0, 'train on the first N images of the training split only (0: all)' },
  { 'nThreads', 'int', 2, 'data loading threads' },
  { group = 'Model' },
  { 'depth', 'int', 110, 'ResNet depth (CIFAR/SVHN: 6n+2; ImageNet: 18, 34, 50, 101, 152)' },
  { 'pL', 'number', 0.5, 'survival probability of the last block (1 = constant depth, the baseline)' },
  { 'deathRate', 'number', nil, '1 - pL (the authors\' name for it); give one of -pL, -deathRate' },
  { 'deathMode', { 'lin_decay', 'uniform' }, 'lin_decay', 'survival schedule: linear decay to pL, or pL for every block' },
  { 'gate', { 'batch', 'row' }, 'batch', 'one Bernoulli draw per block per mini-batch (the paper), or per sample' },
  { 'testScaling', { 'scale', 'inverted' }, 'scale', 'scale: multiply branches by p_l at test (paper eq. 5); inverted: divide by p_l in training' },
  { 'shortcut', { 'avg', 'subsample' }, 'avg', 'transitional shortcut: 2x2 average pooling, or 1x1 stride-2 subsampling' },
  { group = 'Training' },
  { 'nEpochs', 'int', 500, 'number of epochs' },
  { 'batchSize', 'int', 128, 'mini-batch size' },
  { 'LR', 'number', 0.1, 'initial learning rate (the recipe\'s schedule scales it)' },
  { 'momentum', 'number', 0.9, 'SGD momentum' },
  { 'weightDecay', 'number', 1e-4, 'weight decay, on every parameter' },
  { 'nesterov', 'bool', true, 'Nesterov momentum (dampening 0)' },
  { 'lrMilestones', 'string', '', 'LR schedule: epochs at which the LR is multiplied by -lrFactor, e.g. 250,375 (default: the recipe\'s)' },
  { 'lrFactor', 'number', 0.1, 'LR factor at each of -lrMilestones' },
  { 'warmupEpochs', 'int', 0, 'run the first N epochs at -warmupLR, then the schedule' },
  { 'warmupLR', 'number', 0, 'LR of the warm-up epochs (0: LR/10)' },
  { 'maxIters', 'int', 0, 'at most N training iterations per epoch, for a quick look (0: whole epochs)' },
  { 'maxEvalIters', 'int', 0, 'at most N batches of validation and of test per evaluation, for a quick look (0: all)' },
  { 'evalEvery', 'int', 1, 'validate and test every N epochs (the last epoch always)' },
  { 'evalEveryIters', 'int', 0, 'also validate and test every N iterations (SVHN: 200; 0: off)' },
  { 'manualSeed', 'int', 31415, 'seed of weights, gates, shuffling and augmentation' },
  { 'backend', { 'cpu', 'cuda' }, 'cpu', 'compute backend' },
  { 'computeThreads', 'int', 0, 'threads of the compute kernels (0: library default)' },
  { 'distributed', { 'none', 'mpi' }, 'none', 'mpi: one model on the K processes of mpirun -np K (-batchSize stays the global batch)' },
  { 'syncBN', 'bool', false, 'with -distributed mpi: batch norm statistics over the global batch, not per process' },
  { 'distTimeout', 'number', 300, 'with -distributed mpi: seconds a process waits for the others before the job ends' },
  { group = 'Checkpoints and output' },
  { 'save', 'string', '', 'run directory: log.jsonl, summary.json, checkpoints, plots (default: runs/<recipe>_d<depth>_pL<pL>)' },
  { 'checkpointEvery', 'int', 0, 'also write a checkpoint every N iterations (0: at the end of each epoch only)' },
  { 'testOnly', 'bool', false, 'with -retrain FILE or -resume DIR: print validation and test error, train nothing' },
  { 'resume', 'string', '', 'continue the run in this directory from its latest checkpoint' },
  { 'retrain', 'string', '', 'initialise the weights from this .safetensors file' },
  { 'logIters', 'int', 0, 'also log one JSON line every N iterations (0: per epoch only)' },
  { 'printEvery', 'int', 50, 'when stdout is not a terminal, print a progress line every N iterations' },
  { 'plot', 'bool', true, 'write error-curve PNGs into the run directory' },
  { 'baseline', 'string', '', 'run directory of a baseline (-pL 1) run: report the measured speed-up against it' },
  { 'verbose', 'bool', false, 'print more at the start (the BLAS kernels in use)' },
  { 'help', 'bool', false, 'print this help and exit (also -h, --help)' },
}

-- A user error (bad option): main() prints its message without a traceback.
local UsageError = {}
UsageError.__index = UsageError
UsageError.__tostring = function(e) return e.message end
opts.UsageError = UsageError
function opts.usageError(message)
  return setmetatable({ message = message, usage = true }, UsageError)
end
function opts.isUsageError(e) return getmetatable(e) == UsageError end
local function fail(fmt, ...) error(opts.usageError(fmt:format(...)), 0) end

-- The option table of a recipe: the common options, the recipe's extra ones, the
-- recipe's defaults. Returns a list (help order) and a map by name.
local function spec_of(recipe)
  recipe = recipe or {}
  local list, byName = {}, {}
  local function add(o)
    if o.group then list[#list + 1] = o return end
    local e = { name = o[1], kind = o[2], default = o[3], help = o[4] }
    if recipe.defaults and recipe.defaults[e.name] ~= nil then e.default = recipe.defaults[e.name] end
    if not byName[e.name] then list[#list + 1] = e end
    byName[e.name] = e
  end
  for _, o in ipairs(opts.OPTIONS) do add(o) end
  if recipe.options then
    list[#list + 1] = { group = 'Recipe ' .. (recipe.name or '') }
    for _, o in ipairs(recipe.options) do add(o) end
  end
  return list, byName
end

local function kind_str(kind)
  if type(kind) == 'table' then return table.concat(kind, '|') end
  return ({ int = 'N', number = 'X', string = 'S', bool = 'true|false' })[kind] or kind
end

function opts.help(recipe)
  local list = spec_of(recipe)
  local lines = {}
  recipe = recipe or {}
  lines[#lines + 1] = ('Usage: luajit %s [options]'):format(recipe.script or 'recipes/<recipe>.lua')
  if recipe.description then lines[#lines + 1] = recipe.description end
  for _, e in ipairs(list) do
    if e.group then
      lines[#lines + 1] = ''
      lines[#lines + 1] = e.group .. ':'
    else
      local d = e.default
      local dstr = d == nil and '' or (' [' .. (d == '' and "''" or tostring(d)) .. ']')
      lines[#lines + 1] = ('  -%-16s %-22s %s%s'):format(e.name, kind_str(e.kind), e.help, dstr)
    end
  end
  return table.concat(lines, '\n')
end

local function valid_names(byName)
  local names = {}
  for n in pairs(byName) do names[#names + 1] = '-' .. n end
  table.sort(names)
  return table.concat(names, ' ')
end

local truthy = { ['true'] = true, ['1'] = true, yes = true }
local falsy = { ['false'] = false, ['0'] = false, no = false }

local function convert(e, raw)
  local k = e.kind
  if type(k) == 'table' then
    for _, c in ipairs(k) do if raw == c then return c end end
    fail('option -%s: %q is not one of %s', e.name, raw, table.concat(k, ', '))
  elseif k == 'int' or k == 'number' then
    local v = tonumber(raw)
    if not v or v ~= v then fail('option -%s expects a number, got %q', e.name, raw) end
    if v == math.huge or v == -math.huge then fail('option -%s expects a finite number, got %q', e.name, raw) end
    if k == 'int' and v ~= math.floor(v) then fail('option -%s expects an integer, got %q', e.name, raw) end
    return v
  elseif k == 'bool' then
    if truthy[raw] then return true end
    if falsy[raw] == false then return false end
    fail('option -%s expects true or false, got %q', e.name, raw)
  end
  return raw
end

-- The number of CPU cores (for the thread bounds).
local function cores()
  local p = io.popen('nproc 2>/dev/null')
  local n = p and tonumber(p:read('*l') or '')
  if p then p:close() end
  return n or 1
end

-- Range checks for the common options (a recipe may add its own `check`): every number
-- bounded by what makes sense, so a typo cannot hang or crash the process.
local BOUNDS = {
  nEpochs = { 1, 1e6 }, batchSize = { 1, 65536 }, depth = { 1, 10000 }, evalEvery = { 1, 1e6 },
  printEvery = { 1, 1e9 }, LR = { 0, 1e308 }, momentum = { 0, 1 }, weightDecay = { 0, 1 },
  maxIters = { 0, 2^31 }, maxEvalIters = { 0, 2^31 }, evalEveryIters = { 0, 2^31 }, trainSubset = { 0, 2^31 },
  nThreads = { 0, 256 }, manualSeed = { 0, 2^53 }, splitSeed = { 0, 2^53 }, logIters = { 0, 2^31 },
  pL = { 0, 1 }, distTimeout = { 1, 1e6 }, checkpointEvery = { 0, 2^31 }, lrFactor = { 0, 1e6 }, warmupEpochs = { 0, 1e6 }, warmupLR = { 0, 1e308 },
}
local function check_ranges(opt)
  for name, b in pairs(BOUNDS) do
    local v = opt[name]
    if type(v) == 'number' and v < b[1] and b[1] <= 1 and name ~= 'pL' and name ~= 'momentum' then
      fail(b[1] == 1 and 'option -%s must be at least 1, got %s' or 'option -%s must not be negative, got %s', name, tostring(v))
    end
    if type(v) == 'number' and (v < b[1] or v > b[2]) then
      fail('option -%s must be in [%s, %s], got %s', name, tostring(b[1]), ('%.15g'):format(b[2]), tostring(v))
    end
  end
  if opt.computeThreads then
    local max = 4 * cores()
    if opt.computeThreads < 0 or opt.computeThreads > max then
      fail('option -computeThreads must be in [0, %d] (4 x the %d cores), got %s', max, max / 4, tostring(opt.computeThreads))
    end
  end
  if opt.lrMilestones ~= nil then opt.lrMilestoneList = require('fathom.lr').parseMilestones(opt.lrMilestones, fail) end
end

-- The range checks, for options that come from elsewhere (a checkpoint's saved options).
function opts.checkRanges(opt) check_ranges(opt) end

-- Parse `args` (a list of strings, e.g. the script's `arg`). Returns opt, given.
function opts.parse(args, recipe)
  local list, byName = spec_of(recipe)
  local opt, given = {}, {}
  for _, e in ipairs(list) do if not e.group then opt[e.name] = e.default end end
  local i = 1
  args = args or {}
  while i <= #args do
    local a = args[i]
    if a == '-h' or a == '--help' then a = '-help' end
    local name, inline = a:match('^%-%-?([%a_][%w_]*)=(.*)$')
    if not name then name = a:match('^%-%-?([%a_][%w_]*)$') end
    if not name then
      fail('unexpected argument %q (options look like -name value)\nValid options: %s', a, valid_names(byName))
    end
    local e = byName[name]
    if not e then
      fail('unknown option -%s\nValid options: %s\n(luajit %s -help describes them)', name,
           valid_names(byName), (recipe and recipe.script) or 'recipes/<recipe>.lua')
    end
    local raw = inline
    if e.kind == 'bool' and raw == nil then
      local nxt = args[i + 1]
      if nxt ~= nil and (truthy[nxt] or falsy[nxt] == false) then raw = nxt; i = i + 1 else raw = 'true' end
    elseif raw == nil then
      raw = args[i + 1]
      if raw == nil then fail('option -%s needs a value (%s)', name, kind_str(e.kind)) end
      i = i + 1
    end
    opt[name] = convert(e, raw)
    given[name] = true
    i = i + 1
  end
  -- -pL and -deathRate are one setting under two names.
  if given.deathRate then
    if given.pL and math.abs(opt.pL - (1 - opt.deathRate)) > 1e-12 then
      fail('options -pL %s and -deathRate %s disagree (deathRate = 1 - pL); give one of them', opt.pL, opt.deathRate)
    end
    opt.pL = 1 - opt.deathRate
    given.pL = true
  end
  if opt.deathRate ~= nil and not given.deathRate and not given.pL and byName.deathRate.default ~= nil then
    opt.pL = 1 - opt.deathRate -- a recipe default given as deathRate
  end
  if opt.pL ~= nil and not given.deathRate then opt.deathRate = 1 - opt.pL end
  check_ranges(opt)
  if recipe and recipe.check then recipe.check(opt, fail, given) end
  return opt, given
end

-- For scripts: -help prints the help and exits 0; a usage error prints the message
-- and exits 2. No traceback either way.
function opts.parseOrExit(args, recipe)
  local ok, opt, given = pcall(opts.parse, args, recipe)
  if not ok then
    if opts.isUsageError(opt) then
      io.stderr:write('error: ', opt.message, '\n')
      os.exit(2)
    end
    error(opt, 0)
  end
  if opt.help then
    print(opts.help(recipe))
    os.exit(0)
  end
  return opt, given
end

return opts
