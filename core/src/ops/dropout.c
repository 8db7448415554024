/* Dropout and stochastic depth (drop path).
 *
 * Both are the identity, returning x itself (*out == x, nothing recorded), when the tape is
 * not in training mode or p == 0, as torch.nn.functional.dropout and timm's drop_path do.
 * Otherwise each element (dropout) or each sample along dim 0 (drop path) is kept with
 * probability 1 - p, kept values are scaled by 1/(1-p), dropped ones are 0; p == 1 drops
 * everything (scale 0, no division).  Masks are drawn serially from lbbt_tape_rng(t), one
 * uniform per element / sample in row-major order, kept when u >= p: the same tape seed gives
 * the same masks whatever the thread count. */
#include <math.h>
#include <string.h>

#include "lbbt/ops.h"
#include "lbbt/rng.h"

typedef struct dropout_ctx {
  const uint8_t *keep; /* per element (dropout) or per sample (drop path) */
  int64_t per_mask;    /* elements covered by one mask entry: 1 or numel / shape[0] */
  float scale;
} dropout_ctx;

static lbbt_status dropout_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  (void)tape;
  const dropout_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  if (!x->requires_grad) return LBBT_OK;
  const float *dy = rec->out->grad;
  const int64_t n = x->numel;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++)
    if (c->keep[i / c->per_mask]) x->grad[i] += dy[i] * c->scale;
  return LBBT_OK;
}

static lbbt_status check_p(const char *op, const lbbt_tensor *x, float p) {
  if (!(p >= 0.0f && p <= 1.0f)) {
    char sb[64];
    return lbbt_fail(LBBT_E_INPUT, "%s: probability p = %g on '%s' %s must be in [0, 1]", op,
                     (double)p, x->name ? x->name : "?", lbbt_shape_str(x, sb, sizeof sb));
  }
  return LBBT_OK;
}

/* Shared body: n_masks mask entries, each covering per_mask consecutive elements.
 * per_sample (drop path) on a sharded tape: draw the global batch's masks and keep this
 * shard's, so data-parallel ranks drop the samples one process would. */
static lbbt_status masked_scale(lbbt_tape *t, const char *op, lbbt_tensor *x, float p,
                                int64_t n_masks, int per_sample, lbbt_tensor **out) {
  const int64_t per_mask = x->numel / n_masks;
  const float scale = p < 1.0f ? (float)(1.0 / (1.0 - (double)p)) : 0.0f;
  uint8_t *keep = lbbt_tape_alloc(t, (size_t)n_masks);
  if (!keep) return LBBT_E_NOMEM;
  struct lbbt_rng *rng = lbbt_tape_rng(t);
  int64_t total = 0, lo = per_sample ? lbbt_tape_batch_shard(t, &total) : 0;
  if (!per_sample || total < lo + n_masks) lo = 0, total = n_masks;
  for (int64_t m = 0; m < total; m++) {
    int kept = lbbt_rng_uniform(rng) >= (double)p;
    if (m >= lo && m < lo + n_masks) keep[m - lo] = (uint8_t)kept;
  }

  lbbt_tensor *y;
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, &y));
  const int64_t n = x->numel;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) y->data[i] = keep[i / per_mask] ? x->data[i] * scale : 0.0f;

  dropout_ctx c = {keep, per_mask, scale};
  lbbt_tensor *inputs[1] = {x};
  LBBT_TRY(lbbt_tape_push(t, op, dropout_backward, y, inputs, 1, &c, sizeof c));
  *out = y;
  return LBBT_OK;
}

lbbt_status lbbt_dropout(lbbt_tape *t, lbbt_tensor *x, float p, lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(check_p("dropout", x, p));
  if (!lbbt_tape_training(t) || p == 0.0f) {
    *out = x;
    return LBBT_OK;
  }
  return masked_scale(t, "dropout", x, p, x->numel, 0, out);
}

lbbt_status lbbt_drop_path(lbbt_tape *t, lbbt_tensor *x, float p, lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(check_p("drop_path", x, p));
  if (!lbbt_tape_training(t) || p == 0.0f) {
    *out = x;
    return LBBT_OK;
  }
  return masked_scale(t, "drop_path", x, p, x->shape[0], 1, out);
}
