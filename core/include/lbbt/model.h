/* A model as the harness sees it: named parameters with their layer index, and a forward
 * pass for images (vision mode) and/or token ids (language mode).  Backbone plugins build
 * models; tasks and analyses use them only through this interface. */
#ifndef LBBT_MODEL_H
#define LBBT_MODEL_H
#include "lbbt/types.h"
#include "lbbt/tensor.h"

/* Where a parameter sits, for partial training (`train_layers: first:5`). */
typedef enum {
  LBBT_PART_EMBED, /* patch embedding, class token, positions, token embedding */
  LBBT_PART_BLOCK, /* inside transformer block `layer` */
  LBBT_PART_HEAD   /* final norm, classifier / LM head */
} lbbt_param_part;

typedef struct lbbt_param {
  char name[128];       /* Hugging Face style: "h.3.attn.c_attn.weight", "head.weight" */
  lbbt_param_part part;
  int layer;            /* block index when part == LBBT_PART_BLOCK, else 0 */
  int no_decay;         /* norms, biases, embeddings: excluded from weight decay */
  int trainable;        /* set by lbbt_model_select_trainable */
  lbbt_tensor *t;       /* owned by the model */
} lbbt_param;

/* Called during forward passes with intermediate activations, for analyses (activation
 * ratio: "mlp.act" per layer; clusters: "features"; "tokens": a vision model's every token
 * [B, T, C] after the final norm, before pooling, the class token first when it has one).
 * Hooks must ignore `what` values they do not know.  May be NULL. */
typedef void (*lbbt_activation_hook)(void *user, const char *what, int layer,
                                     const lbbt_tensor *x);

typedef struct lbbt_model lbbt_model;
typedef struct lbbt_model_ops {
  int version; /* LBBT_MODEL_OPS_VERSION at build time; fields only appended */
  /* images [B, Cin, H, W] -> pooled features [B, dim] and logits [B, num_classes]
   * (logits NULL-able when the caller only wants features). */
  lbbt_status (*forward_vision)(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images,
                                lbbt_tensor **features, lbbt_tensor **logits);
  /* token ids [B*T] -> hidden [B, T, dim] (after final norm) and logits [B, T, vocab]
   * (NULL when the model has no LM head).  NULL function: no language mode. */
  lbbt_status (*forward_language)(lbbt_model *m, lbbt_tape *t, const int32_t *ids, int64_t B,
                                  int64_t T, lbbt_tensor **hidden, lbbt_tensor **logits);
  /* Write safetensors + config.json with Hugging Face names into directory dir. */
  lbbt_status (*save)(lbbt_model *m, const char *dir);
  void (*destroy)(lbbt_model *m); /* frees impl; lbbt_model_free frees the rest */
  /* ---- version 2 ---- */
  /* The vision encoder on a subset of the patches (MAE's encoder sees only the visible
   * ones): images [B, Cin, H, W] -> tokens [B, (1 +) K, dim] after the final norm, the
   * class token first when the model pools by it.  visible int32 [B * K]: image b's patch
   * indices (row-major over the patch grid), ascending; the position embedding is added
   * before the selection, as MAE does.  Check ops->version >= 2 before calling (NULL: the
   * model cannot). */
  lbbt_status (*forward_vision_tokens)(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images,
                                       const int32_t *visible, int64_t K, lbbt_tensor **tokens);
} lbbt_model_ops;
#define LBBT_MODEL_OPS_VERSION 2

struct lbbt_model {
  const lbbt_model_ops *ops;
  void *impl;
  char arch[LBBT_NAME_MAX];   /* "gpt2", "llama", "chronos_t5" */
  char source[LBBT_PATH_MAX]; /* checkpoint path or "scratch" */
  lbbt_init_mode init;
  lbbt_param *params;
  int n_params, cap_params;
  int n_layers, dim, num_classes, vocab_size;
  lbbt_activation_hook hook;
  void *hook_user;
  float drop_path; /* stochastic-depth rate the current stage trains with (0 = off) */
  /* The arena lbbt_eval_pass (and so lbbt_extract_features) runs the model in, kept across calls
   * (created on first use, freed by lbbt_model_free): a fresh arena per call faulted in
   * tens of MiB of zeroed pages every epoch (~10% of a Table 4 run). */
  lbbt_tape *eval_tape;
};

/* Allocate an empty model (params added with lbbt_model_add_param). */
LBBT_API lbbt_status lbbt_model_create(lbbt_model **out, const lbbt_model_ops *ops, const char *arch);
/* Create a zeroed parameter tensor and register it; *t receives it (owned by the model). */
LBBT_API lbbt_status lbbt_model_add_param(lbbt_model *m, const char *name, lbbt_param_part part, int layer,
                                 int no_decay, int ndim, const int64_t *shape, lbbt_tensor **t);
LBBT_API lbbt_param *lbbt_model_find_param(lbbt_model *m, const char *name);
/* Frees impl (ops->destroy) then the parameters. NULL-safe. */
LBBT_API void lbbt_model_free(lbbt_model *m);
LBBT_API int64_t lbbt_model_numel(const lbbt_model *m, int trainable_only);
/* Mark parameters trainable: blocks selected by `layers`; embed/head by the flags.
 * Allocates grads for trainable ones and clears requires_grad on the rest. */
LBBT_API lbbt_status lbbt_model_select_trainable(lbbt_model *m, const lbbt_layer_range *layers,
                                        int train_embed, int train_head);
/* Freeze or unfreeze parameters whose name matches a glob pattern ("h.*.ln_*"). */
LBBT_API int lbbt_model_set_trainable_pattern(lbbt_model *m, const char *glob, int trainable);
/* Print per-layer parameter counts and weight statistics (mean, std, max |w|, excess
 * kurtosis, share of |w - mean| > 6 std) to f (a FILE*). */
LBBT_API void lbbt_model_describe(const lbbt_model *m, void *f);

#endif
