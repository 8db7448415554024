/* Files the data tests write for themselves (PNG, JPEG, folders) in the binary's temporary
 * folder, and test patterns; shared by tests/unit/test_data*.c. */
#ifndef LBBT_TEST_DATA_FILES_H
#define LBBT_TEST_DATA_FILES_H
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <jpeglib.h>
#include <png.h>

#include "test.h"

static inline int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}
/* Delete this binary's temporary folder and everything written into it. */
static inline void remove_tmpdir(void) { nftw(test_tmpdir(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static inline const char *tmp_path(const char *rel) {
  /* a ring of buffers, so a few results can be used together; copy one to keep it */
  static char buf[16][512];
  static int slot;
  char *p = buf[slot++ % 16];
  snprintf(p, 512, "%s/%s", test_tmpdir(), rel);
  return p;
}

static inline void mkdirs(const char *path) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *s = tmp + 1; *s; s++)
    if (*s == '/') {
      *s = 0;
      mkdir(tmp, 0755);
      *s = '/';
    }
  mkdir(tmp, 0755);
}

static inline int write_bytes(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  size_t w = fwrite(data, 1, n, f);
  fclose(f);
  return w == n;
}

/* PNG of any colour type from rows of `channels` samples of depth bits. */
static inline int write_png(const char *path, int w, int h, int color_type, int depth,
                     const uint8_t *data, const png_color *palette, int n_palette) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    fclose(f);
    return 0;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, color_type, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (palette) png_set_PLTE(png, info, palette, n_palette);
  png_write_info(png, info);
  int channels = color_type == PNG_COLOR_TYPE_RGB ? 3 : color_type == PNG_COLOR_TYPE_RGBA ? 4
               : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2 : 1;
  size_t row_bytes = (size_t)w * channels * (depth == 16 ? 2 : 1);
  for (int y = 0; y < h; y++) png_write_row(png, data + y * row_bytes);
  png_write_end(png, NULL);
  png_destroy_write_struct(&png, &info);
  fclose(f);
  return 1;
}

/* JPEG, quality 100, 4:4:4 (no chroma subsampling); 4 components are CMYK (libjpeg then
 * writes an Adobe marker). */
static inline int write_jpeg(const char *path, int w, int h, int components, const uint8_t *data) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  jpeg_stdio_dest(&c, f);
  c.image_width = (JDIMENSION)w;
  c.image_height = (JDIMENSION)h;
  c.input_components = components;
  c.in_color_space = components == 4 ? JCS_CMYK : components == 3 ? JCS_RGB : JCS_GRAYSCALE;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 100, TRUE);
  for (int i = 0; i < c.num_components; i++) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = (JSAMPROW)(data + (size_t)c.next_scanline * w * components);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  fclose(f);
  return 1;
}

/* A smooth RGB test pattern [h, w, 3] (interleaved), different per `id`. */
static inline void pattern_rgb(uint8_t *hwc, int w, int h, int id) {
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      hwc[(y * w + x) * 3 + 0] = (uint8_t)(40 + 10 * x + 3 * id);
      hwc[(y * w + x) * 3 + 1] = (uint8_t)(60 + 12 * y + 5 * id);
      hwc[(y * w + x) * 3 + 2] = (uint8_t)(100 + 4 * x + 4 * y + 7 * id);
    }
}

/* Interleaved [h, w, 3] -> planes [3, h, w]. */
static inline void to_chw(const uint8_t *hwc, int w, int h, uint8_t *chw) {
  for (int p = 0; p < w * h; p++)
    for (int c = 0; c < 3; c++) chw[c * w * h + p] = hwc[p * 3 + c];
}

#endif
