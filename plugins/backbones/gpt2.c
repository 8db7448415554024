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
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/block_stack.h"
#include "lbbt/checked.h"
#include "lbbt/checkpoint.h"
#include "lbbt/init_mode.h"
#include "lbbt/nn.h"
#include "lbbt/optim.h"
#include "lbbt/param_init.h"
#include "lbbt/plugin.h"

typedef struct gpt2_arch {
  int n_embd, n_layer, n_head, n_positions, vocab_size, n_inner;
  float eps;
  lbbt_gelu_form gelu;
  int scale_attn; /* scale_attn_weights: scores / sqrt(D) (GPT-2 always) */
} gpt2_arch;

/* Where pretrained weights come from. */
typedef struct gpt2_src {
  lbbt_st *st;
  json_t *cfg;        /* borrowed from st, or owned when read beside a file */
  int cfg_owned;
  const char *prefix; /* "" or "transformer." */
} gpt2_src;

typedef enum { POS_NEW, POS_PRETRAINED } gpt2_positions;

typedef struct gpt2_impl {
  gpt2_arch a;
  lbbt_vision v;            /* vision mode; v.blocks points into stack */
  lbbt_block_stack *stack;  /* the blocks, in both modes (parameters owned by the model) */
  lbbt_tensor *wte, *wpe, *ln_f_w, *ln_f_b;
} gpt2_impl;

/* ---- architecture ---------------------------------------------------------------------- */
static void arch_defaults(gpt2_arch *a) {
  memset(a, 0, sizeof *a);
  a->eps = 1e-5f;
  a->gelu = LBBT_GELU_TANH;
  a->scale_attn = 1;
  a->n_positions = 1024;
  a->vocab_size = 50257;
}

static lbbt_status arch_check(const gpt2_arch *a, const char *where) {
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

static int json_int(json_t *o, const char *k, int def) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (int)json_integer_value(v) : def;
}
static double json_num(json_t *o, const char *k, double def) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : def;
}

static lbbt_status arch_from_config(json_t *cfg, const char *path, gpt2_arch *a) {
  arch_defaults(a);
  const char *mt = json_string_value(json_object_get(cfg, "model_type"));
  if (!mt || strcmp(mt, "gpt2"))
    return lbbt_fail(LBBT_E_INPUT, "%s: config.json model_type '%s' is not gpt2", path,
                     mt ? mt : "(missing)");
  a->n_embd = json_int(cfg, "n_embd", json_int(cfg, "hidden_size", 0));
  a->n_layer = json_int(cfg, "n_layer", json_int(cfg, "num_hidden_layers", 0));
  a->n_head = json_int(cfg, "n_head", json_int(cfg, "num_attention_heads", 0));
  a->n_positions = json_int(cfg, "n_positions", json_int(cfg, "n_ctx", 1024));
  a->vocab_size = json_int(cfg, "vocab_size", 50257);
  int inner4 = 0; /* 4 n_embd; 0 (refused by arch_check) when that overflows an int */
  lbbt_mul_int(4, a->n_embd, &inner4);
  a->n_inner = json_int(cfg, "n_inner", inner4); /* null in config.json: 4 n_embd */
  a->eps = (float)json_num(cfg, "layer_norm_epsilon", 1e-5);
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

static lbbt_status arch_from_preset(const char *name, gpt2_arch *a) {
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

/* ---- backbone options ------------------------------------------------------------------ */
typedef struct gpt2_options {
  gpt2_positions positions;
  int sizes_given; /* any of the size options */
} gpt2_options;

static const char *const SIZE_KEYS[] = {"n_embd", "n_layer", "n_head", "n_positions",
                                        "vocab_size", "n_inner"};
enum { N_SIZE_KEYS = sizeof SIZE_KEYS / sizeof SIZE_KEYS[0] };

static int is_size_key(const char *key) {
  for (int i = 0; i < N_SIZE_KEYS; i++)
    if (!strcmp(key, SIZE_KEYS[i])) return 1;
  return 0;
}

static lbbt_status option_int(const lbbt_option *o, int *out) {
  char *end = NULL;
  long v = strtol(o->value, &end, 10);
  if (!*o->value || *end || v < 1 || v > (1L << 30))
    return lbbt_fail(LBBT_E_INPUT, "line %d:%d: gpt2 option %s: '%s' is not a positive integer",
                     o->line, o->col, o->key, o->value);
  *out = (int)v;
  return LBBT_OK;
}

static int *size_field(gpt2_arch *a, const char *key) {
  if (!strcmp(key, "n_embd")) return &a->n_embd;
  if (!strcmp(key, "n_layer")) return &a->n_layer;
  if (!strcmp(key, "n_head")) return &a->n_head;
  if (!strcmp(key, "n_positions")) return &a->n_positions;
  if (!strcmp(key, "vocab_size")) return &a->vocab_size;
  if (!strcmp(key, "n_inner")) return &a->n_inner;
  return NULL;
}

/* Check every option; with a non-NULL arch, apply the size options to it. */
static lbbt_status options_parse(const lbbt_backbone_spec *spec, gpt2_options *o, gpt2_arch *a) {
  memset(o, 0, sizeof *o);
  int inner_given = 0;
  for (int i = 0; i < spec->n_options; i++) {
    const lbbt_option *op = &spec->options[i];
    if (!strcmp(op->key, "positions")) {
      if (!strcmp(op->value, "new"))
        o->positions = POS_NEW;
      else if (!strcmp(op->value, "pretrained"))
        o->positions = POS_PRETRAINED;
      else
        return lbbt_fail(LBBT_E_INPUT,
                         "line %d:%d: gpt2 option positions: '%s' is not one of new, pretrained",
                         op->line, op->col, op->value);
      continue;
    }
    int v = 0, *field = a ? size_field(a, op->key) : NULL;
    if (!is_size_key(op->key))
      return lbbt_fail(LBBT_E_INPUT,
                       "line %d:%d: unknown gpt2 option '%s' (known: positions, n_embd, n_layer, "
                       "n_head, n_positions, vocab_size, n_inner)",
                       op->line, op->col, op->key);
    LBBT_TRY(option_int(op, &v));
    o->sizes_given = 1;
    if (!strcmp(op->key, "n_inner")) inner_given = 1;
    if (field) *field = v;
  }
  if (a && o->sizes_given && !inner_given) {
    a->n_inner = 0; /* refused by arch_check when 4 n_embd overflows */
    lbbt_mul_int(4, a->n_embd, &a->n_inner);
  }
  return LBBT_OK;
}

/* ---- weight sources -------------------------------------------------------------------- */
static int is_dir(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static void src_close(gpt2_src *s) {
  if (s->cfg_owned) json_decref(s->cfg);
  lbbt_st_close(s->st);
  memset(s, 0, sizeof *s);
}

/* config.json from the checkpoint folder, or beside a file that was opened directly. */
static lbbt_status find_config(const char *path, gpt2_src *s) {
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

static lbbt_status src_open(const char *path, gpt2_src *s, gpt2_arch *a) {
  memset(s, 0, sizeof *s);
  LBBT_TRY(lbbt_st_open(path, &s->st));
  lbbt_status st = find_config(path, s);
  if (st == LBBT_OK) st = arch_from_config(s->cfg, path, a);
  if (st != LBBT_OK) {
    src_close(s);
    return st;
  }
  s->prefix = "";
  for (int i = 0; i < lbbt_st_count(s->st); i++)
    if (!strncmp(lbbt_st_name(s->st, i), "transformer.", 12)) {
      s->prefix = "transformer.";
      break;
    }
  return LBBT_OK;
}

static lbbt_status src_read(gpt2_src *s, const char *name, lbbt_tensor *t) {
  char full[160];
  snprintf(full, sizeof full, "%s%s", s->prefix, name);
  return lbbt_st_read_into(s->st, full, t);
}

/* ---- parameters ------------------------------------------------------------------------ */
static lbbt_block_config block_config(const gpt2_arch *a) {
  lbbt_block_config c = {0};
  c.dim = a->n_embd;
  c.n_heads = a->n_head;
  c.n_kv_heads = a->n_head;
  c.head_dim = a->n_embd / a->n_head;
  c.hidden_dim = a->n_inner;
  c.norm = LBBT_NORM_LAYERNORM;
  c.norm_eps = a->eps;
  c.mlp = LBBT_MLP_GELU;
  c.gelu = a->gelu;
  c.layout = LBBT_W_IN_OUT;
  c.fused_qkv = 1;
  c.attn_scale = a->scale_attn ? 0.0f : 1.0f;
  return c;
}

static lbbt_block_names block_names(void) {
  lbbt_block_names n = {0};
  n.norm1_w = "ln_1.weight";
  n.norm1_b = "ln_1.bias";
  n.norm2_w = "ln_2.weight";
  n.norm2_b = "ln_2.bias";
  n.qkv_w = "attn.c_attn.weight";
  n.qkv_b = "attn.c_attn.bias";
  n.o_w = "attn.c_proj.weight";
  n.o_b = "attn.c_proj.bias";
  n.fc_w = "mlp.c_fc.weight";
  n.fc_b = "mlp.c_fc.bias";
  n.proj_w = "mlp.c_proj.weight";
  n.proj_b = "mlp.c_proj.bias";
  return n;
}

/* GPT2PreTrainedModel._init_weights: N(0, 0.02), residual projections 0.02/sqrt(2 L),
 * biases 0, LayerNorm gains 1. */
static lbbt_status scratch_init(lbbt_tensor *t, const char *name, uint64_t seed, void *user) {
  const gpt2_arch *a = user;
  return lbbt_init_gpt2(t, seed, name, a->n_layer);
}

/* The first n blocks as a block stack whose parameters go into `into` (NULL: a model of
 * the stack's own) under prefix + "h.<i>.", layer offset + i.  The one place gpt2 blocks
 * are registered: vision, language and borrowed blocks all come from here. */
static lbbt_status add_blocks(lbbt_model *into, const gpt2_arch *a, int n, const char *prefix,
                              int layer_offset, const char *source, int causal,
                              lbbt_block_stack **out) {
  lbbt_block_stack *s = NULL;
  LBBT_TRY(lbbt_block_stack_create("gpt2", source, n, a->n_layer, prefix, layer_offset, into, &s));
  lbbt_block_config bc = block_config(a);
  lbbt_block_names bn = block_names();
  for (int i = 0; i < n; i++) {
    char arch_prefix[32];
    snprintf(arch_prefix, sizeof arch_prefix, "h.%d.", i);
    lbbt_status st = lbbt_block_stack_register(s, i, &bc, &bn, arch_prefix);
    if (st != LBBT_OK) {
      lbbt_block_stack_free(s);
      return st;
    }
  }
  s->dim = a->n_embd;
  s->causal = causal;
  *out = s;
  return LBBT_OK;
}

static lbbt_status add_final_norm(lbbt_model *m, const gpt2_arch *a, lbbt_tensor **w,
                                  lbbt_tensor **b) {
  int64_t ns[1] = {a->n_embd};
  LBBT_TRY(lbbt_model_add_param(m, "ln_f.weight", LBBT_PART_HEAD, 0, 1, 1, ns, w));
  return lbbt_model_add_param(m, "ln_f.bias", LBBT_PART_HEAD, 0, 1, 1, ns, b);
}

/* Parameters m->params[from, to): read from the source and apply the init mode, or the
 * scratch initialisation.  Each is read and seeded by its name without `prefix` (a
 * borrower's), so borrowed blocks get the values create_vision gives. */
static lbbt_status fill_params(lbbt_model *m, int from, int to, const char *prefix, gpt2_arch *a,
                               gpt2_src *src, lbbt_init_mode mode, uint64_t seed) {
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

static void set_model_sizes(lbbt_model *m, const gpt2_arch *a) {
  m->n_layers = a->n_layer;
  m->dim = a->n_embd;
  m->vocab_size = a->vocab_size;
}

/* ---- model ops ------------------------------------------------------------------------- */
static lbbt_status vision_forward(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images,
                                  lbbt_tensor **features, lbbt_tensor **logits) {
  gpt2_impl *im = m->impl;
  if (!im->wpe) return lbbt_vision_forward(m, &im->v, t, images, features, logits);
  /* positions: pretrained — rows 0..n_tokens-1 of wpe, through a slice so that gradients
   * reach the table.  v.pos points at the slice only for this call. */
  lbbt_tensor *pos;
  LBBT_TRY(lbbt_slice(t, im->wpe, 0, 0, im->v.n_tokens, &pos));
  im->v.pos = pos;
  lbbt_status st = lbbt_vision_forward(m, &im->v, t, images, features, logits);
  im->v.pos = NULL;
  return st;
}

static lbbt_status language_forward(lbbt_model *m, lbbt_tape *t, const int32_t *ids, int64_t B,
                                    int64_t T, lbbt_tensor **hidden, lbbt_tensor **logits) {
  gpt2_impl *im = m->impl;
  if (!im->wte)
    return lbbt_fail(LBBT_E_INPUT, "gpt2: this model was built for vision; no token embedding");
  if (T < 1 || T > im->a.n_positions)
    return lbbt_fail(LBBT_E_INPUT,
                     "gpt2: %lld tokens per sequence, the model has %d positions (n_positions)",
                     (long long)T, im->a.n_positions);
  lbbt_tensor *x, *pos;
  LBBT_TRY(lbbt_embedding(t, im->wte, ids, B, T, &x));
  LBBT_TRY(lbbt_slice(t, im->wpe, 0, 0, T, &pos));
  LBBT_TRY(lbbt_add(t, x, pos, &x));
  lbbt_block_stack_opts so = {0};
  so.attention = LBBT_ATTN_CAUSAL;
  so.hook = m->hook;
  so.hook_user = m->hook_user;
  LBBT_TRY(lbbt_block_stack_forward(t, im->stack, x, &so, &x));
  LBBT_TRY(lbbt_layernorm(t, x, im->ln_f_w, im->ln_f_b, im->a.eps, &x));
  if (hidden) *hidden = x;
  if (logits) LBBT_TRY(lbbt_linear(t, x, im->wte, NULL, logits)); /* tied head */
  return LBBT_OK;
}

static const char *gelu_name(lbbt_gelu_form g) { return g == LBBT_GELU_TANH ? "gelu_new" : "gelu"; }

/* Hugging Face layout: every parameter under its name (no prefix, as the openai
 * checkpoints), plus config.json.  A vision model's new tensors keep their "vision." names;
 * transformers ignores them and our loader reads them back by name. */
static lbbt_status save(lbbt_model *m, const char *dir) {
  gpt2_impl *im = m->impl;
  const gpt2_arch *a = &im->a;
  if (mkdir(dir, 0755) != 0 && !is_dir(dir))
    return lbbt_fail(LBBT_E_IO, "gpt2 save: cannot create folder %s", dir);
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
  json_t *cfg = json_object();
  json_object_set_new(cfg, "architectures", json_pack("[s]", "GPT2LMHeadModel"));
  json_object_set_new(cfg, "model_type", json_string("gpt2"));
  json_object_set_new(cfg, "n_embd", json_integer(a->n_embd));
  json_object_set_new(cfg, "n_layer", json_integer(a->n_layer));
  json_object_set_new(cfg, "n_head", json_integer(a->n_head));
  json_object_set_new(cfg, "n_positions", json_integer(a->n_positions));
  json_object_set_new(cfg, "n_ctx", json_integer(a->n_positions));
  json_object_set_new(cfg, "vocab_size", json_integer(a->vocab_size));
  json_object_set_new(cfg, "n_inner", a->n_inner == 4 * a->n_embd ? json_null() : json_integer(a->n_inner));
  json_object_set_new(cfg, "layer_norm_epsilon", json_real(a->eps));
  json_object_set_new(cfg, "activation_function", json_string(gelu_name(a->gelu)));
  json_object_set_new(cfg, "scale_attn_weights", json_boolean(a->scale_attn));
  json_object_set_new(cfg, "initializer_range", json_real(0.02));
  json_object_set_new(cfg, "tie_word_embeddings", json_true());
  json_object_set_new(cfg, "torch_dtype", json_string("float32"));
  snprintf(path, sizeof path, "%s/config.json", dir);
  st = lbbt_json_write_file(path, cfg);
  json_decref(cfg);
  return st;
}

static void destroy(lbbt_model *m) {
  gpt2_impl *im = m->impl;
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
  gpt2_src s;
  gpt2_arch a;
  if (src_open(path, &s, &a) == LBBT_OK) {
    *score = 10;
    src_close(&s);
  }
  lbbt_clear_error();
  return LBBT_OK;
}

static lbbt_status new_model(gpt2_impl **im_out, lbbt_model **out, const gpt2_arch *a) {
  LBBT_TRY(lbbt_model_create(out, &MODEL_OPS, "gpt2"));
  gpt2_impl *im = calloc(1, sizeof *im);
  if (!im) return lbbt_fail(LBBT_E_NOMEM, "gpt2: out of memory");
  (*out)->impl = im;
  im->a = *a;
  *im_out = im;
  return LBBT_OK;
}

/* The architecture, options and weight source a backbone spec describes (shared by
 * create_vision and create_blocks, so both read the same weights the same way).  On success
 * the caller closes *src (a no-op without a checkpoint). */
static lbbt_status open_spec(const lbbt_backbone_spec *spec, gpt2_arch *a, gpt2_options *opt,
                             gpt2_src *src, char *source, size_t source_n) {
  memset(src, 0, sizeof *src);
  if (spec->checkpoint[0]) {
    LBBT_TRY(options_parse(spec, opt, NULL));
    if (opt->sizes_given)
      return lbbt_fail(LBBT_E_INPUT,
                       "gpt2: size options (n_embd, n_layer, ...) are for scratch models; with "
                       "backbone.checkpoint %s the sizes come from its config.json",
                       spec->checkpoint);
    LBBT_TRY(src_open(spec->checkpoint, src, a));
    snprintf(source, source_n, "checkpoint %s", spec->checkpoint);
    return LBBT_OK;
  }
  if (lbbt_init_mode_needs_checkpoint(spec->init))
    return lbbt_fail(LBBT_E_INPUT, "gpt2: init '%s' needs backbone.checkpoint",
                     lbbt_init_mode_name(spec->init));
  LBBT_TRY(arch_from_preset(spec->arch[0] ? spec->arch : "gpt2", a));
  LBBT_TRY(options_parse(spec, opt, a));
  LBBT_TRY(arch_check(a, "gpt2 backbone options"));
  snprintf(source, source_n, "scratch arch %s%s", spec->arch[0] ? spec->arch : "gpt2",
           opt->sizes_given ? ", sized by options" : "");
  return LBBT_OK;
}

/* GPT-2 attends causally unless the spec says bidirectional. */
static int spec_causal(const lbbt_backbone_spec *spec) {
  return spec->attention != LBBT_ATTN_BIDIRECTIONAL;
}

/* The first n blocks of an opened spec, registered and initialised per spec->init from seed:
 * what create_vision builds its blocks with and what create_blocks lends. */
static lbbt_status blocks_for_spec(const lbbt_backbone_spec *spec, gpt2_arch *a, gpt2_src *src,
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
  gpt2_arch a;
  gpt2_options opt;
  gpt2_src src;
  char source[LBBT_PATH_MAX + 32];
  LBBT_TRY(open_spec(spec, &a, &opt, &src, source, sizeof source));
  lbbt_model *m = NULL;
  gpt2_impl *im = NULL;
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
  vc->learned_positions = opt.positions == POS_NEW;
  LBBT_TRY_GOTO(st, blocks_for_spec(spec, &a, &src, source, a.n_layer, seed, "", 0, m, &im->stack), fail);
  set_model_sizes(m, &a);
  im->v.blocks = im->stack->blocks;
  im->v.n_blocks = a.n_layer;
  LBBT_TRY_GOTO(st, add_final_norm(m, &a, &im->v.final_norm_w, &im->v.final_norm_b), fail);
  im->v.final_norm = LBBT_NORM_LAYERNORM;
  im->v.final_norm_eps = a.eps;
  if (opt.positions == POS_PRETRAINED) {
    int64_t ps[2] = {a.n_positions, a.n_embd};
    LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "wpe.weight", LBBT_PART_EMBED, 0, 1, 2, ps, &im->wpe), fail);
  }
  /* the rest of the pretrained part: ln_f (and wpe) */
  LBBT_TRY_GOTO(st, fill_params(m, im->stack->first_param + im->stack->n_params, m->n_params, "",
                                &a, &src, spec->init, seed), fail);
  /* The new vision parameters come last so that loading never looks for them. */
  LBBT_TRY_GOTO(st, lbbt_vision_register(m, &im->v, a.n_embd, seed), fail);
  if (im->wpe && im->v.n_tokens > a.n_positions) {
    st = lbbt_fail(LBBT_E_INPUT,
                   "gpt2: positions: pretrained needs %d tokens (patches%s) but wpe has %d rows; "
                   "use a larger patch_size or positions: new",
                   im->v.n_tokens, spec->pool == LBBT_POOL_CLS ? " + class token" : "",
                   a.n_positions);
    goto fail;
  }
  lbbt_model_apply_no_decay_rule(m);
  src_close(&src);
  *out = m;
  return LBBT_OK;
fail:
  src_close(&src);
  lbbt_model_free(m);
  return st;
}

static lbbt_status load_language(const char *path, lbbt_model **out) {
  *out = NULL;
  gpt2_arch a;
  gpt2_src src;
  LBBT_TRY(src_open(path, &src, &a));
  lbbt_model *m = NULL;
  gpt2_impl *im = NULL;
  lbbt_status st;
  LBBT_TRY_GOTO(st, new_model(&im, &m, &a), fail);
  m->init = LBBT_INIT_LANGUAGE;
  snprintf(m->source, sizeof m->source, "%s", path);
  int64_t es[2] = {a.vocab_size, a.n_embd}, ps[2] = {a.n_positions, a.n_embd};
  LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "wte.weight", LBBT_PART_EMBED, 0, 1, 2, es, &im->wte), fail);
  LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "wpe.weight", LBBT_PART_EMBED, 0, 1, 2, ps, &im->wpe), fail);
  LBBT_TRY_GOTO(st, add_blocks(m, &a, a.n_layer, "", 0, path, 1, &im->stack), fail);
  set_model_sizes(m, &a);
  LBBT_TRY_GOTO(st, add_final_norm(m, &a, &im->ln_f_w, &im->ln_f_b), fail);
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

/* A scratch language model (the lm-pretrain task): as load_language, but the sizes come from
 * the preset and options (as create_vision), vocab_size and context from the caller, and
 * the weights from the GPT-2 initialisation seeded by `seed`. */
static lbbt_status create_language(const lbbt_backbone_spec *spec, int vocab_size, int context,
                                   uint64_t seed, lbbt_model **out) {
  *out = NULL;
  if (spec->checkpoint[0])
    return lbbt_fail(LBBT_E_INPUT,
                     "gpt2: create_language builds a new model from sizes; backbone.checkpoint %s "
                     "is for load_language",
                     spec->checkpoint);
  if (vocab_size < 1 || context < 1)
    return lbbt_fail(LBBT_E_INPUT, "gpt2: create_language: vocab_size %d and context %d must be >= 1",
                     vocab_size, context);
  gpt2_arch a;
  gpt2_options opt;
  LBBT_TRY(arch_from_preset(spec->arch[0] ? spec->arch : "gpt2", &a));
  LBBT_TRY(options_parse(spec, &opt, &a));
  a.vocab_size = vocab_size;
  a.n_positions = context;
  LBBT_TRY(arch_check(&a, "gpt2 language model"));
  lbbt_model *m = NULL;
  gpt2_impl *im = NULL;
  lbbt_status st;
  LBBT_TRY_GOTO(st, new_model(&im, &m, &a), fail);
  m->init = LBBT_INIT_SCRATCH;
  snprintf(m->source, sizeof m->source, "scratch");
  int64_t es[2] = {a.vocab_size, a.n_embd}, ps[2] = {a.n_positions, a.n_embd};
  LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "wte.weight", LBBT_PART_EMBED, 0, 1, 2, es, &im->wte), fail);
  LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "wpe.weight", LBBT_PART_EMBED, 0, 1, 2, ps, &im->wpe), fail);
  LBBT_TRY_GOTO(st, add_blocks(m, &a, a.n_layer, "", 0, "scratch language model", 1, &im->stack), fail);
  set_model_sizes(m, &a);
  LBBT_TRY_GOTO(st, add_final_norm(m, &a, &im->ln_f_w, &im->ln_f_b), fail);
  LBBT_TRY_GOTO(st, fill_params(m, 0, m->n_params, "", &a, NULL, LBBT_INIT_SCRATCH, seed), fail);
  lbbt_model_apply_no_decay_rule(m);
  *out = m;
  return LBBT_OK;
fail:
  lbbt_model_free(m);
  return st;
}

/* Lend the first n blocks (plugin.h, block_stack.h): the spec opened and the blocks built
 * exactly as create_vision does, for n blocks and under the borrower's prefix. */
static lbbt_status create_blocks(const lbbt_backbone_spec *spec, int n_blocks, uint64_t seed,
                                 const char *prefix, int layer_offset, lbbt_model *into,
                                 lbbt_block_stack **out) {
  *out = NULL;
  gpt2_arch a;
  gpt2_options opt;
  gpt2_src src;
  char source[LBBT_PATH_MAX + 32];
  LBBT_TRY(open_spec(spec, &a, &opt, &src, source, sizeof source));
  lbbt_status st =
      blocks_for_spec(spec, &a, &src, source, n_blocks, seed, prefix, layer_offset, into, out);
  src_close(&src);
  return st;
}

static lbbt_status describe(lbbt_model *m, void *f) {
  gpt2_impl *im = m->impl;
  const gpt2_arch *a = &im->a;
  fprintf(f,
          "architecture: gpt2 (GPT-2)\n  n_embd %d, n_layer %d, n_head %d (head dim %d), MLP "
          "hidden %d (%s), n_positions %d, vocab %d\n  LayerNorm eps %g, Conv1D weights [in, "
          "out], fused c_attn, learned positions, tied head\n",
          a->n_embd, a->n_layer, a->n_head, a->n_embd / a->n_head, a->n_inner, gelu_name(a->gelu),
          a->n_positions, a->vocab_size, a->eps);
  lbbt_model_describe(m, f);
  return LBBT_OK;
}

static const lbbt_backbone_ops BACKBONE_OPS = {
    .version = LBBT_BACKBONE_OPS_VERSION,
    .probe = probe,
    .create_vision = create_vision,
    .load_language = load_language,
    .describe = describe,
    .create_language = create_language,
    .create_blocks = create_blocks,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_BACKBONE,
    .name = "gpt2",
    .summary = "GPT-2 (Hugging Face safetensors or scratch presets gpt2, gpt2-medium): Conv1D, gelu_new, learned positions",
    .backbone = &BACKBONE_OPS,
};
