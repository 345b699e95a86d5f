/* nn/pool.c -- average pooling (no padding) and zero channel padding: together they
 * make the CIFAR ResNets' shortcut "A" (avgpool 2x2/2, then new channels set to 0),
 * the "subsample" variant (avgpool 1x1/2) and the global pool before the classifier
 * (kernel = input size). Every (n, c) plane is independent, so OpenMP splits planes.
 * float32/float64 from one source (see nn_common.h). Checked once here for both
 * devices, then ft_cpu_* (here) or ft_cuda_* (core/cuda/nn.cu). */
#ifndef FT_REAL
#include "nn_common.h"
#include <string.h>

#define FT_REAL float
#define FT_K(n) n##_f32
#include "pool.c"
#undef FT_REAL
#undef FT_K
#define FT_REAL double
#define FT_K(n) n##_f64
#include "pool.c"
#undef FT_REAL
#undef FT_K

/* in: [N,C,H,W], out: [N,C,Ho,Wo] with Ho = (H - kH)/sH + 1, Wo = (W - kW)/sW + 1. */
static int pool_check(const char *fn, const ft_tensor *in, const char *in_name,
                      const ft_tensor *out, const char *out_name, int kH, int kW, int sH,
                      int sW) {
  char a[128], b[128];
  FT_TRY(ft_nn_check(fn, in_name, in, NULL));
  FT_TRY(ft_nn_check(fn, out_name, out, in));
  FT_TRY(ft_check_ndim(fn, in_name, in, 4));
  FT_TRY(ft_check_ndim(fn, out_name, out, 4));
  if (kH < 1 || kW < 1 || sH < 1 || sW < 1)
    return ft_fail("%s: kernel and stride must be positive (got kernel %dx%d, stride %dx%d)",
                   fn, kH, kW, sH, sW);
  int64_t H = in->size[2], W = in->size[3];
  if (kH > H || kW > W)
    return ft_fail("%s: kernel %dx%d is larger than the %s plane (%s)", fn, kH, kW, in_name,
                   ft_shape_str(in, a, sizeof a));
  int64_t Ho = (H - kH) / sH + 1, Wo = (W - kW) / sW + 1;
  if (out->size[0] != in->size[0] || out->size[1] != in->size[1] || out->size[2] != Ho ||
      out->size[3] != Wo)
    return ft_fail("%s: %s must be %lldx%lldx%lldx%lld for %s %s, kernel %dx%d, stride %dx%d "
                   "(got %s)", fn, out_name, (long long)in->size[0], (long long)in->size[1],
                   (long long)Ho, (long long)Wo, in_name, ft_shape_str(in, a, sizeof a), kH, kW,
                   sH, sW, ft_shape_str(out, b, sizeof b));
  return FT_OK;
}

int ft_avgpool2d_forward(const ft_tensor *input, ft_tensor *output, int kH, int kW, int sH,
                         int sW) {
  FT_TRY(pool_check("ft_avgpool2d_forward", input, "input", output, "output", kH, kW, sH, sW));
  return FT_DEVICE_CALL(input, avgpool2d_forward, input, output, kH, kW, sH, sW);
}

int ft_cpu_avgpool2d_forward(const ft_tensor *input, ft_tensor *output, int kH, int kW, int sH,
                             int sW) {
  const int64_t *is = input->size, *os = output->size;
  if (input->dtype == FT_FLOAT32)
    avgpool_forward_f32(ft_data(input), ft_data(output), is[0] * is[1], is[2], is[3], os[2],
                        os[3], kH, kW, sH, sW);
  else
    avgpool_forward_f64(ft_data(input), ft_data(output), is[0] * is[1], is[2], is[3], os[2],
                        os[3], kH, kW, sH, sW);
  return FT_OK;
}

/* grad_output: [N,C,Ho,Wo], grad_input: [N,C,H,W] (overwritten). */
int ft_avgpool2d_backward(const ft_tensor *grad_output, ft_tensor *grad_input, int kH, int kW,
                          int sH, int sW) {
  FT_TRY(pool_check("ft_avgpool2d_backward", grad_input, "grad_input", grad_output,
                    "grad_output", kH, kW, sH, sW));
  return FT_DEVICE_CALL(grad_output, avgpool2d_backward, grad_output, grad_input, kH, kW, sH, sW);
}

int ft_cpu_avgpool2d_backward(const ft_tensor *grad_output, ft_tensor *grad_input, int kH, int kW,
                              int sH, int sW) {
  const int64_t *is = grad_input->size, *os = grad_output->size;
  if (grad_input->dtype == FT_FLOAT32)
    avgpool_backward_f32(ft_data(grad_output), ft_data(grad_input), is[0] * is[1], is[2], is[3],
                         os[2], os[3], kH, kW, sH, sW);
  else
    avgpool_backward_f64(ft_data(grad_output), ft_data(grad_input), is[0] * is[1], is[2], is[3],
                         os[2], os[3], kH, kW, sH, sW);
  return FT_OK;
}

/* narrow: [N,Ci,H,W], wide: [N,Co,H,W] with Co >= Ci. */
static int pad_check(const char *fn, const ft_tensor *narrow, const char *nn,
                     const ft_tensor *wide, const char *wn) {
  char a[128], b[128];
  FT_TRY(ft_nn_check(fn, nn, narrow, NULL));
  FT_TRY(ft_nn_check(fn, wn, wide, narrow));
  FT_TRY(ft_check_ndim(fn, nn, narrow, 4));
  FT_TRY(ft_check_ndim(fn, wn, wide, 4));
  if (wide->size[0] != narrow->size[0] || wide->size[2] != narrow->size[2] ||
      wide->size[3] != narrow->size[3] || wide->size[1] < narrow->size[1])
    return ft_fail("%s: %s (%s) must match %s (%s) in N, H, W and have at least as many "
                   "channels", fn, wn, ft_shape_str(wide, a, sizeof a), nn,
                   ft_shape_str(narrow, b, sizeof b));
  return FT_OK;
}

/* Byte copies: the same code serves both dtypes. */
int ft_channel_pad_forward(const ft_tensor *input, ft_tensor *output) {
  FT_TRY(pad_check("ft_channel_pad_forward", input, "input", output, "output"));
  return FT_DEVICE_CALL(input, channel_pad_forward, input, output);
}

int ft_cpu_channel_pad_forward(const ft_tensor *input, ft_tensor *output) {
  const int64_t N = input->size[0], es = ft_dtype_size(input->dtype);
  const int64_t in_b = input->size[1] * input->size[2] * input->size[3] * es;
  const int64_t out_b = output->size[1] * output->size[2] * output->size[3] * es;
  const char *src = ft_data(input);
  char *dst = ft_data(output);
#pragma omp parallel for schedule(static) if (N * out_b > 4 * FT_NN_PAR_MIN)
  for (int64_t n = 0; n < N; n++) {
    memcpy(dst + n * out_b, src + n * in_b, (size_t)in_b);
    memset(dst + n * out_b + in_b, 0, (size_t)(out_b - in_b));
  }
  return FT_OK;
}

/* grad_output: [N,Co,H,W], grad_input: [N,Ci,H,W] = grad_output's first Ci channels. */
int ft_channel_pad_backward(const ft_tensor *grad_output, ft_tensor *grad_input) {
  FT_TRY(pad_check("ft_channel_pad_backward", grad_input, "grad_input", grad_output,
                   "grad_output"));
  return FT_DEVICE_CALL(grad_output, channel_pad_backward, grad_output, grad_input);
}

int ft_cpu_channel_pad_backward(const ft_tensor *grad_output, ft_tensor *grad_input) {
  const int64_t N = grad_input->size[0], es = ft_dtype_size(grad_input->dtype);
  const int64_t in_b = grad_input->size[1] * grad_input->size[2] * grad_input->size[3] * es;
  const int64_t out_b = grad_output->size[1] * grad_output->size[2] * grad_output->size[3] * es;
  const char *src = ft_data(grad_output);
  char *dst = ft_data(grad_input);
#pragma omp parallel for schedule(static) if (N * in_b > 4 * FT_NN_PAR_MIN)
  for (int64_t n = 0; n < N; n++) memcpy(dst + n * in_b, src + n * out_b, (size_t)in_b);
  return FT_OK;
}

#else /* ---- typed kernels ---------------------------------------------------------- */

/* x: [P, H, W] planes, y: [P, Ho, Wo]. */
static void FT_K(avgpool_forward)(const FT_REAL *x, FT_REAL *y, int64_t P, int64_t H, int64_t W,
                                  int64_t Ho, int64_t Wo, int kH, int kW, int sH, int sW) {
  const double inv = 1.0 / ((double)kH * kW); /* kH * kW may not fit an int */
#pragma omp parallel for schedule(static) if (P * H * W > FT_NN_PAR_MIN)
  for (int64_t p = 0; p < P; p++) {
    const FT_REAL *xp = x + p * H * W;
    FT_REAL *yp = y + p * Ho * Wo;
    for (int64_t i = 0; i < Ho; i++)
      for (int64_t j = 0; j < Wo; j++) {
        double s = 0;
        for (int a = 0; a < kH; a++) {
          const FT_REAL *row = xp + (i * sH + a) * W + j * sW;
          for (int b = 0; b < kW; b++) s += row[b];
        }
        yp[i * Wo + j] = (FT_REAL)(s * inv);
      }
  }
}

/* gy: [P, Ho, Wo], gx: [P, H, W] (overwritten; windows may overlap when s < k). */
static void FT_K(avgpool_backward)(const FT_REAL *gy, FT_REAL *gx, int64_t P, int64_t H,
                                   int64_t W, int64_t Ho, int64_t Wo, int kH, int kW, int sH,
                                   int sW) {
  const double inv = 1.0 / ((double)kH * kW); /* kH * kW may not fit an int */
#pragma omp parallel for schedule(static) if (P * H * W > FT_NN_PAR_MIN)
  for (int64_t p = 0; p < P; p++) {
    FT_REAL *gp = gx + p * H * W;
    const FT_REAL *yp = gy + p * Ho * Wo;
    memset(gp, 0, (size_t)(H * W) * sizeof(FT_REAL));
    for (int64_t i = 0; i < Ho; i++)
      for (int64_t j = 0; j < Wo; j++) {
        const FT_REAL v = (FT_REAL)(yp[i * Wo + j] * inv);
        for (int a = 0; a < kH; a++) {
          FT_REAL *row = gp + (i * sH + a) * W + j * sW;
          for (int b = 0; b < kW; b++) row[b] += v;
        }
      }
  }
}

#endif
