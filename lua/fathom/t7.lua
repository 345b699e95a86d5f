-- fathom/t7.lua -- Torch7's .t7 files (torch.save / torch.load), binary and ascii.
--   t7.save('model.t7', model)            -- 'binary' (default) or t7.save(f, x, 'ascii')
--   local model = t7.load('model.t7')     -- format guessed unless given
-- The format (Torch7's File.lua and generic/Tensor.c): every object starts with an int
-- type tag: 0 nil, 1 number (double), 2 string (int length, bytes), 3 table, 4 torch
-- object, 5 boolean (int), 6/7/8 functions. Tables and torch objects carry an int
-- reference index first, so shared references and cycles survive. A torch object is a
-- version string 'V 1', its class name, then its payload: a tensor is int ndim, long
-- sizes[ndim], long strides[ndim], long 1-based offset, then its storage (an object, or
-- nil); a storage is a long count then the raw elements; any other class (nn modules)
-- is the table of its fields. Binary files are little-endian with 4-byte ints and
-- 8-byte longs; ascii files write numbers as text separated by spaces, each call ending
-- in a newline, and strings raw followed by a newline.
--
-- Loading never runs code from the file: serialized functions and classes Fathom does not
-- know are refused. Storages load as 1-D tensors (Fathom has no separate storage type);
-- Int/Short/Char data loads as LongTensors; CUDA tensors load on the CPU as FloatTensors.
local ffi = require 'ffi'
local fathom = require 'fathom'
local T = require 'fathom.tensor'
local F = require 'fathom.ffi'
local C, check = F.C, F.check

local t7 = {}

local NIL, NUMBER, STRING, TABLE, TORCH, BOOLEAN = 0, 1, 2, 3, 4, 5
local FUNCTION, LEGACY_RECUR_FUNCTION, RECUR_FUNCTION = 6, 7, 8

-- Torch7 element types: ctype on disk, size, the Fathom dtype it loads as, ascii format.
local ELEM = {
  Float = { ctype = 'float', size = 4, key = 'float', fmt = '%.9g' },
  Double = { ctype = 'double', size = 8, key = 'double', fmt = '%.17g' },
  Long = { ctype = 'int64_t', size = 8, key = 'long', fmt = '%d' },
  Int = { ctype = 'int32_t', size = 4, key = 'long', fmt = '%d' },
  Short = { ctype = 'int16_t', size = 2, key = 'long', fmt = '%d' },
  Char = { ctype = 'int8_t', size = 1, key = 'long', raw = true },
  Byte = { ctype = 'uint8_t', size = 1, key = 'byte', raw = true },
}
local CUDA_ELEM = { Cuda = 'Float', CudaDouble = 'Double', CudaLong = 'Long', CudaInt = 'Int',
  CudaShort = 'Short', CudaChar = 'Char', CudaByte = 'Byte' }
-- Fathom dtype -> the Torch7 element name it saves as.
local SAVE_AS = { float = 'Float', double = 'Double', long = 'Long', byte = 'Byte' }

local function elem_of(prefix)
  return ELEM[prefix] or (CUDA_ELEM[prefix] and ELEM[CUDA_ELEM[prefix]])
end

---------------------------------------------------------------------------- reading
local Reader = {}
Reader.__index = Reader

local function fail(r, msg)
  error(('torch.load: %s: %s'):format(r.name, msg), 0)
end

function Reader:need(n)
  if self.pos + n > self.len then
    fail(self, ('the file is truncated (needed %d more bytes at offset %d of %d)')
      :format(n, self.pos, self.len))
  end
end

-- Ascii: the next whitespace-separated token as a number.
function Reader:token()
  local s, e = self.data:find('^%s*[^%s]+', self.pos + 1)
  if not s then fail(self, ('the file is truncated (expected a number at offset %d)'):format(self.pos)) end
  local tok = self.data:sub(s, e):match('[^%s]+')
  local v = tonumber(tok)
  if not v then
    if tok == 'inf' then v = math.huge elseif tok == '-inf' then v = -math.huge
    elseif tok == 'nan' or tok == '-nan' then v = 0 / 0
    else fail(self, ('expected a number at offset %d, found %q (corrupt file?)'):format(self.pos, tok:sub(1, 20))) end
  end
  self.pos = e
  return v
end

-- Ascii: after a group of values, one newline is consumed if it is there.
function Reader:endgroup()
  if self.data:byte(self.pos + 1) == 10 then self.pos = self.pos + 1 end
end

-- Ascii integers must be whole numbers of their type's range (no nan, inf or 1.5).
local INT_MAX = { int32_t = 2 ^ 31, int64_t = 2 ^ 63 }
function Reader:integer(v, ctype)
  local max = INT_MAX[ctype]
  if max and not (v == math.floor(v) and v >= -max and v < max) then
    fail(self, ('expected an integer at offset %d, found %s (corrupt file?)'):format(self.pos, tostring(v)))
  end
  return v
end

function Reader:scalar(ctype, size)
  if self.ascii then
    local v = self:integer(self:token(), ctype); self:endgroup(); return v
  end
  self:need(size)
  local v = ffi.cast(ctype .. '*', self.base + self.pos)[0]
  self.pos = self.pos + size
  return tonumber(v)
end
function Reader:int() return self:scalar('int32_t', 4) end
function Reader:long() return self:scalar('int64_t', 8) end
function Reader:double() return self:scalar('double', 8) end

function Reader:count(what, limit)
  local n = self:long()
  if n < 0 or n ~= math.floor(n) or n > (limit or 2 ^ 53) then
    fail(self, ('bad %s %s at offset %d (corrupt file?)'):format(what, tostring(n), self.pos))
  end
  return n
end

function Reader:longs(n)
  local r = {}
  if self.ascii then
    for i = 1, n do r[i] = self:integer(self:token(), 'int64_t') end
    if n > 0 then self:endgroup() end
  else
    for i = 1, n do r[i] = self:long() end
  end
  return r
end

function Reader:string()
  local n = self:int()
  if n < 0 then fail(self, ('bad string length %d at offset %d (corrupt file?)'):format(n, self.pos)) end
  self:need(n)
  local s = self.data:sub(self.pos + 1, self.pos + n)
  self.pos = self.pos + n
  if self.ascii and n > 0 then self:endgroup() end
  return s
end

-- n elements of type e into the tensor t (of n elements, contiguous).
function Reader:elements(e, t, n)
  if n == 0 then return end
  local dst = t:data()
  if self.ascii and not e.raw then
    for i = 0, n - 1 do dst[i] = self:token() end
    self:endgroup()
    return
  end
  self:need(n * e.size)
  local src = ffi.cast(e.ctype .. '*', self.base + self.pos)
  if T.DTYPES[e.key].ctype == e.ctype .. '*' then
    ffi.copy(dst, src, n * e.size)
  else
    for i = 0, n - 1 do dst[i] = src[i] end
  end
  self.pos = self.pos + n * e.size
  if self.ascii then self:endgroup() end
end

function Reader:storage(e)
  local n = self:count('storage size', (self.len - self.pos) * (self.ascii and 1 or 1 / e.size) + 1)
  local t = T.new(e.key, n)
  self:elements(e, t, n)
  return t
end

function Reader:tensor(e, classname)
  local ndim = self:int()
  if ndim < 0 or ndim > 8 then
    fail(self, ('a %s with %d dimensions (corrupt file? Fathom handles up to 8)'):format(classname, ndim))
  end
  local sizes, strides = self:longs(ndim), self:longs(ndim)
  local offset = self:long() - 1
  local storage = self:object()
  if ndim == 0 then return T.new(e.key) end
  -- below 2^53 every value is exact as a Lua number and as an int64 again
  local function bad(v) return v < 0 or v >= 2 ^ 53 end
  local numel = 1
  for i = 1, ndim do
    if bad(sizes[i]) or bad(strides[i]) then
      fail(self, ('a %s with size %s and stride %s in dimension %d (corrupt file?)')
        :format(classname, tostring(sizes[i]), tostring(strides[i]), i))
    end
    numel = numel * sizes[i]
  end
  if bad(offset) then fail(self, ('a %s with offset %s (corrupt file?)'):format(classname, tostring(offset + 1))) end
  if numel == 0 then -- no storage read; the sizes must still make a tensor
    local ok, t = pcall(T.new, e.key, unpack(sizes))
    if not ok then
      local dims = {}
      for i = 1, ndim do dims[i] = ('%d'):format(sizes[i]) end
      fail(self, ('an empty %s of size %s (%s)'):format(classname, table.concat(dims, 'x'),
        (tostring(t):gsub('^[^:]*:%d+: ', ''))))
    end
    return t
  end
  if not T.isTensor(storage) then fail(self, 'a ' .. classname .. ' without its storage (corrupt file?)') end
  local sz, sd = ffi.new('int64_t[8]'), ffi.new('int64_t[8]')
  for i = 1, ndim do sz[i - 1], sd[i - 1] = sizes[i], strides[i] end
  if C.ft_tensor_as_strided(F.out, storage.p, ndim, sz, sd, offset) ~= 0 then
    fail(self, ('a %s that does not fit its storage (%s)'):format(classname, ffi.string(C.ft_last_error())))
  end
  return T.Tensor._wrap(F.out[0])
end

-- Torch7's modules keep a few fields in other forms than Fathom's: sizes as LongStorages
-- (loaded as LongTensors), batch normalization without nFeature (and, in files before
-- 2016, running_std = 1/sqrt(var + eps) instead of running_var). Put them in Fathom's.
local function as_list(v)
  if T.isTensor(v) then local r = {} for i = 1, v:nElement() do r[i] = v[i] end return r end
  return v
end
local function fix_bn(m)
  local mean = m.running_mean
  if T.isTensor(mean) then m.nFeature = m.nFeature or mean:nElement() end
  if not m.running_var and T.isTensor(m.running_std) then
    local std = m.running_std
    m.running_var = std:clone():cmul(std):pow(-1):add(-(m.eps or 1e-5))
    m.running_std = nil
  end
  if m.fuse == nil then m.fuse = false end
  if m.affine == nil then m.affine = m.weight ~= nil end
  if not T.isTensor(m.save_invstd) then m.save_invstd = T.new(T.isTensor(mean) and mean:dtype() or nil) end
end
local FIXUPS = {
  ['nn.View'] = function(m) m.size = as_list(m.size) end,
  ['nn.Reshape'] = function(m)
    m.size = as_list(m.size)
    m.nelement = m.nelement or 1
    m.batchsize = nil
  end,
  ['nn.SpatialConvolution'] = function(m)
    m.padW = m.padW or m.padding or 0
    m.padH = m.padH or m.padding or 0
  end,
  ['nn.BatchNormalization'] = fix_bn,
  ['nn.SpatialBatchNormalization'] = fix_bn,
}

local function fixup(obj)
  local mt = getmetatable(obj)
  while type(mt) == 'table' do
    local f = FIXUPS[rawget(mt, '__typename')]
    if f then f(obj) return end
    local up = getmetatable(mt)
    mt = up and up.__index
  end
end

local function resolve_class(name)
  local torch = package.loaded.torch
  if torch and torch.classes and torch.classes[name] then return torch.classes[name] end
  local prefix, short = name:match('^([%w_]+)%.([%w_]+)$')
  if prefix == 'nn' or prefix == 'cudnn' or prefix == 'cunn' then
    local nnmod = package.loaded.nn or require 'fathom.nn'
    local ok, cls = pcall(function() return nnmod[short] end)
    if ok and type(cls) == 'table' then return cls end
  end
end
t7.resolveClass = resolve_class

local MAX_DEPTH = 2000 -- nesting deeper than this is a corrupt (or hostile) file

function Reader:object()
  self.depth = (self.depth or 0) + 1
  if self.depth > MAX_DEPTH then fail(self, ('objects nested more than %d deep (corrupt file?)'):format(MAX_DEPTH)) end
  local v = self:object1()
  self.depth = self.depth - 1
  return v
end

function Reader:object1()
  local tag = self:int()
  if tag == NIL then return nil
  elseif tag == NUMBER then return self:double()
  elseif tag == BOOLEAN then return self:int() == 1
  elseif tag == STRING then return self:string()
  elseif tag == FUNCTION or tag == RECUR_FUNCTION or tag == LEGACY_RECUR_FUNCTION then
    fail(self, 'the file contains a serialized Lua function; Fathom never runs code from a file, so it cannot be loaded')
  elseif tag == TABLE or tag == TORCH then
    local index = self:int()
    if self.objects[index] ~= nil then return self.objects[index] end
    if tag == TABLE then
      local tbl = {}
      self.objects[index] = tbl
      local n = self:int()
      if n < 0 then fail(self, ('a table with %d entries (corrupt file?)'):format(n)) end
      for _ = 1, n do
        local k = self:object()
        local v = self:object()
        if k == nil or k ~= k then fail(self, 'a table key that is nil or NaN (corrupt file?)') end
        tbl[k] = v
      end
      return tbl
    end
    local version = self:string()
    local classname = version
    if version:sub(1, 2) == 'V ' then classname = self:string() end
    if #classname == 0 or #classname > 200 or not classname:match('^[%w_%.]+$') then
      fail(self, ('a class name %q (corrupt file?)'):format(classname:sub(1, 40)))
    end
    local prefix, kind = classname:match('^torch%.(%a*)(Tensor)$')
    if not prefix then prefix, kind = classname:match('^torch%.(%a*)(Storage)$') end
    if kind then
      local e = elem_of(prefix)
      if not e then fail(self, 'Fathom cannot load a ' .. classname .. ' (no such element type)') end
      local obj = kind == 'Tensor' and self:tensor(e, classname) or self:storage(e)
      self.objects[index] = obj
      return obj
    end
    local cls = resolve_class(classname)
    if not cls then
      fail(self, ('the file contains an object of class %s, which Fathom does not know; ' ..
        'define it (torch.class) before loading'):format(classname))
    end
    local obj = setmetatable({}, cls)
    self.objects[index] = obj
    local fields = self:object()
    if type(fields) ~= 'table' then fail(self, 'the fields of a ' .. classname .. ' are not a table (corrupt file?)') end
    for k, v in pairs(fields) do obj[k] = v end
    fixup(obj)
    return obj
  end
  fail(self, ('unknown object type %d at offset %d (corrupt file, or not a .t7 file)'):format(tag, self.pos - 4))
end

local function reader(data, format, name)
  local r = setmetatable({ data = data, len = #data, pos = 0, objects = {}, name = name or 'string',
    base = ffi.cast('const uint8_t*', data) }, Reader)
  if format == nil then
    -- Ascii files start with a digit (the type tag as text); binary ones with a small int.
    format = data:match('^%d+\n') and 'ascii' or 'binary'
  end
  if format ~= 'binary' and format ~= 'ascii' then
    error("torch.load: format must be 'binary' or 'ascii', got " .. tostring(format), 0)
  end
  r.ascii = format == 'ascii'
  return r
end

function t7.deserialize(data, format)
  if type(data) ~= 'string' then error('torch.deserialize: expected a string', 2) end
  return reader(data, format, 'string'):object()
end

function t7.load(filename, format)
  if type(filename) ~= 'string' then error('torch.load: filename must be a string', 2) end
  local f, err = io.open(filename, 'rb')
  if not f then error('torch.load: cannot open ' .. tostring(err), 2) end
  local data = f:read('*a')
  f:close()
  if #data == 0 then error('torch.load: ' .. filename .. ': the file is empty', 2) end
  return reader(data, format, filename):object()
end

---------------------------------------------------------------------------- writing
local Writer = {}
Writer.__index = Writer

local scratch = ffi.new('union { int32_t i; int64_t l; double d; uint8_t b[8]; }')

function Writer:put(s) self.parts[#self.parts + 1] = s end
function Writer:int(v)
  if self.ascii then return self:put(('%d\n'):format(v)) end
  scratch.i = v; self:put(ffi.string(scratch.b, 4))
end
function Writer:long(v)
  if self.ascii then return self:put(('%d\n'):format(v)) end
  scratch.l = v; self:put(ffi.string(scratch.b, 8))
end
function Writer:double(v)
  if self.ascii then return self:put(('%.17g\n'):format(v)) end
  scratch.d = v; self:put(ffi.string(scratch.b, 8))
end
function Writer:longs(list)
  if self.ascii then
    if #list > 0 then
      local s = {}
      for i, v in ipairs(list) do s[i] = ('%d'):format(v) end
      self:put(table.concat(s, ' ') .. '\n')
    end
  else
    for _, v in ipairs(list) do self:long(v) end
  end
end
function Writer:string(s)
  self:int(#s)
  self:put(s)
  if self.ascii and #s > 0 then self:put('\n') end
end

-- Returns true when obj was written before (only its index is written then).
function Writer:ref(obj)
  local index = self.index[obj]
  if index then self:int(index) return true end
  self.n = self.n + 1
  self.index[obj] = self.n
  self:int(self.n)
  return false
end

local function writable(v)
  local t = type(v)
  return t == 'number' or t == 'string' or t == 'boolean' or t == 'table' or T.isTensor(v)
end

function Writer:storage(t)
  local st = t.p.storage
  local key = tostring(ffi.cast('intptr_t', st))
  self:int(TORCH)
  if self:ref(key) then return end
  local e = SAVE_AS[t:dtype()]
  self:string('V 1')
  self:string('torch.' .. e .. 'Storage')
  local esize = ELEM[e].size
  local n = tonumber(st.nbytes) / esize
  self:long(n)
  local base = ffi.cast(T.DTYPES[t:dtype()].ctype, st.data)
  if not self.ascii then
    self:put(ffi.string(base, n * esize))
  elseif ELEM[e].raw then
    self:put(ffi.string(base, n)); if n > 0 then self:put('\n') end
  elseif n > 0 then
    local s, fmt = {}, ELEM[e].fmt
    for i = 0, n - 1 do s[i + 1] = fmt:format(tonumber(base[i])) end
    self:put(table.concat(s, ' ') .. '\n')
  end
end

function Writer:tensor(t)
  if t:isCuda() then t = t:float() end
  self:int(TORCH)
  if self:ref(t) then return end
  local e = SAVE_AS[t:dtype()]
  self:string('V 1')
  self:string('torch.' .. e .. 'Tensor')
  local nd = t:dim()
  self:int(nd)
  local sizes, strides = {}, {}
  for i = 1, nd do sizes[i], strides[i] = t:size(i), t:stride(i) end
  self:longs(sizes)
  self:longs(strides)
  self:long(tonumber(t.p.offset) + 1)
  if nd == 0 or t.p.storage == nil then self:int(NIL) else self:storage(t) end
end

function Writer:object(obj)
  local ty = type(obj)
  if obj == nil then self:int(NIL)
  elseif ty == 'number' then self:int(NUMBER); self:double(obj)
  elseif ty == 'boolean' then self:int(BOOLEAN); self:int(obj and 1 or 0)
  elseif ty == 'string' then self:int(STRING); self:string(obj)
  elseif T.isTensor(obj) then self:tensor(obj)
  elseif ty == 'table' then
    local mt = getmetatable(obj)
    local name = mt and rawget(mt, '__typename')
    if name then
      self:int(TORCH)
      if self:ref(obj) then return end
      self:string('V 1')
      self:string(name)
      -- The module's writable fields (Torch7 skips the others too).
      local fields = {}
      for k, v in pairs(obj) do if writable(k) and writable(v) then fields[k] = v end end
      self:object(fields)
    elseif mt then
      error('torch.save: cannot save a table with a metatable that is not a class', 0)
    else
      self:int(TABLE)
      if self:ref(obj) then return end
      local n = 0
      for _ in pairs(obj) do n = n + 1 end
      self:int(n)
      for k, v in pairs(obj) do self:object(k); self:object(v) end
    end
  else
    error('torch.save: cannot save a ' .. ty .. ' (Fathom writes no code into files)', 0)
  end
end

function t7.serialize(obj, format)
  format = format or 'binary'
  if format ~= 'binary' and format ~= 'ascii' then
    error("torch.save: format must be 'binary' or 'ascii', got " .. tostring(format), 2)
  end
  local w = setmetatable({ parts = {}, index = {}, n = 0, ascii = format == 'ascii' }, Writer)
  local ok, err = pcall(w.object, w, obj)
  if not ok then error(err, 2) end
  return table.concat(w.parts)
end

function t7.save(filename, obj, format)
  if type(filename) ~= 'string' then error('torch.save: filename must be a string', 2) end
  local data = t7.serialize(obj, format)
  local f, err = io.open(filename, 'wb')
  if not f then error('torch.save: cannot open ' .. tostring(err), 2) end
  f:write(data)
  f:close()
end

return t7
