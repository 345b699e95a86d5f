-- spec/repl_tty_spec.lua -- bin/fathom driven through a pseudo-terminal (tmux) as a person
-- would: a bare expression prints, Tab completes globals, fields and methods, Ctrl-C stops
-- a running loop and keeps the session, errors bring the prompt back, history is kept
-- across sessions in ~/.fathom_history. Pending where tmux is not installed.
local root = io.popen('pwd'):read('*l')
local have_tmux = os.execute('command -v tmux >/dev/null 2>&1') == 0

local sock = 'fathom_spec_' .. tostring(os.time()) .. '_' .. tostring(math.random(1e6))
local function tmux(args)
  local p = io.popen('tmux -L ' .. sock .. ' ' .. args .. ' 2>&1')
  local out = p:read('*a')
  p:close()
  return out
end
local function sleep(s) os.execute('sleep ' .. s) end
local function screen() return tmux('capture-pane -p -J -S -200 -t s') end

-- Wait until the screen shows `pattern` (plain text), up to `secs` seconds.
local function wait_for(pattern, secs)
  for _ = 1, (secs or 10) * 10 do
    local s = screen()
    if s:find(pattern, 1, true) then return s end
    sleep(0.1)
  end
  return screen()
end

local function count(s, pat)
  local n = 0
  for _ in s:gmatch(pat) do n = n + 1 end
  return n
end

local describe_tty = have_tmux and describe or function(name, fn)
  describe(name, function() pending('needs tmux (apt-get install tmux): bin/fathom through a terminal') end)
end

describe_tty('bin/fathom on a terminal', function()
  local home
  local function start()
    tmux(('new-session -d -s s -x 160 -y 50 "cd / && HOME=%s FATHOM_LIB=%s %s/bin/fathom"')
      :format(home, os.getenv('FATHOM_LIB') or '', root))
    assert.is_truthy(wait_for('fathom> '):find('fathom> ', 1, true), 'no prompt')
  end
  local function send(keys) tmux('send-keys -t s ' .. keys) end
  local function stop()
    tmux('kill-server')
    -- the server's socket file stays behind: remove ours
    os.execute(('rm -f "${TMUX_TMPDIR:-/tmp}/tmux-$(id -u)/%s"'):format(sock))
  end

  before_each(function()
    home = os.tmpname()
    os.remove(home)
    os.execute('mkdir -p ' .. home)
  end)
  after_each(function()
    stop()
    os.execute('rm -rf ' .. home)
  end)

  it('prints bare expressions, completes with Tab, survives errors and Ctrl-C', function()
    start()
    send("'x = fathom.range(1, 4)' Enter")
    send("'x' Enter")
    local s = wait_for('[fathom.FloatTensor of size 4]')
    assert.is_truthy(s:find('[fathom.FloatTensor of size 4]', 1, true), s)
    -- fathom.ranp<Tab> -> fathom.randperm ; x:nEl<Tab> -> x:nElement
    send("'n = fathom.randp' Tab '(5):nElement()' Enter")
    send("'n' Enter")
    s = wait_for('fathom.randperm(5)')
    assert.is_truthy(s:find('n = fathom.randperm(5):nElement()', 1, true), s)
    send("'print(x:nEl' Tab '())' Enter")
    s = wait_for('print(x:nElement())')
    assert.is_truthy(s:find('print(x:nElement())', 1, true), s)
    -- an error, then the prompt is back
    send("'error(\"boom\")' Enter")
    assert.is_truthy(wait_for('boom'):find('boom', 1, true))
    -- Ctrl-C stops a busy loop; the session (x) is kept
    send("'while true do end' Enter")
    sleep(0.5)
    send('C-c')
    s = wait_for('Interrupted', 10)
    assert.is_truthy(s:find('Interrupted', 1, true), s)
    send("'print(x:sum() * 100)' Enter")
    s = wait_for('1000')
    assert.is_truthy(s:find('\n1000', 1, true), s)
  end)

  it('keeps the history across sessions', function()
    start()
    send("'answer = 6 * 7' Enter")
    sleep(0.3)
    send('C-d')
    sleep(0.5)
    stop()
    local f = io.open(home .. '/.fathom_history')
    assert.is_truthy(f, 'no history file')
    local text = f:read('*a')
    f:close()
    assert.is_truthy(text:find('answer = 6 * 7', 1, true), text)
    start()
    send('Up Enter')
    send("'answer' Enter")
    local s = wait_for('\n42')
    assert.is_truthy(s:find('\n42', 1, true), s)
    -- the recalled line, shown once on this new screen
    assert.are.equal(1, count(s, 'fathom> answer = 6 %* 7'), s)
  end)
end)
