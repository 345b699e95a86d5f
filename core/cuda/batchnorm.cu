/* cuda/batchnorm.cu -- batch normalisation on the GPU, with the fused ReLU: the GPU
 * side of core/nn/batchnorm.c, with its exact semantics (biased batch variance to
 * normalise, unbiased into running_var, running = (1-m)*running + m*batch, save_mean
 * and save_invstd for backward, evaluation from the running statistics, the fused
 * ReLU's mask read from the output, parameter gradients accumulated with `scale`).
 * core/nn/batchnorm.c checks the arguments, then calls ft_cuda_batchnorm_* here.
 *
 * Why our own kernels rather than cuDNN's: cuDNN's batch norm has no fused ReLU for
 * NCHW float32, no backward in evaluation mode, and needs weight and bias tensors; and
 * these passes are simple and memory-bound.
 *
 * Each channel's N*S values are split over several blocks (a channel alone would leave
 * most of the GPU idle: 16 channels in ResNet's first stage). Pass 1 writes per-block
 * partial statistics in double (Welford's mean and M2 forward, sums backward); a tiny
 * pass merges them in block order per channel and folds everything into two or four
 * coefficients per channel; pass 2 applies them element-wise. The partition depends
 * only on the shape and the GPU, and every merge has a fixed order: bitwise repeatable. */
#include "cuda_common.cuh"
#include <math.h>

enum { BN_THREADS = 256 };

struct welford { double n, mean, m2; };

__device__ static inline void wf_merge(welford &a, const welford &b) {
  if (b.n == 0) return;
  if (a.n == 0) { a = b; return; }
  double n = a.n + b.n, d = b.mean - a.mean;
  a.mean += d * b.n / n;
  a.m2 += b.m2 + d * d * a.n * b.n / n;
  a.n = n;
}

/* Grid (C, nb): block (c, b) covers values [r0, r1) of channel c, value r at
 * ((r/S)*C + c)*S + r%S. */
__device__ static inline void bn_range(int64_t M, int64_t *r0, int64_t *r1) {
  int64_t per = (M + gridDim.y - 1) / gridDim.y;
  *r0 = (int64_t)blockIdx.y * per;
  *r1 = min(M, *r0 + per);
}

template <typename T>
__global__ void bn_stats_partial(const T *x, int64_t N, int64_t C, int64_t S, welford *part) {
  __shared__ welford sh[BN_THREADS];
  const int64_t c = blockIdx.x, M = N * S;
  int64_t r0, r1;
  bn_range(M, &r0, &r1);
  welford w = {0, 0, 0};
  for (int64_t r = r0 + threadIdx.x; r < r1; r += blockDim.x) {
    int64_t n = r / S, j = r - n * S;
    double v = x[(n * C + c) * S + j];
    w.n += 1;
    double d = v - w.mean;
    w.mean += d / w.n;
    w.m2 += d * (v - w.mean);
  }
  sh[threadIdx.x] = w;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h >>= 1) {
    if ((int)threadIdx.x < h) wf_merge(sh[threadIdx.x], sh[threadIdx.x + h]);
    __syncthreads();
  }
  if (threadIdx.x == 0) part[c * gridDim.y + blockIdx.y] = sh[0];
}

/* One thread per channel: the statistics (training: from the partials; evaluation:
 * the running ones), the running update, save_*, and y = x * A + B's coefficients,
 * computed in double and rounded as core/nn/batchnorm.c does. */
template <typename T>
__global__ void bn_stats_final(const welford *part, int nb, int64_t C, const T *w, const T *b, T *rm, T *rv,
                               T *sm, T *si, T *coef, int training, double momentum, double eps) {
  FT_CU_LOOP(c, C) {
    double mean, invstd;
    if (training) {
      welford a = part[c * nb];
      for (int k = 1; k < nb; k++) wf_merge(a, part[c * nb + k]);
      mean = a.mean;
      invstd = 1.0 / sqrt(a.m2 / a.n + eps);
      rm[c] = (T)((1 - momentum) * rm[c] + momentum * mean);
      rv[c] = (T)((1 - momentum) * rv[c] + momentum * a.m2 / (a.n - 1));
    } else {
      mean = rm[c];
      invstd = 1.0 / sqrt((double)rv[c] + eps);
    }
    sm[c] = (T)mean;
    si[c] = (T)invstd;
    double s = invstd * (w ? (double)w[c] : 1.0);
    coef[c] = (T)s;
    coef[C + c] = (T)((b ? (double)b[c] : 0.0) - mean * s);
  }
}

template <typename T>
__global__ void bn_apply(const T *x, T *y, const T *coef, int64_t C, int64_t S, int64_t total, int relu) {
  FT_CU_LOOP(i, total) {
    int64_t c = (i / S) % C;
    T v = x[i] * coef[c] + coef[C + c];
    y[i] = relu ? (v > 0 ? v : (T)0) : v;
  }
}

/* Backward pass 1: per block, sum of g and of g * (x - mean), g masked by y > 0 when
 * fused (multiplied by the mask, as the CPU does). */
template <typename T>
__global__ void bn_grad_partial(const T *x, const T *g, const T *y, const T *sm, int64_t N, int64_t C, int64_t S,
                                double2 *part) {
  __shared__ double2 sh[BN_THREADS];
  const int64_t c = blockIdx.x, M = N * S;
  int64_t r0, r1;
  bn_range(M, &r0, &r1);
  const double mean = sm[c];
  double sg = 0, dot = 0;
  for (int64_t r = r0 + threadIdx.x; r < r1; r += blockDim.x) {
    int64_t n = r / S, j = r - n * S, k = (n * C + c) * S + j;
    T gv = g[k];
    if (y) gv = gv * (T)(y[k] > 0);
    sg += gv;
    dot += (double)gv * ((double)x[k] - mean);
  }
  sh[threadIdx.x] = make_double2(sg, dot);
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h >>= 1) {
    if ((int)threadIdx.x < h) {
      sh[threadIdx.x].x += sh[threadIdx.x + h].x;
      sh[threadIdx.x].y += sh[threadIdx.x + h].y;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) part[c * gridDim.y + blockIdx.y] = sh[0];
}

/* Per channel: the parameter gradients, and gi = g' * A - (x - Mu) * K + B's
 * coefficients (coef: A, K, B, Mu for each channel). part is NULL when no sums were
 * needed (evaluation, input gradient only). */
template <typename T>
__global__ void bn_grad_final(const double2 *part, int nb, int64_t C, double M, const T *w, T *gw, T *gb,
                              const T *sm, const T *si, T *coef, int training, double scale) {
  FT_CU_LOOP(c, C) {
    double sum_g = 0, dot = 0;
    if (part)
      for (int k = 0; k < nb; k++) { sum_g += part[c * nb + k].x; dot += part[c * nb + k].y; }
    const double mean = sm[c], invstd = si[c];
    if (gw) gw[c] = (T)(gw[c] + scale * dot * invstd);
    if (gb) gb[c] = (T)(gb[c] + scale * sum_g);
    const double wi = invstd * (w ? (double)w[c] : 1.0);
    coef[c] = (T)wi;
    coef[C + c] = training ? (T)(dot / M * invstd * invstd * wi) : (T)0;
    coef[2 * C + c] = training ? (T)(-(sum_g / M) * wi) : (T)0;
    coef[3 * C + c] = (T)mean;
  }
}

template <typename T>
__global__ void bn_grad_apply(const T *x, const T *g, const T *y, T *gi, const T *coef, int64_t C, int64_t S,
                              int64_t total) {
  FT_CU_LOOP(i, total) {
    int64_t c = (i / S) % C;
    T gv = y ? (y[i] > 0 ? g[i] : (T)0) : g[i];
    gi[i] = gv * coef[c] - (x[i] - coef[3 * C + c]) * coef[C + c] + coef[2 * C + c];
  }
}

/* ---- entry points ---------------------------------------------------------------------------- */
/* Sizes of input seen as [N, C, S] (checked by core/nn/batchnorm.c). */
static void bn_sizes(const ft_tensor *input, int64_t *N, int64_t *C, int64_t *S) {
  *N = input->size[0];
  *C = input->size[1];
  *S = 1;
  for (int d = 2; d < input->ndim; d++) *S *= input->size[d];
}

/* Blocks per channel: enough for about four blocks per SM in all, at least 1024
 * values per block, at most 1024 blocks per channel. */
static int bn_blocks(const ft_cu_ctx *c, int64_t C, int64_t M) {
  int64_t want = ((int64_t)4 * c->sm_count + C - 1) / C;
  int64_t most = (M + 1023) / 1024;
  int64_t b = want < most ? want : most;
  if (b < 1) b = 1;
  if (b > 1024) b = 1024;
  return (int)b;
}

#define PTR(t) ((t) ? ft_data(t) : NULL)

extern "C" int ft_cuda_batchnorm_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                                         const ft_tensor *bias, ft_tensor *running_mean, ft_tensor *running_var,
                                         ft_tensor *save_mean, ft_tensor *save_invstd, int training,
                                         double momentum, double eps, int fuse_relu) {
  const char *fn = "ft_batchnorm_forward";
  int64_t N, C, S;
  bn_sizes(input, &N, &C, &S);
  const int dt = input->dtype;
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  const int64_t M = N * S, total = N * C * S;
  const int nb = training ? bn_blocks(c, C, M) : 1;
  void *scratch;
  size_t part_bytes = training ? sizeof(welford) * (size_t)(C * nb) : 0;
  FT_TRY(ft_workspace_bytes(fn, FT_WS_BN, FT_CUDA, part_bytes + sizeof(double) * 2 * (size_t)C, &scratch));
  welford *part = training ? (welford *)scratch : NULL;
  void *coef = (char *)scratch + part_bytes;
  FT_CU_FLOAT_DISPATCH(dt, T, {
    if (training) {
      bn_stats_partial<T><<<dim3((unsigned)C, nb), BN_THREADS, 0, c->stream>>>((const T *)ft_data(input), N, C, S,
                                                                               part);
      FT_CU_LAUNCHED(fn, "the batch statistics kernel");
    }
    bn_stats_final<T><<<ft_cu_blocks(C), FT_CU_THREADS, 0, c->stream>>>(
        part, nb, C, (const T *)PTR(weight), (const T *)PTR(bias), (T *)ft_data(running_mean),
        (T *)ft_data(running_var), (T *)ft_data(save_mean), (T *)ft_data(save_invstd), (T *)coef, training,
        momentum, eps);
    FT_CU_LAUNCHED(fn, "the batch statistics kernel");
    bn_apply<T><<<ft_cu_blocks(total), FT_CU_THREADS, 0, c->stream>>>((const T *)ft_data(input),
        (T *)ft_data(output), (const T *)coef, C, S, total, fuse_relu);
    FT_CU_LAUNCHED(fn, "the normalisation kernel");
  });
  return FT_OK;
}

extern "C" int ft_cuda_batchnorm_backward(const ft_tensor *input, const ft_tensor *grad_output, ft_tensor *grad_input,
                                          const ft_tensor *weight, ft_tensor *grad_weight, ft_tensor *grad_bias,
                                          const ft_tensor *save_mean, const ft_tensor *save_invstd,
                                          const ft_tensor *output, int training, double scale) {
  const char *fn = "ft_batchnorm_backward";
  int64_t N, C, S;
  bn_sizes(input, &N, &C, &S);
  const int dt = input->dtype;
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  const int64_t M = N * S, total = N * C * S;
  const int need_sums = grad_weight || grad_bias || (grad_input && training);
  const int nb = need_sums ? bn_blocks(c, C, M) : 1;
  void *scratch;
  size_t part_bytes = need_sums ? sizeof(double2) * (size_t)(C * nb) : 0;
  FT_TRY(ft_workspace_bytes(fn, FT_WS_BN, FT_CUDA, part_bytes + sizeof(double) * 4 * (size_t)C, &scratch));
  double2 *part = need_sums ? (double2 *)scratch : NULL;
  void *coef = (char *)scratch + part_bytes;
  FT_CU_FLOAT_DISPATCH(dt, T, {
    if (need_sums) {
      bn_grad_partial<T><<<dim3((unsigned)C, nb), BN_THREADS, 0, c->stream>>>((const T *)ft_data(input),
          (const T *)ft_data(grad_output), (const T *)PTR(output), (const T *)ft_data(save_mean), N, C, S, part);
      FT_CU_LAUNCHED(fn, "the gradient sums kernel");
    }
    bn_grad_final<T><<<ft_cu_blocks(C), FT_CU_THREADS, 0, c->stream>>>(
        part, nb, C, (double)M, (const T *)PTR(weight), (T *)PTR(grad_weight), (T *)PTR(grad_bias),
        (const T *)ft_data(save_mean), (const T *)ft_data(save_invstd), (T *)coef, training, scale);
    FT_CU_LAUNCHED(fn, "the gradient sums kernel");
    if (grad_input) {
      bn_grad_apply<T><<<ft_cu_blocks(total), FT_CU_THREADS, 0, c->stream>>>((const T *)ft_data(input),
          (const T *)ft_data(grad_output), (const T *)PTR(output), (T *)ft_data(grad_input), (const T *)coef, C, S,
          total);
      FT_CU_LAUNCHED(fn, "the input gradient kernel");
    }
  });
  return FT_OK;
}
