/* cuda/stubs.c -- the CUDA-SECTION of fathom.h in a build without the CUDA backend.
 * Every declared function exists in every build, so Lua code can always ask (the FFI
 * would otherwise fail on a missing symbol): the device count is 0 and the rest fail
 * with a message that says the library was built without CUDA. The real ones live in
 * core/cuda/runtime.cu (and the other core/cuda/) when FT_WITH_CUDA is defined. */
#include "internal.h"

#ifndef FT_WITH_CUDA
static const char *no_cuda_msg = "this build of Fathom has no CUDA backend";

int ft_cuda_device_count(int *count) {
  if (!count) return ft_fail("ft_cuda_device_count: count is NULL");
  *count = 0;
  return FT_OK;
}
const char *ft_cuda_status(void) { return no_cuda_msg; }
int ft_cuda_set_device(int index) { return ft_no_cuda("ft_cuda_set_device"); }
int ft_cuda_get_device(int *index) { return ft_no_cuda("ft_cuda_get_device"); }
int ft_cuda_device_info(int index, char *name, int64_t cap, int64_t *total_bytes, int *cc_major,
                        int *cc_minor) {
  return ft_no_cuda("ft_cuda_device_info");
}
int ft_cuda_synchronize(void) { return ft_no_cuda("ft_cuda_synchronize"); }
int ft_cuda_memory_stats(ft_cuda_memory *stats) { return ft_no_cuda("ft_cuda_memory_stats"); }
int ft_cuda_empty_cache(void) { return ft_no_cuda("ft_cuda_empty_cache"); }
int ft_cuda_set_deterministic(int on) { return ft_no_cuda("ft_cuda_set_deterministic"); }
int ft_cuda_set_benchmark(int on) { return ft_no_cuda("ft_cuda_set_benchmark"); }
int ft_cuda_set_tf32(int on) { return ft_no_cuda("ft_cuda_set_tf32"); }
int64_t ft_cuda_conv_plans(void) { return 0; }
int ft_cuda_pinned_new(ft_tensor **out, int dtype, int ndim, const int64_t *size) {
  if (out) *out = NULL;
  return ft_no_cuda("ft_cuda_pinned_new");
}
int ft_cuda_copy_async(ft_tensor *dst, const ft_tensor *src) { return ft_no_cuda("ft_cuda_copy_async"); }
int ft_cuda_event_new(ft_cuda_event **out) {
  if (out) *out = NULL;
  return ft_no_cuda("ft_cuda_event_new");
}
void ft_cuda_event_free(ft_cuda_event *e) { (void)e; }
int ft_cuda_event_record(ft_cuda_event *e) { return ft_no_cuda("ft_cuda_event_record"); }
int ft_cuda_event_synchronize(ft_cuda_event *e) { return ft_no_cuda("ft_cuda_event_synchronize"); }
int ft_cuda_event_elapsed(const ft_cuda_event *start, const ft_cuda_event *end, double *ms) {
  return ft_no_cuda("ft_cuda_event_elapsed");
}
#else
/* The CUDA build: this file is empty (ISO C wants at least one declaration). */
typedef int ft_cuda_stubs_unused;
#endif
