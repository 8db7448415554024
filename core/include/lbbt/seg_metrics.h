/* Semantic-segmentation scores exactly as mmsegmentation's IoUMetric computes them
 * (mmseg/evaluation/metrics/iou_metric.py: intersect_and_union + total_area_to_metrics).
 *
 * A confusion matrix counts[gt, pred] ([K, K], row = ground-truth class, column = predicted
 * class) is accumulated over the whole evaluation set (not averaged per image); pixels whose
 * ground truth is ignore_index are skipped.  From it, per class c:
 *   area_intersect[c] = counts[c, c]
 *   area_label[c]     = sum_p counts[c, p]        (ground-truth pixels of c)
 *   area_pred[c]      = sum_g counts[g, c]        (pixels predicted as c)
 *   IoU[c] = area_intersect / (area_label + area_pred - area_intersect)
 *   Acc[c] = area_intersect / area_label
 * A class absent from both prediction and ground truth has IoU 0/0 = NaN; a class absent
 * from the ground truth has Acc NaN; mIoU and mAcc are nan-means (NaN classes excluded, as
 * np.nanmean in mmseg).  aAcc = sum_c area_intersect / sum_c area_label (pixel accuracy).
 * Where mmseg's histc silently drops a label or prediction outside [0, K) (other than the
 * ignore label), lbbt refuses it (LBBT_E_INPUT naming the pixel): such a value is a bug. */
#ifndef LBBT_SEG_METRICS_H
#define LBBT_SEG_METRICS_H
#include <stdint.h>

#include "lbbt/status.h"

typedef struct lbbt_seg_confusion lbbt_seg_confusion;

/* n_classes K >= 1; ignore_index: a ground-truth value to skip (mmseg: 255), or -1 for none
 * (it may lie inside [0, K): that class is then never counted). */
LBBT_API lbbt_status lbbt_seg_confusion_create(int n_classes, int ignore_index,
                                               lbbt_seg_confusion **out);
LBBT_API void lbbt_seg_confusion_free(lbbt_seg_confusion *c);

/* Add one image (or any batch of pixels): pred[n], gt[n] class indices. */
LBBT_API lbbt_status lbbt_seg_confusion_add(lbbt_seg_confusion *c, const int32_t *pred,
                                            const int32_t *gt, int64_t n_pixels);
/* Same for 8-bit masks (PNG index masks: ignore 255). */
LBBT_API lbbt_status lbbt_seg_confusion_add_u8(lbbt_seg_confusion *c, const uint8_t *pred,
                                               const uint8_t *gt, int64_t n_pixels);

/* counts[gt * K + pred] (read-only view, K*K entries). */
LBBT_API const uint64_t *lbbt_seg_confusion_counts(const lbbt_seg_confusion *c);
LBBT_API int lbbt_seg_confusion_classes(const lbbt_seg_confusion *c);

typedef struct lbbt_seg_scores {
  double aacc;  /* pixel accuracy over all counted pixels (NaN when none counted) */
  double miou;  /* nan-mean of per-class IoU (NaN when every class is NaN) */
  double macc;  /* nan-mean of per-class accuracy */
  int n_valid_iou; /* classes that entered mIoU */
} lbbt_seg_scores;

/* iou[K], acc[K] (either may be NULL): per-class values, NaN where undefined. */
LBBT_API lbbt_status lbbt_seg_confusion_scores(const lbbt_seg_confusion *c, double *iou,
                                               double *acc, lbbt_seg_scores *out);

#endif
