/* fuzz/cifar.c -- libFuzzer harness of the CIFAR-10/100 binary reader
 * (ft_data_cifar_count, ft_data_cifar_read), CIFAR-10 and CIFAR-100 layouts. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  const char *path = fuzz_file(data, n);
  for (int lb = 1; lb <= 2; lb++) {
    int64_t records = 0;
    int st = ft_data_cifar_count(path, lb, 0, &records);
    fuzz_expect_message(st, "ft_data_cifar_count");
    int64_t rows = st == 0 && records <= 64 ? records : 2;
    int64_t isz[4] = {rows, 3, 32, 32}, lsz[1] = {rows};
    ft_tensor *img = NULL, *lab = NULL;
    if (ft_tensor_new(&img, FT_UINT8, FT_CPU, 4, isz) || ft_tensor_new(&lab, FT_INT64, FT_CPU, 1, lsz)) abort();
    fuzz_expect_message(ft_data_cifar_read(path, lb, lb - 1, lb == 1 ? 10 : 100, img, lab, 0),
                        "ft_data_cifar_read");
    fuzz_expect_message(ft_data_cifar_read(path, lb, 0, 20, img, lab, 1), "ft_data_cifar_read");
    ft_tensor_free(img);
    ft_tensor_free(lab);
  }
  return 0;
}
