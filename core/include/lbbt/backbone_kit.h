/* The backbone kit: everything a backbone plugin shares with the others, assembled once.
 *
 * A backbone plugin describes its architecture with a few hooks (lbbt_backbone_arch): how to
 * read its checkpoint's config, its presets and options, its scratch initialisation, and a
 * layout (lbbt_backbone_layout: the pre-norm block's config and parameter names, the final
 * norm, token embedding, learned positions and LM head names).  From that the kit builds
 *   - the vision model of Section 4.1 (new patch embedding -> the blocks -> final norm ->
 *     pooling -> new head, lbbt_vision in nn.h) for create_vision,
 *   - borrowed block stacks (block_stack.h) for create_blocks, with the same code and the
 *     same per-name seeding, so borrowed block i equals create_vision's block i bit for bit,
 *   - the language model (embedding [+ positions] -> blocks -> final norm [-> LM head]) for
 *     load_language and create_language,
 * reads the weights (safetensors with config.json, or llama2.c), applies the init modes
 * (init_mode.h), and saves models in the Hugging Face layout.  Parameters are registered in
 * a fixed order: embedding, positions, blocks, final norm, LM head (language); blocks, final
 * norm, reused positions, then the new "vision." tensors (vision).
 *
 * A new backbone is one short file: its arch struct, the hooks, a layout, then
 *   static const lbbt_backbone_arch KIT = {.name = "mine", .arch_size = sizeof(mine_arch),
 *                                          LBBT_BACKBONE_ARCH_HOOKS, ...optional hooks};
 *   LBBT_BACKBONE_KIT_PLUGIN(KIT, "mine", "one line for lbbt plugins", 0)
 * (tests/plugins/tiny_prenorm.c is a complete example in under 200 lines). */
#ifndef LBBT_BACKBONE_KIT_H
#define LBBT_BACKBONE_KIT_H
#include <jansson.h>
#include <stdio.h>

#include "lbbt/block_stack.h"
#include "lbbt/checkpoint.h"
#include "lbbt/init_mode.h"
#include "lbbt/nn.h"
#include "lbbt/plugin.h"

/* ---- weight sources ------------------------------------------------------------------------ */
/* An opened checkpoint: safetensors (a file, an index or a folder) with its config.json, or a
 * llama2.c .bin file. */
typedef struct lbbt_backbone_source {
  char path[LBBT_PATH_MAX];
  lbbt_st *st;            /* safetensors, or NULL */
  json_t *config;         /* its config.json (borrowed from st, or owned: config_owned) */
  int config_owned;
  lbbt_llama2c *llama2c;  /* a llama2.c checkpoint, or NULL */
  char prefix[32];        /* prepended to every name read ("transformer." in GPT2LMHeadModel) */
} lbbt_backbone_source;

/* Open safetensors at path and find its config.json: the folder's, or the one beside a file
 * opened directly (LBBT_E_INPUT naming where it looked when there is none). */
LBBT_API lbbt_status lbbt_backbone_source_open_safetensors(const char *path, lbbt_backbone_source *s);
LBBT_API lbbt_status lbbt_backbone_source_open_llama2c(const char *path, lbbt_backbone_source *s);
/* Copy tensor prefix + name into t, checking its shape. */
LBBT_API lbbt_status lbbt_backbone_source_read(const lbbt_backbone_source *s, const char *name, lbbt_tensor *t);
LBBT_API void lbbt_backbone_source_close(lbbt_backbone_source *s); /* zeroes *s; safe when never opened */

/* config.json values: an integer / a number under key, or def when absent or of another type.
 * An integer beyond the 32-bit range reads as -1 (never truncated); configs opened through
 * lbbt_backbone_source_open_safetensors are read with lbbt_json_read_config, which refuses
 * such a value naming the key. */
LBBT_API int lbbt_config_int(json_t *config, const char *key, int def);
LBBT_API double lbbt_config_num(json_t *config, const char *key, double def);
/* config.json's model_type when it is one of `accepted` ("llama, qwen2, qwen3"), else
 * LBBT_E_INPUT naming path and the types accepted; *out points into config. */
LBBT_API lbbt_status lbbt_config_model_type(json_t *config, const char *path, const char *accepted,
                                   const char **out);

/* ---- architecture hooks -------------------------------------------------------------------- */
typedef enum {
  LBBT_VISION_POS_DEFAULT = 0, /* the layout's choice (options leave it) */
  LBBT_VISION_POS_NONE,        /* the blocks give positions (RoPE, relative bias) */
  LBBT_VISION_POS_NEW,         /* a new learned table vision.pos_embed [n_tokens, C] */
  LBBT_VISION_POS_PRETRAINED   /* the first n_tokens rows of the layout's positions table */
} lbbt_vision_positions;

typedef enum {
  LBBT_LM_HEAD_NONE,  /* an encoder: language mode gives hidden states only (T5) */
  LBBT_LM_HEAD_TIED,  /* logits = h embed^T (GPT-2, tied LLaMA) */
  LBBT_LM_HEAD_OWN    /* a separate lm_head [vocab, C] */
} lbbt_lm_head_kind;

/* What the kit builds, derived from the plugin's own arch struct by its layout hook. */
typedef struct lbbt_backbone_layout {
  int dim;                      /* C */
  int n_layers;                 /* the backbone's depth */
  int vocab_size;
  int n_positions;              /* rows of the learned positions table (with positions_name) */
  lbbt_block_config block;      /* every block's; the final norm is of the same kind and eps */
  lbbt_block_names names;       /* the block's parameter names after its prefix */
  const char *block_prefix;     /* printf format with one %d, the block index: "h.%d." */
  int causal;                   /* attention when the spec says default */
  const char *relbias_name;     /* T5: block 0's relative bias [buckets, heads], or NULL */
  int relbias_buckets, relbias_max_distance;
  const char *final_norm_w, *final_norm_b; /* b NULL for RMS norms */
  lbbt_vision_positions vision_positions;  /* NONE or NEW (options may choose PRETRAINED) */
  const char *embed_name;       /* token embedding [vocab, C]; NULL: no language mode */
  const char *positions_name;   /* learned positions [n_positions, C] ("wpe.weight"), or NULL */
  lbbt_lm_head_kind lm_head;
  const char *lm_head_name;     /* with LBBT_LM_HEAD_OWN */
} lbbt_backbone_layout;

/* Zero *l and set the sizes: the layout's and its block's (dim, heads, head_dim, MLP width). */
LBBT_API void lbbt_backbone_layout_sizes(lbbt_backbone_layout *l, int dim, int n_layers, int vocab_size,
                                int n_heads, int n_kv_heads, int head_dim, int hidden_dim);

/* What the options chose besides sizes (options hook). */
typedef struct lbbt_backbone_choices {
  int sizes_given;                  /* an option set a size: only for scratch models */
  lbbt_vision_positions positions;  /* DEFAULT unless an option chose */
} lbbt_backbone_choices;

/* The plugin's side.  `arch` is always the plugin's own struct of arch_size bytes (zeroed
 * before the first hook writes it). */
typedef struct lbbt_backbone_arch {
  /* sizeof(lbbt_backbone_arch) when the plugin was built (LBBT_BACKBONE_ARCH_HOOKS sets it):
   * hooks appended later read as NULL for an older plugin. */
  size_t struct_size;
  const char *name;            /* the plugin's name: the models' arch, in every message */
  size_t arch_size;
  const char *default_preset;  /* backbone.arch when the spec names none */
  const char *size_options;    /* for messages: "n_embd, n_layer, ..." */
  /* ---- required ---- */
  lbbt_status (*from_preset)(const char *preset, void *arch);
  lbbt_status (*check)(const void *arch, const char *where); /* sizes valid? */
  void (*layout)(const void *arch, lbbt_backbone_layout *out);
  /* the architecture's scratch init of one parameter (seeded by name; user = arch) */
  lbbt_scratch_init_fn scratch_init;
  /* config.json for save: a new object (json_pack), NULL when out of memory */
  json_t *(*config_json)(const void *arch);
  void (*describe)(const void *arch, FILE *f); /* the architecture lines of `lbbt model` */
  /* ---- optional (NULL: the feature is absent) ---- */
  /* Open path (lbbt_backbone_source_open_*) and read the architecture from it (the kit
   * closes the source after use, and after an error).  NULL: scratch models only. */
  lbbt_status (*open_checkpoint)(const char *path, lbbt_backbone_source *src, void *arch);
  /* Apply spec->options to arch (a preset's or a checkpoint's) and note choices; errors name
   * the option's line:col.  NULL: the backbone takes no options. */
  lbbt_status (*apply_options)(const lbbt_backbone_spec *spec, void *arch,
                               lbbt_backbone_choices *out);
  /* The checkpoint's name for a parameter name (aliases), or name itself. */
  const char *(*checkpoint_name)(const lbbt_backbone_source *src, const char *name);
  int (*probe_score)(const lbbt_backbone_source *src); /* default 10 */
  /* create_language: the caller's vocabulary and context replace the preset's. */
  void (*set_language_sizes)(void *arch, int vocab_size, int context);
  /* save: values to write for a parameter in another layout (into out, numel floats);
   * returns 1 when out holds them, 0 to write the parameter as it is. */
  int (*save_values)(const void *arch, const lbbt_param *p, float *out);
} lbbt_backbone_arch;

/* ---- the backbone ops, built from the hooks (plugin.h documents each) ---------------------- */
/* Each refuses (LBBT_E_PLUGIN, naming the hook) a table whose struct_size is below the first
 * layout's or that lacks a required hook. */
LBBT_API lbbt_status lbbt_backbone_kit_probe(const lbbt_backbone_arch *kit, const char *path, int *score);
LBBT_API lbbt_status lbbt_backbone_kit_create_vision(const lbbt_backbone_arch *kit,
                                            const lbbt_backbone_spec *spec, int in_channels,
                                            int image_size, int num_classes, uint64_t seed,
                                            lbbt_model **out);
LBBT_API lbbt_status lbbt_backbone_kit_create_blocks(const lbbt_backbone_arch *kit,
                                            const lbbt_backbone_spec *spec, int n_blocks,
                                            uint64_t seed, const char *prefix, int layer_offset,
                                            lbbt_model *into, lbbt_block_stack **out);
LBBT_API lbbt_status lbbt_backbone_kit_load_language(const lbbt_backbone_arch *kit, const char *path,
                                            lbbt_model **out);
LBBT_API lbbt_status lbbt_backbone_kit_create_language(const lbbt_backbone_arch *kit,
                                              const lbbt_backbone_spec *spec, int vocab_size,
                                              int context, uint64_t seed, lbbt_model **out);
LBBT_API lbbt_status lbbt_backbone_kit_describe(const lbbt_backbone_arch *kit, lbbt_model *m, void *f);

/* The required hooks under their conventional names: a plugin that defines
 *   static lbbt_status arch_from_preset(const char *preset, void *arch);
 *   static lbbt_status arch_check(const void *arch, const char *where);
 *   static void layout(const void *arch, lbbt_backbone_layout *out);
 *   static lbbt_status scratch_init(lbbt_tensor *t, const char *name, uint64_t seed, void *arch);
 *   static json_t *config_json(const void *arch);
 *   static void describe(const void *arch, FILE *f);
 * writes {.name = ..., LBBT_BACKBONE_ARCH_HOOKS, .open_checkpoint = ...} for its table (the
 * macro also sets struct_size). */
#define LBBT_BACKBONE_ARCH_HOOKS                                                                 \
  .struct_size = sizeof(lbbt_backbone_arch), .from_preset = arch_from_preset, .check = arch_check, .layout = layout,                        \
  .scratch_init = scratch_init, .config_json = config_json, .describe = describe

/* The plugin's backbone table, calling the kit with KIT (an lbbt_backbone_arch), and its
 * exported descriptor named NAME with one line SUMMARY.  create_language is offered only
 * when WITH_CREATE_LANGUAGE is 1 (KIT has set_language_sizes).  A backbone with options
 * declares them as a typed table (options.h) and names it in the _WITH_OPTIONS form: the
 * core binds them when the experiment loads (errors with file:line:col, `lbbt check --keys`
 * lists them), specs built in code are bound here, and KIT's apply_options hook reads the
 * values with lbbt_backbone_options(spec) (lbbt_backbone_option_written for optional keys). */
#define LBBT_BACKBONE_KIT_PLUGIN(KIT, NAME, SUMMARY, WITH_CREATE_LANGUAGE)                       \
  LBBT_BACKBONE_KIT_PLUGIN_WITH_OPTIONS(KIT, NAME, SUMMARY, WITH_CREATE_LANGUAGE, NULL)
#define LBBT_BACKBONE_KIT_PLUGIN_WITH_OPTIONS(KIT, NAME, SUMMARY, WITH_CREATE_LANGUAGE, OPTIONS)  \
  static const lbbt_option_table *const kit_option_table = (OPTIONS);                            \
  /* spec with its options bound (*bound: a copy to free, or NULL when spec is) */               \
  static const lbbt_backbone_spec *kit_bound(const lbbt_backbone_spec *spec,                     \
                                             lbbt_backbone_spec **bound, lbbt_status *st) {      \
    *st = lbbt_backbone_options_bind(spec, kit_option_table, NAME, bound);                       \
    return *bound ? *bound : spec;                                                               \
  }                                                                                              \
  static lbbt_status kit_probe(const char *path, int *score) {                                   \
    return lbbt_backbone_kit_probe(&(KIT), path, score);                                         \
  }                                                                                              \
  static lbbt_status kit_create_vision(const lbbt_backbone_spec *spec, int in_channels,          \
                                       int image_size, int num_classes, uint64_t seed,           \
                                       lbbt_model **out) {                                       \
    lbbt_backbone_spec *bound = NULL;                                                            \
    lbbt_status st;                                                                              \
    const lbbt_backbone_spec *s = kit_bound(spec, &bound, &st);                                  \
    if (st == LBBT_OK)                                                                           \
      st = lbbt_backbone_kit_create_vision(&(KIT), s, in_channels, image_size, num_classes,      \
                                           seed, out);                                           \
    lbbt_backbone_options_bound_free(bound);                                                     \
    return st;                                                                                   \
  }                                                                                              \
  static lbbt_status kit_load_language(const char *path, lbbt_model **out) {                     \
    return lbbt_backbone_kit_load_language(&(KIT), path, out);                                   \
  }                                                                                              \
  static lbbt_status kit_describe(lbbt_model *m, void *f) {                                      \
    return lbbt_backbone_kit_describe(&(KIT), m, f);                                             \
  }                                                                                              \
  static lbbt_status kit_create_language(const lbbt_backbone_spec *spec, int vocab_size,         \
                                         int context, uint64_t seed, lbbt_model **out) {         \
    lbbt_backbone_spec *bound = NULL;                                                            \
    lbbt_status st;                                                                              \
    const lbbt_backbone_spec *s = kit_bound(spec, &bound, &st);                                  \
    if (st == LBBT_OK)                                                                           \
      st = lbbt_backbone_kit_create_language(&(KIT), s, vocab_size, context, seed, out);         \
    lbbt_backbone_options_bound_free(bound);                                                     \
    return st;                                                                                   \
  }                                                                                              \
  static lbbt_status kit_create_blocks(const lbbt_backbone_spec *spec, int n_blocks,             \
                                       uint64_t seed, const char *prefix, int layer_offset,      \
                                       lbbt_model *into, struct lbbt_block_stack **out) {        \
    lbbt_backbone_spec *bound = NULL;                                                            \
    lbbt_status st;                                                                              \
    const lbbt_backbone_spec *s = kit_bound(spec, &bound, &st);                                  \
    if (st == LBBT_OK)                                                                           \
      st = lbbt_backbone_kit_create_blocks(&(KIT), s, n_blocks, seed, prefix, layer_offset,      \
                                           into, out);                                           \
    lbbt_backbone_options_bound_free(bound);                                                     \
    return st;                                                                                   \
  }                                                                                              \
  static const lbbt_backbone_ops KIT_BACKBONE_OPS = {                                            \
      .version = LBBT_BACKBONE_OPS_VERSION,                                                      \
      .probe = kit_probe,                                                                        \
      .create_vision = kit_create_vision,                                                        \
      .load_language = kit_load_language,                                                        \
      .describe = kit_describe,                                                                  \
      .create_language = (WITH_CREATE_LANGUAGE) ? kit_create_language : NULL,                    \
      .create_blocks = kit_create_blocks,                                                        \
  };                                                                                             \
  LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {                                \
      .abi_version = LBBT_ABI_VERSION,                                                           \
      .struct_size = sizeof(lbbt_plugin),                                                        \
      .kind = LBBT_KIND_BACKBONE,                                                                \
      .name = NAME,                                                                              \
      .summary = SUMMARY,                                                                        \
      .backbone = &KIT_BACKBONE_OPS,                                                             \
      .options = (OPTIONS),                                                                      \
  };

#endif
