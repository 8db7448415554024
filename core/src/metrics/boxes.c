/* Box geometry outside the tape and the set-prediction matching cost (lbbt/boxes.h).
 * The GIoU formula matches DETR's util/box_ops.py generalized_box_iou term for term. */
#include "lbbt/boxes.h"

#include <math.h>
#include <stdlib.h>

double lbbt_box_giou_xyxy(const float a[4], const float b[4], double *iou) {
  double area_a = ((double)a[2] - a[0]) * ((double)a[3] - a[1]);
  double area_b = ((double)b[2] - b[0]) * ((double)b[3] - b[1]);
  double iw = fmin(a[2], b[2]) - fmax(a[0], b[0]), ih = fmin(a[3], b[3]) - fmax(a[1], b[1]);
  double inter = (iw > 0 ? iw : 0) * (ih > 0 ? ih : 0);
  double uni = area_a + area_b - inter;
  double cw = fmax(a[2], b[2]) - fmin(a[0], b[0]), ch = fmax(a[3], b[3]) - fmin(a[1], b[1]);
  double enclosing = (cw > 0 ? cw : 0) * (ch > 0 ? ch : 0);
  double v = inter / uni;
  if (iou) *iou = v;
  return v - (enclosing - uni) / enclosing;
}

lbbt_status lbbt_boxes_check_xyxy(const float *boxes, int64_t n, const char *what) {
  for (int64_t i = 0; i < n; i++) {
    const float *b = boxes + 4 * i;
    if (!(isfinite(b[0]) && isfinite(b[1]) && isfinite(b[2]) && isfinite(b[3])) ||
        b[2] < b[0] || b[3] < b[1])
      return lbbt_fail(LBBT_E_INPUT,
                       "%s: box %lld of %lld is (%g, %g, %g, %g); want finite x0 <= x1, y0 <= y1",
                       what, (long long)i, (long long)n, (double)b[0], (double)b[1],
                       (double)b[2], (double)b[3]);
  }
  return LBBT_OK;
}

void lbbt_box_to_xyxy(const float c[4], float o[4]) {
  o[0] = c[0] - 0.5f * c[2];
  o[1] = c[1] - 0.5f * c[3];
  o[2] = c[0] + 0.5f * c[2];
  o[3] = c[1] + 0.5f * c[3];
}

void lbbt_box_to_cxcywh(const float x[4], float o[4]) {
  o[0] = 0.5f * (x[0] + x[2]);
  o[1] = 0.5f * (x[1] + x[3]);
  o[2] = x[2] - x[0];
  o[3] = x[3] - x[1];
}

lbbt_status lbbt_boxes_giou_pairwise(const float *a, int64_t n, const float *b, int64_t m,
                                     double *giou, double *iou) {
  LBBT_TRY(lbbt_boxes_check_xyxy(a, n, "giou_pairwise (first set)"));
  LBBT_TRY(lbbt_boxes_check_xyxy(b, m, "giou_pairwise (second set)"));
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < m; j++)
      giou[i * m + j] = lbbt_box_giou_xyxy(a + 4 * i, b + 4 * j, iou ? &iou[i * m + j] : NULL);
  return LBBT_OK;
}

lbbt_status lbbt_match_cost(const float *probs, int64_t Q, int64_t K, const float *pred_boxes,
                            const int32_t *labels, const float *tgt_boxes, int64_t G,
                            const lbbt_match_weights *w, double *cost) {
  for (int64_t g = 0; g < G; g++)
    if (labels[g] < 0 || labels[g] >= K)
      return lbbt_fail(LBBT_E_INPUT, "match_cost: target %lld has label %d, outside [0, %lld)",
                       (long long)g, (int)labels[g], (long long)K);
  float *px = malloc((size_t)(Q + G) * 4 * sizeof *px);
  if (!px && Q + G > 0) return lbbt_fail(LBBT_E_NOMEM, "match_cost: out of memory");
  float *tx = px + 4 * Q;
  for (int64_t q = 0; q < Q; q++) lbbt_box_to_xyxy(pred_boxes + 4 * q, px + 4 * q);
  for (int64_t g = 0; g < G; g++) lbbt_box_to_xyxy(tgt_boxes + 4 * g, tx + 4 * g);
  lbbt_status st = lbbt_boxes_check_xyxy(px, Q, "match_cost: predicted boxes (cxcywh -> xyxy)");
  if (st == LBBT_OK)
    st = lbbt_boxes_check_xyxy(tx, G, "match_cost: target boxes (cxcywh -> xyxy)");
  for (int64_t q = 0; st == LBBT_OK && q < Q; q++)
    for (int64_t g = 0; g < G; g++) {
      const float *pb = pred_boxes + 4 * q, *tb = tgt_boxes + 4 * g;
      double l1 = 0;
      for (int c = 0; c < 4; c++) l1 += fabs((double)pb[c] - tb[c]);
      double giou = lbbt_box_giou_xyxy(px + 4 * q, tx + 4 * g, NULL);
      if (isnan(giou)) {
        st = lbbt_fail(LBBT_E_NUMERIC,
                       "match_cost: prediction %lld and target %lld both have zero area", (long long)q,
                       (long long)g);
        break;
      }
      cost[q * G + g] = w->l1 * l1 - w->cls * probs[q * K + labels[g]] - w->giou * giou;
    }
  free(px);
  return st;
}
