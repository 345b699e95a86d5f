/* dist/nccl.cu -- collectives of CUDA tensors over NCCL, built when the CUDA backend, MPI
 * and nccl.h are all found (FT_WITH_NCCL); core/dist/mpi.c sends CUDA tensors here.
 *
 * Bootstrap: rank 0's ncclUniqueId reaches every rank through ft_dist_broadcast (MPI),
 * then each rank joins with ncclCommInitRank on its current device. NCCL is opened with
 * dlopen on first use, like cuBLAS: the library does not link it, so a CUDA build runs
 * where NCCL is absent until a GPU collective is asked for.
 * Waiting: a collective is queued on the device's stream (behind the backward pass that
 * produced the gradients), then an event after it is polled with the dist timeout and
 * NCCL's asynchronous error; on a timeout the communicator is aborted (ncclCommAbort),
 * which is the one way NCCL frees a rank stuck in a collective.
 */
#include "cuda/cuda_common.cuh"
#include <nccl.h>
#include <dlfcn.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#ifndef FT_NCCL_LIBDIR
#define FT_NCCL_LIBDIR "/usr/local/cuda/lib"
#endif

namespace {
struct nccl_api {
  decltype(&ncclGetUniqueId) get_unique_id;
  decltype(&ncclCommInitRank) comm_init_rank;
  decltype(&ncclAllReduce) all_reduce;
  decltype(&ncclBroadcast) broadcast;
  decltype(&ncclCommAbort) comm_abort;
  decltype(&ncclCommDestroy) comm_destroy;
  decltype(&ncclCommGetAsyncError) async_error;
  decltype(&ncclGetErrorString) error_string;
  decltype(&ncclGetVersion) get_version;
};
nccl_api api;
bool api_loaded = false;
ncclComm_t comm = nullptr;
cudaEvent_t done_event = nullptr;
int comm_device = -1;
char broken[300];

int load_api(const char *fn) {
  if (api_loaded) return FT_OK;
  void *h = dlopen(FT_NCCL_LIBDIR "/libnccl.so.2", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!h) h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (!h) return ft_fail("%s: cannot open NCCL (libnccl.so.2): %s", fn, dlerror());
#define FT_NCCL_SYM(field, name)                                                           \
  api.field = reinterpret_cast<decltype(api.field)>(dlsym(h, name));                       \
  if (!api.field) return ft_fail("%s: NCCL lacks %s", fn, name);
  FT_NCCL_SYM(get_unique_id, "ncclGetUniqueId")
  FT_NCCL_SYM(comm_init_rank, "ncclCommInitRank")
  FT_NCCL_SYM(all_reduce, "ncclAllReduce")
  FT_NCCL_SYM(broadcast, "ncclBroadcast")
  FT_NCCL_SYM(comm_abort, "ncclCommAbort")
  FT_NCCL_SYM(comm_destroy, "ncclCommDestroy")
  FT_NCCL_SYM(async_error, "ncclCommGetAsyncError")
  FT_NCCL_SYM(error_string, "ncclGetErrorString")
  FT_NCCL_SYM(get_version, "ncclGetVersion")
#undef FT_NCCL_SYM
  api_loaded = true;
  return FT_OK;
}

int nccl_fail(const char *fn, const char *what, ncclResult_t r) {
  return ft_fail("%s: %s failed: %s", fn, what, api.error_string ? api.error_string(r) : "NCCL error");
}

double now_s() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

int need_comm(const char *fn, ft_cu_ctx **ctx) {
  if (broken[0]) return ft_fail("%s: an earlier GPU collective failed, the job must end: %s", fn, broken);
  if (!comm) return ft_fail("%s: no NCCL communicator (call ft_dist_nccl_init after choosing the device)", fn);
  FT_TRY(ft_cu_ctx_get(fn, ctx));
  if ((*ctx)->device != comm_device)
    return ft_fail("%s: the NCCL communicator lives on device %d, the current device is %d", fn,
                   comm_device, (*ctx)->device);
  return FT_OK;
}

/* Wait for what was queued on the stream, or give up after the dist timeout. */
int wait_stream(const char *fn, const char *what, ft_cu_ctx *ctx) {
  FT_CU(fn, "cudaEventRecord", cudaEventRecord(done_event, ctx->stream));
  double t0 = now_s(), timeout = ft_dist_get_timeout();
  for (;;) {
    cudaError_t e = cudaEventQuery(done_event);
    if (e == cudaSuccess) return FT_OK;
    if (e != cudaErrorNotReady) return ft_cu_fail(fn, what, e);
    ncclResult_t async = ncclSuccess;
    api.async_error(comm, &async);
    if (async != ncclSuccess) {
      nccl_fail(fn, what, async);
      snprintf(broken, sizeof broken, "%s", ft_last_error());
      api.comm_abort(comm);
      comm = nullptr;
      return FT_ERR;
    }
    double waited = now_s() - t0;
    if (waited > timeout) {
      ft_fail("%s: %s did not finish within %.1f s (a rank is dead, stuck or in another "
              "operation); the NCCL communicator was aborted", fn, what, waited);
      snprintf(broken, sizeof broken, "%s", ft_last_error());
      api.comm_abort(comm);
      comm = nullptr;
      return FT_ERR;
    }
    if (waited > 1e-2) sched_yield();
  }
}

ncclDataType_t nccl_type(int dtype) {
  switch (dtype) {
  case FT_FLOAT32: return ncclFloat32;
  case FT_FLOAT64: return ncclFloat64;
  case FT_INT64: return ncclInt64;
  default: return ncclUint8;
  }
}
} // namespace

extern "C" {

int ft_has_nccl(void) { return 1; }

int ft_dist_nccl_init(void) {
  const char *fn = "ft_dist_nccl_init";
  if (comm) return FT_OK;
  if (broken[0]) return ft_fail("%s: an earlier GPU collective failed: %s", fn, broken);
  if (!ft_dist_is_initialized()) return ft_fail("%s: call ft_dist_init first (NCCL is bootstrapped over MPI)", fn);
  ft_cu_ctx *ctx;
  FT_TRY(ft_cu_ctx_get(fn, &ctx));
  FT_TRY(load_api(fn));
  int rank, size;
  FT_TRY(ft_dist_rank(&rank));
  FT_TRY(ft_dist_size(&size));
  ncclUniqueId id;
  memset(&id, 0, sizeof id);
  if (rank == 0) {
    ncclResult_t r = api.get_unique_id(&id);
    if (r != ncclSuccess) return nccl_fail(fn, "ncclGetUniqueId", r);
  }
  /* the id as a CPU uint8 tensor viewing `id`, broadcast by MPI */
  int64_t n = sizeof id;
  ft_tensor *t;
  FT_TRY(ft_tensor_new(&t, FT_UINT8, FT_CPU, 1, &n));
  memcpy(ft_data(t), &id, sizeof id);
  int st = ft_dist_broadcast(t, 0);
  if (st == FT_OK) memcpy(&id, ft_data(t), sizeof id);
  ft_tensor_free(t);
  if (st) return st;
  ncclComm_t c;
  ncclResult_t r = api.comm_init_rank(&c, size, id, rank);
  if (r != ncclSuccess) return nccl_fail(fn, "ncclCommInitRank", r);
  if (!done_event) {
    cudaError_t e = cudaEventCreateWithFlags(&done_event, cudaEventDisableTiming);
    if (e != cudaSuccess) { api.comm_destroy(c); return ft_cu_fail(fn, "cudaEventCreate", e); }
  }
  comm = c;
  comm_device = ctx->device;
  return FT_OK;
}

int ft_dist_nccl_finalize(void) {
  if (!comm) return FT_OK;
  ncclResult_t r = api.comm_destroy(comm);
  comm = nullptr;
  if (r != ncclSuccess) return nccl_fail("ft_dist_nccl_finalize", "ncclCommDestroy", r);
  return FT_OK;
}

/* Called by core/dist/mpi.c for CUDA tensors, after its argument checks. */
int ft_nccl_allreduce(const char *fn, ft_tensor *t, int64_t offset, int64_t count) {
  ft_cu_ctx *ctx;
  FT_TRY(need_comm(fn, &ctx));
  if (count == 0) return FT_OK;
  int es = ft_dtype_size(t->dtype);
  char *p = static_cast<char *>(ft_data(t)) + offset * es;
  char what[96];
  snprintf(what, sizeof what, "GPU all-reduce of %lld %s", (long long)count, ft_dtype_name(t->dtype));
  ncclResult_t r = api.all_reduce(p, p, (size_t)count, nccl_type(t->dtype), ncclSum, comm, ctx->stream);
  if (r != ncclSuccess) return nccl_fail(fn, what, r);
  return wait_stream(fn, what, ctx);
}

int ft_nccl_broadcast(const char *fn, ft_tensor *t, int root) {
  ft_cu_ctx *ctx;
  FT_TRY(need_comm(fn, &ctx));
  int64_t n = ft_numel(t);
  if (n == 0) return FT_OK;
  char what[96];
  snprintf(what, sizeof what, "GPU broadcast of %lld %s from rank %d", (long long)n, ft_dtype_name(t->dtype), root);
  ncclResult_t r = api.broadcast(ft_data(t), ft_data(t), (size_t)n, nccl_type(t->dtype), root, comm, ctx->stream);
  if (r != ncclSuccess) return nccl_fail(fn, what, r);
  return wait_stream(fn, what, ctx);
}

} // extern "C"
