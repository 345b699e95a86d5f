/* cuda/math.cu -- fill, copy (on the GPU and across devices), element-wise ops and
 * reductions for CUDA tensors: the GPU side of core/tensor/math.c, whose public ops check
 * every argument (for both devices) before they call these, so only CUDA's own failures
 * (no device, launches, transfers, memory) are reported here; and its arithmetic (values computed in double and rounded to the element
 * type, as the CPU does, so the two agree to the last bit for most ops).
 * Every dtype; any strides (contiguous tensors take a flat loop, the others a strided
 * one that decomposes the element index). Reductions are deterministic: a fixed grid
 * of partial results merged in a fixed order, accumulated in double. */
#include "cuda_common.cuh"
#include "elementwise_ops.h"
#include <math.h>
#include <type_traits>

/* Run body with T the C type of dtype. */
#define FT_CU_ANY_DISPATCH(dtype, T, ...)                                                  \
  do { switch (dtype) {                                                                    \
    case FT_FLOAT32: { typedef float T; __VA_ARGS__; } break;                              \
    case FT_FLOAT64: { typedef double T; __VA_ARGS__; } break;                             \
    case FT_INT64: { typedef int64_t T; __VA_ARGS__; } break;                              \
    default: { typedef uint8_t T; __VA_ARGS__; } break; } } while (0)

__device__ static inline double ld_any(const void *p, int dt, int64_t i) {
  switch (dt) {
  case FT_FLOAT32: return ((const float *)p)[i];
  case FT_FLOAT64: return ((const double *)p)[i];
  case FT_INT64: return (double)((const int64_t *)p)[i];
  default: return ((const uint8_t *)p)[i];
  }
}
__device__ static inline void st_any(void *p, int dt, int64_t i, double v) {
  switch (dt) {
  case FT_FLOAT32: ((float *)p)[i] = (float)v; break;
  case FT_FLOAT64: ((double *)p)[i] = v; break;
  case FT_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
  default: ((uint8_t *)p)[i] = (uint8_t)v; break;
  }
}

static int stream_of(const char *fn, cudaStream_t *s) {
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  *s = c->stream;
  return FT_OK;
}

/* ---- fill ------------------------------------------------------------------------------------ */
template <typename T>
__global__ void fill_kernel(T *p, ft_cu_layout l, int64_t n, T v, bool contig) {
  FT_CU_LOOP(i, n) p[contig ? i : ft_cu_offset(l, i)] = v;
}

extern "C" int ft_cuda_fill(ft_tensor *t, double value) {
  const char *fn = "ft_fill";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t n = ft_numel(t);
  if (n == 0) return FT_OK;
  bool contig = ft_is_contiguous(t);
  if (contig && value == 0) {
    FT_CU(fn, "cudaMemsetAsync", cudaMemsetAsync(ft_data(t), 0, (size_t)n * ft_dtype_size(t->dtype), s));
    return FT_OK;
  }
  ft_cu_layout l = ft_cu_layout_of(t);
  FT_CU_ANY_DISPATCH(t->dtype, T,
    fill_kernel<T><<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>((T *)ft_data(t), l, n, (T)value, contig));
  FT_CU_LAUNCHED(fn, "the fill kernel");
  return FT_OK;
}

/* ---- copy ------------------------------------------------------------------------------------- */
/* dst = src element by element in row-major order; a dtype change goes through double,
 * as on the CPU (an int64 beyond 2^53 converts the same way there). */
template <typename D, typename S>
__global__ void copy_kernel(D *dst, ft_cu_layout dl, bool dc, const S *src, ft_cu_layout sl,
                            bool sc, int64_t n) {
  FT_CU_LOOP(i, n) {
    S v = src[sc ? i : ft_cu_offset(sl, i)];
    dst[dc ? i : ft_cu_offset(dl, i)] = std::is_same<D, S>::value ? (D)v : (D)(double)v;
  }
}

/* Device-to-device copy of n elements between layouts (dtype conversion included). */
static int device_copy(const char *fn, cudaStream_t s, void *dst, int ddt, ft_cu_layout dl, bool dc,
                       const void *src, int sdt, ft_cu_layout sl, bool sc, int64_t n) {
  if (n == 0) return FT_OK;
  if (ddt == sdt && dc && sc) {
    if (dst != src)
      FT_CU(fn, "copying on the device",
            cudaMemcpyAsync(dst, src, (size_t)n * ft_dtype_size(ddt), cudaMemcpyDeviceToDevice, s));
    return FT_OK;
  }
  FT_CU_ANY_DISPATCH(ddt, D, FT_CU_ANY_DISPATCH(sdt, S,
    copy_kernel<D, S><<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>((D *)dst, dl, dc, (const S *)src, sl, sc, n)));
  FT_CU_LAUNCHED(fn, "the copy kernel");
  return FT_OK;
}

static ft_cu_layout flat_layout(int64_t n) {
  ft_cu_layout l;
  l.ndim = 1;
  for (int d = 0; d < FT_MAX_DIMS; d++) { l.size[d] = 1; l.stride[d] = 0; }
  l.size[0] = n;
  l.stride[0] = 1;
  return l;
}

/* Two ranges of one storage overlap (a contiguous copy must then go through a temp). */
static bool overlapping(const ft_tensor *a, const ft_tensor *b, int64_t n) {
  if (a->storage != b->storage) return false;
  int64_t ea = ft_dtype_size(a->dtype), eb = ft_dtype_size(b->dtype);
  int64_t a0 = a->offset * ea, a1 = a0 + n * ea, b0 = b->offset * eb, b1 = b0 + n * eb;
  return a0 < b1 && b0 < a1 && a0 != b0;
}

extern "C" int ft_cuda_copy(ft_tensor *dst, const ft_tensor *src) {
  const char *fn = "ft_copy";
  int64_t n = ft_numel(dst);
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  if (n == 0) return FT_OK;
  bool dc = ft_is_contiguous(dst), sc = ft_is_contiguous(src);
  int ddt = dst->dtype, sdt = src->dtype;
  size_t dbytes = (size_t)n * ft_dtype_size(ddt);

  if (ft_on_cuda(dst) && ft_on_cuda(src)) {
    if (dc && sc && overlapping(dst, src, n)) {
      ft_cu_scratch tmp;
      FT_TRY(tmp.get(fn, (size_t)n * ft_dtype_size(sdt)));
      FT_TRY(device_copy(fn, c->stream, tmp.p, sdt, flat_layout(n), true, ft_data(src), sdt,
                         flat_layout(n), true, n));
      return device_copy(fn, c->stream, ft_data(dst), ddt, flat_layout(n), true, tmp.p, sdt,
                         flat_layout(n), true, n);
    }
    return device_copy(fn, c->stream, ft_data(dst), ddt, ft_cu_layout_of(dst), dc, ft_data(src),
                       sdt, ft_cu_layout_of(src), sc, n);
  }

  if (ft_on_cuda(dst)) { /* host -> device: bring the source to dst's dtype, contiguous, on the host */
    ft_tensor *h = NULL;
    const ft_tensor *hs = src;
    if (!sc || sdt != ddt) {
      FT_TRY(ft_tensor_new(&h, ddt, FT_CPU, src->ndim, src->size));
      int st = ft_copy(h, src);
      if (st) { ft_tensor_free(h); return st; }
      hs = h;
    }
    int st = FT_OK;
    if (dc) {
      st = ft_cu_to_device(fn, c, ft_data(dst), ft_data(hs), dbytes);
    } else {
      ft_cu_scratch tmp;
      st = tmp.get(fn, dbytes);
      if (!st) st = ft_cu_to_device(fn, c, tmp.p, ft_data(hs), dbytes);
      if (!st) st = device_copy(fn, c->stream, ft_data(dst), ddt, ft_cu_layout_of(dst), false, tmp.p,
                                ddt, flat_layout(n), true, n);
    }
    ft_tensor_free(h);
    return st;
  }

  /* device -> host: convert and compact on the device, then one transfer */
  ft_cu_scratch tmp;
  const void *dsrc = ft_data(src);
  if (!sc || sdt != ddt) {
    FT_TRY(tmp.get(fn, dbytes));
    FT_TRY(device_copy(fn, c->stream, tmp.p, ddt, flat_layout(n), true, ft_data(src), sdt,
                       ft_cu_layout_of(src), sc, n));
    dsrc = tmp.p;
  }
  if (dc) return ft_cu_to_host(fn, c, ft_data(dst), dsrc, dbytes);
  ft_tensor *h = NULL;
  FT_TRY(ft_tensor_new(&h, ddt, FT_CPU, dst->ndim, dst->size));
  int st = ft_cu_to_host(fn, c, ft_data(h), dsrc, dbytes);
  if (!st) st = ft_copy(dst, h);
  ft_tensor_free(h);
  return st;
}

/* ---- element-wise ------------------------------------------------------------------------------- */
/* Operands of an element-wise kernel: pointer, layout, contiguous flag. */
struct ew_arg {
  const void *p;
  ft_cu_layout l;
  bool c;
};
static ew_arg ew_of(const ft_tensor *t) {
  ew_arg a;
  a.p = ft_data(t);
  a.l = ft_cu_layout_of(t);
  a.c = ft_is_contiguous(t);
  return a;
}
__device__ static inline int64_t ew_at(const ew_arg &a, int64_t i) { return a.c ? i : ft_cu_offset(a.l, i); }

/* kind 0: out = unary(a, arg); 1: out = binary(a, b); 2: out = binary(a, scalar arg);
 * 3: out = a + arg * b (axpy). */
template <typename T>
__global__ void ew_kernel(ew_arg out, ew_arg a, ew_arg b, int kind, int op, double arg, int64_t n) {
  T *o = (T *)out.p;
  const T *x = (const T *)a.p, *y = (const T *)b.p;
  FT_CU_LOOP(i, n) {
    double xv = (double)x[ew_at(a, i)];
    double r;
    if (kind == 0) r = unary_apply(op, xv, arg);
    else if (kind == 1) r = binary_apply(op, xv, (double)y[ew_at(b, i)]);
    else if (kind == 2) r = binary_apply(op, xv, arg);
    else r = xv + arg * (double)y[ew_at(b, i)];
    o[ew_at(out, i)] = (T)r;
  }
}
/* float32 axpy in float, as core/tensor/math.c's contiguous float loop. */
__global__ void axpy_f32_kernel(ew_arg out, ew_arg a, ew_arg b, float alpha, int64_t n) {
  FT_CU_LOOP(i, n) {
    ((float *)out.p)[ew_at(out, i)] = ((const float *)a.p)[ew_at(a, i)] + alpha * ((const float *)b.p)[ew_at(b, i)];
  }
}

static int ew_launch(const char *fn, const ft_tensor *out, const ft_tensor *a, const ft_tensor *b,
                     int kind, int op, double arg) {
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t n = ft_numel(out);
  if (n == 0) return FT_OK;
  ew_arg eo = ew_of(out), ea = ew_of(a), eb = b ? ew_of(b) : ea;
  FT_CU_ANY_DISPATCH(out->dtype, T,
    ew_kernel<T><<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>(eo, ea, eb, kind, op, arg, n));
  FT_CU_LAUNCHED(fn, "the element-wise kernel");
  return FT_OK;
}

extern "C" int ft_cuda_unary(ft_tensor *out, const ft_tensor *a, int op, double arg) {
  return ew_launch("ft_unary", out, a, NULL, 0, op, arg);
}

extern "C" int ft_cuda_binary(ft_tensor *out, const ft_tensor *a, const ft_tensor *b, int op) {
  const char *fn = "ft_binary";
  double v; /* b on the host is a broadcast scalar (ft_binary's check allows no other) */
  if (ft_host_scalar(b, &v)) return ew_launch(fn, out, a, NULL, 2, op, v);
  return ew_launch(fn, out, a, b, 1, op, 0);
}

extern "C" int ft_cuda_axpy(ft_tensor *out, const ft_tensor *a, double alpha, const ft_tensor *b) {
  const char *fn = "ft_axpy";
  if (out->dtype != FT_FLOAT32) return ew_launch(fn, out, a, b, 3, 0, alpha);
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t n = ft_numel(out);
  if (n == 0) return FT_OK;
  axpy_f32_kernel<<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>(ew_of(out), ew_of(a), ew_of(b), (float)alpha, n);
  FT_CU_LAUNCHED(fn, "the axpy kernel");
  return FT_OK;
}

/* ---- reductions ---------------------------------------------------------------------------------- */
/* One accumulator for every op: SUM/MEAN: a = sum; PROD: a = product; MAX/MIN: a = the
 * value, k = its index; VAR/STD: a = mean, b = M2 (Welford / Chan). A NaN wins max/min. */
struct acc_t { double a, b; int64_t n, k; };

__device__ static inline void acc_init(acc_t &x, int op) {
  x.a = op == FT_RED_PROD ? 1.0 : op == FT_RED_MAX ? -INFINITY : op == FT_RED_MIN ? INFINITY : 0.0;
  x.b = 0; x.n = 0; x.k = 0;
}
__device__ static inline void acc_add(acc_t &x, int op, double v, int64_t k) {
  x.n++;
  switch (op) {
  case FT_RED_SUM: case FT_RED_MEAN: x.a += v; break;
  case FT_RED_PROD: x.a *= v; break;
  case FT_RED_MAX: if ((v > x.a || isnan(v)) && !isnan(x.a)) { x.a = v; x.k = k; } break;
  case FT_RED_MIN: if ((v < x.a || isnan(v)) && !isnan(x.a)) { x.a = v; x.k = k; } break;
  default: { double d = v - x.a; x.a += d / (double)x.n; x.b += d * (v - x.a); }
  }
}
/* x = x merged with y, where y's elements come after x's (ties keep x's index). */
__device__ static inline void acc_merge(acc_t &x, const acc_t &y, int op) {
  if (y.n == 0) return;
  if (x.n == 0) { x = y; return; }
  switch (op) {
  case FT_RED_SUM: case FT_RED_MEAN: x.a += y.a; break;
  case FT_RED_PROD: x.a *= y.a; break;
  case FT_RED_MAX: if ((y.a > x.a || isnan(y.a)) && !isnan(x.a)) { x.a = y.a; x.k = y.k; } break;
  case FT_RED_MIN: if ((y.a < x.a || isnan(y.a)) && !isnan(x.a)) { x.a = y.a; x.k = y.k; } break;
  default: {
    double n = (double)(x.n + y.n), d = y.a - x.a;
    x.a += d * (double)y.n / n;
    x.b += y.b + d * d * (double)x.n * (double)y.n / n;
  }
  }
  x.n += y.n;
}
__device__ static inline double acc_result(const acc_t &x, int op) {
  switch (op) {
  case FT_RED_SUM: case FT_RED_PROD: case FT_RED_MAX: case FT_RED_MIN: return x.a;
  case FT_RED_MEAN: return x.n ? x.a / (double)x.n : NAN;
  case FT_RED_VAR: return x.n > 1 ? x.b / (double)(x.n - 1) : NAN;
  default: return x.n > 1 ? sqrt(x.b / (double)(x.n - 1)) : NAN;
  }
}

enum { RED_BLOCKS = 256, RED_THREADS = 256 };

/* Block b covers elements [b*per, (b+1)*per); its threads interleave (coalesced reads)
 * and merge in thread order. A fixed partition: the same result on every run. (The
 * index that max/min keep is not returned by ft_reduce_all, so ties may go anywhere.) */
__global__ void reduce_partial_kernel(const void *p, int dt, ft_cu_layout l, bool contig, int64_t n,
                                      int op, acc_t *part) {
  __shared__ acc_t sh[RED_THREADS];
  int64_t per_block = (n + gridDim.x - 1) / gridDim.x;
  int64_t b0 = (int64_t)blockIdx.x * per_block, b1 = min(n, b0 + per_block);
  acc_t x;
  acc_init(x, op);
  for (int64_t i = b0 + threadIdx.x; i < b1; i += blockDim.x)
    acc_add(x, op, ld_any(p, dt, contig ? i : ft_cu_offset(l, i)), i);
  sh[threadIdx.x] = x;
  __syncthreads();
  if (threadIdx.x == 0) {
    acc_t r = sh[0];
    for (int t = 1; t < (int)blockDim.x; t++) acc_merge(r, sh[t], op);
    part[blockIdx.x] = r;
  }
}

__global__ void reduce_final_kernel(const acc_t *part, int nparts, int op, double *result) {
  acc_t r = part[0];
  for (int b = 1; b < nparts; b++) acc_merge(r, part[b], op);
  *result = acc_result(r, op);
}

extern "C" int ft_cuda_reduce_all(const ft_tensor *t, int op, double *result) {
  const char *fn = "ft_reduce_all";
  int64_t n = ft_numel(t);
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  if (n == 0) {
    *result = op == FT_RED_PROD ? 1.0 : op == FT_RED_SUM ? 0.0 : NAN;
    return FT_OK;
  }
  int nb = n < (int64_t)RED_BLOCKS * RED_THREADS ? (int)((n + RED_THREADS - 1) / RED_THREADS) : RED_BLOCKS;
  ft_cu_scratch part;
  FT_TRY(part.get(fn, sizeof(acc_t) * nb + sizeof(double)));
  double *dres = (double *)(part.as<acc_t>() + nb);
  reduce_partial_kernel<<<nb, RED_THREADS, 0, c->stream>>>(ft_data(t), t->dtype, ft_cu_layout_of(t),
                                                           ft_is_contiguous(t), n, op, part.as<acc_t>());
  FT_CU_LAUNCHED(fn, "the reduction kernel");
  reduce_final_kernel<<<1, 1, 0, c->stream>>>(part.as<acc_t>(), nb, op, dres);
  FT_CU_LAUNCHED(fn, "the reduction kernel");
  return ft_cu_to_host(fn, c, result, dres, sizeof(double));
}

/* One thread per output element walks `len` inputs along the reduced dimension. */
__global__ void reduce_dim_kernel(void *out, int odt, ft_cu_layout ol, int64_t *idx, ft_cu_layout il,
                                  const void *in, int idt, ft_cu_layout tl, int64_t stride, int64_t len,
                                  int op, int64_t n) {
  FT_CU_LOOP(i, n) {
    acc_t x;
    acc_init(x, op);
    int64_t base = ft_cu_offset(tl, i);
    for (int64_t k = 0; k < len; k++) acc_add(x, op, ld_any(in, idt, base + k * stride), k);
    st_any(out, odt, ft_cu_offset(ol, i), acc_result(x, op));
    if (idx) idx[ft_cu_offset(il, i)] = x.k;
  }
}

extern "C" int ft_cuda_reduce_dim(ft_tensor *out, ft_tensor *indices, const ft_tensor *t, int dim, int op) {
  const char *fn = "ft_reduce_dim";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t n = ft_numel(out);
  if (n == 0) return FT_OK;
  ft_tensor tv = *t;
  tv.size[dim] = 1;
  ft_cu_layout il = indices ? ft_cu_layout_of(indices) : ft_cu_layout_of(out);
  reduce_dim_kernel<<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>(
      ft_data(out), out->dtype, ft_cu_layout_of(out), indices ? (int64_t *)ft_data(indices) : NULL, il,
      ft_data(t), t->dtype, ft_cu_layout_of(&tv), t->stride[dim], t->size[dim], op, n);
  FT_CU_LAUNCHED(fn, "the reduction kernel");
  return FT_OK;
}
