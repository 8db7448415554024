/* Experiments: YAML files parsed (libyaml) into typed, validated structs.
 *
 * File layout (see experiments/README.md for the full reference):
 *
 *   experiment: table-4                 # name; results go to results/<name>.h5
 *   paper: {table: 4, cells: "..."}     # what this reproduces (metafile)
 *   base:                               # one run's configuration (lbbt_run_spec)
 *     seed: 0
 *     backbone: {plugin: llama, checkpoint: ../shared/models/stories260K.bin, init: language,
 *                patch_size: 4, pool: mean}
 *     data: {dataset: fashion-mnist, limit: 2000, test_limit: 1000}
 *     stages:
 *       - {name: bridge, task: classification, labels: random, label_ratio: 1.0, epochs: 10}
 *       - {name: probe, task: linear-probe, epochs: 20}
 *   matrix:                             # dotted paths into base; the product expands to runs
 *     backbone.init: [scratch, language]
 *     seed: [0, 1, 2]
 *     stages.bridge.label_ratio: [0.15, 0.3, 1.0]   # stages are addressed by name
 *   tiers:                              # overrides merged into base/matrix; --tier picks one
 *     smoke: {base: {data: {limit: 200}}, matrix: {seed: [0]}}
 *     cpu: {}
 *     paper: {base: {data: {dataset: cifar10}}}
 *
 * Every key is one row of a directive table (name, type, offset, default, check) in
 * core/src/spec.c, so validation and "file:line:col" errors come from one place.  Unknown
 * keys get the nearest valid key suggested.  Errors return LBBT_E_INPUT. */
#ifndef LBBT_SPEC_H
#define LBBT_SPEC_H
#include <stdint.h>

#include "lbbt/status.h"

#define LBBT_NAME_MAX 64
#define LBBT_PATH_MAX 512
#define LBBT_MAX_STAGES 8
#define LBBT_MAX_OPTIONS 16

typedef enum {
  LBBT_INIT_SCRATCH,         /* the architecture's own published initialisation, seeded */
  LBBT_INIT_LANGUAGE,        /* load the pretrained checkpoint */
  LBBT_INIT_SHUFFLED,        /* checkpoint values permuted within each tensor (seeded) */
  LBBT_INIT_MOMENT_MATCHED,  /* Gaussian with each pretrained tensor's mean and std */
  LBBT_INIT_SCRATCH_RESCALED /* scratch init rescaled to each pretrained tensor's norm */
} lbbt_init_mode;

typedef enum { LBBT_POOL_MEAN, LBBT_POOL_CLS } lbbt_pool_mode;
typedef enum {
  LBBT_ATTN_DEFAULT,      /* what the architecture does (GPT-2/LLaMA: causal; T5 encoder: not) */
  LBBT_ATTN_CAUSAL,
  LBBT_ATTN_BIDIRECTIONAL
} lbbt_attn_mode;

/* Which transformer blocks train: all | none | first:K | last:K | range:A-B (0-based, incl.) */
typedef enum { LBBT_LAYERS_ALL, LBBT_LAYERS_NONE, LBBT_LAYERS_FIRST, LBBT_LAYERS_LAST,
               LBBT_LAYERS_RANGE } lbbt_layer_select;
typedef struct lbbt_layer_range {
  lbbt_layer_select select;
  int k;          /* FIRST/LAST: how many blocks */
  int from, to;   /* RANGE */
} lbbt_layer_range;
/* Parse "first:5" etc.; returns LBBT_E_INPUT with a message on bad text. */
lbbt_status lbbt_layer_range_parse(const char *text, lbbt_layer_range *out);
/* Is block `layer` (0-based) of n_layers selected? */
int lbbt_layer_range_contains(const lbbt_layer_range *r, int layer, int n_layers);

/* Free-form plugin options (key: scalar) kept as text, validated by the plugin. */
typedef struct lbbt_option {
  char key[LBBT_NAME_MAX];
  char value[LBBT_PATH_MAX];
  int line, col; /* where it was written, for the plugin's error messages */
} lbbt_option;

typedef struct lbbt_backbone_spec {
  char plugin[LBBT_NAME_MAX];      /* gpt2, llama, chronos_t5, ... (required) */
  char checkpoint[LBBT_PATH_MAX];  /* file or folder; "" = none (scratch from `arch`) */
  char arch[LBBT_NAME_MAX];        /* preset when no checkpoint: gpt2, gpt2-medium, tiny, ... */
  lbbt_init_mode init;             /* default scratch */
  int patch_size;                  /* default 4 */
  int image_size;                  /* input side after resize; 0 = dataset's own */
  lbbt_pool_mode pool;             /* default mean */
  lbbt_attn_mode attention;        /* default: architecture's */
  int init_seed_offset;            /* init seed = run seed + this (default 0) */
  lbbt_option options[LBBT_MAX_OPTIONS]; /* plugin-specific (dim, n_layers, ...) */
  int n_options;
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
} lbbt_data_spec;

typedef enum { LBBT_LABELS_TRUE, LBBT_LABELS_RANDOM } lbbt_label_mode;
typedef enum { LBBT_OPT_ADAMW, LBBT_OPT_SGD } lbbt_optimizer_kind;

typedef struct lbbt_stage_spec {
  char name[LBBT_NAME_MAX];     /* unique within the run (required) */
  char task[LBBT_NAME_MAX];     /* task plugin: classification, linear-probe, ... or */
  char analysis[LBBT_NAME_MAX]; /* analysis plugin: outliers, hessian, ... (one of the two) */
  lbbt_label_mode labels;       /* default true */
  double label_ratio;           /* fraction replaced by random labels when labels=random (1.0) */
  int epochs;                   /* required for tasks */
  int batch_size;               /* default 64 */
  double lr;                    /* default 1e-3 */
  double weight_decay;          /* default 0.05 */
  double drop_path;             /* default 0.1 */
  double clip;                  /* max global grad norm; 0 = off; default 1.0 */
  double warmup_epochs;         /* default 0 */
  double label_smoothing;       /* default 0 */
  double momentum;              /* SGD only, default 0.9 */
  lbbt_optimizer_kind optimizer;/* default adamw */
  lbbt_layer_range train_layers;/* default all */
  int train_embed;              /* train patch embedding / positions (default 1) */
  int train_head;               /* train final norm + head (default 1) */
  char lr_sweep[LBBT_NAME_MAX]; /* "" or "per-arm" */
  lbbt_option options[LBBT_MAX_OPTIONS];
  int n_options;
} lbbt_stage_spec;

typedef struct lbbt_run_spec {
  char id[17];                 /* 16 hex chars: hash of the canonical resolved config */
  char label[256];             /* human summary of the matrix values: "init=language seed=0" */
  uint64_t seed;
  lbbt_backbone_spec backbone;
  lbbt_data_spec data;
  lbbt_stage_spec stages[LBBT_MAX_STAGES];
  int n_stages;
  char *config_yaml;           /* canonical resolved config as YAML text (owned) */
  /* matrix values of this run, "key=value" pairs (owned strings) */
  char **matrix_keys, **matrix_values;
  int n_matrix;
} lbbt_run_spec;

typedef struct lbbt_experiment {
  char file[LBBT_PATH_MAX];
  char name[LBBT_NAME_MAX];
  char tier[16];
  int paper_table;             /* 0 when not a table */
  int paper_figure;            /* 0 when not a figure */
  char *yaml_text;             /* the file verbatim (owned) */
  char sha256[65];             /* of yaml_text */
  lbbt_run_spec *runs;         /* n_runs entries (owned) */
  int n_runs;
} lbbt_experiment;

/* Parse, apply the tier, expand the matrix, validate.  tier: "smoke" | "cpu" | "paper".
 * Plugin names are not checked here (see lbbt_experiment_check_plugins in runner.h). */
lbbt_status lbbt_experiment_load(const char *path, const char *tier, lbbt_experiment **out);
void lbbt_experiment_free(lbbt_experiment *e);
/* Find an option by key; NULL when absent. */
const lbbt_option *lbbt_option_find(const lbbt_option *opts, int n, const char *key);

#endif
