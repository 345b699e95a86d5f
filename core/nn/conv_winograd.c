/* nn/conv_winograd.c -- float32 Winograd F(2x2,3x3) and F(4x4,3x3) convolution for
 * AVX-512: 3x3 kernels, stride 1, padding 1, on NCHW: forward, backward-input (a forward
 * convolution with the kernel mirrored and the channels swapped) and backward-weight
 * (below). F(4x4,3x3) has its own transforms (its section) and shares the products.
 *
 * Why: the direct kernels (core/nn/conv_direct.c) already run at 80-90% of the FMA peak,
 * so the only way left to make these convolutions faster is fewer multiplications.
 * F(2x2,3x3) computes each 2x2 output tile from a 4x4 input tile with 16 multiplications
 * per (input, output) channel pair instead of 36: 2.25x fewer.
 *
 *   Y = A^T [ sum_c (G g_kc G^T) .* (B^T d_c B) ] A        (Lavin & Gray, 2015)
 *
 * Per block of tiles ("chunk", sized to stay in L2) the input transform writes
 * V[xi][c][t] (xi: the 16 positions of the 4x4 transformed tile, t: tiles in the vector
 * lanes), 16 matrix products M[xi][k][t] = sum_c U[xi][c][k] V[xi][c][t] run the same
 * register tile as the direct kernel (8 output channels x 3 vectors of 16 tiles), and
 * the output transform writes the 2x2 tiles into the NCHW output. U = G g G^T is made
 * once per call (in double, rounded once).
 *
 * Tiles in the lanes: tile (a, j) of a row of tiles reads input rows 2a-1..2a+2, columns
 * 2j-1..2j+2. One row of up to 16 tiles is one vector: the even and odd columns of the
 * input row (x[2j], x[2j+1]) are two permutes of the 32 floats, and x[2j-1], x[2j+2]
 * are the same shifted by a lane. Masked loads supply the zero padding. A tile row of
 * TW < 16 tiles (planes narrower than 32) fills TW lanes; the rows of a chunk are packed
 * TW lanes apart, so the matrix products run on full vectors whatever the width. Planes
 * 32, 16 or 8 wide (ResNet's) take full-vector transforms instead (1, 2 or 4 tile rows
 * per vector, below).
 *
 * Accuracy: the transforms only add, subtract and halve; the relative error against a
 * float64 convolution is about 1e-6 (spec/conv_winograd_spec.lua states and checks it).
 * Callers (core/nn/conv.c) check every argument and choose this path; scratch lives in
 * the calling thread's FT_WS_DIRECT (per-thread chunk buffers) and FT_WS_DIRECT2
 * (transformed weights) workspaces, which the direct kernels use the same way: only one
 * of the two paths runs at a time. */
#include "internal.h"
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
#include <immintrin.h>

int ft_conv_winograd_available(void) { return 1; }

#define INL static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 24")
#include "transpose16.h"

enum { WR = 8, WV = 3 }; /* register tile: 8 output channels x 3 vectors of tiles */

typedef struct {
  int m, npos;         /* output tile m x m (2 or 4), npos = (m+2)^2 positions      */
  int C, K, H, W;      /* input channels, output channels, plane (same in and out) */
  int TH, TW;          /* tile rows and columns of a plane                          */
  int nseg;            /* 16-tile segments per tile row (1 when W <= 32)            */
  int LW;              /* lanes per unit: TW when nseg == 1, else 16                */
  int64_t units;       /* N * TH * nseg: one unit = one segment of one tile row     */
  int P;              /* > 0: the full-vector transforms, P tile rows per vector    */
  int upc;             /* units per chunk (a multiple of P)                         */
  int Tp;              /* tile lanes per chunk, a multiple of 16                    */
  int64_t vxs, mxs;    /* floats from one position xi to the next in V and M: C*Tp
                        * and K*Tp plus one cache line, so that the positions a
                        * transform touches at once never share an L1 set (C*Tp*4 is
                        * often a multiple of 4 KiB)                                 */
} wg_geom;

static int wg_thread(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* ---- input transform: V[xi][c][t] for the units [u0, u1) ------------------------- */
INL __m512 lane_mask_load(const float *row, int col0, int W) {
  int n = W - col0;
  __mmask16 m = n >= 16 ? 0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1);
  return _mm512_maskz_loadu_ps(m, row + col0);
}

/* The horizontal transform of one input row for tiles 16s..16s+15: h[jj][j] is
 * (B^T applied to x[2j-1..2j+2]) in lane j. row == NULL: a padding row (zeros). */
INL void row_transform(const float *row, int W, int s, __m512 h[4]) {
  if (!row) { h[0] = h[1] = h[2] = h[3] = _mm512_setzero_ps(); return; }
  const int c0 = 32 * s;
  const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  const __m512i dn = _mm512_set_epi32(14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0);
  const __m512i up = _mm512_set_epi32(15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
  __m512 x0 = lane_mask_load(row, c0, W), x1 = lane_mask_load(row, c0 + 16, W);
  __m512 e = _mm512_permutex2var_ps(x0, ie, x1), o = _mm512_permutex2var_ps(x0, io, x1);
  float left = s > 0 ? row[c0 - 1] : 0.0f, right = c0 + 32 < W ? row[c0 + 32] : 0.0f;
  __m512 om = _mm512_mask_mov_ps(_mm512_permutexvar_ps(dn, o), 1, _mm512_set1_ps(left));
  __m512 ep = _mm512_mask_mov_ps(_mm512_permutexvar_ps(up, e), 0x8000, _mm512_set1_ps(right));
  /* B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1] on (x[2j-1], x[2j], x[2j+1], x[2j+2]) */
  h[0] = _mm512_sub_ps(om, o);
  h[1] = _mm512_add_ps(e, o);
  h[2] = _mm512_sub_ps(o, e);
  h[3] = _mm512_sub_ps(e, ep);
}

static void input_transform(const wg_geom *g, const float *in, int64_t u0, int64_t u1, float *V) {
  const int64_t plane = (int64_t)g->H * g->W, cs = (int64_t)g->Tp; /* V: [16][C][Tp] */
  const __mmask16 sm = (__mmask16)((1u << g->LW) - 1);
  for (int64_t u = u0; u < u1; u++) {
    const int s = (int)(u % g->nseg);
    const int64_t ra = u / g->nseg, n = ra / g->TH;
    const int a = (int)(ra % g->TH);
    const int64_t off = (u - u0) * g->LW;
    for (int c = 0; c < g->C; c++) {
      const float *pl = in + (n * g->C + c) * plane;
      __m512 h[4][4];
      UNROLL
      for (int i = 0; i < 4; i++) {
        int r = 2 * a - 1 + i;
        row_transform(r >= 0 && r < g->H ? pl + (int64_t)r * g->W : NULL, g->W, s, h[i]);
      }
      float *v = V + c * cs + off;
      const int64_t xs = g->vxs;
      UNROLL
      for (int jj = 0; jj < 4; jj++) {
        /* B^T down the columns: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3) */
        _mm512_mask_storeu_ps(v + (0 * 4 + jj) * xs, sm, _mm512_sub_ps(h[0][jj], h[2][jj]));
        _mm512_mask_storeu_ps(v + (1 * 4 + jj) * xs, sm, _mm512_add_ps(h[1][jj], h[2][jj]));
        _mm512_mask_storeu_ps(v + (2 * 4 + jj) * xs, sm, _mm512_sub_ps(h[2][jj], h[1][jj]));
        _mm512_mask_storeu_ps(v + (3 * 4 + jj) * xs, sm, _mm512_sub_ps(h[1][jj], h[3][jj]));
      }
    }
  }
}

/* ---- full-vector transforms: planes W = 2*LW with LW = 16, 8 or 4 ------------------
 * (ResNet's 32x32, 16x16 and 8x8, H even): P = 16/LW whole tile rows fill one vector,
 * lane p*LW + j holding tile (a0 + p, j). The input rows 2(a0+p)-1+i of the P tile rows
 * sit side by side in two vectors (P = 1: one row's two halves; 2: two rows; 4: four
 * half-vector rows), so the even/odd permutes, the adds and the stores all run on full
 * vectors; the lane shifts are masked at each tile row's ends, where the padding is. */
INL __m512 group_rows(const float *pl, int H, int W, int P, int r0, int half) {
  /* the 16 floats of rows r0 + 2p, p in [half*P/2, (half+1)*P/2), W floats each */
  if (P == 1) return r0 >= 0 && r0 < H ? _mm512_loadu_ps(pl + (int64_t)r0 * W + 16 * half) : _mm512_setzero_ps();
  if (P == 2) {
    int r = r0 + 2 * half;
    return r >= 0 && r < H ? _mm512_loadu_ps(pl + (int64_t)r * W) : _mm512_setzero_ps();
  }
  int ra = r0 + 4 * half, rb = ra + 2;
  __m256 a = ra >= 0 && ra < H ? _mm256_loadu_ps(pl + (int64_t)ra * W) : _mm256_setzero_ps();
  __m256 b = rb >= 0 && rb < H ? _mm256_loadu_ps(pl + (int64_t)rb * W) : _mm256_setzero_ps();
  return _mm512_insertf32x8(_mm512_castps256_ps512(a), b, 1);
}

static void input_transform_grouped(const wg_geom *g, const float *in, int64_t u0, int64_t u1, float *V) {
  const int64_t plane = (int64_t)g->H * g->W, xs = g->vxs;
  const int P = g->P, LW = g->LW;
  const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  const __m512i dn = _mm512_set_epi32(14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0);
  const __m512i up = _mm512_set_epi32(15, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1);
  __mmask16 first = 0, last = 0; /* lanes j = 0 and j = LW-1 of each tile row */
  for (int p = 0; p < P; p++) { first |= (__mmask16)(1u << (p * LW)); last |= (__mmask16)(1u << (p * LW + LW - 1)); }
  for (int64_t u = u0; u < u1; u += P) {
    const int64_t n = u / g->TH;
    const int a0 = (int)(u % g->TH);
    float *v0 = V + (u - u0) * LW;
    for (int c = 0; c < g->C; c++) {
      const float *pl = in + (n * g->C + c) * plane;
      __m512 h[4][4];
      UNROLL
      for (int i = 0; i < 4; i++) {
        const int r0 = 2 * a0 - 1 + i;
        __m512 x0 = group_rows(pl, g->H, g->W, P, r0, 0), x1 = group_rows(pl, g->H, g->W, P, r0, 1);
        __m512 e = _mm512_permutex2var_ps(x0, ie, x1), o = _mm512_permutex2var_ps(x0, io, x1);
        __m512 om = _mm512_maskz_permutexvar_ps((__mmask16)~first, dn, o);
        __m512 ep = _mm512_maskz_permutexvar_ps((__mmask16)~last, up, e);
        h[i][0] = _mm512_sub_ps(om, o);
        h[i][1] = _mm512_add_ps(e, o);
        h[i][2] = _mm512_sub_ps(o, e);
        h[i][3] = _mm512_sub_ps(e, ep);
      }
      float *v = v0 + (int64_t)c * g->Tp;
      UNROLL
      for (int jj = 0; jj < 4; jj++) {
        _mm512_storeu_ps(v + (0 * 4 + jj) * xs, _mm512_sub_ps(h[0][jj], h[2][jj]));
        _mm512_storeu_ps(v + (1 * 4 + jj) * xs, _mm512_add_ps(h[1][jj], h[2][jj]));
        _mm512_storeu_ps(v + (2 * 4 + jj) * xs, _mm512_sub_ps(h[2][jj], h[1][jj]));
        _mm512_storeu_ps(v + (3 * 4 + jj) * xs, _mm512_sub_ps(h[1][jj], h[3][jj]));
      }
    }
  }
}

/* The output rows 2(a0+p)+dy of the P tile rows: z0, z1 hold them side by side. */
INL void group_store(float *row, int W, int P, __m512 z0, __m512 z1, int stream) {
  if (P == 1) {
    if (stream) { _mm512_stream_ps(row, z0); _mm512_stream_ps(row + 16, z1); }
    else { _mm512_storeu_ps(row, z0); _mm512_storeu_ps(row + 16, z1); }
  } else if (P == 2) {
    if (stream) { _mm512_stream_ps(row, z0); _mm512_stream_ps(row + 2 * W, z1); }
    else { _mm512_storeu_ps(row, z0); _mm512_storeu_ps(row + 2 * W, z1); }
  } else {
    _mm256_storeu_ps(row, _mm512_castps512_ps256(z0));
    _mm256_storeu_ps(row + 2 * W, _mm512_extractf32x8_ps(z0, 1));
    _mm256_storeu_ps(row + 4 * W, _mm512_castps512_ps256(z1));
    _mm256_storeu_ps(row + 6 * W, _mm512_extractf32x8_ps(z1, 1));
  }
}

static void output_transform_grouped(const wg_geom *g, const float *M, const float *bias, int64_t u0,
                                     int64_t u1, float *out, int stream) {
  const int64_t plane = (int64_t)g->H * g->W, xs = g->mxs;
  const int P = g->P, LW = g->LW;
  const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  for (int64_t u = u0; u < u1; u += P) {
    const int64_t n = u / g->TH;
    const int a0 = (int)(u % g->TH);
    const float *m0 = M + (u - u0) * LW;
    for (int k = 0; k < g->K; k++) {
      const float *mp = m0 + (int64_t)k * g->Tp;
      __m512 t[2][4];
      UNROLL
      for (int i = 0; i < 4; i++) {
        __m512 q0 = _mm512_loadu_ps(mp + (i * 4 + 0) * xs), q1 = _mm512_loadu_ps(mp + (i * 4 + 1) * xs);
        __m512 q2 = _mm512_loadu_ps(mp + (i * 4 + 2) * xs), q3 = _mm512_loadu_ps(mp + (i * 4 + 3) * xs);
        t[0][i] = _mm512_add_ps(_mm512_add_ps(q0, q1), q2);
        t[1][i] = _mm512_sub_ps(_mm512_sub_ps(q1, q2), q3);
      }
      const __m512 b = _mm512_set1_ps(bias ? bias[k] : 0.0f);
      float *pl = out + (n * g->K + k) * plane + (int64_t)2 * a0 * g->W;
      UNROLL
      for (int dy = 0; dy < 2; dy++) {
        __m512 y[2];
        UNROLL
        for (int dx = 0; dx < 2; dx++)
          y[dx] = dy == 0 ? _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(t[dx][0], t[dx][1]), t[dx][2]), b)
                          : _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(t[dx][1], t[dx][2]), t[dx][3]), b);
        group_store(pl + dy * g->W, g->W, P, _mm512_permutex2var_ps(y[0], lo, y[1]),
                    _mm512_permutex2var_ps(y[0], hi, y[1]), stream);
      }
    }
  }
}

/* ---- the npos products: M[xi][k][t] = sum_c U[xi][c][k] V[xi][c][t] -------------- */
INL void gemm_tile(int R, int Vn, int C, int K, int Tp, const float *U, const float *V, float *M,
                   int k0, int t0) {
  __m512 acc[WR][WV];
  UNROLL
  for (int r = 0; r < R; r++) {
    UNROLL
    for (int v = 0; v < Vn; v++) acc[r][v] = _mm512_setzero_ps();
  }
  const float *vp = V + t0, *up = U + k0;
  for (int c = 0; c < C; c++) {
    __m512 x[WV];
    UNROLL
    for (int v = 0; v < Vn; v++) x[v] = _mm512_loadu_ps(vp + 16 * v);
    UNROLL
    for (int r = 0; r < R; r++) {
      __m512 w = _mm512_set1_ps(up[r]);
      UNROLL
      for (int v = 0; v < Vn; v++) acc[r][v] = _mm512_fmadd_ps(w, x[v], acc[r][v]);
    }
    vp += Tp;
    up += K;
  }
  UNROLL
  for (int r = 0; r < R; r++) {
    UNROLL
    for (int v = 0; v < Vn; v++) _mm512_storeu_ps(M + (int64_t)(k0 + r) * Tp + t0 + 16 * v, acc[r][v]);
  }
}

#define GT_V(R, Vn) case Vn: gemm_tile(R, Vn, C, K, Tp, U, V, M, k0, t0); break
#define GT_R(R) case R: switch (Vn) { GT_V(R, 1); GT_V(R, 2); GT_V(R, 3); } break
static void gemm_dispatch(int R, int Vn, int C, int K, int Tp, const float *U, const float *V,
                          float *M, int k0, int t0) {
  switch (R) { GT_R(1); GT_R(2); GT_R(3); GT_R(4); GT_R(5); GT_R(6); GT_R(7); GT_R(8); }
}

/* The input lines of units [u0, u1): per channel, one range of plane rows per image. */
typedef struct { const float *in; int64_t u0, u1; } wg_prefetch;

/* Issues prefetches into L2 for part `part` of 16 of the input lines of p's units. */
static void prefetch_part(const wg_geom *g, const wg_prefetch *p, int part) {
  if (p->u0 >= p->u1) return;
  const int64_t plane = (int64_t)g->H * g->W;
  const int64_t r0 = p->u0 / g->nseg, r1 = (p->u1 - 1) / g->nseg; /* tile rows (n*TH + a) */
  for (int64_t n = r0 / g->TH; n <= r1 / g->TH; n++) {
    int a0 = n == r0 / g->TH ? (int)(r0 % g->TH) : 0, a1 = n == r1 / g->TH ? (int)(r1 % g->TH) : g->TH - 1;
    int h0 = g->m * a0 - 1 < 0 ? 0 : g->m * a0 - 1;
    int h1 = g->m * a1 + g->m + 1 > g->H ? g->H : g->m * a1 + g->m + 1;
    const int64_t lines = ((int64_t)(h1 - h0) * g->W * 4 + 63) / 64;
    for (int c = part; c < g->C; c += 16) {
      const char *b = (const char *)(p->in + (n * g->C + c) * plane + (int64_t)h0 * g->W);
      for (int64_t l = 0; l < lines; l++) _mm_prefetch(b + 64 * l, _MM_HINT_T1);
    }
  }
}

/* tv: tile vectors in use (the chunk's tiles rounded up to 16). While it computes, it
 * prefetches the next chunk's input (the transforms read many planes at once: more
 * streams than the hardware prefetchers follow). */
static void products(const wg_geom *g, const float *U, const float *V, float *M, int tv,
                     const wg_prefetch *pf) {
  const int C = g->C, K = g->K, Tp = g->Tp;
  for (int xi = 0; xi < g->npos; xi++) {
    if (xi < 16) prefetch_part(g, pf, xi);
    const float *Ux = U + (int64_t)xi * C * K, *Vx = V + xi * g->vxs;
    float *Mx = M + xi * g->mxs;
    for (int t = 0; t < tv; t += WV) {
      int Vn = tv - t < WV ? tv - t : WV;
      /* the tile's V panel (C x Vn vectors) stays in L1 across the output channels */
      for (int k0 = 0; k0 < K; k0 += WR) {
        int R = K - k0 < WR ? K - k0 : WR;
        gemm_dispatch(R, Vn, C, K, Tp, Ux, Vx, Mx, k0, 16 * t);
      }
    }
  }
}

/* ---- output transform: out[n][k][2a+dy][2j+dx] from M[xi][k][t] ----------------- */
static void output_transform(const wg_geom *g, const float *M, const float *bias, int64_t u0,
                             int64_t u1, float *out, int stream) {
  const int64_t plane = (int64_t)g->H * g->W, ks = (int64_t)g->Tp, xs = g->mxs;
  const __mmask16 sm = (__mmask16)((1u << g->LW) - 1);
  const __m512i lo = _mm512_set_epi32(23, 7, 22, 6, 21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  const __m512i hi = _mm512_set_epi32(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8);
  for (int64_t u = u0; u < u1; u++) {
    const int s = (int)(u % g->nseg);
    const int64_t ra = u / g->nseg, n = ra / g->TH;
    const int a = (int)(ra % g->TH);
    const int64_t off = (u - u0) * g->LW;
    const int c0 = 32 * s;
    const int n0 = g->W - c0, n1 = g->W - c0 - 16;
    const __mmask16 m0 = n0 >= 16 ? 0xffff : (__mmask16)((1u << n0) - 1);
    const __mmask16 m1 = n1 >= 16 ? 0xffff : n1 <= 0 ? 0 : (__mmask16)((1u << n1) - 1);
    for (int k = 0; k < g->K; k++) {
      const float *mp = M + k * ks + off;
      __m512 t[2][4]; /* A^T along each row of m: (m0 + m1 + m2, m1 - m2 - m3) */
      UNROLL
      for (int i = 0; i < 4; i++) {
        __m512 q0 = _mm512_maskz_loadu_ps(sm, mp + (i * 4 + 0) * xs);
        __m512 q1 = _mm512_maskz_loadu_ps(sm, mp + (i * 4 + 1) * xs);
        __m512 q2 = _mm512_maskz_loadu_ps(sm, mp + (i * 4 + 2) * xs);
        __m512 q3 = _mm512_maskz_loadu_ps(sm, mp + (i * 4 + 3) * xs);
        t[0][i] = _mm512_add_ps(_mm512_add_ps(q0, q1), q2);
        t[1][i] = _mm512_sub_ps(_mm512_sub_ps(q1, q2), q3);
      }
      const __m512 b = _mm512_set1_ps(bias ? bias[k] : 0.0f);
      float *pl = out + (n * g->K + k) * plane;
      UNROLL
      for (int dy = 0; dy < 2; dy++) {
        const int r = 2 * a + dy;
        if (r >= g->H) break;
        __m512 y[2];
        UNROLL
        for (int dx = 0; dx < 2; dx++)
          y[dx] = dy == 0 ? _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(t[dx][0], t[dx][1]), t[dx][2]), b)
                          : _mm512_add_ps(_mm512_sub_ps(_mm512_sub_ps(t[dx][1], t[dx][2]), t[dx][3]), b);
        float *orow = pl + (int64_t)r * g->W + c0;
        const __m512 z0 = _mm512_permutex2var_ps(y[0], lo, y[1]);
        if (stream && m0 == 0xffff) _mm512_stream_ps(orow, z0);
        else _mm512_mask_storeu_ps(orow, m0, z0);
        if (!m1) continue;
        const __m512 z1 = _mm512_permutex2var_ps(y[0], hi, y[1]);
        if (stream && m1 == 0xffff) _mm512_stream_ps(orow + 16, z1);
        else _mm512_mask_storeu_ps(orow + 16, m1, z1);
      }
    }
  }
}

/* ---- weight transform: U[xi][c][k] = (G g_kc G^T)[xi], in double ------------------
 * G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. flip: weight is [C, K, 3, 3] of the
 * forward convolution (backward-input), read mirrored. */
static const double G2[4][3] = { { 1, 0, 0 }, { .5, .5, .5 }, { .5, -.5, .5 }, { 0, 0, 1 } };
/* U[xi][c][k] = (G g_kc G^T)[xi] for the n x n positions (n = 4: G2, n = 6: G4), in double,
 * rounded once; 8 output channels per vector (their 9 taps gathered first), the channels
 * c split over the threads from 32 x 32 pairs. A scalar loop took a quarter of an 8x8
 * F(4x4,3x3) forward at 64 channels and batch 128. Each element is computed alone: the
 * bits do not depend on the threads. */
static void weight_transform_n(const float *weight, int C, int K, int flip, float *U,
                               const double (*G)[3], int n) {
  #pragma omp parallel for schedule(static) if ((int64_t)C * K >= 1024)
  for (int c = 0; c < C; c++)
    for (int k0 = 0; k0 < K; k0 += 8) {
      const int kb = K - k0 < 8 ? K - k0 : 8;
      double g[9][8];
      for (int kk = 0; kk < 8; kk++)
        for (int e = 0; e < 9; e++) {
          const int64_t k = k0 + kk;
          g[e][kk] = kk >= kb ? 0.0 : flip ? weight[((int64_t)c * K + k) * 9 + (8 - e)] : weight[(k * C + c) * 9 + e];
        }
      __m512d w[9], t[6][3];
      for (int e = 0; e < 9; e++) w[e] = _mm512_loadu_pd(g[e]);
      for (int i = 0; i < n; i++)
        for (int j = 0; j < 3; j++)
          t[i][j] = _mm512_fmadd_pd(_mm512_set1_pd(G[i][2]), w[6 + j],
                                    _mm512_fmadd_pd(_mm512_set1_pd(G[i][1]), w[3 + j],
                                                    _mm512_mul_pd(_mm512_set1_pd(G[i][0]), w[j])));
      const __mmask8 m = (__mmask8)((1u << kb) - 1);
      for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
          __m512d u = _mm512_fmadd_pd(t[i][2], _mm512_set1_pd(G[j][2]),
                                      _mm512_fmadd_pd(t[i][1], _mm512_set1_pd(G[j][1]),
                                                      _mm512_mul_pd(t[i][0], _mm512_set1_pd(G[j][0]))));
          _mm256_mask_storeu_ps(U + ((int64_t)(i * n + j) * C + c) * K + k0, m, _mm512_cvtpd_ps(u));
        }
    }
}

/* With nt > 1 threads, units per chunk near upc (multiples of step, at most max_upc) such
 * that the threads' shares of chunks (schedule static) are as even as they can be: e.g. 32
 * groups of an 8x8 F(4x4,3x3) layer in chunks of 3 give 11 chunks, 6 against 5 (the second
 * thread idles 1/6 of the layer); in chunks of 4, 8 chunks, 4 each. */
static int64_t balanced_upc(int64_t units, int64_t step, int64_t upc, int64_t max_upc, int nt) {
  if (nt <= 1 || units <= upc) return upc;
  const int64_t G = (units + step - 1) / step, g0 = upc / step;
  int64_t best = g0, best_crit = -1;
  for (int64_t gpc = (g0 + 1) / 2; gpc <= 2 * g0 && gpc * step <= max_upc; gpc++) {
    if (gpc < 1) continue;
    const int64_t chunks = (G + gpc - 1) / gpc, crit = (chunks + nt - 1) / nt * gpc;
    const int64_t d = gpc > g0 ? gpc - g0 : g0 - gpc, db = best > g0 ? best - g0 : g0 - best;
    if (best_crit < 0 || crit < best_crit || (crit == best_crit && (d < db || (d == db && gpc > best)))) {
      best = gpc;
      best_crit = crit;
    }
  }
  return best * step;
}

/* Units per chunk: V and M of one chunk (16 (C + K) Tp floats) within about 384 KiB of
 * L2, and at least 48 tile lanes (3 vectors: one full register tile); balanced over the
 * nt threads. */
static void wg_geom_init(wg_geom *g, int64_t N, int C, int K, int H, int W, int nt) {
  g->m = 2; g->npos = 16;
  g->C = C; g->K = K; g->H = H; g->W = W;
  g->TH = (H + 1) / 2; g->TW = (W + 1) / 2;
  g->nseg = (g->TW + 15) / 16;
  g->LW = g->nseg == 1 ? g->TW : 16;
  g->units = N * g->TH * g->nseg;
  int64_t lanes = (384 * 1024 / 4) / (16 * (int64_t)(C + K));
  if (lanes < 48) lanes = 48;
  if (lanes > 192) lanes = 192;
  g->P = 0;
  if ((g->TW == 16 || g->TW == 8 || g->TW == 4) && W == 2 * g->TW && H % 2 == 0 &&
      g->TH % (16 / g->TW) == 0)
    g->P = 16 / g->TW;
  int64_t upc = lanes / g->LW;
  if (g->P) upc = upc / g->P * g->P;
  if (upc < (g->P ? g->P : 1)) upc = g->P ? g->P : 1;
  upc = balanced_upc(g->units, g->P ? g->P : 1, upc, 192 / g->LW, nt);
  if (upc > g->units) upc = g->units;
  g->upc = (int)upc;
  g->Tp = (int)((upc * g->LW + 15) / 16 * 16);
  g->vxs = (int64_t)C * g->Tp + 16;
  g->mxs = (int64_t)K * g->Tp + 16;
}

/* ---- F(4x4,3x3): 4x4 output tiles from 6x6 input tiles ----------------------------
 * 36 multiplications per 16 outputs and channel pair (F(2x2,3x3): 64; direct: 144),
 * and the transforms read and write 2.25 values per output instead of 4. Full-vector
 * geometry only: planes 32 wide (8 tiles per row, P = 2 tile rows per vector) or 16
 * wide (4 tiles, P = 4), H a multiple of 4 P, or 8x8 (2 x 2 tiles, the P = 8 tile rows
 * of 4 images per vector, so N a multiple of 4). Lavin & Gray's points 0, +-1, +-2:
 *   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0;
 *          0 4 0 -5 0 1],
 *   G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6; 1/24 -1/12 1/6; 0 0 1],
 *   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1].
 * Its float32 error is larger (the transforms multiply by up to 8 and 5): about 2e-6
 * to 7e-6 of the largest output against 1e-7 to 8e-7 for F(2x2,3x3)
 * (spec/conv_winograd_spec.lua measures and bounds both). */
static int wg4_fits(int64_t N, int H, int W) {
  return (W == 32 && H % 8 == 0) || (W == 16 && H % 16 == 0) || (W == 8 && H == 8 && N % 4 == 0);
}

static void wg4_geom_init(wg_geom *g, int64_t N, int C, int K, int H, int W, int nt) {
  g->m = 4; g->npos = 36;
  g->C = C; g->K = K; g->H = H; g->W = W;
  g->TH = H / 4; g->TW = W / 4;
  g->nseg = 1; g->LW = g->TW;
  g->P = 16 / g->TW;
  g->units = N * g->TH;
  int64_t lanes = (384 * 1024 / 4) / (36 * (int64_t)(C + K));
  if (lanes < 48) lanes = 48;
  if (lanes > 192) lanes = 192;
  int64_t upc = lanes / g->LW / g->P * g->P;
  if (upc < g->P) upc = g->P;
  upc = balanced_upc(g->units, g->P, upc, 192 / g->LW / g->P * g->P, nt);
  if (upc > g->units) upc = g->units;
  g->upc = (int)upc;
  g->Tp = (int)(upc * g->LW);
  g->vxs = (int64_t)C * g->Tp + 16;
  g->mxs = (int64_t)K * g->Tp + 16;
}

/* Row i of the P tile rows (plane rows 4(a0+p)-1+i) as four vectors q[e]: W = 32: the
 * two 32-float rows; W = 16: the four 16-float rows; W = 8: image e of the group
 * (planes istride apart), rows of tile rows 0 and 1 in its two halves. */
INL void wg4_load_row(const float *pl, int64_t istride, int H, int W, int a0, int i, __m512 q[4]) {
  for (int e = 0; e < 4; e++) {
    if (W == 8) {
      const float *im = pl + e * istride;
      const int r0 = i - 1, r1 = 3 + i;
      __m256 lo = r0 >= 0 ? _mm256_loadu_ps(im + (int64_t)r0 * 8) : _mm256_setzero_ps();
      __m256 hi = r1 < H ? _mm256_loadu_ps(im + (int64_t)r1 * 8) : _mm256_setzero_ps();
      q[e] = _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
      continue;
    }
    const int p = W == 32 ? e / 2 : e, col = W == 32 ? 16 * (e % 2) : 0;
    const int r = 4 * (a0 + p) - 1 + i;
    q[e] = r >= 0 && r < H ? _mm512_loadu_ps(pl + (int64_t)r * W + col) : _mm512_setzero_ps();
  }
}

/* Where vector e of output row dy of the group goes (W = 8: two rows, see wg4_store). */
INL float *wg4_row_dst(float *pl, int64_t istride, int W, int dy, int e) {
  if (W == 8) return pl + e * istride + (int64_t)dy * 8;
  if (W == 32) return pl + (int64_t)dy * W + (int64_t)(e / 2) * 4 * W + 16 * (e % 2);
  return pl + (int64_t)dy * W + (int64_t)e * 4 * W;
}

INL void wg4_store(float *dst, int W, __m512 z, int stream) {
  if (W == 8) { /* tile row 0's row here, tile row 1's four rows further down */
    _mm256_storeu_ps(dst, _mm512_castps512_ps256(z));
    _mm256_storeu_ps(dst + 32, _mm512_extractf32x8_ps(z, 1));
  } else if (stream) _mm512_stream_ps(dst, z);
  else _mm512_storeu_ps(dst, z);
}

/* d[0..5] (x[4j-1] .. x[4j+4] of each tile's lane) -> B^T d */
INL void wg4_bt(const __m512 d[6], __m512 r[6]) {
  const __m512 four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f), two = _mm512_set1_ps(2.0f);
  __m512 t0 = _mm512_fnmadd_ps(four, d[2], d[4]), t1 = _mm512_fnmadd_ps(four, d[1], d[3]);
  __m512 t2 = _mm512_sub_ps(d[4], d[2]), t3 = _mm512_mul_ps(two, _mm512_sub_ps(d[3], d[1]));
  r[0] = _mm512_fmadd_ps(four, d[0], _mm512_fnmadd_ps(five, d[2], d[4]));
  r[1] = _mm512_add_ps(t0, t1);
  r[2] = _mm512_sub_ps(t0, t1);
  r[3] = _mm512_add_ps(t2, t3);
  r[4] = _mm512_sub_ps(t2, t3);
  r[5] = _mm512_fmadd_ps(four, d[1], _mm512_fnmadd_ps(five, d[3], d[5]));
}

/* m[0..5] -> A^T m */
INL void wg4_at(const __m512 m[6], __m512 y[4]) {
  __m512 s12 = _mm512_add_ps(m[1], m[2]), d12 = _mm512_sub_ps(m[1], m[2]);
  __m512 s34 = _mm512_add_ps(m[3], m[4]), d34 = _mm512_sub_ps(m[3], m[4]);
  y[0] = _mm512_add_ps(_mm512_add_ps(m[0], s12), s34);
  y[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), d34, d12);
  y[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), s34, s12);
  y[3] = _mm512_add_ps(_mm512_fmadd_ps(_mm512_set1_ps(8.0f), d34, d12), m[5]);
}

/* In-register 4x4 transposes within each 128-bit lane: on exit r[f] lane 4L + e holds
 * r[e] lane 4L + f on entry. */
INL void transpose4x4_lanes(__m512 r[4]) {
  __m512 t0 = _mm512_unpacklo_ps(r[0], r[1]), t1 = _mm512_unpacklo_ps(r[2], r[3]);
  __m512 t2 = _mm512_unpackhi_ps(r[0], r[1]), t3 = _mm512_unpackhi_ps(r[2], r[3]);
  r[0] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1)));
  r[1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t0), _mm512_castps_pd(t1)));
  r[2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(t2), _mm512_castps_pd(t3)));
  r[3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(t2), _mm512_castps_pd(t3)));
}

/* Tiles in the lanes, F(4x4,3x3): each 128-bit lane L of row vector e (the four vectors
 * of wg4_load_row) holds the 4 columns of one tile, so a 4x4 transpose per 128-bit lane
 * gives the phases x[4j+f], f = 0..3, with tile (e, L) in lane 4L + e (an order of the
 * tiles the output transform undoes the same way). The neighbours' columns x[4j-1] and
 * x[4j+4] are lane permutes of phases 3 and 0, zero where the padding is. */
typedef struct { __m512i left, right; __mmask16 has_left, has_right; } wg4_shifts;

static void wg4_shifts_init(int W, wg4_shifts *sh) {
  int li[16], ri[16];
  sh->has_left = sh->has_right = 0;
  for (int pos = 0; pos < 16; pos++) {
    const int L = pos / 4, e = pos % 4, two = W == 32; /* W 32: vectors e, e+1 are one row */
    const int j = W == 8 ? L % 2 : L, last = W == 8 ? 1 : 3; /* W 8: two tiles per half */
    li[pos] = ri[pos] = 0;
    if (j > 0) { li[pos] = pos - 4; sh->has_left |= (__mmask16)(1u << pos); }
    else if (two && e % 2 == 1) { li[pos] = 12 + e - 1; sh->has_left |= (__mmask16)(1u << pos); }
    if (j < last) { ri[pos] = pos + 4; sh->has_right |= (__mmask16)(1u << pos); }
    else if (two && e % 2 == 0) { ri[pos] = e + 1; sh->has_right |= (__mmask16)(1u << pos); }
  }
  sh->left = _mm512_loadu_si512(li);
  sh->right = _mm512_loadu_si512(ri);
}

/* The separable transform runs down the columns first, on whole rows (four vectors per
 * row instead of six phase vectors), then across. */
static void input_transform4(const wg_geom *g, const float *in, int64_t u0, int64_t u1, float *V) {
  const int64_t plane = (int64_t)g->H * g->W, xs = g->vxs;
  wg4_shifts sh;
  wg4_shifts_init(g->W, &sh);
  for (int64_t u = u0; u < u1; u += g->P) {
    const int64_t n = u / g->TH;
    const int a0 = (int)(u % g->TH);
    float *v0 = V + (u - u0) * g->LW;
    for (int c = 0; c < g->C; c++) {
      const float *pl = in + (n * g->C + c) * plane;
      __m512 col[4][6]; /* col[e][ii]: B^T down the columns of row vector e */
      {
        __m512 rows[6][4];
        UNROLL
        for (int i = 0; i < 6; i++) wg4_load_row(pl, g->C * plane, g->H, g->W, a0, i, rows[i]);
        UNROLL
        for (int e = 0; e < 4; e++) {
          __m512 d[6];
          UNROLL
          for (int i = 0; i < 6; i++) d[i] = rows[i][e];
          wg4_bt(d, col[e]);
        }
      }
      float *v = v0 + (int64_t)c * g->Tp;
      UNROLL
      for (int ii = 0; ii < 6; ii++) {
        __m512 x[4] = { col[0][ii], col[1][ii], col[2][ii], col[3][ii] }, d[6], r[6];
        transpose4x4_lanes(x);
        d[0] = _mm512_maskz_permutexvar_ps(sh.has_left, sh.left, x[3]);
        d[1] = x[0]; d[2] = x[1]; d[3] = x[2]; d[4] = x[3];
        d[5] = _mm512_maskz_permutexvar_ps(sh.has_right, sh.right, x[0]);
        wg4_bt(d, r);
        UNROLL
        for (int jj = 0; jj < 6; jj++) _mm512_storeu_ps(v + (ii * 6 + jj) * xs, r[jj]);
      }
    }
  }
}

/* Across first (A^T on each row of six), then down; the four column phases y[dx] of
 * output row dy go back to row vectors by the same 4x4 transposes. */
static void output_transform4(const wg_geom *g, const float *M, const float *bias, int64_t u0,
                              int64_t u1, float *out, int stream) {
  const int64_t plane = (int64_t)g->H * g->W, xs = g->mxs;
  const int W = g->W;
  for (int64_t u = u0; u < u1; u += g->P) {
    const int64_t n = u / g->TH;
    const int a0 = (int)(u % g->TH);
    const float *m0 = M + (u - u0) * g->LW;
    for (int k = 0; k < g->K; k++) {
      const float *mp = m0 + (int64_t)k * g->Tp;
      __m512 t[4][6]; /* t[dx][ii] */
      UNROLL
      for (int ii = 0; ii < 6; ii++) {
        __m512 q[6], y[4];
        UNROLL
        for (int jj = 0; jj < 6; jj++) q[jj] = _mm512_loadu_ps(mp + (ii * 6 + jj) * xs);
        wg4_at(q, y);
        UNROLL
        for (int dx = 0; dx < 4; dx++) t[dx][ii] = y[dx];
      }
      const __m512 b = _mm512_set1_ps(bias ? bias[k] : 0.0f);
      __m512 y[4][4]; /* y[dx][dy] */
      UNROLL
      for (int dx = 0; dx < 4; dx++) wg4_at(t[dx], y[dx]);
      float *pl = out + (n * g->K + k) * plane + (int64_t)4 * a0 * W;
      UNROLL
      for (int dy = 0; dy < 4; dy++) {
        __m512 z[4];
        UNROLL
        for (int dx = 0; dx < 4; dx++) z[dx] = _mm512_add_ps(y[dx][dy], b);
        transpose4x4_lanes(z);
        UNROLL
        for (int e = 0; e < 4; e++) wg4_store(wg4_row_dst(pl, g->K * plane, W, dy, e), W, z[e], stream);
      }
    }
  }
}

/* F(4x4,3x3)'s G, for its weight transform and the backward-weight. */
static const double G4[6][3] = { { 1. / 4, 0, 0 }, { -1. / 6, -1. / 6, -1. / 6 }, { -1. / 6, 1. / 6, -1. / 6 },
                                 { 1. / 24, 1. / 12, 1. / 6 }, { 1. / 24, -1. / 12, 1. / 6 }, { 0, 0, 1 } };

int ft_conv_winograd_tile4_fits(int64_t N, int H, int W) { return wg4_fits(N, H, W); }

int ft_conv_winograd_forward(const float *in, float *out, const float *weight, const float *bias,
                             int64_t N, int C, int K, int H, int W, int flip, int tile) {
  if (tile != 2 && !(tile == 4 && wg4_fits(N, H, W)))
    return ft_fail("conv: Winograd F(%dx%d,3x3) does not run on %dx%d planes", tile, tile, H, W);
  int nt = 1;
#ifdef _OPENMP
  nt = omp_get_max_threads();
#endif
  wg_geom g;
  if (tile == 4) wg4_geom_init(&g, N, C, K, H, W, nt);
  else wg_geom_init(&g, N, C, K, H, W, nt);
  float *U;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT2, FT_CPU, sizeof(float) * g.npos * (size_t)C * K,
                            (void **)&U));
  if (tile == 4) weight_transform_n(weight, C, K, flip, U, G4, 6);
  else weight_transform_n(weight, C, K, flip, U, G2, 4);
  const size_t per = (sizeof(float) * g.npos * (size_t)(g.vxs + g.mxs) + 63) / 64 * 64;
  char *mem;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT, FT_CPU, per * nt + 64, (void **)&mem));
  mem = (char *)(((uintptr_t)mem + 63) / 64 * 64);
  /* Lanes past a chunk's last tile are never stored to the output; zeroed so they hold
   * finite values. The full-vector geometries (P > 0, every F(4x4,3x3)) have none. */
  if (!g.P) memset(mem, 0, per * nt);
  /* An output of 8 MiB or more leaves the caches anyway: streaming stores (as in the
   * direct kernel) for full, 64-byte aligned vectors. */
  const int stream = N * K * (int64_t)H * W * 4 >= (8 << 20) && (uintptr_t)out % 64 == 0 &&
                     W % 16 == 0;
  const int64_t nchunks = (g.units + g.upc - 1) / g.upc;
#pragma omp parallel
  {
#pragma omp for schedule(static)
  for (int64_t ch = 0; ch < nchunks; ch++) {
    float *V = (float *)(mem + per * wg_thread()), *M = V + g.npos * g.vxs;
    const int64_t u0 = ch * g.upc, u1 = u0 + g.upc < g.units ? u0 + g.upc : g.units;
    const int tv = (int)(((u1 - u0) * g.LW + 15) / 16);
    const wg_prefetch pf = { in, u1, u1 + g.upc < g.units ? u1 + g.upc : g.units };
    if (tile == 4) input_transform4(&g, in, u0, u1, V);
    else if (g.P) input_transform_grouped(&g, in, u0, u1, V);
    else input_transform(&g, in, u0, u1, V);
    products(&g, U, V, M, tv, &pf);
    if (tile == 4) output_transform4(&g, M, bias, u0, u1, out, stream);
    else if (g.P) output_transform_grouped(&g, M, bias, u0, u1, out, stream && g.P < 4);
    else output_transform(&g, M, bias, u0, u1, out, stream);
  }
  if (stream) _mm_sfence(); /* streaming stores visible before the region ends */
  }
  return FT_OK;
}

/* ---- backward of the weight ---------------------------------------------------------
 * Y = A^T (sum_c U_kc .* V_c) A is linear in U, so dL/dU_kc = sum_tiles (A dY_k A^T) .*
 * V_c, and dL/dg = G^T (dL/dU) G. Per chunk: V as in forward; the output gradient's
 * tiles transformed, A = [1 0; 1 1; 1 -1; 0 -1], and transposed to output channels in
 * the lanes, GT[xi][t][k] (16 channels x 16 tiles at a time, through an L1 staging
 * block); then dU[xi][c][k] += sum_t V[xi][c][t] GT[xi][t][k]: a register tile of R
 * input channels x Vn vectors of 16 output channels, accumulated over the chunk's tiles.
 * Full-vector geometries only (g->P > 0: ResNet's planes); core/nn/conv.c checks it. */
/* The staging block Gs[xi][kk][t] (16 channels x 16 tiles per position) transposed into
 * GT[xi][t0 + t][k0 + kk]: channels in the lanes, for the backward-weight products. */
INL void staged_to_gt(const float *Gs, int npos, float *GT, int64_t gxs, int64_t t0, int Kp, int k0) {
  for (int xi = 0; xi < npos; xi++) {
    __m512 r[16];
    UNROLL
    for (int i = 0; i < 16; i++) r[i] = _mm512_load_ps(Gs + (xi * 16 + i) * 16);
    transpose16(r);
    float *d = GT + xi * gxs + t0 * Kp + k0;
    UNROLL
    for (int i = 0; i < 16; i++) _mm512_storeu_ps(d + (int64_t)i * Kp, r[i]);
  }
}

static void grad_transform_grouped(const wg_geom *g, const float *gout, int64_t u0, int64_t u1,
                                   int Kp, int64_t gxs, float *GT, float *Gs) {
  const int64_t plane = (int64_t)g->H * g->W;
  const int P = g->P;
  const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  for (int64_t u = u0; u < u1; u += P) {
    const int64_t n = u / g->TH, t0 = (u - u0) * g->LW;
    const int a0 = (int)(u % g->TH);
    for (int k0 = 0; k0 < Kp; k0 += 16) {
      for (int kk = 0; kk < 16; kk++) {
        const int k = k0 + kk;
        if (k >= g->K) {
          for (int xi = 0; xi < 16; xi++) _mm512_store_ps(Gs + (xi * 16 + kk) * 16, _mm512_setzero_ps());
          continue;
        }
        const float *pl = gout + (n * g->K + k) * plane;
        __m512 h[2][4];
        UNROLL
        for (int dy = 0; dy < 2; dy++) {
          const int r0 = 2 * a0 + dy;
          __m512 x0 = group_rows(pl, g->H, g->W, P, r0, 0), x1 = group_rows(pl, g->H, g->W, P, r0, 1);
          __m512 e = _mm512_permutex2var_ps(x0, ie, x1), o = _mm512_permutex2var_ps(x0, io, x1);
          h[dy][0] = e;
          h[dy][1] = _mm512_add_ps(e, o);
          h[dy][2] = _mm512_sub_ps(e, o);
          h[dy][3] = _mm512_sub_ps(_mm512_setzero_ps(), o);
        }
        UNROLL
        for (int jj = 0; jj < 4; jj++) {
          _mm512_store_ps(Gs + ((0 * 4 + jj) * 16 + kk) * 16, h[0][jj]);
          _mm512_store_ps(Gs + ((1 * 4 + jj) * 16 + kk) * 16, _mm512_add_ps(h[0][jj], h[1][jj]));
          _mm512_store_ps(Gs + ((2 * 4 + jj) * 16 + kk) * 16, _mm512_sub_ps(h[0][jj], h[1][jj]));
          _mm512_store_ps(Gs + ((3 * 4 + jj) * 16 + kk) * 16, _mm512_sub_ps(_mm512_setzero_ps(), h[1][jj]));
        }
      }
      staged_to_gt(Gs, 16, GT, gxs, t0, Kp, k0);
    }
  }
}

enum { BR = 16, BV = 4 };

INL void wgrad_tile(int R, int Vn, const float *V, int Tp, const float *GT, int Kp, int nt, float *dU) {
  __m512 acc[BR][BV];
  UNROLL
  for (int r = 0; r < R; r++) {
    UNROLL
    for (int v = 0; v < Vn; v++) acc[r][v] = _mm512_setzero_ps();
  }
  for (int t = 0; t < nt; t++) {
    __m512 gv[BV];
    UNROLL
    for (int v = 0; v < Vn; v++) gv[v] = _mm512_loadu_ps(GT + (int64_t)t * Kp + 16 * v);
    UNROLL
    for (int r = 0; r < R; r++) {
      __m512 b = _mm512_set1_ps(V[(int64_t)r * Tp + t]);
      UNROLL
      for (int v = 0; v < Vn; v++) acc[r][v] = _mm512_fmadd_ps(b, gv[v], acc[r][v]);
    }
  }
  UNROLL
  for (int r = 0; r < R; r++) {
    UNROLL
    for (int v = 0; v < Vn; v++) {
      float *d = dU + (int64_t)r * Kp + 16 * v;
      _mm512_storeu_ps(d, _mm512_add_ps(_mm512_loadu_ps(d), acc[r][v]));
    }
  }
}

#define WT_R(Vn, R) case R: wgrad_tile(R, Vn, V, Tp, GT, Kp, nt, dU); break
#define WT_RS(Vn) switch (R) { WT_R(Vn, 1); WT_R(Vn, 2); WT_R(Vn, 3); WT_R(Vn, 4); WT_R(Vn, 5); \
    WT_R(Vn, 6); WT_R(Vn, 7); WT_R(Vn, 8); WT_R(Vn, 9); WT_R(Vn, 10); WT_R(Vn, 11); WT_R(Vn, 12); \
    WT_R(Vn, 13); WT_R(Vn, 14); WT_R(Vn, 15); WT_R(Vn, 16); } break
/* R input channels per tile: 16 with one vector (ResNet's 16 channels in one tile),
 * else as many as keep 24 accumulators. */
static int wgrad_rows(int Vn) { return Vn == 1 ? 16 : 24 / Vn; }
static void wgrad_dispatch(int R, int Vn, const float *V, int Tp, const float *GT, int Kp, int nt, float *dU) {
  switch (Vn) {
  case 1: WT_RS(1);
  case 2: switch (R) { WT_R(2, 1); WT_R(2, 2); WT_R(2, 3); WT_R(2, 4); WT_R(2, 5); WT_R(2, 6); \
    WT_R(2, 7); WT_R(2, 8); WT_R(2, 9); WT_R(2, 10); WT_R(2, 11); WT_R(2, 12); } break;
  case 3: switch (R) { WT_R(3, 1); WT_R(3, 2); WT_R(3, 3); WT_R(3, 4); WT_R(3, 5); WT_R(3, 6); WT_R(3, 7); WT_R(3, 8); } break;
  default: switch (R) { WT_R(4, 1); WT_R(4, 2); WT_R(4, 3); WT_R(4, 4); WT_R(4, 5); WT_R(4, 6); } break;
  }
}

/* F(4x4,3x3): the output gradient's 4x4 tiles to 6x6, dM = A dY A^T with A the
 * transpose of A^T (rows (1 0 0 0), (1 1 1 1), (1 -1 1 -1), (1 2 4 8), (1 -2 4 -8),
 * (0 0 0 1)), down the columns first as in input_transform4, the tiles in the same lane
 * order, then transposed to channels in the lanes as grad_transform_grouped does. */
INL void wg4_a(const __m512 x[4], __m512 r[6]) {
  __m512 s02 = _mm512_add_ps(x[0], x[2]), s13 = _mm512_add_ps(x[1], x[3]);
  __m512 t = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), x[2], x[0]);
  __m512 v = _mm512_fmadd_ps(_mm512_set1_ps(8.0f), x[3], _mm512_add_ps(x[1], x[1]));
  r[0] = x[0];
  r[1] = _mm512_add_ps(s02, s13);
  r[2] = _mm512_sub_ps(s02, s13);
  r[3] = _mm512_add_ps(t, v);
  r[4] = _mm512_sub_ps(t, v);
  r[5] = x[3];
}

static void grad_transform4(const wg_geom *g, const float *gout, int64_t u0, int64_t u1, int Kp,
                            int64_t gxs, float *GT, float *Gs) {
  const int64_t plane = (int64_t)g->H * g->W;
  for (int64_t u = u0; u < u1; u += g->P) {
    const int64_t n = u / g->TH, t0 = (u - u0) * g->LW;
    const int a0 = (int)(u % g->TH);
    for (int k0 = 0; k0 < Kp; k0 += 16) {
      for (int kk = 0; kk < 16; kk++) {
        const int k = k0 + kk;
        if (k >= g->K) {
          for (int xi = 0; xi < 36; xi++) _mm512_store_ps(Gs + (xi * 16 + kk) * 16, _mm512_setzero_ps());
          continue;
        }
        const float *pl = gout + (n * g->K + k) * plane;
        __m512 col[4][6];
        {
          __m512 rows[4][4];
          UNROLL
          for (int dy = 0; dy < 4; dy++) wg4_load_row(pl, g->K * plane, g->H, g->W, a0, dy + 1, rows[dy]);
          UNROLL
          for (int e = 0; e < 4; e++) {
            __m512 x[4] = { rows[0][e], rows[1][e], rows[2][e], rows[3][e] };
            wg4_a(x, col[e]);
          }
        }
        UNROLL
        for (int ii = 0; ii < 6; ii++) {
          __m512 x[4] = { col[0][ii], col[1][ii], col[2][ii], col[3][ii] }, r[6];
          transpose4x4_lanes(x);
          wg4_a(x, r);
          UNROLL
          for (int jj = 0; jj < 6; jj++) _mm512_store_ps(Gs + ((ii * 6 + jj) * 16 + kk) * 16, r[jj]);
        }
      }
      staged_to_gt(Gs, 36, GT, gxs, t0, Kp, k0);
    }
  }
}

int ft_conv_winograd_backward_weight(const float *in, const float *gout, float *gw, double scale,
                                     int64_t N, int C, int K, int H, int W, int tile) {
  int nt = 1;
#ifdef _OPENMP
  nt = omp_get_max_threads();
#endif
  wg_geom g;
  if (tile == 4) {
    if (!wg4_fits(N, H, W))
      return ft_fail("conv: Winograd F(4x4,3x3) does not run on %dx%d planes, batch %lld", H, W, (long long)N);
    wg4_geom_init(&g, N, C, K, H, W, nt);
  } else {
    wg_geom_init(&g, N, C, K, H, W, nt);
    if (!g.P) return ft_fail("conv: Winograd backward-weight needs planes 8, 16 or 32 wide (got %dx%d)", H, W);
  }
  const int np = g.npos, n1 = g.m + 2; /* positions, and per side */
  const int Kp = (K + 15) / 16 * 16;
  const int64_t gxs = (int64_t)g.Tp * Kp + 16, dus = (int64_t)np * C * Kp;
  /* per thread: dU [np][C][Kp], the staging block, V, GT */
  const size_t per = (sizeof(float) * (size_t)(dus + np * 256 + np * g.vxs + np * gxs) + 63) / 64 * 64;
  char *mem;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT, FT_CPU, per * nt + 64, (void **)&mem));
  mem = (char *)(((uintptr_t)mem + 63) / 64 * 64);
  const int64_t nchunks = (g.units + g.upc - 1) / g.upc;
  int team = 1;
#pragma omp parallel
  {
    const int tid = wg_thread();
#ifdef _OPENMP
    if (tid == 0) team = omp_get_num_threads();
#endif
    float *dU = (float *)(mem + per * tid), *Gs = dU + dus, *V = Gs + np * 256, *GT = V + np * g.vxs;
    memset(dU, 0, sizeof(float) * (size_t)dus);
    /* Fixed ranges of chunks per thread: the partial sums, and so the rounding, depend
     * only on the number of threads (runs reproduce bit for bit). */
#pragma omp for schedule(static)
    for (int64_t ch = 0; ch < nchunks; ch++) {
      const int64_t u0 = ch * g.upc, u1 = u0 + g.upc < g.units ? u0 + g.upc : g.units;
      const int ntl = (int)((u1 - u0) * g.LW);
      if (tile == 4) {
        input_transform4(&g, in, u0, u1, V);
        grad_transform4(&g, gout, u0, u1, Kp, gxs, GT, Gs);
      } else {
        input_transform_grouped(&g, in, u0, u1, V);
        grad_transform_grouped(&g, gout, u0, u1, Kp, gxs, GT, Gs);
      }
      for (int xi = 0; xi < np; xi++)
        for (int k0 = 0; k0 < Kp; k0 += 16 * BV) {
          const int Vn = (Kp - k0) / 16 < BV ? (Kp - k0) / 16 : BV, Rm = wgrad_rows(Vn);
          for (int c0 = 0; c0 < C; c0 += Rm) {
            const int R = C - c0 < Rm ? C - c0 : Rm;
            wgrad_dispatch(R, Vn, V + xi * g.vxs + (int64_t)c0 * g.Tp, g.Tp, GT + xi * gxs + k0, Kp, ntl,
                           dU + ((int64_t)xi * C + c0) * Kp + k0);
          }
        }
    }
  }
  /* gw [K, C, 3, 3] += scale * G^T (sum of the threads' dU, in double) G, 8 output
   * channels per vector (Kp is a multiple of 16: the loads stay inside dU) */
  const double (*G)[3] = tile == 4 ? G4 : G2;
  #pragma omp parallel for schedule(static) if ((int64_t)C * K >= 1024)
  for (int c = 0; c < C; c++)
    for (int k0 = 0; k0 < K; k0 += 8) {
      __m512d u[36], t[3][6];
      for (int xi = 0; xi < np; xi++) {
        __m512d sum = _mm512_setzero_pd();
        for (int th = 0; th < team; th++)
          sum = _mm512_add_pd(sum, _mm512_cvtps_pd(_mm256_loadu_ps(
                                       (const float *)(mem + per * th) + ((int64_t)xi * C + c) * Kp + k0)));
        u[xi] = sum;
      }
      for (int i = 0; i < 3; i++)
        for (int b2 = 0; b2 < n1; b2++) {
          __m512d acc = _mm512_setzero_pd();
          for (int a2 = 0; a2 < n1; a2++) acc = _mm512_fmadd_pd(_mm512_set1_pd(G[a2][i]), u[a2 * n1 + b2], acc);
          t[i][b2] = acc;
        }
      double dw[9][8];
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
          __m512d acc = _mm512_setzero_pd();
          for (int b2 = 0; b2 < n1; b2++) acc = _mm512_fmadd_pd(t[i][b2], _mm512_set1_pd(G[b2][j]), acc);
          _mm512_storeu_pd(dw[i * 3 + j], _mm512_mul_pd(_mm512_set1_pd(scale), acc));
        }
      const int kb = K - k0 < 8 ? K - k0 : 8;
      for (int kk = 0; kk < kb; kk++) {
        float *d = gw + ((int64_t)(k0 + kk) * C + c) * 9;
        for (int e = 0; e < 9; e++) d[e] = (float)(d[e] + dw[e][kk]);
      }
    }
  return FT_OK;
}

/* Whether backward-weight of this geometry can run here (the full-vector transforms). */
int ft_conv_winograd_backward_weight_fits(int64_t N, int C, int K, int H, int W) {
  wg_geom g;
  wg_geom_init(&g, N, C, K, H, W, 1);
  return g.P != 0;
}

#else /* no AVX-512: core/nn/conv.c never chooses this path */

int ft_conv_winograd_available(void) { return 0; }
int ft_conv_winograd_tile4_fits(int64_t N, int H, int W) { return 0; }
int ft_conv_winograd_forward(const float *in, float *out, const float *weight, const float *bias,
                             int64_t N, int C, int K, int H, int W, int flip, int tile) {
  return ft_fail("conv: Winograd kernels need AVX-512");
}
int ft_conv_winograd_backward_weight(const float *in, const float *gout, float *gw, double scale,
                                     int64_t N, int C, int K, int H, int W, int tile) {
  return ft_fail("conv: Winograd kernels need AVX-512");
}
int ft_conv_winograd_backward_weight_fits(int64_t N, int C, int K, int H, int W) { return 0; }
#endif
