/* cuda/runtime.cu -- the GPU backend's runtime: device discovery (a machine without a
 * GPU or driver reports 0 devices and a reason, never crashes), one context per device
 * (its stream; cuDNN and cuBLAS handles are made on first use elsewhere), the caching
 * allocator behind every CUDA storage, pinned host storage, element access, events and
 * the settings of the CUDA-SECTION of fathom.h.
 *
 * The caching allocator: cudaMalloc and cudaFree synchronise the device and cost tens
 * of microseconds, and a training step allocates the same sizes again and again. So a
 * freed block is kept in a free list (sorted by size) and handed to the next request
 * that fits it closely (at most 1/8 larger, rounded sizes). Reuse needs no event:
 * all our work runs on one stream, in order, so a kernel still reading a freed block is
 * queued before any kernel that writes its next owner. On cudaMalloc failure the cache
 * is given back to the driver and the allocation retried once; then it is an error
 * that names the operation and the sizes involved. */
#include "cuda_common.cuh"
#include <map>
#include <mutex>
#include <unordered_map>
#include <stdio.h>
#include <string.h>

extern "C" int ft_tensor_new_kind(ft_tensor **out, int dtype, int device, int storage_kind,
                                  int ndim, const int64_t *size);

/* ---- errors ------------------------------------------------------------------------------ */
int ft_cu_fail(const char *fn, const char *what, cudaError_t e) {
  cudaGetLastError(); /* clear a non-sticky error; a sticky one stays and is reported again */
  if (e == cudaErrorMemoryAllocation)
    return ft_fail("%s: %s: out of GPU memory (%s)", fn, what, cudaGetErrorString(e));
  return ft_fail("%s: %s failed: %s (%s)", fn, what, cudaGetErrorString(e), cudaGetErrorName(e));
}

/* ---- devices ------------------------------------------------------------------------------ */
enum { MAX_DEVICES = 16 };
static std::mutex init_mu;
static int n_devices = -1;             /* -1: not asked yet                              */
static char status_msg[256] = "";
static int current_device = 0;
static ft_cu_ctx *contexts[MAX_DEVICES];
static int deterministic = 0, benchmark = 1, tf32 = 0;

static void discover(void) {
  if (n_devices >= 0) return;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    snprintf(status_msg, sizeof status_msg, "no CUDA device available (%s)", cudaGetErrorString(e));
    cudaGetLastError();
    n = 0;
  } else if (n == 0) {
    snprintf(status_msg, sizeof status_msg, "no CUDA device available (the driver sees none)");
  }
  n_devices = n > MAX_DEVICES ? MAX_DEVICES : n;
}

extern "C" int ft_cuda_device_count(int *count) {
  if (!count) return ft_fail("ft_cuda_device_count: count is NULL");
  std::lock_guard<std::mutex> lock(init_mu);
  discover();
  *count = n_devices;
  return FT_OK;
}

extern "C" const char *ft_cuda_status(void) {
  std::lock_guard<std::mutex> lock(init_mu);
  discover();
  return status_msg;
}

/* The calling thread's device is set once per thread (cudaSetDevice is per thread). */
static thread_local int thread_device = -1;

int ft_cu_ctx_get(const char *fn, ft_cu_ctx **out) {
  ft_cu_ctx *c;
  {
    std::lock_guard<std::mutex> lock(init_mu);
    discover();
    if (n_devices == 0) return ft_fail("%s: %s", fn, status_msg);
    c = contexts[current_device];
    if (!c) {
      FT_CU(fn, "cudaSetDevice", cudaSetDevice(current_device));
      thread_device = current_device;
      cudaStream_t s;
      FT_CU(fn, "creating the CUDA stream", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      c = new ft_cu_ctx();
      c->device = current_device;
      c->stream = s;
      c->cudnn = nullptr;
      c->cublas = nullptr;
      cudaDeviceGetAttribute(&c->sm_count, cudaDevAttrMultiProcessorCount, current_device);
      contexts[current_device] = c;
    }
  }
  if (thread_device != c->device) {
    FT_CU(fn, "cudaSetDevice", cudaSetDevice(c->device));
    thread_device = c->device;
  }
  *out = c;
  return FT_OK;
}

static int drop_cache_if_idle(void);

extern "C" int ft_cuda_set_device(int index) {
  const char *fn = "ft_cuda_set_device";
  int n;
  FT_TRY(ft_cuda_device_count(&n));
  if (n == 0) return ft_fail("%s: %s", fn, status_msg);
  if (index < 0 || index >= n)
    return ft_fail("%s: device %d does not exist (devices 0 to %d)", fn, index, n - 1);
  std::lock_guard<std::mutex> lock(init_mu);
  if (index == current_device) return FT_OK;
  /* cached blocks belong to the old device: none may be live, and the cache goes */
  if (drop_cache_if_idle())
    return ft_fail("%s: CUDA tensors exist on device %d; one process uses one device (set it "
                   "before making CUDA tensors)", fn, current_device);
  current_device = index;
  return FT_OK;
}

extern "C" int ft_cuda_get_device(int *index) {
  if (!index) return ft_fail("ft_cuda_get_device: index is NULL");
  int n;
  FT_TRY(ft_cuda_device_count(&n));
  if (n == 0) return ft_fail("ft_cuda_get_device: %s", status_msg);
  *index = current_device;
  return FT_OK;
}

extern "C" int ft_cuda_device_info(int index, char *name, int64_t cap, int64_t *total_bytes,
                                   int *cc_major, int *cc_minor) {
  const char *fn = "ft_cuda_device_info";
  int n;
  FT_TRY(ft_cuda_device_count(&n));
  if (n == 0) return ft_fail("%s: %s", fn, status_msg);
  if (index < 0 || index >= n)
    return ft_fail("%s: device %d does not exist (devices 0 to %d)", fn, index, n - 1);
  cudaDeviceProp p;
  FT_CU(fn, "cudaGetDeviceProperties", cudaGetDeviceProperties(&p, index));
  if (name && cap > 0) snprintf(name, (size_t)cap, "%s", p.name);
  if (total_bytes) *total_bytes = (int64_t)p.totalGlobalMem;
  if (cc_major) *cc_major = p.major;
  if (cc_minor) *cc_minor = p.minor;
  return FT_OK;
}

extern "C" int ft_cuda_synchronize(void) {
  const char *fn = "ft_cuda_synchronize";
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  FT_CU(fn, "waiting for the stream", cudaStreamSynchronize(c->stream));
  return FT_OK;
}

/* ---- settings ------------------------------------------------------------------------------ */
static int needs_device(const char *fn) {
  int n;
  FT_TRY(ft_cuda_device_count(&n));
  if (n == 0) return ft_fail("%s: %s", fn, status_msg);
  return FT_OK;
}
extern "C" int ft_cuda_set_deterministic(int on) {
  FT_TRY(needs_device("ft_cuda_set_deterministic"));
  deterministic = on != 0;
  return FT_OK;
}
extern "C" int ft_cuda_set_benchmark(int on) {
  FT_TRY(needs_device("ft_cuda_set_benchmark"));
  benchmark = on != 0;
  return FT_OK;
}
extern "C" int ft_cuda_set_tf32(int on) {
  FT_TRY(needs_device("ft_cuda_set_tf32"));
  tf32 = on != 0;
  return FT_OK;
}
int ft_cu_deterministic(void) { return deterministic; }
int ft_cu_benchmark(void) { return benchmark; }
int ft_cu_tf32(void) { return tf32; }

/* ---- the caching allocator ------------------------------------------------------------------ */
static std::mutex alloc_mu;
static std::multimap<size_t, void *> free_blocks;          /* size -> block            */
static std::unordered_map<void *, size_t> used_blocks;     /* block -> its size        */
static int64_t bytes_in_use = 0, bytes_cached = 0, bytes_peak = 0, n_mallocs = 0, n_reuses = 0;


/* Block sizes: 512-byte steps below 1 MiB, 128 KiB steps below 64 MiB, 2 MiB above. */
static size_t round_size(size_t n) {
  size_t step = n < (1u << 20) ? 512 : n < (64u << 20) ? (128u << 10) : (2u << 20);
  return (n + step - 1) / step * step;
}

/* Give every cached block back (caller holds alloc_mu). Waits for the device first:
 * a block freed by us may still be read by queued kernels. */
static void release_cache(void) {
  if (free_blocks.empty()) return;
  cudaDeviceSynchronize();
  for (auto &b : free_blocks) cudaFree(b.second);
  free_blocks.clear();
  bytes_cached = 0;
}

/* 1 when blocks are in use; else empties the cache and returns 0. */
static int drop_cache_if_idle(void) {
  std::lock_guard<std::mutex> lock(alloc_mu);
  if (!used_blocks.empty()) return 1;
  release_cache();
  return 0;
}

int ft_cu_alloc(const char *fn, void **p, size_t nbytes) {
  *p = nullptr;
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c)); /* even for 0 bytes: no device must be an error */
  if (nbytes == 0) return FT_OK;
  size_t need = round_size(nbytes);
  std::lock_guard<std::mutex> lock(alloc_mu);
  auto it = free_blocks.lower_bound(need);
  if (it != free_blocks.end() && it->first <= need + need / 8) {
    *p = it->second;
    size_t sz = it->first;
    free_blocks.erase(it);
    bytes_cached -= (int64_t)sz;
    used_blocks[*p] = sz;
    bytes_in_use += (int64_t)sz;
    n_reuses++;
  } else {
    cudaError_t e = cudaMalloc(p, need);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cache();
      e = cudaMalloc(p, need);
    }
    if (e != cudaSuccess) {
      *p = nullptr;
      size_t fr = 0, tot = 0;
      cudaGetLastError();
      cudaMemGetInfo(&fr, &tot);
      if (e == cudaErrorMemoryAllocation)
        return ft_fail("%s: out of GPU memory allocating %zu bytes (%lld bytes in Fathom's "
                       "tensors, %zu of %zu bytes free on the device)", fn, nbytes,
                       (long long)bytes_in_use, fr, tot);
      return ft_cu_fail(fn, "cudaMalloc", e);
    }
    n_mallocs++;
    used_blocks[*p] = need;
    bytes_in_use += (int64_t)need;
  }
  if (bytes_in_use > bytes_peak) bytes_peak = bytes_in_use;
  return FT_OK;
}

void ft_cu_free(void *p) {
  if (!p) return;
  std::lock_guard<std::mutex> lock(alloc_mu);
  auto it = used_blocks.find(p);
  if (it == used_blocks.end()) return; /* not ours: never happens; leaking beats crashing */
  size_t sz = it->second;
  used_blocks.erase(it);
  bytes_in_use -= (int64_t)sz;
  free_blocks.emplace(sz, p);
  bytes_cached += (int64_t)sz;
}

extern "C" int ft_cuda_memory_stats(ft_cuda_memory *s) {
  if (!s) return ft_fail("ft_cuda_memory_stats: stats is NULL");
  FT_TRY(needs_device("ft_cuda_memory_stats"));
  std::lock_guard<std::mutex> lock(alloc_mu);
  s->in_use = bytes_in_use;
  s->cached = bytes_cached;
  s->peak = bytes_peak;
  s->mallocs = n_mallocs;
  s->reuses = n_reuses;
  return FT_OK;
}

extern "C" int ft_cuda_empty_cache(void) {
  FT_TRY(needs_device("ft_cuda_empty_cache"));
  std::lock_guard<std::mutex> lock(alloc_mu);
  release_cache();
  return FT_OK;
}

/* ---- storages (tensor.c) ---------------------------------------------------------------------- */
extern "C" int ft_cuda_storage_alloc(const char *fn, void **data, size_t nbytes) {
  FT_TRY(ft_cu_alloc(fn, data, nbytes));
  if (nbytes) {
    ft_cu_ctx *c;
    FT_TRY(ft_cu_ctx_get(fn, &c));
    /* new tensors are zero-filled, as on the CPU */
    cudaError_t e = cudaMemsetAsync(*data, 0, nbytes, c->stream);
    if (e != cudaSuccess) { ft_cu_free(*data); *data = nullptr; return ft_cu_fail(fn, "zero-filling", e); }
  }
  ft_count_bytes((int64_t)nbytes);
  return FT_OK;
}

extern "C" void ft_cuda_storage_free(void *data, size_t nbytes) {
  ft_cu_free(data);
  ft_count_bytes(-(int64_t)nbytes);
}

extern "C" int ft_cuda_pinned_alloc(const char *fn, void **data, size_t nbytes) {
  *data = nullptr;
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  FT_CU(fn, "cudaHostAlloc (pinned host memory)", cudaHostAlloc(data, nbytes ? nbytes : 1, cudaHostAllocDefault));
  memset(*data, 0, nbytes);
  ft_count_bytes((int64_t)nbytes);
  return FT_OK;
}

extern "C" void ft_cuda_pinned_free(void *data, size_t nbytes) {
  if (!data) return;
  cudaFreeHost(data);
  ft_count_bytes(-(int64_t)nbytes);
}

extern "C" int ft_cuda_pinned_new(ft_tensor **out, int dtype, int ndim, const int64_t *size) {
  if (out) *out = NULL;
  FT_TRY(needs_device("ft_cuda_pinned_new"));
  return ft_tensor_new_kind(out, dtype, FT_CPU, FT_STORAGE_PINNED, ndim, size);
}

/* ---- copies and element access ------------------------------------------------------------------ */
int ft_cu_to_host(const char *fn, ft_cu_ctx *c, void *dst, const void *src, size_t nbytes) {
  if (!nbytes) return FT_OK;
  FT_CU(fn, "copying to the host", cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToHost, c->stream));
  FT_CU(fn, "waiting for the copy to the host", cudaStreamSynchronize(c->stream));
  return FT_OK;
}

int ft_cu_to_device(const char *fn, ft_cu_ctx *c, void *dst, const void *src, size_t nbytes) {
  if (!nbytes) return FT_OK;
  FT_CU(fn, "copying to the device", cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyHostToDevice, c->stream));
  /* the host buffer may be reused as soon as we return */
  FT_CU(fn, "waiting for the copy to the device", cudaStreamSynchronize(c->stream));
  return FT_OK;
}

extern "C" int ft_cuda_get(const ft_tensor *t, int64_t offset, double *value) {
  const char *fn = "ft_get";
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  int es = ft_dtype_size(t->dtype);
  union { float f; double d; int64_t l; uint8_t b; } u;
  FT_TRY(ft_cu_to_host(fn, c, &u, (const char *)ft_data(t) + offset * es, (size_t)es));
  switch (t->dtype) {
  case FT_FLOAT32: *value = u.f; break;
  case FT_FLOAT64: *value = u.d; break;
  case FT_INT64: *value = (double)u.l; break;
  default: *value = u.b; break;
  }
  return FT_OK;
}

extern "C" int ft_cuda_set(ft_tensor *t, int64_t offset, double value) {
  const char *fn = "ft_set";
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  int es = ft_dtype_size(t->dtype);
  union { float f; double d; int64_t l; uint8_t b; } u;
  switch (t->dtype) {
  case FT_FLOAT32: u.f = (float)value; break;
  case FT_FLOAT64: u.d = value; break;
  case FT_INT64: u.l = (int64_t)value; break;
  default: u.b = (uint8_t)value; break;
  }
  return ft_cu_to_device(fn, c, (char *)ft_data(t) + offset * es, &u, (size_t)es);
}

extern "C" int ft_cuda_copy_async(ft_tensor *dst, const ft_tensor *src) {
  const char *fn = "ft_cuda_copy_async";
  char a[128], b[128];
  FT_TRY(ft_check_tensor(fn, "destination", dst));
  FT_TRY(ft_check_tensor(fn, "source", src));
  if (!ft_on_cuda(dst) && !ft_on_cuda(src))
    return ft_fail("%s: one of destination and source must be a CUDA tensor", fn);
  if (dst->dtype != src->dtype || ft_numel(dst) != ft_numel(src))
    return ft_fail("%s: destination (%s %s) and source (%s %s) must have one dtype and size", fn,
                   ft_dtype_name(dst->dtype), ft_shape_str(dst, a, sizeof a),
                   ft_dtype_name(src->dtype), ft_shape_str(src, b, sizeof b));
  FT_TRY(ft_check_contiguous(fn, "destination", dst));
  FT_TRY(ft_check_contiguous(fn, "source", src));
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  size_t nbytes = (size_t)ft_numel(src) * ft_dtype_size(src->dtype);
  if (!nbytes) return FT_OK;
  cudaMemcpyKind kind = ft_on_cuda(dst) ? (ft_on_cuda(src) ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                                        : cudaMemcpyDeviceToHost;
  FT_CU(fn, "queueing the copy", cudaMemcpyAsync(ft_data(dst), ft_data(src), nbytes, kind, c->stream));
  return FT_OK;
}

/* ---- events ----------------------------------------------------------------------------------- */
struct ft_cuda_event { cudaEvent_t ev; int recorded; };

extern "C" int ft_cuda_event_new(ft_cuda_event **out) {
  const char *fn = "ft_cuda_event_new";
  if (!out) return ft_fail("%s: out is NULL", fn);
  *out = NULL;
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  ft_cuda_event *e = new ft_cuda_event();
  e->recorded = 0;
  cudaError_t st = cudaEventCreate(&e->ev);
  if (st != cudaSuccess) { delete e; return ft_cu_fail(fn, "cudaEventCreate", st); }
  *out = e;
  return FT_OK;
}

extern "C" void ft_cuda_event_free(ft_cuda_event *e) {
  if (!e) return;
  cudaEventDestroy(e->ev);
  delete e;
}

extern "C" int ft_cuda_event_record(ft_cuda_event *e) {
  const char *fn = "ft_cuda_event_record";
  if (!e) return ft_fail("%s: event is NULL", fn);
  ft_cu_ctx *c;
  FT_TRY(ft_cu_ctx_get(fn, &c));
  FT_CU(fn, "cudaEventRecord", cudaEventRecord(e->ev, c->stream));
  e->recorded = 1;
  return FT_OK;
}

extern "C" int ft_cuda_event_synchronize(ft_cuda_event *e) {
  const char *fn = "ft_cuda_event_synchronize";
  if (!e) return ft_fail("%s: event is NULL", fn);
  if (!e->recorded) return ft_fail("%s: the event was never recorded", fn);
  FT_CU(fn, "cudaEventSynchronize", cudaEventSynchronize(e->ev));
  return FT_OK;
}

extern "C" int ft_cuda_event_elapsed(const ft_cuda_event *start, const ft_cuda_event *end, double *ms) {
  const char *fn = "ft_cuda_event_elapsed";
  if (!start || !end || !ms) return ft_fail("%s: start, end and ms must not be NULL", fn);
  if (!start->recorded || !end->recorded) return ft_fail("%s: both events must have been recorded", fn);
  FT_CU(fn, "cudaEventSynchronize", cudaEventSynchronize(end->ev));
  float f = 0;
  FT_CU(fn, "cudaEventElapsedTime", cudaEventElapsedTime(&f, start->ev, end->ev));
  *ms = f;
  return FT_OK;
}
