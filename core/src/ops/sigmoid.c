/* Logistic sigmoid y = 1 / (1 + exp(-x)): a detector's box head squashes (cx, cy, w, h) into
 * (0, 1) with it.  Evaluated in double per element (small tensors: Q queries x 4); the
 * backward reuses the output, dy/dx = y (1 - y). */
#include <math.h>

#include "lbbt/ops.h"
#include "ops/op_util.h"

static lbbt_status sigmoid_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  lbbt_tensor *x = rec->in[0];
  const float *g = rec->out->grad, *y = rec->out->data;
  float *dx = x->grad;
  for (int64_t i = 0; i < x->numel; i++) dx[i] += g[i] * y[i] * (1.0f - y[i]);
  return LBBT_OK;
}

lbbt_status lbbt_sigmoid(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  float *y = (*out)->data;
  for (int64_t i = 0; i < x->numel; i++) {
    /* the two forms keep exp's argument <= 0: no overflow for large |x| */
    double v = x->data[i], e = exp(-fabs(v));
    y[i] = (float)(v >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e));
  }
  return lbbt_tape_push(t, "sigmoid", sigmoid_backward, *out, &x, 1, NULL, 0);
}
