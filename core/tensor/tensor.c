/* tensor/tensor.c -- tensor headers, reference-counted storages, views, element access.
 * A tensor owns one reference to its storage; views are new headers on the same
 * storage, so a view outliving its parent is safe. */
#include "internal.h"
#include <stdlib.h>
#include <string.h>

static int64_t tensors_live = 0;
int64_t ft_live_tensors(void) { return __atomic_load_n(&tensors_live, __ATOMIC_RELAXED); }

static ft_tensor *header_new(void) {
  ft_tensor *t = calloc(1, sizeof *t);
  if (t) __atomic_add_fetch(&tensors_live, 1, __ATOMIC_RELAXED);
  return t;
}

/* Free a storage's bytes by their kind: host, device (back to the CUDA cache), pinned. */
static void data_free(int kind, void *data, size_t nbytes) {
#ifdef FT_WITH_CUDA
  if (kind == FT_CUDA) { ft_cuda_storage_free(data, nbytes); return; }
  if (kind == FT_STORAGE_PINNED) { ft_cuda_pinned_free(data, nbytes); return; }
#endif
  ft_free_bytes(data, nbytes);
}

static void storage_release(ft_storage *s) {
  if (!s) return;
  if (__atomic_sub_fetch(&s->refcount, 1, __ATOMIC_ACQ_REL) == 0) {
    data_free(s->device, s->data, (size_t)s->nbytes);
    free(s);
  }
}

void ft_tensor_free(ft_tensor *t) {
  if (!t) return;
  storage_release(t->storage);
  free(t);
  __atomic_sub_fetch(&tensors_live, 1, __ATOMIC_RELAXED);
}

int64_t ft_numel(const ft_tensor *t) {
  if (!t || t->ndim == 0) return 0;
  int64_t n = 1;
  for (int d = 0; d < t->ndim; d++) n *= t->size[d];
  return n;
}

int ft_is_contiguous(const ft_tensor *t) {
  if (!t) return 0;
  int64_t expect = 1;
  for (int d = t->ndim - 1; d >= 0; d--) {
    if (t->size[d] != 1 && t->stride[d] != expect) return 0;
    expect *= t->size[d];
  }
  return 1;
}

void *ft_data(const ft_tensor *t) {
  if (!t || !t->storage) return NULL;
  return (char *)t->storage->data + t->offset * ft_dtype_size(t->dtype);
}

static void set_contiguous_strides(ft_tensor *t) {
  int64_t s = 1;
  for (int d = t->ndim - 1; d >= 0; d--) { t->stride[d] = s; s *= t->size[d]; }
}

static int check_sizes(const char *fn, int ndim, const int64_t *size, int64_t *numel) {
  if (ndim < 0 || ndim > FT_MAX_DIMS)
    return ft_fail("%s: %d dimensions requested (0 to %d allowed)", fn, ndim, FT_MAX_DIMS);
  if (ndim > 0 && !size) return ft_fail("%s: size is NULL", fn);
  /* The product of the non-zero sizes is bounded too (not only the element count), so
   * the contiguous strides of a tensor with a zero size cannot overflow either. */
  int64_t n = ndim ? 1 : 0, nonzero = 1;
  for (int d = 0; d < ndim; d++) {
    if (size[d] < 0) return ft_fail("%s: size %lld of dimension %d is negative", fn,
                                    (long long)size[d], d + 1);
    if (size[d] && nonzero > (INT64_C(1) << 40) / size[d])
      return ft_fail("%s: %d-dimensional size too large", fn, ndim);
    if (size[d]) nonzero *= size[d]; else n = 0;
  }
  *numel = n ? nonzero : 0;
  return FT_OK;
}

/* storage_kind: FT_CPU, FT_CUDA (device memory) or FT_STORAGE_PINNED (a CPU tensor in
 * page-locked host memory, for ft_cuda_pinned_new). */
int ft_tensor_new_kind(ft_tensor **out, int dtype, int device, int storage_kind, int ndim,
                       const int64_t *size) {
  const char *fn = storage_kind == FT_STORAGE_PINNED ? "ft_cuda_pinned_new" : "ft_tensor_new";
  int64_t n;
  if (!out) return ft_fail("%s: out is NULL", fn);
  *out = NULL;
  if (!ft_dtype_size(dtype)) return ft_fail("%s: unknown dtype %d", fn, dtype);
  if (device != FT_CPU && device != FT_CUDA) return ft_fail("%s: unknown device %d", fn, device);
  FT_TRY(check_sizes(fn, ndim, size, &n));
  size_t nbytes = (size_t)n * ft_dtype_size(dtype);
  void *data = NULL;
  if (storage_kind != FT_CPU) {
#ifdef FT_WITH_CUDA
    FT_TRY(storage_kind == FT_CUDA ? ft_cuda_storage_alloc(fn, &data, nbytes)
                                   : ft_cuda_pinned_alloc(fn, &data, nbytes));
#else
    return ft_no_cuda(fn);
#endif
  } else {
    data = ft_alloc(nbytes);
    if (data) memset(data, 0, nbytes);
  }
  ft_storage *s = calloc(1, sizeof *s);
  ft_tensor *t = header_new();
  if (!s || !t || (!data && (storage_kind != FT_CUDA || nbytes > 0))) { /* 0 device bytes: NULL */
    free(s); ft_tensor_free(t);
    if (data) data_free(storage_kind, data, nbytes);
    return ft_fail("%s: out of memory allocating %zu bytes", fn, nbytes);
  }
  s->data = data; s->nbytes = (int64_t)nbytes; s->refcount = 1; s->device = storage_kind;
  t->dtype = dtype; t->device = device; t->ndim = ndim; t->storage = s;
  for (int d = 0; d < ndim; d++) t->size[d] = size[d];
  set_contiguous_strides(t);
  *out = t;
  return FT_OK;
}

int ft_tensor_new(ft_tensor **out, int dtype, int device, int ndim, const int64_t *size) {
  return ft_tensor_new_kind(out, dtype, device, device == FT_CUDA ? FT_CUDA : FT_CPU, ndim, size);
}

int ft_new_like(ft_tensor **out, const ft_tensor *t) {
  return ft_tensor_new(out, t->dtype, t->device, t->ndim, t->size);
}

int ft_tensor_alias(ft_tensor **out, const ft_tensor *t) {
  if (!out) return ft_fail("ft_tensor_alias: out is NULL");
  *out = NULL;
  FT_TRY(ft_check_tensor("ft_tensor_alias", "tensor", t));
  ft_tensor *v = header_new();
  if (!v) return ft_fail("ft_tensor_alias: out of memory");
  *v = *t;
  __atomic_add_fetch(&t->storage->refcount, 1, __ATOMIC_ACQ_REL);
  *out = v;
  return FT_OK;
}

/* Validate out, t and a 0-based dim for the view functions below. */
static int check_dim(const char *fn, ft_tensor **out, const ft_tensor *t, int dim) {
  if (!out) return ft_fail("%s: out is NULL", fn);
  *out = NULL;
  FT_TRY(ft_check_tensor(fn, "tensor", t));
  if (dim < 0 || dim >= t->ndim)
    return ft_fail("%s: dimension %lld out of range (tensor has %d dimensions)", fn, dim + 1LL,
                   t->ndim);
  return FT_OK;
}

int ft_tensor_narrow(ft_tensor **out, const ft_tensor *t, int dim, int64_t start, int64_t len) {
  const char *fn = "ft_tensor_narrow";
  FT_TRY(check_dim(fn, out, t, dim));
  if (ft_range_outside(start, len, t->size[dim])) {
    int64_t end;
    if (ft_add_ovf(start, len, &end)) end = INT64_MAX - 1; /* for the message only */
    return ft_fail("%s: range [%lld, %lld) out of bounds for dimension %d of size %lld", fn,
                   (long long)start + 1, (long long)end + 1, dim + 1, (long long)t->size[dim]);
  }
  /* start = size (an empty slice at the end) may step past what the view reaches */
  int64_t offset;
  if (ft_mul_ovf(start, t->stride[dim], &offset) || ft_add_ovf(t->offset, offset, &offset))
    return ft_fail("%s: start %lld with stride %lld overflows 64 bits", fn, (long long)start + 1,
                   (long long)t->stride[dim]);
  FT_TRY(ft_tensor_alias(out, t));
  (*out)->offset = offset;
  (*out)->size[dim] = len;
  return FT_OK;
}

int ft_tensor_select(ft_tensor **out, const ft_tensor *t, int dim, int64_t index) {
  const char *fn = "ft_tensor_select";
  FT_TRY(check_dim(fn, out, t, dim));
  if (t->ndim == 1) return ft_fail("%s: cannot select on a 1-D tensor (use get)", fn);
  if (index < 0 || index >= t->size[dim])
    return ft_fail("%s: index %lld out of range for dimension %d of size %lld", fn,
                   (long long)index + 1, dim + 1, (long long)t->size[dim]);
  FT_TRY(ft_tensor_alias(out, t));
  ft_tensor *v = *out;
  v->offset += index * t->stride[dim];
  for (int d = dim; d < t->ndim - 1; d++) {
    v->size[d] = t->size[d + 1];
    v->stride[d] = t->stride[d + 1];
  }
  v->ndim--;
  return FT_OK;
}

int ft_tensor_transpose(ft_tensor **out, const ft_tensor *t, int dim0, int dim1) {
  const char *fn = "ft_tensor_transpose";
  FT_TRY(check_dim(fn, out, t, dim0));
  FT_TRY(check_dim(fn, out, t, dim1));
  FT_TRY(ft_tensor_alias(out, t));
  ft_tensor *v = *out;
  v->size[dim0] = t->size[dim1]; v->size[dim1] = t->size[dim0];
  v->stride[dim0] = t->stride[dim1]; v->stride[dim1] = t->stride[dim0];
  return FT_OK;
}

int ft_tensor_view(ft_tensor **out, const ft_tensor *t, int ndim, const int64_t *size) {
  const char *fn = "ft_tensor_view";
  char buf[128];
  int64_t n;
  if (!out) return ft_fail("%s: out is NULL", fn);
  *out = NULL;
  FT_TRY(ft_check_tensor(fn, "tensor", t));
  FT_TRY(check_sizes(fn, ndim, size, &n));
  if (n != ft_numel(t))
    return ft_fail("%s: cannot view a tensor of %lld elements (%s) with %lld elements", fn,
                   (long long)ft_numel(t), ft_shape_str(t, buf, sizeof buf), (long long)n);
  if (!ft_is_contiguous(t))
    return ft_fail("%s: tensor must be contiguous (call :contiguous() first)", fn);
  FT_TRY(ft_tensor_alias(out, t));
  ft_tensor *v = *out;
  v->ndim = ndim;
  for (int d = 0; d < ndim; d++) v->size[d] = size[d];
  set_contiguous_strides(v);
  return FT_OK;
}

int ft_tensor_as_strided(ft_tensor **out, const ft_tensor *t, int ndim, const int64_t *size,
                         const int64_t *stride, int64_t offset) {
  const char *fn = "ft_tensor_as_strided";
  int64_t n;
  if (!out) return ft_fail("%s: out is NULL", fn);
  *out = NULL;
  FT_TRY(ft_check_tensor(fn, "tensor", t));
  FT_TRY(check_sizes(fn, ndim, size, &n));
  if (ndim > 0 && !stride) return ft_fail("%s: stride is NULL", fn);
  if (offset < 0) return ft_fail("%s: negative offset", fn);
  int64_t last = offset, reach;
  for (int d = 0; d < ndim; d++) {
    if (stride[d] < 0) return ft_fail("%s: negative stride in dimension %d", fn, d + 1);
    if (size[d] > 0 && (ft_mul_ovf(size[d] - 1, stride[d], &reach) || ft_add_ovf(last, reach, &last)))
      return ft_fail("%s: offset %lld with stride %lld in dimension %d overflows 64 bits", fn,
                     (long long)offset, (long long)stride[d], d + 1);
  }
  int64_t capacity = t->storage->nbytes / ft_dtype_size(t->dtype);
  /* An empty view may end just past the storage, no further: its data pointer is still
   * computed, and narrow / select step along its non-empty dimensions. */
  if (n > 0 ? last >= capacity : last > capacity)
    return ft_fail("%s: view reaches element %lld of a storage of %lld", fn,
                   (long long)last + 1, (long long)capacity);
  FT_TRY(ft_tensor_alias(out, t));
  ft_tensor *v = *out;
  v->ndim = ndim;
  v->offset = offset;
  for (int d = 0; d < ndim; d++) { v->size[d] = size[d]; v->stride[d] = stride[d]; }
  return FT_OK;
}

int ft_tensor_contiguous(ft_tensor **out, const ft_tensor *t) {
  if (!out) return ft_fail("ft_tensor_contiguous: out is NULL");
  *out = NULL;
  FT_TRY(ft_check_tensor("ft_tensor_contiguous", "tensor", t));
  if (ft_is_contiguous(t)) return ft_tensor_alias(out, t);
  return ft_tensor_to_dtype(out, t, t->dtype);
}

int ft_tensor_to_dtype(ft_tensor **out, const ft_tensor *t, int dtype) {
  if (!out) return ft_fail("ft_tensor_to_dtype: out is NULL");
  *out = NULL;
  FT_TRY(ft_check_tensor("ft_tensor_to_dtype", "tensor", t));
  FT_TRY(ft_tensor_new(out, dtype, t->device, t->ndim, t->size));
  int st = ft_copy(*out, t);
  if (st) { ft_tensor_free(*out); *out = NULL; }
  return st;
}

int ft_tensor_reshape(ft_tensor **out, const ft_tensor *t, int ndim, const int64_t *size) {
  if (!out) return ft_fail("ft_tensor_reshape: out is NULL");
  *out = NULL;
  FT_TRY(ft_check_tensor("ft_tensor_reshape", "tensor", t));
  if (ft_is_contiguous(t)) return ft_tensor_view(out, t, ndim, size);
  ft_tensor *c;
  FT_TRY(ft_tensor_contiguous(&c, t));
  int st = ft_tensor_view(out, c, ndim, size);
  ft_tensor_free(c);
  return st;
}

static int element_offset(const char *fn, const ft_tensor *t, const int64_t *index, int64_t *off) {
  FT_TRY(ft_check_tensor(fn, "tensor", t));
  if (t->ndim == 0) return ft_fail("%s: tensor is empty", fn);
  if (!index) return ft_fail("%s: index is NULL", fn);
  int64_t o = 0;
  for (int d = 0; d < t->ndim; d++) {
    if (index[d] < 0 || index[d] >= t->size[d])
      return ft_fail("%s: index %lld out of range for dimension %d of size %lld", fn,
                     (long long)index[d] + 1, d + 1, (long long)t->size[d]);
    o += index[d] * t->stride[d];
  }
  *off = o;
  return FT_OK;
}

int ft_get(const ft_tensor *t, const int64_t *index, double *value) {
  int64_t o;
  FT_TRY(element_offset("ft_get", t, index, &o));
  if (!value) return ft_fail("ft_get: value is NULL");
  FT_CUDA_DISPATCH(ft_on_cuda(t), ft_cuda_get(t, o, value));
  void *p = ft_data(t);
  switch (t->dtype) {
  case FT_FLOAT32: *value = ((float *)p)[o]; break;
  case FT_FLOAT64: *value = ((double *)p)[o]; break;
  case FT_INT64: *value = (double)((int64_t *)p)[o]; break;
  case FT_UINT8: *value = ((uint8_t *)p)[o]; break;
  }
  return FT_OK;
}

int ft_set(ft_tensor *t, const int64_t *index, double value) {
  int64_t o;
  FT_TRY(element_offset("ft_set", t, index, &o));
  FT_CUDA_DISPATCH(ft_on_cuda(t), ft_cuda_set(t, o, value));
  void *p = ft_data(t);
  switch (t->dtype) {
  case FT_FLOAT32: ((float *)p)[o] = (float)value; break;
  case FT_FLOAT64: ((double *)p)[o] = value; break;
  case FT_INT64: ((int64_t *)p)[o] = (int64_t)value; break;
  case FT_UINT8: ((uint8_t *)p)[o] = (uint8_t)value; break;
  }
  return FT_OK;
}

void ft_iter_init(ft_iter *it, const ft_tensor *t) {
  it->ndim = t->ndim;
  it->offset = 0;
  for (int d = 0; d < t->ndim; d++) {
    it->size[d] = t->size[d];
    it->stride[d] = t->stride[d];
    it->index[d] = 0;
  }
}
