/* tensor/random.c -- seeded random numbers.
 * Philox4x32-10 (Salmon et al., SC'11): value i of a stream is word i%4 of the block
 * philox(key = seed, counter = i/4). The state is just (seed, counter), so it saves and
 * restores exactly, fills can run in parallel, and split streams are independent.
 * Also Torch7's MT19937 (THRandom.c) and torch.randperm, for the authors' data split. */
#include "internal.h"
#include <math.h>

static ft_generator default_gen = {0x5eedULL, 0};
ft_generator *ft_default_generator(void) { return &default_gen; }

/* The void functions below ignore a NULL generator (they have no status to report). */
void ft_generator_seed(ft_generator *g, uint64_t seed) {
  if (g) { g->seed = seed; g->counter = 0; }
}

static uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void ft_generator_split(const ft_generator *g, uint64_t stream, ft_generator *child) {
  if (!g || !child) return;
  child->seed = splitmix64(g->seed ^ splitmix64(stream + 0x632be59bd9b4e019ULL));
  child->counter = 0;
}

static void philox(uint64_t seed, uint64_t ctr, uint32_t out[4]) {
  uint32_t c0 = (uint32_t)ctr, c1 = (uint32_t)(ctr >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = (uint32_t)seed, k1 = (uint32_t)(seed >> 32);
  for (int r = 0; r < 10; r++) {
    uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1; c3 = (uint32_t)p0; c0 = n0; c2 = n2;
    /* the round above maps (c0,c1,c2,c3) -> (hi1^c1^k0, lo1, hi0^c3^k1, lo0) */
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

static inline uint32_t stream_u32(uint64_t seed, uint64_t i) {
  uint32_t b[4];
  philox(seed, i >> 2, b);
  return b[i & 3];
}

uint32_t ft_generator_next_u32(ft_generator *g) {
  return g ? stream_u32(g->seed, g->counter++) : 0;
}

static inline double u53(uint32_t a, uint32_t b) {
  return (double)(((uint64_t)a << 21) ^ (b >> 11)) * (1.0 / 9007199254740992.0);
}

double ft_generator_uniform(ft_generator *g) {
  if (!g) return 0;
  uint32_t a = ft_generator_next_u32(g), b = ft_generator_next_u32(g);
  return u53(a, b);
}

/* Element k of a fill uses stream values base+2k, base+2k+1 (normal: base+4j..+3 per pair),
 * so the result does not depend on the number of threads. */
static int fill_check(const char *fn, ft_generator *g, ft_tensor *t) {
  if (!g) return ft_fail("%s: generator is NULL", fn);
  FT_TRY(ft_check_cpu(fn, "tensor", t));
  return FT_OK;
}

static inline void put(ft_tensor *t, void *p, int64_t off, double v) {
  switch (t->dtype) {
  case FT_FLOAT32: ((float *)p)[off] = (float)v; break;
  case FT_FLOAT64: ((double *)p)[off] = v; break;
  case FT_INT64: ((int64_t *)p)[off] = (int64_t)v; break;
  default: ((uint8_t *)p)[off] = (uint8_t)v; break;
  }
}

typedef enum { DIST_UNIFORM, DIST_NORMAL, DIST_BERNOULLI } dist_t;

/* Stream values j..j+3 into v: one Philox block when j is a multiple of 4, else the two
 * blocks the span touches (calling stream_u32 four times would compute four). */
static inline void stream_u32x4(uint64_t seed, uint64_t j, uint32_t v[4]) {
  uint32_t blk[8];
  unsigned o = (unsigned)(j & 3);
  philox(seed, j >> 2, blk);
  if (o) philox(seed, (j >> 2) + 1, blk + 4);
  for (int i = 0; i < 4; i++) v[i] = blk[o + i];
}

/* Elements 2q and 2q+1 of a fill, from stream values j = base+4q .. j+3. Normal:
 * Box-Muller, one pair of uniforms gives both (cos, sin). Uniform/Bernoulli: element k
 * uses values base+2k, base+2k+1, so a pair of elements again reads j..j+3. */
static inline void draw_pair(uint64_t seed, uint64_t j, dist_t dist, double a, double b,
                             double z[2]) {
  uint32_t v[4];
  stream_u32x4(seed, j, v);
  double u1 = u53(v[0], v[1]), u2 = u53(v[2], v[3]);
  if (dist == DIST_NORMAL) {
    double r = sqrt(-2.0 * log(1.0 - u1));
    z[0] = a + b * r * cos(2 * M_PI * u2);
    z[1] = a + b * r * sin(2 * M_PI * u2);
  } else if (dist == DIST_UNIFORM) {
    z[0] = a + (b - a) * u1;
    z[1] = a + (b - a) * u2;
  } else {
    z[0] = u1 < a ? 1.0 : 0.0;
    z[1] = u2 < a ? 1.0 : 0.0;
  }
}

static int fill(const char *fn, ft_generator *g, ft_tensor *t, dist_t dist, double a, double b) {
  FT_TRY(fill_check(fn, g, t));
  int64_t n = ft_numel(t);
  uint64_t base = g->counter, seed = g->seed;
  g->counter += dist == DIST_NORMAL ? 4 * (uint64_t)((n + 1) / 2) : 2 * (uint64_t)n;
  void *p = ft_data(t);
  double z[2];
  if (ft_is_contiguous(t)) {
    const int64_t pairs = (n + 1) / 2;
#pragma omp parallel for if (n > 16384) schedule(static) private(z)
    for (int64_t q = 0; q < pairs; q++) {
      draw_pair(seed, base + 4 * (uint64_t)q, dist, a, b, z);
      put(t, p, 2 * q, z[0]);
      if (2 * q + 1 < n) put(t, p, 2 * q + 1, z[1]);
    }
    return FT_OK;
  }
  ft_iter it;
  ft_iter_init(&it, t);
  for (int64_t k = 0; k < n; k++, ft_iter_next(&it)) {
    if (!(k & 1)) draw_pair(seed, base + 2 * (uint64_t)k, dist, a, b, z);
    put(t, p, it.offset, z[k & 1]);
  }
  return FT_OK;
}

int ft_rand_uniform(ft_generator *g, ft_tensor *t, double lo, double hi) {
  if (!(lo <= hi)) return ft_fail("ft_rand_uniform: need lo <= hi, got %g and %g", lo, hi);
  return fill("ft_rand_uniform", g, t, DIST_UNIFORM, lo, hi);
}

int ft_rand_normal(ft_generator *g, ft_tensor *t, double mean, double std) {
  if (!(std >= 0)) return ft_fail("ft_rand_normal: std must be >= 0, got %g", std);
  return fill("ft_rand_normal", g, t, DIST_NORMAL, mean, std);
}

int ft_rand_bernoulli(ft_generator *g, ft_tensor *t, double p) {
  if (!(p >= 0 && p <= 1)) return ft_fail("ft_rand_bernoulli: p must be in [0, 1], got %g", p);
  return fill("ft_rand_bernoulli", g, t, DIST_BERNOULLI, p, 0);
}

static int check_perm(const char *fn, ft_tensor *t) {
  FT_TRY(ft_check_cpu(fn, "tensor", t));
  FT_TRY(ft_check_dtype(fn, "tensor", t, FT_INT64));
  FT_TRY(ft_check_ndim(fn, "tensor", t, 1));
  return FT_OK;
}

int ft_randperm(ft_generator *g, ft_tensor *t) {
  const char *fn = "ft_randperm";
  if (!g) return ft_fail("%s: generator is NULL", fn);
  FT_TRY(check_perm(fn, t));
  int64_t n = t->size[0], s = t->stride[0], *p = ft_data(t);
  for (int64_t i = 0; i < n; i++) p[i * s] = i;
  for (int64_t i = n - 1; i > 0; i--) {
    uint64_t r = ((uint64_t)ft_generator_next_u32(g) << 32) | ft_generator_next_u32(g);
    int64_t j = (int64_t)(r % (uint64_t)(i + 1)), tmp = p[i * s];
    p[i * s] = p[j * s];
    p[j * s] = tmp;
  }
  return FT_OK;
}

/* ---- Torch7's MT19937, transcribed from THRandom.c ---- */
#define MT_N 624
#define MT_M 397
#define MIXBITS(u, v) (((u)&0x80000000u) | ((v)&0x7fffffffu))
#define TWIST(u, v) ((MIXBITS(u, v) >> 1) ^ (((v)&1u) ? 0x9908b0dfu : 0u))

void ft_mt_seed(ft_mt19937 *m, uint64_t seed) {
  if (!m) return;
  m->seed = seed;
  m->state[0] = (uint32_t)(seed & 0xffffffffu);
  for (int j = 1; j < MT_N; j++)
    m->state[j] = 1812433253u * (m->state[j - 1] ^ (m->state[j - 1] >> 30)) + (uint32_t)j;
  m->left = 1;
  m->next = 0;
}

static void mt_next_state(ft_mt19937 *m) {
  uint32_t *p = m->state;
  int j;
  m->left = MT_N;
  m->next = 0;
  for (j = MT_N - MT_M + 1; --j; p++) *p = p[MT_M] ^ TWIST(p[0], p[1]);
  for (j = MT_M; --j; p++) *p = p[MT_M - MT_N] ^ TWIST(p[0], p[1]);
  *p = p[MT_M - MT_N] ^ TWIST(p[0], m->state[0]);
}

uint32_t ft_mt_random(ft_mt19937 *m) {
  if (!m) return 0;
  /* `next >= MT_N` only guards a state that was never seeded (all zeros) */
  if (--m->left <= 0 || m->next >= MT_N) mt_next_state(m);
  uint32_t y = m->state[m->next++];
  y ^= (y >> 11);
  y ^= (y << 7) & 0x9d2c5680u;
  y ^= (y << 15) & 0xefc60000u;
  y ^= (y >> 18);
  return y;
}

int ft_mt_randperm(ft_mt19937 *m, ft_tensor *t) {
  const char *fn = "ft_mt_randperm";
  if (!m) return ft_fail("%s: generator is NULL", fn);
  FT_TRY(check_perm(fn, t));
  int64_t n = t->size[0], s = t->stride[0], *p = ft_data(t);
  for (int64_t i = 0; i < n; i++) p[i * s] = i;
  for (int64_t i = 0; i < n - 1; i++) { /* THTensor_(randperm) */
    int64_t z = (int64_t)(ft_mt_random(m) % (uint32_t)(n - i)), tmp = p[i * s];
    p[i * s] = p[(z + i) * s];
    p[(z + i) * s] = tmp;
  }
  return FT_OK;
}
