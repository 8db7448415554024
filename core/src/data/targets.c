/* Typed targets of a dataset (boxes, masks): storage, checks, and how subsets and resizes
 * carry them (rules in dataset.h). */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

const char *lbbt_target_kind_name(lbbt_target_kind kind) {
  switch (kind) {
    case LBBT_TARGET_CLASS: return "class";
    case LBBT_TARGET_BOXES: return "boxes";
    case LBBT_TARGET_MASK: return "mask";
    case LBBT_TARGET_NONE: return "none";
  }
  return "unknown";
}

void lbbt_dataset_free_targets(lbbt_dataset *ds) {
  free(ds->boxes);
  free(ds->box_start);
  free(ds->masks);
  ds->boxes = NULL;
  ds->box_start = NULL;
  ds->masks = NULL;
}

lbbt_status lbbt_dataset_attach_boxes(lbbt_dataset *ds, int64_t total_boxes) {
  if (total_boxes < 0)
    return lbbt_fail(LBBT_E_INTERNAL, "dataset: %lld boxes", (long long)total_boxes);
  lbbt_box *boxes = calloc(total_boxes ? (size_t)total_boxes : 1, sizeof *boxes);
  int64_t *start = calloc((size_t)ds->n + 1, sizeof *start);
  if (!boxes || !start) {
    free(boxes);
    free(start);
    return lbbt_fail(LBBT_E_NOMEM, "dataset: out of memory for %lld boxes", (long long)total_boxes);
  }
  lbbt_dataset_free_targets(ds);
  ds->boxes = boxes;
  ds->box_start = start;
  ds->target = LBBT_TARGET_BOXES;
  return LBBT_OK;
}

lbbt_status lbbt_dataset_attach_masks(lbbt_dataset *ds) {
  size_t numel = (size_t)ds->n * (size_t)ds->height * (size_t)ds->width;
  uint8_t *masks = calloc(numel ? numel : 1, 1);
  if (!masks)
    return lbbt_fail(LBBT_E_NOMEM, "dataset: out of memory for %lld masks of %dx%d", (long long)ds->n,
                     ds->height, ds->width);
  lbbt_dataset_free_targets(ds);
  ds->masks = masks;
  ds->target = LBBT_TARGET_MASK;
  return LBBT_OK;
}

int64_t lbbt_dataset_max_boxes(const lbbt_dataset *ds) {
  if (ds->target != LBBT_TARGET_BOXES || !ds->box_start) return 0;
  int64_t m = 0;
  for (int64_t i = 0; i < ds->n; i++)
    if (ds->box_start[i + 1] - ds->box_start[i] > m) m = ds->box_start[i + 1] - ds->box_start[i];
  return m;
}

lbbt_status lbbt_dataset_check_targets(const lbbt_dataset *ds, const char *what) {
  if (!what || !*what) what = ds->source && *ds->source ? ds->source : "dataset";
  if (ds->target == LBBT_TARGET_BOXES) {
    if (!ds->boxes || !ds->box_start || ds->box_start[0] != 0)
      return lbbt_fail(LBBT_E_INTERNAL, "%s: box storage missing", what);
    for (int64_t i = 0; i < ds->n; i++) {
      if (ds->box_start[i + 1] < ds->box_start[i])
        return lbbt_fail(LBBT_E_INTERNAL, "%s: box_start decreases at item %lld", what, (long long)i);
      for (int64_t k = ds->box_start[i]; k < ds->box_start[i + 1]; k++) {
        const lbbt_box *b = &ds->boxes[k];
        if (!(b->x0 >= 0 && b->x0 < b->x1 && b->x1 <= (float)ds->width && b->y0 >= 0 && b->y0 < b->y1 &&
              b->y1 <= (float)ds->height))
          return lbbt_fail(LBBT_E_INPUT,
                           "%s: item %lld box %lld (%g, %g, %g, %g) is empty or outside the %dx%d image",
                           what, (long long)i, (long long)(k - ds->box_start[i]), b->x0, b->y0, b->x1,
                           b->y1, ds->width, ds->height);
        if (b->label < 0 || b->label >= ds->num_classes)
          return lbbt_fail(LBBT_E_INPUT, "%s: item %lld box %lld class %d outside [0, %d)", what,
                           (long long)i, (long long)(k - ds->box_start[i]), b->label, ds->num_classes);
      }
    }
  } else if (ds->target == LBBT_TARGET_MASK) {
    if (!ds->masks) return lbbt_fail(LBBT_E_INTERNAL, "%s: mask storage missing", what);
    int64_t hw = (int64_t)ds->height * ds->width;
    for (int64_t i = 0; i < ds->n; i++)
      for (int64_t p = 0; p < hw; p++) {
        int v = ds->masks[i * hw + p];
        if (v != LBBT_MASK_IGNORE && v >= ds->num_classes)
          return lbbt_fail(LBBT_E_INPUT, "%s: item %lld mask pixel (x %lld, y %lld) is %d, not a class "
                           "in [0, %d) nor the ignore value %d", what, (long long)i,
                           (long long)(p % ds->width), (long long)(p / ds->width), v, ds->num_classes,
                           LBBT_MASK_IGNORE);
      }
  }
  return LBBT_OK;
}

lbbt_status lbbt_dataset_copy_targets(const lbbt_dataset *src, const int32_t *idx, int64_t n,
                                      lbbt_dataset *dst) {
  dst->target = src->target;
  if (src->target == LBBT_TARGET_BOXES) {
    int64_t total = 0;
    for (int64_t j = 0; j < n; j++) total += src->box_start[idx[j] + 1] - src->box_start[idx[j]];
    LBBT_TRY(lbbt_dataset_attach_boxes(dst, total));
    for (int64_t j = 0; j < n; j++) {
      int64_t a = src->box_start[idx[j]], m = src->box_start[idx[j] + 1] - a;
      memcpy(dst->boxes + dst->box_start[j], src->boxes + a, (size_t)m * sizeof *dst->boxes);
      dst->box_start[j + 1] = dst->box_start[j] + m;
    }
  } else if (src->target == LBBT_TARGET_MASK) {
    LBBT_TRY(lbbt_dataset_attach_masks(dst));
    size_t hw = (size_t)src->height * (size_t)src->width;
    for (int64_t j = 0; j < n; j++) memcpy(dst->masks + (size_t)j * hw, src->masks + (size_t)idx[j] * hw, hw);
  }
  return LBBT_OK;
}

void lbbt_resize_nearest_u8(const uint8_t *src, int sh, int sw, uint8_t *dst, int dh, int dw) {
  for (int y = 0; y < dh; y++) {
    int sy = (int)(((double)y + 0.5) * sh / dh);
    if (sy > sh - 1) sy = sh - 1;
    for (int x = 0; x < dw; x++) {
      int sx = (int)(((double)x + 0.5) * sw / dw);
      if (sx > sw - 1) sx = sw - 1;
      dst[(size_t)y * dw + x] = src[(size_t)sy * sw + sx];
    }
  }
}

lbbt_status lbbt_dataset_resize_targets(lbbt_dataset *ds, int height, int width) {
  if (ds->target == LBBT_TARGET_BOXES) {
    float sx = (float)width / (float)ds->width, sy = (float)height / (float)ds->height;
    for (int64_t k = 0; k < ds->box_start[ds->n]; k++) {
      lbbt_box *b = &ds->boxes[k];
      b->x0 *= sx;
      b->x1 *= sx;
      b->y0 *= sy;
      b->y1 *= sy;
    }
  } else if (ds->target == LBBT_TARGET_MASK) {
    size_t in = (size_t)ds->height * ds->width, out = (size_t)height * width;
    uint8_t *m = malloc(out * (size_t)(ds->n ? ds->n : 1));
    if (!m)
      return lbbt_fail(LBBT_E_NOMEM, "resize: out of memory for %lld masks of %dx%d", (long long)ds->n,
                       height, width);
    for (int64_t i = 0; i < ds->n; i++)
      lbbt_resize_nearest_u8(ds->masks + (size_t)i * in, ds->height, ds->width, m + (size_t)i * out, height,
                             width);
    free(ds->masks);
    ds->masks = m;
  }
  return LBBT_OK;
}
