/* Segmenter with a borrowed mask-transformer decoder (lbbt/mask_transformer.h): parameters
 * and their initialisation, the forward pass (every op on the tape) and the per-pixel loss. */
#include "lbbt/mask_transformer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/dataset.h"
#include "lbbt/ops.h"
#include "lbbt/param_init.h"

/* timm's ViT block names (blocks.i.*): the encoder's parameters read like a timm checkpoint. */
static const lbbt_block_names VIT_NAMES = {
    .norm1_w = "norm1.weight", .norm1_b = "norm1.bias", .norm2_w = "norm2.weight", .norm2_b = "norm2.bias",
    .qkv_w = "attn.qkv.weight", .qkv_b = "attn.qkv.bias", .o_w = "attn.proj.weight", .o_b = "attn.proj.bias",
    .fc_w = "mlp.fc1.weight", .fc_b = "mlp.fc1.bias", .proj_w = "mlp.fc2.weight", .proj_b = "mlp.fc2.bias",
};

#define TRUNC_STD 0.02 /* timm's trunc_normal_(std=.02), bounds +-2 (absolute) */

/* Register "mask_transformer.<name>" and initialise it: trunc-normal 0.02 (std > 0), else the
 * constant -std (0 for biases, -1 for norm gains). */
static lbbt_status add(lbbt_model *m, uint64_t seed, const char *name, lbbt_param_part part, int layer,
                       int no_decay, int ndim, const int64_t *shape, double std, lbbt_tensor **t) {
  char full[128];
  snprintf(full, sizeof full, "mask_transformer.%s", name);
  LBBT_TRY(lbbt_model_add_param(m, full, part, layer, no_decay, ndim, shape, t));
  if (std > 0) return lbbt_init_trunc_normal(*t, seed, full, 0.0, std, -2.0, 2.0);
  lbbt_init_constant(*t, (float)-std);
  return LBBT_OK;
}

/* The ViT encoder: patch embedding, positions, blocks (timm's init: trunc-normal 0.02 linear
 * weights, zero biases, unit norm gains), final norm. */
static lbbt_status encoder_create(lbbt_mask_transformer *s, lbbt_model *m, uint64_t seed) {
  const lbbt_mask_transformer_config *c = &s->cfg;
  int64_t E = c->enc_dim, N = (int64_t)s->grid * s->grid;
  int64_t pw[4] = {E, c->in_channels, c->patch, c->patch}, ve[1] = {E}, ps[2] = {N, E};
  LBBT_TRY(add(m, seed, "encoder.patch_embed.proj.weight", LBBT_PART_EMBED, 0, 0, 4, pw, 0, &s->patch_w));
  LBBT_TRY(lbbt_init_kaiming_uniform(s->patch_w, seed, "mask_transformer.encoder.patch_embed.proj.weight", sqrt(5.0),
                                     LBBT_FAN_IN));
  double pb = 1.0 / sqrt((double)c->in_channels * c->patch * c->patch); /* nn.Conv2d's bias bound */
  LBBT_TRY(add(m, seed, "encoder.patch_embed.proj.bias", LBBT_PART_EMBED, 0, 1, 1, ve, 0, &s->patch_b));
  LBBT_TRY(lbbt_init_uniform(s->patch_b, seed, "mask_transformer.encoder.patch_embed.proj.bias", -pb, pb));
  LBBT_TRY(add(m, seed, "encoder.pos_embed", LBBT_PART_EMBED, 0, 1, 2, ps, TRUNC_STD, &s->pos));
  s->enc_blocks = calloc((size_t)c->enc_depth, sizeof *s->enc_blocks);
  if (!s->enc_blocks) return lbbt_fail(LBBT_E_NOMEM, "mask_transformer: out of memory");
  lbbt_block_config bc = {
      .dim = (int)E, .n_heads = c->enc_heads, .n_kv_heads = c->enc_heads, .head_dim = (int)E / c->enc_heads,
      .hidden_dim = c->enc_mlp, .norm = LBBT_NORM_LAYERNORM, .norm_eps = 1e-6f, .mlp = LBBT_MLP_GELU,
      .gelu = LBBT_GELU_ERF, .layout = LBBT_W_OUT_IN, .fused_qkv = 1,
  };
  for (int i = 0; i < c->enc_depth; i++) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "mask_transformer.encoder.blocks.%d.", i);
    int first = m->n_params;
    LBBT_TRY(lbbt_block_register(m, &s->enc_blocks[i], &bc, &VIT_NAMES, prefix, i));
    for (int p = first; p < m->n_params; p++) { /* weights (2-D) trunc-normal; biases 0, gains 1 */
      lbbt_param *q = &m->params[p];
      if (q->t->ndim == 2) LBBT_TRY(lbbt_init_trunc_normal(q->t, seed, q->name, 0.0, TRUNC_STD, -2.0, 2.0));
    }
  }
  LBBT_TRY(add(m, seed, "encoder.norm.weight", LBBT_PART_EMBED, 0, 1, 1, ve, -1.0, &s->enc_norm_w));
  LBBT_TRY(add(m, seed, "encoder.norm.bias", LBBT_PART_EMBED, 0, 1, 1, ve, 0, &s->enc_norm_b));
  return LBBT_OK;
}

/* Segmenter's MaskTransformer tensors besides the blocks. */
static lbbt_status decoder_head_create(lbbt_mask_transformer *s, lbbt_model *m, uint64_t seed) {
  int64_t C = s->dim, E = s->cfg.enc_dim, K = s->cfg.num_classes;
  int64_t dw[2] = {C, E}, vc[1] = {C}, cs[2] = {K, C}, pp[2] = {C, C}, vk[1] = {K};
  LBBT_TRY(add(m, seed, "decoder.proj_dec.weight", LBBT_PART_HEAD, 0, 0, 2, dw, TRUNC_STD, &s->proj_dec_w));
  LBBT_TRY(add(m, seed, "decoder.proj_dec.bias", LBBT_PART_HEAD, 0, 1, 1, vc, 0, &s->proj_dec_b));
  LBBT_TRY(add(m, seed, "decoder.cls_emb", LBBT_PART_HEAD, 0, 1, 2, cs, TRUNC_STD, &s->cls_emb));
  LBBT_TRY(add(m, seed, "decoder.decoder_norm.weight", LBBT_PART_HEAD, 0, 1, 1, vc, -1.0, &s->dec_norm_w));
  LBBT_TRY(add(m, seed, "decoder.decoder_norm.bias", LBBT_PART_HEAD, 0, 1, 1, vc, 0, &s->dec_norm_b));
  /* Segmenter: nn.Parameter(scale * torch.randn(d_model, d_model)), scale = d_model^-0.5 */
  double scale = 1.0 / sqrt((double)C);
  LBBT_TRY(add(m, seed, "decoder.proj_patch", LBBT_PART_HEAD, 0, 0, 2, pp, 0, &s->proj_patch));
  LBBT_TRY(lbbt_init_normal(s->proj_patch, seed, "mask_transformer.decoder.proj_patch", 0.0, scale));
  LBBT_TRY(add(m, seed, "decoder.proj_classes", LBBT_PART_HEAD, 0, 0, 2, pp, 0, &s->proj_classes));
  LBBT_TRY(lbbt_init_normal(s->proj_classes, seed, "mask_transformer.decoder.proj_classes", 0.0, scale));
  LBBT_TRY(add(m, seed, "decoder.mask_norm.weight", LBBT_PART_HEAD, 0, 1, 1, vk, -1.0, &s->mask_norm_w));
  LBBT_TRY(add(m, seed, "decoder.mask_norm.bias", LBBT_PART_HEAD, 0, 1, 1, vk, 0, &s->mask_norm_b));
  LBBT_TRY(lbbt_tensor_create(&s->unit_gain, 1, vc));
  lbbt_init_constant(s->unit_gain, 1.0f);
  return LBBT_OK;
}

void lbbt_mask_transformer_free(lbbt_mask_transformer *s) {
  if (!s) return;
  lbbt_block_stack_free(s->decoder);
  lbbt_tensor_free(s->unit_gain);
  free(s->enc_blocks);
  free(s);
}

lbbt_status lbbt_mask_transformer_create(const lbbt_mask_transformer_config *cfg, lbbt_block_stack *decoder, lbbt_model *m,
                                  uint64_t seed, lbbt_mask_transformer **out) {
  *out = NULL;
  lbbt_mask_transformer_config c = *cfg;
  if (c.enc_dim == 0) c.enc_dim = decoder->dim;
  if (c.in_channels < 1 || c.patch < 1 || c.crop < c.patch || c.crop % c.patch || c.num_classes < 1 ||
      c.enc_dim < 1 || c.enc_depth < 1 || c.enc_heads < 1 || c.enc_dim % c.enc_heads || c.enc_mlp < 1)
    return lbbt_fail(LBBT_E_INPUT, "mask_transformer: want channels >= 1 (%d), crop a multiple of the patch (%d, %d), "
                     "classes >= 1 (%d), an encoder width divisible by its heads (%d, %d), depth and MLP width "
                     ">= 1 (%d, %d)", c.in_channels, c.crop, c.patch, c.num_classes, c.enc_dim, c.enc_heads,
                     c.enc_depth, c.enc_mlp);
  if (decoder->layer_offset != c.enc_depth)
    return lbbt_fail(LBBT_E_INPUT, "mask_transformer: the decoder's blocks must be borrowed at layer offset %d (after "
                     "the encoder's %d blocks), not %d", c.enc_depth, c.enc_depth, decoder->layer_offset);
  lbbt_mask_transformer *s = calloc(1, sizeof *s);
  if (!s) return lbbt_fail(LBBT_E_NOMEM, "mask_transformer: out of memory");
  s->cfg = c;
  s->dim = decoder->dim;
  s->grid = c.crop / c.patch;
  lbbt_status st = encoder_create(s, m, seed);
  if (st == LBBT_OK) st = decoder_head_create(s, m, seed);
  if (st != LBBT_OK) {
    lbbt_mask_transformer_free(s); /* decoder not yet taken over: the caller keeps it */
    return st;
  }
  s->decoder = decoder;
  *out = s;
  return LBBT_OK;
}

/* x [..., C] / |x| over the last dim: RMSNorm with unit gain, then / sqrt(C). */
static lbbt_status l2_normalise(lbbt_tape *t, const lbbt_mask_transformer *s, lbbt_tensor *x, lbbt_tensor **out) {
  lbbt_tensor *r;
  LBBT_TRY(lbbt_rmsnorm(t, x, s->unit_gain, 1e-12f, &r));
  return lbbt_scale(t, r, (float)(1.0 / sqrt((double)s->dim)), out);
}

/* images [B, Cin, S, S] -> encoder tokens [B, N, E]. */
static lbbt_status encode(lbbt_tape *t, const lbbt_mask_transformer *s, lbbt_tensor *images, lbbt_tensor **out) {
  const lbbt_mask_transformer_config *c = &s->cfg;
  const int64_t B = images->shape[0], E = c->enc_dim, N = (int64_t)s->grid * s->grid;
  lbbt_tensor *x;
  LBBT_TRY(lbbt_conv2d(t, images, s->patch_w, s->patch_b, c->patch, 0, &x)); /* [B, E, g, g] */
  LBBT_TRY(lbbt_reshape(t, x, 3, (int64_t[]){B, E, N}, &x));
  LBBT_TRY(lbbt_transpose(t, x, 1, 2, &x)); /* [B, N, E] */
  LBBT_TRY(lbbt_add(t, x, s->pos, &x));
  lbbt_block_inputs in = {.causal = 0};
  for (int i = 0; i < c->enc_depth; i++) {
    in.layer = i;
    LBBT_TRY(lbbt_block_forward(t, &s->enc_blocks[i], x, &in, &x));
  }
  return lbbt_layernorm(t, x, s->enc_norm_w, s->enc_norm_b, 1e-6f, out);
}

lbbt_status lbbt_mask_transformer_forward(lbbt_tape *t, const lbbt_mask_transformer *s, lbbt_tensor *images,
                                   lbbt_tensor **logits) {
  *logits = NULL;
  const lbbt_mask_transformer_config *c = &s->cfg;
  char sb[96];
  if (images->ndim != 4 || images->shape[1] != c->in_channels || images->shape[2] != c->crop ||
      images->shape[3] != c->crop)
    return lbbt_fail(LBBT_E_SHAPE, "mask_transformer: want images [B, %d, %d, %d], got %s", c->in_channels, c->crop,
                     c->crop, lbbt_shape_str(images, sb, sizeof sb));
  const int64_t B = images->shape[0], C = s->dim, K = c->num_classes, N = (int64_t)s->grid * s->grid;
  lbbt_tensor *x, *cls, *zeros, *joined, *patches, *classes, *masks;
  LBBT_TRY(encode(t, s, images, &x));
  LBBT_TRY(lbbt_linear(t, x, s->proj_dec_w, s->proj_dec_b, &x)); /* [B, N, C] */
  /* the class embeddings broadcast over the batch: zeros [B, K, C] + cls_emb [K, C] */
  LBBT_TRY(lbbt_tape_tensor(t, 3, (int64_t[]){B, K, C}, &zeros));
  memset(zeros->data, 0, (size_t)zeros->numel * sizeof(float));
  LBBT_TRY(lbbt_add(t, zeros, s->cls_emb, &cls));
  lbbt_tensor *parts[2] = {x, cls};
  LBBT_TRY(lbbt_concat(t, parts, 2, 1, &joined)); /* [B, N + K, C] */
  lbbt_block_stack_opts o = {.attention = LBBT_ATTN_BIDIRECTIONAL};
  LBBT_TRY(lbbt_block_stack_forward(t, s->decoder, joined, &o, &joined));
  LBBT_TRY(lbbt_layernorm(t, joined, s->dec_norm_w, s->dec_norm_b, 1e-5f, &joined));
  LBBT_TRY(lbbt_slice(t, joined, 1, 0, N, &patches));
  LBBT_TRY(lbbt_slice(t, joined, 1, N, K, &classes));
  LBBT_TRY(lbbt_matmul(t, patches, s->proj_patch, 0, 0, &patches));   /* [B, N, C] */
  LBBT_TRY(lbbt_matmul(t, classes, s->proj_classes, 0, 0, &classes)); /* [B, K, C] */
  LBBT_TRY(l2_normalise(t, s, patches, &patches));
  LBBT_TRY(l2_normalise(t, s, classes, &classes));
  LBBT_TRY(lbbt_matmul(t, patches, classes, 0, 1, &masks)); /* [B, N, K] cosine similarities */
  LBBT_TRY(lbbt_layernorm(t, masks, s->mask_norm_w, s->mask_norm_b, 1e-5f, &masks));
  LBBT_TRY(lbbt_reshape(t, masks, 4, (int64_t[]){B, s->grid, s->grid, K}, &masks));
  LBBT_TRY(lbbt_permute(t, masks, (const int[]){0, 3, 1, 2}, &masks)); /* [B, K, g, g] */
  return lbbt_upsample_bilinear(t, masks, c->crop, c->crop, logits);
}

lbbt_status lbbt_pixel_cross_entropy(lbbt_tape *t, lbbt_tensor *logits, const int32_t *masks,
                                     lbbt_tensor **out) {
  *out = NULL;
  char sb[96];
  if (logits->ndim != 4)
    return lbbt_fail(LBBT_E_SHAPE, "pixel_cross_entropy: want logits [B, K, H, W], got %s",
                     lbbt_shape_str(logits, sb, sizeof sb));
  const int64_t B = logits->shape[0], K = logits->shape[1], HW = logits->shape[2] * logits->shape[3];
  int32_t *targets = lbbt_tape_alloc(t, (size_t)(B * HW) * sizeof *targets);
  if (!targets) return lbbt_fail(LBBT_E_NOMEM, "pixel_cross_entropy: out of memory");
  for (int64_t i = 0; i < B * HW; i++) {
    int32_t v = masks[i];
    if (v == LBBT_MASK_IGNORE) v = -1; /* lbbt_cross_entropy skips negative targets */
    else if (v < 0 || v >= K)
      return lbbt_fail(LBBT_E_INPUT, "pixel_cross_entropy: mask value %d at image %lld pixel %lld is neither "
                       "a class in [0, %lld) nor the ignore label %d", masks[i], (long long)(i / HW),
                       (long long)(i % HW), (long long)K, LBBT_MASK_IGNORE);
    targets[i] = v;
  }
  lbbt_tensor *x;
  LBBT_TRY(lbbt_permute(t, logits, (const int[]){0, 2, 3, 1}, &x)); /* [B, H, W, K] */
  LBBT_TRY(lbbt_reshape(t, x, 2, (int64_t[]){B * HW, K}, &x));
  return lbbt_cross_entropy(t, x, targets, 0.0f, out);
}
