/* cuda/nn.cu -- the small nn kernels on the GPU: ReLU, average pooling, channel
 * padding (the CIFAR shortcut "A"), log-softmax, NLL, top-k errors and the fused SGD
 * step: the GPU side of core/nn/pointwise.c, core/nn/pool.c, core/nn/loss.c and sgd.c, which
 * check the arguments and call these; the same arithmetic. Each is one pass over memory.
 * Pooling's backward gathers (each input element sums the windows that contain it, in
 * the CPU's order) instead of scattering with atomics: deterministic, and bit-equal to
 * the CPU. Losses need their labels on the host to check them (a label out of range is
 * an error naming its position), and return a number, so they wait for the stream;
 * targets may be int64 tensors on the host or on the GPU. */
#include "cuda_common.cuh"
#include <math.h>
#include <string.h>

static int stream_of(const char *fn, cudaStream_t *s) {
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  *s = c->stream;
  return FT_OK;
}

/* ---- ReLU ------------------------------------------------------------------------------------ */
template <typename T> __global__ void relu_fwd(const T *x, T *y, int64_t n) {
  FT_CU_LOOP(i, n) { T v = x[i]; y[i] = v > 0 ? v : (T)0; }
}
template <typename T> __global__ void relu_bwd(const T *y, const T *g, T *gi, int64_t n) {
  FT_CU_LOOP(i, n) gi[i] = y[i] > 0 ? g[i] : (T)0;
}

extern "C" int ft_cuda_relu_forward(const ft_tensor *input, ft_tensor *output) {
  const char *fn = "ft_relu_forward";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t n = ft_numel(input);
  if (!n) return FT_OK;
  FT_CU_FLOAT_DISPATCH(input->dtype, T,
    relu_fwd<T><<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>((const T *)ft_data(input), (T *)ft_data(output), n));
  FT_CU_LAUNCHED(fn, "the ReLU kernel");
  return FT_OK;
}

extern "C" int ft_cuda_relu_backward(const ft_tensor *output, const ft_tensor *grad_output, ft_tensor *grad_input) {
  const char *fn = "ft_relu_backward";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t n = ft_numel(output);
  if (!n) return FT_OK;
  FT_CU_FLOAT_DISPATCH(output->dtype, T,
    relu_bwd<T><<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>((const T *)ft_data(output),
        (const T *)ft_data(grad_output), (T *)ft_data(grad_input), n));
  FT_CU_LAUNCHED(fn, "the ReLU kernel");
  return FT_OK;
}

/* ---- average pooling and channel padding -------------------------------------------------------- */
/* x: [P, H, W] planes, y: [P, Ho, Wo]; the window sum in double, as on the CPU. */
template <typename T>
__global__ void avgpool_fwd(const T *x, T *y, int64_t P, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                            int kH, int kW, int sH, int sW) {
  const double inv = 1.0 / (kH * kW);
  FT_CU_LOOP(o, P * Ho * Wo) {
    int64_t j = o % Wo, i = (o / Wo) % Ho, p = o / (Wo * Ho);
    const T *xp = x + p * H * W + (i * sH) * W + j * sW;
    double s = 0;
    for (int a = 0; a < kH; a++)
      for (int b = 0; b < kW; b++) s += xp[a * W + b];
    y[o] = (T)(s * inv);
  }
}

/* gx[p, h, w] = sum of (T)(gy * inv) over the windows holding (h, w), windows in the
 * CPU's order (row-major), so overlapping windows add up exactly as there. */
template <typename T>
__global__ void avgpool_bwd(const T *gy, T *gx, int64_t P, int64_t H, int64_t W, int64_t Ho, int64_t Wo,
                            int kH, int kW, int sH, int sW) {
  const double inv = 1.0 / (kH * kW);
  FT_CU_LOOP(e, P * H * W) {
    int64_t w = e % W, h = (e / W) % H, p = e / (W * H);
    int64_t i0 = h >= kH ? (h - kH) / sH + 1 : 0, i1 = min(Ho - 1, h / sH);
    int64_t j0 = w >= kW ? (w - kW) / sW + 1 : 0, j1 = min(Wo - 1, w / sW);
    T acc = 0;
    for (int64_t i = i0; i <= i1; i++)
      for (int64_t j = j0; j <= j1; j++) acc += (T)(gy[(p * Ho + i) * Wo + j] * inv);
    gx[e] = acc;
  }
}

extern "C" int ft_cuda_avgpool2d_forward(const ft_tensor *input, ft_tensor *output, int kH, int kW, int sH,
                                         int sW) {
  const char *fn = "ft_avgpool2d_forward";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  const int64_t *is = input->size, *os = output->size, n = ft_numel(output);
  if (!n) return FT_OK;
  FT_CU_FLOAT_DISPATCH(input->dtype, T,
    avgpool_fwd<T><<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>((const T *)ft_data(input), (T *)ft_data(output),
        is[0] * is[1], is[2], is[3], os[2], os[3], kH, kW, sH, sW));
  FT_CU_LAUNCHED(fn, "the pooling kernel");
  return FT_OK;
}

extern "C" int ft_cuda_avgpool2d_backward(const ft_tensor *grad_output, ft_tensor *grad_input, int kH, int kW,
                                          int sH, int sW) {
  const char *fn = "ft_avgpool2d_backward";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  const int64_t *is = grad_input->size, *os = grad_output->size, n = ft_numel(grad_input);
  if (!n) return FT_OK;
  FT_CU_FLOAT_DISPATCH(grad_input->dtype, T,
    avgpool_bwd<T><<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>((const T *)ft_data(grad_output),
        (T *)ft_data(grad_input), is[0] * is[1], is[2], is[3], os[2], os[3], kH, kW, sH, sW));
  FT_CU_LAUNCHED(fn, "the pooling kernel");
  return FT_OK;
}

/* forward: out [N, Co, S] = in's channels then zeros; backward: gi [N, Ci, S] = go's first Ci. */
template <typename T>
__global__ void pad_fwd(const T *in, T *out, int64_t N, int64_t Ci, int64_t Co, int64_t S) {
  FT_CU_LOOP(e, N * Co * S) {
    int64_t j = e % S, c = (e / S) % Co, n = e / (S * Co);
    out[e] = c < Ci ? in[(n * Ci + c) * S + j] : (T)0;
  }
}
template <typename T>
__global__ void pad_bwd(const T *go, T *gi, int64_t N, int64_t Ci, int64_t Co, int64_t S) {
  FT_CU_LOOP(e, N * Ci * S) {
    int64_t j = e % S, c = (e / S) % Ci, n = e / (S * Ci);
    gi[e] = go[(n * Co + c) * S + j];
  }
}

extern "C" int ft_cuda_channel_pad_forward(const ft_tensor *input, ft_tensor *output) {
  const char *fn = "ft_channel_pad_forward";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t N = input->size[0], Ci = input->size[1], Co = output->size[1], S = input->size[2] * input->size[3];
  if (!ft_numel(output)) return FT_OK;
  FT_CU_FLOAT_DISPATCH(input->dtype, T,
    pad_fwd<T><<<ft_cu_blocks(N * Co * S), FT_CU_THREADS, 0, s>>>((const T *)ft_data(input),
        (T *)ft_data(output), N, Ci, Co, S));
  FT_CU_LAUNCHED(fn, "the padding kernel");
  return FT_OK;
}

extern "C" int ft_cuda_channel_pad_backward(const ft_tensor *grad_output, ft_tensor *grad_input) {
  const char *fn = "ft_channel_pad_backward";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t N = grad_input->size[0], Ci = grad_input->size[1], Co = grad_output->size[1];
  int64_t S = grad_input->size[2] * grad_input->size[3];
  if (!ft_numel(grad_input)) return FT_OK;
  FT_CU_FLOAT_DISPATCH(grad_input->dtype, T,
    pad_bwd<T><<<ft_cu_blocks(N * Ci * S), FT_CU_THREADS, 0, s>>>((const T *)ft_data(grad_output),
        (T *)ft_data(grad_input), N, Ci, Co, S));
  FT_CU_LAUNCHED(fn, "the padding kernel");
  return FT_OK;
}

/* ---- log-softmax -------------------------------------------------------------------------------- */
/* One warp per row; each lane takes every 32nd entry, then a butterfly in double:
 * the same order for a given K, so results are repeatable. */
__device__ static inline double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ static inline double warp_max(double v) {
  for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

template <typename T>
__global__ void log_softmax_fwd(const T *x, T *y, int64_t N, int64_t K) {
  int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (row >= N) return; /* whole warps leave together: blockDim is a multiple of 32 */
  const T *xr = x + row * K;
  T *yr = y + row * K;
  double mx = -INFINITY;
  for (int64_t j = lane; j < K; j += 32) { double v = xr[j]; if (v > mx) mx = v; }
  mx = warp_max(mx); /* a NaN is never the max (as on the CPU); the sum then carries it */
  double s = 0;
  for (int64_t j = lane; j < K; j += 32) s += exp((double)xr[j] - mx);
  s = warp_sum(s);
  const double shift = mx + log(s);
  for (int64_t j = lane; j < K; j += 32) yr[j] = (T)(xr[j] - shift);
}

template <typename T>
__global__ void log_softmax_bwd(const T *y, const T *g, T *gi, int64_t N, int64_t K) {
  int64_t row = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32;
  int lane = threadIdx.x % 32;
  if (row >= N) return;
  const T *yr = y + row * K, *gr = g + row * K;
  T *r = gi + row * K;
  double s = 0;
  for (int64_t j = lane; j < K; j += 32) s += gr[j];
  s = warp_sum(s);
  for (int64_t j = lane; j < K; j += 32) r[j] = (T)(gr[j] - exp((double)yr[j]) * s);
}

static unsigned warp_blocks(int64_t rows) { return (unsigned)((rows * 32 + FT_CU_THREADS - 1) / FT_CU_THREADS); }

extern "C" int ft_cuda_log_softmax_forward(const ft_tensor *input, ft_tensor *output) {
  const char *fn = "ft_log_softmax_forward";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t N = input->size[0], K = input->size[1];
  if (!N || !K) return FT_OK;
  FT_CU_FLOAT_DISPATCH(input->dtype, T,
    log_softmax_fwd<T><<<warp_blocks(N), FT_CU_THREADS, 0, s>>>((const T *)ft_data(input), (T *)ft_data(output), N, K));
  FT_CU_LAUNCHED(fn, "the log-softmax kernel");
  return FT_OK;
}

extern "C" int ft_cuda_log_softmax_backward(const ft_tensor *output, const ft_tensor *grad_output,
                                            ft_tensor *grad_input) {
  const char *fn = "ft_log_softmax_backward";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  int64_t N = output->size[0], K = output->size[1];
  if (!N || !K) return FT_OK;
  FT_CU_FLOAT_DISPATCH(output->dtype, T,
    log_softmax_bwd<T><<<warp_blocks(N), FT_CU_THREADS, 0, s>>>((const T *)ft_data(output),
        (const T *)ft_data(grad_output), (T *)ft_data(grad_input), N, K));
  FT_CU_LAUNCHED(fn, "the log-softmax kernel");
  return FT_OK;
}

/* ---- targets: on the host or on the device ------------------------------------------------------- */
/* The labels of target (int64 [N], checked by core/nn/loss.c; on the host or the device) as a
 * device array: a device target as it is; a host target uploaded to tg->dev. A device
 * target's values are checked here, on a host copy (a host target's were checked before
 * the call). */
struct targets {
  int64_t *host = nullptr;
  int64_t n = 0;
  ft_cu_scratch dev;
  ~targets() { ft_free_bytes(host, (size_t)n * sizeof(int64_t)); }
};

static int targets_of(const char *fn, const ft_tensor *scores, const ft_tensor *target, int index_base,
                      targets *tg) {
  const int64_t N = scores->size[0], K = scores->size[1];
  if (N == 0) return FT_OK;
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  size_t nb = (size_t)N * sizeof(int64_t);
  if (ft_on_cuda(target)) {
    tg->host = (int64_t *)ft_alloc(nb);
    if (!tg->host) return ft_fail("%s: out of memory", fn);
    tg->n = N;
    FT_TRY(ft_cu_to_host(fn, c, tg->host, ft_data(target), nb));
    return ft_nn_check_labels(fn, tg->host, N, K, index_base);
  }
  FT_TRY(tg->dev.get(fn, nb));
  return ft_cu_to_device(fn, c, tg->dev.p, ft_data(target), nb);
}
static const int64_t *device_targets(const ft_tensor *target, targets *tg) {
  return ft_on_cuda(target) ? (const int64_t *)ft_data(target) : tg->dev.as<int64_t>();
}

/* ---- NLL ------------------------------------------------------------------------------------------ */
/* One block: each thread sums its rows in order, then a fixed tree. */
template <typename T>
__global__ void nll_fwd(const T *x, const int64_t *t, int base, int64_t N, int64_t K, double *out) {
  __shared__ double sh[FT_CU_THREADS];
  double s = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) s -= x[i * K + t[i] - base];
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int h = blockDim.x / 2; h > 0; h >>= 1) {
    if ((int)threadIdx.x < h) sh[threadIdx.x] += sh[threadIdx.x + h];
    __syncthreads();
  }
  if (threadIdx.x == 0) *out = sh[0];
}

template <typename T>
__global__ void nll_bwd(const int64_t *t, int base, int64_t N, int64_t K, T g, T *gi) {
  FT_CU_LOOP(i, N) gi[i * K + t[i] - base] = g;
}

extern "C" int ft_cuda_nll_forward(const ft_tensor *input, const ft_tensor *target, int index_base,
                                   int size_average, double *loss) {
  const char *fn = "ft_nll_forward";
  targets tg;
  FT_TRY(targets_of(fn, input, target, index_base, &tg));
  const int64_t N = input->size[0], K = input->size[1];
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  double s = 0;
  if (N > 0) {
    ft_cu_scratch out;
    FT_TRY(out.get(fn, sizeof(double)));
    FT_CU_FLOAT_DISPATCH(input->dtype, T,
      nll_fwd<T><<<1, FT_CU_THREADS, 0, c->stream>>>((const T *)ft_data(input), device_targets(target, &tg),
          index_base, N, K, out.as<double>()));
    FT_CU_LAUNCHED(fn, "the NLL kernel");
    FT_TRY(ft_cu_to_host(fn, c, &s, out.p, sizeof(double)));
  }
  *loss = size_average && N > 0 ? s / N : s;
  return FT_OK;
}

extern "C" int ft_cuda_nll_backward(const ft_tensor *input, const ft_tensor *target, int index_base,
                                    int size_average, double grad_scale, ft_tensor *grad_input) {
  const char *fn = "ft_nll_backward";
  targets tg;
  FT_TRY(targets_of(fn, input, target, index_base, &tg));
  const int64_t N = input->size[0], K = input->size[1];
  const double g = -grad_scale / (size_average && N > 0 ? (double)N : 1.0);
  FT_TRY(ft_cuda_fill(grad_input, 0));
  if (N == 0) return FT_OK;
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  FT_CU_FLOAT_DISPATCH(input->dtype, T,
    nll_bwd<T><<<ft_cu_blocks(N), FT_CU_THREADS, 0, s>>>(device_targets(target, &tg), index_base, N, K, (T)g,
        (T *)ft_data(grad_input)));
  FT_CU_LAUNCHED(fn, "the NLL kernel");
  return FT_OK;
}

/* ---- top-k errors ----------------------------------------------------------------------------------- */
/* One thread per sample: its target's rank by a stable descending sort (as the CPU). */
template <typename T>
__global__ void topk_kernel(const T *x, const int64_t *t, int base, int64_t N, int64_t K, int k,
                            unsigned long long *errors) {
  FT_CU_LOOP(i, N) {
    const T *xr = x + i * K;
    const int64_t c = t[i] - base;
    const T v = xr[c];
    int wrong;
    if (v != v) wrong = 1;
    else {
      int64_t rank = 0;
      for (int64_t j = 0; j < K; j++) rank += xr[j] > v || (xr[j] == v && j < c);
      wrong = rank >= k;
    }
    if (wrong) atomicAdd(errors, 1ull);
  }
}

extern "C" int ft_cuda_topk_errors(const ft_tensor *input, const ft_tensor *target, int index_base, int k,
                                   int64_t *errors) {
  const char *fn = "ft_topk_errors";
  targets tg;
  FT_TRY(targets_of(fn, input, target, index_base, &tg));
  const int64_t N = input->size[0], K = input->size[1];
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  unsigned long long e = 0;
  if (N > 0) {
    ft_cu_scratch cnt;
    FT_TRY(cnt.get(fn, sizeof e));
    FT_CU(fn, "cudaMemsetAsync", cudaMemsetAsync(cnt.p, 0, sizeof e, c->stream));
    FT_CU_FLOAT_DISPATCH(input->dtype, T,
      topk_kernel<T><<<ft_cu_blocks(N), FT_CU_THREADS, 0, c->stream>>>((const T *)ft_data(input),
          device_targets(target, &tg), index_base, N, K, k, cnt.as<unsigned long long>()));
    FT_CU_LAUNCHED(fn, "the top-k kernel");
    FT_TRY(ft_cu_to_host(fn, c, &e, cnt.p, sizeof e));
  }
  *errors = (int64_t)e;
  return FT_OK;
}

/* ---- SGD ---------------------------------------------------------------------------------------------- */
/* core/nn/sgd.c's step, element by element in the element type. */
template <typename T>
__global__ void sgd_kernel(T *x, T *dx, T *v, int64_t n, T rate, T mu, T keep, T wd, bool decay, bool nesterov,
                           bool first) {
  FT_CU_LOOP(i, n) {
    T g = dx[i];
    if (decay) g += wd * x[i];
    if (v) {
      const T m = first ? g : mu * v[i] + keep * g;
      v[i] = m;
      g = nesterov ? g + mu * m : m;
    }
    dx[i] = g;
    x[i] -= rate * g;
  }
}

extern "C" int ft_cuda_sgd_step(ft_tensor *x, ft_tensor *dx, ft_tensor *v, double lr, double momentum,
                                double dampening, double weight_decay, int nesterov, int first_step) {
  const char *fn = "ft_sgd_step";
  cudaStream_t s;
  FT_TRY(stream_of(fn, &s));
  const int64_t n = ft_numel(x);
  if (!n) return FT_OK;
  FT_CU_FLOAT_DISPATCH(x->dtype, T,
    sgd_kernel<T><<<ft_cu_blocks(n), FT_CU_THREADS, 0, s>>>((T *)ft_data(x), (T *)ft_data(dx),
        momentum != 0 ? (T *)ft_data(v) : (T *)NULL, n, (T)lr, (T)momentum, (T)(1 - dampening),
        (T)weight_decay, weight_decay != 0, nesterov != 0, first_step != 0));
  FT_CU_LAUNCHED(fn, "the SGD kernel");
  return FT_OK;
}
