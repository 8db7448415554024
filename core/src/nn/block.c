/* The pre-norm transformer block shared by every backbone; see nn.h.
 *
 *   x [B,T,C] -> h = norm1(x) -> q,k,v -> (q/k-norm) -> (RoPE) -> attention -> o-proj
 *             -> x + drop_path(.) -> h2 = norm2(x) -> MLP -> x + drop_path(.)
 * Backward comes from the tape: each op here records its own.  Without drop path the
 * residual adds ride on the output projections (lbbt_linear_residual). */
#include <stdio.h>
#include <string.h>

#include "lbbt/nn.h"

lbbt_status lbbt_dense(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *b,
                       lbbt_weight_layout layout, lbbt_tensor **out) {
  if (layout == LBBT_W_OUT_IN) return lbbt_linear(t, x, w, b, out);
  return lbbt_linear_in_out(t, x, w, b, out); /* Conv1D: y = x @ W[I,O] + b */
}

/* A branch's output projection; with a residual, residual + dense(x) in one matmul. */
static lbbt_status dense_out(lbbt_tape *t, lbbt_tensor *x, lbbt_tensor *w, lbbt_tensor *b,
                             lbbt_weight_layout layout, lbbt_tensor *residual, lbbt_tensor **out) {
  if (!residual) return lbbt_dense(t, x, w, b, layout, out);
  return lbbt_linear_residual(t, x, w, b, layout != LBBT_W_OUT_IN, residual, out);
}

static lbbt_status norm(lbbt_tape *t, lbbt_norm_kind kind, lbbt_tensor *x, lbbt_tensor *w,
                        lbbt_tensor *b, float eps, lbbt_tensor **out) {
  if (kind == LBBT_NORM_LAYERNORM) return lbbt_layernorm(t, x, w, b, eps, out);
  return lbbt_rmsnorm(t, x, w, eps, out);
}

/* [B, T, H*D] -> [B, H, T, D] */
static lbbt_status split_heads(lbbt_tape *t, lbbt_tensor *x, int H, int D, lbbt_tensor **out) {
  lbbt_tensor *r;
  int64_t shape[4] = {x->shape[0], x->shape[1], H, D};
  LBBT_TRY(lbbt_reshape(t, x, 4, shape, &r));
  return lbbt_transpose(t, r, 1, 2, out);
}

/* The attention branch of h; plus `residual` when given (see lbbt_block_forward). */
static lbbt_status attention_branch(lbbt_tape *t, const lbbt_block *blk, lbbt_tensor *h,
                                    const lbbt_block_inputs *in, lbbt_tensor *residual,
                                    lbbt_tensor **out) {
  const lbbt_block_config *c = &blk->cfg;
  int64_t B = h->shape[0], T = h->shape[1];
  int Hq = c->n_heads, Hkv = c->n_kv_heads, D = c->head_dim;
  lbbt_tensor *q, *k, *v;
  lbbt_attention_opts ao = {in->causal, c->attn_scale, in->attn_bias, in->key_mask};
  lbbt_tensor *a;
  if (c->fused_qkv && !c->qk_norm && !c->use_rope) {
    /* GPT-2, ViT: attention reads q, k, v in place from the fused projection and writes
     * [B, T, Hq*D] directly - no slices, head splits or merges. */
    lbbt_tensor *qkv;
    LBBT_TRY(lbbt_dense(t, h, blk->qkv_w, blk->qkv_b, c->layout, &qkv));
    LBBT_TRY(lbbt_attention_qkv(t, qkv, Hq, Hkv, &ao, &a));
    return dense_out(t, a, blk->o_w, blk->o_b, c->layout, residual, out);
  }
  if (c->fused_qkv) {
    lbbt_tensor *qkv;
    LBBT_TRY(lbbt_dense(t, h, blk->qkv_w, blk->qkv_b, c->layout, &qkv));
    LBBT_TRY(lbbt_slice(t, qkv, 2, 0, (int64_t)Hq * D, &q));
    LBBT_TRY(lbbt_slice(t, qkv, 2, (int64_t)Hq * D, (int64_t)Hkv * D, &k));
    LBBT_TRY(lbbt_slice(t, qkv, 2, (int64_t)(Hq + Hkv) * D, (int64_t)Hkv * D, &v));
  } else {
    LBBT_TRY(lbbt_dense(t, h, blk->q_w, blk->q_b, c->layout, &q));
    LBBT_TRY(lbbt_dense(t, h, blk->k_w, blk->k_b, c->layout, &k));
    LBBT_TRY(lbbt_dense(t, h, blk->v_w, blk->v_b, c->layout, &v));
  }
  LBBT_TRY(split_heads(t, q, Hq, D, &q));
  LBBT_TRY(split_heads(t, k, Hkv, D, &k));
  LBBT_TRY(split_heads(t, v, Hkv, D, &v));
  if (c->qk_norm) {
    LBBT_TRY(lbbt_rmsnorm(t, q, blk->q_norm_w, c->norm_eps, &q));
    LBBT_TRY(lbbt_rmsnorm(t, k, blk->k_norm_w, c->norm_eps, &k));
  }
  if (c->use_rope) {
    LBBT_TRY(lbbt_rope(t, q, &c->rope, in->positions, &q));
    LBBT_TRY(lbbt_rope(t, k, &c->rope, in->positions, &k));
  }
  LBBT_TRY(lbbt_attention(t, q, k, v, &ao, &a));
  LBBT_TRY(lbbt_transpose(t, a, 1, 2, &a)); /* [B, T, H, D] */
  int64_t shape[3] = {B, T, (int64_t)Hq * D};
  LBBT_TRY(lbbt_reshape(t, a, 3, shape, &a));
  return dense_out(t, a, blk->o_w, blk->o_b, c->layout, residual, out);
}

/* The MLP branch of h; plus `residual` when given. */
static lbbt_status mlp_branch(lbbt_tape *t, const lbbt_block *blk, lbbt_tensor *h,
                              const lbbt_block_inputs *in, lbbt_tensor *residual,
                              lbbt_tensor **out) {
  const lbbt_block_config *c = &blk->cfg;
  lbbt_tensor *act;
  if (c->mlp == LBBT_MLP_GELU || c->mlp == LBBT_MLP_RELU) {
    lbbt_tensor *fc;
    LBBT_TRY(lbbt_dense(t, h, blk->fc_w, blk->fc_b, c->layout, &fc));
    if (c->mlp == LBBT_MLP_GELU)
      LBBT_TRY(lbbt_gelu(t, fc, c->gelu, &act));
    else
      LBBT_TRY(lbbt_relu(t, fc, &act));
    if (in->hook) in->hook(in->hook_user, "mlp.act", in->layer, act);
    return dense_out(t, act, blk->proj_w, blk->proj_b, c->layout, residual, out);
  }
  lbbt_tensor *gate, *up, *g;
  LBBT_TRY(lbbt_dense(t, h, blk->gate_w, NULL, c->layout, &gate));
  LBBT_TRY(lbbt_dense(t, h, blk->up_w, NULL, c->layout, &up));
  if (c->mlp == LBBT_MLP_SWIGLU)
    LBBT_TRY(lbbt_silu(t, gate, &g));
  else
    LBBT_TRY(lbbt_gelu(t, gate, c->gelu, &g));
  if (in->hook) in->hook(in->hook_user, "mlp.act", in->layer, g);
  LBBT_TRY(lbbt_mul(t, g, up, &act));
  return dense_out(t, act, blk->down_w, NULL, c->layout, residual, out);
}

lbbt_status lbbt_block_forward(lbbt_tape *t, const lbbt_block *blk, lbbt_tensor *x,
                               const lbbt_block_inputs *in, lbbt_tensor **out) {
  const lbbt_block_config *c = &blk->cfg;
  if (x->ndim != 3 || x->shape[2] != c->dim) {
    char s[64];
    return lbbt_fail(LBBT_E_SHAPE, "block_forward: input %s, expected [B, T, %d]",
                     lbbt_shape_str(x, s, sizeof s), c->dim);
  }
  lbbt_tensor *h, *a, *m;
  /* Without drop path (or in eval mode, where it is the identity), each residual add
   * happens inside the branch's output matmul. */
  if (in->drop_path <= 0 || !lbbt_tape_training(t)) {
    LBBT_TRY(norm(t, c->norm, x, blk->norm1_w, blk->norm1_b, c->norm_eps, &h));
    LBBT_TRY(attention_branch(t, blk, h, in, x, &x));
    LBBT_TRY(norm(t, c->norm, x, blk->norm2_w, blk->norm2_b, c->norm_eps, &h));
    return mlp_branch(t, blk, h, in, x, out);
  }
  LBBT_TRY(norm(t, c->norm, x, blk->norm1_w, blk->norm1_b, c->norm_eps, &h));
  LBBT_TRY(attention_branch(t, blk, h, in, NULL, &a));
  LBBT_TRY(lbbt_drop_path(t, a, in->drop_path, &a));
  LBBT_TRY(lbbt_add(t, x, a, &x));
  LBBT_TRY(norm(t, c->norm, x, blk->norm2_w, blk->norm2_b, c->norm_eps, &h));
  LBBT_TRY(mlp_branch(t, blk, h, in, NULL, &m));
  LBBT_TRY(lbbt_drop_path(t, m, in->drop_path, &m));
  return lbbt_add(t, x, m, out);
}

/* Register one tensor if the architecture names it. */
static lbbt_status reg(lbbt_model *m, const char *prefix, const char *name, int layer, int no_decay,
                       int ndim, int64_t d0, int64_t d1, lbbt_tensor **slot) {
  *slot = NULL;
  if (!name) return LBBT_OK;
  char full[128];
  snprintf(full, sizeof full, "%s%s", prefix, name);
  int64_t shape[2] = {d0, d1};
  return lbbt_model_add_param(m, full, LBBT_PART_BLOCK, layer, no_decay, ndim, shape, slot);
}

/* A dense weight [out, in] in nn.Linear layout, [in, out] in Conv1D layout. */
static lbbt_status reg_w(lbbt_model *m, const lbbt_block_config *c, const char *prefix,
                         const char *name, int layer, int64_t in, int64_t out, lbbt_tensor **slot) {
  if (c->layout == LBBT_W_OUT_IN) return reg(m, prefix, name, layer, 0, 2, out, in, slot);
  return reg(m, prefix, name, layer, 0, 2, in, out, slot);
}

lbbt_status lbbt_block_register(lbbt_model *m, lbbt_block *b, const lbbt_block_config *c,
                                const lbbt_block_names *n, const char *prefix, int L) {
  memset(b, 0, sizeof *b);
  b->cfg = *c;
  int64_t C = c->dim, D = c->head_dim, Hq = c->n_heads, Hkv = c->n_kv_heads, F = c->hidden_dim;
  if (C < 1 || D < 1 || Hq < 1 || Hkv < 1 || Hq % Hkv || F < 1)
    return lbbt_fail(LBBT_E_INPUT,
                     "block %d: invalid sizes dim %lld, heads %lld, kv heads %lld, head dim %lld, "
                     "hidden %lld",
                     L, (long long)C, (long long)Hq, (long long)Hkv, (long long)D, (long long)F);
  LBBT_TRY(reg(m, prefix, n->norm1_w, L, 1, 1, C, 0, &b->norm1_w));
  LBBT_TRY(reg(m, prefix, n->norm1_b, L, 1, 1, C, 0, &b->norm1_b));
  LBBT_TRY(reg(m, prefix, n->norm2_w, L, 1, 1, C, 0, &b->norm2_w));
  LBBT_TRY(reg(m, prefix, n->norm2_b, L, 1, 1, C, 0, &b->norm2_b));
  if (c->fused_qkv) {
    LBBT_TRY(reg_w(m, c, prefix, n->qkv_w, L, C, (Hq + 2 * Hkv) * D, &b->qkv_w));
    LBBT_TRY(reg(m, prefix, n->qkv_b, L, 1, 1, (Hq + 2 * Hkv) * D, 0, &b->qkv_b));
  } else {
    LBBT_TRY(reg_w(m, c, prefix, n->q_w, L, C, Hq * D, &b->q_w));
    LBBT_TRY(reg(m, prefix, n->q_b, L, 1, 1, Hq * D, 0, &b->q_b));
    LBBT_TRY(reg_w(m, c, prefix, n->k_w, L, C, Hkv * D, &b->k_w));
    LBBT_TRY(reg(m, prefix, n->k_b, L, 1, 1, Hkv * D, 0, &b->k_b));
    LBBT_TRY(reg_w(m, c, prefix, n->v_w, L, C, Hkv * D, &b->v_w));
    LBBT_TRY(reg(m, prefix, n->v_b, L, 1, 1, Hkv * D, 0, &b->v_b));
  }
  LBBT_TRY(reg_w(m, c, prefix, n->o_w, L, Hq * D, C, &b->o_w));
  LBBT_TRY(reg(m, prefix, n->o_b, L, 1, 1, C, 0, &b->o_b));
  if (c->qk_norm) {
    LBBT_TRY(reg(m, prefix, n->q_norm_w, L, 1, 1, D, 0, &b->q_norm_w));
    LBBT_TRY(reg(m, prefix, n->k_norm_w, L, 1, 1, D, 0, &b->k_norm_w));
  }
  if (c->mlp == LBBT_MLP_GELU || c->mlp == LBBT_MLP_RELU) {
    LBBT_TRY(reg_w(m, c, prefix, n->fc_w, L, C, F, &b->fc_w));
    LBBT_TRY(reg(m, prefix, n->fc_b, L, 1, 1, F, 0, &b->fc_b));
    LBBT_TRY(reg_w(m, c, prefix, n->proj_w, L, F, C, &b->proj_w));
    LBBT_TRY(reg(m, prefix, n->proj_b, L, 1, 1, C, 0, &b->proj_b));
  } else {
    LBBT_TRY(reg_w(m, c, prefix, n->gate_w, L, C, F, &b->gate_w));
    LBBT_TRY(reg_w(m, c, prefix, n->up_w, L, C, F, &b->up_w));
    LBBT_TRY(reg_w(m, c, prefix, n->down_w, L, F, C, &b->down_w));
  }
  /* Norm weights start at 1 (the architecture's own init sets the rest). */
  lbbt_tensor *ones[] = {b->norm1_w, b->norm2_w, b->q_norm_w, b->k_norm_w};
  for (size_t i = 0; i < sizeof ones / sizeof ones[0]; i++)
    if (ones[i])
      for (int64_t j = 0; j < ones[i]->numel; j++) ones[i]->data[j] = 1.0f;
  return LBBT_OK;
}
