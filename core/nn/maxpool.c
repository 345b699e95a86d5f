/* nn/maxpool.c -- 2-D max pooling with padding (Torch7's SpatialMaxPooling, floor
 * mode): the ImageNet ResNets' 3x3/2 pad-1 stem pooling. Forward records, for every
 * output, the argmax position h*W+w inside its input plane; backward scatters the
 * output gradient there (windows overlap when stride < kernel, so it adds). Padding
 * is never selected: a window always holds at least one real input (checked). Every
 * (n, c) plane is independent, so OpenMP splits planes. float32/float64 from one
 * source (see nn_common.h). CPU only: a CUDA tensor fails with a clear message. */
#ifndef FT_REAL
#include "nn_common.h"
#include <string.h>

#define FT_REAL float
#define FT_K(n) n##_f32
#include "maxpool.c"
#undef FT_REAL
#undef FT_K
#define FT_REAL double
#define FT_K(n) n##_f64
#include "maxpool.c"
#undef FT_REAL
#undef FT_K

/* No CUDA kernel exists (yet): say so, rather than only "must be a CPU tensor". */
static int maxpool_no_cuda(const char *fn, const ft_tensor *a, const ft_tensor *b,
                           const ft_tensor *c) {
  if (ft_on_cuda(a) || ft_on_cuda(b) || ft_on_cuda(c))
    return ft_fail("%s: max pooling has no CUDA kernel; got a CUDA tensor (pool on the CPU)", fn);
  return FT_OK;
}

/* Checks shared by forward and backward. in: [N,C,H,W]; out and idx: [N,C,Ho,Wo] with
 * Ho = floor((H + 2*padH - kH)/sH) + 1, Wo likewise; idx int64. */
static int maxpool_check(const char *fn, const ft_tensor *in, const char *in_name,
                         const ft_tensor *out, const char *out_name, const ft_tensor *idx,
                         int kH, int kW, int sH, int sW, int padH, int padW) {
  char a[128], b[128];
  FT_TRY(maxpool_no_cuda(fn, in, out, idx));
  FT_TRY(ft_nn_check(fn, in_name, in, NULL));
  FT_TRY(ft_nn_check(fn, out_name, out, in));
  FT_TRY(ft_check_cpu(fn, "indices", idx));
  FT_TRY(ft_check_dtype(fn, "indices", idx, FT_INT64));
  FT_TRY(ft_check_contiguous(fn, "indices", idx));
  FT_TRY(ft_check_ndim(fn, in_name, in, 4));
  FT_TRY(ft_check_ndim(fn, out_name, out, 4));
  FT_TRY(ft_check_ndim(fn, "indices", idx, 4));
  if (kH < 1 || kW < 1 || sH < 1 || sW < 1)
    return ft_fail("%s: kernel and stride must be positive (got kernel %dx%d, stride %dx%d)",
                   fn, kH, kW, sH, sW);
  /* Torch7's rule: pad <= k/2, so every window overlaps the input. */
  if (padH < 0 || padW < 0 || padH > kH / 2 || padW > kW / 2) /* 2 * pad may overflow int */
    return ft_fail("%s: padding must be in [0, kernel/2] (got pad %dx%d, kernel %dx%d)", fn,
                   padH, padW, kH, kW);
  int64_t H = in->size[2], W = in->size[3];
  if (kH > H + 2 * padH || kW > W + 2 * padW)
    return ft_fail("%s: kernel %dx%d is larger than the padded %s plane (%s, pad %dx%d)", fn,
                   kH, kW, in_name, ft_shape_str(in, a, sizeof a), padH, padW);
  int64_t Ho = (H + 2 * padH - kH) / sH + 1, Wo = (W + 2 * padW - kW) / sW + 1;
  const ft_tensor *ts[2] = { out, idx };
  const char *names[2] = { out_name, "indices" };
  for (int t = 0; t < 2; t++)
    if (ts[t]->size[0] != in->size[0] || ts[t]->size[1] != in->size[1] ||
        ts[t]->size[2] != Ho || ts[t]->size[3] != Wo)
      return ft_fail("%s: %s must be %lldx%lldx%lldx%lld for %s %s, kernel %dx%d, stride "
                     "%dx%d, pad %dx%d (got %s)", fn, names[t], (long long)in->size[0],
                     (long long)in->size[1], (long long)Ho, (long long)Wo, in_name,
                     ft_shape_str(in, a, sizeof a), kH, kW, sH, sW, padH, padW,
                     ft_shape_str(ts[t], b, sizeof b));
  return FT_OK;
}

int ft_maxpool2d_forward(const ft_tensor *input, ft_tensor *output, ft_tensor *indices, int kH,
                         int kW, int sH, int sW, int padH, int padW) {
  FT_TRY(maxpool_check("ft_maxpool2d_forward", input, "input", output, "output", indices, kH,
                       kW, sH, sW, padH, padW));
  const int64_t *is = input->size, *os = output->size;
  if (input->dtype == FT_FLOAT32)
    maxpool_forward_f32(ft_data(input), ft_data(output), ft_data(indices), is[0] * is[1], is[2],
                        is[3], os[2], os[3], kH, kW, sH, sW, padH, padW);
  else
    maxpool_forward_f64(ft_data(input), ft_data(output), ft_data(indices), is[0] * is[1], is[2],
                        is[3], os[2], os[3], kH, kW, sH, sW, padH, padW);
  return FT_OK;
}

/* grad_output, indices: [N,C,Ho,Wo]; grad_input: [N,C,H,W] (overwritten). The indices
 * carry the geometry, so only their range is checked: each must lie in [0, H*W). */
int ft_maxpool2d_backward(const ft_tensor *grad_output, ft_tensor *grad_input,
                          const ft_tensor *indices) {
  static const char fn[] = "ft_maxpool2d_backward";
  char a[128], b[128];
  FT_TRY(maxpool_no_cuda(fn, grad_output, grad_input, indices));
  FT_TRY(ft_nn_check(fn, "grad_output", grad_output, NULL));
  FT_TRY(ft_nn_check(fn, "grad_input", grad_input, grad_output));
  FT_TRY(ft_check_cpu(fn, "indices", indices));
  FT_TRY(ft_check_dtype(fn, "indices", indices, FT_INT64));
  FT_TRY(ft_check_contiguous(fn, "indices", indices));
  FT_TRY(ft_check_ndim(fn, "grad_output", grad_output, 4));
  FT_TRY(ft_check_ndim(fn, "grad_input", grad_input, 4));
  FT_TRY(ft_check_same_shape(fn, "grad_output", grad_output, "indices", indices));
  if (grad_input->size[0] != grad_output->size[0] || grad_input->size[1] != grad_output->size[1])
    return ft_fail("%s: grad_input (%s) and grad_output (%s) must agree in N and C", fn,
                   ft_shape_str(grad_input, a, sizeof a), ft_shape_str(grad_output, b, sizeof b));
  const int64_t *is = grad_input->size, *os = grad_output->size;
  const int64_t HW = is[2] * is[3], n = ft_numel(indices);
  const int64_t *ip = ft_data(indices);
  for (int64_t i = 0; i < n; i++)
    if (ip[i] < 0 || ip[i] >= HW)
      return ft_fail("%s: indices[%lld] = %lld is outside the %lldx%lld input plane (indices "
                     "must come from ft_maxpool2d_forward on this input shape)", fn,
                     (long long)i, (long long)ip[i], (long long)is[2], (long long)is[3]);
  if (grad_input->dtype == FT_FLOAT32)
    maxpool_backward_f32(ft_data(grad_output), ft_data(grad_input), ip, is[0] * is[1], HW,
                         os[2] * os[3]);
  else
    maxpool_backward_f64(ft_data(grad_output), ft_data(grad_input), ip, is[0] * is[1], HW,
                         os[2] * os[3]);
  return FT_OK;
}

#else /* ---- typed kernels ---------------------------------------------------------- */

/* x: [P, H, W] planes, y and arg: [P, Ho, Wo]. The first maximum in row-major window
 * order wins (as Torch7); a NaN is taken as the maximum, so it propagates. */
static void FT_K(maxpool_forward)(const FT_REAL *x, FT_REAL *y, int64_t *arg, int64_t P,
                                  int64_t H, int64_t W, int64_t Ho, int64_t Wo, int kH, int kW,
                                  int sH, int sW, int padH, int padW) {
#pragma omp parallel for schedule(static) if (P * H * W > FT_NN_PAR_MIN)
  for (int64_t p = 0; p < P; p++) {
    const FT_REAL *xp = x + p * H * W;
    FT_REAL *yp = y + p * Ho * Wo;
    int64_t *ap = arg + p * Ho * Wo;
    for (int64_t i = 0; i < Ho; i++) {
      int64_t h0 = i * sH - padH, h1 = h0 + kH;
      if (h0 < 0) h0 = 0;
      if (h1 > H) h1 = H;
      for (int64_t j = 0; j < Wo; j++) {
        int64_t w0 = j * sW - padW, w1 = w0 + kW;
        if (w0 < 0) w0 = 0;
        if (w1 > W) w1 = W;
        int64_t best_at = h0 * W + w0;
        FT_REAL best = xp[best_at];
        for (int64_t h = h0; h < h1; h++)
          for (int64_t w = w0; w < w1; w++) {
            const FT_REAL v = xp[h * W + w];
            if (v > best || v != v) { best = v; best_at = h * W + w; }
          }
        yp[i * Wo + j] = best;
        ap[i * Wo + j] = best_at;
      }
    }
  }
}

/* gy and arg: [P, HWo], gx: [P, HW] (overwritten). */
static void FT_K(maxpool_backward)(const FT_REAL *gy, FT_REAL *gx, const int64_t *arg,
                                   int64_t P, int64_t HW, int64_t HWo) {
#pragma omp parallel for schedule(static) if (P * HW > FT_NN_PAR_MIN)
  for (int64_t p = 0; p < P; p++) {
    FT_REAL *gp = gx + p * HW;
    const FT_REAL *yp = gy + p * HWo;
    const int64_t *ap = arg + p * HWo;
    memset(gp, 0, (size_t)HW * sizeof(FT_REAL));
    for (int64_t o = 0; o < HWo; o++) gp[ap[o]] += yp[o];
  }
}

#endif
