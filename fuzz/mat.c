/* fuzz/mat.c -- libFuzzer harness of the SVHN .mat reader (MATLAB level 5, plain and
 * zlib-compressed elements): ft_data_svhn_count, ft_data_svhn_read. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  const char *path = fuzz_file(data, n);
  int64_t count = 0;
  int st = ft_data_svhn_count(path, &count);
  fuzz_expect_message(st, "ft_data_svhn");
  int64_t rows = st == 0 && count <= 64 ? count : 3;
  int64_t isz[4] = {rows, 3, 32, 32}, lsz[1] = {rows};
  ft_tensor *img = NULL, *lab = NULL;
  if (ft_tensor_new(&img, FT_UINT8, FT_CPU, 4, isz) || ft_tensor_new(&lab, FT_INT64, FT_CPU, 1, lsz)) abort();
  fuzz_expect_message(ft_data_svhn_read(path, img, lab, 0), "ft_data_svhn_read");
  fuzz_expect_message(ft_data_svhn_read(path, img, lab, 1), "ft_data_svhn_read");
  ft_tensor_free(img);
  ft_tensor_free(lab);
  return 0;
}
