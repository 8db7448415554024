/* The plugin ABI.
 *
 * A plugin is a shared object that exports one symbol, LBBT_PLUGIN_SYMBOL
 * ("lbbt_plugin_descriptor"), a const lbbt_plugin.  As with SQLite's sqlite3_module, the
 * struct starts with versioning and only ever grows at the end:
 *   - abi_version: the major version; the loader refuses any other value (the layout or
 *     meaning of existing fields changed);
 *   - struct_size: sizeof(lbbt_plugin) when the plugin was built; fields past it are
 *     treated as absent (NULL), so an older plugin keeps loading after fields are appended.
 * Each kind has its own table of functions, also versioned by its first field.
 * Copy plugins/template/template.c to start a new plugin: it lists the steps.
 *
 * Why a descriptor struct and not a set of named symbols (nginx modules also export one
 * struct): the loader makes one dlsym call, checks every field in one place, and names the
 * exact field that is missing when it refuses a plugin. */
#ifndef LBBT_PLUGIN_H
#define LBBT_PLUGIN_H
#include <stddef.h>

#include "lbbt/model.h"
#include "lbbt/spec.h"
#include "lbbt/status.h"

#define LBBT_ABI_VERSION 1
#define LBBT_PLUGIN_SYMBOL "lbbt_plugin_descriptor"

typedef enum { LBBT_KIND_BACKBONE = 1, LBBT_KIND_TASK = 2, LBBT_KIND_ANALYSIS = 3 } lbbt_plugin_kind;
const char *lbbt_plugin_kind_name(lbbt_plugin_kind k);

struct lbbt_stage_ctx; /* runner.h */

/* ---- backbones --------------------------------------------------------------------- */
typedef struct lbbt_backbone_ops {
  int version; /* LBBT_BACKBONE_OPS_VERSION */
  /* Does this plugin read the checkpoint at path?  Sets *score (0 = no, higher = better
   * match) so `lbbt model PATH` can pick a plugin.  Never fails on foreign files. */
  lbbt_status (*probe)(const char *path, int *score);
  /* A vision model: new patch embedding (seeded), the backbone's blocks initialised per
   * spec->init, its final norm, pooling and a classifier of num_classes. */
  lbbt_status (*create_vision)(const lbbt_backbone_spec *spec, int in_channels, int image_size,
                               int num_classes, uint64_t seed, lbbt_model **out);
  /* The checkpoint as a language model (token ids in, logits out). */
  lbbt_status (*load_language)(const char *path, lbbt_model **out);
  /* Print architecture, per-layer parameter counts and weight statistics. */
  lbbt_status (*describe)(lbbt_model *m, void *file /* FILE* */);
} lbbt_backbone_ops;
#define LBBT_BACKBONE_OPS_VERSION 1

/* ---- tasks and analyses -------------------------------------------------------------- */
typedef struct lbbt_task_ops {
  int version; /* LBBT_TASK_OPS_VERSION */
  /* Check the stage's options before anything runs (file:line errors). May be NULL. */
  lbbt_status (*validate)(const lbbt_stage_spec *stage, const char *file);
  /* Run one stage of one run: train/evaluate ctx->model, write metrics through ctx. */
  lbbt_status (*run)(struct lbbt_stage_ctx *ctx);
} lbbt_task_ops;
#define LBBT_TASK_OPS_VERSION 1
typedef lbbt_task_ops lbbt_analysis_ops; /* same shape: validate + run */

typedef struct lbbt_plugin {
  int abi_version;        /* LBBT_ABI_VERSION */
  size_t struct_size;     /* sizeof(lbbt_plugin) at build time */
  lbbt_plugin_kind kind;
  const char *name;       /* unique across all loaded plugins: "gpt2", "classification" */
  const char *summary;    /* one line for `lbbt plugins` */
  const lbbt_backbone_ops *backbone; /* kind == BACKBONE */
  const lbbt_task_ops *task;         /* kind == TASK or ANALYSIS */
  /* append new fields here only */
} lbbt_plugin;

/* Use in a plugin: LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {...}; */
#define LBBT_PLUGIN_EXPORT __attribute__((visibility("default")))

/* ---- the registry (core/src/plugins.c) ------------------------------------------------ */
typedef struct lbbt_registry lbbt_registry;
typedef struct lbbt_plugin_entry {
  const lbbt_plugin *plugin;
  char file[LBBT_PATH_MAX];
} lbbt_plugin_entry;
/* Load every *.so under build_dir/plugins (recursively) and each directory in
 * $LBBT_PLUGIN_PATH (colon separated).  A plugin that is refused does not stop the others:
 * its file and reason go to `warn` (one line each) and to lbbt_registry_refused(). */
lbbt_status lbbt_registry_load(lbbt_registry **out, const char *plugin_dir,
                               void (*warn)(const char *line));
void lbbt_registry_free(lbbt_registry *r);
int lbbt_registry_count(const lbbt_registry *r);
const lbbt_plugin_entry *lbbt_registry_at(const lbbt_registry *r, int i);
const lbbt_plugin *lbbt_registry_find(const lbbt_registry *r, lbbt_plugin_kind kind, const char *name);
int lbbt_registry_n_refused(const lbbt_registry *r);
const char *lbbt_registry_refused(const lbbt_registry *r, int i); /* "file: reason" */
/* The process-wide registry used by the CLI and by plugins that borrow other plugins
 * (DETR borrowing gpt2 blocks).  Set by the CLI after loading. */
void lbbt_registry_set_global(lbbt_registry *r);
lbbt_registry *lbbt_registry_global(void);

#endif
