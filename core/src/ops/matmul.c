/* lbbt_matmul, lbbt_linear and lbbt_linear_in_out on the oneDNN matmul primitive.
 *
 * Every product, forward or backward, is one call of lbbt_mm_exec() (mm_prim.h):
 * dst (+)= src @ wei where each operand is a strided view.  Transposes are never
 * materialised: op(A) with trans_a is A's buffer read with its last two strides swapped,
 * which oneDNN's brgemm kernels consume directly.  The destination here is always
 * row-major (brgemm needs it; a strided one falls back to oneDNN's gemm-based matmul).
 * Gradients accumulate with a sum post-op
 * (dst = dst + src @ wei), so a backward never needs a temporary.
 *
 * Batch handling: oneDNN broadcasts batch dims of size 1, so a weight B [K, N] shared by a
 * batch of A [..., M, K] is one primitive.  When B is 2-D and A is not transposed, the
 * batch is folded into M instead ([batch*M, K] @ [K, N]) - one large GEMM, the transformer
 * hot path - and the weight gradient likewise becomes a single GEMM over batch*M. */
#include <stdio.h>
#include <string.h>

#include "ops/dnnl_util.h"
#include "lbbt/ops.h"
#include "ops/mm_prim.h"
#include "ops/op_util.h"
#include "autograd/tape_internal.h"

/* ---- lbbt_matmul ---------------------------------------------------------------------- */
typedef struct matmul_ctx {
  int trans_a, trans_b;
} matmul_ctx;

/* Sizes of C = op(A) @ op(B): A [batch..., ., .], B [bbatch..., ., .] where B's batch dims
 * are the trailing part of A's; groups = prod(A batch) / prod(B batch) copies of B. */
typedef struct matmul_dims {
  int64_t M, K, N, batch, b_batch, groups;
} matmul_dims;

static void matmul_dims_of(const lbbt_tensor *a, const lbbt_tensor *b, int trans_a,
                           int trans_b, matmul_dims *d) {
  d->M = a->shape[a->ndim - (trans_a ? 1 : 2)];
  d->K = a->shape[a->ndim - (trans_a ? 2 : 1)];
  d->N = b->shape[b->ndim - (trans_b ? 2 : 1)];
  d->batch = a->numel / (a->shape[a->ndim - 1] * a->shape[a->ndim - 2]);
  d->b_batch = b->numel / (b->shape[b->ndim - 1] * b->shape[b->ndim - 2]);
  d->groups = d->batch / d->b_batch;
}

/* A fold into one [batch*M, K] matrix: B is shared by every batch and A is row-major. */
static int matmul_foldable(const lbbt_tensor *b, int trans_a) { return b->ndim == 2 && !trans_a; }

static lbbt_status matmul_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const matmul_ctx *c = rec->ctx;
  lbbt_tensor *a = rec->in[0], *b = rec->in[1], *out = rec->out;
  const float *g = out->grad;
  matmul_dims d;
  matmul_dims_of(a, b, c->trans_a, c->trans_b, &d);
  int nd = a->ndim;
  lbbt_mm_view src, wei, dst;
  if (a->requires_grad) {
    const float *src_data = g, *wei_data = b->data;
    if (c->trans_a) {
      /* A holds op(A)^T, so dA [.., K, M] += op(B) [K, N] @ dC^T [N, M] */
      lbbt_mm_view_of(&src, nd, b->ndim, b->shape, c->trans_b);
      lbbt_mm_view_of(&wei, nd, out->ndim, out->shape, 1);
      lbbt_mm_view_of(&dst, nd, a->ndim, a->shape, 0);
      src_data = b->data;
      wei_data = g;
    } else if (matmul_foldable(b, c->trans_a)) {
      /* dA [batch*M, K] += dC [batch*M, N] @ op(B)^T [N, K] */
      lbbt_mm_view_2d(&src, d.batch * d.M, d.N, 0);
      lbbt_mm_view_of(&wei, 2, 2, b->shape, !c->trans_b);
      lbbt_mm_view_2d(&dst, d.batch * d.M, d.K, 0);
    } else {
      /* dA [.., M, K] += dC [.., M, N] @ op(B)^T [.., N, K] (B broadcast over A's batch) */
      lbbt_mm_view_of(&src, nd, out->ndim, out->shape, 0);
      lbbt_mm_view_of(&wei, nd, b->ndim, b->shape, !c->trans_b);
      lbbt_mm_view_of(&dst, nd, a->ndim, a->shape, 0);
    }
    LBBT_TRY(lbbt_mm_exec("matmul backward (dA)", &src, &wei, &dst, NULL, 1.0f, 1, src_data,
                          wei_data,
                     a->grad));
  }
  if (!b->requires_grad) return LBBT_OK;
  if (matmul_foldable(b, c->trans_a)) {
    /* Sum over the whole batch is one GEMM with inner dim batch*M. */
    int64_t rows = d.batch * d.M;
    if (!c->trans_b) { /* dB [K, N] += A^T [K, rows] @ dC [rows, N] */
      lbbt_mm_view_2d(&src, rows, d.K, 1);
      lbbt_mm_view_2d(&wei, rows, d.N, 0);
      lbbt_mm_view_2d(&dst, d.K, d.N, 0);
      return lbbt_mm_exec("matmul backward (dB)", &src, &wei, &dst, NULL, 1.0f, 1, a->data, g,
                          b->grad);
    }
    /* dB [N, K] += dC^T [N, rows] @ A [rows, K] */
    lbbt_mm_view_2d(&src, rows, d.N, 1);
    lbbt_mm_view_2d(&wei, rows, d.K, 0);
    lbbt_mm_view_2d(&dst, d.N, d.K, 0);
    return lbbt_mm_exec("matmul backward (dB)", &src, &wei, &dst, NULL, 1.0f, 1, g, a->data,
                        b->grad);
  }
  /* B is shared by `groups` consecutive slices of A's batch: one batched product over B's
   * batch dims per slice, each accumulating into dB. */
  int ndb = b->ndim;
  int64_t a_slice[LBBT_MM_MAX_ND], g_slice[LBBT_MM_MAX_ND];
  for (int i = 0; i < ndb; i++) {
    a_slice[i] = a->shape[a->ndim - ndb + i];
    g_slice[i] = out->shape[out->ndim - ndb + i];
  }
  int64_t a_step = d.b_batch * d.M * d.K, g_step = d.b_batch * d.M * d.N;
  for (int64_t s = 0; s < d.groups; s++) {
    const float *as = a->data + s * a_step, *gs = g + s * g_step;
    if (!c->trans_b) { /* dB [.., K, N] += op(A)^T [K, M] @ dC [M, N] */
      lbbt_mm_view_of(&src, ndb, ndb, a_slice, !c->trans_a);
      lbbt_mm_view_of(&wei, ndb, ndb, g_slice, 0);
      lbbt_mm_view_of(&dst, ndb, ndb, b->shape, 0);
      LBBT_TRY(lbbt_mm_exec("matmul backward (dB)", &src, &wei, &dst, NULL, 1.0f, 1, as, gs,
                            b->grad));
    } else { /* dB [.., N, K] += dC^T [N, M] @ op(A) [M, K] */
      lbbt_mm_view_of(&src, ndb, ndb, g_slice, 1);
      lbbt_mm_view_of(&wei, ndb, ndb, a_slice, c->trans_a);
      lbbt_mm_view_of(&dst, ndb, ndb, b->shape, 0);
      LBBT_TRY(lbbt_mm_exec("matmul backward (dB)", &src, &wei, &dst, NULL, 1.0f, 1, gs, as,
                            b->grad));
    }
  }
  return LBBT_OK;
}

lbbt_status lbbt_matmul(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, int trans_a, int trans_b,
                        lbbt_tensor **out) {
  char sa[OP_SHAPE_BUF], sb[OP_SHAPE_BUF];
  *out = NULL;
  if (a->ndim < 2 || b->ndim < 2 || b->ndim > a->ndim)
    return lbbt_fail(LBBT_E_SHAPE,
                     "matmul: A %s and B %s: both need at least 2 dims and B no more dims than A",
                     op_shape(a, sa), op_shape(b, sb));
  for (int i = 0; i < b->ndim - 2; i++)
    if (b->shape[i] != a->shape[a->ndim - b->ndim + i])
      return lbbt_fail(LBBT_E_SHAPE,
                       "matmul: A %s and B %s: B's batch dims must equal the trailing batch "
                       "dims of A",
                       op_shape(a, sa), op_shape(b, sb));
  matmul_dims d;
  matmul_dims_of(a, b, trans_a, trans_b, &d);
  int64_t kb = b->shape[b->ndim - (trans_b ? 1 : 2)];
  if (kb != d.K)
    return lbbt_fail(LBBT_E_SHAPE,
                     "matmul: A %s%s and B %s%s: inner dims differ (%lld vs %lld)",
                     op_shape(a, sa), trans_a ? "^T" : "", op_shape(b, sb), trans_b ? "^T" : "",
                     (long long)d.K, (long long)kb);
  int64_t shape[LBBT_MAX_DIMS];
  memcpy(shape, a->shape, sizeof shape);
  shape[a->ndim - 2] = d.M;
  shape[a->ndim - 1] = d.N;
  LBBT_TRY(lbbt_tape_tensor(t, a->ndim, shape, out));
  lbbt_mm_view src, wei, dst;
  if (matmul_foldable(b, trans_a)) {
    lbbt_mm_view_2d(&src, d.batch * d.M, d.K, 0);
    lbbt_mm_view_of(&wei, 2, 2, b->shape, trans_b);
    lbbt_mm_view_2d(&dst, d.batch * d.M, d.N, 0);
  } else {
    lbbt_mm_view_of(&src, a->ndim, a->ndim, a->shape, trans_a);
    lbbt_mm_view_of(&wei, a->ndim, b->ndim, b->shape, trans_b);
    lbbt_mm_view_of(&dst, a->ndim, a->ndim, shape, 0);
  }
  LBBT_TRY(lbbt_mm_exec("matmul", &src, &wei, &dst, NULL, 1.0f, 0, a->data, b->data, (*out)->data));
  lbbt_tensor *in[2] = {a, b};
  matmul_ctx c = {trans_a, trans_b};
  return lbbt_tape_push(t, "matmul", matmul_backward, *out, in, 2, &c, sizeof c);
}

/* ---- lbbt_linear, lbbt_linear_in_out, lbbt_linear_residual ---------------------------- */
/* Both layouts are one primitive with the bias fused (oneDNN's bias argument): w [O, I] is
 * read as w^T through its strides, w [I, O] as it is; a residual is a binary add post-op of
 * the same primitive.  Backward: dx and dw are GEMMs with a sum post-op; the bias gradient
 * is the column sum of dy; the residual's gradient is dy itself, handed over. */
typedef struct linear_ctx {
  int in_out; /* 1: w is [I, O] (Conv1D layout); 0: [O, I] (nn.Linear) */
} linear_ctx;

static lbbt_status linear_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const linear_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0], *w = rec->in[1], *bias = rec->in[2], *out = rec->out;
  lbbt_tensor *residual = rec->n_in > 3 ? rec->in[3] : NULL;
  int64_t I = x->shape[x->ndim - 1], O = out->shape[out->ndim - 1], rows = x->numel / I;
  lbbt_mm_view src, wei, dst;
  int acc;
  if (x->requires_grad) { /* dx [rows, I] (+)= dy [rows, O] @ W^T [O, I] */
    float *dx = lbbt_tape_grad_for(t, x, &acc);
    if (!dx) return LBBT_E_NOMEM;
    lbbt_mm_view_2d(&src, rows, O, 0);
    if (c->in_out)
      lbbt_mm_view_2d(&wei, I, O, 1);
    else
      lbbt_mm_view_2d(&wei, O, I, 0);
    lbbt_mm_view_2d(&dst, rows, I, 0);
    LBBT_TRY(lbbt_mm_exec("linear backward (dx)", &src, &wei, &dst, NULL, 1.0f, acc, out->grad,
                          w->data, dx));
  }
  if (w->requires_grad) {
    float *dw = lbbt_tape_grad_for(t, w, &acc);
    if (!dw) return LBBT_E_NOMEM;
    if (c->in_out) { /* dw [I, O] += x^T [I, rows] @ dy [rows, O] */
      lbbt_mm_view_2d(&src, rows, I, 1);
      lbbt_mm_view_2d(&wei, rows, O, 0);
      lbbt_mm_view_2d(&dst, I, O, 0);
      LBBT_TRY(lbbt_mm_exec("linear backward (dw)", &src, &wei, &dst, NULL, 1.0f, acc, x->data,
                            out->grad, dw));
    } else { /* dw [O, I] += dy^T [O, rows] @ x [rows, I] */
      lbbt_mm_view_2d(&src, rows, O, 1);
      lbbt_mm_view_2d(&wei, rows, I, 0);
      lbbt_mm_view_2d(&dst, O, I, 0);
      LBBT_TRY(lbbt_mm_exec("linear backward (dw)", &src, &wei, &dst, NULL, 1.0f, acc, out->grad,
                            x->data, dw));
    }
  }
  if (bias && bias->requires_grad) {
    float *db = op_grad_zeroed(t, bias);
    if (!db) return LBBT_E_NOMEM;
    op_colsum_accumulate(db, out->grad, rows, O);
  }
  /* Last: once the residual adopts dy's buffer, later backwards may add into it. */
  if (residual && residual->requires_grad && !lbbt_tape_grad_adopt(t, residual, out->grad)) {
    float *dr = op_grad_zeroed(t, residual); /* exists, or a heap tensor's gradient */
    if (!dr) return LBBT_E_NOMEM;
    op_accumulate(dr, out->grad, residual->numel);
  }
  return LBBT_OK;
}

static lbbt_status linear_op(lbbt_tape *t, const char *op, int in_out, lbbt_tensor *x,
                             lbbt_tensor *w, lbbt_tensor *bias, lbbt_tensor *residual,
                             lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF], sw[OP_SHAPE_BUF], sb[OP_SHAPE_BUF];
  *out = NULL;
  const int i_dim = in_out ? 0 : 1, o_dim = in_out ? 1 : 0;
  if (w->ndim != 2 || x->shape[x->ndim - 1] != w->shape[i_dim] ||
      (bias && (bias->ndim != 1 || bias->shape[0] != w->shape[o_dim])))
    return lbbt_fail(LBBT_E_SHAPE, "%s: x %s, w %s, bias %s: need x [..., I], w %s and bias [O]",
                     op, op_shape(x, sx), op_shape(w, sw), op_shape(bias, sb),
                     in_out ? "[I, O]" : "[O, I]");
  int64_t O = w->shape[o_dim], I = w->shape[i_dim], rows = x->numel / I;
  int64_t shape[LBBT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = O;
  if (residual && (residual->ndim != x->ndim ||
                   memcmp(residual->shape, shape, (size_t)x->ndim * sizeof *shape))) {
    char sr[OP_SHAPE_BUF];
    return lbbt_fail(LBBT_E_SHAPE, "%s: x %s, w %s: residual %s must have the output's shape",
                     op, op_shape(x, sx), op_shape(w, sw), op_shape(residual, sr));
  }
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, shape, out));
  lbbt_mm_view src, wei, dst;
  lbbt_mm_view_2d(&src, rows, I, 0);
  if (in_out)
    lbbt_mm_view_2d(&wei, I, O, 0);
  else
    lbbt_mm_view_2d(&wei, O, I, 1); /* w^T [I, O] read in place */
  lbbt_mm_view_2d(&dst, rows, O, 0);
  if (residual)
    LBBT_TRY(lbbt_mm_exec_residual(op, &src, &wei, &dst, bias ? bias->data : NULL,
                                   residual->data, x->data, w->data, (*out)->data));
  else
    LBBT_TRY(lbbt_mm_exec(op, &src, &wei, &dst, bias ? bias->data : NULL, 1.0f, 0, x->data,
                          w->data, (*out)->data));
  lbbt_tensor *in[4] = {x, w, bias, residual};
  linear_ctx c = {in_out};
  return lbbt_tape_push_fresh(t, op, linear_backward, *out, in, residual ? 4 : 3, &c, sizeof c);
}

lbbt_status lbbt_linear(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *bias,
                        lbbt_tensor **out) {
  return linear_op(t, "linear", 0, x, w, bias, NULL, out);
}

lbbt_status lbbt_linear_in_out(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *bias,
                               lbbt_tensor **out) {
  return linear_op(t, "linear_in_out", 1, x, w, bias, NULL, out);
}

lbbt_status lbbt_linear_residual(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *bias,
                                 int w_in_out, lbbt_tensor *residual, lbbt_tensor **out) {
  if (!residual) {
    *out = NULL;
    return lbbt_fail(LBBT_E_SHAPE, "linear_residual: no residual (use lbbt_linear)");
  }
  return linear_op(t, w_in_out ? "linear_in_out_residual" : "linear_residual", w_in_out, x, w,
                   bias, residual, out);
}
