/* fuzz/fuzz_common.h -- what every libFuzzer harness of Fathom shares: the parsers read
 * paths, so each input is handed over as an in-memory file (memfd, /proc/self/fd/N),
 * and the image limit is lowered so one input cannot take more than a few MB. */
#define _GNU_SOURCE
#include "fathom.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static int fuzz_fd = -1;
static char fuzz_path[64];

/* The path of a file holding exactly data[0..n). */
static const char *fuzz_file(const uint8_t *data, size_t n) {
  if (fuzz_fd < 0) {
    fuzz_fd = memfd_create("fathom-fuzz", 0);
    if (fuzz_fd < 0) { perror("memfd_create"); abort(); }
    snprintf(fuzz_path, sizeof fuzz_path, "/proc/self/fd/%d", fuzz_fd);
  }
  if (ftruncate(fuzz_fd, 0) || (n && pwrite(fuzz_fd, data, n, 0) != (ssize_t)n)) abort();
  return fuzz_path;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  ft_set_max_image_pixels(1 << 20, NULL);
  return 0;
}

/* A failure must leave a message naming the function: not checked for crashes (the
 * sanitizers do that), but an empty message means a path that forgot ft_fail. */
static void fuzz_expect_message(int status, const char *fn) {
  if (status == 0) return;
  const char *m = ft_last_error();
  size_t k = 0;
  while (fn[k] && m[k] == fn[k]) k++;
  if (fn[k]) { fprintf(stderr, "error without the function's name: %s\n", m); abort(); }
}
