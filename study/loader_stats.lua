-- study/loader_stats.lua -- what Fathom's training loader draws over whole epochs, as the
-- recipe sets it up: rows (each once per epoch?), order (position-row correlation, the
-- class mix of each batch against the multinomial's), epoch-to-epoch change, shifts, flips.
--   luajit study/loader_stats.lua [recipe options: -manualSeed 1 -data DIR ...]
local src = debug.getinfo(1, 'S').source:sub(2)
local root = (src:match('^(.*)/[^/]+$') or '.') .. '/..'
package.path = root .. '/?.lua;' .. package.path
require 'fathom'
local opts = require 'fathom.opts'
local recipe = require 'fathom.recipe'

local r = assert(loadfile(root .. '/recipes/cifar10_sd.lua'))('--recipe-table')
local opt = opts.parseOrExit(arg, r)
local d = recipe.data(opt)
local L = recipe.loaders(d, opt).train
local N, B = d.train:size(), opt.batchSize
local rows = {}
for e = 1, 2 do
  local seen, sx, sy, sxx, syy, sxy = {}, 0, 0, 0, 0, 0
  local hist, flips, dup = {}, 0, 0
  rows[e] = {}
  for pos = 1, N do
    local row, dy, dx, flip = L:plan(e, pos)
    rows[e][pos] = row
    if seen[row] then dup = dup + 1 end
    seen[row] = true
    sx, sy, sxx, syy, sxy = sx + pos, sy + row, sxx + pos * pos, syy + row * row, sxy + pos * row
    hist[dy] = (hist[dy] or 0) + 1
    hist[100 + dx] = (hist[100 + dx] or 0) + 1
    flips = flips + flip
  end
  local cov = sxy / N - sx * sy / N / N
  local corr = cov / math.sqrt((sxx / N - (sx / N) ^ 2) * (syy / N - (sy / N) ^ 2))
  local hy, hx = {}, {}
  for k = -4, 4 do hy[#hy + 1] = hist[k] or 0; hx[#hx + 1] = hist[100 + k] or 0 end
  print(('epoch %d: %d samples, %d repeated rows, corr(position, row) %+.4f, flips %.2f%%'):format(e, N, dup, corr, 100 * flips / N))
  print('  dy counts -4..4: ' .. table.concat(hy, ' '))
  print('  dx counts -4..4: ' .. table.concat(hx, ' '))
  -- the class mix per batch: mean over full batches of sum_k (n_k - B f_k)^2 / (B f_k), f_k the
  -- class frequencies of the split; about nClasses - 1 for batches drawn at random
  local lab, freq, nb, chi = d.train.labels:data(), {}, math.floor(N / B), 0
  for pos = 1, N do local y = tonumber(lab[rows[e][pos]]) freq[y] = (freq[y] or 0) + 1 / N end
  for bi = 0, nb - 1 do
    local c = {}
    for j = 1, B do local y = tonumber(lab[rows[e][bi * B + j]]) c[y] = (c[y] or 0) + 1 end
    for k, f in pairs(freq) do chi = chi + ((c[k] or 0) - B * f) ^ 2 / (B * f) end
  end
  print(('  class mix per batch: mean chi-square %.2f over %d batches (random batches: about %d)'):format(chi / nb, nb, d.nClasses - 1))
end
local same = 0
for pos = 1, N do if rows[1][pos] == rows[2][pos] then same = same + 1 end end
print(('epochs 1 and 2: %d of %d positions hold the same row'):format(same, N))
