/* Dense ops (matmul, linear, elementwise, norms, losses, reductions, shape ops, conv,
 * pooling, batchnorm), in the style of ggml's test-backend-ops: ONE table of cases.  Each
 * row names the op, a builder, the input shapes and parameters, a naive double-precision
 * reference for the forward values, and its own finite-difference tolerance.  For a valid
 * row the loop checks the forward against the reference, the gradient of every input that
 * requires one against central differences (gradcheck.h), and that inputs without
 * requires_grad never receive a gradient.  Rows with `expect` set are invalid calls that
 * must fail with that status and a message naming the op.
 * Separate tests cover what a table row cannot: steady-state allocation of a repeated
 * training step, batch-norm running statistics, reshape aliasing, all-ignored targets. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "gradcheck.h"
#include "autograd/tape_internal.h" /* arena marks, to poison fresh buffers */
#include "lbbt/kernels.h"
#include "lbbt/ops.h"
#include "lbbt/rng.h"
#include "test.h"

/* ---- tolerances ----------------------------------------------------------------------- */
/* Finite differences on f32: step h, and |analytic - numeric| <= atol + rtol * max(|.|). */
static const gc_tolerance TOL_LINEAR = {1e-2, 2e-3, 1e-2};   /* ops linear in each input */
static const gc_tolerance TOL_MATMUL = {1e-2, 4e-3, 1e-2};   /* sums of K products */
static const gc_tolerance TOL_SMOOTH = {1e-2, 3e-3, 2e-2};   /* gelu, silu, softmax, losses */
static const gc_tolerance TOL_NORM = {1e-2, 5e-3, 3e-2};     /* layer/rms/batch norm */
static const gc_tolerance TOL_CONV = {1e-2, 5e-3, 2e-2};     /* conv2d */
static const gc_tolerance TOL_BOX = {1e-3, 2e-3, 2e-2};     /* giou_loss: ratios of areas, with
                                                               kinks (see the rows) */
static const gc_tolerance TOL_KINK = {1e-3, 3e-3, 2e-2};     /* relu, l1, maxpool (inputs kept
                                                               further than h from kinks) */
/* Forward values against the double references: |got - want| <= atol + rtol * |want|. */
static const double FWD_ATOL = 5e-5;
static const double FWD_RTOL = 2e-4;
/* Elements per input checked by finite differences (spread evenly). */
enum { GC_MAX_CHECKS = 24 };
/* Spacing of INIT_DISTINCT values: far above the kink step TOL_KINK.h. */
static const double DISTINCT_SPACING = 0.05;

/* ---- the table ------------------------------------------------------------------------ */
#define MAX_IN 5
/* INIT_BOXES: valid xyxy boxes [..., 4] (x1 > x0, y1 > y0), spread so that some pairs
 * overlap; INIT_BOXES_NEAR: the same boxes for every input of a row (seeded by the row),
 * each jittered by its own seed, so that pairs overlap, nest and stick out. */
typedef enum { INIT_NORMAL, INIT_DISTINCT, INIT_POSITIVE, INIT_BOXES, INIT_BOXES_NEAR } init_kind;
typedef struct op_case op_case;
/* Naive reference: fills y (double) and the expected output shape. */
typedef void (*ref_fn)(const op_case *c, lbbt_tensor **in, double *y, int *ndim, int64_t *shape);

struct op_case {
  const char *name;
  gc_forward_fn build; /* user = the op_case */
  ref_fn ref;
  int n_in;
  int nd[MAX_IN];
  int64_t shape[MAX_IN][LBBT_MAX_DIMS];
  unsigned no_grad;         /* bit i: input i does not require grad */
  init_kind init[MAX_IN];
  int ip[8];                /* integer parameters (flags, dims, kernel, ...) */
  float fp[2];              /* float parameters (eps, scale, smoothing, momentum) */
  gc_tolerance tol;
  lbbt_status expect;       /* LBBT_OK, or the failure an invalid row must return */
  const char *expect_msg;   /* text the failure message must contain */
};

/* ---- builders ------------------------------------------------------------------------- */
#define CASE(u) ((const op_case *)(u))
static lbbt_status build_matmul(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_matmul(t, in[0], in[1], CASE(u)->ip[0], CASE(u)->ip[1], out);
}
static lbbt_status build_matmul_self(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_matmul(t, in[0], in[0], 0, 1, out); /* x @ x^T: both grads land in x */
}
static lbbt_status build_linear(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_linear(t, in[0], in[1], CASE(u)->n_in > 2 ? in[2] : NULL, out);
}
static lbbt_status build_linear_in_out(lbbt_tape *t, lbbt_tensor **in, void *u,
                                       lbbt_tensor **out) {
  return lbbt_linear_in_out(t, in[0], in[1], CASE(u)->n_in > 2 ? in[2] : NULL, out);
}
/* inputs x, w, residual (, bias); ip[0]: w is [I, O] */
static lbbt_status build_linear_residual(lbbt_tape *t, lbbt_tensor **in, void *u,
                                         lbbt_tensor **out) {
  return lbbt_linear_residual(t, in[0], in[1], CASE(u)->n_in > 3 ? in[3] : NULL, CASE(u)->ip[0],
                              in[2], out);
}
static lbbt_status build_add(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_add(t, in[0], in[1], out);
}
static lbbt_status build_mul(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_mul(t, in[0], in[1], out);
}
static lbbt_status build_mul_self(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_mul(t, in[0], in[0], out);
}
static lbbt_status build_scale(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_scale(t, in[0], CASE(u)->fp[0], out);
}
static lbbt_status build_gelu(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_gelu(t, in[0], (lbbt_gelu_form)CASE(u)->ip[0], out);
}
static lbbt_status build_silu(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_silu(t, in[0], out);
}
static lbbt_status build_sigmoid(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_sigmoid(t, in[0], out);
}
static lbbt_status build_relu(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_relu(t, in[0], out);
}
static lbbt_status build_layernorm(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_layernorm(t, in[0], in[1], CASE(u)->n_in > 2 ? in[2] : NULL, CASE(u)->fp[0], out);
}
static lbbt_status build_rmsnorm(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_rmsnorm(t, in[0], in[1], CASE(u)->fp[0], out);
}
/* ip[0]: training mode; fp = {momentum, eps}; inputs x, w, b, running_mean, running_var. */
static lbbt_status build_batchnorm(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  lbbt_tape_set_training(t, CASE(u)->ip[0]);
  return lbbt_batchnorm2d(t, in[0], in[1], in[2], in[3], in[4], CASE(u)->fp[0], CASE(u)->fp[1],
                          out);
}
static lbbt_status build_softmax(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_softmax(t, in[0], out);
}

/* Cross-entropy targets: every 4th row ignored (-1); mode 1 puts one target out of range. */
enum { CE_MAX_ROWS = 64 };
static void ce_targets(const op_case *c, int64_t N, int64_t V, int32_t *tg) {
  for (int64_t i = 0; i < N; i++) tg[i] = i % 4 == 3 ? -1 : (int32_t)((i * 7 + 3) % V);
  if (c->ip[0] == 1) tg[N - 1] = (int32_t)V;
}
static lbbt_status build_cross_entropy(lbbt_tape *t, lbbt_tensor **in, void *u,
                                       lbbt_tensor **out) {
  int32_t tg[CE_MAX_ROWS];
  ce_targets(CASE(u), in[0]->shape[0], in[0]->shape[in[0]->ndim - 1], tg);
  return lbbt_cross_entropy(t, in[0], tg, CASE(u)->fp[0], out);
}
/* Class weights of the weighted cross-entropy rows: the last class (a detector's no-object)
 * 0.1, the others 1, 1.25, 1.5; mode 2 makes every counted row's weight 0. */
static void ce_weights(const op_case *c, int64_t V, float *w) {
  for (int64_t j = 0; j < V; j++) w[j] = j == V - 1 ? 0.1f : 1.0f + 0.25f * (float)(j % 3);
  if (c->ip[0] == 2)
    for (int64_t j = 0; j < V; j++) w[j] = 0;
}
static lbbt_status build_cross_entropy_weighted(lbbt_tape *t, lbbt_tensor **in, void *u,
                                                lbbt_tensor **out) {
  int32_t tg[CE_MAX_ROWS];
  float w[CE_MAX_ROWS];
  int64_t N = in[0]->shape[0], V = in[0]->shape[in[0]->ndim - 1];
  ce_targets(CASE(u), N, V, tg);
  ce_weights(CASE(u), V, w);
  return lbbt_cross_entropy_weighted(t, in[0], tg, w, out);
}
static lbbt_status build_mse(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_mse(t, in[0], in[1], out);
}
static lbbt_status build_l1(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_l1(t, in[0], in[1], out);
}
static lbbt_status build_cxcywh_to_xyxy(lbbt_tape *t, lbbt_tensor **in, void *u,
                                        lbbt_tensor **out) {
  return lbbt_box_cxcywh_to_xyxy(t, in[0], out);
}
static lbbt_status build_xyxy_to_cxcywh(lbbt_tape *t, lbbt_tensor **in, void *u,
                                        lbbt_tensor **out) {
  return lbbt_box_xyxy_to_cxcywh(t, in[0], out);
}
static lbbt_status build_giou_loss(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_giou_loss(t, in[0], in[1], out);
}
static lbbt_status build_mean(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_mean(t, in[0], CASE(u)->ip[0], CASE(u)->ip[1], out);
}
static lbbt_status build_sum(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_sum(t, in[0], CASE(u)->ip[0], CASE(u)->ip[1], out);
}
static lbbt_status build_mean_all(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_mean_all(t, in[0], out);
}
static lbbt_status build_sum_all(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_sum_all(t, in[0], out);
}
/* ip[0] = ndim, ip[1..] = shape (may hold one -1). */
static lbbt_status build_reshape(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  int64_t shape[LBBT_MAX_DIMS];
  for (int i = 0; i < CASE(u)->ip[0] && i < LBBT_MAX_DIMS; i++) shape[i] = CASE(u)->ip[1 + i];
  return lbbt_reshape(t, in[0], CASE(u)->ip[0], shape, out);
}
static lbbt_status build_transpose(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_transpose(t, in[0], CASE(u)->ip[0], CASE(u)->ip[1], out);
}
static lbbt_status build_permute(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_permute(t, in[0], CASE(u)->ip, out);
}
static lbbt_status build_concat(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_concat(t, in, CASE(u)->n_in, CASE(u)->ip[0], out);
}
static lbbt_status build_slice(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_slice(t, in[0], CASE(u)->ip[0], CASE(u)->ip[1], CASE(u)->ip[2], out);
}
/* ip = {stride, padding} */
static lbbt_status build_conv2d(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_conv2d(t, in[0], in[1], CASE(u)->n_in > 2 ? in[2] : NULL, CASE(u)->ip[0],
                     CASE(u)->ip[1], out);
}
/* ip = {kernel, stride, padding} */
static lbbt_status build_maxpool(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_maxpool2d(t, in[0], CASE(u)->ip[0], CASE(u)->ip[1], CASE(u)->ip[2], out);
}
static lbbt_status build_avgpool(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_avgpool2d(t, in[0], CASE(u)->ip[0], CASE(u)->ip[1], CASE(u)->ip[2], out);
}
/* A small chain: linear -> gelu -> layernorm, so gradients flow through several records. */
static lbbt_status build_chain(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  lbbt_tensor *h, *g;
  LBBT_TRY(lbbt_linear(t, in[0], in[1], in[2], &h));
  LBBT_TRY(lbbt_gelu(t, h, LBBT_GELU_ERF, &g));
  return lbbt_layernorm(t, g, in[3], in[4], 1e-5f, out);
}

/* Fresh gradients (core/src/autograd/tape_internal.h): ops whose backward overwrites a new activation
 * gradient, or hands its own output gradient to the input, instead of adding into a zeroed
 * buffer.  The table's inputs are heap tensors, whose gradients are always accumulated, so
 * here the op reads h = 0.5 x (an activation) and h has a second consumer h2 = 2 h:
 * ip[1] = 0 records h2 after the op (its backward runs first: the op then accumulates),
 * ip[1] = 1 records it before (the op writes h's gradient fresh, h2's backward then adds).
 * ip[0] picks the op; out = concat(flatten(y), flatten(h2)).  in[1], in[2]: the op's other
 * inputs.  The arena is poisoned with NaN first (an arena mark released after filling), so
 * a fresh buffer the backward fails to overwrite shows up as a NaN gradient. */
enum { FRESH_LINEAR, FRESH_LINEAR_IN_OUT, FRESH_LINEAR_RESIDUAL, FRESH_ADD_A, FRESH_ADD_B, FRESH_ADD_SELF, FRESH_MUL,
       FRESH_MUL_SELF, FRESH_GELU, FRESH_LAYERNORM, FRESH_RESHAPE };
static lbbt_status build_fresh(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  const op_case *c = CASE(u);
  enum { POISON_FLOATS = 1 << 20 };
  lbbt_tape_mark mark = lbbt_tape_mark_get(t);
  float *poison = lbbt_tape_alloc(t, POISON_FLOATS * sizeof(float));
  if (!poison) return LBBT_E_NOMEM;
  for (int i = 0; i < POISON_FLOATS; i++) poison[i] = NAN;
  lbbt_tape_mark_release(t, mark);
  lbbt_tensor *h, *h2 = NULL, *y = NULL;
  LBBT_TRY(lbbt_scale(t, in[0], 0.5f, &h));
  if (c->ip[1]) LBBT_TRY(lbbt_scale(t, h, 2.0f, &h2));
  switch (c->ip[0]) {
    case FRESH_LINEAR: LBBT_TRY(lbbt_linear(t, h, in[1], in[2], &y)); break;
    case FRESH_LINEAR_IN_OUT: LBBT_TRY(lbbt_linear_in_out(t, h, in[1], in[2], &y)); break;
    /* h is both the matmul's input and the residual (w square): dx written or added,
     * then the residual adopts dy or adds it */
    case FRESH_LINEAR_RESIDUAL: LBBT_TRY(lbbt_linear_residual(t, h, in[1], in[2], 1, h, &y)); break;
    case FRESH_ADD_A: LBBT_TRY(lbbt_add(t, h, in[1], &y)); break;
    case FRESH_ADD_B: LBBT_TRY(lbbt_add(t, in[1], h, &y)); break;
    case FRESH_ADD_SELF: LBBT_TRY(lbbt_add(t, h, h, &y)); break;
    case FRESH_MUL: LBBT_TRY(lbbt_mul(t, h, in[1], &y)); break;
    case FRESH_MUL_SELF: LBBT_TRY(lbbt_mul(t, h, h, &y)); break;
    case FRESH_GELU: LBBT_TRY(lbbt_gelu(t, h, LBBT_GELU_TANH, &y)); break;
    case FRESH_LAYERNORM: LBBT_TRY(lbbt_layernorm(t, h, in[1], in[2], 1e-5f, &y)); break;
    case FRESH_RESHAPE: LBBT_TRY(lbbt_reshape(t, h, 2, (int64_t[]){-1, 2}, &y)); break;
  }
  if (!c->ip[1]) LBBT_TRY(lbbt_scale(t, h, 2.0f, &h2));
  lbbt_tensor *flat[2];
  LBBT_TRY(lbbt_reshape(t, y, 1, (int64_t[]){-1}, &flat[0]));
  LBBT_TRY(lbbt_reshape(t, h2, 1, (int64_t[]){-1}, &flat[1]));
  return lbbt_concat(t, flat, 2, 0, out);
}

/* ---- naive references (double) -------------------------------------------------------- */
static void same_shape_as(const lbbt_tensor *x, int *ndim, int64_t *shape) {
  *ndim = x->ndim;
  memcpy(shape, x->shape, sizeof x->shape);
}

static void ref_matmul(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  const lbbt_tensor *a = in[0], *b = in[1];
  int ta = c->ip[0], tb = c->ip[1];
  int64_t M = a->shape[a->ndim - (ta ? 1 : 2)], K = a->shape[a->ndim - (ta ? 2 : 1)];
  int64_t N = b->shape[b->ndim - (tb ? 2 : 1)];
  int64_t batch = a->numel / (M * K), bbatch = b->numel / (K * N);
  for (int64_t bi = 0; bi < batch; bi++) {
    const float *A = a->data + bi * M * K, *B = b->data + (bi % bbatch) * K * N;
    for (int64_t m = 0; m < M; m++)
      for (int64_t n = 0; n < N; n++) {
        double s = 0;
        for (int64_t k = 0; k < K; k++)
          s += (double)(ta ? A[k * M + m] : A[m * K + k]) * (tb ? B[n * K + k] : B[k * N + n]);
        y[(bi * M + m) * N + n] = s;
      }
  }
  same_shape_as(a, nd, shape);
  shape[*nd - 2] = M;
  shape[*nd - 1] = N;
}
static void ref_matmul_self(const op_case *c, lbbt_tensor **in, double *y, int *nd,
                            int64_t *shape) {
  op_case cc = *c;
  cc.ip[0] = 0;
  cc.ip[1] = 1;
  lbbt_tensor *ab[2] = {in[0], in[0]};
  ref_matmul(&cc, ab, y, nd, shape);
}
static void ref_linear(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  const lbbt_tensor *x = in[0], *w = in[1], *b = c->n_in > 2 ? in[2] : NULL;
  int64_t O = w->shape[0], I = w->shape[1], R = x->numel / I;
  for (int64_t r = 0; r < R; r++)
    for (int64_t o = 0; o < O; o++) {
      double s = b ? b->data[o] : 0.0;
      for (int64_t i = 0; i < I; i++) s += (double)x->data[r * I + i] * w->data[o * I + i];
      y[r * O + o] = s;
    }
  same_shape_as(x, nd, shape);
  shape[*nd - 1] = O;
}
/* w [I, O] (Conv1D layout) */
static void ref_linear_in_out(const op_case *c, lbbt_tensor **in, double *y, int *nd,
                              int64_t *shape) {
  const lbbt_tensor *x = in[0], *w = in[1], *b = c->n_in > 2 ? in[2] : NULL;
  int64_t I = w->shape[0], O = w->shape[1], R = x->numel / I;
  for (int64_t r = 0; r < R; r++)
    for (int64_t o = 0; o < O; o++) {
      double s = b ? b->data[o] : 0.0;
      for (int64_t i = 0; i < I; i++) s += (double)x->data[r * I + i] * w->data[i * O + o];
      y[r * O + o] = s;
    }
  same_shape_as(x, nd, shape);
  shape[*nd - 1] = O;
}
/* linear (ip[0] = 0) or linear_in_out (1) of x, w (, bias = in[3]) plus the residual in[2] */
static void ref_linear_residual(const op_case *c, lbbt_tensor **in, double *y, int *nd,
                                int64_t *shape) {
  op_case lin = *c;
  lbbt_tensor *xwb[3] = {in[0], in[1], c->n_in > 3 ? in[3] : NULL};
  lin.n_in = c->n_in > 3 ? 3 : 2;
  if (c->ip[0])
    ref_linear_in_out(&lin, xwb, y, nd, shape);
  else
    ref_linear(&lin, xwb, y, nd, shape);
  for (int64_t i = 0; i < in[2]->numel; i++) y[i] += in[2]->data[i];
}
static void ref_add(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  for (int64_t i = 0; i < in[0]->numel; i++)
    y[i] = (double)in[0]->data[i] + in[1]->data[i % in[1]->numel];
  same_shape_as(in[0], nd, shape);
}
static void ref_mul(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  for (int64_t i = 0; i < in[0]->numel; i++)
    y[i] = (double)in[0]->data[i] * in[1]->data[i % in[1]->numel];
  same_shape_as(in[0], nd, shape);
}
static void ref_mul_self(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  for (int64_t i = 0; i < in[0]->numel; i++) y[i] = (double)in[0]->data[i] * in[0]->data[i];
  same_shape_as(in[0], nd, shape);
}
/* Pointwise references share one loop. */
static double gelu_tanh_d(double x) {
  return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
static double gelu_erf_d(double x) { return 0.5 * x * (1.0 + erf(x / sqrt(2.0))); }
static void ref_pointwise(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape,
                          double (*f)(double, const op_case *)) {
  for (int64_t i = 0; i < in[0]->numel; i++) y[i] = f(in[0]->data[i], c);
  same_shape_as(in[0], nd, shape);
}
static double f_scale(double x, const op_case *c) { return x * c->fp[0]; }
static double f_gelu(double x, const op_case *c) {
  return c->ip[0] == LBBT_GELU_TANH ? gelu_tanh_d(x) : gelu_erf_d(x);
}
static double f_silu(double x, const op_case *c) { return x / (1.0 + exp(-x)); }
static double f_relu(double x, const op_case *c) { return x > 0 ? x : 0; }
static void ref_scale(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_pointwise(c, in, y, nd, s, f_scale);
}
static void ref_gelu(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_pointwise(c, in, y, nd, s, f_gelu);
}
static void ref_silu(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_pointwise(c, in, y, nd, s, f_silu);
}
static void ref_sigmoid(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  for (int64_t i = 0; i < in[0]->numel; i++) y[i] = 1.0 / (1.0 + exp(-(double)in[0]->data[i]));
  *nd = in[0]->ndim;
  memcpy(s, in[0]->shape, sizeof(int64_t) * (size_t)in[0]->ndim);
}
static void ref_relu(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_pointwise(c, in, y, nd, s, f_relu);
}
static void ref_layernorm(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  const lbbt_tensor *x = in[0], *w = in[1], *b = c->n_in > 2 ? in[2] : NULL;
  int64_t C = x->shape[x->ndim - 1], R = x->numel / C;
  for (int64_t r = 0; r < R; r++) {
    const float *xr = x->data + r * C;
    double mean = 0, var = 0;
    for (int64_t j = 0; j < C; j++) mean += xr[j];
    mean /= C;
    for (int64_t j = 0; j < C; j++) var += (xr[j] - mean) * (xr[j] - mean);
    var /= C;
    for (int64_t j = 0; j < C; j++)
      y[r * C + j] = (xr[j] - mean) / sqrt(var + c->fp[0]) * w->data[j] + (b ? b->data[j] : 0);
  }
  same_shape_as(x, nd, shape);
}
static void ref_rmsnorm(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  const lbbt_tensor *x = in[0], *w = in[1];
  int64_t C = x->shape[x->ndim - 1], R = x->numel / C;
  for (int64_t r = 0; r < R; r++) {
    const float *xr = x->data + r * C;
    double ss = 0;
    for (int64_t j = 0; j < C; j++) ss += (double)xr[j] * xr[j];
    double inv = 1.0 / sqrt(ss / C + c->fp[0]);
    for (int64_t j = 0; j < C; j++) y[r * C + j] = xr[j] * inv * w->data[j];
  }
  same_shape_as(x, nd, shape);
}
static void ref_batchnorm(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  const lbbt_tensor *x = in[0], *w = in[1], *b = in[2], *rm = in[3], *rv = in[4];
  int64_t B = x->shape[0], C = x->shape[1], HW = x->shape[2] * x->shape[3];
  for (int64_t ch = 0; ch < C; ch++) {
    double mean = rm->data[ch], var = rv->data[ch];
    if (c->ip[0]) { /* training: batch statistics, biased variance */
      mean = var = 0;
      for (int64_t n = 0; n < B; n++)
        for (int64_t i = 0; i < HW; i++) mean += x->data[(n * C + ch) * HW + i];
      mean /= (double)(B * HW);
      for (int64_t n = 0; n < B; n++)
        for (int64_t i = 0; i < HW; i++) {
          double d = x->data[(n * C + ch) * HW + i] - mean;
          var += d * d;
        }
      var /= (double)(B * HW);
    }
    for (int64_t n = 0; n < B; n++)
      for (int64_t i = 0; i < HW; i++) {
        int64_t k = (n * C + ch) * HW + i;
        y[k] = (x->data[k] - mean) / sqrt(var + c->fp[1]) * w->data[ch] + b->data[ch];
      }
  }
  same_shape_as(x, nd, shape);
}
static void ref_softmax(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  const lbbt_tensor *x = in[0];
  int64_t C = x->shape[x->ndim - 1], R = x->numel / C;
  for (int64_t r = 0; r < R; r++) {
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < C; j++) mx = fmax(mx, x->data[r * C + j]);
    for (int64_t j = 0; j < C; j++) s += exp(x->data[r * C + j] - mx);
    for (int64_t j = 0; j < C; j++) y[r * C + j] = exp(x->data[r * C + j] - mx) / s;
  }
  same_shape_as(x, nd, shape);
}
/* torch.nn.functional.cross_entropy(logits, targets, ignore_index=-1, label_smoothing=e) */
static void ref_cross_entropy(const op_case *c, lbbt_tensor **in, double *y, int *nd,
                              int64_t *shape) {
  const lbbt_tensor *x = in[0];
  int64_t N = x->shape[0], V = x->shape[1], n = 0;
  int32_t tg[CE_MAX_ROWS];
  ce_targets(c, N, V, tg);
  double e = c->fp[0], total = 0;
  for (int64_t i = 0; i < N; i++) {
    if (tg[i] < 0) continue;
    double mx = -INFINITY, s = 0, mean_logp = 0;
    for (int64_t j = 0; j < V; j++) mx = fmax(mx, x->data[i * V + j]);
    for (int64_t j = 0; j < V; j++) s += exp(x->data[i * V + j] - mx);
    double lse = mx + log(s);
    for (int64_t j = 0; j < V; j++) mean_logp += (x->data[i * V + j] - lse) / V;
    total += (1 - e) * (lse - x->data[i * V + tg[i]]) - e * mean_logp;
    n++;
  }
  y[0] = total / n;
  *nd = 1;
  shape[0] = 1;
}
static void ref_cross_entropy_weighted(const op_case *c, lbbt_tensor **in, double *y, int *nd,
                                       int64_t *shape) {
  const lbbt_tensor *x = in[0];
  int64_t N = x->shape[0], V = x->shape[1];
  int32_t tg[CE_MAX_ROWS];
  float w[CE_MAX_ROWS];
  ce_targets(c, N, V, tg);
  ce_weights(c, V, w);
  double total = 0, wsum = 0;
  for (int64_t i = 0; i < N; i++) {
    if (tg[i] < 0) continue;
    double mx = -INFINITY, s = 0;
    for (int64_t j = 0; j < V; j++) mx = fmax(mx, x->data[i * V + j]);
    for (int64_t j = 0; j < V; j++) s += exp(x->data[i * V + j] - mx);
    total += w[tg[i]] * (mx + log(s) - x->data[i * V + tg[i]]);
    wsum += w[tg[i]];
  }
  y[0] = wsum > 0 ? total / wsum : 0.0;
  *nd = 1;
  shape[0] = 1;
}
static void ref_mse(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  double s = 0;
  for (int64_t i = 0; i < in[0]->numel; i++) {
    double d = (double)in[0]->data[i] - in[1]->data[i];
    s += d * d;
  }
  y[0] = s / in[0]->numel;
  *nd = 1;
  shape[0] = 1;
}
static void ref_l1(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  double s = 0;
  for (int64_t i = 0; i < in[0]->numel; i++) s += fabs((double)in[0]->data[i] - in[1]->data[i]);
  y[0] = s / in[0]->numel;
  *nd = 1;
  shape[0] = 1;
}
/* Boxes: written out from the definitions (DETR util/box_ops.py), in double. */
static void ref_box_convert(const op_case *c, lbbt_tensor **in, double *y, int *nd,
                            int64_t *shape, int to_xyxy) {
  const float *x = in[0]->data;
  for (int64_t i = 0; i < in[0]->numel; i += 4) {
    double a = x[i], b = x[i + 1], p = x[i + 2], q = x[i + 3];
    if (to_xyxy) {
      y[i] = a - p / 2, y[i + 1] = b - q / 2, y[i + 2] = a + p / 2, y[i + 3] = b + q / 2;
    } else {
      y[i] = (a + p) / 2, y[i + 1] = (b + q) / 2, y[i + 2] = p - a, y[i + 3] = q - b;
    }
  }
  *nd = in[0]->ndim;
  memcpy(shape, in[0]->shape, sizeof(int64_t) * (size_t)in[0]->ndim);
}
static void ref_cxcywh_to_xyxy(const op_case *c, lbbt_tensor **in, double *y, int *nd,
                               int64_t *shape) {
  ref_box_convert(c, in, y, nd, shape, 1);
}
static void ref_xyxy_to_cxcywh(const op_case *c, lbbt_tensor **in, double *y, int *nd,
                               int64_t *shape) {
  ref_box_convert(c, in, y, nd, shape, 0);
}
static void ref_giou_loss(const op_case *c, lbbt_tensor **in, double *y, int *nd,
                          int64_t *shape) {
  for (int64_t i = 0; i < in[0]->numel / 4; i++) {
    const float *a = in[0]->data + 4 * i, *b = in[1]->data + 4 * i;
    double area_a = ((double)a[2] - a[0]) * ((double)a[3] - a[1]);
    double area_b = ((double)b[2] - b[0]) * ((double)b[3] - b[1]);
    double lt[2], rb[2], inter = 1, enc = 1;
    for (int k = 0; k < 2; k++) {
      lt[k] = a[k] > b[k] ? a[k] : b[k];
      rb[k] = a[k + 2] < b[k + 2] ? a[k + 2] : b[k + 2];
      inter *= rb[k] > lt[k] ? rb[k] - lt[k] : 0.0;
      enc *= (a[k + 2] > b[k + 2] ? a[k + 2] : b[k + 2]) - (a[k] < b[k] ? a[k] : b[k]);
    }
    double uni = area_a + area_b - inter;
    y[i] = 1.0 - (inter / uni - (enc - uni) / enc);
  }
  *nd = in[0]->ndim - 1;
  memcpy(shape, in[0]->shape, sizeof(int64_t) * (size_t)*nd);
}
static void ref_reduce(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape,
                       int mean) {
  const lbbt_tensor *x = in[0];
  int d = c->ip[0] < 0 ? c->ip[0] + x->ndim : c->ip[0];
  int64_t outer = 1, D = x->shape[d], inner = 1;
  for (int i = 0; i < d; i++) outer *= x->shape[i];
  for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double s = 0;
      for (int64_t k = 0; k < D; k++) s += x->data[(o * D + k) * inner + i];
      y[o * inner + i] = mean ? s / D : s;
    }
  *nd = 0;
  for (int i = 0; i < x->ndim; i++)
    if (i != d || c->ip[1]) shape[(*nd)++] = i == d ? 1 : x->shape[i];
  if (*nd == 0) shape[(*nd)++] = 1;
}
static void ref_mean(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_reduce(c, in, y, nd, s, 1);
}
static void ref_sum(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_reduce(c, in, y, nd, s, 0);
}
static void ref_reduce_all(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape,
                           int mean) {
  double s = 0;
  for (int64_t i = 0; i < in[0]->numel; i++) s += in[0]->data[i];
  y[0] = mean ? s / in[0]->numel : s;
  *nd = 1;
  shape[0] = 1;
}
static void ref_mean_all(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_reduce_all(c, in, y, nd, s, 1);
}
static void ref_sum_all(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_reduce_all(c, in, y, nd, s, 0);
}
static void ref_reshape(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  int64_t known = 1;
  int infer = -1;
  *nd = c->ip[0];
  for (int i = 0; i < *nd; i++) {
    shape[i] = c->ip[1 + i];
    if (shape[i] == -1)
      infer = i;
    else
      known *= shape[i];
  }
  if (infer >= 0) shape[infer] = in[0]->numel / known;
  for (int64_t i = 0; i < in[0]->numel; i++) y[i] = in[0]->data[i];
}
/* y dim i = x dim perm[i], by explicit multi-index arithmetic. */
static void permute_ref(const lbbt_tensor *x, const int *perm, double *y, int *nd,
                        int64_t *shape) {
  *nd = x->ndim;
  for (int i = 0; i < x->ndim; i++) shape[i] = x->shape[perm[i]];
  for (int64_t k = 0; k < x->numel; k++) {
    int64_t idx[LBBT_MAX_DIMS], rem = k, xoff = 0;
    for (int i = x->ndim - 1; i >= 0; i--) {
      idx[i] = rem % shape[i];
      rem /= shape[i];
    }
    int64_t xidx[LBBT_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) xidx[perm[i]] = idx[i];
    for (int i = 0; i < x->ndim; i++) xoff = xoff * x->shape[i] + xidx[i];
    y[k] = x->data[xoff];
  }
}
static void ref_permute(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  permute_ref(in[0], c->ip, y, nd, shape);
}
static void ref_transpose(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  int perm[LBBT_MAX_DIMS], n = in[0]->ndim;
  int a = c->ip[0] < 0 ? c->ip[0] + n : c->ip[0], b = c->ip[1] < 0 ? c->ip[1] + n : c->ip[1];
  for (int i = 0; i < n; i++) perm[i] = i;
  perm[a] = b;
  perm[b] = a;
  permute_ref(in[0], perm, y, nd, shape);
}
static void ref_concat(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  int d = c->ip[0] < 0 ? c->ip[0] + in[0]->ndim : c->ip[0];
  same_shape_as(in[0], nd, shape);
  shape[d] = 0;
  for (int k = 0; k < c->n_in; k++) shape[d] += in[k]->shape[d];
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; i++) outer *= shape[i];
  for (int i = d + 1; i < *nd; i++) inner *= shape[i];
  int64_t at = 0;
  for (int64_t o = 0; o < outer; o++)
    for (int k = 0; k < c->n_in; k++) {
      int64_t len = in[k]->shape[d] * inner;
      for (int64_t j = 0; j < len; j++) y[at++] = in[k]->data[o * len + j];
    }
}
static void ref_slice(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  const lbbt_tensor *x = in[0];
  int d = c->ip[0] < 0 ? c->ip[0] + x->ndim : c->ip[0];
  same_shape_as(x, nd, shape);
  shape[d] = c->ip[2];
  int64_t outer = 1, inner = 1, D = x->shape[d], at = 0;
  for (int i = 0; i < d; i++) outer *= x->shape[i];
  for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t k = c->ip[1]; k < c->ip[1] + c->ip[2]; k++)
      for (int64_t i = 0; i < inner; i++) y[at++] = x->data[(o * D + k) * inner + i];
}
static void ref_conv2d(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape) {
  const lbbt_tensor *x = in[0], *w = in[1], *b = c->n_in > 2 ? in[2] : NULL;
  int s = c->ip[0], p = c->ip[1];
  int64_t B = x->shape[0], Ci = x->shape[1], H = x->shape[2], W = x->shape[3];
  int64_t Co = w->shape[0], KH = w->shape[2], KW = w->shape[3];
  int64_t OH = (H + 2 * p - KH) / s + 1, OW = (W + 2 * p - KW) / s + 1;
  for (int64_t n = 0; n < B; n++)
    for (int64_t co = 0; co < Co; co++)
      for (int64_t oh = 0; oh < OH; oh++)
        for (int64_t ow = 0; ow < OW; ow++) {
          double acc = b ? b->data[co] : 0;
          for (int64_t ci = 0; ci < Ci; ci++)
            for (int64_t kh = 0; kh < KH; kh++)
              for (int64_t kw = 0; kw < KW; kw++) {
                int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                acc += (double)x->data[((n * Ci + ci) * H + ih) * W + iw] *
                       w->data[((co * Ci + ci) * KH + kh) * KW + kw];
              }
          y[((n * Co + co) * OH + oh) * OW + ow] = acc;
        }
  *nd = 4;
  shape[0] = B;
  shape[1] = Co;
  shape[2] = OH;
  shape[3] = OW;
}
/* Pooling windows clipped to the image: max, or mean over the real (unpadded) elements. */
static void ref_pool(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *shape,
                     int is_max) {
  const lbbt_tensor *x = in[0];
  int k = c->ip[0], s = c->ip[1], p = c->ip[2];
  int64_t BC = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3];
  int64_t OH = (H + 2 * p - k) / s + 1, OW = (W + 2 * p - k) / s + 1;
  for (int64_t bc = 0; bc < BC; bc++)
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++) {
        double acc = is_max ? -INFINITY : 0;
        int count = 0;
        for (int64_t kh = 0; kh < k; kh++)
          for (int64_t kw = 0; kw < k; kw++) {
            int64_t ih = oh * s - p + kh, iw = ow * s - p + kw;
            if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
            double v = x->data[(bc * H + ih) * W + iw];
            acc = is_max ? fmax(acc, v) : acc + v;
            count++;
          }
        y[(bc * OH + oh) * OW + ow] = is_max ? acc : acc / count;
      }
  *nd = 4;
  shape[0] = x->shape[0];
  shape[1] = x->shape[1];
  shape[2] = OH;
  shape[3] = OW;
}
static void ref_maxpool(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_pool(c, in, y, nd, s, 1);
}
static void ref_avgpool(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  ref_pool(c, in, y, nd, s, 0);
}

/* Bilinear resize, align_corners=False: each output pixel's source point written out per
 * pixel from PyTorch's formula (not from the op's tap tables), then the 2 x 2 blend. */
static lbbt_status build_upsample(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  return lbbt_upsample_bilinear(t, in[0], CASE(u)->ip[0], CASE(u)->ip[1], out);
}
static double upsample_src(int64_t d, int64_t n, int64_t m, int64_t *i0, int64_t *i1) {
  double s = (d + 0.5) * ((double)n / (double)m) - 0.5;
  s = s < 0 ? 0 : s;
  *i0 = (int64_t)floor(s);
  if (*i0 > n - 1) *i0 = n - 1;
  *i1 = *i0 + 1 < n ? *i0 + 1 : n - 1;
  return s - (double)*i0;
}
static void ref_upsample(const op_case *c, lbbt_tensor **in, double *y, int *nd, int64_t *s) {
  const lbbt_tensor *x = in[0];
  int64_t P = x->shape[0] * x->shape[1], H = x->shape[2], W = x->shape[3], OH = c->ip[0], OW = c->ip[1];
  for (int64_t p = 0; p < P; p++)
    for (int64_t i = 0; i < OH; i++)
      for (int64_t j = 0; j < OW; j++) {
        int64_t y0, y1, x0, x1;
        double ly = upsample_src(i, H, OH, &y0, &y1), lx = upsample_src(j, W, OW, &x0, &x1);
        const float *xp = x->data + p * H * W;
        y[(p * OH + i) * OW + j] = (1 - ly) * ((1 - lx) * xp[y0 * W + x0] + lx * xp[y0 * W + x1]) +
                                   ly * ((1 - lx) * xp[y1 * W + x0] + lx * xp[y1 * W + x1]);
      }
  *nd = 4;
  s[0] = x->shape[0], s[1] = x->shape[1], s[2] = OH, s[3] = OW;
}

/* ---- THE table ------------------------------------------------------------------------ */
#define BN_NO_GRAD ((1u << 3) | (1u << 4)) /* running statistics are buffers */
static const op_case CASES[] = {
    /* matmul: plain, transposes, batched, broadcast of B, odd sizes, self-product */
    {"matmul 2d", build_matmul, ref_matmul, 2, {2, 2}, {{5, 7}, {7, 3}}, .tol = TOL_MATMUL},
    {"matmul trans_a", build_matmul, ref_matmul, 2, {2, 2}, {{7, 5}, {7, 3}}, .ip = {1, 0},
     .tol = TOL_MATMUL},
    {"matmul trans_b", build_matmul, ref_matmul, 2, {2, 2}, {{5, 7}, {3, 7}}, .ip = {0, 1},
     .tol = TOL_MATMUL},
    {"matmul trans_a trans_b", build_matmul, ref_matmul, 2, {2, 2}, {{7, 5}, {3, 7}},
     .ip = {1, 1}, .tol = TOL_MATMUL},
    {"matmul batched", build_matmul, ref_matmul, 2, {4, 4}, {{2, 3, 4, 5}, {2, 3, 5, 6}},
     .tol = TOL_MATMUL},
    {"matmul batched trans_b (q k^T)", build_matmul, ref_matmul, 2, {4, 4},
     {{2, 2, 5, 4}, {2, 2, 6, 4}}, .ip = {0, 1}, .tol = TOL_MATMUL},
    {"matmul broadcast 2-D B", build_matmul, ref_matmul, 2, {3, 2}, {{3, 4, 5}, {5, 6}},
     .tol = TOL_MATMUL},
    {"matmul broadcast 2-D B trans_b", build_matmul, ref_matmul, 2, {3, 2}, {{3, 4, 5}, {6, 5}},
     .ip = {0, 1}, .tol = TOL_MATMUL},
    {"matmul broadcast 2-D B trans_a", build_matmul, ref_matmul, 2, {3, 2}, {{3, 5, 4}, {5, 6}},
     .ip = {1, 0}, .tol = TOL_MATMUL},
    {"matmul broadcast 3-D B trans_a trans_b", build_matmul, ref_matmul, 2, {4, 3},
     {{2, 3, 5, 4}, {3, 6, 5}}, .ip = {1, 1}, .tol = TOL_MATMUL},
    {"matmul broadcast 3-D B", build_matmul, ref_matmul, 2, {4, 3}, {{2, 3, 4, 5}, {3, 5, 6}},
     .tol = TOL_MATMUL},
    {"matmul B without grad", build_matmul, ref_matmul, 2, {3, 2}, {{2, 4, 5}, {5, 3}},
     .no_grad = 2, .tol = TOL_MATMUL},
    {"matmul A without grad", build_matmul, ref_matmul, 2, {3, 2}, {{2, 5, 4}, {5, 3}},
     .no_grad = 1, .ip = {1, 0}, .tol = TOL_MATMUL},
    {"matmul larger odd", build_matmul, ref_matmul, 2, {3, 2}, {{2, 33, 47}, {47, 29}},
     .tol = TOL_MATMUL},
    {"matmul x @ x^T (shared input)", build_matmul_self, ref_matmul_self, 1, {2}, {{4, 6}},
     .tol = TOL_MATMUL},
    {"matmul inner mismatch", build_matmul, NULL, 2, {2, 2}, {{5, 7}, {6, 3}},
     .expect = LBBT_E_SHAPE, .expect_msg = "matmul"},
    {"matmul batch mismatch", build_matmul, NULL, 2, {3, 3}, {{2, 4, 5}, {3, 5, 6}},
     .expect = LBBT_E_SHAPE, .expect_msg = "matmul"},
    {"matmul B more dims", build_matmul, NULL, 2, {2, 3}, {{4, 5}, {2, 5, 6}},
     .expect = LBBT_E_SHAPE, .expect_msg = "matmul"},
    /* linear */
    {"linear bias", build_linear, ref_linear, 3, {2, 2, 1}, {{6, 5}, {4, 5}, {4}},
     .tol = TOL_MATMUL},
    {"linear no bias 3-D x", build_linear, ref_linear, 2, {3, 2}, {{2, 3, 5}, {7, 5}},
     .tol = TOL_MATMUL},
    {"linear odd sizes", build_linear, ref_linear, 3, {3, 2, 1}, {{3, 5, 19}, {13, 19}, {13}},
     .tol = TOL_MATMUL},
    {"linear frozen w", build_linear, ref_linear, 3, {2, 2, 1}, {{4, 6}, {3, 6}, {3}},
     .no_grad = 2, .tol = TOL_MATMUL},
    {"linear in mismatch", build_linear, NULL, 2, {2, 2}, {{4, 6}, {3, 5}},
     .expect = LBBT_E_SHAPE, .expect_msg = "linear"},
    {"linear bias mismatch", build_linear, NULL, 3, {2, 2, 1}, {{4, 6}, {3, 6}, {4}},
     .expect = LBBT_E_SHAPE, .expect_msg = "linear"},
    /* linear_in_out: w [I, O] (GPT-2 Conv1D), bias fused into the matmul primitive */
    {"linear_in_out bias 3-D x", build_linear_in_out, ref_linear_in_out, 3, {3, 2, 1},
     {{2, 3, 5}, {5, 4}, {4}}, .tol = TOL_MATMUL},
    {"linear_in_out no bias", build_linear_in_out, ref_linear_in_out, 2, {2, 2},
     {{6, 5}, {5, 7}}, .tol = TOL_MATMUL},
    {"linear_in_out odd sizes", build_linear_in_out, ref_linear_in_out, 3, {3, 2, 1},
     {{3, 5, 19}, {19, 13}, {13}}, .tol = TOL_MATMUL},
    {"linear_in_out frozen x and w", build_linear_in_out, ref_linear_in_out, 3, {2, 2, 1},
     {{4, 6}, {6, 3}, {3}}, .no_grad = 3, .tol = TOL_MATMUL},
    {"linear_in_out in mismatch", build_linear_in_out, NULL, 2, {2, 2}, {{4, 6}, {5, 3}},
     .expect = LBBT_E_SHAPE, .expect_msg = "linear_in_out"},
    {"linear_in_out bias mismatch", build_linear_in_out, NULL, 3, {2, 2, 1},
     {{4, 6}, {6, 3}, {4}}, .expect = LBBT_E_SHAPE, .expect_msg = "linear_in_out"},
    /* linear_residual: residual + x @ W + b, the add a binary post-op of the matmul */
    {"linear_residual in_out bias 3-D x", build_linear_residual, ref_linear_residual, 4,
     {3, 2, 3, 1}, {{2, 3, 5}, {5, 4}, {2, 3, 4}, {4}}, .ip = {1}, .tol = TOL_MATMUL},
    {"linear_residual out_in no bias", build_linear_residual, ref_linear_residual, 3, {2, 2, 2},
     {{6, 5}, {7, 5}, {6, 7}}, .ip = {0}, .tol = TOL_MATMUL},
    {"linear_residual frozen residual", build_linear_residual, ref_linear_residual, 4,
     {2, 2, 2, 1}, {{4, 6}, {6, 3}, {4, 3}, {3}}, .ip = {1}, .no_grad = 4, .tol = TOL_MATMUL},
    {"linear_residual residual mismatch", build_linear_residual, NULL, 3, {2, 2, 2},
     {{4, 6}, {6, 3}, {4, 4}}, .ip = {1}, .expect = LBBT_E_SHAPE,
     .expect_msg = "linear_in_out_residual: x [4, 6], w [6, 3]: residual [4, 4]"},
    /* elementwise */
    {"add same shape", build_add, ref_add, 2, {3, 3}, {{2, 3, 4}, {2, 3, 4}}, .tol = TOL_LINEAR},
    {"add broadcast [C]", build_add, ref_add, 2, {3, 1}, {{2, 3, 5}, {5}}, .tol = TOL_LINEAR},
    {"add broadcast [T, C]", build_add, ref_add, 2, {3, 2}, {{2, 3, 5}, {3, 5}},
     .tol = TOL_LINEAR},
    {"add broadcast [1, 1, C]", build_add, ref_add, 2, {3, 3}, {{2, 3, 5}, {1, 1, 5}},
     .tol = TOL_LINEAR},
    {"add mismatch", build_add, NULL, 2, {2, 1}, {{3, 5}, {3}}, .expect = LBBT_E_SHAPE,
     .expect_msg = "add"},
    {"mul same shape", build_mul, ref_mul, 2, {2, 2}, {{4, 7}, {4, 7}}, .tol = TOL_LINEAR},
    {"mul broadcast [C]", build_mul, ref_mul, 2, {3, 1}, {{3, 4, 6}, {6}}, .tol = TOL_LINEAR},
    {"mul x * x (shared input)", build_mul_self, ref_mul_self, 1, {2}, {{3, 5}},
     .tol = TOL_LINEAR},
    {"mul mismatch", build_mul, NULL, 2, {2, 2}, {{3, 5}, {5, 3}}, .expect = LBBT_E_SHAPE,
     .expect_msg = "mul"},
    {"scale", build_scale, ref_scale, 1, {3}, {{2, 3, 4}}, .fp = {-0.75f}, .tol = TOL_LINEAR},
    {"gelu tanh", build_gelu, ref_gelu, 1, {2}, {{5, 9}}, .ip = {LBBT_GELU_TANH},
     .tol = TOL_SMOOTH},
    {"gelu erf", build_gelu, ref_gelu, 1, {3}, {{2, 3, 7}}, .ip = {LBBT_GELU_ERF},
     .tol = TOL_SMOOTH},
    {"silu", build_silu, ref_silu, 1, {2}, {{6, 11}}, .tol = TOL_SMOOTH},
    {"relu", build_relu, ref_relu, 1, {2}, {{7, 9}}, .init = {INIT_DISTINCT}, .tol = TOL_KINK},
    {"sigmoid", build_sigmoid, ref_sigmoid, 1, {3}, {{2, 5, 4}}, .tol = TOL_SMOOTH},
    /* norms */
    {"layernorm w b", build_layernorm, ref_layernorm, 3, {3, 1, 1}, {{2, 3, 8}, {8}, {8}},
     .fp = {1e-5f}, .tol = TOL_NORM},
    {"layernorm no bias odd C", build_layernorm, ref_layernorm, 2, {2, 1}, {{5, 13}, {13}},
     .fp = {1e-5f}, .tol = TOL_NORM},
    {"layernorm frozen params", build_layernorm, ref_layernorm, 3, {2, 1, 1}, {{4, 6}, {6}, {6}},
     .no_grad = 6, .fp = {1e-6f}, .tol = TOL_NORM},
    {"layernorm w mismatch", build_layernorm, NULL, 2, {2, 1}, {{4, 6}, {5}},
     .expect = LBBT_E_SHAPE, .expect_msg = "layernorm"},
    {"rmsnorm", build_rmsnorm, ref_rmsnorm, 2, {3, 1}, {{2, 3, 8}, {8}}, .fp = {1e-6f},
     .tol = TOL_NORM},
    {"rmsnorm per-head [B,H,T,D]", build_rmsnorm, ref_rmsnorm, 2, {4, 1}, {{2, 2, 3, 5}, {5}},
     .fp = {1e-5f}, .tol = TOL_NORM},
    {"rmsnorm mismatch", build_rmsnorm, NULL, 2, {2, 1}, {{4, 6}, {4}}, .expect = LBBT_E_SHAPE,
     .expect_msg = "rmsnorm"},
    {"batchnorm2d training", build_batchnorm, ref_batchnorm, 5, {4, 1, 1, 1, 1},
     {{3, 4, 3, 2}, {4}, {4}, {4}, {4}}, .no_grad = BN_NO_GRAD,
     .init = {INIT_NORMAL, INIT_NORMAL, INIT_NORMAL, INIT_NORMAL, INIT_POSITIVE}, .ip = {1},
     .fp = {0.1f, 1e-5f}, .tol = TOL_NORM},
    {"batchnorm2d eval", build_batchnorm, ref_batchnorm, 5, {4, 1, 1, 1, 1},
     {{2, 3, 4, 3}, {3}, {3}, {3}, {3}}, .no_grad = BN_NO_GRAD,
     .init = {INIT_NORMAL, INIT_NORMAL, INIT_NORMAL, INIT_NORMAL, INIT_POSITIVE}, .ip = {0},
     .fp = {0.1f, 1e-5f}, .tol = TOL_NORM},
    {"batchnorm2d not 4-D", build_batchnorm, NULL, 5, {3, 1, 1, 1, 1},
     {{2, 3, 4}, {3}, {3}, {3}, {3}}, .no_grad = BN_NO_GRAD, .ip = {1}, .fp = {0.1f, 1e-5f},
     .expect = LBBT_E_SHAPE, .expect_msg = "batchnorm2d"},
    /* softmax and losses */
    {"softmax", build_softmax, ref_softmax, 1, {3}, {{2, 3, 7}}, .tol = TOL_SMOOTH},
    {"softmax wide row", build_softmax, ref_softmax, 1, {2}, {{3, 67}}, .tol = TOL_SMOOTH},
    {"cross_entropy", build_cross_entropy, ref_cross_entropy, 1, {2}, {{8, 5}},
     .tol = TOL_SMOOTH},
    {"cross_entropy label smoothing", build_cross_entropy, ref_cross_entropy, 1, {2}, {{12, 7}},
     .fp = {0.1f}, .tol = TOL_SMOOTH},
    {"cross_entropy not 2-D", build_cross_entropy, NULL, 1, {3}, {{2, 4, 5}},
     .expect = LBBT_E_SHAPE, .expect_msg = "cross_entropy"},
    {"cross_entropy target out of range", build_cross_entropy, NULL, 1, {2}, {{4, 5}},
     .ip = {1}, .expect = LBBT_E_INPUT, .expect_msg = "cross_entropy"},
    /* weighted: targets as above (every 4th ignored, so the no-object class V-1 occurs) */
    {"cross_entropy_weighted", build_cross_entropy_weighted, ref_cross_entropy_weighted, 1, {2},
     {{12, 5}}, .tol = TOL_SMOOTH},
    {"cross_entropy_weighted all weights 0", build_cross_entropy_weighted,
     ref_cross_entropy_weighted, 1, {2}, {{6, 4}}, .ip = {2}, .tol = TOL_SMOOTH},
    {"cross_entropy_weighted target out of range", build_cross_entropy_weighted, NULL, 1, {2},
     {{4, 5}}, .ip = {1}, .expect = LBBT_E_INPUT, .expect_msg = "cross_entropy_weighted"},
    {"cross_entropy_weighted not 2-D", build_cross_entropy_weighted, NULL, 1, {3}, {{2, 4, 5}},
     .expect = LBBT_E_SHAPE, .expect_msg = "cross_entropy_weighted"},
    {"mse", build_mse, ref_mse, 2, {2, 2}, {{4, 5}, {4, 5}}, .tol = TOL_SMOOTH},
    {"mse mismatch", build_mse, NULL, 2, {2, 2}, {{4, 5}, {5, 4}}, .expect = LBBT_E_SHAPE,
     .expect_msg = "mse"},
    {"l1", build_l1, ref_l1, 2, {3, 3}, {{2, 3, 4}, {2, 3, 4}}, .tol = TOL_KINK},
    {"l1 mismatch", build_l1, NULL, 2, {1, 1}, {{4}, {5}}, .expect = LBBT_E_SHAPE,
     .expect_msg = "l1"},
    /* boxes: layout conversions (linear) and the GIoU loss (kinks where boxes start or stop
     * overlapping and where min/max switch: inputs random, kept away from them by the seed) */
    {"box_cxcywh_to_xyxy", build_cxcywh_to_xyxy, ref_cxcywh_to_xyxy, 1, {3}, {{2, 5, 4}},
     .tol = TOL_LINEAR},
    {"box_cxcywh_to_xyxy not 4", build_cxcywh_to_xyxy, NULL, 1, {2}, {{3, 5}},
     .expect = LBBT_E_SHAPE, .expect_msg = "box_cxcywh_to_xyxy"},
    {"box_xyxy_to_cxcywh", build_xyxy_to_cxcywh, ref_xyxy_to_cxcywh, 1, {2}, {{7, 4}},
     .tol = TOL_LINEAR},
    {"box_xyxy_to_cxcywh not 4", build_xyxy_to_cxcywh, NULL, 1, {1}, {{6}},
     .expect = LBBT_E_SHAPE, .expect_msg = "box_xyxy_to_cxcywh"},
    {"giou_loss overlapping", build_giou_loss, ref_giou_loss, 2, {2, 2}, {{12, 4}, {12, 4}},
     .init = {INIT_BOXES_NEAR, INIT_BOXES_NEAR}, .tol = TOL_BOX},
    {"giou_loss apart 3-D", build_giou_loss, ref_giou_loss, 2, {3, 3}, {{2, 5, 4}, {2, 5, 4}},
     .init = {INIT_BOXES, INIT_BOXES}, .tol = TOL_BOX},
    {"giou_loss frozen target", build_giou_loss, ref_giou_loss, 2, {2, 2}, {{6, 4}, {6, 4}},
     .init = {INIT_BOXES_NEAR, INIT_BOXES_NEAR}, .no_grad = 2, .tol = TOL_BOX},
    {"giou_loss mismatch", build_giou_loss, NULL, 2, {2, 2}, {{3, 4}, {2, 4}},
     .init = {INIT_BOXES, INIT_BOXES}, .expect = LBBT_E_SHAPE, .expect_msg = "giou_loss"},
    {"giou_loss inverted box", build_giou_loss, NULL, 2, {2, 2}, {{3, 4}, {3, 4}},
     .init = {INIT_NORMAL, INIT_BOXES}, .expect = LBBT_E_INPUT, .expect_msg = "giou_loss: boxes a"},
    /* reductions and shape ops */
    {"mean dim 1", build_mean, ref_mean, 1, {3}, {{2, 5, 3}}, .ip = {1, 0}, .tol = TOL_LINEAR},
    {"mean last dim keepdim", build_mean, ref_mean, 1, {3}, {{2, 3, 5}}, .ip = {-1, 1},
     .tol = TOL_LINEAR},
    {"sum dim 0 keepdim", build_sum, ref_sum, 1, {3}, {{4, 2, 3}}, .ip = {0, 1},
     .tol = TOL_LINEAR},
    {"sum 1-D to [1]", build_sum, ref_sum, 1, {1}, {{7}}, .ip = {0, 0}, .tol = TOL_LINEAR},
    {"sum dim out of range", build_sum, NULL, 1, {2}, {{3, 4}}, .ip = {2, 0},
     .expect = LBBT_E_SHAPE, .expect_msg = "sum"},
    {"mean_all", build_mean_all, ref_mean_all, 1, {3}, {{2, 3, 4}}, .tol = TOL_LINEAR},
    {"sum_all", build_sum_all, ref_sum_all, 1, {2}, {{5, 3}}, .tol = TOL_LINEAR},
    {"reshape", build_reshape, ref_reshape, 1, {3}, {{2, 3, 4}}, .ip = {2, 6, 4},
     .tol = TOL_LINEAR},
    {"reshape inferred dim", build_reshape, ref_reshape, 1, {2}, {{6, 4}}, .ip = {3, 2, -1, 3},
     .tol = TOL_LINEAR},
    {"reshape count mismatch", build_reshape, NULL, 1, {2}, {{6, 4}}, .ip = {2, 5, 5},
     .expect = LBBT_E_SHAPE, .expect_msg = "reshape"},
    {"transpose last two", build_transpose, ref_transpose, 1, {3}, {{2, 3, 5}}, .ip = {1, 2},
     .tol = TOL_LINEAR},
    {"transpose [B,T,H,D] -> [B,H,T,D]", build_transpose, ref_transpose, 1, {4}, {{2, 3, 2, 4}},
     .ip = {1, -2}, .tol = TOL_LINEAR},
    {"transpose dim out of range", build_transpose, NULL, 1, {2}, {{3, 4}}, .ip = {0, 3},
     .expect = LBBT_E_SHAPE, .expect_msg = "transpose"},
    {"permute", build_permute, ref_permute, 1, {4}, {{2, 3, 4, 5}}, .ip = {2, 0, 3, 1},
     .tol = TOL_LINEAR},
    {"permute not a permutation", build_permute, NULL, 1, {3}, {{2, 3, 4}}, .ip = {0, 0, 1},
     .expect = LBBT_E_SHAPE, .expect_msg = "permute"},
    {"concat dim 1 of three", build_concat, ref_concat, 3, {3, 3, 3},
     {{2, 3, 4}, {2, 1, 4}, {2, 2, 4}}, .ip = {1}, .tol = TOL_LINEAR},
    {"concat last dim", build_concat, ref_concat, 2, {2, 2}, {{3, 2}, {3, 5}}, .ip = {-1},
     .tol = TOL_LINEAR},
    {"concat mismatch", build_concat, NULL, 2, {2, 2}, {{3, 2}, {4, 5}}, .ip = {1},
     .expect = LBBT_E_SHAPE, .expect_msg = "concat"},
    {"slice middle dim", build_slice, ref_slice, 1, {3}, {{2, 6, 3}}, .ip = {1, 2, 3},
     .tol = TOL_LINEAR},
    {"slice last dim", build_slice, ref_slice, 1, {2}, {{4, 9}}, .ip = {-1, 0, 4},
     .tol = TOL_LINEAR},
    {"slice out of range", build_slice, NULL, 1, {2}, {{4, 9}}, .ip = {1, 6, 4},
     .expect = LBBT_E_SHAPE, .expect_msg = "slice"},
    /* convolution and pooling */
    {"conv2d 3x3 pad 1 bias", build_conv2d, ref_conv2d, 3, {4, 4, 1},
     {{2, 3, 6, 5}, {4, 3, 3, 3}, {4}}, .ip = {1, 1}, .tol = TOL_CONV},
    {"conv2d stride 2 no bias", build_conv2d, ref_conv2d, 2, {4, 4}, {{2, 2, 7, 7}, {3, 2, 3, 3}},
     .ip = {2, 0}, .tol = TOL_CONV},
    {"conv2d stride 2 pad 1 (floor)", build_conv2d, ref_conv2d, 3, {4, 4, 1},
     {{1, 2, 6, 6}, {2, 2, 3, 3}, {2}}, .ip = {2, 1}, .tol = TOL_CONV},
    {"conv2d 1x1", build_conv2d, ref_conv2d, 3, {4, 4, 1}, {{1, 5, 4, 4}, {3, 5, 1, 1}, {3}},
     .ip = {1, 0}, .tol = TOL_CONV},
    {"conv2d patchify 4x4 stride 4", build_conv2d, ref_conv2d, 3, {4, 4, 1},
     {{2, 1, 8, 8}, {6, 1, 4, 4}, {6}}, .ip = {4, 0}, .tol = TOL_CONV},
    {"conv2d channel mismatch", build_conv2d, NULL, 2, {4, 4}, {{1, 3, 5, 5}, {2, 4, 3, 3}},
     .ip = {1, 0}, .expect = LBBT_E_SHAPE, .expect_msg = "conv2d"},
    {"maxpool 2x2", build_maxpool, ref_maxpool, 1, {4}, {{2, 3, 6, 6}}, .init = {INIT_DISTINCT},
     .ip = {2, 2, 0}, .tol = TOL_KINK},
    {"maxpool 3x3 stride 2 pad 1", build_maxpool, ref_maxpool, 1, {4}, {{1, 2, 7, 7}},
     .init = {INIT_DISTINCT}, .ip = {3, 2, 1}, .tol = TOL_KINK},
    {"avgpool 2x2", build_avgpool, ref_avgpool, 1, {4}, {{2, 2, 4, 6}}, .ip = {2, 2, 0},
     .tol = TOL_LINEAR},
    {"avgpool 3x3 pad 1 (padding excluded)", build_avgpool, ref_avgpool, 1, {4}, {{1, 3, 5, 5}},
     .ip = {3, 1, 1}, .tol = TOL_LINEAR},
    {"maxpool 2x2 on odd size (floor)", build_maxpool, ref_maxpool, 1, {4}, {{1, 2, 5, 5}},
     .init = {INIT_DISTINCT}, .ip = {2, 2, 0}, .tol = TOL_KINK},
    {"avgpool 3x3 stride 2 pad 1 (floor)", build_avgpool, ref_avgpool, 1, {4}, {{2, 1, 6, 6}},
     .ip = {3, 2, 1}, .tol = TOL_LINEAR},
    {"maxpool padding over half kernel", build_maxpool, NULL, 1, {4}, {{1, 1, 5, 5}},
     .ip = {2, 1, 2}, .expect = LBBT_E_SHAPE, .expect_msg = "maxpool2d"},
    /* fresh activation gradients: the op's input is an activation with a second consumer */
    {"fresh linear, accumulated", build_fresh, NULL, 3, {3, 2, 1}, {{2, 3, 6}, {5, 6}, {5}},
     .ip = {FRESH_LINEAR, 0}, .tol = TOL_MATMUL},
    {"fresh linear, written fresh", build_fresh, NULL, 3, {3, 2, 1}, {{2, 3, 6}, {5, 6}, {5}},
     .ip = {FRESH_LINEAR, 1}, .tol = TOL_MATMUL},
    {"fresh linear_in_out, accumulated", build_fresh, NULL, 3, {3, 2, 1}, {{2, 3, 6}, {6, 5}, {5}},
     .ip = {FRESH_LINEAR_IN_OUT, 0}, .tol = TOL_MATMUL},
    {"fresh linear_in_out, written fresh", build_fresh, NULL, 3, {3, 2, 1}, {{2, 3, 6}, {6, 5}, {5}},
     .ip = {FRESH_LINEAR_IN_OUT, 1}, .tol = TOL_MATMUL},
    {"fresh linear_residual, accumulated", build_fresh, NULL, 3, {3, 2, 1},
     {{2, 3, 6}, {6, 6}, {6}}, .ip = {FRESH_LINEAR_RESIDUAL, 0}, .tol = TOL_MATMUL},
    {"fresh linear_residual, written fresh", build_fresh, NULL, 3, {3, 2, 1},
     {{2, 3, 6}, {6, 6}, {6}}, .ip = {FRESH_LINEAR_RESIDUAL, 1}, .tol = TOL_MATMUL},
    {"fresh add a, accumulated", build_fresh, NULL, 2, {3, 3}, {{2, 3, 4}, {2, 3, 4}},
     .ip = {FRESH_ADD_A, 0}, .tol = TOL_LINEAR},
    {"fresh add a, written fresh", build_fresh, NULL, 2, {3, 3}, {{2, 3, 4}, {2, 3, 4}},
     .ip = {FRESH_ADD_A, 1}, .tol = TOL_LINEAR},
    {"fresh add b, accumulated", build_fresh, NULL, 2, {3, 3}, {{2, 3, 4}, {2, 3, 4}},
     .ip = {FRESH_ADD_B, 0}, .tol = TOL_LINEAR},
    {"fresh add b, written fresh", build_fresh, NULL, 2, {3, 3}, {{2, 3, 4}, {2, 3, 4}},
     .ip = {FRESH_ADD_B, 1}, .tol = TOL_LINEAR},
    {"fresh add h + h, accumulated", build_fresh, NULL, 1, {3}, {{2, 3, 4}},
     .ip = {FRESH_ADD_SELF, 0}, .tol = TOL_LINEAR},
    {"fresh add h + h, written fresh", build_fresh, NULL, 1, {3}, {{2, 3, 4}},
     .ip = {FRESH_ADD_SELF, 1}, .tol = TOL_LINEAR},
    {"fresh mul, accumulated", build_fresh, NULL, 2, {3, 3}, {{2, 3, 4}, {2, 3, 4}},
     .ip = {FRESH_MUL, 0}, .tol = TOL_LINEAR},
    {"fresh mul, written fresh", build_fresh, NULL, 2, {3, 3}, {{2, 3, 4}, {2, 3, 4}},
     .ip = {FRESH_MUL, 1}, .tol = TOL_LINEAR},
    {"fresh mul h * h, accumulated", build_fresh, NULL, 1, {3}, {{2, 3, 4}},
     .ip = {FRESH_MUL_SELF, 0}, .tol = TOL_LINEAR},
    {"fresh mul h * h, written fresh", build_fresh, NULL, 1, {3}, {{2, 3, 4}},
     .ip = {FRESH_MUL_SELF, 1}, .tol = TOL_LINEAR},
    {"fresh gelu, accumulated", build_fresh, NULL, 1, {3}, {{2, 3, 4}},
     .ip = {FRESH_GELU, 0}, .tol = TOL_SMOOTH},
    {"fresh gelu, written fresh", build_fresh, NULL, 1, {3}, {{2, 3, 4}},
     .ip = {FRESH_GELU, 1}, .tol = TOL_SMOOTH},
    {"fresh layernorm, accumulated", build_fresh, NULL, 3, {3, 1, 1}, {{2, 3, 6}, {6}, {6}},
     .ip = {FRESH_LAYERNORM, 0}, .tol = TOL_NORM},
    {"fresh layernorm, written fresh", build_fresh, NULL, 3, {3, 1, 1}, {{2, 3, 6}, {6}, {6}},
     .ip = {FRESH_LAYERNORM, 1}, .tol = TOL_NORM},
    {"fresh reshape, accumulated", build_fresh, NULL, 1, {3}, {{2, 3, 4}},
     .ip = {FRESH_RESHAPE, 0}, .tol = TOL_LINEAR},
    {"fresh reshape, written fresh", build_fresh, NULL, 1, {3}, {{2, 3, 4}},
     .ip = {FRESH_RESHAPE, 1}, .tol = TOL_LINEAR},
    /* a chain of ops, gradients through several records */
    {"chain linear gelu layernorm", build_chain, NULL, 5, {3, 2, 1, 1, 1},
     {{2, 3, 6}, {5, 6}, {5}, {5}, {5}}, .tol = TOL_NORM},
    /* bilinear resize (Segmenter's masks, multi-scale inference): up, down, odd factors */
    {"upsample_bilinear up 4x", build_upsample, ref_upsample, 1, {4}, {{2, 3, 3, 4}}, .ip = {12, 16},
     .tol = TOL_LINEAR},
    {"upsample_bilinear down odd", build_upsample, ref_upsample, 1, {4}, {{1, 2, 9, 7}}, .ip = {4, 5},
     .tol = TOL_LINEAR},
    {"upsample_bilinear mixed 1 row", build_upsample, ref_upsample, 1, {4}, {{2, 1, 1, 6}}, .ip = {3, 4},
     .tol = TOL_LINEAR},
    {"upsample_bilinear not 4-D", build_upsample, NULL, 1, {3}, {{2, 3, 4}}, .ip = {4, 4},
     .expect = LBBT_E_SHAPE, .expect_msg = "upsample_bilinear"},
};
enum { N_CASES = sizeof CASES / sizeof CASES[0] };

/* ---- the loop over the table ---------------------------------------------------------- */
static void fill_input(lbbt_tensor *x, init_kind k, uint64_t seed) {
  if (k == INIT_DISTINCT) { /* a shuffle of evenly spaced values, none near 0 */
    int32_t *perm = malloc((size_t)x->numel * sizeof *perm);
    for (int64_t i = 0; i < x->numel; i++) perm[i] = (int32_t)i;
    lbbt_rng r;
    lbbt_rng_seed(&r, seed);
    lbbt_rng_shuffle_i32(&r, perm, x->numel);
    for (int64_t i = 0; i < x->numel; i++)
      x->data[i] = (float)((perm[i] - x->numel / 2 + 0.5) * DISTINCT_SPACING);
    free(perm);
    return;
  }
  if (k == INIT_BOXES || k == INIT_BOXES_NEAR) {
    lbbt_rng r, jit;
    lbbt_rng_seed(&r, k == INIT_BOXES_NEAR ? seed / 1000 * 1000 + 999 : seed);
    lbbt_rng_seed(&jit, seed);
    double spread = k == INIT_BOXES_NEAR ? 0.25 : 1.0;
    for (int64_t i = 0; i + 3 < x->numel; i += 4) {
      double x0 = lbbt_rng_normal(&r), y0 = lbbt_rng_normal(&r);
      double w = 0.4 + fabs(lbbt_rng_normal(&r)), h = 0.4 + fabs(lbbt_rng_normal(&r));
      if (k == INIT_BOXES_NEAR) {
        x0 += spread * lbbt_rng_normal(&jit), y0 += spread * lbbt_rng_normal(&jit);
        w *= 0.6 + 0.8 * lbbt_rng_uniform(&jit), h *= 0.6 + 0.8 * lbbt_rng_uniform(&jit);
      }
      /* Coordinates on a 0.05 grid, offset by 0.0125 for input 0 and 0.0375 for input 1:
       * every difference between a coordinate of a and one of b (where min/max switch and
       * overlaps start) is then at least 0.025 from zero, far from the step h. */
      double q[4] = {x0, y0, x0 + w, y0 + h}, off = seed % 2 ? 0.0375 : 0.0125;
      for (int c = 0; c < 4; c++) x->data[i + c] = (float)(round(q[c] / 0.05) * 0.05 + off);
    }
    return;
  }
  gc_fill_normal(x, seed, 1.0);
  if (k == INIT_POSITIVE)
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = fabsf(x->data[i]) + 0.5f;
}

/* Runs one row; returns 0 and a message in msg on failure. */
static int run_case(int idx, const op_case *c, char *msg, size_t n) {
  lbbt_tensor *in[MAX_IN] = {0};
  int ok = 1;
  for (int i = 0; i < c->n_in; i++) {
    if (lbbt_tensor_create(&in[i], c->nd[i], c->shape[i]) != LBBT_OK) {
      snprintf(msg, n, "cannot create input %d: %s", i, lbbt_last_error());
      ok = 0;
      goto done;
    }
    fill_input(in[i], c->init[i], 1000u * (uint64_t)idx + (uint64_t)i);
    if (!(c->no_grad >> i & 1u)) lbbt_tensor_require_grad(in[i]);
  }
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  if (c->expect != LBBT_OK) { /* an invalid call: must fail cleanly, naming the op */
    lbbt_clear_error();
    lbbt_tensor *out = (lbbt_tensor *)1;
    lbbt_status st = c->build(t, in, (void *)c, &out);
    if (st != c->expect || out != NULL || !strstr(lbbt_last_error(), c->expect_msg)) {
      snprintf(msg, n, "expected %s naming '%s', got %s (out %s): %s", lbbt_status_name(c->expect),
               c->expect_msg, lbbt_status_name(st), out ? "set" : "NULL", lbbt_last_error());
      ok = 0;
    }
    lbbt_tape_free(t);
    goto done;
  }
  if (c->ref) { /* forward against the naive reference (computed first: batchnorm in
                   training mode updates its running statistics) */
    double *want = malloc(1 << 20);
    int want_nd = 0;
    int64_t want_shape[LBBT_MAX_DIMS] = {0};
    c->ref(c, in, want, &want_nd, want_shape);
    lbbt_tensor *out = NULL;
    lbbt_status st = c->build(t, in, (void *)c, &out);
    if (st != LBBT_OK) {
      snprintf(msg, n, "forward failed: %s", lbbt_last_error());
      ok = 0;
    } else if (out->ndim != want_nd ||
               memcmp(out->shape, want_shape, (size_t)want_nd * sizeof *want_shape) != 0) {
      char got[96];
      snprintf(msg, n, "output shape %s, want %d dims", lbbt_shape_str(out, got, sizeof got),
               want_nd);
      ok = 0;
    } else {
      for (int64_t i = 0; i < out->numel && ok; i++)
        if (!(fabs(out->data[i] - want[i]) <= FWD_ATOL + FWD_RTOL * fabs(want[i]))) {
          snprintf(msg, n, "forward [%lld]: got %.7g, want %.7g", (long long)i,
                   (double)out->data[i], want[i]);
          ok = 0;
        }
    }
    free(want);
  }
  lbbt_tape_free(t);
  if (!ok) goto done;
  gc_result r = gradcheck(c->build, in, c->n_in, (void *)c, c->tol, GC_MAX_CHECKS);
  if (r.status != LBBT_OK) {
    snprintf(msg, n, "gradcheck failed to run: %s", lbbt_last_error());
    ok = 0;
  } else if (!r.ok) {
    snprintf(msg, n, "gradient %s (max abs err %.3g)", r.where, r.max_abs_err);
    ok = 0;
  }
  for (int i = 0; ok && i < c->n_in; i++)
    if ((c->no_grad >> i & 1u) && in[i]->grad) {
      snprintf(msg, n, "input %d has no requires_grad but received a gradient", i);
      ok = 0;
    }
done:
  for (int i = 0; i < c->n_in; i++) lbbt_tensor_free(in[i]);
  return ok;
}

/* The rows of one op (the first word of their names), so that each op gets its own
 * PASS/FAIL line; every row must belong to one of the ops run (test_table_fully_run). */
static int g_row_ran[N_CASES];

static int row_is_op(const op_case *c, const char *op) {
  size_t n = strlen(op);
  return strncmp(c->name, op, n) == 0 && (c->name[n] == ' ' || c->name[n] == 0);
}

static void run_table_rows(const char *op) {
  int failed = 0, ran = 0;
  for (int i = 0; i < N_CASES; i++) {
    if (!row_is_op(&CASES[i], op)) continue;
    char msg[512] = "";
    ran++;
    g_row_ran[i] = 1;
    if (!run_case(i, &CASES[i], msg, sizeof msg)) {
      printf("  case '%s': %s\n", CASES[i].name, msg);
      if (!failed) CHECK(0, "case '%s': %s", CASES[i].name, msg);
      failed++;
    }
  }
  CHECK(ran > 0, "no table row for op '%s'", op);
  CHECK(failed == 0, "%d of %d '%s' rows failed", failed, ran, op);
}

#define TABLE_TEST(op) \
  static void test_##op(void) { run_table_rows(#op); }
TABLE_TEST(matmul)
TABLE_TEST(linear)
TABLE_TEST(linear_in_out)
TABLE_TEST(linear_residual)
TABLE_TEST(add)
TABLE_TEST(mul)
TABLE_TEST(scale)
TABLE_TEST(gelu)
TABLE_TEST(silu)
TABLE_TEST(relu)
TABLE_TEST(sigmoid)
TABLE_TEST(layernorm)
TABLE_TEST(rmsnorm)
TABLE_TEST(batchnorm2d)
TABLE_TEST(softmax)
TABLE_TEST(cross_entropy)
TABLE_TEST(cross_entropy_weighted)
TABLE_TEST(mse)
TABLE_TEST(l1)
TABLE_TEST(box_cxcywh_to_xyxy)
TABLE_TEST(box_xyxy_to_cxcywh)
TABLE_TEST(giou_loss)
TABLE_TEST(mean)
TABLE_TEST(sum)
TABLE_TEST(mean_all)
TABLE_TEST(sum_all)
TABLE_TEST(reshape)
TABLE_TEST(transpose)
TABLE_TEST(permute)
TABLE_TEST(concat)
TABLE_TEST(slice)
TABLE_TEST(conv2d)
TABLE_TEST(maxpool)
TABLE_TEST(avgpool)
TABLE_TEST(chain)
TABLE_TEST(fresh)
TABLE_TEST(upsample_bilinear)

static void test_table_fully_run(void) {
  for (int i = 0; i < N_CASES; i++)
    CHECK(g_row_ran[i], "row '%s' belongs to no op test", CASES[i].name);
}

/* ---- beyond the table ----------------------------------------------------------------- */
/* One small training step (a two-layer MLP on conv features + classifier): identical steps
 * after a tape reset must reuse the arena (no new blocks) and the primitive cache. */
typedef struct step_params {
  lbbt_tensor *conv_w, *conv_b, *bn_w, *bn_b, *bn_rm, *bn_rv, *w1, *b1, *ln_w, *ln_b, *w2, *b2;
  lbbt_tensor *x;
} step_params;

static lbbt_status training_step(lbbt_tape *t, step_params *p, const int32_t *labels) {
  lbbt_tensor *h, *a, *f, *l, *g, *n, *logits, *loss;
  LBBT_TRY(lbbt_conv2d(t, p->x, p->conv_w, p->conv_b, 1, 1, &h));
  LBBT_TRY(lbbt_batchnorm2d(t, h, p->bn_w, p->bn_b, p->bn_rm, p->bn_rv, 0.1f, 1e-5f, &h));
  LBBT_TRY(lbbt_relu(t, h, &a));
  LBBT_TRY(lbbt_maxpool2d(t, a, 2, 2, 0, &a));
  LBBT_TRY(lbbt_reshape(t, a, 2, (int64_t[]){a->shape[0], -1}, &f));
  LBBT_TRY(lbbt_linear(t, f, p->w1, p->b1, &l));
  LBBT_TRY(lbbt_gelu(t, l, LBBT_GELU_TANH, &g));
  LBBT_TRY(lbbt_layernorm(t, g, p->ln_w, p->ln_b, 1e-5f, &n));
  LBBT_TRY(lbbt_linear(t, n, p->w2, p->b2, &logits));
  LBBT_TRY(lbbt_cross_entropy(t, logits, labels, 0.1f, &loss));
  return lbbt_tape_backward(t, loss);
}

static void test_steady_state_step(void) {
  enum { B = 4, C = 3, H = 6, F = 8 * 3 * 3, HID = 16, K = 5 };
  step_params p;
  lbbt_tensor **all[] = {&p.conv_w, &p.conv_b, &p.bn_w, &p.bn_b, &p.bn_rm, &p.bn_rv, &p.w1,
                         &p.b1,     &p.ln_w,   &p.ln_b, &p.w2,  &p.b2,   &p.x};
  const int64_t shapes[][4] = {{8, C, 3, 3}, {8}, {8}, {8}, {8}, {8}, {HID, F},
                               {HID},        {HID}, {HID}, {K, HID}, {K}, {B, C, H, H}};
  const int nds[] = {4, 1, 1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 4};
  for (int i = 0; i < 13; i++) {
    REQUIRE(lbbt_tensor_create(all[i], nds[i], shapes[i]) == LBBT_OK, "%s", lbbt_last_error());
    gc_fill_normal(*all[i], 77 + (uint64_t)i, 0.5);
    if (i != 4 && i != 5 && i != 12) lbbt_tensor_require_grad(*all[i]);
  }
  for (int i = 0; i < 8; i++) p.bn_rv->data[i] = 1.0f;
  int32_t labels[B] = {0, 3, -1, 4};
  lbbt_tape *t;
  REQUIRE(lbbt_tape_create(&t) == LBBT_OK, "tape");
  lbbt_status st = training_step(t, &p, labels);
  CHECK(st == LBBT_OK, "first step: %s", lbbt_last_error());
  size_t reserved = lbbt_tape_bytes_reserved(t), used = lbbt_tape_bytes_used(t);
  size_t prims = lbbt_kernels_cached_primitives();
  for (int step = 0; step < 3 && st == LBBT_OK; step++) {
    lbbt_tape_reset(t);
    st = training_step(t, &p, labels);
    CHECK(st == LBBT_OK, "step %d: %s", step + 2, lbbt_last_error());
    CHECK(lbbt_tape_bytes_reserved(t) == reserved, "step %d reserved %zu bytes, first %zu",
          step + 2, lbbt_tape_bytes_reserved(t), reserved);
    CHECK(lbbt_tape_bytes_used(t) == used, "step %d used %zu bytes, first %zu", step + 2,
          lbbt_tape_bytes_used(t), used);
    CHECK(lbbt_kernels_cached_primitives() == prims, "step %d created primitives (%zu -> %zu)",
          step + 2, prims, lbbt_kernels_cached_primitives());
  }
  CHECK(p.w1->grad && p.w1->grad[0] != 0.0f, "no gradient reached w1");
  lbbt_tape_free(t);
  for (int i = 0; i < 13; i++) lbbt_tensor_free(*all[i]);
}

/* Training-mode batchnorm updates the running estimates exactly as PyTorch; eval then uses
 * them. */
static void test_batchnorm_running_stats(void) {
  static const double RUNNING_TOL = 1e-5;
  enum { B = 2, C = 3, HW = 4 };
  lbbt_tensor *x, *rm, *rv, *w, *b;
  REQUIRE(lbbt_tensor_create(&x, 4, (int64_t[]){B, C, 2, 2}) == LBBT_OK, "x");
  lbbt_tensor_create(&rm, 1, (int64_t[]){C});
  lbbt_tensor_create(&rv, 1, (int64_t[]){C});
  lbbt_tensor_create(&w, 1, (int64_t[]){C});
  lbbt_tensor_create(&b, 1, (int64_t[]){C});
  gc_fill_normal(x, 5, 2.0);
  for (int c = 0; c < C; c++) {
    rm->data[c] = 0.5f * (float)c;
    rv->data[c] = 1.0f + (float)c;
    w->data[c] = 1.0f;
  }
  double want_m[C], want_v[C];
  const float momentum = 0.25f;
  for (int c = 0; c < C; c++) {
    double mean = 0, var = 0;
    for (int n = 0; n < B; n++)
      for (int i = 0; i < HW; i++) mean += x->data[(n * C + c) * HW + i];
    mean /= B * HW;
    for (int n = 0; n < B; n++)
      for (int i = 0; i < HW; i++) {
        double d = x->data[(n * C + c) * HW + i] - mean;
        var += d * d;
      }
    want_m[c] = (1 - momentum) * rm->data[c] + momentum * mean;
    want_v[c] = (1 - momentum) * rv->data[c] + momentum * var / (B * HW - 1);
  }
  lbbt_tape *t;
  lbbt_tape_create(&t);
  lbbt_tensor *y;
  CHECK(lbbt_batchnorm2d(t, x, w, b, rm, rv, momentum, 1e-5f, &y) == LBBT_OK, "%s",
        lbbt_last_error());
  for (int c = 0; c < C; c++) {
    CHECK_CLOSE(rm->data[c], want_m[c], RUNNING_TOL, RUNNING_TOL, "running_mean");
    CHECK_CLOSE(rv->data[c], want_v[c], RUNNING_TOL, RUNNING_TOL, "running_var (unbiased)");
  }
  const float trained_mean = rm->data[0];
  lbbt_tape_set_training(t, 0);
  CHECK(lbbt_batchnorm2d(t, x, w, b, rm, rv, momentum, 1e-5f, &y) == LBBT_OK, "%s",
        lbbt_last_error());
  CHECK_CLOSE(y->data[0], (x->data[0] - want_m[0]) / sqrt(want_v[0] + 1e-5), RUNNING_TOL,
              RUNNING_TOL, "eval output uses the running estimates");
  CHECK(rm->data[0] == trained_mean, "eval changed running_mean");
  lbbt_tape_free(t);
  lbbt_tensor_free(x);
  lbbt_tensor_free(rm);
  lbbt_tensor_free(rv);
  lbbt_tensor_free(w);
  lbbt_tensor_free(b);
}

/* Reshape aliases its input; recording off pushes nothing. */
static void test_reshape_aliases_and_no_record(void) {
  lbbt_tensor *x, *y;
  REQUIRE(lbbt_tensor_create(&x, 2, (int64_t[]){3, 4}) == LBBT_OK, "x");
  lbbt_tensor_require_grad(x);
  lbbt_tape *t;
  lbbt_tape_create(&t);
  CHECK(lbbt_reshape(t, x, 1, (int64_t[]){12}, &y) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(y->data == x->data, "reshape copied its input");
  CHECK(y->requires_grad, "reshape of a trainable tensor must be recorded");
  lbbt_tape_set_recording(t, 0);
  CHECK(lbbt_scale(t, x, 2.0f, &y) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(!y->requires_grad, "an op recorded while recording is off");
  lbbt_tape_free(t);
  lbbt_tensor_free(x);
}

/* More inputs than a tape record holds: concat chains records and stays correct. */
static void test_concat_many(void) {
  enum { N = 11 };
  lbbt_tensor *xs[N], *y;
  for (int k = 0; k < N; k++) {
    REQUIRE(lbbt_tensor_create(&xs[k], 3, (int64_t[]){2, 1 + k % 2, 3}) == LBBT_OK, "x");
    gc_fill_normal(xs[k], 40 + (uint64_t)k, 1.0);
    lbbt_tensor_require_grad(xs[k]);
  }
  lbbt_tape *t;
  lbbt_tape_create(&t);
  CHECK(lbbt_concat(t, xs, N, 1, &y) == LBBT_OK, "%s", lbbt_last_error());
  if (y) {
    int64_t at = 0;
    for (int o = 0; o < 2; o++)
      for (int k = 0; k < N; k++) {
        int64_t len = xs[k]->shape[1] * 3;
        for (int64_t j = 0; j < len; j++, at++)
          CHECK(y->data[at] == xs[k]->data[o * len + j], "value [%lld]", (long long)at);
      }
    /* output gradient = each element's index, so every input's grad shows where it went */
    float *g = malloc((size_t)y->numel * sizeof *g);
    for (int64_t i = 0; i < y->numel; i++) g[i] = (float)i;
    CHECK(lbbt_tape_backward_from(t, y, g) == LBBT_OK, "%s", lbbt_last_error());
    at = 0;
    for (int o = 0; o < 2; o++)
      for (int k = 0; k < N; k++) {
        int64_t len = xs[k]->shape[1] * 3;
        for (int64_t j = 0; j < len; j++, at++)
          CHECK(xs[k]->grad[o * len + j] == (float)at, "grad of x%d [%lld]", k, (long long)j);
      }
    free(g);
  }
  lbbt_tape_free(t);
  for (int k = 0; k < N; k++) lbbt_tensor_free(xs[k]);
}

/* Every target ignored: the loss is 0 and so is its gradient (PyTorch would give NaN). */
static void test_cross_entropy_all_ignored(void) {
  lbbt_tensor *x, *loss;
  REQUIRE(lbbt_tensor_create(&x, 2, (int64_t[]){3, 4}) == LBBT_OK, "x");
  gc_fill_normal(x, 9, 1.0);
  lbbt_tensor_require_grad(x);
  const int32_t tg[3] = {-1, -1, -1};
  lbbt_tape *t;
  lbbt_tape_create(&t);
  CHECK(lbbt_cross_entropy(t, x, tg, 0.1f, &loss) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(loss->data[0] == 0.0f, "loss %g", (double)loss->data[0]);
  CHECK(lbbt_tape_backward(t, loss) == LBBT_OK, "%s", lbbt_last_error());
  for (int i = 0; i < 12; i++) CHECK(x->grad[i] == 0.0f, "grad[%d] = %g", i, (double)x->grad[i]);
  lbbt_tape_free(t);
  lbbt_tensor_free(x);
}

TEST_MAIN_BEGIN("test_ops_dense")
TEST_RUN(test_matmul);
TEST_RUN(test_linear);
TEST_RUN(test_linear_in_out);
TEST_RUN(test_linear_residual);
TEST_RUN(test_add);
TEST_RUN(test_mul);
TEST_RUN(test_scale);
TEST_RUN(test_gelu);
TEST_RUN(test_silu);
TEST_RUN(test_relu);
TEST_RUN(test_sigmoid);
TEST_RUN(test_layernorm);
TEST_RUN(test_rmsnorm);
TEST_RUN(test_batchnorm2d);
TEST_RUN(test_softmax);
TEST_RUN(test_cross_entropy);
TEST_RUN(test_cross_entropy_weighted);
TEST_RUN(test_mse);
TEST_RUN(test_l1);
TEST_RUN(test_box_cxcywh_to_xyxy);
TEST_RUN(test_box_xyxy_to_cxcywh);
TEST_RUN(test_giou_loss);
TEST_RUN(test_mean);
TEST_RUN(test_sum);
TEST_RUN(test_mean_all);
TEST_RUN(test_sum_all);
TEST_RUN(test_reshape);
TEST_RUN(test_transpose);
TEST_RUN(test_permute);
TEST_RUN(test_concat);
TEST_RUN(test_slice);
TEST_RUN(test_conv2d);
TEST_RUN(test_maxpool);
TEST_RUN(test_avgpool);
TEST_RUN(test_chain);
TEST_RUN(test_fresh);
TEST_RUN(test_upsample_bilinear);
TEST_RUN(test_table_fully_run);
TEST_RUN(test_steady_state_step);
TEST_RUN(test_batchnorm_running_stats);
TEST_RUN(test_reshape_aliases_and_no_record);
TEST_RUN(test_cross_entropy_all_ignored);
TEST_RUN(test_concat_many);
lbbt_dnnl_shutdown();
TEST_MAIN_END()
