/* fuzz/image.c -- libFuzzer harness of the image decoders (libpng, libjpeg-turbo) and
 * what reads their output: ft_data_image_probe, ft_data_image_decode, ft_png_read, and
 * ft_data_image_sample's eval and train transforms. Built twice, as fuzz-png and
 * fuzz-jpeg: the same code, fed a corpus of PNGs or of JPEGs. */
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
  const char *path = fuzz_file(data, n);
  int64_t w, h;
  fuzz_expect_message(ft_data_image_probe(path, &w, &h), "ft_data_image_probe");
  ft_tensor *t = NULL;
  fuzz_expect_message(ft_data_image_decode(path, &t), "ft_data_image_decode");
  ft_tensor_free(t);
  t = NULL;
  fuzz_expect_message(ft_png_read(&t, path), "ft_png_read");
  ft_tensor_free(t);
  ft_image_transform tf = {.size = 8, .scale = 10, .min_area = 0.08, .brightness = 0.4,
                           .contrast = 0.4, .saturation = 0.4, .lighting = 0.1, .flip = 0.5,
                           .mean = {0.5f, 0.5f, 0.5f}, .std = {0.25f, 0.25f, 0.25f},
                           .eigval = {0.2f, 0.02f, 0.005f},
                           .eigvec = {-0.58f, -0.81f, 0.04f, -0.58f, -0.01f, -0.81f, -0.57f, 0.58f, 0.58f}};
  int64_t osz[3] = {3, 8, 8};
  ft_tensor *out = NULL;
  if (ft_tensor_new(&out, FT_FLOAT32, FT_CPU, 3, osz)) abort();
  ft_generator g;
  ft_generator_seed(&g, n);
  fuzz_expect_message(ft_data_image_sample(path, &tf, 0, NULL, out), "ft_data_image_sample");
  fuzz_expect_message(ft_data_image_sample(path, &tf, 1, &g, out), "ft_data_image_sample");
  ft_tensor_free(out);
  return 0;
}
