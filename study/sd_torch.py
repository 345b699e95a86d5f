#!/usr/bin/env python3
"""study/sd_torch.py -- an independent PyTorch implementation of the CIFAR-10 recipe of
"Deep Networks with Stochastic Depth" (Huang et al. 2016), written from the paper and the
authors' Torch7 code, to compare with Fathom's recipes/cifar10_sd.lua run for run.

  python3 study/sd_torch.py --data DIR --depth 20 --nEpochs 4 --maxIters 100 --pL 0.5 \
      --seed 1 --save runs/torch_sd_s1

DIR holds cifar-10-batches-bin/. Writes SAVE/log.jsonl (one JSON line per epoch, with the
keys Fathom's log.jsonl uses: epoch, lr, trainLoss, trainErr, valErr, testErr, time,
activeBlocks) and SAVE/summary.json (testErrAtBestVal, bestEpoch, ...).

The recipe:
- data: the 50,000 training images in a seeded random permutation; its last 5,000 are the
  validation set, the rest the training set; the test file (test_batch.bin, else the
  1,000-image test_batch.first1000.bin). Normalisation: the mean image and one global
  (unbiased) standard deviation of the training split. Augmentation after normalisation:
  zero-pad 4, random 32x32 crop, horizontal flip with probability 1/2. Reshuffled each epoch.
- model: the CIFAR ResNet of He et al. (depth 6n+2; 16/32/64 filters; shortcut A = 2x2
  average pooling + zero channels; no conv biases), convolutions normal with std
  sqrt(2/fan_in), BN weight 1 bias 0, the linear layer's weight uniform(+-1/sqrt(64)) and
  bias 0. Stochastic depth: one Bernoulli(p_l) gate per block per mini-batch, p_l = 1 -
  l/L (1 - p_L) ('lin_decay') or p_L ('uniform'); a closed block is ReLU(shortcut(x)) with
  its branch not computed; at test the branch is multiplied by p_l.
- SGD: torch.optim.SGD with momentum 0.9, Nesterov, dampening 0, weight decay 1e-4 on every
  parameter (the same update as Torch7's optim.sgd), batch 128, cross-entropy.
- LR: --LR, divided by 10 at 50% and at 75% of the epochs. --milestones authors (the default,
  as the authors' code and Fathom): epoch e uses LR/10 once e >= 0.5 E; paper ("after
  epochs 250 and 375"): once e > 0.5 E. They differ by one epoch when 0.5 E is an integer.
- metric: the test error at the epoch of the lowest validation error (first of equals).
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def parse():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[1])
    p.add_argument('--data', required=True, help='folder with cifar-10-batches-bin/')
    p.add_argument('--depth', type=int, default=20)
    p.add_argument('--nEpochs', type=int, default=500)
    p.add_argument('--maxIters', type=int, default=0, help='at most N iterations per epoch (0: all)')
    p.add_argument('--batchSize', type=int, default=128)
    p.add_argument('--LR', type=float, default=0.1)
    p.add_argument('--momentum', type=float, default=0.9)
    p.add_argument('--weightDecay', type=float, default=1e-4)
    p.add_argument('--pL', type=float, default=0.5, help='1: constant depth')
    p.add_argument('--deathMode', choices=('lin_decay', 'uniform'), default='lin_decay')
    p.add_argument('--milestones', choices=('authors', 'paper'), default='authors')
    p.add_argument('--seed', type=int, default=1, help='weights, gates, shuffling, augmentation')
    p.add_argument('--splitSeed', type=int, default=1)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--save', required=True)
    return p.parse_args()


# ---------------------------------------------------------------------------- data
def read_bin(path):
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32), raw[:, 0].astype(np.int64)


def load_cifar10(root, split_seed):
    d = os.path.join(root, 'cifar-10-batches-bin')
    parts = [read_bin(os.path.join(d, 'data_batch_%d.bin' % i)) for i in range(1, 6)]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    test_name = 'test_batch.bin'
    if not os.path.exists(os.path.join(d, test_name)):
        test_name = 'test_batch.first1000.bin'
    timages, tlabels = read_bin(os.path.join(d, test_name))
    perm = np.random.RandomState(split_seed).permutation(len(images))
    tr, va = perm[:-5000], perm[-5000:]
    x = images[tr].astype(np.float64)
    mean = x.mean(0)
    std = x.std(ddof=1)                  # one global, unbiased standard deviation

    def norm(a):
        return torch.from_numpy(((a.astype(np.float64) - mean) / std).astype(np.float32))
    return {'train': (norm(images[tr]), torch.from_numpy(labels[tr])),
            'val': (norm(images[va]), torch.from_numpy(labels[va])),
            'test': (norm(timages), torch.from_numpy(tlabels)), 'testName': test_name}


def augment(x, gen):
    """Zero-pad 4 (after normalisation), random 32x32 crop, flip with probability 1/2."""
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4))
    off = torch.randint(0, 9, (n, 2), generator=gen)
    flip = torch.rand(n, generator=gen) < 0.5
    out = torch.empty_like(x)
    for i in range(n):
        c = padded[i, :, off[i, 0]:off[i, 0] + 32, off[i, 1]:off[i, 1] + 32]
        out[i] = c.flip(2) if flip[i] else c
    return out


# ---------------------------------------------------------------------------- model
class Block(nn.Module):
    def __init__(self, cin, cout, stride, p):
        super().__init__()
        self.cin, self.cout, self.stride, self.p = cin, cout, stride, p
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)          # eps 1e-5, momentum 0.1
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.gate = True

    def shortcut(self, x):
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride, self.stride)
        if self.cout > self.cin:
            x = F.pad(x, (0, 0, 0, 0, 0, self.cout - self.cin))
        return x

    def forward(self, x):
        sc = self.shortcut(x)
        if self.training and not self.gate:
            return F.relu(sc)
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu((1.0 if self.training else self.p) * y + sc)


class ResNet(nn.Module):
    def __init__(self, depth, ps):
        super().__init__()
        n = (depth - 2) // 6
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin, l = [], 16, 0
        for stage, planes in enumerate((16, 32, 64)):
            for i in range(n):
                blocks.append(Block(cin, planes, 2 if stage > 0 and i == 0 else 1, ps[l]))
                cin, l = planes, l + 1
        self.blocks = nn.ModuleList(blocks)
        self.fc = nn.Linear(64, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
                nn.init.normal_(m.weight, 0, math.sqrt(2.0 / fan_in))
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.uniform_(self.fc.weight, -1 / math.sqrt(64), 1 / math.sqrt(64))
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        for b in self.blocks:
            x = b(x)
        return self.fc(F.avg_pool2d(x, 8).flatten(1))


def survival(mode, pL, L):
    if mode == 'uniform':
        return [pL] * L
    return [1 - (l / L) * (1 - pL) for l in range(1, L + 1)]


def lr_at(epoch, opt):
    lr = opt.LR
    for f in (0.5, 0.75):
        m = f * opt.nEpochs
        if (epoch >= m if opt.milestones == 'authors' else epoch > m) and epoch > 1:
            lr *= 0.1
    return lr


def error(model, x, y, bs=500):
    model.eval()
    wrong = 0
    with torch.no_grad():
        for i in range(0, len(x), bs):
            wrong += (model(x[i:i + bs]).argmax(1) != y[i:i + bs]).sum().item()
    model.train()
    return 100.0 * wrong / len(x)


def main():
    opt = parse()
    torch.set_num_threads(opt.threads)
    torch.manual_seed(opt.seed)
    gen = torch.Generator().manual_seed(opt.seed)
    os.makedirs(opt.save, exist_ok=True)
    d = load_cifar10(opt.data, opt.splitSeed)
    L = 3 * ((opt.depth - 2) // 6)
    ps = survival(opt.deathMode, opt.pL, L)
    model = ResNet(opt.depth, ps)
    sgd = torch.optim.SGD(model.parameters(), lr=opt.LR, momentum=opt.momentum, dampening=0,
                          weight_decay=opt.weightDecay, nesterov=True)
    xtr, ytr = d['train']
    n_batches = math.ceil(len(xtr) / opt.batchSize)
    if opt.maxIters > 0:
        n_batches = min(n_batches, opt.maxIters)
    log = open(os.path.join(opt.save, 'log.jsonl'), 'w')
    best = None
    records = []
    for epoch in range(1, opt.nEpochs + 1):
        lr = lr_at(epoch, opt)
        for g in sgd.param_groups:
            g['lr'] = lr
        model.train()
        order = torch.randperm(len(xtr), generator=gen)
        t0 = time.time()
        loss_sum = wrong = seen = active = 0.0
        for b in range(n_batches):
            idx = order[b * opt.batchSize:(b + 1) * opt.batchSize]
            x, y = augment(xtr[idx], gen), ytr[idx]
            for blk in model.blocks:
                blk.gate = bool(torch.rand(1, generator=gen).item() < blk.p)
            active += sum(blk.gate for blk in model.blocks)
            out = model(x)
            loss = F.cross_entropy(out, y)
            sgd.zero_grad()
            loss.backward()
            sgd.step()
            loss_sum += loss.item() * len(y)
            wrong += (out.argmax(1) != y).sum().item()
            seen += len(y)
        t = time.time() - t0
        r = {'type': 'epoch', 'epoch': epoch, 'lr': lr, 'trainLoss': loss_sum / seen,
             'trainErr': 100.0 * wrong / seen, 'valErr': error(model, *d['val']),
             'testErr': error(model, *d['test']), 'time': t, 'iterations': n_batches,
             'activeBlocks': active / n_batches}
        if best is None or r['valErr'] < best['valErr']:
            best = r
        r['bestEpoch'], r['testAtBestVal'] = best['epoch'], best['testErr']
        records.append(r)
        log.write(json.dumps(r) + '\n')
        log.flush()
        print('epoch %d  loss %.4f  train %.2f%%  val %.2f%%  test %.2f%%  lr %g  %.1fs' % (
            epoch, r['trainLoss'], r['trainErr'], r['valErr'], r['testErr'], lr, t), flush=True)
    summary = {'testErrAtBestVal': best['testErr'], 'bestEpoch': best['epoch'],
               'bestValErr': best['valErr'], 'finalTrainLoss': records[-1]['trainLoss'],
               'finalValErr': records[-1]['valErr'], 'finalTestErr': records[-1]['testErr'],
               'testName': d['testName'], 'options': vars(opt), 'torch': torch.__version__}
    with open(os.path.join(opt.save, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=2)


if __name__ == '__main__':
    main()
