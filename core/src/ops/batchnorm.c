/* batchnorm2d on oneDNN batch normalization (forward and backward, scale and shift as
 * separate arguments).
 *
 * Training mode (lbbt_tape_training): normalise with the batch's mean and biased variance
 * over (B, H, W), then update the running estimates as PyTorch does:
 *   running_mean = (1 - m) running_mean + m mean
 *   running_var  = (1 - m) running_var  + m var * n / (n - 1)      (n = B*H*W, unbiased)
 * Eval mode: normalise with the running estimates (oneDNN use_global_stats); gradients then
 * treat the statistics as constants. */
#include <string.h>

#include "ops/dnnl_util.h"
#include "lbbt/ops.h"
#include "ops/op_util.h"

typedef struct bn_problem {
  dnnl_memory_desc_t data; /* [B, C, H, W] */
  float eps;
  unsigned flags;
  dnnl_prop_kind_t prop; /* dnnl_forward_training, dnnl_backward, dnnl_backward_data */
} bn_problem;

static dnnl_status_t bn_build(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                              dnnl_primitive_attr_t attr, const void *user) {
  const bn_problem *p = user;
  dnnl_batch_normalization_desc_t fd;
  dnnl_status_t s = dnnl_batch_normalization_forward_desc_init(&fd, dnnl_forward_training,
                                                               &p->data, p->eps, p->flags);
  if (s != dnnl_success) return s;
  if (p->prop == dnnl_forward_training)
    return dnnl_primitive_desc_create(pd, &fd, attr, engine, NULL);
  dnnl_primitive_desc_t hint;
  if ((s = dnnl_primitive_desc_create(&hint, &fd, NULL, engine, NULL)) != dnnl_success) return s;
  dnnl_batch_normalization_desc_t bd;
  s = dnnl_batch_normalization_backward_desc_init(&bd, p->prop, &p->data, &p->data, p->eps,
                                                  p->flags);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &bd, attr, engine, hint);
  dnnl_primitive_desc_destroy(hint);
  return s;
}

static lbbt_status bn_prim(dnnl_prop_kind_t prop, const lbbt_tensor *x, float eps,
                           unsigned flags, lbbt_dnnl_prim **prim) {
  bn_problem p;
  memset(&p, 0, sizeof p);
  LBBT_TRY(lbbt_dnnl_md_tensor(&p.data, x));
  p.eps = eps;
  p.flags = flags;
  p.prop = prop;
  char key[LBBT_DNNL_KEY_MAX] = "";
  lbbt_dnnl_key_add(key, "prop=%d eps=%.9g flags=%u", (int)prop, eps, flags);
  lbbt_dnnl_key_md(key, "data", &p.data);
  return lbbt_dnnl_prim_get("batchnorm2d", key, bn_build, &p, prim);
}

typedef struct bn_ctx {
  float eps;
  unsigned flags;
  const float *mean, *var; /* [C], arena: the batch's statistics or the running ones */
} bn_ctx;

static lbbt_status batchnorm2d_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const bn_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0], *w = rec->in[1], *b = rec->in[2];
  int64_t C = x->shape[1];
  /* With scale or shift, dnnl_backward (oneDNN 2.6 implements backward_data only without
   * them); the parameter gradients it computes are dropped when not wanted. */
  int has_params = w || b;
  lbbt_dnnl_prim *prim;
  LBBT_TRY(bn_prim(has_params ? dnnl_backward : dnnl_backward_data, x, c->eps, c->flags, &prim));
  float *dx = op_scratch(t, x->numel), *dw = op_scratch(t, 2 * C), *db = dw + C;
  if (!dx || !dw) return LBBT_E_NOMEM;
  lbbt_dnnl_arg args[10];
  int n = 0;
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_SRC, x->data};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_MEAN, (void *)c->mean};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_VARIANCE, (void *)c->var};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_DIFF_DST, rec->out->grad};
  if (w) args[n++] = (lbbt_dnnl_arg){DNNL_ARG_SCALE, w->data};
  if (b) args[n++] = (lbbt_dnnl_arg){DNNL_ARG_SHIFT, b->data}; /* oneDNN asks for it */
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_DIFF_SRC, dx};
  if (w) args[n++] = (lbbt_dnnl_arg){DNNL_ARG_DIFF_SCALE, dw};
  if (b) args[n++] = (lbbt_dnnl_arg){DNNL_ARG_DIFF_SHIFT, db};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, n));
  if (x->requires_grad) op_accumulate(x->grad, dx, x->numel);
  if (w && w->requires_grad) op_accumulate(w->grad, dw, C);
  if (b && b->requires_grad) op_accumulate(b->grad, db, C);
  return LBBT_OK;
}

static int is_channel_vector(const lbbt_tensor *v, int64_t C) {
  return !v || (v->ndim == 1 && v->shape[0] == C);
}

lbbt_status lbbt_batchnorm2d(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *b,
                             lbbt_tensor *running_mean, lbbt_tensor *running_var, float momentum,
                             float eps, lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF], sw[OP_SHAPE_BUF], sb[OP_SHAPE_BUF], sm[OP_SHAPE_BUF], sv[OP_SHAPE_BUF];
  *out = NULL;
  int64_t C = x->ndim == 4 ? x->shape[1] : 0;
  if (x->ndim != 4 || !is_channel_vector(w, C) || !is_channel_vector(b, C) ||
      !is_channel_vector(running_mean, C) || !is_channel_vector(running_var, C))
    return lbbt_fail(LBBT_E_SHAPE,
                     "batchnorm2d: x %s, w %s, b %s, running_mean %s, running_var %s: need x "
                     "[B, C, H, W] and every other tensor [C]",
                     op_shape(x, sx), op_shape(w, sw), op_shape(b, sb), op_shape(running_mean, sm),
                     op_shape(running_var, sv));
  int training = lbbt_tape_training(t);
  int64_t n = x->numel / C;
  if (!training && (!running_mean || !running_var))
    return lbbt_fail(LBBT_E_INPUT,
                     "batchnorm2d: x %s: eval mode needs running_mean and running_var",
                     op_shape(x, sx));
  if (training && n < 2)
    return lbbt_fail(LBBT_E_SHAPE,
                     "batchnorm2d: x %s: training needs more than one value per channel "
                     "(B*H*W >= 2)",
                     op_shape(x, sx));
  LBBT_TRY(lbbt_tape_tensor(t, 4, x->shape, out));
  bn_ctx c = {eps, (w ? dnnl_use_scale : 0u) | (b ? dnnl_use_shift : 0u), NULL, NULL};
  /* Statistics live in the arena: computed here in training, or a copy of the running
   * estimates in eval (so that backward sees the values this forward used). */
  float *stats = op_scratch(t, 2 * C);
  if (!stats) return LBBT_E_NOMEM;
  c.mean = stats;
  c.var = stats + C;
  if (!training) {
    c.flags |= dnnl_use_global_stats;
    memcpy(stats, running_mean->data, (size_t)C * sizeof *stats);
    memcpy(stats + C, running_var->data, (size_t)C * sizeof *stats);
  }
  lbbt_dnnl_prim *prim;
  LBBT_TRY(bn_prim(dnnl_forward_training, x, eps, c.flags, &prim));
  lbbt_dnnl_arg args[6];
  int k = 0;
  args[k++] = (lbbt_dnnl_arg){DNNL_ARG_SRC, x->data};
  args[k++] = (lbbt_dnnl_arg){DNNL_ARG_DST, (*out)->data};
  args[k++] = (lbbt_dnnl_arg){DNNL_ARG_MEAN, (void *)c.mean};
  args[k++] = (lbbt_dnnl_arg){DNNL_ARG_VARIANCE, (void *)c.var};
  if (w) args[k++] = (lbbt_dnnl_arg){DNNL_ARG_SCALE, w->data};
  if (b) args[k++] = (lbbt_dnnl_arg){DNNL_ARG_SHIFT, b->data};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, k));
  if (training) {
    float unbias = (float)n / (float)(n - 1);
    for (int64_t ch = 0; ch < C; ch++) {
      if (running_mean)
        running_mean->data[ch] = (1.0f - momentum) * running_mean->data[ch] + momentum * c.mean[ch];
      if (running_var)
        running_var->data[ch] =
            (1.0f - momentum) * running_var->data[ch] + momentum * c.var[ch] * unbias;
    }
  }
  /* The running estimates are buffers, never differentiated. */
  lbbt_tensor *in[3] = {x, w, b};
  return lbbt_tape_push(t, "batchnorm2d", batchnorm2d_backward, *out, in, 3, &c, sizeof c);
}
