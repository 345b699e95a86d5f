#!/usr/bin/env python3
"""study/compare.py -- Fathom's recipes/cifar10_sd.lua against study/sd_torch.py (an
independent PyTorch implementation of the same recipe), K seeds per framework and mode.

  python3 study/compare.py --data DIR --out study/runs --seeds 3 --nEpochs 4 --maxIters 50 \
      --jobs 2 [--modes sd,constant] [--depth 20] [--fathomArgs '-backend cuda'] [--report-only]
      [--frameworks fathom]

Runs (one thread each, under nice -n 10 or --nice N; a run whose summary.json exists is kept):
  luajit recipes/cifar10_sd.lua -depth D -nEpochs E -maxIters M -pL P -manualSeed S
      -computeThreads 1 -nThreads 1 -plot false -data DIR -save OUT/fathom_<mode>_s<S>
  python3 study/sd_torch.py --data DIR --depth D --nEpochs E --maxIters M --pL P --seed S
      --threads 1 --save OUT/torch_<mode>_s<S>
with P = 0.5 for 'sd' (linear decay) and 1 for 'constant'. Then prints (and writes to
OUT/report.md) per-epoch and final tables: mean and sample standard deviation per framework,
the difference Fathom - PyTorch and that difference in units of its standard error,
sqrt(sF^2/nF + sP^2/nP); and draws OUT/val_error.png (validation error per epoch, every
seed, both frameworks) with Fathom's own plotter (study/plot.lua). Needs luajit with
Fathom built, and torch for the PyTorch side.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODES = {'sd': 0.5, 'constant': 1.0}


def parse():
    p = argparse.ArgumentParser(description='Fathom against PyTorch, K seeds per side and mode')
    p.add_argument('--data', required=True, help='folder with cifar-10-batches-bin/')
    p.add_argument('--out', default=os.path.join(ROOT, 'study', 'runs'))
    p.add_argument('--seeds', type=int, default=3)
    p.add_argument('--firstSeed', type=int, default=1)
    p.add_argument('--modes', default='sd,constant')
    p.add_argument('--depth', type=int, default=20)
    p.add_argument('--nEpochs', type=int, default=4)
    p.add_argument('--maxIters', type=int, default=0)
    p.add_argument('--jobs', type=int, default=2)
    p.add_argument('--nice', type=int, default=10, help='niceness of every run')
    p.add_argument('--fathomArgs', default='', help="more options for Fathom's recipe, e.g. '-backend cuda'")
    p.add_argument('--frameworks', default='fathom,torch',
                   help="whose runs to start (the report reads both): 'fathom' reruns only Fathom's, "
                        "e.g. after a change, against PyTorch runs copied into --out")
    p.add_argument('--report-only', action='store_true')
    return p.parse_args()


def commands(opt):
    runs = []   # seed by seed, so that a stopped study has every mode at a few seeds
    for s in range(opt.firstSeed, opt.firstSeed + opt.seeds):
        for mode in opt.modes.split(','):
            pL = MODES[mode]
            d = os.path.join(opt.out, 'fathom_%s_s%d' % (mode, s))
            runs.append(('fathom', mode, s, d, [
                'luajit', os.path.join(ROOT, 'recipes', 'cifar10_sd.lua'), '-depth', str(opt.depth),
                '-nEpochs', str(opt.nEpochs), '-maxIters', str(opt.maxIters), '-pL', str(pL),
                '-manualSeed', str(s), '-computeThreads', '1', '-nThreads', '1', '-plot', 'false',
                '-data', opt.data, '-save', d] + opt.fathomArgs.split()))
            d = os.path.join(opt.out, 'torch_%s_s%d' % (mode, s))
            runs.append(('torch', mode, s, d, [
                sys.executable, os.path.join(ROOT, 'study', 'sd_torch.py'), '--data', opt.data,
                '--depth', str(opt.depth), '--nEpochs', str(opt.nEpochs), '--maxIters',
                str(opt.maxIters), '--pL', str(pL), '--seed', str(s), '--threads', '1',
                '--save', d]))
    return runs


def run_all(runs, jobs, nice):
    todo = [r for r in runs if not os.path.exists(os.path.join(r[3], 'summary.json'))]
    active = []
    while todo or active:
        while todo and len(active) < jobs:
            fw, mode, s, d, cmd = todo.pop(0)
            if fw == 'fathom' and os.path.isdir(d):      # a half-written run: start again
                subprocess.call(['rm', '-rf', d])
            os.makedirs(os.path.dirname(d), exist_ok=True)
            out = open(d + '.out', 'w')
            env = dict(os.environ, OMP_NUM_THREADS='1')
            active.append((subprocess.Popen(['nice', '-n', str(nice)] + cmd, stdout=out,
                                            stderr=subprocess.STDOUT, cwd=ROOT, env=env), d, out))
            print('started', os.path.basename(d), flush=True)
        time.sleep(2)
        for a in list(active):
            if a[0].poll() is not None:
                a[2].close()
                active.remove(a)
                print('finished %s (exit %d)' % (os.path.basename(a[1]), a[0].returncode), flush=True)


def read_log(d):
    recs = []
    path = os.path.join(d, 'log.jsonl')
    if not os.path.exists(path):
        return recs
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get('type') == 'epoch':
                recs.append(r)
    return recs


def stats(xs):
    n = len(xs)
    m = sum(xs) / n
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else float('nan')
    return m, s, n


def compare(a, b):
    """Cells: mean, sd and count for each side, difference, difference / its standard error."""
    (ma, sa, na), (mb, sb, nb) = stats(a), stats(b)
    se = math.sqrt(sa * sa / na + sb * sb / nb) if na > 1 and nb > 1 else float('nan')
    z = (ma - mb) / se if se > 0 else float('nan')
    return ma, sa, na, mb, sb, nb, ma - mb, z


def fmt_row(label, c, digits):
    f = '%.' + str(digits) + 'f'

    def side(m, s, n):
        return (f + ' ± ' + f + ' (%d)') % (m, s, n) if n > 1 else (f + ' (1)') % m
    z = '%+.2f' % c[7] if c[7] == c[7] else '—'
    return '| %s | %s | %s | %s | %s |' % (label, side(*c[0:3]), side(*c[3:6]),
                                          ('%+.' + str(digits) + 'f') % c[6], z)


def report(opt, runs):
    lines = []
    series = []
    colors = {'fathom': (200, 40, 40), 'torch': (40, 80, 200)}
    logs = {}
    for fw, mode, s, d, _ in runs:
        logs[(fw, mode, s)] = read_log(d)
    for mode in opt.modes.split(','):
        lines.append('\n### %s (p_L = %g), ResNet-%d, %d epochs%s, seeds %d..%d\n' % (
            'stochastic depth, linear decay' if mode == 'sd' else 'constant depth', MODES[mode],
            opt.depth, opt.nEpochs, ' of %d iterations' % opt.maxIters if opt.maxIters else '',
            opt.firstSeed, opt.firstSeed + opt.seeds - 1))
        seeds = range(opt.firstSeed, opt.firstSeed + opt.seeds)
        for key, name, dg in (('trainLoss', 'training loss', 4), ('valErr', 'validation error (%)', 2),
                              ('testErr', 'test error (%)', 2)):
            lines.append('%s per epoch:\n' % name)
            lines.append('| epoch | Fathom mean ± sd (n) | PyTorch mean ± sd (n) | difference | diff / SE |')
            lines.append('|---|---|---|---|---|')
            for e in range(1, opt.nEpochs + 1):
                a = [logs[('fathom', mode, s)][e - 1][key] for s in seeds if len(logs[('fathom', mode, s)]) >= e]
                b = [logs[('torch', mode, s)][e - 1][key] for s in seeds if len(logs[('torch', mode, s)]) >= e]
                if a and b:
                    lines.append(fmt_row(str(e), compare(a, b), dg))
            lines.append('')
        lines.append('final, over the runs that finished:\n')
        lines.append('| measure | Fathom mean ± sd (n) | PyTorch mean ± sd (n) | difference | diff / SE |')
        lines.append('|---|---|---|---|---|')
        done = {fw: [logs[(fw, mode, s)] for s in seeds if len(logs[(fw, mode, s)]) == opt.nEpochs]
                for fw in ('fathom', 'torch')}
        if done['fathom'] and done['torch']:
            for label, fn, dg in (
                    ('test error at best validation (%)', lambda r: r[-1]['testAtBestVal'], 2),
                    ('final validation error (%)', lambda r: r[-1]['valErr'], 2),
                    ('final test error (%)', lambda r: r[-1]['testErr'], 2),
                    ('final training loss', lambda r: r[-1]['trainLoss'], 4),
                    ('final training error (%)', lambda r: r[-1]['trainErr'], 2),
                    ('active blocks per step', lambda r: sum(x['activeBlocks'] for x in r) / len(r), 2),
                    ('seconds per epoch (training)', lambda r: sum(x['time'] for x in r) / len(r), 1)):
                lines.append(fmt_row(label, compare([fn(r) for r in done['fathom']],
                                                    [fn(r) for r in done['torch']]), dg))
            lines.append('\nper seed, test error at best validation: Fathom %s; PyTorch %s' % (
                ', '.join('%.2f' % r[-1]['testAtBestVal'] for r in done['fathom']),
                ', '.join('%.2f' % r[-1]['testAtBestVal'] for r in done['torch'])))
        for fw in ('fathom', 'torch'):
            for s in seeds:
                r = logs[(fw, mode, s)]
                if r:
                    c = colors[fw] if mode == 'sd' else tuple(min(255, v + 110) for v in colors[fw])
                    series.append({'label': '%s, %s (every seed)' % ('Fathom' if fw == 'fathom' else 'PyTorch',
                                                                  mode) if s == opt.firstSeed else '',
                                   'x': [x['epoch'] for x in r], 'y': [x['valErr'] for x in r],
                                   'color': list(c)})
    text = '\n'.join(lines) + '\n'
    print(text)
    with open(os.path.join(opt.out, 'report.md'), 'w') as f:
        f.write(text)
    with open(os.path.join(opt.out, 'series.json'), 'w') as f:
        json.dump({'title': 'CIFAR-10 ResNet-%d: validation error per epoch (up to %d seeds)' % (opt.depth, opt.seeds),
                   'series': series}, f)
    png = os.path.join(opt.out, 'val_error.png')
    rc = subprocess.call(['luajit', os.path.join(ROOT, 'study', 'plot.lua'),
                          os.path.join(opt.out, 'series.json'), png], cwd=ROOT)
    print('plot:', png if rc == 0 else 'failed (exit %d)' % rc)


def main():
    opt = parse()
    runs = commands(opt)
    if not opt.report_only:
        run_all([r for r in runs if r[0] in opt.frameworks.split(',')], opt.jobs, opt.nice)
    report(opt, runs)


if __name__ == '__main__':
    main()
