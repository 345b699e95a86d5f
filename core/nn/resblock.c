/* nn/resblock.c -- the stochastic residual block of Huang et al. (2016) as one op:
 *   out = ReLU(s * f(x) + shortcut(x)),  s = b, b/p, p or 1 (see RESBLOCK-SECTION).
 * Why one op: a closed gate must cost nothing. The branch f is then neither computed
 * forward nor backward, its BN running statistics stay untouched and nothing is added
 * to its gradients; the block saves no activation for it. The branch is built from the
 * nn kernels (conv, batchnorm, avgpool, channel_pad); the gate, the shortcut, the sum
 * and the final ReLU are fused here, and 'row' mode gathers the kept samples into a
 * contiguous sub-batch so that per-sample dropping saves compute too.
 * Memory: the block owns what backward needs (conv outputs h_i, BN+ReLU outputs a_i,
 * the gathered rows, the projection's conv output); the temporaries of forward and
 * backward live in the thread's workspaces (core/nn/workspace.c), shared by every block.
 * Devices: every tensor of a call lives on the input's device (CPU or CUDA) except
 * row_gate, which stays a CPU uint8 tensor (the gates are drawn on the host). The block
 * checks everything once (check_block), then runs the kernels' unchecked device
 * implementations (ft_cpu_* / ft_cuda_*, FT_DEVICE_CALL in internal.h); the loops
 * written here have CUDA twins (core/cuda/resblock.cu) picked by RB_RUN.
 * float32/float64 from one source (see core/nn/nn_common.h).
 * Data parallelism: the BN kernels synchronise themselves (SYNCBN-SECTION of fathom.h);
 * the block keeps every rank's BN calls in step (a rank whose row-mode gates are all closed
 * while another's are not runs its branch's BNs on empty tensors), and with row_offset /
 * global_rows it draws the gates of the whole global batch and keeps its slice. */
#ifndef FT_REAL
#include "nn_common.h"
#include <stdio.h>
#include <string.h>

#define FT_REAL float
#define FT_K(n) n##_f32
#include "resblock.c"
#undef FT_REAL
#undef FT_K
#define FT_REAL double
#define FT_K(n) n##_f64
#include "resblock.c"
#undef FT_REAL
#undef FT_K

/* ---- buffers: a 1-D allocation re-viewed in place as any contiguous shape ---------- */
typedef struct {
  ft_tensor *t;   /* our own header: its sizes are rewritten by buf_shape */
  int64_t cap;    /* elements allocated */
} rb_buf;

/* device: the call's input's. */
static int buf_shape(rb_buf *b, int dtype, int device, int ndim, const int64_t *size) {
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) n *= size[d];
  if (!b->t || b->t->dtype != dtype || b->t->device != device || b->cap < n) {
    ft_tensor_free(b->t);
    b->t = NULL;
    b->cap = 0;
    int64_t cap = n > 0 ? n : 1;
    FT_TRY(ft_tensor_new(&b->t, dtype, device, 1, &cap));
    b->cap = cap;
  }
  ft_tensor *t = b->t;
  t->ndim = ndim;
  t->offset = 0;
  int64_t s = 1;
  for (int d = ndim - 1; d >= 0; d--) { t->size[d] = size[d]; t->stride[d] = s; s *= size[d]; }
  return FT_OK;
}

static void buf_free(rb_buf *b) { ft_tensor_free(b->t); b->t = NULL; b->cap = 0; }
static int64_t buf_bytes(const rb_buf *b) { return b->t ? b->t->storage->nbytes : 0; }

/* Backward's and forward's temporaries, shared by all blocks of this thread: workspace
 * slots (core/nn/workspace.c); ws[] holds the views of the current call. */
enum { WS_G = 0, WS_H, WS_C, WS_R, WS_N };
static const int ws_slot[WS_N] = {FT_WS_RB_G, FT_WS_RB_H, FT_WS_RB_C, FT_WS_RB_R};
static __thread ft_tensor *ws[WS_N];

static int ws_shape(int i, int dtype, int device, int ndim, const int64_t *size) {
  return ft_workspace_tensor("ft_resblock", ws_slot[i], dtype, device, ndim, size, &ws[i]);
}

void ft_resblock_workspace_free(void) { ft_workspace_free(); }

/* ---- what a forward leaves for its backward --------------------------------------- */
typedef struct {
  rb_buf h[3], a[2];      /* conv outputs (BN inputs) and BN+ReLU outputs of the branch */
  rb_buf xk;              /* row mode: the gathered kept samples [k,Ci,H,W]              */
  rb_buf hp;              /* projection shortcut: conv output [N,Co,Ho,Wo]               */
  rb_buf mean[4], invstd[4];
  int64_t *idx, idx_cap;  /* row mode: kept sample indices, ascending, then for each    */
                          /* sample its row in the sub-batch or -1 (2 x idx_cap entries) */
  int valid, dtype, device, bn_train, ran_branch, rows;
  int phantom;            /* sync BN, no row kept here but some on another rank: the    */
                          /* branch's BN collectives run on empty tensors (h[i])        */
  int64_t k;              /* samples through the branch                                 */
  double s;               /* branch scale used                                          */
  int64_t in_size[4];
} rb_saved;

static void saved_free_branch(rb_saved *sv) {
  for (int i = 0; i < 3; i++) buf_free(&sv->h[i]);
  for (int i = 0; i < 2; i++) buf_free(&sv->a[i]);
  buf_free(&sv->xk);
}

void ft_resblock_release(ft_resblock *b) {
  if (!b || !b->saved) return;
  rb_saved *sv = b->saved;
  saved_free_branch(sv);
  buf_free(&sv->hp);
  for (int i = 0; i < 4; i++) { buf_free(&sv->mean[i]); buf_free(&sv->invstd[i]); }
  ft_free_bytes(sv->idx, 2 * (size_t)sv->idx_cap * sizeof(int64_t));
  ft_free_bytes(sv, sizeof *sv);
  b->saved = NULL;
}

int64_t ft_resblock_saved_bytes(const ft_resblock *b) {
  if (!b || !b->saved) return 0;
  const rb_saved *sv = b->saved;
  int64_t n = buf_bytes(&sv->xk) + buf_bytes(&sv->hp);
  for (int i = 0; i < 3; i++) n += buf_bytes(&sv->h[i]);
  for (int i = 0; i < 2; i++) n += buf_bytes(&sv->a[i]);
  return n;
}

/* ---- the branch's layout ------------------------------------------------------------ */
typedef struct { int k, stride, pad; } conv_cfg;

static int n_stages(const ft_resblock *b) { return b->kind == FT_BLOCK_BOTTLENECK ? 3 : 2; }

/* basic: 3x3/stride, 3x3; bottleneck (fb.resnet.torch): 1x1, 3x3/stride, 1x1. */
static conv_cfg stage_cfg(const ft_resblock *b, int i) {
  if (b->kind == FT_BLOCK_BASIC) return (conv_cfg){3, i == 0 ? b->stride : 1, 1};
  if (i == 1) return (conv_cfg){3, b->stride, 1};
  return (conv_cfg){1, 1, 0};
}

static int64_t conv_out(int64_t in, conv_cfg c) { return (in + 2 * c.pad - c.k) / c.stride + 1; }

/* Re-raise a kernel's error with the block's context in front. */
static int stage_fail(const char *fn, const char *what) {
  char msg[400];
  snprintf(msg, sizeof msg, "%s", ft_last_error());
  return ft_fail("%s: %s failed: %s", fn, what, msg);
}
#define RB_CALL(fn, what, expr) do { if (expr) return stage_fail(fn, what); } while (0)

static const char *stage_name[4] = {"conv/BN 1", "conv/BN 2", "conv/BN 3", "projection"};

/* A per-channel vector of c elements, in the call's dtype, on its device. */
static int check_vec(const char *fn, const char *what, int i, const ft_tensor *t,
                     const ft_tensor *ref, int64_t c) {
  char name[64], buf[128];
  snprintf(name, sizeof name, "%s[%d]", what, i);
  if (!t) return ft_fail("%s: %s (%s) is NULL", fn, name, stage_name[i]);
  FT_TRY(ft_nn_check(fn, name, t, ref));
  if (t->ndim != 1 || t->size[0] != c)
    return ft_fail("%s: %s must be a vector of %lld elements (got %s)", fn, name,
                   (long long)c, ft_shape_str(t, buf, sizeof buf));
  return FT_OK;
}

static int check_weight(const char *fn, const char *what, int i, const ft_tensor *w,
                        const ft_tensor *ref, int64_t cin, int k, int64_t cout_expect) {
  char name[64], buf[96];
  snprintf(name, sizeof name, "%s[%d]", what, i);
  if (!w) return ft_fail("%s: %s (%s) is NULL", fn, name, stage_name[i]);
  FT_TRY(ft_nn_check(fn, name, w, ref));
  if (w->ndim != 4 || w->size[1] != cin || w->size[2] != k || w->size[3] != k ||
      (cout_expect > 0 && w->size[0] != cout_expect) || w->size[0] < 1)
    return ft_fail("%s: %s (%s) must be [%s,%lld,%d,%d] (got %s)", fn, name, stage_name[i],
                   cout_expect > 0 ? "Co" : "C", (long long)cin, k, k,
                   ft_shape_str(w, buf, sizeof buf));
  return FT_OK;
}

/* Conv/BN stage i's parameters (and gradients when grads): cin in, returns its width. */
static int check_stage(const char *fn, const ft_resblock *b, int i, const ft_tensor *ref,
                       int64_t cin, int k, int64_t cout_expect, int grads, int64_t *cout) {
  FT_TRY(check_weight(fn, "conv_weight", i, b->conv_weight[i], ref, cin, k, cout_expect));
  int64_t c = b->conv_weight[i]->size[0];
  FT_TRY(check_vec(fn, "bn_weight", i, b->bn_weight[i], ref, c));
  FT_TRY(check_vec(fn, "bn_bias", i, b->bn_bias[i], ref, c));
  FT_TRY(check_vec(fn, "running_mean", i, b->running_mean[i], ref, c));
  FT_TRY(check_vec(fn, "running_var", i, b->running_var[i], ref, c));
  if (grads) {
    FT_TRY(check_weight(fn, "grad_conv_weight", i, b->grad_conv_weight[i], ref, cin, k, c));
    FT_TRY(check_vec(fn, "grad_bn_weight", i, b->grad_bn_weight[i], ref, c));
    FT_TRY(check_vec(fn, "grad_bn_bias", i, b->grad_bn_bias[i], ref, c));
    /* the gradients accumulate side by side (one flat storage is fine, overlap is not) */
    const ft_tensor *g[3] = {b->grad_conv_weight[i], b->grad_bn_weight[i], b->grad_bn_bias[i]};
    const char *gn[3] = {"grad_conv_weight", "grad_bn_weight", "grad_bn_bias"};
    for (int u = 0; u < 3; u++)
      for (int v = u + 1; v < 3; v++) FT_TRY(ft_check_disjoint(fn, gn[u], g[u], gn[v], g[v]));
  }
  *cout = c;
  return FT_OK;
}

/* Everything a call reads: options, input [N,Ci,H,W], output [N,Co,Ho,Wo], parameters. */
static int check_block(const char *fn, const ft_resblock *b, const ft_tensor *input,
                       const ft_tensor *output, int grads) {
  char bi[96], bo[96];
  if (!b) return ft_fail("%s: block is NULL", fn);
  if (b->kind != FT_BLOCK_BASIC && b->kind != FT_BLOCK_BOTTLENECK)
    return ft_fail("%s: kind must be FT_BLOCK_BASIC or FT_BLOCK_BOTTLENECK (got %d)", fn, b->kind);
  if (b->shortcut < FT_SHORTCUT_IDENTITY || b->shortcut > FT_SHORTCUT_PROJECT)
    return ft_fail("%s: unknown shortcut %d", fn, b->shortcut);
  if (b->gate_mode != FT_GATE_BATCH && b->gate_mode != FT_GATE_ROW)
    return ft_fail("%s: gate_mode must be FT_GATE_BATCH or FT_GATE_ROW (got %d)", fn, b->gate_mode);
  if (b->test_mode != FT_TEST_SCALE && b->test_mode != FT_TEST_INVERTED)
    return ft_fail("%s: test_mode must be FT_TEST_SCALE or FT_TEST_INVERTED (got %d)", fn,
                   b->test_mode);
  if (b->stride < 1) return ft_fail("%s: stride must be >= 1 (got %d)", fn, b->stride);
  if (!(b->p >= 0 && b->p <= 1))
    return ft_fail("%s: survival probability p must be in [0, 1] (got %g)", fn, b->p);
  if (b->test_mode == FT_TEST_INVERTED && !(b->p > 0))
    return ft_fail("%s: 'inverted' scaling divides by p, which must be > 0 (got %g)", fn, b->p);
  if (!(b->bn_eps > 0)) return ft_fail("%s: bn_eps must be > 0 (got %g)", fn, b->bn_eps);
  if (!(b->bn_momentum >= 0 && b->bn_momentum <= 1))
    return ft_fail("%s: bn_momentum must be in [0, 1] (got %g)", fn, b->bn_momentum);
  if (b->force_gate < -1 || b->force_gate > 2)
    return ft_fail("%s: force_gate must be -1, 0, 1 or 2 (got %d)", fn, b->force_gate);
  if (b->row_offset < 0 || b->global_rows < 0 || (b->global_rows == 0 && b->row_offset != 0))
    return ft_fail("%s: row_offset %lld and global_rows %lld: both must be >= 0, and an offset "
                   "needs global_rows", fn, (long long)b->row_offset, (long long)b->global_rows);
  FT_TRY(ft_check_tensor(fn, "input", input));
#ifndef FT_WITH_CUDA
  if (input->device == FT_CUDA) return ft_no_cuda(fn);
#endif
  FT_TRY(ft_nn_check(fn, "input", input, NULL));
  FT_TRY(ft_nn_check(fn, "output", output, input));
  FT_TRY(ft_check_disjoint(fn, "output", output, "input", input));
  if (input->ndim != 4 || input->size[0] < 1)
    return ft_fail("%s: input must be [N,C,H,W] with N >= 1 (got %s)", fn,
                   ft_shape_str(input, bi, sizeof bi));
  int64_t N = input->size[0], Ci = input->size[1], H = input->size[2], W = input->size[3];
  if (Ci < 1 || H < 1 || W < 1)
    return ft_fail("%s: input must not be empty (got %s)", fn, ft_shape_str(input, bi, sizeof bi));
  int64_t c = Ci, Ho = H, Wo = W;
  for (int i = 0; i < n_stages(b); i++) {
    conv_cfg cf = stage_cfg(b, i);
    FT_TRY(check_stage(fn, b, i, input, c, cf.k, -1, grads, &c));
    int64_t hin = Ho, win = Wo;
    Ho = conv_out(Ho, cf);
    Wo = conv_out(Wo, cf);
    if (Ho >= 1 && Wo >= 1)
      FT_TRY(ft_conv2d_check_limits(fn, b->conv_weight[i], N, hin, win, Ho, Wo));
  }
  if (Ho < 1 || Wo < 1)
    return ft_fail("%s: input %s is too small for the block", fn, ft_shape_str(input, bi, sizeof bi));
  int64_t Co = c;
  if (output->ndim != 4 || output->size[0] != N || output->size[1] != Co ||
      output->size[2] != Ho || output->size[3] != Wo)
    return ft_fail("%s: output must be [%lld,%lld,%lld,%lld] for input %s (got %s)", fn,
                   (long long)N, (long long)Co, (long long)Ho, (long long)Wo,
                   ft_shape_str(input, bi, sizeof bi), ft_shape_str(output, bo, sizeof bo));
  switch (b->shortcut) {
  case FT_SHORTCUT_IDENTITY:
    if (Ci != Co || b->stride != 1)
      return ft_fail("%s: an identity shortcut needs stride 1 and Ci == Co (got stride %d, "
                     "%lld -> %lld channels)", fn, b->stride, (long long)Ci, (long long)Co);
    break;
  case FT_SHORTCUT_AVG:
  case FT_SHORTCUT_SUBSAMPLE: {
    if (Co < Ci)
      return ft_fail("%s: a pooling shortcut zero-pads channels, so needs Co >= Ci (got %lld -> "
                     "%lld)", fn, (long long)Ci, (long long)Co);
    int k = b->shortcut == FT_SHORTCUT_AVG ? b->stride : 1;
    int64_t ph = (H - k) / b->stride + 1, pw = (W - k) / b->stride + 1;
    if (ph != Ho || pw != Wo)
      return ft_fail("%s: the shortcut's %dx%d/%d pooling of input %s gives %lldx%lld but the "
                     "branch gives %lldx%lld", fn, k, k, b->stride,
                     ft_shape_str(input, bi, sizeof bi), (long long)ph, (long long)pw,
                     (long long)Ho, (long long)Wo);
    break;
  }
  case FT_SHORTCUT_PROJECT: {
    int64_t cp;
    FT_TRY(check_stage(fn, b, 3, input, Ci, 1, Co, grads, &cp));
    FT_TRY(ft_conv2d_check_limits(fn, b->conv_weight[3], N, H, W, Ho, Wo));
    break;
  }
  }
  return FT_OK;
}

static int ensure_saved(const char *fn, ft_resblock *b) {
  if (b->saved) return FT_OK;
  rb_saved *sv = ft_alloc(sizeof *sv);
  if (!sv) return ft_fail("%s: out of memory", fn);
  memset(sv, 0, sizeof *sv);
  b->saved = sv;
  return FT_OK;
}

/* ---- typed dispatch ------------------------------------------------------------------ */
#define RB_DISPATCH(dtype, name, ...) \
  do { if ((dtype) == FT_FLOAT32) name##_f32(__VA_ARGS__); else name##_f64(__VA_ARGS__); } while (0)

/* One of the hand-written loops on the tensors' device: its CUDA twin (core/cuda/resblock.cu,
 * same arguments after the dtype; index arrays stay on the host and are uploaded by the
 * call) or the typed host loop below, exactly as without CUDA. */
#ifdef FT_WITH_CUDA
#define RB_RUN(dev, cuda_call, dtype, name, ...)                                   \
  do { if ((dev) == FT_CUDA) { FT_TRY(cuda_call); }                                \
       else RB_DISPATCH(dtype, name, __VA_ARGS__); } while (0)
#else
#define RB_RUN(dev, cuda_call, dtype, name, ...) RB_DISPATCH(dtype, name, __VA_ARGS__)
#endif

/* ---- forward ------------------------------------------------------------------------- */
/* f(x) for x [k,Ci,H,W] into y [k,Co,Ho,Wo]; keeps h_i, a_i in sv. */
static int branch_forward(const char *fn, ft_resblock *b, rb_saved *sv, const ft_tensor *x,
                          ft_tensor *y, int bn_train) {
  int ns = n_stages(b), dtype = x->dtype, dev = x->device;
  const ft_tensor *in = x;
  int64_t sz[4] = {x->size[0], 0, x->size[2], x->size[3]};
  for (int i = 0; i < ns; i++) {
    conv_cfg cf = stage_cfg(b, i);
    sz[1] = b->conv_weight[i]->size[0];
    sz[2] = conv_out(sz[2], cf);
    sz[3] = conv_out(sz[3], cf);
    if (bn_train && sz[0] * sz[2] * sz[3] < 2)
      return ft_fail("%s: %s failed: training needs more than one value per channel to "
                     "estimate a variance (%lld samples of %lldx%lld)", fn, stage_name[i],
                     (long long)sz[0], (long long)sz[2], (long long)sz[3]);
    FT_TRY(buf_shape(&sv->h[i], dtype, dev, 4, sz));
    FT_TRY(buf_shape(&sv->mean[i], dtype, dev, 1, &sz[1]));
    FT_TRY(buf_shape(&sv->invstd[i], dtype, dev, 1, &sz[1]));
    RB_CALL(fn, stage_name[i],
            FT_DEVICE_CALL(in, conv2d_forward, in, sv->h[i].t, b->conv_weight[i], NULL, cf.stride,
                           cf.stride, cf.pad, cf.pad));
    int last = i == ns - 1;
    ft_tensor *bn_out = y;
    if (!last) {
      FT_TRY(buf_shape(&sv->a[i], dtype, dev, 4, sz));
      bn_out = sv->a[i].t;
    }
    RB_CALL(fn, stage_name[i],
            FT_DEVICE_CALL(sv->h[i].t, batchnorm_forward, sv->h[i].t, bn_out, b->bn_weight[i],
                           b->bn_bias[i], b->running_mean[i], b->running_var[i], sv->mean[i].t,
                           sv->invstd[i].t, bn_train, b->bn_momentum, b->bn_eps, !last));
    in = bn_out;
  }
  return FT_OK;
}

/* The shortcut's value before zero-padding: x itself, its pooling, or BN(conv(x)).
 * *sc points at it; it has *csc channels. */
static int shortcut_forward(const char *fn, ft_resblock *b, rb_saved *sv, const ft_tensor *x,
                            const ft_tensor *out, int bn_train, const ft_tensor **sc,
                            int64_t *csc) {
  int dtype = x->dtype, dev = x->device;
  int64_t sz[4] = {x->size[0], x->size[1], out->size[2], out->size[3]};
  *sc = x;
  *csc = x->size[1];
  if ((b->shortcut == FT_SHORTCUT_AVG || b->shortcut == FT_SHORTCUT_SUBSAMPLE) && b->stride > 1) {
    int k = b->shortcut == FT_SHORTCUT_AVG ? b->stride : 1;
    FT_TRY(ws_shape(WS_C, dtype, dev, 4, sz));
    RB_CALL(fn, "shortcut pooling",
            FT_DEVICE_CALL(x, avgpool2d_forward, x, ws[WS_C], k, k, b->stride, b->stride));
    *sc = ws[WS_C];
  } else if (b->shortcut == FT_SHORTCUT_PROJECT) {
    sz[1] = out->size[1];
    if (bn_train && sz[0] * sz[2] * sz[3] < 2)
      return ft_fail("%s: %s failed: training needs more than one value per channel to "
                     "estimate a variance (%lld samples of %lldx%lld)", fn, stage_name[3],
                     (long long)sz[0], (long long)sz[2], (long long)sz[3]);
    FT_TRY(buf_shape(&sv->hp, dtype, dev, 4, sz));
    FT_TRY(ws_shape(WS_C, dtype, dev, 4, sz));
    FT_TRY(buf_shape(&sv->mean[3], dtype, dev, 1, &sz[1]));
    FT_TRY(buf_shape(&sv->invstd[3], dtype, dev, 1, &sz[1]));
    RB_CALL(fn, stage_name[3],
            FT_DEVICE_CALL(x, conv2d_forward, x, sv->hp.t, b->conv_weight[3], NULL, b->stride,
                           b->stride, 0, 0));
    RB_CALL(fn, stage_name[3],
            FT_DEVICE_CALL(sv->hp.t, batchnorm_forward, sv->hp.t, ws[WS_C], b->bn_weight[3],
                           b->bn_bias[3], b->running_mean[3], b->running_var[3], sv->mean[3].t,
                           sv->invstd[3].t, bn_train, b->bn_momentum, b->bn_eps, 0));
    *sc = ws[WS_C];
    *csc = out->size[1];
  }
  return FT_OK;
}

/* Decide the gates of this call; fills sv->idx (row mode) and returns k, the samples
 * through the branch. */
static int decide_gates(const char *fn, ft_resblock *b, rb_saved *sv, int64_t N, int training,
                        int64_t *k_out) {
  ft_generator *g = b->generator ? b->generator : ft_default_generator();
  int64_t k = N;
  sv->rows = 0;
  if (training && b->gate_mode == FT_GATE_BATCH) {
    int open = b->force_gate == 0 ? 0 : b->force_gate == 1 ? 1 : b->p >= 1 ? 1
             : ft_generator_uniform(g) < b->p;
    k = open ? N : 0;
  } else if (training) { /* row */
    const ft_tensor *rg = b->row_gate;
    char buf[96];
    if (!rg) return ft_fail("%s: row mode needs row_gate, a uint8 [%lld] tensor (got NULL)", fn,
                            (long long)N);
    FT_TRY(ft_check_cpu(fn, "row_gate", rg));
    FT_TRY(ft_check_dtype(fn, "row_gate", rg, FT_UINT8));
    FT_TRY(ft_check_contiguous(fn, "row_gate", rg));
    if (rg->ndim != 1 || rg->size[0] != N)
      return ft_fail("%s: row_gate must be uint8 [%lld], one gate per sample (got %s)", fn,
                     (long long)N, ft_shape_str(rg, buf, sizeof buf));
    uint8_t *gate = ft_data(rg);
    if (sv->idx_cap < N) {
      ft_free_bytes(sv->idx, 2 * (size_t)sv->idx_cap * sizeof(int64_t));
      sv->idx_cap = 0;
      sv->idx = ft_alloc(2 * (size_t)N * sizeof(int64_t));
      if (!sv->idx) return ft_fail("%s: out of memory", fn);
      sv->idx_cap = N;
    }
    /* sharded: draw every gate of the global batch, keep rows off .. off+N-1 */
    int64_t G = b->global_rows > 0 ? b->global_rows : N, off = b->global_rows > 0 ? b->row_offset : 0;
    if (off > G - N)
      return ft_fail("%s: this rank's %lld rows from row_offset %lld do not fit in the global "
                     "batch of global_rows %lld", fn, (long long)N, (long long)off, (long long)G);
    const int draw = b->force_gate == -1 && b->p < 1;
    for (int64_t n = 0; draw && n < off; n++) (void)ft_generator_uniform(g);
    k = 0;
    for (int64_t n = 0; n < N; n++) {
      int open = b->force_gate == 2 ? gate[n] != 0 : b->force_gate >= 0 ? b->force_gate
               : b->p >= 1 ? 1 : ft_generator_uniform(g) < b->p;
      gate[n] = (uint8_t)open;
      sv->idx[N + n] = open ? k : -1;
      if (open) sv->idx[k++] = n;
    }
    for (int64_t n = off + N; draw && n < G; n++) (void)ft_generator_uniform(g);
    sv->rows = k > 0 && k < N;
  }
  *k_out = k;
  return FT_OK;
}

/* Copy rows idx[0..k) of src [N,...] into dst [k,...] (row = bytes per sample). */
static void gather_rows(char *dst, const char *src, const int64_t *idx, int64_t k, size_t row) {
#pragma omp parallel for if ((int64_t)row * k > 4 * FT_NN_PAR_MIN) schedule(static)
  for (int64_t j = 0; j < k; j++) memcpy(dst + j * row, src + idx[j] * row, row);
}

/* Synchronised BN when no row of this rank is kept but some are elsewhere: the branch's BNs
 * still take part in the collectives, forward and backward, in the same order, on empty
 * [0,C,Ho,Wo] tensors (contributing nothing; the running statistics get the global ones). */
static int phantom_forward(const char *fn, ft_resblock *b, rb_saved *sv, const ft_tensor *x) {
  int ns = n_stages(b), dtype = x->dtype, dev = x->device;
  int64_t sz[4] = {0, 0, x->size[2], x->size[3]};
  for (int i = 0; i < ns; i++) {
    conv_cfg cf = stage_cfg(b, i);
    sz[1] = b->conv_weight[i]->size[0];
    sz[2] = conv_out(sz[2], cf);
    sz[3] = conv_out(sz[3], cf);
    FT_TRY(buf_shape(&sv->h[i], dtype, dev, 4, sz));
    FT_TRY(buf_shape(&sv->mean[i], dtype, dev, 1, &sz[1]));
    FT_TRY(buf_shape(&sv->invstd[i], dtype, dev, 1, &sz[1]));
    ft_tensor *h = sv->h[i].t;
    RB_CALL(fn, stage_name[i],
            ft_cpu_batchnorm_forward(h, h, b->bn_weight[i], b->bn_bias[i], b->running_mean[i],
                                     b->running_var[i], sv->mean[i].t, sv->invstd[i].t, 1,
                                     b->bn_momentum, b->bn_eps, 0));
  }
  return FT_OK;
}

static int phantom_backward(const char *fn, ft_resblock *b, rb_saved *sv, int grads,
                            double scale) {
  for (int i = n_stages(b) - 1; i >= 0; i--) {
    ft_tensor *h = sv->h[i].t;
    RB_CALL(fn, stage_name[i],
            ft_cpu_batchnorm_backward(h, h, h, b->bn_weight[i], grads ? b->grad_bn_weight[i] : NULL,
                                      grads ? b->grad_bn_bias[i] : NULL, sv->mean[i].t,
                                      sv->invstd[i].t, NULL, 1, scale));
  }
  return FT_OK;
}

int ft_resblock_forward(ft_resblock *b, const ft_tensor *input, ft_tensor *output, int training) {
  const char *fn = "ft_resblock_forward";
  FT_TRY(check_block(fn, b, input, output, 0));
  FT_TRY(ensure_saved(fn, b));
  rb_saved *sv = b->saved;
  int dtype = input->dtype, dev = input->device, bn_train = training && !b->bn_frozen;
  int64_t N = input->size[0], Co = output->size[1];
  int64_t HWo = output->size[2] * output->size[3];
  sv->valid = 0;

  if (bn_train && dev == FT_CUDA && ft_batchnorm_get_sync()) return ft_bn_sync_no_cuda(fn);
  int64_t k = 0;
  FT_TRY(decide_gates(fn, b, sv, N, training, &k));
  /* row mode, sync BN: a rank without kept rows joins the branch's collectives when
   * another rank has some (batch mode: every rank draws the same gate) */
  int phantom = 0;
  const int may_differ = b->force_gate == 2 || (b->force_gate == -1 && b->p < 1);
  if (bn_train && b->gate_mode == FT_GATE_ROW && may_differ && ft_bn_sync_active()) {
    double kept = (double)k;
    FT_TRY(ft_bn_sync_allreduce(fn, &kept, 1));
    phantom = k == 0 && kept > 0;
  }
  double s = !training ? (b->test_mode == FT_TEST_SCALE ? b->p : 1.0)
                       : (k == 0 ? 0.0 : b->test_mode == FT_TEST_INVERTED ? 1.0 / b->p : 1.0);

  /* the branch, on the whole batch (into output) or on the gathered rows (into WS_H) */
  const ft_tensor *y = NULL;
  if (k > 0 && !sv->rows) {
    FT_TRY(branch_forward(fn, b, sv, input, output, bn_train));
    y = output;
  } else if (k > 0) {
    int64_t xs[4] = {k, input->size[1], input->size[2], input->size[3]};
    int64_t ys[4] = {k, Co, output->size[2], output->size[3]};
    size_t row_bytes = (size_t)(ft_numel(input) / N) * ft_dtype_size(dtype);
    FT_TRY(buf_shape(&sv->xk, dtype, dev, 4, xs));
#ifdef FT_WITH_CUDA
    if (dev == FT_CUDA)
      FT_TRY(ft_cuda_rb_gather_rows(ft_data(sv->xk.t), ft_data(input), sv->idx, k, row_bytes));
    else
#endif
      gather_rows(ft_data(sv->xk.t), ft_data(input), sv->idx, k, row_bytes);
    FT_TRY(ws_shape(WS_H, dtype, dev, 4, ys));
    FT_TRY(branch_forward(fn, b, sv, sv->xk.t, ws[WS_H], bn_train));
  } else {
    if (b->release_skipped) saved_free_branch(sv);
    if (phantom) FT_TRY(phantom_forward(fn, b, sv, input));
  }

  const ft_tensor *sc;
  int64_t csc;
  FT_TRY(shortcut_forward(fn, b, sv, input, output, bn_train, &sc, &csc));

  if (!sv->rows)
    RB_RUN(dev, ft_cuda_rb_combine(dtype, ft_data(output), y ? ft_data(y) : NULL, NULL, s,
                                   ft_data(sc), N, Co, csc, HWo),
           dtype, combine, ft_data(output), y ? ft_data(y) : NULL, NULL, s, ft_data(sc), N,
           Co, csc, HWo);
  else /* the kept rows' branch output sits in WS_H, row idx[N + n] for sample n */
    RB_RUN(dev, ft_cuda_rb_combine(dtype, ft_data(output), ft_data(ws[WS_H]), sv->idx + N, s,
                                   ft_data(sc), N, Co, csc, HWo),
           dtype, combine, ft_data(output), ft_data(ws[WS_H]), sv->idx + N, s,
           ft_data(sc), N, Co, csc, HWo);

  b->gate = k > 0;
  b->n_kept = k;
  b->branch_scale = s;
  sv->k = k;
  sv->s = s;
  sv->ran_branch = k > 0;
  sv->phantom = phantom;
  sv->bn_train = bn_train;
  sv->dtype = dtype;
  sv->device = dev;
  for (int d = 0; d < 4; d++) sv->in_size[d] = input->size[d];
  sv->valid = 1;
  return FT_OK;
}

/* ---- backward ------------------------------------------------------------------------ */
/* g [k,Co,Ho,Wo] (in ws[ga], already scaled by s) back through f. x: the branch's input;
 * gx [k,Ci,H,W] or NULL. Uses ws[ga] and ws[WS_H] in turn. */
static int branch_backward(const char *fn, ft_resblock *b, rb_saved *sv, const ft_tensor *x,
                           int ga, ft_tensor *gx, int grads, double scale) {
  int ns = n_stages(b), dtype = x->dtype, dev = x->device;
  for (int i = ns - 1; i >= 0; i--) {
    conv_cfg cf = stage_cfg(b, i);
    const ft_tensor *h = sv->h[i].t;
    FT_TRY(ws_shape(WS_H, dtype, dev, 4, h->size));
    RB_CALL(fn, stage_name[i],
            FT_DEVICE_CALL(h, batchnorm_backward, h, ws[ga], ws[WS_H], b->bn_weight[i],
                           grads ? b->grad_bn_weight[i] : NULL, grads ? b->grad_bn_bias[i] : NULL,
                           sv->mean[i].t, sv->invstd[i].t, i < ns - 1 ? sv->a[i].t : NULL,
                           sv->bn_train, scale));
    const ft_tensor *cin = i > 0 ? sv->a[i - 1].t : x;
    if (grads)
      RB_CALL(fn, stage_name[i],
              FT_DEVICE_CALL(cin, conv2d_backward_weight, cin, ws[WS_H], b->grad_conv_weight[i],
                             NULL, cf.stride, cf.stride, cf.pad, cf.pad, scale));
    if (i > 0) {
      FT_TRY(ws_shape(ga, dtype, dev, 4, cin->size));
      RB_CALL(fn, stage_name[i],
              FT_DEVICE_CALL(ws[WS_H], conv2d_backward_input, ws[WS_H], ws[ga],
                             b->conv_weight[i], cf.stride, cf.stride, cf.pad, cf.pad));
    } else if (gx) {
      RB_CALL(fn, stage_name[i],
              FT_DEVICE_CALL(ws[WS_H], conv2d_backward_input, ws[WS_H], gx, b->conv_weight[i],
                             cf.stride, cf.stride, cf.pad, cf.pad));
    }
  }
  return FT_OK;
}

/* G [N,Co,Ho,Wo] (the gradient at the sum) back through the shortcut into grad_input
 * (overwritten; NULL: only the projection's parameter gradients). Uses ws[WS_C]. */
static int shortcut_backward(const char *fn, ft_resblock *b, rb_saved *sv, const ft_tensor *input,
                             const ft_tensor *G, ft_tensor *grad_input, int grads, double scale) {
  int dtype = input->dtype, dev = input->device;
  int64_t N = input->size[0], Ci = input->size[1], Co = G->size[1];
  if (b->shortcut == FT_SHORTCUT_PROJECT) {
    if (!grad_input && !grads) return FT_OK;
    FT_TRY(ws_shape(WS_C, dtype, dev, 4, G->size));
    RB_CALL(fn, stage_name[3],
            FT_DEVICE_CALL(sv->hp.t, batchnorm_backward, sv->hp.t, G, ws[WS_C], b->bn_weight[3],
                           grads ? b->grad_bn_weight[3] : NULL, grads ? b->grad_bn_bias[3] : NULL,
                           sv->mean[3].t, sv->invstd[3].t, NULL, sv->bn_train, scale));
    if (grads)
      RB_CALL(fn, stage_name[3],
              FT_DEVICE_CALL(input, conv2d_backward_weight, input, ws[WS_C],
                             b->grad_conv_weight[3], NULL, b->stride, b->stride, 0, 0, scale));
    if (grad_input)
      RB_CALL(fn, stage_name[3],
              FT_DEVICE_CALL(ws[WS_C], conv2d_backward_input, ws[WS_C], grad_input,
                             b->conv_weight[3], b->stride, b->stride, 0, 0));
    return FT_OK;
  }
  if (!grad_input) return FT_OK;
  int pooled = b->stride > 1; /* identity and stride-1 pooling shortcuts do not pool */
  if (!pooled && Co == Ci) {
    if (dev == FT_CUDA) /* both contiguous, one shape: a device-to-device copy */
      RB_CALL(fn, "identity shortcut", ft_copy(grad_input, G));
    else
      memcpy(ft_data(grad_input), ft_data(G), (size_t)ft_numel(G) * ft_dtype_size(dtype));
    return FT_OK;
  }
  if (!pooled) {
    RB_CALL(fn, "shortcut padding",
            FT_DEVICE_CALL(G, channel_pad_backward, G, grad_input));
    return FT_OK;
  }
  const ft_tensor *gp = G;
  if (Co > Ci) {
    int64_t sz[4] = {N, Ci, G->size[2], G->size[3]};
    FT_TRY(ws_shape(WS_C, dtype, dev, 4, sz));
    RB_CALL(fn, "shortcut padding",
            FT_DEVICE_CALL(G, channel_pad_backward, G, ws[WS_C]));
    gp = ws[WS_C];
  }
  int k = b->shortcut == FT_SHORTCUT_AVG ? b->stride : 1;
  RB_CALL(fn, "shortcut pooling",
          FT_DEVICE_CALL(gp, avgpool2d_backward, gp, grad_input, k, k, b->stride, b->stride));
  return FT_OK;
}

int ft_resblock_backward(ft_resblock *b, const ft_tensor *input, const ft_tensor *output,
                         const ft_tensor *grad_output, ft_tensor *grad_input, int param_grads,
                         double scale) {
  const char *fn = "ft_resblock_backward";
  char b1[96];
  FT_TRY(check_block(fn, b, input, output, param_grads));
  rb_saved *sv = b->saved;
  if (!sv || !sv->valid) return ft_fail("%s: no forward to go back through", fn);
  int dtype = input->dtype, dev = input->device;
  if (sv->dtype != dtype || memcmp(sv->in_size, input->size, sizeof sv->in_size))
    return ft_fail("%s: input %s %s differs from the last forward's (%lldx%lldx%lldx%lld %s)", fn,
                   ft_shape_str(input, b1, sizeof b1), ft_dtype_name(dtype),
                   (long long)sv->in_size[0], (long long)sv->in_size[1],
                   (long long)sv->in_size[2], (long long)sv->in_size[3], ft_dtype_name(sv->dtype));
  if (sv->device != dev)
    return ft_fail("%s: input is on the %s but the last forward ran on the %s", fn,
                   dev == FT_CUDA ? "GPU" : "CPU", sv->device == FT_CUDA ? "GPU" : "CPU");
  FT_TRY(ft_nn_check(fn, "grad_output", grad_output, input));
  FT_TRY(ft_check_same_shape(fn, "output", output, "grad_output", grad_output));
  if (grad_input) {
    FT_TRY(ft_nn_check(fn, "grad_input", grad_input, input));
    FT_TRY(ft_check_same_shape(fn, "input", input, "grad_input", grad_input));
    FT_TRY(ft_check_disjoint(fn, "grad_input", grad_input, "grad_output", grad_output));
    FT_TRY(ft_check_disjoint(fn, "grad_input", grad_input, "output", output));
  }
  int64_t N = input->size[0], k = sv->k;

  /* a closed block with an identity shortcut is just its final ReLU */
  if (!sv->ran_branch && b->shortcut == FT_SHORTCUT_IDENTITY) {
    if (grad_input)
      RB_RUN(dev, ft_cuda_rb_relu_mask(dtype, ft_data(grad_input), ft_data(grad_output),
                                       ft_data(output), ft_numel(output)),
             dtype, relu_mask, ft_data(grad_input), ft_data(grad_output), ft_data(output),
             ft_numel(output));
    return sv->phantom ? phantom_backward(fn, b, sv, param_grads, scale) : FT_OK;
  }
  /* the gradient at the sum: through the final ReLU */
  FT_TRY(ws_shape(WS_G, dtype, dev, 4, output->size));
  RB_RUN(dev, ft_cuda_rb_relu_mask(dtype, ft_data(ws[WS_G]), ft_data(grad_output),
                                   ft_data(output), ft_numel(output)),
         dtype, relu_mask, ft_data(ws[WS_G]), ft_data(grad_output), ft_data(output),
         ft_numel(output));
  FT_TRY(shortcut_backward(fn, b, sv, input, ws[WS_G], grad_input, param_grads, scale));
  if (!sv->ran_branch) return sv->phantom ? phantom_backward(fn, b, sv, param_grads, scale) : FT_OK;

  /* the branch's share: s * G, on the whole batch or on the kept rows */
  int ga = WS_G;
  const ft_tensor *x = input;
  if (sv->rows) {
    int64_t sz[4] = {k, output->size[1], output->size[2], output->size[3]};
    FT_TRY(ws_shape(WS_R, dtype, dev, 4, sz));
    RB_RUN(dev, ft_cuda_rb_gather_rows_scaled(dtype, ft_data(ws[WS_R]), ft_data(ws[WS_G]),
                                              sv->idx, k, ft_numel(output) / N, sv->s),
           dtype, gather_rows_scaled, ft_data(ws[WS_R]), ft_data(ws[WS_G]), sv->idx, k,
           ft_numel(output) / N, sv->s);
    ga = WS_R;
    x = sv->xk.t;
  } else if (sv->s != 1.0) {
    RB_RUN(dev, ft_cuda_rb_scale_inplace(dtype, ft_data(ws[ga]), sv->s, ft_numel(ws[ga])),
           dtype, scale_inplace, ft_data(ws[ga]), sv->s, ft_numel(ws[ga]));
  }
  ft_tensor *gx = NULL;
  if (grad_input) {
    FT_TRY(ws_shape(WS_C, dtype, dev, 4, x->size));
    gx = ws[WS_C];
  }
  FT_TRY(branch_backward(fn, b, sv, x, ga, gx, param_grads, scale));
  if (!grad_input) return FT_OK;
  if (sv->rows)
    RB_RUN(dev, ft_cuda_rb_scatter_add_rows(dtype, ft_data(grad_input), ft_data(gx), sv->idx, k,
                                            ft_numel(input) / N, 1.0),
           dtype, scatter_add_rows, ft_data(grad_input), ft_data(gx), sv->idx, k,
           ft_numel(input) / N, 1.0);
  else
    RB_RUN(dev, ft_cuda_rb_add_inplace(dtype, ft_data(grad_input), ft_data(gx), ft_numel(input)),
           dtype, add_inplace, ft_data(grad_input), ft_data(gx), ft_numel(input));
  return FT_OK;
}

#else /* ---- typed loops ---------------------------------------------------------------- */

/* out [N,C,HW] = ReLU(s * y + pad(sc)), sc [N,Cs,HW] with Cs <= C zero-padded.
 * y: [N,C,HW] (may be out), or NULL for a closed branch; with pos, y holds only the kept
 * rows and sample n's row is pos[n] (-1: not kept). */
static void FT_K(combine)(FT_REAL *out, const FT_REAL *y, const int64_t *pos, double s_,
                          const FT_REAL *sc, int64_t N, int64_t C, int64_t Cs, int64_t HW) {
  const FT_REAL s = (FT_REAL)s_;
#pragma omp parallel for if (N * C * HW > FT_NN_PAR_MIN) schedule(static)
  for (int64_t nc = 0; nc < N * C; nc++) {
    int64_t n = nc / C, c = nc % C, row = pos ? pos[n] : n;
    FT_REAL *o = out + nc * HW;
    const FT_REAL *yy = y && row >= 0 ? y + (row * C + c) * HW : NULL;
    const FT_REAL *ss = c < Cs ? sc + (n * Cs + c) * HW : NULL;
    if (yy && ss)
      for (int64_t i = 0; i < HW; i++) { FT_REAL v = s * yy[i] + ss[i]; o[i] = v > 0 ? v : 0; }
    else if (yy)
      for (int64_t i = 0; i < HW; i++) { FT_REAL v = s * yy[i]; o[i] = v > 0 ? v : 0; }
    else if (ss)
      for (int64_t i = 0; i < HW; i++) o[i] = ss[i] > 0 ? ss[i] : 0;
    else
      for (int64_t i = 0; i < HW; i++) o[i] = 0;
  }
}

/* dst[j] = s * src[idx[j]] for rows of `row` elements. */
static void FT_K(gather_rows_scaled)(FT_REAL *dst, const FT_REAL *src, const int64_t *idx,
                                     int64_t k, int64_t row, double s_) {
  const FT_REAL s = (FT_REAL)s_;
#pragma omp parallel for if (k * row > FT_NN_PAR_MIN) schedule(static)
  for (int64_t j = 0; j < k; j++) {
    FT_REAL *d = dst + j * row;
    const FT_REAL *x = src + idx[j] * row;
    for (int64_t i = 0; i < row; i++) d[i] = s * x[i];
  }
}

/* out[idx[j]] += s * y[j] for rows of `row` elements. */
static void FT_K(scatter_add_rows)(FT_REAL *out, const FT_REAL *y, const int64_t *idx, int64_t k,
                                   int64_t row, double s_) {
  const FT_REAL s = (FT_REAL)s_;
#pragma omp parallel for if (k * row > FT_NN_PAR_MIN) schedule(static)
  for (int64_t j = 0; j < k; j++) {
    FT_REAL *o = out + idx[j] * row;
    const FT_REAL *yy = y + j * row;
    for (int64_t i = 0; i < row; i++) o[i] += s * yy[i];
  }
}

/* g = out > 0 ? go : 0 (the final ReLU's backward). */
static void FT_K(relu_mask)(FT_REAL *g, const FT_REAL *go, const FT_REAL *out, int64_t n) {
#pragma omp parallel for simd if (n > FT_NN_PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) g[i] = out[i] > 0 ? go[i] : 0;
}

static void FT_K(scale_inplace)(FT_REAL *x, double s_, int64_t n) {
  const FT_REAL s = (FT_REAL)s_;
#pragma omp parallel for simd if (n > FT_NN_PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) x[i] *= s;
}

static void FT_K(add_inplace)(FT_REAL *x, const FT_REAL *y, int64_t n) {
#pragma omp parallel for simd if (n > FT_NN_PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) x[i] += y[i];
}

#endif
