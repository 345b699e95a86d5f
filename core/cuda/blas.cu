/* cuda/blas.cu -- matrix products on the GPU through cuBLAS, and the fully connected
 * layer (ft_linear_*) built on them: the GPU side of core/tensor/blas.c and core/nn/linear.c.
 *
 * cuBLAS is opened with dlopen on first use rather than linked: the library (with
 * cublasLt) takes about 0.6 s to load, which every process would pay, GPU or not --
 * the CPU test suite and the REPL included. Only the six functions used here are
 * looked up. Arguments come checked by ft_gemm (core/tensor/blas.c) or by the linear
 * layer's one check (core/nn/linear.c); only cuBLAS's own failures are reported here.
 * Row-major tensors are handed to column-major cuBLAS by the usual swap:
 * C = op(A) op(B) row-major is C^T = op(B)^T op(A)^T column-major, the same call with
 * A and B exchanged. Operands cuBLAS cannot read in place (neither stride 1) are copied
 * to contiguous temporaries, as on the CPU. */
#include "cuda_common.cuh"
#include <dlfcn.h>
#include <mutex>
#include <stdio.h>

#ifndef FT_CUDA_LIBDIR
#define FT_CUDA_LIBDIR "/usr/local/cuda/lib64"
#endif
#define FT_STR2(x) #x
#define FT_STR(x) FT_STR2(x)
#define CUBLAS_SONAME "libcublas.so." FT_STR(CUBLAS_VER_MAJOR)

/* ---- cuBLAS, opened on first use ------------------------------------------------------- */
static struct {
  decltype(&cublasCreate_v2) create;
  decltype(&cublasSetStream_v2) set_stream;
  decltype(&cublasSetMathMode) set_math_mode;
  decltype(&cublasSgemm_v2) sgemm;
  decltype(&cublasDgemm_v2) dgemm;
  decltype(&cublasGetStatusString) status_string;
  int loaded; /* 1 ok, -1 failed */
  char error[384];
} cb;
static std::mutex cb_mu;

static int load_cublas(const char *fn) {
  std::lock_guard<std::mutex> lock(cb_mu);
  if (cb.loaded == 0) {
    void *h = dlopen(FT_CUDA_LIBDIR "/" CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) h = dlopen(CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!h) {
      snprintf(cb.error, sizeof cb.error, "cannot load cuBLAS (%s)", dlerror());
      cb.loaded = -1;
    } else {
#define SYM(field, name) cb.field = (decltype(cb.field))dlsym(h, name)
      SYM(create, "cublasCreate_v2");
      SYM(set_stream, "cublasSetStream_v2");
      SYM(set_math_mode, "cublasSetMathMode");
      SYM(sgemm, "cublasSgemm_v2");
      SYM(dgemm, "cublasDgemm_v2");
      SYM(status_string, "cublasGetStatusString");
#undef SYM
      if (!cb.create || !cb.set_stream || !cb.set_math_mode || !cb.sgemm || !cb.dgemm || !cb.status_string) {
        snprintf(cb.error, sizeof cb.error, "cuBLAS (%s) lacks a function Fathom needs", CUBLAS_SONAME);
        cb.loaded = -1;
      } else {
        cb.loaded = 1;
      }
    }
  }
  if (cb.loaded < 0) return ft_fail("%s: %s", fn, cb.error);
  return FT_OK;
}

#define FT_CUBLAS(fn, what, call)                                                          \
  do { cublasStatus_t ft_s_ = (call); if (ft_s_ != CUBLAS_STATUS_SUCCESS)                 \
         return ft_fail("%s: %s failed: %s", fn, what, cb.status_string(ft_s_)); } while (0)

/* The context's cuBLAS handle on its stream, with the math mode of the tf32 setting. */
static int cublas_of(const char *fn, ft_cu_ctx **out) {
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  FT_TRY(load_cublas(fn));
  if (!c->cublas) {
    cublasHandle_t h;
    FT_CUBLAS(fn, "cublasCreate", cb.create(&h));
    FT_CUBLAS(fn, "cublasSetStream", cb.set_stream(h, c->stream));
    c->cublas = h;
  }
  FT_CUBLAS(fn, "cublasSetMathMode",
            cb.set_math_mode(c->cublas, ft_cu_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
  *out = c;
  return FT_OK;
}

/* ---- gemm ----------------------------------------------------------------------------------- */
/* Operand layouts: ft_blas_layout (core/tensor/blas.c), shared with the CPU path. */

static int gemm_raw(const char *fn, ft_cu_ctx *c, int dtype, int ta, int tb, int64_t m, int64_t n,
                    int64_t k, double alpha, const void *A, int64_t lda, const void *B, int64_t ldb,
                    double beta, void *C, int64_t ldc) {
  cublasOperation_t oa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, ob = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (dtype == FT_FLOAT32) {
    float al = (float)alpha, be = (float)beta;
    FT_CUBLAS(fn, "cublasSgemm", cb.sgemm(c->cublas, ob, oa, (int)n, (int)m, (int)k, &al, (const float *)B,
                                          (int)ldb, (const float *)A, (int)lda, &be, (float *)C, (int)ldc));
  } else {
    FT_CUBLAS(fn, "cublasDgemm", cb.dgemm(c->cublas, ob, oa, (int)n, (int)m, (int)k, &alpha, (const double *)B,
                                          (int)ldb, (const double *)A, (int)lda, &beta, (double *)C, (int)ldc));
  }
  return FT_OK;
}

/* C = alpha op(A) op(B) + beta C on checked arguments; fn names the caller in messages. */
static int gemm_impl(const char *fn, ft_tensor *c, const ft_tensor *a, const ft_tensor *b, int trans_a,
                        int trans_b, double alpha, double beta) {
  trans_a = trans_a != 0;
  trans_b = trans_b != 0;
  int64_t m = trans_a ? a->size[1] : a->size[0], k = trans_a ? a->size[0] : a->size[1];
  int64_t n = trans_b ? b->size[0] : b->size[1];
  if (m == 0 || n == 0) return FT_OK;
  if (k == 0) return beta == 0 ? ft_cuda_fill(c, 0) : ft_cuda_unary(c, c, FT_OP_MUL_SCALAR, beta);
  ft_cu_ctx *ctx = NULL;
  FT_TRY(cublas_of(fn, &ctx));
  ft_tensor *ac = NULL, *bc = NULL, *cc = NULL;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int fa = 0, fb = 0, fc = 0, st = FT_OK;
  if (!ft_blas_layout(a, &lda, &fa)) {
    FT_TRY(ft_tensor_contiguous(&ac, a));
    a = ac;
    ft_blas_layout(a, &lda, &fa);
  }
  if (!ft_blas_layout(b, &ldb, &fb)) {
    if ((st = ft_tensor_contiguous(&bc, b))) goto done;
    b = bc;
    ft_blas_layout(b, &ldb, &fb);
  }
  {
    ft_tensor *cw = c;
    if (!ft_blas_layout(c, &ldc, &fc) || fc || ft_overlaps(c, a) || ft_overlaps(c, b)) {
      if ((st = ft_tensor_to_dtype(&cc, c, c->dtype))) goto done;
      cw = cc;
      ft_blas_layout(cw, &ldc, &fc);
    }
    st = gemm_raw(fn, ctx, c->dtype, trans_a ^ fa, trans_b ^ fb, m, n, k, alpha, ft_data(a), lda,
                  ft_data(b), ldb, beta, ft_data(cw), ldc);
    if (cc && !st) st = ft_copy(c, cc);
  }
done:
  ft_tensor_free(ac);
  ft_tensor_free(bc);
  ft_tensor_free(cc);
  return st;
}

extern "C" int ft_cuda_gemm(ft_tensor *c, const ft_tensor *a, const ft_tensor *b, int trans_a, int trans_b,
                            double alpha, double beta) {
  return gemm_impl("ft_gemm", c, a, b, trans_a, trans_b, alpha, beta);
}

/* ---- the linear layer (arguments checked by core/nn/linear.c) ------------------------------------- */
/* y: [N, K] rows set to b: [K] (zeros when b is NULL). */
template <typename T>
__global__ void fill_bias_kernel(T *y, const T *b, int64_t N, int64_t K) {
  FT_CU_LOOP(i, N * K) y[i] = b ? b[i % K] : (T)0;
}

/* gb: [K] += scale * column sums of g: [N, K], in double, rows in order. */
template <typename T>
__global__ void grad_bias_kernel(const T *g, T *gb, int64_t N, int64_t K, double scale) {
  FT_CU_LOOP(k, K) {
    double s = 0;
    for (int64_t n = 0; n < N; n++) s += g[n * K + k];
    gb[k] = (T)(gb[k] + scale * s);
  }
}

extern "C" int ft_cuda_linear_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                                      const ft_tensor *bias) {
  const char *fn = "ft_linear_forward";
  const int64_t N = input->size[0], out = weight->size[0];
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  if (N * out > 0) {
    FT_CU_FLOAT_DISPATCH(input->dtype, T,
      fill_bias_kernel<T><<<ft_cu_blocks(N * out), FT_CU_THREADS, 0, c->stream>>>(
          (T *)ft_data(output), bias ? (const T *)ft_data(bias) : (const T *)NULL, N, out));
    FT_CU_LAUNCHED(fn, "the bias kernel");
  }
  return gemm_impl(fn, output, input, weight, 0, 1, 1.0, 1.0);
}

extern "C" int ft_cuda_linear_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                                             const ft_tensor *weight) {
  const char *fn = "ft_linear_backward_input";
  return gemm_impl(fn, grad_input, grad_output, weight, 0, 0, 1.0, 0.0);
}

extern "C" int ft_cuda_linear_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                                              ft_tensor *grad_weight, ft_tensor *grad_bias, double scale) {
  const char *fn = "ft_linear_backward_weight";
  const int64_t N = input->size[0], out = grad_output->size[1];
  if (grad_bias && out > 0) {
    ft_cu_ctx *c;
    FT_TRY(ft_cu_ctx_get(fn, &c));
    FT_CU_FLOAT_DISPATCH(input->dtype, T,
      grad_bias_kernel<T><<<ft_cu_blocks(out), FT_CU_THREADS, 0, c->stream>>>(
          (const T *)ft_data(grad_output), (T *)ft_data(grad_bias), N, out, scale));
    FT_CU_LAUNCHED(fn, "the bias gradient kernel");
  }
  if (grad_weight) return gemm_impl(fn, grad_weight, grad_output, input, 1, 0, scale, 1.0);
  return FT_OK;
}
