/* cuda/resblock.cu -- the residual block's own loops (core/nn/resblock.c) on device
 * pointers: the fused combine out = ReLU(s * y + pad(shortcut)), the row mode's gathers
 * and scatter-add of the kept samples, and the small in-place passes of backward.
 * resblock.c runs its branch through the public kernels (which dispatch to the GPU by
 * themselves); these are the loops it writes by hand, so a CUDA block needs them too.
 * Row indices live on the host (the gates are drawn there); each call that needs them
 * uploads the k indices (k * 8 bytes) before its kernel. */
#include "cuda_common.cuh"

static int stream_of(const char *fn, ft_cu_ctx **c) { return ft_cu_ctx_get(fn, c); }

/* Upload k host indices into scratch. */
static int upload_idx(const char *fn, ft_cu_ctx *c, const int64_t *idx, int64_t k, ft_cu_scratch *d) {
  FT_TRY(d->get(fn, (size_t)k * sizeof(int64_t)));
  return ft_cu_to_device(fn, c, d->p, idx, (size_t)k * sizeof(int64_t));
}

/* out [N,C,HW] = ReLU(s * y + pad(sc)), sc [N,Cs,HW] zero-padded to C. y: [N,C,HW] (may be
 * out) or NULL for a closed branch; with pos, y holds only the kept rows and sample n's
 * row is pos[n] (-1: not kept). As resblock.c's combine. */
template <typename T>
__global__ void combine_kernel(T *out, const T *y, const int64_t *pos, T s, const T *sc, int64_t N, int64_t C,
                               int64_t Cs, int64_t HW) {
  FT_CU_LOOP(e, N * C * HW) {
    int64_t i = e % HW, c = (e / HW) % C, n = e / (HW * C);
    int64_t row = pos ? pos[n] : n;
    bool has_y = y && row >= 0, has_s = c < Cs;
    T v = 0;
    if (has_y && has_s) v = s * y[(row * C + c) * HW + i] + sc[(n * Cs + c) * HW + i];
    else if (has_y) v = s * y[(row * C + c) * HW + i];
    else if (has_s) v = sc[(n * Cs + c) * HW + i];
    out[e] = v > 0 ? v : (T)0;
  }
}

extern "C" int ft_cuda_rb_combine(int dtype, void *out, const void *y, const int64_t *pos, double s,
                                  const void *sc, int64_t N, int64_t C, int64_t Cs, int64_t HW) {
  const char *fn = "ft_resblock_forward";
  ft_cu_ctx *c;
  FT_TRY(stream_of(fn, &c));
  int64_t n = N * C * HW;
  if (!n) return FT_OK;
  ft_cu_scratch d;
  if (pos) FT_TRY(upload_idx(fn, c, pos, N, &d));
  FT_CU_FLOAT_DISPATCH(dtype, T,
    combine_kernel<T><<<ft_cu_blocks(n), FT_CU_THREADS, 0, c->stream>>>((T *)out, (const T *)y,
        pos ? d.as<int64_t>() : (const int64_t *)NULL, (T)s, (const T *)sc, N, C, Cs, HW));
  FT_CU_LAUNCHED(fn, "the combine kernel");
  return FT_OK;
}

/* dst[j] = s * src[idx[j]] for rows of `row` elements. */
template <typename T>
__global__ void gather_scaled_kernel(T *dst, const T *src, const int64_t *idx, int64_t k, int64_t row, T s) {
  FT_CU_LOOP(e, k * row) {
    int64_t j = e / row, i = e - j * row;
    dst[e] = s * src[idx[j] * row + i];
  }
}

extern "C" int ft_cuda_rb_gather_rows_scaled(int dtype, void *dst, const void *src, const int64_t *idx, int64_t k,
                                             int64_t row, double s) {
  const char *fn = "ft_resblock_backward";
  ft_cu_ctx *c;
  FT_TRY(stream_of(fn, &c));
  if (k * row == 0) return FT_OK;
  ft_cu_scratch d;
  FT_TRY(upload_idx(fn, c, idx, k, &d));
  FT_CU_FLOAT_DISPATCH(dtype, T,
    gather_scaled_kernel<T><<<ft_cu_blocks(k * row), FT_CU_THREADS, 0, c->stream>>>((T *)dst, (const T *)src,
        d.as<int64_t>(), k, row, (T)s));
  FT_CU_LAUNCHED(fn, "the gather kernel");
  return FT_OK;
}

/* out[idx[j]] += s * y[j], rows of `row` elements. */
template <typename T>
__global__ void scatter_add_kernel(T *out, const T *y, const int64_t *idx, int64_t k, int64_t row, T s) {
  FT_CU_LOOP(e, k * row) {
    int64_t j = e / row, i = e - j * row;
    out[idx[j] * row + i] += s * y[e];
  }
}

extern "C" int ft_cuda_rb_scatter_add_rows(int dtype, void *out, const void *y, const int64_t *idx, int64_t k,
                                           int64_t row, double s) {
  const char *fn = "ft_resblock";
  ft_cu_ctx *c;
  FT_TRY(stream_of(fn, &c));
  if (k * row == 0) return FT_OK;
  ft_cu_scratch d;
  FT_TRY(upload_idx(fn, c, idx, k, &d));
  FT_CU_FLOAT_DISPATCH(dtype, T,
    scatter_add_kernel<T><<<ft_cu_blocks(k * row), FT_CU_THREADS, 0, c->stream>>>((T *)out, (const T *)y,
        d.as<int64_t>(), k, row, (T)s));
  FT_CU_LAUNCHED(fn, "the scatter kernel");
  return FT_OK;
}

/* dst row j = src row idx[j], byte rows copied as 4-byte words when aligned. */
__global__ void gather_kernel(char *dst, const char *src, const int64_t *idx, int64_t k, int64_t row) {
  FT_CU_LOOP(e, k * row) {
    int64_t j = e / row, i = e - j * row;
    dst[e] = src[idx[j] * row + i];
  }
}
__global__ void gather_kernel4(uint32_t *dst, const uint32_t *src, const int64_t *idx, int64_t k, int64_t row) {
  FT_CU_LOOP(e, k * row) {
    int64_t j = e / row, i = e - j * row;
    dst[e] = src[idx[j] * row + i];
  }
}

extern "C" int ft_cuda_rb_gather_rows(void *dst, const void *src, const int64_t *idx, int64_t k, size_t row_bytes) {
  const char *fn = "ft_resblock";
  ft_cu_ctx *c;
  FT_TRY(stream_of(fn, &c));
  if (k == 0 || row_bytes == 0) return FT_OK;
  ft_cu_scratch d;
  FT_TRY(upload_idx(fn, c, idx, k, &d));
  if (row_bytes % 4 == 0 && ((uintptr_t)dst | (uintptr_t)src) % 4 == 0) {
    int64_t row = (int64_t)row_bytes / 4;
    gather_kernel4<<<ft_cu_blocks(k * row), FT_CU_THREADS, 0, c->stream>>>((uint32_t *)dst, (const uint32_t *)src,
                                                                           d.as<int64_t>(), k, row);
  } else {
    gather_kernel<<<ft_cu_blocks(k * (int64_t)row_bytes), FT_CU_THREADS, 0, c->stream>>>(
        (char *)dst, (const char *)src, d.as<int64_t>(), k, (int64_t)row_bytes);
  }
  FT_CU_LAUNCHED(fn, "the gather kernel");
  return FT_OK;
}

/* kind 1: g = out > 0 ? go : 0; 2: x *= s; 3: x += y. */
template <typename T>
__global__ void small_kernel(int kind, T *x, const T *a, const T *b, T s, int64_t n) {
  FT_CU_LOOP(i, n) {
    if (kind == 1) x[i] = b[i] > 0 ? a[i] : (T)0;
    else if (kind == 2) x[i] *= s;
    else x[i] += a[i];
  }
}

static int small(int kind, int dtype, void *x, const void *a, const void *b, double s, int64_t n) {
  const char *fn = "ft_resblock";
  ft_cu_ctx *c;
  FT_TRY(stream_of(fn, &c));
  if (!n) return FT_OK;
  FT_CU_FLOAT_DISPATCH(dtype, T,
    small_kernel<T><<<ft_cu_blocks(n), FT_CU_THREADS, 0, c->stream>>>(kind, (T *)x, (const T *)a, (const T *)b,
        (T)s, n));
  FT_CU_LAUNCHED(fn, "an element-wise kernel");
  return FT_OK;
}

extern "C" int ft_cuda_rb_relu_mask(int dtype, void *g, const void *go, const void *out, int64_t n) {
  return small(1, dtype, g, go, out, 0, n);
}
extern "C" int ft_cuda_rb_scale_inplace(int dtype, void *x, double s, int64_t n) {
  return small(2, dtype, x, NULL, NULL, s, n);
}
extern "C" int ft_cuda_rb_add_inplace(int dtype, void *x, const void *y, int64_t n) {
  return small(3, dtype, x, y, NULL, 0, n);
}
