/* Normalisation over the last dim: layernorm (oneDNN layer normalization forward/backward
 * with separate scale and shift) and rmsnorm (C loops: oneDNN 2.6 has no RMSNorm).
 * x is seen as [rows, C]. */
#include <math.h>
#include <string.h>

#include "ops/dnnl_util.h"
#include "lbbt/ops.h"
#include "ops/op_util.h"

static lbbt_status check_norm(const char *op, const lbbt_tensor *x, const lbbt_tensor *w,
                              const lbbt_tensor *b) {
  char sx[OP_SHAPE_BUF], sw[OP_SHAPE_BUF], sb[OP_SHAPE_BUF];
  int64_t C = x->shape[x->ndim - 1];
  if (!w || w->ndim != 1 || w->shape[0] != C || (b && (b->ndim != 1 || b->shape[0] != C)))
    return lbbt_fail(LBBT_E_SHAPE,
                     "%s: x %s, w %s, b %s: w%s must be [C] with C = x's last dim (%lld)", op,
                     op_shape(x, sx), op_shape(w, sw), op_shape(b, sb), b ? " and b" : "",
                     (long long)C);
  return LBBT_OK;
}

/* ---- layernorm ------------------------------------------------------------------------ */
typedef struct layernorm_problem {
  dnnl_memory_desc_t data; /* [rows, C] */
  float eps;
  unsigned flags;
  dnnl_prop_kind_t prop; /* dnnl_forward_training, dnnl_backward or dnnl_backward_data */
} layernorm_problem;

static dnnl_status_t layernorm_build(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                     dnnl_primitive_attr_t attr, const void *user) {
  const layernorm_problem *p = user;
  dnnl_layer_normalization_desc_t fd;
  dnnl_status_t s = dnnl_layer_normalization_forward_desc_init(&fd, dnnl_forward_training,
                                                               &p->data, NULL, p->eps, p->flags);
  if (s != dnnl_success) return s;
  if (p->prop == dnnl_forward_training)
    return dnnl_primitive_desc_create(pd, &fd, attr, engine, NULL);
  dnnl_primitive_desc_t hint;
  if ((s = dnnl_primitive_desc_create(&hint, &fd, NULL, engine, NULL)) != dnnl_success) return s;
  dnnl_layer_normalization_desc_t bd;
  s = dnnl_layer_normalization_backward_desc_init(&bd, p->prop, &p->data, &p->data, NULL, p->eps,
                                                  p->flags);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &bd, attr, engine, hint);
  dnnl_primitive_desc_destroy(hint);
  return s;
}

static lbbt_status layernorm_prim(dnnl_prop_kind_t prop, int64_t rows, int64_t C, float eps,
                                  int has_shift, lbbt_dnnl_prim **prim) {
  layernorm_problem p;
  memset(&p, 0, sizeof p);
  LBBT_TRY(lbbt_dnnl_md(&p.data, 2, (int64_t[]){rows, C}));
  p.eps = eps;
  p.flags = dnnl_use_scale | (has_shift ? dnnl_use_shift : 0);
  p.prop = prop;
  char key[LBBT_DNNL_KEY_MAX] = "";
  lbbt_dnnl_key_add(key, "prop=%d eps=%.9g flags=%u", (int)prop, eps, p.flags);
  lbbt_dnnl_key_md(key, "data", &p.data);
  return lbbt_dnnl_prim_get("layernorm", key, layernorm_build, &p, prim);
}

typedef struct layernorm_ctx {
  float eps;
  float *mean, *var; /* [rows], arena */
} layernorm_ctx;

static lbbt_status layernorm_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const layernorm_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0], *w = rec->in[1], *b = rec->in[2];
  int64_t C = x->shape[x->ndim - 1], rows = x->numel / C;
  /* Always dnnl_backward: oneDNN 2.6 implements backward_data only without scale/shift. */
  lbbt_dnnl_prim *prim;
  LBBT_TRY(layernorm_prim(dnnl_backward, rows, C, c->eps, b != NULL, &prim));
  /* oneDNN overwrites its outputs; the contract is +=, so they land in scratch first,
   * except dx when x's gradient is fresh (tape_internal.h): then it is written in place. */
  int acc_x = 1;
  float *dx_grad = x->requires_grad ? lbbt_tape_grad_for(t, x, &acc_x) : NULL;
  if (x->requires_grad && !dx_grad) return LBBT_E_NOMEM;
  float *dx = acc_x ? op_scratch(t, x->numel) : dx_grad, *dw = op_scratch(t, 2 * C), *db = dw + C;
  if (!dx || !dw) return LBBT_E_NOMEM;
  lbbt_dnnl_arg args[10];
  int n = 0;
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_SRC, x->data};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_MEAN, c->mean};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_VARIANCE, c->var};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_DIFF_DST, rec->out->grad};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_SCALE, w->data};
  if (b) args[n++] = (lbbt_dnnl_arg){DNNL_ARG_SHIFT, b->data};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_DIFF_SRC, dx};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_DIFF_SCALE, dw};
  if (b) args[n++] = (lbbt_dnnl_arg){DNNL_ARG_DIFF_SHIFT, db};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, n));
  if (x->requires_grad && acc_x) op_accumulate(dx_grad, dx, x->numel);
  if (w->requires_grad) {
    float *g = op_grad_zeroed(t, w);
    if (!g) return LBBT_E_NOMEM;
    op_accumulate(g, dw, C);
  }
  if (b && b->requires_grad) {
    float *g = op_grad_zeroed(t, b);
    if (!g) return LBBT_E_NOMEM;
    op_accumulate(g, db, C);
  }
  return LBBT_OK;
}

lbbt_status lbbt_layernorm(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *b, float eps,
                           lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(check_norm("layernorm", x, w, b));
  int64_t C = x->shape[x->ndim - 1], rows = x->numel / C;
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  layernorm_ctx c = {eps, op_scratch(t, rows), op_scratch(t, rows)};
  if (!c.mean || !c.var) return LBBT_E_NOMEM;
  lbbt_dnnl_prim *prim;
  LBBT_TRY(layernorm_prim(dnnl_forward_training, rows, C, eps, b != NULL, &prim));
  lbbt_dnnl_arg args[6];
  int n = 0;
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_SRC, x->data};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_DST, (*out)->data};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_SCALE, w->data};
  if (b) args[n++] = (lbbt_dnnl_arg){DNNL_ARG_SHIFT, b->data};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_MEAN, c.mean};
  args[n++] = (lbbt_dnnl_arg){DNNL_ARG_VARIANCE, c.var};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, n));
  lbbt_tensor *in[3] = {x, w, b};
  return lbbt_tape_push_fresh(t, "layernorm", layernorm_backward, *out, in, 3, &c, sizeof c);
}

/* ---- rmsnorm -------------------------------------------------------------------------- */
typedef struct rmsnorm_ctx {
  float *inv_rms; /* [rows]: 1 / sqrt(mean(x^2) + eps), arena */
} rmsnorm_ctx;

static lbbt_status rmsnorm_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const rmsnorm_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0], *w = rec->in[1];
  int64_t C = x->shape[x->ndim - 1], rows = x->numel / C;
  const float *g = rec->out->grad, *xd = x->data, *wd = w->data, *r = c->inv_rms;
  if (x->requires_grad) {
    /* y = x r w with r = (mean(x^2) + eps)^-1/2:
     * dx = r (g w) - x r^3 / C * sum_j (g w x)_j */
    float *dx = x->grad;
#pragma omp parallel for if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
      const float *gi = g + i * C, *xi = xd + i * C;
      float dot = 0.f;
#pragma omp simd reduction(+ : dot)
      for (int64_t j = 0; j < C; j++) dot += gi[j] * wd[j] * xi[j];
      float ri = r[i], k = ri * ri * ri * dot / (float)C;
      float *dxi = dx + i * C;
#pragma omp simd
      for (int64_t j = 0; j < C; j++) dxi[j] += ri * gi[j] * wd[j] - k * xi[j];
    }
  }
  if (w->requires_grad) {
    /* dw[j] += sum_i g[i, j] x[i, j] r[i] */
    float *prod = op_scratch(t, x->numel);
    if (!prod) return LBBT_E_NOMEM;
#pragma omp parallel for if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
    for (int64_t i = 0; i < rows; i++) {
#pragma omp simd
      for (int64_t j = 0; j < C; j++) prod[i * C + j] = g[i * C + j] * xd[i * C + j] * r[i];
    }
    op_colsum_accumulate(w->grad, prod, rows, C);
  }
  return LBBT_OK;
}

lbbt_status lbbt_rmsnorm(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, float eps,
                         lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(check_norm("rmsnorm", x, w, NULL));
  int64_t C = x->shape[x->ndim - 1], rows = x->numel / C;
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  rmsnorm_ctx c = {op_scratch(t, rows)};
  if (!c.inv_rms) return LBBT_E_NOMEM;
  const float *xd = x->data, *wd = w->data;
  float *y = (*out)->data, *r = c.inv_rms;
#pragma omp parallel for if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < rows; i++) {
    const float *xi = xd + i * C;
    float ss = 0.f;
#pragma omp simd reduction(+ : ss)
    for (int64_t j = 0; j < C; j++) ss += xi[j] * xi[j];
    float ri = 1.0f / sqrtf(ss / (float)C + eps);
    r[i] = ri;
    float *yi = y + i * C;
#pragma omp simd
    for (int64_t j = 0; j < C; j++) yi[j] = xi[j] * ri * wd[j];
  }
  lbbt_tensor *in[2] = {x, w};
  return lbbt_tape_push(t, "rmsnorm", rmsnorm_backward, *out, in, 2, &c, sizeof c);
}
