/* Neural-network building blocks composed from ops.h: dense layers in either weight layout,
 * multi-head attention (causal or not, GQA, RoPE, q/k-norm, relative bias), MLPs (GELU,
 * SwiGLU, gated GELU), the pre-norm transformer block, and the vision wrapper the paper uses
 * (new patch embedding -> pretrained blocks -> final norm -> pooling -> new head).
 *
 * Blocks do not own parameters: a backbone registers each tensor in its lbbt_model under
 * its Hugging Face name (lbbt_model_add_param) and points the block's fields at them, so the
 * same block code runs GPT-2, LLaMA, Qwen3 and T5 layers, and a DETR or Segmenter can borrow
 * a backbone's blocks by pointing at (copies of) the same tensors. */
#ifndef LBBT_NN_H
#define LBBT_NN_H
#include "lbbt/model.h"
#include "lbbt/ops.h"

/* nn.Linear stores [out, in]; GPT-2's Conv1D stores [in, out]. */
typedef enum { LBBT_W_OUT_IN, LBBT_W_IN_OUT } lbbt_weight_layout;
/* y[..., O] = x[..., I] W + b for either layout; b may be NULL. */
LBBT_API lbbt_status lbbt_dense(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *b,
                       lbbt_weight_layout layout, lbbt_tensor **out);

typedef enum { LBBT_NORM_LAYERNORM, LBBT_NORM_RMSNORM } lbbt_norm_kind;
typedef enum {
  LBBT_MLP_GELU,       /* GPT-2: proj(gelu(fc(x))) */
  LBBT_MLP_SWIGLU,     /* LLaMA/Qwen: down(silu(gate(x)) * up(x)) */
  LBBT_MLP_GATED_GELU, /* T5 v1.1: wo(gelu(wi_0(x)) * wi_1(x)) */
  LBBT_MLP_RELU        /* T5 / Chronos-T5 "relu": wo(relu(wi(x))); fc_w = wi, proj_w = wo */
} lbbt_mlp_kind;

typedef struct lbbt_block_config {
  int dim;            /* C */
  int n_heads;        /* Hq */
  int n_kv_heads;     /* Hkv (== n_heads without GQA) */
  int head_dim;       /* D (usually dim / n_heads; Qwen3 sets it explicitly) */
  int hidden_dim;     /* MLP width */
  lbbt_norm_kind norm;
  float norm_eps;
  lbbt_mlp_kind mlp;
  lbbt_gelu_form gelu;
  lbbt_weight_layout layout;
  int fused_qkv;      /* one [C, 3C] projection (GPT-2 c_attn) instead of q, k, v */
  int qk_norm;        /* per-head RMSNorm of q and k before RoPE (Qwen3) */
  int use_rope;
  lbbt_rope_config rope;
  float attn_scale;   /* 0 = 1/sqrt(D); T5 uses 1 */
} lbbt_block_config;

/* Parameter pointers of one pre-norm block; NULL where the architecture has none. */
typedef struct lbbt_block {
  lbbt_block_config cfg;
  lbbt_tensor *norm1_w, *norm1_b, *norm2_w, *norm2_b;
  lbbt_tensor *qkv_w, *qkv_b;            /* fused_qkv */
  lbbt_tensor *q_w, *q_b, *k_w, *k_b, *v_w, *v_b;
  lbbt_tensor *o_w, *o_b;
  lbbt_tensor *q_norm_w, *k_norm_w;      /* [D] when qk_norm */
  lbbt_tensor *fc_w, *fc_b, *proj_w, *proj_b;   /* GELU and ReLU MLP */
  lbbt_tensor *gate_w, *up_w, *down_w;          /* SwiGLU and gated GELU (wi_0, wi_1, wo) */
} lbbt_block;

/* Per-call inputs shared by all blocks of a forward pass. */
typedef struct lbbt_block_inputs {
  int causal;
  lbbt_tensor *attn_bias;     /* [H, T, T] or NULL (T5 relative positions) */
  const uint8_t *key_mask;    /* [B, T] or NULL */
  const int32_t *positions;   /* [T] for RoPE or NULL (0..T-1) */
  float drop_path;            /* this block's drop-path probability */
  int layer;                  /* for activation hooks */
  lbbt_activation_hook hook;  /* optional: sees "mlp.act" [B, T, hidden] */
  void *hook_user;
} lbbt_block_inputs;

/* x [B, T, C] -> [B, T, C]:  x + drop_path(attn(norm1(x))), then + drop_path(mlp(norm2(x))). */
LBBT_API lbbt_status lbbt_block_forward(lbbt_tape *t, const lbbt_block *blk, lbbt_tensor *x,
                               const lbbt_block_inputs *in, lbbt_tensor **out);
/* Register a block's parameters in m under `prefix` + the names in `names` (an architecture's
 * naming scheme) and point blk's fields at them; shapes follow cfg and layout. */
typedef struct lbbt_block_names {
  const char *norm1_w, *norm1_b, *norm2_w, *norm2_b;
  const char *qkv_w, *qkv_b, *q_w, *q_b, *k_w, *k_b, *v_w, *v_b, *o_w, *o_b;
  const char *q_norm_w, *k_norm_w;
  const char *fc_w, *fc_b, *proj_w, *proj_b, *gate_w, *up_w, *down_w;
} lbbt_block_names; /* NULL name = the architecture has no such tensor */
LBBT_API lbbt_status lbbt_block_register(lbbt_model *m, lbbt_block *blk, const lbbt_block_config *cfg,
                                const lbbt_block_names *names, const char *prefix, int layer);

/* ---- the vision wrapper (Section 4.1 of the paper) ----------------------------------- */
typedef struct lbbt_vision_config {
  int in_channels, image_size, patch_size, num_classes;
  lbbt_pool_mode pool;
  int causal;                 /* attention mask inside the blocks */
  int learned_positions;      /* add a new learned position embedding (GPT-2, T5 off) */
} lbbt_vision_config;

typedef struct lbbt_vision {
  lbbt_vision_config cfg;
  int n_tokens;               /* patches (+1 with a class token) */
  lbbt_tensor *patch_w, *patch_b;   /* conv [C, Cin, P, P], [C] — new, randomly initialised */
  lbbt_tensor *pos;           /* [n_tokens, C] or NULL */
  lbbt_tensor *cls;           /* [1, C] when pool == CLS */
  lbbt_block *blocks;         /* n_blocks, owned array (tensors owned by the model) */
  int n_blocks;
  lbbt_tensor *final_norm_w, *final_norm_b;
  lbbt_norm_kind final_norm;
  float final_norm_eps;
  lbbt_tensor *head_w, *head_b;     /* [num_classes, C], [num_classes] — new */
  /* Optional per-forward extra: T5's shared relative bias table [buckets, H]. */
  lbbt_tensor *relbias_table;
  int relbias_buckets, relbias_max_distance;
} lbbt_vision;

/* Register the new (non-block) vision parameters — patch embedding, positions, class token,
 * head — under "vision.patch_embed.weight" etc.; the backbone registers blocks and the
 * final norm itself and fills v->blocks / final_norm_*. Initialises the new tensors
 * (patch: Kaiming-uniform as PyTorch Conv2d; pos and cls: trunc-normal 0.02; head: zeros
 * weight? no — trunc-normal 0.02 weight, zero bias, as timm ViT), seeded by `seed`. */
LBBT_API lbbt_status lbbt_vision_register(lbbt_model *m, lbbt_vision *v, int dim, uint64_t seed);
/* images [B, Cin, H, W] -> features [B, C] (pooled, after final norm), logits [B, classes].
 * Drop-path: m->drop_path at the last block, linearly less before it (timm), training only. */
LBBT_API lbbt_status lbbt_vision_forward(lbbt_model *m, lbbt_vision *v, lbbt_tape *t,
                                lbbt_tensor *images, lbbt_tensor **features,
                                lbbt_tensor **logits);
/* The tokens after the final norm, [B, (1 +) K, C], of images whose patches are reduced
 * to visible [B * K] (ascending patch indices per image) after the positions are added;
 * visible NULL keeps all N patches (K = N).  lbbt_vision_forward pools these. */
LBBT_API lbbt_status lbbt_vision_forward_tokens(lbbt_model *m, lbbt_vision *v, lbbt_tape *t,
                                                lbbt_tensor *images, const int32_t *visible, int64_t K,
                                                lbbt_tensor **tokens);
LBBT_API void lbbt_vision_destroy(lbbt_vision *v); /* frees v->blocks; tensors belong to the model */

#endif
