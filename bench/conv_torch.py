#!/usr/bin/python3
# bench/conv_torch.py -- the PyTorch side of the convolution benchmark (reference only;
# Python is never a Fathom dependency). Same shapes, threads and statistics as
# bench/conv_bench.lua: ResNet-110's 3x3 stride-1 pad-1 convolutions at batch 128 and
# the stem, no bias, float32. Per shape and memory format (NCHW, channels_last):
# forward, backward-input and backward-weight timed separately, median of the runs.
#   /usr/bin/python3 bench/conv_torch.py [threads=2] [runs=15] [batch=128] [stride=all] [clock=wall|cpu]
#   clock cpu: process CPU time instead of wall time (see bench/conv_bench.lua)
import os
import sys
import time

import torch
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 15
batch = int(sys.argv[3]) if len(sys.argv) > 3 else 128
only_stride = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[4] != 'all' else None  # only this stride
clock = time.process_time if len(sys.argv) > 5 and sys.argv[5] == 'cpu' else time.perf_counter
torch.set_num_threads(threads)
torch.manual_seed(0)

# (Ci, Co, H = W, stride): the three stages, the stem, the two transitional convs.
SHAPES = [(16, 16, 32, 1), (32, 32, 16, 1), (64, 64, 8, 1), (3, 16, 32, 1),
          (16, 32, 32, 2), (32, 64, 16, 2)]


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def timed(fn):
    t = clock()
    fn()
    return (clock() - t) * 1e3


def bench(ci, co, hw, st, fmt):
    ho = (hw - 1) // st + 1
    x = torch.randn(batch, ci, hw, hw).to(memory_format=fmt)
    w = (torch.randn(co, ci, 3, 3) * 0.1).to(memory_format=fmt)
    go = torch.randn(batch, co, ho, ho).to(memory_format=fmt)
    s = (st, st)
    mask = (True, True, False)
    fwd = lambda: F.conv2d(x, w, None, st, 1)
    # Backward through the ATen op PyTorch's autograd itself calls, one gradient at a
    # time (output_mask), so input and weight gradients are timed separately.
    bwi = lambda: torch.ops.aten.convolution_backward(go, x, w, None, s, (1, 1), (1, 1),
                                                       False, (0, 0), 1, (True, False, False))
    bww = lambda: torch.ops.aten.convolution_backward(go, x, w, None, s, (1, 1), (1, 1),
                                                       False, (0, 0), 1, (False, True, False))
    both = lambda: torch.ops.aten.convolution_backward(go, x, w, None, s, (1, 1), (1, 1),
                                                        False, (0, 0), 1, mask)
    with torch.no_grad():
        for f in (fwd, bwi, bww, both):  # warm-up: oneDNN primitive creation, page faults
            f(); f()
        tf, ti, tw, tb = [], [], [], []
        for _ in range(runs):
            tf.append(timed(fwd)); ti.append(timed(bwi)); tw.append(timed(bww)); tb.append(timed(both))
    f, i, wt, b = median(tf), median(ti), median(tw), median(tb)
    flops = 2.0 * batch * co * ci * 9 * ho * ho
    total = f + i + wt
    name = 'channels_last' if fmt == torch.channels_last else 'NCHW'
    print('torch %-13s %3d->%-3d %2dx%-2d s%d  fwd %7.3f  bwd-in %7.3f  bwd-w %7.3f  total %7.3f ms'
          '  %6.1f GFLOP/s  (fused bwd %7.3f)' % (name, ci, co, hw, hw, st, f, i, wt, total,
                                                  3 * flops / total / 1e6, b))


print('# torch %s, threads %d, batch %d, runs %d (median), clock %s, mkldnn %s, OPENBLAS_CORETYPE=%s'
      % (torch.__version__, torch.get_num_threads(), batch, runs, 'cpu' if clock is time.process_time else 'wall',
         torch.backends.mkldnn.is_available(), os.environ.get('OPENBLAS_CORETYPE', '(unset)')))
for fmt in (torch.contiguous_format, torch.channels_last):
    for ci, co, hw, st in SHAPES:
        if only_stride is None or st == only_stride:
            bench(ci, co, hw, st, fmt)
