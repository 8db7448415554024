/* Small models with known or computable Hessians, shared by test_hessian.c and
 * test_landscape.c:
 *  - a linear-regression objective in double precision: L(w) = ||Xw - y||^2 / (2n), whose
 *    Hessian is X'X / n exactly;
 *  - a softmax-regression lbbt_model (images flattened -> linear -> logits) trained through
 *    the tape in f32, whose exact Hessian of the mean cross-entropy is computable in double;
 *  - a tiny LLaMA-style vision transformer built from nn.h (patch embedding, one pre-norm
 *    block with RMSNorm, grouped-query attention with RoPE and a SwiGLU MLP, final norm, mean
 *    pooling, head): a few hundred parameters, small enough for a dense Hessian. */
#ifndef LBBT_CURVATURE_FIXTURES_H
#define LBBT_CURVATURE_FIXTURES_H
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/hessian.h"
#include "lbbt/nn.h"
#include "lbbt/objective.h"
#include "lbbt/ops.h"
#include "lbbt/param_init.h"
#include "lbbt/rng.h"

/* ---- linear regression ------------------------------------------------------------------ */
typedef struct linreg {
  lbbt_objective obj;
  int n, d;
  double *X, *y; /* [n, d], [n] */
  double *r;     /* residual scratch [n] */
} linreg;

static inline lbbt_status linreg_eval(lbbt_objective *o, const double *w, double *loss, double *grad) {
  linreg *lr = o->user;
  double s = 0;
  for (int i = 0; i < lr->n; i++) {
    double p = 0;
    for (int j = 0; j < lr->d; j++) p += lr->X[i * lr->d + j] * w[j];
    lr->r[i] = p - lr->y[i];
    s += lr->r[i] * lr->r[i];
  }
  *loss = s / (2.0 * lr->n);
  if (grad)
    for (int j = 0; j < lr->d; j++) {
      double g = 0;
      for (int i = 0; i < lr->n; i++) g += lr->X[i * lr->d + j] * lr->r[i];
      grad[j] = g / lr->n;
    }
  return LBBT_OK;
}

/* Column j of X scaled by col_scale(j), so X'X/n has a spread-out spectrum. */
static inline linreg *linreg_create(int n, int d, uint64_t seed, double (*col_scale)(int j)) {
  linreg *lr = calloc(1, sizeof *lr);
  lr->n = n;
  lr->d = d;
  lr->X = malloc((size_t)n * d * sizeof(double));
  lr->y = malloc((size_t)n * sizeof(double));
  lr->r = malloc((size_t)n * sizeof(double));
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, "linreg", 0);
  for (int i = 0; i < n; i++) {
    for (int j = 0; j < d; j++) lr->X[i * d + j] = lbbt_rng_normal(&r) * col_scale(j);
    lr->y[i] = lbbt_rng_normal(&r);
  }
  lr->obj.n = d;
  lr->obj.eval = linreg_eval;
  lr->obj.user = lr;
  return lr;
}

static inline void linreg_hessian(const linreg *lr, double *H) { /* [d, d] = X'X / n */
  for (int a = 0; a < lr->d; a++)
    for (int b = 0; b < lr->d; b++) {
      double s = 0;
      for (int i = 0; i < lr->n; i++) s += lr->X[i * lr->d + a] * lr->X[i * lr->d + b];
      H[a * lr->d + b] = s / lr->n;
    }
}

static inline void linreg_free(linreg *lr) {
  if (!lr) return;
  free(lr->X);
  free(lr->y);
  free(lr->r);
  free(lr);
}

/* ---- softmax regression as an lbbt_model -------------------------------------------------- */
typedef struct softmax_impl {
  lbbt_tensor *w, *b; /* [K, D], [K] */
} softmax_impl;

static inline lbbt_status softmax_forward(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images,
                                   lbbt_tensor **features, lbbt_tensor **logits) {
  softmax_impl *im = m->impl;
  lbbt_tensor *x;
  int64_t s2[2] = {images->shape[0], images->numel / images->shape[0]};
  LBBT_TRY(lbbt_reshape(t, images, 2, s2, &x));
  if (features) *features = x;
  if (logits) LBBT_TRY(lbbt_linear(t, x, im->w, im->b, logits));
  return LBBT_OK;
}

static inline void softmax_destroy(lbbt_model *m) { free(m->impl); }

static const lbbt_model_ops SOFTMAX_OPS = {.version = LBBT_MODEL_OPS_VERSION,
                                           .forward_vision = softmax_forward,
                                           .destroy = softmax_destroy};

/* K classes over D = C*H*W inputs; weights N(0, w_std). */
static inline lbbt_model *softmax_model_create(int D, int K, double w_std, uint64_t seed) {
  lbbt_model *m = NULL;
  if (lbbt_model_create(&m, &SOFTMAX_OPS, "softmax") != LBBT_OK) return NULL;
  softmax_impl *im = calloc(1, sizeof *im);
  m->impl = im;
  int64_t ws[2] = {K, D}, bs[1] = {K};
  if (lbbt_model_add_param(m, "head.weight", LBBT_PART_HEAD, 0, 0, 2, ws, &im->w) != LBBT_OK ||
      lbbt_model_add_param(m, "head.bias", LBBT_PART_HEAD, 0, 1, 1, bs, &im->b) != LBBT_OK) {
    lbbt_model_free(m);
    return NULL;
  }
  lbbt_init_normal(im->w, seed, "head.weight", 0.0, w_std);
  lbbt_init_normal(im->b, seed, "head.bias", 0.0, w_std);
  m->num_classes = K;
  m->dim = D;
  return m;
}

/* Exact Hv of the mean cross-entropy at the model's current (f32) parameters, in double:
 * H = 1/N sum_n (diag(p) - p p') (x) xt xt', xt = [x; 1], parameters ordered W (row-major
 * [K, D]) then b [K], as lbbt_model_objective flattens them. */
static inline void softmax_exact_hv(const lbbt_model *m, const float *images, int N, int D,
                             const double *v, double *out) {
  const softmax_impl *im = m->impl;
  int K = m->num_classes;
  memset(out, 0, (size_t)(K * D + K) * sizeof *out);
  double *p = malloc((size_t)K * sizeof *p), *u = malloc((size_t)K * sizeof *u);
  for (int n = 0; n < N; n++) {
    const float *x = images + (size_t)n * D;
    double mx = -INFINITY;
    for (int k = 0; k < K; k++) {
      double z = im->b->data[k];
      for (int j = 0; j < D; j++) z += (double)im->w->data[k * D + j] * x[j];
      p[k] = z;
      mx = fmax(mx, z);
    }
    double s = 0;
    for (int k = 0; k < K; k++) s += (p[k] = exp(p[k] - mx));
    for (int k = 0; k < K; k++) p[k] /= s;
    /* u = V xt (V = v reshaped [K, D+1]); then (diag p - p p') u; out += that (x) xt */
    double pu = 0;
    for (int k = 0; k < K; k++) {
      double a = v[K * D + k];
      for (int j = 0; j < D; j++) a += v[k * D + j] * x[j];
      u[k] = a;
      pu += p[k] * a;
    }
    for (int k = 0; k < K; k++) {
      double c = p[k] * (u[k] - pu) / N;
      for (int j = 0; j < D; j++) out[k * D + j] += c * x[j];
      out[K * D + k] += c;
    }
  }
  free(p);
  free(u);
}

/* ---- a tiny LLaMA-style vision transformer ------------------------------------------------ */
typedef struct tiny_impl {
  lbbt_vision v;
} tiny_impl;

static inline lbbt_status tiny_forward(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images,
                                lbbt_tensor **features, lbbt_tensor **logits) {
  tiny_impl *im = m->impl;
  return lbbt_vision_forward(m, &im->v, t, images, features, logits);
}

static inline void tiny_destroy(lbbt_model *m) {
  tiny_impl *im = m->impl;
  if (im) lbbt_vision_destroy(&im->v);
  free(im);
}

static const lbbt_model_ops TINY_OPS = {.version = LBBT_MODEL_OPS_VERSION,
                                        .forward_vision = tiny_forward,
                                        .destroy = tiny_destroy};

#define TINY_IMAGE 4    /* 1 x 4 x 4 images */
#define TINY_PATCH 2    /* -> 4 tokens */
#define TINY_DIM 8
#define TINY_CLASSES 3

/* 1 block, dim 8, 2 query heads sharing 1 kv head of dim 4, SwiGLU hidden 8, RoPE, causal
 * attention, mean pooling: 475 parameters.  Weights N(0, w_std) (norm gains 1), seeded. */
static inline lbbt_model *tiny_transformer_create(double w_std, uint64_t seed) {
  lbbt_model *m = NULL;
  if (lbbt_model_create(&m, &TINY_OPS, "tiny-llama") != LBBT_OK) return NULL;
  tiny_impl *im = calloc(1, sizeof *im);
  m->impl = im;
  lbbt_vision *v = &im->v;
  v->cfg.in_channels = 1;
  v->cfg.image_size = TINY_IMAGE;
  v->cfg.patch_size = TINY_PATCH;
  v->cfg.num_classes = TINY_CLASSES;
  v->cfg.pool = LBBT_POOL_MEAN;
  v->cfg.causal = 1;
  lbbt_block_config bc = {0};
  bc.dim = TINY_DIM;
  bc.n_heads = 2;
  bc.n_kv_heads = 1;
  bc.head_dim = 4;
  bc.hidden_dim = 8;
  bc.norm = LBBT_NORM_RMSNORM;
  bc.norm_eps = 1e-5f;
  bc.mlp = LBBT_MLP_SWIGLU;
  bc.layout = LBBT_W_OUT_IN;
  bc.use_rope = 1;
  bc.rope.layout = LBBT_ROPE_INTERLEAVED;
  bc.rope.theta = 10000.0f;
  lbbt_block_names bn = {0};
  bn.norm1_w = "input_layernorm.weight";
  bn.norm2_w = "post_attention_layernorm.weight";
  bn.q_w = "self_attn.q_proj.weight";
  bn.k_w = "self_attn.k_proj.weight";
  bn.v_w = "self_attn.v_proj.weight";
  bn.o_w = "self_attn.o_proj.weight";
  bn.gate_w = "mlp.gate_proj.weight";
  bn.up_w = "mlp.up_proj.weight";
  bn.down_w = "mlp.down_proj.weight";
  int64_t fn[1] = {TINY_DIM};
  v->blocks = calloc(1, sizeof *v->blocks);
  v->n_blocks = 1;
  if (!v->blocks || lbbt_vision_register(m, v, TINY_DIM, seed) != LBBT_OK ||
      lbbt_block_register(m, &v->blocks[0], &bc, &bn, "model.layers.0.", 0) != LBBT_OK ||
      lbbt_model_add_param(m, "model.norm.weight", LBBT_PART_HEAD, 0, 1, 1, fn, &v->final_norm_w) !=
          LBBT_OK) {
    lbbt_model_free(m);
    return NULL;
  }
  v->final_norm = LBBT_NORM_RMSNORM;
  v->final_norm_eps = 1e-5f;
  m->n_layers = 1;
  for (int i = 0; i < m->n_params; i++) {
    lbbt_param *p = &m->params[i];
    if (strstr(p->name, "norm"))
      lbbt_init_constant(p->t, 1.0f);
    else
      lbbt_init_normal(p->t, seed, p->name, 0.0, w_std);
  }
  return m;
}

/* n random images [n, 1, 4, 4] (N(0,1) pixels) and labels in [0, classes). */
static inline void random_batch(int n, int pixels, int classes, uint64_t seed, float *images,
                         int32_t *labels) {
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, "test-batch", 0);
  for (int i = 0; i < n * pixels; i++) images[i] = (float)lbbt_rng_normal(&r);
  for (int i = 0; i < n; i++) labels[i] = (int32_t)lbbt_rng_below(&r, (uint32_t)classes);
}

/* ---- an explicit symmetric matrix as an operator ------------------------------------------ */
typedef struct dense_op {
  lbbt_linop op;
  const double *A; /* [n, n] */
} dense_op;

static inline lbbt_status dense_apply(lbbt_linop *op, const double *v, double *out) {
  const dense_op *d = op->user;
  for (int64_t i = 0; i < op->n; i++) {
    double s = 0;
    for (int64_t j = 0; j < op->n; j++) s += d->A[i * op->n + j] * v[j];
    out[i] = s;
  }
  return LBBT_OK;
}

static inline void dense_op_init(dense_op *d, const double *A, int64_t n) {
  memset(d, 0, sizeof *d);
  d->A = A;
  d->op.n = n;
  d->op.apply = dense_apply;
  d->op.user = d;
}

#endif
