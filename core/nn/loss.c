/* nn/loss.c -- classification losses and metrics: log-softmax, negative log-likelihood
 * (with the log-softmax they make the cross-entropy), and the top-k error count.
 * log-softmax subtracts the row maximum before exponentiating, so no score overflows;
 * sums are accumulated in double. Targets are int64 class indices starting at
 * index_base (1 for Torch7-style Lua callers, 0 for C); a target outside the classes
 * is an error that names the label and its position (counted from index_base too).
 * float32/float64 from one source (see nn_common.h). Checked once here for both
 * devices, then ft_cpu_* (here) or ft_cuda_* (core/cuda/nn.cu). The GPU takes targets
 * on the host or on the device; labels on the device are range-checked by the CUDA
 * code with ft_nn_check_labels once it has copied them to the host. */
#ifndef FT_REAL
#include "nn_common.h"
#include <math.h>
#include <string.h>

#define FT_REAL float
#define FT_K(n) n##_f32
#include "loss.c"
#undef FT_REAL
#undef FT_K
#define FT_REAL double
#define FT_K(n) n##_f64
#include "loss.c"
#undef FT_REAL
#undef FT_K

int ft_nn_check_labels(const char *fn, const int64_t *t, int64_t N, int64_t K, int index_base) {
  for (int64_t i = 0; i < N; i++)
    if (t[i] < index_base || t[i] >= index_base + K)
      return ft_fail("%s: target %lld at position %lld is not a class label (labels run "
                     "from %d to %lld)", fn, (long long)t[i], (long long)(i + index_base),
                     index_base, (long long)(index_base + K - 1));
  return FT_OK;
}

/* scores: [N,K] float; target: int64 [N] with every value in index_base .. index_base+K-1,
 * on the CPU (or, for GPU scores, on the GPU: its values are then checked there). */
static int check_scores_target(const char *fn, const ft_tensor *scores, const char *name,
                               const ft_tensor *target, int index_base) {
  char a[128], b[128];
  FT_TRY(ft_nn_check(fn, name, scores, NULL));
  FT_TRY(ft_check_ndim(fn, name, scores, 2));
  if (!ft_on_cuda(scores)) FT_TRY(ft_check_cpu(fn, "target", target));
  FT_TRY(ft_check_dtype(fn, "target", target, FT_INT64));
  FT_TRY(ft_check_contiguous(fn, "target", target));
  const int64_t N = scores->size[0], K = scores->size[1];
  if (target->ndim != 1 || target->size[0] != N)
    return ft_fail("%s: target must be a vector of %lld labels, one per row of %s (%s); got %s",
                   fn, (long long)N, name, ft_shape_str(scores, a, sizeof a),
                   ft_shape_str(target, b, sizeof b));
  if (ft_on_cuda(target)) return FT_OK;
  return ft_nn_check_labels(fn, ft_data(target), N, K, index_base);
}

/* input, output: [N,K] (output may be input). */
int ft_log_softmax_forward(const ft_tensor *input, ft_tensor *output) {
  const char *fn = "ft_log_softmax_forward";
  FT_TRY(ft_nn_check(fn, "input", input, NULL));
  FT_TRY(ft_check_ndim(fn, "input", input, 2));
  FT_TRY(ft_nn_check(fn, "output", output, input));
  FT_TRY(ft_check_same_shape(fn, "input", input, "output", output));
  return FT_DEVICE_CALL(input, log_softmax_forward, input, output);
}

/* output (the forward's), grad_output, grad_input: [N,K]; grad_input may be grad_output. */
int ft_log_softmax_backward(const ft_tensor *output, const ft_tensor *grad_output,
                            ft_tensor *grad_input) {
  const char *fn = "ft_log_softmax_backward";
  FT_TRY(ft_nn_check(fn, "output", output, NULL));
  FT_TRY(ft_check_ndim(fn, "output", output, 2));
  FT_TRY(ft_nn_check(fn, "grad_output", grad_output, output));
  FT_TRY(ft_nn_check(fn, "grad_input", grad_input, output));
  FT_TRY(ft_check_same_shape(fn, "output", output, "grad_output", grad_output));
  FT_TRY(ft_check_same_shape(fn, "output", output, "grad_input", grad_input));
  return FT_DEVICE_CALL(output, log_softmax_backward, output, grad_output, grad_input);
}

/* input: [N,K] log-probabilities, target: int64 [N]; loss = -sum_i input[i, target_i],
 * divided by N when size_average. */
int ft_nll_forward(const ft_tensor *input, const ft_tensor *target, int index_base,
                   int size_average, double *loss) {
  const char *fn = "ft_nll_forward";
  if (!loss) return ft_fail("%s: loss is NULL", fn);
  FT_TRY(check_scores_target(fn, input, "input", target, index_base));
  return FT_DEVICE_CALL(input, nll_forward, input, target, index_base, size_average, loss);
}

/* grad_input: [N,K] (overwritten) = -grad_scale at each target (/N when size_average),
 * 0 elsewhere. input is read only for its shape. */
int ft_nll_backward(const ft_tensor *input, const ft_tensor *target, int index_base,
                    int size_average, double grad_scale, ft_tensor *grad_input) {
  const char *fn = "ft_nll_backward";
  FT_TRY(check_scores_target(fn, input, "input", target, index_base));
  FT_TRY(ft_nn_check(fn, "grad_input", grad_input, input));
  FT_TRY(ft_check_same_shape(fn, "input", input, "grad_input", grad_input));
  return FT_DEVICE_CALL(input, nll_backward, input, target, index_base, size_average, grad_scale,
                        grad_input);
}

/* input: [N,K] scores, target: int64 [N], 1 <= k <= K. A sample is right when fewer than
 * k classes outrank its target; a class outranks it with a higher score, or an equal
 * score and a lower index (a stable descending sort). A NaN target score counts as wrong. */
int ft_topk_errors(const ft_tensor *input, const ft_tensor *target, int index_base, int k,
                   int64_t *errors) {
  const char *fn = "ft_topk_errors";
  if (!errors) return ft_fail("%s: errors is NULL", fn);
  FT_TRY(check_scores_target(fn, input, "input", target, index_base));
  const int64_t K = input->size[1];
  if (k < 1 || k > K)
    return ft_fail("%s: k must be between 1 and the number of classes %lld (got %d)", fn,
                   (long long)K, k);
  return FT_DEVICE_CALL(input, topk_errors, input, target, index_base, k, errors);
}

/* ---- the CPU implementations (arguments checked above) ------------------------------ */
int ft_cpu_log_softmax_forward(const ft_tensor *input, ft_tensor *output) {
  if (input->dtype == FT_FLOAT32)
    log_softmax_forward_f32(ft_data(input), ft_data(output), input->size[0], input->size[1]);
  else log_softmax_forward_f64(ft_data(input), ft_data(output), input->size[0], input->size[1]);
  return FT_OK;
}

int ft_cpu_log_softmax_backward(const ft_tensor *output, const ft_tensor *grad_output,
                                ft_tensor *grad_input) {
  if (output->dtype == FT_FLOAT32)
    log_softmax_backward_f32(ft_data(output), ft_data(grad_output), ft_data(grad_input),
                             output->size[0], output->size[1]);
  else
    log_softmax_backward_f64(ft_data(output), ft_data(grad_output), ft_data(grad_input),
                             output->size[0], output->size[1]);
  return FT_OK;
}

int ft_cpu_nll_forward(const ft_tensor *input, const ft_tensor *target, int index_base,
                       int size_average, double *loss) {
  const int64_t N = input->size[0], K = input->size[1];
  const int64_t *t = ft_data(target);
  double s = 0;
  if (input->dtype == FT_FLOAT32) {
    const float *x = ft_data(input);
    for (int64_t i = 0; i < N; i++) s -= x[i * K + t[i] - index_base];
  } else {
    const double *x = ft_data(input);
    for (int64_t i = 0; i < N; i++) s -= x[i * K + t[i] - index_base];
  }
  *loss = size_average && N > 0 ? s / N : s;
  return FT_OK;
}

int ft_cpu_nll_backward(const ft_tensor *input, const ft_tensor *target, int index_base,
                        int size_average, double grad_scale, ft_tensor *grad_input) {
  const int64_t N = input->size[0], K = input->size[1];
  const int64_t *t = ft_data(target);
  const double g = -grad_scale / (size_average && N > 0 ? (double)N : 1.0);
  memset(ft_data(grad_input), 0, (size_t)(N * K) * ft_dtype_size(input->dtype));
  if (input->dtype == FT_FLOAT32) {
    float *gi = ft_data(grad_input);
    for (int64_t i = 0; i < N; i++) gi[i * K + t[i] - index_base] = (float)g;
  } else {
    double *gi = ft_data(grad_input);
    for (int64_t i = 0; i < N; i++) gi[i * K + t[i] - index_base] = g;
  }
  return FT_OK;
}

int ft_cpu_topk_errors(const ft_tensor *input, const ft_tensor *target, int index_base, int k,
                       int64_t *errors) {
  const int64_t N = input->size[0], K = input->size[1];
  if (input->dtype == FT_FLOAT32)
    *errors = topk_errors_f32(ft_data(input), ft_data(target), index_base, N, K, k);
  else *errors = topk_errors_f64(ft_data(input), ft_data(target), index_base, N, K, k);
  return FT_OK;
}

#else /* ---- typed kernels ---------------------------------------------------------- */

/* x, y: [N, K]; y = x - max - log(sum(exp(x - max))) row by row; y may be x. */
static void FT_K(log_softmax_forward)(const FT_REAL *x, FT_REAL *y, int64_t N, int64_t K) {
#pragma omp parallel for schedule(static) if (N * K > FT_NN_PAR_MIN)
  for (int64_t i = 0; i < N; i++) {
    const FT_REAL *xr = x + i * K;
    FT_REAL *yr = y + i * K;
    double mx = -INFINITY;
    for (int64_t j = 0; j < K; j++) if (xr[j] > mx) mx = xr[j];
    double s = 0;
    for (int64_t j = 0; j < K; j++) s += exp(xr[j] - mx);
    const double shift = mx + log(s);
    for (int64_t j = 0; j < K; j++) yr[j] = (FT_REAL)(xr[j] - shift);
  }
}

/* y, g, gi: [N, K]; gi = g - exp(y) * sum(g), row by row; gi may be g. */
static void FT_K(log_softmax_backward)(const FT_REAL *y, const FT_REAL *g, FT_REAL *gi,
                                       int64_t N, int64_t K) {
#pragma omp parallel for schedule(static) if (N * K > FT_NN_PAR_MIN)
  for (int64_t i = 0; i < N; i++) {
    const FT_REAL *yr = y + i * K, *gr = g + i * K;
    FT_REAL *r = gi + i * K;
    double s = 0;
    for (int64_t j = 0; j < K; j++) s += gr[j];
    for (int64_t j = 0; j < K; j++) r[j] = (FT_REAL)(gr[j] - exp((double)yr[j]) * s);
  }
}

/* x: [N, K], t: [N] (range already checked). */
static int64_t FT_K(topk_errors)(const FT_REAL *x, const int64_t *t, int base, int64_t N,
                                 int64_t K, int k) {
  int64_t errors = 0;
  for (int64_t i = 0; i < N; i++) {
    const FT_REAL *xr = x + i * K;
    const int64_t c = t[i] - base;
    const FT_REAL v = xr[c];
    int64_t rank = 0;
    if (v != v) { errors++; continue; } /* a NaN score is never right */
    for (int64_t j = 0; j < K; j++) rank += xr[j] > v || (xr[j] == v && j < c);
    errors += rank >= k;
  }
  return errors;
}

#endif
