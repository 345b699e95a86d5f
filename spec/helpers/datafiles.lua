-- spec/helpers/datafiles.lua -- small synthetic data files for the data specs: temporary
-- folders, CIFAR .bin records, MATLAB level-5 .mat files (plain and zlib-compressed,
-- written here independently of core/data/mat.c), PNG files (stored deflate blocks, CRC32
-- and Adler-32 computed here, independent of libpng), the official CIFAR-10 layout, and a
-- local HTTP server to download from.
local bit = require 'bit'
local M = {}

function M.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p '" .. d .. "'") == 0)
  return d
end
function M.rmtree(d) if d and d:match('^/tmp/') then os.execute("rm -rf '" .. d .. "'") end end
function M.mkdir(d) assert(os.execute("mkdir -p '" .. d .. "'") == 0) return d end

function M.write(path, s)
  local f = assert(io.open(path, 'wb'))
  f:write(s)
  f:close()
end
function M.read(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end

-- Deterministic pixel value of image i, channel c, row y, column x.
function M.pixel(i, c, y, x) return (i * 37 + c * 101 + y * 7 + x * 3) % 256 end

-- The 3072 pixel bytes of image i: pixel() repeats every 256 images (37 is odd), so
-- they are built once per residue and large files are quick to write.
local image_cache = {}
local function image_bytes(i)
  local key = i % 256
  if not image_cache[key] then
    local px = {}
    for c = 0, 2 do for y = 0, 31 do for x = 0, 31 do px[#px + 1] = M.pixel(key, c, y, x) end end end
    local chunks = {}
    for k = 1, #px, 1024 do chunks[#chunks + 1] = string.char(unpack(px, k, math.min(k + 1023, #px))) end
    image_cache[key] = table.concat(chunks)
  end
  return image_cache[key]
end

-- CIFAR records: labels[i] is a table of label bytes (e.g. {coarse, fine}) or a number;
-- record i holds image first + i - 1 (first defaults to 0).
function M.cifar_bin(path, labels, first)
  local parts = {}
  for i, lab in ipairs(labels) do
    local head = type(lab) == 'table' and string.char(unpack(lab)) or string.char(lab)
    parts[#parts + 1] = head .. image_bytes((first or 0) + i - 1)
  end
  M.write(path, table.concat(parts))
end

-- The official cifar-10-batches-bin layout in root: data_batch_1..5.bin with `per` records
-- each and test_batch.bin with `ntest` (default per); labels 0..9 cycling, images numbered
-- on from file to file. Returns the folder.
function M.cifar10_dir(root, per, ntest)
  local cd = M.mkdir(root .. '/cifar-10-batches-bin')
  local n = 0
  local function write(name, count)
    local l = {}
    for i = 1, count do l[i] = (n + i - 1) % 10 end
    M.cifar_bin(cd .. '/' .. name, l, n)
    n = n + count
  end
  for b = 1, 5 do write('data_batch_' .. b .. '.bin', per) end
  write('test_batch.bin', ntest or per)
  M.write(cd .. '/batches.meta.txt', 'airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n')
  return cd
end

-- cifar-10-binary.tar.gz as the official one is laid out, built from M.cifar10_dir;
-- padding: that many random (incompressible) bytes in its readme.html, for a slow download.
function M.cifar10_tgz(dir, per, padding)
  local src = M.mkdir(dir .. '/tgz-src')
  local cd = M.cifar10_dir(src, per)
  if padding then
    assert(os.execute(("head -c %d /dev/urandom > '%s/readme.html'"):format(padding, cd)) == 0)
  end
  local tgz = dir .. '/cifar-10-binary.tar.gz'
  assert(os.execute(("tar -czf '%s' -C '%s' cifar-10-batches-bin"):format(tgz, src)) == 0)
  M.rmtree(src)
  return tgz
end

-- An HTTP server on 127.0.0.1 (python3 -m http.server on a free port) serving dir, that
-- stops by itself after `seconds` (default 60). rate (bytes/s): send files that slowly
-- (a handler of the same module, 20 chunks a second). Returns { url=, port=, stop= } or
-- nil and why (no python3).
local SLOW = [[
import functools, http.server, sys, time
d, rate = sys.argv[1], int(sys.argv[2])
class H(http.server.SimpleHTTPRequestHandler):
    def copyfile(self, src, dst):
        while True:
            b = src.read(max(rate // 20, 1))
            if not b: break
            dst.write(b); dst.flush(); time.sleep(0.05)
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(('127.0.0.1', 0), functools.partial(H, directory=d))
print('Serving HTTP on 127.0.0.1 port', s.server_address[1], flush=True)
s.serve_forever()
]]
function M.http_server(dir, seconds, rate)
  if os.execute('command -v python3 >/dev/null 2>&1') ~= 0 then return nil, 'python3 is not installed' end
  local log = os.tmpname()
  local server = ('python3 -u -m http.server 0 --bind 127.0.0.1 --directory "%s"'):format(dir)
  if rate then
    local script = log .. '.py'
    M.write(script, SLOW)
    server = ('python3 -u "%s" "%s" %d'):format(script, dir, rate)
  end
  local p = io.popen(("sh -c 'exec timeout %d %s' >'%s' 2>&1 </dev/null & echo $!"):format(seconds or 60, server, log))
  local pid = tonumber(p:read('*a'):match('%d+'))
  p:close()
  local port
  for _ = 1, 200 do -- up to 10 s for the server to say its port
    local f = io.open(log, 'r')
    local s = f and f:read('*a') or ''
    if f then f:close() end
    port = tonumber(s:match('port (%d+)'))
    if port then break end
    os.execute('sleep 0.05')
  end
  local function stop()
    if pid then os.execute('kill ' .. pid .. ' 2>/dev/null') pid = nil end
    os.remove(log)
    os.remove(log .. '.py')
  end
  if not port then stop() return nil, 'the HTTP server did not start' end
  return { url = 'http://127.0.0.1:' .. port, port = port, stop = stop }
end

-- The folder of the real dataset `name` when it is there ($FATHOM_DATA, else the default
-- folder; never downloaded), else nil and the line a pending spec shows.
function M.real(name, folder)
  local ok, dir = pcall(require('fathom.data').locate, name, nil, { download = false })
  if ok then return dir end
  return nil, ('needs the real %s files, not found (%s): run FATHOM_DATA=DIR make test, DIR ' ..
               'holding %s'):format(name, os.getenv('FATHOM_DATA') and 'FATHOM_DATA=' .. os.getenv('FATHOM_DATA')
                                     or 'FATHOM_DATA is not set', folder)
end

---------------------------------------------------------------- little-endian packing
local function u8(v) return string.char(v % 256) end
local function u16(v) return string.char(v % 256, math.floor(v / 256) % 256) end
local function u32(v)
  return string.char(v % 256, math.floor(v / 256) % 256, math.floor(v / 65536) % 256,
                     math.floor(v / 16777216) % 256)
end
local function be32(v)
  return string.char(math.floor(v / 16777216) % 256, math.floor(v / 65536) % 256,
                     math.floor(v / 256) % 256, v % 256)
end
M.u32 = u32
local function f64(v) -- little-endian IEEE double, via the FFI
  local ffi = require 'ffi'
  local d = ffi.new('double[1]', v)
  return ffi.string(d, 8)
end

---------------------------------------------------------------- zlib (stored blocks)
local function adler32(s)
  local a, b = 1, 0
  for i = 1, #s do a = (a + s:byte(i)) % 65521; b = (b + a) % 65521 end
  return b * 65536 + a
end
-- A valid zlib stream using stored (uncompressed) deflate blocks.
function M.zlib_stored(s)
  local out, pos = { '\120\1' }, 1
  repeat
    local chunk = s:sub(pos, pos + 65534)
    pos = pos + #chunk
    local final = pos > #s and 1 or 0
    out[#out + 1] = u8(final) .. u16(#chunk) .. u16(65535 - #chunk) .. chunk
  until pos > #s
  local a = adler32(s)
  out[#out + 1] = be32(a)
  return table.concat(out)
end

-- A zlib stream made by the system's zlib (compress2, level 9): real compression, for inputs
-- whose compressed size matters (decompression bombs, fuzz seeds), next to the stored blocks.
local zlib
function M.deflate(s)
  local ffi = require 'ffi'
  if not zlib then
    pcall(ffi.cdef, [[int compress2(uint8_t *dest, unsigned long *destLen, const uint8_t *source,
                                    unsigned long sourceLen, int level);]])
    zlib = ffi.load('z')
  end
  local cap = ffi.new('unsigned long[1]', #s + #s / 1000 + 64)
  local buf = ffi.new('uint8_t[?]', cap[0])
  assert(zlib.compress2(buf, cap, s, #s, 9) == 0)
  return ffi.string(buf, cap[0])
end

---------------------------------------------------------------- MATLAB level 5
local MI = { int8 = 1, uint8 = 2, int16 = 3, uint16 = 4, int32 = 5, uint32 = 6, double = 9,
             matrix = 14, compressed = 15 }
local function pad8(s) return s .. string.rep('\0', (8 - #s % 8) % 8) end
local function element(mi, payload) return u32(mi) .. u32(#payload) .. pad8(payload) end

-- One variable. v = { name=, class= (mx class number), dims={...}, mi= (data type),
-- data = string of raw little-endian values }.
function M.mat_variable(v)
  local dims = {}
  for i, d in ipairs(v.dims) do dims[i] = u32(d) end
  local name = v.name
  local nameel = #name <= 4 and (u16(MI.int8) .. u16(#name) .. name .. string.rep('\0', 4 - #name))
                 or element(MI.int8, name)
  local body = element(MI.uint32, u32(v.class + (v.complex and 0x800 or 0)) .. u32(0)) ..
               element(MI.int32, table.concat(dims)) .. nameel .. element(v.mi, v.data)
  return u32(MI.matrix) .. u32(#body) .. body
end

function M.mat_header(text)
  text = text or 'MATLAB 5.0 MAT-file, written by the Fathom test suite'
  return text .. string.rep(' ', 116 - #text) .. string.rep('\0', 8) .. u16(0x0100) .. 'IM'
end

-- An SVHN-like file: X 32x32x3xN uint8 (column-major), y Nx1 double.
-- opts: compress (true: each variable in a miCOMPRESSED element, stored-block zlib),
-- ymi ('double' or 'uint8': MATLAB writes integer-valued doubles in smaller types), extra vars.
function M.svhn_mat(path, labels, opts)
  opts = opts or {}
  local n = #labels
  local x = {}
  for i = 0, n - 1 do
    local px = {}
    for c = 0, 2 do for col = 0, 31 do for row = 0, 31 do px[#px + 1] = M.pixel(i, c, row, col) end end end
    local chunks = {}
    for k = 1, #px, 1024 do chunks[#chunks + 1] = string.char(unpack(px, k, k + 1023)) end
    x[#x + 1] = table.concat(chunks)
  end
  local ydata = {}
  for i = 1, n do ydata[i] = opts.ymi == 'uint8' and u8(labels[i]) or f64(labels[i]) end
  local vars = {
    M.mat_variable{ name = 'X', class = 9, dims = { 32, 32, 3, n }, mi = MI.uint8, data = table.concat(x) },
    M.mat_variable{ name = 'y', class = 6, dims = { n, 1 }, mi = MI[opts.ymi or 'double'],
                    data = table.concat(ydata) },
  }
  for _, v in ipairs(opts.extra or {}) do vars[#vars + 1] = M.mat_variable(v) end
  if opts.reverse then vars[1], vars[2] = vars[2], vars[1] end
  local parts = { M.mat_header() }
  for _, v in ipairs(vars) do
    if opts.compress then
      local z = opts.zlib and opts.zlib(v) or M.zlib_stored(v)
      parts[#parts + 1] = u32(MI.compressed) .. u32(#z) .. z
    else
      parts[#parts + 1] = v
    end
  end
  M.write(path, table.concat(parts))
end
M.MI = MI

---------------------------------------------------------------- PNG
local crc_table = {}
for n = 0, 255 do
  local c = n
  for _ = 1, 8 do
    if bit.band(c, 1) == 1 then c = bit.bxor(0xEDB88320, bit.rshift(c, 1)) else c = bit.rshift(c, 1) end
  end
  crc_table[n] = c
end
local function crc32(s)
  local c = 0xFFFFFFFF
  for i = 1, #s do c = bit.bxor(crc_table[bit.band(bit.bxor(c, s:byte(i)), 0xFF)], bit.rshift(c, 8)) end
  return bit.bxor(c, 0xFFFFFFFF) % 4294967296
end
local function chunk(kind, payload) return be32(#payload) .. kind .. payload .. be32(crc32(kind .. payload)) end

-- PNG of w x h pixels; px(x, y) returns the channel values (1, 2, 3 or 4 of them, by
-- colour type: 0 grey, 4 grey+alpha, 2 RGB, 6 RGBA, 3 palette index), 8 bits each (16 with
-- depth 16). palette: { {r,g,b}, ... } for colour type 3.
function M.png(path, w, h, color, px, depth, palette)
  depth = depth or 8
  local rows = {}
  for y = 0, h - 1 do
    local r = { '\0' } -- filter: none
    for x = 0, w - 1 do
      for _, v in ipairs({ px(x, y) }) do
        r[#r + 1] = depth == 16 and string.char(math.floor(v / 256), v % 256) or string.char(v)
      end
    end
    rows[#rows + 1] = table.concat(r)
  end
  local ihdr = be32(w) .. be32(h) .. string.char(depth, color, 0, 0, 0)
  local plte = ''
  if palette then
    local p = {}
    for _, c in ipairs(palette) do p[#p + 1] = string.char(c[1], c[2], c[3]) end
    plte = chunk('PLTE', table.concat(p))
  end
  local s = '\137PNG\r\n\26\n' .. chunk('IHDR', ihdr) .. plte ..
            chunk('IDAT', M.zlib_stored(table.concat(rows))) .. chunk('IEND', '')
  M.write(path, s)
  return s
end

return M
