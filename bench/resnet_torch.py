#!/usr/bin/python3
# bench/resnet_torch.py -- the PyTorch side of bench/resnet_step.lua (reference only;
# Python is never a Fathom dependency): one training step of the CIFAR ResNet (default
# ResNet-110: 3x3 conv 16 + BN + ReLU, three stages of basic blocks with 16/32/64
# filters, shortcut A = 2x2 average pooling + zero channels, global average pooling,
# linear), forward + backward + SGD (Nesterov, momentum 0.9, weight decay 1e-4), batch
# 128, float32. Modes:
#   constant  every block runs
#   mask      stochastic depth the usual way (torchvision.ops.stochastic_depth,
#             timm's DropPath): the branch always runs and is multiplied by b in {0, 1}
#   skip      stochastic depth the paper's way: a closed block does not run its branch
# each in NCHW and channels_last; gates are linear decay to pL, one draw per mini-batch.
# Reports the median seconds per step and images per second.
#   /usr/bin/python3 bench/resnet_torch.py [threads=2] [steps=5] [batch=128] [depth=110] [pL=0.5]
#                                          [clock=wall|cpu] [only=layout:mode,...]
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 128
depth = int(sys.argv[4]) if len(sys.argv) > 4 else 110
pL = float(sys.argv[5]) if len(sys.argv) > 5 else 0.5
# clock: wall, or cpu (process CPU time: with 1 thread, the step's cost on a shared machine)
clock = time.process_time if len(sys.argv) > 6 and sys.argv[6] == 'cpu' else time.perf_counter
# only: comma-separated "layout mode" names to run (e.g. channels_last:constant), default all
only = set(sys.argv[7].split(',')) if len(sys.argv) > 7 else None
warmup = 2
torch.set_num_threads(threads)
torch.manual_seed(0)


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
        self.gate = int(torch.rand(()) < self.p)
        if self.mode == 'mask':
            return F.relu(self.branch(x) * self.gate + s)
        if self.gate:  # skip
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
                blocks.append(Block(cin, planes, 2 if stage > 0 and i == 0 else 1,
                                    1 - l / L * (1 - pL)))
                cin = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                nn.init.normal_(m.weight, 0, (2 / fan_in) ** 0.5)

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
    model = ResNet(depth, pL).to(memory_format=fmt)
    model.set_mode(mode)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True,
                          weight_decay=1e-4)
    x = torch.randn(batch, 3, 32, 32).to(memory_format=fmt)
    y = torch.arange(batch) % 10
    times, active = [], 0
    for s in range(warmup + steps):
        t = clock()
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        dt = clock() - t
        if s >= warmup:
            times.append(dt)
            active += sum(b.gate if mode != 'constant' else 1 for b in model.blocks)
    return median(times), min(times), active / steps, len(model.blocks)


print(f'PyTorch {torch.__version__} ResNet-{depth} training step, batch {batch}, {threads} threads, '
      f'float32, {steps} timed steps (after {warmup} warm-up), pL {pL}')
print(f'{"":40s} {"s/step":>10s} {"min":>10s} {"img/s":>10s} {"blocks run":>14s}')
for fmt_name, fmt in (('NCHW', torch.contiguous_format), ('channels_last', torch.channels_last)):
    for mode in ('constant', 'mask', 'skip'):
        if only is not None and fmt_name + ':' + mode not in only:
            continue
        torch.manual_seed(1)
        med, mn, act, L = run(mode, fmt)
        print(f'{fmt_name + " " + mode:40s} {med:10.3f} {mn:10.3f} {batch / med:10.1f} '
              f'{act:9.2f} / {L}', flush=True)
import resource
print(f'peak resident memory of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB')
