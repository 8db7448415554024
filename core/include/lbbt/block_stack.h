/* Borrowing a backbone's transformer blocks: the first N pre-norm blocks of backbone X as a
 * module hidden [B, T, C] -> [B, T, C], for dense-prediction models that initialise their
 * transformer from a language model (Section 5 of the paper: DETR's encoder and decoder
 * layers and Segmenter's mask-transformer blocks are "initialised by copying pretrained GPT-2
 * block weights ... for as many layers as available").
 *
 * What a borrower gets (lbbt_borrow_blocks, or a backbone's create_blocks directly):
 *   - blocks 0..N-1 of the backbone, initialised EXACTLY as the backbone's create_vision
 *     initialises them for the same spec and seed: the same checkpoint, the same init mode
 *     (spec->init: language, scratch, shuffled, moment-matched, scratch-rescaled) and the same
 *     per-tensor seeding.  Init modes and scratch inits are seeded by the backbone's own
 *     parameter name (param_init.h, init_mode.h), never by the borrower's prefix, so borrowed
 *     block i is bit-identical to block i of create_vision(spec, ..., seed);
 *   - named parameters with their layer index: registered in the borrower's model `into`
 *     under prefix + the backbone's name ("detr.encoder." + "h.3.attn.c_attn.weight"), part
 *     LBBT_PART_BLOCK, layer = layer_offset + i, no_decay by lbbt_no_decay_rule (T5's
 *     relative bias table: no_decay, as in create_vision).  `train_layers: first:K` then
 *     selects them through lbbt_model_select_trainable on `into`;
 *   - the width C (stack->dim), so the borrower builds its own embedding and heads;
 *   - the architecture's attention default (GPT-2 and LLaMA causal, the T5 encoder
 *     bidirectional) overridden by spec->attention, and per forward by the caller.
 * Not included: the backbone's token/patch embedding, positions (GPT-2's wpe) and final
 * norm: a borrower has its own.  LLaMA blocks apply RoPE inside attention (positions 0..T-1
 * unless the forward gives others); T5 blocks get block 0's relative position bias, computed
 * once per forward and added in every block, as create_vision does.
 *
 * Why the first N blocks only (not a range): that is what the paper's DETR and Segmenter
 * copy, and the init modes (scratch-rescaled, llama2.c's depth-scaled scratch std) are
 * defined relative to the backbone's whole depth, which first-N keeps unambiguous.  A range
 * would be a compatible later addition (a new field at the end of lbbt_backbone_ops).
 *
 * Borrowing twice from the same backbone into one model (DETR's encoder and decoder) needs
 * two prefixes; both copies start from the same values (same names, same seed) unless the
 * seeds differ.
 *
 *   lbbt_block_stack *enc = NULL;       // in a task's run(ctx); seed as the runner's
 *   uint64_t seed = ctx->run->seed + (uint64_t)ctx->run->backbone.init_seed_offset;
 *   LBBT_TRY(lbbt_borrow_blocks(ctx->registry, &ctx->run->backbone, 6, seed, "detr.encoder.",
 *                               0, model, &enc));              // params now in `model`
 *   ... build [B, T, enc->dim] tokens x ...
 *   lbbt_block_stack_opts o = {.attention = LBBT_ATTN_BIDIRECTIONAL, .key_mask = mask};
 *   LBBT_TRY(lbbt_block_stack_forward(tape, enc, x, &o, &x));   // [B, T, C]
 *   ...
 *   lbbt_block_stack_free(enc);  // the parameters stay with `model` (lbbt_model_free)
 */
#ifndef LBBT_BLOCK_STACK_H
#define LBBT_BLOCK_STACK_H
#include "lbbt/nn.h"
#include "lbbt/plugin.h"

typedef struct lbbt_block_stack {
  char backbone[LBBT_NAME_MAX]; /* the plugin that built it: "gpt2" */
  char prefix[LBBT_NAME_MAX];   /* prepended to the backbone's parameter names ("" = none) */
  lbbt_model *model;            /* holds the parameters: the borrower's `into`, or a bare
                                 * model created for the stack (owns_model) */
  int owns_model;               /* 1: model is freed with the stack */
  int first_param, n_params;    /* the stack's parameters are model->params[first_param ..
                                 * first_param + n_params) (indices stay valid as the model
                                 * grows; pointers into params do not) */
  int n_blocks;                 /* N */
  int n_backbone_blocks;        /* how many blocks the backbone has (N <= this) */
  int layer_offset;             /* block i has layer index layer_offset + i */
  int dim;                      /* C: the width of the hidden states */
  int causal;                   /* attention when a forward asks for LBBT_ATTN_DEFAULT */
  lbbt_block *blocks;           /* [n_blocks], owned; their tensors belong to model */
  lbbt_tensor *relbias_table;   /* T5: block 0's relative bias [buckets, H], else NULL */
  int relbias_buckets, relbias_max_distance;
} lbbt_block_stack;

/* ---- for borrowers ----------------------------------------------------------------------- */
/* Look up backbone spec->plugin in registry r (NULL: lbbt_registry_global()) and call its
 * create_blocks: the first n_blocks blocks, initialised per spec (checkpoint, arch, options,
 * init, attention) from `seed` exactly as that backbone's create_vision(spec, ..., seed).
 * Parameters go into `into` (the borrower's model; it keeps them, and its n_layers grows to
 * at least layer_offset + n_blocks), or, with into NULL, into a bare model the stack owns.
 * prefix may be NULL ("").  On success *out is owned by the caller (lbbt_block_stack_free);
 * free it before or after `into`, but do not use it after `into` is freed.
 * Errors: LBBT_E_INPUT when no backbone of that name is loaded (the message lists those that
 * are), when the plugin is older than backbone ops version 3 (no create_blocks), when
 * n_blocks is < 1 or more than the backbone has, layer_offset < 0, the prefix is
 * LBBT_NAME_MAX characters or longer, and for any spec error create_vision would report;
 * LBBT_E_INTERNAL without a registry, and (from lbbt_model_add_param) when a prefixed name is
 * already in `into` (borrow twice under different prefixes) or longer than a parameter name
 * may be; LBBT_E_PLUGIN when the plugin returns a malformed stack.  *out is NULL on error;
 * parameters already added to `into` stay there (free the model on error). */
LBBT_API lbbt_status lbbt_borrow_blocks(const lbbt_registry *r, const lbbt_backbone_spec *spec,
                               int n_blocks, uint64_t seed, const char *prefix, int layer_offset,
                               lbbt_model *into, lbbt_block_stack **out);

/* Per-forward options; a NULL opts pointer means all defaults (the zero value). */
typedef struct lbbt_block_stack_opts {
  lbbt_attn_mode attention;   /* DEFAULT: stack->causal; or force CAUSAL / BIDIRECTIONAL (T5's
                               * relative bias buckets follow: unidirectional when causal) */
  const uint8_t *key_mask;    /* [B, T]: 0 = padding key (not attended to), 1 = keep; NULL */
  const int32_t *positions;   /* [T] RoPE positions (LLaMA blocks); NULL = 0..T-1 */
  float drop_path;            /* stochastic depth at the last block, linearly less before it
                               * (timm); applied only when the tape is training */
  lbbt_activation_hook hook;  /* optional: "mlp.act" [B, T, hidden] with layer index */
  void *hook_user;
} lbbt_block_stack_opts;

/* x [B, T, C] (C = s->dim) -> out [B, T, C] through every block, recorded on tape t. */
LBBT_API lbbt_status lbbt_block_stack_forward(lbbt_tape *t, const lbbt_block_stack *s, lbbt_tensor *x,
                                     const lbbt_block_stack_opts *opts, lbbt_tensor **out);

/* Frees the block array, and the model when the stack owns it.  NULL-safe. */
LBBT_API void lbbt_block_stack_free(lbbt_block_stack *s);

/* ---- for backbone plugins implementing create_blocks ------------------------------------- */
/* Check n_blocks (1..n_backbone_blocks) and layer_offset (>= 0) with messages naming the
 * backbone and `source` (its checkpoint path or "scratch arch X"), then allocate a stack of
 * n_blocks empty blocks whose parameters will go into `into` (or a new bare model with arch
 * `backbone` when into is NULL).  The caller registers every block with
 * lbbt_block_stack_register, fills the parameters (reading and seeding each by
 * lbbt_block_stack_source_name) and sets dim, causal and the relative bias fields. */
LBBT_API lbbt_status lbbt_block_stack_create(const char *backbone, const char *source, int n_blocks,
                                    int n_backbone_blocks, const char *prefix, int layer_offset,
                                    lbbt_model *into, lbbt_block_stack **out);
/* Register block i's parameters as lbbt_block_register does, under
 * s->prefix + arch_prefix (the architecture's own, "h.3.") + names, layer s->layer_offset + i. */
LBBT_API lbbt_status lbbt_block_stack_register(lbbt_block_stack *s, int i, const lbbt_block_config *cfg,
                                      const lbbt_block_names *names, const char *arch_prefix);
/* One more parameter of block i that lbbt_block_names cannot name (T5's relative bias
 * table): registered under s->prefix + name, part BLOCK, layer s->layer_offset + i. */
LBBT_API lbbt_status lbbt_block_stack_add_param(lbbt_block_stack *s, int i, const char *name, int no_decay,
                                       int ndim, const int64_t *shape, lbbt_tensor **t);
/* The backbone's own name of a stack parameter (p->name without s->prefix): the checkpoint
 * tensor to read and the name init modes are seeded by. */
LBBT_API const char *lbbt_block_stack_source_name(const lbbt_block_stack *s, const lbbt_param *p);

#endif
