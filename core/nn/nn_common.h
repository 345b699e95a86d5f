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

/* A kernel operand on any device: a contiguous float32/float64 tensor. ref is the
 * call's first tensor (NULL when t is that one): t must then have its dtype and live
 * on its device. One check for both devices: the entry points run it before they
 * dispatch (FT_DEVICE_CALL in internal.h). */
static inline int ft_nn_check(const char *fn, const char *name, const ft_tensor *t,
                              const ft_tensor *ref) {
  FT_TRY(ft_check_float(fn, name, t));
  if (ref && t->dtype != ref->dtype)
    return ft_fail("%s: %s is %s but the input is %s (one dtype per call)", fn, name,
                   ft_dtype_name(t->dtype), ft_dtype_name(ref->dtype));
  if (ref && t->device != ref->device)
    return ft_fail("%s: %s is on the %s but the input is on the %s (one device per call)", fn,
                   name, t->device == FT_CUDA ? "GPU" : "CPU", ref->device == FT_CUDA ? "GPU" : "CPU");
  return ft_check_contiguous(fn, name, t);
}

/* t must be 1-D of n elements (a per-channel or per-feature vector). */
static inline int ft_nn_check_vec(const char *fn, const char *name, const ft_tensor *t,
                                  const ft_tensor *ref, int64_t n) {
  char buf[128];
  FT_TRY(ft_nn_check(fn, name, t, ref));
  if (t->ndim != 1 || t->size[0] != n)
    return ft_fail("%s: %s must be a vector of %lld elements (got %s)", fn, name,
                   (long long)n, ft_shape_str(t, buf, sizeof buf));
  return FT_OK;
}

#endif
