/* PNG index masks (lbbt/png_mask.h): the writer (libpng, 8-bit grey, atomic replace) and the
 * public face of the index decoder the mask datasets use (image.c). */
#include "lbbt/png_mask.h"

#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic_file.h"
#include "data/data_internal.h"

typedef struct png_sink {
  char msg[200];
} png_sink;

static void on_error(png_structp png, png_const_charp msg) {
  png_sink *s = png_get_error_ptr(png);
  snprintf(s->msg, sizeof s->msg, "%s", msg);
  png_longjmp(png, 1);
}
static void on_warning(png_structp png, png_const_charp msg) { (void)png, (void)msg; }

/* The PNG itself into the open file f; LBBT_OK or a message in sink->msg. */
static lbbt_status encode(FILE *f, const uint8_t *mask, int h, int w, png_sink *sink) {
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, sink, on_error, on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!info) {
    png_destroy_write_struct(&png, NULL);
    snprintf(sink->msg, sizeof sink->msg, "out of memory");
    return LBBT_E_NOMEM;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return LBBT_E_IO;
  }
  png_init_io(png, f);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(mask + (size_t)y * (size_t)w));
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return LBBT_OK;
}

lbbt_status lbbt_png_mask_write(const char *path, const uint8_t *mask, int h, int w) {
  if (h < 1 || w < 1 || h > (1 << 20) || w > (1 << 20))
    return lbbt_fail(LBBT_E_INPUT, "mask PNG '%s': size %d x %d out of range", path, h, w);
  char tmp[4096];
  LBBT_TRY(atomic_tmp_name(path, tmp, sizeof tmp));
  FILE *f = fopen(tmp, "wb");
  if (!f) return lbbt_fail(LBBT_E_IO, "cannot create mask PNG '%s': %s", path, strerror(errno));
  png_sink sink = {""};
  lbbt_status st = encode(f, mask, h, w, &sink);
  if (fclose(f) != 0 && st == LBBT_OK) {
    st = LBBT_E_IO;
    snprintf(sink.msg, sizeof sink.msg, "%s", strerror(errno));
  }
  if (st != LBBT_OK) {
    remove(tmp);
    return lbbt_fail(st, "cannot write mask PNG '%s': %s", path, sink.msg);
  }
  return atomic_publish(tmp, path);
}

lbbt_status lbbt_png_mask_read(const char *path, uint8_t **out, int *h, int *w) {
  return lbbt_png_decode_index(path, out, h, w);
}
