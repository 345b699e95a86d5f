#!/usr/bin/python3
# bench/dist_step_torch.py -- the PyTorch side of the data-parallel step benchmark
# (BENCHMARKS.md, MPI section; reference only, Python is never a Fathom dependency): the
# CIFAR ResNet (constant depth, shortcut A) trained on a global batch split over `procs`
# processes with DistributedDataParallel over gloo (buckets overlapped with the backward
# pass, as DDP does), 1 thread each, SGD Nesterov. Reports per step: the median wall time
# of the slowest rank, its CPU time (process_time), and images per second of the job.
#   /usr/bin/python3 bench/dist_step_torch.py [procs=2] [steps=6] [batch=128] [depth=110]
import os
import sys
import time

import torch
import torch.distributed as tdist
import torch.multiprocessing as mp
import torch.nn as nn
import torch.nn.functional as F

procs = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 6
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 128
depth = int(sys.argv[4]) if len(sys.argv) > 4 else 110
warmup = 2


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, cout - cin

    def forward(self, x):
        s = F.avg_pool2d(x, self.stride) if self.stride > 1 else x
        if self.pad:
            s = F.pad(s, (0, 0, 0, 0, 0, self.pad))
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + s)


class ResNet(nn.Module):
    def __init__(self, depth):
        super().__init__()
        n = (depth - 2) // 6
        self.conv, self.bn = nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for stage, planes in enumerate((16, 32, 64)):
            for i in range(n):
                blocks.append(Block(cin, planes, 2 if stage > 0 and i == 0 else 1))
                cin = planes
        self.blocks, self.fc = nn.Sequential(*blocks), nn.Linear(64, 10)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.conv(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def worker(rank):
    torch.set_num_threads(1)
    os.environ.setdefault('MASTER_ADDR', '127.0.0.1')
    os.environ.setdefault('MASTER_PORT', '29533')
    tdist.init_process_group('gloo', rank=rank, world_size=procs)
    torch.manual_seed(0)
    model = nn.parallel.DistributedDataParallel(ResNet(depth))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    local = batch // procs + (rank < batch % procs)
    x, y = torch.randn(local, 3, 32, 32), torch.arange(local) % 10
    walls, cpus = [], []
    for s in range(warmup + steps):
        tdist.barrier()
        w, c = time.perf_counter(), time.process_time()
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if s >= warmup:
            walls.append(time.perf_counter() - w)
            cpus.append(time.process_time() - c)
    t = torch.tensor([sorted(walls)[len(walls) // 2], sorted(cpus)[len(cpus) // 2]], dtype=torch.float64)
    tdist.all_reduce(t, op=tdist.ReduceOp.MAX)
    if rank == 0:
        print(f'PyTorch {torch.__version__} DDP (gloo) ResNet-{depth}, global batch {batch} on {procs} '
              f'process(es) x 1 thread: {t[0]:.3f} s/step wall (median, slowest rank), {t[1]:.3f} s CPU, '
              f'{batch / t[0]:.1f} img/s', flush=True)
    tdist.destroy_process_group()


if __name__ == '__main__':
    mp.spawn(worker, nprocs=procs)
