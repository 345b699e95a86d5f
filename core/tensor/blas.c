/* tensor/blas.c -- matrix multiply through OpenBLAS (cblas), and the thread settings.
 * ft_gemm checks its arguments once, for both devices, then runs OpenBLAS here or cuBLAS
 * (core/cuda/blas.cu), which check nothing again.
 * A 2-D tensor is handed to BLAS without a copy when one of its strides is 1: a
 * row-major matrix, or a transposed view (read as column-major, i.e. flip trans). */
#include "internal.h"
#include <cblas.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

static int num_threads = 0;

/* 4x the cores online, within 4..1024: enough for any oversubscription experiment, far
 * below the thousands at which libgomp fails to create threads and exits or crashes. */
int ft_max_num_threads(void) {
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  if (cores < 1) cores = 1;
  long m = 4 * cores;
  return (int)(m < 4 ? 4 : m > 1024 ? 1024 : m);
}

int ft_set_num_threads(int n) {
  if (n < 1) return ft_fail("ft_set_num_threads: need at least 1 thread, got %d", n);
  if (n > ft_max_num_threads())
    return ft_fail("ft_set_num_threads: %d threads requested; at most %d (4 times the %ld cores "
                   "online)", n, ft_max_num_threads(), sysconf(_SC_NPROCESSORS_ONLN));
  num_threads = n;
#ifdef _OPENMP
  omp_set_num_threads(n);
#endif
  /* Our parallel loops never call BLAS from inside a parallel region, so OpenBLAS
   * and OpenMP take turns on the same n cores instead of oversubscribing them. */
  openblas_set_num_threads(n);
  return FT_OK;
}

int ft_get_num_threads(void) {
  if (num_threads) return num_threads;
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return openblas_get_num_threads();
#endif
}

/* Describe the 2-D t (m x n) as a row-major BLAS operand: 1 when BLAS can read it in
 * place, with *ld and *flip (1: read it as column-major, i.e. flip its transpose flag).
 * Row-major needs element (i,j) at i*ld + j with ld >= max(1,n); column-major needs it
 * at i + j*ld with ld >= max(1,m). A dimension of size 1 leaves its stride free. */
int ft_blas_layout(const ft_tensor *t, int64_t *ld, int *flip) {
  int64_t m = t->size[0], n = t->size[1], s0 = t->stride[0], s1 = t->stride[1];
  int64_t mm = m > 1 ? m : 1, nn = n > 1 ? n : 1;
  if ((n <= 1 || s1 == 1) && (m <= 1 || s0 >= nn)) {
    *ld = m <= 1 ? nn : s0; *flip = 0;
    return *ld <= 0x7fffffff;
  }
  if ((m <= 1 || s0 == 1) && (n <= 1 || s1 >= mm)) {
    *ld = n <= 1 ? mm : s1; *flip = 1;
    return *ld <= 0x7fffffff;
  }
  return 0;
}

/* C = alpha op(A) op(B) + beta C, arguments checked by ft_gemm. */
static int ft_cpu_gemm(ft_tensor *c, const ft_tensor *a, const ft_tensor *b, int trans_a,
                       int trans_b, double alpha, double beta) {
  trans_a = trans_a != 0;
  trans_b = trans_b != 0;
  int64_t m = trans_a ? a->size[1] : a->size[0], k = trans_a ? a->size[0] : a->size[1];
  int64_t n = trans_b ? b->size[0] : b->size[1];
  if (m == 0 || n == 0) return FT_OK;

  /* Operands BLAS cannot read in place are copied to contiguous temporaries. */
  ft_tensor *ac = NULL, *bc = NULL, *cc = NULL;
  int64_t lda, ldb, ldc;
  int fa, fb, fc, st = FT_OK;
  if (!ft_blas_layout(a, &lda, &fa)) { FT_TRY(ft_tensor_contiguous(&ac, a)); a = ac; ft_blas_layout(a, &lda, &fa); }
  if (!ft_blas_layout(b, &ldb, &fb)) {
    if ((st = ft_tensor_contiguous(&bc, b))) goto done;
    b = bc; ft_blas_layout(b, &ldb, &fb);
  }
  /* C is written through a contiguous temporary when BLAS cannot write it in place,
   * or when its bytes overlap A's or B's (BLAS output must not alias its inputs; disjoint
   * views of one storage, as getParameters makes, are written in place). */
  ft_tensor *cw = c;
  if (!ft_blas_layout(c, &ldc, &fc) || fc || ft_overlaps(c, a) || ft_overlaps(c, b)) {
    if ((st = ft_tensor_to_dtype(&cc, c, c->dtype))) goto done;
    cw = cc;
    ft_blas_layout(cw, &ldc, &fc);
  }
  {
    enum CBLAS_TRANSPOSE ta = (trans_a ^ fa) ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = (trans_b ^ fb) ? CblasTrans : CblasNoTrans;
    if (k == 0) { /* BLAS conventions: beta = 0 overwrites C, NaN included */
      st = beta == 0 ? ft_fill(cw, 0) : ft_unary(cw, cw, FT_OP_MUL_SCALAR, beta);
    } else if (c->dtype == FT_FLOAT32) {
      cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, (float)alpha, ft_data(a),
                  (int)lda, ft_data(b), (int)ldb, (float)beta, ft_data(cw), (int)ldc);
    } else {
      cblas_dgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha, ft_data(a), (int)lda,
                  ft_data(b), (int)ldb, beta, ft_data(cw), (int)ldc);
    }
    if (cc && !st) st = ft_copy(c, cc);
  }
done:
  ft_tensor_free(ac);
  ft_tensor_free(bc);
  ft_tensor_free(cc);
  return st;
}

/* The one check, for both devices: one device, one float dtype, 2-D operands of matching
 * sizes, each within the 32-bit sizes that cblas and cuBLAS both take. An output that
 * overlaps an input is allowed (Torch7's t:addmm(t, t:t(), t)): both devices then write
 * through a temporary. */
int ft_gemm(ft_tensor *c, const ft_tensor *a, const ft_tensor *b, int trans_a, int trans_b,
            double alpha, double beta) {
  const char *fn = "ft_gemm";
  char sc[64];
  FT_TRY(ft_check_placed(fn, "C", c));
  FT_TRY(ft_check_device(fn, "A", a, c->device));
  FT_TRY(ft_check_device(fn, "B", b, c->device));
  FT_TRY(ft_check_float(fn, "C", c));
  FT_TRY(ft_check_ndim(fn, "A", a, 2));
  FT_TRY(ft_check_ndim(fn, "B", b, 2));
  FT_TRY(ft_check_ndim(fn, "C", c, 2));
  if (a->dtype != c->dtype || b->dtype != c->dtype)
    return ft_fail("%s: A, B and C must share one dtype (%s, %s, %s)", fn,
                   ft_dtype_name(a->dtype), ft_dtype_name(b->dtype), ft_dtype_name(c->dtype));
  int64_t m = trans_a ? a->size[1] : a->size[0], k = trans_a ? a->size[0] : a->size[1];
  int64_t kb = trans_b ? b->size[1] : b->size[0], n = trans_b ? b->size[0] : b->size[1];
  if (k != kb || c->size[0] != m || c->size[1] != n)
    return ft_fail("%s: sizes do not match: op(A) %lldx%lld, op(B) %lldx%lld, C %s", fn,
                   (long long)m, (long long)k, (long long)kb, (long long)n,
                   ft_shape_str(c, sc, sizeof sc));
  if (m > 0x7fffffff || n > 0x7fffffff || k > 0x7fffffff)
    return ft_fail("%s: a dimension exceeds BLAS's 32-bit limit", fn);
  return FT_DEVICE_CALL(c, gemm, c, a, b, trans_a, trans_b, alpha, beta);
}
