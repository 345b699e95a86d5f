/* tensor/overlap.c -- do two views touch the same bytes? Views of one storage are
 * normal (getParameters puts every parameter, and every gradient, in one storage), so
 * ops that must not write where they read compare byte ranges, not storages: the range
 * of a view is everything from its lowest to its highest element, the extent its
 * strides can reach (conservative for interleaved views, exact for contiguous ones). */
#include "internal.h"

/* [*lo, *hi) in bytes from the storage's start; 0 when the view has no element. */
static int byte_extent(const ft_tensor *t, int64_t *lo, int64_t *hi) {
  int64_t first = t->offset, last = t->offset;
  for (int d = 0; d < t->ndim; d++) {
    if (t->size[d] <= 0) return 0;
    int64_t reach = (t->size[d] - 1) * t->stride[d];
    if (reach < 0) first += reach; else last += reach;
  }
  int64_t es = (int64_t)ft_dtype_size(t->dtype);
  *lo = first * es;
  *hi = (last + 1) * es;
  return 1;
}

int ft_overlaps(const ft_tensor *a, const ft_tensor *b) {
  if (!a || !b || !a->storage || a->storage != b->storage) return 0;
  int64_t alo, ahi, blo, bhi;
  if (!byte_extent(a, &alo, &ahi) || !byte_extent(b, &blo, &bhi)) return 0;
  return alo < bhi && blo < ahi;
}

int ft_check_disjoint(const char *fn, const char *na, const ft_tensor *a, const char *nb,
                      const ft_tensor *b) {
  if (ft_overlaps(a, b)) return ft_fail("%s: %s and %s must not share memory (their byte ranges overlap)", fn, na, nb);
  return FT_OK;
}
