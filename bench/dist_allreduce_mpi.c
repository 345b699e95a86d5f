/* bench/dist_allreduce_mpi.c -- plain MPI reference for bench/dist_allreduce.lua: the
 * blocking MPI_Allreduce (float32 sum, in place) against size, interleaved with
 * MPI_Iallreduce + an MPI_Test loop (what core/dist/mpi.c does, without its clock), so the
 * cost of polling shows on the same machine at the same moment. Median and best of reps calls.
 *   mpicc -O2 bench/dist_allreduce_mpi.c -o build/dist_allreduce_mpi
 *   mpirun --oversubscribe --allow-run-as-root --bind-to none -np 2 build/dist_allreduce_mpi [reps] */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, K, reps = argc > 1 ? atoi(argv[1]) : 30;
  if (reps < 1) reps = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &K);
  const long sizes[] = { 1, 256, 4096, 65536, 262144, 1048576, 1727962, 4194304, 16777216 };
  double *tb = malloc(sizeof(double) * reps), *tn = malloc(sizeof(double) * reps);
  if (rank == 0) printf("float32 sum, %d ranks, median of %d: blocking MPI_Allreduce | MPI_Iallreduce + MPI_Test loop\n", K, reps);
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    long n = sizes[s];
    float *buf = malloc(sizeof(float) * n);
    for (long i = 0; i < n; i++) buf[i] = 1;
    for (int r = -3; r < reps; r++) {
      MPI_Barrier(MPI_COMM_WORLD);
      double t0 = MPI_Wtime();
      MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      double t1 = MPI_Wtime();
      MPI_Barrier(MPI_COMM_WORLD);
      double t2 = MPI_Wtime();
      MPI_Request req;
      int done = 0;
      MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req);
      while (!done) MPI_Test(&req, &done, MPI_STATUS_IGNORE);
      double t3 = MPI_Wtime();
      if (r >= 0) { tb[r] = t1 - t0; tn[r] = t3 - t2; }
    }
    qsort(tb, reps, sizeof *tb, cmp);
    qsort(tn, reps, sizeof *tn, cmp);
    double mb[4] = { tb[reps / 2], tn[reps / 2], tb[0], tn[0] };
    MPI_Allreduce(MPI_IN_PLACE, mb, 4, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0)
      printf("%11ld B  median: blocking %9.1f us, polled %9.1f us | best: blocking %9.1f us (%6.3f GB/s), polled %9.1f us (%6.3f GB/s)\n",
             4 * n, mb[0] * 1e6, mb[1] * 1e6, mb[2] * 1e6, 4.0 * n / mb[2] / 1e9, mb[3] * 1e6, 4.0 * n / mb[3] / 1e9);
    free(buf);
  }
  free(tb); free(tn);
  MPI_Finalize();
  return 0;
}
