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
/* Memory overlap (core/tensor/overlap.c): whether the byte ranges two views can reach
 * intersect (views of one storage that stay apart do not overlap: getParameters puts
 * every parameter in one storage). NULL tensors overlap nothing. */
int ft_overlaps(const ft_tensor *a, const ft_tensor *b);
int ft_check_disjoint(const char *fn, const char *na, const ft_tensor *a, const char *nb,
                      const ft_tensor *b);
/* Shape as text, e.g. "128x16x32x32", into buf (for error messages). */
const char *ft_shape_str(const ft_tensor *t, char *buf, size_t len);
const char *ft_dtype_name(int dtype);

/* Checked arithmetic for every size, offset and stride computed from caller input:
 * each returns 1 (and leaves *r unspecified) when the exact result does not fit. */
static inline int ft_add_ovf(int64_t a, int64_t b, int64_t *r) { return __builtin_add_overflow(a, b, r); }
static inline int ft_mul_ovf(int64_t a, int64_t b, int64_t *r) { return __builtin_mul_overflow(a, b, r); }
/* 1 when rows [offset, offset + n) do not fit in [0, rows), without computing offset + n. */
static inline int ft_range_outside(int64_t offset, int64_t n, int64_t rows) {
  return offset < 0 || n < 0 || offset > rows || n > rows - offset;
}

/* Largest image (width x height) the decoders accept, checked from the header before
 * anything is allocated (core/data/limits.c; ft_set_max_image_pixels changes it). */
int ft_image_size_ok(const char *fn, const char *path, const char *kind, int64_t w, int64_t h);
/* 1 when a PNG of h rows of rowbytes cannot fit in file_size bytes at deflate's best
 * ratio (core/data/image.c). */
int ft_png_too_small(int64_t file_size, int64_t rowbytes, int64_t h);

#define FT_TRY(expr) do { int ft_status_ = (expr); if (ft_status_) return ft_status_; } while (0)

/* A 2-D t (m x n) as a row-major BLAS operand: 1 when BLAS (cblas or cuBLAS) can read it in
 * place, with *ld and *flip (1: read it as column-major, i.e. flip its transpose flag). */
int ft_blas_layout(const ft_tensor *t, int64_t *ld, int *flip);

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

/* ---- devices (CUDA backend: core/cuda/; stubs in core/cuda/stubs.c) ------------
 * Storage kinds: ft_storage.device is FT_CPU, FT_CUDA, or FT_STORAGE_PINNED for host
 * memory from cudaHostAlloc (its tensors are CPU tensors; only the free differs). */
#define FT_STORAGE_PINNED 2
static inline int ft_on_cuda(const ft_tensor *t) { return t && t->device == FT_CUDA; }
/* Count bytes of device or pinned storage in ft_bytes_allocated() (error.c). */
void ft_count_bytes(int64_t delta);
/* "fn: ... this build of Fathom has no CUDA backend" */
int ft_no_cuda(const char *fn);
/* Synchronised batch norm (core/dist/syncbn.c): 1 when the switch is on and the job has
 * more than one rank; the all-reduce of per-channel doubles (main thread, outside OpenMP),
 * its failure re-raised with fn in front. "fn: this build of Fathom has no MPI ..."
 * (core/dist/stubs.c, defined only in a build without MPI). */
int ft_bn_sync_active(void);
int ft_bn_sync_allreduce(const char *fn, double *values, int64_t n);
int ft_dist_no_mpi(const char *fn);
/* "fn: synchronised batch norm runs on CPU tensors only for now ..." (core/nn/batchnorm.c) */
int ft_bn_sync_no_cuda(const char *fn);
/* Dispatch line at the top of a CPU entry point: when cond holds (an operand lives on
 * the GPU) return the CUDA version's status. Without FT_WITH_CUDA, `call` is not even
 * compiled and the entry point fails with a clear message instead. */
#ifdef FT_WITH_CUDA
#define FT_CUDA_DISPATCH(cond, call) do { if (cond) return (call); } while (0)
#else
#define FT_CUDA_DISPATCH(cond, call) do { if (cond) return ft_no_cuda(__func__); } while (0)
#endif
/* ---- nn ops: one check, then the device's implementation ---------------------------
 * Each public nn entry point (core/nn/) checks all its arguments once, for any device
 * (shapes, dtypes, one device for every tensor, size limits), then FT_DEVICE_CALL runs
 * ft_cpu_<op> (core/nn/) or ft_cuda_<op> (core/cuda/): the same arguments, already
 * checked, so the implementations check nothing. Fused ops (the residual block) call
 * the implementations directly after their own one check. `t` picks the device. */
#ifdef FT_WITH_CUDA
#define FT_DEVICE_CALL(t, op, ...) (ft_on_cuda(t) ? ft_cuda_##op(__VA_ARGS__) : ft_cpu_##op(__VA_ARGS__))
#else
#define FT_DEVICE_CALL(t, op, ...) (ft_on_cuda(t) ? ft_no_cuda(__func__) : ft_cpu_##op(__VA_ARGS__))
#endif
/* The unchecked implementations, declared for both devices (the CUDA ones below). */
#define FT_NN_IMPLS(dev)                                                                    \
  int ft_##dev##_conv2d_forward(const ft_tensor *input, ft_tensor *output,                 \
                                const ft_tensor *weight, const ft_tensor *bias, int stride_h, \
                                int stride_w, int pad_h, int pad_w);                          \
  int ft_##dev##_conv2d_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,  \
                                       const ft_tensor *weight, int stride_h, int stride_w,   \
                                       int pad_h, int pad_w);                                 \
  int ft_##dev##_conv2d_backward_weight(const ft_tensor *input, const ft_tensor *grad_output, \
                                        ft_tensor *grad_weight, ft_tensor *grad_bias,        \
                                        int stride_h, int stride_w, int pad_h, int pad_w,    \
                                        double scale);                                        \
  int ft_##dev##_batchnorm_forward(const ft_tensor *input, ft_tensor *output,              \
                                   const ft_tensor *weight, const ft_tensor *bias,           \
                                   ft_tensor *running_mean, ft_tensor *running_var,          \
                                   ft_tensor *save_mean, ft_tensor *save_invstd, int training, \
                                   double momentum, double eps, int fuse_relu);             \
  int ft_##dev##_batchnorm_backward(const ft_tensor *input, const ft_tensor *grad_output,  \
                                    ft_tensor *grad_input, const ft_tensor *weight,         \
                                    ft_tensor *grad_weight, ft_tensor *grad_bias,           \
                                    const ft_tensor *save_mean, const ft_tensor *save_invstd, \
                                    const ft_tensor *output, int training, double scale);   \
  int ft_##dev##_relu_forward(const ft_tensor *input, ft_tensor *output);                  \
  int ft_##dev##_relu_backward(const ft_tensor *output, const ft_tensor *grad_output,      \
                               ft_tensor *grad_input);                                      \
  int ft_##dev##_avgpool2d_forward(const ft_tensor *input, ft_tensor *output, int kH, int kW, \
                                   int sH, int sW);                                         \
  int ft_##dev##_avgpool2d_backward(const ft_tensor *grad_output, ft_tensor *grad_input,   \
                                    int kH, int kW, int sH, int sW);                        \
  int ft_##dev##_channel_pad_forward(const ft_tensor *input, ft_tensor *output);           \
  int ft_##dev##_channel_pad_backward(const ft_tensor *grad_output, ft_tensor *grad_input); \
  int ft_##dev##_linear_forward(const ft_tensor *input, ft_tensor *output,                 \
                                const ft_tensor *weight, const ft_tensor *bias);            \
  int ft_##dev##_linear_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input, \
                                       const ft_tensor *weight);                            \
  int ft_##dev##_linear_backward_weight(const ft_tensor *input, const ft_tensor *grad_output, \
                                        ft_tensor *grad_weight, ft_tensor *grad_bias,       \
                                        double scale);                                      \
  int ft_##dev##_log_softmax_forward(const ft_tensor *input, ft_tensor *output);           \
  int ft_##dev##_log_softmax_backward(const ft_tensor *output, const ft_tensor *grad_output, \
                                      ft_tensor *grad_input);                               \
  int ft_##dev##_nll_forward(const ft_tensor *input, const ft_tensor *target, int index_base, \
                             int size_average, double *loss);                               \
  int ft_##dev##_nll_backward(const ft_tensor *input, const ft_tensor *target, int index_base, \
                              int size_average, double grad_scale, ft_tensor *grad_input);  \
  int ft_##dev##_topk_errors(const ft_tensor *input, const ft_tensor *target, int index_base, \
                             int k, int64_t *errors);                                       \
  int ft_##dev##_sgd_step(ft_tensor *x, ft_tensor *dx, ft_tensor *v, double lr,            \
                          double momentum, double dampening, double weight_decay,          \
                          int nesterov, int first_step);
FT_NN_IMPLS(cpu)
#ifdef FT_WITH_CUDA
FT_NN_IMPLS(cuda)
#endif
/* The size limits of a convolution with weight w [Co, Ci, kH, kW] on N images H x W into
 * Ho x Wo, on both devices: cuDNN takes 32-bit sizes, and BLAS and the CPU kernels index
 * one image's matrices with int (core/nn/conv.c; the residual block checks its convs). */
int ft_conv2d_check_limits(const char *fn, const ft_tensor *w, int64_t N, int64_t H, int64_t W,
                           int64_t Ho, int64_t Wo);
/* Labels (int64, host memory) must name classes index_base .. index_base+K-1; the one
 * check of every loss's target values, run where the labels are readable on the host
 * (core/nn/loss.c; the CUDA losses copy device labels to the host first). */
int ft_nn_check_labels(const char *fn, const int64_t *labels, int64_t N, int64_t K,
                       int index_base);

/* ---- tensor ops: one check, then the device's implementation ---------------------------
 * ft_fill, ft_copy, ft_unary, ft_binary, ft_axpy, ft_reduce_all, ft_reduce_dim
 * (core/tensor/math.c) and ft_gemm (core/tensor/blas.c) check their arguments once, for
 * any device (shapes, dtypes, op codes, every tensor on one device; ft_copy alone crosses
 * devices), then FT_DEVICE_CALL runs their CPU loops or ft_cuda_<op> (core/cuda/math.cu,
 * core/cuda/blas.cu), which check nothing. */
/* t valid and on a device Fathom knows (the CPU or the GPU). */
static inline int ft_check_placed(const char *fn, const char *name, const ft_tensor *t) {
  FT_TRY(ft_check_tensor(fn, name, t));
  if (t->device != FT_CPU && t->device != FT_CUDA)
    return ft_fail("%s: %s is on unknown device %d", fn, name, t->device);
  return FT_OK;
}
/* 1 when b is a CPU tensor holding one value broadcast everywhere (at least one element,
 * every stride 0 or size 1; Lua builds these for t:div(v) and comparisons with a number),
 * with that value in *v: ft_binary takes it as the scalar operand of a GPU op. */
int ft_host_scalar(const ft_tensor *b, double *v);

/* ---- workspaces (core/nn/workspace.c): the nn kernels' scratch, per thread and per
 * device, one buffer per slot, grown when too small and kept between calls (counted in
 * ft_bytes_allocated; ft_workspace_free in fathom.h releases the thread's). A slot's
 * contents live until the next request of the same slot on the same thread. */
enum {
  FT_WS_CONV = 0,   /* conv's im2col columns and partial weight gradients (CPU)      */
  FT_WS_CUDNN,      /* cuDNN's convolution workspace (GPU)                             */
  FT_WS_BN,         /* batch norm's partial statistics and coefficients (GPU)          */
  FT_WS_RB_G,       /* the residual block's temporaries (core/nn/resblock.c)           */
  FT_WS_RB_H,
  FT_WS_RB_C,
  FT_WS_RB_R,
  FT_WS_DIRECT,     /* core/nn/conv_direct.c: the threads' buffers (phase planes,       */
  FT_WS_DIRECT2,    /*   partial sums); the repacked weights; the lane masks of every   */
  FT_WS_DIRECT_GEOM,/*   geometry of the call; the tap tables of the stride phases;     */
  FT_WS_DIRECT_TAPS,/*   the per-call tap and phase scratch (each live at once: one     */
  FT_WS_DIRECT_PH,  /*   slot each, so none aliases another)                           */
  FT_WS_N
};
/* slot's buffer viewed as a contiguous tensor of dtype and size (valid until the next
 * request of the slot); the header is the workspace's own: do not free it. */
int ft_workspace_tensor(const char *fn, int slot, int dtype, int device, int ndim,
                        const int64_t *size, ft_tensor **out);
/* slot's buffer as at least nbytes bytes (64-byte aligned on the CPU). */
int ft_workspace_bytes(const char *fn, int slot, int device, size_t nbytes, void **out);

/* ft_tensor_new with the storage's kind: FT_CPU, FT_CUDA or FT_STORAGE_PINNED (tensor.c). */
int ft_tensor_new_kind(ft_tensor **out, int dtype, int device, int storage_kind, int ndim,
                       const int64_t *size);
/* Any device: tensor valid and on `device` (FT_CPU or FT_CUDA). */
int ft_check_device(const char *fn, const char *name, const ft_tensor *t, int device);

#ifdef FT_WITH_CUDA
/* Storage (core/cuda/runtime.cu): device blocks from the caching allocator, pinned host. */
int ft_cuda_storage_alloc(const char *fn, void **data, size_t nbytes);
void ft_cuda_storage_free(void *data, size_t nbytes);
int ft_cuda_pinned_alloc(const char *fn, void **data, size_t nbytes);
void ft_cuda_pinned_free(void *data, size_t nbytes);
int ft_cuda_get(const ft_tensor *t, int64_t offset, double *value);
int ft_cuda_set(ft_tensor *t, int64_t offset, double value);
/* The CUDA implementations of the tensor ops (core/cuda/math.cu, core/cuda/blas.cu): same
 * arguments and semantics as the public ops, already checked by them (see "tensor ops"
 * above). The nn ops' CUDA implementations are listed with FT_NN_IMPLS above. */
int ft_cuda_fill(ft_tensor *t, double value);
int ft_cuda_copy(ft_tensor *dst, const ft_tensor *src);
int ft_cuda_unary(ft_tensor *out, const ft_tensor *a, int op, double arg);
int ft_cuda_binary(ft_tensor *out, const ft_tensor *a, const ft_tensor *b, int op);
int ft_cuda_axpy(ft_tensor *out, const ft_tensor *a, double alpha, const ft_tensor *b);
int ft_cuda_reduce_all(const ft_tensor *t, int op, double *result);
int ft_cuda_reduce_dim(ft_tensor *out, ft_tensor *indices, const ft_tensor *t, int dim, int op);
int ft_cuda_gemm(ft_tensor *c, const ft_tensor *a, const ft_tensor *b, int trans_a, int trans_b,
                 double alpha, double beta);
/* The residual block's own loops on device pointers (core/cuda/resblock.cu); dtype is
 * FT_FLOAT32 or FT_FLOAT64, pointers are device memory, idx is a HOST array of k
 * 0-based sample indices (uploaded by the call; combine's pos: N entries, -1 for a
 * sample not kept). Same meaning as resblock.c's loops of the same names. */
int ft_cuda_rb_combine(int dtype, void *out, const void *y, const int64_t *pos, double s,
                       const void *sc, int64_t N, int64_t C, int64_t Cs, int64_t HW);
int ft_cuda_rb_scatter_add_rows(int dtype, void *out, const void *y, const int64_t *idx,
                                int64_t k, int64_t row, double s);
int ft_cuda_rb_gather_rows(void *dst, const void *src, const int64_t *idx, int64_t k, size_t row_bytes);
int ft_cuda_rb_gather_rows_scaled(int dtype, void *dst, const void *src, const int64_t *idx,
                                  int64_t k, int64_t row, double s);
int ft_cuda_rb_relu_mask(int dtype, void *g, const void *go, const void *out, int64_t n);
int ft_cuda_rb_scale_inplace(int dtype, void *x, double s, int64_t n);
int ft_cuda_rb_add_inplace(int dtype, void *x, const void *y, int64_t n);
#endif

#endif
