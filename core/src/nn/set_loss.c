/* DETR's set-prediction loss (lbbt/set_loss.h): Hungarian matching outside the tape, then
 * the three losses from ops so that the tape differentiates them.  The matched predicted
 * boxes are gathered with lbbt_embedding (rows of a [B*Q, 4] table; its backward
 * scatter-adds into the rows picked). */
#include "lbbt/set_loss.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/assignment.h"
#include "lbbt/ops.h"

lbbt_set_loss_config lbbt_set_loss_config_detr(void) {
  lbbt_set_loss_config c = {0.1f, {1.0, 5.0, 2.0}, 1.0f, 5.0f, 2.0f};
  return c;
}

/* Per image: softmax probabilities, the cost matrix [Q, n], the assignment. */
static lbbt_status match_image(const float *logits, const float *boxes, int64_t Q, int64_t V,
                               const lbbt_set_target *tg, const lbbt_match_weights *w,
                               float *probs, double *cost, int64_t *r2c) {
  for (int64_t q = 0; q < Q; q++) {
    const float *x = logits + q * V;
    double mx = x[0], s = 0;
    for (int64_t j = 1; j < V; j++) mx = x[j] > mx ? x[j] : mx;
    for (int64_t j = 0; j < V; j++) s += exp((double)x[j] - mx);
    for (int64_t j = 0; j < V; j++) probs[q * V + j] = (float)(exp((double)x[j] - mx) / s);
  }
  for (int64_t g = 0; g < tg->n; g++) /* the no-object class V-1 is not a target's label */
    if (tg->labels[g] < 0 || tg->labels[g] >= V - 1)
      return lbbt_fail(LBBT_E_INPUT, "target %lld has label %d, outside [0, %lld)", (long long)g,
                       (int)tg->labels[g], (long long)(V - 1));
  LBBT_TRY(lbbt_match_cost(probs, Q, V, boxes, tg->labels, tg->boxes, tg->n, w, cost));
  return lbbt_linear_assignment(cost, Q, tg->n, r2c, NULL);
}

lbbt_status lbbt_set_loss(lbbt_tape *t, lbbt_tensor *logits, lbbt_tensor *boxes,
                          const lbbt_set_target *targets, const lbbt_set_loss_config *cfg,
                          int64_t *match, lbbt_set_loss_parts *parts, lbbt_tensor **out) {
  char sl[64], sb[64];
  *out = NULL;
  if (logits->ndim != 3 || boxes->ndim != 3 || boxes->shape[2] != 4 ||
      logits->shape[0] != boxes->shape[0] || logits->shape[1] != boxes->shape[1] ||
      logits->shape[2] < 2)
    return lbbt_fail(LBBT_E_SHAPE, "set_loss: logits %s and boxes %s must be [B, Q, K+1] and "
                     "[B, Q, 4] (K >= 1)", lbbt_shape_str(logits, sl, sizeof sl),
                     lbbt_shape_str(boxes, sb, sizeof sb));
  int64_t B = logits->shape[0], Q = logits->shape[1], V = logits->shape[2], K = V - 1;
  int64_t n_tgt = 0, max_n = 0;
  for (int64_t b = 0; b < B; b++) {
    if (targets[b].n < 0 || targets[b].n > Q)
      return lbbt_fail(LBBT_E_INPUT, "set_loss: image %lld has %lld targets; want 0..%lld (the "
                       "number of queries)", (long long)b, (long long)targets[b].n, (long long)Q);
    n_tgt += targets[b].n;
    max_n = targets[b].n > max_n ? targets[b].n : max_n;
  }
  lbbt_status st = LBBT_OK;
  int32_t *classes = malloc((size_t)(B * Q) * sizeof *classes);
  float *weights = malloc((size_t)V * sizeof *weights), *probs = malloc((size_t)(Q * V) * sizeof *probs);
  double *cost = malloc((size_t)(Q * (max_n > 0 ? max_n : 1)) * sizeof *cost);
  int64_t *r2c = malloc((size_t)Q * sizeof *r2c);
  int32_t *rows = malloc((size_t)(n_tgt > 0 ? n_tgt : 1) * sizeof *rows);
  lbbt_tensor *tgt_boxes = NULL;
  if (!classes || !weights || !probs || !cost || !r2c || !rows) {
    st = lbbt_fail(LBBT_E_NOMEM, "set_loss: out of memory");
    goto done;
  }
  for (int64_t j = 0; j < V; j++) weights[j] = j == K ? cfg->eos_coef : 1.0f;
  if (n_tgt > 0) {
    LBBT_TRY_GOTO(st, lbbt_tape_tensor(t, 2, (int64_t[]){n_tgt, 4}, &tgt_boxes), done);
  }
  int64_t m = 0; /* matched pairs so far, in image order then query order (DETR's order) */
  for (int64_t b = 0; b < B; b++) {
    const lbbt_set_target *tg = &targets[b];
    for (int64_t q = 0; q < Q; q++) classes[b * Q + q] = (int32_t)K;
    if (match)
      for (int64_t q = 0; q < Q; q++) match[b * Q + q] = -1;
    if (tg->n == 0) continue;
    st = match_image(logits->data + b * Q * V, boxes->data + b * Q * 4, Q, V, tg, &cfg->match,
                     probs, cost, r2c);
    if (st != LBBT_OK) {
      lbbt_fail_context(st, "set_loss: image %lld: ", (long long)b);
      goto done;
    }
    for (int64_t q = 0; q < Q; q++) {
      int64_t g = r2c[q];
      if (g < 0) continue;
      classes[b * Q + q] = tg->labels[g];
      if (match) match[b * Q + q] = g;
      rows[m] = (int32_t)(b * Q + q);
      memcpy(tgt_boxes->data + 4 * m, tg->boxes + 4 * g, 4 * sizeof(float));
      m++;
    }
  }
  double num_boxes = n_tgt > 0 ? (double)n_tgt : 1.0;
  lbbt_tensor *flat, *ce, *loss;
  LBBT_TRY_GOTO(st, lbbt_reshape(t, logits, 2, (int64_t[]){B * Q, V}, &flat), done);
  LBBT_TRY_GOTO(st, lbbt_cross_entropy_weighted(t, flat, classes, weights, &ce), done);
  if (parts) *parts = (lbbt_set_loss_parts){ce->data[0], 0, 0, (int64_t)num_boxes};
  LBBT_TRY_GOTO(st, lbbt_scale(t, ce, cfg->w_ce, &loss), done);
  if (m > 0) {
    lbbt_tensor *table, *picked, *l1, *pxy, *txy, *gl, *gsum;
    LBBT_TRY_GOTO(st, lbbt_reshape(t, boxes, 2, (int64_t[]){B * Q, 4}, &table), done);
    LBBT_TRY_GOTO(st, lbbt_embedding(t, table, rows, 1, m, &picked), done); /* [1, m, 4] */
    LBBT_TRY_GOTO(st, lbbt_reshape(t, picked, 2, (int64_t[]){m, 4}, &picked), done);
    /* lbbt_l1 is the mean over m*4 elements; DETR sums and divides by num_boxes */
    LBBT_TRY_GOTO(st, lbbt_l1(t, picked, tgt_boxes, &l1), done);
    LBBT_TRY_GOTO(st, lbbt_scale(t, l1, (float)(4.0 * (double)m / num_boxes), &l1), done);
    LBBT_TRY_GOTO(st, lbbt_box_cxcywh_to_xyxy(t, picked, &pxy), done);
    LBBT_TRY_GOTO(st, lbbt_box_cxcywh_to_xyxy(t, tgt_boxes, &txy), done);
    LBBT_TRY_GOTO(st, lbbt_giou_loss(t, pxy, txy, &gl), done);
    LBBT_TRY_GOTO(st, lbbt_sum_all(t, gl, &gsum), done);
    LBBT_TRY_GOTO(st, lbbt_scale(t, gsum, (float)(1.0 / num_boxes), &gsum), done);
    if (parts) parts->l1 = l1->data[0], parts->giou = gsum->data[0];
    LBBT_TRY_GOTO(st, lbbt_scale(t, l1, cfg->w_l1, &l1), done);
    LBBT_TRY_GOTO(st, lbbt_scale(t, gsum, cfg->w_giou, &gsum), done);
    LBBT_TRY_GOTO(st, lbbt_add(t, loss, l1, &loss), done);
    LBBT_TRY_GOTO(st, lbbt_add(t, loss, gsum, &loss), done);
  }
  *out = loss;
done:
  free(classes), free(weights), free(probs), free(cost), free(r2c), free(rows);
  return st;
}
