/* nn/conv_direct.c -- direct float32 convolution kernels for AVX-512 (the fast path).
 *
 * Why: ResNet convolutions have 16-64 channels, so im2col + GEMM runs skinny GEMMs,
 * copies every input nine times, and goes through an OpenBLAS that may be limited to
 * AVX2 (OPENBLAS_CORETYPE=Haswell here). These kernels read the tensors in place and
 * keep 24 16-wide accumulators in registers: 80-90% of one core's AVX-512 FMA peak on
 * ResNet-110's stride-1 shapes at batch 128 (bench/conv_bench.lua 1 15 128).
 *
 * Forward (and backward-input): float32, stride 1, "same width" padding (2*pad_w ==
 * kW-1: 3x3 pad 1, 1x1 pad 0), any channels, heights and batch. An output pixel
 * q = oh*W + ow and the input pixel it reads through tap (kh, kw) are then a constant
 * distance apart in the flattened plane, q + (kh-pad_h)*W + (kw-pad_w), so 16 output
 * pixels read 16 consecutive inputs, with a lane mask zeroing the lanes that fall into
 * the padding (masked lanes never fault): padding costs nothing. Backward-input is the
 * same kernel run on grad_output with the kernel flipped and the channels swapped.
 * Backward-weight: any stride and padding, with the output channels in the lanes
 * (below). Callers (core/nn/conv.c) check every argument; these functions only compute.
 * Their scratch (lane masks, tap tables, repacked weights, phase planes, partial sums)
 * lives in the calling thread's FT_WS_DIRECT* workspaces, one slot per buffer live at
 * once: a repeated step of one shape allocates nothing. */
#include "internal.h"
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#if defined(__AVX512F__)
#include <immintrin.h>

int ft_conv_direct_available(void) { return 1; }

#define INL static inline __attribute__((always_inline))
/* Tile loops have compile-time trip counts; unrolled, the accumulators live in registers. */
#define UNROLL _Pragma("GCC unroll 24")

/* Lane masks of one image geometry: for output vector j (16 pixels of the flattened
 * output plane) and tap t, the lanes whose input pixel is inside the input plane; and
 * the lanes of vector j that are inside the output plane. Tap t reads input row
 * oh + dh[t], column ow + dw[t], of input channel cbase[t] + ci. */
typedef struct {
  int Hin, Hout, W;
  int nv;            /* vectors per output plane: ceil(Hout*W / 16)  */
  int KK;            /* taps                                           */
  uint16_t *tap;     /* [nv][KK]                                        */
  uint16_t *out;     /* [nv]                                            */
  int64_t *off;      /* [KK] input offset of tap t relative to q        */
} geom;

/* Bytes of one geometry's tables, a multiple of 64 (several share one workspace). */
static size_t geom_bytes(int Hout, int W, int KK) {
  const size_t nv = (size_t)(((int64_t)Hout * W + 15) / 16);
  return (sizeof(uint16_t) * (nv * KK + nv) + sizeof(int64_t) * KK + 127) / 64 * 64;
}

/* The tables in mem (geom_bytes of them, 8-byte aligned). */
static void geom_init(geom *g, void *mem, int Hin, int Hout, int W, int KK, const int *dh,
                      const int *dw, const int *cbase) {
  g->Hin = Hin; g->Hout = Hout; g->W = W;
  g->KK = KK;
  g->nv = (int)(((int64_t)Hout * W + 15) / 16);
  g->off = (int64_t *)mem;
  g->tap = (uint16_t *)(g->off + g->KK);
  g->out = g->tap + (size_t)g->nv * g->KK;
  for (int t = 0; t < KK; t++)
    g->off[t] = (int64_t)cbase[t] * Hin * W + (int64_t)dh[t] * W + dw[t];
  int64_t P = (int64_t)Hout * W;
  memset(g->tap, 0, sizeof(uint16_t) * ((size_t)g->nv * g->KK + g->nv));
  for (int64_t q = 0; q < P; q++) {
    const int64_t j = q / 16;
    const uint16_t bit = (uint16_t)(1u << (q % 16));
    const int oh = (int)(q / W), ow = (int)(q % W);
    g->out[j] |= bit;
    for (int t = 0; t < KK; t++) {
      int ih = oh + dh[t], iw = ow + dw[t];
      if (ih >= 0 && ih < Hin && iw >= 0 && iw < W) g->tap[j * g->KK + t] |= bit;
    }
  }
}

/* One geometry's tables from the lane-mask workspace. */
static int geom_new(geom *g, int Hin, int Hout, int W, int KK, const int *dh, const int *dw,
                    const int *cbase) {
  void *mem;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT_GEOM, FT_CPU, geom_bytes(Hout, W, KK), &mem));
  geom_init(g, mem, Hin, Hout, W, KK, dh, dw, cbase);
  return FT_OK;
}

static int conv_thread(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

/* ---- forward: out[n, co, q] = bias[co] + sum_{t, ci} wr[t][ci][co] * in[n, ci, q + off[t]]
 * in [N, Ci, Hin, W], out [N, Co, Hout, W], wr [KK][Ci][Co] (taps outermost). */
/* Tile: 8 output channels x 3 vectors = 24 accumulators; per input channel and tap,
 * 3 masked loads and 8 broadcasts feed 24 FMAs (measured against 4x6 and 6x4: equal
 * on 16x16 and 8x8 planes, 7% faster on 32x32). */
enum { FR = 8, FV = 3 };

typedef struct {
  const float *in; float *out; const float *wr; const float *bias;
  int Ci, Co;        /* input channels per tap, output channels        */
  int64_t in_img;    /* floats per input image                         */
  int64_t in_plane, out_plane;
  const geom *g;
  int cb;            /* input channels per block (see fwd_tile)        */
  int stream;        /* write full vectors with non-temporal stores    */
  int64_t in_n0, out_n0; /* image index of in[0] and out[0] (per-block buffers) */
} fwd_args;

/* One tile: R output channels co0.. x V output vectors (v-th = image nv[v], vector jv[v]). */
INL void fwd_tile(const fwd_args *a, int R, int V, int co0, const int64_t *nvec, const int *jv) {
  const geom *g = a->g;
  __m512 acc[FR][FV];
  UNROLL
  for (int r = 0; r < R; r++) {
    __m512 b = _mm512_set1_ps(a->bias ? a->bias[co0 + r] : 0.0f);
    UNROLL
    for (int v = 0; v < V; v++) acc[r][v] = b;
  }
  const float *base[FV];
  UNROLL
  for (int v = 0; v < V; v++) base[v] = a->in + (nvec[v] - a->in_n0) * a->in_img + 16 * (int64_t)jv[v];
  const int Co = a->Co;
  const int64_t ip = a->in_plane;
  /* Input channels in blocks of a->cb, so the lines one block touches fit in L1's
   * sets even when the plane size is a multiple of 4 KiB (32x32 floats). */
  for (int c0 = 0; c0 < a->Ci; c0 += a->cb) {
    const int c1 = c0 + a->cb < a->Ci ? c0 + a->cb : a->Ci;
    for (int t = 0; t < g->KK; t++) {
      __mmask16 m[FV];
      const float *p[FV];
      UNROLL
      for (int v = 0; v < V; v++) {
        m[v] = g->tap[jv[v] * g->KK + t];
        p[v] = base[v] + g->off[t];
      }
      const float *w = a->wr + ((int64_t)t * a->Ci + c0) * Co + co0;
      for (int ci = c0; ci < c1; ci++) {
        __m512 x[FV];
        UNROLL
        for (int v = 0; v < V; v++) x[v] = _mm512_maskz_loadu_ps(m[v], p[v] + ci * ip);
        UNROLL
        for (int r = 0; r < R; r++) {
          __m512 wv = _mm512_set1_ps(w[r]);
          UNROLL
          for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(wv, x[v], acc[r][v]);
        }
        w += Co;
      }
    }
  }
  UNROLL
  for (int v = 0; v < V; v++) {
    float *o = a->out + ((nvec[v] - a->out_n0) * Co + co0) * a->out_plane + 16 * (int64_t)jv[v];
    __mmask16 om = g->out[jv[v]];
    if (om == 0xffff && a->stream)
      UNROLL
      for (int r = 0; r < R; r++) _mm512_stream_ps(o + r * a->out_plane, acc[r][v]);
    else if (om == 0xffff)
      UNROLL
      for (int r = 0; r < R; r++) _mm512_storeu_ps(o + r * a->out_plane, acc[r][v]);
    else
      UNROLL
      for (int r = 0; r < R; r++) _mm512_mask_storeu_ps(o + r * a->out_plane, om, acc[r][v]);
  }
}

#define FWD_V(R, V) case V: fwd_tile(a, R, V, co0, nvec, jv); break
#define FWD_R(R) case R: switch (V) { FWD_V(R, 1); FWD_V(R, 2); FWD_V(R, 3); } break
static void fwd_dispatch(const fwd_args *a, int R, int V, int co0, const int64_t *nvec, const int *jv) {
  switch (R) { FWD_R(1); FWD_R(2); FWD_R(3); FWD_R(4); FWD_R(5); FWD_R(6); FWD_R(7); FWD_R(8); }
}

/* Planes `plane` floats apart share L1 sets (64 B lines, 4 KiB per way, 12 ways):
 * at most 8 per set keeps a tile's working set resident. */
static int conv_channel_block(int C, int64_t plane) {
  int64_t b = (plane * 4) % 4096, distinct = 1;
  if (b) { int64_t x = 4096, y = b; while (y) { int64_t r = x % y; x = y; y = r; } distinct = 4096 / x; }
  int64_t cb = 8 * distinct;
  return (int)(cb < C ? cb : C);
}

/* Images per block: enough output vectors to fill tiles, input small enough for L2. */
static int64_t fwd_group(int64_t nimg, int nv, int64_t img_bytes) {
  int64_t g = (6 * FV + nv - 1) / nv;
  int64_t cap = (256 * 1024) / (img_bytes > 0 ? img_bytes : 1);
  if (g > cap) g = cap;
  if (g < 1) g = 1;
  if (g > nimg) g = nimg;
  return g;
}

/* Images [nb, ne) of one call; while it computes, it prefetches pf_lines cache lines
 * from pf into L2 (the next block's input: the tiles read many planes at once, more
 * streams than the hardware prefetchers follow). */
static void direct_block(const fwd_args *a, int64_t nb, int64_t ne, const char *pf, int64_t pf_lines) {
  const geom *g = a->g;
  int64_t nvec[FV]; int jv[FV];
  const int64_t total = (ne - nb) * g->nv, steps = (total + FV - 1) / FV;
  const int64_t pf_step = (pf_lines + steps - 1) / steps;
  for (int64_t b = 0, step = 0; b < total; b += FV, step++) {
    int V = total - b < FV ? (int)(total - b) : FV;
    for (int v = 0; v < V; v++) { nvec[v] = nb + (b + v) / g->nv; jv[v] = (int)((b + v) % g->nv); }
    for (int64_t l = step * pf_step; l < (step + 1) * pf_step && l < pf_lines; l++)
      _mm_prefetch(pf + 64 * l, _MM_HINT_T1);
    /* The tile's input (V vectors x Ci planes) stays in L1 across the co-blocks. */
    for (int co0 = 0; co0 < a->Co; co0 += FR) {
      int R = a->Co - co0 < FR ? a->Co - co0 : FR;
      fwd_dispatch(a, R, V, co0, nvec, jv);
    }
  }
}

/* An output of 8 MiB or more leaves the caches anyway: streaming stores skip the
 * read-for-ownership and keep the input lines in L1/L2 (measured: 32x32x16 planes at
 * batch 128, 2 threads, 10-15% faster; no change on the smaller stages). Needs every
 * full vector 64-byte aligned. */
static int use_stream(int64_t N, int Co, const geom *g, const float *out) {
  return (int64_t)N * Co * g->Hout * g->W * 4 >= (8 << 20) && ((uintptr_t)out % 64) == 0 &&
         ((int64_t)g->Hout * g->W) % 16 == 0;
}

/* The driver: out [N, Co, Hout, W] = the taps of g over in (images in_img floats apart,
 * planes Hin*W), weights wr [KK][Ci][Co]. Each thread takes a contiguous range of
 * blocks of G images and prefetches the next block while it computes one. */
static void direct_run(const float *in, float *out, const float *wr, const float *bias, int64_t N,
                       int Ci, int64_t in_img, int Co, const geom *g) {
  const int stream = use_stream(N, Co, g, out);
  fwd_args a = { in, out, wr, bias, Ci, Co, in_img, (int64_t)g->Hin * g->W, (int64_t)g->Hout * g->W, g,
                 conv_channel_block(Ci, (int64_t)g->Hin * g->W), stream, 0, 0 };
  const int64_t G = fwd_group(N, g->nv, in_img * 4), nblocks = (N + G - 1) / G;
#pragma omp parallel
  {
#pragma omp for schedule(static)
  for (int64_t blk = 0; blk < nblocks; blk++) {
    const int64_t nb = blk * G, ne = nb + G < N ? nb + G : N;
    const int64_t next = N - ne < G ? N - ne : G; /* images in the next block */
    direct_block(&a, nb, ne, (const char *)(in + ne * in_img), (next * in_img * 4 + 63) / 64);
  }
  if (stream) _mm_sfence(); /* streaming stores visible before the region ends */
  }
}

/* Floor division and the matching remainder in [0, s). */
static int fdiv(int a, int s) { return a >= 0 ? a / s : (int)-((-(int64_t)a + s - 1) / s); }

int ft_conv_direct_forward(const float *in, float *out, const float *weight, const float *bias,
                           int64_t N, int Ci, int Co, int Hin, int Hout, int W, int kH, int kW,
                           int pad_h, int pad_w, int flip) {
  const int KK = kH * kW;
  int *dh;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT_TAPS, FT_CPU, sizeof(int) * 3 * (size_t)KK,
                            (void **)&dh));
  int *dw = dh + KK, *cb = dw + KK;
  for (int kh = 0; kh < kH; kh++)
    for (int kw = 0; kw < kW; kw++) {
      dh[kh * kW + kw] = kh - pad_h; dw[kh * kW + kw] = kw - pad_w; cb[kh * kW + kw] = 0;
    }
  geom g;
  FT_TRY(geom_new(&g, Hin, Hout, W, KK, dh, dw, cb));
  /* wr[t][ci][co]: the weight each tile broadcasts, in the order it reads them.
   * flip: weight is [Ci, Co, kH, kW] of the forward conv (backward-input) and the taps
   * are mirrored; otherwise weight is [Co, Ci, kH, kW]. */
  float *wr;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT2, FT_CPU, sizeof(float) * (size_t)KK * Ci * Co,
                            (void **)&wr));
  for (int co = 0; co < Co; co++)
    for (int ci = 0; ci < Ci; ci++)
      for (int t = 0; t < KK; t++) {
        float w = flip ? weight[((int64_t)ci * Co + co) * KK + (KK - 1 - t)]
                       : weight[((int64_t)co * Ci + ci) * KK + t];
        wr[((int64_t)t * Ci + ci) * Co + co] = w;
      }
  direct_run(in, out, wr, bias, N, Ci, (int64_t)Ci * Hin * W, Co, &g);
  return FT_OK;
}

/* ---- strided convolutions through the same kernel: stride phases -----------------
 * With stride s, output pixel (oh, ow) reads input row s*oh + kh - ph. Writing
 * kh - ph = s*d + a (0 <= a < s) makes that row s*(oh + d) + a: row oh + d of the input's
 * phase a, the plane of its rows a, a+s, a+2s... So a strided convolution is a stride-1
 * convolution of the input's sh*sw phases, each tap (kh, kw) reading one phase at the
 * offset (d_h, d_w): the same 9 taps, no zero taps. The phase planes are built Wo wide
 * (the flattened-plane kernel needs input and output of one width), which is exact when
 * sw*Wo >= W (then a column past Wo lies in the zero padding): the caller checks it. */
typedef struct {
  int sh, sw, ph, pw, kH, kW;
  int H, W, Ho, Wo;
  int Hph;           /* rows of a phase plane                          */
  int *dh, *dw, *ph_of; /* per tap: row/column offset, phase index a*sw + b */
} phases;

static int phases_init(phases *q, int H, int W, int Ho, int Wo, int kH, int kW, int sh, int sw,
                       int ph, int pw) {
  *q = (phases){ sh, sw, ph, pw, kH, kW, H, W, Ho, Wo, 0, NULL, NULL, NULL };
  const int KK = kH * kW;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT_PH, FT_CPU, sizeof(int) * 3 * (size_t)KK,
                            (void **)&q->dh));
  q->dw = q->dh + KK; q->ph_of = q->dw + KK;
  int dmax = 0;
  for (int kh = 0; kh < kH; kh++)
    for (int kw = 0; kw < kW; kw++) {
      const int t = kh * kW + kw, d = fdiv(kh - ph, sh), e = fdiv(kw - pw, sw);
      q->dh[t] = d; q->dw[t] = e;
      q->ph_of[t] = (kh - ph - d * sh) * sw + (kw - pw - e * sw);
      if (d > dmax) dmax = d;
    }
  q->Hph = Ho + dmax;
  return FT_OK;
}

/* xs [ne-nb][sh*sw][C][Hph][Wo]: phase (a, b) of images [nb, ne) of x [N, C, H, W],
 * zero outside x. Stride 2 (ResNet's) deinterleaves 32 floats at a time. */
static void phase_split(const phases *q, const float *x, float *xs, int64_t nb, int64_t ne, int C) {
  const int64_t plane = (int64_t)q->Hph * q->Wo, np = (int64_t)q->sh * q->sw;
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (int64_t n = nb; n < ne; n++)
    for (int c = 0; c < C; c++) {
      const float *src = x + (n * C + c) * (int64_t)q->H * q->W;
      for (int a = 0; a < q->sh; a++) {
        for (int i = 0; i < q->Hph; i++) {
          const int r = q->sh * i + a;
          float *d[4]; /* the rows of phases (a, 0..sw-1) */
          for (int b = 0; b < q->sw && b < 4; b++)
            d[b] = xs + (((n - nb) * np + a * q->sw + b) * C + c) * plane + (int64_t)i * q->Wo;
          if (r >= q->H) {
            for (int b = 0; b < q->sw; b++)
              memset(xs + (((n - nb) * np + a * q->sw + b) * C + c) * plane + (int64_t)i * q->Wo, 0,
                     sizeof(float) * q->Wo);
            continue;
          }
          const float *sr = src + (int64_t)r * q->W;
          int j = 0;
          if (q->sw == 2) /* full 32-float chunks of the source row */
            for (; 2 * j + 32 <= q->W && j + 16 <= q->Wo; j += 16) {
              __m512 lo = _mm512_loadu_ps(sr + 2 * j), hi = _mm512_loadu_ps(sr + 2 * j + 16);
              _mm512_storeu_ps(d[0] + j, _mm512_permutex2var_ps(lo, even, hi));
              _mm512_storeu_ps(d[1] + j, _mm512_permutex2var_ps(lo, odd, hi));
            }
          for (int b = 0; b < q->sw; b++) {
            float *dr = xs + (((n - nb) * np + a * q->sw + b) * C + c) * plane + (int64_t)i * q->Wo;
            for (int jj = j; jj < q->Wo; jj++) {
              const int col = q->sw * jj + b;
              dr[jj] = col < q->W ? sr[col] : 0.0f;
            }
          }
        }
      }
    }
}

static int conv_threads_max(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/* One parallel region: each thread splits a block of images into its phases (in its
 * own buffer, which stays in L2) and runs the kernel over it. */
int ft_conv_direct_forward_strided(const float *in, float *out, const float *weight, const float *bias,
                                   int64_t N, int Ci, int Co, int H, int W, int Ho, int Wo, int kH,
                                   int kW, int sh, int sw, int ph, int pw) {
  phases q;
  FT_TRY(phases_init(&q, H, W, Ho, Wo, kH, kW, sh, sw, ph, pw));
  const int KK = kH * kW, np = sh * sw, nt = conv_threads_max();
  const int64_t img = (int64_t)np * Ci * q.Hph * Wo;
  int *cb;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT_TAPS, FT_CPU, sizeof(int) * (size_t)KK,
                            (void **)&cb));
  for (int t = 0; t < KK; t++) cb[t] = q.ph_of[t] * Ci;
  geom g;
  FT_TRY(geom_new(&g, q.Hph, Ho, Wo, KK, q.dh, q.dw, cb));
  const int64_t G = fwd_group(N, g.nv, img * 4), nblocks = (N + G - 1) / G;
  size_t xbytes = sizeof(float) * (size_t)(G * img) * nt + 64 * (size_t)nt;
  size_t wbytes = sizeof(float) * (size_t)KK * Ci * Co;
  float *xs, *wr;
  int st = ft_workspace_bytes("conv", FT_WS_DIRECT, FT_CPU, xbytes, (void **)&xs);
  if (st == FT_OK) st = ft_workspace_bytes("conv", FT_WS_DIRECT2, FT_CPU, wbytes, (void **)&wr);
  if (st == FT_OK) {
    for (int co = 0; co < Co; co++)
      for (int ci = 0; ci < Ci; ci++)
        for (int t = 0; t < KK; t++) wr[((int64_t)t * Ci + ci) * Co + co] = weight[((int64_t)co * Ci + ci) * KK + t];
    const int stream = use_stream(N, Co, &g, out);
#pragma omp parallel
    {
      float *mine = xs + (size_t)conv_thread() * (G * img + 16);
      fwd_args a = { mine, out, wr, bias, Ci, Co, img, (int64_t)q.Hph * Wo, (int64_t)Ho * Wo, &g,
                     conv_channel_block(Ci, (int64_t)q.Hph * Wo), stream, 0, 0 };
#pragma omp for schedule(static)
      for (int64_t blk = 0; blk < nblocks; blk++) {
        const int64_t nb = blk * G, ne = nb + G < N ? nb + G : N;
        const int64_t next = N - ne < G ? N - ne : G;
        phase_split(&q, in, mine, nb, ne, Ci);
        a.in_n0 = nb;
        direct_block(&a, nb, ne, (const char *)(in + ne * (int64_t)Ci * H * W),
                     (next * Ci * (int64_t)H * W * 4 + 63) / 64);
      }
      if (stream) _mm_sfence();
    }
  }
  return st;
}

/* Backward-input of a strided convolution, phase by phase of grad_input: its row
 * s*i + a receives grad_output row i - d from every tap (kh, kw) of phase a (kh - ph =
 * s*d + a), so phase (a, b) is a stride-1 convolution of grad_output with the taps of
 * that phase at offsets (-d_h, -d_w), computed Wo wide into a per-thread buffer (one
 * block of images, in L2) and scattered into grad_input. One parallel region. */
typedef struct {
  geom g;            /* g.KK == 0: no tap reaches the phase (its gradient is zero) */
  float *wr;         /* [taps][Co][Ci]                                             */
  int Hp, Wp;        /* rows and columns of grad_input in the phase                */
} bwd_phase;

int ft_conv_direct_backward_input_strided(const float *gout, float *gin, const float *weight,
                                          int64_t N, int Ci, int Co, int H, int W, int Ho, int Wo,
                                          int kH, int kW, int sh, int sw, int ph, int pw) {
  phases q;
  FT_TRY(phases_init(&q, H, W, Ho, Wo, kH, kW, sh, sw, ph, pw));
  const int KK = kH * kW, np = sh * sw, Hmax = (H + sh - 1) / sh, nt = conv_threads_max();
  size_t tbytes = sizeof(int) * 3 * (size_t)KK + sizeof(bwd_phase) * (size_t)np;
  size_t wbytes = sizeof(float) * (size_t)KK * Ci * Co;
  bwd_phase *P; /* the phases, then three int arrays of KK */
  float *wr;
  char *gmem;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT_TAPS, FT_CPU, tbytes, (void **)&P));
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT2, FT_CPU, wbytes, (void **)&wr));
  /* every phase's lane masks, side by side in one workspace */
  size_t gbytes = 0;
  for (int p = 0; p < np; p++) {
    int n = 0;
    for (int t = 0; t < KK; t++) n += q.ph_of[t] == p;
    const int Hp = (H - p / sw + sh - 1) / sh;
    if (n > 0 && Hp > 0) gbytes += geom_bytes(Hp, Wo, n);
  }
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT_GEOM, FT_CPU, gbytes, (void **)&gmem));
  int *dh = (int *)(P + np);
  for (int p = 0, t0 = 0; p < np; p++) {
    const int a = p / sw, b = p % sw;
    int *dw = dh + KK, *cb = dw + KK, n = 0;
    P[p] = (bwd_phase){ { 0 }, wr + (int64_t)t0 * Co * Ci, (H - a + sh - 1) / sh, (W - b + sw - 1) / sw };
    for (int t = 0; t < KK; t++)
      if (q.ph_of[t] == p) {
        dh[n] = -q.dh[t]; dw[n] = -q.dw[t]; cb[n] = 0;
        for (int co = 0; co < Co; co++)
          for (int ci = 0; ci < Ci; ci++)
            P[p].wr[((int64_t)n * Co + co) * Ci + ci] = weight[((int64_t)co * Ci + ci) * KK + t];
        n++;
      }
    t0 += n;
    if (n > 0 && P[p].Hp > 0) {
      geom_init(&P[p].g, gmem, Ho, P[p].Hp, Wo, n, dh, dw, cb);
      gmem += geom_bytes(P[p].Hp, Wo, n);
    }
  }
  int64_t G = 1;
  for (int p = 0; p < np; p++)
    if (P[p].g.KK) { int64_t gp = fwd_group(N, P[p].g.nv, (int64_t)Co * Ho * Wo * 4); if (gp > G) G = gp; }
  const int64_t bimg = (int64_t)Ci * Hmax * Wo, nblocks = (N + G - 1) / G;
  size_t bbytes = sizeof(float) * (size_t)(G * bimg + 16) * nt;
  float *buf;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT, FT_CPU, bbytes, (void **)&buf));
  {
#pragma omp parallel
    {
      float *mine = buf + (size_t)conv_thread() * (G * bimg + 16);
#pragma omp for schedule(static)
      for (int64_t blk = 0; blk < nblocks; blk++) {
        const int64_t nb = blk * G, ne = nb + G < N ? nb + G : N;
        for (int p = 0; p < np; p++) {
          const bwd_phase *f = &P[p];
          const int a = p / sw, b = p % sw;
          if (f->Hp <= 0 || f->Wp <= 0) continue;
          if (f->g.KK) {
            fwd_args ar = { gout, mine, f->wr, NULL, Co, Ci, (int64_t)Co * Ho * Wo, (int64_t)Ho * Wo,
                            (int64_t)f->Hp * Wo, &f->g, conv_channel_block(Co, (int64_t)Ho * Wo), 0, 0, nb };
            direct_block(&ar, nb, ne, NULL, 0);
          }
          for (int64_t nc = nb * Ci; nc < ne * Ci; nc++) {
            const float *s = mine + (nc - nb * Ci) * f->Hp * (int64_t)Wo;
            for (int i = 0; i < f->Hp; i++) {
              float *d = gin + (nc * H + (int64_t)sh * i + a) * W + b;
              if (!f->g.KK) { for (int j = 0; j < f->Wp; j++) d[(int64_t)sw * j] = 0.0f; continue; }
              const float *sr = s + (int64_t)i * Wo;
              if (sw == 1) { memcpy(d, sr, sizeof(float) * f->Wp); continue; }
              for (int j = 0; j < f->Wp; j++) d[(int64_t)sw * j] = sr[j];
            }
          }
        }
      }
    }
  }
  return FT_OK;
}

/* ---- backward of the weight, output channels in lanes (any stride) --------------
 * dwT[ci][kh][kw][co] = sum_{n, oh, ow} xp[n][ci][oh*sh + kh][ow*sw + kw] * gT[n][oh*Wo + ow][co]
 * xp is a zero-padded copy of the input and gT grad_output transposed to pixel-major
 * with the channels padded to a multiple of 16, both built per block of images that
 * stays in L2. A tile holds Sp kernel rows (ci, kh) x T taps x Vc channel vectors in
 * registers: per output pixel it loads Vc vectors and broadcasts Sp*T input values. */
typedef struct {
  int Ci, Co, CoP, H, W, Ho, Wo, kH, kW, sh, sw, ph, pw, Hp, Wp, KK, T, nrows;
  int64_t xplane, P;
} bw2_geom;

enum { B2_SP = 8, B2_T = 3, B2_VC = 4 };

INL void bw2_tile(const bw2_geom *g, int Vc, int Sp, int T, const float *xp, const float *gT,
                  int64_t G, int row0, int co0, float *dwT) {
  __m512 acc[B2_SP][B2_T][B2_VC];
  int64_t roff[B2_SP];
  UNROLL
  for (int s = 0; s < Sp; s++) {
    int r = row0 + s, per = g->KK / T, ci = r / per, rest = r % per;
    int kh = T == g->kW ? rest : rest / g->kW, kw0 = T == g->kW ? 0 : rest % g->kW;
    roff[s] = (int64_t)ci * g->xplane + (int64_t)kh * g->Wp + kw0;
    UNROLL
    for (int t = 0; t < T; t++) {
      UNROLL
      for (int c = 0; c < Vc; c++) acc[s][t][c] = _mm512_setzero_ps();
    }
  }
  const int CoP = g->CoP, sw = g->sw;
  for (int64_t n = 0; n < G; n++) {
    const float *xn = xp + n * g->Ci * g->xplane;
    const float *gp = gT + n * g->P * CoP + co0;
    for (int oh = 0; oh < g->Ho; oh++) {
      const float *xo = xn + (int64_t)oh * g->sh * g->Wp;
      for (int ow = 0; ow < g->Wo; ow++) {
        __m512 gv[B2_VC];
        UNROLL
        for (int c = 0; c < Vc; c++) gv[c] = _mm512_load_ps(gp + 16 * c);
        UNROLL
        for (int s = 0; s < Sp; s++) {
          UNROLL
          for (int t = 0; t < T; t++) {
            __m512 xv = _mm512_set1_ps(xo[roff[s] + t]);
            UNROLL
            for (int c = 0; c < Vc; c++) acc[s][t][c] = _mm512_fmadd_ps(xv, gv[c], acc[s][t][c]);
          }
        }
        gp += CoP;
        xo += sw;
      }
    }
  }
  UNROLL
  for (int s = 0; s < Sp; s++) {
    UNROLL
    for (int t = 0; t < T; t++) {
      float *d = dwT + (int64_t)((row0 + s) * T + t) * CoP + co0;
      UNROLL
      for (int c = 0; c < Vc; c++) _mm512_store_ps(d + 16 * c, _mm512_add_ps(_mm512_load_ps(d + 16 * c), acc[s][t][c]));
    }
  }
}

#define B2_CASE(Vc, Sp, T) case Sp: bw2_tile(g, Vc, Sp, T, xp, gT, G, row0, co0, dwT); break
#define B2_SPS(Vc, T) switch (Sp) { B2_CASE(Vc, 1, T); B2_CASE(Vc, 2, T); B2_CASE(Vc, 3, T); \
    B2_CASE(Vc, 4, T); B2_CASE(Vc, 5, T); B2_CASE(Vc, 6, T); B2_CASE(Vc, 7, T); B2_CASE(Vc, 8, T); } break
/* Rows per tile for Vc vectors and T taps: as many as keep 24 accumulators. */
static int bw2_rows(int Vc, int T) { int s = 24 / (Vc * T); return s > B2_SP ? B2_SP : s; }
static void bw2_dispatch(const bw2_geom *g, int Vc, int Sp, int T, const float *xp, const float *gT,
                         int64_t G, int row0, int co0, float *dwT) {
  if (T == 3) {
    switch (Vc) { case 4: B2_SPS(4, 3); case 2: B2_SPS(2, 3); default: B2_SPS(1, 3); }
  } else {
    switch (Vc) { case 4: B2_SPS(4, 1); case 2: B2_SPS(2, 1); default: B2_SPS(1, 1); }
  }
}

#include "transpose16.h"

/* dst[p][c] = src[c * cs + p] for p < np, c < C; channels C..CoP-1 get zeros. dst rows
 * are CoP floats apart (CoP a multiple of 16, dst 64-byte aligned). */
static void transpose_pixels(const float *src, int64_t cs, float *dst, int C, int CoP, int64_t np) {
  for (int c0 = 0; c0 < CoP; c0 += 16)
    for (int64_t p0 = 0; p0 < np; p0 += 16) {
      int k = np - p0 < 16 ? (int)(np - p0) : 16;
      __mmask16 m = (__mmask16)((1u << k) - 1);
      __m512 r[16];
      UNROLL
      for (int i = 0; i < 16; i++)
        r[i] = c0 + i < C ? _mm512_maskz_loadu_ps(m, src + (int64_t)(c0 + i) * cs + p0) : _mm512_setzero_ps();
      transpose16(r);
      for (int i = 0; i < k; i++) _mm512_store_ps(dst + (p0 + i) * CoP + c0, r[i]);
    }
}

/* Pad images [0, G) of x [G, Ci, H, W] into xp and transpose gout [G, Co, P] into gT. */
static void bw2_stage(const bw2_geom *g, const float *x, const float *gout, int64_t G,
                      float *xp, float *gT) {
  for (int64_t n = 0; n < G; n++) {
    for (int ci = 0; ci < g->Ci; ci++) {
      float *d = xp + (n * g->Ci + ci) * g->xplane;
      const float *s = x + (n * g->Ci + ci) * (int64_t)g->H * g->W;
      memset(d, 0, sizeof(float) * g->xplane);
      for (int h = 0; h < g->H; h++) {
        float *dr = d + (int64_t)(h + g->ph) * g->Wp + g->pw;
        const float *sr = s + (int64_t)h * g->W;
        for (int w = 0; w < g->W; w++) dr[w] = sr[w];
      }
    }
    transpose_pixels(gout + n * g->Co * g->P, g->P, gT + n * g->P * g->CoP, g->Co, g->CoP, g->P);
  }
}

/* ---- backward of the weight for stride 1, walking the INPUT pixels -----------------
 * dwT[ci][kh][kw][co] = sum_{n, ih, iw} x[n][ci][ih][iw] * gP[n][ih+ph+kH-1-kh][iw+pw+kW-1-kw][co]
 * gP is grad_output transposed to pixel-major inside a zero border of kH-1 rows and kW-1
 * columns, so taps that fall outside the output read zeros. One input value serves a
 * whole kernel row: a tile holds S input channels x kW taps (kh fixed) x Vc vectors, and
 * per input pixel loads kW*Vc vectors and broadcasts S values (11 loads for 24 FMAs when
 * Co = 16, where the output-pixel walk above needs 25). The input is read in place. */
enum { B3_S = 8 };

INL void bw3_tile(const bw2_geom *g, int Vc, int S, int T, const float *x, const float *gP,
                  int64_t G, int kh, int ci0, int co0, float *dwT) {
  __m512 acc[B3_S][B2_T][B2_VC];
  UNROLL
  for (int s = 0; s < S; s++) {
    UNROLL
    for (int t = 0; t < T; t++) {
      UNROLL
      for (int v = 0; v < Vc; v++) acc[s][t][v] = _mm512_setzero_ps();
    }
  }
  const int64_t HW = (int64_t)g->H * g->W, CoP = g->CoP;
  const int64_t WgP = g->Wo + 2 * (g->kW - 1), gplane = (int64_t)(g->Ho + 2 * (g->kH - 1)) * WgP * CoP;
  for (int64_t n = 0; n < G; n++) {
    const float *xn = x + (n * g->Ci + ci0) * HW;
    const float *gn = gP + n * gplane + co0;
    for (int ih = 0; ih < g->H; ih++) {
      const float *grow = gn + ((int64_t)(ih + g->ph + g->kH - 1 - kh) * WgP + g->pw + g->kW - 1) * CoP;
      const float *xs[B3_S];
      UNROLL
      for (int s = 0; s < S; s++) xs[s] = xn + s * HW + (int64_t)ih * g->W;
      for (int iw = 0; iw < g->W; iw++) {
        __m512 gv[B2_T][B2_VC];
        UNROLL
        for (int t = 0; t < T; t++) {
          UNROLL
          for (int v = 0; v < Vc; v++) gv[t][v] = _mm512_load_ps(grow + (iw - t) * CoP + 16 * v);
        }
        UNROLL
        for (int s = 0; s < S; s++) {
          __m512 xb = _mm512_set1_ps(xs[s][iw]);
          UNROLL
          for (int t = 0; t < T; t++) {
            UNROLL
            for (int v = 0; v < Vc; v++) acc[s][t][v] = _mm512_fmadd_ps(xb, gv[t][v], acc[s][t][v]);
          }
        }
      }
    }
  }
  UNROLL
  for (int s = 0; s < S; s++) {
    UNROLL
    for (int t = 0; t < T; t++) {
      float *d = dwT + ((int64_t)(ci0 + s) * g->KK + kh * g->kW + t) * CoP + co0;
      UNROLL
      for (int v = 0; v < Vc; v++) _mm512_store_ps(d + 16 * v, _mm512_add_ps(_mm512_load_ps(d + 16 * v), acc[s][t][v]));
    }
  }
}

#define B3_CASE(Vc, S, T) case S: bw3_tile(g, Vc, S, T, x, gP, G, kh, ci0, co0, dwT); break
#define B3_SS(Vc, T) switch (S) { B3_CASE(Vc, 1, T); B3_CASE(Vc, 2, T); B3_CASE(Vc, 3, T); \
    B3_CASE(Vc, 4, T); B3_CASE(Vc, 5, T); B3_CASE(Vc, 6, T); B3_CASE(Vc, 7, T); B3_CASE(Vc, 8, T); }
static void bw3_dispatch(const bw2_geom *g, int Vc, int S, int T, const float *x, const float *gP,
                         int64_t G, int kh, int ci0, int co0, float *dwT) {
  if (T == 3) {
    B3_SS(1, 3);
  } else {
    switch (Vc) {
    case 4: if (S <= 6) B3_SS(4, 1); break;
    case 2: B3_SS(2, 1); break;
    default: B3_SS(1, 1);
    }
  }
}

/* gP for images [0, G): the interior of each padded plane (borders stay zero). */
static void bw3_stage(const bw2_geom *g, const float *gout, int64_t G, float *gP) {
  const int64_t WgP = g->Wo + 2 * (g->kW - 1), gplane = (int64_t)(g->Ho + 2 * (g->kH - 1)) * WgP * g->CoP;
  for (int64_t n = 0; n < G; n++)
    for (int oh = 0; oh < g->Ho; oh++)
      transpose_pixels(gout + n * g->Co * g->P + (int64_t)oh * g->Wo, g->P,
                       gP + n * gplane + ((int64_t)(oh + g->kH - 1) * WgP + g->kW - 1) * g->CoP,
                       g->Co, g->CoP, g->Wo);
}

int ft_conv_direct_backward_weight(const float *in, const float *gout, float *gw, double scale,
                                   int64_t N, int Ci, int Co, int H, int W, int Ho, int Wo, int kH,
                                   int kW, int sh, int sw, int ph, int pw) {
  bw2_geom g = { Ci, Co, (Co + 15) / 16 * 16, H, W, Ho, Wo, kH, kW, sh, sw, ph, pw,
                 H + 2 * ph, W + 2 * pw, kH * kW, kW == 3 ? 3 : 1, 0, 0, (int64_t)Ho * Wo };
  g.nrows = Ci * g.KK / g.T;
  g.xplane = ((int64_t)g.Hp * g.Wp + 15) / 16 * 16;
  /* Stride 1 with 1 or 3 taps per kernel row walks the input pixels (bw3, no input
   * copy); anything else walks the output pixels over a padded input copy (bw2). */
  const int by_input = sh == 1 && sw == 1 && (kW == 1 || kW == 3);
  const int64_t gplane = (int64_t)(Ho + 2 * (kH - 1)) * (Wo + 2 * (kW - 1)) * g.CoP;
  /* Floats staged per image, and images per block: enough pixels per tile, within L2. */
  int64_t per_img = by_input ? gplane : (int64_t)Ci * g.xplane + g.P * g.CoP;
  int64_t G = (512 + g.P - 1) / g.P;
  int64_t budget = (384 * 1024) / 4 - (by_input ? (int64_t)Ci * H * W : 0);
  if (G * per_img > budget) G = budget / per_img;
  if (G < 1) G = 1;
  if (G > N) G = N;
  int nt_max = 1;
#ifdef _OPENMP
  nt_max = omp_get_max_threads();
#endif
  int64_t K = (int64_t)Ci * g.KK;
  size_t per_thread = sizeof(float) * (size_t)(G * per_img + K * g.CoP) + 64;
  size_t bytes = per_thread * nt_max;
  char *mem;
  FT_TRY(ft_workspace_bytes("conv", FT_WS_DIRECT, FT_CPU, bytes, (void **)&mem));
  /* Every thread zeroes its partial (and the zero borders of its gP) first, then takes
   * a fixed range of blocks: the partial sums, and so the rounding of the result, depend
   * only on the number of threads, never on timing (runs reproduce bit for bit). */
  const int64_t nblocks = (N + G - 1) / G;
  int team = 1;
#pragma omp parallel
  {
    const int tid = conv_thread();
#ifdef _OPENMP
    if (tid == 0) team = omp_get_num_threads();
#endif
    float *dwT = (float *)(mem + per_thread * tid);
    float *stage = dwT + K * g.CoP;
    memset(dwT, 0, sizeof(float) * (size_t)(K * g.CoP + (by_input ? G * per_img : 0)));
#pragma omp for schedule(static)
    for (int64_t blk = 0; blk < nblocks; blk++) {
      const int64_t nb = blk * G, Gb = nb + G < N ? G : N - nb;
      if (by_input) {
        const float *x = in + nb * Ci * (int64_t)H * W;
        bw3_stage(&g, gout + nb * Co * g.P, Gb, stage);
        const int T = kW;
        for (int co0 = 0; co0 < g.CoP; ) {
          int left = (g.CoP - co0) / 16;
          /* 3 taps: one vector (3 loads + 8 broadcasts per 24 FMAs; two vectors measured
           * 20% slower). 1 tap: up to four vectors (4 + 6 per 24). */
          int Vc = T == 3 ? 1 : (left >= 4 ? 4 : left >= 2 ? 2 : 1);
          int Sm = 24 / (T * Vc) < B3_S ? 24 / (T * Vc) : B3_S;
          for (int kh = 0; kh < kH; kh++)
            for (int ci0 = 0; ci0 < Ci; ci0 += Sm) {
              int S = Ci - ci0 < Sm ? Ci - ci0 : Sm;
              bw3_dispatch(&g, Vc, S, T, x, stage, Gb, kh, ci0, co0, dwT);
            }
          co0 += 16 * Vc;
        }
      } else {
        float *xp = stage, *gT = stage + Gb * Ci * g.xplane;
        bw2_stage(&g, in + nb * Ci * (int64_t)H * W, gout + nb * Co * g.P, Gb, xp, gT);
        for (int co0 = 0; co0 < g.CoP; ) {
          int left = (g.CoP - co0) / 16, Vc = left >= 4 ? 4 : left >= 2 ? 2 : 1;
          int Spm = bw2_rows(Vc, g.T);
          for (int row0 = 0; row0 < g.nrows; row0 += Spm) {
            int Sp = g.nrows - row0 < Spm ? g.nrows - row0 : Spm;
            bw2_dispatch(&g, Vc, Sp, g.T, xp, gT, Gb, row0, co0, dwT);
          }
          co0 += 16 * Vc;
        }
      }
    }
  }
  /* gw [Co, Ci, kH, kW] += scale * the threads' partials [Ci*kH*kW][CoP], summed in double. */
  for (int64_t k = 0; k < K; k++)
    for (int co = 0; co < Co; co++) {
      double s = 0;
      for (int t = 0; t < team; t++) s += ((const float *)(mem + per_thread * t))[k * g.CoP + co];
      gw[co * K + k] = (float)(gw[co * K + k] + scale * s);
    }
  return FT_OK;
}

#else /* no AVX-512: core/nn/conv.c uses its im2col + GEMM path for everything */

int ft_conv_direct_available(void) { return 0; }
int ft_conv_direct_forward(const float *in, float *out, const float *weight, const float *bias,
                           int64_t N, int Ci, int Co, int Hin, int Hout, int W, int kH, int kW,
                           int pad_h, int pad_w, int flip) {
  return ft_fail("conv: direct kernels need AVX-512");
}
int ft_conv_direct_backward_weight(const float *in, const float *gout, float *gw, double scale,
                                   int64_t N, int Ci, int Co, int H, int W, int Ho, int Wo, int kH,
                                   int kW, int sh, int sw, int ph, int pw) {
  return ft_fail("conv: direct kernels need AVX-512");
}
int ft_conv_direct_forward_strided(const float *in, float *out, const float *weight, const float *bias,
                                   int64_t N, int Ci, int Co, int H, int W, int Ho, int Wo, int kH,
                                   int kW, int sh, int sw, int ph, int pw) {
  return ft_fail("conv: direct kernels need AVX-512");
}
int ft_conv_direct_backward_input_strided(const float *gout, float *gin, const float *weight,
                                          int64_t N, int Ci, int Co, int H, int W, int Ho, int Wo,
                                          int kH, int kW, int sh, int sw, int ph, int pw) {
  return ft_fail("conv: direct kernels need AVX-512");
}
#endif
