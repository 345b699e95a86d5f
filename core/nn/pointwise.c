/* nn/pointwise.c -- element-wise activations for the nn modules: ReLU.
 * Forward may run in place (output == input) and backward may overwrite grad_output:
 * the backward mask is `output > 0`, which stays valid after an in-place forward,
 * so nn.ReLU(true) keeps no copy of its input. float32/float64 from one source
 * (see nn_common.h). Checked once here for both devices, then ft_cpu_relu_* (here) or
 * ft_cuda_relu_* (core/cuda/nn.cu). */
#ifndef FT_REAL
#include "nn_common.h"

#define FT_REAL float
#define FT_K(n) n##_f32
#include "pointwise.c"
#undef FT_REAL
#undef FT_K
#define FT_REAL double
#define FT_K(n) n##_f64
#include "pointwise.c"
#undef FT_REAL
#undef FT_K

/* input, output: same sizes, any ndim, contiguous. */
int ft_relu_forward(const ft_tensor *input, ft_tensor *output) {
  const char *fn = "ft_relu_forward";
  FT_TRY(ft_nn_check(fn, "input", input, NULL));
  FT_TRY(ft_nn_check(fn, "output", output, input));
  FT_TRY(ft_check_same_shape(fn, "input", input, "output", output));
  return FT_DEVICE_CALL(input, relu_forward, input, output);
}

int ft_cpu_relu_forward(const ft_tensor *input, ft_tensor *output) {
  int64_t n = ft_numel(input);
  if (input->dtype == FT_FLOAT32) relu_forward_f32(ft_data(input), ft_data(output), n);
  else relu_forward_f64(ft_data(input), ft_data(output), n);
  return FT_OK;
}

/* output, grad_output, grad_input: same sizes, contiguous; grad_input may be grad_output. */
int ft_relu_backward(const ft_tensor *output, const ft_tensor *grad_output,
                     ft_tensor *grad_input) {
  const char *fn = "ft_relu_backward";
  FT_TRY(ft_nn_check(fn, "output", output, NULL));
  FT_TRY(ft_nn_check(fn, "grad_output", grad_output, output));
  FT_TRY(ft_nn_check(fn, "grad_input", grad_input, output));
  FT_TRY(ft_check_same_shape(fn, "output", output, "grad_output", grad_output));
  FT_TRY(ft_check_same_shape(fn, "output", output, "grad_input", grad_input));
  return FT_DEVICE_CALL(output, relu_backward, output, grad_output, grad_input);
}

int ft_cpu_relu_backward(const ft_tensor *output, const ft_tensor *grad_output,
                         ft_tensor *grad_input) {
  int64_t n = ft_numel(output);
  if (output->dtype == FT_FLOAT32)
    relu_backward_f32(ft_data(output), ft_data(grad_output), ft_data(grad_input), n);
  else relu_backward_f64(ft_data(output), ft_data(grad_output), ft_data(grad_input), n);
  return FT_OK;
}

#else /* ---- typed kernels ---------------------------------------------------------- */

/* x, y: [n]; y may be x. NaN maps to 0, as Torch7's threshold (x > 0 ? x : 0). */
static void FT_K(relu_forward)(const FT_REAL *x, FT_REAL *y, int64_t n) {
#pragma omp parallel for simd if (n > FT_NN_PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

/* y, g, gi: [n]; gi may be g. */
static void FT_K(relu_backward)(const FT_REAL *y, const FT_REAL *g, FT_REAL *gi, int64_t n) {
#pragma omp parallel for simd if (n > FT_NN_PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) gi[i] = y[i] > 0 ? g[i] : 0;
}

#endif
