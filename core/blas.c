/* blas.c -- matrix multiply through OpenBLAS (cblas), and the thread settings.
 * A 2-D tensor is handed to BLAS without a copy when one of its strides is 1: a
 * row-major matrix, or a transposed view (read as column-major, i.e. flip trans). */
#include "internal.h"
#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void openblas_set_num_threads(int n);
int openblas_get_num_threads(void);

static int num_threads = 0;

int ft_set_num_threads(int n) {
  if (n < 1) return ft_fail("ft_set_num_threads: need at least 1 thread, got %d", n);
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

/* Describe t as a BLAS operand: *ld and whether it must be read transposed. */
static int blas_layout(const ft_tensor *t, int64_t *ld, int *flip) {
  if (t->stride[1] == 1 && t->stride[0] >= (t->size[1] > 1 ? t->size[1] : 1)) {
    *ld = t->stride[0] > 0 ? t->stride[0] : 1; *flip = 0; return 1;
  }
  if (t->stride[0] == 1 && t->stride[1] >= (t->size[0] > 1 ? t->size[0] : 1)) {
    *ld = t->stride[1] > 0 ? t->stride[1] : 1; *flip = 1; return 1;
  }
  if (t->size[0] <= 1 || t->size[1] <= 1) { /* a vector: any stride pattern is fine */
    *ld = t->size[1] > 1 ? t->size[1] : 1; *flip = 0; return t->stride[1] == 1 || t->size[1] <= 1;
  }
  return 0;
}

int ft_gemm(ft_tensor *c, const ft_tensor *a, const ft_tensor *b, int trans_a, int trans_b,
            double alpha, double beta) {
  const char *fn = "ft_gemm";
  char sa[64], sb[64], sc[64];
  FT_TRY(ft_check_cpu(fn, "C", c));
  FT_TRY(ft_check_cpu(fn, "A", a));
  FT_TRY(ft_check_cpu(fn, "B", b));
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
  (void)sa; (void)sb;
  if (m == 0 || n == 0) return FT_OK;

  /* Operands BLAS cannot read in place are copied to contiguous temporaries. */
  ft_tensor *ac = NULL, *bc = NULL, *cc = NULL;
  int64_t lda, ldb, ldc;
  int fa, fb, fc, st = FT_OK;
  if (!blas_layout(a, &lda, &fa)) { FT_TRY(ft_tensor_contiguous(&ac, a)); a = ac; blas_layout(a, &lda, &fa); }
  if (!blas_layout(b, &ldb, &fb)) {
    if ((st = ft_tensor_contiguous(&bc, b))) goto done;
    b = bc; blas_layout(b, &ldb, &fb);
  }
  ft_tensor *cw = c;
  if (!blas_layout(c, &ldc, &fc) || fc) {
    if ((st = ft_tensor_contiguous(&cc, c))) goto done;
    if (cc->storage == c->storage) { ft_tensor_free(cc); cc = NULL; }
    else cw = cc;
    blas_layout(cw, &ldc, &fc);
  }
  {
    enum CBLAS_TRANSPOSE ta = (trans_a ^ fa) ? CblasTrans : CblasNoTrans;
    enum CBLAS_TRANSPOSE tb = (trans_b ^ fb) ? CblasTrans : CblasNoTrans;
    if (k == 0) {
      ft_unary(cw, cw, FT_OP_MUL_SCALAR, beta);
    } else if (c->dtype == FT_FLOAT32) {
      cblas_sgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, (float)alpha, ft_data(a),
                  (int)lda, ft_data(b), (int)ldb, (float)beta, ft_data(cw), (int)ldc);
    } else {
      cblas_dgemm(CblasRowMajor, ta, tb, (int)m, (int)n, (int)k, alpha, ft_data(a), (int)lda,
                  ft_data(b), (int)ldb, beta, ft_data(cw), (int)ldc);
    }
    if (cc) st = ft_copy(c, cc);
  }
done:
  ft_tensor_free(ac);
  ft_tensor_free(bc);
  ft_tensor_free(cc);
  return st;
}
