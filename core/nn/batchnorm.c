/* nn/batchnorm.c -- batch normalisation per channel over N and the spatial dims, with
 * an optional fused ReLU.
 *
 * Statistics follow the paper's (and Torch7's) recipe: normalise with the biased
 * batch variance, store the unbiased one in running_var, running = (1-m)*running +
 * m*batch. Sums are accumulated in double and the variance takes a second pass over
 * the centred values (no E[x^2]-E[x]^2 cancellation). Channels are independent, so
 * the OpenMP loop runs over channels and no reduction crosses threads.
 *
 * Fused ReLU: forward clamps while it writes the output, and backward reads the mask
 * (output > 0) inside its own two passes, so BN+ReLU costs no extra pass over memory
 * and no ReLU buffers. float32/float64 from one source (see nn_common.h). The entry
 * points check once for both devices, then run ft_cpu_batchnorm_* (here) or
 * ft_cuda_batchnorm_* (core/cuda/batchnorm.cu).
 *
 * Synchronised BN (SYNCBN-SECTION of fathom.h, switch in core/dist/syncbn.c): with the
 * switch on in a job of several ranks, a training call splits the channel loop around
 * all-reduces of per-channel doubles: forward sums + count, then sums of squares around the
 * global mean; backward sum(dy), sum(dy * (x - mean)) + count (only when grad_input is
 * wanted: the parameter gradients are this rank's share, summed later with the other
 * gradients). The split loops call the same per-channel pieces as the fused one; a job of
 * one rank runs the fused one, so its results do not change. */
#ifndef FT_REAL
#include "nn_common.h"
#include <math.h>

#define FT_REAL float
#define FT_K(n) n##_f32
#include "batchnorm.c"
#undef FT_REAL
#undef FT_K
#define FT_REAL double
#define FT_K(n) n##_f64
#include "batchnorm.c"
#undef FT_REAL
#undef FT_K

/* Sizes of input seen as [N, C, S]: S = product of the dims after C (1 for [N,C]). */
static void bn_sizes(const ft_tensor *input, int64_t *N, int64_t *C, int64_t *S) {
  *N = input->size[0];
  *C = input->size[1];
  *S = 1;
  for (int d = 2; d < input->ndim; d++) *S *= input->size[d];
}

/* input must be [N,C,H,W], [N,C,L] or [N,C], not empty. */
static int bn_dims(const char *fn, const ft_tensor *input, int64_t *N, int64_t *C, int64_t *S) {
  char buf[128];
  if (input->ndim < 2 || input->ndim > 4)
    return ft_fail("%s: input must be [N,C,H,W], [N,C,L] or [N,C] (got %s)", fn,
                   ft_shape_str(input, buf, sizeof buf));
  bn_sizes(input, N, C, S);
  if (*N < 1 || *C < 1) return ft_fail("%s: input is empty (got %s)", fn, ft_shape_str(input, buf, sizeof buf));
  return FT_OK;
}

/* cuDNN's batch norm cannot be split around an all-reduce. */
int ft_bn_sync_no_cuda(const char *fn) {
  return ft_fail("%s: synchronised batch norm runs on CPU tensors only for now (turn it off "
                 "with ft_batchnorm_set_sync(0) / fathom.distributed.setSyncBatchNorm(false))", fn);
}

/* input, output: [N,C,H,W] or [N,C]; weight, bias (each may be NULL), running_mean,
 * running_var, save_mean, save_invstd: [C]. */
int ft_batchnorm_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                         const ft_tensor *bias, ft_tensor *running_mean,
                         ft_tensor *running_var, ft_tensor *save_mean, ft_tensor *save_invstd,
                         int training, double momentum, double eps, int fuse_relu) {
  const char *fn = "ft_batchnorm_forward";
  int64_t N = 0, C = 0, S = 1;
  const ft_tensor *dt = input; /* the dtype and device of the call */
  FT_TRY(ft_nn_check(fn, "input", input, NULL));
  FT_TRY(bn_dims(fn, input, &N, &C, &S));
  FT_TRY(ft_nn_check(fn, "output", output, dt));
  FT_TRY(ft_check_same_shape(fn, "input", input, "output", output));
  if (weight) FT_TRY(ft_nn_check_vec(fn, "weight", weight, dt, C));
  if (bias) FT_TRY(ft_nn_check_vec(fn, "bias", bias, dt, C));
  FT_TRY(ft_nn_check_vec(fn, "running_mean", running_mean, dt, C));
  FT_TRY(ft_nn_check_vec(fn, "running_var", running_var, dt, C));
  FT_TRY(ft_nn_check_vec(fn, "save_mean", save_mean, dt, C));
  FT_TRY(ft_nn_check_vec(fn, "save_invstd", save_invstd, dt, C));
  if (!(eps > 0)) return ft_fail("%s: eps must be positive (got %g)", fn, eps);
  if (training && !(momentum >= 0 && momentum <= 1))
    return ft_fail("%s: momentum must be in [0, 1] (got %g)", fn, momentum);
  if (training && N * S < 2) {
    char buf[128];
    return ft_fail("%s: training needs more than one value per channel to estimate a "
                   "variance (input %s has one)", fn, ft_shape_str(input, buf, sizeof buf));
  }
  if (training && input->device == FT_CUDA && ft_batchnorm_get_sync()) return ft_bn_sync_no_cuda(fn);
  return FT_DEVICE_CALL(input, batchnorm_forward, input, output, weight, bias, running_mean,
                        running_var, save_mean, save_invstd, training, momentum, eps, fuse_relu);
}

int ft_cpu_batchnorm_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                             const ft_tensor *bias, ft_tensor *running_mean,
                             ft_tensor *running_var, ft_tensor *save_mean, ft_tensor *save_invstd,
                             int training, double momentum, double eps, int fuse_relu) {
  int64_t N, C, S;
  bn_sizes(input, &N, &C, &S);
  if (training && ft_bn_sync_active()) {
    const char *fn = "ft_batchnorm_forward";
    size_t nb = (2 * (size_t)C + 1) * sizeof(double);
    double *st = ft_alloc(nb);
    if (!st) return ft_fail("%s: out of memory", fn);
    int rc;
#define BN_FWD_SYNC(sfx)                                                                  \
    rc = bn_forward_sync_##sfx(fn, ft_data(input), ft_data(output),                       \
                               weight ? ft_data(weight) : NULL, bias ? ft_data(bias) : NULL, \
                               ft_data(running_mean), ft_data(running_var), ft_data(save_mean), \
                               ft_data(save_invstd), N, C, S, momentum, eps, fuse_relu, st)
    if (input->dtype == FT_FLOAT32) BN_FWD_SYNC(f32);
    else BN_FWD_SYNC(f64);
#undef BN_FWD_SYNC
    ft_free_bytes(st, nb);
    return rc;
  }
#define BN_FWD(sfx)                                                                       \
  bn_forward_##sfx(ft_data(input), ft_data(output), weight ? ft_data(weight) : NULL,      \
                   bias ? ft_data(bias) : NULL, ft_data(running_mean),                    \
                   ft_data(running_var), ft_data(save_mean), ft_data(save_invstd), N, C, S, \
                   training, momentum, eps, fuse_relu)
  if (input->dtype == FT_FLOAT32) BN_FWD(f32);
  else BN_FWD(f64);
#undef BN_FWD
  return FT_OK;
}

/* input, grad_output, grad_input (may be NULL), output (fused only, else NULL):
 * [N,C,H,W] or [N,C]; weight, grad_weight, grad_bias (each may be NULL), save_mean,
 * save_invstd: [C]. */
int ft_batchnorm_backward(const ft_tensor *input, const ft_tensor *grad_output,
                          ft_tensor *grad_input, const ft_tensor *weight,
                          ft_tensor *grad_weight, ft_tensor *grad_bias,
                          const ft_tensor *save_mean, const ft_tensor *save_invstd,
                          const ft_tensor *output, int training, double scale) {
  const char *fn = "ft_batchnorm_backward";
  int64_t N = 0, C = 0, S = 1;
  const ft_tensor *dt = input; /* the dtype and device of the call */
  FT_TRY(ft_nn_check(fn, "input", input, NULL));
  FT_TRY(bn_dims(fn, input, &N, &C, &S));
  FT_TRY(ft_nn_check(fn, "grad_output", grad_output, dt));
  FT_TRY(ft_check_same_shape(fn, "input", input, "grad_output", grad_output));
  if (grad_input) {
    FT_TRY(ft_nn_check(fn, "grad_input", grad_input, dt));
    FT_TRY(ft_check_same_shape(fn, "input", input, "grad_input", grad_input));
  }
  if (output) {
    FT_TRY(ft_nn_check(fn, "output", output, dt));
    FT_TRY(ft_check_same_shape(fn, "input", input, "output", output));
  }
  if (weight) FT_TRY(ft_nn_check_vec(fn, "weight", weight, dt, C));
  if (grad_weight) FT_TRY(ft_nn_check_vec(fn, "grad_weight", grad_weight, dt, C));
  if (grad_bias) FT_TRY(ft_nn_check_vec(fn, "grad_bias", grad_bias, dt, C));
  FT_TRY(ft_nn_check_vec(fn, "save_mean", save_mean, dt, C));
  FT_TRY(ft_nn_check_vec(fn, "save_invstd", save_invstd, dt, C));
  /* the parameter gradients accumulate per channel while the data is read: they must
   * not alias anything else (they may sit side by side in one flat storage) */
  FT_TRY(ft_check_disjoint(fn, "grad_weight", grad_weight, "grad_bias", grad_bias));
  const ft_tensor *reads[3] = {input, grad_output, grad_input};
  const char *read_names[3] = {"input", "grad_output", "grad_input"};
  for (int i = 0; i < 3; i++) {
    FT_TRY(ft_check_disjoint(fn, "grad_weight", grad_weight, read_names[i], reads[i]));
    FT_TRY(ft_check_disjoint(fn, "grad_bias", grad_bias, read_names[i], reads[i]));
  }
  if (training && input->device == FT_CUDA && ft_batchnorm_get_sync()) return ft_bn_sync_no_cuda(fn);
  return FT_DEVICE_CALL(input, batchnorm_backward, input, grad_output, grad_input, weight,
                        grad_weight, grad_bias, save_mean, save_invstd, output, training, scale);
}

int ft_cpu_batchnorm_backward(const ft_tensor *input, const ft_tensor *grad_output,
                              ft_tensor *grad_input, const ft_tensor *weight,
                              ft_tensor *grad_weight, ft_tensor *grad_bias,
                              const ft_tensor *save_mean, const ft_tensor *save_invstd,
                              const ft_tensor *output, int training, double scale) {
  int64_t N, C, S;
  bn_sizes(input, &N, &C, &S);
  if (training && grad_input && ft_bn_sync_active()) {
    const char *fn = "ft_batchnorm_backward";
    size_t nb = (2 * (size_t)C + 1) * sizeof(double);
    double *st = ft_alloc(nb);
    if (!st) return ft_fail("%s: out of memory", fn);
    int rc;
#define BN_BWD_SYNC(sfx)                                                                  \
    rc = bn_backward_sync_##sfx(fn, ft_data(input), ft_data(grad_output), ft_data(grad_input), \
                                weight ? ft_data(weight) : NULL,                          \
                                grad_weight ? ft_data(grad_weight) : NULL,                \
                                grad_bias ? ft_data(grad_bias) : NULL, ft_data(save_mean), \
                                ft_data(save_invstd), output ? ft_data(output) : NULL, N, C, S, \
                                scale, st)
    if (input->dtype == FT_FLOAT32) BN_BWD_SYNC(f32);
    else BN_BWD_SYNC(f64);
#undef BN_BWD_SYNC
    ft_free_bytes(st, nb);
    return rc;
  }
#define BN_BWD(sfx)                                                                       \
  bn_backward_##sfx(ft_data(input), ft_data(grad_output),                                 \
                    grad_input ? ft_data(grad_input) : NULL, weight ? ft_data(weight) : NULL, \
                    grad_weight ? ft_data(grad_weight) : NULL,                            \
                    grad_bias ? ft_data(grad_bias) : NULL, ft_data(save_mean),            \
                    ft_data(save_invstd), output ? ft_data(output) : NULL, N, C, S,       \
                    training, scale)
  if (input->dtype == FT_FLOAT32) BN_BWD(f32);
  else BN_BWD(f64);
#undef BN_BWD
  return FT_OK;
}

#else /* ---- typed kernels ---------------------------------------------------------- */

/* Per-channel pieces, shared by the fused loops (one rank) and the split ones (sync), so
 * both compute the same arithmetic. x: [N, C, S]. */
static inline double FT_K(ch_sum)(const FT_REAL *x, int64_t c, int64_t N, int64_t C, int64_t S) {
  double sum = 0;
  for (int64_t n = 0; n < N; n++) {
    const FT_REAL *p = x + (n * C + c) * S;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < S; j++) sum += p[j];
  }
  return sum;
}

static inline double FT_K(ch_ssd)(const FT_REAL *x, int64_t c, double mean, int64_t N, int64_t C,
                                  int64_t S) {
  double ssd = 0;
  for (int64_t n = 0; n < N; n++) {
    const FT_REAL *p = x + (n * C + c) * S;
#pragma omp simd reduction(+ : ssd)
    for (int64_t j = 0; j < S; j++) { double d = p[j] - mean; ssd += d * d; }
  }
  return ssd;
}

/* Channel c's statistics (training: mean, ssd over M values; evaluation: the running
 * ones), saved, running ones updated, then y = (x - mean) * invstd * w + b. */
static inline void FT_K(ch_normalise)(const FT_REAL *x, FT_REAL *y, int64_t c, const FT_REAL *w,
                                      const FT_REAL *b, FT_REAL *rm, FT_REAL *rv, FT_REAL *sm,
                                      FT_REAL *si, int64_t N, int64_t C, int64_t S, int training,
                                      double mean, double ssd, double M, double momentum,
                                      double eps, int relu) {
  double invstd;
  if (training) {
    invstd = 1.0 / sqrt(ssd / M + eps);
    rm[c] = (FT_REAL)((1 - momentum) * rm[c] + momentum * mean);
    rv[c] = (FT_REAL)((1 - momentum) * rv[c] + momentum * ssd / (M - 1));
  } else {
    mean = rm[c];
    invstd = 1.0 / sqrt((double)rv[c] + eps);
  }
  sm[c] = (FT_REAL)mean;
  si[c] = (FT_REAL)invstd;
  /* folded into one multiply-add */
  double a = invstd * (w ? w[c] : 1.0);
  const FT_REAL A = (FT_REAL)a, B = (FT_REAL)((b ? b[c] : 0.0) - mean * a);
  for (int64_t n = 0; n < N; n++) {
    const FT_REAL *p = x + (n * C + c) * S;
    FT_REAL *q = y + (n * C + c) * S;
    if (relu) {
#pragma omp simd
      for (int64_t j = 0; j < S; j++) { FT_REAL v = p[j] * A + B; q[j] = v > 0 ? v : 0; }
    } else {
#pragma omp simd
      for (int64_t j = 0; j < S; j++) q[j] = p[j] * A + B;
    }
  }
}

/* x, y: [N, C, S] (y may be x); w, b: [C] or NULL; rm, rv, sm, si: [C]. */
static void FT_K(bn_forward)(const FT_REAL *x, FT_REAL *y, const FT_REAL *w, const FT_REAL *b,
                             FT_REAL *rm, FT_REAL *rv, FT_REAL *sm, FT_REAL *si, int64_t N,
                             int64_t C, int64_t S, int training, double momentum, double eps,
                             int relu) {
  const double M = (double)(N * S);
#pragma omp parallel for schedule(static) if (N * C * S > FT_NN_PAR_MIN)
  for (int64_t c = 0; c < C; c++) {
    double mean = 0, ssd = 0;
    if (training) {
      mean = FT_K(ch_sum)(x, c, N, C, S) / M;
      ssd = FT_K(ch_ssd)(x, c, mean, N, C, S);
    }
    FT_K(ch_normalise)(x, y, c, w, b, rm, rv, sm, si, N, C, S, training, mean, ssd, M, momentum,
                       eps, relu);
  }
}

/* Synchronised training forward: the same steps with the channel loops split around the
 * all-reduces (sums and count, then sums of squares). st: 2C + 1 doubles of scratch. */
static int FT_K(bn_forward_sync)(const char *fn, const FT_REAL *x, FT_REAL *y, const FT_REAL *w,
                                 const FT_REAL *b, FT_REAL *rm, FT_REAL *rv, FT_REAL *sm,
                                 FT_REAL *si, int64_t N, int64_t C, int64_t S, double momentum,
                                 double eps, int relu, double *st) {
  double *mean = st, *ssd = st + C + 1; /* st[C]: the count */
  const int par = N * C * S > FT_NN_PAR_MIN;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t c = 0; c < C; c++) mean[c] = FT_K(ch_sum)(x, c, N, C, S);
  mean[C] = (double)(N * S);
  FT_TRY(ft_bn_sync_allreduce(fn, mean, C + 1));
  const double M = mean[C];
  if (M < 2)
    return ft_fail("%s: training needs more than one value per channel over all ranks (got %g)",
                   fn, M);
  for (int64_t c = 0; c < C; c++) mean[c] /= M;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t c = 0; c < C; c++) ssd[c] = FT_K(ch_ssd)(x, c, mean[c], N, C, S);
  FT_TRY(ft_bn_sync_allreduce(fn, ssd, C));
#pragma omp parallel for schedule(static) if (par)
  for (int64_t c = 0; c < C; c++)
    FT_K(ch_normalise)(x, y, c, w, b, rm, rv, sm, si, N, C, S, 1, mean[c], ssd[c], M, momentum,
                       eps, relu);
  return FT_OK;
}

/* Channel c's sum of g and of g * (x - mean), g masked by y > 0 when fused (y non-NULL). */
static inline void FT_K(ch_grad_sums)(const FT_REAL *x, const FT_REAL *g, const FT_REAL *y,
                                      int64_t c, double mean, int64_t N, int64_t C, int64_t S,
                                      double *sum_out, double *dot_out) {
  double sum_g = 0, dot = 0;
  for (int64_t n = 0; n < N; n++) {
    const FT_REAL *p = x + (n * C + c) * S, *q = g + (n * C + c) * S;
    if (y) {
      const FT_REAL *o = y + (n * C + c) * S;
      /* The mask multiplies rather than selects: GCC vectorises a select inside a
       * simd reduction poorly (8x slower). The only difference: an inf/NaN gradient
       * at a masked position gives NaN here, where a select would drop it. */
#pragma omp simd reduction(+ : sum_g, dot)
      for (int64_t j = 0; j < S; j++) {
        const FT_REAL gv = q[j] * (FT_REAL)(o[j] > 0);
        sum_g += gv; dot += gv * (p[j] - mean);
      }
    } else {
#pragma omp simd reduction(+ : sum_g, dot)
      for (int64_t j = 0; j < S; j++) { sum_g += q[j]; dot += q[j] * (p[j] - mean); }
    }
  }
  *sum_out = sum_g;
  *dot_out = dot;
}

/* Channel c's grad_input from the sums over M values:
 * training: gi = (g - mean(g) - (x - mean) * invstd^2 * mean(g * (x - mean))) * invstd * w
 * evaluation: gi = g * invstd * w */
static inline void FT_K(ch_grad_input)(const FT_REAL *x, const FT_REAL *g, FT_REAL *gi,
                                       const FT_REAL *w, const FT_REAL *y, int64_t c, double mean,
                                       double invstd, double sum_g, double dot, double M,
                                       int64_t N, int64_t C, int64_t S, int training) {
  const double wi = invstd * (w ? w[c] : 1.0);
  const FT_REAL A = (FT_REAL)wi;
  const FT_REAL K = training ? (FT_REAL)(dot / M * invstd * invstd * wi) : 0;
  const FT_REAL B = training ? (FT_REAL)(-(sum_g / M) * wi) : 0, Mu = (FT_REAL)mean;
  for (int64_t n = 0; n < N; n++) {
    const FT_REAL *p = x + (n * C + c) * S, *q = g + (n * C + c) * S;
    FT_REAL *r = gi + (n * C + c) * S;
    if (y) {
      const FT_REAL *o = y + (n * C + c) * S;
#pragma omp simd
      for (int64_t j = 0; j < S; j++) r[j] = (o[j] > 0 ? q[j] : 0) * A - (p[j] - Mu) * K + B;
    } else {
#pragma omp simd
      for (int64_t j = 0; j < S; j++) r[j] = q[j] * A - (p[j] - Mu) * K + B;
    }
  }
}

/* x, g, gi (NULL: skip), y (fused: the forward output, for the mask; else NULL):
 * [N, C, S]; w, gw, gb (each may be NULL), sm, si: [C]. */
static void FT_K(bn_backward)(const FT_REAL *x, const FT_REAL *g, FT_REAL *gi, const FT_REAL *w,
                              FT_REAL *gw, FT_REAL *gb, const FT_REAL *sm, const FT_REAL *si,
                              const FT_REAL *y, int64_t N, int64_t C, int64_t S, int training,
                              double scale) {
  const double M = (double)(N * S);
  /* In evaluation the statistics are constants: grad_input needs no sums. */
  const int need_sums = gw || gb || (gi && training);
#pragma omp parallel for schedule(static) if (N * C * S > FT_NN_PAR_MIN)
  for (int64_t c = 0; c < C; c++) {
    const double mean = sm[c], invstd = si[c];
    double sum_g = 0, dot = 0;
    if (need_sums) FT_K(ch_grad_sums)(x, g, y, c, mean, N, C, S, &sum_g, &dot);
    if (gw) gw[c] = (FT_REAL)(gw[c] + scale * dot * invstd);
    if (gb) gb[c] = (FT_REAL)(gb[c] + scale * sum_g);
    if (gi) FT_K(ch_grad_input)(x, g, gi, w, y, c, mean, invstd, sum_g, dot, M, N, C, S, training);
  }
}

/* Synchronised training backward with grad_input: this rank's sums give its share of
 * grad_weight/grad_bias, then the all-reduced sums (and count) give grad_input.
 * st: 2C + 1 doubles of scratch. */
static int FT_K(bn_backward_sync)(const char *fn, const FT_REAL *x, const FT_REAL *g, FT_REAL *gi,
                                  const FT_REAL *w, FT_REAL *gw, FT_REAL *gb, const FT_REAL *sm,
                                  const FT_REAL *si, const FT_REAL *y, int64_t N, int64_t C,
                                  int64_t S, double scale, double *st) {
  double *sum_g = st, *dot = st + C; /* st[2C]: the count */
  const int par = N * C * S > FT_NN_PAR_MIN;
#pragma omp parallel for schedule(static) if (par)
  for (int64_t c = 0; c < C; c++) FT_K(ch_grad_sums)(x, g, y, c, sm[c], N, C, S, &sum_g[c], &dot[c]);
  for (int64_t c = 0; c < C; c++) {
    if (gw) gw[c] = (FT_REAL)(gw[c] + scale * dot[c] * si[c]);
    if (gb) gb[c] = (FT_REAL)(gb[c] + scale * sum_g[c]);
  }
  st[2 * C] = (double)(N * S);
  FT_TRY(ft_bn_sync_allreduce(fn, st, 2 * C + 1));
  const double M = st[2 * C];
#pragma omp parallel for schedule(static) if (par)
  for (int64_t c = 0; c < C; c++)
    FT_K(ch_grad_input)(x, g, gi, w, y, c, sm[c], si[c], sum_g[c], dot[c], M, N, C, S, 1);
  return FT_OK;
}

#endif
