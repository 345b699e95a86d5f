#!/usr/bin/env python3
"""spec/golden/make_golden.py -- writes the golden fixture of spec/golden_spec.lua.

An independent PyTorch (float64) implementation of two SGD steps of a stochastic-depth
CIFAR ResNet-8 (Huang et al. 2016; He et al. 2016), run once by a developer, never by CI:

  python3 spec/golden/make_golden.py CIFAR10_DIR     (the folder with data_batch_1.bin)

writes spec/golden/resnet8_sd_f64.safetensors (tensors) and resnet8_sd_f64.json (the
configuration, names and scalars). Needs torch and numpy (Debian: python3-torch).

What it fixes, written here from the paper and Torch7's code rather than from Fathom:
- data: 16 real images of data_batch_1.bin, normalised as the authors' code does (the mean
  image and one global standard deviation, unbiased, here of all 10,000 images of that file,
  in float32), then zero-padded by 4, cropped back to 32x32 at a fixed offset and mirrored
  (augmentation after normalisation); two batches of 8.
- model: ResNet-8 (3 basic blocks, 16/32/64 filters), shortcut A (2x2 average pooling with
  stride 2, then zero channels appended), no conv biases, BN eps 1e-5 momentum 0.1 (biased
  variance normalises, the unbiased one goes into the running average), 8x8 average pooling,
  a linear layer; survival probabilities linear to p_L = 0.5: p_l = 1 - l/L (1 - p_L).
- gates: a fixed pattern per step. A closed block outputs ReLU(shortcut(x)): its branch is
  not computed, its BN running statistics stay as they are, its gradients are zero.
- loss: cross-entropy averaged over the batch.
- SGD as Torch7's optim.sgd with momentum 0.9, Nesterov, dampening 0, weight decay 1e-4 on
  every parameter (BN and linear bias too), LR 0.1:
      g += wd * x;  v = g on the first step, else mu * v + g;  x -= lr * (g + mu * v)
  so a closed block's weights still move (by weight decay and momentum).
- evaluation: BN with running statistics, each branch scaled by p_l (eq. 5 of the paper).
Every random choice comes from fixed seeds, so a rerun writes the same numbers.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

DEPTH = 8
WIDTHS = (16, 32, 64)
P_L = 0.5
LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 1e-4
BN_EPS, BN_MOMENTUM = 1e-5, 0.1
BATCH = 8
PAD = 4
# gates[step][block]: block 1 (identity shortcut) closed in step 1, block 2 (16 -> 32,
# stride 2) closed in both steps, block 3 (32 -> 64, stride 2) closed in step 2
GATES = ((0, 0, 1), (1, 0, 0))
ROWS = list(range(16))           # rows of data_batch_1.bin used, step 1 then step 2
BASE = 'resnet8_sd_f64'


# ---------------------------------------------------------------------------- data
def read_cifar(path):
    raw = np.fromfile(path, dtype=np.uint8).reshape(-1, 3073)
    return raw[:, 1:].reshape(-1, 3, 32, 32).copy(), raw[:, 0].astype(np.int64)


def pixel_statistics(images):
    """The mean image and one unbiased global std, from exact integer sums, as float32."""
    n = images.shape[0]
    x = images.reshape(n, -1).astype(np.int64)
    s1 = x.sum(axis=0)
    mean = (s1.astype(np.float64) / n).astype(np.float32)
    m = int(x.size)
    a, b = int(s1.sum()), int((x * x).sum())
    var = float(m * b - a * a) / (float(m) * float(m - 1))
    std = np.full(mean.shape, math.sqrt(var), dtype=np.float64).astype(np.float32)
    return mean.reshape(3, 32, 32), std.reshape(3, 32, 32)


def augment(images, mean, std, params):
    """Normalise in float32, zero-pad by PAD, crop at (PAD + dy, PAD + dx), mirror."""
    out = np.zeros(images.shape, dtype=np.float32)
    for i, (dy, dx, flip) in enumerate(params):
        norm = (images[i].astype(np.float32) - mean) / std
        padded = np.zeros((3, 32 + 2 * PAD, 32 + 2 * PAD), dtype=np.float32)
        padded[:, PAD:PAD + 32, PAD:PAD + 32] = norm
        crop = padded[:, PAD + dy:PAD + dy + 32, PAD + dx:PAD + dx + 32]
        out[i] = crop[:, :, ::-1] if flip else crop
    return out


# ---------------------------------------------------------------------------- model
def block_specs():
    n = (DEPTH - 2) // 6
    specs, cin = [], WIDTHS[0]
    for stage, planes in enumerate(WIDTHS):
        for i in range(n):
            stride = 2 if stage > 0 and i == 0 else 1
            specs.append((cin, planes, stride))
            cin = planes
    return specs


def survival(L):
    return [1 - (l / L) * (1 - P_L) for l in range(1, L + 1)]


def make_state(gen):
    """Parameters (in Fathom's parameters() order) and BN running statistics."""
    params, bns = {}, {}

    def conv(name, cout, cin, k):
        std = math.sqrt(2.0 / (cin * k * k))
        params[name + '.weight'] = torch.randn(cout, cin, k, k, generator=gen) * std

    def bn(name, c):
        params[name + '.weight'] = 0.5 + torch.rand(c, generator=gen)
        params[name + '.bias'] = 0.1 * torch.randn(c, generator=gen)
        bns[name] = {'running_mean': 0.1 * torch.randn(c, generator=gen),
                     'running_var': 0.5 + torch.rand(c, generator=gen)}

    conv('stem.conv', WIDTHS[0], 3, 3)
    bn('stem.bn', WIDTHS[0])
    for l, (cin, cout, _) in enumerate(block_specs(), 1):
        conv('block%d.conv1' % l, cout, cin, 3)
        bn('block%d.bn1' % l, cout)
        conv('block%d.conv2' % l, cout, cout, 3)
        bn('block%d.bn2' % l, cout)
    bound = 1 / math.sqrt(WIDTHS[-1])
    params['fc.weight'] = (2 * torch.rand(10, WIDTHS[-1], generator=gen) - 1) * bound
    params['fc.bias'] = (2 * torch.rand(10, generator=gen) - 1) * bound
    return params, bns


def batchnorm(x, params, bns, name, train):
    st = bns[name]
    # F.batch_norm in training mode normalises with the biased variance and updates the
    # running variance with the unbiased one, in place, with the given momentum
    return F.batch_norm(x, st['running_mean'], st['running_var'], params[name + '.weight'],
                        params[name + '.bias'], training=train, momentum=BN_MOMENTUM, eps=BN_EPS)


def shortcut_a(x, cout, stride):
    if stride > 1:
        x = F.avg_pool2d(x, stride, stride)
    if cout > x.shape[1]:
        x = torch.cat([x, x.new_zeros(x.shape[0], cout - x.shape[1], x.shape[2], x.shape[3])], 1)
    return x


def forward(x, params, bns, train, gates=None):
    x = F.relu(batchnorm(F.conv2d(x, params['stem.conv.weight'], padding=1), params, bns,
                         'stem.bn', train))
    specs = block_specs()
    ps = survival(len(specs))
    for l, (cin, cout, stride) in enumerate(specs, 1):
        sc = shortcut_a(x, cout, stride)
        if train and gates[l - 1] == 0:
            x = F.relu(sc)                  # closed: the branch is not computed at all
            continue
        b = 'block%d.' % l
        y = F.conv2d(x, params[b + 'conv1.weight'], stride=stride, padding=1)
        y = F.relu(batchnorm(y, params, bns, b + 'bn1', train))
        y = F.conv2d(y, params[b + 'conv2.weight'], padding=1)
        y = batchnorm(y, params, bns, b + 'bn2', train)
        x = F.relu((1.0 if train else ps[l - 1]) * y + sc)
    x = F.avg_pool2d(x, 8).flatten(1)
    return F.linear(x, params['fc.weight'], params['fc.bias'])


def sgd_step(params, grads, velocity, first):
    """Torch7 optim.sgd: weight decay into the gradient, Nesterov momentum, dampening 0."""
    for name, x in params.items():
        g = grads[name] + WEIGHT_DECAY * x
        velocity[name] = g.clone() if first else MOMENTUM * velocity[name] + g
        params[name] = x - LR * (g + MOMENTUM * velocity[name])


# ---------------------------------------------------------------------------- writing
def write_safetensors(path, entries):
    """entries: list of (name, numpy array); the safetensors layout, written by hand."""
    dtypes = {np.dtype('float64'): 'F64', np.dtype('float32'): 'F32',
              np.dtype('int64'): 'I64', np.dtype('uint8'): 'U8'}
    header, blobs, offset = {}, [], 0
    for name, a in entries:
        a = np.ascontiguousarray(a)
        data = a.astype(a.dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': dtypes[a.dtype], 'shape': list(a.shape),
                        'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header['__metadata__'] = {'format': 'pt', 'made_by': 'spec/golden/make_golden.py'}
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    if len(sys.argv) != 2:
        sys.exit('usage: make_golden.py CIFAR10_DIR (the folder holding data_batch_1.bin)')
    images, labels = read_cifar(os.path.join(sys.argv[1], 'data_batch_1.bin'))
    mean, std = pixel_statistics(images)
    rng = np.random.RandomState(20160330)
    aug = np.stack([rng.randint(-PAD, PAD + 1, len(ROWS)), rng.randint(-PAD, PAD + 1, len(ROWS)),
                    rng.randint(0, 2, len(ROWS))], 1).astype(np.int64)
    aug[0] = (-PAD, PAD, 1)          # the extremes of the crop, mirrored
    aug[1] = (PAD, -PAD, 0)
    sel = images[ROWS]
    inputs32 = augment(sel, mean, std, aug)
    targets = labels[ROWS]

    gen = torch.Generator().manual_seed(2016)
    params, bns = make_state(gen)
    names = list(params)
    bn_names = list(bns)
    entries = [('data/images', sel), ('data/labels', targets), ('data/mean', mean),
               ('data/std', std), ('data/augment', aug)]
    for n in names:
        entries.append(('init/' + n, params[n].numpy().copy()))
    for b in bn_names:
        for k in ('running_mean', 'running_var'):
            entries.append(('init/%s.%s' % (b, k), bns[b][k].numpy().copy()))

    velocity, losses = {}, []
    for step in range(2):
        s = 'step%d/' % (step + 1)
        x = torch.from_numpy(inputs32[step * BATCH:(step + 1) * BATCH].astype(np.float64))
        y = torch.from_numpy(targets[step * BATCH:(step + 1) * BATCH])
        leaves = {n: p.clone().requires_grad_(True) for n, p in params.items()}
        out = forward(x, leaves, bns, True, GATES[step])
        loss = F.cross_entropy(out, y)
        grads = dict(zip(names, torch.autograd.grad(loss, [leaves[n] for n in names],
                                                    allow_unused=True)))
        for n in names:
            if grads[n] is None:     # a closed block's parameters: zero gradient
                grads[n] = torch.zeros_like(params[n])
        losses.append(loss.item())
        entries += [(s + 'input', x.numpy().copy()), (s + 'output', out.detach().numpy().copy()),
                    (s + 'loss', np.array([loss.item()]))]
        sgd_step(params, grads, velocity, step == 0)
        for n in names:
            entries += [(s + 'grad/' + n, grads[n].numpy().copy()),
                        (s + 'momentum/' + n, velocity[n].numpy().copy()),
                        (s + 'weight/' + n, params[n].detach().numpy().copy())]
        for b in bn_names:
            for k in ('running_mean', 'running_var'):
                entries.append((s + '%s.%s' % (b, k), bns[b][k].numpy().copy()))

    with torch.no_grad():
        xe = torch.from_numpy(inputs32.astype(np.float64))
        entries.append(('eval/output', forward(xe, params, bns, False).numpy().copy()))

    here = os.path.dirname(os.path.abspath(__file__))
    write_safetensors(os.path.join(here, BASE + '.safetensors'), entries)
    info = {
        'what': 'two SGD steps of a stochastic-depth ResNet-%d in float64 (PyTorch %s); '
                'see make_golden.py' % (DEPTH, torch.__version__),
        'depth': DEPTH, 'pL': P_L, 'survival': survival(len(block_specs())),
        'gates': [list(g) for g in GATES], 'batchSize': BATCH, 'pad': PAD,
        'learningRate': LR, 'momentum': MOMENTUM, 'nesterov': True, 'dampening': 0,
        'weightDecay': WEIGHT_DECAY, 'bnEps': BN_EPS, 'bnMomentum': BN_MOMENTUM,
        'source': 'data_batch_1.bin rows %d..%d; mean/std of all its %d images'
                  % (ROWS[0], ROWS[-1], images.shape[0]),
        'labels': 'data/labels are 0-based, as in the file',
        'parameters': names, 'batchnorms': bn_names, 'losses': losses,
    }
    with open(os.path.join(here, BASE + '.json'), 'w') as f:
        json.dump(info, f, indent=1)
        f.write('\n')
    print('losses', losses)
    print('wrote', os.path.join(here, BASE + '.safetensors'), 'with', len(entries), 'tensors')


if __name__ == '__main__':
    main()
