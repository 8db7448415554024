/* A ViT-style classifier of GPT-2 blocks built from lbbt's own pieces, without a backbone
 * plugin: the vision wrapper (lbbt_vision_register: patch embedding, learned positions,
 * head), GPT-2 blocks (lbbt_block_register with Hugging Face GPT-2 names "h.<i>.ln_1.weight",
 * fused c_attn in Conv1D layout [in, out], LayerNorm eps 1e-5, GELU tanh, MLP 4x) and the final
 * LayerNorm "ln_f".  Shared by the parity test, the Fashion-MNIST training test and
 * bench/bench_train.c, so the three run the same model.
 *
 * The model's ops table has forward_vision (so lbbt_evaluate and the tasks' helpers work); its
 * impl points at out->v, so a built vit_gpt2 must not be moved (copy) afterwards.
 * Ownership: vit_gpt2_build fills *out; vit_gpt2_free releases the model and the blocks. */
#ifndef LBBT_VIT_GPT2_H
#define LBBT_VIT_GPT2_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/nn.h"
#include "lbbt/param_init.h"

typedef struct vit_gpt2_config {
  int image_size, in_channels, patch_size, num_classes;
  int dim, n_heads, n_blocks, mlp_ratio;
  float norm_eps;
  int causal; /* 0: bidirectional (ViT) */
} vit_gpt2_config;

typedef struct vit_gpt2 {
  lbbt_model *m;
  lbbt_vision v;
} vit_gpt2;

static const lbbt_block_names VIT_GPT2_NAMES = {
    .norm1_w = "ln_1.weight", .norm1_b = "ln_1.bias",
    .norm2_w = "ln_2.weight", .norm2_b = "ln_2.bias",
    .qkv_w = "attn.c_attn.weight", .qkv_b = "attn.c_attn.bias",
    .o_w = "attn.c_proj.weight", .o_b = "attn.c_proj.bias",
    .fc_w = "mlp.c_fc.weight", .fc_b = "mlp.c_fc.bias",
    .proj_w = "mlp.c_proj.weight", .proj_b = "mlp.c_proj.bias",
};

static inline lbbt_status vit_gpt2_forward_vision(lbbt_model *m, lbbt_tape *t,
                                                  lbbt_tensor *images, lbbt_tensor **features,
                                                  lbbt_tensor **logits) {
  return lbbt_vision_forward(m, (lbbt_vision *)m->impl, t, images, features, logits);
}
static const lbbt_model_ops VIT_GPT2_OPS = {.version = LBBT_MODEL_OPS_VERSION,
                                            .forward_vision = vit_gpt2_forward_vision};

static inline void vit_gpt2_free(vit_gpt2 *g) {
  lbbt_vision_destroy(&g->v);
  lbbt_model_free(g->m);
  g->m = NULL;
}

/* Register every parameter.  The wrapper's own tensors (patch, positions, head) get the
 * vision wrapper's initialisation from `seed`; blocks and ln_f get GPT-2's
 * (lbbt_init_gpt2).  On failure *out is released. */
static inline lbbt_status vit_gpt2_build(const vit_gpt2_config *c, uint64_t seed, vit_gpt2 *out) {
  memset(out, 0, sizeof *out);
  lbbt_status s = lbbt_model_create(&out->m, &VIT_GPT2_OPS, "gpt2-vision");
  if (s != LBBT_OK) return s;
  out->m->impl = &out->v;
  out->m->n_layers = c->n_blocks;
  lbbt_vision *v = &out->v;
  v->cfg.in_channels = c->in_channels;
  v->cfg.image_size = c->image_size;
  v->cfg.patch_size = c->patch_size;
  v->cfg.num_classes = c->num_classes;
  v->cfg.pool = LBBT_POOL_MEAN;
  v->cfg.causal = c->causal;
  v->cfg.learned_positions = 1;
  lbbt_block_config bc = {0};
  bc.dim = c->dim;
  bc.n_heads = bc.n_kv_heads = c->n_heads;
  bc.head_dim = c->n_heads > 0 ? c->dim / c->n_heads : 0;
  bc.hidden_dim = c->mlp_ratio * c->dim;
  bc.norm = LBBT_NORM_LAYERNORM;
  bc.norm_eps = c->norm_eps;
  bc.mlp = LBBT_MLP_GELU;
  bc.gelu = LBBT_GELU_TANH;
  bc.layout = LBBT_W_IN_OUT;
  bc.fused_qkv = 1;
  const int64_t cshape[1] = {c->dim};
  if (c->n_heads < 1 || c->dim % c->n_heads) {
    s = lbbt_fail(LBBT_E_INPUT, "vit_gpt2: dim %d is not a multiple of %d heads", c->dim, c->n_heads);
    goto fail;
  }
  s = lbbt_vision_register(out->m, v, c->dim, seed);
  if (s != LBBT_OK) goto fail;
  v->blocks = calloc((size_t)c->n_blocks, sizeof *v->blocks);
  if (!v->blocks) {
    s = lbbt_fail(LBBT_E_NOMEM, "vit_gpt2: %d blocks", c->n_blocks);
    goto fail;
  }
  v->n_blocks = c->n_blocks;
  for (int i = 0; i < c->n_blocks && s == LBBT_OK; i++) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "h.%d.", i);
    s = lbbt_block_register(out->m, &v->blocks[i], &bc, &VIT_GPT2_NAMES, prefix, i);
  }
  if (s == LBBT_OK)
    s = lbbt_model_add_param(out->m, "ln_f.weight", LBBT_PART_HEAD, 0, 1, 1, cshape,
                             &v->final_norm_w);
  if (s == LBBT_OK)
    s = lbbt_model_add_param(out->m, "ln_f.bias", LBBT_PART_HEAD, 0, 1, 1, cshape,
                             &v->final_norm_b);
  if (s != LBBT_OK) goto fail;
  v->final_norm = LBBT_NORM_LAYERNORM;
  v->final_norm_eps = c->norm_eps;
  for (int i = 0; i < out->m->n_params && s == LBBT_OK; i++) {
    lbbt_param *p = &out->m->params[i];
    if (!strncmp(p->name, "vision.", 7)) continue; /* initialised by the wrapper */
    s = lbbt_init_gpt2(p->t, seed, p->name, c->n_blocks);
  }
  if (s == LBBT_OK) return LBBT_OK;
fail:
  vit_gpt2_free(out);
  return s;
}

#endif
