/* Sequence ops: embedding, RoPE, attention, T5 relative position bias, dropout, drop path.
 *
 * One table of cases (ggml test-backend-ops style).  Each row names its op, its input shapes
 * and its own tolerances, and is run by run_case():
 *   - error rows: the op must fail with the expected status and a message naming the op;
 *   - forward: compared element by element with a naive double-precision reference written
 *     here (explicit softmax attention, direct cos/sin RoPE, the T5 bucket formula in double,
 *     a plain gather) or, for dropout, checked statistically with a fixed seed;
 *   - backward: finite-difference gradient check (gradcheck.h) of every differentiable input.
 * A few checks that are not per-shape (RoPE table caching, Llama-3 frequencies against values
 * computed with transformers' formula in PyTorch, T5 buckets against hand-computed values)
 * follow as separate tests. */
#include <stdint.h>

#include "gradcheck.h"
#include "lbbt/ops.h"
#include "lbbt/rng.h"
#include "test.h"

/* ---- tolerances (each table row picks its own) ------------------------------------------ */
/* Gathers and copies reproduce the table bit for bit. */
#define FWD_ATOL_EXACT 0.0
/* RoPE: float32 angle pos * inv_freq against the double formula; grows with the position. */
#define FWD_ATOL_ROPE 2e-5
#define FWD_ATOL_ROPE_FAR 3e-2 /* positions near 131072: float32 angle spacing ~ 8e-3 */
/* Attention: float32 dot products and softmax against double. */
#define FWD_ATOL_ATTN 2e-5
#define FWD_RTOL_ATTN 1e-4
#define FWD_ATOL_ATTN_LARGE 5e-5 /* D = 128, S = 256 accumulations */
#define FWD_RTOL_ATTN_LARGE 5e-4
/* Finite differences.  Linear ops (gather, rotation, bias lookup, masking): the central
 * difference is exact up to float rounding of the loss terms. */
static const gc_tolerance GC_LINEAR = {1e-2, 1e-3, 1e-3};
/* Softmax attention: h = 1e-2 keeps the O(h^2) truncation and float noise / h both small. */
static const gc_tolerance GC_ATTN = {1e-2, 3e-3, 1e-2};
static const gc_tolerance GC_ATTN_LARGE = {1e-2, 5e-3, 2e-2};
static const gc_tolerance GC_NONE = {0, 0, 0};
/* Dropout statistics: kept fraction within this many binomial standard deviations. */
#define DROPOUT_SIGMAS 5.0
/* Kept dropout values equal x / (1 - p) up to the float rounding of the product. */
#define DROPOUT_RTOL 1e-6
/* Llama-3 inverse frequencies recovered as atan2(sin, cos) at position 1. */
#define LLAMA3_FREQ_RTOL 2e-6

/* ---- the table ---------------------------------------------------------------------------- */
typedef enum {
  OP_EMBEDDING,
  OP_ROPE,
  OP_ATTENTION,
  OP_ATTENTION_QKV,
  OP_RELPOS,
  OP_DROPOUT,
  OP_DROP_PATH
} seq_op;
typedef enum { IDS_VALID, IDS_REPEATED, IDS_TOO_BIG, IDS_NEGATIVE } id_pattern;
typedef enum { POS_DEFAULT, POS_STRIDED, POS_FAR } pos_pattern;
typedef enum {
  MASK_NONE,
  MASK_PAD_TAIL,      /* sample b pads its last b+1 keys (right padding) */
  MASK_PAD_HEAD,      /* every sample pads its first 2 keys: causal rows 0, 1 see nothing */
  MASK_SAMPLE0_EMPTY  /* sample 0 has no key at all; the others lose key 0 */
} mask_pattern;

typedef struct seq_case {
  const char *name;
  seq_op op;
  /* Input shapes, 0-terminated:
   *   embedding: [0] table [V, C]       [1] ids [B, T]
   *   rope:      [0] x [B, H, T, D]
   *   attention: [0] q  [1] k  [2] v    [3] bias [H, T, S] (no shape: no bias)
   *   attention_qkv: [0] qkv [B, T, (Hq + 2 Hkv) D]  [1] bias [Hq, T, T]; heads, kv_heads
   *   relpos:    [0] table [num_buckets, H]   [1] output positions [T, S]
   *   dropout, drop_path: [0] x */
  int64_t shape[4][LBBT_MAX_DIMS];
  id_pattern ids;
  lbbt_rope_config rope;
  pos_pattern pos;
  int causal;
  float scale;
  int heads, kv_heads; /* attention_qkv */
  mask_pattern mask;
  int bidirectional, num_buckets, max_distance;
  float p;
  double fwd_atol, fwd_rtol;
  gc_tolerance grad;
  int grad_checks; /* elements checked per differentiable input; 0: none */
  lbbt_status want;
  const char *want_msg; /* substring of the error message */
} seq_case;

#define ROPE_PLAIN(layout_, rd_) {(layout_), 10000.0f, (rd_), 0, 0, 0, 0}
#define ROPE_LLAMA3(layout_) {(layout_), 500000.0f, 0, 8.0f, 1.0f, 4.0f, 8192}

static const seq_case CASES[] = {
    /* ---- embedding ---- */
    {.name = "embedding_gather", .op = OP_EMBEDDING, .shape = {{11, 6}, {2, 5}},
     .ids = IDS_VALID, .fwd_atol = FWD_ATOL_EXACT, .grad = GC_LINEAR, .grad_checks = 66},
    {.name = "embedding_repeated_ids_scatter_add", .op = OP_EMBEDDING,
     .shape = {{7, 4}, {3, 6}}, .ids = IDS_REPEATED, .fwd_atol = FWD_ATOL_EXACT,
     .grad = GC_LINEAR, .grad_checks = 28},
    {.name = "embedding_id_too_big", .op = OP_EMBEDDING, .shape = {{10, 4}, {2, 5}},
     .ids = IDS_TOO_BIG, .want = LBBT_E_INPUT,
     .want_msg = "token id 10 at position (b=1, t=2)"},
    {.name = "embedding_id_negative", .op = OP_EMBEDDING, .shape = {{10, 4}, {2, 5}},
     .ids = IDS_NEGATIVE, .want = LBBT_E_INPUT, .want_msg = "token id -1 at position (b=1, t=2)"},
    {.name = "embedding_table_not_2d", .op = OP_EMBEDDING, .shape = {{10, 4, 2}, {2, 5}},
     .want = LBBT_E_SHAPE, .want_msg = "embedding:"},

    /* ---- RoPE ---- */
    {.name = "rope_half", .op = OP_ROPE, .shape = {{2, 3, 5, 8}},
     .rope = ROPE_PLAIN(LBBT_ROPE_HALF, 0), .fwd_atol = FWD_ATOL_ROPE, .grad = GC_LINEAR,
     .grad_checks = 60},
    {.name = "rope_interleaved", .op = OP_ROPE, .shape = {{2, 3, 5, 8}},
     .rope = ROPE_PLAIN(LBBT_ROPE_INTERLEAVED, 0), .fwd_atol = FWD_ATOL_ROPE,
     .grad = GC_LINEAR, .grad_checks = 60},
    {.name = "rope_half_partial_rotary", .op = OP_ROPE, .shape = {{1, 2, 6, 10}},
     .rope = ROPE_PLAIN(LBBT_ROPE_HALF, 4), .pos = POS_STRIDED, .fwd_atol = FWD_ATOL_ROPE,
     .grad = GC_LINEAR, .grad_checks = 60},
    {.name = "rope_interleaved_partial_rotary", .op = OP_ROPE, .shape = {{1, 2, 6, 8}},
     .rope = ROPE_PLAIN(LBBT_ROPE_INTERLEAVED, 6), .pos = POS_STRIDED,
     .fwd_atol = FWD_ATOL_ROPE, .grad = GC_LINEAR, .grad_checks = 60},
    {.name = "rope_llama3_half", .op = OP_ROPE, .shape = {{2, 2, 7, 16}},
     .rope = ROPE_LLAMA3(LBBT_ROPE_HALF), .pos = POS_STRIDED, .fwd_atol = FWD_ATOL_ROPE,
     .grad = GC_LINEAR, .grad_checks = 60},
    {.name = "rope_llama3_interleaved_far_positions", .op = OP_ROPE, .shape = {{1, 2, 6, 16}},
     .rope = ROPE_LLAMA3(LBBT_ROPE_INTERLEAVED), .pos = POS_FAR,
     .fwd_atol = FWD_ATOL_ROPE_FAR, .grad = GC_LINEAR, .grad_checks = 60},
    {.name = "rope_odd_rotary_dim", .op = OP_ROPE, .shape = {{1, 2, 3, 8}},
     .rope = ROPE_PLAIN(LBBT_ROPE_HALF, 5), .want = LBBT_E_SHAPE, .want_msg = "rope:"},
    {.name = "rope_rotary_dim_above_head_dim", .op = OP_ROPE, .shape = {{1, 2, 3, 8}},
     .rope = ROPE_PLAIN(LBBT_ROPE_INTERLEAVED, 10), .want = LBBT_E_SHAPE, .want_msg = "rope:"},
    {.name = "rope_x_not_4d", .op = OP_ROPE, .shape = {{2, 3, 8}},
     .rope = ROPE_PLAIN(LBBT_ROPE_HALF, 0), .want = LBBT_E_SHAPE, .want_msg = "rope:"},
    {.name = "rope_llama3_bad_factors", .op = OP_ROPE, .shape = {{1, 1, 3, 8}},
     .rope = {LBBT_ROPE_HALF, 500000.0f, 0, 8.0f, 4.0f, 1.0f, 8192}, .want = LBBT_E_INPUT,
     .want_msg = "rope: llama3"},

    /* ---- attention ---- */
    {.name = "attention_full", .op = OP_ATTENTION,
     .shape = {{2, 2, 5, 8}, {2, 2, 5, 8}, {2, 2, 5, 8}}, .fwd_atol = FWD_ATOL_ATTN,
     .fwd_rtol = FWD_RTOL_ATTN, .grad = GC_ATTN, .grad_checks = 48},
    {.name = "attention_causal", .op = OP_ATTENTION,
     .shape = {{2, 3, 6, 8}, {2, 3, 6, 8}, {2, 3, 6, 8}}, .causal = 1,
     .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN, .grad = GC_ATTN, .grad_checks = 48},
    {.name = "attention_causal_kv_cache_T_lt_S", .op = OP_ATTENTION,
     .shape = {{1, 2, 3, 4}, {1, 2, 7, 4}, {1, 2, 7, 4}}, .causal = 1,
     .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN, .grad = GC_ATTN, .grad_checks = 48},
    {.name = "attention_causal_T_gt_S_masked_rows", .op = OP_ATTENTION,
     .shape = {{1, 2, 6, 4}, {1, 2, 3, 4}, {1, 2, 3, 4}}, .causal = 1,
     .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN, .grad = GC_ATTN, .grad_checks = 48},
    {.name = "attention_gqa", .op = OP_ATTENTION,
     .shape = {{2, 4, 5, 8}, {2, 2, 6, 8}, {2, 2, 6, 8}}, .fwd_atol = FWD_ATOL_ATTN,
     .fwd_rtol = FWD_RTOL_ATTN, .grad = GC_ATTN, .grad_checks = 48},
    {.name = "attention_gqa_causal_padmask_bias", .op = OP_ATTENTION,
     .shape = {{2, 4, 6, 8}, {2, 1, 6, 8}, {2, 1, 6, 8}, {4, 6, 6}}, .causal = 1,
     .mask = MASK_PAD_TAIL, .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN,
     .grad = GC_ATTN, .grad_checks = 64},
    {.name = "attention_causal_left_padding_masked_rows", .op = OP_ATTENTION,
     .shape = {{2, 2, 5, 4}, {2, 2, 5, 4}, {2, 2, 5, 4}, {2, 5, 5}}, .causal = 1,
     .mask = MASK_PAD_HEAD, .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN,
     .grad = GC_ATTN, .grad_checks = 48},
    {.name = "attention_sample_without_keys", .op = OP_ATTENTION,
     .shape = {{3, 2, 4, 4}, {3, 2, 5, 4}, {3, 2, 5, 4}, {2, 4, 5}},
     .mask = MASK_SAMPLE0_EMPTY, .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN,
     .grad = GC_ATTN, .grad_checks = 48},
    {.name = "attention_t5_bias_scale_1", .op = OP_ATTENTION,
     .shape = {{2, 3, 4, 6}, {2, 3, 7, 6}, {2, 3, 7, 6}, {3, 4, 7}}, .scale = 1.0f,
     .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN, .grad = GC_ATTN, .grad_checks = 48},
    {.name = "attention_T256_D128_causal_gqa", .op = OP_ATTENTION,
     .shape = {{1, 2, 256, 128}, {1, 1, 256, 128}, {1, 1, 256, 128}}, .causal = 1,
     .fwd_atol = FWD_ATOL_ATTN_LARGE, .fwd_rtol = FWD_RTOL_ATTN_LARGE, .grad = GC_ATTN_LARGE,
     .grad_checks = 3},
    /* Batch chunks: each sample's 1200^2 scores (5.8 MB) exceed the 1 MiB chunk, so the
     * forward (recorded and, for finite differences, not) and the backward run one sample
     * per chunk. */
    {.name = "attention_chunked_T1200_causal", .op = OP_ATTENTION,
     .shape = {{4, 1, 1200, 2}, {4, 1, 1200, 2}, {4, 1, 1200, 2}}, .causal = 1,
     .fwd_atol = FWD_ATOL_ATTN_LARGE, .fwd_rtol = FWD_RTOL_ATTN_LARGE, .grad = GC_ATTN_LARGE,
     .grad_checks = 2},
    /* 316^2 scores (399 KB) per sample: chunks of 2 samples, 5 = 2 + 2 + 1. */
    {.name = "attention_chunked_remainder_padmask", .op = OP_ATTENTION,
     .shape = {{5, 1, 316, 4}, {5, 1, 316, 4}, {5, 1, 316, 4}}, .mask = MASK_PAD_TAIL,
     .fwd_atol = FWD_ATOL_ATTN_LARGE, .fwd_rtol = FWD_RTOL_ATTN_LARGE, .grad = GC_ATTN_LARGE,
     .grad_checks = 4},
    {.name = "attention_q_not_4d", .op = OP_ATTENTION,
     .shape = {{2, 5, 8}, {2, 2, 5, 8}, {2, 2, 5, 8}}, .want = LBBT_E_SHAPE,
     .want_msg = "attention:"},
    {.name = "attention_heads_not_grouped", .op = OP_ATTENTION,
     .shape = {{1, 3, 5, 8}, {1, 2, 5, 8}, {1, 2, 5, 8}}, .want = LBBT_E_SHAPE,
     .want_msg = "attention: q [1, 3, 5, 8] has 3 heads"},
    {.name = "attention_head_dim_mismatch", .op = OP_ATTENTION,
     .shape = {{1, 2, 5, 8}, {1, 2, 5, 4}, {1, 2, 5, 4}}, .want = LBBT_E_SHAPE,
     .want_msg = "attention:"},
    {.name = "attention_k_v_mismatch", .op = OP_ATTENTION,
     .shape = {{1, 2, 5, 8}, {1, 2, 5, 8}, {1, 2, 6, 8}}, .want = LBBT_E_SHAPE,
     .want_msg = "attention: k [1, 2, 5, 8] and v [1, 2, 6, 8]"},
    {.name = "attention_bias_wrong_shape", .op = OP_ATTENTION,
     .shape = {{1, 2, 5, 8}, {1, 2, 6, 8}, {1, 2, 6, 8}, {2, 5, 5}}, .want = LBBT_E_SHAPE,
     .want_msg = "attention: bias"},

    /* ---- attention on a fused qkv projection (token-major, no head copies) ---- */
    {.name = "attention_qkv_full", .op = OP_ATTENTION_QKV, .shape = {{2, 5, 24}},
     .heads = 2, .kv_heads = 2, .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN,
     .grad = GC_ATTN, .grad_checks = 60},
    {.name = "attention_qkv_gqa_causal_padmask_bias", .op = OP_ATTENTION_QKV,
     .shape = {{2, 6, 32}, {4, 6, 6}}, .heads = 4, .kv_heads = 2, .causal = 1,
     .mask = MASK_PAD_TAIL, .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN,
     .grad = GC_ATTN, .grad_checks = 64},
    {.name = "attention_qkv_sample_without_keys_scale_1", .op = OP_ATTENTION_QKV,
     .shape = {{3, 5, 18}, {2, 5, 5}}, .heads = 2, .kv_heads = 2, .scale = 1.0f,
     .mask = MASK_SAMPLE0_EMPTY, .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN,
     .grad = GC_ATTN, .grad_checks = 48},
    /* wider heads, grouped-query and bias/mask with D = 16 */
    {.name = "attention_qkv_D16_gqa_causal", .op = OP_ATTENTION_QKV,
     .shape = {{2, 7, 128}}, .heads = 4, .kv_heads = 2, .causal = 1,
     .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN, .grad = GC_ATTN, .grad_checks = 64},
    {.name = "attention_qkv_D16_bias_padmask", .op = OP_ATTENTION_QKV,
     .shape = {{3, 5, 96}, {2, 5, 5}}, .heads = 2, .kv_heads = 2, .mask = MASK_PAD_TAIL,
     .fwd_atol = FWD_ATOL_ATTN, .fwd_rtol = FWD_RTOL_ATTN, .grad = GC_ATTN, .grad_checks = 64},
    /* chunks of 2 samples (300^2 scores = 360 KB each): 3 = 2 + 1 */
    {.name = "attention_qkv_chunks_padmask", .op = OP_ATTENTION_QKV,
     .shape = {{3, 300, 12}}, .heads = 1, .kv_heads = 1, .mask = MASK_PAD_TAIL,
     .fwd_atol = FWD_ATOL_ATTN_LARGE, .fwd_rtol = FWD_RTOL_ATTN_LARGE, .grad = GC_ATTN_LARGE,
     .grad_checks = 6},
    {.name = "attention_qkv_width_not_divisible", .op = OP_ATTENTION_QKV,
     .shape = {{2, 5, 25}}, .heads = 2, .kv_heads = 2, .want = LBBT_E_SHAPE,
     .want_msg = "attention_qkv: qkv [2, 5, 25]"},
    {.name = "attention_qkv_heads_not_grouped", .op = OP_ATTENTION_QKV,
     .shape = {{2, 5, 28}}, .heads = 3, .kv_heads = 2, .want = LBBT_E_SHAPE,
     .want_msg = "attention_qkv:"},
    {.name = "attention_qkv_bias_wrong_shape", .op = OP_ATTENTION_QKV,
     .shape = {{2, 5, 24}, {2, 5, 4}}, .heads = 2, .kv_heads = 2, .want = LBBT_E_SHAPE,
     .want_msg = "attention_qkv: bias"},

    /* ---- T5 relative position bias ---- */
    {.name = "relpos_bidirectional", .op = OP_RELPOS, .shape = {{32, 3}, {7, 9}},
     .bidirectional = 1, .num_buckets = 32, .max_distance = 128, .fwd_atol = FWD_ATOL_EXACT,
     .grad = GC_LINEAR, .grad_checks = 96},
    {.name = "relpos_unidirectional", .op = OP_RELPOS, .shape = {{32, 2}, {6, 6}},
     .bidirectional = 0, .num_buckets = 32, .max_distance = 128, .fwd_atol = FWD_ATOL_EXACT,
     .grad = GC_LINEAR, .grad_checks = 64},
    {.name = "relpos_long_range_clamped", .op = OP_RELPOS, .shape = {{32, 2}, {40, 300}},
     .bidirectional = 1, .num_buckets = 32, .max_distance = 128, .fwd_atol = FWD_ATOL_EXACT,
     .grad = GC_LINEAR, .grad_checks = 64},
    {.name = "relpos_small_buckets", .op = OP_RELPOS, .shape = {{8, 2}, {12, 30}},
     .bidirectional = 1, .num_buckets = 8, .max_distance = 20, .fwd_atol = FWD_ATOL_EXACT,
     .grad = GC_LINEAR, .grad_checks = 16},
    {.name = "relpos_table_rows_mismatch", .op = OP_RELPOS, .shape = {{16, 2}, {4, 4}},
     .bidirectional = 1, .num_buckets = 32, .max_distance = 128, .want = LBBT_E_SHAPE,
     .want_msg = "relative_position_bias:"},
    {.name = "relpos_too_few_buckets", .op = OP_RELPOS, .shape = {{2, 2}, {4, 4}},
     .bidirectional = 1, .num_buckets = 2, .max_distance = 128, .want = LBBT_E_INPUT,
     .want_msg = "relative_position_bias:"},

    /* ---- dropout / drop path ---- */
    {.name = "dropout_statistics", .op = OP_DROPOUT, .shape = {{200, 500}}, .p = 0.25f,
     .grad = GC_NONE},
    {.name = "dropout_gradient", .op = OP_DROPOUT, .shape = {{4, 5, 6}}, .p = 0.5f,
     .grad = GC_LINEAR, .grad_checks = 120},
    {.name = "dropout_p1_drops_all", .op = OP_DROPOUT, .shape = {{64, 32}}, .p = 1.0f,
     .grad = GC_LINEAR, .grad_checks = 32},
    {.name = "drop_path_statistics", .op = OP_DROP_PATH, .shape = {{4000, 3, 5}}, .p = 0.3f,
     .grad = GC_NONE},
    {.name = "drop_path_gradient", .op = OP_DROP_PATH, .shape = {{8, 3, 4}}, .p = 0.5f,
     .grad = GC_LINEAR, .grad_checks = 96},
    {.name = "dropout_p_above_1", .op = OP_DROPOUT, .shape = {{4, 4}}, .p = 1.5f,
     .want = LBBT_E_INPUT, .want_msg = "dropout: probability p = 1.5"},
    {.name = "drop_path_negative_p", .op = OP_DROP_PATH, .shape = {{4, 4}}, .p = -0.1f,
     .want = LBBT_E_INPUT, .want_msg = "drop_path: probability p = -0.1"},
};

/* ---- per-case environment: tensors and integer side inputs --------------------------- */
typedef struct case_env {
  const seq_case *c;
  lbbt_tensor *in[4];
  int n_in;
  int32_t *ids; /* embedding [B*T] */
  int64_t B, T; /* embedding ids shape */
  int32_t *positions; /* rope [T] or NULL */
  uint8_t *key_mask;  /* attention [B, S] or NULL */
  int64_t rel_T, rel_S;
  uint64_t dropout_seed;
} case_env;

static int shape_ndim(const int64_t *s) {
  int n = 0;
  while (n < LBBT_MAX_DIMS && s[n] > 0) n++;
  return n;
}

static lbbt_status seq_forward(lbbt_tape *t, lbbt_tensor **in, void *user, lbbt_tensor **out) {
  case_env *e = user;
  const seq_case *c = e->c;
  switch (c->op) {
    case OP_EMBEDDING: return lbbt_embedding(t, in[0], e->ids, e->B, e->T, out);
    case OP_ROPE: return lbbt_rope(t, in[0], &c->rope, e->positions, out);
    case OP_ATTENTION: {
      lbbt_attention_opts o = {c->causal, c->scale, e->n_in > 3 ? in[3] : NULL, e->key_mask};
      return lbbt_attention(t, in[0], in[1], in[2], &o, out);
    }
    case OP_ATTENTION_QKV: {
      lbbt_attention_opts o = {c->causal, c->scale, e->n_in > 1 ? in[1] : NULL, e->key_mask};
      return lbbt_attention_qkv(t, in[0], c->heads, c->kv_heads, &o, out);
    }
    case OP_RELPOS:
      return lbbt_relative_position_bias(t, in[0], e->rel_T, e->rel_S, c->bidirectional,
                                         c->num_buckets, c->max_distance, out);
    case OP_DROPOUT:
    case OP_DROP_PATH:
      /* Same masks for every finite-difference evaluation: training on, fixed seed. */
      lbbt_tape_set_training(t, 1);
      lbbt_tape_seed(t, e->dropout_seed);
      return c->op == OP_DROPOUT ? lbbt_dropout(t, in[0], c->p, out)
                                 : lbbt_drop_path(t, in[0], c->p, out);
  }
  return LBBT_E_INTERNAL;
}

/* ---- double-precision references ------------------------------------------------------- */
static void ref_embedding(const case_env *e, double *ref) {
  const lbbt_tensor *tb = e->in[0];
  const int64_t C = tb->shape[1];
  for (int64_t n = 0; n < e->B * e->T; n++)
    for (int64_t ch = 0; ch < C; ch++) ref[n * C + ch] = tb->data[(int64_t)e->ids[n] * C + ch];
}

/* theta^(-2i/rd), with the Llama-3 rule written out from its definition, in double. */
static double ref_rope_inv_freq(const lbbt_rope_config *r, int rd, int i) {
  double inv = pow((double)r->theta, -2.0 * i / rd);
  if (r->llama3_factor == 0.0f) return inv;
  const double old_len = r->llama3_original_max_positions;
  const double low_wavelen = old_len / r->llama3_low_freq_factor;
  const double high_wavelen = old_len / r->llama3_high_freq_factor;
  const double wavelen = 2.0 * M_PI / inv;
  if (wavelen < high_wavelen) return inv;                   /* high frequency: kept */
  if (wavelen > low_wavelen) return inv / r->llama3_factor; /* low frequency: divided */
  const double smooth = (old_len / wavelen - r->llama3_low_freq_factor) /
                        (r->llama3_high_freq_factor - r->llama3_low_freq_factor);
  return (1.0 - smooth) * inv / r->llama3_factor + smooth * inv;
}

static void ref_rope(const case_env *e, double *ref) {
  const lbbt_tensor *x = e->in[0];
  const lbbt_rope_config *r = &e->c->rope;
  const int64_t T = x->shape[2], D = x->shape[3];
  const int rd = r->rotary_dim ? r->rotary_dim : (int)D, half = rd / 2;
  for (int64_t row = 0; row < x->numel / D; row++) {
    const int64_t t = row % T;
    const double pos = e->positions ? e->positions[t] : (double)t;
    const float *src = x->data + row * D;
    double *dst = ref + row * D;
    for (int64_t d = 0; d < D; d++) dst[d] = src[d];
    for (int i = 0; i < half; i++) {
      const double ang = pos * ref_rope_inv_freq(r, rd, i);
      const int a = r->layout == LBBT_ROPE_HALF ? i : 2 * i;
      const int b = r->layout == LBBT_ROPE_HALF ? i + half : 2 * i + 1;
      dst[a] = src[a] * cos(ang) - src[b] * sin(ang);
      dst[b] = src[b] * cos(ang) + src[a] * sin(ang);
    }
  }
}

static void ref_attention(const case_env *e, double *ref) {
  const seq_case *c = e->c;
  const lbbt_tensor *q = e->in[0], *k = e->in[1], *v = e->in[2];
  const lbbt_tensor *bias = e->n_in > 3 ? e->in[3] : NULL;
  const int64_t B = q->shape[0], Hq = q->shape[1], T = q->shape[2], D = q->shape[3];
  const int64_t Hkv = k->shape[1], S = k->shape[2];
  const double scale = c->scale != 0.0f ? c->scale : 1.0 / sqrt((double)D);
  double *score = malloc((size_t)S * sizeof *score);
  int *allowed = malloc((size_t)S * sizeof *allowed);
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < Hq; h++) {
      const int64_t g = h / (Hq / Hkv);
      for (int64_t t = 0; t < T; t++) {
        double mx = -INFINITY;
        int any = 0;
        for (int64_t s = 0; s < S; s++) {
          allowed[s] = (!c->causal || s <= t + (S - T)) && (!e->key_mask || e->key_mask[b * S + s]);
          if (!allowed[s]) continue;
          double acc = 0;
          for (int64_t d = 0; d < D; d++)
            acc += (double)q->data[((b * Hq + h) * T + t) * D + d] *
                   k->data[((b * Hkv + g) * S + s) * D + d];
          score[s] = scale * acc + (bias ? bias->data[(h * T + t) * S + s] : 0.0);
          if (score[s] > mx) mx = score[s];
          any = 1;
        }
        double sum = 0;
        for (int64_t s = 0; s < S; s++)
          if (allowed[s]) sum += (score[s] = exp(score[s] - mx));
        double *o = ref + ((b * Hq + h) * T + t) * D;
        for (int64_t d = 0; d < D; d++) {
          double acc = 0;
          for (int64_t s = 0; s < S; s++)
            if (allowed[s]) acc += score[s] / sum * v->data[((b * Hkv + g) * S + s) * D + d];
          o[d] = any ? acc : 0.0; /* the documented convention for a fully masked row */
        }
      }
    }
  free(score);
  free(allowed);
}

/* qkv [B, T, (Hq + 2 Hkv) D]: split into head-major q, k, v, run ref_attention, and merge
 * the heads of its [B, Hq, T, D] result into [B, T, Hq D]. */
static void ref_attention_qkv(const case_env *e, double *ref) {
  const seq_case *c = e->c;
  const lbbt_tensor *qkv = e->in[0];
  const int64_t B = qkv->shape[0], T = qkv->shape[1], Hq = c->heads, Hkv = c->kv_heads;
  const int64_t W = qkv->shape[2], D = W / (Hq + 2 * Hkv);
  case_env sub = *e;
  lbbt_tensor *parts[3] = {NULL, NULL, NULL};
  const int64_t heads[3] = {Hq, Hkv, Hkv}, col0[3] = {0, Hq * D, (Hq + Hkv) * D};
  for (int i = 0; i < 3; i++) {
    if (lbbt_tensor_create(&parts[i], 4, (int64_t[]){B, heads[i], T, D}) != LBBT_OK) return;
    for (int64_t b = 0; b < B; b++)
      for (int64_t h = 0; h < heads[i]; h++)
        for (int64_t t = 0; t < T; t++)
          for (int64_t d = 0; d < D; d++)
            parts[i]->data[((b * heads[i] + h) * T + t) * D + d] =
                qkv->data[(b * T + t) * W + col0[i] + h * D + d];
    sub.in[i] = parts[i];
  }
  sub.in[3] = e->n_in > 1 ? e->in[1] : NULL;
  sub.n_in = e->n_in > 1 ? 4 : 3;
  double *head_major = calloc((size_t)(B * Hq * T * D), sizeof *head_major);
  ref_attention(&sub, head_major);
  for (int64_t b = 0; b < B; b++)
    for (int64_t h = 0; h < Hq; h++)
      for (int64_t t = 0; t < T; t++)
        for (int64_t d = 0; d < D; d++)
          ref[(b * T + t) * Hq * D + h * D + d] = head_major[((b * Hq + h) * T + t) * D + d];
  free(head_major);
  for (int i = 0; i < 3; i++) lbbt_tensor_free(parts[i]);
}

/* transformers' T5 bucket formula in double (the op uses float32 like PyTorch; they agree
 * on every offset these shapes produce). */
static int ref_t5_bucket(int64_t rel, int bidirectional, int num_buckets, int max_distance) {
  int64_t bucket = 0;
  if (bidirectional) {
    num_buckets /= 2;
    if (rel > 0) bucket += num_buckets;
    rel = rel < 0 ? -rel : rel;
  } else {
    rel = rel < 0 ? -rel : 0;
  }
  const int max_exact = num_buckets / 2;
  if (rel < max_exact) return (int)(bucket + rel);
  int64_t large = max_exact + (int64_t)(log((double)rel / max_exact) /
                                        log((double)max_distance / max_exact) *
                                        (num_buckets - max_exact));
  if (large > num_buckets - 1) large = num_buckets - 1;
  return (int)(bucket + large);
}

static void ref_relpos(const case_env *e, double *ref) {
  const seq_case *c = e->c;
  const lbbt_tensor *tb = e->in[0];
  const int64_t H = tb->shape[1], T = e->rel_T, S = e->rel_S;
  for (int64_t h = 0; h < H; h++)
    for (int64_t t = 0; t < T; t++)
      for (int64_t s = 0; s < S; s++)
        ref[(h * T + t) * S + s] =
            tb->data[ref_t5_bucket(s - t, c->bidirectional, c->num_buckets, c->max_distance) * H + h];
}

/* ---- dropout checks: statistics, scaling, eval identity, reproducibility ------------- */
static void check_dropout(case_env *e, lbbt_tensor *out) {
  const seq_case *c = e->c;
  const lbbt_tensor *x = e->in[0];
  const int64_t n_masks = c->op == OP_DROPOUT ? x->numel : x->shape[0];
  const int64_t per_mask = x->numel / n_masks;
  const double scale = c->p < 1.0f ? 1.0 / (1.0 - c->p) : 0.0;
  int64_t kept = 0;
  for (int64_t m = 0; m < n_masks; m++) {
    /* A mask entry is kept when its first element is nonzero (x is never exactly 0 here);
     * every element under it must then be x * scale, otherwise 0. */
    const int keep = out->data[m * per_mask] != 0.0f;
    kept += keep;
    for (int64_t j = m * per_mask; j < (m + 1) * per_mask; j++) {
      const double want = keep ? x->data[j] * scale : 0.0;
      if (!(fabs(out->data[j] - want) <= DROPOUT_RTOL * fabs(want))) {
        CHECK(0, "%s: element %lld is %.9g, want %.9g (mask entry %lld %s)", c->name,
              (long long)j, (double)out->data[j], want, (long long)m, keep ? "kept" : "dropped");
        return;
      }
    }
  }
  const double frac = (double)kept / (double)n_masks, want_frac = 1.0 - c->p;
  const double sigma = sqrt(c->p * (1.0 - c->p) / (double)n_masks);
  CHECK(fabs(frac - want_frac) <= DROPOUT_SIGMAS * sigma + 1e-12,
        "%s: kept fraction %.5f, want %.5f +- %.5f (%g sigma)", c->name, frac, want_frac,
        DROPOUT_SIGMAS * sigma, DROPOUT_SIGMAS);

  /* Same seed, same masks; another seed, other masks (n_masks is large enough that equal
   * masks would be a bug, except for p == 1). */
  lbbt_tape *t2 = NULL;
  REQUIRE(lbbt_tape_create(&t2) == LBBT_OK, "tape_create: %s", lbbt_last_error());
  lbbt_tensor *again = NULL, *other = NULL;
  lbbt_status st = seq_forward(t2, e->in, e, &again);
  CHECK(st == LBBT_OK && memcmp(again->data, out->data, (size_t)out->numel * sizeof(float)) == 0,
        "%s: the same seed gave different masks", c->name);
  e->dropout_seed++;
  st = seq_forward(t2, e->in, e, &other);
  e->dropout_seed--;
  if (st == LBBT_OK && c->p < 1.0f && n_masks >= 64)
    CHECK(memcmp(other->data, out->data, (size_t)out->numel * sizeof(float)) != 0,
          "%s: a different seed gave identical masks", c->name);

  /* Eval mode and p == 0: identity, the input itself. */
  lbbt_tape_set_training(t2, 0);
  lbbt_tensor *ident = NULL;
  st = c->op == OP_DROPOUT ? lbbt_dropout(t2, e->in[0], c->p, &ident)
                           : lbbt_drop_path(t2, e->in[0], c->p, &ident);
  CHECK(st == LBBT_OK && ident == e->in[0], "%s: eval mode is not the identity", c->name);
  lbbt_tape_set_training(t2, 1);
  st = c->op == OP_DROPOUT ? lbbt_dropout(t2, e->in[0], 0.0f, &ident)
                           : lbbt_drop_path(t2, e->in[0], 0.0f, &ident);
  CHECK(st == LBBT_OK && ident == e->in[0], "%s: p = 0 is not the identity", c->name);
  lbbt_tape_free(t2);
}

/* ---- one row ------------------------------------------------------------------------------ */
static void env_free(case_env *e) {
  for (int i = 0; i < 4; i++) lbbt_tensor_free(e->in[i]);
  free(e->ids);
  free(e->positions);
  free(e->key_mask);
}

static int env_build(case_env *e, const seq_case *c, uint64_t seed) {
  memset(e, 0, sizeof *e);
  e->c = c;
  e->dropout_seed = seed ^ 0x5eedULL;
  /* Which shapes are tensors: the ids of embedding and the [T, S] of relpos are not. */
  int n_tensors = c->op == OP_ATTENTION ? 4 : c->op == OP_ATTENTION_QKV ? 2 : 1;
  for (int i = 0; i < n_tensors; i++) {
    int nd = shape_ndim(c->shape[i]);
    if (nd == 0) break;
    if (lbbt_tensor_create(&e->in[i], nd, c->shape[i]) != LBBT_OK) return 0;
    gc_fill_normal(e->in[i], seed + 17 * (uint64_t)i, 1.0);
    if (lbbt_tensor_require_grad(e->in[i]) != LBBT_OK) return 0;
    e->n_in = i + 1;
  }
  if (c->op == OP_EMBEDDING) {
    const int64_t V = c->shape[0][0];
    e->B = c->shape[1][0];
    e->T = c->shape[1][1];
    e->ids = malloc((size_t)(e->B * e->T) * sizeof *e->ids);
    for (int64_t n = 0; n < e->B * e->T; n++)
      e->ids[n] = c->ids == IDS_REPEATED ? (int32_t)(n % 3) : (int32_t)((n * 7 + 3) % V);
    const int64_t bad = 1 * e->T + 2; /* position (b=1, t=2) */
    if (c->ids == IDS_TOO_BIG) e->ids[bad] = (int32_t)V;
    if (c->ids == IDS_NEGATIVE) e->ids[bad] = -1;
  }
  if (c->op == OP_ROPE && c->pos != POS_DEFAULT && shape_ndim(c->shape[0]) == 4) {
    const int64_t T = c->shape[0][2];
    e->positions = malloc((size_t)T * sizeof *e->positions);
    for (int64_t t = 0; t < T; t++)
      /* POS_FAR straddles the end of the cached range (2^17) and includes a negative one. */
      e->positions[t] = c->pos == POS_STRIDED ? (int32_t)(5 + 3 * t)
                        : t == 0              ? -3
                                              : (int32_t)(131072 - 3 + t);
  }
  if ((c->op == OP_ATTENTION || c->op == OP_ATTENTION_QKV) && c->mask != MASK_NONE) {
    const int64_t B = c->shape[0][0];
    const int64_t S = c->op == OP_ATTENTION ? c->shape[1][2] : c->shape[0][1];
    e->key_mask = malloc((size_t)(B * S));
    for (int64_t b = 0; b < B; b++)
      for (int64_t s = 0; s < S; s++) {
        int keep = 1;
        if (c->mask == MASK_PAD_TAIL) keep = s < S - (b + 1 < S ? b + 1 : S - 1);
        if (c->mask == MASK_PAD_HEAD) keep = s >= 2;
        if (c->mask == MASK_SAMPLE0_EMPTY) keep = b != 0 && s != 0;
        e->key_mask[b * S + s] = (uint8_t)keep;
      }
  }
  if (c->op == OP_RELPOS) {
    e->rel_T = c->shape[1][0];
    e->rel_S = c->shape[1][1];
  }
  return 1;
}

static void compare_with_reference(const seq_case *c, const lbbt_tensor *out, const double *ref) {
  for (int64_t i = 0; i < out->numel; i++) {
    const double got = out->data[i];
    if (!(fabs(got - ref[i]) <= c->fwd_atol + c->fwd_rtol * fabs(ref[i]))) {
      CHECK(0, "%s: forward element %lld: got %.9g, reference %.9g (atol %g, rtol %g)", c->name,
            (long long)i, got, ref[i], c->fwd_atol, c->fwd_rtol);
      return;
    }
  }
}

static const seq_case *g_row;

static void run_case(void) {
  const seq_case *c = g_row;
  case_env e;
  REQUIRE(env_build(&e, c, 1000 + (uint64_t)(c - CASES) * 131), "%s: setup failed: %s", c->name,
          lbbt_last_error());
  lbbt_tape *t = NULL;
  REQUIRE(lbbt_tape_create(&t) == LBBT_OK, "tape_create: %s", lbbt_last_error());
  lbbt_tensor *out = NULL;
  lbbt_clear_error();
  lbbt_status st = seq_forward(t, e.in, &e, &out);

  if (c->want != LBBT_OK) {
    CHECK(st == c->want, "%s: status %s, want %s (message: %s)", c->name, lbbt_status_name(st),
          lbbt_status_name(c->want), lbbt_last_error());
    CHECK(strstr(lbbt_last_error(), c->want_msg) != NULL, "%s: message '%s' lacks '%s'",
          c->name, lbbt_last_error(), c->want_msg);
    goto done;
  }
  CHECK(st == LBBT_OK, "%s: forward failed: %s", c->name, lbbt_last_error());
  if (st != LBBT_OK) goto done;

  if (c->op == OP_DROPOUT || c->op == OP_DROP_PATH) {
    check_dropout(&e, out);
  } else {
    double *ref = calloc((size_t)out->numel, sizeof *ref);
    if (c->op == OP_EMBEDDING) ref_embedding(&e, ref);
    if (c->op == OP_ROPE) ref_rope(&e, ref);
    if (c->op == OP_ATTENTION) ref_attention(&e, ref);
    if (c->op == OP_ATTENTION_QKV) ref_attention_qkv(&e, ref);
    if (c->op == OP_RELPOS) ref_relpos(&e, ref);
    compare_with_reference(c, out, ref);
    free(ref);
  }

  if (c->grad_checks > 0) {
    gc_result r = gradcheck(seq_forward, e.in, e.n_in, &e, c->grad, c->grad_checks);
    CHECK(r.status == LBBT_OK, "%s: gradcheck forward failed: %s", c->name, lbbt_last_error());
    CHECK(r.ok, "%s: gradient mismatch at %s (max abs err %.3g)", c->name, r.where,
          r.max_abs_err);
  }
done:
  lbbt_tape_free(t);
  env_free(&e);
}

/* Run each row as its own PASS/FAIL line, named after the row (test.h's TEST_RUN names a
 * function, so this repeats its bookkeeping with the row's name). */
static void run_table(void) {
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
    g_row = &CASES[i];
    test_failed_ = test_skipped_ = 0;
    test_msg_[0] = 0;
    run_case();
    if (test_failed_) {
      printf("FAIL %s.%s: %s\n", test_binary_, CASES[i].name, test_msg_);
      test_nfail_++;
    } else {
      printf("PASS %s.%s\n", test_binary_, CASES[i].name);
      test_npass_++;
    }
    fflush(stdout);
  }
}

/* ---- checks that are not per shape ------------------------------------------------------- */

/* Llama-3 scaling: inverse frequencies for head_dim 16, theta 500000, factor 8, low 1,
 * high 4, original 8192, as transformers' _compute_llama3_parameters gives them (evaluated
 * with PyTorch 1.13 in float32).  Pairs 0-3 are high frequency (kept), 4 is in the smooth
 * band, 5-7 are low frequency (divided by 8).  Read back as atan2 of the rotation of the
 * unit vector at position 1. */
static void rope_llama3_matches_transformers(void) {
  static const double want[8] = {1.0,           0.193922758,    0.0376060307,  0.00729266508,
                                 0.000524846022, 3.42810235e-05, 6.64786967e-06, 1.28917316e-06};
  lbbt_rope_config cfg = ROPE_LLAMA3(LBBT_ROPE_HALF);
  lbbt_tensor *x = NULL;
  REQUIRE(lbbt_tensor_create(&x, 4, (int64_t[]){1, 1, 2, 16}) == LBBT_OK, "create");
  for (int i = 0; i < 8; i++) x->data[16 + i] = 1.0f; /* t = 1: (x_i, x_{i+8}) = (1, 0) */
  lbbt_tape *t = NULL;
  lbbt_tensor *y = NULL;
  REQUIRE(lbbt_tape_create(&t) == LBBT_OK, "tape");
  lbbt_status st = lbbt_rope(t, x, &cfg, NULL, &y);
  CHECK(st == LBBT_OK, "rope: %s", lbbt_last_error());
  if (st == LBBT_OK)
    for (int i = 0; i < 8; i++) {
      char what[64];
      snprintf(what, sizeof what, "inv_freq[%d]", i);
      CHECK_CLOSE(atan2(y->data[16 + 8 + i], y->data[16 + i]), want[i], 0.0, LLAMA3_FREQ_RTOL,
                  what);
    }
  lbbt_tape_free(t);
  lbbt_tensor_free(x);
}

/* Tables are computed once per frequency config and position range, then reused. */
static void rope_tables_cached(void) {
  lbbt_rope_config cfg = ROPE_PLAIN(LBBT_ROPE_HALF, 0);
  cfg.theta = 12345.0f; /* a config no other test uses */
  lbbt_tensor *x = NULL, *xl = NULL, *y = NULL;
  REQUIRE(lbbt_tensor_create(&x, 4, (int64_t[]){1, 2, 16, 8}) == LBBT_OK, "create");
  REQUIRE(lbbt_tensor_create(&xl, 4, (int64_t[]){1, 1, 600, 8}) == LBBT_OK, "create");
  lbbt_tape *t = NULL;
  REQUIRE(lbbt_tape_create(&t) == LBBT_OK, "tape");
  const int64_t n0 = lbbt_rope_cache_count();
  CHECK(lbbt_rope(t, x, &cfg, NULL, &y) == LBBT_OK, "rope: %s", lbbt_last_error());
  CHECK(lbbt_rope_cache_count() == n0 + 1, "first call: %lld tables, want %lld",
        (long long)lbbt_rope_cache_count(), (long long)(n0 + 1));
  for (int i = 0; i < 3; i++) CHECK(lbbt_rope(t, x, &cfg, NULL, &y) == LBBT_OK, "rope again");
  cfg.layout = LBBT_ROPE_INTERLEAVED; /* the layout does not change the angles */
  CHECK(lbbt_rope(t, x, &cfg, NULL, &y) == LBBT_OK, "rope interleaved");
  CHECK(lbbt_rope_cache_count() == n0 + 1, "repeat calls: %lld tables, want %lld",
        (long long)lbbt_rope_cache_count(), (long long)(n0 + 1));
  CHECK(lbbt_rope(t, xl, &cfg, NULL, &y) == LBBT_OK, "rope long");
  CHECK(lbbt_rope_cache_count() == n0 + 2, "longer sequence: %lld tables, want %lld",
        (long long)lbbt_rope_cache_count(), (long long)(n0 + 2));
  CHECK(lbbt_rope(t, x, &cfg, NULL, &y) == LBBT_OK, "rope short again");
  CHECK(lbbt_rope_cache_count() == n0 + 2, "short after long: %lld tables, want %lld",
        (long long)lbbt_rope_cache_count(), (long long)(n0 + 2));
  lbbt_tape_free(t);
  lbbt_tensor_free(x);
  lbbt_tensor_free(xl);
}

/* Buckets for T5's defaults (32 buckets, max_distance 128), computed by hand from the
 * transformers formula: relative position s - t -> bucket. */
static void relpos_t5_hand_values(void) {
  static const struct { int bidirectional; int rel; int bucket; } want[] = {
      {1, 0, 0},    {1, 1, 17},     {1, -1, 1},  {1, -8, 8},  {1, 20, 26},
      {1, -100, 15}, {1, -200, 15}, {1, 200, 31}, {0, 5, 0},   {0, 0, 0},
      {0, -3, 3},   {0, -20, 17},   {0, -200, 31},
  };
  const int64_t T = 201, S = 201;
  lbbt_tensor *table = NULL;
  REQUIRE(lbbt_tensor_create(&table, 2, (int64_t[]){32, 1}) == LBBT_OK, "create");
  for (int b = 0; b < 32; b++) table->data[b] = (float)b; /* the bias reads back the bucket */
  lbbt_tape *t = NULL;
  REQUIRE(lbbt_tape_create(&t) == LBBT_OK, "tape");
  for (int bi = 0; bi <= 1; bi++) {
    lbbt_tensor *out = NULL;
    lbbt_status st = lbbt_relative_position_bias(t, table, T, S, bi, 32, 128, &out);
    CHECK(st == LBBT_OK, "relpos: %s", lbbt_last_error());
    if (st != LBBT_OK) break;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
      if (want[i].bidirectional != bi) continue;
      /* pick (t, s) with s - t = rel inside [0, 201) */
      const int64_t tq = want[i].rel < 0 ? -want[i].rel : 0, s = tq + want[i].rel;
      char what[96];
      snprintf(what, sizeof what, "bucket(rel %d, %s)", want[i].rel,
               bi ? "bidirectional" : "unidirectional");
      CHECK_CLOSE(out->data[tq * S + s], want[i].bucket, 0.0, 0.0, what);
    }
  }
  lbbt_tape_free(t);
  lbbt_tensor_free(table);
}

TEST_MAIN_BEGIN("test_ops_seq")
run_table();
TEST_RUN(rope_llama3_matches_transformers);
TEST_RUN(rope_tables_cached);
TEST_RUN(relpos_t5_hand_values);
printf("%d passed, %d failed\n", test_npass_, test_nfail_);
TEST_MAIN_END()
