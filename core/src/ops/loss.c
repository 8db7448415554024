/* Softmax over the last dim (oneDNN softmax v2, accurate algorithm, forward and backward)
 * and the losses (C loops): cross-entropy with ignored targets and label smoothing,
 * mean squared error, mean absolute error.  The loss loops vectorise (op_expf); sums over
 * rows accumulate in double so that the mean of many rows does not lose the small ones. */
#include <math.h>
#include <string.h>

#include "ops/dnnl_util.h"
#include "lbbt/ops.h"
#include "ops/op_util.h"

/* ---- softmax -------------------------------------------------------------------------- */
typedef struct softmax_problem {
  dnnl_memory_desc_t data; /* [rows, C], axis 1 */
  int backward;
} softmax_problem;

static dnnl_status_t softmax_build(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_primitive_attr_t attr, const void *user) {
  const softmax_problem *p = user;
  dnnl_softmax_v2_desc_t fd;
  dnnl_status_t s = dnnl_softmax_v2_forward_desc_init(&fd, dnnl_forward_training,
                                                      dnnl_softmax_accurate, &p->data, &p->data, 1);
  if (s != dnnl_success) return s;
  if (!p->backward) return dnnl_primitive_desc_create(pd, &fd, attr, engine, NULL);
  dnnl_primitive_desc_t hint;
  if ((s = dnnl_primitive_desc_create(&hint, &fd, NULL, engine, NULL)) != dnnl_success) return s;
  dnnl_softmax_v2_desc_t bd;
  s = dnnl_softmax_v2_backward_desc_init(&bd, dnnl_softmax_accurate, &p->data, &p->data, &p->data,
                                         1);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &bd, attr, engine, hint);
  dnnl_primitive_desc_destroy(hint);
  return s;
}

static lbbt_status softmax_prim(int backward, int64_t rows, int64_t C, lbbt_dnnl_prim **prim) {
  softmax_problem p;
  memset(&p, 0, sizeof p);
  LBBT_TRY(lbbt_dnnl_md(&p.data, 2, (int64_t[]){rows, C}));
  p.backward = backward;
  char key[LBBT_DNNL_KEY_MAX] = "";
  lbbt_dnnl_key_add(key, "%s", backward ? "bwd" : "fwd");
  lbbt_dnnl_key_md(key, "data", &p.data);
  return lbbt_dnnl_prim_get("softmax", key, softmax_build, &p, prim);
}

static lbbt_status softmax_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  lbbt_tensor *x = rec->in[0], *y = rec->out;
  int64_t C = x->shape[x->ndim - 1];
  lbbt_dnnl_prim *prim;
  LBBT_TRY(softmax_prim(1, x->numel / C, C, &prim));
  float *dx = op_scratch(t, x->numel);
  if (!dx) return LBBT_E_NOMEM;
  lbbt_dnnl_arg args[3] = {
      {DNNL_ARG_DST, y->data}, {DNNL_ARG_DIFF_DST, y->grad}, {DNNL_ARG_DIFF_SRC, dx}};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, 3));
  op_accumulate(x->grad, dx, x->numel);
  return LBBT_OK;
}

lbbt_status lbbt_softmax(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out) {
  *out = NULL;
  int64_t C = x->shape[x->ndim - 1];
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  lbbt_dnnl_prim *prim;
  LBBT_TRY(softmax_prim(0, x->numel / C, C, &prim));
  lbbt_dnnl_arg args[2] = {{DNNL_ARG_SRC, x->data}, {DNNL_ARG_DST, (*out)->data}};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, 2));
  return lbbt_tape_push(t, "softmax", softmax_backward, *out, &x, 1, NULL, 0);
}

/* ---- cross-entropy -------------------------------------------------------------------- */
/* PyTorch's definition, per row i with target y_i (rows with y_i < 0 are skipped):
 *   loss_i = (1 - e) * (-log p_i[y_i]) + e * mean_j(-log p_i[j]),  p_i = softmax(logits_i)
 * and the result is the mean of loss_i over the n counted rows. */
typedef struct cross_entropy_ctx {
  const int32_t *targets; /* [N], copied into the arena */
  float *lse;             /* [N] log-sum-exp of each row, arena */
  float smoothing;
  int64_t counted;
} cross_entropy_ctx;

static lbbt_status cross_entropy_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const cross_entropy_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  int64_t V = x->shape[1], N = x->shape[0];
  if (c->counted == 0) return LBBT_OK; /* every target ignored: the loss is a constant 0 */
  /* dloss/dlogit[i, j] = (p[i, j] - (1 - e) [j == y_i] - e / V) / n */
  float scale = rec->out->grad[0] / (float)c->counted, e = c->smoothing;
  float uniform = e / (float)V;
#pragma omp parallel for if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < N; i++) {
    int32_t y = c->targets[i];
    if (y < 0) continue;
    const float *xi = x->data + i * V;
    float *dxi = x->grad + i * V, lse = c->lse[i];
#pragma omp simd
    for (int64_t j = 0; j < V; j++) dxi[j] += scale * (op_expf(xi[j] - lse) - uniform);
    dxi[y] -= scale * (1.0f - e);
  }
  return LBBT_OK;
}

lbbt_status lbbt_cross_entropy(lbbt_tape *t, lbbt_tensor *logits, const int32_t *targets,
                               float label_smoothing, lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF];
  *out = NULL;
  if (logits->ndim != 2)
    return lbbt_fail(LBBT_E_SHAPE,
                     "cross_entropy: logits %s must be [N, V] (reshape [B, T, V] to [B*T, V])",
                     op_shape(logits, sx));
  if (!(label_smoothing >= 0.0f && label_smoothing < 1.0f))
    return lbbt_fail(LBBT_E_INPUT, "cross_entropy: label smoothing %g is outside [0, 1)",
                     (double)label_smoothing);
  int64_t N = logits->shape[0], V = logits->shape[1];
  for (int64_t i = 0; i < N; i++)
    if (targets[i] >= V)
      return lbbt_fail(LBBT_E_INPUT,
                       "cross_entropy: target %lld is %d, outside [0, %lld) for logits %s",
                       (long long)i, (int)targets[i], (long long)V, op_shape(logits, sx));
  LBBT_TRY(lbbt_tape_tensor(t, 1, (int64_t[]){1}, out));
  cross_entropy_ctx c = {NULL, op_scratch(t, N), label_smoothing, 0};
  int32_t *tg = lbbt_tape_alloc(t, (size_t)N * sizeof *tg);
  if (!c.lse || !tg) return LBBT_E_NOMEM;
  memcpy(tg, targets, (size_t)N * sizeof *tg);
  c.targets = tg;
  double total = 0.0;
  int64_t counted = 0;
  double e = label_smoothing;
#pragma omp parallel for reduction(+ : total, counted) if (logits->numel >= LBBT_PAR_MIN_ELEMS) \
    schedule(static)
  for (int64_t i = 0; i < N; i++) {
    const float *xi = logits->data + i * V;
    float mx = xi[0];
#pragma omp simd reduction(max : mx)
    for (int64_t j = 1; j < V; j++) mx = xi[j] > mx ? xi[j] : mx;
    float se = 0.f, sum_x = 0.f;
#pragma omp simd reduction(+ : se, sum_x)
    for (int64_t j = 0; j < V; j++) {
      se += op_expf(xi[j] - mx);
      sum_x += xi[j];
    }
    double lse = (double)mx + log((double)se);
    c.lse[i] = (float)lse;
    if (tg[i] < 0) continue;
    double nll = lse - xi[tg[i]];
    double smooth = lse - (double)sum_x / (double)V; /* mean_j(-log p[j]) */
    total += (1.0 - e) * nll + e * smooth;
    counted++;
  }
  c.counted = counted;
  /* PyTorch returns NaN (0/0) when every target is ignored; a loss of 0 with zero gradient
   * keeps a training loop going on such a batch. */
  (*out)->data[0] = counted ? (float)(total / (double)counted) : 0.0f;
  return lbbt_tape_push(t, "cross_entropy", cross_entropy_backward, *out, &logits, 1, &c,
                        sizeof c);
}

/* ---- mse, l1 -------------------------------------------------------------------------- */
static lbbt_status check_same(const char *op, const lbbt_tensor *a, const lbbt_tensor *b) {
  char sa[OP_SHAPE_BUF], sb[OP_SHAPE_BUF];
  if (!lbbt_tensor_same_shape(a, b))
    return lbbt_fail(LBBT_E_SHAPE, "%s: a %s and b %s must have the same shape", op,
                     op_shape(a, sa), op_shape(b, sb));
  return LBBT_OK;
}

typedef enum { LOSS_MSE, LOSS_L1 } pointwise_loss;

static lbbt_status pointwise_loss_backward(const lbbt_op_record *rec, pointwise_loss k) {
  lbbt_tensor *a = rec->in[0], *b = rec->in[1];
  int64_t n = a->numel;
  float g = rec->out->grad[0] / (float)n;
  float *da = a->requires_grad ? a->grad : NULL, *db = b->requires_grad ? b->grad : NULL;
#pragma omp parallel for if (n >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float d = a->data[i] - b->data[i];
    /* d|d|/dd is sign(d), 0 at d = 0 as in PyTorch */
    float gi = k == LOSS_MSE ? 2.0f * g * d : g * (float)((d > 0.f) - (d < 0.f));
    if (da) da[i] += gi;
    if (db) db[i] -= gi;
  }
  return LBBT_OK;
}
static lbbt_status mse_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  return pointwise_loss_backward(rec, LOSS_MSE);
}
static lbbt_status l1_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  return pointwise_loss_backward(rec, LOSS_L1);
}

static lbbt_status pointwise_loss_op(lbbt_tape *t, pointwise_loss k, lbbt_tensor *a,
                                     lbbt_tensor *b, lbbt_tensor **out) {
  const char *name = k == LOSS_MSE ? "mse" : "l1";
  *out = NULL;
  LBBT_TRY(check_same(name, a, b));
  LBBT_TRY(lbbt_tape_tensor(t, 1, (int64_t[]){1}, out));
  double total = 0.0;
  int64_t n = a->numel;
#pragma omp parallel for reduction(+ : total) if (n >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a->data[i] - (double)b->data[i];
    total += k == LOSS_MSE ? d * d : fabs(d);
  }
  (*out)->data[0] = (float)(total / (double)n);
  lbbt_tensor *in[2] = {a, b};
  return lbbt_tape_push(t, name, k == LOSS_MSE ? mse_backward : l1_backward, *out, in, 2, NULL,
                        0);
}

lbbt_status lbbt_mse(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out) {
  return pointwise_loss_op(t, LOSS_MSE, a, b, out);
}
lbbt_status lbbt_l1(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out) {
  return pointwise_loss_op(t, LOSS_L1, a, b, out);
}
