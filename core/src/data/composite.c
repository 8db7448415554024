/* Detection and segmentation composites: items of a classification set pasted on canvases
 * (rules in dataset.h). */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "lbbt/rng.h"
#include "data/data_internal.h"

#define COMPOSITE_TRIES 32      /* placements tried per item before it is left out */
#define COMPOSITE_MAX_ITEMS 64
#define COMPOSITE_MIN_CANVAS 8
#define COCO_IMAGE_AREA 409600.0 /* 640 x 640, as lbbt_coco_params_default (coco_eval.h) scales */

lbbt_composite_config lbbt_composite_defaults(void) {
  return (lbbt_composite_config){.canvas = 64, .min_items = 1, .max_items = 4, .min_side = 3,
                                 .max_side = 48, .max_iou = 0.3};
}

void lbbt_detection_area_ranges(int height, int width, double *small_max, double *medium_max) {
  double scale = (double)height * width / COCO_IMAGE_AREA;
  *small_max = 32.0 * 32.0 * scale;
  *medium_max = 96.0 * 96.0 * scale;
}

static double box_iou(const lbbt_box *a, const lbbt_box *b) {
  double w = fmin(a->x1, b->x1) - fmax(a->x0, b->x0), h = fmin(a->y1, b->y1) - fmax(a->y0, b->y0);
  if (w <= 0 || h <= 0) return 0;
  double inter = w * h;
  double ua = (double)(a->x1 - a->x0) * (a->y1 - a->y0) + (double)(b->x1 - b->x0) * (b->y1 - b->y0) - inter;
  return inter / ua;
}

static lbbt_status check_config(const lbbt_dataset *items, const lbbt_composite_config *c,
                                lbbt_target_kind kind, int64_t n) {
  const char *what = "composite data";
  if (kind != LBBT_TARGET_BOXES && kind != LBBT_TARGET_MASK)
    return lbbt_fail(LBBT_E_INTERNAL, "%s: kind %s", what, lbbt_target_kind_name(kind));
  if (items->channels != 1 || items->target != LBBT_TARGET_CLASS || items->n < 1)
    return lbbt_fail(LBBT_E_INPUT, "%s: items must be a non-empty grey classification set (%s)", what,
                     items->source ? items->source : "");
  if (n < 1 || n > INT32_MAX)
    return lbbt_fail(LBBT_E_INPUT, "%s: %lld canvases; need at least 1", what, (long long)n);
  if (c->canvas < COMPOSITE_MIN_CANVAS || c->canvas > 8192)
    return lbbt_fail(LBBT_E_INPUT, "%s: canvas %d must lie in [%d, 8192]", what, c->canvas, COMPOSITE_MIN_CANVAS);
  if (c->min_items < 1 || c->min_items > c->max_items || c->max_items > COMPOSITE_MAX_ITEMS)
    return lbbt_fail(LBBT_E_INPUT, "%s: items per canvas %d..%d; need 1 <= min_items <= max_items <= %d", what,
                     c->min_items, c->max_items, COMPOSITE_MAX_ITEMS);
  if (c->min_side < 1 || c->min_side > c->max_side || c->max_side > c->canvas)
    return lbbt_fail(LBBT_E_INPUT, "%s: item sides %d..%d; need 1 <= min_side <= max_side <= canvas %d", what,
                     c->min_side, c->max_side, c->canvas);
  if (!(c->max_iou >= 0 && c->max_iou <= 1))
    return lbbt_fail(LBBT_E_INPUT, "%s: max_iou %g must lie in [0, 1]", what, c->max_iou);
  return LBBT_OK;
}

/* Canvas i: pixels [S, S], mask [S, S] (MASK) or boxes[0..*nb) (BOXES).  item: scratch of
 * max_side^2 bytes. */
static void compose_one(const lbbt_dataset *items, const lbbt_composite_config *c, lbbt_target_kind kind,
                        uint64_t seed, int64_t i, uint8_t *pixels, uint8_t *mask, lbbt_box *boxes,
                        int64_t *nb, uint8_t *item) {
  const int S = c->canvas;
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, kind == LBBT_TARGET_BOXES ? "composite-boxes" : "composite-mask", (uint64_t)i);
  int k = c->min_items + (int)lbbt_rng_below(&r, (uint32_t)(c->max_items - c->min_items + 1));
  const double log_lo = log(c->min_side), log_hi = log(c->max_side);
  *nb = 0;
  for (int t = 0; t < k; t++) {
    for (int attempt = 0; attempt < COMPOSITE_TRIES; attempt++) {
      int64_t src = (int64_t)lbbt_rng_below(&r, (uint32_t)items->n);
      int L = (int)lround(exp(log_lo + (log_hi - log_lo) * lbbt_rng_uniform(&r)));
      if (L < c->min_side) L = c->min_side;
      if (L > c->max_side) L = c->max_side;
      int px = (int)lbbt_rng_below(&r, (uint32_t)(S - L + 1)), py = (int)lbbt_rng_below(&r, (uint32_t)(S - L + 1));
      lbbt_resize_bilinear_u8(items->pixels + src * items->height * items->width, 1, items->height, items->width,
                              item, L, L);
      int x0 = L, y0 = L, x1 = -1, y1 = -1;
      for (int y = 0; y < L; y++)
        for (int x = 0; x < L; x++)
          if (item[y * L + x]) {
            if (x < x0) x0 = x;
            if (x > x1) x1 = x;
            if (y < y0) y0 = y;
            if (y > y1) y1 = y;
          }
      if (x1 < 0) continue; /* an all-black item at this size shows nothing */
      lbbt_box b = {(float)(px + x0), (float)(py + y0), (float)(px + x1 + 1), (float)(py + y1 + 1),
                    items->labels[src], 0};
      if (kind == LBBT_TARGET_BOXES) {
        int ok = 1;
        for (int64_t q = 0; q < *nb && ok; q++) ok = box_iou(&b, &boxes[q]) <= c->max_iou;
        if (!ok) continue;
        boxes[(*nb)++] = b;
      }
      for (int y = 0; y < L; y++)
        for (int x = 0; x < L; x++) {
          uint8_t v = item[y * L + x];
          if (!v) continue;
          size_t at = (size_t)(py + y) * S + (size_t)(px + x);
          pixels[at] = v;
          if (mask) mask[at] = (uint8_t)(b.label + 1);
        }
      break;
    }
  }
}

lbbt_status lbbt_dataset_composite(const lbbt_dataset *items, const lbbt_composite_config *cfg,
                                   lbbt_target_kind kind, int64_t n, uint64_t seed,
                                   lbbt_dataset **out) {
  *out = NULL;
  LBBT_TRY(check_config(items, cfg, kind, n));
  if (kind == LBBT_TARGET_MASK && items->num_classes + 1 > LBBT_MASK_IGNORE)
    return lbbt_fail(LBBT_E_INPUT, "composite masks: %d item classes + background do not fit below %d",
                     items->num_classes, LBBT_MASK_IGNORE);
  const int S = cfg->canvas;
  const int classes = kind == LBBT_TARGET_MASK ? items->num_classes + 1 : items->num_classes;
  lbbt_dataset *ds = NULL;
  lbbt_box *slots = NULL;
  int64_t *counts = NULL;
  uint8_t *scratch = NULL;
  const char **names = NULL;
  lbbt_status st;
  LBBT_TRY_GOTO(st, lbbt_dataset_create(n, 1, S, S, classes, &ds), done);
  if (kind == LBBT_TARGET_MASK) LBBT_TRY_GOTO(st, lbbt_dataset_attach_masks(ds), done);
  slots = malloc((size_t)n * (size_t)cfg->max_items * sizeof *slots);
  counts = calloc((size_t)n, sizeof *counts);
  const int threads = omp_get_max_threads();
  scratch = malloc((size_t)threads * (size_t)cfg->max_side * (size_t)cfg->max_side);
  if (!slots || !counts || !scratch) {
    st = lbbt_fail(LBBT_E_NOMEM, "composite: out of memory for %lld canvases", (long long)n);
    goto done;
  }
#pragma omp parallel for schedule(dynamic, 64)
  for (int64_t i = 0; i < n; i++) {
    const int tid = omp_get_thread_num();
    compose_one(items, cfg, kind, seed, i, ds->pixels + (size_t)i * S * S,
                ds->masks ? ds->masks + (size_t)i * S * S : NULL, slots + i * cfg->max_items, &counts[i],
                scratch + (size_t)tid * cfg->max_side * cfg->max_side);
  }
  if (kind == LBBT_TARGET_BOXES) {
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++) total += counts[i];
    LBBT_TRY_GOTO(st, lbbt_dataset_attach_boxes(ds, total), done);
    for (int64_t i = 0; i < n; i++) {
      memcpy(ds->boxes + ds->box_start[i], slots + i * cfg->max_items, (size_t)counts[i] * sizeof *slots);
      ds->box_start[i + 1] = ds->box_start[i] + counts[i];
    }
  }
  lbbt_dataset_compute_norm(ds);
  if (items->class_names) {
    names = malloc((size_t)classes * sizeof *names);
    if (!names) {
      st = lbbt_fail(LBBT_E_NOMEM, "composite: out of memory for class names");
      goto done;
    }
    int off = kind == LBBT_TARGET_MASK;
    if (off) names[0] = "background";
    for (int k = 0; k < items->num_classes; k++) names[k + off] = items->class_names[k];
    LBBT_TRY_GOTO(st, lbbt_dataset_set_class_names(ds, names, classes), done);
  }
  char iou[48] = "";
  if (kind == LBBT_TARGET_BOXES) snprintf(iou, sizeof iou, ", max IoU %g", cfg->max_iou);
  LBBT_TRY_GOTO(st, lbbt_dataset_set_source(ds, "%lld %s composites %dx%d of %d..%d items (sides %d..%d%s) "
                                            "from [%s], seed %llu",
                                            (long long)n, kind == LBBT_TARGET_BOXES ? "detection" : "segmentation",
                                            S, S, cfg->min_items, cfg->max_items, cfg->min_side, cfg->max_side, iou,
                                            items->source ? items->source : "", (unsigned long long)seed), done);
  *out = ds;
  ds = NULL;
done:
  lbbt_dataset_free(ds);
  free(slots);
  free(counts);
  free(scratch);
  free(names);
  return st;
}

/* ---- settings from data.options ----------------------------------------------------------- */
typedef struct composite_option {
  const char *key;
  int is_int;            /* else a number */
  double min, max;
  size_t offset;         /* in lbbt_composite_config */
  int boxes_only;
  const char *doc;
} composite_option;

#define C lbbt_composite_config
static const composite_option COMPOSITE_OPTIONS[] = {
    {"canvas", 1, COMPOSITE_MIN_CANVAS, 8192, offsetof(C, canvas), 0, "canvas side in pixels (64)"},
    {"min_items", 1, 1, COMPOSITE_MAX_ITEMS, offsetof(C, min_items), 0, "fewest items per canvas (1)"},
    {"max_items", 1, 1, COMPOSITE_MAX_ITEMS, offsetof(C, max_items), 0, "most items per canvas (4)"},
    {"min_side", 1, 1, 8192, offsetof(C, min_side), 0, "smallest item side in pixels (3)"},
    {"max_side", 1, 1, 8192, offsetof(C, max_side), 0, "largest item side in pixels (48)"},
    {"max_iou", 0, 0, 1, offsetof(C, max_iou), 1, "largest IoU between two items' boxes (0.3)"},
};
#undef C

lbbt_status lbbt_composite_config_from_options(const lbbt_option *opts, int n, lbbt_target_kind kind,
                                               const char *dataset, const char *file,
                                               lbbt_composite_config *out) {
  *out = lbbt_composite_defaults();
  const int n_decl = (int)(sizeof COMPOSITE_OPTIONS / sizeof COMPOSITE_OPTIONS[0]);
  for (int i = 0; i < n; i++) {
    const lbbt_option *o = &opts[i];
    const composite_option *d = NULL;
    for (int k = 0; k < n_decl && !d; k++)
      if (!strcmp(COMPOSITE_OPTIONS[k].key, o->key) && (kind == LBBT_TARGET_BOXES || !COMPOSITE_OPTIONS[k].boxes_only))
        d = &COMPOSITE_OPTIONS[k];
    if (!d) {
      char valid[256] = "";
      for (int k = 0; k < n_decl; k++) {
        if (kind != LBBT_TARGET_BOXES && COMPOSITE_OPTIONS[k].boxes_only) continue;
        strncat(valid, valid[0] ? ", " : "", sizeof valid - strlen(valid) - 1);
        strncat(valid, COMPOSITE_OPTIONS[k].key, sizeof valid - strlen(valid) - 1);
      }
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: data.options: dataset '%s' has no option '%s' (valid: %s)", file,
                       o->line, o->col, dataset, o->key, valid);
    }
    char *end;
    errno = 0;
    double v = strtod(o->value, &end);
    if (errno || end == o->value || *end || !isfinite(v) || v < d->min || v > d->max || (d->is_int && v != floor(v)))
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: data.options.%s is '%s', expected %s from %g to %g (%s)", file, o->line,
                       o->col, o->key, o->value, d->is_int ? "a whole number" : "a number", d->min, d->max, d->doc);
    if (d->is_int) *(int *)((char *)out + d->offset) = (int)v;
    else *(double *)((char *)out + d->offset) = v;
  }
  /* the relations between settings, named as the user wrote them */
  if (out->min_items > out->max_items)
    return lbbt_fail(LBBT_E_INPUT, "%s: data.options: min_items %d is above max_items %d", file, out->min_items,
                     out->max_items);
  if (out->min_side > out->max_side || out->max_side > out->canvas)
    return lbbt_fail(LBBT_E_INPUT, "%s: data.options: need min_side %d <= max_side %d <= canvas %d", file,
                     out->min_side, out->max_side, out->canvas);
  return LBBT_OK;
}
