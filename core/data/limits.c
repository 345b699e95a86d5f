/* data/limits.c -- the size limits every image decoder checks from the header, before it
 * allocates: a small file declaring a huge image (a decompression bomb) is refused
 * instead of costing gigabytes. */
#include "internal.h"

enum { MAX_SIDE = 1 << 16 };
static int64_t max_pixels = INT64_C(1) << 26;

int ft_set_max_image_pixels(int64_t n, int64_t *old) {
  if (n < 1 || n > (INT64_C(1) << 40))
    return ft_fail("ft_set_max_image_pixels: n must be 1..2^40, got %lld", (long long)n);
  if (old) *old = __atomic_load_n(&max_pixels, __ATOMIC_RELAXED);
  __atomic_store_n(&max_pixels, n, __ATOMIC_RELAXED);
  return FT_OK;
}

int64_t ft_get_max_image_pixels(void) { return __atomic_load_n(&max_pixels, __ATOMIC_RELAXED); }

int ft_image_size_ok(const char *fn, const char *path, const char *kind, int64_t w, int64_t h) {
  int64_t cap = ft_get_max_image_pixels();
  if (w < 1 || h < 1) return ft_fail("%s: %s: %s of %lldx%lld pixels is empty", fn, path, kind,
                                     (long long)w, (long long)h);
  if (w > MAX_SIDE || h > MAX_SIDE || w * h > cap)
    return ft_fail("%s: %s: %s of %lldx%lld pixels is larger than the limit of %lld pixels "
                   "(ft_set_max_image_pixels raises it)", fn, path, kind, (long long)w,
                   (long long)h, (long long)cap);
  return FT_OK;
}
