/* data/png.c -- write (and read back) 8-bit PNG images with libpng, for the plots.
 *
 * The plotting code (lua/fathom/plot.lua) rasterises into a uint8 tensor; this file only
 * encodes it, so Fathom needs no plotting program. ft_png_read exists so tests can decode
 * what was written. libpng reports errors by longjmp; we catch them with our own setjmp
 * here, inside C, and turn them into a status: nothing long-jumps across the FFI.
 */
#include "internal.h"
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* libpng's error callback: keep its message, then jump back to our setjmp. */
static void png_error_fn(png_structp png, png_const_charp msg) {
  char *buf = (char *)png_get_error_ptr(png);
  snprintf(buf, 200, "%s", msg);
  png_longjmp(png, 1);
}
static void png_warning_fn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static int color_type_of(int64_t channels) {
  switch (channels) {
  case 1: return PNG_COLOR_TYPE_GRAY;
  case 3: return PNG_COLOR_TYPE_RGB;
  case 4: return PNG_COLOR_TYPE_RGB_ALPHA;
  default: return -1;
  }
}

/* img: uint8 [H,W,C] with C = 1, 3 or 4 (or [H,W], gray), contiguous, CPU. */
int ft_png_write(const char *path, const ft_tensor *img) {
  static const char *fn = "ft_png_write";
  char shape[96];
  if (!path || !path[0]) return ft_fail("ft_png_write: path is NULL or empty");
  FT_TRY(ft_check_tensor(fn, "img", img));
  FT_TRY(ft_check_cpu(fn, "img", img));
  FT_TRY(ft_check_dtype(fn, "img", img, FT_UINT8));
  FT_TRY(ft_check_contiguous(fn, "img", img));
  if (img->ndim != 2 && img->ndim != 3)
    return ft_fail("ft_png_write: img must be [H,W,C] or [H,W] (got %s)",
                   ft_shape_str(img, shape, sizeof shape));
  int64_t h = img->size[0], w = img->size[1], c = img->ndim == 3 ? img->size[2] : 1;
  int color = color_type_of(c);
  if (color < 0)
    return ft_fail("ft_png_write: img must have 1, 3 or 4 channels (got %s)",
                   ft_shape_str(img, shape, sizeof shape));
  if (h < 1 || w < 1 || h > 100000 || w > 100000)
    return ft_fail("ft_png_write: image size must be 1..100000 per side (got %s)",
                   ft_shape_str(img, shape, sizeof shape));

  FILE *f = fopen(path, "wb");
  if (!f) return ft_fail("ft_png_write: cannot open '%s' for writing", path);
  char msg[200] = "";
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, png_error_fn,
                                            png_warning_fn);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    remove(path);
    return ft_fail("ft_png_write: out of memory creating the PNG writer");
  }
  /* volatile: these are read after a longjmp */
  FILE *volatile vf = f;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(vf);
    remove(path);
    return ft_fail("ft_png_write: libpng failed writing '%s': %s", path, msg);
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, color, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  const uint8_t *data = (const uint8_t *)ft_data(img);
  for (int64_t y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(data + y * w * c));
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  if (fflush(f) != 0 || ferror(f)) {
    fclose(f);
    remove(path);
    return ft_fail("ft_png_write: write error on '%s'", path);
  }
  if (fclose(f) != 0) {
    remove(path);
    return ft_fail("ft_png_write: cannot close '%s'", path);
  }
  return FT_OK;
}

/* Decode an 8-bit PNG into a new uint8 tensor [H,W,C] (C = 1, 3 or 4; palettes expand to
 * RGB, 16-bit samples are stripped to 8, gray+alpha becomes RGBA). */
int ft_png_read(ft_tensor **out, const char *path) {
  if (!out) return ft_fail("ft_png_read: out is NULL");
  *out = NULL;
  if (!path || !path[0]) return ft_fail("ft_png_read: path is NULL or empty");
  FILE *f = fopen(path, "rb");
  if (!f) return ft_fail("ft_png_read: cannot open '%s'", path);
  uint8_t sig[8];
  if (fread(sig, 1, 8, f) != 8 || png_sig_cmp(sig, 0, 8)) {
    fclose(f);
    return ft_fail("ft_png_read: '%s' is not a PNG file (bad signature)", path);
  }
  char msg[200] = "";
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, msg, png_error_fn,
                                           png_warning_fn);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return ft_fail("ft_png_read: out of memory creating the PNG reader");
  }
  ft_tensor *volatile t = NULL;
  FILE *volatile vf = f;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    fclose(vf);
    ft_tensor_free(t);
    return ft_fail("ft_png_read: libpng failed reading '%s': %s", path, msg);
  }
  png_init_io(png, f);
  png_set_sig_bytes(png, 8);
  png_read_info(png, info);
  /* refused from the header, before allocating: a bomb declares a huge image */
  png_uint_32 w0 = png_get_image_width(png, info), h0 = png_get_image_height(png, info);
  struct stat st;
  int64_t fsize = fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : 0;
  int bad = ft_image_size_ok("ft_png_read", path, "PNG", w0, h0);
  if (!bad && ft_png_too_small(fsize, (int64_t)png_get_rowbytes(png, info), h0))
    bad = ft_fail("ft_png_read: '%s': a PNG of %ux%u pixels cannot fit in %lld bytes (truncated "
                  "or a decompression bomb)", path, (unsigned)w0, (unsigned)h0, (long long)fsize);
  if (bad) {
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return FT_ERR;
  }
  png_set_strip_16(png);
  png_set_packing(png);
  png_set_palette_to_rgb(png);
  png_set_expand_gray_1_2_4_to_8(png);
  int ct = png_get_color_type(png, info);
  if (ct == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_read_update_info(png, info);
  png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  int c = png_get_channels(png, info);
  int64_t size[3] = {(int64_t)h, (int64_t)w, (int64_t)c};
  ft_tensor *tmp = NULL;
  if (ft_tensor_new(&tmp, FT_UINT8, FT_CPU, 3, size)) {
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    return FT_ERR; /* message already set */
  }
  t = tmp;
  uint8_t *data = (uint8_t *)ft_data(tmp);
  for (png_uint_32 y = 0; y < h; y++) png_read_row(png, data + (size_t)y * w * c, NULL);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  fclose(f);
  *out = tmp;
  return FT_OK;
}
