/* cuda/cuda_common.cuh -- what every core/cuda/ shares: the per-device context (stream,
 * cuDNN and cuBLAS handles), error conversion (every CUDA/cuDNN/cuBLAS status becomes
 * an ft_fail message naming the operation; nothing aborts), scratch memory from the
 * caching allocator and launch helpers. No argument checks: the nn entry points in
 * core/nn/ check once for both devices before they call the ft_cuda_* here.
 * Private to the CUDA sources; the C sources see only internal.h's ft_cuda_* list. */
#ifndef FATHOM_CUDA_COMMON_CUH
#define FATHOM_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <cudnn.h>
#include <cublas_v2.h>
#include <stdint.h>
#include <stddef.h>

extern "C" {
#include "internal.h"
}

/* ---- the device context ------------------------------------------------------------ */
struct ft_cu_ctx {
  int device;
  cudaStream_t stream;          /* the one stream of this device: all our work      */
  cudnnHandle_t cudnn;          /* created on first use (core/cuda/conv.cu)             */
  cublasHandle_t cublas;        /* created on first use (core/cuda/blas.cu, dlopen'ed)  */
  int sm_count;
};

/* The current device's context, initialised on first use; fails (naming fn) when no
 * device is usable. Every CUDA entry point calls it before touching the GPU. */
int ft_cu_ctx_get(const char *fn, ft_cu_ctx **out);

/* Settings (core/cuda/runtime.cu). */
int ft_cu_deterministic(void);
int ft_cu_benchmark(void);
int ft_cu_tf32(void);

/* A CUDA status as an ft_fail: "fn: what failed: <CUDA's message>". Clears the
 * (non-sticky) error so that later calls are not blamed for it. */
int ft_cu_fail(const char *fn, const char *what, cudaError_t e);
#define FT_CU(fn, what, call)                                                              \
  do { cudaError_t ft_e_ = (call); if (ft_e_ != cudaSuccess) return ft_cu_fail(fn, what, ft_e_); } while (0)
/* After a kernel launch: a bad configuration or an earlier asynchronous fault. */
#define FT_CU_LAUNCHED(fn, what) FT_CU(fn, what, cudaGetLastError())
#define FT_CUDNN(fn, what, call)                                                           \
  do { cudnnStatus_t ft_s_ = (call); if (ft_s_ != CUDNN_STATUS_SUCCESS)                   \
         return ft_fail("%s: %s failed: %s", fn, what, cudnnGetErrorString(ft_s_)); } while (0)

/* Device blocks from the caching allocator (core/cuda/runtime.cu); nbytes 0 gives NULL. */
int ft_cu_alloc(const char *fn, void **p, size_t nbytes);
void ft_cu_free(void *p);

/* Scratch device memory for the duration of one call: the block goes back to the cache
 * at scope exit. Safe although kernels using it may still be queued: every later use of
 * the block is queued behind them on the same stream. */
struct ft_cu_scratch {
  void *p = nullptr;
  ft_cu_scratch() {}
  ft_cu_scratch(const ft_cu_scratch &) = delete;
  ft_cu_scratch &operator=(const ft_cu_scratch &) = delete;
  ~ft_cu_scratch() { ft_cu_free(p); }
  int get(const char *fn, size_t nbytes) {
    ft_cu_free(p);
    p = nullptr;
    return ft_cu_alloc(fn, &p, nbytes);
  }
  template <typename T> T *as() const { return static_cast<T *>(p); }
};

/* Host <-> device copies on the stream; the _sync versions wait for the stream (the
 * host then reads or reuses its buffer). */
int ft_cu_to_host(const char *fn, ft_cu_ctx *ctx, void *dst, const void *src, size_t nbytes);
int ft_cu_to_device(const char *fn, ft_cu_ctx *ctx, void *dst, const void *src, size_t nbytes);

/* ---- launches -------------------------------------------------------------------------- */
#define FT_CU_THREADS 256
/* Blocks for a grid-stride loop over n elements (capped: the loop covers the rest). */
static inline unsigned ft_cu_blocks(int64_t n, int threads = FT_CU_THREADS) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65536) b = 65536;
  return (unsigned)b;
}
#define FT_CU_LOOP(i, n)                                                                   \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);               \
       i += (int64_t)blockDim.x * gridDim.x)

/* The element type of a float dtype; FT_CU_FLOAT_DISPATCH(dtype, T, body) runs body
 * with T = float or double. */
#define FT_CU_FLOAT_DISPATCH(dtype, T, ...)                                                \
  do { if ((dtype) == FT_FLOAT32) { typedef float T; __VA_ARGS__; }                        \
       else { typedef double T; __VA_ARGS__; } } while (0)

/* ---- strided addressing (up to FT_MAX_DIMS dims), passed to kernels by value ------- */
struct ft_cu_layout {
  int ndim;
  int64_t size[FT_MAX_DIMS];
  int64_t stride[FT_MAX_DIMS];
};
static inline ft_cu_layout ft_cu_layout_of(const ft_tensor *t) {
  ft_cu_layout l;
  l.ndim = t->ndim;
  for (int d = 0; d < FT_MAX_DIMS; d++) {
    l.size[d] = d < t->ndim ? t->size[d] : 1;
    l.stride[d] = d < t->ndim ? t->stride[d] : 0;
  }
  return l;
}
/* Element offset of the i-th element (row-major order) of a tensor with layout l. */
__device__ static inline int64_t ft_cu_offset(const ft_cu_layout &l, int64_t i) {
  int64_t off = 0;
  for (int d = l.ndim - 1; d >= 0; d--) {
    int64_t s = l.size[d];
    int64_t q = i / s;
    off += (i - q * s) * l.stride[d];
    i = q;
  }
  return off;
}

#endif
