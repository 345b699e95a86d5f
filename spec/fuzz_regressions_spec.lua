-- fuzz_regressions_spec.lua -- replays every input under spec/fuzz_regressions/<target>/
-- (fuzzer findings and hand-made hostile files: bombs, truncations, overflowing sizes)
-- through the parser the target names, as the fuzzers of fuzz/ call it. Each must be
-- refused cleanly: a non-zero status with a message naming the C function, or a Lua
-- error raised on purpose (no Lua file position in it, i.e. not an accident of the
-- parser). An input named *.ok.* is valid and must be read. A crash fails the suite.
local ffi = require 'ffi'
local fathom = require 'fathom'
local files = require 'datafiles'
local st = require 'fathom.safetensors'
local json = require 'fathom.json'
local ck = require 'fathom.checkpoint'
local t7 = require 'fathom.t7'
local C = fathom.C

local ROOT = 'spec/fuzz_regressions'
local function c_result(st_, fn)
  if st_ == 0 then return true end
  local m = ffi.string(C.ft_last_error())
  assert.are.equal(fn, m:sub(1, #fn), 'the message should name ' .. fn .. ': ' .. m)
  return false, m
end

local function tensors(rows)
  return fathom.ByteTensor(rows, 3, 32, 32), fathom.LongTensor(rows)
end

-- Each returns true when the input was read, false (and the message) when refused.
local PARSERS = {
  cifar = function(path)
    local ok = true
    for lb = 1, 2 do
      local images, labels = tensors(4)
      ok = c_result(C.ft_data_cifar_read(path, lb, lb - 1, lb == 1 and 10 or 100, images.p, labels.p, 0),
                    'ft_data_cifar_read') and ok
    end
    return ok
  end,
  mat = function(path)
    local images, labels = tensors(4)
    return c_result(C.ft_data_svhn_read(path, images.p, labels.p, 0), 'ft_data_svhn_read')
  end,
  png = function(path)
    local out = ffi.new('ft_tensor*[1]')
    local a = c_result(C.ft_png_read(out, path), 'ft_png_read')
    if a then C.ft_tensor_free(out[0]) end
    local b = c_result(C.ft_data_image_decode(path, out), 'ft_data_image_decode')
    if b then C.ft_tensor_free(out[0]) end
    return a and b
  end,
  jpeg = function(path)
    local out = ffi.new('ft_tensor*[1]')
    local ok = c_result(C.ft_data_image_decode(path, out), 'ft_data_image_decode')
    if ok then C.ft_tensor_free(out[0]) end
    return ok
  end,
  safetensors = function(path)
    local ok, err = pcall(st.read, path)
    return ok, err
  end,
  checkpoint = function(path)
    local text = files.read(path)
    local ok1, e1 = pcall(json.decode, text, path)
    if not ok1 then assert.is_falsy(tostring(e1):find('%.lua:%d+:'), 'json.decode: ' .. tostring(e1)) end
    local dir = files.tmpdir()
    files.write(dir .. '/latest.json', text)
    local ok, err = pcall(ck.load, dir)
    files.rmtree(dir)
    return ok, err
  end,
  t7 = function(path)
    return pcall(t7.load, path)
  end,
}

describe('fuzz regressions', function()
  for target, parse in pairs(PARSERS) do
    it('refuses every ' .. target .. ' input cleanly', function()
      local p = io.popen("ls '" .. ROOT .. '/' .. target .. "'")
      local n = 0
      for name in p:lines() do
        n = n + 1
        local path = ROOT .. '/' .. target .. '/' .. name
        local ok, err = parse(path)
        if err then
          assert.is_falsy(tostring(err):find('%.lua:%d+:'), name .. ': an accidental error: ' .. tostring(err))
        end
        assert.are.equal(name:find('%.ok%.') ~= nil, ok == true, name .. ': ' .. tostring(err))
      end
      p:close()
      assert.is_true(n > 0, 'no inputs for ' .. target)
    end)
  end
end)
