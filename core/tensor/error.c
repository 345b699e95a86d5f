/* tensor/error.c -- the thread-local error message, argument checks, allocation accounting. */
#include "internal.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static __thread char last_error[512] = "no error";
static int64_t bytes_live = 0;

const char *ft_last_error(void) { return last_error; }

int ft_has_cuda(void) {
#ifdef FT_WITH_CUDA
  return 1;
#else
  return 0;
#endif
}

int ft_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(last_error, sizeof last_error, fmt, ap);
  va_end(ap);
  return FT_ERR;
}

int64_t ft_bytes_allocated(void) { return __atomic_load_n(&bytes_live, __ATOMIC_RELAXED); }

void *ft_alloc(size_t nbytes) {
  void *p = NULL;
  size_t n = nbytes ? (nbytes + 63) & ~(size_t)63 : 64;
  if (posix_memalign(&p, 64, n)) return NULL;
  __atomic_add_fetch(&bytes_live, (int64_t)nbytes, __ATOMIC_RELAXED);
  return p;
}

void ft_free_bytes(void *p, size_t nbytes) {
  if (!p) return;
  free(p);
  __atomic_sub_fetch(&bytes_live, (int64_t)nbytes, __ATOMIC_RELAXED);
}

int ft_dtype_size(int dtype) {
  switch (dtype) {
  case FT_FLOAT32: return 4;
  case FT_FLOAT64: return 8;
  case FT_INT64: return 8;
  case FT_UINT8: return 1;
  default: return 0;
  }
}

const char *ft_dtype_name(int dtype) {
  switch (dtype) {
  case FT_FLOAT32: return "float32";
  case FT_FLOAT64: return "float64";
  case FT_INT64: return "int64";
  case FT_UINT8: return "uint8";
  default: return "unknown dtype";
  }
}

const char *ft_shape_str(const ft_tensor *t, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
  if (!t) { snprintf(buf, len, "(null)"); return buf; }
  if (t->ndim == 0) { snprintf(buf, len, "empty"); return buf; }
  for (int d = 0; d < t->ndim && used < len; d++)
    used += snprintf(buf + used, len - used, d ? "x%lld" : "%lld", (long long)t->size[d]);
  return buf;
}

int ft_check_tensor(const char *fn, const char *name, const ft_tensor *t) {
  if (!t) return ft_fail("%s: %s is NULL", fn, name);
  if (!t->storage) return ft_fail("%s: %s has no storage", fn, name);
  if (t->ndim < 0 || t->ndim > FT_MAX_DIMS)
    return ft_fail("%s: %s has %d dimensions (at most %d)", fn, name, t->ndim, FT_MAX_DIMS);
  if (!ft_dtype_size(t->dtype)) return ft_fail("%s: %s has unknown dtype %d", fn, name, t->dtype);
  return FT_OK;
}

int ft_check_dtype(const char *fn, const char *name, const ft_tensor *t, int dtype) {
  FT_TRY(ft_check_tensor(fn, name, t));
  if (t->dtype != dtype)
    return ft_fail("%s: %s must be %s, got %s", fn, name, ft_dtype_name(dtype),
                   ft_dtype_name(t->dtype));
  return FT_OK;
}

int ft_check_float(const char *fn, const char *name, const ft_tensor *t) {
  FT_TRY(ft_check_tensor(fn, name, t));
  if (t->dtype != FT_FLOAT32 && t->dtype != FT_FLOAT64)
    return ft_fail("%s: %s must be float32 or float64, got %s", fn, name,
                   ft_dtype_name(t->dtype));
  return FT_OK;
}

int ft_check_cpu(const char *fn, const char *name, const ft_tensor *t) {
  FT_TRY(ft_check_tensor(fn, name, t));
  if (t->device != FT_CPU) return ft_fail("%s: %s must be a CPU tensor", fn, name);
  return FT_OK;
}

int ft_check_ndim(const char *fn, const char *name, const ft_tensor *t, int ndim) {
  char buf[128];
  FT_TRY(ft_check_tensor(fn, name, t));
  if (t->ndim != ndim)
    return ft_fail("%s: %s must have %d dimensions, got %d (%s)", fn, name, ndim, t->ndim,
                   ft_shape_str(t, buf, sizeof buf));
  return FT_OK;
}

int ft_check_same_shape(const char *fn, const char *na, const ft_tensor *a, const char *nb,
                        const ft_tensor *b) {
  char ba[128], bb[128];
  FT_TRY(ft_check_tensor(fn, na, a));
  FT_TRY(ft_check_tensor(fn, nb, b));
  int same = a->ndim == b->ndim;
  for (int d = 0; same && d < a->ndim; d++) same = a->size[d] == b->size[d];
  if (!same)
    return ft_fail("%s: %s (%s) and %s (%s) must have the same size", fn, na,
                   ft_shape_str(a, ba, sizeof ba), nb, ft_shape_str(b, bb, sizeof bb));
  return FT_OK;
}

int ft_check_contiguous(const char *fn, const char *name, const ft_tensor *t) {
  FT_TRY(ft_check_tensor(fn, name, t));
  if (!ft_is_contiguous(t)) return ft_fail("%s: %s must be contiguous", fn, name);
  return FT_OK;
}

/* ---- devices ------------------------------------------------------------------------- */
void ft_count_bytes(int64_t delta) { __atomic_add_fetch(&bytes_live, delta, __ATOMIC_RELAXED); }

int ft_no_cuda(const char *fn) {
  return ft_fail("%s: this build of Fathom has no CUDA backend (build it where nvcc and cuDNN "
                 "are found; see `make info`)", fn);
}

int ft_check_device(const char *fn, const char *name, const ft_tensor *t, int device) {
  FT_TRY(ft_check_tensor(fn, name, t));
  if (t->device != device)
    return ft_fail("%s: %s must be a %s tensor (it is on the %s)", fn, name,
                   device == FT_CUDA ? "CUDA" : "CPU", t->device == FT_CUDA ? "GPU" : "CPU");
  return FT_OK;
}
