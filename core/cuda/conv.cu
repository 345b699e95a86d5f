/* cuda/conv.cu -- 2-D convolution on the GPU through cuDNN: forward, backward data and
 * backward filter: ft_cuda_conv2d_*, which core/nn/conv.c calls with arguments it has
 * checked (the same semantics as the CPU: input gradients overwritten, parameter
 * gradients accumulate scale times the gradient, zero padding, optional bias).
 *
 * Plans: the first call with a shape (dtype, N, Ci, H, W, Co, kH, kW, strides, pads and
 * the settings) builds cuDNN's descriptors and, per direction on first use, picks an
 * algorithm: with benchmark on (the default, fb.resnet.torch's cudnn.benchmark) every
 * algorithm is run and timed once (cudnnFind*), else cuDNN's heuristic order is taken
 * (cudnnGet*_v7); the fastest that fits the workspace limit and, in deterministic mode,
 * is deterministic, is kept with its math type. A ResNet has a dozen shapes, so the
 * search costs a few hundred milliseconds once. The workspace is the thread's cuDNN
 * slot of core/nn/workspace.c, grown to the largest need and kept (one stream: safe). */
#include "cuda_common.cuh"
#include <limits.h>
#include <mutex>
#include <string.h>
#include <vector>

static const size_t WORKSPACE_LIMIT = (size_t)1 << 31; /* 2 GiB: more is never faster here */

struct conv_key {
  int dtype, deterministic, tf32, benchmark;
  int N, Ci, H, W, Co, kH, kW, sh, sw, ph, pw, Ho, Wo;
};

struct conv_plan {
  conv_key key;
  cudnnTensorDescriptor_t x, y, bias;
  cudnnFilterDescriptor_t w;
  cudnnConvolutionDescriptor_t conv;
  int have[3];                     /* forward, backward data, backward filter searched */
  int algo[3];
  cudnnMathType_t math[3];
  size_t ws[3];
};

static std::mutex plan_mu;
static std::vector<conv_plan *> plans;

extern "C" int64_t ft_cuda_conv_plans(void) {
  std::lock_guard<std::mutex> lock(plan_mu);
  return (int64_t)plans.size();
}

/* The context's cuDNN handle, on its stream. */
static int cudnn_of(const char *fn, ft_cu_ctx **out) {
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  if (!c->cudnn) {
    cudnnHandle_t h;
    FT_CUDNN(fn, "cudnnCreate", cudnnCreate(&h));
    cudnnStatus_t s = cudnnSetStream(h, c->stream);
    if (s != CUDNN_STATUS_SUCCESS) {
      cudnnDestroy(h);
      return ft_fail("%s: cudnnSetStream failed: %s", fn, cudnnGetErrorString(s));
    }
    c->cudnn = h;
  }
  *out = c;
  return FT_OK;
}

static int make_plan(const char *fn, const conv_key &k, conv_plan **out) {
  conv_plan *p = new conv_plan();
  memset(p, 0, sizeof *p);
  p->key = k;
  cudnnDataType_t dt = k.dtype == FT_FLOAT32 ? CUDNN_DATA_FLOAT : CUDNN_DATA_DOUBLE;
  cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
#define STEP(call) if (s == CUDNN_STATUS_SUCCESS) s = (call)
  STEP(cudnnCreateTensorDescriptor(&p->x));
  STEP(cudnnCreateTensorDescriptor(&p->y));
  STEP(cudnnCreateTensorDescriptor(&p->bias));
  STEP(cudnnCreateFilterDescriptor(&p->w));
  STEP(cudnnCreateConvolutionDescriptor(&p->conv));
  STEP(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, dt, k.N, k.Ci, k.H, k.W));
  STEP(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, dt, k.N, k.Co, k.Ho, k.Wo));
  STEP(cudnnSetTensor4dDescriptor(p->bias, CUDNN_TENSOR_NCHW, dt, 1, k.Co, 1, 1));
  STEP(cudnnSetFilter4dDescriptor(p->w, dt, CUDNN_TENSOR_NCHW, k.Co, k.Ci, k.kH, k.kW));
  STEP(cudnnSetConvolution2dDescriptor(p->conv, k.ph, k.pw, k.sh, k.sw, 1, 1, CUDNN_CROSS_CORRELATION, dt));
#undef STEP
  if (s != CUDNN_STATUS_SUCCESS) {
    if (p->x) cudnnDestroyTensorDescriptor(p->x);
    if (p->y) cudnnDestroyTensorDescriptor(p->y);
    if (p->bias) cudnnDestroyTensorDescriptor(p->bias);
    if (p->w) cudnnDestroyFilterDescriptor(p->w);
    if (p->conv) cudnnDestroyConvolutionDescriptor(p->conv);
    delete p;
    return ft_fail("%s: describing the convolution to cuDNN failed: %s", fn, cudnnGetErrorString(s));
  }
  *out = p;
  return FT_OK;
}

/* The plan of key, made on first use (caller holds plan_mu). */
static int plan_of(const char *fn, const conv_key &k, conv_plan **out) {
  for (conv_plan *p : plans)
    if (!memcmp(&p->key, &k, sizeof k)) { *out = p; return FT_OK; }
  FT_TRY(make_plan(fn, k, out));
  plans.push_back(*out);
  return FT_OK;
}

/* Pick from perf results (sorted fastest first): success, within the workspace limit,
 * deterministic when asked. */
template <typename Perf>
static int pick(const Perf *perf, int n, int deterministic, int *algo, cudnnMathType_t *math, size_t *ws) {
  for (int i = 0; i < n; i++) {
    if (perf[i].status != CUDNN_STATUS_SUCCESS || perf[i].memory > WORKSPACE_LIMIT) continue;
    if (deterministic && perf[i].determinism != CUDNN_DETERMINISTIC) continue;
    *algo = (int)perf[i].algo;
    *math = perf[i].mathType;
    *ws = perf[i].memory;
    return 1;
  }
  return 0;
}

enum { FWD = 0, BWD_DATA = 1, BWD_FILTER = 2 };
static const char *dir_name[3] = {"forward", "backward data", "backward filter"};

/* Search (once) the algorithm of direction d for plan p. */
static int search(const char *fn, cudnnHandle_t h, conv_plan *p, int d) {
  if (p->have[d]) return FT_OK;
  const conv_key &k = p->key;
  cudnnMathType_t want = k.dtype == FT_FLOAT32 && k.tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  if (k.dtype != FT_FLOAT32) want = CUDNN_DEFAULT_MATH;
  FT_CUDNN(fn, "cudnnSetConvolutionMathType", cudnnSetConvolutionMathType(p->conv, want));
  int found = 0, n = 0;
  cudnnStatus_t s = CUDNN_STATUS_SUCCESS;
  /* benchmark first; a failed search (e.g. no memory for its trial buffers) falls back
   * to the heuristics */
  for (int bench = k.benchmark; bench >= 0 && !found; bench--) {
    if (d == FWD) {
      cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
      s = bench ? cudnnFindConvolutionForwardAlgorithm(h, p->x, p->w, p->conv, p->y,
                                                       CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf)
                : cudnnGetConvolutionForwardAlgorithm_v7(h, p->x, p->w, p->conv, p->y,
                                                         CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &n, perf);
      if (s == CUDNN_STATUS_SUCCESS) found = pick(perf, n, k.deterministic, &p->algo[d], &p->math[d], &p->ws[d]);
    } else if (d == BWD_DATA) {
      cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
      s = bench ? cudnnFindConvolutionBackwardDataAlgorithm(h, p->w, p->y, p->conv, p->x,
                                                            CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf)
                : cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p->w, p->y, p->conv, p->x,
                                                              CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, &n, perf);
      if (s == CUDNN_STATUS_SUCCESS) found = pick(perf, n, k.deterministic, &p->algo[d], &p->math[d], &p->ws[d]);
    } else {
      cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
      s = bench ? cudnnFindConvolutionBackwardFilterAlgorithm(h, p->x, p->y, p->conv, p->w,
                                                              CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf)
                : cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p->x, p->y, p->conv, p->w,
                                                                CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &n, perf);
      if (s == CUDNN_STATUS_SUCCESS) found = pick(perf, n, k.deterministic, &p->algo[d], &p->math[d], &p->ws[d]);
    }
    cudaGetLastError(); /* a failed trial allocation leaves a non-sticky error behind */
  }
  if (!found)
    return ft_fail("%s: cuDNN offers no %s%s algorithm for this shape (last status: %s)", fn,
                   k.deterministic ? "deterministic " : "", dir_name[d], cudnnGetErrorString(s));
  /* a result may report DEFAULT math, which lets cuDNN use TF32 on Ampere and later:
   * with TF32 off, float32 runs with FMA math whatever the search said (as PyTorch does) */
  if (k.dtype == FT_FLOAT32 && !k.tf32) p->math[d] = CUDNN_FMA_MATH;
  p->have[d] = 1;
  return FT_OK;
}

/* ---- the plan key of a call (arguments checked by core/nn/conv.c) ---------------------------------- */
static int64_t out_size(int64_t in, int64_t k, int s, int p) {
  return in + 2 * (int64_t)p < k ? 0 : (in + 2 * (int64_t)p - k) / s + 1;
}

/* x [N, Ci, H, W] through w [Co, Ci, kH, kW]; the sizes fit int (checked). */
static void key_of(const ft_tensor *x, const ft_tensor *w, int sh, int sw, int ph, int pw, conv_key *k) {
  memset(k, 0, sizeof *k);
  k->dtype = x->dtype;
  k->deterministic = ft_cu_deterministic();
  k->tf32 = ft_cu_tf32();
  k->benchmark = ft_cu_benchmark();
  k->N = (int)x->size[0]; k->Ci = (int)x->size[1]; k->H = (int)x->size[2]; k->W = (int)x->size[3];
  k->Co = (int)w->size[0]; k->kH = (int)w->size[2]; k->kW = (int)w->size[3];
  k->sh = sh; k->sw = sw; k->ph = ph; k->pw = pw;
  k->Ho = (int)out_size(x->size[2], w->size[2], sh, ph);
  k->Wo = (int)out_size(x->size[3], w->size[3], sw, pw);
}

/* alpha/beta scalars in the type cuDNN wants for the data type. */
struct scal {
  float f;
  double d;
  const void *of(int dtype) const { return dtype == FT_FLOAT32 ? (const void *)&f : (const void *)&d; }
  explicit scal(double v) : f((float)v), d(v) {}
};

/* Everything a call needs, under plan_mu: handle, plan with direction d searched, workspace. */
static int prepare(const char *fn, const conv_key &k, int d, ft_cu_ctx **c, conv_plan **p, void **ws) {
  FT_TRY(cudnn_of(fn, c));
  FT_TRY(plan_of(fn, k, p));
  FT_TRY(search(fn, (*c)->cudnn, *p, d));
  FT_CUDNN(fn, "cudnnSetConvolutionMathType", cudnnSetConvolutionMathType((*p)->conv, (*p)->math[d]));
  /* the thread's cuDNN workspace (core/nn/workspace.c), grown to the largest need */
  return ft_workspace_bytes(fn, FT_WS_CUDNN, FT_CUDA, (*p)->ws[d], ws);
}

extern "C" int ft_cuda_conv2d_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                                      const ft_tensor *bias, int stride_h, int stride_w, int pad_h, int pad_w) {
  const char *fn = "ft_conv2d_forward";
  conv_key k;
  key_of(input, weight, stride_h, stride_w, pad_h, pad_w, &k);
  std::lock_guard<std::mutex> lock(plan_mu);
  ft_cu_ctx *c;
  conv_plan *p;
  void *ws;
  FT_TRY(prepare(fn, k, FWD, &c, &p, &ws));
  const scal one(1.0), zero(0.0);
  FT_CUDNN(fn, "cudnnConvolutionForward",
           cudnnConvolutionForward(c->cudnn, one.of(k.dtype), p->x, ft_data(input), p->w, ft_data(weight), p->conv,
                                   (cudnnConvolutionFwdAlgo_t)p->algo[FWD], ws, p->ws[FWD], zero.of(k.dtype), p->y,
                                   ft_data(output)));
  if (bias)
    FT_CUDNN(fn, "cudnnAddTensor (bias)",
             cudnnAddTensor(c->cudnn, one.of(k.dtype), p->bias, ft_data(bias), one.of(k.dtype), p->y, ft_data(output)));
  return FT_OK;
}

extern "C" int ft_cuda_conv2d_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                                             const ft_tensor *weight, int stride_h, int stride_w, int pad_h,
                                             int pad_w) {
  const char *fn = "ft_conv2d_backward_input";
  conv_key k;
  key_of(grad_input, weight, stride_h, stride_w, pad_h, pad_w, &k);
  std::lock_guard<std::mutex> lock(plan_mu);
  ft_cu_ctx *c;
  conv_plan *p;
  void *ws;
  FT_TRY(prepare(fn, k, BWD_DATA, &c, &p, &ws));
  const scal one(1.0), zero(0.0);
  FT_CUDNN(fn, "cudnnConvolutionBackwardData",
           cudnnConvolutionBackwardData(c->cudnn, one.of(k.dtype), p->w, ft_data(weight), p->y, ft_data(grad_output),
                                        p->conv, (cudnnConvolutionBwdDataAlgo_t)p->algo[BWD_DATA], ws,
                                        p->ws[BWD_DATA], zero.of(k.dtype), p->x, ft_data(grad_input)));
  return FT_OK;
}

extern "C" int ft_cuda_conv2d_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                                              ft_tensor *grad_weight, ft_tensor *grad_bias, int stride_h, int stride_w,
                                              int pad_h, int pad_w, double scale) {
  const char *fn = "ft_conv2d_backward_weight";
  conv_key k;
  key_of(input, grad_weight, stride_h, stride_w, pad_h, pad_w, &k);
  std::lock_guard<std::mutex> lock(plan_mu);
  ft_cu_ctx *c;
  conv_plan *p;
  void *ws;
  FT_TRY(prepare(fn, k, BWD_FILTER, &c, &p, &ws));
  const scal sc(scale), one(1.0);
  FT_CUDNN(fn, "cudnnConvolutionBackwardFilter",
           cudnnConvolutionBackwardFilter(c->cudnn, sc.of(k.dtype), p->x, ft_data(input), p->y, ft_data(grad_output),
                                          p->conv, (cudnnConvolutionBwdFilterAlgo_t)p->algo[BWD_FILTER], ws,
                                          p->ws[BWD_FILTER], one.of(k.dtype), p->w, ft_data(grad_weight)));
  if (grad_bias)
    FT_CUDNN(fn, "cudnnConvolutionBackwardBias",
             cudnnConvolutionBackwardBias(c->cudnn, sc.of(k.dtype), p->y, ft_data(grad_output), one.of(k.dtype),
                                          p->bias, ft_data(grad_bias)));
  return FT_OK;
}
