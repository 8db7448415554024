/* Differentiable ops.  Each op:
 *   - checks shapes and returns LBBT_E_SHAPE with a message naming the op and the shapes;
 *   - computes its forward pass now (oneDNN primitive where one exists, cached per shape;
 *     plain C loops otherwise) into a new arena tensor *out;
 *   - records its backward on the tape when lbbt_tape_needs_grad().
 * Shapes use B batch, T tokens (queries), S keys, C channels, H heads, D head dim,
 * N rows, V vocabulary.  Every op has a finite-difference test in tests/unit/test_ops_*.c
 * and, where PyTorch has the same op, a parity fixture in tests/fixtures/. */
#ifndef LBBT_OPS_H
#define LBBT_OPS_H
#include "lbbt/tensor.h"

struct lbbt_rng;

/* ---- dense algebra (core/src/ops/matmul.c) ------------------------------------------- */
/* C = op(A) @ op(B), batched over all leading dims (A [...,M,K], B [...,K,N]); B may have
 * fewer leading dims (broadcast, e.g. a 2-D weight).  trans_a/trans_b transpose the last
 * two dims of A / B before multiplying. */
LBBT_API lbbt_status lbbt_matmul(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, int trans_a, int trans_b,
                        lbbt_tensor **out);
/* y[..., O] = x[..., I] @ w[O, I]^T + bias[O]   (PyTorch nn.Linear layout; bias may be NULL) */
LBBT_API lbbt_status lbbt_linear(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *bias,
                        lbbt_tensor **out);

/* ---- elementwise (core/src/ops/elementwise.c) ----------------------------------------- */
/* a + b, a * b: same shape, or b's shape equal to a trailing part of a's (broadcast). */
LBBT_API lbbt_status lbbt_add(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_mul(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_scale(lbbt_tape *t, lbbt_tensor *x, float s, lbbt_tensor **out);
typedef enum { LBBT_GELU_TANH, LBBT_GELU_ERF } lbbt_gelu_form;
LBBT_API lbbt_status lbbt_gelu(lbbt_tape *t, lbbt_tensor *x, lbbt_gelu_form form, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_silu(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_relu(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out);

/* ---- normalisation (core/src/ops/norm.c) ---------------------------------------------- */
/* Over the last dim C: w, b are [C] (b may be NULL). */
LBBT_API lbbt_status lbbt_layernorm(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *b, float eps,
                           lbbt_tensor **out);
/* y = x / sqrt(mean(x^2) + eps) * w   (LLaMA, T5: no mean subtraction).  For per-head q/k
 * norm pass x [..., D] and w [D]. */
LBBT_API lbbt_status lbbt_rmsnorm(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, float eps,
                         lbbt_tensor **out);
/* x [B, C, H, W]; w, b, running_mean, running_var [C].  Training (tape training mode):
 * batch statistics, running stats updated with momentum (PyTorch convention, unbiased
 * var in the running estimate).  Otherwise the running stats are used (frozen). */
LBBT_API lbbt_status lbbt_batchnorm2d(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *b,
                             lbbt_tensor *running_mean, lbbt_tensor *running_var, float momentum,
                             float eps, lbbt_tensor **out);

/* ---- softmax and losses (core/src/ops/loss.c) ----------------------------------------- */
LBBT_API lbbt_status lbbt_softmax(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out); /* over last dim */
/* Mean cross-entropy of logits [N, V] against targets[N] in [0, V); label smoothing e in
 * [0,1) as PyTorch.  Targets < 0 are ignored (not counted in the mean).  out is [1]. */
LBBT_API lbbt_status lbbt_cross_entropy(lbbt_tape *t, lbbt_tensor *logits, const int32_t *targets,
                               float label_smoothing, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_mse(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out); /* mean */
LBBT_API lbbt_status lbbt_l1(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out);  /* mean */

/* ---- reductions and shape (core/src/ops/shape.c) -------------------------------------- */
/* Reduce over dim (negative counts from the end), keeping it with size 1 when keepdim. */
LBBT_API lbbt_status lbbt_mean(lbbt_tape *t, lbbt_tensor *x, int dim, int keepdim, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_sum(lbbt_tape *t, lbbt_tensor *x, int dim, int keepdim, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_mean_all(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out); /* [1] */
LBBT_API lbbt_status lbbt_sum_all(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out);  /* [1] */
/* Same data, new shape (numel must match). One entry may be -1 (inferred). Copies nothing
 * in the forward pass when x is contiguous (always, here). */
LBBT_API lbbt_status lbbt_reshape(lbbt_tape *t, lbbt_tensor *x, int ndim, const int64_t *shape,
                         lbbt_tensor **out);
/* Swap two dims (materialised copy). */
LBBT_API lbbt_status lbbt_transpose(lbbt_tape *t, lbbt_tensor *x, int d0, int d1, lbbt_tensor **out);
/* General permutation: out dim i = x dim perm[i]. */
LBBT_API lbbt_status lbbt_permute(lbbt_tape *t, lbbt_tensor *x, const int *perm, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_concat(lbbt_tape *t, lbbt_tensor *const *xs, int n, int dim, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_slice(lbbt_tape *t, lbbt_tensor *x, int dim, int64_t start, int64_t len,
                       lbbt_tensor **out);

/* ---- embeddings and positions (core/src/ops/embedding.c, rope.c) ---------------------- */
/* out [B, T, C] = table[ids[b*T+t], :]; ids must be in [0, V) (else LBBT_E_INPUT). */
LBBT_API lbbt_status lbbt_embedding(lbbt_tape *t, lbbt_tensor *table, const int32_t *ids, int64_t B,
                           int64_t T, lbbt_tensor **out);
typedef enum {
  LBBT_ROPE_HALF,       /* Hugging Face: rotate (x[i], x[i + D/2]) */
  LBBT_ROPE_INTERLEAVED /* llama2.c / Meta: rotate (x[2i], x[2i+1]) */
} lbbt_rope_layout;
typedef struct lbbt_rope_config {
  lbbt_rope_layout layout;
  float theta;        /* base, 10000 or 500000 */
  int rotary_dim;     /* dims rotated (<= D, even); 0 means D */
  /* Llama-3 frequency scaling (rope_type "llama3"); factor 0 disables it. */
  float llama3_factor, llama3_low_freq_factor, llama3_high_freq_factor;
  int llama3_original_max_positions;
} lbbt_rope_config;
/* x [B, H, T, D]; positions[T] (NULL: 0..T-1). */
LBBT_API lbbt_status lbbt_rope(lbbt_tape *t, lbbt_tensor *x, const lbbt_rope_config *cfg,
                      const int32_t *positions, lbbt_tensor **out);

/* ---- attention (core/src/ops/attention.c) --------------------------------------------- */
typedef struct lbbt_attention_opts {
  int causal;            /* mask keys s > t (queries aligned to the last T of S keys) */
  float scale;           /* score multiplier; 0 means 1/sqrt(D).  T5 passes 1. */
  lbbt_tensor *bias;     /* optional additive score bias [H, T, S] (T5 relative positions);
                            differentiable */
  const uint8_t *key_mask; /* optional [B, S]: 0 = padding key (excluded), 1 = keep */
} lbbt_attention_opts;
/* q [B, Hq, T, D], k and v [B, Hkv, S, D] with Hq % Hkv == 0 (grouped-query: query head h
 * uses kv head h / (Hq/Hkv)).  out [B, Hq, T, D]. */
LBBT_API lbbt_status lbbt_attention(lbbt_tape *t, lbbt_tensor *q, lbbt_tensor *k, lbbt_tensor *v,
                           const lbbt_attention_opts *opts, lbbt_tensor **out);

/* ---- convolution and pooling (core/src/ops/conv.c) ------------------------------------ */
/* x [B, Cin, H, W], w [Cout, Cin, KH, KW], bias [Cout] or NULL. */
LBBT_API lbbt_status lbbt_conv2d(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *bias,
                        int stride, int padding, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_maxpool2d(lbbt_tape *t, lbbt_tensor *x, int kernel, int stride, int padding,
                           lbbt_tensor **out);
LBBT_API lbbt_status lbbt_avgpool2d(lbbt_tape *t, lbbt_tensor *x, int kernel, int stride, int padding,
                           lbbt_tensor **out); /* padding counted out (count_include_pad=0) */

/* ---- regularisation (core/src/ops/dropout.c) ------------------------------------------ */
/* Identity unless the tape is in training mode and p > 0.  Masks come from the tape's RNG. */
LBBT_API lbbt_status lbbt_dropout(lbbt_tape *t, lbbt_tensor *x, float p, lbbt_tensor **out);
/* Stochastic depth: per sample (dim 0), drop the whole residual branch with probability p,
 * scale kept samples by 1/(1-p). */
LBBT_API lbbt_status lbbt_drop_path(lbbt_tape *t, lbbt_tensor *x, float p, lbbt_tensor **out);

/* ---- sequence-op additions (core/src/ops/relpos.c, rope.c) ---------------------------- */
/* Semantics fixed by the implementations (see each .c file):
 *  - lbbt_attention: a query row with no allowed key (all keys padded, T > S under the causal
 *    rule, or -inf bias everywhere) has output 0 and passes no gradient; never NaN.
 *  - lbbt_rope: inverse frequencies follow transformers' float32 formulas bit for bit
 *    (default and rope_type "llama3"); positions may be any int32.
 *  - lbbt_dropout / lbbt_drop_path: *out is x itself (no copy) when not training or p == 0. */
/* T5 relative position bias: out [H, T, S] = table[bucket(s - t), h] with table
 * [num_buckets, H] and bucket() exactly transformers' T5Attention._relative_position_bucket
 * (bidirectional for the encoder).  Differentiable w.r.t. table.  Pass out as
 * lbbt_attention_opts.bias (T5 also passes scale 1). */
LBBT_API lbbt_status lbbt_relative_position_bias(lbbt_tape *t, lbbt_tensor *table /*[num_buckets, H]*/,
                                        int64_t T, int64_t S, int bidirectional, int num_buckets,
                                        int max_distance, lbbt_tensor **out /*[H,T,S]*/);
/* Number of cos/sin tables lbbt_rope has computed and cached in this process (one per
 * frequency config and position range); for tests and memory reports. */
LBBT_API int64_t lbbt_rope_cache_count(void);

/* ---- fused forms for the transformer hot path (core/src/ops/matmul.c, attention.c) ----- */
/* y[..., O] = x[..., I] @ w[I, O] + bias[O]: GPT-2's Conv1D layout, the bias fused into the
 * matmul (one primitive; bias may be NULL). */
LBBT_API lbbt_status lbbt_linear_in_out(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *bias,
                               lbbt_tensor **out);
/* y = residual + x @ W + bias: lbbt_linear (w [O, I]) or, with w_in_out, lbbt_linear_in_out
 * (w [I, O]), with a transformer block's residual add done inside the matmul (a oneDNN
 * binary post-op) instead of a separate pass; residual has y's shape. */
LBBT_API lbbt_status lbbt_linear_residual(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *bias,
                                 int w_in_out, lbbt_tensor *residual, lbbt_tensor **out);
/* Attention on a fused projection: qkv [B, T, (Hq + 2 Hkv) D] holds q, k and v side by side
 * (columns [0, Hq D), then Hkv D each, heads contiguous within each), as GPT-2's c_attn
 * produces it; out [B, T, Hq D] with heads merged.  Same result as slicing q, k, v,
 * splitting heads to [B, H, T, D], lbbt_attention (S = T) and merging heads back, without
 * the copies.  opts as lbbt_attention (bias [Hq, T, T], key_mask [B, T]). */
LBBT_API lbbt_status lbbt_attention_qkv(lbbt_tape *t, lbbt_tensor *qkv, int n_heads, int n_kv_heads,
                               const lbbt_attention_opts *opts, lbbt_tensor **out);

/* ---- boxes (core/src/ops/box.c; geometry outside the tape in lbbt/boxes.h) ------------- */
/* Box layout conversions on [..., 4]: cxcywh (centre x, centre y, width, height) <-> xyxy
 * (x0, y0, x1, y1). */
LBBT_API lbbt_status lbbt_box_cxcywh_to_xyxy(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out);
LBBT_API lbbt_status lbbt_box_xyxy_to_cxcywh(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out);
/* out[...] = 1 - GIoU(a[..., :], b[..., :]) for xyxy boxes a, b [..., 4] of the same shape
 * (out [...]; [1] for a single box): DETR's generalised-IoU loss per matched pair, before
 * the sum over pairs / number of boxes.  Boxes with x1 < x0 or y1 < y0 are LBBT_E_INPUT; a
 * pair of zero-area boxes (undefined) LBBT_E_NUMERIC.  Differentiable w.r.t. both. */
LBBT_API lbbt_status lbbt_giou_loss(lbbt_tape *t, lbbt_tensor *a, lbbt_tensor *b, lbbt_tensor **out);

/* Mean cross-entropy of logits [N, V] with per-class weights class_weights [V] (finite,
 * >= 0), as PyTorch's F.cross_entropy(logits, targets, weight=w): sum_i w[y_i] nll_i /
 * sum_i w[y_i] over rows with targets[i] >= 0; 0 (no gradient) when that sum is 0.  out [1].
 * (core/src/ops/weighted_loss.c; DETR weights its no-object class by eos_coef.) */
LBBT_API lbbt_status lbbt_cross_entropy_weighted(lbbt_tape *t, lbbt_tensor *logits, const int32_t *targets,
                                                 const float *class_weights, lbbt_tensor **out);

/* y = 1 / (1 + exp(-x)), elementwise (core/src/ops/sigmoid.c). */
LBBT_API lbbt_status lbbt_sigmoid(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out);

/* out [B, K, D] = x[b, idx[b * K + k], :] for x [B, N, D] (torch.gather along dim 1), idx
 * int32 [B * K] in [0, N) (copied); the backward scatter-adds (core/src/ops/gather.c). */
LBBT_API lbbt_status lbbt_gather_rows(lbbt_tape *t, lbbt_tensor *x, const int32_t *idx, int64_t K,
                                      lbbt_tensor **out);
/* Bilinear resize x [B, C, H, W] -> out [B, C, out_h, out_w] exactly as PyTorch's
 * F.interpolate(mode="bilinear", align_corners=False), no antialiasing (up or down):
 * Segmenter's mask upsampling and multi-scale inference (core/src/ops/upsample.c). */
LBBT_API lbbt_status lbbt_upsample_bilinear(lbbt_tape *t, lbbt_tensor *x, int64_t out_h, int64_t out_w,
                                            lbbt_tensor **out);

#endif
