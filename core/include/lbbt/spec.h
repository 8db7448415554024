/* Experiments: YAML files parsed (libyaml) into typed, validated structs.
 *
 * File layout (experiments/README.md is the full reference; `lbbt check --keys` prints it):
 *
 *   experiment: table-4                 # name; results go to results/<name>.h5
 *                                       #   (default: the file name without .yaml)
 *   description: "..."                  # one line for humans (optional)
 *   paper: {table: 4, cells: "..."}     # what this reproduces: {table: N} or {figure: N}
 *   base:                               # one run's configuration (lbbt_run_spec)
 *     seed: 0
 *     backbone: {plugin: llama, checkpoint: models:stories260K.bin, init: language,
 *                patch_size: 4, pool: mean}
 *     data: {dataset: fashion-mnist, limit: 2000, test_limit: 1000}
 *     stages:
 *       - {name: bridge, task: classification, labels: random, label_ratio: 1.0, epochs: 10}
 *       - {name: probe, task: linear-probe, epochs: 20}
 *   matrix:                             # dotted paths into base; the product expands to runs
 *     backbone.init: [scratch, language]
 *     seed: [0, 1, 2]
 *     stages.bridge.label_ratio: [0.15, 0.3, 1.0]   # stages are addressed by name
 *   groups:                             # more runs: each item is a matrix of its own
 *     - {backbone: [{plugin: gpt2, checkpoint: models/lbbt-gpt2-fortunes}],
 *        backbone.init: [scratch, language], seed: [0, 1, 2]}
 *   tiers:                              # overrides merged into base/matrix; --tier picks one
 *     smoke: {base: {data: {limit: 200}, stages: {bridge: {epochs: 1}}}, matrix: {seed: [0]}}
 *     cpu: {}
 *     paper: {base: {data: {dataset: cifar10}}}
 *
 * Resolution, in order:
 *  1. Tier: tiers.<tier>.base is deep-merged into base and tiers.<tier>.matrix into matrix
 *     (mappings merge key by key; a scalar or list replaces; `key: null` restores the
 *     default).  In a tier, `stages` may be a mapping from stage name to overrides (merged
 *     into that stage) or a list (replaces all stages).  The default tier is "cpu"; a tier
 *     the file does not declare is an error listing the declared ones (a file without
 *     `tiers:` has only "cpu").
 *  2. Matrix: each key is a dotted path into the run config (`seed`, `backbone.init`,
 *     `data.dataset`, `stages.<stage name>.label_ratio`, `backbone.options.dim`) whose value
 *     is a non-empty list.  Runs are the cartesian product in file order, the last key
 *     varying fastest.  A list item that is a mapping is merged into the addressed mapping.
 *     Groups: each item of `groups:` is one more matrix over the same base, crossed only
 *     with itself; the runs are the matrix's, then each group's, in file order (so adding a
 *     group changes no existing run).  A tier's `groups:` replaces the list (null: none).
 *     Two runs with one config (from any blocks) are an error.
 *  3. Binding: every key is one row of a directive table (name, type, offset, default or
 *     REQUIRED, check, doc) in core/src/config/spec_keys.c, so validation and "file:line:col"
 *     errors come from one place.  Unknown keys get the nearest valid key suggested.
 *
 * Paths: a relative path in the file is relative to the current working directory, which
 * is the repository root for `make` and the tests (not the YAML file's folder).  A path
 * written "models:NAME" means $LBBT_MODELS/NAME (default ../shared/models), so experiment
 * files do not depend on where models are kept.  backbone.checkpoint and data.root must
 * exist when set; the error names the line where the path was written.
 *
 * Run ids: the first 16 hex digits of the SHA-256 of the run's canonical config text
 * (run->config_yaml): the keys of the run with their resolved values, keys in table order,
 * numbers in shortest round-trip form, paths as written.  The same run therefore has the
 * same id whatever the key order, spacing or number spelling in the file, and any change of
 * a value changes it.  A key added to the tables after ids were defined (KEY_ID_IF_SET in
 * spec_keys.c), and every plugin key (options.h), enters the text only when set, so adding
 * a key with a default changes no existing id (tests/cli/run_ids.sh checks every
 * experiment's ids against tests/fixtures/run-ids.txt).
 *
 * Errors return LBBT_E_INPUT with lbbt_last_error() = "file:line:col: what; what to do". */
#ifndef LBBT_SPEC_H
#define LBBT_SPEC_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lbbt/status.h"
#include "lbbt/types.h"

#define LBBT_MAX_STAGES 8
#define LBBT_MAX_OPTIONS 16

/* Free-form plugin options (key: scalar) kept as text, validated by the plugin. */
typedef struct lbbt_option {
  char key[LBBT_NAME_MAX];
  char value[LBBT_PATH_MAX];
  int line, col; /* where it was written, for the plugin's error messages */
} lbbt_option;

typedef struct lbbt_backbone_spec {
  char plugin[LBBT_NAME_MAX];      /* gpt2, llama, chronos_t5, ... (required) */
  char checkpoint[LBBT_PATH_MAX];  /* file or folder, resolved (models:NAME expanded);
                                    * "" = none (scratch from `arch`) */
  char arch[LBBT_NAME_MAX];        /* preset when no checkpoint: gpt2, gpt2-medium, tiny, ... */
  lbbt_init_mode init;             /* default scratch */
  int patch_size;                  /* default 4 */
  int image_size;                  /* input side after resize; 0 = dataset's own */
  lbbt_pool_mode pool;             /* default mean */
  lbbt_attn_mode attention;        /* default: architecture's */
  int init_seed_offset;            /* init seed = run seed + this (default 0) */
  lbbt_option options[LBBT_MAX_OPTIONS]; /* plugin-specific (dim, n_layers, ...), as written */
  int n_options;
  void *plugin_options;            /* the plugin's bound options struct when it declares a
                                    * table (owned; lbbt_backbone_options, options.h) */
} lbbt_backbone_spec;

typedef struct lbbt_data_spec {
  char dataset[LBBT_NAME_MAX];   /* fashion-mnist | cifar10 | cifar100 | folder (required) */
  char root[LBBT_PATH_MAX];      /* data folder; "" = the dataset's default location */
  int limit;                     /* class-balanced training subset size; 0 = all */
  int test_limit;                /* class-balanced test subset size; 0 = all */
  int image_size;                /* resize to this side; 0 = native */
  int crop_padding;              /* random crop with this padding (0 = off) */
  int flip;                      /* random horizontal flip (0/1) */
  int subset_seed;               /* seed of the subset choice (default 0, fixed across runs) */
  /* Appended: settings of the dataset kind (e.g. the composites' canvas, max_items), checked
   * by the datasets module; in the canonical config (so the run id) only when any is set. */
  lbbt_option options[LBBT_MAX_OPTIONS];
  int n_options;
} lbbt_data_spec;


typedef struct lbbt_stage_spec {
  char name[LBBT_NAME_MAX];     /* unique within the run (required) */
  char task[LBBT_NAME_MAX];     /* task plugin: classification, linear-probe, ... or */
  char analysis[LBBT_NAME_MAX]; /* analysis plugin: outliers, hessian, ... (one of the two) */
  int epochs;                   /* required for tasks */
  int batch_size;               /* default 64 */
  double lr;                    /* default 1e-3 */
  double weight_decay;          /* default 0.05 */
  double drop_path;             /* default 0.1 */
  double clip;                  /* max global grad norm; 0 = off; default 1.0 */
  double warmup_epochs;         /* default 0 */
  double momentum;              /* SGD only, default 0.9 */
  lbbt_optimizer_kind optimizer;/* default adamw */
  lbbt_layer_range train_layers;/* default all */
  int train_embed;              /* train patch embedding / positions (default 1) */
  int train_head;               /* train final norm + head (default 1) */
  int skip;                     /* 1: leave the stage out (e.g. Table 14 "w/o bridge training") */
  /* The plugin's keys as written (under options: or directly in the stage), in file order;
   * plugins read their typed values with lbbt_stage_options (options.h). */
  lbbt_option options[LBBT_MAX_OPTIONS];
  int n_options;
  void *plugin_options;         /* the plugin's bound options struct (owned; options.h) */
} lbbt_stage_spec;

typedef struct lbbt_run_spec {
  char id[17];                 /* 16 hex chars: hash of the canonical resolved config */
  char label[256];             /* the matrix values as written, in matrix order:
                                * "backbone.init=language seed=0" ("" without a matrix;
                                * cut with "..." past 255 bytes) */
  uint64_t seed;
  lbbt_backbone_spec backbone;
  lbbt_data_spec data;
  lbbt_stage_spec stages[LBBT_MAX_STAGES];
  int n_stages;
  char *config_yaml;           /* canonical resolved config as YAML text (owned) */
  /* matrix values of this run: matrix_keys[i] is the dotted path ("stages.bridge.lr"),
   * matrix_values[i] the value as written (mappings in flow form).  Owned strings. */
  char **matrix_keys, **matrix_values;
  int n_matrix;
  int index;                   /* position in the expansion, 0-based */
} lbbt_run_spec;

#define LBBT_TIER_MAX 16   /* bytes of a tier name, NUL included */
#define LBBT_MAX_GROUPS 16 /* items of `groups:` */
#define LBBT_MAX_TIERS 8

typedef struct lbbt_experiment {
  char file[LBBT_PATH_MAX];    /* the path given to lbbt_experiment_load */
  char name[LBBT_NAME_MAX];    /* `experiment:`, default the file name without .yaml */
  char description[LBBT_PATH_MAX]; /* `description:` ("" when absent) */
  char tier[LBBT_TIER_MAX];    /* the tier applied */
  char tiers[LBBT_MAX_TIERS][LBBT_TIER_MAX]; /* tiers declared in the file, in file order */
  int n_tiers;                 /* 0 when the file has no `tiers:` */
  int paper_table;             /* 0 when not a table */
  int paper_figure;            /* 0 when not a figure */
  char paper_cells[LBBT_PATH_MAX]; /* `paper.cells`: which cells/panels ("" when absent) */
  char *yaml_text;             /* the file verbatim (owned) */
  char sha256[65];             /* of yaml_text */
  lbbt_run_spec *runs;         /* n_runs entries (owned) */
  int n_runs;
} lbbt_experiment;

/* Parse, apply the tier, expand the matrix, validate.  tier: "smoke" | "cpu" | "paper" (or
 * any tier the file declares); NULL means "cpu".  On success *out is owned by the caller
 * (lbbt_experiment_free); on failure *out is NULL and the message names file:line:col.
 * Plugin names are not checked here (see lbbt_experiment_check_plugins in runner.h). */
LBBT_API lbbt_status lbbt_experiment_load(const char *path, const char *tier, lbbt_experiment **out);
/* Flags for lbbt_experiment_load_flags. */
#define LBBT_SPEC_SKIP_FILE_CHECKS 1u /* do not require checkpoints / data roots to exist
                                       * (validating a tier meant for another machine) */
LBBT_API lbbt_status lbbt_experiment_load_flags(const char *path, const char *tier, unsigned flags,
                                       lbbt_experiment **out);
/* Load with the stage plugins' keys taken from reg (options.h): a stage's plugin keys bind
 * only when its plugin is in reg (NULL: no plugin keys are known, so writing one is an
 * "unknown key" error).  lbbt_experiment_load and _load_flags use lbbt_registry_global(). */
struct lbbt_registry;
LBBT_API lbbt_status lbbt_experiment_load_with(const char *path, const char *tier, unsigned flags,
                                      const struct lbbt_registry *reg, lbbt_experiment **out);
LBBT_API void lbbt_experiment_free(lbbt_experiment *e); /* NULL-safe */
/* Find an option by key; NULL when absent. */
LBBT_API const lbbt_option *lbbt_option_find(const lbbt_option *opts, int n, const char *key);

/* The models folder: $LBBT_MODELS when set and non-empty, else "../shared/models". */
LBBT_API const char *lbbt_models_dir(void);
/* Resolve a path as written in an experiment file: "models:NAME" -> <models dir>/NAME;
 * anything else is copied unchanged.  LBBT_E_INPUT when the result does not fit in n. */
LBBT_API lbbt_status lbbt_resolve_path(const char *written, char *out, size_t n);

/* Print the key reference (every directive table row: key path, type, default, allowed
 * values, meaning) as Markdown, then every plugin's keys when lbbt_registry_global() is
 * set; experiments/README.md holds a copy (`lbbt check --keys`). */
LBBT_API void lbbt_spec_write_reference(FILE *f);

#endif
