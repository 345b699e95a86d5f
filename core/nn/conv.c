/* nn/conv.c -- 2-D convolution (Torch7's SpatialConvolution): argument checks, the
 * dispatch between the two implementations, and the general one.
 *
 * Fast paths, float32 with AVX-512: Winograd F(2x2,3x3) (core/nn/conv_winograd.c) for
 * 3x3 stride 1 pad 1 where it measured faster (see use_winograd below); otherwise the
 * direct kernels (core/nn/conv_direct.c): stride 1 and "same width" padding (3x3 pad 1,
 * 1x1 pad 0), and strides > 1 with "same"-style padding (ResNet's stride-2
 * convolutions) for forward and backward-input; any stride for backward-weight.
 * General path (here): im2col + one GEMM per image, for float64 and every other
 * shape. Images are split over the OpenMP threads, each calling OpenBLAS with ONE
 * thread (set before the parallel region, restored after), so BLAS and OpenMP never
 * oversubscribe the cores. Zero padding; any kernel size, stride and padding.
 * Parameter gradients accumulate scale * gradient; input gradients are overwritten.
 * float32/float64 from one source (see core/nn/nn_common.h). The entry points check
 * once for both devices, then run ft_cpu_conv2d_* (here) or ft_cuda_conv2d_*
 * (core/cuda/conv.cu, cuDNN).
 */
#ifndef FT_REAL
#include "nn_common.h"
#include <cblas.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

/* core/nn/conv_direct.c (float32, AVX-512; arguments already checked here).
 * available: 1 when the library was compiled with AVX-512.
 * forward: in [N, Ci, Hin, W] -> out [N, Co, Hout, W] (stride 1, width kept), weight
 *   [Co, Ci, kH, kW], or with flip = 1 weight [Ci, Co, kH, kW] read mirrored (that is
 *   backward-input: in = grad_output, out = grad_input, pads kH-1-pad_h, kW-1-pad_w).
 * backward_weight: gw [Co, Ci, kH, kW] += scale * dW from in [N, Ci, H, W] and
 *   gout [N, Co, Ho, Wo], any stride and padding. */
int ft_conv_direct_available(void);
int ft_conv_direct_forward(const float *in, float *out, const float *weight, const float *bias,
                           int64_t N, int Ci, int Co, int Hin, int Hout, int W, int kH, int kW,
                           int pad_h, int pad_w, int flip);
int ft_conv_direct_backward_weight(const float *in, const float *gout, float *gw, double scale,
                                   int64_t N, int Ci, int Co, int H, int W, int Ho, int Wo, int kH,
                                   int kW, int sh, int sw, int ph, int pw);
/* forward_strided / backward_input_strided: any stride, padding and kernel with
 * sw*Wo >= W and sh*Ho >= H (see direct_strided below), through the input's stride phases. */
int ft_conv_direct_forward_strided(const float *in, float *out, const float *weight, const float *bias,
                                   int64_t N, int Ci, int Co, int H, int W, int Ho, int Wo, int kH,
                                   int kW, int sh, int sw, int ph, int pw);
int ft_conv_direct_backward_input_strided(const float *gout, float *gin, const float *weight,
                                          int64_t N, int Ci, int Co, int H, int W, int Ho, int Wo,
                                          int kH, int kW, int sh, int sw, int ph, int pw);
/* core/nn/conv_winograd.c (float32, AVX-512): 3x3 stride 1 pad 1, in [N, C, H, W] ->
 * out [N, K, H, W], weight [K, C, 3, 3], or with flip = 1 [C, K, 3, 3] read mirrored
 * (backward-input, as for ft_conv_direct_forward); tile 2: F(2x2,3x3), any plane;
 * tile 4: F(4x4,3x3), only where tile4_fits (planes 32 or 16 wide, or 8x8 in batches
 * of a multiple of 4). */
int ft_conv_winograd_available(void);
int ft_conv_winograd_tile4_fits(int64_t N, int H, int W);
int ft_conv_winograd_forward(const float *in, float *out, const float *weight, const float *bias,
                             int64_t N, int C, int K, int H, int W, int flip, int tile);
/* backward_weight: gw [K, C, 3, 3] += scale * dW from in [N, C, H, W] and gout [N, K, H, W];
 * only where backward_weight_fits (planes 8, 16 or 32 wide, H even). */
int ft_conv_winograd_backward_weight(const float *in, const float *gout, float *gw, double scale,
                                     int64_t N, int C, int K, int H, int W, int tile);
int ft_conv_winograd_backward_weight_fits(int64_t N, int C, int K, int H, int W);

/* The geometry of one call, checked. */
typedef struct {
  int64_t N, Ci, H, W, Co, kH, kW, Ho, Wo;
  int sh, sw, ph, pw;
} conv_geom;

static int conv_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

static int conv_thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

#define FT_REAL float
#define FT_K(n) n##_f32
#define FT_GEMM cblas_sgemm
#include "conv.c"
#undef FT_REAL
#undef FT_K
#undef FT_GEMM
#define FT_REAL double
#define FT_K(n) n##_f64
#define FT_GEMM cblas_dgemm
#include "conv.c"
#undef FT_REAL
#undef FT_K
#undef FT_GEMM

static int64_t out_size(int64_t in, int64_t k, int s, int p) {
  return in + 2 * (int64_t)p < k ? 0 : (in + 2 * (int64_t)p - k) / s + 1;
}

/* The geometry of x [N, Ci, H, W] through w [Co, Ci, kH, kW] (no checks). */
static void conv_geom_of(const ft_tensor *x, const ft_tensor *w, int sh, int sw, int ph, int pw,
                         conv_geom *g) {
  g->N = x->size[0]; g->Ci = x->size[1]; g->H = x->size[2]; g->W = x->size[3];
  g->Co = w->size[0]; g->kH = w->size[2]; g->kW = w->size[3];
  g->sh = sh; g->sw = sw; g->ph = ph; g->pw = pw;
  g->Ho = out_size(g->H, g->kH, sh, ph);
  g->Wo = out_size(g->W, g->kW, sw, pw);
}

/* Checks shared by the three entry points: x is input (or grad_input), y output (or
 * grad_output), w the weight [Co, Ci, kH, kW]; fills g. Names say which is which. The
 * limits are both devices': cuDNN takes 32-bit dimensions, and BLAS and the CPU kernels
 * index one image's matrices with int. */
static int check_conv(const char *fn, const char *xn, const ft_tensor *x, const char *yn,
                      const ft_tensor *y, const char *wn, const ft_tensor *w, int sh, int sw,
                      int ph, int pw, conv_geom *g) {
  char bx[128], by[128];
  FT_TRY(ft_nn_check(fn, xn, x, NULL));
  FT_TRY(ft_check_ndim(fn, xn, x, 4));
  FT_TRY(ft_nn_check(fn, wn, w, x));
  FT_TRY(ft_check_ndim(fn, wn, w, 4));
  FT_TRY(ft_nn_check(fn, yn, y, x));
  FT_TRY(ft_check_ndim(fn, yn, y, 4));
  if (sh < 1 || sw < 1)
    return ft_fail("%s: strides must be >= 1 (got stride_h %d, stride_w %d)", fn, sh, sw);
  if (ph < 0 || pw < 0)
    return ft_fail("%s: paddings must be >= 0 (got pad_h %d, pad_w %d)", fn, ph, pw);
  for (int d = 0; d < 4; d++)
    if (x->size[d] < 1 || w->size[d] < 1)
      return ft_fail("%s: %s (%s) and %s (%s) must not be empty", fn, xn,
                     ft_shape_str(x, bx, sizeof bx), wn, ft_shape_str(w, by, sizeof by));
  if (w->size[1] != x->size[1])
    return ft_fail("%s: %s has %lld input planes but %s is %s (%s is [N, Ci, H, W])", fn, wn,
                   (long long)w->size[1], xn, ft_shape_str(x, bx, sizeof bx), xn);
  /* The kernels index the padded plane and step by the stride in int. */
  if (x->size[2] + 2 * (int64_t)ph + sh > INT_MAX || x->size[3] + 2 * (int64_t)pw + sw > INT_MAX)
    return ft_fail("%s: %s (%s) with pad %d,%d and stride %d,%d is beyond 32-bit geometry", fn, xn,
                   ft_shape_str(x, bx, sizeof bx), ph, pw, sh, sw);
  conv_geom_of(x, w, sh, sw, ph, pw, g);
  if (g->Ho < 1 || g->Wo < 1)
    return ft_fail("%s: kernel %lldx%lld is larger than the padded %s (%s, pad %d,%d)", fn,
                   (long long)g->kH, (long long)g->kW, xn, ft_shape_str(x, bx, sizeof bx), ph, pw);
  if (y->size[0] != g->N || y->size[1] != g->Co || y->size[2] != g->Ho || y->size[3] != g->Wo)
    return ft_fail("%s: %s must be %lldx%lldx%lldx%lld (got %s)", fn, yn, (long long)g->N,
                   (long long)g->Co, (long long)g->Ho, (long long)g->Wo,
                   ft_shape_str(y, by, sizeof by));
  FT_TRY(ft_conv2d_check_limits(fn, w, g->N, g->H, g->W, g->Ho, g->Wo));
  FT_TRY(ft_check_disjoint(fn, xn, x, yn, y));
  FT_TRY(ft_check_disjoint(fn, xn, x, wn, w));
  return ft_check_disjoint(fn, yn, y, wn, w);
}

int ft_conv2d_check_limits(const char *fn, const ft_tensor *w, int64_t N, int64_t H, int64_t W,
                           int64_t Ho, int64_t Wo) {
  char bw[128];
  const int64_t Co = w->size[0], Ci = w->size[1];
  int64_t K, P, KP, CoK, CiHW, CoP; /* every product checked: the sizes are the caller's */
  if (N > INT_MAX || ft_mul_ovf(Ci, w->size[2], &K) || ft_mul_ovf(K, w->size[3], &K) ||
      ft_mul_ovf(Ho, Wo, &P) || ft_mul_ovf(K, P, &KP) || KP > INT_MAX ||
      ft_mul_ovf(Co, K, &CoK) || CoK > INT_MAX || ft_mul_ovf(Ci, H, &CiHW) ||
      ft_mul_ovf(CiHW, W, &CiHW) || CiHW > INT_MAX || ft_mul_ovf(Co, P, &CoP) || CoP > INT_MAX)
    return ft_fail("%s: one image is too large (%lld planes of %lldx%lld, weight %s)", fn,
                   (long long)Ci, (long long)H, (long long)W, ft_shape_str(w, bw, sizeof bw));
  return FT_OK;
}

/* ---- which implementation serves which shape (float32) --------------------------
 * The direct kernels apply to stride 1 with the output as wide as the input, and to
 * strides > 1 whose output covers the input (s*Wo >= W, s*Ho >= H: every "same"-style
 * padding, e.g. ResNet's 3x3 pad 1 stride 2), through the stride phases. */
static int direct_same_width(const conv_geom *g) {
  return ft_conv_direct_available() && g->sh == 1 && g->sw == 1 && g->Wo == g->W;
}
/* sh*sw phase planes: only small strides (a stride past the kernel's has phases no tap
 * reads; the callers that bypass check_conv, the residual blocks, pass any stride). */
static int direct_strided(const conv_geom *g) {
  return ft_conv_direct_available() && (g->sh > 1 || g->sw > 1) && g->sh <= 8 && g->sw <= 8 &&
         g->sw * g->Wo >= g->W && g->sh * g->Ho >= g->H;
}

/* 3x3 stride 1 pad 1 (ResNet's stage convolutions) may instead run Winograd.
 * FATHOM_CONV (read at the first convolution) or ft_conv_set_algorithm chooses:
 * "direct" never, "winograd" F(2x2,3x3) always, "winograd4" F(4x4,3x3) wherever its
 * kernel runs (else F(2x2,3x3)), "auto" (default) where each measured faster than the
 * other choices on AMD EPYC Zen 4, one thread (BENCHMARKS.md, "Winograd"). */
enum { CONV_AUTO, CONV_DIRECT, CONV_WINOGRAD, CONV_WINOGRAD4 };
static const char *const conv_mode_names[] = { "auto", "direct", "winograd", "winograd4" };
static int conv_mode = -1; /* -1: FATHOM_CONV not read yet */

static int conv_mode_of(const char *name) {
  for (int m = 0; m < 4; m++)
    if (name && strcmp(name, conv_mode_names[m]) == 0) return m;
  return -1;
}

int ft_conv_set_algorithm(const char *name) {
  int m = conv_mode_of(name);
  if (m < 0)
    return ft_fail("ft_conv_set_algorithm: algorithm must be \"auto\", \"direct\", \"winograd\" "
                   "or \"winograd4\" (got %s%s%s)", name ? "\"" : "", name ? name : "NULL", name ? "\"" : "");
  conv_mode = m;
  return FT_OK;
}

const char *ft_conv_algorithm(void) {
  if (conv_mode < 0) {
    const char *e = getenv("FATHOM_CONV");
    int m = conv_mode_of(e);
    conv_mode = m < 0 ? CONV_AUTO : m; /* unset or unknown: auto */
  }
  return conv_mode_names[conv_mode];
}

static int winograd_fits(const conv_geom *g) {
  return ft_conv_winograd_available() && g->kH == 3 && g->kW == 3 && g->sh == 1 && g->sw == 1 &&
         g->ph == 1 && g->pw == 1;
}
/* The Winograd tile for forward or backward-input, 0 for none. in_c, out_c: channels in
 * and out of the convolution as run (backward-input swaps them). */
static int winograd_tile(const conv_geom *g, int64_t in_c, int64_t out_c) {
  if (!winograd_fits(g)) return 0;
  ft_conv_algorithm();
  const int t4 = ft_conv_winograd_tile4_fits(g->N, (int)g->H, (int)g->W) ? 4 : 2;
  if (conv_mode == CONV_DIRECT) return 0;
  if (conv_mode == CONV_WINOGRAD) return 2;
  if (conv_mode == CONV_WINOGRAD4) return t4;
  /* auto: fewer than 16 channels on either side (the stem, 3->16, and its backward-input)
   * or planes narrower than 8 spend more in the transforms than the products save. */
  return in_c >= 16 && out_c >= 16 && g->W >= 8 ? t4 : 0;
}
/* Backward-weight: the Winograd tile, 0 for the direct kernel. Its output-gradient
 * transform also transposes (16 channels x 16 tiles at a time), a cost that weighs most
 * with few channels: F(2x2,3x3) only from 32 channels (with 16, at 32x32, it measured
 * level with direct); F(4x4,3x3) transposes 2.25 values per output instead of 4. */
static int winograd_weight_tile(const conv_geom *g) {
  if (!winograd_fits(g)) return 0;
  ft_conv_algorithm();
  const int f2 = ft_conv_winograd_backward_weight_fits(g->N, (int)g->Ci, (int)g->Co, (int)g->H, (int)g->W);
  const int f4 = ft_conv_winograd_tile4_fits(g->N, (int)g->H, (int)g->W);
  if (conv_mode == CONV_DIRECT) return 0;
  if (conv_mode == CONV_WINOGRAD) return f2 ? 2 : 0;
  if (conv_mode == CONV_WINOGRAD4) return f4 ? 4 : f2 ? 2 : 0;
  if (f4 && g->Ci >= 16 && g->Co >= 16) return 4;
  return f2 && g->Ci >= 32 && g->Co >= 32 && g->W >= 8 ? 2 : 0;
}
/* ---- end of the implementation choice ------------------------------------------- */

int ft_conv2d_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                      const ft_tensor *bias, int stride_h, int stride_w, int pad_h, int pad_w) {
  const char *fn = "ft_conv2d_forward";
  conv_geom g;
  FT_TRY(check_conv(fn, "input", input, "output", output, "weight", weight, stride_h, stride_w,
                    pad_h, pad_w, &g));
  if (bias) {
    FT_TRY(ft_nn_check_vec(fn, "bias", bias, input, g.Co));
    FT_TRY(ft_check_disjoint(fn, "bias", bias, "output", output));
  }
  return FT_DEVICE_CALL(input, conv2d_forward, input, output, weight, bias, stride_h, stride_w,
                        pad_h, pad_w);
}

int ft_conv2d_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                             const ft_tensor *weight, int stride_h, int stride_w, int pad_h,
                             int pad_w) {
  const char *fn = "ft_conv2d_backward_input";
  conv_geom g;
  FT_TRY(check_conv(fn, "grad_input", grad_input, "grad_output", grad_output, "weight", weight,
                    stride_h, stride_w, pad_h, pad_w, &g));
  return FT_DEVICE_CALL(grad_output, conv2d_backward_input, grad_output, grad_input, weight,
                        stride_h, stride_w, pad_h, pad_w);
}

int ft_conv2d_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                              ft_tensor *grad_weight, ft_tensor *grad_bias, int stride_h,
                              int stride_w, int pad_h, int pad_w, double scale) {
  const char *fn = "ft_conv2d_backward_weight";
  conv_geom g;
  FT_TRY(check_conv(fn, "input", input, "grad_output", grad_output, "grad_weight", grad_weight,
                    stride_h, stride_w, pad_h, pad_w, &g));
  if (grad_bias) {
    FT_TRY(ft_nn_check_vec(fn, "grad_bias", grad_bias, input, g.Co));
    FT_TRY(ft_check_disjoint(fn, "grad_bias", grad_bias, "grad_weight", grad_weight));
    FT_TRY(ft_check_disjoint(fn, "grad_bias", grad_bias, "input", input));
    FT_TRY(ft_check_disjoint(fn, "grad_bias", grad_bias, "grad_output", grad_output));
  }
  return FT_DEVICE_CALL(input, conv2d_backward_weight, input, grad_output, grad_weight, grad_bias,
                        stride_h, stride_w, pad_h, pad_w, scale);
}

/* ---- the CPU implementations (arguments checked above) ------------------------------ */
int ft_cpu_conv2d_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                          const ft_tensor *bias, int stride_h, int stride_w, int pad_h, int pad_w) {
  conv_geom g;
  conv_geom_of(input, weight, stride_h, stride_w, pad_h, pad_w, &g);
  const int tile = input->dtype == FT_FLOAT32 ? winograd_tile(&g, g.Ci, g.Co) : 0;
  if (tile)
    return ft_conv_winograd_forward(ft_data(input), ft_data(output), ft_data(weight),
                                    bias ? ft_data(bias) : NULL, g.N, (int)g.Ci, (int)g.Co,
                                    (int)g.H, (int)g.W, 0, tile);
  if (input->dtype == FT_FLOAT32 && direct_same_width(&g))
    return ft_conv_direct_forward(ft_data(input), ft_data(output), ft_data(weight),
                                  bias ? ft_data(bias) : NULL, g.N, (int)g.Ci, (int)g.Co,
                                  (int)g.H, (int)g.Ho, (int)g.W, (int)g.kH, (int)g.kW, pad_h, pad_w, 0);
  if (input->dtype == FT_FLOAT32 && direct_strided(&g))
    return ft_conv_direct_forward_strided(ft_data(input), ft_data(output), ft_data(weight),
                                          bias ? ft_data(bias) : NULL, g.N, (int)g.Ci, (int)g.Co,
                                          (int)g.H, (int)g.W, (int)g.Ho, (int)g.Wo, (int)g.kH,
                                          (int)g.kW, stride_h, stride_w, pad_h, pad_w);
  if (input->dtype == FT_FLOAT32)
    return conv_forward_f32(ft_data(input), ft_data(output), ft_data(weight),
                            bias ? ft_data(bias) : NULL, &g);
  return conv_forward_f64(ft_data(input), ft_data(output), ft_data(weight),
                          bias ? ft_data(bias) : NULL, &g);
}

int ft_cpu_conv2d_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                                 const ft_tensor *weight, int stride_h, int stride_w, int pad_h,
                                 int pad_w) {
  conv_geom g;
  conv_geom_of(grad_input, weight, stride_h, stride_w, pad_h, pad_w, &g);
  /* Stride 1: grad_input is grad_output convolved with the flipped kernel, padded by
   * k-1-pad (the same width again when 2*pad_w = kW-1). */
  const int tile = grad_output->dtype == FT_FLOAT32 ? winograd_tile(&g, g.Co, g.Ci) : 0;
  if (tile)
    return ft_conv_winograd_forward(ft_data(grad_output), ft_data(grad_input), ft_data(weight),
                                    NULL, g.N, (int)g.Co, (int)g.Ci, (int)g.H, (int)g.W, 1, tile);
  if (grad_output->dtype == FT_FLOAT32 && direct_same_width(&g) && g.kH - 1 - pad_h >= 0)
    return ft_conv_direct_forward(ft_data(grad_output), ft_data(grad_input), ft_data(weight), NULL,
                                  g.N, (int)g.Co, (int)g.Ci, (int)g.Ho, (int)g.H, (int)g.W,
                                  (int)g.kH, (int)g.kW, (int)g.kH - 1 - pad_h,
                                  (int)g.kW - 1 - pad_w, 1);
  if (grad_output->dtype == FT_FLOAT32 && direct_strided(&g))
    return ft_conv_direct_backward_input_strided(ft_data(grad_output), ft_data(grad_input),
                                                 ft_data(weight), g.N, (int)g.Ci, (int)g.Co, (int)g.H,
                                                 (int)g.W, (int)g.Ho, (int)g.Wo, (int)g.kH, (int)g.kW,
                                                 stride_h, stride_w, pad_h, pad_w);
  if (grad_output->dtype == FT_FLOAT32)
    return conv_backward_input_f32(ft_data(grad_output), ft_data(grad_input), ft_data(weight), &g);
  return conv_backward_input_f64(ft_data(grad_output), ft_data(grad_input), ft_data(weight), &g);
}

int ft_cpu_conv2d_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                                  ft_tensor *grad_weight, ft_tensor *grad_bias, int stride_h,
                                  int stride_w, int pad_h, int pad_w, double scale) {
  conv_geom g;
  conv_geom_of(input, grad_weight, stride_h, stride_w, pad_h, pad_w, &g);
  if (input->dtype == FT_FLOAT32) {
    if (grad_bias) conv_backward_bias_f32(ft_data(grad_output), ft_data(grad_bias), &g, scale);
    const int tile = winograd_weight_tile(&g);
    if (tile)
      return ft_conv_winograd_backward_weight(ft_data(input), ft_data(grad_output), ft_data(grad_weight),
                                              scale, g.N, (int)g.Ci, (int)g.Co, (int)g.H, (int)g.W, tile);
    if (ft_conv_direct_available())
      return ft_conv_direct_backward_weight(ft_data(input), ft_data(grad_output),
                                            ft_data(grad_weight), scale, g.N, (int)g.Ci, (int)g.Co,
                                            (int)g.H, (int)g.W, (int)g.Ho, (int)g.Wo, (int)g.kH,
                                            (int)g.kW, stride_h, stride_w, pad_h, pad_w);
    return conv_backward_weight_f32(ft_data(input), ft_data(grad_output), ft_data(grad_weight), &g, scale);
  }
  if (grad_bias) conv_backward_bias_f64(ft_data(grad_output), ft_data(grad_bias), &g, scale);
  return conv_backward_weight_f64(ft_data(input), ft_data(grad_output), ft_data(grad_weight), &g, scale);
}

#else /* ---- typed general path: FT_REAL is float or double ---------------------- */

/* col [Ci*kH*kW, Ho*Wo] = the input patches of one image x [Ci, H, W]. */
static void FT_K(im2col)(const FT_REAL *x, FT_REAL *col, const conv_geom *g) {
  const int64_t P = g->Ho * g->Wo;
  for (int64_t ci = 0; ci < g->Ci; ci++)
    for (int64_t kh = 0; kh < g->kH; kh++)
      for (int64_t kw = 0; kw < g->kW; kw++) {
        FT_REAL *c = col + ((ci * g->kH + kh) * g->kW + kw) * P;
        const FT_REAL *xc = x + ci * g->H * g->W;
        for (int64_t oh = 0; oh < g->Ho; oh++) {
          int64_t ih = oh * g->sh - g->ph + kh;
          FT_REAL *cr = c + oh * g->Wo;
          if (ih < 0 || ih >= g->H) { for (int64_t ow = 0; ow < g->Wo; ow++) cr[ow] = 0; continue; }
          const FT_REAL *xr = xc + ih * g->W;
          for (int64_t ow = 0; ow < g->Wo; ow++) {
            int64_t iw = ow * g->sw - g->pw + kw;
            cr[ow] = iw >= 0 && iw < g->W ? xr[iw] : 0;
          }
        }
      }
}

/* x [Ci, H, W] = the patches col [Ci*kH*kW, Ho*Wo] summed back in place (x zeroed first). */
static void FT_K(col2im)(const FT_REAL *col, FT_REAL *x, const conv_geom *g) {
  const int64_t P = g->Ho * g->Wo;
  memset(x, 0, sizeof(FT_REAL) * (size_t)(g->Ci * g->H * g->W));
  for (int64_t ci = 0; ci < g->Ci; ci++)
    for (int64_t kh = 0; kh < g->kH; kh++)
      for (int64_t kw = 0; kw < g->kW; kw++) {
        const FT_REAL *c = col + ((ci * g->kH + kh) * g->kW + kw) * P;
        FT_REAL *xc = x + ci * g->H * g->W;
        for (int64_t oh = 0; oh < g->Ho; oh++) {
          int64_t ih = oh * g->sh - g->ph + kh;
          if (ih < 0 || ih >= g->H) continue;
          const FT_REAL *cr = c + oh * g->Wo;
          FT_REAL *xr = xc + ih * g->W;
          for (int64_t ow = 0; ow < g->Wo; ow++) {
            int64_t iw = ow * g->sw - g->pw + kw;
            if (iw >= 0 && iw < g->W) xr[iw] += cr[ow];
          }
        }
      }
}

/* A 1x1 kernel with stride 1 and no padding reads the image itself as its patches. */
static int FT_K(is_pointwise)(const conv_geom *g) {
  return g->kH == 1 && g->kW == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0;
}

/* Per-thread scratch: nt blocks of `per` elements, from the thread's conv workspace
 * (kept between calls: no fresh pages to zero every step). */
static FT_REAL *FT_K(scratch)(const char *fn, int64_t per, int nt, size_t *bytes) {
  void *p = NULL;
  *bytes = sizeof(FT_REAL) * (size_t)(per * nt + 1);
  return ft_workspace_bytes(fn, FT_WS_CONV, FT_CPU, *bytes, &p) ? NULL : p;
}

static int FT_K(conv_forward)(const FT_REAL *x, FT_REAL *y, const FT_REAL *w, const FT_REAL *b,
                              const conv_geom *g) {
  const int64_t K = g->Ci * g->kH * g->kW, P = g->Ho * g->Wo;
  const int nt = conv_threads(), direct = FT_K(is_pointwise)(g);
  size_t bytes;
  FT_REAL *col = FT_K(scratch)("ft_conv2d_forward", direct ? 0 : K * P, nt, &bytes);
  if (!col) return FT_ERR;
  /* The images are split over the threads; BLAS runs single-threaded inside. */
  const int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t n = 0; n < g->N; n++) {
      const int tid = conv_thread_id();
      const FT_REAL *xn = x + n * g->Ci * g->H * g->W;
      FT_REAL *yn = y + n * g->Co * P, *c = col + tid * K * P;
      if (direct) c = (FT_REAL *)xn; else FT_K(im2col)(xn, c, g);
      for (int64_t co = 0; co < g->Co; co++)
        for (int64_t p = 0; p < P; p++) yn[co * P + p] = b ? b[co] : 0;
      /* y_n [Co, P] += w [Co, K] col [K, P] */
      FT_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)g->Co, (int)P, (int)K, 1, w, (int)K,
              c, (int)P, 1, yn, (int)P);
    }
  openblas_set_num_threads(blas_threads);
  return FT_OK;
}

static int FT_K(conv_backward_input)(const FT_REAL *gy, FT_REAL *gx, const FT_REAL *w,
                                     const conv_geom *g) {
  const int64_t K = g->Ci * g->kH * g->kW, P = g->Ho * g->Wo;
  const int nt = conv_threads(), direct = FT_K(is_pointwise)(g);
  size_t bytes;
  FT_REAL *col = FT_K(scratch)("ft_conv2d_backward_input", direct ? 0 : K * P, nt, &bytes);
  if (!col) return FT_ERR;
  /* The images are split over the threads; BLAS runs single-threaded inside. */
  const int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int64_t n = 0; n < g->N; n++) {
      const int tid = conv_thread_id();
      FT_REAL *gxn = gx + n * g->Ci * g->H * g->W, *c = direct ? gxn : col + tid * K * P;
      /* col [K, P] = w^T [K, Co] gy_n [Co, P] */
      FT_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)P, (int)g->Co, 1, w, (int)K,
              gy + n * g->Co * P, (int)P, 0, c, (int)P);
      if (!direct) FT_K(col2im)(c, gxn, g);
    }
  openblas_set_num_threads(blas_threads);
  return FT_OK;
}

static int FT_K(conv_backward_weight)(const FT_REAL *x, const FT_REAL *gy, FT_REAL *gw,
                                      const conv_geom *g, double scale) {
  const int64_t K = g->Ci * g->kH * g->kW, P = g->Ho * g->Wo, nw = g->Co * K;
  const int nt = conv_threads(), direct = FT_K(is_pointwise)(g);
  /* Per thread: its col buffer, then its partial dW [Co, K]. */
  const int64_t per = (direct ? 0 : K * P) + nw;
  size_t bytes;
  FT_REAL *buf = FT_K(scratch)("ft_conv2d_backward_weight", per, nt, &bytes);
  if (!buf) return FT_ERR;
  memset(buf, 0, bytes);
  const int blas_threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
#pragma omp parallel num_threads(nt)
  {
    FT_REAL *c = buf + conv_thread_id() * per, *dw = c + (direct ? 0 : K * P);
#pragma omp for schedule(static)
    for (int64_t n = 0; n < g->N; n++) {
      const FT_REAL *xn = x + n * g->Ci * g->H * g->W;
      const FT_REAL *cn = xn;
      if (!direct) { FT_K(im2col)(xn, c, g); cn = c; }
      /* dw [Co, K] += gy_n [Co, P] col^T [P, K] */
      FT_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)g->Co, (int)K, (int)P, 1,
              gy + n * g->Co * P, (int)P, cn, (int)P, 1, dw, (int)K);
    }
  }
  openblas_set_num_threads(blas_threads);
  for (int64_t i = 0; i < nw; i++) {
    double s = 0;
    for (int t = 0; t < nt; t++) s += buf[t * per + (direct ? 0 : K * P) + i];
    gw[i] = (FT_REAL)(gw[i] + scale * s);
  }
  return FT_OK;
}

/* gb [Co] += scale * sum over N, Ho, Wo of gy [N, Co, Ho, Wo], summed in double. */
static void FT_K(conv_backward_bias)(const FT_REAL *gy, FT_REAL *gb, const conv_geom *g, double scale) {
  const int64_t P = g->Ho * g->Wo;
#pragma omp parallel for schedule(static) if (g->N * g->Co * P > FT_NN_PAR_MIN)
  for (int64_t co = 0; co < g->Co; co++) {
    double s = 0;
    for (int64_t n = 0; n < g->N; n++) {
      const FT_REAL *p = gy + (n * g->Co + co) * P;
      FT_REAL part = 0;
      for (int64_t i = 0; i < P; i++) part += p[i];
      s += part;
    }
    gb[co] = (FT_REAL)(gb[co] + scale * s);
  }
}

#endif
