/* Backbone plugin `gpt2`: GPT-2 as published (Radford et al. 2019; Hugging Face GPT2Model).
 *   - Conv1D weights stored [in, out] (LBBT_W_IN_OUT); one fused c_attn projection [C, 3C];
 *   - pre-norm blocks with LayerNorm (eps 1e-5, weight and bias), gelu_new (tanh form);
 *   - learned absolute positions wpe [n_positions, C]; tied LM head (logits = h wte^T).
 * Checkpoints: a Hugging Face folder (config.json + model.safetensors or an index and
 * shards), or one of its .safetensors / .index.json files with config.json beside it.
 * Names are the openai checkpoints' ("h.3.attn.c_attn.weight", "wte.weight"); the
 * "transformer." prefix of GPT2LMHeadModel checkpoints is accepted on reading.  The causal
 * mask buffers ("h.N.attn.bias") some checkpoints carry are ignored.
 *
 * Scratch models: backbone.arch "gpt2" (124M: 768 wide, 12 layers, 12 heads) or
 * "gpt2-medium" (355M: 1024, 24, 16), with any size overridden by backbone options
 * n_embd, n_layer, n_head, n_positions, vocab_size, n_inner.  Initialisation as
 * GPT2PreTrainedModel._init_weights (lbbt_init_gpt2).
 *
 * Vision mode (Section 4.1 of the paper): a new patch embedding, then positions, the
 * blocks, ln_f, pooling and a new head; causal attention unless backbone.attention says
 * bidirectional.  Positions (backbone option `positions`):
 *   new         (default) a NEW learned table vision.pos_embed [n_tokens, C], trunc-normal
 *               0.02 as timm's ViT; wpe is not used.
 *   pretrained  the first n_tokens rows of the checkpoint's wpe (registered as "wpe.weight",
 *               [n_positions, C], so init modes and training apply to the whole table as in
 *               the language model); needs n_tokens <= n_positions.
 * Language mode: wte + wpe -> blocks -> ln_f -> tied head.
 * Borrowed blocks (create_blocks, lbbt/block_stack.h): the first N "h.<i>." blocks, built by
 * the same code as create_vision's; wpe and ln_f are not lent (positions: is ignored). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/backbone_kit.h"
#include "lbbt/checked.h"
#include "lbbt/param_init.h"

typedef struct gpt2_arch {
  int n_embd, n_layer, n_head, n_positions, vocab_size, n_inner;
  float eps;
  lbbt_gelu_form gelu;
  int scale_attn; /* scale_attn_weights: scores / sqrt(D) (GPT-2 always) */
} gpt2_arch;

/* ---- architecture ---------------------------------------------------------------------- */
static void arch_defaults(gpt2_arch *a) {
  memset(a, 0, sizeof *a);
  a->eps = 1e-5f;
  a->gelu = LBBT_GELU_TANH;
  a->scale_attn = 1;
  a->n_positions = 1024;
  a->vocab_size = 50257;
}

static lbbt_status arch_check(const void *arch, const char *where) {
  const gpt2_arch *a = arch;
  if (a->n_embd < 1 || a->n_layer < 1 || a->n_head < 1 || a->n_embd % a->n_head ||
      a->n_positions < 1 || a->vocab_size < 1 || a->n_inner < 1)
    return lbbt_fail(LBBT_E_INPUT,
                     "%s: invalid gpt2 architecture (n_embd %d, n_layer %d, n_head %d, "
                     "n_positions %d, vocab_size %d, n_inner %d): n_embd must be a multiple of "
                     "n_head and every size positive",
                     where, a->n_embd, a->n_layer, a->n_head, a->n_positions, a->vocab_size,
                     a->n_inner);
  return LBBT_OK;
}

static lbbt_status arch_from_config(json_t *cfg, const char *path, gpt2_arch *a) {
  arch_defaults(a);
  const char *mt;
  LBBT_TRY(lbbt_config_model_type(cfg, path, "gpt2", &mt));
  a->n_embd = lbbt_config_int(cfg, "n_embd", lbbt_config_int(cfg, "hidden_size", 0));
  a->n_layer = lbbt_config_int(cfg, "n_layer", lbbt_config_int(cfg, "num_hidden_layers", 0));
  a->n_head = lbbt_config_int(cfg, "n_head", lbbt_config_int(cfg, "num_attention_heads", 0));
  a->n_positions = lbbt_config_int(cfg, "n_positions", lbbt_config_int(cfg, "n_ctx", 1024));
  a->vocab_size = lbbt_config_int(cfg, "vocab_size", 50257);
  int inner4 = 0; /* 4 n_embd; 0 (refused by arch_check) when that overflows an int */
  lbbt_mul_int(4, a->n_embd, &inner4);
  a->n_inner = lbbt_config_int(cfg, "n_inner", inner4); /* null in config.json: 4 n_embd */
  a->eps = (float)lbbt_config_num(cfg, "layer_norm_epsilon", 1e-5);
  const char *act = json_string_value(json_object_get(cfg, "activation_function"));
  if (!act || !strcmp(act, "gelu_new") || !strcmp(act, "gelu_pytorch_tanh") ||
      !strcmp(act, "gelu_fast"))
    a->gelu = LBBT_GELU_TANH;
  else if (!strcmp(act, "gelu"))
    a->gelu = LBBT_GELU_ERF;
  else
    return lbbt_fail(LBBT_E_UNSUPPORTED,
                     "%s: activation_function '%s' is not supported (gelu_new, gelu are)", path,
                     act);
  json_t *sc = json_object_get(cfg, "scale_attn_weights");
  a->scale_attn = !json_is_false(sc);
  if (json_is_true(json_object_get(cfg, "scale_attn_by_inverse_layer_idx")))
    return lbbt_fail(LBBT_E_UNSUPPORTED,
                     "%s: scale_attn_by_inverse_layer_idx is not supported (GPT-2 as published "
                     "leaves it false)",
                     path);
  return arch_check(a, path);
}

static lbbt_status arch_from_preset(const char *name, void *arch) {
  gpt2_arch *a = arch;
  arch_defaults(a);
  if (!strcmp(name, "gpt2")) {
    a->n_embd = 768; a->n_layer = 12; a->n_head = 12;
  } else if (!strcmp(name, "gpt2-medium")) {
    a->n_embd = 1024; a->n_layer = 24; a->n_head = 16;
  } else {
    return lbbt_fail(LBBT_E_INPUT,
                     "gpt2: unknown arch preset '%s' (known: gpt2, gpt2-medium; any size via "
                     "backbone options n_embd, n_layer, n_head, n_positions, vocab_size)",
                     name);
  }
  a->n_inner = 4 * a->n_embd;
  return LBBT_OK;
}

/* lm-pretrain's scratch model: the tokenizer's vocabulary and the context as positions. */
static void set_language_sizes(void *arch, int vocab_size, int context) {
  gpt2_arch *a = arch;
  a->vocab_size = vocab_size;
  a->n_positions = context;
}

/* ---- backbone options ------------------------------------------------------------------ */
/* The sizes are optional keys: a preset's or checkpoint's unless written (and then only for
 * scratch models); n_inner follows 4 n_embd unless written. */
typedef struct gpt2_options {
  int positions; /* index in POSITIONS */
  int n_embd, n_layer, n_head, n_positions, vocab_size, n_inner;
} gpt2_options;
static const char *const POSITIONS[] = {"new", "pretrained"};
#define SIZE_KEY(field, what)                                                                 \
  {.name = #field, .type = LBBT_KEY_INT, LBBT_KEY_FIELD(gpt2_options, field),                 \
   LBBT_KEY_RANGE(1, 1 << 30), .flags = LBBT_KEY_OPTIONAL, .doc = what " (scratch models; default: the preset's)"}
static const lbbt_key OPTION_KEYS[] = {
    {.name = "positions", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(gpt2_options, positions),
     LBBT_KEY_NAMES(POSITIONS), .flags = LBBT_KEY_OPTIONAL,
     .doc = "vision positions: new (learned from zero) or pretrained (the checkpoint's, resampled)"},
    SIZE_KEY(n_embd, "width"),
    SIZE_KEY(n_layer, "blocks"),
    SIZE_KEY(n_head, "attention heads"),
    SIZE_KEY(n_positions, "learned positions"),
    SIZE_KEY(vocab_size, "vocabulary"),
    SIZE_KEY(n_inner, "MLP hidden width (default 4 n_embd)"),
};
#undef SIZE_KEY
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(gpt2_options, OPTION_KEYS, "GPT-2's vision positions and scratch sizes.");

static lbbt_status apply_options(const lbbt_backbone_spec *spec, void *arch,
                                 lbbt_backbone_choices *c) {
  gpt2_arch *a = arch;
  const gpt2_options *o = lbbt_backbone_options(spec);
  if (!o) return lbbt_fail(LBBT_E_INTERNAL, "gpt2: backbone options not bound");
  if (lbbt_backbone_option_written(spec, "positions"))
    c->positions = o->positions ? LBBT_VISION_POS_PRETRAINED : LBBT_VISION_POS_NEW;
#define TAKE(field)                                                                           \
  if (lbbt_backbone_option_written(spec, #field)) a->field = o->field, c->sizes_given = 1
  TAKE(n_embd); TAKE(n_layer); TAKE(n_head); TAKE(n_positions); TAKE(vocab_size); TAKE(n_inner);
#undef TAKE
  if (c->sizes_given && !lbbt_backbone_option_written(spec, "n_inner")) {
    a->n_inner = 0; /* refused by arch_check when 4 n_embd overflows */
    lbbt_mul_int(4, a->n_embd, &a->n_inner);
  }
  return LBBT_OK;
}

/* ---- checkpoints ----------------------------------------------------------------------- */
static lbbt_status open_checkpoint(const char *path, lbbt_backbone_source *s, void *arch) {
  LBBT_TRY(lbbt_backbone_source_open_safetensors(path, s));
  lbbt_status st = arch_from_config(s->config, path, arch);
  if (st != LBBT_OK) {
    lbbt_backbone_source_close(s);
    return st;
  }
  for (int i = 0; i < lbbt_st_count(s->st); i++)
    if (!strncmp(lbbt_st_name(s->st, i), "transformer.", 12)) {
      snprintf(s->prefix, sizeof s->prefix, "transformer.");
      break;
    }
  return LBBT_OK;
}

/* ---- layout ---------------------------------------------------------------------------- */
static void layout(const void *arch, lbbt_backbone_layout *l) {
  const gpt2_arch *a = arch;
  lbbt_backbone_layout_sizes(l, a->n_embd, a->n_layer, a->vocab_size, a->n_head, a->n_head,
                             a->n_embd / a->n_head, a->n_inner);
  l->n_positions = a->n_positions;
  lbbt_block_config *c = &l->block;
  c->norm = LBBT_NORM_LAYERNORM;
  c->norm_eps = a->eps;
  c->mlp = LBBT_MLP_GELU;
  c->gelu = a->gelu;
  c->layout = LBBT_W_IN_OUT;
  c->fused_qkv = 1;
  c->attn_scale = a->scale_attn ? 0.0f : 1.0f;
  l->names = (lbbt_block_names){
      .norm1_w = "ln_1.weight", .norm1_b = "ln_1.bias", .norm2_w = "ln_2.weight", .norm2_b = "ln_2.bias",
      .qkv_w = "attn.c_attn.weight", .qkv_b = "attn.c_attn.bias",
      .o_w = "attn.c_proj.weight", .o_b = "attn.c_proj.bias",
      .fc_w = "mlp.c_fc.weight", .fc_b = "mlp.c_fc.bias",
      .proj_w = "mlp.c_proj.weight", .proj_b = "mlp.c_proj.bias"};
  l->block_prefix = "h.%d.";
  l->causal = 1;
  l->final_norm_w = "ln_f.weight";
  l->final_norm_b = "ln_f.bias";
  l->vision_positions = LBBT_VISION_POS_NEW;
  l->embed_name = "wte.weight";
  l->positions_name = "wpe.weight";
  l->lm_head = LBBT_LM_HEAD_TIED;
}

/* GPT2PreTrainedModel._init_weights: N(0, 0.02), residual projections 0.02/sqrt(2 L),
 * biases 0, LayerNorm gains 1. */
static lbbt_status scratch_init(lbbt_tensor *t, const char *name, uint64_t seed, void *user) {
  const gpt2_arch *a = user;
  return lbbt_init_gpt2(t, seed, name, a->n_layer);
}

static const char *gelu_name(lbbt_gelu_form g) { return g == LBBT_GELU_TANH ? "gelu_new" : "gelu"; }

/* Hugging Face's GPT2Config (no prefix on the tensor names, as the openai checkpoints). */
static json_t *config_json(const void *arch) {
  const gpt2_arch *a = arch;
  json_t *n_inner = a->n_inner == 4 * a->n_embd ? json_null() : json_integer(a->n_inner);
  return json_pack("{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:f, s:s, s:b, s:f, s:b, s:s}",
                   "architectures", "GPT2LMHeadModel", "model_type", "gpt2",
                   "n_embd", a->n_embd, "n_layer", a->n_layer, "n_head", a->n_head,
                   "n_positions", a->n_positions, "n_ctx", a->n_positions,
                   "vocab_size", a->vocab_size, "n_inner", n_inner,
                   "layer_norm_epsilon", (double)a->eps,
                   "activation_function", gelu_name(a->gelu),
                   "scale_attn_weights", a->scale_attn, "initializer_range", 0.02,
                   "tie_word_embeddings", 1, "torch_dtype", "float32");
}

static void describe(const void *arch, FILE *f) {
  const gpt2_arch *a = arch;
  int head_dim = a->n_embd / a->n_head;
  fprintf(f,
          "architecture: gpt2 (GPT-2)\n  n_embd %d, n_layer %d, n_head %d (head dim %d), MLP "
          "hidden %d (%s), n_positions %d, vocab %d\n  LayerNorm eps %g, Conv1D weights [in, "
          "out], fused c_attn, learned positions, tied head\n",
          a->n_embd, a->n_layer, a->n_head, head_dim, a->n_inner, gelu_name(a->gelu),
          a->n_positions, a->vocab_size, a->eps);
}

static const lbbt_backbone_arch GPT2 = {
    .name = "gpt2", .arch_size = sizeof(gpt2_arch), LBBT_BACKBONE_ARCH_HOOKS,
    .default_preset = "gpt2", .size_options = "n_embd, n_layer, ...",
    .open_checkpoint = open_checkpoint, .apply_options = apply_options,
    .set_language_sizes = set_language_sizes,
};

LBBT_BACKBONE_KIT_PLUGIN_WITH_OPTIONS(GPT2, "gpt2",
                         "GPT-2 (Hugging Face safetensors or scratch presets gpt2, gpt2-medium): Conv1D, gelu_new, learned positions",
                         1, &OPTIONS)
