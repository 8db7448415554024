/* The vision wrapper of Section 4.1: images -> new patch embedding -> (class token,
 * positions) -> the backbone's blocks -> its final norm -> pooling -> new linear head. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/block_stack.h"
#include "lbbt/checked.h"
#include "lbbt/nn.h"
#include "lbbt/param_init.h"

lbbt_status lbbt_vision_register(lbbt_model *m, lbbt_vision *v, int dim, uint64_t seed) {
  const lbbt_vision_config *c = &v->cfg;
  if (c->patch_size < 1 || c->image_size % c->patch_size)
    return lbbt_fail(LBBT_E_INPUT, "vision: image size %d is not a multiple of patch size %d",
                     c->image_size, c->patch_size);
  if (c->num_classes < 1) return lbbt_fail(LBBT_E_INPUT, "vision: %d classes", c->num_classes);
  int g = c->image_size / c->patch_size, grid = 0;
  /* image_size comes from a dataset's header: g * g must not wrap (one token per patch) */
  if (c->image_size < 1 || !lbbt_mul_int(g, g, &grid) || grid > INT32_MAX - 1)
    return lbbt_fail(LBBT_E_INPUT,
                     "vision: image size %d with patch size %d gives more patches than lbbt can "
                     "index; is the dataset's header damaged?",
                     c->image_size, c->patch_size);
  v->n_tokens = grid + (c->pool == LBBT_POOL_CLS ? 1 : 0);
  int64_t pw[4] = {dim, c->in_channels, c->patch_size, c->patch_size};
  int64_t pb[1] = {dim};
  LBBT_TRY(lbbt_model_add_param(m, "vision.patch_embed.weight", LBBT_PART_EMBED, 0, 0, 4, pw, &v->patch_w));
  LBBT_TRY(lbbt_model_add_param(m, "vision.patch_embed.bias", LBBT_PART_EMBED, 0, 1, 1, pb, &v->patch_b));
  /* PyTorch Conv2d's default: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
  double bound = 1.0 / sqrt((double)c->in_channels * c->patch_size * c->patch_size);
  lbbt_init_uniform(v->patch_w, seed, "vision.patch_embed.weight", -bound, bound);
  lbbt_init_uniform(v->patch_b, seed, "vision.patch_embed.bias", -bound, bound);
  if (c->learned_positions) {
    int64_t ps[2] = {v->n_tokens, dim};
    LBBT_TRY(lbbt_model_add_param(m, "vision.pos_embed", LBBT_PART_EMBED, 0, 1, 2, ps, &v->pos));
    lbbt_init_trunc_normal(v->pos, seed, "vision.pos_embed", 0.0, 0.02, -2.0, 2.0);
  }
  if (c->pool == LBBT_POOL_CLS) {
    int64_t cs[2] = {1, dim};
    LBBT_TRY(lbbt_model_add_param(m, "vision.cls_token", LBBT_PART_EMBED, 0, 1, 2, cs, &v->cls));
    lbbt_init_trunc_normal(v->cls, seed, "vision.cls_token", 0.0, 0.02, -2.0, 2.0);
  }
  int64_t hw[2] = {c->num_classes, dim}, hb[1] = {c->num_classes};
  LBBT_TRY(lbbt_model_add_param(m, "vision.head.weight", LBBT_PART_HEAD, 0, 0, 2, hw, &v->head_w));
  LBBT_TRY(lbbt_model_add_param(m, "vision.head.bias", LBBT_PART_HEAD, 0, 1, 1, hb, &v->head_b));
  lbbt_init_trunc_normal(v->head_w, seed, "vision.head.weight", 0.0, 0.02, -2.0, 2.0);
  m->num_classes = c->num_classes;
  m->dim = dim;
  return LBBT_OK;
}

lbbt_status lbbt_vision_forward_tokens(lbbt_model *m, lbbt_vision *v, lbbt_tape *t, lbbt_tensor *images,
                                       const int32_t *visible, int64_t K, lbbt_tensor **tokens) {
  const lbbt_vision_config *c = &v->cfg;
  if (images->ndim != 4 || images->shape[1] != c->in_channels ||
      images->shape[2] != c->image_size || images->shape[3] != c->image_size) {
    char s[64];
    return lbbt_fail(LBBT_E_SHAPE, "vision_forward: images %s, expected [B, %d, %d, %d]",
                     lbbt_shape_str(images, s, sizeof s), c->in_channels, c->image_size,
                     c->image_size);
  }
  int64_t B = images->shape[0], C = m->dim;
  lbbt_tensor *x;
  /* The patch embedding (a conv with stride = kernel = P, no padding) as patchify + linear:
   * [B, Cin, g*P, g*P] -> [B, Cin, g, P, g, P] -> [B, g, g, Cin, P, P] -> [B, N, Cin*P*P],
   * then @ W^T [Cin*P*P, C] + b with W [C, Cin, P, P] read as [C, Cin*P*P].  One GEMM with
   * the bias fused, producing [B, N, C] directly (a direct conv at Cin = 1 is slow, and
   * its [B, C, N] output needs a transpose). */
  const int64_t P = c->patch_size, g = c->image_size / P, N = g * g, Cin = c->in_channels;
  lbbt_tensor *w2, *patches;
  LBBT_TRY(lbbt_reshape(t, images, 6, (int64_t[]){B, Cin, g, P, g, P}, &patches));
  LBBT_TRY(lbbt_permute(t, patches, (const int[]){0, 2, 4, 1, 3, 5}, &patches));
  LBBT_TRY(lbbt_reshape(t, patches, 3, (int64_t[]){B, N, Cin * P * P}, &patches));
  LBBT_TRY(lbbt_reshape(t, v->patch_w, 2, (int64_t[]){C, Cin * P * P}, &w2));
  LBBT_TRY(lbbt_linear(t, patches, w2, v->patch_b, &x));
  if (v->cls) {
    /* broadcast the class token to [B, 1, C] through an add onto zeros */
    lbbt_tensor *z, *cls_b;
    int64_t zs[3] = {B, 1, C};
    LBBT_TRY(lbbt_tape_tensor(t, 3, zs, &z));
    memset(z->data, 0, (size_t)z->numel * sizeof(float));
    LBBT_TRY(lbbt_add(t, z, v->cls, &cls_b));
    lbbt_tensor *parts[2] = {cls_b, x};
    LBBT_TRY(lbbt_concat(t, parts, 2, 1, &x));
  }
  if (v->pos) LBBT_TRY(lbbt_add(t, x, v->pos, &x));
  if (visible) { /* keep the visible patches (the class token, first, always stays) */
    const int64_t off = v->cls ? 1 : 0;
    if (K < 1 || K > N)
      return lbbt_fail(LBBT_E_INPUT, "vision_forward: %lld visible patches of %lld", (long long)K, (long long)N);
    int32_t *idx = lbbt_tape_alloc(t, (size_t)(B * (K + off)) * sizeof *idx);
    if (!idx) return lbbt_fail(LBBT_E_NOMEM, "vision_forward: out of arena memory");
    for (int64_t b = 0; b < B; b++) {
      if (off) idx[b * (K + off)] = 0;
      for (int64_t k = 0; k < K; k++) {
        if (visible[b * K + k] < 0 || visible[b * K + k] >= N)
          return lbbt_fail(LBBT_E_INPUT, "vision_forward: visible patch %d of image %lld outside [0, %lld)",
                           visible[b * K + k], (long long)b, (long long)N);
        idx[b * (K + off) + off + k] = (int32_t)(visible[b * K + k] + off);
      }
    }
    LBBT_TRY(lbbt_gather_rows(t, x, idx, K + off, &x));
  }
  /* The blocks run as a block stack, so a borrowed stack (block_stack.h) computes exactly
   * what the vision model computes. */
  lbbt_block_stack stack = {0};
  stack.model = m;
  stack.blocks = v->blocks;
  stack.n_blocks = stack.n_backbone_blocks = v->n_blocks;
  stack.dim = (int)C;
  stack.causal = c->causal;
  stack.relbias_table = v->relbias_table;
  stack.relbias_buckets = v->relbias_buckets;
  stack.relbias_max_distance = v->relbias_max_distance;
  snprintf(stack.backbone, sizeof stack.backbone, "%s", m->arch);
  lbbt_block_stack_opts so = {0};
  so.drop_path = m->drop_path; /* applied only while the tape is training */
  so.hook = m->hook;
  so.hook_user = m->hook_user;
  LBBT_TRY(lbbt_block_stack_forward(t, &stack, x, &so, &x));
  if (v->final_norm == LBBT_NORM_LAYERNORM)
    LBBT_TRY(lbbt_layernorm(t, x, v->final_norm_w, v->final_norm_b, v->final_norm_eps, &x));
  else
    LBBT_TRY(lbbt_rmsnorm(t, x, v->final_norm_w, v->final_norm_eps, &x));
  *tokens = x;
  return LBBT_OK;
}

lbbt_status lbbt_vision_forward(lbbt_model *m, lbbt_vision *v, lbbt_tape *t, lbbt_tensor *images,
                                lbbt_tensor **features, lbbt_tensor **logits) {
  const lbbt_vision_config *c = &v->cfg;
  const int64_t B = images->shape[0], C = m->dim;
  lbbt_tensor *x;
  LBBT_TRY(lbbt_vision_forward_tokens(m, v, t, images, NULL, 0, &x));
  /* every token after the final norm, [B, T, C] (T = N, or 1 + N with the class token
   * first): for tasks that pool their own way (retrieval's `pool: last`) */
  if (m->hook) m->hook(m->hook_user, "tokens", v->n_blocks, x);
  lbbt_tensor *f;
  if (c->pool == LBBT_POOL_CLS) {
    LBBT_TRY(lbbt_slice(t, x, 1, 0, 1, &f));
    int64_t s2[2] = {B, C};
    LBBT_TRY(lbbt_reshape(t, f, 2, s2, &f));
  } else {
    LBBT_TRY(lbbt_mean(t, x, 1, 0, &f));
  }
  if (m->hook) m->hook(m->hook_user, "features", v->n_blocks, f);
  if (features) *features = f;
  if (logits) LBBT_TRY(lbbt_linear(t, f, v->head_w, v->head_b, logits));
  return LBBT_OK;
}

void lbbt_vision_destroy(lbbt_vision *v) {
  if (!v) return;
  free(v->blocks);
  v->blocks = NULL;
}
