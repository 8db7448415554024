/* Box ops on the tape: layout conversions (cxcywh <-> xyxy) and the elementwise generalised
 * IoU loss 1 - GIoU(a_i, b_i) (DETR's loss_giou before its sum / num_boxes).  C loops: the
 * tensors hold a few hundred boxes.  The GIoU forward is lbbt_box_giou_xyxy (metrics/boxes.c,
 * in double); the backward below differentiates the same expression by hand:
 *   g = I/U - (C - U)/C = I/U + U/C - 1,  U = |A| + |B| - I,
 *   I = max(0, min(ax1, bx1) - max(ax0, bx0)) * max(0, min(ay1, by1) - max(ay0, by0)),
 *   C = (max(ax1, bx1) - min(ax0, bx0)) * (max(ay1, by1) - min(ay0, by0)).
 * At a tie of min/max the gradient is split evenly, as torch.minimum/maximum do. */
#include <math.h>

#include "lbbt/boxes.h"
#include "lbbt/ops.h"
#include "ops/op_util.h"

static lbbt_status check_boxes(const char *op, const lbbt_tensor *x) {
  char s[OP_SHAPE_BUF];
  if (x->ndim < 1 || x->shape[x->ndim - 1] != 4)
    return lbbt_fail(LBBT_E_SHAPE, "%s: boxes %s must be [..., 4]", op, op_shape(x, s));
  return LBBT_OK;
}

/* ---- layout conversions ------------------------------------------------------------------ */
static lbbt_status cxcywh_to_xyxy_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const float *g = rec->out->grad;
  float *d = rec->in[0]->grad;
  for (int64_t i = 0; i < rec->out->numel; i += 4) {
    d[i] += g[i] + g[i + 2];
    d[i + 1] += g[i + 1] + g[i + 3];
    d[i + 2] += 0.5f * (g[i + 2] - g[i]);
    d[i + 3] += 0.5f * (g[i + 3] - g[i + 1]);
  }
  return LBBT_OK;
}

static lbbt_status xyxy_to_cxcywh_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const float *g = rec->out->grad;
  float *d = rec->in[0]->grad;
  for (int64_t i = 0; i < rec->out->numel; i += 4) {
    d[i] += 0.5f * g[i] - g[i + 2];
    d[i + 1] += 0.5f * g[i + 1] - g[i + 3];
    d[i + 2] += 0.5f * g[i] + g[i + 2];
    d[i + 3] += 0.5f * g[i + 1] + g[i + 3];
  }
  return LBBT_OK;
}

lbbt_status lbbt_box_cxcywh_to_xyxy(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(check_boxes("box_cxcywh_to_xyxy", x));
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  for (int64_t i = 0; i < x->numel; i += 4) lbbt_box_to_xyxy(x->data + i, (*out)->data + i);
  return lbbt_tape_push(t, "box_cxcywh_to_xyxy", cxcywh_to_xyxy_backward, *out, &x, 1, NULL, 0);
}

lbbt_status lbbt_box_xyxy_to_cxcywh(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(check_boxes("box_xyxy_to_cxcywh", x));
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  for (int64_t i = 0; i < x->numel; i += 4) lbbt_box_to_cxcywh(x->data + i, (*out)->data + i);
  return lbbt_tape_push(t, "box_xyxy_to_cxcywh", xyxy_to_cxcywh_backward, *out, &x, 1, NULL, 0);
}

/* ---- GIoU loss ---------------------------------------------------------------------------- */
/* d min(p, q) / dp: 1 if p < q, 0 if p > q, 1/2 at a tie (and d/dq = 1 - that). */
static inline double lesser_share(double p, double q) { return p < q ? 1.0 : p > q ? 0.0 : 0.5; }

/* Adds s * d(GIoU)/d(box) to da (box a) and db (box b); either may be NULL. */
static void giou_grad(const float *a, const float *b, double s, float *da, float *db) {
  double wa = (double)a[2] - a[0], ha = (double)a[3] - a[1];
  double wb = (double)b[2] - b[0], hb = (double)b[3] - b[1];
  double iw_raw = fmin(a[2], b[2]) - fmax(a[0], b[0]);
  double ih_raw = fmin(a[3], b[3]) - fmax(a[1], b[1]);
  double iw = iw_raw > 0 ? iw_raw : 0, ih = ih_raw > 0 ? ih_raw : 0, inter = iw * ih;
  double uni = wa * ha + wb * hb - inter;
  double cw = fmax(a[2], b[2]) - fmin(a[0], b[0]), ch = fmax(a[3], b[3]) - fmin(a[1], b[1]);
  double enc = cw * ch;
  /* partials of g through the intermediate quantities */
  double g_inter = 1.0 / uni + inter / (uni * uni) - 1.0 / enc;
  double g_area = -inter / (uni * uni) + 1.0 / enc; /* same for |A| and |B| */
  double g_enc = -uni / (enc * enc);
  double g_iw = iw_raw > 0 ? g_inter * ih : 0, g_ih = ih_raw > 0 ? g_inter * iw : 0;
  double g_cw = g_enc * ch, g_ch = g_enc * cw;
  double ga[4], gb[4];
  /* areas */
  ga[0] = -g_area * ha; ga[2] = g_area * ha; ga[1] = -g_area * wa; ga[3] = g_area * wa;
  gb[0] = -g_area * hb; gb[2] = g_area * hb; gb[1] = -g_area * wb; gb[3] = g_area * wb;
  /* intersection: + min(x1) - max(x0); enclosing: + max(x1) - min(x0) (per axis) */
  for (int k = 0; k < 2; k++) {
    double gi = k == 0 ? g_iw : g_ih, gc = k == 0 ? g_cw : g_ch;
    double s1 = lesser_share(a[k + 2], b[k + 2]);   /* a's share of min(a1, b1) */
    double s0 = 1.0 - lesser_share(a[k], b[k]);     /* a's share of max(a0, b0) */
    ga[k + 2] += gi * s1 + gc * (1.0 - s1);         /* max(a1, b1): the other share */
    gb[k + 2] += gi * (1.0 - s1) + gc * s1;
    ga[k] += -gi * s0 - gc * (1.0 - s0);            /* min(a0, b0): the other share */
    gb[k] += -gi * (1.0 - s0) - gc * s0;
  }
  for (int c = 0; c < 4; c++) {
    if (da) da[c] += (float)(s * ga[c]);
    if (db) db[c] += (float)(s * gb[c]);
  }
}

static lbbt_status giou_loss_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  lbbt_tensor *a = rec->in[0], *b = rec->in[1];
  float *da = a->requires_grad ? a->grad : NULL, *db = b->requires_grad ? b->grad : NULL;
  const float *g = rec->out->grad;
  for (int64_t i = 0; i < rec->out->numel; i++) /* loss = 1 - GIoU */
    giou_grad(a->data + 4 * i, b->data + 4 * i, -(double)g[i], da ? da + 4 * i : NULL,
              db ? db + 4 * i : NULL);
  return LBBT_OK;
}

lbbt_status lbbt_giou_loss(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out) {
  char sa[OP_SHAPE_BUF], sb[OP_SHAPE_BUF];
  *out = NULL;
  LBBT_TRY(check_boxes("giou_loss", a));
  if (!lbbt_tensor_same_shape(a, b))
    return lbbt_fail(LBBT_E_SHAPE, "giou_loss: boxes a %s and b %s must have the same shape",
                     op_shape(a, sa), op_shape(b, sb));
  int64_t n = a->numel / 4;
  LBBT_TRY(lbbt_boxes_check_xyxy(a->data, n, "giou_loss: boxes a"));
  LBBT_TRY(lbbt_boxes_check_xyxy(b->data, n, "giou_loss: boxes b"));
  int64_t shape[LBBT_MAX_DIMS] = {1};
  int nd = a->ndim > 1 ? a->ndim - 1 : 1; /* [..., 4] -> [...]; [4] -> [1] */
  for (int d = 0; d < a->ndim - 1; d++) shape[d] = a->shape[d];
  LBBT_TRY(lbbt_tape_tensor(t, nd, shape, out));
  for (int64_t i = 0; i < n; i++) {
    double g = lbbt_box_giou_xyxy(a->data + 4 * i, b->data + 4 * i, NULL);
    if (isnan(g)) {
      *out = NULL;
      return lbbt_fail(LBBT_E_NUMERIC, "giou_loss: pair %lld: both boxes have zero area",
                       (long long)i);
    }
    (*out)->data[i] = (float)(1.0 - g);
  }
  lbbt_tensor *in[2] = {a, b};
  return lbbt_tape_push(t, "giou_loss", giou_loss_backward, *out, in, 2, NULL, 0);
}
