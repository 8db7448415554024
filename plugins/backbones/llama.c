/* Backbone plugin `llama`: the LLaMA family in one file, options from the checkpoint.
 *   - llama2.c .bin files (legacy layout; RoPE on interleaved pairs, as stories260K);
 *   - Hugging Face Llama (Llama-3.2: grouped-query attention, RoPE with Llama-3 frequency
 *     scaling, RMSNorm, SwiGLU, tied or untied head) as model.safetensors (+ index) with
 *     config.json;
 *   - Qwen3 (model_type "qwen3": per-head q/k RMSNorm, explicit head_dim).
 * Vision mode (Section 4.1): a new patch embedding, the checkpoint's blocks and final norm,
 * pooling, a new head.  Language mode: token ids -> logits.
 * Parameter names are Hugging Face's ("model.layers.3.self_attn.q_proj.weight").
 * Borrowed blocks (create_blocks, lbbt/block_stack.h): the first N "model.layers.<i>."
 * blocks, built by the same code as create_vision's (llama2.c's depth-scaled scratch std
 * keeps the checkpoint's depth); RoPE is applied inside their attention. */
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

typedef struct llama_arch {
  char model_type[32]; /* "llama", "qwen3", "llama2c" */
  int dim, n_layers, n_heads, n_kv_heads, head_dim, hidden_dim, vocab_size, max_positions;
  float norm_eps;
  lbbt_rope_config rope;
  int qk_norm, attn_bias, tied;
} llama_arch;

/* Where pretrained weights come from: a llama2.c file or safetensors. */
typedef struct llama_src {
  char path[LBBT_PATH_MAX];
  lbbt_llama2c *l2c;
  lbbt_st *st;
} llama_src;

typedef struct llama_impl {
  llama_arch a;
  lbbt_vision v;            /* vision mode; v.blocks points into stack */
  lbbt_block_stack *stack;  /* the blocks, in both modes (parameters owned by the model) */
  lbbt_tensor *embed, *norm_w, *lm_head;
} llama_impl;

/* ---- architecture ---------------------------------------------------------------------- */
static void arch_defaults(llama_arch *a) {
  memset(a, 0, sizeof *a);
  a->norm_eps = 1e-5f;
  a->rope.layout = LBBT_ROPE_HALF;
  a->rope.theta = 10000.0f;
  a->max_positions = 2048;
  a->tied = 1;
}

static lbbt_status arch_check(const llama_arch *a, const char *where) {
  if (a->dim < 1 || a->n_layers < 1 || a->n_heads < 1 || a->n_kv_heads < 1 ||
      a->n_heads % a->n_kv_heads || a->head_dim < 2 || a->head_dim % 2 || a->hidden_dim < 1 ||
      a->vocab_size < 1)
    return lbbt_fail(LBBT_E_INPUT,
                     "%s: invalid llama architecture (dim %d, layers %d, heads %d, kv heads %d, "
                     "head_dim %d, hidden %d, vocab %d)",
                     where, a->dim, a->n_layers, a->n_heads, a->n_kv_heads, a->head_dim,
                     a->hidden_dim, a->vocab_size);
  return LBBT_OK;
}

static void arch_from_llama2c(const lbbt_llama2c_config *c, llama_arch *a) {
  arch_defaults(a);
  snprintf(a->model_type, sizeof a->model_type, "llama2c");
  a->dim = c->dim;
  a->n_layers = c->n_layers;
  a->n_heads = c->n_heads;
  a->n_kv_heads = c->n_kv_heads;
  a->head_dim = c->head_size;
  a->hidden_dim = c->hidden_dim;
  a->vocab_size = c->vocab_size;
  a->max_positions = c->seq_len;
  a->tied = c->shared_classifier;
  a->rope.layout = LBBT_ROPE_INTERLEAVED; /* llama2.c rotates (x[2i], x[2i+1]) */
}

static int json_int(json_t *o, const char *k, int def) {
  json_t *v = json_object_get(o, k);
  return json_is_integer(v) ? (int)json_integer_value(v) : def;
}
static double json_num(json_t *o, const char *k, double def) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : def;
}

static lbbt_status arch_from_config(json_t *cfg, const char *path, llama_arch *a) {
  arch_defaults(a);
  const char *mt = json_string_value(json_object_get(cfg, "model_type"));
  if (!mt || (strcmp(mt, "llama") && strcmp(mt, "qwen3") && strcmp(mt, "qwen2")))
    return lbbt_fail(LBBT_E_INPUT, "%s: config.json model_type '%s' is not llama, qwen2 or qwen3",
                     path, mt ? mt : "(missing)");
  snprintf(a->model_type, sizeof a->model_type, "%s", mt);
  a->dim = json_int(cfg, "hidden_size", 0);
  a->n_layers = json_int(cfg, "num_hidden_layers", 0);
  a->n_heads = json_int(cfg, "num_attention_heads", 0);
  a->n_kv_heads = json_int(cfg, "num_key_value_heads", a->n_heads);
  a->head_dim = json_int(cfg, "head_dim", a->n_heads ? a->dim / a->n_heads : 0);
  a->hidden_dim = json_int(cfg, "intermediate_size", 0);
  a->vocab_size = json_int(cfg, "vocab_size", 0);
  a->max_positions = json_int(cfg, "max_position_embeddings", 2048);
  a->norm_eps = (float)json_num(cfg, "rms_norm_eps", 1e-6);
  a->rope.theta = (float)json_num(cfg, "rope_theta", 10000.0);
  a->tied = json_is_true(json_object_get(cfg, "tie_word_embeddings"));
  a->qk_norm = !strcmp(mt, "qwen3");
  a->attn_bias = json_is_true(json_object_get(cfg, "attention_bias")) || !strcmp(mt, "qwen2");
  json_t *rs = json_object_get(cfg, "rope_scaling");
  if (json_is_object(rs)) {
    const char *rt = json_string_value(json_object_get(rs, "rope_type"));
    if (!rt) rt = json_string_value(json_object_get(rs, "type"));
    if (rt && !strcmp(rt, "llama3")) {
      a->rope.llama3_factor = (float)json_num(rs, "factor", 8.0);
      a->rope.llama3_low_freq_factor = (float)json_num(rs, "low_freq_factor", 1.0);
      a->rope.llama3_high_freq_factor = (float)json_num(rs, "high_freq_factor", 4.0);
      a->rope.llama3_original_max_positions = json_int(rs, "original_max_position_embeddings", 8192);
    } else if (rt && strcmp(rt, "default")) {
      return lbbt_fail(LBBT_E_UNSUPPORTED, "%s: rope_scaling type '%s' is not supported (llama3 is)",
                       path, rt);
    }
  }
  return arch_check(a, path);
}

/* Presets for scratch models without a checkpoint (backbone.arch). */
static lbbt_status arch_from_preset(const char *name, llama_arch *a) {
  arch_defaults(a);
  if (!strcmp(name, "stories260K")) {
    lbbt_llama2c_config c = {64, 172, 5, 8, 4, 512, 512, 8, 32, 1, 0};
    arch_from_llama2c(&c, a);
    return LBBT_OK;
  }
  if (!strcmp(name, "llama-3.2-1b")) {
    snprintf(a->model_type, sizeof a->model_type, "llama");
    a->dim = 2048; a->n_layers = 16; a->n_heads = 32; a->n_kv_heads = 8; a->head_dim = 64;
    a->hidden_dim = 8192; a->vocab_size = 128256; a->max_positions = 131072;
    a->norm_eps = 1e-5f; a->rope.theta = 500000.0f; a->tied = 1;
    a->rope.llama3_factor = 32; a->rope.llama3_low_freq_factor = 1;
    a->rope.llama3_high_freq_factor = 4; a->rope.llama3_original_max_positions = 8192;
    return LBBT_OK;
  }
  return lbbt_fail(LBBT_E_INPUT, "llama: unknown arch preset '%s' (known: stories260K, llama-3.2-1b)",
                   name);
}

/* ---- weight sources -------------------------------------------------------------------- */
static int has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && !strcmp(s + n - k, suf);
}

static lbbt_status src_open(const char *path, llama_src *s, llama_arch *a) {
  memset(s, 0, sizeof *s);
  snprintf(s->path, sizeof s->path, "%s", path);
  if (has_suffix(path, ".bin")) {
    LBBT_TRY(lbbt_llama2c_load(path, &s->l2c));
    arch_from_llama2c(&s->l2c->cfg, a);
    return arch_check(a, path);
  }
  LBBT_TRY(lbbt_st_open(path, &s->st));
  json_t *cfg = lbbt_st_config(s->st);
  if (!cfg) {
    lbbt_st_close(s->st);
    s->st = NULL;
    return lbbt_fail(LBBT_E_INPUT, "%s: no config.json beside the safetensors file", path);
  }
  lbbt_status st = arch_from_config(cfg, path, a);
  if (st != LBBT_OK) {
    lbbt_st_close(s->st);
    s->st = NULL;
  }
  return st;
}

static void src_close(llama_src *s) {
  lbbt_llama2c_free(s->l2c);
  lbbt_st_close(s->st);
  memset(s, 0, sizeof *s);
}

/* Copy the checkpoint tensor `name` into t, checking its shape. */
static lbbt_status src_read(llama_src *s, const char *name, lbbt_tensor *t) {
  if (s->st) return lbbt_st_read_into(s->st, name, t);
  lbbt_named_f32 w;
  LBBT_TRY(lbbt_llama2c_find(s->l2c, name, &w));
  if (w.numel != t->numel) {
    char sh[64];
    return lbbt_fail(LBBT_E_INPUT, "%s: tensor '%s' has %lld values, the model expects %s", s->path,
                     name, (long long)w.numel, lbbt_shape_str(t, sh, sizeof sh));
  }
  memcpy(t->data, w.data, (size_t)w.numel * sizeof(float));
  return LBBT_OK;
}

/* ---- parameters ------------------------------------------------------------------------ */
static lbbt_block_config block_config(const llama_arch *a) {
  lbbt_block_config c = {0};
  c.dim = a->dim;
  c.n_heads = a->n_heads;
  c.n_kv_heads = a->n_kv_heads;
  c.head_dim = a->head_dim;
  c.hidden_dim = a->hidden_dim;
  c.norm = LBBT_NORM_RMSNORM;
  c.norm_eps = a->norm_eps;
  c.mlp = LBBT_MLP_SWIGLU;
  c.layout = LBBT_W_OUT_IN;
  c.qk_norm = a->qk_norm;
  c.use_rope = 1;
  c.rope = a->rope;
  return c;
}

static lbbt_block_names block_names(const llama_arch *a) {
  lbbt_block_names n = {0};
  n.norm1_w = "input_layernorm.weight";
  n.norm2_w = "post_attention_layernorm.weight";
  n.q_w = "self_attn.q_proj.weight";
  n.k_w = "self_attn.k_proj.weight";
  n.v_w = "self_attn.v_proj.weight";
  n.o_w = "self_attn.o_proj.weight";
  if (a->attn_bias) {
    n.q_b = "self_attn.q_proj.bias";
    n.k_b = "self_attn.k_proj.bias";
    n.v_b = "self_attn.v_proj.bias";
  }
  n.q_norm_w = "self_attn.q_norm.weight";
  n.k_norm_w = "self_attn.k_norm.weight";
  n.gate_w = "mlp.gate_proj.weight";
  n.up_w = "mlp.up_proj.weight";
  n.down_w = "mlp.down_proj.weight";
  return n;
}

/* The architecture's own scratch initialisation.  Hugging Face LlamaPreTrainedModel:
 * Linear and Embedding ~ N(0, 0.02), biases 0, norms 1.  llama2.c's model.py additionally
 * scales w3 (up_proj) and wo (o_proj) to 0.02/sqrt(2 n_layers). */
static lbbt_status scratch_init(lbbt_tensor *t, const char *name, uint64_t seed, void *user) {
  const llama_arch *a = user;
  if (strstr(name, "norm")) {
    lbbt_init_constant(t, 1.0f);
    return LBBT_OK;
  }
  if (has_suffix(name, ".bias")) {
    lbbt_init_constant(t, 0.0f);
    return LBBT_OK;
  }
  double std = 0.02;
  if (!strcmp(a->model_type, "llama2c") &&
      (has_suffix(name, "mlp.up_proj.weight") || has_suffix(name, "self_attn.o_proj.weight")))
    std = 0.02 / sqrt(2.0 * a->n_layers);
  return lbbt_init_normal(t, seed, name, 0.0, std);
}

/* The first n blocks as a block stack whose parameters go into `into` (NULL: a model of
 * the stack's own) under prefix + "model.layers.<i>.", layer offset + i.  The one place llama
 * blocks are registered: vision, language and borrowed blocks all come from here. */
static lbbt_status add_blocks(lbbt_model *into, const llama_arch *a, int n, const char *prefix,
                              int layer_offset, const char *source, int causal,
                              lbbt_block_stack **out) {
  lbbt_block_stack *s = NULL;
  LBBT_TRY(lbbt_block_stack_create("llama", source, n, a->n_layers, prefix, layer_offset, into, &s));
  lbbt_block_config bc = block_config(a);
  lbbt_block_names bn = block_names(a);
  for (int i = 0; i < n; i++) {
    char arch_prefix[64];
    snprintf(arch_prefix, sizeof arch_prefix, "model.layers.%d.", i);
    lbbt_status st = lbbt_block_stack_register(s, i, &bc, &bn, arch_prefix);
    if (st != LBBT_OK) {
      lbbt_block_stack_free(s);
      return st;
    }
  }
  s->dim = a->dim;
  s->causal = causal;
  *out = s;
  return LBBT_OK;
}

static void set_model_sizes(lbbt_model *m, const llama_arch *a) {
  m->n_layers = a->n_layers;
  m->dim = a->dim;
  m->vocab_size = a->vocab_size;
}

/* Parameters m->params[from, to): read from the source and apply the init mode, or the
 * scratch initialisation.  Each is read and seeded by its name without `prefix` (a
 * borrower's), so borrowed blocks get the values create_vision gives. */
static lbbt_status fill_params(lbbt_model *m, int from, int to, const char *prefix, llama_arch *a,
                               llama_src *src, lbbt_init_mode mode, uint64_t seed) {
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
  llama_impl *im = m->impl;
  return lbbt_vision_forward(m, &im->v, t, images, features, logits);
}

static lbbt_status language_forward(lbbt_model *m, lbbt_tape *t, const int32_t *ids, int64_t B,
                                    int64_t T, lbbt_tensor **hidden, lbbt_tensor **logits) {
  llama_impl *im = m->impl;
  if (!im->embed)
    return lbbt_fail(LBBT_E_INPUT, "llama: this model was built for vision; no token embedding");
  lbbt_tensor *x;
  LBBT_TRY(lbbt_embedding(t, im->embed, ids, B, T, &x));
  lbbt_block_stack_opts so = {0};
  so.attention = LBBT_ATTN_CAUSAL;
  so.hook = m->hook;
  so.hook_user = m->hook_user;
  LBBT_TRY(lbbt_block_stack_forward(t, im->stack, x, &so, &x));
  LBBT_TRY(lbbt_rmsnorm(t, x, im->norm_w, im->a.norm_eps, &x));
  if (hidden) *hidden = x;
  if (logits) LBBT_TRY(lbbt_linear(t, x, im->lm_head ? im->lm_head : im->embed, NULL, logits));
  return LBBT_OK;
}

/* Meta/llama2.c interleaved RoPE -> Hugging Face half layout: the permutation that
 * transformers' convert_llama_weights_to_hf.py applies to q_proj and k_proj rows. */
static void permute_rows_for_hf(const float *src, float *dst, int n_heads, int rows, int cols) {
  int per_head = rows / n_heads, half = per_head / 2;
  for (int h = 0; h < n_heads; h++)
    for (int i = 0; i < half; i++)
      for (int j = 0; j < 2; j++) {
        const float *s = src + ((size_t)h * per_head + 2 * i + j) * cols;
        float *d = dst + ((size_t)h * per_head + j * half + i) * cols;
        memcpy(d, s, (size_t)cols * sizeof(float));
      }
}

static lbbt_status save(lbbt_model *m, const char *dir) {
  llama_impl *im = m->impl;
  const llama_arch *a = &im->a;
  if (mkdir(dir, 0755) != 0) {
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
      return lbbt_fail(LBBT_E_IO, "llama save: cannot create folder %s", dir);
  }
  int interleaved = a->rope.layout == LBBT_ROPE_INTERLEAVED;
  lbbt_st_writer *w = NULL;
  LBBT_TRY(lbbt_st_writer_create(&w));
  lbbt_status st = LBBT_OK;
  float **scratch = calloc((size_t)m->n_params, sizeof *scratch);
  for (int i = 0; i < m->n_params && st == LBBT_OK; i++) {
    lbbt_param *p = &m->params[i];
    const float *data = p->t->data;
    int is_q = has_suffix(p->name, "q_proj.weight"), is_k = has_suffix(p->name, "k_proj.weight");
    if (interleaved && (is_q || is_k)) {
      scratch[i] = malloc((size_t)p->t->numel * sizeof(float));
      if (!scratch[i]) { st = lbbt_fail(LBBT_E_NOMEM, "llama save: out of memory"); break; }
      permute_rows_for_hf(data, scratch[i], is_q ? a->n_heads : a->n_kv_heads, (int)p->t->shape[0],
                          (int)p->t->shape[1]);
      data = scratch[i];
    }
    st = lbbt_st_writer_add_f32(w, p->name, p->t->ndim, p->t->shape, data);
  }
  char path[LBBT_PATH_MAX + 32];
  if (st == LBBT_OK) {
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    st = lbbt_st_writer_write(w, path);
  }
  for (int i = 0; i < m->n_params; i++) free(scratch[i]);
  free(scratch);
  lbbt_st_writer_free(w);
  if (st != LBBT_OK) return st;
  json_t *cfg = json_object();
  json_object_set_new(cfg, "architectures", json_pack("[s]", !strcmp(a->model_type, "qwen3") ? "Qwen3ForCausalLM" : "LlamaForCausalLM"));
  json_object_set_new(cfg, "model_type", json_string(!strcmp(a->model_type, "llama2c") ? "llama" : a->model_type));
  json_object_set_new(cfg, "hidden_size", json_integer(a->dim));
  json_object_set_new(cfg, "num_hidden_layers", json_integer(a->n_layers));
  json_object_set_new(cfg, "num_attention_heads", json_integer(a->n_heads));
  json_object_set_new(cfg, "num_key_value_heads", json_integer(a->n_kv_heads));
  json_object_set_new(cfg, "head_dim", json_integer(a->head_dim));
  json_object_set_new(cfg, "intermediate_size", json_integer(a->hidden_dim));
  json_object_set_new(cfg, "vocab_size", json_integer(a->vocab_size));
  json_object_set_new(cfg, "max_position_embeddings", json_integer(a->max_positions));
  json_object_set_new(cfg, "rms_norm_eps", json_real(a->norm_eps));
  json_object_set_new(cfg, "rope_theta", json_real(a->rope.theta));
  json_object_set_new(cfg, "tie_word_embeddings", json_boolean(a->tied));
  json_object_set_new(cfg, "attention_bias", json_boolean(a->attn_bias));
  json_object_set_new(cfg, "hidden_act", json_string("silu"));
  if (a->rope.llama3_factor > 0)
    json_object_set_new(cfg, "rope_scaling",
                        json_pack("{s:s,s:f,s:f,s:f,s:i}", "rope_type", "llama3", "factor",
                                  (double)a->rope.llama3_factor, "low_freq_factor",
                                  (double)a->rope.llama3_low_freq_factor, "high_freq_factor",
                                  (double)a->rope.llama3_high_freq_factor,
                                  "original_max_position_embeddings",
                                  a->rope.llama3_original_max_positions));
  snprintf(path, sizeof path, "%s/config.json", dir);
  st = lbbt_json_write_file(path, cfg);
  json_decref(cfg);
  return st;
}

static void destroy(lbbt_model *m) {
  llama_impl *im = m->impl;
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
  llama_src s;
  llama_arch a;
  lbbt_status st = src_open(path, &s, &a);
  lbbt_clear_error();
  if (st == LBBT_OK) {
    *score = 10;
    src_close(&s);
  }
  return LBBT_OK;
}

/* The architecture and weight source a backbone spec describes (shared by create_vision and
 * create_blocks, so both read the same weights the same way).  On success the caller closes
 * *src (a no-op without a checkpoint). */
static lbbt_status open_spec(const lbbt_backbone_spec *spec, llama_arch *a, llama_src *src,
                             char *source, size_t source_n) {
  memset(src, 0, sizeof *src);
  if (spec->checkpoint[0]) {
    LBBT_TRY(src_open(spec->checkpoint, src, a));
    snprintf(source, source_n, "checkpoint %s", spec->checkpoint);
    return LBBT_OK;
  }
  if (lbbt_init_mode_needs_checkpoint(spec->init))
    return lbbt_fail(LBBT_E_INPUT, "llama: init '%s' needs backbone.checkpoint",
                     lbbt_init_mode_name(spec->init));
  const char *preset = spec->arch[0] ? spec->arch : "stories260K";
  LBBT_TRY(arch_from_preset(preset, a));
  snprintf(source, source_n, "scratch arch %s", preset);
  return LBBT_OK;
}

/* LLaMA is causal unless the spec says bidirectional. */
static int spec_causal(const lbbt_backbone_spec *spec) {
  return spec->attention != LBBT_ATTN_BIDIRECTIONAL;
}

/* The first n blocks of an opened spec, registered and initialised per spec->init from seed:
 * what create_vision builds its blocks with and what create_blocks lends. */
static lbbt_status blocks_for_spec(const lbbt_backbone_spec *spec, llama_arch *a, llama_src *src,
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
  llama_arch a;
  llama_src src;
  char source[LBBT_PATH_MAX + 32];
  LBBT_TRY(open_spec(spec, &a, &src, source, sizeof source));
  lbbt_model *m = NULL;
  lbbt_status st = lbbt_model_create(&m, &MODEL_OPS, "llama");
  if (st != LBBT_OK) goto fail;
  llama_impl *im = calloc(1, sizeof *im);
  if (!im) {
    st = lbbt_fail(LBBT_E_NOMEM, "llama: out of memory");
    goto fail;
  }
  m->impl = im;
  im->a = a;
  m->init = spec->init;
  snprintf(m->source, sizeof m->source, "%s", spec->checkpoint[0] ? spec->checkpoint : "scratch");
  lbbt_vision_config *vc = &im->v.cfg;
  vc->in_channels = in_channels;
  vc->image_size = image_size;
  vc->patch_size = spec->patch_size;
  vc->num_classes = num_classes;
  vc->pool = spec->pool;
  vc->causal = spec_causal(spec);
  vc->learned_positions = 0; /* RoPE gives positions */
  LBBT_TRY_GOTO(st, blocks_for_spec(spec, &a, &src, source, a.n_layers, seed, "", 0, m, &im->stack), fail);
  set_model_sizes(m, &a);
  im->v.blocks = im->stack->blocks;
  im->v.n_blocks = a.n_layers;
  int64_t ns[1] = {a.dim};
  LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "model.norm.weight", LBBT_PART_HEAD, 0, 1, 1, ns, &im->v.final_norm_w), fail);
  im->v.final_norm = LBBT_NORM_RMSNORM;
  im->v.final_norm_eps = a.norm_eps;
  /* the rest of the pretrained part: the final norm */
  LBBT_TRY_GOTO(st, fill_params(m, im->stack->first_param + im->stack->n_params, m->n_params, "",
                                &a, &src, spec->init, seed), fail);
  /* The new vision parameters come last so that loading never looks for them. */
  LBBT_TRY_GOTO(st, lbbt_vision_register(m, &im->v, a.dim, seed), fail);
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
  llama_arch a;
  llama_src src;
  char source[LBBT_PATH_MAX + 32];
  LBBT_TRY(open_spec(spec, &a, &src, source, sizeof source));
  lbbt_status st =
      blocks_for_spec(spec, &a, &src, source, n_blocks, seed, prefix, layer_offset, into, out);
  src_close(&src);
  return st;
}

static lbbt_status load_language(const char *path, lbbt_model **out) {
  *out = NULL;
  llama_arch a;
  llama_src src;
  LBBT_TRY(src_open(path, &src, &a));
  lbbt_model *m = NULL;
  lbbt_status st = lbbt_model_create(&m, &MODEL_OPS, "llama");
  if (st != LBBT_OK) goto fail;
  llama_impl *im = calloc(1, sizeof *im);
  if (!im) {
    st = lbbt_fail(LBBT_E_NOMEM, "llama: out of memory");
    goto fail;
  }
  m->impl = im;
  im->a = a;
  m->init = LBBT_INIT_LANGUAGE;
  snprintf(m->source, sizeof m->source, "%s", path);
  int64_t es[2] = {a.vocab_size, a.dim}, ns[1] = {a.dim};
  LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "model.embed_tokens.weight", LBBT_PART_EMBED, 0, 1, 2, es, &im->embed), fail);
  LBBT_TRY_GOTO(st, add_blocks(m, &a, a.n_layers, "", 0, path, 1, &im->stack), fail);
  set_model_sizes(m, &a);
  LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "model.norm.weight", LBBT_PART_HEAD, 0, 1, 1, ns, &im->norm_w), fail);
  if (!a.tied)
    LBBT_TRY_GOTO(st, lbbt_model_add_param(m, "lm_head.weight", LBBT_PART_HEAD, 0, 0, 2, es, &im->lm_head), fail);
  LBBT_TRY_GOTO(st, fill_params(m, 0, m->n_params, "", &a, &src, LBBT_INIT_LANGUAGE, 0), fail);
  src_close(&src);
  *out = m;
  return LBBT_OK;
fail:
  src_close(&src);
  lbbt_model_free(m);
  return st;
}

static lbbt_status describe(lbbt_model *m, void *f) {
  llama_impl *im = m->impl;
  const llama_arch *a = &im->a;
  fprintf(f,
          "architecture: %s (LLaMA family)\n  dim %d, layers %d, heads %d, kv heads %d, head dim %d, "
          "MLP hidden %d (SwiGLU), vocab %d\n  RMSNorm eps %g, RoPE %s theta %g%s, q/k-norm %s, "
          "%s head\n",
          a->model_type, a->dim, a->n_layers, a->n_heads, a->n_kv_heads, a->head_dim, a->hidden_dim,
          a->vocab_size, a->norm_eps,
          a->rope.layout == LBBT_ROPE_INTERLEAVED ? "interleaved pairs" : "half split", a->rope.theta,
          a->rope.llama3_factor > 0 ? " with Llama-3 scaling" : "", a->qk_norm ? "yes" : "no",
          a->tied ? "tied" : "untied");
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
    .name = "llama",
    .summary = "LLaMA family: llama2.c .bin, Llama-3.2 and Qwen3 safetensors (GQA, RoPE, SwiGLU)",
    .backbone = &BACKBONE_OPS,
};
