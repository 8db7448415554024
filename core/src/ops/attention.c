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
 * The softmax probabilities [B, Hq, T, S] are kept in the arena when a backward is
 * recorded (4 * B*Hq*T*S bytes, 16 MiB for B*Hq = 64 at T = S = 256); inference uses one
 * score row per thread.  Work is split over (b, head) with OpenMP; the inner loops run
 * over contiguous D-vectors and vectorise (`omp simd`).  Each (b, head) is computed by one
 * thread with a fixed order of operations, so results do not depend on the thread count. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "lbbt/ops.h"

typedef struct attention_ctx {
  const float *probs; /* [B, Hq, T, S] */
  int64_t B, Hq, Hkv, T, S, D;
  float scale;
} attention_ctx;

static inline float dot_f32(const float *a, const float *b, int64_t n) {
  float acc = 0.0f;
#pragma omp simd reduction(+ : acc)
  for (int64_t i = 0; i < n; i++) acc += a[i] * b[i];
  return acc;
}

static inline void axpy_f32(float alpha, const float *x, float *y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

/* Number of keys a causal query t may see (prefix 0 .. end-1); S when not causal. */
static inline int64_t allowed_end(int causal, int64_t t, int64_t T, int64_t S) {
  if (!causal) return S;
  int64_t end = t + (S - T) + 1;
  return end < 0 ? 0 : (end > S ? S : end);
}

/* One query row: probabilities p[S] (0 for disallowed keys) and output o[D]. */
static void attention_row(const float *q_t, const float *k_h, const float *v_h,
                          const float *bias_row, const uint8_t *key_mask_b, int64_t end,
                          int64_t S, int64_t D, float scale, float *p, float *o) {
  float max_score = -INFINITY;
  for (int64_t s = 0; s < end; s++) {
    if (key_mask_b && !key_mask_b[s]) continue;
    float score = scale * dot_f32(q_t, k_h + s * D, D);
    if (bias_row) score += bias_row[s];
    p[s] = score;
    if (score > max_score) max_score = score;
  }
  memset(o, 0, (size_t)D * sizeof *o);
  if (max_score == -INFINITY) { /* fully masked row: defined as output 0 */
    memset(p, 0, (size_t)S * sizeof *p);
    return;
  }
  float sum = 0.0f;
  for (int64_t s = 0; s < end; s++) {
    if (key_mask_b && !key_mask_b[s]) {
      p[s] = 0.0f;
      continue;
    }
    p[s] = expf(p[s] - max_score);
    sum += p[s];
  }
  for (int64_t s = end; s < S; s++) p[s] = 0.0f;
  const float inv_sum = 1.0f / sum;
  for (int64_t s = 0; s < end; s++) {
    p[s] *= inv_sum;
    if (p[s] != 0.0f) axpy_f32(p[s], v_h + s * D, o, D);
  }
}

/* With P the probabilities, dO the output gradient and delta_t = dO_t . O_t
 * (= sum_s P_ts dP_ts):
 *   dP_ts = dO_t . v_s
 *   dScore_ts = P_ts (dP_ts - delta_t)
 *   dq_t += scale * sum_s dScore_ts k_s,  dk_s += scale * sum_t dScore_ts q_t,
 *   dv_s += sum_t P_ts dO_t,  dbias[h,t,s] += sum_b dScore_bhts.
 * Threads own (b, kv head) so the kv-gradient sums over a group's query heads do not race;
 * the bias gradient, summed over b, is reduced after the parallel loop. */
static lbbt_status attention_backward(lbbt_tape *tape, const lbbt_op_record *rec) {
  const attention_ctx *c = rec->ctx;
  lbbt_tensor *q = rec->in[0], *k = rec->in[1], *v = rec->in[2];
  lbbt_tensor *bias = rec->n_in > 3 ? rec->in[3] : NULL;
  const int want_dq = q->requires_grad, want_dk = k->requires_grad, want_dv = v->requires_grad;
  const int want_dbias = bias && bias->requires_grad;
  const int64_t B = c->B, Hq = c->Hq, Hkv = c->Hkv, T = c->T, S = c->S, D = c->D;
  const int64_t group = Hq / Hkv;
  const float scale = c->scale;
  const float *dout = rec->out->grad, *out = rec->out->data;
  float *dscores = NULL; /* [B, Hq, T, S], only for the bias gradient */
  if (want_dbias) {
    dscores = lbbt_tape_alloc(tape, (size_t)(B * Hq * T * S) * sizeof(float));
    if (!dscores) return LBBT_E_NOMEM;
  }

#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; b++) {
    for (int64_t g = 0; g < Hkv; g++) {
      const float *k_h = k->data + (b * Hkv + g) * S * D;
      const float *v_h = v->data + (b * Hkv + g) * S * D;
      float *dk_h = want_dk ? k->grad + (b * Hkv + g) * S * D : NULL;
      float *dv_h = want_dv ? v->grad + (b * Hkv + g) * S * D : NULL;
      for (int64_t h = g * group; h < (g + 1) * group; h++) {
        const int64_t bh = b * Hq + h;
        for (int64_t t = 0; t < T; t++) {
          const float *p = c->probs + (bh * T + t) * S;
          const float *q_t = q->data + (bh * T + t) * D;
          const float *do_t = dout + (bh * T + t) * D;
          float *dq_t = want_dq ? q->grad + (bh * T + t) * D : NULL;
          float *ds_row = dscores ? dscores + (bh * T + t) * S : NULL;
          const float delta = dot_f32(do_t, out + (bh * T + t) * D, D);
          for (int64_t s = 0; s < S; s++) {
            /* p == 0 (masked, or underflowed) gives dScore == 0 exactly: skip the work. */
            if (p[s] == 0.0f) {
              if (ds_row) ds_row[s] = 0.0f;
              continue;
            }
            if (dv_h) axpy_f32(p[s], do_t, dv_h + s * D, D);
            const float dp = dot_f32(do_t, v_h + s * D, D);
            const float ds = p[s] * (dp - delta);
            if (ds_row) ds_row[s] = ds;
            if (dq_t) axpy_f32(scale * ds, k_h + s * D, dq_t, D);
            if (dk_h) axpy_f32(scale * ds, q_t, dk_h + s * D, D);
          }
        }
      }
    }
  }

  if (want_dbias) {
    const int64_t per_batch = Hq * T * S;
#pragma omp parallel for schedule(static) if (per_batch > 32768)
    for (int64_t i = 0; i < per_batch; i++) {
      float acc = 0.0f;
      for (int64_t b = 0; b < B; b++) acc += dscores[b * per_batch + i];
      bias->grad[i] += acc;
    }
  }
  return LBBT_OK;
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

lbbt_status lbbt_attention(lbbt_tape *t, lbbt_tensor *q, lbbt_tensor *k, lbbt_tensor *v,
                           const lbbt_attention_opts *opts, lbbt_tensor **out) {
  *out = NULL;
  static const lbbt_attention_opts no_opts = {0, 0.0f, NULL, NULL};
  if (!opts) opts = &no_opts;
  lbbt_tensor *bias = opts->bias;
  LBBT_TRY(attention_check(q, k, v, bias));
  const int64_t B = q->shape[0], Hq = q->shape[1], T = q->shape[2], D = q->shape[3];
  const int64_t Hkv = k->shape[1], S = k->shape[2], group = Hq / Hkv;
  if (!isfinite(opts->scale))
    return lbbt_fail(LBBT_E_INPUT, "attention: scale %g is not finite (0 means 1/sqrt(D))",
                     (double)opts->scale);
  const float scale = opts->scale != 0.0f ? opts->scale : (float)(1.0 / sqrt((double)D));
  const int causal = opts->causal != 0;
  const uint8_t *key_mask = opts->key_mask;

  lbbt_tensor *y;
  LBBT_TRY(lbbt_tape_tensor(t, 4, (int64_t[]){B, Hq, T, D}, &y));
  lbbt_tensor *inputs[4] = {q, k, v, bias};
  const int n_in = bias ? 4 : 3;
  const int record = lbbt_tape_needs_grad(t, inputs, n_in);
  float *probs = NULL, *row_scratch = NULL;
  if (record) {
    probs = lbbt_tape_alloc(t, (size_t)(B * Hq * T * S) * sizeof(float));
    if (!probs) return LBBT_E_NOMEM;
  } else {
    row_scratch = lbbt_tape_alloc(t, (size_t)(omp_get_max_threads() * S) * sizeof(float));
    if (!row_scratch) return LBBT_E_NOMEM;
  }

#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; b++) {
    for (int64_t h = 0; h < Hq; h++) {
      const int64_t bh = b * Hq + h, g = h / group;
      const float *k_h = k->data + (b * Hkv + g) * S * D;
      const float *v_h = v->data + (b * Hkv + g) * S * D;
      const uint8_t *mask_b = key_mask ? key_mask + b * S : NULL;
      for (int64_t tq = 0; tq < T; tq++) {
        float *p = probs ? probs + (bh * T + tq) * S : row_scratch + omp_get_thread_num() * S;
        const float *bias_row = bias ? bias->data + (h * T + tq) * S : NULL;
        attention_row(q->data + (bh * T + tq) * D, k_h, v_h, bias_row, mask_b,
                      allowed_end(causal, tq, T, S), S, D, scale, p,
                      y->data + (bh * T + tq) * D);
      }
    }
  }

  if (record) {
    attention_ctx c = {probs, B, Hq, Hkv, T, S, D, scale};
    LBBT_TRY(lbbt_tape_push(t, "attention", attention_backward, y, inputs, n_in, &c, sizeof c));
  }
  *out = y;
  return LBBT_OK;
}
