#!/usr/bin/env python3
"""study/init_stats.py -- the initial-weight distributions of both sides, layer by layer,
against the rule both implement (conv normal(0, sqrt(2/fan_in)), BN weight 1 bias 0,
running mean 0 var 1, linear weight uniform(+-1/sqrt(64)) bias 0).
  python3 study/init_stats.py DIR...   (each DIR holds init.safetensors from study/controlled.lua
                                        and torch_init.safetensors from controlled_torch.py --export)
Pools every DIR (seed) per layer; prints std / expected, mean / expected std, and for the
linear layer max |w| * sqrt(64) and std * sqrt(3 * 64) (both 1 for the uniform rule);
a moment check: kurtosis (3 for a normal, 1.8 for a uniform)."""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from controlled_torch import st_read  # noqa: E402


def main():
    dirs = sys.argv[1:]
    sides = {'fathom': [st_read(os.path.join(d, 'init.safetensors')) for d in dirs],
             'torch': [st_read(os.path.join(d, 'torch_init.safetensors')) for d in dirs]}
    names = sorted(sides['fathom'][0], key=lambda k: (int(k.split('.')[0]), k))
    print('| tensor | shape | expected std | Fathom std/exp | PyTorch std/exp | Fathom mean/exp | PyTorch mean/exp | Fathom kurtosis | PyTorch kurtosis |')
    print('|---|---|---|---|---|---|---|---|---|')
    for k in names:
        a0 = sides['fathom'][0][k]
        if a0.ndim == 4:
            exp = math.sqrt(2.0 / (a0.shape[1] * a0.shape[2] * a0.shape[3]))
        elif a0.ndim == 2:
            exp = 1 / math.sqrt(a0.shape[1]) / math.sqrt(3)
        else:
            vals = {s: np.concatenate([w[k].ravel() for w in sides[s]]) for s in sides}
            const = {s: (float(vals[s].min()), float(vals[s].max())) for s in vals}
            if len(set(const.values())) != 1 or const['fathom'][0] != const['fathom'][1]:
                print('| %s | %s | constant | %s | %s | | | | |' % (k, a0.shape, const['fathom'], const['torch']))
            continue
        row = ['%s' % k, 'x'.join(map(str, a0.shape)), '%.4f' % exp]
        st = {}
        for s in ('fathom', 'torch'):
            v = np.concatenate([w[k].ravel() for w in sides[s]]).astype(np.float64)
            st[s] = (v.std() / exp, v.mean() / exp, ((v - v.mean()) ** 4).mean() / v.var() ** 2)
        row += ['%.4f' % st['fathom'][0], '%.4f' % st['torch'][0], '%+.4f' % st['fathom'][1],
                '%+.4f' % st['torch'][1], '%.2f' % st['fathom'][2], '%.2f' % st['torch'][2]]
        print('| ' + ' | '.join(row) + ' |')
    for k in names:
        a0 = sides['fathom'][0][k]
        if a0.ndim == 2:
            for s in sides:
                v = np.concatenate([w[k].ravel() for w in sides[s]])
                print('%s %s: max |w| sqrt(fan_in) = %.4f' % (s, k, np.abs(v).max() * math.sqrt(a0.shape[1])))
    consts = {}
    for s in sides:
        for k in names:
            if sides[s][0][k].ndim == 1:
                v = np.concatenate([w[k] for w in sides[s]])
                lin = k.split('.')[0] + '.weight' in sides[s][0] and sides[s][0][k.split('.')[0] + '.weight'].ndim == 2
                key = 'linear bias' if lin else (k.split('.')[1] if not k.startswith('2.') else k[2:])
                if not lin:
                    key = {'running_mean': 'runningMean', 'running_var': 'runningVar', 'weight': 'bnWeight',
                           'bias': 'bnBias'}.get(key, key)
                consts.setdefault((s, key), set()).update(np.unique(v).tolist())
    for (s, key), v in sorted(consts.items()):
        print('%s %s values: %s' % (s, key, sorted(v)[:5]))


if __name__ == '__main__':
    main()
