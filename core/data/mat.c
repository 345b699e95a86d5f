/* data/mat.c -- SVHN "cropped digits" files: MATLAB level-5 .mat with variables
 * X uint8 32x32x3xN and y Nx1 (labels 1..10, 10 meaning the digit 0).
 *
 * The official files store each variable as a zlib-compressed element (miCOMPRESSED),
 * so we read through a small byte source that is either the file or an inflate stream,
 * and copy X image by image (column-major 32x32 planes transposed to our row-major
 * [3,32,32]) straight into the caller's tensor: the 531,131-image extra set is never held
 * twice. Labels keep the authors' convention: label = y - 1 (0-based), so digit d is
 * class d (1-based) for d = 1..9 and the digit 0 is class 10.
 * Only little-endian ("IM") version-5 files are read; anything else is a clear error. */
#include "internal.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum {
  MI_INT8 = 1, MI_UINT8 = 2, MI_INT16 = 3, MI_UINT16 = 4, MI_INT32 = 5, MI_UINT32 = 6,
  MI_SINGLE = 7, MI_DOUBLE = 9, MI_INT64 = 12, MI_UINT64 = 13, MI_MATRIX = 14,
  MI_COMPRESSED = 15
};
enum { MX_DOUBLE = 6, MX_UINT64 = 15, MX_UINT8 = 9 };
enum { IMG = 3 * 32 * 32 };

/* A bounded byte source: `left` bytes of the file, or of an inflated element. */
typedef struct {
  FILE *f;
  const char *path;
  int zipped;
  z_stream zs;
  int64_t left;      /* plain: file bytes left in this element; zipped: compressed bytes */
  int64_t used;      /* bytes delivered so far (for 8-byte padding)                        */
  unsigned char in[1 << 16];
} src_t;

static const char *FN = "ft_data_svhn_read";

static int src_read(src_t *s, void *buf, size_t n, const char *what) {
  if (!s->zipped) {
    if ((int64_t)n > s->left)
      return ft_fail("%s: %s: %s runs past the end of its element (corrupt file?)", FN, s->path, what);
    if (fread(buf, 1, n, s->f) != n)
      return ft_fail("%s: %s: file ends inside %s (truncated file?)", FN, s->path, what);
    s->left -= (int64_t)n;
    s->used += (int64_t)n;
    return FT_OK;
  }
  s->zs.next_out = buf;
  s->zs.avail_out = (uInt)n;
  while (s->zs.avail_out > 0) {
    if (s->zs.avail_in == 0) {
      size_t want = s->left < (int64_t)sizeof s->in ? (size_t)s->left : sizeof s->in;
      size_t got = want ? fread(s->in, 1, want, s->f) : 0;
      if (got == 0)
        return ft_fail("%s: %s: compressed data ends inside %s (truncated file?)", FN, s->path, what);
      s->left -= (int64_t)got;
      s->zs.next_in = s->in;
      s->zs.avail_in = (uInt)got;
    }
    int rc = inflate(&s->zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END && s->zs.avail_out > 0)
      return ft_fail("%s: %s: compressed element ends inside %s (corrupt file?)", FN, s->path, what);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR)
      return ft_fail("%s: %s: corrupt compressed data in %s (zlib: %s)", FN, s->path, what,
                     s->zs.msg ? s->zs.msg : "error");
  }
  s->used += (int64_t)n;
  return FT_OK;
}

static int src_skip(src_t *s, int64_t n, const char *what) {
  unsigned char tmp[4096];
  while (n > 0) {
    size_t k = n < (int64_t)sizeof tmp ? (size_t)n : sizeof tmp;
    FT_TRY(src_read(s, tmp, k, what));
    n -= (int64_t)k;
  }
  return FT_OK;
}

/* A data element tag; small elements (<= 4 bytes) keep their data in the tag. */
typedef struct { uint32_t type, nbytes; int small; unsigned char data[4]; } tag_t;

static int read_tag(src_t *s, tag_t *t, const char *what) {
  uint32_t w[2];
  FT_TRY(src_read(s, w, 8, what));
  t->small = (w[0] >> 16) != 0;
  if (t->small) {
    t->type = w[0] & 0xffff;
    t->nbytes = w[0] >> 16;
    memcpy(t->data, &w[1], 4);
    if (t->nbytes > 4) return ft_fail("%s: %s: malformed small element in %s", FN, s->path, what);
  } else {
    t->type = w[0];
    t->nbytes = w[1];
  }
  return FT_OK;
}

static int pad8(src_t *s, const tag_t *t, const char *what) {
  if (t->small) return FT_OK;
  int64_t r = t->nbytes % 8;
  return r ? src_skip(s, 8 - r, what) : FT_OK;
}

static int type_size(uint32_t type) {
  switch (type) {
  case MI_INT8: case MI_UINT8: return 1;
  case MI_INT16: case MI_UINT16: return 2;
  case MI_INT32: case MI_UINT32: case MI_SINGLE: return 4;
  case MI_DOUBLE: case MI_INT64: case MI_UINT64: return 8;
  default: return 0;
  }
}

static double value_at(const unsigned char *p, uint32_t type, int64_t i) {
  switch (type) {
  case MI_INT8: return ((const int8_t *)p)[i];
  case MI_UINT8: return p[i];
  case MI_INT16: { int16_t v; memcpy(&v, p + 2 * i, 2); return v; }
  case MI_UINT16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
  case MI_INT32: { int32_t v; memcpy(&v, p + 4 * i, 4); return v; }
  case MI_UINT32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
  case MI_SINGLE: { float v; memcpy(&v, p + 4 * i, 4); return v; }
  case MI_DOUBLE: { double v; memcpy(&v, p + 8 * i, 8); return v; }
  case MI_INT64: { int64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
  default: { uint64_t v; memcpy(&v, p + 8 * i, 8); return (double)v; }
  }
}

static const char *dims_str(const int32_t *dims, int nd) {
  static __thread char buf[96];
  size_t used = 0;
  for (int i = 0; i < nd && used < sizeof buf; i++)
    used += snprintf(buf + used, sizeof buf - used, i ? "x%d" : "%d", dims[i]);
  return buf;
}

/* What a walk over the file found. */
typedef struct {
  int64_t nx, ny;          /* images in X, labels in y; -1 when absent */
  char names[256];         /* variable names seen, for messages         */
} found_t;

static void note_name(found_t *fd, const char *name) {
  size_t used = strlen(fd->names);
  snprintf(fd->names + used, sizeof fd->names - used, "%s'%s'", used ? ", " : "", name);
}

/* Reads one miMATRIX (its tag already consumed) from s. images == NULL: only sizes. */
static int read_matrix(src_t *s, found_t *fd, ft_tensor *images, ft_tensor *labels, int64_t offset) {
  tag_t t;
  uint32_t flags[2];
  int32_t dims[8];
  char name[64];
  FT_TRY(read_tag(s, &t, "array flags"));
  if (t.type != MI_UINT32 || t.nbytes != 8)
    return ft_fail("%s: %s: malformed array flags in a variable (corrupt file?)", FN, s->path);
  FT_TRY(src_read(s, flags, 8, "array flags"));
  int cls = flags[0] & 0xff, complex = (flags[0] >> 11) & 1;
  FT_TRY(read_tag(s, &t, "dimensions"));
  if (t.small || t.type != MI_INT32 || t.nbytes % 4 || t.nbytes / 4 < 2 || t.nbytes / 4 > 8)
    return ft_fail("%s: %s: malformed dimensions in a variable (corrupt file?)", FN, s->path);
  int nd = (int)(t.nbytes / 4);
  FT_TRY(src_read(s, dims, t.nbytes, "dimensions"));
  FT_TRY(pad8(s, &t, "dimensions"));
  FT_TRY(read_tag(s, &t, "variable name"));
  if (t.type != MI_INT8 || t.nbytes >= sizeof name)
    return ft_fail("%s: %s: malformed variable name (corrupt file?)", FN, s->path);
  if (t.small) memcpy(name, t.data, t.nbytes);
  else { FT_TRY(src_read(s, name, t.nbytes, "variable name")); FT_TRY(pad8(s, &t, "variable name")); }
  name[t.nbytes] = 0;
  note_name(fd, name);
  int isx = !strcmp(name, "X"), isy = !strcmp(name, "y");
  if (!isx && !isy)
    return ft_fail("%s: %s: unexpected variable '%s' (an SVHN cropped-digits file holds only "
                   "X and y)", FN, s->path, name);
  if ((isx && fd->nx >= 0) || (isy && fd->ny >= 0))
    return ft_fail("%s: %s: variable '%s' appears twice", FN, s->path, name);
  if (complex) return ft_fail("%s: %s: variable '%s' is complex", FN, s->path, name);
  if (isx) {
    if (cls != MX_UINT8 || nd != 4 || dims[0] != 32 || dims[1] != 32 || dims[2] != 3 || dims[3] < 0)
      return ft_fail("%s: %s: X must be a uint8 (class 9) array of size 32x32x3xN (got class %d, "
                     "size %s)", FN, s->path, cls, dims_str(dims, nd));
    int64_t n = dims[3];
    FT_TRY(read_tag(s, &t, "X data"));
    if (t.type != MI_UINT8 || (int64_t)t.nbytes != n * IMG)
      return ft_fail("%s: %s: X data has type %u and %u bytes, expected uint8 and %lld bytes",
                     FN, s->path, t.type, t.nbytes, (long long)(n * IMG));
    fd->nx = n;
    if (!images) return FT_OK;
    if (ft_range_outside(offset, n, images->size[0]))
      return ft_fail("%s: %s: %lld images at row %lld do not fit in %lld rows", FN, s->path,
                     (long long)n, (long long)offset, (long long)images->size[0]);
    unsigned char col[IMG];
    uint8_t *dst = (uint8_t *)ft_data(images) + offset * IMG;
    for (int64_t i = 0; i < n; i++, dst += IMG) {
      FT_TRY(src_read(s, col, IMG, "X data"));
      for (int k = 0; k < 3; k++)       /* col[k][c][r] (column-major) -> dst[k][r][c] */
        for (int r = 0; r < 32; r++)
          for (int c = 0; c < 32; c++) dst[k * 1024 + r * 32 + c] = col[k * 1024 + c * 32 + r];
    }
    return FT_OK;
  }
  if (cls < MX_DOUBLE || cls > MX_UINT64 || nd != 2 || (dims[0] != 1 && dims[1] != 1))
    return ft_fail("%s: %s: y must be a numeric Nx1 array (got class %d, size %s)", FN, s->path,
                   cls, dims_str(dims, nd));
  int64_t n = (int64_t)dims[0] * dims[1];
  FT_TRY(read_tag(s, &t, "y data"));
  int es = type_size(t.type);
  if (!es || (int64_t)t.nbytes != n * es)
    return ft_fail("%s: %s: y data has type %u and %u bytes, expected %lld numbers", FN,
                   s->path, t.type, t.nbytes, (long long)n);
  fd->ny = n;
  if (!labels) return FT_OK;
  if (ft_range_outside(offset, n, labels->size[0]))
    return ft_fail("%s: %s: %lld labels at row %lld do not fit in %lld rows", FN, s->path,
                   (long long)n, (long long)offset, (long long)labels->size[0]);
  unsigned char *buf = malloc(t.nbytes ? t.nbytes : 1);
  if (!buf) return ft_fail("%s: %s: out of memory reading y", FN, s->path);
  int rc = t.small ? (memcpy(buf, t.data, t.nbytes), FT_OK) : src_read(s, buf, t.nbytes, "y data");
  int64_t *lab = (int64_t *)ft_data(labels) + offset;
  for (int64_t i = 0; rc == FT_OK && i < n; i++) {
    double v = value_at(buf, t.type, i);
    if (!(v >= 1 && v <= 10 && v == (int64_t)v))
      rc = ft_fail("%s: %s: label %lld is %g, outside 1..10", FN, s->path, (long long)(i + 1), v);
    else lab[i] = (int64_t)v - 1;
  }
  free(buf);
  return rc;
}

/* Walks every top-level element of path. images/labels NULL: sizes only. */
static int walk(const char *path, found_t *fd, ft_tensor *images, ft_tensor *labels, int64_t offset) {
  unsigned char head[128];
  fd->nx = fd->ny = -1;
  fd->names[0] = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return ft_fail("%s: cannot open %s: %s", FN, path, strerror(errno));
  src_t *s = calloc(1, sizeof *s);
  if (!s) { fclose(f); return ft_fail("%s: out of memory", FN); }
  s->f = f;
  s->path = path;
  int rc = FT_OK;
  fseek(f, 0, SEEK_END);
  long fsize = ftell(f);
  rewind(f);
  size_t got = fread(head, 1, 128, f);
  uint16_t version = (uint16_t)(head[124] | head[125] << 8);
  if (got < 128 || memcmp(head, "MATLAB", 6))
    rc = ft_fail("%s: %s is not a MATLAB .mat file (no 'MATLAB' header)", FN, path);
  else if (head[126] == 'M' && head[127] == 'I')
    rc = ft_fail("%s: %s is a big-endian .mat file; only little-endian files are read", FN, path);
  else if (version == 0x0200 || !memcmp(head, "MATLAB 7.3", 10))
    rc = ft_fail("%s: %s is a MATLAB 7.3 (HDF5) file; save it as version 7 or earlier "
                 "(save(..., '-v7'))", FN, path);
  else if (head[126] != 'I' || head[127] != 'M' || version != 0x0100)
    rc = ft_fail("%s: %s: unsupported MAT version 0x%04x", FN, path, version);
  while (rc == FT_OK) {
    uint32_t w[2];
    long start = ftell(f);
    size_t k = fread(w, 1, 8, f);
    if (k == 0) break;
    if (k < 8) { rc = ft_fail("%s: %s: file ends inside an element tag (truncated file?)", FN, path); break; }
    if (start + 8 + (long)w[1] > fsize) {
      rc = ft_fail("%s: %s: an element of %u bytes at byte %ld runs past the end of the file "
                   "(%ld bytes): the file is truncated", FN, path, w[1], start, fsize);
      break;
    }
    memset(&s->zs, 0, sizeof s->zs);
    s->used = 0;
    s->left = w[1];
    if (w[0] == MI_COMPRESSED) {
      s->zipped = 1;
      if (inflateInit(&s->zs) != Z_OK) { rc = ft_fail("%s: zlib init failed", FN); break; }
      tag_t t;
      rc = read_tag(s, &t, "compressed element");
      if (rc == FT_OK && t.type != MI_MATRIX)
        rc = ft_fail("%s: %s: compressed element of type %u, expected a variable", FN, path, t.type);
      if (rc == FT_OK) rc = read_matrix(s, fd, images, labels, offset);
      inflateEnd(&s->zs);
    } else if (w[0] == MI_MATRIX) {
      s->zipped = 0;
      rc = read_matrix(s, fd, images, labels, offset);
    } else {
      rc = ft_fail("%s: %s: top-level element of type %u; expected variables", FN, path, w[0]);
    }
    if (rc == FT_OK && fseek(f, start + 8 + (long)w[1], SEEK_SET))
      rc = ft_fail("%s: %s: cannot seek past an element (truncated file?)", FN, path);
  }
  free(s);
  fclose(f);
  if (rc) return rc;
  if (fd->nx < 0 || fd->ny < 0)
    return ft_fail("%s: %s: expected variables 'X' and 'y', found %s", FN, path,
                   fd->names[0] ? fd->names : "none");
  if (fd->nx != fd->ny)
    return ft_fail("%s: %s: X has %lld images but y has %lld labels", FN, path,
                   (long long)fd->nx, (long long)fd->ny);
  return FT_OK;
}

int ft_data_svhn_count(const char *path, int64_t *count) {
  found_t fd;
  if (!path || !count) return ft_fail("ft_data_svhn_count: path or count is NULL");
  FT_TRY(walk(path, &fd, NULL, NULL, 0));
  *count = fd.nx;
  return FT_OK;
}

/* images uint8 [M,3,32,32], labels int64 [M], contiguous; fills rows offset.. */
int ft_data_svhn_read(const char *path, ft_tensor *images, ft_tensor *labels, int64_t offset) {
  char b1[64], b2[64];
  found_t fd;
  if (!path) return ft_fail("%s: path is NULL", FN);
  FT_TRY(ft_check_tensor(FN, "images", images));
  FT_TRY(ft_check_tensor(FN, "labels", labels));
  FT_TRY(ft_check_cpu(FN, "images", images));
  FT_TRY(ft_check_dtype(FN, "images", images, FT_UINT8));
  FT_TRY(ft_check_dtype(FN, "labels", labels, FT_INT64));
  FT_TRY(ft_check_contiguous(FN, "images", images));
  FT_TRY(ft_check_contiguous(FN, "labels", labels));
  if (images->ndim != 4 || images->size[1] != 3 || images->size[2] != 32 || images->size[3] != 32)
    return ft_fail("%s: images must be Nx3x32x32 (got %s)", FN, ft_shape_str(images, b1, sizeof b1));
  if (labels->ndim != 1 || labels->size[0] != images->size[0])
    return ft_fail("%s: labels must be 1-D with %lld entries (got %s)", FN,
                   (long long)images->size[0], ft_shape_str(labels, b2, sizeof b2));
  if (offset < 0) return ft_fail("%s: offset %lld is negative", FN, (long long)offset);
  return walk(path, &fd, images, labels, offset);
}
