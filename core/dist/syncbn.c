/* dist/syncbn.c -- the synchronised batch-norm switch (SYNCBN-SECTION of fathom.h) and the
 * one collective the BN kernels use (core/nn/batchnorm.c, core/nn/resblock.c).
 * The switch is process-wide: the kernels ask ft_bn_sync_active() at every training call,
 * so neither the modules nor the block carry a flag. Only the ft_dist_* API is used here,
 * so this file builds with and without MPI; without it enabling fails with the no-MPI
 * message of core/dist/stubs.c. */
#include "internal.h"
#include <stdio.h>

static int sync_on = 0;

int ft_batchnorm_set_sync(int enabled) {
  const char *fn = "ft_batchnorm_set_sync";
  if (!enabled) { sync_on = 0; return FT_OK; }
#ifndef FT_WITH_MPI
  return ft_dist_no_mpi(fn);
#else
  if (!ft_dist_is_initialized())
    return ft_fail("%s: distributed mode is not initialised (call ft_dist_init, or "
                   "fathom.distributed.init, first)", fn);
  sync_on = 1;
  return FT_OK;
#endif
}

int ft_batchnorm_get_sync(void) { return sync_on; }

int ft_bn_sync_active(void) {
  int size = 1;
  if (!sync_on || !ft_dist_is_initialized() || ft_dist_size(&size)) return 0;
  return size > 1;
}

int ft_bn_sync_allreduce(const char *fn, double *values, int64_t n) {
  if (ft_dist_allreduce_doubles(values, n) == FT_OK) return FT_OK;
  char msg[400];
  snprintf(msg, sizeof msg, "%s", ft_last_error());
  return ft_fail("%s: synchronised batch norm: %s", fn, msg);
}
