/* Scaled dot-product attention with causal masking, grouped-query heads, an optional
 * additive (differentiable) score bias and an optional key padding mask.
 *
 *   q [B, Hq, T, D], k, v [B, Hkv, S, D], Hq % Hkv == 0; query head h reads kv head
 *   h / (Hq / Hkv).  For each (b, h, t):
 *     score[s] = scale * q_t . k_s + bias[h, t, s]        for allowed keys s
 *     p = softmax(score) over the allowed keys, 0 elsewhere
 *     out_t = sum_s p[s] v_s
 *   A key s is allowed when key_mask[b, s] != 0 (or no mask) and, if causal,
 *   s <= t + (S - T): queries are the last T positions of the S keys (KV-cache convention;
 *   with T == S it is the usual lower triangle).
 *
 * Fully masked rows (no allowed key, e.g. every key of a sample is padding, or T > S under
 * the causal rule, or a bias of -inf on every allowed key) have output 0, probabilities 0
 * and contribute 0 to every gradient.  This is a definition, not a limit: softmax over an
 * empty set has no value, and 0 keeps NaN out of the residual stream (PyTorch's SDPA would
 * return NaN here).
 *
 * Computation (attention_engine.c): the score and value products, forward and backward,
 * are batched oneDNN matmuls over (b, kv head, group member) reading q, k, v and writing
 * the output through strided views; the masked softmax and its gradient are vectorised C
 * row loops.  The softmax probabilities [B, Hq, T, S] are kept in the arena when a
 * backward is recorded (4 * B*Hq*T*S bytes, 16 MiB for B*Hq = 64 at T = S = 256);
 * inference and the backward's dP use batch chunks of scratch released after the op.
 *
 * lbbt_attention_qkv is the same computation on token-major activations: q, k, v are read
 * in place from a fused projection qkv [B, T, (Hq + 2 Hkv) D] and the output is written as
 * [B, T, Hq D], so a GPT-2 / ViT block needs no slice, head split or head merge copies
 * (nor their backward passes). */
#include <math.h>
#include <string.h>

#include "ops/attention_engine.h"
#include "lbbt/ops.h"
#include "ops/op_util.h"

typedef struct attention_ctx {
  attn_problem p;
  const float *probs; /* [B, Hq, T, S] */
} attention_ctx;

/* q, k, v (and the bias) are rec->in[0..2] (3), or qkv is rec->in[0] and the bias in[1]. */
static lbbt_status attention_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  const attention_ctx *c = rec->ctx;
  lbbt_tensor *q = rec->in[0], *k = rec->in[1], *v = rec->in[2];
  lbbt_tensor *bias = rec->n_in > 3 ? rec->in[3] : NULL;
  float *dbias = bias && bias->requires_grad ? bias->grad : NULL;
  return attn_backward(tape, &c->p, q->data, k->data, v->data, c->probs, rec->out->grad,
                       q->requires_grad ? q->grad : NULL, k->requires_grad ? k->grad : NULL,
                       v->requires_grad ? v->grad : NULL, dbias, 1);
}

static lbbt_status attention_qkv_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  const attention_ctx *c = rec->ctx;
  lbbt_tensor *qkv = rec->in[0];
  lbbt_tensor *bias = rec->n_in > 1 ? rec->in[1] : NULL;
  float *dbias = NULL, *g = NULL;
  int acc = 1;
  if (bias && bias->requires_grad && !(dbias = op_grad_zeroed(tape, bias))) return LBBT_E_NOMEM;
  if (qkv->requires_grad && !(g = lbbt_tape_grad_for(tape, qkv, &acc))) return LBBT_E_NOMEM;
  return attn_backward(tape, &c->p, qkv->data, qkv->data, qkv->data, c->probs, rec->out->grad,
                       g, g, g, dbias, acc);
}

static lbbt_status attention_check(const lbbt_tensor *q, const lbbt_tensor *k,
                                   const lbbt_tensor *v, const lbbt_tensor *bias) {
  char sq[64], sk[64], sv[64], sbias[64];
  lbbt_shape_str(q, sq, sizeof sq);
  lbbt_shape_str(k, sk, sizeof sk);
  lbbt_shape_str(v, sv, sizeof sv);
  if (q->ndim != 4 || k->ndim != 4 || v->ndim != 4)
    return lbbt_fail(LBBT_E_SHAPE,
                     "attention: q %s, k %s, v %s must all be 4-D: q [B, Hq, T, D], "
                     "k and v [B, Hkv, S, D]",
                     sq, sk, sv);
  if (!lbbt_tensor_same_shape(k, v))
    return lbbt_fail(LBBT_E_SHAPE, "attention: k %s and v %s must have the same shape "
                     "[B, Hkv, S, D]", sk, sv);
  if (q->shape[0] != k->shape[0] || q->shape[3] != k->shape[3])
    return lbbt_fail(LBBT_E_SHAPE,
                     "attention: q %s and k %s disagree on batch B (dim 0) or head dim D "
                     "(dim 3)",
                     sq, sk);
  if (q->shape[1] % k->shape[1] != 0)
    return lbbt_fail(LBBT_E_SHAPE,
                     "attention: q %s has %lld heads, not a multiple of the %lld kv heads of "
                     "k %s (grouped-query attention needs Hq %% Hkv == 0)",
                     sq, (long long)q->shape[1], (long long)k->shape[1], sk);
  if (bias) {
    lbbt_shape_str(bias, sbias, sizeof sbias);
    if (bias->ndim != 3 || bias->shape[0] != q->shape[1] || bias->shape[1] != q->shape[2] ||
        bias->shape[2] != k->shape[2])
      return lbbt_fail(LBBT_E_SHAPE,
                       "attention: bias '%s' %s must be [H, T, S] = [%lld, %lld, %lld] for q %s "
                       "and k %s",
                       bias->name ? bias->name : "?", sbias, (long long)q->shape[1],
                       (long long)q->shape[2], (long long)k->shape[2], sq, sk);
  }
  return LBBT_OK;
}

/* The scale, checked; 0 means 1/sqrt(D). */
static lbbt_status attention_scale(const lbbt_attention_opts *opts, int64_t D, float *scale) {
  if (!isfinite(opts->scale))
    return lbbt_fail(LBBT_E_INPUT, "attention: scale %g is not finite (0 means 1/sqrt(D))",
                     (double)opts->scale);
  *scale = opts->scale != 0.0f ? opts->scale : (float)(1.0 / sqrt((double)D));
  return LBBT_OK;
}

/* Run the forward and record the backward.  inputs: what the record holds (the bias last
 * when there is one). */
static lbbt_status attention_run(lbbt_tape *t, const char *op, lbbt_backward_fn backward,
                                 int fresh,
                                 attn_problem *p, const lbbt_attention_opts *opts,
                                 const float *q, const float *k, const float *v,
                                 lbbt_tensor *const *inputs, int n_in, lbbt_tensor *y) {
  const int record = lbbt_tape_needs_grad(t, inputs, n_in);
  float *probs = NULL;
  if (record) {
    probs = lbbt_tape_alloc(t, (size_t)(p->B * p->Hq * p->T * p->S) * sizeof(float));
    if (!probs) return LBBT_E_NOMEM;
  }
  p->causal = opts->causal != 0;
  p->key_mask = opts->key_mask;
  LBBT_TRY(attn_forward(t, p, q, k, v, opts->bias ? opts->bias->data : NULL, y->data, probs));
  if (!record) return LBBT_OK;
  attention_ctx c = {*p, probs};
  return fresh ? lbbt_tape_push_fresh(t, op, backward, y, inputs, n_in, &c, sizeof c)
               : lbbt_tape_push(t, op, backward, y, inputs, n_in, &c, sizeof c);
}

static const lbbt_attention_opts no_opts = {0, 0.0f, NULL, NULL};

lbbt_status lbbt_attention(lbbt_tape *t, lbbt_tensor *q, lbbt_tensor *k, lbbt_tensor *v,
                           const lbbt_attention_opts *opts, lbbt_tensor **out) {
  *out = NULL;
  if (!opts) opts = &no_opts;
  lbbt_tensor *bias = opts->bias;
  LBBT_TRY(attention_check(q, k, v, bias));
  attn_problem p;
  memset(&p, 0, sizeof p);
  p.B = q->shape[0];
  p.Hq = q->shape[1];
  p.T = q->shape[2];
  p.D = q->shape[3];
  p.Hkv = k->shape[1];
  p.S = k->shape[2];
  LBBT_TRY(attention_scale(opts, p.D, &p.scale));
  /* head-major [B, H, L, D], contiguous */
  p.q = (attn_operand){0, p.Hq * p.T * p.D, p.T * p.D, p.D};
  p.k = p.v = (attn_operand){0, p.Hkv * p.S * p.D, p.S * p.D, p.D};
  p.out = p.q;
  lbbt_tensor *y;
  LBBT_TRY(lbbt_tape_tensor(t, 4, (int64_t[]){p.B, p.Hq, p.T, p.D}, &y));
  lbbt_tensor *inputs[4] = {q, k, v, bias};
  LBBT_TRY(attention_run(t, "attention", attention_backward, 0, &p, opts, q->data, k->data, v->data,
                         inputs, bias ? 4 : 3, y));
  *out = y;
  return LBBT_OK;
}

lbbt_status lbbt_attention_qkv(lbbt_tape *t, lbbt_tensor *qkv, int n_heads, int n_kv_heads,
                               const lbbt_attention_opts *opts, lbbt_tensor **out) {
  char sq[64], sbias[64];
  *out = NULL;
  if (!opts) opts = &no_opts;
  lbbt_tensor *bias = opts->bias;
  lbbt_shape_str(qkv, sq, sizeof sq);
  const int64_t Hq = n_heads, Hkv = n_kv_heads, width = qkv->shape[qkv->ndim - 1];
  if (qkv->ndim != 3 || Hq < 1 || Hkv < 1 || Hq % Hkv != 0 || width % (Hq + 2 * Hkv) != 0)
    return lbbt_fail(LBBT_E_SHAPE,
                     "attention_qkv: qkv %s with %lld heads and %lld kv heads: need qkv "
                     "[B, T, (Hq + 2 Hkv) D] with Hq %% Hkv == 0",
                     sq, (long long)Hq, (long long)Hkv);
  attn_problem p;
  memset(&p, 0, sizeof p);
  p.B = qkv->shape[0];
  p.T = p.S = qkv->shape[1];
  p.Hq = Hq;
  p.Hkv = Hkv;
  p.D = width / (Hq + 2 * Hkv);
  if (bias && (bias->ndim != 3 || bias->shape[0] != Hq || bias->shape[1] != p.T ||
               bias->shape[2] != p.S))
    return lbbt_fail(LBBT_E_SHAPE,
                     "attention_qkv: bias '%s' %s must be [H, T, S] = [%lld, %lld, %lld] for "
                     "qkv %s",
                     bias->name ? bias->name : "?", lbbt_shape_str(bias, sbias, sizeof sbias),
                     (long long)Hq, (long long)p.T, (long long)p.S, sq);
  LBBT_TRY(attention_scale(opts, p.D, &p.scale));
  /* token-major: element (b, h, l, d) of q at b*T*width + l*width + h*D + d; k and v
   * follow q's Hq*D columns */
  const int64_t T = p.T, D = p.D;
  p.q = (attn_operand){0, T * width, D, width};
  p.k = (attn_operand){Hq * D, T * width, D, width};
  p.v = (attn_operand){(Hq + Hkv) * D, T * width, D, width};
  p.out = (attn_operand){0, T * Hq * D, D, Hq * D};
  lbbt_tensor *y;
  LBBT_TRY(lbbt_tape_tensor(t, 3, (int64_t[]){p.B, T, Hq * D}, &y));
  lbbt_tensor *inputs[2] = {qkv, bias};
  LBBT_TRY(attention_run(t, "attention_qkv", attention_qkv_backward, 1, &p, opts, qkv->data,
                         qkv->data, qkv->data, inputs, bias ? 2 : 1, y));
  *out = y;
  return LBBT_OK;
}
