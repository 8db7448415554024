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
 * hidden states; there is no LM head (logits NULL).  create_language builds a scratch encoder
 * of the caller's vocabulary (the ts-pretrain task adds the decoder, plugins/tasks/shared/
 * t5_decoder.h, and saves the pair as a T5ForConditionalGeneration checkpoint).
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
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/backbone_kit.h"
#include "lbbt/param_init.h"

typedef enum { FFN_RELU, FFN_GATED_GELU } t5_ffn;

typedef struct t5_arch {
  int d_model, d_kv, d_ff, num_layers, num_heads, vocab_size;
  int num_buckets, max_distance;
  float eps;
  t5_ffn ffn;
  double init_factor;
} t5_arch;

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

static lbbt_status arch_check(const void *arch, const char *where) {
  const t5_arch *a = arch;
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

static lbbt_status arch_from_config(json_t *cfg, const char *path, t5_arch *a) {
  arch_defaults(a);
  const char *mt;
  LBBT_TRY(lbbt_config_model_type(cfg, path, "t5", &mt));
  a->d_model = lbbt_config_int(cfg, "d_model", 512);
  a->d_kv = lbbt_config_int(cfg, "d_kv", 64);
  a->d_ff = lbbt_config_int(cfg, "d_ff", 2048);
  a->num_layers = lbbt_config_int(cfg, "num_layers", 6);
  a->num_heads = lbbt_config_int(cfg, "num_heads", 8);
  a->vocab_size = lbbt_config_int(cfg, "vocab_size", 32128);
  a->num_buckets = lbbt_config_int(cfg, "relative_attention_num_buckets", 32);
  a->max_distance = lbbt_config_int(cfg, "relative_attention_max_distance", 128);
  a->eps = (float)lbbt_config_num(cfg, "layer_norm_epsilon", 1e-6);
  a->init_factor = lbbt_config_num(cfg, "initializer_factor", 1.0);
  const char *ff = json_string_value(json_object_get(cfg, "feed_forward_proj"));
  if (!ffn_from_name(ff ? ff : "relu", &a->ffn))
    return lbbt_fail(LBBT_E_UNSUPPORTED,
                     "%s: feed_forward_proj '%s' is not supported (relu, gated-gelu are)", path, ff);
  return arch_check(a, path);
}

/* The published amazon/chronos-t5-* configs (all: relu FFN, d_kv 64, vocab 4096,
 * initializer_factor 0.05). */
static lbbt_status arch_from_preset(const char *name, void *arch) {
  t5_arch *a = arch;
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
/* config.json's names for the fields.  Every key is optional (the preset's or checkpoint's
 * value unless written); all but initializer_factor are sizes (scratch models only);
 * initializer_factor shapes the scratch init that the scratch and scratch-rescaled modes
 * also draw with a checkpoint. */
typedef struct t5_options {
  int d_model, d_kv, d_ff, num_layers, num_heads, vocab_size, num_buckets, max_distance;
  int feed_forward_proj; /* index in FFN_NAMES: FFN_RELU, FFN_GATED_GELU */
  double initializer_factor;
} t5_options;
static const char *const FFN_NAMES[] = {"relu", "gated-gelu"};
_Static_assert(FFN_RELU == 0 && FFN_GATED_GELU == 1, "FFN_NAMES order");
#define SIZE_KEY(key, field, what)                                                            \
  {.name = key, .type = LBBT_KEY_INT, LBBT_KEY_FIELD(t5_options, field),                      \
   LBBT_KEY_RANGE(1, 1 << 30), .flags = LBBT_KEY_OPTIONAL, .doc = what " (scratch models)"}
static const lbbt_key OPTION_KEYS[] = {
    SIZE_KEY("d_model", d_model, "width"),
    SIZE_KEY("d_kv", d_kv, "attention head width"),
    SIZE_KEY("d_ff", d_ff, "FFN hidden width"),
    SIZE_KEY("num_layers", num_layers, "encoder blocks"),
    SIZE_KEY("num_heads", num_heads, "attention heads"),
    SIZE_KEY("vocab_size", vocab_size, "vocabulary"),
    SIZE_KEY("relative_attention_num_buckets", num_buckets, "relative-position buckets"),
    SIZE_KEY("relative_attention_max_distance", max_distance, "largest bucketed distance"),
    {.name = "feed_forward_proj", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(t5_options, feed_forward_proj),
     LBBT_KEY_NAMES(FFN_NAMES), .flags = LBBT_KEY_OPTIONAL, .doc = "FFN: relu or gated-gelu (scratch models)"},
    {.name = "initializer_factor", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(t5_options, initializer_factor),
     LBBT_KEY_RANGE(0, 1e6), .flags = LBBT_KEY_OPTIONAL | LBBT_KEY_MIN_EXCLUSIVE,
     .doc = "scale of the scratch initialisation (T5's initializer_factor)"},
};
#undef SIZE_KEY
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(t5_options, OPTION_KEYS, "Chronos-T5 scratch sizes and initialisation scale.");

static lbbt_status apply_options(const lbbt_backbone_spec *spec, void *arch,
                                 lbbt_backbone_choices *out) {
  t5_arch *a = arch;
  const t5_options *o = lbbt_backbone_options(spec);
  if (!o) return lbbt_fail(LBBT_E_INTERNAL, "chronos_t5: backbone options not bound");
#define TAKE(key, field, value)                                                               \
  if (lbbt_backbone_option_written(spec, key)) a->field = (value), out->sizes_given = 1
  TAKE("d_model", d_model, o->d_model); TAKE("d_kv", d_kv, o->d_kv); TAKE("d_ff", d_ff, o->d_ff);
  TAKE("num_layers", num_layers, o->num_layers); TAKE("num_heads", num_heads, o->num_heads);
  TAKE("vocab_size", vocab_size, o->vocab_size);
  TAKE("relative_attention_num_buckets", num_buckets, o->num_buckets);
  TAKE("relative_attention_max_distance", max_distance, o->max_distance);
  TAKE("feed_forward_proj", ffn, (t5_ffn)o->feed_forward_proj);
#undef TAKE
  if (lbbt_backbone_option_written(spec, "initializer_factor")) a->init_factor = o->initializer_factor;
  return LBBT_OK;
}

/* ---- checkpoints ----------------------------------------------------------------------- */
static lbbt_status open_checkpoint(const char *path, lbbt_backbone_source *s, void *arch) {
  LBBT_TRY(lbbt_backbone_source_open_safetensors(path, s));
  lbbt_status st = arch_from_config(s->config, path, arch);
  if (st == LBBT_OK && !lbbt_st_find(s->st, "encoder.final_layer_norm.weight"))
    st = lbbt_fail(LBBT_E_INPUT, "%s: a t5 config but no encoder.final_layer_norm.weight: not a "
                   "T5 encoder checkpoint", path);
  if (st != LBBT_OK) lbbt_backbone_source_close(s);
  return st;
}

/* T5 checkpoints store the token embedding once, as shared.weight; an encoder-only export
 * may call it encoder.embed_tokens.weight. */
static const char *checkpoint_name(const lbbt_backbone_source *s, const char *name) {
  if (!strcmp(name, "shared.weight") && !lbbt_st_find(s->st, name) &&
      lbbt_st_find(s->st, "encoder.embed_tokens.weight"))
    return "encoder.embed_tokens.weight";
  return name;
}

/* Chronos checkpoints (their config says chronos_config) before plain T5 encoders. */
static int probe_score(const lbbt_backbone_source *s) {
  return json_object_get(s->config, "chronos_config") ? 12 : 10;
}

/* ---- layout ---------------------------------------------------------------------------- */
static void layout(const void *arch, lbbt_backbone_layout *l) {
  const t5_arch *a = arch;
  lbbt_backbone_layout_sizes(l, a->d_model, a->num_layers, a->vocab_size, a->num_heads,
                             a->num_heads, a->d_kv, a->d_ff);
  lbbt_block_config *c = &l->block;
  c->norm = LBBT_NORM_RMSNORM;
  c->norm_eps = a->eps;
  c->mlp = a->ffn == FFN_RELU ? LBBT_MLP_RELU : LBBT_MLP_GATED_GELU;
  c->gelu = LBBT_GELU_TANH; /* "gated-gelu" means gelu_new in transformers' T5Config */
  c->layout = LBBT_W_OUT_IN;
  c->attn_scale = 1.0f;     /* no 1/sqrt(d_kv) */
  l->names = (lbbt_block_names){
      .norm1_w = "0.layer_norm.weight", .norm2_w = "1.layer_norm.weight",
      .q_w = "0.SelfAttention.q.weight", .k_w = "0.SelfAttention.k.weight",
      .v_w = "0.SelfAttention.v.weight", .o_w = "0.SelfAttention.o.weight"};
  if (a->ffn == FFN_RELU) {
    l->names.fc_w = "1.DenseReluDense.wi.weight";
    l->names.proj_w = "1.DenseReluDense.wo.weight";
  } else {
    l->names.gate_w = "1.DenseReluDense.wi_0.weight";
    l->names.up_w = "1.DenseReluDense.wi_1.weight";
    l->names.down_w = "1.DenseReluDense.wo.weight";
  }
  l->block_prefix = "encoder.block.%d.layer.";
  l->causal = 0; /* the encoder is bidirectional unless the spec says causal */
  l->relbias_name = "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight";
  l->relbias_buckets = a->num_buckets;
  l->relbias_max_distance = a->max_distance;
  l->final_norm_w = "encoder.final_layer_norm.weight";
  l->vision_positions = LBBT_VISION_POS_NONE; /* the relative bias gives positions */
  l->embed_name = "shared.weight";
  l->lm_head = LBBT_LM_HEAD_NONE; /* an encoder: no LM head */
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

/* Hugging Face's T5EncoderModel config (vision models keep their new "vision." tensors
 * beside the encoder's). */
static json_t *config_json(const void *arch) {
  const t5_arch *a = arch;
  int gated = a->ffn == FFN_GATED_GELU;
  return json_pack(
      "{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:s, s:s, s:b, s:f, s:b, s:s}",
      "architectures", "T5EncoderModel", "model_type", "t5", "d_model", a->d_model,
      "d_kv", a->d_kv, "d_ff", a->d_ff, "num_layers", a->num_layers, "num_heads", a->num_heads,
      "vocab_size", a->vocab_size, "relative_attention_num_buckets", a->num_buckets,
      "relative_attention_max_distance", a->max_distance, "layer_norm_epsilon", (double)a->eps,
      "feed_forward_proj", ffn_name(a->ffn), "dense_act_fn", gated ? "gelu_new" : "relu",
      "is_gated_act", gated, "initializer_factor", a->init_factor, "is_encoder_decoder", 0,
      "torch_dtype", "float32");
}

static void describe(const void *arch, FILE *f) {
  const t5_arch *a = arch;
  fprintf(f,
          "architecture: chronos_t5 (T5 v1.1 encoder)\n  d_model %d, num_layers %d, num_heads %d, "
          "d_kv %d, d_ff %d (%s), vocab %d\n  T5LayerNorm (RMS) eps %g, no biases, unscaled "
          "scores, relative position bias (%d buckets, max distance %d) from block 0, "
          "initializer_factor %g, no LM head (decoder not loaded)\n",
          a->d_model, a->num_layers, a->num_heads, a->d_kv, a->d_ff, ffn_name(a->ffn),
          a->vocab_size, a->eps, a->num_buckets, a->max_distance, a->init_factor);
}

/* create_language (the ts-pretrain task's encoder): the caller's vocabulary; T5 has no
 * positions table, so the context does not size anything. */
static void set_language_sizes(void *arch, int vocab_size, int context) {
  (void)context;
  ((t5_arch *)arch)->vocab_size = vocab_size;
}

static const lbbt_backbone_arch CHRONOS_T5 = {
    .name = "chronos_t5", .arch_size = sizeof(t5_arch), LBBT_BACKBONE_ARCH_HOOKS,
    .default_preset = "chronos-t5-tiny", .size_options = "d_model, num_layers, ...",
    .open_checkpoint = open_checkpoint, .checkpoint_name = checkpoint_name,
    .probe_score = probe_score, .apply_options = apply_options,
    .set_language_sizes = set_language_sizes,
};

LBBT_BACKBONE_KIT_PLUGIN_WITH_OPTIONS(CHRONOS_T5, "chronos_t5",
                                      "T5 v1.1 encoder of Chronos-T5 (relu or gated-gelu FFN, relative position bias, RMS norm)",
                                      1, &OPTIONS)
