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
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/backbone_kit.h"
#include "lbbt/param_init.h"

typedef struct llama_arch {
  char model_type[32]; /* "llama", "qwen3", "llama2c" */
  int dim, n_layers, n_heads, n_kv_heads, head_dim, hidden_dim, vocab_size, max_positions;
  float norm_eps;
  lbbt_rope_config rope;
  int qk_norm, attn_bias, tied;
} llama_arch;

/* ---- architecture ---------------------------------------------------------------------- */
static void arch_defaults(llama_arch *a) {
  memset(a, 0, sizeof *a);
  a->norm_eps = 1e-5f;
  a->rope.layout = LBBT_ROPE_HALF;
  a->rope.theta = 10000.0f;
  a->max_positions = 2048;
  a->tied = 1;
}

static lbbt_status arch_check(const void *arch, const char *where) {
  const llama_arch *a = arch;
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

static lbbt_status arch_from_config(json_t *cfg, const char *path, llama_arch *a) {
  arch_defaults(a);
  const char *mt;
  LBBT_TRY(lbbt_config_model_type(cfg, path, "llama, qwen2, qwen3", &mt));
  snprintf(a->model_type, sizeof a->model_type, "%s", mt);
  a->dim = lbbt_config_int(cfg, "hidden_size", 0);
  a->n_layers = lbbt_config_int(cfg, "num_hidden_layers", 0);
  a->n_heads = lbbt_config_int(cfg, "num_attention_heads", 0);
  a->n_kv_heads = lbbt_config_int(cfg, "num_key_value_heads", a->n_heads);
  a->head_dim = lbbt_config_int(cfg, "head_dim", a->n_heads ? a->dim / a->n_heads : 0);
  a->hidden_dim = lbbt_config_int(cfg, "intermediate_size", 0);
  a->vocab_size = lbbt_config_int(cfg, "vocab_size", 0);
  a->max_positions = lbbt_config_int(cfg, "max_position_embeddings", 2048);
  a->norm_eps = (float)lbbt_config_num(cfg, "rms_norm_eps", 1e-6);
  a->rope.theta = (float)lbbt_config_num(cfg, "rope_theta", 10000.0);
  a->tied = json_is_true(json_object_get(cfg, "tie_word_embeddings"));
  a->qk_norm = !strcmp(mt, "qwen3");
  a->attn_bias = json_is_true(json_object_get(cfg, "attention_bias")) || !strcmp(mt, "qwen2");
  json_t *rs = json_object_get(cfg, "rope_scaling");
  if (json_is_object(rs)) {
    const char *rt = json_string_value(json_object_get(rs, "rope_type"));
    if (!rt) rt = json_string_value(json_object_get(rs, "type"));
    if (rt && !strcmp(rt, "llama3")) {
      a->rope.llama3_factor = (float)lbbt_config_num(rs, "factor", 8.0);
      a->rope.llama3_low_freq_factor = (float)lbbt_config_num(rs, "low_freq_factor", 1.0);
      a->rope.llama3_high_freq_factor = (float)lbbt_config_num(rs, "high_freq_factor", 4.0);
      a->rope.llama3_original_max_positions = lbbt_config_int(rs, "original_max_position_embeddings", 8192);
    } else if (rt && strcmp(rt, "default")) {
      return lbbt_fail(LBBT_E_UNSUPPORTED, "%s: rope_scaling type '%s' is not supported (llama3 is)",
                       path, rt);
    }
  }
  return arch_check(a, path);
}

/* Presets for scratch models without a checkpoint (backbone.arch). */
static lbbt_status arch_from_preset(const char *name, void *arch) {
  llama_arch *a = arch;
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

/* ---- checkpoints ----------------------------------------------------------------------- */
static int has_suffix(const char *s, const char *suf) {
  size_t n = strlen(s), k = strlen(suf);
  return n >= k && !strcmp(s + n - k, suf);
}

/* A llama2.c .bin file, or safetensors with config.json. */
static lbbt_status open_checkpoint(const char *path, lbbt_backbone_source *s, void *arch) {
  lbbt_status st;
  if (has_suffix(path, ".bin")) {
    LBBT_TRY(lbbt_backbone_source_open_llama2c(path, s));
    arch_from_llama2c(&s->llama2c->cfg, arch);
    st = arch_check(arch, path);
  } else {
    LBBT_TRY(lbbt_backbone_source_open_safetensors(path, s));
    st = arch_from_config(s->config, path, arch);
  }
  if (st != LBBT_OK) lbbt_backbone_source_close(s);
  return st;
}

/* ---- layout ---------------------------------------------------------------------------- */
static void layout(const void *arch, lbbt_backbone_layout *l) {
  const llama_arch *a = arch;
  lbbt_backbone_layout_sizes(l, a->dim, a->n_layers, a->vocab_size, a->n_heads, a->n_kv_heads,
                             a->head_dim, a->hidden_dim);
  lbbt_block_config *c = &l->block;
  c->norm = LBBT_NORM_RMSNORM;
  c->norm_eps = a->norm_eps;
  c->mlp = LBBT_MLP_SWIGLU;
  c->layout = LBBT_W_OUT_IN;
  c->qk_norm = a->qk_norm;
  c->use_rope = 1;
  c->rope = a->rope;
  l->names = (lbbt_block_names){
      .norm1_w = "input_layernorm.weight", .norm2_w = "post_attention_layernorm.weight",
      .q_w = "self_attn.q_proj.weight", .k_w = "self_attn.k_proj.weight",
      .v_w = "self_attn.v_proj.weight", .o_w = "self_attn.o_proj.weight",
      .q_norm_w = "self_attn.q_norm.weight", .k_norm_w = "self_attn.k_norm.weight",
      .gate_w = "mlp.gate_proj.weight", .up_w = "mlp.up_proj.weight", .down_w = "mlp.down_proj.weight"};
  if (a->attn_bias) {
    l->names.q_b = "self_attn.q_proj.bias";
    l->names.k_b = "self_attn.k_proj.bias";
    l->names.v_b = "self_attn.v_proj.bias";
  }
  l->block_prefix = "model.layers.%d.";
  l->causal = 1;
  l->final_norm_w = "model.norm.weight";
  l->vision_positions = LBBT_VISION_POS_NONE; /* RoPE gives positions */
  l->embed_name = "model.embed_tokens.weight";
  l->lm_head = a->tied ? LBBT_LM_HEAD_TIED : LBBT_LM_HEAD_OWN;
  l->lm_head_name = "lm_head.weight";
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

/* ---- saving ---------------------------------------------------------------------------- */
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

/* Saved in the Hugging Face layout: a llama2.c model's q and k rows are permuted. */
static int save_values(const void *arch, const lbbt_param *p, float *out) {
  const llama_arch *a = arch;
  int is_q = has_suffix(p->name, "q_proj.weight"), is_k = has_suffix(p->name, "k_proj.weight");
  if (a->rope.layout != LBBT_ROPE_INTERLEAVED || !(is_q || is_k)) return 0;
  permute_rows_for_hf(p->t->data, out, is_q ? a->n_heads : a->n_kv_heads, (int)p->t->shape[0],
                      (int)p->t->shape[1]);
  return 1;
}

static json_t *config_json(const void *arch) {
  const llama_arch *a = arch;
  int qwen3 = !strcmp(a->model_type, "qwen3"), llama2c = !strcmp(a->model_type, "llama2c");
  json_t *cfg = json_pack(
      "{s:[s], s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:b, s:b, s:s}",
      "architectures", qwen3 ? "Qwen3ForCausalLM" : "LlamaForCausalLM",
      "model_type", llama2c ? "llama" : a->model_type, "hidden_size", a->dim,
      "num_hidden_layers", a->n_layers, "num_attention_heads", a->n_heads,
      "num_key_value_heads", a->n_kv_heads, "head_dim", a->head_dim,
      "intermediate_size", a->hidden_dim, "vocab_size", a->vocab_size,
      "max_position_embeddings", a->max_positions, "rms_norm_eps", (double)a->norm_eps,
      "rope_theta", (double)a->rope.theta, "tie_word_embeddings", a->tied,
      "attention_bias", a->attn_bias, "hidden_act", "silu");
  if (cfg && a->rope.llama3_factor > 0)
    json_object_set_new(cfg, "rope_scaling",
                        json_pack("{s:s,s:f,s:f,s:f,s:i}", "rope_type", "llama3", "factor",
                                  (double)a->rope.llama3_factor, "low_freq_factor",
                                  (double)a->rope.llama3_low_freq_factor, "high_freq_factor",
                                  (double)a->rope.llama3_high_freq_factor,
                                  "original_max_position_embeddings",
                                  a->rope.llama3_original_max_positions));
  return cfg;
}

static void describe(const void *arch, FILE *f) {
  const llama_arch *a = arch;
  fprintf(f,
          "architecture: %s (LLaMA family)\n  dim %d, layers %d, heads %d, kv heads %d, head dim %d, "
          "MLP hidden %d (SwiGLU), vocab %d\n  RMSNorm eps %g, RoPE %s theta %g%s, q/k-norm %s, "
          "%s head\n",
          a->model_type, a->dim, a->n_layers, a->n_heads, a->n_kv_heads, a->head_dim, a->hidden_dim,
          a->vocab_size, a->norm_eps,
          a->rope.layout == LBBT_ROPE_INTERLEAVED ? "interleaved pairs" : "half split", a->rope.theta,
          a->rope.llama3_factor > 0 ? " with Llama-3 scaling" : "", a->qk_norm ? "yes" : "no",
          a->tied ? "tied" : "untied");
}

static const lbbt_backbone_arch LLAMA = {
    .name = "llama", .arch_size = sizeof(llama_arch), LBBT_BACKBONE_ARCH_HOOKS,
    .default_preset = "stories260K",
    .open_checkpoint = open_checkpoint, .save_values = save_values,
};

LBBT_BACKBONE_KIT_PLUGIN(LLAMA, "llama",
                         "LLaMA family: llama2.c .bin, Llama-3.2 and Qwen3 safetensors (GQA, RoPE, SwiGLU)",
                         0)
