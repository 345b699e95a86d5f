/* gemm_openblas.c -- the ceiling for Fathom's matrix multiply: OpenBLAS's SGEMM called
 * directly on n x n float32 row-major matrices (C = A B), timed run by run.
 *   make bench BUILD=build && build/gemm_openblas [n=1024] [runs=30] [threads=2]
 * Prints the median time and GFLOP/s (2 n^3 flops per multiply) after one warm-up run. */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void openblas_set_num_threads(int n);

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1024;
  int runs = argc > 2 ? atoi(argv[2]) : 30;
  int threads = argc > 3 ? atoi(argv[3]) : 2;
  if (n < 1 || runs < 1 || threads < 1) {
    fprintf(stderr, "usage: gemm_openblas [n] [runs] [threads]\n");
    return 1;
  }
  openblas_set_num_threads(threads);
  float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
        *c = malloc(sizeof(float) * n * n);
  double *t = malloc(sizeof(double) * runs);
  if (!a || !b || !c || !t) { fprintf(stderr, "out of memory\n"); return 1; }
  srand(1);
  for (long i = 0; i < (long)n * n; i++) {
    a[i] = rand() / (float)RAND_MAX - 0.5f;
    b[i] = rand() / (float)RAND_MAX - 0.5f;
    c[i] = 0;
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
  for (int r = 0; r < runs; r++) {
    double t0 = now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1, a, n, b, n, 0, c, n);
    t[r] = now() - t0;
  }
  qsort(t, runs, sizeof(double), cmp);
  double med = t[runs / 2], flops = 2.0 * n * n * n;
  printf("openblas sgemm n=%d threads=%d runs=%d: median %.3f ms, %.1f GFLOP/s (c[0]=%g)\n", n,
         threads, runs, 1e3 * med, flops / med * 1e-9, c[0]);
  free(a); free(b); free(c); free(t);
  return 0;
}
