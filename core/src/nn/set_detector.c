/* The DETR-form detector on borrowed blocks (lbbt/set_detector.h): parameters, the sine
 * positions, the forward pass (every op on the tape) and the loss with auxiliary outputs. */
#include "lbbt/set_detector.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/ops.h"
#include "lbbt/param_init.h"

void lbbt_sine_positions(int h, int w, int C, float *pos) {
  const double two_pi = 2.0 * M_PI, eps = 1e-6;
  int npf = C / 2; /* num_pos_feats: half the channels for rows, half for columns */
  for (int i = 0; i < h; i++)
    for (int j = 0; j < w; j++) {
      float *p = pos + ((int64_t)i * w + j) * C;
      double y = (i + 1) / ((double)h + eps) * two_pi, x = (j + 1) / ((double)w + eps) * two_pi;
      for (int k = 0; k < npf; k++) {
        double dim_t = pow(10000.0, 2.0 * (double)(k / 2) / (double)npf);
        p[k] = (float)(k % 2 ? cos(y / dim_t) : sin(y / dim_t));
        p[npf + k] = (float)(k % 2 ? cos(x / dim_t) : sin(x / dim_t));
      }
    }
}

/* ---- parameters ---------------------------------------------------------------------------- */
typedef struct reg_ctx {
  lbbt_model *m;
  uint64_t seed;
} reg_ctx;

/* Register "detector.<name>" and initialise it: U(-bound, bound) when bound > 0 (PyTorch's
 * default for conv and linear weights and biases: 1/sqrt(fan_in)), else the constant -bound. */
static lbbt_status add(reg_ctx *r, const char *name, lbbt_param_part part, int layer, int no_decay,
                       int ndim, const int64_t *shape, double bound, lbbt_tensor **t) {
  char full[128];
  snprintf(full, sizeof full, "detector.%s", name);
  LBBT_TRY(lbbt_model_add_param(r->m, full, part, layer, no_decay, ndim, shape, t));
  if (bound > 0) return lbbt_init_uniform(*t, r->seed, full, -bound, bound);
  lbbt_init_constant(*t, bound == 0 ? 0.0f : (float)-bound);
  return LBBT_OK;
}

static lbbt_status buffer(int ndim, const int64_t *shape, float value, lbbt_tensor **t) {
  LBBT_TRY(lbbt_tensor_create(t, ndim, shape));
  lbbt_init_constant(*t, value);
  return LBBT_OK;
}

/* Projection p (0 q, 1 k, 2 v, 3 o) of a block's attention as an [out, in] = [C, C] matrix
 * and bias (0 when the block has none).  With grouped-query attention (Hkv < Hq key/value
 * heads) k and v are widened as the block's attention uses them: query head h reads
 * key/value head h / (Hq / Hkv), so output row o = (h, d) copies row (h / rep, d). */
static void block_projection(const lbbt_block *b, int p, int C, float *w, float *bias) {
  const lbbt_block_config *c = &b->cfg;
  int in_out = c->layout == LBBT_W_IN_OUT, D = c->head_dim, rep = c->n_heads / c->n_kv_heads;
  int64_t kv = (int64_t)c->n_kv_heads * D;
  const lbbt_tensor *W, *B;
  int64_t width, off = 0; /* the source's output width and where this projection starts */
  if (p == 3) {
    W = b->o_w, B = b->o_b, width = C;
  } else if (c->fused_qkv) { /* q | k | v side by side: C, kv, kv outputs */
    W = b->qkv_w, B = b->qkv_b, width = C + 2 * kv, off = p == 0 ? 0 : p == 1 ? C : C + kv;
  } else {
    W = p == 0 ? b->q_w : p == 1 ? b->k_w : b->v_w;
    B = p == 0 ? b->q_b : p == 1 ? b->k_b : b->v_b;
    width = p == 0 ? C : kv;
  }
  for (int o = 0; o < C; o++) {
    int64_t src = p == 1 || p == 2 ? (int64_t)(o / D / rep) * D + o % D : o;
    for (int i = 0; i < C; i++)
      w[(int64_t)o * C + i] = in_out ? W->data[(int64_t)i * width + off + src] /* [in, out] */
                                     : W->data[(off + src) * C + i];           /* [out, in] */
    bias[o] = B ? B->data[off + src] : 0.0f;
  }
}

static lbbt_status cross_create(reg_ctx *r, const lbbt_set_detector *d, int i,
                                lbbt_cross_attention *x) {
  int C = d->dim, layer = d->decoder->layer_offset + i;
  int64_t wc[2] = {C, C}, vc[1] = {C};
  char n[96];
  double lin = 1.0 / sqrt((double)C);
  lbbt_tensor **ws[4] = {&x->q_w, &x->k_w, &x->v_w, &x->o_w}, **bs[4] = {&x->q_b, &x->k_b, &x->v_b, &x->o_b};
  static const char *pn[4] = {"q", "k", "v", "o"};
  snprintf(n, sizeof n, "decoder.%d.cross.norm.weight", i);
  LBBT_TRY(add(r, n, LBBT_PART_BLOCK, layer, 1, 1, vc, -1.0, &x->norm_w));
  snprintf(n, sizeof n, "decoder.%d.cross.norm.bias", i);
  LBBT_TRY(add(r, n, LBBT_PART_BLOCK, layer, 1, 1, vc, 0.0, &x->norm_b));
  for (int p = 0; p < 4; p++) {
    snprintf(n, sizeof n, "decoder.%d.cross.%s.weight", i, pn[p]);
    LBBT_TRY(add(r, n, LBBT_PART_BLOCK, layer, 0, 2, wc, lin, ws[p]));
    /* nn.MultiheadAttention: xavier-uniform in-projections, zero biases */
    if (p < 3) {
      char full[128];
      snprintf(full, sizeof full, "detector.%s", n);
      LBBT_TRY(lbbt_init_xavier_uniform(*ws[p], r->seed, full, 1.0));
    }
    snprintf(n, sizeof n, "decoder.%d.cross.%s.bias", i, pn[p]);
    LBBT_TRY(add(r, n, LBBT_PART_BLOCK, layer, 1, 1, vc, 0.0, bs[p]));
    if (d->cfg.cross_from_blocks) block_projection(&d->decoder->blocks[i], p, C, (*ws[p])->data,
                                                   (*bs[p])->data);
  }
  return LBBT_OK;
}

void lbbt_set_detector_free(lbbt_set_detector *d) {
  if (!d) return;
  lbbt_block_stack_free(d->encoder);
  lbbt_block_stack_free(d->decoder);
  lbbt_tensor_free(d->bn1_mean), lbbt_tensor_free(d->bn1_var);
  lbbt_tensor_free(d->bn2_mean), lbbt_tensor_free(d->bn2_var);
  lbbt_tensor_free(d->pos);
  free(d->cross);
  free(d);
}

lbbt_status lbbt_set_detector_create(const lbbt_set_detector_config *cfg, lbbt_block_stack *encoder,
                                     lbbt_block_stack *decoder, lbbt_model *m, uint64_t seed,
                                     lbbt_set_detector **out) {
  *out = NULL;
  lbbt_set_detector *d = calloc(1, sizeof *d);
  if (!d) return lbbt_fail(LBBT_E_NOMEM, "set_detector: out of memory");
  d->cfg = *cfg, d->encoder = encoder, d->decoder = decoder;
  lbbt_status st = LBBT_OK;
  int C = encoder->dim, K = cfg->num_classes, S2 = 2 * cfg->stem_channels;
  d->dim = C;
  if (decoder->dim != C || C % 2 || cfg->cross_heads < 1 || C % cfg->cross_heads ||
      cfg->image_size < 8 || cfg->image_size % 8 || K < 1 || cfg->n_queries < 1 ||
      cfg->stem_channels < 1 || cfg->in_channels < 1) {
    st = lbbt_fail(LBBT_E_INPUT, "set_detector: want an even width shared by encoder (%d) and "
                   "decoder (%d) divisible by cross_heads %d, image size a multiple of 8 (%d), and "
                   "classes (%d), queries (%d), stem channels (%d) >= 1", C, decoder->dim,
                   cfg->cross_heads, cfg->image_size, K, cfg->n_queries, cfg->stem_channels);
    goto fail;
  }
  if (cfg->cross_from_blocks)
    for (int i = 0; i < decoder->n_blocks; i++) {
      const lbbt_block_config *b = &decoder->blocks[i].cfg;
      if (b->n_heads * b->head_dim != C || b->n_kv_heads < 1 || b->n_heads % b->n_kv_heads) {
        st = lbbt_fail(LBBT_E_INPUT, "set_detector: cross-attention copied from %s block %d needs "
                       "query heads x head size = the width %d (it has %d x %d, %d key/value "
                       "heads)", decoder->backbone, i, C, b->n_heads, b->head_dim, b->n_kv_heads);
        goto fail;
      }
    }
  d->feat_side = cfg->image_size / 8;
  reg_ctx r = {m, seed};
  int64_t c1[4] = {cfg->stem_channels, cfg->in_channels, 3, 3}, c2[4] = {S2, cfg->stem_channels, 3, 3};
  int64_t v1[1] = {cfg->stem_channels}, v2[1] = {S2}, pw[4] = {C, S2, 1, 1}, vc[1] = {C};
  LBBT_TRY_GOTO(st, add(&r, "stem.conv1.weight", LBBT_PART_EMBED, 0, 0, 4, c1,
                        1.0 / sqrt(9.0 * cfg->in_channels), &d->conv1_w), fail);
  LBBT_TRY_GOTO(st, add(&r, "stem.bn1.weight", LBBT_PART_EMBED, 0, 1, 1, v1, -1.0, &d->bn1_w), fail);
  LBBT_TRY_GOTO(st, add(&r, "stem.bn1.bias", LBBT_PART_EMBED, 0, 1, 1, v1, 0.0, &d->bn1_b), fail);
  LBBT_TRY_GOTO(st, add(&r, "stem.conv2.weight", LBBT_PART_EMBED, 0, 0, 4, c2,
                        1.0 / sqrt(9.0 * cfg->stem_channels), &d->conv2_w), fail);
  LBBT_TRY_GOTO(st, add(&r, "stem.bn2.weight", LBBT_PART_EMBED, 0, 1, 1, v2, -1.0, &d->bn2_w), fail);
  LBBT_TRY_GOTO(st, add(&r, "stem.bn2.bias", LBBT_PART_EMBED, 0, 1, 1, v2, 0.0, &d->bn2_b), fail);
  /* running statistics: buffers, not parameters (no optimizer touches them) */
  LBBT_TRY_GOTO(st, buffer(1, v1, 0.0f, &d->bn1_mean), fail);
  LBBT_TRY_GOTO(st, buffer(1, v1, 1.0f, &d->bn1_var), fail);
  LBBT_TRY_GOTO(st, buffer(1, v2, 0.0f, &d->bn2_mean), fail);
  LBBT_TRY_GOTO(st, buffer(1, v2, 1.0f, &d->bn2_var), fail);
  double pb = 1.0 / sqrt((double)S2);
  LBBT_TRY_GOTO(st, add(&r, "input_proj.weight", LBBT_PART_EMBED, 0, 0, 4, pw, pb, &d->proj_w), fail);
  LBBT_TRY_GOTO(st, add(&r, "input_proj.bias", LBBT_PART_EMBED, 0, 1, 1, vc, pb, &d->proj_b), fail);
  int64_t qs[2] = {cfg->n_queries, C};
  LBBT_TRY_GOTO(st, add(&r, "query_embed.weight", LBBT_PART_EMBED, 0, 1, 2, qs, 0.0, &d->queries), fail);
  LBBT_TRY_GOTO(st, lbbt_init_normal(d->queries, seed, "detector.query_embed.weight", 0.0, 1.0), fail);
  int64_t hw = (int64_t)d->feat_side * d->feat_side, ps[2] = {hw, C};
  LBBT_TRY_GOTO(st, lbbt_tensor_create(&d->pos, 2, ps), fail);
  lbbt_sine_positions(d->feat_side, d->feat_side, C, d->pos->data);
  d->cross = calloc((size_t)decoder->n_blocks, sizeof *d->cross);
  if (!d->cross) {
    st = lbbt_fail(LBBT_E_NOMEM, "set_detector: out of memory");
    goto fail;
  }
  for (int i = 0; i < decoder->n_blocks; i++) LBBT_TRY_GOTO(st, cross_create(&r, d, i, &d->cross[i]), fail);
  LBBT_TRY_GOTO(st, add(&r, "decoder.norm.weight", LBBT_PART_HEAD, 0, 1, 1, vc, -1.0, &d->norm_w), fail);
  LBBT_TRY_GOTO(st, add(&r, "decoder.norm.bias", LBBT_PART_HEAD, 0, 1, 1, vc, 0.0, &d->norm_b), fail);
  double lin = 1.0 / sqrt((double)C);
  int64_t cw[2] = {K + 1, C}, cb[1] = {K + 1};
  LBBT_TRY_GOTO(st, add(&r, "class_embed.weight", LBBT_PART_HEAD, 0, 0, 2, cw, lin, &d->cls_w), fail);
  LBBT_TRY_GOTO(st, add(&r, "class_embed.bias", LBBT_PART_HEAD, 0, 1, 1, cb, lin, &d->cls_b), fail);
  for (int l = 0; l < 3; l++) {
    int64_t bw[2] = {l == 2 ? 4 : C, C}, bb[1] = {l == 2 ? 4 : C};
    char n[64];
    snprintf(n, sizeof n, "bbox_embed.layers.%d.weight", l);
    LBBT_TRY_GOTO(st, add(&r, n, LBBT_PART_HEAD, 0, 0, 2, bw, lin, &d->box_w[l]), fail);
    snprintf(n, sizeof n, "bbox_embed.layers.%d.bias", l);
    LBBT_TRY_GOTO(st, add(&r, n, LBBT_PART_HEAD, 0, 1, 1, bb, lin, &d->box_b[l]), fail);
  }
  *out = d;
  return LBBT_OK;
fail:
  d->encoder = d->decoder = NULL; /* the caller keeps its stacks on failure */
  lbbt_set_detector_free(d);
  return st;
}

/* ---- forward ---------------------------------------------------------------------------- */
/* [B, T, H*D] <-> [B, H, T, D] */
static lbbt_status heads_split(lbbt_tape *t, lbbt_tensor *x, int H, lbbt_tensor **out) {
  int64_t s[4] = {x->shape[0], x->shape[1], H, x->shape[2] / H};
  LBBT_TRY(lbbt_reshape(t, x, 4, s, out));
  return lbbt_transpose(t, *out, 1, 2, out);
}

/* x + o(attention(q(norm(x)), k(memory + pos), v(memory))) */
static lbbt_status cross_forward(lbbt_tape *t, const lbbt_cross_attention *c, int H, lbbt_tensor *x,
                                 lbbt_tensor *mem, lbbt_tensor *mem_pos, lbbt_tensor **out) {
  lbbt_tensor *h, *q, *k, *v, *a;
  LBBT_TRY(lbbt_layernorm(t, x, c->norm_w, c->norm_b, 1e-5f, &h));
  LBBT_TRY(lbbt_linear(t, h, c->q_w, c->q_b, &q));
  LBBT_TRY(lbbt_linear(t, mem_pos, c->k_w, c->k_b, &k));
  LBBT_TRY(lbbt_linear(t, mem, c->v_w, c->v_b, &v));
  LBBT_TRY(heads_split(t, q, H, &q));
  LBBT_TRY(heads_split(t, k, H, &k));
  LBBT_TRY(heads_split(t, v, H, &v));
  lbbt_attention_opts o = {0};
  LBBT_TRY(lbbt_attention(t, q, k, v, &o, &a)); /* [B, H, Q, D] */
  LBBT_TRY(lbbt_transpose(t, a, 1, 2, &a));
  LBBT_TRY(lbbt_reshape(t, a, 3, x->shape, &a));
  return lbbt_linear_residual(t, a, c->o_w, c->o_b, 0, x, out);
}

static lbbt_status heads_forward(lbbt_tape *t, const lbbt_set_detector *d, lbbt_tensor *x,
                                 lbbt_tensor **logits, lbbt_tensor **boxes) {
  lbbt_tensor *n, *h;
  LBBT_TRY(lbbt_layernorm(t, x, d->norm_w, d->norm_b, 1e-5f, &n));
  LBBT_TRY(lbbt_linear(t, n, d->cls_w, d->cls_b, logits));
  h = n;
  for (int l = 0; l < 3; l++) {
    LBBT_TRY(lbbt_linear(t, h, d->box_w[l], d->box_b[l], &h));
    if (l < 2) LBBT_TRY(lbbt_relu(t, h, &h));
  }
  return lbbt_sigmoid(t, h, boxes);
}

lbbt_status lbbt_set_detector_forward(lbbt_tape *t, const lbbt_set_detector *d,
                                      lbbt_tensor *images, lbbt_tensor **logits,
                                      lbbt_tensor **boxes) {
  const lbbt_set_detector_config *c = &d->cfg;
  if (images->ndim != 4 || images->shape[1] != c->in_channels ||
      images->shape[2] != c->image_size || images->shape[3] != c->image_size) {
    char s[64];
    return lbbt_fail(LBBT_E_SHAPE, "set_detector_forward: images %s, expected [B, %d, %d, %d]",
                     lbbt_shape_str(images, s, sizeof s), c->in_channels, c->image_size,
                     c->image_size);
  }
  int64_t B = images->shape[0], C = d->dim, HW = (int64_t)d->feat_side * d->feat_side;
  lbbt_tensor *x, *mem, *mem_pos;
  /* stem: [B, Cin, S, S] -> [B, 2 stem, S/8, S/8] -> [B, C, S/8, S/8] */
  LBBT_TRY(lbbt_conv2d(t, images, d->conv1_w, NULL, 2, 1, &x));
  LBBT_TRY(lbbt_batchnorm2d(t, x, d->bn1_w, d->bn1_b, d->bn1_mean, d->bn1_var, 0.1f, 1e-5f, &x));
  LBBT_TRY(lbbt_relu(t, x, &x));
  LBBT_TRY(lbbt_conv2d(t, x, d->conv2_w, NULL, 2, 1, &x));
  LBBT_TRY(lbbt_batchnorm2d(t, x, d->bn2_w, d->bn2_b, d->bn2_mean, d->bn2_var, 0.1f, 1e-5f, &x));
  LBBT_TRY(lbbt_relu(t, x, &x));
  LBBT_TRY(lbbt_maxpool2d(t, x, 2, 2, 0, &x));
  LBBT_TRY(lbbt_conv2d(t, x, d->proj_w, d->proj_b, 1, 0, &x));
  /* tokens [B, HW, C] + positions, through the encoder */
  LBBT_TRY(lbbt_reshape(t, x, 3, (int64_t[]){B, C, HW}, &x));
  LBBT_TRY(lbbt_transpose(t, x, 1, 2, &x));
  LBBT_TRY(lbbt_add(t, x, d->pos, &x));
  lbbt_block_stack_opts eo = {.attention = LBBT_ATTN_BIDIRECTIONAL};
  LBBT_TRY(lbbt_block_stack_forward(t, d->encoder, x, &eo, &mem));
  LBBT_TRY(lbbt_add(t, mem, d->pos, &mem_pos));
  /* decoder: queries broadcast over the batch, then block + cross-attention per layer */
  int64_t qs[3] = {B, c->n_queries, C};
  lbbt_tensor *zeros;
  LBBT_TRY(lbbt_tape_tensor(t, 3, qs, &zeros));
  memset(zeros->data, 0, (size_t)zeros->numel * sizeof(float));
  LBBT_TRY(lbbt_add(t, zeros, d->queries, &x));
  lbbt_tensor *relbias = NULL; /* T5 blocks: their block 0's relative bias, bidirectional */
  if (d->decoder->relbias_table)
    LBBT_TRY(lbbt_relative_position_bias(t, d->decoder->relbias_table, c->n_queries, c->n_queries,
                                         1, d->decoder->relbias_buckets,
                                         d->decoder->relbias_max_distance, &relbias));
  for (int i = 0; i < d->decoder->n_blocks; i++) {
    lbbt_block_inputs bin;
    memset(&bin, 0, sizeof bin);
    bin.attn_bias = relbias;
    bin.layer = d->decoder->layer_offset + i;
    LBBT_TRY(lbbt_block_forward(t, &d->decoder->blocks[i], x, &bin, &x));
    LBBT_TRY(cross_forward(t, &d->cross[i], c->cross_heads, x, mem, mem_pos, &x));
    LBBT_TRY(heads_forward(t, d, x, &logits[i], &boxes[i]));
  }
  return LBBT_OK;
}

lbbt_status lbbt_set_detector_loss(lbbt_tape *t, const lbbt_set_detector *d, lbbt_tensor **logits,
                                   lbbt_tensor **boxes, const lbbt_set_target *targets,
                                   const lbbt_set_loss_config *cfg, int aux,
                                   lbbt_set_loss_parts *parts, lbbt_tensor **loss) {
  int L = d->decoder->n_blocks;
  lbbt_tensor *total = NULL;
  for (int i = aux ? 0 : L - 1; i < L; i++) {
    lbbt_tensor *l;
    LBBT_TRY(lbbt_set_loss(t, logits[i], boxes[i], targets, cfg, NULL, i == L - 1 ? parts : NULL,
                           &l));
    if (total)
      LBBT_TRY(lbbt_add(t, total, l, &total));
    else
      total = l;
  }
  *loss = total;
  return LBBT_OK;
}
