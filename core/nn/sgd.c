/* nn/sgd.c -- one SGD step with Torch7 optim.sgd semantics, fused into a single pass over
 * the flat parameter vector (getParameters puts every parameter in one tensor):
 *   dx += wd * x
 *   v   = first_step ? dx : mu * v + (1 - dampening) * dx        (when mu != 0)
 *   dx  = nesterov ? dx + mu * v : v                              (when mu != 0)
 *   x  -= lr * dx
 * Element-wise and independent, so OpenMP splits the vector. float32/float64 from one
 * source (see core/nn/nn_common.h). Checked once here for both devices, then
 * ft_cpu_sgd_step (here) or ft_cuda_sgd_step (core/cuda/nn.cu). */
#ifndef FT_REAL
#include "nn_common.h"

#define FT_REAL float
#define FT_K(n) n##_f32
#include "sgd.c"
#undef FT_REAL
#undef FT_K
#define FT_REAL double
#define FT_K(n) n##_f64
#include "sgd.c"
#undef FT_REAL
#undef FT_K

/* x, dx, v: 1-D [n], contiguous, one dtype; v may be NULL when momentum is 0. */
int ft_sgd_step(ft_tensor *x, ft_tensor *dx, ft_tensor *v, double lr, double momentum,
                double dampening, double weight_decay, int nesterov, int first_step) {
  const char *fn = "ft_sgd_step";
  FT_TRY(ft_nn_check(fn, "x", x, NULL));
  FT_TRY(ft_check_ndim(fn, "x", x, 1));
  FT_TRY(ft_nn_check(fn, "dx", dx, x));
  FT_TRY(ft_check_same_shape(fn, "x", x, "dx", dx));
  if (momentum != 0) {
    if (!v) return ft_fail("%s: v (the momentum buffer) is NULL but momentum is %g", fn, momentum);
    FT_TRY(ft_nn_check(fn, "v", v, x));
    FT_TRY(ft_check_same_shape(fn, "x", x, "v", v));
  }
  if (ft_overlaps(x, dx) || (momentum != 0 && (ft_overlaps(v, x) || ft_overlaps(v, dx))))
    return ft_fail("%s: x, dx and v must be distinct tensors (their memory overlaps)", fn);
  if (nesterov && (momentum <= 0 || dampening != 0))
    return ft_fail("%s: Nesterov momentum needs momentum > 0 and dampening 0 (got momentum "
                   "%g, dampening %g)", fn, momentum, dampening);
  if (lr != lr || momentum != momentum || dampening != dampening || weight_decay != weight_decay)
    return ft_fail("%s: a hyper-parameter is NaN (lr %g, momentum %g, dampening %g, weight "
                   "decay %g)", fn, lr, momentum, dampening, weight_decay);
  return FT_DEVICE_CALL(x, sgd_step, x, dx, v, lr, momentum, dampening, weight_decay, nesterov,
                        first_step);
}

int ft_cpu_sgd_step(ft_tensor *x, ft_tensor *dx, ft_tensor *v, double lr, double momentum,
                    double dampening, double weight_decay, int nesterov, int first_step) {
  const int64_t n = ft_numel(x);
  void *vp = momentum != 0 ? ft_data(v) : NULL;
  if (x->dtype == FT_FLOAT32)
    sgd_step_f32(ft_data(x), ft_data(dx), vp, n, lr, momentum, dampening, weight_decay,
                 nesterov, first_step);
  else
    sgd_step_f64(ft_data(x), ft_data(dx), vp, n, lr, momentum, dampening, weight_decay,
                 nesterov, first_step);
  return FT_OK;
}

#else /* ---- typed kernels ---------------------------------------------------------- */

/* One pass with the options as compile-time constants: always inlined into the
 * dispatcher below, each combination becomes its own branch-free, vectorised loop.
 * The loop is an orphaned `omp for` (the parallel region is the dispatcher's), so it is
 * outlined only after the constants are known. */
static inline __attribute__((always_inline)) void FT_K(sgd_loop)(
    FT_REAL *restrict x, FT_REAL *restrict dx, FT_REAL *restrict v, int64_t n, FT_REAL rate,
    FT_REAL mu, FT_REAL keep, FT_REAL wd, const int decay, const int momentum,
    const int nesterov, const int first) {
#pragma omp for simd schedule(static)
  for (int64_t i = 0; i < n; i++) {
    FT_REAL g = dx[i];
    if (decay) g += wd * x[i]; /* Torch7 skips a zero weight decay entirely */
    if (momentum) {
      const FT_REAL m = first ? g : mu * v[i] + keep * g;
      v[i] = m;
      g = nesterov ? g + mu * m : m;
    }
    dx[i] = g;
    x[i] -= rate * g;
  }
}

/* x, dx, v: [n], distinct; v is NULL when momentum is 0. */
static void FT_K(sgd_step)(FT_REAL *x, FT_REAL *dx, FT_REAL *v, int64_t n, double lr,
                           double momentum, double dampening, double weight_decay,
                           int nesterov, int first_step) {
  const FT_REAL rate = (FT_REAL)lr, mu = (FT_REAL)momentum, keep = (FT_REAL)(1 - dampening);
  const FT_REAL wd = (FT_REAL)weight_decay;
  const int decay = weight_decay != 0;
#define SGD(D, M, N, F) FT_K(sgd_loop)(x, dx, v, n, rate, mu, keep, wd, D, M, N, F)
#pragma omp parallel if (n > FT_NN_PAR_MIN)
  if (!v) {
    if (decay) SGD(1, 0, 0, 0); else SGD(0, 0, 0, 0);
  } else if (first_step) {
    if (nesterov) { if (decay) SGD(1, 1, 1, 1); else SGD(0, 1, 1, 1); }
    else { if (decay) SGD(1, 1, 0, 1); else SGD(0, 1, 0, 1); }
  } else {
    if (nesterov) { if (decay) SGD(1, 1, 1, 0); else SGD(0, 1, 1, 0); }
    else { if (decay) SGD(1, 1, 0, 0); else SGD(0, 1, 0, 0); }
  }
#undef SGD
}

#endif
