-- loader.lua -- declare the C API to the FFI and open libfathom.so.
-- Looks, in order: $FATHOM_LIB; the source tree's build/ (when run from a checkout,
-- see fathom.lua at the root); Lua's cpath, where `luarocks make` installs it; the
-- system's library path. Returns the library namespace (cache it: `local C = ...`).
--
-- OpenBLAS's kernels. OpenBLAS picks them from the CPU when it is loaded, that is when
-- libfathom.so is, and older releases (Debian 12's 0.3.21) do not know recent CPUs and
-- fall back to slow generic kernels (Prescott: SGEMM 5x slower on an AVX-512 Xeon).
-- So before loading, unless the user set OPENBLAS_CORETYPE: ask OpenBLAS in a short
-- child process which core it would pick, compare with the CPU's features
-- (/proc/cpuinfo), and when the CPU can run better kernels, set OPENBLAS_CORETYPE for
-- this process. What was decided is in require('fathom').openblasInfo() (the decision
-- itself, fathom.openblas.decide, is a pure function of its inputs).
local ffi = require 'ffi'

ffi.cdef(require 'fathom.cdef')
pcall(ffi.cdef, 'char *openblas_get_corename(void);')
pcall(ffi.cdef, 'int setenv(const char *name, const char *value, int overwrite);')

---------------------------------------------------------------- OpenBLAS's kernels
local openblas = {}

-- The instruction-set level of OpenBLAS's core names (its DYNAMIC_ARCH kernels):
-- 3 = AVX-512, 2 = AVX2 + FMA, anything else (Prescott, Nehalem, Sandybridge, ...) 1.
local CORE_LEVEL = {
  skylakex = 3, cooperlake = 3, sapphirerapids = 3,
  haswell = 2, zen = 2, excavator = 2,
}
function openblas.coreLevel(core) return CORE_LEVEL[tostring(core or ''):lower()] or 1 end

-- The level the CPU supports, from its flags (a set: flags.avx2 == true, ...), and the
-- core to ask for at that level.
function openblas.cpuLevel(flags)
  if flags.avx512f and flags.avx512bw and flags.avx512dq and flags.avx512vl then
    return 3, flags.avx512_bf16 and 'Cooperlake' or 'SkylakeX'
  end
  if flags.avx2 and flags.fma then return 2, 'Haswell' end
  return 1, nil
end

-- in: { flags = set or nil, reported = core OpenBLAS picks by itself or nil,
--       user = OPENBLAS_CORETYPE as set by the user or nil, cpu = name for messages }
-- out: { set = core to put in OPENBLAS_CORETYPE or nil, message = one line }
function openblas.decide(input)
  local cpu = input.cpu or 'this CPU'
  if input.user and input.user ~= '' then
    return { message = ('OpenBLAS kernels: OPENBLAS_CORETYPE=%s (set by you)'):format(input.user) }
  end
  if not input.flags then
    return { message = 'OpenBLAS kernels: its own choice (the CPU features are unknown)' }
  end
  local level, best = openblas.cpuLevel(input.flags)
  if not best then
    return { message = ('OpenBLAS kernels: its own choice (%s has no AVX2)'):format(cpu) }
  end
  if not input.reported then
    return { message = ('OpenBLAS kernels: unknown (could not ask OpenBLAS); if BLAS is slow, '
      .. 'set OPENBLAS_CORETYPE=%s for %s'):format(best, cpu) }
  end
  if openblas.coreLevel(input.reported) >= level then
    return { message = ('OpenBLAS kernels: %s, its own choice for %s'):format(input.reported, cpu) }
  end
  return { set = best, message = ('OpenBLAS kernels: %s (OpenBLAS picked %s, which does not use '
    .. "%s's %s; Fathom set OPENBLAS_CORETYPE=%s)"):format(best, input.reported, cpu,
    level == 3 and 'AVX-512' or 'AVX2', best) }
end

-- The CPU's model name and flags (a set), from /proc/cpuinfo; nil where unreadable.
local function cpu_features()
  local f = io.open('/proc/cpuinfo', 'r')
  if not f then return nil end
  local text = f:read('*a')
  f:close()
  local line = text:match('\nflags%s*:([^\n]*)') or text:match('^flags%s*:([^\n]*)')
  if not line then return nil end
  local flags = {}
  for w in line:gmatch('%S+') do flags[w] = true end
  local name = text:match('model name%s*:%s*([^\n]*)')
  return flags, name and name:gsub('%s+$', '') or nil
end

-- The core OpenBLAS picks by itself, asked in a child process (OpenBLAS reads the
-- environment once, when it is loaded: this process must not load it first).
local function probe_core()
  -- the interpreter is the lowest index of `arg` (luajit [options] script)
  local exe = 'luajit'
  if type(arg) == 'table' then
    local i = -1
    while arg[i - 1] ~= nil do i = i - 1 end
    if type(arg[i]) == 'string' and arg[i]:find('^[%w/%._%-]+$') and not arg[i]:find('^%-') then
      exe = arg[i]
    end
  end
  local script = "local ffi=require'ffi' ffi.cdef'char *openblas_get_corename(void);' " ..
    "local ok,l=pcall(ffi.load,'libopenblas.so.0') if not ok then ok,l=pcall(ffi.load,'openblas') end " ..
    "if ok then io.write(ffi.string(l.openblas_get_corename())) end"
  local cmd = ("OPENBLAS_NUM_THREADS=1 OPENBLAS_VERBOSE=0 '%s' -e \"%s\" 2>/dev/null")
    :format(exe:gsub("'", "'\\''"), script)
  local p = io.popen(cmd)
  if not p then return nil end
  local out = p:read('*a')
  p:close()
  return out and out:match('^%w+$') or nil
end

openblas.info = { forced = false }
do
  local user = os.getenv('OPENBLAS_CORETYPE')
  local flags, name = cpu_features()
  local probe = (not user or user == '') and flags and openblas.cpuLevel(flags) > 1
  local reported = probe and probe_core() or nil
  local d = openblas.decide({ flags = flags, reported = reported, user = user, cpu = name })
  if d.set then openblas.info.forced = ffi.C.setenv('OPENBLAS_CORETYPE', d.set, 1) == 0 end
  openblas.info.cpu, openblas.info.reported, openblas.info.wanted = name, reported, d.set
  openblas.info.message = d.message
end
package.loaded['fathom.openblas'] = openblas

---------------------------------------------------------------- the library
local tried = {}
local function try(path)
  if not path then return nil end
  tried[#tried + 1] = path
  local ok, lib = pcall(ffi.load, path)
  if ok then return lib end
  tried[#tried] = path .. ' (' .. tostring(lib) .. ')'
end

local root = package.loaded['fathom.root']
local lib = try(os.getenv('FATHOM_LIB'))
  or (root and try(root .. '/build/libfathom.so'))
  or try(package.searchpath('libfathom', package.cpath))
  or try('fathom')
if not lib then
  error('fathom: cannot load libfathom.so; run `make` in the source tree or install with ' ..
        'luarocks. Tried:\n  ' .. table.concat(tried, '\n  '), 2)
end

-- The core in use, from the OpenBLAS libfathom.so loaded (found through its dependencies).
local ok, core = pcall(function() return ffi.string(lib.openblas_get_corename()) end)
openblas.info.core = ok and core or nil
if openblas.info.wanted and openblas.info.core and
   openblas.coreLevel(openblas.info.core) < openblas.coreLevel(openblas.info.wanted) then
  -- OpenBLAS was loaded before us (by another module): the variable came too late
  openblas.info.forced = false
  openblas.info.message = ('OpenBLAS kernels: %s, slow for %s: OpenBLAS was loaded before '
    .. 'Fathom; start with OPENBLAS_CORETYPE=%s'):format(openblas.info.core,
    openblas.info.cpu or 'this CPU', openblas.info.wanted)
end
return lib
