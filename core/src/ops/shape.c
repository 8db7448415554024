/* Reductions (sum/mean over one dim or all) and shape ops (reshape, transpose, permute,
 * concat, slice).  Plain C: these are copies and sums, bound by memory bandwidth.
 * A dim splits a tensor into [outer, D, inner] (outer = product of the dims before it,
 * inner = product of the dims after it); most loops here are over that view. */
#include <string.h>

#include "ops/dnnl_util.h"
#include "lbbt/ops.h"
#include "ops/op_util.h"

static void split_at(const lbbt_tensor *x, int dim, int64_t *outer, int64_t *D, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int i = 0; i < dim; i++) *outer *= x->shape[i];
  for (int i = dim + 1; i < x->ndim; i++) *inner *= x->shape[i];
  *D = x->shape[dim];
}

/* ---- sum / mean over one dim ---------------------------------------------------------- */
typedef struct reduce_ctx {
  int dim;
  float scale; /* 1 for sum, 1/D for mean */
} reduce_ctx;

static lbbt_status reduce_dim_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const reduce_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  int64_t outer, D, inner;
  split_at(x, c->dim, &outer, &D, &inner);
  const float *g = rec->out->grad;
  float s = c->scale, *dx = x->grad;
#pragma omp parallel for collapse(2) if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t o = 0; o < outer; o++)
    for (int64_t d = 0; d < D; d++) {
      float *dxr = dx + (o * D + d) * inner;
      const float *gr = g + o * inner;
#pragma omp simd
      for (int64_t i = 0; i < inner; i++) dxr[i] += s * gr[i];
    }
  return LBBT_OK;
}

static lbbt_status reduce_dim(lbbt_tape *t, const char *op, lbbt_tensor *x, int dim, int keepdim,
                              int mean, lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF];
  *out = NULL;
  int d = op_norm_dim(dim, x->ndim);
  if (d < 0)
    return lbbt_fail(LBBT_E_SHAPE, "%s: dim %d is out of range for x %s", op, dim,
                     op_shape(x, sx));
  int64_t outer, D, inner;
  split_at(x, d, &outer, &D, &inner);
  int64_t shape[LBBT_MAX_DIMS];
  int nd = 0;
  for (int i = 0; i < x->ndim; i++) {
    if (i != d)
      shape[nd++] = x->shape[i];
    else if (keepdim)
      shape[nd++] = 1;
  }
  if (nd == 0) shape[nd++] = 1; /* a 1-D tensor reduced to a scalar stays [1] */
  LBBT_TRY(lbbt_tape_tensor(t, nd, shape, out));
  float s = mean ? 1.0f / (float)D : 1.0f, *y = (*out)->data;
  const float *xd = x->data;
  if (inner == 1) { /* reducing the last dim: one dot-like row sum per output */
#pragma omp parallel for if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
      float acc = 0.f;
#pragma omp simd reduction(+ : acc)
      for (int64_t k = 0; k < D; k++) acc += xd[o * D + k];
      y[o] = s * acc;
    }
  } else {
#pragma omp parallel for if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
    for (int64_t o = 0; o < outer; o++) {
      float *yr = y + o * inner;
      memset(yr, 0, (size_t)inner * sizeof *yr);
      for (int64_t k = 0; k < D; k++) {
        const float *xr = xd + (o * D + k) * inner;
#pragma omp simd
        for (int64_t i = 0; i < inner; i++) yr[i] += xr[i];
      }
      for (int64_t i = 0; i < inner; i++) yr[i] *= s;
    }
  }
  reduce_ctx c = {d, s};
  return lbbt_tape_push(t, op, reduce_dim_backward, *out, &x, 1, &c, sizeof c);
}

lbbt_status lbbt_mean(lbbt_tape *t, lbbt_tensor *x, int dim, int keepdim, lbbt_tensor **out) {
  return reduce_dim(t, "mean", x, dim, keepdim, 1, out);
}
lbbt_status lbbt_sum(lbbt_tape *t, lbbt_tensor *x, int dim, int keepdim, lbbt_tensor **out) {
  return reduce_dim(t, "sum", x, dim, keepdim, 0, out);
}

/* ---- sum / mean of everything --------------------------------------------------------- */
static lbbt_status reduce_all_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const reduce_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  float g = c->scale * rec->out->grad[0], *dx = x->grad;
#pragma omp parallel for simd if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < x->numel; i++) dx[i] += g;
  return LBBT_OK;
}

static lbbt_status reduce_all(lbbt_tape *t, const char *op, lbbt_tensor *x, int mean,
                              lbbt_tensor **out) {
  *out = NULL;
  LBBT_TRY(lbbt_tape_tensor(t, 1, (int64_t[]){1}, out));
  double acc = 0.0;
  const float *xd = x->data;
#pragma omp parallel for reduction(+ : acc) if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < x->numel; i++) acc += xd[i];
  reduce_ctx c = {0, mean ? 1.0f / (float)x->numel : 1.0f};
  (*out)->data[0] = (float)(mean ? acc / (double)x->numel : acc);
  return lbbt_tape_push(t, op, reduce_all_backward, *out, &x, 1, &c, sizeof c);
}

lbbt_status lbbt_mean_all(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out) {
  return reduce_all(t, "mean_all", x, 1, out);
}
lbbt_status lbbt_sum_all(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out) {
  return reduce_all(t, "sum_all", x, 0, out);
}

/* ---- reshape -------------------------------------------------------------------------- */
/* Fresh-gradient backward: x takes over the output's gradient when it has none yet. */
static lbbt_status reshape_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  lbbt_tensor *x = rec->in[0];
  if (lbbt_tape_grad_adopt(t, x, rec->out->grad)) return LBBT_OK;
  float *dx = op_grad_zeroed(t, x); /* a parameter's (heap) gradient */
  if (!dx) return LBBT_E_NOMEM;
  op_accumulate(dx, rec->out->grad, rec->out->numel);
  return LBBT_OK;
}

lbbt_status lbbt_reshape(lbbt_tape *t, lbbt_tensor *x, int ndim, const int64_t *shape,
                         lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF], req[OP_SHAPE_BUF];
  *out = NULL;
  lbbt_tensor want = {0};
  want.ndim = ndim > 0 && ndim <= LBBT_MAX_DIMS ? ndim : 0;
  for (int i = 0; i < want.ndim; i++) want.shape[i] = shape[i];
  op_shape(&want, req);
  if (want.ndim == 0)
    return lbbt_fail(LBBT_E_SHAPE, "reshape: x %s to %d dims (1..%d allowed)", op_shape(x, sx),
                     ndim, LBBT_MAX_DIMS);
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == -1 && infer < 0) {
      infer = i;
    } else if (shape[i] < 1) {
      return lbbt_fail(LBBT_E_SHAPE,
                       "reshape: x %s to %s: sizes must be >= 1, with at most one -1",
                       op_shape(x, sx), req);
    } else {
      known *= shape[i];
    }
  }
  if (infer >= 0) {
    if (x->numel % known != 0)
      return lbbt_fail(LBBT_E_SHAPE, "reshape: x %s to %s: %lld elements do not divide by %lld",
                       op_shape(x, sx), req, (long long)x->numel, (long long)known);
    want.shape[infer] = x->numel / known;
  }
  if (lbbt_shape_numel(ndim, want.shape) != x->numel)
    return lbbt_fail(LBBT_E_SHAPE, "reshape: x %s to %s: element counts differ", op_shape(x, sx),
                     req);
  /* A header in the arena over x's data: no copy. */
  lbbt_tensor *y = lbbt_tape_alloc(t, sizeof *y);
  if (!y) return LBBT_E_NOMEM;
  memset(y, 0, sizeof *y);
  y->ndim = ndim;
  memcpy(y->shape, want.shape, (size_t)ndim * sizeof *shape);
  y->numel = x->numel;
  y->data = x->data;
  *out = y;
  return lbbt_tape_push_fresh(t, "reshape", reshape_backward, y, &x, 1, NULL, 0);
}

/* ---- permute / transpose -------------------------------------------------------------- */
typedef struct permute_ctx {
  int perm[LBBT_MAX_DIMS];
} permute_ctx;

/* Walk y (shape of x permuted) in row-major order; for each element, the offset in x.
 * Copies x -> y (forward) or accumulates y -> x (backward, gradients).  Each thread takes a
 * contiguous block of y's rows and finds the x offset of its first row by division once,
 * then steps the row multi-index like an odometer: the per-row divisions cost more than the
 * copy when rows are short (attention's head splits move rows of head_dim = 8 floats). */
static void permute_walk(const lbbt_tensor *x, const int *perm, const int64_t *y_shape,
                         float *xbuf, float *ybuf, int backward) {
  int nd = x->ndim;
  int64_t xstride[LBBT_MAX_DIMS], ystride_in_x[LBBT_MAX_DIMS], s = 1;
  for (int i = nd - 1; i >= 0; i--) {
    xstride[i] = s;
    s *= x->shape[i];
  }
  for (int i = 0; i < nd; i++) ystride_in_x[i] = xstride[perm[i]];
  int64_t last = y_shape[nd - 1], rows = x->numel / last, step = ystride_in_x[nd - 1];
  int64_t block = 256; /* rows per chunk: a few KB of copying per division-found start */
  int64_t chunks = (rows + block - 1) / block;
#pragma omp parallel for if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t ch = 0; ch < chunks; ch++) {
    int64_t r0 = ch * block, r1 = r0 + block < rows ? r0 + block : rows;
    /* multi-index of row r0 over y's leading dims, and its offset in x */
    int64_t idx[LBBT_MAX_DIMS] = {0}, rem = r0, off = 0;
    for (int i = nd - 2; i >= 0; i--) {
      idx[i] = rem % y_shape[i];
      off += idx[i] * ystride_in_x[i];
      rem /= y_shape[i];
    }
    for (int64_t r = r0; r < r1; r++) {
      float *yr = ybuf + r * last;
      if (!backward) {
        for (int64_t j = 0; j < last; j++) yr[j] = xbuf[off + j * step];
      } else {
        for (int64_t j = 0; j < last; j++) xbuf[off + j * step] += yr[j];
      }
      for (int i = nd - 2; i >= 0; i--) { /* next row: carry through the leading dims */
        off += ystride_in_x[i];
        if (++idx[i] < y_shape[i]) break;
        off -= idx[i] * ystride_in_x[i];
        idx[i] = 0;
      }
    }
  }
}

static lbbt_status permute_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const permute_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  permute_walk(x, c->perm, rec->out->shape, x->grad, rec->out->grad, 1);
  return LBBT_OK;
}

static lbbt_status permute_op(lbbt_tape *t, const char *op, lbbt_tensor *x, const int *perm,
                              lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF];
  *out = NULL;
  int seen[LBBT_MAX_DIMS] = {0};
  for (int i = 0; i < x->ndim; i++) {
    if (perm[i] < 0 || perm[i] >= x->ndim || seen[perm[i]]++)
      return lbbt_fail(LBBT_E_SHAPE, "%s: x %s: the dims given are not a permutation of 0..%d",
                       op, op_shape(x, sx), x->ndim - 1);
  }
  int64_t shape[LBBT_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[perm[i]];
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, shape, out));
  permute_walk(x, perm, shape, x->data, (*out)->data, 0);
  permute_ctx c;
  memset(&c, 0, sizeof c);
  memcpy(c.perm, perm, (size_t)x->ndim * sizeof *perm);
  return lbbt_tape_push(t, op, permute_backward, *out, &x, 1, &c, sizeof c);
}

lbbt_status lbbt_permute(lbbt_tape *t, lbbt_tensor *x, const int *perm, lbbt_tensor **out) {
  return permute_op(t, "permute", x, perm, out);
}

lbbt_status lbbt_transpose(lbbt_tape *t, lbbt_tensor *x, int d0, int d1, lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF];
  int a = op_norm_dim(d0, x->ndim), b = op_norm_dim(d1, x->ndim);
  if (a < 0 || b < 0) {
    *out = NULL;
    return lbbt_fail(LBBT_E_SHAPE, "transpose: dims %d and %d for x %s: out of range", d0, d1,
                     op_shape(x, sx));
  }
  int perm[LBBT_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) perm[i] = i;
  perm[a] = b;
  perm[b] = a;
  return permute_op(t, "transpose", x, perm, out);
}

/* ---- concat --------------------------------------------------------------------------- */
typedef struct concat_ctx {
  int dim;
} concat_ctx;

/* Copy each input's [outer, D_k, inner] block into y's [outer, sum D, inner] (forward) or
 * accumulate y's grad back into the inputs' grads (backward). */
static void concat_walk(lbbt_tensor *const *xs, int n, int dim, float *y, int backward) {
  int64_t outer = 1, inner = 1, total = 0;
  for (int i = 0; i < dim; i++) outer *= xs[0]->shape[i];
  for (int i = dim + 1; i < xs[0]->ndim; i++) inner *= xs[0]->shape[i];
  for (int k = 0; k < n; k++) total += xs[k]->shape[dim];
  int64_t numel = outer * total * inner;
#pragma omp parallel for if (numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t o = 0; o < outer; o++) {
    int64_t at = o * total * inner;
    for (int k = 0; k < n; k++) {
      int64_t len = xs[k]->shape[dim] * inner;
      if (!backward) {
        memcpy(y + at, xs[k]->data + o * len, (size_t)len * sizeof *y);
      } else if (xs[k]->requires_grad) {
        float *dx = xs[k]->grad + o * len;
        const float *g = y + at;
#pragma omp simd
        for (int64_t j = 0; j < len; j++) dx[j] += g[j];
      }
      at += len;
    }
  }
}

static lbbt_status concat_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const concat_ctx *c = rec->ctx;
  concat_walk(rec->in, rec->n_in, c->dim, rec->out->grad, 1);
  return LBBT_OK;
}

lbbt_status lbbt_concat(lbbt_tape *t, lbbt_tensor *const *xs, int n, int dim, lbbt_tensor **out) {
  char s0[OP_SHAPE_BUF], sk[OP_SHAPE_BUF];
  *out = NULL;
  if (n < 1) return lbbt_fail(LBBT_E_SHAPE, "concat: no tensors given");
  int d = op_norm_dim(dim, xs[0]->ndim);
  if (d < 0)
    return lbbt_fail(LBBT_E_SHAPE, "concat: dim %d is out of range for x0 %s", dim,
                     op_shape(xs[0], s0));
  int64_t shape[LBBT_MAX_DIMS];
  memcpy(shape, xs[0]->shape, sizeof shape);
  for (int k = 1; k < n; k++) {
    int ok = xs[k]->ndim == xs[0]->ndim;
    for (int i = 0; ok && i < xs[0]->ndim; i++)
      ok = i == d || xs[k]->shape[i] == xs[0]->shape[i];
    if (!ok)
      return lbbt_fail(LBBT_E_SHAPE, "concat: x0 %s and x%d %s differ outside dim %d",
                       op_shape(xs[0], s0), k, op_shape(xs[k], sk), d);
    shape[d] += xs[k]->shape[d];
  }
  /* A record holds at most LBBT_MAX_OP_INPUTS inputs: concatenate longer lists in steps. */
  if (n > LBBT_MAX_OP_INPUTS) {
    lbbt_tensor *parts[LBBT_MAX_OP_INPUTS];
    LBBT_TRY(lbbt_concat(t, xs, LBBT_MAX_OP_INPUTS - 1, d, &parts[0]));
    int rest = n - (LBBT_MAX_OP_INPUTS - 1);
    if (rest > LBBT_MAX_OP_INPUTS - 1) {
      LBBT_TRY(lbbt_concat(t, xs + LBBT_MAX_OP_INPUTS - 1, rest, d, &parts[1]));
      return lbbt_concat(t, parts, 2, d, out);
    }
    for (int k = 0; k < rest; k++) parts[1 + k] = xs[LBBT_MAX_OP_INPUTS - 1 + k];
    return lbbt_concat(t, parts, 1 + rest, d, out);
  }
  LBBT_TRY(lbbt_tape_tensor(t, xs[0]->ndim, shape, out));
  concat_walk(xs, n, d, (*out)->data, 0);
  concat_ctx c = {d};
  return lbbt_tape_push(t, "concat", concat_backward, *out, xs, n, &c, sizeof c);
}

/* ---- slice ---------------------------------------------------------------------------- */
typedef struct slice_ctx {
  int dim;
  int64_t start;
} slice_ctx;

static void slice_walk(const lbbt_tensor *x, int dim, int64_t start, int64_t len, float *xbuf,
                       float *ybuf, int backward) {
  int64_t outer, D, inner;
  split_at(x, dim, &outer, &D, &inner);
  int64_t chunk = len * inner;
#pragma omp parallel for if (outer * chunk >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t o = 0; o < outer; o++) {
    float *xr = xbuf + (o * D + start) * inner, *yr = ybuf + o * chunk;
    if (!backward) {
      memcpy(yr, xr, (size_t)chunk * sizeof *yr);
    } else {
#pragma omp simd
      for (int64_t j = 0; j < chunk; j++) xr[j] += yr[j];
    }
  }
}

static lbbt_status slice_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const slice_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0];
  slice_walk(x, c->dim, c->start, rec->out->shape[c->dim], x->grad, rec->out->grad, 1);
  return LBBT_OK;
}

lbbt_status lbbt_slice(lbbt_tape *t, lbbt_tensor *x, int dim, int64_t start, int64_t len,
                       lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF];
  *out = NULL;
  int d = op_norm_dim(dim, x->ndim);
  if (d < 0 || start < 0 || len < 1 || start + len > x->shape[d])
    return lbbt_fail(LBBT_E_SHAPE,
                     "slice: x %s, dim %d, start %lld, length %lld: the range must lie within "
                     "the dim",
                     op_shape(x, sx), dim, (long long)start, (long long)len);
  int64_t shape[LBBT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[d] = len;
  LBBT_TRY(lbbt_tape_tensor(t, x->ndim, shape, out));
  slice_walk(x, d, start, len, x->data, (*out)->data, 0);
  slice_ctx c = {d, start};
  return lbbt_tape_push(t, "slice", slice_backward, *out, &x, 1, &c, sizeof c);
}
