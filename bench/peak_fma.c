/* bench/peak_fma.c -- the machine's measured float32 FMA peak: what "fraction of the
 * peak" in BENCHMARKS.md divides by.
 *
 * Each thread runs independent chains of vfmadd on registers only (no memory traffic),
 * enough chains to cover the FMA latency on every x86 core we know (4-5 cycles, up to 2
 * pipes: 10 in flight; 16 used). 512-bit (AVX-512) and 256-bit (AVX2) vectors are timed
 * separately: on Zen 4 a 512-bit FMA takes both 256-bit pipes, so the two peaks match;
 * on Zen 5 and Intel server cores with two 512-bit units the AVX-512 peak is double.
 * Reported: median over `runs` of GFLOP/s (2 FLOPs per lane per FMA) summed over the
 * threads, which all start together inside one OpenMP region; once by wall time, and
 * once by each thread's own CPU time (what a core does while it runs: the figure that
 * holds on a machine shared with other jobs, where wall time counts lost slices).
 *   build/peak_fma [threads=1,2] [runs=15]     (built by `make bench`)
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CHAINS = 16 };
static const long ITERS = 20 * 1000 * 1000; /* per thread per run: ~0.1-0.3 s */

static double clock_s(clockid_t c) {
  struct timespec ts;
  clock_gettime(c, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Returns a value that depends on every chain, so the compiler keeps them all. */
#ifdef __AVX512F__
__attribute__((noinline)) static float chains512(long iters, float seed) {
  __m512 acc[CHAINS];
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_set1_ps(seed + c);
  for (long i = 0; i < iters; i++)
#pragma GCC unroll 16
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], a, b);
  __m512 s = acc[0];
  for (int c = 1; c < CHAINS; c++) s = _mm512_add_ps(s, acc[c]);
  return _mm512_reduce_add_ps(s);
}
#endif

__attribute__((noinline)) static float chains256(long iters, float seed) {
  __m256 acc[CHAINS];
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_set1_ps(seed + c);
  for (long i = 0; i < iters; i++)
#pragma GCC unroll 16
    for (int c = 0; c < CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], a, b);
  __m256 s = acc[0];
  for (int c = 1; c < CHAINS; c++) s = _mm256_add_ps(s, acc[c]);
  float v[8];
  _mm256_storeu_ps(v, s);
  return v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
}

/* Median GFLOP/s of `runs` runs of `threads` threads, vector width `lanes` floats, by
 * wall time (returned) and by the threads' CPU time (*cpu). */
static double measure(int threads, int runs, int lanes, float *sink, double *cpu) {
  double *g = malloc(sizeof(double) * runs), *gc = malloc(sizeof(double) * runs);
  for (int r = -1; r < runs; r++) { /* r = -1: warm-up (clocks up, threads created) */
    double t0 = 0, t1 = 0, rate = 0;
#pragma omp parallel num_threads(threads)
    {
      double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
#pragma omp barrier
#pragma omp master
      t0 = now();
      float v = 0;
#ifdef __AVX512F__
      if (lanes == 16) v = chains512(ITERS, (float)omp_get_thread_num());
#endif
      if (lanes == 8) v = chains256(ITERS, (float)omp_get_thread_num());
      double c1 = clock_s(CLOCK_THREAD_CPUTIME_ID);
#pragma omp atomic
      *sink += v;
#pragma omp atomic
      rate += 2.0 * lanes * CHAINS * (double)ITERS / (c1 - c0) / 1e9;
#pragma omp barrier
#pragma omp master
      t1 = now();
    }
    if (r >= 0) { g[r] = 2.0 * lanes * CHAINS * (double)ITERS * threads / (t1 - t0) / 1e9; gc[r] = rate; }
  }
  qsort(g, runs, sizeof(double), cmp);
  qsort(gc, runs, sizeof(double), cmp);
  double m = g[runs / 2];
  *cpu = gc[runs / 2];
  free(g); free(gc);
  return m;
}

int main(int argc, char **argv) {
  int runs = argc > 2 ? atoi(argv[2]) : 15;
  int tlist[2] = { 1, 2 }, nt = 2;
  if (argc > 1 && strcmp(argv[1], "1,2") != 0) { tlist[0] = atoi(argv[1]); nt = 1; }
  if (runs < 1 || tlist[0] < 1) { fprintf(stderr, "usage: peak_fma [threads|1,2] [runs]\n"); return 2; }
  float sink = 0;
  printf("# float32 FMA peak, %d register chains per thread, median of %d runs\n", CHAINS, runs);
  for (int i = 0; i < nt; i++) {
    int t = tlist[i];
    double w, c;
#ifdef __AVX512F__
    w = measure(t, runs, 16, &sink, &c);
    printf("AVX-512 (16 lanes)  %d thread%s  %7.1f GFLOP/s wall  %7.1f GFLOP/s per CPU time\n", t,
           t > 1 ? "s" : " ", w, c);
#else
    printf("AVX-512: not compiled in (build with -march supporting it)\n");
#endif
    w = measure(t, runs, 8, &sink, &c);
    printf("AVX2    ( 8 lanes)  %d thread%s  %7.1f GFLOP/s wall  %7.1f GFLOP/s per CPU time\n", t,
           t > 1 ? "s" : " ", w, c);
  }
  if (sink == 12345.0f) printf("(sink)\n"); /* keeps the results live */
  return 0;
}
