/* JPEG (libjpeg-turbo) and PNG (libpng) decoding to RGB u8 [3, H, W], converting the way
 * PIL's convert("RGB") does: grey replicated, alpha dropped (not composited), palettes
 * expanded, 16-bit samples reduced to their high byte. */
#include <stdio.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

#include "data/data_internal.h"

/* ---- JPEG ------------------------------------------------------------------------------- */
typedef struct jpeg_failure {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  char msg[JMSG_LENGTH_MAX];
  int truncated; /* libjpeg only warns on a premature end; we refuse such files */
} jpeg_failure;

static void jpeg_on_error(j_common_ptr c) {
  jpeg_failure *f = (jpeg_failure *)c->err;
  c->err->format_message(c, f->msg);
  longjmp(f->jump, 1);
}

static void jpeg_on_message(j_common_ptr c, int level) {
  /* level < 0: a warning.  Corrupt-but-decodable files ("extraneous bytes before marker")
   * are common in ImageNet and decode fine; a missing end of file is not. */
  if (level < 0) {
    c->err->num_warnings++;
    if (c->err->msg_code == JWRN_JPEG_EOF) ((jpeg_failure *)c->err)->truncated = 1;
  }
}

/* Interleaved RGB [h, w, 3] into *out. */
static lbbt_status decode_jpeg(const char *path, const uint8_t *data, int64_t size,
                               int target_side, uint8_t **out, int *h, int *w) {
  struct jpeg_decompress_struct cinfo;
  jpeg_failure fail;
  uint8_t *volatile buf = NULL;
  memset(&cinfo, 0, sizeof cinfo);
  cinfo.err = jpeg_std_error(&fail.pub);
  fail.pub.error_exit = jpeg_on_error;
  fail.pub.emit_message = jpeg_on_message;
  fail.truncated = 0;
  if (setjmp(fail.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(buf);
    return lbbt_fail(LBBT_E_INPUT, "cannot decode JPEG '%s': %s", path, fail.msg);
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, (unsigned long)size);
  jpeg_read_header(&cinfo, TRUE);
  int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB; /* libjpeg-turbo expands grey to RGB */
  if (target_side > 0) {
    /* largest 1/d (d = 8, 4, 2) that keeps both sides >= target_side */
    unsigned d = 8;
    while (d > 1 && ((cinfo.image_width + d - 1) / d < (unsigned)target_side ||
                     (cinfo.image_height + d - 1) / d < (unsigned)target_side))
      d /= 2;
    cinfo.scale_num = 1;
    cinfo.scale_denom = d;
  }
  jpeg_start_decompress(&cinfo);
  int ow = (int)cinfo.output_width, oh = (int)cinfo.output_height;
  int nc = cinfo.output_components;
  buf = malloc((size_t)ow * oh * (size_t)nc);
  if (!buf) {
    jpeg_destroy_decompress(&cinfo);
    return lbbt_fail(LBBT_E_NOMEM, "out of memory decoding JPEG '%s' (%dx%d)", path, ow, oh);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = buf + (size_t)cinfo.output_scanline * ow * nc;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  int saw_adobe = cinfo.saw_Adobe_marker;
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  uint8_t *img = buf;
  if (fail.truncated) {
    free(img);
    return lbbt_fail(LBBT_E_INPUT, "JPEG '%s' is truncated (premature end of data)", path);
  }
  if (nc == 4) {
    /* CMYK -> RGB in place; Adobe files store inverted CMYK, so R = C*K/255 */
    for (size_t p = 0; p < (size_t)ow * oh; p++) {
      unsigned c = img[4 * p], m = img[4 * p + 1], y = img[4 * p + 2], k = img[4 * p + 3];
      if (!saw_adobe) c = 255 - c, m = 255 - m, y = 255 - y, k = 255 - k;
      img[3 * p] = (uint8_t)((c * k + 127) / 255);
      img[3 * p + 1] = (uint8_t)((m * k + 127) / 255);
      img[3 * p + 2] = (uint8_t)((y * k + 127) / 255);
    }
  } else if (nc != 3) {
    free(img);
    return lbbt_fail(LBBT_E_INPUT, "JPEG '%s': %d output components, expected 3", path, nc);
  }
  *out = img;
  *h = oh;
  *w = ow;
  return LBBT_OK;
}

/* ---- PNG -------------------------------------------------------------------------------- */
typedef struct png_source {
  const uint8_t *data;
  size_t size, pos;
  char msg[256];
} png_source;

static void png_on_error(png_structp png, png_const_charp msg) {
  png_source *src = png_get_error_ptr(png);
  snprintf(src->msg, sizeof src->msg, "%s", msg);
  png_longjmp(png, 1);
}
static void png_on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

static void png_read_memory(png_structp png, png_bytep out, size_t n) {
  png_source *src = png_get_io_ptr(png);
  if (n > src->size - src->pos) png_error(png, "file is truncated");
  memcpy(out, src->data + src->pos, n);
  src->pos += n;
}

static lbbt_status decode_png(const char *path, const uint8_t *data, int64_t size, uint8_t **out,
                              int *h, int *w) {
  png_source src = {data, (size_t)size, 0, ""};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error,
                                           png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    return lbbt_fail(LBBT_E_NOMEM, "out of memory decoding PNG '%s'", path);
  }
  uint8_t *volatile buf = NULL;
  png_bytep *volatile rows = NULL;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    free(buf);
    free(rows);
    return lbbt_fail(LBBT_E_INPUT, "cannot decode PNG '%s': %s", path, src.msg);
  }
  png_set_read_fn(png, &src, png_read_memory);
  png_read_info(png, info);
  int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16) png_set_strip_16(png);
  if (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int ow = (int)png_get_image_width(png, info), oh = (int)png_get_image_height(png, info);
  int nc = png_get_channels(png, info); /* 3, or 4 when alpha/tRNS survived */
  size_t rowbytes = png_get_rowbytes(png, info);
  if ((nc != 3 && nc != 4) || rowbytes != (size_t)ow * nc) png_error(png, "unexpected pixel layout");
  buf = malloc(rowbytes * (size_t)oh);
  rows = malloc(sizeof(png_bytep) * (size_t)oh);
  if (!buf || !rows) png_error(png, "out of memory");
  for (int y = 0; y < oh; y++) rows[y] = buf + (size_t)y * rowbytes;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  uint8_t *img = buf;
  free(rows);
  if (nc == 4) /* drop alpha in place */
    for (size_t p = 0; p < (size_t)ow * oh; p++) memmove(img + 3 * p, img + 4 * p, 3);
  *out = img;
  *h = oh;
  *w = ow;
  return LBBT_OK;
}

/* Index PNG (segmentation masks): the stored sample values, not colours: 8-bit grey, or a
 * palette of at most 8 bits whose indices are kept (palette colours ignored). */
lbbt_status lbbt_png_decode_index(const char *path, uint8_t **out, int *h, int *w) {
  *out = NULL;
  uint8_t *file = NULL;
  int64_t size;
  LBBT_TRY(lbbt_read_file(path, &file, &size));
  static const uint8_t PNG_MAGIC[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size < 8 || memcmp(file, PNG_MAGIC, 8) != 0) {
    free(file);
    return lbbt_fail(LBBT_E_INPUT, "mask '%s' is not a PNG file (%lld bytes)", path, (long long)size);
  }
  png_source src = {file, (size_t)size, 0, ""};
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_read_struct(&png, NULL, NULL);
    free(file);
    return lbbt_fail(LBBT_E_NOMEM, "out of memory decoding PNG '%s'", path);
  }
  uint8_t *volatile buf = NULL;
  png_bytep *volatile rows = NULL;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    free(buf);
    free(rows);
    free(file);
    return lbbt_fail(LBBT_E_INPUT, "cannot decode mask PNG '%s': %s", path, src.msg);
  }
  png_set_read_fn(png, &src, png_read_memory);
  png_read_info(png, info);
  int color = png_get_color_type(png, info), depth = png_get_bit_depth(png, info);
  if (!((color == PNG_COLOR_TYPE_GRAY && depth == 8) || (color == PNG_COLOR_TYPE_PALETTE && depth <= 8))) {
    snprintf(src.msg, sizeof src.msg, "colour type %d, %d bits: a mask must be an 8-bit grey or palette PNG of "
             "class indices", color, depth);
    png_longjmp(png, 1);
  }
  if (depth < 8) png_set_packing(png); /* one index per byte */
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
  int ow = (int)png_get_image_width(png, info), oh = (int)png_get_image_height(png, info);
  if (png_get_rowbytes(png, info) != (size_t)ow) png_error(png, "unexpected pixel layout");
  buf = malloc((size_t)ow * (size_t)oh);
  rows = malloc(sizeof(png_bytep) * (size_t)oh);
  if (!buf || !rows) png_error(png, "out of memory");
  for (int y = 0; y < oh; y++) rows[y] = buf + (size_t)y * ow;
  png_read_image(png, rows);
  png_read_end(png, NULL);
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  free(file);
  *out = buf;
  *h = oh;
  *w = ow;
  return LBBT_OK;
}

/* ---- common ------------------------------------------------------------------------------ */
lbbt_status lbbt_image_decode_rgb(const char *path, int target_side, uint8_t **out, int *h,
                                  int *w) {
  *out = NULL;
  uint8_t *file = NULL, *hwc = NULL, *chw = NULL;
  int64_t size;
  int ih = 0, iw = 0;
  LBBT_TRY(lbbt_read_file(path, &file, &size));
  lbbt_status st;
  static const uint8_t PNG_MAGIC[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (size >= 3 && file[0] == 0xff && file[1] == 0xd8 && file[2] == 0xff)
    st = decode_jpeg(path, file, size, target_side, &hwc, &ih, &iw);
  else if (size >= 8 && memcmp(file, PNG_MAGIC, 8) == 0)
    st = decode_png(path, file, size, &hwc, &ih, &iw);
  else
    st = lbbt_fail(LBBT_E_INPUT, "'%s' is neither a JPEG nor a PNG file (%lld bytes, magic bytes "
                   "do not match)", path, (long long)size);
  free(file);
  if (st != LBBT_OK) return st;
  size_t plane = (size_t)ih * iw;
  chw = malloc(3 * plane);
  if (!chw) {
    free(hwc);
    return lbbt_fail(LBBT_E_NOMEM, "out of memory for image '%s' (%dx%d)", path, ih, iw);
  }
  for (size_t p = 0; p < plane; p++)
    for (int c = 0; c < 3; c++) chw[c * plane + p] = hwc[3 * p + c];
  free(hwc);
  if (target_side > 0 && (ih != target_side || iw != target_side)) {
    uint8_t *resized = malloc(3 * (size_t)target_side * target_side);
    if (!resized) {
      free(chw);
      return lbbt_fail(LBBT_E_NOMEM, "out of memory resizing image '%s'", path);
    }
    lbbt_resize_bilinear_u8(chw, 3, ih, iw, resized, target_side, target_side);
    free(chw);
    chw = resized;
    ih = iw = target_side;
  }
  *out = chw;
  *h = ih;
  *w = iw;
  return LBBT_OK;
}
