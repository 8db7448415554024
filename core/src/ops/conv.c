/* conv2d (oneDNN convolution: forward, backward data, backward weights + bias), max
 * pooling (C loops below, keeping each window's argmax in the arena until backward) and
 * average pooling (oneDNN pooling v2 forward and backward).
 *
 * All tensors are plain NCHW / OIHW f32 buffers given to oneDNN as they are.  Backward
 * primitives overwrite their outputs, so they write into arena scratch that is then
 * accumulated (+=) into the gradients. */
#include <string.h>

#include "ops/dnnl_util.h"
#include "lbbt/ops.h"
#include "ops/op_util.h"

/* ---- conv2d --------------------------------------------------------------------------- */
typedef enum { CONV_FWD, CONV_BWD_DATA, CONV_BWD_WEIGHTS } conv_pass;

typedef struct conv_problem {
  conv_pass pass;
  dnnl_memory_desc_t src, wei, bias, dst; /* [B,Cin,H,W], [Cout,Cin,KH,KW], [Cout], [B,Cout,OH,OW] */
  int has_bias;
  dnnl_dims_t strides, padding;
} conv_problem;

static dnnl_status_t conv_build(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                dnnl_primitive_attr_t attr, const void *user) {
  const conv_problem *p = user;
  const dnnl_memory_desc_t *bias = p->has_bias ? &p->bias : NULL;
  dnnl_convolution_desc_t fd;
  dnnl_status_t s = dnnl_convolution_forward_desc_init(
      &fd, dnnl_forward_training, dnnl_convolution_direct, &p->src, &p->wei, bias, &p->dst,
      p->strides, p->padding, p->padding);
  if (s != dnnl_success) return s;
  if (p->pass == CONV_FWD) return dnnl_primitive_desc_create(pd, &fd, attr, engine, NULL);
  dnnl_primitive_desc_t hint;
  if ((s = dnnl_primitive_desc_create(&hint, &fd, NULL, engine, NULL)) != dnnl_success) return s;
  dnnl_convolution_desc_t bd;
  if (p->pass == CONV_BWD_DATA)
    s = dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &p->src, &p->wei,
                                                 &p->dst, p->strides, p->padding, p->padding);
  else
    s = dnnl_convolution_backward_weights_desc_init(&bd, dnnl_convolution_direct, &p->src,
                                                    &p->wei, bias, &p->dst, p->strides,
                                                    p->padding, p->padding);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &bd, attr, engine, hint);
  dnnl_primitive_desc_destroy(hint);
  return s;
}

typedef struct conv_ctx {
  int stride, padding;
} conv_ctx;

static lbbt_status conv_prim(conv_pass pass, const lbbt_tensor *x, const lbbt_tensor *w,
                             int has_bias, const lbbt_tensor *y, int stride, int padding,
                             lbbt_dnnl_prim **prim) {
  conv_problem p;
  memset(&p, 0, sizeof p);
  p.pass = pass;
  LBBT_TRY(lbbt_dnnl_md_tensor(&p.src, x));
  LBBT_TRY(lbbt_dnnl_md_tensor(&p.wei, w));
  LBBT_TRY(lbbt_dnnl_md_tensor(&p.dst, y));
  p.has_bias = has_bias;
  if (has_bias) LBBT_TRY(lbbt_dnnl_md(&p.bias, 1, &w->shape[0]));
  p.strides[0] = p.strides[1] = stride;
  p.padding[0] = p.padding[1] = padding;
  char key[LBBT_DNNL_KEY_MAX] = "";
  lbbt_dnnl_key_add(key, "pass=%d stride=%d pad=%d%s", (int)pass, stride, padding,
                    has_bias ? " bias" : "");
  lbbt_dnnl_key_md(key, "src", &p.src);
  lbbt_dnnl_key_md(key, "wei", &p.wei);
  lbbt_dnnl_key_md(key, "dst", &p.dst);
  return lbbt_dnnl_prim_get("conv2d", key, conv_build, &p, prim);
}

static lbbt_status conv2d_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const conv_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0], *w = rec->in[1], *bias = rec->in[2], *y = rec->out;
  lbbt_dnnl_prim *prim;
  if (x->requires_grad) {
    LBBT_TRY(conv_prim(CONV_BWD_DATA, x, w, bias != NULL, y, c->stride, c->padding, &prim));
    float *dx = op_scratch(t, x->numel);
    if (!dx) return LBBT_E_NOMEM;
    lbbt_dnnl_arg args[3] = {
        {DNNL_ARG_DIFF_DST, y->grad}, {DNNL_ARG_WEIGHTS, w->data}, {DNNL_ARG_DIFF_SRC, dx}};
    LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, 3));
    op_accumulate(x->grad, dx, x->numel);
  }
  int want_bias = bias && bias->requires_grad;
  if (w->requires_grad || want_bias) {
    LBBT_TRY(conv_prim(CONV_BWD_WEIGHTS, x, w, bias != NULL, y, c->stride, c->padding, &prim));
    int64_t cout = w->shape[0];
    float *dw = op_scratch(t, w->numel + cout), *db = dw + w->numel;
    if (!dw) return LBBT_E_NOMEM;
    lbbt_dnnl_arg args[4] = {{DNNL_ARG_SRC, x->data},
                             {DNNL_ARG_DIFF_DST, y->grad},
                             {DNNL_ARG_DIFF_WEIGHTS, dw},
                             {DNNL_ARG_DIFF_BIAS, db}};
    LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, bias ? 4 : 3));
    if (w->requires_grad) op_accumulate(w->grad, dw, w->numel);
    if (want_bias) op_accumulate(bias->grad, db, cout);
  }
  return LBBT_OK;
}

/* Output size of a window of `kernel` sliding by `stride` over n + 2 padding. */
static int64_t window_out(int64_t n, int kernel, int stride, int padding) {
  return (n + 2 * (int64_t)padding - kernel) / stride + 1;
}

lbbt_status lbbt_conv2d(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *bias,
                        int stride, int padding, lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF], sw[OP_SHAPE_BUF], sb[OP_SHAPE_BUF];
  *out = NULL;
  int ok = x->ndim == 4 && w->ndim == 4 && x->shape[1] == w->shape[1] && stride >= 1 &&
           padding >= 0 && (!bias || (bias->ndim == 1 && bias->shape[0] == w->shape[0]));
  int64_t OH = ok ? window_out(x->shape[2], (int)w->shape[2], stride, padding) : 0;
  int64_t OW = ok ? window_out(x->shape[3], (int)w->shape[3], stride, padding) : 0;
  if (!ok || x->shape[2] + 2 * padding < w->shape[2] || x->shape[3] + 2 * padding < w->shape[3])
    return lbbt_fail(LBBT_E_SHAPE,
                     "conv2d: x %s, w %s, bias %s, stride %d, padding %d: need x [B, Cin, H, W], "
                     "w [Cout, Cin, KH, KW], bias [Cout], stride >= 1, padding >= 0 and a kernel "
                     "no larger than the padded input",
                     op_shape(x, sx), op_shape(w, sw), op_shape(bias, sb), stride, padding);
  LBBT_TRY(lbbt_tape_tensor(t, 4, (int64_t[]){x->shape[0], w->shape[0], OH, OW}, out));
  lbbt_dnnl_prim *prim;
  LBBT_TRY(conv_prim(CONV_FWD, x, w, bias != NULL, *out, stride, padding, &prim));
  lbbt_dnnl_arg args[4] = {{DNNL_ARG_SRC, x->data},
                           {DNNL_ARG_WEIGHTS, w->data},
                           {DNNL_ARG_DST, (*out)->data},
                           {DNNL_ARG_BIAS, bias ? bias->data : NULL}};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, bias ? 4 : 3));
  lbbt_tensor *in[3] = {x, w, bias};
  conv_ctx c = {stride, padding};
  return lbbt_tape_push(t, "conv2d", conv2d_backward, *out, in, 3, &c, sizeof c);
}

/* ---- pooling -------------------------------------------------------------------------- */
typedef struct pool_problem {
  dnnl_alg_kind_t alg;
  int backward;
  dnnl_memory_desc_t src, dst;
  dnnl_dims_t strides, kernel, dilation, padding;
} pool_problem;

static dnnl_status_t pool_build(dnnl_primitive_desc_t *pd, dnnl_engine_t engine,
                                dnnl_primitive_attr_t attr, const void *user) {
  const pool_problem *p = user;
  dnnl_pooling_v2_desc_t fd;
  dnnl_status_t s = dnnl_pooling_v2_forward_desc_init(&fd, dnnl_forward_training, p->alg, &p->src,
                                                      &p->dst, p->strides, p->kernel,
                                                      p->dilation, p->padding, p->padding);
  if (s != dnnl_success) return s;
  if (!p->backward) return dnnl_primitive_desc_create(pd, &fd, attr, engine, NULL);
  dnnl_primitive_desc_t hint;
  if ((s = dnnl_primitive_desc_create(&hint, &fd, NULL, engine, NULL)) != dnnl_success) return s;
  dnnl_pooling_v2_desc_t bd;
  s = dnnl_pooling_v2_backward_desc_init(&bd, p->alg, &p->src, &p->dst, p->strides, p->kernel,
                                         p->dilation, p->padding, p->padding);
  if (s == dnnl_success) s = dnnl_primitive_desc_create(pd, &bd, attr, engine, hint);
  dnnl_primitive_desc_destroy(hint);
  return s;
}

typedef struct pool_ctx {
  dnnl_alg_kind_t alg;
  int kernel, stride, padding;
  void *workspace; /* max pooling: where each window's maximum came from (arena) */
} pool_ctx;

static lbbt_status pool_prim(const char *op, const pool_ctx *c, int backward,
                             const lbbt_tensor *x, const lbbt_tensor *y, lbbt_dnnl_prim **prim) {
  pool_problem p;
  memset(&p, 0, sizeof p);
  p.alg = c->alg;
  p.backward = backward;
  LBBT_TRY(lbbt_dnnl_md_tensor(&p.src, x));
  LBBT_TRY(lbbt_dnnl_md_tensor(&p.dst, y));
  p.strides[0] = p.strides[1] = c->stride;
  p.kernel[0] = p.kernel[1] = c->kernel;
  p.padding[0] = p.padding[1] = c->padding;
  char key[LBBT_DNNL_KEY_MAX] = "";
  lbbt_dnnl_key_add(key, "%s k=%d s=%d p=%d", backward ? "bwd" : "fwd", c->kernel, c->stride,
                    c->padding);
  lbbt_dnnl_key_md(key, "src", &p.src);
  lbbt_dnnl_key_md(key, "dst", &p.dst);
  return lbbt_dnnl_prim_get(op, key, pool_build, &p, prim);
}

static lbbt_status pool_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const pool_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0], *y = rec->out;
  lbbt_dnnl_prim *prim;
  LBBT_TRY(pool_prim(rec->op_name, c, 1, x, y, &prim));
  float *dx = op_scratch(t, x->numel);
  if (!dx) return LBBT_E_NOMEM;
  lbbt_dnnl_arg args[3] = {{DNNL_ARG_DIFF_DST, y->grad},
                           {DNNL_ARG_DIFF_SRC, dx},
                           {DNNL_ARG_WORKSPACE, c->workspace}};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, c->workspace ? 3 : 2));
  op_accumulate(x->grad, dx, x->numel);
  return LBBT_OK;
}

static lbbt_status pool_op(lbbt_tape *t, const char *op, dnnl_alg_kind_t alg, lbbt_tensor *x,
                           int kernel, int stride, int padding, lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF];
  *out = NULL;
  /* PyTorch's rule: padding at most half the kernel, so no window is all padding. */
  if (x->ndim != 4 || kernel < 1 || stride < 1 || padding < 0 || 2 * padding > kernel ||
      x->shape[2] + 2 * padding < kernel || x->shape[3] + 2 * padding < kernel)
    return lbbt_fail(LBBT_E_SHAPE,
                     "%s: x %s, kernel %d, stride %d, padding %d: need x [B, C, H, W], "
                     "kernel >= 1, stride >= 1, 0 <= padding <= kernel/2 and a kernel no "
                     "larger than the padded input",
                     op, op_shape(x, sx), kernel, stride, padding);
  int64_t OH = window_out(x->shape[2], kernel, stride, padding);
  int64_t OW = window_out(x->shape[3], kernel, stride, padding);
  LBBT_TRY(lbbt_tape_tensor(t, 4, (int64_t[]){x->shape[0], x->shape[1], OH, OW}, out));
  pool_ctx c = {alg, kernel, stride, padding, NULL};
  lbbt_dnnl_prim *prim;
  LBBT_TRY(pool_prim(op, &c, 0, x, *out, &prim));
  size_t ws = lbbt_dnnl_prim_arg_bytes(prim, DNNL_ARG_WORKSPACE);
  if (ws) {
    c.workspace = lbbt_tape_alloc(t, ws);
    if (!c.workspace) return LBBT_E_NOMEM;
  }
  lbbt_dnnl_arg args[3] = {
      {DNNL_ARG_SRC, x->data}, {DNNL_ARG_DST, (*out)->data}, {DNNL_ARG_WORKSPACE, c.workspace}};
  LBBT_TRY(lbbt_dnnl_prim_exec(prim, args, ws ? 3 : 2));
  return lbbt_tape_push(t, op, pool_backward, *out, &x, 1, &c, sizeof c);
}

/* Max pooling in C rather than oneDNN: oneDNN 2.6 runs plain NCHW max pooling on its
 * reference implementation (simple_nchw), measured at 3 ms forward + 1.3 ms backward per
 * step of Table 6's detector ([16, 64, 12, 12] -> [16, 64, 6, 6]: ~20 ns per input element)
 * where these loops take a small fraction of that.  They compute what it computes, bit for
 * bit: a window's maximum is its first in-bounds element replaced by every later one that
 * is strictly greater (row-major window order; padding never wins, a NaN only when first);
 * backward zeroes each plane's gradient, adds every output's gradient at its argmax in
 * output raster order (overlapping windows sum in that order), then accumulates (+=). */
typedef struct maxpool_ctx {
  int kernel, stride, padding;
  int32_t *argmax; /* [B, C, OH, OW]: offset of each window's maximum in its input plane */
} maxpool_ctx;

static lbbt_status maxpool_backward(lbbt_tape *t, const lbbt_op_record *rec) {
  const maxpool_ctx *c = rec->ctx;
  lbbt_tensor *x = rec->in[0], *y = rec->out;
  const int64_t planes = x->shape[0] * x->shape[1], HW = x->shape[2] * x->shape[3];
  const int64_t OHW = y->shape[2] * y->shape[3];
  float *dx = op_scratch(t, x->numel);
  if (!dx) return LBBT_E_NOMEM;
  const int32_t *arg = c->argmax;
  const float *dy = y->grad;
  float *gx = x->grad;
#pragma omp parallel for if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    float *d = dx + p * HW, *g = gx + p * HW;
    const float *dyp = dy + p * OHW;
    const int32_t *ap = arg + p * OHW;
    memset(d, 0, (size_t)HW * sizeof *d);
    for (int64_t o = 0; o < OHW; o++) d[ap[o]] += dyp[o];
    for (int64_t i = 0; i < HW; i++) g[i] += d[i];
  }
  return LBBT_OK;
}

lbbt_status lbbt_maxpool2d(lbbt_tape *t, lbbt_tensor *x, int kernel, int stride, int padding,
                           lbbt_tensor **out) {
  char sx[OP_SHAPE_BUF];
  *out = NULL;
  /* PyTorch's rule: padding at most half the kernel, so no window is all padding. */
  if (x->ndim != 4 || kernel < 1 || stride < 1 || padding < 0 || 2 * padding > kernel ||
      x->shape[2] + 2 * padding < kernel || x->shape[3] + 2 * padding < kernel ||
      x->shape[2] * x->shape[3] > INT32_MAX)
    return lbbt_fail(LBBT_E_SHAPE,
                     "maxpool2d: x %s, kernel %d, stride %d, padding %d: need x [B, C, H, W] "
                     "(H * W < 2^31), kernel >= 1, stride >= 1, 0 <= padding <= kernel/2 and a "
                     "kernel no larger than the padded input",
                     op_shape(x, sx), kernel, stride, padding);
  const int64_t H = x->shape[2], W = x->shape[3];
  const int64_t OH = window_out(H, kernel, stride, padding), OW = window_out(W, kernel, stride, padding);
  LBBT_TRY(lbbt_tape_tensor(t, 4, (int64_t[]){x->shape[0], x->shape[1], OH, OW}, out));
  const int64_t planes = x->shape[0] * x->shape[1];
  maxpool_ctx c = {kernel, stride, padding, lbbt_tape_alloc(t, (size_t)(planes * OH * OW) * sizeof(int32_t))};
  if (!c.argmax) return LBBT_E_NOMEM;
  const float *xd = x->data;
  float *yd = (*out)->data;
#pragma omp parallel for if (x->numel >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t p = 0; p < planes; p++) {
    const float *xp = xd + p * H * W;
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++) {
        int64_t best = -1;
        float m = 0.0f;
        for (int64_t kh = 0; kh < kernel; kh++) {
          const int64_t ih = oh * stride - padding + kh;
          if (ih < 0 || ih >= H) continue;
          for (int64_t kw = 0; kw < kernel; kw++) {
            const int64_t iw = ow * stride - padding + kw;
            if (iw < 0 || iw >= W) continue;
            const float v = xp[ih * W + iw];
            if (best < 0 || v > m) m = v, best = ih * W + iw;
          }
        }
        const int64_t o = (p * OH + oh) * OW + ow;
        yd[o] = m, c.argmax[o] = (int32_t)best;
      }
  }
  return lbbt_tape_push(t, "maxpool2d", maxpool_backward, *out, &x, 1, &c, sizeof c);
}

lbbt_status lbbt_avgpool2d(lbbt_tape *t, lbbt_tensor *x, int kernel, int stride, int padding,
                           lbbt_tensor **out) {
  return pool_op(t, "avgpool2d", dnnl_pooling_avg_exclude_padding, x, kernel, stride, padding,
                 out);
}
