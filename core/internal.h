/* internal.h -- helpers shared by the C sources of Fathom; not part of the public API.
 *
 * Error reporting: ft_fail() records a message in a thread-local buffer and returns
 * FT_ERR, so a check reads `if (bad) return ft_fail("ft_x: ...", ...);`.
 */
#ifndef FATHOM_INTERNAL_H
#define FATHOM_INTERNAL_H

#include "fathom.h"
#include <stdarg.h>

#define FT_OK 0
#define FT_ERR 1

int ft_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Argument checks: each returns FT_OK or records an error naming `fn` and `name`. */
int ft_check_tensor(const char *fn, const char *name, const ft_tensor *t);
int ft_check_dtype(const char *fn, const char *name, const ft_tensor *t, int dtype);
int ft_check_float(const char *fn, const char *name, const ft_tensor *t); /* f32 or f64 */
int ft_check_cpu(const char *fn, const char *name, const ft_tensor *t);
int ft_check_ndim(const char *fn, const char *name, const ft_tensor *t, int ndim);
int ft_check_same_shape(const char *fn, const char *na, const ft_tensor *a, const char *nb,
                        const ft_tensor *b);
int ft_check_contiguous(const char *fn, const char *name, const ft_tensor *t);
/* Shape as text, e.g. "128x16x32x32", into buf (for error messages). */
const char *ft_shape_str(const ft_tensor *t, char *buf, size_t len);
const char *ft_dtype_name(int dtype);

#define FT_TRY(expr) do { int ft_status_ = (expr); if (ft_status_) return ft_status_; } while (0)

/* Aligned host allocation counted in ft_bytes_allocated(); NULL on failure. */
void *ft_alloc(size_t nbytes);
void ft_free_bytes(void *p, size_t nbytes);
/* Scratch tensor helpers for kernels (contiguous, CPU). */
int ft_new_like(ft_tensor **out, const ft_tensor *t);

/* Strided iteration: visit every element offset of t in row-major order. */
typedef struct {
  int ndim;
  int64_t size[FT_MAX_DIMS];
  int64_t stride[FT_MAX_DIMS];
  int64_t index[FT_MAX_DIMS];
  int64_t offset; /* current element offset from ft_data(t), in elements */
} ft_iter;
void ft_iter_init(ft_iter *it, const ft_tensor *t);
static inline void ft_iter_next(ft_iter *it) {
  for (int d = it->ndim - 1; d >= 0; d--) {
    if (++it->index[d] < it->size[d]) { it->offset += it->stride[d]; return; }
    it->offset -= it->stride[d] * (it->size[d] - 1);
    it->index[d] = 0;
  }
}

#endif
