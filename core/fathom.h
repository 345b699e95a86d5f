/* fathom.h -- the whole public C API of Fathom.
 *
 * Conventions (kept by every entry point):
 *   - Every function that can fail returns an int status: 0 on success, non-zero on
 *     failure; ft_last_error() then returns a thread-local message naming the function
 *     and the argument. Nothing in the library aborts, exits or long-jumps.
 *   - Tensors are plain structs with sizes and strides in elements; views share a
 *     reference-counted storage. Dims and indices are 0-based here (Lua adds 1).
 *   - Functions that produce a new tensor take `ft_tensor **out` and hand over one
 *     reference: the caller frees it with ft_tensor_free().
 *   - Kernels are THNN-style: argument order is input, output (or gradOutput, gradInput),
 *     weights, buffers, options. Dispatch on dtype (and later device) happens inside.
 *
 * Example:
 *   int64_t sz[2] = {2, 3};  ft_tensor *t;
 *   if (ft_tensor_new(&t, FT_FLOAT32, FT_CPU, 2, sz)) puts(ft_last_error());
 *   ft_fill(t, 1.0);  ft_tensor_free(t);
 *
 * Everything between FFI-BEGIN and FFI-END is plain C that the LuaJIT FFI can parse:
 * bindings/gen_cdef.lua copies it into bindings/cdef.lua at build time, so the
 * declarations Lua sees can never drift from this header. No macros in that region.
 */
#ifndef FATHOM_H
#define FATHOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* FFI-BEGIN */

/* ---- status, errors, accounting ------------------------------------------------ */
enum { FT_MAX_DIMS = 8 };
typedef enum { FT_FLOAT32 = 0, FT_FLOAT64 = 1, FT_INT64 = 2, FT_UINT8 = 3 } ft_dtype;
typedef enum { FT_CPU = 0, FT_CUDA = 1 } ft_device;

const char *ft_last_error(void);
int64_t ft_bytes_allocated(void);   /* live bytes in storages (all devices)       */
int64_t ft_live_tensors(void);      /* live tensor headers: a leak check counter  */
int ft_dtype_size(int dtype);       /* bytes per element, 0 for an unknown dtype  */
int ft_set_num_threads(int n);      /* our OpenMP loops and OpenBLAS alike        */
int ft_get_num_threads(void);
int ft_has_cuda(void);              /* 1 when the library was built with CUDA     */

/* ---- tensors -------------------------------------------------------------------- */
typedef struct ft_storage {
  void *data;
  int64_t nbytes;
  int refcount;                     /* atomically updated                          */
  int device;
} ft_storage;

typedef struct ft_tensor {
  int dtype;
  int device;
  int ndim;                         /* 0 .. FT_MAX_DIMS; 0 means a scalar-less empty */
  int flags;
  int64_t size[8];
  int64_t stride[8];                /* in elements                                  */
  int64_t offset;                   /* in elements, into storage                    */
  ft_storage *storage;
} ft_tensor;

int ft_tensor_new(ft_tensor **out, int dtype, int device, int ndim, const int64_t *size);
void ft_tensor_free(ft_tensor *t);  /* NULL is fine; drops one storage reference   */
int64_t ft_numel(const ft_tensor *t);
int ft_is_contiguous(const ft_tensor *t);
void *ft_data(const ft_tensor *t);  /* first element (storage data + offset)        */

/* Views: a new header on the same storage. */
int ft_tensor_alias(ft_tensor **out, const ft_tensor *t);
int ft_tensor_narrow(ft_tensor **out, const ft_tensor *t, int dim, int64_t start, int64_t len);
int ft_tensor_select(ft_tensor **out, const ft_tensor *t, int dim, int64_t index);
int ft_tensor_transpose(ft_tensor **out, const ft_tensor *t, int dim0, int dim1);
int ft_tensor_view(ft_tensor **out, const ft_tensor *t, int ndim, const int64_t *size);
int ft_tensor_as_strided(ft_tensor **out, const ft_tensor *t, int ndim, const int64_t *size,
                         const int64_t *stride, int64_t offset);
/* A view when the memory allows it, a contiguous copy otherwise. */
int ft_tensor_reshape(ft_tensor **out, const ft_tensor *t, int ndim, const int64_t *size);
int ft_tensor_contiguous(ft_tensor **out, const ft_tensor *t);
int ft_tensor_to_dtype(ft_tensor **out, const ft_tensor *t, int dtype);

/* Element access for Lua's t[i]; `index` holds t->ndim 0-based coordinates. */
int ft_get(const ft_tensor *t, const int64_t *index, double *value);
int ft_set(ft_tensor *t, const int64_t *index, double value);

/* ---- fill, copy, element-wise -------------------------------------------------- */
int ft_fill(ft_tensor *t, double value);
/* dst and src: same number of elements, any dtypes (converted), any strides. */
int ft_copy(ft_tensor *dst, const ft_tensor *src);

typedef enum {
  FT_OP_NEG = 0, FT_OP_ABS, FT_OP_SQRT, FT_OP_EXP, FT_OP_LOG, FT_OP_TANH, FT_OP_SIGMOID,
  FT_OP_SQUARE, FT_OP_ADD_SCALAR, FT_OP_MUL_SCALAR, FT_OP_POW, FT_OP_CLAMP_MIN,
  FT_OP_CLAMP_MAX, FT_OP_SIGN, FT_OP_FLOOR, FT_OP_CEIL
} ft_unary_op;
typedef enum {
  FT_OP_ADD = 0, FT_OP_SUB, FT_OP_MUL, FT_OP_DIV, FT_OP_MAX, FT_OP_MIN,
  FT_OP_EQ, FT_OP_NE, FT_OP_LT, FT_OP_LE, FT_OP_GT, FT_OP_GE
} ft_binary_op;
/* out = op(a, arg); out may be a (in place). Same sizes, same dtype. */
int ft_unary(ft_tensor *out, const ft_tensor *a, int op, double arg);
/* out = a op b; out may alias a or b. Same sizes, same dtype. Comparisons give 1/0. */
int ft_binary(ft_tensor *out, const ft_tensor *a, const ft_tensor *b, int op);
/* out = a + alpha * b (Torch7's add(a, alpha, b)); out may alias a or b. */
int ft_axpy(ft_tensor *out, const ft_tensor *a, double alpha, const ft_tensor *b);

/* ---- reductions ----------------------------------------------------------------- */
typedef enum {
  FT_RED_SUM = 0, FT_RED_MEAN, FT_RED_MAX, FT_RED_MIN, FT_RED_VAR, FT_RED_STD, FT_RED_PROD
} ft_reduce_op;
/* Over all elements, accumulated in double. VAR/STD are unbiased (n-1), as Torch7. */
int ft_reduce_all(const ft_tensor *t, int op, double *result);
/* Along dim; out has size 1 at dim (Torch7 keeps the dim). For MAX/MIN `indices`
 * (int64, same sizes as out, 0-based) may be NULL. */
int ft_reduce_dim(ft_tensor *out, ft_tensor *indices, const ft_tensor *t, int dim, int op);

/* ---- BLAS ------------------------------------------------------------------------- */
/* C = alpha * op(A) op(B) + beta * C for 2-D float32/float64 tensors (OpenBLAS). */
int ft_gemm(ft_tensor *c, const ft_tensor *a, const ft_tensor *b, int trans_a, int trans_b,
            double alpha, double beta);

/* ---- random numbers ------------------------------------------------------------- */
/* Philox4x32-10, counter-based: the whole state is (seed, counter), so saving and
 * restoring it is exact, and ft_generator_split derives independent streams. */
typedef struct ft_generator {
  uint64_t seed;
  uint64_t counter;                 /* number of 32-bit values consumed            */
} ft_generator;

ft_generator *ft_default_generator(void);
void ft_generator_seed(ft_generator *g, uint64_t seed);
/* child = an independent stream named by (g's seed, stream); g is not advanced. */
void ft_generator_split(const ft_generator *g, uint64_t stream, ft_generator *child);
uint32_t ft_generator_next_u32(ft_generator *g);
double ft_generator_uniform(ft_generator *g);       /* [0, 1), 53 bits            */
int ft_rand_uniform(ft_generator *g, ft_tensor *t, double lo, double hi);
int ft_rand_normal(ft_generator *g, ft_tensor *t, double mean, double std);
int ft_rand_bernoulli(ft_generator *g, ft_tensor *t, double p);
/* t: 1-D int64; fills a uniform random permutation of 0..n-1 (Fisher-Yates). */
int ft_randperm(ft_generator *g, ft_tensor *t);

/* Torch7's MT19937 (THRandom.c), for the authors' exact data split. */
typedef struct ft_mt19937 {
  uint32_t state[624];
  int left;
  int next;
  uint64_t seed;
} ft_mt19937;
void ft_mt_seed(ft_mt19937 *m, uint64_t seed);
uint32_t ft_mt_random(ft_mt19937 *m);
/* torch.randperm(n) with this generator, as 0-based values into a 1-D int64 t. */
int ft_mt_randperm(ft_mt19937 *m, ft_tensor *t);

/* ---- nn kernels (core/nn_*.c) ------------------------------------------------------ */
/* NN-SECTION
 * All kernels: float32 or float64 (one dtype per call), CPU, contiguous NCHW tensors.
 * Outputs are sized by the caller (Lua resizes module buffers); kernels check every
 * shape. backward_* of parameters ACCUMULATE `scale * gradient` (Torch7's
 * accGradParameters); gradients of inputs are OVERWRITTEN. */

/* Convolution (core/nn_conv.c). input [N,Ci,H,W], weight [Co,Ci,kH,kW], bias [Co] or
 * NULL, output [N,Co,Ho,Wo] with Ho = (H + 2*pad_h - kH)/stride_h + 1. */
int ft_conv2d_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                      const ft_tensor *bias, int stride_h, int stride_w, int pad_h, int pad_w);
int ft_conv2d_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                             const ft_tensor *weight, int stride_h, int stride_w, int pad_h,
                             int pad_w);
int ft_conv2d_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                              ft_tensor *grad_weight, ft_tensor *grad_bias, int stride_h,
                              int stride_w, int pad_h, int pad_w, double scale);

/* Batch normalization over N,H,W per channel (core/nn_batchnorm.c). input/output
 * [N,C,H,W] or [N,C]; weight, bias (NULL for none), running_mean, running_var,
 * save_mean, save_invstd: [C]. Training: normalise with the biased batch variance,
 * running_var gets the unbiased one, with momentum; save_* keep what backward needs.
 * Evaluation: running statistics, copied into save_*. fuse_relu applies ReLU to the
 * output (backward then needs `output` for the mask; pass NULL when not fused). */
int ft_batchnorm_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                         const ft_tensor *bias, ft_tensor *running_mean,
                         ft_tensor *running_var, ft_tensor *save_mean, ft_tensor *save_invstd,
                         int training, double momentum, double eps, int fuse_relu);
/* grad_input may be NULL (not needed); grad_weight/grad_bias may be NULL. */
int ft_batchnorm_backward(const ft_tensor *input, const ft_tensor *grad_output,
                          ft_tensor *grad_input, const ft_tensor *weight,
                          ft_tensor *grad_weight, ft_tensor *grad_bias,
                          const ft_tensor *save_mean, const ft_tensor *save_invstd,
                          const ft_tensor *output, int training, double scale);

/* Element-wise (core/nn_pointwise.c). relu: output may be input (in place).
 * relu_backward uses output > 0 as the mask; grad_input may be grad_output. */
int ft_relu_forward(const ft_tensor *input, ft_tensor *output);
int ft_relu_backward(const ft_tensor *output, const ft_tensor *grad_output,
                     ft_tensor *grad_input);

/* Pooling and shortcuts (core/nn_pool.c). Average pooling without padding, kernel
 * kH x kW, stride sH x sW; the global pool is kH = H, kW = W. Shortcut "A" is
 * avgpool(2,2,2,2) then channel_pad; "subsample" is avgpool(1,1,2,2). */
int ft_avgpool2d_forward(const ft_tensor *input, ft_tensor *output, int kH, int kW, int sH,
                         int sW);
int ft_avgpool2d_backward(const ft_tensor *grad_output, ft_tensor *grad_input, int kH, int kW,
                          int sH, int sW);
/* output [N,Co,H,W], Co >= Ci: input's channels first, zeros after. */
int ft_channel_pad_forward(const ft_tensor *input, ft_tensor *output);
int ft_channel_pad_backward(const ft_tensor *grad_output, ft_tensor *grad_input);

/* Linear (core/nn_linear.c). input [N,in], weight [out,in], bias [out] or NULL. */
int ft_linear_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                      const ft_tensor *bias);
int ft_linear_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                             const ft_tensor *weight);
int ft_linear_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                              ft_tensor *grad_weight, ft_tensor *grad_bias, double scale);

/* Losses (core/nn_loss.c). input [N,K]; target int64 [N] holding class indices that
 * start at index_base (1 for Torch7-style Lua callers). size_average: mean over N. */
int ft_log_softmax_forward(const ft_tensor *input, ft_tensor *output);
int ft_log_softmax_backward(const ft_tensor *output, const ft_tensor *grad_output,
                            ft_tensor *grad_input);
int ft_nll_forward(const ft_tensor *input, const ft_tensor *target, int index_base,
                   int size_average, double *loss);
int ft_nll_backward(const ft_tensor *input, const ft_tensor *target, int index_base,
                    int size_average, double grad_scale, ft_tensor *grad_input);
/* Number of samples whose target is not among the k highest scores. */
int ft_topk_errors(const ft_tensor *input, const ft_tensor *target, int index_base, int k,
                   int64_t *errors);

/* SGD with Torch7 optim.sgd semantics over flat 1-D contiguous x, dx, v (core/sgd.c):
 * dx += wd*x; v = first_step ? dx : mu*v + (1-dampening)*dx;
 * dx = nesterov ? dx + mu*v : v; x -= lr*dx. dx is modified. v may be NULL if mu = 0. */
int ft_sgd_step(ft_tensor *x, ft_tensor *dx, ft_tensor *v, double lr, double momentum,
                double dampening, double weight_decay, int nesterov, int first_step);

/* ---- data (core/data_*.c) ------------------------------------------------------- */
/* DATA-SECTION */

/* ---- residual block (core/resblock.c) --------------------------------------------- */
/* RESBLOCK-SECTION */

/* FFI-END */

#ifdef __cplusplus
}
#endif
#endif /* FATHOM_H */
