/* The T5 decoder (t5_decoder.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/backbone_kit.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/param_init.h"
#include "t5_decoder.h"

lbbt_status t5_decoder_config_from_json(json_t *cfg, const char *path, t5_decoder_config *out) {
  memset(out, 0, sizeof *out);
  out->dim = lbbt_config_int(cfg, "d_model", 512);
  out->n_layers = lbbt_config_int(cfg, "num_decoder_layers", lbbt_config_int(cfg, "num_layers", 6));
  out->n_heads = lbbt_config_int(cfg, "num_heads", 8);
  out->d_kv = lbbt_config_int(cfg, "d_kv", 64);
  out->d_ff = lbbt_config_int(cfg, "d_ff", 2048);
  out->vocab_size = lbbt_config_int(cfg, "vocab_size", 32128);
  out->num_buckets = lbbt_config_int(cfg, "relative_attention_num_buckets", 32);
  out->max_distance = lbbt_config_int(cfg, "relative_attention_max_distance", 128);
  out->eps = (float)lbbt_config_num(cfg, "layer_norm_epsilon", 1e-6);
  out->init_factor = lbbt_config_num(cfg, "initializer_factor", 1.0);
  const char *ff = json_string_value(json_object_get(cfg, "feed_forward_proj"));
  if (!ff || !strcmp(ff, "relu")) out->gated = 0;
  else if (!strcmp(ff, "gated-gelu")) out->gated = 1;
  else
    return lbbt_fail(LBBT_E_UNSUPPORTED, "%s: feed_forward_proj '%s' is not supported (relu, "
                     "gated-gelu are)", path, ff);
  if (out->dim < 1 || out->n_layers < 1 || out->n_heads < 1 || out->d_kv < 1 || out->d_ff < 1 ||
      out->vocab_size < 1 || out->num_buckets < 2 || out->max_distance < 1)
    return lbbt_fail(LBBT_E_INPUT, "%s: invalid T5 decoder sizes (d_model %d, num_decoder_layers "
                     "%d, num_heads %d, d_kv %d, d_ff %d, vocab_size %d)", path, out->dim,
                     out->n_layers, out->n_heads, out->d_kv, out->d_ff, out->vocab_size);
  return LBBT_OK;
}

/* ---- parameters ----------------------------------------------------------------------- */
static lbbt_status add(lbbt_model *m, const char *name, lbbt_param_part part, int layer,
                       int64_t rows, int64_t cols, lbbt_tensor **t) {
  int64_t shape[2] = {rows, cols};
  return lbbt_model_add_param(m, name, part, layer, lbbt_no_decay_rule(name, cols ? 2 : 1),
                              cols ? 2 : 1, shape, t);
}

/* The names of layer i's tensors, in registration order. */
typedef struct named {
  const char *suffix;
  size_t offset; /* into t5_decoder_layer */
} named;
#define L(field) offsetof(t5_decoder_layer, field)
static const named LAYER_TENSORS[] = {
    {"0.layer_norm.weight", L(sa_norm)},        {"0.SelfAttention.q.weight", L(sa_q)},
    {"0.SelfAttention.k.weight", L(sa_k)},      {"0.SelfAttention.v.weight", L(sa_v)},
    {"0.SelfAttention.o.weight", L(sa_o)},      {"1.layer_norm.weight", L(ca_norm)},
    {"1.EncDecAttention.q.weight", L(ca_q)},    {"1.EncDecAttention.k.weight", L(ca_k)},
    {"1.EncDecAttention.v.weight", L(ca_v)},    {"1.EncDecAttention.o.weight", L(ca_o)},
    {"2.layer_norm.weight", L(ff_norm)},        {"2.DenseReluDense.wi.weight", L(wi)},
    {"2.DenseReluDense.wi_0.weight", L(wi_0)},  {"2.DenseReluDense.wi_1.weight", L(wi_1)},
    {"2.DenseReluDense.wo.weight", L(wo)},
};
#undef L
enum { N_LAYER_TENSORS = sizeof LAYER_TENSORS / sizeof LAYER_TENSORS[0] };

static lbbt_tensor **layer_slot(t5_decoder_layer *l, int k) {
  return (lbbt_tensor **)((char *)l + LAYER_TENSORS[k].offset);
}

/* Shape of layer tensor k ([rows, cols], cols 0 for a vector); rows 0: absent (FFN kind). */
static void layer_shape(const t5_decoder_config *c, int k, int64_t *rows, int64_t *cols) {
  const int64_t C = c->dim, I = (int64_t)c->n_heads * c->d_kv, F = c->d_ff;
  const char *s = LAYER_TENSORS[k].suffix;
  *rows = 0, *cols = 0;
  if (strstr(s, "layer_norm")) *rows = C;
  else if (strstr(s, ".o.weight")) *rows = C, *cols = I;
  else if (strstr(s, "Attention.")) *rows = I, *cols = C;
  else if (strstr(s, ".wo.")) *rows = C, *cols = F;
  else if (strstr(s, ".wi.")) { if (!c->gated) *rows = F, *cols = C; }
  else if (c->gated) *rows = F, *cols = C; /* wi_0, wi_1 */
}

lbbt_status t5_decoder_register(lbbt_model *m, const t5_decoder_config *cfg, int layer_offset,
                                t5_decoder *d) {
  memset(d, 0, sizeof *d);
  d->cfg = *cfg;
  lbbt_param *e = lbbt_model_find_param(m, "shared.weight");
  if (!e || e->t->ndim != 2 || e->t->shape[0] != cfg->vocab_size || e->t->shape[1] != cfg->dim)
    return lbbt_fail(LBBT_E_INPUT, "T5 decoder: the encoder model has no shared.weight [%d, %d] "
                     "to share", cfg->vocab_size, cfg->dim);
  d->embed = e->t;
  d->layers = calloc((size_t)cfg->n_layers, sizeof *d->layers);
  if (!d->layers) return lbbt_fail(LBBT_E_NOMEM, "T5 decoder: out of memory");
  char name[128];
  for (int i = 0; i < cfg->n_layers; i++) {
    for (int k = 0; k < N_LAYER_TENSORS; k++) {
      int64_t rows, cols;
      layer_shape(cfg, k, &rows, &cols);
      if (!rows) continue;
      snprintf(name, sizeof name, "decoder.block.%d.layer.%s", i, LAYER_TENSORS[k].suffix);
      LBBT_TRY(add(m, name, LBBT_PART_BLOCK, layer_offset + i, rows, cols,
                   layer_slot(&d->layers[i], k)));
    }
    if (i == 0)
      LBBT_TRY(add(m, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
                   LBBT_PART_BLOCK, layer_offset, cfg->num_buckets, cfg->n_heads, &d->relbias));
  }
  LBBT_TRY(add(m, "decoder.final_layer_norm.weight", LBBT_PART_HEAD, 0, cfg->dim, 0, &d->final_norm));
  LBBT_TRY(add(m, "lm_head.weight", LBBT_PART_HEAD, 0, cfg->vocab_size, cfg->dim, &d->lm_head));
  return LBBT_OK;
}

static int is_decoder_param(const char *name) {
  return !strncmp(name, "decoder.", 8) || !strcmp(name, "lm_head.weight");
}

static int ends_with(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && !strcmp(s + n - k, suf);
}

lbbt_status t5_decoder_init(lbbt_model *m, const t5_decoder *d, uint64_t seed) {
  const t5_decoder_config *c = &d->cfg;
  const double f = c->init_factor, C = c->dim;
  for (int i = 0; i < m->n_params; i++) {
    const char *n = m->params[i].name;
    lbbt_tensor *t = m->params[i].t;
    if (!is_decoder_param(n)) continue;
    if (ends_with(n, "layer_norm.weight")) {
      lbbt_init_constant(t, (float)f);
      continue;
    }
    double std;
    if (!strcmp(n, "lm_head.weight")) std = f;
    else if (ends_with(n, "Attention.q.weight")) std = f / sqrt(C * c->d_kv);
    else if (ends_with(n, "Attention.k.weight") || ends_with(n, "Attention.v.weight")) std = f / sqrt(C);
    else if (ends_with(n, "Attention.o.weight")) std = f / sqrt((double)c->n_heads * c->d_kv);
    else if (ends_with(n, "relative_attention_bias.weight")) std = f / sqrt(C);
    else if (ends_with(n, ".wo.weight")) std = f / sqrt((double)c->d_ff);
    else std = f / sqrt(C); /* wi, wi_0, wi_1 */
    LBBT_TRY(lbbt_init_normal(t, seed, n, 0.0, std));
  }
  return LBBT_OK;
}

lbbt_status t5_decoder_read(lbbt_model *m, const t5_decoder *d, const lbbt_st *st) {
  (void)d;
  for (int i = 0; i < m->n_params; i++)
    if (is_decoder_param(m->params[i].name))
      LBBT_TRY(lbbt_st_read_into(st, m->params[i].name, m->params[i].t));
  return LBBT_OK;
}

void t5_decoder_free(t5_decoder *d) {
  if (!d) return;
  free(d->layers);
  d->layers = NULL;
}

/* ---- forward -------------------------------------------------------------------------- */
/* [B, T, H*D] -> [B, H, T, D] */
static lbbt_status split_heads(lbbt_tape *t, lbbt_tensor *x, int H, lbbt_tensor **out) {
  int64_t s[4] = {x->shape[0], x->shape[1], H, x->shape[2] / H};
  LBBT_TRY(lbbt_reshape(t, x, 4, s, out));
  return lbbt_transpose(t, *out, 1, 2, out);
}

/* x + o(attention(q(h), k(kv), v(kv))) with h = rms(x); kv = h for self-attention. */
static lbbt_status attention_layer(lbbt_tape *t, const t5_decoder_config *c, lbbt_tensor *x,
                                   lbbt_tensor *norm_w, lbbt_tensor *qw, lbbt_tensor *kw,
                                   lbbt_tensor *vw, lbbt_tensor *ow, lbbt_tensor *memory,
                                   const lbbt_attention_opts *ao, lbbt_tensor **out) {
  lbbt_tensor *h, *q, *k, *v, *a;
  LBBT_TRY(lbbt_rmsnorm(t, x, norm_w, c->eps, &h));
  lbbt_tensor *kv = memory ? memory : h;
  LBBT_TRY(lbbt_linear(t, h, qw, NULL, &q));
  LBBT_TRY(lbbt_linear(t, kv, kw, NULL, &k));
  LBBT_TRY(lbbt_linear(t, kv, vw, NULL, &v));
  LBBT_TRY(split_heads(t, q, c->n_heads, &q));
  LBBT_TRY(split_heads(t, k, c->n_heads, &k));
  LBBT_TRY(split_heads(t, v, c->n_heads, &v));
  LBBT_TRY(lbbt_attention(t, q, k, v, ao, &a)); /* [B, H, T, D] */
  LBBT_TRY(lbbt_transpose(t, a, 1, 2, &a));
  int64_t shape[3] = {x->shape[0], x->shape[1], (int64_t)c->n_heads * c->d_kv};
  LBBT_TRY(lbbt_reshape(t, a, 3, shape, &a));
  return lbbt_linear_residual(t, a, ow, NULL, 0, x, out);
}

static lbbt_status ffn_layer(lbbt_tape *t, const t5_decoder_config *c, const t5_decoder_layer *l,
                             lbbt_tensor *x, lbbt_tensor **out) {
  lbbt_tensor *h, *act;
  LBBT_TRY(lbbt_rmsnorm(t, x, l->ff_norm, c->eps, &h));
  if (c->gated) {
    lbbt_tensor *g, *u;
    LBBT_TRY(lbbt_linear(t, h, l->wi_0, NULL, &g));
    LBBT_TRY(lbbt_gelu(t, g, LBBT_GELU_TANH, &g)); /* gelu_new */
    LBBT_TRY(lbbt_linear(t, h, l->wi_1, NULL, &u));
    LBBT_TRY(lbbt_mul(t, g, u, &act));
  } else {
    LBBT_TRY(lbbt_linear(t, h, l->wi, NULL, &act));
    LBBT_TRY(lbbt_relu(t, act, &act));
  }
  return lbbt_linear_residual(t, act, l->wo, NULL, 0, x, out);
}

lbbt_status t5_decoder_forward(lbbt_tape *t, const t5_decoder *d, const int32_t *ids, int64_t B,
                               int64_t T, lbbt_tensor *memory, const uint8_t *memory_mask,
                               lbbt_tensor **logits) {
  const t5_decoder_config *c = &d->cfg;
  char sb[64];
  if (memory->ndim != 3 || memory->shape[0] != B || memory->shape[2] != c->dim)
    return lbbt_fail(LBBT_E_SHAPE, "T5 decoder: memory %s, expected [%lld, S, %d]",
                     lbbt_shape_str(memory, sb, sizeof sb), (long long)B, c->dim);
  for (int64_t i = 0; i < B * T; i++)
    if (ids[i] < 0 || ids[i] >= c->vocab_size)
      return lbbt_fail(LBBT_E_INPUT, "T5 decoder: token %d at %lld outside the vocabulary of %d",
                       ids[i], (long long)i, c->vocab_size);
  lbbt_tensor *x, *bias;
  LBBT_TRY(lbbt_embedding(t, d->embed, ids, B, T, &x));
  LBBT_TRY(lbbt_relative_position_bias(t, d->relbias, T, T, 0, c->num_buckets, c->max_distance,
                                       &bias));
  lbbt_attention_opts self = {.causal = 1, .scale = 1.0f, .bias = bias};
  lbbt_attention_opts cross = {.causal = 0, .scale = 1.0f, .key_mask = memory_mask};
  for (int i = 0; i < c->n_layers; i++) {
    const t5_decoder_layer *l = &d->layers[i];
    LBBT_TRY(attention_layer(t, c, x, l->sa_norm, l->sa_q, l->sa_k, l->sa_v, l->sa_o, NULL, &self, &x));
    LBBT_TRY(attention_layer(t, c, x, l->ca_norm, l->ca_q, l->ca_k, l->ca_v, l->ca_o, memory, &cross, &x));
    LBBT_TRY(ffn_layer(t, c, l, x, &x));
  }
  LBBT_TRY(lbbt_rmsnorm(t, x, d->final_norm, c->eps, &x));
  return lbbt_linear(t, x, d->lm_head, NULL, logits);
}

lbbt_status t5_decoder_patch_config(const char *dir, const t5_decoder_config *cfg, json_t *extra) {
  char path[LBBT_PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *root = NULL;
  LBBT_TRY(lbbt_json_read_file(path, &root));
  json_object_set_new(root, "architectures", json_pack("[s]", "T5ForConditionalGeneration"));
  json_object_set_new(root, "num_decoder_layers", json_integer(cfg->n_layers));
  json_object_set_new(root, "is_encoder_decoder", json_true());
  json_object_set_new(root, "tie_word_embeddings", json_false());
  json_object_set_new(root, "pad_token_id", json_integer(0));
  json_object_set_new(root, "eos_token_id", json_integer(1));
  json_object_set_new(root, "decoder_start_token_id", json_integer(0));
  if (extra) json_object_update(root, extra);
  lbbt_status st = lbbt_json_write_file(path, root);
  json_decref(root);
  return st;
}
