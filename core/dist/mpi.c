/* dist/mpi.c -- the DIST-SECTION of fathom.h over MPI (compiled with FT_WITH_MPI, when the
 * Makefile finds mpicc and mpi.h; core/dist/stubs.c stands in otherwise).
 *
 * Why non-blocking collectives polled against a clock: a blocking MPI_Allreduce waits
 * forever for a rank that died or took another path, and a training job must end with a
 * message instead. Each operation is started (MPI_Iallreduce, MPI_Ibcast, MPI_Ibarrier)
 * and tested until it completes or the timeout passes. On a timeout the ranks that also
 * timed out tell each other, over a second communicator, which collective they wait in,
 * so the message can name the ranks that never answered. A collective that timed out
 * cannot be cancelled (MPI has no cancel for collectives): the communicator is then
 * unusable and every later call fails with the first error until the job is aborted.
 *
 * Everything runs on our duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN, so an MPI
 * failure comes back as a status and MPI's own message. CUDA tensors are checked here and
 * then handed to core/dist/nccl.cu (FT_WITH_NCCL), or refused.
 */
#include "internal.h"

#ifdef FT_WITH_MPI
#include <mpi.h>
#include <dlfcn.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static MPI_Comm comm = MPI_COMM_NULL;       /* collectives                                  */
static MPI_Comm probe_comm = MPI_COMM_NULL; /* who-is-where messages after a timeout        */
static int my_rank = 0, n_ranks = 1;
static int we_initialised = 0;              /* MPI_Init was ours, so MPI_Finalize is too     */
static double timeout_s = 300.0;
static int64_t max_count = INT_MAX;
static int64_t sequence = 0;                /* collectives completed                        */
static char broken[400];                    /* first fatal error; "" while healthy          */

enum { OP_BARRIER = 1, OP_BROADCAST, OP_ALLREDUCE, OP_HEADER };
static const char *op_name(int op) {
  switch (op) {
  case OP_BARRIER: return "barrier";
  case OP_BROADCAST: return "broadcast";
  case OP_ALLREDUCE: return "all-reduce";
  case OP_HEADER: return "broadcast header check";
  default: return "unknown operation";
  }
}

int ft_has_mpi(void) { return 1; }
int ft_dist_is_initialized(void) { return comm != MPI_COMM_NULL; }

static int mpi_fail(const char *fn, const char *what, int rc) {
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS) snprintf(msg, sizeof msg, "MPI error %d", rc);
  return ft_fail("%s: %s failed on rank %d: %s", fn, what, my_rank, msg);
}

static int need_init(const char *fn) {
  if (comm == MPI_COMM_NULL)
    return ft_fail("%s: distributed mode is not initialised (call ft_dist_init first)", fn);
  if (broken[0])
    return ft_fail("%s: an earlier collective failed, the job must end: %s", fn, broken);
  return FT_OK;
}

int ft_dist_init(void) {
  if (comm != MPI_COMM_NULL) return FT_OK;
  /* The library is usually opened by LuaJIT with RTLD_LOCAL, and Open MPI's plugins need
   * libmpi's symbols global: promote the already loaded libmpi (what mpi4py does). */
  const char *names[] = { "libmpi.so.40", "libmpi.so.12", "libmpi.so" };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (dlopen(names[i], RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD)) break;
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (finalized) return ft_fail("ft_dist_init: MPI was already finalised in this process");
  if (!inited) {
    int provided = 0;
    int rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
    if (rc != MPI_SUCCESS) return mpi_fail("ft_dist_init", "MPI_Init_thread", rc);
    if (provided < MPI_THREAD_FUNNELED)
      return ft_fail("ft_dist_init: this MPI gives thread level %d, FUNNELED (%d) is needed",
                     provided, MPI_THREAD_FUNNELED);
    we_initialised = 1;
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rc = MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  if (rc != MPI_SUCCESS) { comm = MPI_COMM_NULL; return mpi_fail("ft_dist_init", "MPI_Comm_dup", rc); }
  rc = MPI_Comm_dup(MPI_COMM_WORLD, &probe_comm);
  if (rc != MPI_SUCCESS) {
    MPI_Comm_free(&comm);
    return mpi_fail("ft_dist_init", "MPI_Comm_dup", rc);
  }
  MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
  MPI_Comm_set_errhandler(probe_comm, MPI_ERRORS_RETURN);
  MPI_Comm_rank(comm, &my_rank);
  MPI_Comm_size(comm, &n_ranks);
  sequence = 0;
  broken[0] = '\0';
  return FT_OK;
}

int ft_dist_rank(int *rank) {
  if (!rank) return ft_fail("ft_dist_rank: rank is NULL");
  if (comm == MPI_COMM_NULL) return ft_fail("ft_dist_rank: distributed mode is not initialised (call ft_dist_init first)");
  *rank = my_rank;
  return FT_OK;
}

int ft_dist_size(int *size) {
  if (!size) return ft_fail("ft_dist_size: size is NULL");
  if (comm == MPI_COMM_NULL) return ft_fail("ft_dist_size: distributed mode is not initialised (call ft_dist_init first)");
  *size = n_ranks;
  return FT_OK;
}

int ft_dist_finalize(void) {
  if (comm == MPI_COMM_NULL) return FT_OK;
  if (broken[0])
    return ft_fail("ft_dist_finalize: an earlier collective failed, so the ranks cannot finish "
                   "together (call ft_dist_abort): %s", broken);
  MPI_Comm_free(&probe_comm);
  MPI_Comm_free(&comm);
  comm = probe_comm = MPI_COMM_NULL;
  if (we_initialised) {
    int rc = MPI_Finalize();
    if (rc != MPI_SUCCESS) return mpi_fail("ft_dist_finalize", "MPI_Finalize", rc);
  }
  return FT_OK;
}

int ft_dist_abort(int code) {
  int inited = 0, finalized = 0;
  MPI_Initialized(&inited);
  MPI_Finalized(&finalized);
  if (!inited || finalized) return ft_fail("ft_dist_abort: MPI is not running in this process");
  fflush(stdout);
  fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  return ft_fail("ft_dist_abort: MPI_Abort returned");
}

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
int64_t ft_dist_sequence(void) { return sequence; }

static void pause_briefly(double waited) {
  /* Open MPI progresses non-blocking collectives only inside MPI calls, so poll hard at
   * first (a large all-reduce moves a piece per call; on an idle core a yield costs
   * nothing, on a shared one it costs a time slice), then yield the core, and sleep only
   * when a peer is clearly late: a rank that waits long for a slow peer should not steal
   * the peer's CPU. */
  if (waited < 1e-2) return;
  if (waited < 1.0) { sched_yield(); return; }
  struct timespec ts = { 0, 200000 };
  nanosleep(&ts, NULL);
}

/* After a timeout: tell every other rank which collective we wait in, and listen for
 * the same from them for a short grace period. Ranks that say nothing are dead, stuck
 * outside MPI, or in a collective that has not timed out yet. */
static void who_is_missing(int op, char *out, size_t cap) {
  /* Requests left unanswered stay pending until the job ends, so MPI may still read or
   * write these buffers later: `mine` is static and the arrays are never freed (this runs
   * at most once per process, on the way to an abort). */
  static int mine[2];
  mine[0] = (int)(sequence & INT_MAX);
  mine[1] = op;
  int n = n_ranks;
  MPI_Request *sends = calloc((size_t)n, sizeof *sends);
  MPI_Request *recvs = calloc((size_t)n, sizeof *recvs);
  int (*theirs)[2] = calloc((size_t)n, sizeof *theirs);
  int *heard = calloc((size_t)n, sizeof *heard);
  if (!sends || !recvs || !theirs || !heard) {
    free(sends); free(recvs); free(theirs);
    snprintf(out, cap, "(out of memory while asking which ranks are missing)");
    goto done;
  }
  for (int r = 0; r < n; r++) {
    sends[r] = recvs[r] = MPI_REQUEST_NULL;
    if (r == my_rank) continue;
    MPI_Isend(mine, 2, MPI_INT, r, 77, probe_comm, &sends[r]);
    MPI_Irecv(theirs[r], 2, MPI_INT, r, 77, probe_comm, &recvs[r]);
  }
  double grace = timeout_s < 2.0 ? timeout_s : 2.0, t0 = MPI_Wtime();
  int left = n - 1;
  while (left > 0 && MPI_Wtime() - t0 < grace) {
    for (int r = 0; r < n; r++) {
      if (r == my_rank || heard[r]) continue;
      int flag = 0;
      if (MPI_Test(&recvs[r], &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag) { heard[r] = 1; left--; }
    }
    pause_briefly(1.0);
  }
  size_t used = 0;
  int listed = 0;
  out[0] = '\0';
  for (int r = 0; r < n && used < cap; r++) {
    if (r == my_rank || heard[r]) continue;
    used += (size_t)snprintf(out + used, cap - used, "%s%d", listed++ ? ", " : "rank(s) ", r);
  }
  if (listed && used < cap)
    used += (size_t)snprintf(out + used, cap - used, " did not answer (dead, stuck, or in another operation)");
  for (int r = 0; r < n && used < cap; r++) {
    if (r == my_rank || !heard[r]) continue;
    if (theirs[r][0] != mine[0] || theirs[r][1] != op)
      used += (size_t)snprintf(out + used, cap - used, "%srank %d waits in %s #%d", used ? "; " : "",
                               r, op_name(theirs[r][1]), theirs[r][0]);
  }
  if (!used) snprintf(out, cap, "every rank answered and waits in the same operation (MPI is too slow: raise the timeout)");
done:
  free(heard);
}

/* Wait for req, polling until the timeout. what: text for messages ("all-reduce of ..."). */
static int wait_for(const char *fn, int op, const char *what, MPI_Request *req) {
  double t0 = MPI_Wtime();
  for (;;) {
    int flag = 0;
    int rc = MPI_Test(req, &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      mpi_fail(fn, what, rc);
      snprintf(broken, sizeof broken, "%s", ft_last_error());
      return FT_ERR;
    }
    if (flag) return FT_OK;
    double waited = MPI_Wtime() - t0;
    if (waited > timeout_s) {
      char missing[256];
      who_is_missing(op, missing, sizeof missing);
      ft_fail("%s: rank %d gave up on %s (collective #%lld) after %.1f s: %s", fn, my_rank, what,
              (long long)sequence, waited, missing);
      snprintf(broken, sizeof broken, "%s", ft_last_error());
      return FT_ERR;
    }
    pause_briefly(waited);
  }
}

static int start_failed(const char *fn, const char *what, int rc) {
  mpi_fail(fn, what, rc);
  snprintf(broken, sizeof broken, "%s", ft_last_error());
  return FT_ERR;
}

int ft_dist_barrier(void) {
  const char *fn = "ft_dist_barrier";
  FT_TRY(need_init(fn));
  MPI_Request req;
  int rc = MPI_Ibarrier(comm, &req);
  if (rc != MPI_SUCCESS) return start_failed(fn, "barrier", rc);
  FT_TRY(wait_for(fn, OP_BARRIER, "barrier", &req));
  sequence++;
  return FT_OK;
}

static MPI_Datatype mpi_type(int dtype) {
  switch (dtype) {
  case FT_FLOAT32: return MPI_FLOAT;
  case FT_FLOAT64: return MPI_DOUBLE;
  case FT_INT64: return MPI_INT64_T;
  case FT_UINT8: return MPI_UINT8_T;
  default: return MPI_DATATYPE_NULL;
  }
}

/* Sum count elements of type at p over the ranks, in calls of at most max_count. */
static int allreduce_sum(const char *fn, void *p, int64_t count, int elsize, MPI_Datatype type,
                         const char *tname) {
  char *c = p;
  for (int64_t done = 0; done < count;) {
    int64_t k = count - done < max_count ? count - done : max_count;
    char what[96];
    snprintf(what, sizeof what, "all-reduce of %lld %s", (long long)k, tname);
    MPI_Request req;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, c + done * elsize, (int)k, type, MPI_SUM, comm, &req);
    if (rc != MPI_SUCCESS) return start_failed(fn, what, rc);
    FT_TRY(wait_for(fn, OP_ALLREDUCE, what, &req));
    sequence++;
    done += k;
  }
  return FT_OK;
}

int ft_dist_allreduce_doubles(double *values, int64_t n) {
  const char *fn = "ft_dist_allreduce_doubles";
  if (n < 0) return ft_fail("%s: n must be >= 0, got %lld", fn, (long long)n);
  if (n > 0 && !values) return ft_fail("%s: values is NULL", fn);
  FT_TRY(need_init(fn));
  return allreduce_sum(fn, values, n, 8, MPI_DOUBLE, "float64");
}

#ifdef FT_WITH_NCCL
/* core/dist/nccl.cu: the same operations on CUDA tensors, after the checks here. */
int ft_nccl_allreduce(const char *fn, ft_tensor *t, int64_t offset, int64_t count);
int ft_nccl_broadcast(const char *fn, ft_tensor *t, int root);
#define FT_NCCL_OR(call, fn) (call)
#else
#define FT_NCCL_OR(call, fn) ft_fail("%s: t is on the GPU, and this build of Fathom has no NCCL (build " \
                                     "where nccl.h is found with the CUDA backend; see `make info`)", fn)
#endif

static int check_reduce_tensor(const char *fn, const ft_tensor *t) {
  FT_TRY(ft_check_tensor(fn, "t", t));
  FT_TRY(ft_check_float(fn, "t", t));
  return ft_check_contiguous(fn, "t", t);
}

int ft_dist_allreduce_range(ft_tensor *t, int64_t offset, int64_t count) {
  const char *fn = "ft_dist_allreduce_range";
  FT_TRY(check_reduce_tensor(fn, t));
  int64_t n = ft_numel(t);
  if (offset < 0 || count < 0 || offset > n || count > n - offset)
    return ft_fail("%s: range [%lld, %lld + %lld) is outside t's %lld elements", fn,
                   (long long)offset, (long long)offset, (long long)count, (long long)n);
  FT_TRY(need_init(fn));
  if (t->device == FT_CUDA) return FT_NCCL_OR(ft_nccl_allreduce(fn, t, offset, count), fn);
  int es = ft_dtype_size(t->dtype);
  return allreduce_sum(fn, (char *)ft_data(t) + offset * es, count, es, mpi_type(t->dtype),
                       ft_dtype_name(t->dtype));
}

int ft_dist_allreduce(ft_tensor *t) {
  const char *fn = "ft_dist_allreduce";
  FT_TRY(check_reduce_tensor(fn, t));
  FT_TRY(need_init(fn));
  if (t->device == FT_CUDA) return FT_NCCL_OR(ft_nccl_allreduce(fn, t, 0, ft_numel(t)), fn);
  int es = ft_dtype_size(t->dtype);
  return allreduce_sum(fn, ft_data(t), ft_numel(t), es, mpi_type(t->dtype), ft_dtype_name(t->dtype));
}

/* Started all-reduces: the training loop starts a bucket as soon as its gradients are
 * final and keeps computing; MPI moves the data only inside MPI calls, so it calls
 * ft_dist_test now and then and ft_dist_wait before the step. */
struct ft_dist_request {
  MPI_Request *reqs; /* one per call of at most max_count elements */
  int n, next;       /* reqs[0..next-1] are known complete */
  char what[96];
};

int ft_dist_allreduce_start(ft_tensor *t, int64_t offset, int64_t count, ft_dist_request **out) {
  const char *fn = "ft_dist_allreduce_start";
  if (!out) return ft_fail("%s: out is NULL", fn);
  *out = NULL;
  FT_TRY(check_reduce_tensor(fn, t));
  if (t->device != FT_CPU)
    return ft_fail("%s: t is on the GPU; started all-reduces take CPU tensors (use ft_dist_allreduce)", fn);
  int64_t n = ft_numel(t);
  if (offset < 0 || count < 0 || offset > n || count > n - offset)
    return ft_fail("%s: range [%lld, %lld + %lld) is outside t's %lld elements", fn,
                   (long long)offset, (long long)offset, (long long)count, (long long)n);
  FT_TRY(need_init(fn));
  int64_t calls = count / max_count + (count % max_count != 0);
  if (calls > INT_MAX) return ft_fail("%s: %lld elements need too many calls", fn, (long long)count);
  ft_dist_request *r = calloc(1, sizeof *r);
  MPI_Request *reqs = calloc((size_t)(calls ? calls : 1), sizeof *reqs);
  if (!r || !reqs) {
    free(r); free(reqs);
    return ft_fail("%s: out of memory for %lld requests", fn, (long long)calls);
  }
  r->reqs = reqs;
  snprintf(r->what, sizeof r->what, "started all-reduce of %lld %s", (long long)count, ft_dtype_name(t->dtype));
  int es = ft_dtype_size(t->dtype);
  char *c = (char *)ft_data(t) + offset * es;
  for (int64_t done = 0; done < count; r->n++) {
    int64_t k = count - done < max_count ? count - done : max_count;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, c + done * es, (int)k, mpi_type(t->dtype), MPI_SUM, comm, &reqs[r->n]);
    if (rc != MPI_SUCCESS) return start_failed(fn, r->what, rc); /* r stays: MPI owns part of it */
    done += k;
  }
  *out = r;
  return FT_OK;
}

int ft_dist_test(ft_dist_request *r, int *done) {
  const char *fn = "ft_dist_test";
  if (!r || !done) return ft_fail("%s: %s is NULL", fn, r ? "done" : "r");
  FT_TRY(need_init(fn));
  while (r->next < r->n) {
    int flag = 0;
    int rc = MPI_Test(&r->reqs[r->next], &flag, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return start_failed(fn, r->what, rc);
    if (!flag) break;
    r->next++;
    sequence++;
  }
  *done = r->next == r->n;
  return FT_OK;
}

int ft_dist_wait(ft_dist_request *r) {
  const char *fn = "ft_dist_wait";
  if (!r) return ft_fail("%s: r is NULL", fn);
  FT_TRY(need_init(fn));
  while (r->next < r->n) {
    FT_TRY(wait_for(fn, OP_ALLREDUCE, r->what, &r->reqs[r->next])); /* r stays on failure */
    r->next++;
    sequence++;
  }
  free(r->reqs);
  free(r);
  return FT_OK;
}

/* Before a broadcast the ranks agree on (dtype, numel): a mismatch would otherwise make
 * MPI truncate or wait. Root's header goes to everyone, then the first differing rank
 * (size if none) is found with one all-reduce of a minimum. */
static int agree_on_header(const char *fn, const ft_tensor *t, int root) {
  /* static: after a timeout the pending broadcast may still write hdr (the job ends) */
  static int64_t hdr[2];
  static int differs;
  int64_t mine[2] = { t->dtype, ft_numel(t) };
  hdr[0] = mine[0];
  hdr[1] = mine[1];
  MPI_Request req;
  int rc = MPI_Ibcast(hdr, 2, MPI_INT64_T, root, comm, &req);
  if (rc != MPI_SUCCESS) return start_failed(fn, "broadcast header", rc);
  FT_TRY(wait_for(fn, OP_HEADER, "broadcast header", &req));
  differs = (hdr[0] != mine[0] || hdr[1] != mine[1]) ? my_rank : n_ranks;
  rc = MPI_Iallreduce(MPI_IN_PLACE, &differs, 1, MPI_INT, MPI_MIN, comm, &req);
  if (rc != MPI_SUCCESS) return start_failed(fn, "broadcast header check", rc);
  FT_TRY(wait_for(fn, OP_HEADER, "broadcast header check", &req));
  sequence++;
  if (differs == n_ranks) return FT_OK;
  if (differs == my_rank)
    return ft_fail("%s: rank %d has a %s tensor of %lld elements, root %d has %s of %lld", fn,
                   my_rank, ft_dtype_name(t->dtype), (long long)mine[1], root,
                   ft_dtype_name((int)hdr[0]), (long long)hdr[1]);
  return ft_fail("%s: rank %d's tensor differs from root %d's %s of %lld elements", fn, differs,
                 root, ft_dtype_name((int)hdr[0]), (long long)hdr[1]);
}

int ft_dist_broadcast(ft_tensor *t, int root) {
  const char *fn = "ft_dist_broadcast";
  FT_TRY(ft_check_tensor(fn, "t", t));
  FT_TRY(ft_check_contiguous(fn, "t", t));
  FT_TRY(need_init(fn));
  if (root < 0 || root >= n_ranks)
    return ft_fail("%s: root must be in 0..%d, got %d", fn, n_ranks - 1, root);
  MPI_Datatype type = mpi_type(t->dtype);
  if (type == MPI_DATATYPE_NULL) return ft_fail("%s: t has an unknown dtype %d", fn, t->dtype);
  if (t->device == FT_CUDA) {
#ifndef FT_WITH_NCCL
    return FT_NCCL_OR(FT_ERR, fn);
#else
    FT_TRY(agree_on_header(fn, t, root));
    return ft_nccl_broadcast(fn, t, root);
#endif
  }
  FT_TRY(agree_on_header(fn, t, root));
  int es = ft_dtype_size(t->dtype);
  char *c = ft_data(t);
  int64_t count = ft_numel(t);
  for (int64_t done = 0; done < count;) {
    int64_t k = count - done < max_count ? count - done : max_count;
    char what[96];
    snprintf(what, sizeof what, "broadcast of %lld %s from rank %d", (long long)k,
             ft_dtype_name(t->dtype), root);
    MPI_Request req;
    int rc = MPI_Ibcast(c + done * es, (int)k, type, root, comm, &req);
    if (rc != MPI_SUCCESS) return start_failed(fn, what, rc);
    FT_TRY(wait_for(fn, OP_BROADCAST, what, &req));
    sequence++;
    done += k;
  }
  return FT_OK;
}

#else
/* Without MPI this file is empty (ISO C wants at least one declaration). */
typedef int ft_dist_mpi_unused;
#endif
