/* Cross-entropy with per-class weights, PyTorch's F.cross_entropy(logits, y, weight=w):
 *   loss = sum_i w[y_i] * (-log softmax(logits_i)[y_i]) / sum_i w[y_i]
 * over the rows with y_i >= 0.  Set-prediction detectors down-weight their no-object class
 * this way (DETR's eos_coef 0.1).  C loops in double: N is a few hundred queries. */
#include <math.h>
#include <string.h>

#include "lbbt/ops.h"
#include "ops/op_util.h"

typedef struct weighted_ce_ctx {
  const int32_t *targets; /* [N], arena copy */
  const float *weights;   /* [V], arena copy */
  float *lse;             /* [N] log-sum-exp per row, arena */
  double weight_sum;
} weighted_ce_ctx;

static lbbt_status weighted_ce_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const weighted_ce_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  int64_t N = x->shape[0], V = x->shape[1];
  if (c->weight_sum == 0) return LBBT_OK; /* loss is the constant 0 */
  /* d loss / d logit[i, j] = w[y_i] (p[i, j] - [j == y_i]) / sum w */
  double g = rec->out->grad[0] / c->weight_sum;
  for (int64_t i = 0; i < N; i++) {
    int32_t y = c->targets[i];
    if (y < 0) continue;
    double s = g * c->weights[y];
    const float *xi = x->data + i * V;
    float *dxi = x->grad + i * V;
    for (int64_t j = 0; j < V; j++) dxi[j] += (float)(s * exp((double)xi[j] - c->lse[i]));
    dxi[y] -= (float)s;
  }
  return LBBT_OK;
}

lbbt_status lbbt_cross_entropy_weighted(lbbt_tape *t, lbbt_tensor *logits, const int32_t *targets,
                                        const float *class_weights, lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF];
  *out = NULL;
  if (logits->ndim != 2)
    return lbbt_fail(LBBT_E_SHAPE, "cross_entropy_weighted: logits %s must be [N, V]",
                     op_shape(logits, sx));
  int64_t N = logits->shape[0], V = logits->shape[1];
  for (int64_t j = 0; j < V; j++)
    if (!(class_weights[j] >= 0) || isinf(class_weights[j]))
      return lbbt_fail(LBBT_E_INPUT, "cross_entropy_weighted: class %lld has weight %g; weights "
                       "must be finite and >= 0", (long long)j, (double)class_weights[j]);
  for (int64_t i = 0; i < N; i++)
    if (targets[i] >= V)
      return lbbt_fail(LBBT_E_INPUT, "cross_entropy_weighted: target %lld is %d, outside [0, %lld) "
                       "for logits %s", (long long)i, (int)targets[i], (long long)V,
                       op_shape(logits, sx));
  LBBT_TRY(lbbt_tape_tensor(t, 1, (int64_t[]){1}, out));
  weighted_ce_ctx c = {NULL, NULL, op_scratch(t, N), 0};
  int32_t *tg = lbbt_tape_alloc(t, (size_t)(N > 0 ? N : 1) * sizeof *tg);
  float *w = op_scratch(t, V);
  if (!c.lse || !tg || !w) return LBBT_E_NOMEM;
  memcpy(tg, targets, (size_t)N * sizeof *tg);
  memcpy(w, class_weights, (size_t)V * sizeof *w);
  c.targets = tg, c.weights = w;
  double total = 0;
  for (int64_t i = 0; i < N; i++) {
    const float *xi = logits->data + i * V;
    double mx = xi[0], se = 0;
    for (int64_t j = 1; j < V; j++) mx = xi[j] > mx ? xi[j] : mx;
    for (int64_t j = 0; j < V; j++) se += exp((double)xi[j] - mx);
    double lse = mx + log(se);
    c.lse[i] = (float)lse;
    if (tg[i] < 0) continue;
    total += (double)w[tg[i]] * (lse - xi[tg[i]]);
    c.weight_sum += w[tg[i]];
  }
  /* PyTorch gives NaN (0/0) when no row counts; 0 with no gradient keeps training going */
  (*out)->data[0] = c.weight_sum > 0 ? (float)(total / c.weight_sum) : 0.0f;
  return lbbt_tape_push(t, "cross_entropy_weighted", weighted_ce_backward, *out, &logits, 1, &c,
                        sizeof c);
}
