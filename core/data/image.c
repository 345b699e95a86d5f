/* data/image.c -- image folders: directory listing, PNG/JPEG decoding (libpng,
 * libjpeg-turbo), and fb.resnet.torch's ImageNet transforms.
 *
 * Decoding tells PNG from JPEG by content, not by extension (fb.resnet.torch met JPEGs
 * named .png too); anything else is an error naming the file. libpng and libjpeg report
 * errors by long-jumping: the jumps land inside this file (setjmp here, before any library
 * call), so no longjmp ever crosses the FFI boundary.
 *
 * Transforms (fb.resnet.torch datasets/transforms.lua, datasets/imagenet.lua), on float
 * images in [0,1]:
 *   train: RandomSizedCrop(size) -> ColorJitter(brightness, contrast, saturation, random
 *          order) -> Lighting(PCA noise) -> ColorNormalize(mean, std) -> HorizontalFlip(p)
 *   eval:  Scale(scale) -> ColorNormalize -> CenterCrop(size)
 * Resizing is Torch's image.scale 'bicubic' (separable Catmull-Rom, end points aligned,
 * rows first), so sizes and values follow the original. Randomness comes from the
 * caller's generator, in the order the original draws it. */
#include "internal.h"
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <jpeglib.h>
#include <jerror.h>

enum { MAX_SIDE = 1 << 15 };

/* ---- directory listing ----------------------------------------------------------- */

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int ft_data_list_dir(const char *path, char *buf, int64_t cap, int64_t *needed, int64_t *count) {
  const char *fn = "ft_data_list_dir";
  if (!path || !needed || !count) return ft_fail("%s: path, needed or count is NULL", fn);
  if (cap > 0 && !buf) return ft_fail("%s: buf is NULL with cap %lld", fn, (long long)cap);
  DIR *d = opendir(path);
  if (!d) return ft_fail("%s: cannot open directory %s: %s", fn, path, strerror(errno));
  char **names = NULL;
  size_t n = 0, alloc = 0;
  int rc = FT_OK;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    if (n == alloc) {
      alloc = alloc ? 2 * alloc : 64;
      char **grown = realloc(names, alloc * sizeof *names);
      if (!grown) { rc = ft_fail("%s: out of memory listing %s", fn, path); break; }
      names = grown;
    }
    if (!(names[n] = strdup(e->d_name))) { rc = ft_fail("%s: out of memory listing %s", fn, path); break; }
    n++;
  }
  closedir(d);
  if (rc == FT_OK && n > 1) qsort(names, n, sizeof *names, cmp_names);
  int64_t used = 0;
  size_t plen = strlen(path);
  for (size_t i = 0; i < n && rc == FT_OK; i++) {
    size_t len = strlen(names[i]);
    char kind = '?';
    char *full = malloc(plen + len + 2);
    struct stat st;
    if (!full) { rc = ft_fail("%s: out of memory", fn); break; }
    sprintf(full, "%s/%s", path, names[i]);
    if (stat(full, &st) == 0) kind = S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' : '?';
    free(full);
    if (used + (int64_t)len + 2 <= cap) {
      buf[used] = kind;
      memcpy(buf + used + 1, names[i], len + 1);
    }
    used += (int64_t)len + 2;
  }
  for (size_t i = 0; i < n; i++) free(names[i]);
  free(names);
  if (rc) return rc;
  *needed = used;
  *count = (int64_t)n;
  return FT_OK;
}

/* ---- decoding --------------------------------------------------------------------- */

typedef struct { jmp_buf jb; char msg[200]; } png_err_t;

static void png_error_fn(png_structp png, png_const_charp msg) {
  png_err_t *e = png_get_error_ptr(png);
  snprintf(e->msg, sizeof e->msg, "%s", msg);
  longjmp(e->jb, 1);
}
static void png_warning_fn(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

/* Bytes in f (0 when unknown), for the "too small for its declared size" checks. */
static int64_t file_bytes(FILE *f) {
  struct stat st;
  return fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) ? (int64_t)st.st_size : 0;
}

/* Deflate codes at best 258 bytes in 2 bits (1032:1): a PNG whose file cannot hold its
 * declared rows even at that ratio is truncated or a bomb, refused before decoding. */
int ft_png_too_small(int64_t file_size, int64_t rowbytes, int64_t h) {
  return file_size > 0 && rowbytes > 0 && h > 0 && rowbytes * h / 1032 > file_size;
}

/* RGB interleaved (HWC) into *out (malloc'ed) unless header_only. */
static int decode_png(const char *fn, FILE *f, const char *path, int header_only, int *pw, int *ph,
                      uint8_t **out) {
  png_err_t err = {.msg = ""};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &err, png_error_fn, png_warning_fn);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  uint8_t *volatile buf = NULL;
  png_bytep *volatile rows = NULL;
  if (!png || !info) {
    png_destroy_read_struct(&png, &info, NULL);
    return ft_fail("%s: %s: out of memory", fn, path);
  }
  if (setjmp(err.jb)) {
    png_destroy_read_struct(&png, &info, NULL);
    free(buf);
    free(rows);
    return ft_fail("%s: %s: corrupt or truncated PNG (libpng: %s)", fn, path, err.msg);
  }
  png_init_io(png, f);
  png_read_info(png, info);
  long w = (long)png_get_image_width(png, info), h = (long)png_get_image_height(png, info);
  int rc = ft_image_size_ok(fn, path, "PNG", w, h);
  if (!rc && !header_only && ft_png_too_small(file_bytes(f), (int64_t)png_get_rowbytes(png, info), h))
    rc = ft_fail("%s: %s: a PNG of %ldx%ld pixels cannot fit in %lld bytes (truncated or a "
                 "decompression bomb)", fn, path, w, h, (long long)file_bytes(f));
  if (rc || header_only) {
    png_destroy_read_struct(&png, &info, NULL);
    *pw = (int)w;
    *ph = (int)h;
    return rc;
  }
  png_set_expand(png);       /* palette -> RGB, grey < 8 bits -> 8, tRNS -> alpha */
  png_set_strip_16(png);
  png_set_strip_alpha(png);  /* as Torch's image.load(path, 3): alpha is dropped */
  png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != (size_t)w * 3) {
    png_destroy_read_struct(&png, &info, NULL);
    return ft_fail("%s: %s: unsupported PNG pixel layout", fn, path);
  }
  buf = malloc((size_t)w * h * 3);
  rows = malloc((size_t)h * sizeof *rows);
  if (!buf || !rows) png_error(png, "out of memory");
  for (long y = 0; y < h; y++) rows[y] = buf + (size_t)y * w * 3;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  *pw = (int)w;
  *ph = (int)h;
  *out = buf;
  return FT_OK;
}

typedef struct { struct jpeg_error_mgr pub; jmp_buf jb; int in_data; volatile int early_end; } jpeg_err_t;

static void jpeg_error_exit_fn(j_common_ptr c) { longjmp(((jpeg_err_t *)c->err)->jb, 1); }
static void jpeg_emit_fn(j_common_ptr c, int level) {
  /* Warnings are tolerated (ImageNet has a few odd files), except data that ends early:
   * libjpeg would go on filling the image with gray, so a few hundred bytes declaring a
   * huge image would decode "fine". Stop at once instead. (In the headers, libjpeg
   * fails by itself, with a better message.) */
  jpeg_err_t *e = (jpeg_err_t *)c->err;
  if (level < 0 && e->in_data && (c->err->msg_code == JWRN_JPEG_EOF || c->err->msg_code == JWRN_HIT_MARKER)) {
    ((jpeg_err_t *)c->err)->early_end = 1;
    longjmp(((jpeg_err_t *)c->err)->jb, 1);
  }
}

/* A sequential Huffman-coded JPEG spends at least 2 bits on every 8x8 block of every
 * component (a DC code and an end-of-block code): one smaller than that cannot hold its
 * declared image. Progressive and arithmetic coding can go lower and are not judged. */
static int jpeg_too_small(const struct jpeg_decompress_struct *ci, int64_t file_size) {
  if (file_size <= 0 || ci->progressive_mode || ci->arith_code) return 0;
  int64_t blocks = 0;
  for (int i = 0; i < ci->num_components; i++)
    blocks += (int64_t)ci->comp_info[i].width_in_blocks * ci->comp_info[i].height_in_blocks;
  return blocks / 4 > file_size;
}
static void jpeg_output_fn(j_common_ptr c) { (void)c; }

static int decode_jpeg(const char *fn, FILE *f, const char *path, int header_only, int *pw, int *ph,
                       uint8_t **out) {
  struct jpeg_decompress_struct ci;
  jpeg_err_t err;
  uint8_t *volatile buf = NULL;
  uint8_t *volatile line = NULL;
  ci.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_error_exit_fn;
  err.pub.emit_message = jpeg_emit_fn;
  err.pub.output_message = jpeg_output_fn;
  err.early_end = 0;
  err.in_data = 0;
  if (setjmp(err.jb)) {
    char msg[JMSG_LENGTH_MAX];
    (*ci.err->format_message)((j_common_ptr)&ci, msg);
    jpeg_destroy_decompress(&ci);
    free(buf);
    free(line);
    if (err.early_end) return ft_fail("%s: %s: truncated JPEG (the data ends early)", fn, path);
    return ft_fail("%s: %s: corrupt JPEG (libjpeg: %s)", fn, path, msg);
  }
  jpeg_create_decompress(&ci);
  jpeg_stdio_src(&ci, f);
  jpeg_read_header(&ci, TRUE);
  err.in_data = 1;
  long w = (long)ci.image_width, h = (long)ci.image_height;
  int rc = ft_image_size_ok(fn, path, "JPEG", w, h);
  if (!rc && !header_only && jpeg_too_small(&ci, file_bytes(f)))
    rc = ft_fail("%s: %s: a JPEG of %ldx%ld pixels cannot fit in %lld bytes (truncated or a "
                 "decompression bomb)", fn, path, w, h, (long long)file_bytes(f));
  if (rc || header_only) {
    jpeg_destroy_decompress(&ci);
    *pw = (int)w;
    *ph = (int)h;
    return rc;
  }
  int cmyk = ci.jpeg_color_space == JCS_CMYK || ci.jpeg_color_space == JCS_YCCK;
  ci.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&ci);
  int comps = ci.output_components;
  buf = malloc((size_t)w * h * 3);
  line = malloc((size_t)w * comps);
  if (!buf || !line) ERREXIT(&ci, JERR_OUT_OF_MEMORY);
  while (ci.output_scanline < ci.output_height) {
    uint8_t *dst = buf + (size_t)ci.output_scanline * w * 3;
    JSAMPROW row = line;
    jpeg_read_scanlines(&ci, &row, 1);
    for (long x = 0; x < w; x++) {
      if (cmyk) { /* Adobe's inverted CMYK, as most decoders read it */
        unsigned k = line[4 * x + 3];
        for (int c = 0; c < 3; c++) dst[3 * x + c] = (uint8_t)((line[4 * x + c] * k + 127) / 255);
      } else {
        for (int c = 0; c < 3; c++) dst[3 * x + c] = line[comps == 3 ? 3 * x + c : x];
      }
    }
  }
  jpeg_finish_decompress(&ci);
  jpeg_destroy_decompress(&ci);
  free(line);
  *pw = (int)w;
  *ph = (int)h;
  *out = buf;
  return FT_OK;
}

static int decode_file(const char *fn, const char *path, int header_only, int *w, int *h, uint8_t **rgb) {
  unsigned char sig[8];
  if (!path) return ft_fail("%s: path is NULL", fn);
  FILE *f = fopen(path, "rb");
  if (!f) return ft_fail("%s: cannot open %s: %s", fn, path, strerror(errno));
  size_t got = fread(sig, 1, 8, f);
  rewind(f);
  int rc;
  if (got == 0) rc = ft_fail("%s: %s is empty", fn, path);
  else if (got == 8 && !png_sig_cmp(sig, 0, 8)) rc = decode_png(fn, f, path, header_only, w, h, rgb);
  else if (got >= 3 && sig[0] == 0xFF && sig[1] == 0xD8 && sig[2] == 0xFF)
    rc = decode_jpeg(fn, f, path, header_only, w, h, rgb);
  else
    rc = ft_fail("%s: %s is neither a PNG nor a JPEG file (it starts with bytes %02x %02x %02x %02x)",
                 fn, path, sig[0], got > 1 ? sig[1] : 0, got > 2 ? sig[2] : 0, got > 3 ? sig[3] : 0);
  fclose(f);
  return rc;
}

int ft_data_image_probe(const char *path, int64_t *width, int64_t *height) {
  int w = 0, h = 0;
  if (!width || !height) return ft_fail("ft_data_image_probe: width or height is NULL");
  FT_TRY(decode_file("ft_data_image_probe", path, 1, &w, &h, NULL));
  *width = w;
  *height = h;
  return FT_OK;
}

int ft_data_image_decode(const char *path, ft_tensor **out) {
  const char *fn = "ft_data_image_decode";
  int w, h;
  uint8_t *rgb = NULL;
  if (!out) return ft_fail("%s: out is NULL", fn);
  *out = NULL;
  FT_TRY(decode_file(fn, path, 0, &w, &h, &rgb));
  int64_t size[3] = {3, h, w};
  if (ft_tensor_new(out, FT_UINT8, FT_CPU, 3, size)) { free(rgb); return FT_ERR; }
  uint8_t *p = ft_data(*out);
  for (int64_t i = 0; i < (int64_t)w * h; i++)
    for (int c = 0; c < 3; c++) p[c * (int64_t)w * h + i] = rgb[3 * i + c];
  free(rgb);
  return FT_OK;
}

/* ---- writing (tests, tools) -------------------------------------------------------- */

int ft_data_image_write_jpeg(const char *path, const ft_tensor *image, int quality) {
  const char *fn = "ft_data_image_write_jpeg";
  char b[64];
  if (!path) return ft_fail("%s: path is NULL", fn);
  FT_TRY(ft_check_tensor(fn, "image", image));
  FT_TRY(ft_check_cpu(fn, "image", image));
  FT_TRY(ft_check_dtype(fn, "image", image, FT_UINT8));
  FT_TRY(ft_check_contiguous(fn, "image", image));
  if (image->ndim != 3 || image->size[0] != 3 || image->size[1] < 1 || image->size[2] < 1)
    return ft_fail("%s: image must be 3xHxW (got %s)", fn, ft_shape_str(image, b, sizeof b));
  if (quality < 1 || quality > 100) return ft_fail("%s: quality must be 1..100, got %d", fn, quality);
  int64_t h = image->size[1], w = image->size[2];
  const uint8_t *src = ft_data(image);
  FILE *f = fopen(path, "wb");
  if (!f) return ft_fail("%s: cannot create %s: %s", fn, path, strerror(errno));
  struct jpeg_compress_struct ci;
  jpeg_err_t err;
  uint8_t *volatile line = malloc((size_t)w * 3);
  ci.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = jpeg_error_exit_fn;
  err.pub.output_message = jpeg_output_fn;
  if (!line) { fclose(f); return ft_fail("%s: out of memory", fn); }
  if (setjmp(err.jb)) {
    char msg[JMSG_LENGTH_MAX];
    (*ci.err->format_message)((j_common_ptr)&ci, msg);
    jpeg_destroy_compress(&ci);
    fclose(f);
    free(line);
    return ft_fail("%s: %s: libjpeg: %s", fn, path, msg);
  }
  jpeg_create_compress(&ci);
  jpeg_stdio_dest(&ci, f);
  ci.image_width = (JDIMENSION)w;
  ci.image_height = (JDIMENSION)h;
  ci.input_components = 3;
  ci.in_color_space = JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, quality, TRUE);
  jpeg_start_compress(&ci, TRUE);
  for (int64_t y = 0; y < h; y++) {
    for (int64_t x = 0; x < w; x++)
      for (int c = 0; c < 3; c++) line[3 * x + c] = src[(c * h + y) * w + x];
    JSAMPROW row = line;
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  free(line);
  if (fclose(f)) return ft_fail("%s: cannot write %s: %s", fn, path, strerror(errno));
  return FT_OK;
}

/* ---- transforms --------------------------------------------------------------------- */

typedef struct { int c, h, w; float *p; } fimg;   /* planar float [c][h][w] */

static int fimg_new(fimg *im, int h, int w) {
  im->c = 3; im->h = h; im->w = w;
  im->p = malloc((size_t)3 * h * w * sizeof(float));
  return im->p ? FT_OK : ft_fail("ft_data_image_sample: out of memory");
}

static inline float cubic(float p0, float p1, float p2, float p3, float x) {
  float a0 = p1, a1 = p2 - p0, a2 = 2 * p0 - 5 * p1 + 4 * p2 - p3, a3 = 3 * (p1 - p2) + p3 - p0;
  return a0 + 0.5f * x * (a1 + x * (a2 + x * a3));
}

/* Torch image.c scaleCubic_rowcol: one row or column, end points aligned. */
static void scale_line(const float *src, long ss, long sn, float *dst, long ds, long dn) {
  if (dn == sn) { for (long i = 0; i < dn; i++) dst[i * ds] = src[i * ss]; return; }
  if (sn == 1) { for (long i = 0; i < dn; i++) dst[i * ds] = src[0]; return; }
  float scale = dn == 1 ? (float)(sn - 1) : (float)(sn - 1) / (float)(dn - 1);
  for (long di = 0; di < dn - 1; di++) {
    float sf = di * scale;
    long si = (long)sf;
    sf -= si;
    float p1 = src[si * ss], p2 = src[(si + 1) * ss];
    float p0 = si > 0 ? src[(si - 1) * ss] : 2 * p1 - p2;
    float p3 = si + 2 < sn ? src[(si + 2) * ss] : 2 * p2 - p1;
    dst[di * ds] = cubic(p0, p1, p2, p3, sf);
  }
  dst[(dn - 1) * ds] = src[(sn - 1) * ss];
}

/* dst (dh x dw, allocated here) = bicubic resize of the window (x0,y0,cw,ch) of src. */
static int resize(const fimg *src, int x0, int y0, int cw, int ch, fimg *dst, int dw, int dh) {
  FT_TRY(fimg_new(dst, dh, dw));
  float *tmp = malloc((size_t)ch * dw * sizeof(float));
  if (!tmp) { free(dst->p); return ft_fail("ft_data_image_sample: out of memory"); }
  for (int c = 0; c < 3; c++) {
    const float *s = src->p + ((size_t)c * src->h + y0) * src->w + x0;
    for (int y = 0; y < ch; y++) scale_line(s + (size_t)y * src->w, 1, cw, tmp + (size_t)y * dw, 1, dw);
    float *d = dst->p + (size_t)c * dh * dw;
    for (int x = 0; x < dw; x++) scale_line(tmp + x, dw, ch, d + x, dw, dh);
  }
  free(tmp);
  return FT_OK;
}

/* Scale(size): the shorter side becomes size (Torch truncates the other side). */
static int scale_short(fimg *im, int size) {
  int w = im->w, h = im->h;
  if ((w <= h && w == size) || (h <= w && h == size)) return FT_OK;
  double dw = w < h ? size : (double)w / h * size, dh = w < h ? (double)h / w * size : size;
  /* a thin image scaled up would need a huge buffer (and an int overflow): the pixel limit */
  if (!(dw >= 1 && dh >= 1) || dw * dh > (double)ft_get_max_image_pixels())
    return ft_fail("ft_data_image_sample: cannot scale %dx%d to %d (%.0fx%.0f pixels; the limit is %lld)",
                   w, h, size, dw, dh, (long long)ft_get_max_image_pixels());
  int nw = (int)dw, nh = (int)dh;
  fimg out;
  FT_TRY(resize(im, 0, 0, w, h, &out, nw, nh));
  free(im->p);
  *im = out;
  return FT_OK;
}

static void crop_into(const fimg *im, int x0, int y0, int size, float *out) {
  for (int c = 0; c < 3; c++)
    for (int y = 0; y < size; y++)
      memcpy(out + ((size_t)c * size + y) * size, im->p + ((size_t)c * im->h + y0 + y) * im->w + x0,
             (size_t)size * sizeof(float));
}

static double uni(ft_generator *g, double a, double b) { return a + (b - a) * ft_generator_uniform(g); }

static void grey(const float *p, size_t n, float *gs) {
  for (size_t i = 0; i < n; i++) gs[i] = 0.299f * p[i] + 0.587f * p[n + i] + 0.114f * p[2 * n + i];
}

/* ColorJitter in a random order (torch.randperm(3) over the enabled transforms). */
static int jitter(float *p, size_t n, const ft_image_transform *tf, ft_generator *g) {
  double var[3] = {tf->brightness, tf->contrast, tf->saturation};
  int kinds[3], nk = 0;
  for (int k = 0; k < 3; k++) if (var[k] != 0) kinds[nk++] = k;
  if (!nk) return FT_OK;
  for (int i = 0; i < nk - 1; i++) { /* THTensor randperm's swap order */
    int z = i + (int)(ft_generator_next_u32(g) % (uint32_t)(nk - i)), t = kinds[i];
    kinds[i] = kinds[z];
    kinds[z] = t;
  }
  float *gs = malloc(n * sizeof(float));
  if (!gs) return ft_fail("ft_data_image_sample: out of memory");
  for (int i = 0; i < nk; i++) {
    int k = kinds[i];
    float alpha = (float)(1.0 + uni(g, -var[k], var[k]));
    if (k == 0) { for (size_t j = 0; j < 3 * n; j++) p[j] *= alpha; continue; }
    grey(p, n, gs);
    if (k == 1) { /* contrast: blend with the mean grey level */
      double m = 0;
      for (size_t j = 0; j < n; j++) m += gs[j];
      float mf = (float)(m / (double)n);
      for (size_t j = 0; j < 3 * n; j++) p[j] = p[j] * alpha + mf * (1 - alpha);
    } else {      /* saturation: blend with the grey image */
      for (int c = 0; c < 3; c++)
        for (size_t j = 0; j < n; j++) p[c * n + j] = p[c * n + j] * alpha + gs[j] * (1 - alpha);
    }
  }
  free(gs);
  return FT_OK;
}

static void lighting(float *p, size_t n, const ft_image_transform *tf, ft_generator *g) {
  double alpha[3];
  for (int j = 0; j < 3; j++) { /* Box-Muller, one pair of uniforms per value */
    double u1 = ft_generator_uniform(g), u2 = ft_generator_uniform(g);
    alpha[j] = tf->lighting * sqrt(-2.0 * log(1.0 - u1)) * cos(2 * M_PI * u2);
  }
  for (int c = 0; c < 3; c++) {
    double v = 0;
    for (int j = 0; j < 3; j++) v += tf->eigvec[3 * c + j] * alpha[j] * tf->eigval[j];
    for (size_t i = 0; i < n; i++) p[c * n + i] += (float)v;
  }
}

static int check_transform(const char *fn, const ft_image_transform *tf) {
  if (!tf) return ft_fail("%s: transform is NULL", fn);
  if (tf->size < 1 || tf->size > MAX_SIDE) return ft_fail("%s: transform size must be >= 1, got %d", fn, tf->size);
  if (tf->scale > MAX_SIDE) return ft_fail("%s: transform scale must be <= %d, got %d", fn, MAX_SIDE, tf->scale);
  if (tf->scale < tf->size) return ft_fail("%s: transform scale (%d) must be >= size (%d)", fn, tf->scale, tf->size);
  if (!(tf->min_area > 0 && tf->min_area <= 1)) return ft_fail("%s: min_area must be in (0, 1], got %g", fn, tf->min_area);
  for (int c = 0; c < 3; c++)
    if (!(tf->std[c] > 0)) return ft_fail("%s: std[%d] must be > 0, got %g", fn, c, tf->std[c]);
  return FT_OK;
}

/* out: float32 [3,size,size]. train: the augmenting transform, randomness from g. */
int ft_data_image_sample(const char *path, const ft_image_transform *tf, int train, ft_generator *g,
                         ft_tensor *out) {
  const char *fn = "ft_data_image_sample";
  char b[64];
  FT_TRY(check_transform(fn, tf));
  if (train && !g) return ft_fail("%s: generator is NULL", fn);
  FT_TRY(ft_check_tensor(fn, "out", out));
  FT_TRY(ft_check_cpu(fn, "out", out));
  FT_TRY(ft_check_dtype(fn, "out", out, FT_FLOAT32));
  FT_TRY(ft_check_contiguous(fn, "out", out));
  int S = tf->size;
  if (out->ndim != 3 || out->size[0] != 3 || out->size[1] != S || out->size[2] != S)
    return ft_fail("%s: out must be 3x%dx%d (got %s)", fn, S, S, ft_shape_str(out, b, sizeof b));
  int w, h;
  uint8_t *rgb = NULL;
  FT_TRY(decode_file(fn, path, 0, &w, &h, &rgb));
  fimg im;
  if (fimg_new(&im, h, w)) { free(rgb); return FT_ERR; }
  size_t n = (size_t)w * h;
  for (size_t i = 0; i < n; i++)
    for (int c = 0; c < 3; c++) im.p[c * n + i] = rgb[3 * i + c] / 255.0f;
  free(rgb);
  float *dst = ft_data(out);
  size_t m = (size_t)S * S;
  int rc = FT_OK;
  if (train) {
    int done = 0;
    for (int attempt = 0; attempt < 10 && !done && rc == FT_OK; attempt++) {
      double area = (double)h * w, target = uni(g, tf->min_area, 1.0) * area;
      double ratio = uni(g, 3.0 / 4, 4.0 / 3);
      /* fb.resnet.torch rounds sqrt(area) * ratio, not sqrt(area * ratio): kept as is */
      int cw = (int)floor(sqrt(target) * ratio + 0.5), ch = (int)floor(sqrt(target) / ratio + 0.5);
      if (ft_generator_uniform(g) < 0.5) { int t = cw; cw = ch; ch = t; }
      if (ch <= h && cw <= w && ch >= 1 && cw >= 1) {
        int y1 = (int)floor(uni(g, 0, h - ch + 0.99)), x1 = (int)floor(uni(g, 0, w - cw + 0.99));
        fimg out_im;
        rc = resize(&im, x1, y1, cw, ch, &out_im, S, S);
        if (rc == FT_OK) { memcpy(dst, out_im.p, 3 * m * sizeof(float)); free(out_im.p); }
        done = 1;
      }
    }
    if (!done && rc == FT_OK) { /* fallback: Scale(size) then CenterCrop(size) */
      rc = scale_short(&im, S);
      if (rc == FT_OK) crop_into(&im, (int)ceil((im.w - S) / 2.0), (int)ceil((im.h - S) / 2.0), S, dst);
    }
    if (rc == FT_OK) rc = jitter(dst, m, tf, g);
    if (rc == FT_OK && tf->lighting != 0) lighting(dst, m, tf, g);
  } else {
    rc = scale_short(&im, tf->scale);
    if (rc == FT_OK && (im.w < S || im.h < S))
      rc = ft_fail("%s: %s: %dx%d after scaling is smaller than the crop %d", fn, path, im.w, im.h, S);
    if (rc == FT_OK) crop_into(&im, (int)ceil((im.w - S) / 2.0), (int)ceil((im.h - S) / 2.0), S, dst);
  }
  free(im.p);
  if (rc) return rc;
  for (int c = 0; c < 3; c++)
    for (size_t i = 0; i < m; i++) dst[c * m + i] = (dst[c * m + i] - tf->mean[c]) / tf->std[c];
  if (train && ft_generator_uniform(g) < tf->flip)
    for (int c = 0; c < 3; c++)
      for (int y = 0; y < S; y++) {
        float *r = dst + c * m + (size_t)y * S;
        for (int x = 0; x < S / 2; x++) { float t = r[x]; r[x] = r[S - 1 - x]; r[S - 1 - x] = t; }
      }
  return FT_OK;
}
