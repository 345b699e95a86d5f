# bench/winograd_error.py -- the float32 error of Winograd F(2x2,3x3) and F(4x4,3x3),
# simulated in numpy (the transforms and the channel sum rounded to float32, the exact
# result in float64), to judge F(4x4,3x3) before writing its kernels. The F(2x2,3x3)
# figures match those of core/nn/conv_winograd.c (spec/conv_winograd_spec.lua).
#   /usr/bin/python3 bench/winograd_error.py
import numpy as np
rng = np.random.default_rng(1)
def mats(m):
    if m == 2:
        BT = np.array([[1,0,-1,0],[0,1,1,0],[0,-1,1,0],[0,1,0,-1]], float)
        G = np.array([[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]])
        AT = np.array([[1,1,1,0],[0,1,-1,-1]], float)
    else:
        BT = np.array([[4,0,-5,0,1,0],[0,-4,-4,1,1,0],[0,4,-4,-1,1,0],[0,-2,-1,2,1,0],[0,2,-1,-2,1,0],[0,4,0,-5,0,1]], float)
        G = np.array([[1/4,0,0],[-1/6,-1/6,-1/6],[-1/6,1/6,-1/6],[1/24,1/12,1/6],[1/24,-1/12,1/6],[0,0,1]])
        AT = np.array([[1,1,1,1,1,0],[0,1,-1,2,-2,0],[0,1,1,4,4,0],[0,1,-1,8,-8,1]], float)
    return BT, G, AT
for C in (16, 64):
    for m in (2, 4):
        BT, G, AT = mats(m)
        a = m + 2
        T = 4000
        d = rng.uniform(-2, 2, (T, C, a, a))
        g = rng.normal(0, np.sqrt(2 / (9 * C)), (C, 3, 3))
        # float64 reference: valid correlation
        ref = np.zeros((T, m, m))
        for i in range(m):
            for j in range(m):
                ref[:, i, j] = np.einsum('tcxy,cxy->t', d[:, :, i:i+3, j:j+3], g)
        f = np.float32
        U = np.einsum('ix,cxy,jy->cij', G.astype(f), g.astype(f), G.astype(f)).astype(f)
        V = np.einsum('ix,tcxy,jy->tcij', BT.astype(f), d.astype(f), BT.astype(f)).astype(f)
        M = np.einsum('tcij,cij->tij', V, U).astype(f)
        Y = np.einsum('ix,txy,jy->tij', AT.astype(f), M, AT.astype(f)).astype(f)
        err = np.abs(Y - ref).max() / np.abs(ref).max()
        print(f'C={C} F({m}x{m},3x3) float32 relative error {err:.2e}')
