/* data/cifar.c -- CIFAR-10/100 binary readers.
 * A .bin file is a plain run of records: label_bytes label bytes (CIFAR-10: 1; CIFAR-100:
 * 2, coarse then fine) then 3072 pixel bytes (R, G, B planes of 32x32, rows top to
 * bottom) -- exactly the [3,32,32] layout we keep, so a record is one memcpy.
 * Every error names the file, and for a bad label the record. */
#include "internal.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum { CIFAR_PIXELS = 3 * 32 * 32 };

static int check_label_bytes(const char *fn, int label_bytes) {
  if (label_bytes < 1 || label_bytes > 2)
    return ft_fail("%s: label_bytes must be 1 (CIFAR-10) or 2 (CIFAR-100), got %d", fn, label_bytes);
  return FT_OK;
}

static int count_records(const char *fn, const char *path, int label_bytes,
                         int64_t expect_records, int64_t *records) {
  struct stat st;
  if (!path || !records) return ft_fail("%s: path or records is NULL", fn);
  FT_TRY(check_label_bytes(fn, label_bytes));
  if (stat(path, &st)) return ft_fail("%s: cannot open %s: %s", fn, path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return ft_fail("%s: %s is not a regular file", fn, path);
  int64_t rec = CIFAR_PIXELS + label_bytes, size = (int64_t)st.st_size;
  if (size == 0) return ft_fail("%s: %s is empty", fn, path);
  if (size % rec)
    return ft_fail("%s: %s is truncated or not a CIFAR file: %lld bytes is not a whole number "
                   "of %lld-byte records (%lld records and %lld bytes left over)", fn, path,
                   (long long)size, (long long)rec, (long long)(size / rec), (long long)(size % rec));
  if (expect_records > 0 && size / rec != expect_records)
    return ft_fail("%s: %s has %lld records (%lld bytes), expected %lld (%lld bytes): the file "
                   "is %s", fn, path, (long long)(size / rec), (long long)size,
                   (long long)expect_records, (long long)(expect_records * rec),
                   size / rec < expect_records ? "truncated" : "oversized");
  *records = size / rec;
  return FT_OK;
}

int ft_data_cifar_count(const char *path, int label_bytes, int64_t expect_records,
                        int64_t *records) {
  return count_records("ft_data_cifar_count", path, label_bytes, expect_records, records);
}

/* images: uint8 [N,3,32,32], labels: int64 [N], both contiguous; rows offset.. are filled. */
int ft_data_cifar_read(const char *path, int label_bytes, int label_index, int nclasses,
                       ft_tensor *images, ft_tensor *labels, int64_t offset) {
  const char *fn = "ft_data_cifar_read";
  char b1[64], b2[64];
  int64_t n = 0;
  FT_TRY(check_label_bytes(fn, label_bytes));
  if (label_index < 0 || label_index >= label_bytes)
    return ft_fail("%s: label_index %d out of range for %d label bytes", fn, label_index, label_bytes);
  if (nclasses < 1 || nclasses > 256) return ft_fail("%s: nclasses must be 1..256, got %d", fn, nclasses);
  FT_TRY(ft_check_tensor(fn, "images", images));
  FT_TRY(ft_check_tensor(fn, "labels", labels));
  FT_TRY(ft_check_cpu(fn, "images", images));
  FT_TRY(ft_check_dtype(fn, "images", images, FT_UINT8));
  FT_TRY(ft_check_dtype(fn, "labels", labels, FT_INT64));
  FT_TRY(ft_check_contiguous(fn, "images", images));
  FT_TRY(ft_check_contiguous(fn, "labels", labels));
  if (images->ndim != 4 || images->size[1] != 3 || images->size[2] != 32 || images->size[3] != 32)
    return ft_fail("%s: images must be Nx3x32x32 (got %s)", fn, ft_shape_str(images, b1, sizeof b1));
  if (labels->ndim != 1 || labels->size[0] != images->size[0])
    return ft_fail("%s: labels must be 1-D with %lld entries (got %s)", fn,
                   (long long)images->size[0], ft_shape_str(labels, b2, sizeof b2));
  FT_TRY(count_records(fn, path, label_bytes, 0, &n));
  if (ft_range_outside(offset, n, images->size[0]))
    return ft_fail("%s: %lld records of %s at row %lld do not fit in %lld rows", fn, (long long)n,
                   path, (long long)offset, (long long)images->size[0]);
  FILE *f = fopen(path, "rb");
  if (!f) return ft_fail("%s: cannot open %s: %s", fn, path, strerror(errno));
  uint8_t *img = (uint8_t *)ft_data(images) + offset * CIFAR_PIXELS;
  int64_t *lab = (int64_t *)ft_data(labels) + offset;
  uint8_t head[2];
  for (int64_t r = 0; r < n; r++) {
    if (fread(head, 1, (size_t)label_bytes, f) != (size_t)label_bytes ||
        fread(img + r * CIFAR_PIXELS, 1, CIFAR_PIXELS, f) != CIFAR_PIXELS) {
      fclose(f);
      return ft_fail("%s: %s: read error at record %lld (file changed while reading?)", fn, path,
                     (long long)r);
    }
    if (head[label_index] >= nclasses) {
      fclose(f);
      return ft_fail("%s: %s: record %lld (byte offset %lld) has label %d, outside 0..%d", fn,
                     path, (long long)r, (long long)(r * (CIFAR_PIXELS + label_bytes)),
                     head[label_index], nclasses - 1);
    }
    lab[r] = head[label_index];
  }
  fclose(f);
  return FT_OK;
}
