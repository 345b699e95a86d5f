-- fathom/repl.lua -- the interactive prompt of bin/fathom, in the spirit of Torch7's trepl:
-- a bare expression prints its value (tensors as Torch7 prints them, tables readably),
-- `= expr` too; an unfinished statement continues on the next line; errors print their
-- message and the prompt comes back; Ctrl-C stops a running command (a count hook polls
-- the C counter ft_interrupt_*) and keeps the session. On a terminal, GNU readline (through
-- the FFI) gives line editing, history kept in ~/.fathom_history and tab completion of
-- globals, fields and methods (`fathom.ra<Tab>`, `x:vi<Tab>`); without readline, or when
-- the input is not a terminal, lines are read plainly.
--   repl.main(arg)   -- bin/fathom [-e code] [-i] [script [args]]
local ffi = require 'ffi'
local repl = {}

---------------------------------------------------------------------------- printing
local function is_tensor(x)
  local ok, fathom = pcall(require, 'fathom')
  return ok and fathom.isTensor(x)
end

local function key_repr(k)
  if type(k) == 'string' and k:match('^[%a_][%w_]*$') then return k end
  return '[' .. (type(k) == 'string' and ('%q'):format(k) or tostring(k)) .. ']'
end

-- A readable form of v: nested tables indented, up to `depth` levels and 50 entries each.
function repl.repr(v, depth, indent, seen)
  depth, indent, seen = depth or 3, indent or '', seen or {}
  if type(v) == 'string' then return ('%q'):format(v) end
  if type(v) ~= 'table' or is_tensor(v) then return tostring(v) end
  local mt = getmetatable(v)
  if mt and (rawget(mt, '__tostring') or rawget(mt, '__typename')) then return tostring(v) end
  if seen[v] then return '<cycle ' .. tostring(v) .. '>' end
  if depth == 0 then return tostring(v) end
  seen[v] = true
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == 'number' or type(a) == 'string') then return a < b end
    return type(a) < type(b)
  end)
  if #keys == 0 then seen[v] = nil return '{}' end
  local inner = indent .. '  '
  local lines = {}
  for i, k in ipairs(keys) do
    if i > 50 then lines[#lines + 1] = inner .. '... (' .. (#keys - 50) .. ' more)' break end
    local val = repl.repr(v[k], depth - 1, inner, seen)
    if is_tensor(v[k]) then val = val:gsub('\n', '\n' .. inner) end
    lines[#lines + 1] = inner .. key_repr(k) .. ' : ' .. val
  end
  seen[v] = nil
  return '{\n' .. table.concat(lines, '\n') .. '\n' .. indent .. '}'
end

local function print_values(n, ...)
  for i = 1, n do
    local v = select(i, ...)
    io.write(repl.repr(v), '\n')
  end
end

---------------------------------------------------------------------------- Ctrl-C
local C
local function lib()
  if C == nil then
    local ok, fathom = pcall(require, 'fathom')
    C = ok and fathom.C or false
  end
  return C
end

local INTERRUPTED = 'interrupted'
local function hook()
  local c = lib()
  if c and c.ft_interrupt_count() > 0 then
    c.ft_interrupt_clear()
    error(INTERRUPTED, 2)
  end
end

-- Run f(...) with Ctrl-C turned into an error; returns pcall's results.
local function run(f, ...)
  local c = lib()
  if c then c.ft_interrupt_clear() end
  debug.sethook(hook, '', 1000)
  local res = { n = 0 }
  local function pack(...) res.n = select('#', ...) for i = 1, res.n do res[i] = select(i, ...) end end
  pack(xpcall(f, function(e)
    if type(e) == 'string' and e:find(INTERRUPTED .. '$') then return INTERRUPTED end
    return e
  end, ...))
  debug.sethook()
  return unpack(res, 1, res.n)
end

local function report(err)
  if err == INTERRUPTED then io.stderr:write('Interrupted\n')
  else io.stderr:write(tostring(err):gsub('^%[string "stdin"%]:%d+: ', ''), '\n') end
  io.stderr:flush()
end

---------------------------------------------------------------------------- evaluating
-- Compile one chunk of input: an expression first (its values are printed), else a
-- statement. Returns the function, or nil and 'incomplete' / an error message.
function repl.compile(src)
  local s = src:gsub('^%s*=', '')
  local f = loadstring('return ' .. s, '=stdin')
  if f then return f, true end
  local g, err = loadstring(src, '=stdin')
  if g then return g, false end
  if err:find("'<eof>'", 1, true) or err:find('<eof>$') then return nil, 'incomplete' end
  return nil, err
end

-- Evaluate src (a complete chunk); prints values or the error. Returns true on success.
function repl.eval(src)
  local f, expr = repl.compile(src)
  if not f then report(expr) return false end
  -- LuaJIT runs no hooks in compiled traces: the typed chunk (and the functions it
  -- defines) stay interpreted, so Ctrl-C can stop a loop typed at the prompt. Code it
  -- calls keeps the JIT; long C kernels return to a hooked caller between calls.
  if jit then jit.off(f, true) end
  local res = { run(f) }
  if not res[1] then report(res[2]) return false end
  if expr then print_values(#res - 1, unpack(res, 2, table.maxn(res))) end
  io.stdout:flush()
  return true
end

---------------------------------------------------------------------------- completion
-- Candidates for `text` (what precedes the cursor, e.g. 'fathom.ra' or 'x:vi').
function repl.complete(text)
  local base, sep, partial = text:match('^(.-)([%.:])([%w_]*)$')
  local obj, prefix
  if not base then
    partial = text:match('([%a_][%w_]*)$') or ''
    prefix, obj = text:sub(1, #text - #partial), _G
  else
    local path = base:match('([%a_][%w_%.:]*)$')
    if not path then return {} end
    obj = _G
    for part in path:gmatch('[^%.:]+') do
      local ok, v = pcall(function() return obj[part] end)
      if not ok or v == nil then return {} end
      obj = v
    end
    prefix = text:sub(1, #text - #partial)
  end
  local names, seen = {}, {}
  local function add(k, v)
    if type(k) == 'string' and k:sub(1, #partial) == partial and not seen[k] and k:match('^[%a_][%w_]*$')
      and (sep ~= ':' or type(v) == 'function') then
      seen[k] = true
      names[#names + 1] = prefix .. k
    end
  end
  local function walk(t, level)
    if type(t) ~= 'table' or level > 8 then return end
    for k, v in pairs(t) do add(k, v) end
    local mt = getmetatable(t)
    if mt and type(mt.__index) == 'table' then walk(mt.__index, level + 1) end
  end
  if is_tensor(obj) then walk(require('fathom').Tensor_methods, 0)
  elseif type(obj) == 'table' then walk(obj, 0)
  elseif type(obj) == 'string' then walk(string, 0) end
  table.sort(names)
  return names
end

---------------------------------------------------------------------------- line input
local RL
local function readline_lib()
  if RL ~= nil then return RL end
  RL = false
  if os.getenv('FATHOM_NO_READLINE') then return RL end
  local ok, l = pcall(ffi.load, 'readline.so.8')
  if not ok then ok, l = pcall(ffi.load, 'readline') end
  if not ok then return RL end
  ok = pcall(ffi.cdef, [[
    char *readline(const char *prompt);
    void add_history(const char *line);
    int read_history(const char *file);
    int write_history(const char *file);
    int history_truncate_file(const char *file, int lines);
    typedef char *rl_compentry_func_t(const char *, int);
    typedef char **rl_completion_func_t(const char *, int, int);
    char **rl_completion_matches(const char *text, rl_compentry_func_t *gen);
    extern rl_completion_func_t *rl_attempted_completion_function;
    extern const char *rl_basic_word_break_characters;
    extern int rl_completion_append_character;
    extern int rl_attempted_completion_over;
    typedef int rl_hook_func_t(void);
    extern rl_hook_func_t *rl_event_hook;
    extern int rl_done;
    extern char *rl_line_buffer;
    int rl_replace_line(const char *text, int clear_undo);
    int rl_set_keyboard_input_timeout(int u);
    void *malloc(size_t n);
    void free(void *p);
    int isatty(int fd);
  ]])
  RL = l
  return RL
end

local matches = {}
local function setup_readline(rl)
  -- '.' and ':' are not word breaks, so 'fathom.ra' and 'x:vi' complete as one word.
  rl.rl_basic_word_break_characters = ' \t\n"\\\'`@$><=;|&{(,+-*/%^~[]#'
  local gen = ffi.cast('rl_compentry_func_t *', function(text, state)
    if state == 0 then matches = repl.complete(ffi.string(text)) end
    local m = table.remove(matches, 1)
    if not m then return nil end
    local p = ffi.C.malloc(#m + 1)
    ffi.copy(p, m)
    return p
  end)
  repl._gen = gen
  repl._complete = ffi.cast('rl_completion_func_t *', function(text)
    rl.rl_attempted_completion_over = 1
    rl.rl_completion_append_character = 0
    return rl.rl_completion_matches(text, gen)
  end)
  rl.rl_attempted_completion_function = repl._complete
  -- Ctrl-C at the prompt: drop the line being typed.
  repl._event = ffi.cast('rl_hook_func_t *', function()
    local c = lib()
    if c and c.ft_interrupt_count() > 0 then
      c.ft_interrupt_clear()
      rl.rl_replace_line('', 0)
      io.write('^C')
      rl.rl_done = 1
    end
    return 0
  end)
  rl.rl_event_hook = repl._event
  rl.rl_set_keyboard_input_timeout(50000)
end

local function history_file() return (os.getenv('HOME') or '.') .. '/.fathom_history' end

-- A function(prompt) returning the next line (nil at end of input).
local function line_reader()
  local rl = readline_lib()
  if rl and ffi.C.isatty(0) ~= 0 then
    setup_readline(rl)
    local hist = os.getenv('FATHOM_HISTORY') or history_file()
    rl.read_history(hist)
    return function(prompt)
      local p = rl.readline(prompt)
      if p == nil then return nil end
      local s = ffi.string(p)
      ffi.C.free(p)
      if s:match('%S') then
        rl.add_history(s)
        rl.write_history(hist)
        rl.history_truncate_file(hist, 1000)
      end
      return s
    end, true
  end
  return function(prompt)
    io.write(prompt); io.flush()
    return io.read('*l')
  end, false
end

function repl.loop()
  local c = lib()
  if c then c.ft_interrupt_install(0) end
  local read, tty = line_reader()
  local buffer
  while true do
    local line = read(buffer and '>> ' or 'fathom> ')
    if line == nil then if tty then io.write('\n') end break end
    if c and c.ft_interrupt_count() > 0 then c.ft_interrupt_clear(); buffer = nil; line = '' end
    local src = buffer and (buffer .. '\n' .. line) or line
    if src:match('%S') then
      local f, why = repl.compile(src)
      if not f and why == 'incomplete' then buffer = src
      else buffer = nil; repl.eval(src) end
    else buffer = nil end
  end
  if c then c.ft_interrupt_restore() end
end

---------------------------------------------------------------------------- entry
local USAGE = [==[
Usage: fathom [options] [script [args]]
  -e code   run code (several -e run in order)
  -i        enter the prompt after the script or -e code
  -l name   require(name) into a global of that name
  -h        this help
Without a script the prompt starts. torch, nn and optim are loaded as globals.]==]

function repl.main(argv)
  argv = argv or {}
  local interactive, ran, i = false, false, 1
  while i <= #argv do
    local a = argv[i]
    if a == '-h' or a == '--help' then print(USAGE) return 0
    elseif a == '-i' then interactive = true
    elseif a == '-e' or a == '-l' then
      local v = argv[i + 1]
      if not v then io.stderr:write('fathom: ', a, ' needs an argument\n') return 1 end
      if a == '-e' then
        if not repl.eval(v) then return 1 end
        ran = true
      else
        local ok, m = pcall(require, v)
        if not ok then io.stderr:write('fathom: ', tostring(m), '\n') return 1 end
        rawset(_G, v, m)
      end
      i = i + 1
    elseif a:sub(1, 1) == '-' and a ~= '-' then
      io.stderr:write('fathom: unknown option ', a, '\n', USAGE, '\n') return 1
    else
      local script = a
      local sarg = { [0] = script }
      for j = i + 1, #argv do sarg[j - i] = argv[j] end
      rawset(_G, 'arg', sarg)
      local f, err = loadfile(script)
      if not f then io.stderr:write('fathom: ', err, '\n') return 1 end
      local ok, e = xpcall(function() return f(unpack(sarg)) end, debug.traceback)
      if not ok then io.stderr:write(tostring(e), '\n') return 1 end
      ran = true
      break
    end
    i = i + 1
  end
  if not ran or interactive then
    if not ran then
      print('Fathom: fathom, torch, nn and optim are loaded. An expression prints its value.')
    end
    repl.loop()
  end
  return 0
end

return repl
