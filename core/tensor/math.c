/* tensor/math.c -- fill, copy with conversion, element-wise ops and reductions.
 * Each public op checks its arguments once, for both devices, then runs its CPU loops
 * here (ft_cpu_*) or its CUDA twin (core/cuda/math.cu); neither checks again.
 * Contiguous float tensors take typed, OpenMP-parallel loops; everything else walks
 * the strides one element at a time through double (exact for every dtype we hold
 * except int64 beyond 2^53, which labels and indices never reach). */
#include "internal.h"
#include "elementwise_ops.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAR_MIN 32768 /* below this many elements threads cost more than they save */

static inline double load(const void *p, int dtype, int64_t i) {
  switch (dtype) {
  case FT_FLOAT32: return ((const float *)p)[i];
  case FT_FLOAT64: return ((const double *)p)[i];
  case FT_INT64: return (double)((const int64_t *)p)[i];
  default: return ((const uint8_t *)p)[i];
  }
}

static inline void store(void *p, int dtype, int64_t i, double v) {
  switch (dtype) {
  case FT_FLOAT32: ((float *)p)[i] = (float)v; break;
  case FT_FLOAT64: ((double *)p)[i] = v; break;
  case FT_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
  default: ((uint8_t *)p)[i] = (uint8_t)v; break;
  }
}

static int ft_cpu_fill(ft_tensor *t, double value) {
  int64_t n = ft_numel(t);
  void *p = ft_data(t);
  if (ft_is_contiguous(t)) {
    if (t->dtype == FT_FLOAT32) {
      float v = (float)value, *q = p;
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
      for (int64_t i = 0; i < n; i++) q[i] = v;
      return FT_OK;
    }
    if (value == 0) { memset(p, 0, (size_t)n * ft_dtype_size(t->dtype)); return FT_OK; }
    for (int64_t i = 0; i < n; i++) store(p, t->dtype, i, value);
    return FT_OK;
  }
  ft_iter it;
  ft_iter_init(&it, t);
  for (int64_t i = 0; i < n; i++, ft_iter_next(&it)) store(p, t->dtype, it.offset, value);
  return FT_OK;
}

static int ft_cpu_copy(ft_tensor *dst, const ft_tensor *src) {
  int64_t n = ft_numel(dst);
  void *d = ft_data(dst);
  const void *s = ft_data(src);
  if (ft_is_contiguous(dst) && ft_is_contiguous(src)) {
    if (dst->dtype == src->dtype) {
      if (d != s) memmove(d, s, (size_t)n * ft_dtype_size(dst->dtype));
      return FT_OK;
    }
    if (dst->dtype == FT_FLOAT32 && src->dtype == FT_UINT8) {
      float *q = d; const uint8_t *r = s;
      for (int64_t i = 0; i < n; i++) q[i] = r[i];
      return FT_OK;
    }
    for (int64_t i = 0; i < n; i++) store(d, dst->dtype, i, load(s, src->dtype, i));
    return FT_OK;
  }
  ft_iter a, b;
  ft_iter_init(&a, dst);
  ft_iter_init(&b, src);
  for (int64_t i = 0; i < n; i++, ft_iter_next(&a), ft_iter_next(&b))
    store(d, dst->dtype, a.offset, load(s, src->dtype, b.offset));
  return FT_OK;
}

static int ft_cpu_unary(ft_tensor *out, const ft_tensor *a, int op, double arg) {
  int64_t n = ft_numel(a);
  void *o = ft_data(out);
  const void *x = ft_data(a);
  if (ft_is_contiguous(out) && ft_is_contiguous(a)) {
    if (a->dtype == FT_FLOAT32) {
      float *q = o; const float *r = x;
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
      for (int64_t i = 0; i < n; i++) q[i] = (float)unary_apply(op, r[i], arg);
    } else {
      for (int64_t i = 0; i < n; i++) store(o, a->dtype, i, unary_apply(op, load(x, a->dtype, i), arg));
    }
    return FT_OK;
  }
  ft_iter io, ia;
  ft_iter_init(&io, out);
  ft_iter_init(&ia, a);
  for (int64_t i = 0; i < n; i++, ft_iter_next(&io), ft_iter_next(&ia))
    store(o, a->dtype, io.offset, unary_apply(op, load(x, a->dtype, ia.offset), arg));
  return FT_OK;
}

static int ft_cpu_binary(ft_tensor *out, const ft_tensor *a, const ft_tensor *b, int op) {
  int64_t n = ft_numel(a);
  void *o = ft_data(out);
  const void *x = ft_data(a), *y = ft_data(b);
  if (ft_is_contiguous(out) && ft_is_contiguous(a) && ft_is_contiguous(b)) {
    if (a->dtype == FT_FLOAT32) {
      float *q = o; const float *r = x, *s = y;
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
      for (int64_t i = 0; i < n; i++) q[i] = (float)binary_apply(op, r[i], s[i]);
    } else {
      for (int64_t i = 0; i < n; i++)
        store(o, a->dtype, i, binary_apply(op, load(x, a->dtype, i), load(y, a->dtype, i)));
    }
    return FT_OK;
  }
  ft_iter io, ia, ib;
  ft_iter_init(&io, out);
  ft_iter_init(&ia, a);
  ft_iter_init(&ib, b);
  for (int64_t i = 0; i < n; i++, ft_iter_next(&io), ft_iter_next(&ia), ft_iter_next(&ib))
    store(o, a->dtype, io.offset,
          binary_apply(op, load(x, a->dtype, ia.offset), load(y, a->dtype, ib.offset)));
  return FT_OK;
}

static int ft_cpu_axpy(ft_tensor *out, const ft_tensor *a, double alpha, const ft_tensor *b) {
  int64_t n = ft_numel(a);
  void *o = ft_data(out);
  const void *x = ft_data(a), *y = ft_data(b);
  if (ft_is_contiguous(out) && ft_is_contiguous(a) && ft_is_contiguous(b)) {
    if (a->dtype == FT_FLOAT32) {
      float *q = o, al = (float)alpha; const float *r = x, *s = y;
#pragma omp parallel for if (n > PAR_MIN) schedule(static)
      for (int64_t i = 0; i < n; i++) q[i] = r[i] + al * s[i];
    } else if (a->dtype == FT_FLOAT64) {
      double *q = o; const double *r = x, *s = y;
      for (int64_t i = 0; i < n; i++) q[i] = r[i] + alpha * s[i];
    } else {
      for (int64_t i = 0; i < n; i++)
        store(o, a->dtype, i, load(x, a->dtype, i) + alpha * load(y, a->dtype, i));
    }
    return FT_OK;
  }
  ft_iter io, ia, ib;
  ft_iter_init(&io, out);
  ft_iter_init(&ia, a);
  ft_iter_init(&ib, b);
  for (int64_t i = 0; i < n; i++, ft_iter_next(&io), ft_iter_next(&ia), ft_iter_next(&ib))
    store(o, a->dtype, io.offset,
          load(x, a->dtype, ia.offset) + alpha * load(y, a->dtype, ib.offset));
  return FT_OK;
}

/* Reduce n values read by `get(k)`; Welford for VAR/STD keeps it accurate. */
typedef struct { double sum, prod, max, min, mean, m2; int64_t argmax, argmin, n; } acc_t;
static inline void acc_init(acc_t *a) {
  a->sum = 0; a->prod = 1; a->max = -INFINITY; a->min = INFINITY; a->mean = 0; a->m2 = 0;
  a->argmax = a->argmin = 0; a->n = 0;
}
/* Only the statistic `op` needs is updated; a NaN wins max/min (Torch7 propagates it). */
static inline void acc_add(acc_t *a, int op, double v, int64_t k) {
  a->n++;
  switch (op) {
  case FT_RED_SUM: case FT_RED_MEAN: a->sum += v; break;
  case FT_RED_PROD: a->prod *= v; break;
  case FT_RED_MAX:
    if ((v > a->max || isnan(v)) && !isnan(a->max)) { a->max = v; a->argmax = k; }
    break;
  case FT_RED_MIN:
    if ((v < a->min || isnan(v)) && !isnan(a->min)) { a->min = v; a->argmin = k; }
    break;
  default: {
    double d = v - a->mean;
    a->mean += d / (double)a->n;
    a->m2 += d * (v - a->mean);
  }
  }
}

/* Sum of a contiguous array in fixed blocks whose partial sums are added in order, so
 * the result is the same for any number of threads. */
#define SUM_BLOCK 4096
#define DEFINE_SUM(NAME, T)                                                                \
  static double NAME(const T *q, int64_t n) {                                              \
    int64_t nb = (n + SUM_BLOCK - 1) / SUM_BLOCK;                                          \
    double small[64], *part = nb <= 64 ? small : malloc((size_t)nb * sizeof(double));      \
    double s = 0;                                                                          \
    if (!part) { /* no memory for the partials: one sequential pass, same blocks */       \
      for (int64_t b = 0; b < nb; b++) {                                                   \
        double ps = 0;                                                                     \
        for (int64_t i = b * SUM_BLOCK; i < n && i < (b + 1) * SUM_BLOCK; i++) ps += q[i]; \
        s += ps;                                                                           \
      }                                                                                    \
      return s;                                                                            \
    }                                                                                      \
    _Pragma("omp parallel for if (n > PAR_MIN) schedule(static)")                          \
    for (int64_t b = 0; b < nb; b++) {                                                     \
      double ps = 0;                                                                       \
      int64_t end = (b + 1) * SUM_BLOCK < n ? (b + 1) * SUM_BLOCK : n;                     \
      for (int64_t i = b * SUM_BLOCK; i < end; i++) ps += q[i];                            \
      part[b] = ps;                                                                        \
    }                                                                                      \
    for (int64_t b = 0; b < nb; b++) s += part[b];                                         \
    if (part != small) free(part);                                                         \
    return s;                                                                              \
  }
DEFINE_SUM(sum_f32, float)
DEFINE_SUM(sum_f64, double)
static inline double acc_result(const acc_t *a, int op, int64_t *arg) {
  switch (op) {
  case FT_RED_SUM: return a->sum;
  case FT_RED_MEAN: return a->n ? a->sum / (double)a->n : NAN;
  case FT_RED_MAX: if (arg) *arg = a->argmax; return a->max;
  case FT_RED_MIN: if (arg) *arg = a->argmin; return a->min;
  case FT_RED_VAR: return a->n > 1 ? a->m2 / (double)(a->n - 1) : NAN;
  case FT_RED_STD: return a->n > 1 ? sqrt(a->m2 / (double)(a->n - 1)) : NAN;
  default: return a->prod;
  }
}

static int ft_cpu_reduce_all(const ft_tensor *t, int op, double *result) {
  int64_t n = ft_numel(t);
  const void *p = ft_data(t);
  acc_t a;
  acc_init(&a);
  if ((op == FT_RED_SUM || op == FT_RED_MEAN) && ft_is_contiguous(t) &&
      (t->dtype == FT_FLOAT32 || t->dtype == FT_FLOAT64)) {
    double s = t->dtype == FT_FLOAT32 ? sum_f32(p, n) : sum_f64(p, n);
    *result = op == FT_RED_SUM ? s : (n ? s / (double)n : NAN);
    return FT_OK;
  }
  ft_iter it;
  ft_iter_init(&it, t);
  for (int64_t i = 0; i < n; i++, ft_iter_next(&it)) acc_add(&a, op, load(p, t->dtype, it.offset), i);
  *result = acc_result(&a, op, NULL);
  return FT_OK;
}

static int ft_cpu_reduce_dim(ft_tensor *out, ft_tensor *indices, const ft_tensor *t, int dim,
                             int op) {
  /* Walk the output; for each output element reduce along `dim` of the input. */
  int64_t n = ft_numel(out), len = t->size[dim];
  const void *p = ft_data(t);
  void *o = ft_data(out);
  void *ip = indices ? ft_data(indices) : NULL;
  ft_iter io, it, ii;
  ft_tensor tv = *t;
  tv.size[dim] = 1;
  ft_iter_init(&io, out);
  ft_iter_init(&it, &tv);
  if (indices) ft_iter_init(&ii, indices);
  for (int64_t i = 0; i < n; i++) {
    acc_t a;
    acc_init(&a);
    for (int64_t k = 0; k < len; k++)
      acc_add(&a, op, load(p, t->dtype, it.offset + k * t->stride[dim]), k);
    int64_t arg = 0;
    store(o, out->dtype, io.offset, acc_result(&a, op, &arg));
    if (indices) { ((int64_t *)ip)[ii.offset] = arg; ft_iter_next(&ii); }
    ft_iter_next(&io);
    ft_iter_next(&it);
  }
  return FT_OK;
}

/* ---- the public ops: one check for both devices, then the device's loops --------------- */

int ft_fill(ft_tensor *t, double value) {
  FT_TRY(ft_check_placed("ft_fill", "tensor", t));
  return FT_DEVICE_CALL(t, fill, t, value);
}

/* The one op that crosses devices: any pair of CPU and GPU tensors, any two dtypes. */
int ft_copy(ft_tensor *dst, const ft_tensor *src) {
  const char *fn = "ft_copy";
  FT_TRY(ft_check_placed(fn, "destination", dst));
  FT_TRY(ft_check_placed(fn, "source", src));
  if (ft_numel(dst) != ft_numel(src))
    return ft_fail("%s: destination has %lld elements, source has %lld", fn,
                   (long long)ft_numel(dst), (long long)ft_numel(src));
  return FT_DEVICE_CALL(ft_on_cuda(src) ? src : dst, copy, dst, src);
}

/* a is an operand of out's op: on its device, of its shape and dtype. */
static int check_operand(const char *fn, const ft_tensor *out, const ft_tensor *a) {
  FT_TRY(ft_check_device(fn, "input", a, out->device));
  FT_TRY(ft_check_same_shape(fn, "output", out, "input", a));
  if (out->dtype != a->dtype)
    return ft_fail("%s: output is %s but input is %s", fn, ft_dtype_name(out->dtype),
                   ft_dtype_name(a->dtype));
  return FT_OK;
}

int ft_unary(ft_tensor *out, const ft_tensor *a, int op, double arg) {
  const char *fn = "ft_unary";
  FT_TRY(ft_check_placed(fn, "output", out));
  FT_TRY(check_operand(fn, out, a));
  if (op < FT_OP_NEG || op > FT_OP_CEIL) return ft_fail("%s: unknown op %d", fn, op);
  return FT_DEVICE_CALL(out, unary, out, a, op, arg);
}

int ft_host_scalar(const ft_tensor *b, double *v) {
  if (!b || b->device != FT_CPU || ft_numel(b) == 0) return 0;
  for (int d = 0; d < b->ndim; d++)
    if (b->stride[d] != 0 && b->size[d] != 1) return 0;
  *v = load(ft_data(b), b->dtype, 0);
  return 1;
}

int ft_binary(ft_tensor *out, const ft_tensor *a, const ft_tensor *b, int op) {
  const char *fn = "ft_binary";
  double v;
  FT_TRY(ft_check_placed(fn, "output", out));
  FT_TRY(check_operand(fn, out, a));
  if (ft_on_cuda(out) && ft_host_scalar(b, &v)) { /* read on the host by the GPU op */
    FT_TRY(ft_check_same_shape(fn, "output", out, "input", b));
    if (b->dtype != out->dtype)
      return ft_fail("%s: output is %s but input is %s", fn, ft_dtype_name(out->dtype),
                     ft_dtype_name(b->dtype));
  } else {
    FT_TRY(check_operand(fn, out, b));
  }
  if (op < FT_OP_ADD || op > FT_OP_GE) return ft_fail("%s: unknown op %d", fn, op);
  return FT_DEVICE_CALL(out, binary, out, a, b, op);
}

int ft_axpy(ft_tensor *out, const ft_tensor *a, double alpha, const ft_tensor *b) {
  const char *fn = "ft_axpy";
  FT_TRY(ft_check_placed(fn, "output", out));
  FT_TRY(check_operand(fn, out, a));
  FT_TRY(check_operand(fn, out, b));
  return FT_DEVICE_CALL(out, axpy, out, a, alpha, b);
}

int ft_reduce_all(const ft_tensor *t, int op, double *result) {
  const char *fn = "ft_reduce_all";
  FT_TRY(ft_check_placed(fn, "tensor", t));
  if (!result) return ft_fail("%s: result is NULL", fn);
  if (op < FT_RED_SUM || op > FT_RED_PROD) return ft_fail("%s: unknown op %d", fn, op);
  if (ft_numel(t) == 0 && (op == FT_RED_MAX || op == FT_RED_MIN))
    return ft_fail("%s: max/min of an empty tensor", fn);
  return FT_DEVICE_CALL(t, reduce_all, t, op, result);
}

int ft_reduce_dim(ft_tensor *out, ft_tensor *indices, const ft_tensor *t, int dim, int op) {
  const char *fn = "ft_reduce_dim";
  char b1[128], b2[128];
  FT_TRY(ft_check_placed(fn, "input", t));
  FT_TRY(ft_check_device(fn, "output", out, t->device));
  if (op < FT_RED_SUM || op > FT_RED_PROD) return ft_fail("%s: unknown op %d", fn, op);
  if (dim < 0 || dim >= t->ndim)
    return ft_fail("%s: dimension %lld out of range (input has %d)", fn, dim + 1LL, t->ndim);
  if (t->size[dim] == 0 && (op == FT_RED_MAX || op == FT_RED_MIN))
    return ft_fail("%s: max/min over an empty dimension", fn);
  int ok = out->ndim == t->ndim;
  for (int d = 0; ok && d < t->ndim; d++) ok = out->size[d] == (d == dim ? 1 : t->size[d]);
  if (!ok)
    return ft_fail("%s: output is %s, expected the input's size %s with 1 at dimension %d", fn,
                   ft_shape_str(out, b1, sizeof b1), ft_shape_str(t, b2, sizeof b2), dim + 1);
  if (indices) {
    FT_TRY(ft_check_device(fn, "indices", indices, t->device));
    FT_TRY(ft_check_dtype(fn, "indices", indices, FT_INT64));
    FT_TRY(ft_check_same_shape(fn, "indices", indices, "output", out));
  }
  return FT_DEVICE_CALL(t, reduce_dim, out, indices, t, dim, op);
}
