/* data/stats.c -- normalisation statistics of a uint8 image set.
 * 'pixel' (mode 0, the authors' code): the mean image (one mean per C,H,W position) and one
 * global standard deviation of all values, as Torch7's data:mean(1) and data:std().
 * 'channel' (mode 1, fb.resnet.torch): one mean and one standard deviation per channel.
 * Standard deviations are unbiased (n-1), as Torch7's std(). Sums are exact integers
 * (per thread, then reduced), so the result does not depend on the thread count. */
#include "internal.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>

static int check_index(const char *fn, const ft_tensor *index, int64_t rows) {
  FT_TRY(ft_check_tensor(fn, "index", index));
  FT_TRY(ft_check_cpu(fn, "index", index));
  FT_TRY(ft_check_dtype(fn, "index", index, FT_INT64));
  FT_TRY(ft_check_ndim(fn, "index", index, 1));
  FT_TRY(ft_check_contiguous(fn, "index", index));
  const int64_t *ix = ft_data(index);
  for (int64_t i = 0; i < index->size[0]; i++)
    if (ix[i] < 0 || ix[i] >= rows)
      return ft_fail("%s: index[%lld] = %lld is outside 0..%lld", fn, (long long)i,
                     (long long)ix[i], (long long)rows - 1);
  return FT_OK;
}

/* Variance (n-1) from exact sums: (m*s2 - s1^2) / (m*(m-1)). */
static double variance(int64_t m, __int128 s1, __int128 s2) {
  __int128 num = (__int128)m * s2 - s1 * s1;
  return (double)num / ((double)m * (double)(m - 1));
}

/* images: uint8 [M,C,H,W]; index: int64 [N] rows or NULL (all); mean, std: float32 [C,H,W]. */
int ft_data_stats(const ft_tensor *images, const ft_tensor *index, int mode, ft_tensor *mean,
                  ft_tensor *std) {
  const char *fn = "ft_data_stats";
  char b1[64], b2[64];
  FT_TRY(ft_check_tensor(fn, "images", images));
  FT_TRY(ft_check_cpu(fn, "images", images));
  FT_TRY(ft_check_dtype(fn, "images", images, FT_UINT8));
  FT_TRY(ft_check_ndim(fn, "images", images, 4));
  FT_TRY(ft_check_contiguous(fn, "images", images));
  if (mode != 0 && mode != 1) return ft_fail("%s: mode must be 0 (pixel) or 1 (channel), got %d", fn, mode);
  int64_t M = images->size[0], C = images->size[1], HW = images->size[2] * images->size[3];
  int64_t P = C * HW;
  if (index) FT_TRY(check_index(fn, index, M));
  int64_t N = index ? index->size[0] : M;
  if (N < 2) return ft_fail("%s: need at least 2 images, got %lld", fn, (long long)N);
  const char *names[2] = {"mean", "std"};
  ft_tensor *outs[2] = {mean, std};
  for (int k = 0; k < 2; k++) {
    FT_TRY(ft_check_tensor(fn, names[k], outs[k]));
    FT_TRY(ft_check_cpu(fn, names[k], outs[k]));
    FT_TRY(ft_check_dtype(fn, names[k], outs[k], FT_FLOAT32));
    FT_TRY(ft_check_contiguous(fn, names[k], outs[k]));
    if (outs[k]->ndim != 3 || outs[k]->size[0] != C || outs[k]->size[1] != images->size[2] ||
        outs[k]->size[2] != images->size[3])
      return ft_fail("%s: %s must be %lldx%lldx%lld like one image (got %s; images %s)", fn,
                     names[k], (long long)C, (long long)images->size[2],
                     (long long)images->size[3], ft_shape_str(outs[k], b1, sizeof b1),
                     ft_shape_str(images, b2, sizeof b2));
  }
  /* per-thread exact sums, reduced in thread order */
  int nt = omp_get_max_threads();
  int64_t *acc = calloc((size_t)(2 * P * (nt + 1)), sizeof *acc);
  if (!acc) return ft_fail("%s: out of memory", fn);
  int64_t *s1 = acc, *s2 = acc + P;
  const uint8_t *img = ft_data(images);
  const int64_t *ix = index ? ft_data(index) : NULL;
#pragma omp parallel num_threads(nt)
  {
    int64_t *t1 = acc + 2 * P * (omp_get_thread_num() + 1), *t2 = t1 + P;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < N; i++) {
      const uint8_t *p = img + (ix ? ix[i] : i) * P;
      for (int64_t j = 0; j < P; j++) { t1[j] += p[j]; t2[j] += p[j] * p[j]; }
    }
  }
  for (int t = 1; t <= nt; t++)
    for (int64_t j = 0; j < P; j++) { s1[j] += acc[2 * P * t + j]; s2[j] += acc[2 * P * t + P + j]; }
  float *mu = ft_data(mean), *sd = ft_data(std);
  int rc = FT_OK;
  if (mode == 0) {
    __int128 a = 0, b = 0;
    for (int64_t j = 0; j < P; j++) { mu[j] = (float)((double)s1[j] / (double)N); a += s1[j]; b += s2[j]; }
    double v = variance(N * P, a, b);
    if (!(v > 0)) rc = ft_fail("%s: the standard deviation is 0 (all %lld values equal)", fn, (long long)(N * P));
    for (int64_t j = 0; j < P; j++) sd[j] = (float)sqrt(v);
  } else {
    for (int64_t c = 0; c < C && rc == FT_OK; c++) {
      __int128 a = 0, b = 0;
      for (int64_t j = c * HW; j < (c + 1) * HW; j++) { a += s1[j]; b += s2[j]; }
      double v = variance(N * HW, a, b), m = (double)a / (double)(N * HW);
      if (!(v > 0)) rc = ft_fail("%s: the standard deviation of channel %lld is 0", fn, (long long)c + 1);
      for (int64_t j = c * HW; j < (c + 1) * HW; j++) { mu[j] = (float)m; sd[j] = (float)sqrt(v); }
    }
  }
  free(acc);
  return rc;
}
