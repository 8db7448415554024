/* mmseg-compatible mIoU / mAcc / aAcc from a whole-set confusion matrix (see
 * lbbt/seg_metrics.h for the formulas and the one deliberate difference: out-of-range
 * values are refused rather than dropped). */
#include "lbbt/seg_metrics.h"

#include <math.h>
#include <stdlib.h>

struct lbbt_seg_confusion {
  int k;
  int ignore;
  uint64_t *counts; /* [K, K]: row gt, column pred */
};

lbbt_status lbbt_seg_confusion_create(int n_classes, int ignore_index, lbbt_seg_confusion **out) {
  *out = NULL;
  if (n_classes < 1 || n_classes > 65536)
    return lbbt_fail(LBBT_E_INPUT, "seg_confusion: n_classes %d outside [1, 65536]", n_classes);
  lbbt_seg_confusion *c = calloc(1, sizeof *c);
  if (c) c->counts = calloc((size_t)n_classes * (size_t)n_classes, sizeof *c->counts);
  if (!c || !c->counts) {
    lbbt_seg_confusion_free(c);
    return lbbt_fail(LBBT_E_NOMEM, "seg_confusion: out of memory for %d classes", n_classes);
  }
  c->k = n_classes;
  c->ignore = ignore_index;
  *out = c;
  return LBBT_OK;
}

void lbbt_seg_confusion_free(lbbt_seg_confusion *c) {
  if (!c) return;
  free(c->counts);
  free(c);
}

/* Validate first, then count: a refused batch leaves the matrix unchanged. */
#define SEG_ADD_BODY(PRED, GT)                                                                  \
  for (int64_t i = 0; i < n_pixels; i++) {                                                      \
    int64_t g = (int64_t)(GT)[i], p = (int64_t)(PRED)[i];                                       \
    if (g == c->ignore) continue;                                                               \
    if (g < 0 || g >= c->k)                                                                     \
      return lbbt_fail(LBBT_E_INPUT,                                                            \
                       "seg_confusion: ground truth %lld at pixel %lld outside [0, %d) and not " \
                       "the ignore label %d",                                                   \
                       (long long)g, (long long)i, c->k, c->ignore);                            \
    if (p < 0 || p >= c->k)                                                                     \
      return lbbt_fail(LBBT_E_INPUT, "seg_confusion: prediction %lld at pixel %lld outside [0, %d)", \
                       (long long)p, (long long)i, c->k);                                       \
  }                                                                                             \
  for (int64_t i = 0; i < n_pixels; i++) {                                                      \
    int64_t g = (int64_t)(GT)[i];                                                               \
    if (g == c->ignore) continue;                                                               \
    c->counts[g * c->k + (int64_t)(PRED)[i]]++;                                                 \
  }                                                                                             \
  return LBBT_OK

lbbt_status lbbt_seg_confusion_add(lbbt_seg_confusion *c, const int32_t *pred, const int32_t *gt,
                                   int64_t n_pixels) {
  if (n_pixels < 0) return lbbt_fail(LBBT_E_INPUT, "seg_confusion: negative pixel count");
  SEG_ADD_BODY(pred, gt);
}

lbbt_status lbbt_seg_confusion_add_u8(lbbt_seg_confusion *c, const uint8_t *pred,
                                      const uint8_t *gt, int64_t n_pixels) {
  if (n_pixels < 0) return lbbt_fail(LBBT_E_INPUT, "seg_confusion: negative pixel count");
  SEG_ADD_BODY(pred, gt);
}

const uint64_t *lbbt_seg_confusion_counts(const lbbt_seg_confusion *c) { return c->counts; }
int lbbt_seg_confusion_classes(const lbbt_seg_confusion *c) { return c->k; }

lbbt_status lbbt_seg_confusion_scores(const lbbt_seg_confusion *c, double *iou, double *acc,
                                      lbbt_seg_scores *out) {
  const int k = c->k;
  double sum_i = 0, sum_l = 0, iou_sum = 0, acc_sum = 0;
  int n_iou = 0, n_acc = 0;
  for (int a = 0; a < k; a++) {
    uint64_t inter = c->counts[(int64_t)a * k + a], lab = 0, pred = 0;
    for (int b = 0; b < k; b++) {
      lab += c->counts[(int64_t)a * k + b];
      pred += c->counts[(int64_t)b * k + a];
    }
    uint64_t uni = lab + pred - inter;
    double ci = uni ? (double)inter / (double)uni : NAN;
    double ca = lab ? (double)inter / (double)lab : NAN;
    if (iou) iou[a] = ci;
    if (acc) acc[a] = ca;
    if (!isnan(ci)) iou_sum += ci, n_iou++;
    if (!isnan(ca)) acc_sum += ca, n_acc++;
    sum_i += (double)inter;
    sum_l += (double)lab;
  }
  out->aacc = sum_l > 0 ? sum_i / sum_l : NAN;
  out->miou = n_iou ? iou_sum / n_iou : NAN;
  out->macc = n_acc ? acc_sum / n_acc : NAN;
  out->n_valid_iou = n_iou;
  return LBBT_OK;
}
