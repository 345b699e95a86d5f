#!/usr/bin/env python3
"""study/controlled_torch.py -- PyTorch's half of the controlled comparison: repeats, step for
step, the iterations that study/controlled.lua ran in Fathom, from the same initial weights
and on the same batches (the same rows, shifts and flips, normalised with Fathom's mean and
std), with study/sd_torch.py's model and SGD, float32, one thread.

  python3 study/controlled_torch.py --data DIR --dir OUT [--init fathom|torch] [--seed S]
      [--perturb EPS] [--export FILE]

OUT is the folder study/controlled.lua wrote. --init torch starts from sd_torch.py's own
initial draw (seed S) instead of Fathom's; --perturb EPS multiplies every initial weight by
(1 + EPS u), u uniform in [-1, 1] (seed S): the growth of such a difference measures
float32 chaos. --export FILE writes the initial weights in Fathom's names (for the recipe's
-retrain, and the init statistics). Writes OUT/torch_<tag>.json: the loss per iteration, and
prints it beside Fathom's with the relative difference of the final weights.
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sd_torch import ResNet, read_bin, survival  # noqa: E402

DT = {'F32': np.float32, 'F64': np.float64, 'I64': np.int64, 'U8': np.uint8}
DTN = {np.dtype(np.float32): 'F32', np.dtype(np.float64): 'F64'}


def st_read(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == '__metadata__':
            continue
        b, e = v['data_offsets']
        out[k] = np.frombuffer(data[b:e], dtype=DT[v['dtype']]).reshape(v['shape']).copy()
    return out


def st_write(path, tensors):
    head, off, blobs = {}, 0, []
    for k, a in tensors.items():
        a = np.ascontiguousarray(a)
        head[k] = {'dtype': DTN[a.dtype], 'shape': list(a.shape), 'data_offsets': [off, off + a.nbytes]}
        off += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(head).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def name_map(depth):
    """PyTorch state_dict name -> Fathom's checkpoint name (models/resnet_cifar.lua)."""
    m = {'conv.weight': '1.weight', 'bn.weight': '2.weight', 'bn.bias': '2.bias',
         'bn.running_mean': '2.running_mean', 'bn.running_var': '2.running_var'}
    L = 3 * ((depth - 2) // 6)
    for i in range(L):
        f = str(4 + i)
        for j in (1, 2):
            m['blocks.%d.conv%d.weight' % (i, j)] = '%s.convWeight.%d' % (f, j)
            m['blocks.%d.bn%d.weight' % (i, j)] = '%s.bnWeight.%d' % (f, j)
            m['blocks.%d.bn%d.bias' % (i, j)] = '%s.bnBias.%d' % (f, j)
            m['blocks.%d.bn%d.running_mean' % (i, j)] = '%s.runningMean.%d' % (f, j)
            m['blocks.%d.bn%d.running_var' % (i, j)] = '%s.runningVar.%d' % (f, j)
    m['fc.weight'] = '%d.weight' % (4 + L + 2)
    m['fc.bias'] = '%d.bias' % (4 + L + 2)
    return m


def parse():
    p = argparse.ArgumentParser(description='PyTorch half of the controlled comparison')
    p.add_argument('--data', required=True, help='folder with cifar-10-batches-bin/')
    p.add_argument('--dir', required=True, help='the folder study/controlled.lua wrote')
    p.add_argument('--init', choices=('fathom', 'torch'), default='fathom')
    p.add_argument('--seed', type=int, default=1)
    p.add_argument('--perturb', type=float, default=0.0)
    p.add_argument('--export', default='')
    p.add_argument('--tag', default='')
    p.add_argument('--threads', type=int, default=1)
    return p.parse_args()


def main():
    opt = parse()
    torch.set_num_threads(opt.threads)
    with open(os.path.join(opt.dir, 'fathom.json')) as f:
        fat = json.load(f)
    with open(os.path.join(opt.dir, 'plan.json')) as f:
        plan = json.load(f)
    fo = fat['options']
    depth, pL = int(fo['depth']), float(fo['pL'])
    if pL != 1:
        sys.exit('controlled_torch.py: constant depth only (the gates are drawn by different generators)')
    torch.manual_seed(opt.seed)
    model = ResNet(depth, survival(fo['deathMode'], pL, 3 * ((depth - 2) // 6)))
    names = name_map(depth)
    sd = model.state_dict()
    if opt.init == 'fathom':
        w = st_read(os.path.join(opt.dir, 'init.safetensors'))
        missing = [k for k in sd if k not in names and not k.endswith('num_batches_tracked')]
        assert not missing, missing
        for k in sd:
            if k in names:
                assert tuple(sd[k].shape) == w[names[k]].shape, k
                sd[k].copy_(torch.from_numpy(w[names[k]]))
    if opt.perturb > 0:
        g = torch.Generator().manual_seed(opt.seed)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + opt.perturb * (2 * torch.rand(p.shape, generator=g) - 1))
    if opt.export:
        st_write(opt.export, {names[k]: v.numpy() for k, v in model.state_dict().items() if k in names})

    d = os.path.join(opt.data, 'cifar-10-batches-bin')
    parts = [read_bin(os.path.join(d, 'data_batch_%d.bin' % i)) for i in range(1, 6)]
    images = np.concatenate([q[0] for q in parts])
    labels = np.concatenate([q[1] for q in parts])
    stats = st_read(os.path.join(opt.dir, 'stats.safetensors'))
    mean, std = stats['mean'].astype(np.float32), stats['std'].astype(np.float32)
    P = 4
    rows = np.array(plan['plan'], dtype=np.int64)
    B = int(plan['batchSize'])
    assert (labels[rows[:, 0]] == np.array(plan['labels'])).all(), 'labels differ from Fathom\'s'

    def batch(b):
        sel = rows[b * B:(b + 1) * B]
        out = np.zeros((len(sel), 3, 32, 32), dtype=np.float32)
        for i, (r, dy, dx, flip) in enumerate(sel):
            norm = (images[r].astype(np.float32) - mean) / std
            pad = np.zeros((3, 32 + 2 * P, 32 + 2 * P), dtype=np.float32)
            pad[:, P:P + 32, P:P + 32] = norm
            c = pad[:, P + dy:P + dy + 32, P + dx:P + dx + 32]
            out[i] = c[:, :, ::-1] if flip else c
        return torch.from_numpy(out), torch.from_numpy(labels[sel[:, 0]])

    b1 = st_read(os.path.join(opt.dir, 'batch1.safetensors'))
    x1, _ = batch(0)
    same_input = np.array_equal(x1.numpy(), b1['inputs'])
    print('batch 1 equals Fathom\'s bit for bit:', same_input, '(max |diff| %.3g)' % np.abs(x1.numpy() - b1['inputs']).max())

    sgd = torch.optim.SGD(model.parameters(), lr=float(fo['LR']), momentum=float(fo['momentum']), dampening=0,
                          weight_decay=float(fo['weightDecay']), nesterov=True)
    model.train()
    losses = []
    n = len(fat['loss'])
    for b in range(n):
        x, y = batch(b)
        out = model(x)
        loss = F.cross_entropy(out, y)
        sgd.zero_grad()
        loss.backward()
        sgd.step()
        losses.append(loss.item())
    tag = opt.tag or (opt.init + ('_perturb%g' % opt.perturb if opt.perturb else ''))
    fin = st_read(os.path.join(opt.dir, 'final.safetensors'))
    sdf = model.state_dict()
    rel = {k: float(np.abs(sdf[k].numpy() - fin[names[k]]).max() / max(np.abs(fin[names[k]]).max(), 1e-30))
           for k in sdf if k in names}
    worst = max(rel, key=rel.get)
    res = {'tag': tag, 'loss': losses, 'sameInput': bool(same_input), 'finalRelDiff': rel,
           'worstFinal': [worst, rel[worst]]}
    with open(os.path.join(opt.dir, 'torch_%s.json' % tag), 'w') as f:
        json.dump(res, f)
    fl = fat['loss']
    print('iter  fathom    torch     |diff|')
    for i in sorted({1, 2, 3, 5, 10, 20, 50, 100, 150, 200, 250, 300, 351, n} & set(range(1, n + 1))):
        print('%4d  %.6f  %.6f  %.2e' % (i, fl[i - 1], losses[i - 1], abs(fl[i - 1] - losses[i - 1])))
    for a, b in ((1, 50), (51, 100), (101, 200), (201, 351)):
        if n >= b:
            mf, mt = sum(fl[a - 1:b]) / (b - a + 1), sum(losses[a - 1:b]) / (b - a + 1)
            print('mean loss of iterations %d..%d: fathom %.4f, torch %.4f, diff %+.4f' % (a, b, mf, mt, mf - mt))
    print('final weights: worst relative difference %.3g (%s)' % (rel[worst], worst))


if __name__ == '__main__':
    main()
