/* nn/core/nn/nn_common.h -- private helpers shared by the nn kernels (nn_*.c, sgd.c).
 *
 * One source for float32 and float64: each kernel file includes itself once per
 * element type. The first pass (FT_REAL undefined) holds the checked entry points;
 * the second pass, with FT_REAL = float or double and FT_K(name) = name_f32 or
 * name_f64, holds the typed loops:
 *
 *   #ifndef FT_REAL
 *   #include "nn_common.h"
 *   #define FT_REAL float
 *   #define FT_K(n) n##_f32
 *   #include "foo.c"
 *   ... (undef, then the same for double) ...
 *   int ft_foo(...) { checks; dispatch on dtype }
 *   #else
 *   static void FT_K(foo)(const FT_REAL *x, ...) { ... }
 *   #endif
 */
#ifndef FATHOM_NN_COMMON_H
#define FATHOM_NN_COMMON_H

#include "internal.h"

/* Below this many elements an OpenMP team costs more than it saves. */
#define FT_NN_PAR_MIN 32768

/* A kernel operand: a CPU, contiguous float32/float64 tensor whose dtype equals
 * `dtype` (the dtype of the call's first tensor; pass -1 to only require a float). */
static inline int ft_nn_check(const char *fn, const char *name, const ft_tensor *t, int dtype) {
  FT_TRY(ft_check_cpu(fn, name, t));
  FT_TRY(ft_check_float(fn, name, t));
  if (dtype >= 0 && t->dtype != dtype)
    return ft_fail("%s: %s is %s but the input is %s (one dtype per call)", fn, name,
                   ft_dtype_name(t->dtype), ft_dtype_name(dtype));
  return ft_check_contiguous(fn, name, t);
}

/* t must be 1-D of n elements (a per-channel or per-feature vector). */
static inline int ft_nn_check_vec(const char *fn, const char *name, const ft_tensor *t,
                                  int dtype, int64_t n) {
  char buf[128];
  FT_TRY(ft_nn_check(fn, name, t, dtype));
  if (t->ndim != 1 || t->size[0] != n)
    return ft_fail("%s: %s must be a vector of %lld elements (got %s)", fn, name,
                   (long long)n, ft_shape_str(t, buf, sizeof buf));
  return FT_OK;
}

#endif
