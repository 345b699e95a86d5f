-- fathom/safetensors.lua -- read and write the safetensors format, so weights load in
-- other frameworks (PyTorch, JAX, candle, ...) and loading never runs code.
-- Layout: 8-byte little-endian header length N; N bytes of JSON
--   {"<name>": {"dtype": "F32"|"F64"|"I64"|"U8", "shape": [...], "data_offsets": [b, e]},
--    "__metadata__": {"<key>": "<string>", ...}}
-- padded with spaces to a multiple of 8; then the tensors' raw little-endian bytes, in the
-- order given, offsets relative to the start of that data.
--   st.write(path, entries, metadata)   entries: list of {name, tensor} (order kept)
--   st.read(path) -> tensors (name -> tensor), metadata, names (file order)
-- write() writes `path` directly; checkpoint.atomicWrite adds the tmp-and-rename step.
-- Every malformed or truncated file gives an error naming the file.
local ffi = require 'ffi'
local fathom = require 'fathom'
local json = require 'fathom.json'

local st = {}

-- C stdio through the FFI: we need fsync (Lua's io cannot reach it) and fread/fwrite
-- straight into tensor memory. Declared one by one: another module may have some.
for _, decl in ipairs({
  'void *fopen(const char *path, const char *mode);',
  'size_t fwrite(const void *p, size_t size, size_t n, void *f);',
  'size_t fread(void *p, size_t size, size_t n, void *f);',
  'int fflush(void *f);',
  'int fclose(void *f);',
  'int fileno(void *f);',
  'int fsync(int fd);',
  'int fseek(void *f, long off, int whence);',
  'long ftell(void *f);',
  'char *strerror(int errnum);',
}) do pcall(ffi.cdef, decl) end
local C = ffi.C
local SEEK_SET, SEEK_END = 0, 2

assert(ffi.abi('le'), 'fathom.safetensors: a big-endian machine needs byte swapping (not implemented)')

local DTYPES = { float = 'F32', double = 'F64', long = 'I64', byte = 'U8' }
local FROM_DTYPE = { F32 = 'float', F64 = 'double', I64 = 'long', U8 = 'byte' }
local SIZES = { F32 = 4, F64 = 8, I64 = 8, U8 = 1 }
local CONSTRUCTORS = { F32 = fathom.FloatTensor, F64 = fathom.DoubleTensor, I64 = fathom.LongTensor,
                       U8 = fathom.ByteTensor }
st.DTYPES = DTYPES

local function errno_str() return ffi.string(C.strerror(ffi.errno())) end

---------------------------------------------------------------------------- files
-- A small file handle over C stdio with checked operations; errors name the path.
local File = {}
File.__index = File

function st.open(path, mode)
  local f = C.fopen(path, mode)
  if f == nil then error(('cannot open %s: %s'):format(path, errno_str()), 0) end
  return setmetatable({ f = f, path = path }, File)
end

function File:write(ptr, nbytes)
  if nbytes == 0 then return end
  if type(ptr) == 'string' then nbytes = #ptr end
  local done = C.fwrite(ptr, 1, nbytes, self.f)
  if done ~= nbytes then error(('write to %s failed: %s'):format(self.path, errno_str()), 0) end
end

function File:read(ptr, nbytes, what)
  if nbytes == 0 then return end
  local got = tonumber(C.fread(ptr, 1, nbytes, self.f))
  if got ~= nbytes then
    error(('%s is truncated: %s needs %d bytes, the file has %d left'):format(self.path,
          what or 'data', nbytes, got), 0)
  end
end

function File:size()
  C.fseek(self.f, 0, SEEK_END)
  local n = tonumber(C.ftell(self.f))
  C.fseek(self.f, 0, SEEK_SET)
  return n
end

-- Flush to the disk (fsync) and close: after this the bytes survive a crash.
function File:sync_close()
  local f = self.f
  self.f = nil
  local ok = C.fflush(f) == 0 and C.fsync(C.fileno(f)) == 0
  local msg = ok or errno_str()
  if C.fclose(f) ~= 0 and ok then ok, msg = false, errno_str() end
  if not ok then error(('cannot flush %s: %s'):format(self.path, msg), 0) end
end

function File:close()
  if self.f ~= nil then C.fclose(self.f) end
  self.f = nil
end

---------------------------------------------------------------------------- write
local function header_of(entries, metadata)
  local header, offset = {}, 0
  for i, e in ipairs(entries) do
    local name, t = e[1], e[2]
    if type(name) ~= 'string' or name == '' or name == '__metadata__' then
      error(('safetensors.write: entry %d has a bad name %s'):format(i, tostring(name)), 0)
    end
    if header[name] then error('safetensors.write: duplicate tensor name ' .. name, 0) end
    if not fathom.isTensor(t) then
      error(('safetensors.write: %s is not a tensor (%s)'):format(name, type(t)), 0)
    end
    local dtype = DTYPES[t:dtype()]
    local shape = json.array(t:dim() == 0 and { 0 } or t:size():totable())
    local nbytes = t:nElement() * SIZES[dtype]
    header[name] = { dtype = dtype, shape = shape, data_offsets = json.array({ offset, offset + nbytes }) }
    offset = offset + nbytes
  end
  if metadata then
    local m = {}
    for k, v in pairs(metadata) do
      if type(k) ~= 'string' or type(v) ~= 'string' then
        error('safetensors.write: __metadata__ must map strings to strings (key ' .. tostring(k) .. ')', 0)
      end
      m[k] = v
    end
    header.__metadata__ = json.object(m)
  end
  local text = json.encode(header)
  text = text .. (' '):rep((8 - #text % 8) % 8) -- data starts 8-byte aligned
  return text
end

local function u64_le(n)
  local b = {}
  for i = 1, 8 do b[i] = string.char(n % 256); n = math.floor(n / 256) end
  return table.concat(b)
end

function st.write(path, entries, metadata)
  local header = header_of(entries, metadata)
  local f = st.open(path, 'wb')
  local ok, err = pcall(function()
    f:write(u64_le(#header))
    f:write(header)
    for _, e in ipairs(entries) do
      local t = e[2]
      if t:isCuda() then t = t:to(t:dtype()) end -- a GPU tensor: write a host copy
      t = t:contiguous()
      f:write(ffi.cast('const void *', t:data()), t:nElement() * SIZES[DTYPES[t:dtype()]])
    end
    f:sync_close()
  end)
  if not ok then f:close(); error(err, 0) end
end

---------------------------------------------------------------------------- read
local function bad(path, fmt, ...) error(path .. ': not a valid safetensors file: ' .. fmt:format(...), 0) end

local function is_uint(x) return type(x) == 'number' and x >= 0 and x == math.floor(x) end

function st.read(path)
  local f = st.open(path, 'rb')
  local ok, tensors, metadata, names = pcall(function()
    local fsize = f:size()
    if fsize < 8 then error(('%s is truncated: %d bytes, not even the 8-byte header length'):format(path, fsize), 0) end
    local lenbuf = ffi.new('uint8_t[8]')
    f:read(lenbuf, 8, 'the header length')
    local n = 0
    for i = 7, 0, -1 do n = n * 256 + lenbuf[i] end
    if n < 2 or n > 100 * 2^20 then bad(path, 'header length %d is implausible', n) end
    if n > fsize - 8 then
      error(('%s is truncated: the header needs %d bytes, the file has %d'):format(path, n, fsize - 8), 0)
    end
    local hbuf = ffi.new('uint8_t[?]', n)
    f:read(hbuf, n, 'the header')
    local ok2, header = pcall(json.decode, ffi.string(hbuf, n), path .. ' (header)')
    if not ok2 then bad(path, '%s', header) end
    if type(header) ~= 'table' or header[1] ~= nil then bad(path, 'the header is not a JSON object') end
    local meta = header.__metadata__
    if meta ~= nil then
      if type(meta) ~= 'table' then bad(path, '__metadata__ is not an object') end
      for k, v in pairs(meta) do
        if type(v) ~= 'string' then bad(path, '__metadata__.%s is not a string', k) end
      end
    end
    -- Validate every entry, then check the offsets tile the data exactly.
    local entries = {}
    for name, e in pairs(header) do
      if name ~= '__metadata__' then
        if type(e) ~= 'table' then bad(path, 'entry %s is not an object', name) end
        if not SIZES[e.dtype] then
          bad(path, 'tensor %s has dtype %s; Fathom reads F32, F64, I64, U8', name, tostring(e.dtype))
        end
        if type(e.shape) ~= 'table' then bad(path, 'tensor %s has no shape', name) end
        local numel = 1
        for i, s in ipairs(e.shape) do
          if not is_uint(s) then bad(path, 'tensor %s: shape[%d] is not a non-negative integer', name, i) end
          numel = numel * s
        end
        if #e.shape > 8 then bad(path, 'tensor %s has %d dimensions (at most 8)', name, #e.shape) end
        local off = e.data_offsets
        if type(off) ~= 'table' or #off ~= 2 or not is_uint(off[1]) or not is_uint(off[2]) or off[2] < off[1] then
          bad(path, 'tensor %s has bad data_offsets', name)
        end
        if off[2] - off[1] ~= numel * SIZES[e.dtype] then
          bad(path, 'tensor %s: data_offsets span %d bytes, shape and dtype need %d', name,
              off[2] - off[1], numel * SIZES[e.dtype])
        end
        entries[#entries + 1] = { name = name, dtype = e.dtype, shape = e.shape, b = off[1], e = off[2], numel = numel }
      end
    end
    table.sort(entries, function(a, b) return a.b < b.b or (a.b == b.b and a.e < b.e) end)
    local pos = 0
    for _, e in ipairs(entries) do
      if e.b ~= pos then bad(path, 'tensor %s starts at byte %d, expected %d (gap or overlap)', e.name, e.b, pos) end
      pos = e.e
    end
    if fsize - 8 - n < pos then
      error(('%s is truncated: the tensors need %d bytes of data, the file has %d'):format(path, pos, fsize - 8 - n), 0)
    end
    if fsize - 8 - n > pos then bad(path, '%d bytes of data past the last tensor', fsize - 8 - n - pos) end
    local out, order = {}, {}
    for _, e in ipairs(entries) do
      local new = CONSTRUCTORS[e.dtype]
      local t
      if #e.shape == 0 then t = new(1) -- a scalar becomes a 1-element tensor
      elseif e.numel == 0 then t = new()
      else t = new(unpack(e.shape)) end
      if e.numel > 0 then f:read(ffi.cast('void *', t:data()), e.e - e.b, 'tensor ' .. e.name) end
      out[e.name] = t
      order[#order + 1] = e.name
    end
    return out, meta or {}, order
  end)
  f:close()
  if not ok then error(tensors, 0) end
  return tensors, metadata, names
end

return st
