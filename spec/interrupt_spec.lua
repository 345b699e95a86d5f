-- spec/interrupt_spec.lua -- Ctrl-C as a polled counter (core/tensor/interrupt.c): presses
-- are counted, not acted on, until the hard limit, which ends the process by SIGINT.
local ffi = require 'ffi'
local fathom = require 'fathom'
local C = fathom.C
pcall(ffi.cdef, 'int getpid(void); int kill(int pid, int sig);')
local SIGINT = 2

describe('Ctrl-C counter', function()
  after_each(function() C.ft_interrupt_restore() end)

  it('counts presses without stopping the process, and clears', function()
    assert.are.equal(0, C.ft_interrupt_install(0))
    assert.are.equal(0, C.ft_interrupt_count())
    ffi.C.kill(ffi.C.getpid(), SIGINT)
    ffi.C.kill(ffi.C.getpid(), SIGINT)
    assert.are.equal(2, C.ft_interrupt_count())
    C.ft_interrupt_clear()
    assert.are.equal(0, C.ft_interrupt_count())
  end)

  it('refuses a negative hard limit with a message', function()
    assert.are_not.equal(0, C.ft_interrupt_install(-1))
    assert.is_truthy(ffi.string(C.ft_last_error()):find('hard_after', 1, true))
  end)

  it('the hard_after-th press ends the process as SIGINT does (shell status 130)', function()
    local script = os.tmpname()
    local f = assert(io.open(script, 'w'))
    f:write([[
local ffi = require 'ffi'
local fathom = require 'fathom'
ffi.cdef('int getpid(void); int kill(int pid, int sig);')
assert(fathom.C.ft_interrupt_install(2) == 0)
ffi.C.kill(ffi.C.getpid(), 2)
io.write('after first press: ', fathom.C.ft_interrupt_count(), '\n') io.flush()
ffi.C.kill(ffi.C.getpid(), 2)
io.write('still running\n')
]])
    f:close()
    local p = io.popen(('luajit %s 2>&1; echo "status $?"'):format(script))
    local out = p:read('*a')
    p:close()
    os.remove(script)
    assert.is_truthy(out:find('after first press: 1', 1, true), out)
    assert.is_falsy(out:find('still running', 1, true), out)
    assert.is_truthy(out:find('status 130', 1, true), out)
  end)
end)
