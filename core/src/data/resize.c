/* Bilinear resizing of u8 images (half-pixel centres, as PyTorch's
 * interpolate(mode="bilinear", align_corners=False) without antialiasing). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

/* Source coordinate of destination sample d: lower neighbour, upper neighbour, weight. */
static inline void source_coord(int d, int s_len, int d_len, int *lo, int *hi, float *w) {
  float s = ((float)d + 0.5f) * ((float)s_len / (float)d_len) - 0.5f;
  if (s < 0) s = 0;
  int i = (int)s;
  if (i > s_len - 1) i = s_len - 1;
  *lo = i;
  *hi = i + 1 < s_len ? i + 1 : s_len - 1;
  *w = s - (float)i;
}

void lbbt_resize_bilinear_u8(const uint8_t *src, int channels, int sh, int sw, uint8_t *dst,
                             int dh, int dw) {
  if (sh == dh && sw == dw) {
    memcpy(dst, src, (size_t)channels * sh * sw);
    return;
  }
  for (int c = 0; c < channels; c++) {
    const uint8_t *s = src + (size_t)c * sh * sw;
    uint8_t *d = dst + (size_t)c * dh * dw;
    for (int y = 0; y < dh; y++) {
      int y0, y1;
      float wy;
      source_coord(y, sh, dh, &y0, &y1, &wy);
      const uint8_t *r0 = s + (size_t)y0 * sw, *r1 = s + (size_t)y1 * sw;
      for (int x = 0; x < dw; x++) {
        int x0, x1;
        float wx;
        source_coord(x, sw, dw, &x0, &x1, &wx);
        float top = (float)r0[x0] + wx * (float)(r0[x1] - r0[x0]);
        float bot = (float)r1[x0] + wx * (float)(r1[x1] - r1[x0]);
        float v = top + wy * (bot - top);
        int q = (int)lrintf(v);
        d[(size_t)y * dw + x] = (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
      }
    }
  }
}

lbbt_status lbbt_dataset_resize(lbbt_dataset *ds, int height, int width) {
  if (height < 1 || width < 1)
    return lbbt_fail(LBBT_E_INPUT, "resize %s: target %dx%d must be at least 1x1",
                     ds->source ? ds->source : "dataset", height, width);
  if (height == ds->height && width == ds->width) return LBBT_OK;
  size_t out_numel = (size_t)ds->channels * height * width;
  uint8_t *px = malloc(out_numel * (size_t)(ds->n ? ds->n : 1));
  if (!px)
    return lbbt_fail(LBBT_E_NOMEM, "resize: out of memory for %lld images of %dx%d",
                     (long long)ds->n, height, width);
  lbbt_status st = lbbt_dataset_resize_targets(ds, height, width);
  if (st != LBBT_OK) {
    free(px);
    return st;
  }
  int64_t in_numel = lbbt_dataset_image_numel(ds);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < ds->n; i++)
    lbbt_resize_bilinear_u8(ds->pixels + i * in_numel, ds->channels, ds->height, ds->width,
                            px + (size_t)i * out_numel, height, width);
  int oh = ds->height, ow = ds->width;
  free(ds->pixels);
  ds->pixels = px;
  ds->height = height;
  ds->width = width;
  return lbbt_dataset_append_source(ds, ", resized %dx%d -> %dx%d (bilinear)", oh, ow, height,
                                    width);
}
