/* dist/stubs.c -- the DIST-SECTION of fathom.h in a build without MPI (or without NCCL).
 * Every declared function exists in every build, so Lua code can always ask (the FFI
 * would otherwise fail on a missing symbol): ft_has_mpi is 0, the settings are kept, and
 * everything else fails saying how to get MPI. The real ones live in core/dist/mpi.c
 * (FT_WITH_MPI) and core/dist/nccl.cu (FT_WITH_NCCL). */
#include "internal.h"

#ifndef FT_WITH_MPI
#include <limits.h>

static double timeout_s = 300.0;
static int64_t max_count = INT_MAX;

static int no_mpi(const char *fn) {
  return ft_fail("%s: this build of Fathom has no MPI: install libopenmpi-dev openmpi-bin "
                 "(bin/setup does) and rebuild", fn);
}

int ft_dist_no_mpi(const char *fn) { return no_mpi(fn); }
int ft_has_mpi(void) { return 0; }
int ft_dist_init(void) { return no_mpi("ft_dist_init"); }
int ft_dist_is_initialized(void) { return 0; }
int ft_dist_rank(int *rank) { return no_mpi("ft_dist_rank"); }
int ft_dist_size(int *size) { return no_mpi("ft_dist_size"); }
int ft_dist_finalize(void) { return no_mpi("ft_dist_finalize"); }
int ft_dist_abort(int code) { return no_mpi("ft_dist_abort"); }
int ft_dist_set_timeout(double seconds) {
  if (!(seconds > 0) || seconds > 1e9)
    return ft_fail("ft_dist_set_timeout: seconds must be in (0, 1e9], got %g", seconds);
  timeout_s = seconds;
  return FT_OK;
}
double ft_dist_get_timeout(void) { return timeout_s; }
int ft_dist_set_max_count(int64_t count) {
  if (count < 1 || count > INT_MAX)
    return ft_fail("ft_dist_set_max_count: count must be in 1..%d, got %lld", INT_MAX, (long long)count);
  max_count = count;
  return FT_OK;
}
int64_t ft_dist_get_max_count(void) { return max_count; }
int ft_dist_barrier(void) { return no_mpi("ft_dist_barrier"); }
int ft_dist_broadcast(ft_tensor *t, int root) { return no_mpi("ft_dist_broadcast"); }
int ft_dist_allreduce(ft_tensor *t) { return no_mpi("ft_dist_allreduce"); }
int ft_dist_allreduce_range(ft_tensor *t, int64_t offset, int64_t count) {
  return no_mpi("ft_dist_allreduce_range");
}
int ft_dist_allreduce_doubles(double *values, int64_t n) { return no_mpi("ft_dist_allreduce_doubles"); }
int64_t ft_dist_sequence(void) { return 0; }
int ft_dist_allreduce_start(ft_tensor *t, int64_t offset, int64_t count, ft_dist_request **out) {
  if (out) *out = NULL;
  return no_mpi("ft_dist_allreduce_start");
}
int ft_dist_test(ft_dist_request *r, int *done) { return no_mpi("ft_dist_test"); }
int ft_dist_wait(ft_dist_request *r) { return no_mpi("ft_dist_wait"); }
#endif

/* The NCCL path (core/dist/nccl.cu) needs CUDA, MPI and nccl.h. */
#ifndef FT_WITH_NCCL
int ft_has_nccl(void) { return 0; }
int ft_dist_nccl_init(void) {
  return ft_fail("ft_dist_nccl_init: this build of Fathom has no NCCL (it needs the CUDA backend, "
                 "MPI and nccl.h; see `make info`)");
}
int ft_dist_nccl_finalize(void) { return FT_OK; }
#endif
