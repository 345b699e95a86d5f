/* nn/workspace.c -- the scratch memory of the nn kernels, from one place: per thread
 * and per device, one buffer per slot (internal.h's FT_WS_*), grown when a call needs
 * more and kept between calls. A training step then allocates nothing after the first:
 * fresh large blocks each call cost the kernel's page zeroing every time. The buffers
 * are ordinary tensors, so they count in ft_bytes_allocated(); ft_workspace_free()
 * gives back the calling thread's. Device buffers come from the CUDA caching allocator,
 * on the one stream every kernel uses, so a buffer regrown while kernels still read the
 * old one is safe. */
#include "internal.h"

/* slot s of device d: a 1-D allocation whose header is re-viewed for each use */
typedef struct {
  ft_tensor *t;
  int64_t cap;  /* elements allocated (of t's dtype) */
} ws_buf;
static __thread ws_buf bufs[2][FT_WS_N];
static __thread int64_t grows;

int64_t ft_workspace_grows(void) { return grows; }

static void buf_free(ws_buf *b) { ft_tensor_free(b->t); b->t = NULL; b->cap = 0; }

void ft_workspace_free(void) {
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < FT_WS_N; s++) buf_free(&bufs[d][s]);
}

int64_t ft_workspace_held(void) {
  int64_t n = 0;
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < FT_WS_N; s++)
      if (bufs[d][s].t) n += bufs[d][s].t->storage->nbytes;
  return n;
}

int ft_workspace_tensor(const char *fn, int slot, int dtype, int device, int ndim,
                        const int64_t *size, ft_tensor **out) {
  if (slot < 0 || slot >= FT_WS_N || (device != FT_CPU && device != FT_CUDA) || ndim < 1 ||
      ndim > FT_MAX_DIMS)
    return ft_fail("%s: bad workspace request (slot %d, device %d, %d dims)", fn, slot, device,
                   ndim);
  ws_buf *b = &bufs[device][slot];
  int64_t n = 1;
  for (int d = 0; d < ndim; d++) {
    if (size[d] < 0 || (size[d] > 0 && n > INT64_MAX / size[d]))
      return ft_fail("%s: workspace size overflows", fn);
    n *= size[d];
  }
  if (!b->t || b->t->dtype != dtype || b->cap < n) {
    buf_free(b);
    int64_t cap = n > 0 ? n : 1;
    FT_TRY(ft_tensor_new(&b->t, dtype, device, 1, &cap));
    b->cap = cap;
    grows++;
  }
  ft_tensor *t = b->t;
  t->ndim = ndim;
  t->offset = 0;
  int64_t st = 1;
  for (int d = ndim - 1; d >= 0; d--) { t->size[d] = size[d]; t->stride[d] = st; st *= size[d]; }
  *out = t;
  return FT_OK;
}

int ft_workspace_bytes(const char *fn, int slot, int device, size_t nbytes, void **out) {
  ft_tensor *t;
  int64_t n = (int64_t)nbytes;
  if (n < 0) return ft_fail("%s: workspace size overflows", fn);
  FT_TRY(ft_workspace_tensor(fn, slot, FT_UINT8, device, 1, &n, &t));
  *out = ft_data(t);
  return FT_OK;
}
