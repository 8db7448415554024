/* Backbone plugin `chronos_t5`: the T5 (v1.1) ENCODER that Chronos-T5 (Ansari et al. 2024,
 * amazon/chronos-t5-*) is built on, as Hugging Face's T5EncoderModel / T5Stack computes it:
 *   - T5LayerNorm: RMS norm without mean subtraction or bias, eps layer_norm_epsilon (1e-6);
 *   - pre-norm blocks: x + o(attn(norm(x))), x + ffn(norm(x)); no biases anywhere;
 *   - attention scores are NOT scaled by 1/sqrt(d_kv) (T5 folds that into the q init);
 *   - relative position bias: a table [num_buckets, H] in block 0 only
 *     ("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"), computed once
 *     per forward with bidirectional buckets (max_distance 128) and added in every layer;
 *   - FFN per config feed_forward_proj: "relu" -> wo(relu(wi x)) (T5DenseActDense: what every
 *     published Chronos-T5 config uses), "gated-gelu" -> wo(gelu_new(wi_0 x) * wi_1 x)
 *     (T5DenseGatedActDense: T5 v1.1, flan-t5);
 *   - token embedding "shared.weight" ("encoder.embed_tokens.weight" accepted on reading);
 *     "encoder.final_layer_norm.weight" after the last block.
 * The decoder of a T5ForConditionalGeneration checkpoint (decoder.*, lm_head) is ignored:
 * the paper uses the encoder's blocks as the backbone.  Language mode returns the encoder's
 * hidden states; there is no LM head (logits NULL).
 *
 * Scratch models: backbone.arch chronos-t5-{tiny,mini,small,base,large} (the published
 * configs), options d_model, d_kv, d_ff, num_layers, num_heads, vocab_size,
 * relative_attention_num_buckets, relative_attention_max_distance, feed_forward_proj and
 * initializer_factor.  Initialisation: T5PreTrainedModel._init_weights with factor =
 * initializer_factor: shared N(0, f), q N(0, f (d_model d_kv)^-1/2), k and v N(0, f d_model^-1/2),
 * o N(0, f (H d_kv)^-1/2), relative bias N(0, f d_model^-1/2), wi / wi_0 / wi_1
 * N(0, f d_model^-1/2), wo N(0, f d_ff^-1/2), norms f.  The factor is the config's own: the
 * published Chronos-T5 configs (and so the presets here) say 0.05, T5's default is 1.0.
 *
 * Vision mode: new patch embedding, the encoder's blocks with their relative position bias
 * (no learned positions), final norm, pooling, new head; bidirectional attention unless
 * backbone.attention says causal (then the buckets are unidirectional, as T5's decoder).
 * Borrowed blocks (create_blocks, lbbt/block_stack.h): the first N "encoder.block.<i>."
 * blocks with block 0's relative bias table, built by the same code as create_vision's. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/block_stack.h"
#include "lbbt/checkpoint.h"
#include "lbbt/init_mode.h"
#include "lbbt/nn.h"
#include "lbbt/optim.h"
#include "lbbt/param_init.h"
#include "lbbt/plugin.h"

#define RELBIAS_NAME "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"

typedef enum { FFN_RELU, FFN_GATED_GELU } t5_ffn;

typedef struct t5_arch {
  int d_model, d_kv, d_ff, num_layers, num_heads, vocab_size;
  int num_buckets, max_distance;
  float eps;
  t5_ffn ffn;
  double init_factor;
} t5_arch;

typedef struct t5_src {
  lbbt_st *st;
  json_t *cfg;   /* borrowed from st, or owned when read beside a file */
  int cfg_owned;
} t5_src;

typedef struct t5_impl {
  t5_arch a;
  lbbt_vision v;            /* vision mode; v.blocks points into stack */
  lbbt_block_stack *stack;  /* the blocks and block 0's relative bias, in both modes
                             * (parameters owned by the model) */
  lbbt_tensor *shared, *final_norm_w;
} t5_impl;

/* ---- architecture ---------------------------------------------------------------------- */
static const char *ffn_name(t5_ffn f) { return f == FFN_RELU ? "relu" : "gated-gelu"; }

/* "relu" or "gated-gelu" -> *out; 0 for anything else. */
static int ffn_from_name(const char *s, t5_ffn *out) {
  if (!strcmp(s, "relu")) *out = FFN_RELU;
  else if (!strcmp(s, "gated-gelu")) *out = FFN_GATED_GELU;
  else return 0;
  return 1;
}

static void arch_defaults(t5_arch *a) {
  memset(a, 0, sizeof *a);
  a->num_buckets = 32;
  a->max_distance = 128;
  a->eps = 1e-6f;
  a->ffn = FFN_RELU;
  a->init_factor = 1.0;
  a->vocab_size = 4096;
}

static lbbt_status arch_check(const t5_arch *a, const char *where) {
  if (a->d_model < 1 || a->d_kv < 1 || a->d_ff < 1 || a->num_layers < 1 || a->num_heads < 1 ||
      a->vocab_size < 1 || a->num_buckets < 2 || a->max_distance < 1 || !(a->init_factor > 0))
    return lbbt_fail(LBBT_E_INPUT,
                     "%s: invalid T5 encoder (d_model %d, d_kv %d, d_ff %d, num_layers %d, "
                     "num_heads %d, vocab_size %d, buckets %d, max_distance %d, "
                     "initializer_factor %g): every size must be positive, buckets >= 2",
                     where, a->d_model, a->d_kv, a->d_ff, a->num_layers, a->num_heads,
                     a->vocab_size, a->num_buckets, a->max_distance, a->init_factor);
  return LBBT_OK;
}

static int json_int(json_t *o, const char *k, int def) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (int)json_integer_value(v) : def;
}
static double json_num(json_t *o, const char *k, double def) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : def;
}

static lbbt_status arch_from_config(json_t *cfg, const char *path, t5_arch *a) {
  arch_defaults(a);
  const char *mt = json_string_value(json_object_get(cfg, "model_type"));
  if (!mt || strcmp(mt, "t5"))
    return lbbt_fail(LBBT_E_INPUT, "%s: config.json model_type '%s' is not t5", path,
                     mt ? mt : "(missing)");
  a->d_model = json_int(cfg, "d_model", 512);
  a->d_kv = json_int(cfg, "d_kv", 64);
  a->d_ff = json_int(cfg, "d_ff", 2048);
  a->num_layers = json_int(cfg, "num_layers", 6);
  a->num_heads = json_int(cfg, "num_heads", 8);
  a->vocab_size = json_int(cfg, "vocab_size", 32128);
  a->num_buckets = json_int(cfg, "relative_attention_num_buckets", 32);
  a->max_distance = json_int(cfg, "relative_attention_max_distance", 128);
  a->eps = (float)json_num(cfg, "layer_norm_epsilon", 1e-6);
  a->init_factor = json_num(cfg, "initializer_factor", 1.0);
  const char *ff = json_string_value(json_object_get(cfg, "feed_forward_proj"));
  if (!ffn_from_name(ff ? ff : "relu", &a->ffn))
    return lbbt_fail(LBBT_E_UNSUPPORTED,
                     "%s: feed_forward_proj '%s' is not supported (relu, gated-gelu are)", path, ff);
  return arch_check(a, path);
}

/* The published amazon/chronos-t5-* configs (all: relu FFN, d_kv 64, vocab 4096,
 * initializer_factor 0.05). */
static lbbt_status arch_from_preset(const char *name, t5_arch *a) {
  static const struct { const char *name; int d_model, d_ff, layers, heads; } P[] = {
      {"chronos-t5-tiny", 256, 1024, 4, 4},   {"chronos-t5-mini", 384, 1536, 4, 8},
      {"chronos-t5-small", 512, 2048, 6, 8},  {"chronos-t5-base", 768, 3072, 12, 12},
      {"chronos-t5-large", 1024, 4096, 24, 16},
  };
  arch_defaults(a);
  for (size_t i = 0; i < sizeof P / sizeof P[0]; i++)
    if (!strcmp(name, P[i].name)) {
      a->d_model = P[i].d_model;
      a->d_ff = P[i].d_ff;
      a->num_layers = P[i].layers;
      a->num_heads = P[i].heads;
      a->d_kv = 64;
      a->init_factor = 0.05;
      return LBBT_OK;
    }
  return lbbt_fail(LBBT_E_INPUT,
                   "chronos_t5: unknown arch preset '%s' (known: chronos-t5-tiny, -mini, -small, "
                   "-base, -large; any size via backbone options d_model, d_kv, d_ff, num_layers, "
                   "num_heads, ...)",
                   name);
}

/* ---- backbone options ------------------------------------------------------------------ */
static const char *const OPTION_KEYS =
    "d_model, d_kv, d_ff, num_layers, num_heads, vocab_size, relative_attention_num_buckets, "
    "relative_attention_max_distance, feed_forward_proj, initializer_factor";

static int *int_field(t5_arch *a, const char *key) {
  if (!strcmp(key, "d_model")) return &a->d_model;
  if (!strcmp(key, "d_kv")) return &a->d_kv;
  if (!strcmp(key, "d_ff")) return &a->d_ff;
  if (!strcmp(key, "num_layers")) return &a->num_layers;
  if (!strcmp(key, "num_heads")) return &a->num_heads;
  if (!strcmp(key, "vocab_size")) return &a->vocab_size;
  if (!strcmp(key, "relative_attention_num_buckets")) return &a->num_buckets;
  if (!strcmp(key, "relative_attention_max_distance")) return &a->max_distance;
  return NULL;
}

/* Apply the options to a (a scratch architecture); *sizes_given says whether any option
 * other than initializer_factor was present. */
static lbbt_status options_apply(const lbbt_backbone_spec *spec, t5_arch *a, int *sizes_given) {
  *sizes_given = 0;
  for (int i = 0; i < spec->n_options; i++) {
    const lbbt_option *o = &spec->options[i];
    int *field = int_field(a, o->key);
    char *end = NULL;
    if (field) {
      long v = strtol(o->value, &end, 10);
      if (!*o->value || *end || v < 1 || v > (1L << 30))
        return lbbt_fail(LBBT_E_INPUT,
                         "line %d:%d: chronos_t5 option %s: '%s' is not a positive integer",
                         o->line, o->col, o->key, o->value);
      *field = (int)v;
      *sizes_given = 1;
    } else if (!strcmp(o->key, "feed_forward_proj")) {
      if (!ffn_from_name(o->value, &a->ffn))
        return lbbt_fail(LBBT_E_INPUT,
                         "line %d:%d: chronos_t5 option feed_forward_proj: '%s' is not supported "
                         "(relu, gated-gelu are)",
                         o->line, o->col, o->value);
      *sizes_given = 1;
    } else if (!strcmp(o->key, "initializer_factor")) {
      double v = strtod(o->value, &end);
      if (!*o->value || *end || !(v > 0) || !isfinite(v))
        return lbbt_fail(LBBT_E_INPUT,
                         "line %d:%d: chronos_t5 option initializer_factor: '%s' is not a "
                         "positive number",
                         o->line, o->col, o->value);
      a->init_factor = v;
    } else {
      return lbbt_fail(LBBT_E_INPUT, "line %d:%d: unknown chronos_t5 option '%s' (known: %s)",
                       o->line, o->col, o->key, OPTION_KEYS);
    }
  }
  return LBBT_OK;
}

/* ---- weight sources -------------------------------------------------------------------- */
static int is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void src_close(t5_src *s) {
  if (s->cfg_owned) json_decref(s->cfg);
  lbbt_st_close(s->st);
  memset(s, 0, sizeof *s);
}

/* config.json from the checkpoint folder, or beside a file that was opened directly. */
static lbbt_status find_config(const char *path, t5_src *s) {
  s->cfg = lbbt_st_config(s->st);
  if (s->cfg) return LBBT_OK;
  if (is_dir(path)) return lbbt_fail(LBBT_E_INPUT, "%s: no config.json in this folder", path);
  char cfg_path[LBBT_PATH_MAX + 16];
  const char *slash = strrchr(path, '/');
  if (slash)
    snprintf(cfg_path, sizeof cfg_path, "%.*s/config.json", (int)(slash - path), path);
  else
    snprintf(cfg_path, sizeof cfg_path, "config.json");
  struct stat sb;
  if (stat(cfg_path, &sb) != 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: no config.json beside the checkpoint (looked for %s)",
                     path, cfg_path);
  LBBT_TRY(lbbt_json_read_config(cfg_path, &s->cfg));
  s->cfg_owned = 1;
  return LBBT_OK;
}

static lbbt_status src_open(const char *path, t5_src *s, t5_arch *a) {
  memset(s, 0, sizeof *s);
  LBBT_TRY(lbbt_st_open(path, &s->st));
  lbbt_status st = find_config(path, s);
  if (st == LBBT_OK) st = arch_from_config(s->cfg, path, a);
  if (st == LBBT_OK && !lbbt_st_find(s->st, "encoder.final_layer_norm.weight"))
    st = lbbt_fail(LBBT_E_INPUT, "%s: a t5 config but no encoder.final_layer_norm.weight: not a "
                   "T5 encoder checkpoint", path);
  if (st != LBBT_OK) src_close(s);
  return st;
}

static lbbt_status src_read(t5_src *s, const char *name, lbbt_tensor *t) {
  /* T5 checkpoints store the token embedding once, as shared.weight; an encoder-only export
   * may call it encoder.embed_tokens.weight. */
  if (!strcmp(name, "shared.weight") && !lbbt_st_find(s->st, name) &&
      lbbt_st_find(s->st, "encoder.embed_tokens.weight"))
    name = "encoder.embed_tokens.weight";
  return lbbt_st_read_into(s->st, name, t);
}

/* ---- parameters ------------------------------------------------------------------------ */
static lbbt_block_config block_config(const t5_arch *a) {
  lbbt_block_config c = {0};
  c.dim = a->d_model;
  c.n_heads = a->num_heads;
  c.n_kv_heads = a->num_heads;
  c.head_dim = a->d_kv;
  c.hidden_dim = a->d_ff;
  c.norm = LBBT_NORM_RMSNORM;
  c.norm_eps = a->eps;
  c.mlp = a->ffn == FFN_RELU ? LBBT_MLP_RELU : LBBT_MLP_GATED_GELU;
  c.gelu = LBBT_GELU_TANH; /* "gated-gelu" means gelu_new in transformers' T5Config */
  c.layout = LBBT_W_OUT_IN;
  c.attn_scale = 1.0f;     /* no 1/sqrt(d_kv) */
  return c;
}

static lbbt_block_names block_names(const t5_arch *a) {
  lbbt_block_names n = {0};
  n.norm1_w = "0.layer_norm.weight";
  n.q_w = "0.SelfAttention.q.weight";
  n.k_w = "0.SelfAttention.k.weight";
  n.v_w = "0.SelfAttention.v.weight";
  n.o_w = "0.SelfAttention.o.weight";
  n.norm2_w = "1.layer_norm.weight";
  if (a->ffn == FFN_RELU) {
    n.fc_w = "1.DenseReluDense.wi.weight";
    n.proj_w = "1.DenseReluDense.wo.weight";
  } else {
    n.gate_w = "1.DenseReluDense.wi_0.weight";
    n.up_w = "1.DenseReluDense.wi_1.weight";
    n.down_w = "1.DenseReluDense.wo.weight";
  }
  return n;
}

static int has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && !strcmp(s + n - k, suf);
}

/* T5PreTrainedModel._init_weights (see the header comment). */
static lbbt_status scratch_init(lbbt_tensor *t, const char *name, uint64_t seed, void *user) {
  const t5_arch *a = user;
  double f = a->init_factor, dm = a->d_model;
  if (has_suffix(name, "layer_norm.weight")) {
    lbbt_init_constant(t, (float)f);
    return LBBT_OK;
  }
  double std;
  if (!strcmp(name, "shared.weight"))
    std = f;
  else if (has_suffix(name, "SelfAttention.q.weight"))
    std = f / sqrt(dm * a->d_kv);
  else if (has_suffix(name, "SelfAttention.k.weight") || has_suffix(name, "SelfAttention.v.weight"))
    std = f / sqrt(dm);
  else if (has_suffix(name, "SelfAttention.o.weight"))
    std = f / sqrt((double)a->num_heads * a->d_kv);
  else if (has_suffix(name, "relative_attention_bias.weight"))
    std = f / sqrt(dm);
  else if (has_suffix(name, "DenseReluDense.wi.weight") || has_suffix(name, "DenseReluDense.wi_0.weight") ||
           has_suffix(name, "DenseReluDense.wi_1.weight"))
    std = f / sqrt(dm);
  else if (has_suffix(name, "DenseReluDense.wo.weight"))
    std = f / sqrt((double)a->d_ff);
  else
    return lbbt_fail(LBBT_E_INTERNAL, "chronos_t5: no scratch initialisation for '%s'", name);
  return lbbt_init_normal(t, seed, name, 0.0, std);
}

/* The first n blocks (with block 0's relative bias table) as a block stack whose parameters
 * go into `into` (NULL: a model of the stack's own) under prefix + "encoder.block.<i>.layer.",
 * layer offset + i.  The one place T5 blocks are registered: vision, language and borrowed
 * blocks all come from here. */
static lbbt_status add_blocks(lbbt_model *into, const t5_arch *a, int n, const char *prefix,
                              int layer_offset, const char *source, int causal,
                              lbbt_block_stack **out) {
  lbbt_block_stack *s = NULL;
  LBBT_TRY(lbbt_block_stack_create("chronos_t5", source, n, a->num_layers, prefix, layer_offset,
                                   into, &s));
  lbbt_block_config bc = block_config(a);
  lbbt_block_names bn = block_names(a);
  lbbt_status st = LBBT_OK;
  for (int i = 0; i < n && st == LBBT_OK; i++) {
    char arch_prefix[48];
    snprintf(arch_prefix, sizeof arch_prefix, "encoder.block.%d.layer.", i);
    st = lbbt_block_stack_register(s, i, &bc, &bn, arch_prefix);
    if (st == LBBT_OK && i == 0) {
      /* a position table, excluded from weight decay like vision.pos_embed */
      int64_t rs[2] = {a->num_buckets, a->num_heads};
      st = lbbt_block_stack_add_param(s, 0, RELBIAS_NAME, 1, 2, rs, &s->relbias_table);
    }
  }
  if (st != LBBT_OK) {
    lbbt_block_stack_free(s);
    return st;
  }
  s->relbias_buckets = a->num_buckets;
  s->relbias_max_distance = a->max_distance;
  s->dim = a->d_model;
  s->causal = causal;
  *out = s;
  return LBBT_OK;
}

static lbbt_status add_final_norm(lbbt_model *m, const t5_arch *a, lbbt_tensor **w) {
  int64_t ns[1] = {a->d_model};
  return lbbt_model_add_param(m, "encoder.final_layer_norm.weight", LBBT_PART_HEAD, 0, 1, 1, ns, w);
}

static void set_model_sizes(lbbt_model *m, const t5_arch *a) {
  m->n_layers = a->num_layers;
  m->dim = a->d_model;
  m->vocab_size = a->vocab_size;
}

/* Parameters m->params[from, to): read from the source and apply the init mode, or the
 * scratch initialisation.  Each is read and seeded by its name without `prefix` (a
 * borrower's), so borrowed blocks get the values create_vision gives. */
static lbbt_status fill_params(lbbt_model *m, int from, int to, const char *prefix, t5_arch *a,
                               t5_src *src, lbbt_init_mode mode, uint64_t seed) {
  size_t skip = prefix ? strlen(prefix) : 0;
  for (int i = from; i < to; i++) {
    lbbt_param *p = &m->params[i];
    const char *name = p->name + skip;
    if (mode != LBBT_INIT_SCRATCH) {
      LBBT_TRY(src_read(src, name, p->t));
      LBBT_TRY(lbbt_apply_init_mode(p->t, name, mode, seed, scratch_init, a));
    } else {
      LBBT_TRY(scratch_init(p->t, name, seed, a));
    }
  }
  return LBBT_OK;
}

/* ---- model ops ------------------------------------------------------------------------- */
static lbbt_status vision_forward(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images,
                                  lbbt_tensor **features, lbbt_tensor **logits) {
  t5_impl *im = m->impl;
  return lbbt_vision_forward(m, &im->v, t, images, features, logits);
}

static lbbt_status language_forward(lbbt_model *m, lbbt_tape *t, const int32_t *ids, int64_t B,
                                    int64_t T, lbbt_tensor **hidden, lbbt_tensor **logits) {
  t5_impl *im = m->impl;
  const t5_arch *a = &im->a;
  if (logits) *logits = NULL; /* an encoder: no LM head */
  if (!im->shared)
    return lbbt_fail(LBBT_E_INPUT, "chronos_t5: this model was built for vision; no token embedding");
  lbbt_tensor *x;
  LBBT_TRY(lbbt_embedding(t, im->shared, ids, B, T, &x));
  /* the stack computes block 0's relative bias once and adds it in every block (T5Stack) */
  lbbt_block_stack_opts so = {0};
  so.attention = LBBT_ATTN_BIDIRECTIONAL;
  so.hook = m->hook;
  so.hook_user = m->hook_user;
  LBBT_TRY(lbbt_block_stack_forward(t, im->stack, x, &so, &x));
  LBBT_TRY(lbbt_rmsnorm(t, x, im->final_norm_w, a->eps, &x));
  if (hidden) *hidden = x;
  return LBBT_OK;
}

/* Hugging Face T5EncoderModel layout: the parameters under their names plus config.json
 * (vision models keep their new "vision." tensors beside them). */
static lbbt_status save(lbbt_model *m, const char *dir) {
  t5_impl *im = m->impl;
  const t5_arch *a = &im->a;
  if (mkdir(dir, 0755) != 0 && !is_dir(dir))
    return lbbt_fail(LBBT_E_IO, "chronos_t5 save: cannot create folder %s", dir);
  lbbt_st_writer *w = NULL;
  LBBT_TRY(lbbt_st_writer_create(&w));
  lbbt_status st = LBBT_OK;
  for (int i = 0; i < m->n_params && st == LBBT_OK; i++)
    st = lbbt_st_writer_add_tensor(w, m->params[i].name, m->params[i].t);
  if (st == LBBT_OK) st = lbbt_st_writer_set_metadata(w, "format", "pt");
  char path[LBBT_PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  if (st == LBBT_OK) st = lbbt_st_writer_write(w, path);
  lbbt_st_writer_free(w);
  if (st != LBBT_OK) return st;
  int gated = a->ffn == FFN_GATED_GELU;
  json_t *cfg = json_object();
  json_object_set_new(cfg, "architectures", json_pack("[s]", "T5EncoderModel"));
  json_object_set_new(cfg, "model_type", json_string("t5"));
  json_object_set_new(cfg, "d_model", json_integer(a->d_model));
  json_object_set_new(cfg, "d_kv", json_integer(a->d_kv));
  json_object_set_new(cfg, "d_ff", json_integer(a->d_ff));
  json_object_set_new(cfg, "num_layers", json_integer(a->num_layers));
  json_object_set_new(cfg, "num_heads", json_integer(a->num_heads));
  json_object_set_new(cfg, "vocab_size", json_integer(a->vocab_size));
  json_object_set_new(cfg, "relative_attention_num_buckets", json_integer(a->num_buckets));
  json_object_set_new(cfg, "relative_attention_max_distance", json_integer(a->max_distance));
  json_object_set_new(cfg, "layer_norm_epsilon", json_real(a->eps));
  json_object_set_new(cfg, "feed_forward_proj", json_string(ffn_name(a->ffn)));
  json_object_set_new(cfg, "dense_act_fn", json_string(gated ? "gelu_new" : "relu"));
  json_object_set_new(cfg, "is_gated_act", json_boolean(gated));
  json_object_set_new(cfg, "initializer_factor", json_real(a->init_factor));
  json_object_set_new(cfg, "is_encoder_decoder", json_false());
  json_object_set_new(cfg, "torch_dtype", json_string("float32"));
  snprintf(path, sizeof path, "%s/config.json", dir);
  st = lbbt_json_write_file(path, cfg);
  json_decref(cfg);
  return st;
}

static void destroy(lbbt_model *m) {
  t5_impl *im = m->impl;
  if (!im) return;
  im->v.blocks = NULL; /* the stack's array */
  lbbt_vision_destroy(&im->v);
  lbbt_block_stack_free(im->stack);
  free(im);
  m->impl = NULL;
}

static const lbbt_model_ops MODEL_OPS = {
    .version = LBBT_MODEL_OPS_VERSION,
    .forward_vision = vision_forward,
    .forward_language = language_forward,
    .save = save,
    .destroy = destroy,
};

/* ---- plugin functions ------------------------------------------------------------------ */
static lbbt_status probe(const char *path, int *score) {
  *score = 0;
  t5_src s;
  t5_arch a;
  if (src_open(path, &s, &a) == LBBT_OK) {
    *score = json_object_get(s.cfg, "chronos_config") ? 12 : 10;
    src_close(&s);
  }
  lbbt_clear_error();
  return LBBT_OK;
}

static lbbt_status new_model(t5_impl **im_out, lbbt_model **out, const t5_arch *a) {
  LBBT_TRY(lbbt_model_create(out, &MODEL_OPS, "chronos_t5"));
  t5_impl *im = calloc(1, sizeof *im);
  if (!im) return lbbt_fail(LBBT_E_NOMEM, "chronos_t5: out of memory");
  (*out)->impl = im;
  im->a = *a;
  *im_out = im;
  return LBBT_OK;
}

/* The architecture and weight source a backbone spec describes (shared by create_vision and
 * create_blocks, so both read the same weights the same way).  On success the caller closes
 * *src (a no-op without a checkpoint). */
static lbbt_status open_spec(const lbbt_backbone_spec *spec, t5_arch *a, t5_src *src, char *source,
                             size_t source_n) {
  int sizes_given;
  memset(src, 0, sizeof *src);
  if (spec->checkpoint[0]) {
    LBBT_TRY(src_open(spec->checkpoint, src, a));
    /* initializer_factor may still be given: it shapes the scratch init that the scratch and
     * scratch-rescaled modes draw with a checkpoint. */
    lbbt_status st = options_apply(spec, a, &sizes_given);
    if (st == LBBT_OK && sizes_given)
      st = lbbt_fail(LBBT_E_INPUT,
                     "chronos_t5: size options (d_model, num_layers, ...) are for scratch models; "
                     "with backbone.checkpoint %s the sizes come from its config.json",
                     spec->checkpoint);
    if (st != LBBT_OK) {
      src_close(src);
      return st;
    }
    snprintf(source, source_n, "checkpoint %s", spec->checkpoint);
    return LBBT_OK;
  }
  if (lbbt_init_mode_needs_checkpoint(spec->init))
    return lbbt_fail(LBBT_E_INPUT, "chronos_t5: init '%s' needs backbone.checkpoint",
                     lbbt_init_mode_name(spec->init));
  const char *preset = spec->arch[0] ? spec->arch : "chronos-t5-tiny";
  LBBT_TRY(arch_from_preset(preset, a));
  LBBT_TRY(options_apply(spec, a, &sizes_given));
  LBBT_TRY(arch_check(a, "chronos_t5 backbone options"));
  snprintf(source, source_n, "scratch arch %s%s", preset, sizes_given ? ", sized by options" : "");
  return LBBT_OK;
}

/* The encoder is bidirectional unless the spec says causal. */
static int spec_causal(const lbbt_backbone_spec *spec) {
  return spec->attention == LBBT_ATTN_CAUSAL;
}

/* The first n blocks of an opened spec, registered and initialised per spec->init from seed:
 * what create_vision builds its blocks with and what create_blocks lends. */
static lbbt_status blocks_for_spec(const lbbt_backbone_spec *spec, t5_arch *a, t5_src *src,
                                   const char *source, int n, uint64_t seed, const char *prefix,
                                   int layer_offset, lbbt_model *into, lbbt_block_stack **out) {
  lbbt_block_stack *s = NULL;
  LBBT_TRY(add_blocks(into, a, n, prefix, layer_offset, source, spec_causal(spec), &s));
  lbbt_status st = fill_params(s->model, s->first_param, s->first_param + s->n_params, s->prefix,
                               a, src, spec->init, seed);
  if (st != LBBT_OK) {
    lbbt_block_stack_free(s);
    return st;
  }
  *out = s;
  return LBBT_OK;
}

static lbbt_status create_vision(const lbbt_backbone_spec *spec, int in_channels, int image_size,
                                 int num_classes, uint64_t seed, lbbt_model **out) {
  *out = NULL;
  t5_arch a;
  t5_src src;
  char source[LBBT_PATH_MAX + 32];
  LBBT_TRY(open_spec(spec, &a, &src, source, sizeof source));
  lbbt_model *m = NULL;
  t5_impl *im = NULL;
  lbbt_status st;
  LBBT_TRY_GOTO(st, new_model(&im, &m, &a), fail);
  m->init = spec->init;
  snprintf(m->source, sizeof m->source, "%s", spec->checkpoint[0] ? spec->checkpoint : "scratch");
  lbbt_vision_config *vc = &im->v.cfg;
  vc->in_channels = in_channels;
  vc->image_size = image_size;
  vc->patch_size = spec->patch_size;
  vc->num_classes = num_classes;
  vc->pool = spec->pool;
  vc->causal = spec_causal(spec);
  vc->learned_positions = 0; /* the relative bias gives positions */
  LBBT_TRY_GOTO(st, blocks_for_spec(spec, &a, &src, source, a.num_layers, seed, "", 0, m, &im->stack), fail);
  set_model_sizes(m, &a);
  im->v.blocks = im->stack->blocks;
  im->v.n_blocks = a.num_layers;
  im->v.relbias_table = im->stack->relbias_table;
  im->v.relbias_buckets = a.num_buckets;
  im->v.relbias_max_distance = a.max_distance;
  LBBT_TRY_GOTO(st, add_final_norm(m, &a, &im->v.final_norm_w), fail);
  im->v.final_norm = LBBT_NORM_RMSNORM;
  im->v.final_norm_eps = a.eps;
  /* the rest of the pretrained part: the final norm */
  LBBT_TRY_GOTO(st, fill_params(m, im->stack->first_param + im->stack->n_params, m->n_params, "",
                                &a, &src, spec->init, seed), fail);
  LBBT_TRY_GOTO(st, lbbt_vision_register(m, &im->v, a.d_model, seed), fail);
  lbbt_model_apply_no_decay_rule(m);
  src_close(&src);
  *out = m;
  return LBBT_OK;
fail:
  src_close(&src);
  lbbt_model_free(m);
  return st;
}

/* Lend the first n blocks (plugin.h, block_stack.h): the spec opened and the blocks built
 * exactly as create_vision does, for n blocks and under the borrower's prefix. */
static lbbt_status create_blocks(const lbbt_backbone_spec *spec, int n_blocks, uint64_t seed,
                                 const char *prefix, int layer_offset, lbbt_model *into,
                                 lbbt_block_stack **out) {
  *out = NULL;
  t5_arch a;
  t5_src src;
  char source[LBBT_PATH_MAX + 32];
  LBBT_TRY(open_spec(spec, &a, &src, source, sizeof source));
  lbbt_status st =
      blocks_for_spec(spec, &a, &src, source, n_blocks, seed, prefix, layer_offset, into, out);
  src_close(&src);
  return st;
}

static lbbt_status load_language(const char *path, lbbt_model **out) {
  *out = NULL;
  t5_arch a;
  t5_src src;
  LBBT_TRY(src_open(path, &src, &a));
  lbbt_model *m = NULL;
  t5_impl *im = NULL;
  lbbt_status st;
  LBBT_TRY_GOTO(st, new_model(&im, &m, &a), fail);
  m->init = LBBT_INIT_LANGUAGE;
  snprintf(m->source, sizeof m->source, "%s", path);
  int64_t es[2] = {a.vocab_size, a.d_model};
  LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "shared.weight", LBBT_PART_EMBED, 0, 1, 2, es, &im->shared), fail);
  LBBT_TRY_GOTO(st, add_blocks(m, &a, a.num_layers, "", 0, path, 0, &im->stack), fail);
  set_model_sizes(m, &a);
  LBBT_TRY_GOTO(st, add_final_norm(m, &a, &im->final_norm_w), fail);
  LBBT_TRY_GOTO(st, fill_params(m, 0, m->n_params, "", &a, &src, LBBT_INIT_LANGUAGE, 0), fail);
  lbbt_model_apply_no_decay_rule(m);
  src_close(&src);
  *out = m;
  return LBBT_OK;
fail:
  src_close(&src);
  lbbt_model_free(m);
  return st;
}

static lbbt_status describe(lbbt_model *m, void *f) {
  t5_impl *im = m->impl;
  const t5_arch *a = &im->a;
  fprintf(f,
          "architecture: chronos_t5 (T5 v1.1 encoder)\n  d_model %d, num_layers %d, num_heads %d, "
          "d_kv %d, d_ff %d (%s), vocab %d\n  T5LayerNorm (RMS) eps %g, no biases, unscaled "
          "scores, relative position bias (%d buckets, max distance %d) from block 0, "
          "initializer_factor %g, no LM head (decoder not loaded)\n",
          a->d_model, a->num_layers, a->num_heads, a->d_kv, a->d_ff, ffn_name(a->ffn),
          a->vocab_size, a->eps, a->num_buckets, a->max_distance, a->init_factor);
  lbbt_model_describe(m, f);
  return LBBT_OK;
}

static const lbbt_backbone_ops BACKBONE_OPS = {
    .version = LBBT_BACKBONE_OPS_VERSION,
    .probe = probe,
    .create_vision = create_vision,
    .load_language = load_language,
    .describe = describe,
    .create_blocks = create_blocks,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_BACKBONE,
    .name = "chronos_t5",
    .summary = "T5 v1.1 encoder of Chronos-T5 (relu or gated-gelu FFN, relative position bias, RMS norm)",
    .backbone = &BACKBONE_OPS,
};
