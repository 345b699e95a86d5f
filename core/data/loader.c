/* data/loader.c -- batch assembly and the threaded, prefetching, resumable loader.
 *
 * A batch is a pure function of (seed, epoch, batch index): the epoch's order comes from
 * ft_randperm on split(seed, 2*epoch), and sample k's augmentation from its own stream
 * split(split(seed, 2*epoch+1), k). So any number of worker threads gives the same
 * batches, and resuming only needs (seed, epoch, next batch).
 *
 * Threads: workers take batch indices in order and fill slot (batch % nslots) once the
 * consumer has released it; the consumer waits for its batch in that slot and holds it
 * until its next call. No Lua runs in the workers; they only see C data owned by the
 * loader (tensor references taken at creation). */
#include "internal.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_THREADS = 64 };
enum { SLOT_FREE = 0, SLOT_BUSY, SLOT_READY };

/* ---- one sample from memory -------------------------------------------------------- */

/* out [C,H,W] = normalised src shifted by (dy, dx) with zero fill, then mirrored. */
static void sample_mem(const uint8_t *src, const float *mean, const float *std, int64_t C,
                       int64_t H, int64_t W, int64_t dy, int64_t dx, int flip, float *out) {
  for (int64_t c = 0; c < C; c++)
    for (int64_t y = 0; y < H; y++) {
      float *o = out + (c * H + y) * W;
      int64_t sy = y + dy;
      if (sy < 0 || sy >= H) { memset(o, 0, (size_t)W * sizeof(float)); continue; }
      int64_t base = (c * H + sy) * W;
      for (int64_t x = 0; x < W; x++) {
        int64_t sx = (flip ? W - 1 - x : x) + dx;
        o[x] = (sx < 0 || sx >= W) ? 0.0f
                                   : ((float)src[base + sx] - mean[base + sx]) / std[base + sx];
      }
    }
}

static int check_source(const char *fn, const ft_tensor *images, const ft_tensor *labels,
                        const ft_tensor *mean, const ft_tensor *std) {
  char b1[64], b2[64];
  FT_TRY(ft_check_tensor(fn, "images", images));
  FT_TRY(ft_check_cpu(fn, "images", images));
  FT_TRY(ft_check_dtype(fn, "images", images, FT_UINT8));
  FT_TRY(ft_check_ndim(fn, "images", images, 4));
  FT_TRY(ft_check_contiguous(fn, "images", images));
  FT_TRY(ft_check_tensor(fn, "labels", labels));
  FT_TRY(ft_check_cpu(fn, "labels", labels));
  FT_TRY(ft_check_dtype(fn, "labels", labels, FT_INT64));
  FT_TRY(ft_check_contiguous(fn, "labels", labels));
  if (labels->ndim != 1 || labels->size[0] != images->size[0])
    return ft_fail("%s: labels must be 1-D with %lld entries like images (got %s)", fn,
                   (long long)images->size[0], ft_shape_str(labels, b1, sizeof b1));
  const char *names[2] = {"mean", "std"};
  const ft_tensor *ts[2] = {mean, std};
  for (int k = 0; k < 2; k++) {
    FT_TRY(ft_check_tensor(fn, names[k], ts[k]));
    FT_TRY(ft_check_cpu(fn, names[k], ts[k]));
    FT_TRY(ft_check_dtype(fn, names[k], ts[k], FT_FLOAT32));
    FT_TRY(ft_check_contiguous(fn, names[k], ts[k]));
    if (ts[k]->ndim != 3 || ts[k]->size[0] != images->size[1] ||
        ts[k]->size[1] != images->size[2] || ts[k]->size[2] != images->size[3])
      return ft_fail("%s: %s must have the shape of one image (images %s, %s %s)", fn, names[k],
                     ft_shape_str(images, b1, sizeof b1), names[k], ft_shape_str(ts[k], b2, sizeof b2));
  }
  const float *s = ft_data(std);
  for (int64_t i = 0; i < ft_numel(std); i++)
    if (!(s[i] > 0)) return ft_fail("%s: std[%lld] = %g; it must be > 0", fn, (long long)i, s[i]);
  return FT_OK;
}

static int check_rows(const char *fn, const char *name, const ft_tensor *rows, int64_t M) {
  FT_TRY(ft_check_tensor(fn, name, rows));
  FT_TRY(ft_check_cpu(fn, name, rows));
  FT_TRY(ft_check_dtype(fn, name, rows, FT_INT64));
  FT_TRY(ft_check_ndim(fn, name, rows, 1));
  FT_TRY(ft_check_contiguous(fn, name, rows));
  const int64_t *r = ft_data(rows);
  for (int64_t i = 0; i < rows->size[0]; i++)
    if (r[i] < 0 || r[i] >= M)
      return ft_fail("%s: %s[%lld] = %lld is outside 0..%lld", fn, name, (long long)i,
                     (long long)r[i], (long long)M - 1);
  return FT_OK;
}

int ft_data_gather(const ft_tensor *images, const ft_tensor *labels, const ft_tensor *rows,
                   const ft_tensor *params, const ft_tensor *mean, const ft_tensor *std,
                   ft_tensor *out, ft_tensor *targets) {
  const char *fn = "ft_data_gather";
  char b1[64], b2[64];
  FT_TRY(check_source(fn, images, labels, mean, std));
  FT_TRY(check_rows(fn, "rows", rows, images->size[0]));
  int64_t B = rows->size[0], C = images->size[1], H = images->size[2], W = images->size[3];
  FT_TRY(ft_check_tensor(fn, "out", out));
  FT_TRY(ft_check_cpu(fn, "out", out));
  FT_TRY(ft_check_dtype(fn, "out", out, FT_FLOAT32));
  FT_TRY(ft_check_contiguous(fn, "out", out));
  if (out->ndim != 4 || out->size[0] != B || out->size[1] != C || out->size[2] != H || out->size[3] != W)
    return ft_fail("%s: out must be %lldx%lldx%lldx%lld (got %s)", fn, (long long)B, (long long)C,
                   (long long)H, (long long)W, ft_shape_str(out, b1, sizeof b1));
  const int64_t *pr = NULL;
  if (params) {
    FT_TRY(ft_check_tensor(fn, "params", params));
    FT_TRY(ft_check_cpu(fn, "params", params));
    FT_TRY(ft_check_dtype(fn, "params", params, FT_INT64));
    FT_TRY(ft_check_contiguous(fn, "params", params));
    if (params->ndim != 2 || params->size[0] != B || params->size[1] != 3)
      return ft_fail("%s: params must be %lldx3 (got %s)", fn, (long long)B,
                     ft_shape_str(params, b2, sizeof b2));
    pr = ft_data(params);
    for (int64_t b = 0; b < B; b++) {
      if (pr[3 * b + 2] != 0 && pr[3 * b + 2] != 1)
        return ft_fail("%s: params[%lld] flip must be 0 or 1, got %lld", fn, (long long)b,
                       (long long)pr[3 * b + 2]);
      /* a shift past the image only blanks it; bounding it keeps y + dy from overflowing */
      if (pr[3 * b] < -H || pr[3 * b] > H || pr[3 * b + 1] < -W || pr[3 * b + 1] > W)
        return ft_fail("%s: params[%lld] shift (%lld, %lld) must be within the image (|dy| <= %lld, "
                       "|dx| <= %lld)", fn, (long long)b, (long long)pr[3 * b],
                       (long long)pr[3 * b + 1], (long long)H, (long long)W);
    }
  }
  int64_t *tg = NULL;
  if (targets) {
    FT_TRY(ft_check_tensor(fn, "targets", targets));
    FT_TRY(ft_check_cpu(fn, "targets", targets));
    FT_TRY(ft_check_dtype(fn, "targets", targets, FT_INT64));
    FT_TRY(ft_check_contiguous(fn, "targets", targets));
    if (targets->ndim != 1 || targets->size[0] != B)
      return ft_fail("%s: targets must be 1-D with %lld entries (got %s)", fn, (long long)B,
                     ft_shape_str(targets, b2, sizeof b2));
    tg = ft_data(targets);
  }
  const uint8_t *img = ft_data(images);
  const int64_t *r = ft_data(rows), *lab = ft_data(labels);
  const float *mu = ft_data(mean), *sd = ft_data(std);
  float *o = ft_data(out);
  int64_t P = C * H * W;
#pragma omp parallel for if (B * P > 65536) schedule(static)
  for (int64_t b = 0; b < B; b++)
    sample_mem(img + r[b] * P, mu, sd, C, H, W, pr ? pr[3 * b] : 0, pr ? pr[3 * b + 1] : 0,
               pr ? (int)pr[3 * b + 2] : 0, o + b * P);
  if (tg) for (int64_t b = 0; b < B; b++) tg[b] = lab[r[b]] + 1;
  return FT_OK;
}

/* ---- the loader ----------------------------------------------------------------------- */

typedef struct {
  int state;
  int64_t batch, count;
  ft_tensor *inputs, *targets;     /* [B,C,H,W] float32, [B] int64 */
} slot_t;

struct ft_loader {
  ft_tensor *images, *labels, *index, *mean, *std;   /* our own references */
  char *paths;                     /* files: a copy of the path blob */
  int64_t *path_at;                /* byte offset of each path        */
  ft_image_transform tf;
  int files;
  int64_t M, N, B, C, H, W, nbatches;
  int shuffle, augment, pad, drop_last, nthreads, nslots;
  int rank, ranks;                 /* shard of every batch (ranks 1: the whole batch) */

  pthread_mutex_t mu;
  pthread_cond_t work_cv, ready_cv;
  pthread_t threads[MAX_THREADS];
  int nstarted, stop;

  int active;
  uint64_t seed;
  int64_t epoch, next_assign, next_deliver;
  int held;                        /* slot the consumer holds, or -1 */
  ft_tensor *perm;                 /* int64 [N], this epoch's order */
  slot_t *slots;

  int64_t failures;
  char failmsg[512];
};

static void epoch_streams(uint64_t seed, int64_t epoch, ft_generator *order, ft_generator *aug) {
  ft_generator base = {seed, 0};
  ft_generator_split(&base, 2 * (uint64_t)epoch, order);
  ft_generator_split(&base, 2 * (uint64_t)epoch + 1, aug);
}

static int make_perm(ft_loader *l, uint64_t seed, int64_t epoch, ft_tensor *perm) {
  int64_t *p = ft_data(perm);
  if (!l->shuffle) { for (int64_t i = 0; i < l->N; i++) p[i] = i; return FT_OK; }
  ft_generator order, aug;
  epoch_streams(seed, epoch, &order, &aug);
  return ft_randperm(&order, perm);
}

/* dy, dx in [-pad, pad] and a fair flip, from the sample's own stream */
static void draw_shift(const ft_loader *l, ft_generator *g, int64_t *dy, int64_t *dx, int *flip) {
  uint32_t span = 2 * (uint32_t)l->pad + 1;
  *dy = (int64_t)(ft_generator_next_u32(g) % span) - l->pad;
  *dx = (int64_t)(ft_generator_next_u32(g) % span) - l->pad;
  *flip = ft_generator_next_u32(g) >> 31;
}

/* Batch `batch`'s global size n and this rank's rows offset .. offset+count-1 of it. */
static void shard_of(const ft_loader *l, int64_t batch, int64_t *n, int64_t *offset, int64_t *count) {
  int64_t first = batch * l->B, K = l->ranks, k = l->rank;
  *n = l->N - first < l->B ? l->N - first : l->B;
  int64_t q = *n / K, r = *n % K;
  *count = q + (k < r);
  *offset = k * q + (k < r ? k : r);
}

static void build(ft_loader *l, uint64_t seed, int64_t epoch, int64_t batch, slot_t *s) {
  ft_generator order, aug;
  epoch_streams(seed, epoch, &order, &aug);
  const int64_t *perm = ft_data(l->perm), *index = ft_data(l->index), *lab = ft_data(l->labels);
  int64_t P = l->C * l->H * l->W, n, offset;
  shard_of(l, batch, &n, &offset, &s->count);
  int64_t first = batch * l->B + offset; /* this rank's first global position */
  float *out = ft_data(s->inputs);
  int64_t *tg = ft_data(s->targets);
  for (int64_t j = 0; j < s->count; j++) {
    int64_t pos = first + j, row = index[perm[pos]];
    ft_generator g;
    ft_generator_split(&aug, (uint64_t)pos, &g);
    tg[j] = lab[row] + 1;
    if (!l->files) {
      int64_t dy = 0, dx = 0;
      int flip = 0;
      if (l->augment) draw_shift(l, &g, &dy, &dx, &flip);
      sample_mem((const uint8_t *)ft_data(l->images) + row * P, ft_data(l->mean), ft_data(l->std),
                 l->C, l->H, l->W, dy, dx, flip, out + j * P);
      continue;
    }
    ft_tensor *view = NULL;
    int rc = ft_tensor_select(&view, s->inputs, 0, j);
    if (rc == FT_OK) rc = ft_data_image_sample(l->paths + l->path_at[row], &l->tf, l->augment, &g, view);
    ft_tensor_free(view);
    if (rc) { /* a bad file: zeros, counted and reported by the Lua side */
      memset(out + j * P, 0, (size_t)P * sizeof(float));
      pthread_mutex_lock(&l->mu);
      l->failures++;
      snprintf(l->failmsg, sizeof l->failmsg, "%s", ft_last_error());
      pthread_mutex_unlock(&l->mu);
    }
  }
}

static void *worker(void *arg) {
  ft_loader *l = arg;
  pthread_mutex_lock(&l->mu);
  for (;;) {
    while (!l->stop && !(l->active && l->next_assign < l->nbatches &&
                         l->slots[l->next_assign % l->nslots].state == SLOT_FREE))
      pthread_cond_wait(&l->work_cv, &l->mu);
    if (l->stop) break;
    int64_t b = l->next_assign++;
    slot_t *s = &l->slots[b % l->nslots];
    s->state = SLOT_BUSY;
    s->batch = b;
    uint64_t seed = l->seed;
    int64_t epoch = l->epoch;
    pthread_mutex_unlock(&l->mu);
    build(l, seed, epoch, b, s);
    pthread_mutex_lock(&l->mu);
    s->state = SLOT_READY;
    pthread_cond_broadcast(&l->ready_cv);
  }
  pthread_mutex_unlock(&l->mu);
  return NULL;
}

void ft_loader_free(ft_loader *l) {
  if (!l) return;
  pthread_mutex_lock(&l->mu);
  l->stop = 1;
  pthread_cond_broadcast(&l->work_cv);
  pthread_mutex_unlock(&l->mu);
  for (int i = 0; i < l->nstarted; i++) pthread_join(l->threads[i], NULL);
  pthread_mutex_destroy(&l->mu);
  pthread_cond_destroy(&l->work_cv);
  pthread_cond_destroy(&l->ready_cv);
  if (l->slots)
    for (int k = 0; k < l->nslots; k++) { ft_tensor_free(l->slots[k].inputs); ft_tensor_free(l->slots[k].targets); }
  free(l->slots);
  ft_tensor_free(l->images);
  ft_tensor_free(l->labels);
  ft_tensor_free(l->index);
  ft_tensor_free(l->mean);
  ft_tensor_free(l->std);
  ft_tensor_free(l->perm);
  free(l->paths);
  free(l->path_at);
  free(l);
}

static int check_config(const char *fn, const ft_loader_config *cfg) {
  if (!cfg) return ft_fail("%s: config is NULL", fn);
  if (cfg->batch_size < 1 || cfg->batch_size > ((int64_t)1 << 40))
    return ft_fail("%s: batch_size must be 1..2^40, got %lld", fn, (long long)cfg->batch_size);
  if (cfg->nthreads < 0 || cfg->nthreads > MAX_THREADS)
    return ft_fail("%s: nthreads must be 0..%d, got %d", fn, MAX_THREADS, cfg->nthreads);
  if (cfg->prefetch < 1 || cfg->prefetch > 256) return ft_fail("%s: prefetch must be 1..256, got %d", fn, cfg->prefetch);
  if (cfg->pad < 0 || cfg->pad > 1024) return ft_fail("%s: pad must be 0..1024, got %d", fn, cfg->pad);
  if (cfg->shard_size < 0 || cfg->shard_size > 65536)
    return ft_fail("%s: shard_size must be 0..65536, got %d", fn, cfg->shard_size);
  int ranks = cfg->shard_size > 1 ? cfg->shard_size : 1;
  if (cfg->shard_rank < 0 || cfg->shard_rank >= ranks)
    return ft_fail("%s: shard_rank %d outside 0..%d", fn, cfg->shard_rank, ranks - 1);
  FT_TRY(ft_check_tensor(fn, "labels", cfg->labels));
  FT_TRY(ft_check_dtype(fn, "labels", cfg->labels, FT_INT64));
  FT_TRY(ft_check_ndim(fn, "labels", cfg->labels, 1));
  FT_TRY(ft_check_contiguous(fn, "labels", cfg->labels));
  if (cfg->images) FT_TRY(check_source(fn, cfg->images, cfg->labels, cfg->mean, cfg->std));
  else {
    if (!cfg->paths || cfg->paths_bytes < 1) return ft_fail("%s: neither images nor paths given", fn);
    if (cfg->paths[cfg->paths_bytes - 1] != 0) return ft_fail("%s: paths must end with a NUL byte", fn);
    int64_t n = 0;
    for (int64_t i = 0; i < cfg->paths_bytes; i++) n += cfg->paths[i] == 0;
    if (n != cfg->labels->size[0])
      return ft_fail("%s: %lld paths for %lld labels", fn, (long long)n, (long long)cfg->labels->size[0]);
    if (!cfg->transform) return ft_fail("%s: files need a transform", fn);
    const ft_image_transform *t = cfg->transform;
    if (t->size < 1 || t->scale < t->size || !(t->min_area > 0 && t->min_area <= 1))
      return ft_fail("%s: bad transform (size %d, scale %d, min_area %g)", fn, t->size, t->scale, t->min_area);
    for (int c = 0; c < 3; c++)
      if (!(t->std[c] > 0)) return ft_fail("%s: transform std[%d] must be > 0", fn, c);
  }
  FT_TRY(check_rows(fn, "index", cfg->index, cfg->labels->size[0]));
  int64_t N = cfg->index->size[0];
  if (N < 1) return ft_fail("%s: the dataset is empty", fn);
  if (ranks > 1) { /* every rank gets at least one row of every batch */
    int64_t B = cfg->batch_size, smallest = N < B ? N : B;
    if (!cfg->drop_last && N % B > 0 && N % B < smallest) smallest = N % B;
    if (smallest < ranks)
      return ft_fail("%s: a batch of %lld samples cannot be split over %d ranks (batch size %lld, "
                     "%lld samples): every rank needs at least one; choose another batch size",
                     fn, (long long)smallest, ranks, (long long)B, (long long)N);
  }
  return FT_OK;
}

int ft_loader_new(ft_loader **out, const ft_loader_config *cfg) {
  const char *fn = "ft_loader_new";
  if (!out) return ft_fail("%s: out is NULL", fn);
  *out = NULL;
  FT_TRY(check_config(fn, cfg));
  ft_loader *l = calloc(1, sizeof *l);
  if (!l) return ft_fail("%s: out of memory", fn);
  pthread_mutex_init(&l->mu, NULL);
  pthread_cond_init(&l->work_cv, NULL);
  pthread_cond_init(&l->ready_cv, NULL);
  l->held = -1;
  l->files = cfg->images == NULL;
  l->M = cfg->labels->size[0];
  l->N = cfg->index->size[0];
  l->B = cfg->batch_size;
  l->shuffle = cfg->shuffle != 0;
  l->augment = cfg->augment != 0;
  l->pad = cfg->pad;
  l->drop_last = cfg->drop_last != 0;
  l->nthreads = cfg->nthreads;
  l->ranks = cfg->shard_size > 1 ? cfg->shard_size : 1;
  l->rank = cfg->shard_rank;
  l->nslots = cfg->nthreads ? cfg->prefetch + 1 : 1;
  l->nbatches = l->drop_last ? l->N / l->B : (l->N + l->B - 1) / l->B;
  int rc = ft_tensor_alias(&l->labels, cfg->labels);
  if (!rc) rc = ft_tensor_alias(&l->index, cfg->index);
  if (!rc && !l->files) {
    rc = ft_tensor_alias(&l->images, cfg->images);
    if (!rc) rc = ft_tensor_alias(&l->mean, cfg->mean);
    if (!rc) rc = ft_tensor_alias(&l->std, cfg->std);
    l->C = cfg->images->size[1]; l->H = cfg->images->size[2]; l->W = cfg->images->size[3];
  } else if (!rc) {
    l->tf = *cfg->transform;
    l->C = 3; l->H = l->W = cfg->transform->size;
    l->paths = malloc((size_t)cfg->paths_bytes);
    l->path_at = malloc((size_t)l->M * sizeof *l->path_at);
    if (!l->paths || !l->path_at) rc = ft_fail("%s: out of memory", fn);
    else {
      memcpy(l->paths, cfg->paths, (size_t)cfg->paths_bytes);
      for (int64_t i = 0, k = 0; i < cfg->paths_bytes; k++) {
        l->path_at[k] = i;
        i += (int64_t)strlen(l->paths + i) + 1;
      }
    }
  }
  int64_t psz[1] = {l->N};
  if (!rc) rc = ft_tensor_new(&l->perm, FT_INT64, FT_CPU, 1, psz);
  if (!rc && !(l->slots = calloc((size_t)l->nslots, sizeof *l->slots))) rc = ft_fail("%s: out of memory", fn);
  for (int k = 0; !rc && k < l->nslots; k++) {
    int64_t rows = (l->B + l->ranks - 1) / l->ranks; /* the largest shard */
    int64_t isz[4] = {rows, l->C, l->H, l->W}, tsz[1] = {rows};
    rc = ft_tensor_new(&l->slots[k].inputs, FT_FLOAT32, FT_CPU, 4, isz);
    if (!rc) rc = ft_tensor_new(&l->slots[k].targets, FT_INT64, FT_CPU, 1, tsz);
  }
  for (int i = 0; !rc && i < l->nthreads; i++) {
    if (pthread_create(&l->threads[i], NULL, worker, l)) rc = ft_fail("%s: cannot start thread %d", fn, i + 1);
    else l->nstarted++;
  }
  if (rc) { ft_loader_free(l); return rc; }
  *out = l;
  return FT_OK;
}

int64_t ft_loader_batches(const ft_loader *l) { return l ? l->nbatches : 0; }
int ft_loader_nslots(const ft_loader *l) { return l ? l->nslots : 0; }

int ft_loader_slot(ft_loader *l, int k, ft_tensor **inputs, ft_tensor **targets) {
  const char *fn = "ft_loader_slot";
  if (!l || !inputs || !targets) return ft_fail("%s: loader, inputs or targets is NULL", fn);
  if (k < 0 || k >= l->nslots) return ft_fail("%s: slot %d outside 0..%d", fn, k, l->nslots - 1);
  *inputs = *targets = NULL;
  FT_TRY(ft_tensor_alias(inputs, l->slots[k].inputs));
  if (ft_tensor_alias(targets, l->slots[k].targets)) { ft_tensor_free(*inputs); *inputs = NULL; return FT_ERR; }
  return FT_OK;
}

int ft_loader_start(ft_loader *l, uint64_t seed, int64_t epoch, int64_t start) {
  const char *fn = "ft_loader_start";
  if (!l) return ft_fail("%s: loader is NULL", fn);
  if (epoch < 0) return ft_fail("%s: epoch must be >= 0, got %lld", fn, (long long)epoch);
  if (start < 0 || start > l->nbatches)
    return ft_fail("%s: start batch %lld outside 0..%lld", fn, (long long)start, (long long)l->nbatches);
  pthread_mutex_lock(&l->mu);
  l->active = 0;                   /* no new work; wait for batches being built */
  l->held = -1;
  for (;;) {
    int busy = 0;
    for (int k = 0; k < l->nslots; k++) busy |= l->slots[k].state == SLOT_BUSY;
    if (!busy) break;
    pthread_cond_wait(&l->ready_cv, &l->mu);
  }
  for (int k = 0; k < l->nslots; k++) l->slots[k].state = SLOT_FREE;
  int rc = make_perm(l, seed, epoch, l->perm);
  if (rc == FT_OK) {
    l->seed = seed;
    l->epoch = epoch;
    l->next_assign = l->next_deliver = start;
    l->active = 1;
    pthread_cond_broadcast(&l->work_cv);
  }
  pthread_mutex_unlock(&l->mu);
  return rc;
}

int ft_loader_next(ft_loader *l, int *slot, int64_t *batch, int64_t *count) {
  const char *fn = "ft_loader_next";
  if (!l || !slot || !batch || !count) return ft_fail("%s: an argument is NULL", fn);
  pthread_mutex_lock(&l->mu);
  if (l->held >= 0) {
    l->slots[l->held].state = SLOT_FREE;
    l->held = -1;
    pthread_cond_broadcast(&l->work_cv);
  }
  if (!l->active) {
    pthread_mutex_unlock(&l->mu);
    return ft_fail("%s: no epoch started (call ft_loader_start)", fn);
  }
  if (l->next_deliver >= l->nbatches) {
    *slot = -1;
    *batch = l->next_deliver;
    *count = 0;
    pthread_mutex_unlock(&l->mu);
    return FT_OK;
  }
  int64_t b = l->next_deliver;
  int k = (int)(b % l->nslots);
  slot_t *s = &l->slots[k];
  if (l->nthreads == 0) {
    s->batch = b;
    l->next_assign = b + 1;
    build(l, l->seed, l->epoch, b, s);
    s->state = SLOT_READY;
  } else {
    while (!(s->state == SLOT_READY && s->batch == b)) pthread_cond_wait(&l->ready_cv, &l->mu);
  }
  l->held = k;
  l->next_deliver = b + 1;
  *slot = k;
  *batch = b;
  *count = s->count;
  pthread_mutex_unlock(&l->mu);
  return FT_OK;
}

int ft_loader_shard(const ft_loader *l, int64_t batch, int64_t *global_count, int64_t *offset,
                    int64_t *count) {
  const char *fn = "ft_loader_shard";
  if (!l || !global_count || !offset || !count) return ft_fail("%s: an argument is NULL", fn);
  if (batch < 0 || batch >= l->nbatches)
    return ft_fail("%s: batch %lld outside 0..%lld", fn, (long long)batch, (long long)l->nbatches - 1);
  shard_of(l, batch, global_count, offset, count);
  return FT_OK;
}

int ft_loader_plan(ft_loader *l, uint64_t seed, int64_t epoch, int64_t position, int64_t *row,
                   int64_t *params) {
  const char *fn = "ft_loader_plan";
  if (!l || !row || !params) return ft_fail("%s: loader, row or params is NULL", fn);
  if (epoch < 0) return ft_fail("%s: epoch must be >= 0, got %lld", fn, (long long)epoch);
  if (position < 0 || position >= l->N)
    return ft_fail("%s: position %lld outside 0..%lld", fn, (long long)position, (long long)l->N - 1);
  ft_tensor *perm;
  int64_t psz[1] = {l->N};
  FT_TRY(ft_tensor_new(&perm, FT_INT64, FT_CPU, 1, psz));
  int rc = make_perm(l, seed, epoch, perm);
  if (rc == FT_OK) {
    ft_generator order, aug, g;
    epoch_streams(seed, epoch, &order, &aug);
    ft_generator_split(&aug, (uint64_t)position, &g);
    *row = ((const int64_t *)ft_data(l->index))[((const int64_t *)ft_data(perm))[position]];
    int64_t dy = 0, dx = 0;
    int flip = 0;
    if (l->augment && !l->files) draw_shift(l, &g, &dy, &dx, &flip);
    params[0] = dy;
    params[1] = dx;
    params[2] = flip;
  }
  ft_tensor_free(perm);
  return rc;
}

int64_t ft_loader_failures(const ft_loader *l, char *msg, int64_t cap) {
  if (!l) return 0;
  ft_loader *m = (ft_loader *)l;
  pthread_mutex_lock(&m->mu);
  int64_t n = m->failures;
  if (msg && cap > 0) snprintf(msg, (size_t)cap, "%s", m->failmsg);
  pthread_mutex_unlock(&m->mu);
  return n;
}
