/* Axis-aligned boxes outside the tape: IoU, generalised IoU, and the cost matrix of a
 * bipartite (Hungarian) matching of predicted boxes to target boxes, as set-prediction
 * detectors (DETR, Carion et al. 2020) compute it.  The differentiable forms are ops
 * (lbbt_box_cxcywh_to_xyxy, lbbt_box_xyxy_to_cxcywh, lbbt_giou_loss in ops.h).
 *
 * Layouts: "xyxy" is (x0, y0, x1, y1) with x1 >= x0, y1 >= y0; "cxcywh" is (centre x,
 * centre y, width, height).  Units are the caller's (pixels, or fractions of the image). */
#ifndef LBBT_BOXES_H
#define LBBT_BOXES_H
#include <stdint.h>

#include "lbbt/status.h"

/* Generalised IoU of two xyxy boxes (Rezatofighi et al. 2019):
 *   IoU - (|C| - |A u B|) / |C|,  C the smallest box enclosing A and B,
 * in [-1, 1], evaluated in double.  *iou (may be NULL) receives the plain IoU.  Two boxes of
 * zero area with an empty union give NaN (the caller checks; see lbbt_boxes_check_xyxy). */
LBBT_API double lbbt_box_giou_xyxy(const float a[4], const float b[4], double *iou);

/* LBBT_E_INPUT naming `what` and the first box i (of n, xyxy) with x1 < x0, y1 < y0 or a
 * non-finite coordinate. */
LBBT_API lbbt_status lbbt_boxes_check_xyxy(const float *boxes, int64_t n, const char *what);

/* One xyxy box from cxcywh and back (the forms the ops compute on the tape). */
LBBT_API void lbbt_box_to_xyxy(const float cxcywh[4], float xyxy[4]);
LBBT_API void lbbt_box_to_cxcywh(const float xyxy[4], float cxcywh[4]);

/* giou [n, m] = GIoU(a_i, b_j) for xyxy boxes a [n, 4], b [m, 4]; iou [n, m] (may be NULL)
 * the plain IoU.  Boxes are checked (lbbt_boxes_check_xyxy). */
LBBT_API lbbt_status lbbt_boxes_giou_pairwise(const float *a, int64_t n, const float *b, int64_t m,
                                              double *giou, double *iou);

/* Weights of the three matching terms; DETR uses class 1, L1 5, GIoU 2. */
typedef struct lbbt_match_weights {
  double cls, l1, giou;
} lbbt_match_weights;

/* The matching cost of Q predictions against G targets, cost [Q, G] (row-major):
 *   cost[q, g] = w.l1 * |pred_q - tgt_g|_1 (cxcywh) - w.cls * probs[q, label_g]
 *              - w.giou * GIoU(xyxy(pred_q), xyxy(tgt_g))
 * probs [Q, K]: class probabilities (softmax over K classes, the no-object class included);
 * pred_boxes [Q, 4] and tgt_boxes [G, 4] cxcywh; labels [G] in [0, K).  Nothing is recorded
 * on a tape: the matching is a constant of the loss.  Feed cost to lbbt_linear_assignment. */
LBBT_API lbbt_status lbbt_match_cost(const float *probs, int64_t Q, int64_t K, const float *pred_boxes,
                                     const int32_t *labels, const float *tgt_boxes, int64_t G,
                                     const lbbt_match_weights *w, double *cost);

#endif
