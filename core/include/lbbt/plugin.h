/* The plugin ABI.
 *
 * A plugin is a shared object that exports one symbol, LBBT_PLUGIN_SYMBOL
 * ("lbbt_plugin_descriptor"), a const lbbt_plugin.  As with SQLite's sqlite3_module, the
 * struct starts with versioning and only ever grows at the end:
 *   - abi_version: the major version; the loader refuses any other value (the layout or
 *     meaning of existing fields changed);
 *   - struct_size: sizeof(lbbt_plugin) when the plugin was built; fields past it are
 *     treated as absent (NULL), so an older plugin keeps loading after fields are appended.
 *     A struct_size below LBBT_PLUGIN_MIN_SIZE (the ABI 1 layout) is refused.  A larger one
 *     (a plugin built against a newer header of the same ABI) loads; unknown fields are
 *     ignored.
 * Each kind has its own table of functions, also versioned by its first field: version
 * must be >= 1; fields added after the table's version are treated as NULL; a table newer
 * than this core loads and its unknown fields are ignored.
 * The versioning rule for maintainers: appending a field to lbbt_plugin or to a table is
 * compatible (bump the table's *_OPS_VERSION and teach the loader's size-for-version
 * function in core/src/runtime/plugins.c); changing or removing a field bumps LBBT_ABI_VERSION.
 *
 * The registry hands out copies of the descriptor and its table normalised to this
 * header's layout, so core code may read every field without checking versions.
 * Copy plugins/analyses/template.c to start a new plugin: it lists the steps.
 *
 * Why a descriptor struct and not a set of named symbols (nginx modules also export one
 * struct): the loader makes one dlsym call, checks every field in one place, and names the
 * exact field that is missing when it refuses a plugin. */
#ifndef LBBT_PLUGIN_H
#define LBBT_PLUGIN_H
#include <stddef.h>
#include <stdint.h>

#include "lbbt/model.h"
#include "lbbt/options.h"
#include "lbbt/spec.h"
#include "lbbt/status.h"

#define LBBT_ABI_VERSION 2
#define LBBT_PLUGIN_SYMBOL "lbbt_plugin_descriptor"

typedef enum { LBBT_KIND_BACKBONE = 1, LBBT_KIND_TASK = 2, LBBT_KIND_ANALYSIS = 3 } lbbt_plugin_kind;
/* "backbone", "task", "analysis"; "unknown" for any other value.  Static string. */
LBBT_API const char *lbbt_plugin_kind_name(lbbt_plugin_kind k);
/* The inverse: LBBT_E_INPUT (message lists the valid kinds) for any other text. */
LBBT_API lbbt_status lbbt_plugin_kind_parse(const char *text, lbbt_plugin_kind *out);

struct lbbt_stage_ctx; /* runner.h */
struct lbbt_block_stack; /* block_stack.h */

/* ---- backbones --------------------------------------------------------------------- */
typedef struct lbbt_backbone_ops {
  int version; /* LBBT_BACKBONE_OPS_VERSION */
  /* Does this plugin read the checkpoint at path?  Sets *score (0 = no, higher = better
   * match) so `lbbt model PATH` can pick a plugin.  Never fails on foreign files.
   * May be NULL: the plugin never claims a checkpoint. */
  lbbt_status (*probe)(const char *path, int *score);
  /* A vision model: new patch embedding (seeded), the backbone's blocks initialised per
   * spec->init, its final norm, pooling and a classifier of num_classes.  Required. */
  lbbt_status (*create_vision)(const lbbt_backbone_spec *spec, int in_channels, int image_size,
                               int num_classes, uint64_t seed, lbbt_model **out);
  /* The checkpoint as a language model (token ids in, logits out).  May be NULL. */
  lbbt_status (*load_language)(const char *path, lbbt_model **out);
  /* Print architecture, per-layer parameter counts and weight statistics.  May be NULL. */
  lbbt_status (*describe)(lbbt_model *m, void *file /* FILE* */);
  /* ---- version 2 ---- */
  /* A NEW language model for pretraining (token ids in, logits out), initialised as the
   * architecture's own scratch init from `seed`: sizes from spec->arch and spec->options as
   * in create_vision, then vocab_size and context (the number of positions) override the
   * architecture's.  spec->checkpoint must be "" (checkpoints load with load_language).
   * Its ops->save writes a folder that load_language reads back.  May be NULL: the plugin
   * cannot build language models from scratch (the lm-pretrain task says so). */
  lbbt_status (*create_language)(const lbbt_backbone_spec *spec, int vocab_size, int context,
                                 uint64_t seed, lbbt_model **out);
  /* ---- version 3 ---- */
  /* Lend blocks to another plugin (DETR, Segmenter): the first n_blocks transformer blocks,
   * built and initialised from spec and seed exactly as create_vision builds and initialises
   * them (bit-identical values), as a module hidden [B, T, C] -> [B, T, C].  Parameters are
   * registered in `into` (NULL: a model owned by the stack) under prefix + the backbone's
   * names, with layer index layer_offset + i.  See lbbt/block_stack.h for the contract and
   * the errors; borrowers call lbbt_borrow_blocks rather than this directly.  May be NULL:
   * the backbone does not lend blocks (borrowing from it is an LBBT_E_INPUT error). */
  lbbt_status (*create_blocks)(const lbbt_backbone_spec *spec, int n_blocks, uint64_t seed,
                               const char *prefix, int layer_offset, lbbt_model *into,
                               struct lbbt_block_stack **out);
} lbbt_backbone_ops;
#define LBBT_BACKBONE_OPS_VERSION 3

/* ---- tasks and analyses -------------------------------------------------------------- */
/* What a stage needs the runner to prepare before its run (bits of lbbt_task_needs.what).
 * The runner prepares the union over a run's stages and nothing else: a run none of whose
 * stages needs images loads no dataset; one that needs no model builds none (ctx->model is
 * NULL), and then neither `backbone` nor `data` need be written in the experiment. */
typedef enum lbbt_task_need {
  /* ctx->model: the run's backbone built as a vision model (create_vision) with
   * lbbt_task_needs.outputs outputs; implies LBBT_NEED_IMAGE_DATA (its input size). */
  LBBT_NEED_VISION_MODEL = 1u << 0,
  /* ctx->train, ctx->test: the run's `data`, carrying lbbt_task_needs.targets. */
  LBBT_NEED_IMAGE_DATA = 1u << 1,
  /* The run's backbone lends blocks (its create_blocks): the task borrows them itself with
   * lbbt_borrow_blocks(&ctx->run->backbone, ...); the runner checks the plugin can. */
  LBBT_NEED_BLOCK_STACK = 1u << 2,
  /* ctx->model: the run's backbone checkpoint as a language model (load_language). */
  LBBT_NEED_LANGUAGE_MODEL = 1u << 3,
  /* The stage reads text named by its own options (corpus.h) and builds what it trains:
   * the runner prepares nothing for it. */
  LBBT_NEED_TEXT_CORPUS = 1u << 4,
} lbbt_task_need;

/* The targets a stage's images must carry (lbbt_task_needs.targets). */
typedef enum lbbt_targets {
  LBBT_TARGETS_CLASS = 0, /* one class label per image (every dataset today) */
  LBBT_TARGETS_BOXES,     /* boxes with class labels (detection) */
  LBBT_TARGETS_MASK,      /* a class per pixel (segmentation) */
  LBBT_TARGETS_NONE,      /* images only (self-supervised) */
} lbbt_targets;

/* A stage's declaration, filled by lbbt_task_ops.needs.  The runner zeroes it first, so a
 * plugin that leaves a field unset asks for its zero value.  Fields are only appended. */
typedef struct lbbt_task_needs {
  unsigned what;        /* LBBT_NEED_* bits; 0: nothing (ctx->model, train, test NULL) */
  lbbt_targets targets; /* with LBBT_NEED_IMAGE_DATA */
  int outputs;          /* with LBBT_NEED_VISION_MODEL: the head's outputs; 0 = the training
                           data's number of classes */
  /* 1: the stage's effect (the model's parameters and the record) is a deterministic
   * function of the run's configuration up to and including this stage and of the
   * checkpoint's bytes, and it writes nothing else: the runner may store it after the stage
   * and give it to another run whose configuration starts the same way (stage cache,
   * core/src/runtime/stage_cache.h).  0 (the default): always run. */
  int cacheable;
} lbbt_task_needs;

typedef struct lbbt_task_ops {
  int version; /* LBBT_TASK_OPS_VERSION */
  /* Check the stage's options before anything runs (file:line:col errors). May be NULL. */
  lbbt_status (*validate)(const lbbt_stage_spec *stage, const char *file);
  /* Run one stage of one run: train/evaluate ctx->model, write metrics through ctx.
   * Required. */
  lbbt_status (*run)(struct lbbt_stage_ctx *ctx);
  /* ---- version 2 ---- */
  /* What this stage needs prepared (above); called after validate accepted the stage.
   * NULL (and every version-1 table): a vision model with the data's classes and image data
   * with class labels, not cacheable -- what the runner gave every stage before. */
  lbbt_status (*needs)(const lbbt_stage_spec *stage, lbbt_task_needs *out);
} lbbt_task_ops;
#define LBBT_TASK_OPS_VERSION 2
/* The declaration of a stage whose plugin has no needs function (version 1). */
LBBT_API void lbbt_task_needs_default(lbbt_task_needs *out);
/* ops->needs(stage) or the default, with VISION_MODEL completed by IMAGE_DATA.  Errors
 * (LBBT_E_INPUT/LBBT_E_PLUGIN) name the stage. */
LBBT_API lbbt_status lbbt_task_needs_of(const lbbt_task_ops *ops, const lbbt_stage_spec *stage,
                               lbbt_task_needs *out);
typedef lbbt_task_ops lbbt_analysis_ops; /* same shape: validate + run */

typedef struct lbbt_plugin {
  int abi_version;        /* LBBT_ABI_VERSION */
  size_t struct_size;     /* sizeof(lbbt_plugin) at build time */
  lbbt_plugin_kind kind;
  const char *name;       /* [a-z0-9_-]+, shorter than LBBT_NAME_MAX, unique within its
                           * kind: "gpt2", "linear-probe" */
  const char *summary;    /* one line (no newline) for `lbbt plugins` */
  const lbbt_backbone_ops *backbone; /* kind == BACKBONE (NULL otherwise) */
  const lbbt_task_ops *task;         /* kind == TASK or ANALYSIS (NULL otherwise) */
  /* ---- ABI 2 ---- */
  /* The keys a stage of this task or analysis may write, typed (options.h); the core binds
   * them when the experiment loads and hands the values over as lbbt_stage_options(stage).
   * NULL: the plugin takes no keys of its own.  A backbone's table types backbone.options
   * (lbbt_backbone_options); without one it checks spec->options itself. */
  const lbbt_option_table *options;
  /* append new fields here only */
} lbbt_plugin;
/* The smallest struct_size the loader accepts: the ABI 2 layout, ending at `options`. */
#define LBBT_PLUGIN_MIN_SIZE (offsetof(lbbt_plugin, options) + sizeof(const lbbt_option_table *))

/* Use in a plugin: LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {...}; */
#define LBBT_PLUGIN_EXPORT __attribute__((visibility("default")))

/* Every check the loader makes on a descriptor, without loading anything: returns LBBT_OK,
 * or LBBT_E_PLUGIN with a one-line reason (no file name) in reason[0..n) and in
 * lbbt_last_error(), e.g. "abi_version is 999, this lbbt expects 1: rebuild the plugin
 * against this lbbt's headers" or "backbone->create_vision is NULL".  The duplicate-name
 * check needs the registry and is made by lbbt_registry_load only.  Plugin authors can
 * call this from their own tests. */
LBBT_API lbbt_status lbbt_plugin_validate(const lbbt_plugin *p, char *reason, size_t n);

/* ---- the registry (core/src/runtime/plugins.c) ------------------------------------------------ */
typedef struct lbbt_registry lbbt_registry;
typedef struct lbbt_plugin_entry {
  const lbbt_plugin *plugin; /* normalised copy, owned by the registry; its backbone/task
                              * point at normalised copies of the plugin's table */
  char file[LBBT_PATH_MAX];  /* the .so as found: plugin_dir or LBBT_PLUGIN_PATH + path */
} lbbt_plugin_entry;
/* Load every *.so under plugin_dir (the build's plugins folder, "build/plugins"; searched
 * recursively) and then under each directory in $LBBT_PLUGIN_PATH (colon separated, also
 * recursive), in that order; within one directory tree files are sorted by path, so the
 * order is deterministic.  plugin_dir may be NULL (only $LBBT_PLUGIN_PATH is read).
 *
 * A plugin that is refused does not stop the others: its line "FILE: reason" goes to
 * `warn` (may be NULL) and to lbbt_registry_refused().  Reasons: dlopen failure (dlerror
 * text), missing LBBT_PLUGIN_SYMBOL, anything lbbt_plugin_validate rejects, and a name
 * already taken within the same kind (the first found wins; the reason names its file).
 * A file reached twice (same real path) is loaded once, silently.  A $LBBT_PLUGIN_PATH
 * entry that does not exist or is no directory, and a subfolder that cannot be read, only
 * warn: the line goes to `warn` and to lbbt_registry_warning().
 *
 * Fails (LBBT_E_IO, *out = NULL) only when plugin_dir itself cannot be read, and with
 * LBBT_E_NOMEM.  On success *out is owned by the caller: lbbt_registry_free closes every
 * plugin, so no pointer obtained from the registry or its plugins survives it. */
LBBT_API lbbt_status lbbt_registry_load(lbbt_registry **out, const char *plugin_dir,
                               void (*warn)(const char *line));
LBBT_API void lbbt_registry_free(lbbt_registry *r); /* NULL-safe; also clears the global if it is r */
LBBT_API int lbbt_registry_count(const lbbt_registry *r);
LBBT_API const lbbt_plugin_entry *lbbt_registry_at(const lbbt_registry *r, int i); /* 0 <= i < count */
/* NULL when no plugin of that kind has that name. */
LBBT_API const lbbt_plugin *lbbt_registry_find(const lbbt_registry *r, lbbt_plugin_kind kind, const char *name);
/* Like find, but also gives the file (NULL when absent). */
LBBT_API const lbbt_plugin_entry *lbbt_registry_find_entry(const lbbt_registry *r, lbbt_plugin_kind kind,
                                                  const char *name);
LBBT_API int lbbt_registry_n_refused(const lbbt_registry *r);
LBBT_API const char *lbbt_registry_refused(const lbbt_registry *r, int i); /* "file: reason" */
LBBT_API int lbbt_registry_n_warnings(const lbbt_registry *r);
LBBT_API const char *lbbt_registry_warning(const lbbt_registry *r, int i);
/* The process-wide registry used by the CLI and by plugins that borrow other plugins
 * (DETR borrowing gpt2 blocks: lbbt_borrow_blocks in block_stack.h reads it when given no
 * registry).  Set by the CLI after loading; not owned by the setter (the CLI frees it at
 * exit).  NULL until set. */
LBBT_API void lbbt_registry_set_global(lbbt_registry *r);
LBBT_API lbbt_registry *lbbt_registry_global(void);

#endif
