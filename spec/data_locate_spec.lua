-- data_locate_spec.lua -- where the datasets are looked for, in the order README states:
-- dir (-data DIR) as is, else $FATHOM_DATA, else the default folder ($XDG_CACHE_HOME/fathom,
-- else ~/.cache/fathom); nothing else (not ./data). Run in child processes, from another
-- directory, so the environment and the current directory are the ones set here.
require 'fathom'
local data = require 'fathom.data'
local files = require 'datafiles'

local ROOT = data.fs.abspath('.') -- specs run from the source root

-- Runs Lua code in a child luajit with the given environment (nil: unset), in dir cwd.
local function child(env, cwd, code)
  local unset, set = {}, {}
  for _, k in ipairs({ 'FATHOM_DATA', 'XDG_CACHE_HOME', 'HOME', 'FATHOM_DATA_MIRROR' }) do
    if env[k] then set[#set + 1] = ("%s='%s'"):format(k, env[k]) else unset[#unset + 1] = '-u ' .. k end
  end
  for _, s in ipairs(set) do unset[#unset + 1] = s end
  set = unset
  local cmd = ("cd '%s' && env %s luajit -e \"package.path='%s/?.lua;'..package.path; " ..
               "local data = require('fathom').data; %s\" 2>&1"):format(cwd, table.concat(set, ' '), ROOT, code)
  local p = io.popen(cmd)
  local out = p:read('*a')
  p:close()
  return out
end

local LOAD = "local ok, d = pcall(data.cifar10, { strictCounts = false, nVal = 1, download = false }); " ..
             "io.write(ok and (d.dir .. ' ' .. d.train:size()) or d)"

describe('fathom.data.locate', function()
  local tmp
  before_each(function() tmp = files.tmpdir() end)
  after_each(function() files.rmtree(tmp) end)

  it('has a default folder in the user cache, outside any checkout', function()
    assert.are.equal('/x/cache/fathom', child({ XDG_CACHE_HOME = '/x/cache', HOME = '/x/home' }, '/', 'io.write(data.defaultDir())'))
    assert.are.equal('/x/home/.cache/fathom', child({ HOME = '/x/home' }, '/', 'io.write(data.defaultDir())'))
    assert.matches('neither HOME nor XDG_CACHE_HOME is set', child({}, '/', 'io.write(select(2, pcall(data.defaultDir)))'))
  end)

  it('takes dir first, then $FATHOM_DATA, then the default folder, and nothing else', function()
    files.cifar10_dir(files.mkdir(tmp .. '/given'), 2)
    files.cifar10_dir(files.mkdir(tmp .. '/env'), 3)
    files.cifar10_dir(files.mkdir(tmp .. '/cache/fathom'), 4)
    files.cifar10_dir(files.mkdir(tmp .. '/cwd/data'), 5)
    local all = { FATHOM_DATA = tmp .. '/env', XDG_CACHE_HOME = tmp .. '/cache', HOME = tmp }
    local given = LOAD:gsub('strictCounts', ("dir = '%s/given', strictCounts"):format(tmp))
    assert.are.equal(tmp .. '/given/cifar-10-batches-bin 9', child(all, tmp .. '/cwd', given))
    assert.are.equal(tmp .. '/env/cifar-10-batches-bin 14', child(all, tmp .. '/cwd', LOAD))
    all.FATHOM_DATA = nil
    assert.are.equal(tmp .. '/cache/fathom/cifar-10-batches-bin 19', child(all, tmp .. '/cwd', LOAD))
    -- ./data is not a place it looks
    local out = child({ HOME = tmp .. '/home' }, tmp .. '/cwd', LOAD)
    assert.matches('^fathom%.data: cannot find CIFAR%-10: no data_batch_1%.bin in ' .. tmp ..
                   '/home/%.cache/fathom/cifar%-10%-batches%-bin or ' .. tmp .. '/home/%.cache/fathom %(from the default folder%)', out)
    -- an empty FATHOM_DATA counts as unset
    assert.are.equal(tmp .. '/cache/fathom/cifar-10-batches-bin 19',
                     child({ FATHOM_DATA = '', XDG_CACHE_HOME = tmp .. '/cache' }, tmp .. '/cwd', LOAD))
  end)

  it('gives absolute folders, for a relative dir and for dir naming the folder itself', function()
    files.cifar10_dir(files.mkdir(tmp .. '/cwd/rel'), 2)
    local code = "io.write(data.locate('cifar10', 'rel', { download = false }), ' ', " ..
                 "data.locate('cifar10', 'rel/cifar-10-batches-bin', { download = false }), ' ', " ..
                 "data.locate('cifar10', './x/../rel/', { download = false }))"
    local want = tmp .. '/cwd/rel/cifar-10-batches-bin'
    assert.are.equal(want .. ' ' .. want .. ' ' .. want, child({ HOME = tmp }, tmp .. '/cwd', code))
  end)

  it('downloads into the folder it would read: $FATHOM_DATA when set, else the default folder', function()
    local code = "local ok, e = pcall(data.cifar10, {}); io.write(e)"
    local env = { FATHOM_DATA = tmp .. '/env', HOME = tmp, FATHOM_DATA_MIRROR = 'http://127.0.0.1:9' }
    local out = child(env, '/', code)
    assert.matches('CIFAR%-10 is not in ' .. tmp .. '/env; downloading http://127%.0%.0%.1:9/cifar%-10%-binary%.tar%.gz', out)
    assert.matches('could not download .* into ' .. tmp .. '/env %(curl', out)
    env.FATHOM_DATA = nil
    out = child(env, '/', code)
    assert.matches('could not download .* into ' .. tmp .. '/%.cache/fathom %(curl', out)
    assert.is_false(data.fs.isdir(tmp .. '/.cache/fathom')) -- nothing left behind
    -- svhn goes into its own folder; ImageNet is never downloaded
    out = child(env, '/', "local ok, e = pcall(data.svhn, {}); io.write(e)")
    assert.matches('could not download http://127%.0%.0%.1:9/train_32x32%.mat into ' .. tmp .. '/%.cache/fathom/svhn', out)
    out = child(env, '/', "local ok, e = pcall(data.imagefolder, {}); io.write(e)")
    assert.matches('^fathom%.data: cannot find ImageNet: no train/ folder in ' .. tmp .. '/%.cache/fathom/imagenet', out)
    assert.matches('cannot be downloaded automatically', out)
  end)

  it('finds an image folder in the data root when no dir is given', function()
    local cls = files.mkdir(tmp .. '/env/imagenet/train/cat')
    files.png(cls .. '/1.png', 8, 8, 2, function(x, y) return x * 20, y * 20, 7 end)
    local out = child({ FATHOM_DATA = tmp .. '/env' }, '/',
                      "local d = data.imagefolder{ size = 4, scale = 8 }; io.write(d.dir, ' ', d.train:size())")
    assert.are.equal(tmp .. '/env/imagenet 1', out)
  end)
end)
