/* Elementwise ops: add, mul (trailing broadcast), scale, gelu, silu, relu.
 *
 * add/mul/scale/relu are memory-bound one-liners: plain C loops (OpenMP + SIMD) that fuse
 * the gradient accumulation (+=) into the same pass are as fast as any primitive.
 * gelu (tanh form) and silu are vectorised C loops compiled per ISA level (row_kernels.h,
 * on op_expf: the C library's tanhf and expf are scalar calls).  gelu (erf form) uses
 * oneDNN's eltwise_gelu_erf forward and backward; its backward writes dx into arena
 * scratch, then it is accumulated into x->grad. */
#include <string.h>

#include "ops/dnnl_util.h"
#include "lbbt/ops.h"
#include "ops/op_util.h"
#include "ops/row_kernels.h"

/* ---- add / mul with trailing broadcast ------------------------------------------------ */
/* b's shape must equal the trailing part of a's (same shape included); leading 1s of b are
 * ignored ([1, 1, C] broadcasts like [C]). */
static lbbt_status check_broadcast(const char *op, const lbbt_tensor *a, const lbbt_tensor *b) {
  char sa[OP_SHAPE_BUF], sb[OP_SHAPE_BUF];
  int lead = 0;
  while (lead < b->ndim - 1 && b->shape[lead] == 1) lead++;
  int nb = b->ndim - lead, ok = nb <= a->ndim;
  for (int i = 0; ok && i < nb; i++) ok = b->shape[lead + i] == a->shape[a->ndim - nb + i];
  if (!ok)
    return lbbt_fail(LBBT_E_SHAPE,
                     "%s: a %s and b %s: b's shape must equal a's or a trailing part of it", op,
                     op_shape(a, sa), op_shape(b, sb));
  return LBBT_OK;
}

typedef enum { BIN_ADD, BIN_MUL } binary_kind;

/* out[r, j] = a[r, j] (+ or *) b[j]; a seen as [reps, nb]. */
static void binary_forward(binary_kind k, float *restrict out, const float *restrict a,
                           const float *restrict b, int64_t reps, int64_t nb) {
  if (reps == 1) {
#pragma omp parallel for simd if (nb >= LBBT_PAR_MIN_ELEMS) schedule(static)
    for (int64_t j = 0; j < nb; j++) out[j] = k == BIN_ADD ? a[j] + b[j] : a[j] * b[j];
    return;
  }
#pragma omp parallel for if (reps * nb >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t r = 0; r < reps; r++) {
    const float *ar = a + r * nb;
    float *o = out + r * nb;
    if (k == BIN_ADD) {
#pragma omp simd
      for (int64_t j = 0; j < nb; j++) o[j] = ar[j] + b[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < nb; j++) o[j] = ar[j] * b[j];
    }
  }
}

/* Fresh-gradient backward (tape_internal.h): a same-shape add hands its output gradient
 * to a (no copy) when a has none yet. */
static lbbt_status binary_backward(lbbt_tape *t, const lbbt_op_record *rec, binary_kind k) {
  lbbt_tensor *a = rec->in[0], *b = rec->in[1];
  float *g = rec->out->grad;
  int64_t nb = b->numel, reps = a->numel / nb;
  int acc;
  if (a->requires_grad) {
    if (k == BIN_ADD) {
      if (!lbbt_tape_grad_adopt(t, a, g)) {
        float *da = op_grad_zeroed(t, a); /* exists, or a parameter's (heap) gradient */
        if (!da) return LBBT_E_NOMEM;
        op_accumulate(da, g, a->numel);
      }
    } else {
      float *da = lbbt_tape_grad_for(t, a, &acc);
      if (!da) return LBBT_E_NOMEM;
      const float *bd = b->data;
#pragma omp parallel for if (a->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
      for (int64_t r = 0; r < reps; r++) {
        float *dar = da + r * nb;
        const float *gr = g + r * nb;
        if (acc) {
#pragma omp simd
          for (int64_t j = 0; j < nb; j++) dar[j] += gr[j] * bd[j];
        } else {
#pragma omp simd
          for (int64_t j = 0; j < nb; j++) dar[j] = gr[j] * bd[j];
        }
      }
    }
  }
  if (!b->requires_grad) return LBBT_OK;
  if (reps == 1) { /* same shape: no reduction */
    float *db = lbbt_tape_grad_for(t, b, &acc);
    if (!db) return LBBT_E_NOMEM;
    const float *ad = a->data;
    if (k == BIN_ADD && db == g) { /* a + a: a adopted g above, so the sum is 2 g */
#pragma omp parallel for simd if (nb >= LBBT_PAR_MIN_ELEMS) schedule(static)
      for (int64_t j = 0; j < nb; j++) db[j] *= 2.0f;
    } else if (k == BIN_ADD && acc) {
      op_accumulate(db, g, nb);
    } else if (k == BIN_ADD) {
      memcpy(db, g, (size_t)nb * sizeof *db);
    } else if (acc) {
#pragma omp parallel for simd if (nb >= LBBT_PAR_MIN_ELEMS) schedule(static)
      for (int64_t j = 0; j < nb; j++) db[j] += g[j] * ad[j];
    } else {
#pragma omp parallel for simd if (nb >= LBBT_PAR_MIN_ELEMS) schedule(static)
      for (int64_t j = 0; j < nb; j++) db[j] = g[j] * ad[j];
    }
    return LBBT_OK;
  }
  float *db = op_grad_zeroed(t, b);
  if (!db) return LBBT_E_NOMEM;
  if (k == BIN_ADD) {
    op_colsum_accumulate(db, g, reps, nb);
    return LBBT_OK;
  }
  /* db[j] += sum_r g[r, j] * a[r, j]: form the products in scratch, then reduce columns. */
  float *prod = op_scratch(t, a->numel);
  if (!prod) return LBBT_E_NOMEM;
  const float *ad = a->data;
#pragma omp parallel for simd if (a->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < a->numel; i++) prod[i] = g[i] * ad[i];
  op_colsum_accumulate(db, prod, reps, nb);
  return LBBT_OK;
}

static lbbt_status add_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  return binary_backward(t, rec, BIN_ADD);
}
static lbbt_status mul_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  return binary_backward(t, rec, BIN_MUL);
}

static lbbt_status binary_op(lbbt_tape *t, binary_kind k, lbbt_tensor *a, lbbt_tensor *b,
                             lbbt_tensor **out) {
  const char *name = k == BIN_ADD ? "add" : "mul";
  *out = NULL;
  LBBT_TRY(check_broadcast(name, a, b));
  LBBT_TRY(lbbt_tape_tensor(t, a->ndim, a->shape, out));
  binary_forward(k, (*out)->data, a->data, b->data, a->numel / b->numel, b->numel);
  lbbt_tensor *in[2] = {a, b};
  return lbbt_tape_push_fresh(t, name, k == BIN_ADD ? add_backward : mul_backward, *out, in, 2,
                              NULL, 0);
}

lbbt_status lbbt_add(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out) {
  return binary_op(t, BIN_ADD, a, b, out);
}
lbbt_status lbbt_mul(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out) {
  return binary_op(t, BIN_MUL, a, b, out);
}

/* ---- scale ---------------------------------------------------------------------------- */
typedef struct scale_ctx {
  float s;
} scale_ctx;

static lbbt_status scale_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const scale_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  const float *g = rec->out->grad, s = c->s;
  float *dx = x->grad;
#pragma omp parallel for simd if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < x->numel; i++) dx[i] += s * g[i];
  return LBBT_OK;
}

lbbt_status lbbt_scale(lbbt_tape *t, lbbt_tensor *x, float s, lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  float *y = (*out)->data;
  const float *xd = x->data;
#pragma omp parallel for simd if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < x->numel; i++) y[i] = s * xd[i];
  scale_ctx c = {s};
  return lbbt_tape_push(t, "scale", scale_backward, *out, &x, 1, &c, sizeof c);
}

/* ---- relu ----------------------------------------------------------------------------- */
static lbbt_status relu_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  lbbt_tensor *x = rec->in[0];
  const float *g = rec->out->grad, *xd = x->data;
  float *dx = x->grad;
#pragma omp parallel for simd if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < x->numel; i++) dx[i] += xd[i] > 0.0f ? g[i] : 0.0f;
  return LBBT_OK;
}

lbbt_status lbbt_relu(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  float *y = (*out)->data;
  const float *xd = x->data;
#pragma omp parallel for simd if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < x->numel; i++) y[i] = xd[i] > 0.0f ? xd[i] : 0.0f;
  return lbbt_tape_push(t, "relu", relu_backward, *out, &x, 1, NULL, 0);
}

/* ---- gelu / silu on oneDNN eltwise ---------------------------------------------------- */
typedef struct eltwise_problem {
  dnnl_alg_kind_t alg;
  float alpha;
  int backward;
  dnnl_memory_desc_t md; /* the tensor as 1-D [numel]: every shape with that numel shares it */
} eltwise_problem;

static dnnl_status_t eltwise_build(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                   dnnl_primitive_attr_t attr, const void *user) {
  const eltwise_problem *p = user;
  dnnl_eltwise_desc_t fd;
  dnnl_status_t s =
      dnnl_eltwise_forward_desc_init(&fd, dnnl_forward_training, p->alg, &p->md, p->alpha, 0.f);
  if (s != dnnl_success) return s;
  if (!p->backward) return dnnl_primitive_desc_create(pd, &fd, attr, engine, NULL);
  /* The backward descriptor needs the forward one as a hint. */
  dnnl_primitive_desc_t hint;
  if ((s = dnnl_primitive_desc_create(&hint, &fd, NULL, engine, NULL)) != dnnl_success) return s;
  dnnl_eltwise_desc_t bd;
  s = dnnl_eltwise_backward_desc_init(&bd, p->alg, &p->md, &p->md, p->alpha, 0.f);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &bd, attr, engine, hint);
  dnnl_primitive_desc_destroy(hint);
  return s;
}

static lbbt_status eltwise_prim(const char *op, dnnl_alg_kind_t alg, float alpha, int backward,
                                int64_t numel, lbbt_dnnl_prim **prim) {
  eltwise_problem p;
  memset(&p, 0, sizeof p);
  p.alg = alg;
  p.alpha = alpha;
  p.backward = backward;
  LBBT_TRY(lbbt_dnnl_md(&p.md, 1, &numel));
  char key[LBBT_DNNL_KEY_MAX] = "";
  lbbt_dnnl_key_add(key, "%s alg=%d alpha=%g", backward ? "bwd" : "fwd", (int)alg, alpha);
  lbbt_dnnl_key_md(key, "data", &p.md);
  return lbbt_dnnl_prim_get(op, key, eltwise_build, &p, prim);
}

typedef struct eltwise_ctx {
  dnnl_alg_kind_t alg;
  float alpha;
} eltwise_ctx;

static lbbt_status eltwise_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const eltwise_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  lbbt_dnnl_prim *prim;
  LBBT_TRY(eltwise_prim(rec->op_name, c->alg, c->alpha, 1, x->numel, &prim));
  /* oneDNN overwrites diff_src: straight into a fresh gradient, else via scratch. */
  int acc;
  float *dx_grad = lbbt_tape_grad_for(t, x, &acc);
  float *dx = acc ? op_scratch(t, x->numel) : dx_grad;
  if (!dx_grad || !dx) return LBBT_E_NOMEM;
  lbbt_dnnl_arg args[3] = {{DNNL_ARG_SRC, x->data},
                           {DNNL_ARG_DIFF_DST, rec->out->grad},
                           {DNNL_ARG_DIFF_SRC, dx}};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, 3));
  if (acc) op_accumulate(dx_grad, dx, x->numel);
  return LBBT_OK;
}

static lbbt_status eltwise_op(lbbt_tape *t, const char *op, dnnl_alg_kind_t alg, float alpha,
                              lbbt_tensor *x, lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  lbbt_dnnl_prim *prim;
  LBBT_TRY(eltwise_prim(op, alg, alpha, 0, x->numel, &prim));
  lbbt_dnnl_arg args[2] = {{DNNL_ARG_SRC, x->data}, {DNNL_ARG_DST, (*out)->data}};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, 2));
  eltwise_ctx c = {alg, alpha};
  return lbbt_tape_push_fresh(t, op, eltwise_backward, *out, &x, 1, &c, sizeof c);
}

/* ---- gelu (tanh form) / silu as C loops per ISA level ---------------------------------
 * row_kernels.h: capped to AVX2, oneDNN 2.6's eltwise JIT ran gelu_tanh 4-5x slower than
 * the vectorised loop (3.2M elements, interleaved on one thread), and GELU was as costly as
 * an MLP matmul in the d 128 training step (ONEDNN_VERBOSE).  Chunks of CHUNK elements
 * are split over the threads; the backward writes a fresh gradient or adds to one in the
 * same pass. */
enum { UNARY_CHUNK = 4096 };
typedef void (*unary_fn)(float *restrict y, const float *restrict x, int64_t n);
typedef void (*unary_grad_fn)(float *restrict dx, const float *restrict x,
                              const float *restrict dy, int64_t n, int accumulate);

static void unary_run(unary_fn f, float *y, const float *x, int64_t n) {
  const int64_t chunks = (n + UNARY_CHUNK - 1) / UNARY_CHUNK;
#pragma omp parallel for if (n >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i = c * UNARY_CHUNK, m = n - i < UNARY_CHUNK ? n - i : UNARY_CHUNK;
    f(y + i, x + i, m);
  }
}

static lbbt_status unary_backward(lbbt_tape *t, const lbbt_op_record *rec, unary_grad_fn f) {
  lbbt_tensor *x = rec->in[0];
  int acc;
  float *dx = lbbt_tape_grad_for(t, x, &acc);
  if (!dx) return LBBT_E_NOMEM;
  const float *xd = x->data, *dy = rec->out->grad;
  const int64_t n = x->numel, chunks = (n + UNARY_CHUNK - 1) / UNARY_CHUNK;
#pragma omp parallel for if (n >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t c = 0; c < chunks; c++) {
    const int64_t i = c * UNARY_CHUNK, m = n - i < UNARY_CHUNK ? n - i : UNARY_CHUNK;
    f(dx + i, xd + i, dy + i, m, acc);
  }
  return LBBT_OK;
}
static lbbt_status gelu_tanh_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  return unary_backward(t, rec, row_kernels_active()->gelu_tanh_grad);
}
static lbbt_status silu_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  return unary_backward(t, rec, row_kernels_active()->silu_grad);
}

static lbbt_status unary_op(lbbt_tape *t, const char *op, unary_fn f, lbbt_backward_fn backward,
                            lbbt_tensor *x, lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, x->shape, out));
  unary_run(f, (*out)->data, x->data, x->numel);
  return lbbt_tape_push_fresh(t, op, backward, *out, &x, 1, NULL, 0);
}

lbbt_status lbbt_gelu(lbbt_tape *t, lbbt_tensor *x, lbbt_gelu_form form, lbbt_tensor **out) {
  if (form != LBBT_GELU_TANH && form != LBBT_GELU_ERF) {
    *out = NULL;
    return lbbt_fail(LBBT_E_INPUT, "gelu: unknown form %d (LBBT_GELU_TANH or LBBT_GELU_ERF)",
                     (int)form);
  }
  return form == LBBT_GELU_TANH
             ? unary_op(t, "gelu_tanh", row_kernels_active()->gelu_tanh, gelu_tanh_backward, x, out)
             : eltwise_op(t, "gelu_erf", dnnl_eltwise_gelu_erf, 0.f, x, out);
}

lbbt_status lbbt_silu(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out) {
  return unary_op(t, "silu", row_kernels_active()->silu, silu_backward, x, out);
}
