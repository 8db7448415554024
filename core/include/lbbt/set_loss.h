/* The set-prediction loss of DETR (Carion et al. 2020, models/detr.py SetCriterion with
 * models/matcher.py HungarianMatcher), for any detector that predicts a fixed set of Q
 * (class, box) pairs per image:
 *   1. per image, a minimum-cost one-to-one matching of predictions to targets (no tape):
 *        cost = match.l1 * |box_q - box_g|_1 - match.cls * softmax(logits_q)[label_g]
 *               - match.giou * GIoU(box_q, box_g)          (lbbt_match_cost + assignment);
 *   2. on the tape: cross-entropy over all B*Q predictions, matched ones against their
 *      target's class and the others against the no-object class K, with class weights
 *      1 ... 1, eos_coef (lbbt_cross_entropy_weighted); and over the matched pairs,
 *      L1 = sum |box - target| / num_boxes and GIoU = sum (1 - GIoU) / num_boxes, with
 *      num_boxes = max(1, number of targets in the batch);
 *   loss = w_ce * CE + w_l1 * L1 + w_giou * GIoU.
 * Boxes are cxcywh (after a sigmoid, in fractions of the image).  Auxiliary decoding
 * losses are this loss applied to each decoder layer's outputs, with its own matching. */
#ifndef LBBT_SET_LOSS_H
#define LBBT_SET_LOSS_H
#include <stdint.h>

#include "lbbt/boxes.h"
#include "lbbt/tensor.h"

/* One image's targets. */
typedef struct lbbt_set_target {
  int64_t n;             /* number of objects (0 allowed) */
  const int32_t *labels; /* [n] in [0, K) */
  const float *boxes;    /* [n, 4] cxcywh */
} lbbt_set_target;

typedef struct lbbt_set_loss_config {
  float eos_coef;           /* weight of the no-object class in the cross-entropy: DETR 0.1 */
  lbbt_match_weights match; /* matching cost weights: DETR class 1, L1 5, GIoU 2 */
  float w_ce, w_l1, w_giou; /* loss weights: DETR 1, 5, 2 */
} lbbt_set_loss_config;

/* DETR's values. */
LBBT_API lbbt_set_loss_config lbbt_set_loss_config_detr(void);

/* The unweighted parts, for logs. */
typedef struct lbbt_set_loss_parts {
  double ce, l1, giou;
  int64_t num_boxes; /* the normaliser (>= 1) */
} lbbt_set_loss_parts;

/* logits [B, Q, K+1] (the last class is "no object"), boxes [B, Q, 4] cxcywh, targets [B].
 * *out [1] on tape t.  match (may be NULL) [B*Q]: the target index matched to each
 * prediction, -1 for none.  parts may be NULL.  Boxes with negative width or height and
 * labels outside [0, K) are LBBT_E_INPUT naming the image. */
LBBT_API lbbt_status lbbt_set_loss(lbbt_tape *t, lbbt_tensor *logits, lbbt_tensor *boxes,
                                   const lbbt_set_target *targets, const lbbt_set_loss_config *cfg,
                                   int64_t *match, lbbt_set_loss_parts *parts, lbbt_tensor **out);

#endif
