#!/usr/bin/env python3
# bench/resnet_torch_gpu.py -- the PyTorch side of bench/resnet_gpu.lua (a reference only;
# Python is never a Fathom dependency): one training step of the CIFAR ResNet (default
# ResNet-110: 3x3 conv 16 + BN + ReLU, three stages of basic blocks with 16/32/64
# filters, shortcut A = 2x2 average pooling + zero channels, global average pooling,
# linear), forward + backward + SGD (Nesterov, momentum 0.9, weight decay 1e-4), batch
# 128, float32 on one GPU, eager mode with torch.backends.cudnn.benchmark = True.
# Modes, each in NCHW and channels_last:
#   constant  every block runs
#   mask      stochastic depth as torchvision does it (torchvision.ops.stochastic_depth,
#             mode 'batch'): the branch always runs and is multiplied by a 0/1 draw
#   skip      stochastic depth the paper's way: a closed block does not run its branch
#             (the gate is drawn on the host, so skipping costs no synchronisation)
# Gates: linear decay to pL, one draw per mini-batch and block. Each step is timed with
# CUDA events; the report is the median over the timed steps after warm-up.
#   python3 bench/resnet_torch_gpu.py [--depth 110] [--batch 128] [--steps 50]
#       [--warmup 10] [--pL 0.5] [--tf32 0] [--modes constant,mask,skip]
import argparse
import random

import torch
import torch.nn as nn
import torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument('--depth', type=int, default=110)
ap.add_argument('--batch', type=int, default=128)
ap.add_argument('--steps', type=int, default=50)
ap.add_argument('--warmup', type=int, default=10)
ap.add_argument('--pL', type=float, default=0.5)
ap.add_argument('--tf32', type=int, default=0)
ap.add_argument('--modes', default='constant,mask,skip')
args = ap.parse_args()

assert torch.cuda.is_available(), 'no CUDA device'
dev = torch.device('cuda')
torch.backends.cudnn.benchmark = True
torch.backends.cudnn.allow_tf32 = bool(args.tf32)
torch.backends.cuda.matmul.allow_tf32 = bool(args.tf32)
try:
    from torchvision.ops import stochastic_depth
except ImportError:  # the same thing, should torchvision be missing
    def stochastic_depth(x, p, mode, training=True):
        if not training or p == 0.0:
            return x
        keep = torch.empty([1] * x.ndim, dtype=x.dtype, device=x.device).bernoulli_(1 - p)
        return x * keep / (1 - p)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, p):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad, self.p = stride, cout - cin, p
        self.mode = 'constant'
        self.gate = 1

    def shortcut(self, x):
        if self.stride > 1:
            x = F.avg_pool2d(x, self.stride)
        if self.pad:
            x = F.pad(x, (0, 0, 0, 0, 0, self.pad))
        return x

    def branch(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x):
        s = self.shortcut(x)
        if self.mode == 'constant' or not self.training:
            return F.relu(self.branch(x) + s)
        if self.mode == 'mask':
            self.gate = self.p  # expected; the draw stays on the GPU
            return F.relu(stochastic_depth(self.branch(x), 1 - self.p, 'batch', True) + s)
        self.gate = int(random.random() < self.p)  # skip
        if self.gate:
            return F.relu(self.branch(x) + s)
        return F.relu(s)


class ResNet(nn.Module):
    def __init__(self, depth, pL):
        super().__init__()
        n = (depth - 2) // 6
        L = 3 * n
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        blocks, cin, l = [], 16, 0
        for stage, planes in enumerate((16, 32, 64)):
            for i in range(n):
                l += 1
                blocks.append(Block(cin, planes, 2 if stage > 0 and i == 0 else 1, 1 - l / L * (1 - pL)))
                cin = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0, (2 / m.weight[0].numel()) ** 0.5)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))

    def set_mode(self, mode):
        for b in self.blocks:
            b.mode = mode


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def run(mode, fmt):
    torch.manual_seed(1)
    random.seed(1)
    model = ResNet(args.depth, args.pL).to(dev, memory_format=fmt)
    model.set_mode(mode)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    x = torch.randn(args.batch, 3, 32, 32, device=dev).to(memory_format=fmt)
    y = (torch.arange(args.batch) % 10).to(dev)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times, active = [], 0.0
    for s in range(args.warmup + args.steps):
        start.record()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        end.record()
        end.synchronize()
        if s >= args.warmup:
            times.append(start.elapsed_time(end))
            active += sum(b.gate if mode != 'constant' else 1 for b in model.blocks)
    return median(times), min(times), active / args.steps, len(model.blocks)


print(f'PyTorch {torch.__version__} ResNet-{args.depth} training step on {torch.cuda.get_device_name()}, '
      f'batch {args.batch}, float32 (TF32 {"on" if args.tf32 else "off"}), cudnn.benchmark, '
      f'{args.steps} timed steps after {args.warmup} warm-up, pL {args.pL}')
print(f'{"":40s} {"ms/step":>10s} {"min":>10s} {"img/s":>10s} {"blocks run":>14s}')
for fmt_name, fmt in (('NCHW', torch.contiguous_format), ('channels_last', torch.channels_last)):
    for mode in args.modes.split(','):
        med, mn, act, L = run(mode, fmt)
        print(f'{fmt_name + " " + mode:40s} {med:10.3f} {mn:10.3f} {args.batch / med * 1e3:10.0f} '
              f'{act:9.2f} / {L}', flush=True)
