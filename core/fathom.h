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
/* Threads for our OpenMP loops and OpenBLAS alike: 1 .. ft_max_num_threads(), which is
 * 4 times the cores online (at least 4, at most 1024): more only thrashes, and libgomp
 * crashes or exits the process when asked for thousands. */
int ft_set_num_threads(int n);
int ft_max_num_threads(void);
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
/* Over all elements, accumulated in double. VAR/STD are unbiased (n-1), as Torch7.
 * Float sums add fixed blocks in a fixed order: the same result for any thread count. */
int ft_reduce_all(const ft_tensor *t, int op, double *result);
/* Along dim; out has size 1 at dim (Torch7 keeps the dim). For MAX/MIN `indices`
 * (int64, same sizes as out, 0-based) may be NULL. */
int ft_reduce_dim(ft_tensor *out, ft_tensor *indices, const ft_tensor *t, int dim, int op);

/* ---- BLAS ------------------------------------------------------------------------- */
/* C = alpha * op(A) op(B) + beta * C for 2-D float32/float64 tensors (OpenBLAS).
 * Any strides: operands BLAS cannot read in place are copied; C may share memory with
 * A or B (it is then computed in a temporary). beta = 0 overwrites C (NaN included). */
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
/* The void/value functions below ignore a NULL generator (returning 0). */
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
uint32_t ft_mt_random(ft_mt19937 *m); /* genrand_int32; seed 5489 first gives 3499211612 */
/* torch.randperm(n) with this generator, as 0-based values into a 1-D int64 t. */
int ft_mt_randperm(ft_mt19937 *m, ft_tensor *t);

/* ---- nn kernels (core/nn_*.c) ------------------------------------------------------ */
/* NN-SECTION
 * All kernels: float32 or float64 (one dtype per call), contiguous NCHW tensors, on the CPU
 * or (CUDA builds) the GPU: each entry point dispatches on its input's device.
 * Outputs are sized by the caller (Lua resizes module buffers); kernels check every
 * shape. backward_* of parameters ACCUMULATE `scale * gradient` (Torch7's
 * accGradParameters); gradients of inputs are OVERWRITTEN. */

/* Convolution (core/nn/conv.c). input [N,Ci,H,W], weight [Co,Ci,kH,kW], bias [Co] or
 * NULL, output [N,Co,Ho,Wo] with Ho = (H + 2*pad_h - kH)/stride_h + 1. */
int ft_conv2d_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                      const ft_tensor *bias, int stride_h, int stride_w, int pad_h, int pad_w);
int ft_conv2d_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                             const ft_tensor *weight, int stride_h, int stride_w, int pad_h,
                             int pad_w);
int ft_conv2d_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                              ft_tensor *grad_weight, ft_tensor *grad_bias, int stride_h,
                              int stride_w, int pad_h, int pad_w, double scale);
/* Which algorithm the CPU float32 3x3 stride-1 pad-1 convolutions use: "direct" (the
 * direct kernels), "winograd" (Winograd F(2x2,3x3): 2.25x fewer multiplications, about
 * 1e-6 relative error), "winograd4" (F(4x4,3x3) on planes 32, 16 or 8 wide: 4x fewer,
 * about 5e-6; F(2x2,3x3) elsewhere) or "auto" (default: each where it measured
 * fastest). The environment variable FATHOM_CONV gives the initial value. */
int ft_conv_set_algorithm(const char *name);
const char *ft_conv_algorithm(void);

/* Batch normalization over N,H,W per channel (core/nn/batchnorm.c). input/output
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
/* SYNCBN-SECTION: synchronised batch norm for data-parallel training (core/dist/syncbn.c).
 * When on, every batch norm in training mode -- ft_batchnorm_* and the BNs inside
 * ft_resblock_* -- takes its batch statistics over the GLOBAL batch, the union of every
 * rank's input: the per-channel sums (in double) and element counts are all-reduced
 * between the statistics and the normalisation, then the sums of squares around the global
 * mean (two passes, no E[x^2]-E[x]^2 cancellation); running_mean/var get the global mean
 * and the unbiased global variance, identical on every rank. Backward all-reduces the
 * per-channel sum(dy) and sum(dy * (x - mean)) (and the count) when grad_input is wanted;
 * grad_weight/grad_bias stay this rank's share. Convention: the dy each rank passes in is
 * the gradient of the GLOBAL loss (e.g. the mean over the global batch) with respect to
 * that rank's outputs, and the parameter gradients are then SUMMED over the ranks; K ranks
 * then give the 1-process gradients exactly (to rounding). (With the loss averaged over
 * the local batch instead, this holds only for equal shards.) Every rank must make the
 * same BN calls in the same order (the block keeps that true when a rank's row-mode gates
 * are all closed). The collectives run on the calling thread, outside OpenMP regions:
 * call from the thread that called ft_dist_init (FUNNELED). Evaluation never
 * communicates, nor does a job of one rank (exactly the unsynchronised results).
 * Enabling needs ft_dist_init (and a build with MPI); CPU tensors only: a training BN on
 * CUDA tensors fails while the switch is on. */
int ft_batchnorm_set_sync(int enabled);
int ft_batchnorm_get_sync(void);

/* Element-wise (core/nn/pointwise.c). relu: output may be input (in place).
 * relu_backward uses output > 0 as the mask; grad_input may be grad_output. */
int ft_relu_forward(const ft_tensor *input, ft_tensor *output);
int ft_relu_backward(const ft_tensor *output, const ft_tensor *grad_output,
                     ft_tensor *grad_input);

/* Pooling and shortcuts (core/nn/pool.c). Average pooling without padding, kernel
 * kH x kW, stride sH x sW; the global pool is kH = H, kW = W. Shortcut "A" is
 * avgpool(2,2,2,2) then channel_pad; "subsample" is avgpool(1,1,2,2). */
int ft_avgpool2d_forward(const ft_tensor *input, ft_tensor *output, int kH, int kW, int sH,
                         int sW);
int ft_avgpool2d_backward(const ft_tensor *grad_output, ft_tensor *grad_input, int kH, int kW,
                          int sH, int sW);
/* output [N,Co,H,W], Co >= Ci: input's channels first, zeros after. */
int ft_channel_pad_forward(const ft_tensor *input, ft_tensor *output);
int ft_channel_pad_backward(const ft_tensor *grad_output, ft_tensor *grad_input);

/* Linear (core/nn/linear.c). input [N,in], weight [out,in], bias [out] or NULL. */
int ft_linear_forward(const ft_tensor *input, ft_tensor *output, const ft_tensor *weight,
                      const ft_tensor *bias);
int ft_linear_backward_input(const ft_tensor *grad_output, ft_tensor *grad_input,
                             const ft_tensor *weight);
int ft_linear_backward_weight(const ft_tensor *input, const ft_tensor *grad_output,
                              ft_tensor *grad_weight, ft_tensor *grad_bias, double scale);

/* Losses (core/nn/loss.c). input [N,K]; target int64 [N] holding class indices that
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

/* SGD with Torch7 optim.sgd semantics over flat 1-D contiguous x, dx, v (core/nn/sgd.c):
 * dx += wd*x; v = first_step ? dx : mu*v + (1-dampening)*dx;
 * dx = nesterov ? dx + mu*v : v; x -= lr*dx. dx is modified. v may be NULL if mu = 0. */
int ft_sgd_step(ft_tensor *x, ft_tensor *dx, ft_tensor *v, double lr, double momentum,
                double dampening, double weight_decay, int nesterov, int first_step);

/* Max pooling (core/nn/maxpool.c; CPU only, CUDA tensors fail). input [N,C,H,W],
 * output and indices (int64) [N,C,Ho,Wo] with Ho = floor((H + 2*padH - kH)/sH) + 1
 * (Torch7 floor mode), Wo likewise; 0 <= pad <= kernel/2. indices[n,c,i,j] = h*W + w,
 * the argmax inside input plane (n,c); padding is never selected. Backward: grad_input
 * [N,C,H,W] is zeroed, then grad_output [N,C,Ho,Wo] is added at the indices. */
int ft_maxpool2d_forward(const ft_tensor *input, ft_tensor *output, ft_tensor *indices, int kH,
                         int kW, int sH, int sW, int padH, int padW);
int ft_maxpool2d_backward(const ft_tensor *grad_output, ft_tensor *grad_input,
                          const ft_tensor *indices);

/* ---- data (core/data_*.c) ------------------------------------------------------- */
/* DATA-SECTION
 * Images are uint8 [N,C,H,W] (CIFAR, SVHN: [N,3,32,32]) with int64 0-based labels [N];
 * every reader names the file and what is wrong with it. Normalisation, augmentation and
 * batching happen in C (core/data/loader.c), in worker threads, deterministic per seed. */

/* CIFAR binary (core/data/cifar.c). A record: label_bytes label bytes (CIFAR-10: 1;
 * CIFAR-100: 2, coarse then fine), then 3072 pixel bytes (R, G, B planes, rows top to
 * bottom). *records gets the record count; the file must be a whole number of records,
 * and exactly expect_records of them when expect_records > 0. */
int ft_data_cifar_count(const char *path, int label_bytes, int64_t expect_records,
                        int64_t *records);
/* Reads every record of path into rows offset.. of images uint8 [N,3,32,32] and labels
 * int64 [N] (contiguous). label_index picks the label byte (CIFAR-100: 0 coarse, 1 fine);
 * a label >= nclasses is an error naming the record. */
int ft_data_cifar_read(const char *path, int label_bytes, int label_index, int nclasses,
                       ft_tensor *images, ft_tensor *labels, int64_t offset);

/* SVHN cropped digits (core/data/mat.c): a MATLAB level-5 .mat file (plain or
 * zlib-compressed elements) holding exactly X (uint8 32x32x3xN) and y (numeric Nx1,
 * 1..10 where 10 is the digit 0). Labels become y - 1: digit d is class d (1-based) for
 * d = 1..9 and the digit 0 is class 10, as in the authors' code. */
int ft_data_svhn_count(const char *path, int64_t *count);
/* Reads into rows offset.. of images uint8 [M,3,32,32] and labels int64 [M]. */
int ft_data_svhn_read(const char *path, ft_tensor *images, ft_tensor *labels, int64_t offset);

/* Normalisation statistics (core/data/stats.c) of images uint8 [M,C,H,W] over the rows
 * in index (int64 [N], 0-based; NULL: all). mode 0 'pixel': mean image and one global
 * std (the authors'); mode 1 'channel': per-channel mean and std (fb.resnet.torch).
 * std is unbiased (n-1). mean, std: float32 [C,H,W] (per-channel values broadcast). */
int ft_data_stats(const ft_tensor *images, const ft_tensor *index, int mode, ft_tensor *mean,
                  ft_tensor *std);

/* Batch assembly (core/data/loader.c): out float32 [B,C,H,W] gets
 * (images[rows[b]] - mean) / std; params (int64 [B,3] or NULL) holds per sample dy, dx,
 * flip: the normalised image shifted so out(y,x) = in(y+dy, x+dx), zeros outside (zero
 * padding AFTER normalisation), then mirrored left-right when flip is 1. targets (int64
 * [B] or NULL) gets labels[rows[b]] + 1. rows: int64 [B], 0-based. */
int ft_data_gather(const ft_tensor *images, const ft_tensor *labels, const ft_tensor *rows,
                   const ft_tensor *params, const ft_tensor *mean, const ft_tensor *std,
                   ft_tensor *out, ft_tensor *targets);

/* Image folders (core/data/image.c). Lists the entries of a directory, sorted by name
 * (strcmp), "." and ".." left out, into buf as records "<kind><name>\0" with kind 'd'
 * (directory), 'f' (regular file) or '?'. *needed gets the bytes the whole list takes
 * (call with cap 0 to size buf), *count the number of entries. */
int ft_data_list_dir(const char *path, char *buf, int64_t cap, int64_t *needed, int64_t *count);
/* PNG or JPEG, told apart by content: width and height from the header only. */
int ft_data_image_probe(const char *path, int64_t *width, int64_t *height);
/* Decodes into *out uint8 [3,H,W] (grey expanded, alpha dropped, 16-bit reduced, CMYK
 * converted). */
int ft_data_image_decode(const char *path, ft_tensor **out);
/* Decompression-bomb guard for every image decoder (PNG, JPEG, ft_png_read): an image
 * whose header declares more than this many pixels (width x height; default 2^26, e.g.
 * 8192x8192) is refused before anything is allocated. n >= 1; returns the old value in
 * *old when old is not NULL. Also refused before allocating: a PNG smaller than deflate's
 * best ratio allows for its declared size, and a baseline JPEG too small to code one
 * block per 8x8 tile; a JPEG whose data ends early is an error, not gray filler. */
int ft_set_max_image_pixels(int64_t n, int64_t *old);
int64_t ft_get_max_image_pixels(void);
/* Writes image uint8 [3,H,W] as a baseline JPEG (quality 1..100); for tests and tools. */
int ft_data_image_write_jpeg(const char *path, const ft_tensor *image, int quality);

/* fb.resnet.torch's ImageNet transforms. train: RandomSizedCrop(size) with area fraction
 * in [min_area, 1] and aspect 3/4..4/3, ColorJitter, PCA Lighting, normalisation, flip
 * with probability flip. eval: shorter side scaled to `scale`, normalised, centre crop
 * size x size. mean, std on the [0,1] scale; eigvec row-major 3x3. */
typedef struct ft_image_transform {
  int size;
  int scale;
  double min_area;
  double brightness, contrast, saturation;
  double lighting;
  double flip;
  float mean[3];
  float std[3];
  float eigval[3];
  float eigvec[9];
} ft_image_transform;
/* out float32 [3,size,size]; g: the sample's generator (train only; may be NULL for eval). */
int ft_data_image_sample(const char *path, const ft_image_transform *tf, int train,
                         ft_generator *g, ft_tensor *out);

/* The batch loader (core/data/loader.c). Worker threads build batches ahead into a ring
 * of slots. Sample k of epoch e (k = 0.. in epoch order) is row index[perm_e[k]], with
 * perm_e = ft_randperm(split(seed, 2e)) (identity without shuffle) and its augmentation
 * drawn from split(split(seed, 2e+1), k): the batches depend on (seed, epoch) only, never
 * on the number of threads, and an epoch can be resumed at any batch.
 * Source: images (in memory) or paths (files decoded with transform). */
typedef struct ft_loader ft_loader;
typedef struct ft_loader_config {
  const ft_tensor *images;   /* uint8 [M,C,H,W], or NULL for files                  */
  const ft_tensor *labels;   /* int64 [M], 0-based                                   */
  const ft_tensor *index;    /* int64 [N], 0-based rows of the source: the dataset   */
  const ft_tensor *mean;     /* float32 [C,H,W] (images)                             */
  const ft_tensor *std;      /* float32 [C,H,W] (images)                             */
  const char *paths;         /* files: M NUL-terminated paths, back to back          */
  int64_t paths_bytes;
  const ft_image_transform *transform; /* files                                      */
  int64_t batch_size;
  int shuffle;
  int augment;               /* images: random shift by up to pad, flip; files: train transform */
  int pad;                   /* images: 4 for CIFAR                                  */
  int drop_last;
  int nthreads;              /* 0: batches built in the caller's thread              */
  int prefetch;              /* batches built ahead, >= 1                            */
  int shard_rank;            /* data-parallel: this rank's rows of every batch only:  */
  int shard_size;            /*   ranks (0 or 1: the whole batch); see ft_loader_shard */
} ft_loader_config;
int ft_loader_new(ft_loader **out, const ft_loader_config *cfg);
void ft_loader_free(ft_loader *l);   /* NULL is fine; stops and joins the workers */
int64_t ft_loader_batches(const ft_loader *l);   /* batches per epoch */
int ft_loader_nslots(const ft_loader *l);
/* New references to slot k's buffers: inputs float32 [B,C,H,W], targets int64 [B] (1-based). */
int ft_loader_slot(ft_loader *l, int k, ft_tensor **inputs, ft_tensor **targets);
/* Starts epoch (>= 0) at batch `start` (0-based), abandoning the current one. */
int ft_loader_start(ft_loader *l, uint64_t seed, int64_t epoch, int64_t start);
/* The next batch: *slot (-1 when the epoch is over), *batch (0-based), *count (samples;
 * with shards, this rank's). The slot's buffers stay valid until the next call. */
int ft_loader_next(ft_loader *l, int *slot, int64_t *batch, int64_t *count);
/* Sharding (shard_size K > 1): every rank walks the same global order, and of batch
 * `batch` (global rows first .. first+n-1) rank k gathers only rows
 * first+offset .. first+offset+count-1, where with q = n / K and r = n % K rank k takes
 * q + (k < r) rows after those of ranks 0..k-1 (fathom.distributed.shard's rule). A
 * sample's augmentation is drawn from its global position, as in one process.
 * *global_count: n; *offset (0-based in the batch) and *count: this rank's rows. */
int ft_loader_shard(const ft_loader *l, int64_t batch, int64_t *global_count, int64_t *offset,
                    int64_t *count);
/* Sample `position` of epoch `epoch` under seed: its row and (dy, dx, flip). */
int ft_loader_plan(ft_loader *l, uint64_t seed, int64_t epoch, int64_t position, int64_t *row,
                   int64_t *params);
/* Files that failed to decode while building batches (their samples were zero-filled):
 * the count and the last message. */
int64_t ft_loader_failures(const ft_loader *l, char *msg, int64_t cap);

/* ---- residual block (core/nn/resblock.c) --------------------------------------------- */
/* RESBLOCK-SECTION */
/* The stochastic residual block of Huang et al. (2016) as one op (core/nn/resblock.c):
 *   out = ReLU(s * f(x) + shortcut(x))
 * f: basic       conv3x3(stride)-BN-ReLU-conv3x3-BN                 (CIFAR, SVHN)
 *    bottleneck  conv1x1-BN-ReLU-conv3x3(stride)-BN-ReLU-conv1x1-BN (ImageNet)
 * shortcut: identity; AVG ('A': avgpool stride x stride, then zero-pad channels);
 *    SUBSAMPLE (1x1 pooling with the stride, then zero-pad); PROJECT ('B': 1x1 conv
 *    with the stride, then BN).
 * s, with gate b ~ Bernoulli(p) drawn from `generator`:
 *    training: b (test_mode SCALE) or b / p (INVERTED); evaluation: p (SCALE, paper
 *    eq. 5) or 1 (INVERTED). Both give E[s f(x)] the same in training and evaluation.
 * gate_mode BATCH (the paper): one draw per call. A closed gate skips f entirely: not
 *    computed forward or backward, its BN running statistics untouched, nothing added
 *    to its gradients, no activation saved.
 * gate_mode ROW: one draw per sample; the kept samples are gathered into a contiguous
 *    sub-batch, f runs on it alone (so f's BN batch statistics come from the kept
 *    samples only) and is scattered back.
 * Parameters, gradients and running statistics are the caller's tensors, read through
 * the pointers below at every call (so they may be re-pointed between calls); the
 * block owns only the activations its backward needs (ft_resblock_release frees them).
 * All tensors: on the input's device (row_gate: always a CPU uint8 tensor), contiguous,
 * one float dtype. Index i of the arrays: 0..2 the
 * branch's conv/BN stages (2 only for bottleneck), 3 the projection shortcut; unused
 * entries NULL. Convolutions have no bias (each feeds a BN). */
typedef enum { FT_BLOCK_BASIC = 0, FT_BLOCK_BOTTLENECK = 1 } ft_block_kind;
typedef enum {
  FT_SHORTCUT_IDENTITY = 0, FT_SHORTCUT_AVG = 1, FT_SHORTCUT_SUBSAMPLE = 2, FT_SHORTCUT_PROJECT = 3
} ft_shortcut_kind;
typedef enum { FT_GATE_BATCH = 0, FT_GATE_ROW = 1 } ft_gate_mode;
typedef enum { FT_TEST_SCALE = 0, FT_TEST_INVERTED = 1 } ft_test_mode;

typedef struct ft_resblock {
  /* options, read by every call */
  int kind;                     /* ft_block_kind                                         */
  int shortcut;                 /* ft_shortcut_kind                                      */
  int stride;                   /* of the strided 3x3 conv and of the shortcut           */
  int gate_mode;                /* ft_gate_mode                                          */
  int test_mode;                /* ft_test_mode                                          */
  int bn_frozen;                /* 1: BNs use running statistics even in training        */
  int release_skipped;          /* 1: a closed gate also frees the saved activations     */
  int force_gate;               /* -1: draw; 0 / 1: all gates closed / open;             */
                                /*  2 (row mode): take row_gate as given                 */
  double p;                     /* survival probability p_l in [0, 1]                    */
  double bn_momentum, bn_eps;   /* 0.1 and 1e-5 in the paper's setting                   */
  ft_generator *generator;      /* gate draws; NULL: ft_default_generator()              */
  /* parameters [Co_i, Ci_i, k, k] and per-channel vectors [Co_i], caller-owned */
  ft_tensor *conv_weight[4], *grad_conv_weight[4];
  ft_tensor *bn_weight[4], *bn_bias[4], *grad_bn_weight[4], *grad_bn_bias[4];
  ft_tensor *running_mean[4], *running_var[4];
  ft_tensor *row_gate;          /* uint8 [N], caller-sized: row mode's gates (written,   */
                                /*  or read with force_gate 2)                           */
  int64_t row_offset, global_rows; /* row mode under data parallelism: this rank's N  */
                                /*  rows are rows row_offset .. row_offset+N-1 of a global */
                                /*  batch of global_rows, whose gates are all drawn (the   */
                                /*  same as one process); global_rows 0: the local batch   */
  /* results of the last forward */
  int gate;                     /* 1: the branch ran (batch: open; row: any kept)        */
  int64_t n_kept;               /* samples that went through the branch                  */
  double branch_scale;          /* s (0 when closed)                                     */
  void *saved;                  /* private: what backward needs; NULL before a forward   */
} ft_resblock;

/* input [N,Ci,H,W] -> output [N,Co,Ho,Wo] (caller-sized; Ho = (H-1)/stride + 1).
 * training 1: draws the gates (unless forced) and uses BN batch statistics. */
int ft_resblock_forward(ft_resblock *b, const ft_tensor *input, ft_tensor *output, int training);
/* Back through the last forward (same input and its output). grad_output like output;
 * grad_input [N,Ci,H,W] is overwritten (NULL: not wanted). param_grads 1: adds
 * scale * d/dparameter into the grad_* tensors (a closed branch adds nothing). */
int ft_resblock_backward(ft_resblock *b, const ft_tensor *input, const ft_tensor *output,
                         const ft_tensor *grad_output, ft_tensor *grad_input, int param_grads,
                         double scale);
/* Bytes of activations the block holds for backward (0 when none). */
int64_t ft_resblock_saved_bytes(const ft_resblock *b);
/* Free the saved activations (the block stays usable: they regrow on the next call). */
void ft_resblock_release(ft_resblock *b);
/* Free this thread's temporaries shared by all blocks (they regrow on use); the same as
 * ft_workspace_free. */
void ft_resblock_workspace_free(void);
/* The nn kernels' scratch memory (convolution columns, cuDNN's workspace, the blocks'
 * temporaries) is kept per thread and per device between calls, grown when a call needs
 * more, and counted in ft_bytes_allocated (core/nn/workspace.c). Free the calling
 * thread's (it regrows on use) / the bytes it holds now. */
void ft_workspace_free(void);
int64_t ft_workspace_held(void);
/* How many times this thread's workspace buffers were (re)allocated since it started:
 * flat across repeated calls of one shape when nothing allocates per call. */
int64_t ft_workspace_grows(void);


/* CUDA-SECTION */
/* The GPU backend (core/cuda/), built when nvcc and cuDNN are found (ft_has_cuda).
 * A tensor made with device FT_CUDA lives in GPU memory, and every op above runs on
 * the device of its tensors: the same calls, checks and results (within float32
 * rounding; tolerances in spec/cuda_spec.lua). All operands of an op share one device;
 * the exceptions are ft_copy (any pair of devices), the int64 targets of the losses
 * (host or device), and a CPU scalar operand of ft_binary with every stride 0.
 * One device is current (0 unless set) and all work goes into one stream per device,
 * in order: results are ready for the next op without synchronising; whatever returns
 * values to the host (ft_copy to a CPU tensor, ft_get, reductions, losses) waits.
 * Device memory comes from a caching allocator: a freed tensor's block is kept for the
 * next allocation of about its size (never cudaMalloc/cudaFree per step); plain device
 * memory, never managed. Errors of CUDA, cuDNN and cuBLAS, and out-of-memory, fail the
 * call with a message naming the operation.
 * With no usable device (or a build without CUDA) every function here fails saying so,
 * except ft_cuda_device_count, which reports 0 and succeeds. */
int ft_cuda_device_count(int *count);
/* Why no device is usable (the driver's message), or "" when one is. */
const char *ft_cuda_status(void);
int ft_cuda_set_device(int index);
int ft_cuda_get_device(int *index);
/* Name (into name, cap bytes), total memory and compute capability of device index. */
int ft_cuda_device_info(int index, char *name, int64_t cap, int64_t *total_bytes,
                        int *cc_major, int *cc_minor);
int ft_cuda_synchronize(void);      /* waits for the current device's stream          */

typedef struct ft_cuda_memory {
  int64_t in_use;                   /* bytes in blocks held by live storages           */
  int64_t cached;                   /* bytes in free blocks kept for reuse             */
  int64_t peak;                     /* highest in_use so far                           */
  int64_t mallocs;                  /* cudaMalloc calls (a steady state adds none)     */
  int64_t reuses;                   /* allocations served from the cache               */
} ft_cuda_memory;
int ft_cuda_memory_stats(ft_cuda_memory *stats);
int ft_cuda_empty_cache(void);      /* hands the cached free blocks back to the driver */

/* Settings read by every later call. deterministic 1: cuDNN picks among deterministic
 * algorithms only (bitwise-repeatable convolutions). benchmark 1 (default): every
 * algorithm is timed once per convolution shape and the fastest is cached (the
 * cudnn.benchmark of fb.resnet.torch); 0: cuDNN's heuristic choice, cached the same way.
 * tf32 1: float32 convolutions and matrix products may use TF32 tensor cores (faster,
 * about 1e-3 relative error); 0 (default): full float32. */
int ft_cuda_set_deterministic(int on);
int ft_cuda_set_benchmark(int on);
int ft_cuda_set_tf32(int on);
int64_t ft_cuda_conv_plans(void);   /* convolution shapes searched and cached so far   */

/* A CPU tensor in page-locked (pinned) host memory, for the data loader: copies from it
 * to the GPU run at full bus speed and may be asynchronous. Freed by ft_tensor_free. */
int ft_cuda_pinned_new(ft_tensor **out, int dtype, int ndim, const int64_t *size);
/* ft_copy without waiting, for contiguous dst and src of one dtype and size, one of them
 * on the GPU and the other pinned: the copy is queued on the stream and the host buffer
 * must stay untouched and alive until an event recorded after it (or
 * ft_cuda_synchronize) completes. */
int ft_cuda_copy_async(ft_tensor *dst, const ft_tensor *src);

/* Events on the stream: time GPU work without synchronising every step. */
typedef struct ft_cuda_event ft_cuda_event;
int ft_cuda_event_new(ft_cuda_event **out);
void ft_cuda_event_free(ft_cuda_event *e);     /* NULL is fine                         */
int ft_cuda_event_record(ft_cuda_event *e);    /* marks this point of the stream       */
int ft_cuda_event_synchronize(ft_cuda_event *e);
/* Milliseconds between two recorded events; waits for `end`. */
int ft_cuda_event_elapsed(const ft_cuda_event *start, const ft_cuda_event *end, double *ms);

/* ---- files: PNG writing for plots, safetensors helpers (core/io_*.c) -------------- */
/* IO-SECTION */
/* PNG (core/data/png.c), 8-bit, for the plots. img: uint8 [H,W,C] (C = 1, 3 or 4) or [H,W]
 * (gray), contiguous, CPU. A failed write removes the partial file. */
int ft_png_write(const char *path, const ft_tensor *img);
/* Decode a PNG into a new uint8 [H,W,C] tensor (palette -> RGB, 16-bit -> 8-bit). */
int ft_png_read(ft_tensor **out, const char *path);

/* ---- data-parallel communication (core/dist/) ------------------------------------ */
/* DIST-SECTION
 * Collectives between the processes of one job, over MPI (built when mpicc and mpi.h are
 * found: ft_has_mpi; without MPI every function below except ft_has_mpi, ft_has_nccl,
 * ft_dist_is_initialized and the timeout and count settings fails saying how to get it).
 * ft_dist_init joins the job that mpirun started (MPI_Init_thread, FUNNELED: call every
 * ft_dist_* from one thread); a process started without mpirun is a job of size 1.
 * Every collective must be called by every rank in the same order with matching
 * arguments. None waits forever: each is started non-blocking and polled until the
 * timeout (ft_dist_set_timeout, default 300 s); then the call fails with a message naming
 * the operation, its sequence number and the ranks that did not answer, and every later
 * collective fails too (the job must end: ft_dist_abort; until then MPI may still write
 * into the failed collective's buffer). MPI errors are statuses, never
 * aborts. Tensors are contiguous CPU tensors (GPU ones: see NCCL below); MPI counts are
 * int, so a buffer larger
 * than the maximum count (ft_dist_set_max_count, default 2^31 - 1 elements) goes in
 * several calls. */
int ft_has_mpi(void);               /* 1 when the library was built with MPI          */
int ft_dist_init(void);             /* once per process; later calls do nothing        */
int ft_dist_is_initialized(void);   /* 1 between ft_dist_init and ft_dist_finalize     */
int ft_dist_rank(int *rank);        /* 0 .. size-1                                     */
int ft_dist_size(int *size);
int ft_dist_finalize(void);         /* every rank, at the end of a clean run           */
/* Ends every process of the job (MPI_Abort) with exit code `code`; returns only when
 * that is impossible (no MPI, not initialised), with a status. */
int ft_dist_abort(int code);
int ft_dist_set_timeout(double seconds);   /* > 0 */
double ft_dist_get_timeout(void);
int ft_dist_set_max_count(int64_t count);  /* 1 .. 2^31 - 1 elements per MPI call      */
int64_t ft_dist_get_max_count(void);
int ft_dist_barrier(void);
/* t (any dtype, contiguous, CPU) gets root's values. The ranks first agree that every
 * tensor has root's dtype and element count; otherwise every rank fails naming the first
 * rank that differs. */
int ft_dist_broadcast(ft_tensor *t, int root);
/* In place: t (float32 or float64, contiguous, CPU) becomes the sum over the ranks. The
 * _range form sums elements offset .. offset+count-1 of the flattened t only (a bucket
 * of a flat gradient vector). Sums are in t's dtype, in an order MPI chooses. */
int ft_dist_allreduce(ft_tensor *t);
int ft_dist_allreduce_range(ft_tensor *t, int64_t offset, int64_t count);
/* In place: values[0..n-1] become their sums over the ranks (error counts, statistics). */
int ft_dist_allreduce_doubles(double *values, int64_t n);
/* Collectives completed by this process since ft_dist_init (a step counter for logs). */
int64_t ft_dist_sequence(void);
/* A started all-reduce (CPU tensors), to overlap a bucket's communication with the rest
 * of the backward pass: ft_dist_allreduce_start sums the range in place, as _range does,
 * but returns at once; t must stay alive and untouched until ft_dist_wait returns. MPI
 * moves the data only inside MPI calls: call ft_dist_test (done: 1 when complete) between
 * pieces of work, and ft_dist_wait (polls with the timeout, then frees r) before using t.
 * Every started request must be waited for; they complete in the order started. */
typedef struct ft_dist_request ft_dist_request;
int ft_dist_allreduce_start(ft_tensor *t, int64_t offset, int64_t count, ft_dist_request **out);
int ft_dist_test(ft_dist_request *r, int *done);
int ft_dist_wait(ft_dist_request *r);
/* GPU tensors (NCCL; built with the CUDA backend, MPI and nccl.h: ft_has_nccl). After
 * ft_dist_init and ft_cuda_set_device (one GPU per rank), ft_dist_nccl_init joins every
 * rank in one NCCL communicator (rank 0's id reaches the others over MPI; NCCL is opened
 * on first use). Then ft_dist_allreduce(_range) and ft_dist_broadcast also take CUDA
 * tensors of the current device: queued on its stream, waited for with the same timeout
 * (after which the NCCL communicator is aborted). Without it a CUDA tensor is refused. */
int ft_has_nccl(void);
int ft_dist_nccl_init(void);
int ft_dist_nccl_finalize(void);

/* ---- Ctrl-C (core/tensor/interrupt.c) ------------------------------------------- */
/* INTERRUPT-SECTION
 * Lua cannot run inside a signal handler, so SIGINT becomes a counter that the training
 * loop and the REPL poll between steps. ft_interrupt_install(hard_after): from now on each
 * Ctrl-C adds one to the counter; the hard_after-th one (0: never) restores the default
 * action and re-raises, ending the process at once (the "second Ctrl-C" of a run).
 * ft_interrupt_restore puts back the handler that was there before. */
int ft_interrupt_install(int hard_after);
int ft_interrupt_restore(void);
int ft_interrupt_count(void);        /* Ctrl-C presses since install or the last clear */
void ft_interrupt_clear(void);

/* FFI-END */

#ifdef __cplusplus
}
#endif
#endif /* FATHOM_H */
