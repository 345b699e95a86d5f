/* nn/linear.c -- the fully connected layer y = x W^T + b. The three products go to
 * OpenBLAS through ft_gemm (never from inside an OpenMP region); only the bias
 * broadcast and the bias gradient are our own loops. Parameter gradients accumulate
 * scale * gradient, as Torch7's accGradParameters. float32/float64 from one source
 * (see nn_common.h). The entry points check once for both devices, then run
 * ft_cpu_linear_* (here) or ft_cuda_linear_* (core/cuda/blas.cu). */
#ifndef FT_REAL
#include "nn_common.h"

#define FT_REAL float
#define FT_K(n) n##_f32
#include "linear.c"
#undef FT_REAL
#undef FT_K
#define FT_REAL double
#define FT_K(n) n##_f64
#include "linear.c"
#undef FT_REAL
#undef FT_K

/* t must be 2-D rows x cols. */
static int check_mat(const char *fn, const char *name, const ft_tensor *t, const ft_tensor *ref,
                     int64_t rows, int64_t cols) {
  char buf[128];
  FT_TRY(ft_nn_check(fn, name, t, ref));
  if (t->ndim != 2 || t->size[0] != rows || t->size[1] != cols)
    return ft_fail("%s: %s must be %lldx%lld (got %s)", fn, name, (long long)rows,
                   (long long)cols, ft_shape_str(t, buf, sizeof buf));
  return FT_OK;
}

/* input: [N,in], output: [N,out], weight: [out,in], bias: [out] or NULL. */
int ft_linear_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                      const ft_tensor *bias) {
  const char *fn = "ft_linear_forward";
  FT_TRY(ft_nn_check(fn, "input", input, NULL));
  FT_TRY(ft_check_ndim(fn, "input", input, 2));
  FT_TRY(ft_nn_check(fn, "weight", weight, input));
  FT_TRY(ft_check_ndim(fn, "weight", weight, 2));
  const int64_t N = input->size[0], in = input->size[1], out = weight->size[0];
  FT_TRY(check_mat(fn, "weight", weight, input, out, in));
  FT_TRY(check_mat(fn, "output", output, input, N, out));
  if (bias) FT_TRY(ft_nn_check_vec(fn, "bias", bias, input, out));
  return FT_DEVICE_CALL(input, linear_forward, input, output, weight, bias);
}

/* grad_output: [N,out], grad_input: [N,in] (overwritten), weight: [out,in]. */
int ft_linear_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                             const ft_tensor *weight) {
  const char *fn = "ft_linear_backward_input";
  FT_TRY(ft_nn_check(fn, "grad_output", grad_output, NULL));
  FT_TRY(ft_check_ndim(fn, "grad_output", grad_output, 2));
  FT_TRY(ft_nn_check(fn, "weight", weight, grad_output));
  FT_TRY(ft_check_ndim(fn, "weight", weight, 2));
  const int64_t N = grad_output->size[0], out = grad_output->size[1], in = weight->size[1];
  FT_TRY(check_mat(fn, "weight", weight, grad_output, out, in));
  FT_TRY(check_mat(fn, "grad_input", grad_input, grad_output, N, in));
  return FT_DEVICE_CALL(grad_output, linear_backward_input, grad_output, grad_input, weight);
}

/* input: [N,in], grad_output: [N,out]; grad_weight: [out,in] += scale * grad_output^T
 * input; grad_bias: [out] += scale * column sums of grad_output (NULL: skipped). */
int ft_linear_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                              ft_tensor *grad_weight, ft_tensor *grad_bias, double scale) {
  const char *fn = "ft_linear_backward_weight";
  FT_TRY(ft_nn_check(fn, "input", input, NULL));
  FT_TRY(ft_check_ndim(fn, "input", input, 2));
  FT_TRY(ft_nn_check(fn, "grad_output", grad_output, input));
  FT_TRY(ft_check_ndim(fn, "grad_output", grad_output, 2));
  const int64_t N = input->size[0], in = input->size[1], out = grad_output->size[1];
  FT_TRY(check_mat(fn, "grad_output", grad_output, input, N, out));
  if (grad_weight) FT_TRY(check_mat(fn, "grad_weight", grad_weight, input, out, in));
  if (grad_bias) {
    FT_TRY(ft_nn_check_vec(fn, "grad_bias", grad_bias, input, out));
    FT_TRY(ft_check_disjoint(fn, "grad_bias", grad_bias, "grad_weight", grad_weight));
    FT_TRY(ft_check_disjoint(fn, "grad_bias", grad_bias, "grad_output", grad_output));
  }
  return FT_DEVICE_CALL(input, linear_backward_weight, input, grad_output, grad_weight, grad_bias,
                        scale);
}

/* ---- the CPU implementations (arguments checked above; the products go through
 * ft_gemm, the tensor layer's checked BLAS call) -------------------------------------- */
int ft_cpu_linear_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                          const ft_tensor *bias) {
  const int64_t N = input->size[0], out = weight->size[0];
  /* output = bias broadcast over rows (or 0), then output += input W^T */
  if (input->dtype == FT_FLOAT32) linear_fill_bias_f32(ft_data(output), bias ? ft_data(bias) : NULL, N, out);
  else linear_fill_bias_f64(ft_data(output), bias ? ft_data(bias) : NULL, N, out);
  return ft_gemm(output, input, weight, 0, 1, 1.0, 1.0);
}

int ft_cpu_linear_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                                 const ft_tensor *weight) {
  return ft_gemm(grad_input, grad_output, weight, 0, 0, 1.0, 0.0);
}

int ft_cpu_linear_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                                  ft_tensor *grad_weight, ft_tensor *grad_bias, double scale) {
  const int64_t N = input->size[0], out = grad_output->size[1];
  if (grad_bias) {
    if (input->dtype == FT_FLOAT32) linear_grad_bias_f32(ft_data(grad_output), ft_data(grad_bias), N, out, scale);
    else linear_grad_bias_f64(ft_data(grad_output), ft_data(grad_bias), N, out, scale);
  }
  if (grad_weight) return ft_gemm(grad_weight, grad_output, input, 1, 0, scale, 1.0);
  return FT_OK;
}

#else /* ---- typed kernels ---------------------------------------------------------- */

/* y: [N, K] rows set to b: [K] (zeros when b is NULL). */
static void FT_K(linear_fill_bias)(FT_REAL *y, const FT_REAL *b, int64_t N, int64_t K) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) y[n * K + k] = b ? b[k] : 0;
}

/* g: [N, K]; gb: [K] += scale * sum over rows, accumulated in double. */
static void FT_K(linear_grad_bias)(const FT_REAL *g, FT_REAL *gb, int64_t N, int64_t K,
                                   double scale) {
  for (int64_t k = 0; k < K; k++) {
    double s = 0;
    for (int64_t n = 0; n < N; n++) s += g[n * K + k];
    gb[k] = (FT_REAL)(gb[k] + scale * s);
  }
}

#endif
