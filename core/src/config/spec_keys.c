/* The directive tables: every key an experiment file may contain, one row each.
 *
 * To add a key: add the field to the struct in core/include/lbbt/spec.h, add one row
 * here with .flags = KEY_ID_IF_SET (the binder does conversion, range checks, defaults,
 * canonical text and error messages), then paste `lbbt check --keys` into
 * experiments/README.md (tests/cli/spec.sh fails while the README is out of date).
 *
 * Run ids: the rows below without KEY_ID_IF_SET are the keys ids were defined with; they
 * enter the canonical text (which the id hashes) with their value, defaults included.  A
 * row with KEY_ID_IF_SET enters it only when its value differs from its default, so adding
 * one changes no existing id (tests/cli/run_ids.sh checks every experiment's ids).
 *
 * A plugin's own keys (options.h) are bound with the stage: see stage_plugin_keys. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/spec.h"
#include "config/spec_keys.h"

/* ENUM fields are stored through an int. */
_Static_assert(sizeof(lbbt_init_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(lbbt_pool_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(lbbt_attn_mode) == sizeof(int), "enum size");
_Static_assert(sizeof(lbbt_optimizer_kind) == sizeof(int), "enum size");

#define FIELD(S, f) .offset = offsetof(S, f), .size = sizeof(((S *)0)->f)
#define NAMES(a) .names = a, .n_names = (int)(sizeof a / sizeof a[0])
#define RANGE(lo, hi) .has_range = 1, .min = (lo), .max = (hi)
#define AT_LEAST(lo) RANGE(lo, INFINITY)
#define POSITIVE .has_range = 1, .min = 0, .max = INFINITY, .flags = KEY_MIN_EXCLUSIVE

static const char *const INIT_NAMES[] = {"scratch", "language", "shuffled", "moment-matched",
                                         "scratch-rescaled"};
static const char *const POOL_NAMES[] = {"mean", "cls"};
static const char *const ATTN_NAMES[] = {"default", "causal", "bidirectional"};
static const char *const OPTIMIZER_NAMES[] = {"adamw", "sgd"};

/* ---- backbone ------------------------------------------------------------------------ */
#define S lbbt_backbone_spec
static const spec_key BACKBONE_KEYS[] = {
    {.name = "plugin", .type = KEY_STRING, FIELD(S, plugin), .def = "",
     .doc = "backbone plugin: gpt2, llama, chronos_t5, ... (`lbbt plugins` lists them); required "
            "when a stage needs a model"},
    {.name = "checkpoint", .type = KEY_PATH, FIELD(S, checkpoint), .def = "",
     .flags = KEY_MUST_EXIST | KEY_MODELS_PREFIX,
     .doc = "pretrained weights (file or folder); models:NAME is $LBBT_MODELS/NAME; \"\" = none; "
            "lbbt's own LM after a share F of its pretraining: models/lbbt-gpt2-fortunes/frac-F"},
    {.name = "arch", .type = KEY_STRING, FIELD(S, arch), .def = "",
     .doc = "architecture preset when there is no checkpoint: gpt2, gpt2-medium, tiny, ..."},
    {.name = "init", .type = KEY_ENUM, FIELD(S, init), .def = "scratch", NAMES(INIT_NAMES),
     .doc = "block weights: architecture's own init (seeded), the checkpoint, or a control of it"},
    {.name = "patch_size", .type = KEY_INT, FIELD(S, patch_size), .def = "4", RANGE(1, 1024),
     .doc = "side of the square image patches that become tokens"},
    {.name = "image_size", .type = KEY_INT, FIELD(S, image_size), .def = "0", RANGE(0, 8192),
     .doc = "input side the model is built for; 0 = the dataset's own"},
    {.name = "pool", .type = KEY_ENUM, FIELD(S, pool), .def = "mean", NAMES(POOL_NAMES),
     .doc = "how tokens become one vector for the head: mean of tokens or a class token"},
    {.name = "attention", .type = KEY_ENUM, FIELD(S, attention), .def = "default", NAMES(ATTN_NAMES),
     .doc = "attention mask; default = the architecture's (GPT-2/LLaMA causal, T5 encoder not)"},
    {.name = "init_seed_offset", .type = KEY_INT, FIELD(S, init_seed_offset), .def = "0",
     RANGE(-1000000000, 1000000000), .doc = "initialisation seed = run seed + this"},
    {.name = "options", .type = KEY_OPTIONS, .offset = offsetof(S, options),
     .count_offset = offsetof(S, n_options), .max_count = LBBT_MAX_OPTIONS, .def = "{}",
     .doc = "plugin-specific settings (key: scalar), checked by the plugin (dim, n_layers, ...)"},
};
#undef S

static lbbt_status backbone_check(spec_bind *b, const spec_where *w, void *obj) {
  const lbbt_backbone_spec *bb = obj;
  if (bb->init != LBBT_INIT_SCRATCH && !bb->checkpoint[0]) {
    const yt_node *at = spec_node_or(w->map, "init", w->at);
    return lbbt_fail(LBBT_E_INPUT,
                     "%s:%d:%d: backbone.init '%s' starts from pretrained weights, but backbone.checkpoint "
                     "is not set; set it (e.g. models:stories260K.bin) or use init: scratch",
                     b->file, at->line, at->col, INIT_NAMES[bb->init]);
  }
  return LBBT_OK;
}

/* A fresh options struct for table at *slot (the spec owns it) and out's section over it. */
static lbbt_status plugin_storage(const lbbt_option_table *table, const char *path, void **slot,
                                  spec_plugin_keys *out) {
  free(*slot);
  *slot = calloc(1, table->options_size ? table->options_size : 1);
  if (!*slot) return lbbt_fail(LBBT_E_NOMEM, "out of memory binding %s's options", out->owner);
  spec_plugin_section(table, out->owner, path, out->keys, &out->storage);
  out->sec = &out->storage;
  out->obj = *slot;
  return LBBT_OK;
}

/* The backbone plugin's keys, when it declares a table (options.h); one without a table
 * checks its raw options itself, so they stay text (untyped). */
static lbbt_status backbone_plugin_keys(spec_bind *b, const spec_where *w, void *obj, spec_plugin_keys *out) {
  lbbt_backbone_spec *bb = obj;
  const yt_node *plugin = yt_get(w->map, "plugin");
  const char *name = plugin && plugin->kind == YT_SCALAR && !yt_is_null(plugin) ? plugin->text : "";
  out->sec = NULL;
  out->obj = NULL;
  out->resolved = 0;
  out->untyped = 0;
  snprintf(out->owner, sizeof out->owner, "backbone '%.*s'", LBBT_NAME_MAX, name);
  if (!b->reg || !name[0]) return LBBT_OK;
  int installed = 0;
  const lbbt_option_table *table = spec_registry_backbone_options(b->reg, name, &installed);
  if (!table) {
    out->untyped = installed;
    return LBBT_OK;
  }
  out->resolved = 1;
  return plugin_storage(table, "backbone", &bb->plugin_options, out);
}

static const spec_section BACKBONE_SECTION = {
    .noun = "backbone", .path = "backbone", .keys = BACKBONE_KEYS,
    .n_keys = (int)(sizeof BACKBONE_KEYS / sizeof BACKBONE_KEYS[0]), .check = backbone_check,
    .plugin_keys = backbone_plugin_keys,
    .doc = "The network: a backbone plugin, where its weights come from, and how images enter it."};

/* ---- data ---------------------------------------------------------------------------- */
#define S lbbt_data_spec
static const spec_key DATA_KEYS[] = {
    {.name = "dataset", .type = KEY_STRING, FIELD(S, dataset), .def = "",
     .doc = "fashion-mnist, cifar10, cifar100, folder, ... (the datasets module checks the name); "
            "required when a stage needs images"},
    {.name = "root", .type = KEY_PATH, FIELD(S, root), .def = "", .flags = KEY_MUST_EXIST,
     .doc = "data folder; \"\" = the dataset's default location"},
    {.name = "limit", .type = KEY_INT, FIELD(S, limit), .def = "0", AT_LEAST(0),
     .doc = "class-balanced training subset size; 0 = all"},
    {.name = "test_limit", .type = KEY_INT, FIELD(S, test_limit), .def = "0", AT_LEAST(0),
     .doc = "class-balanced test subset size; 0 = all"},
    {.name = "image_size", .type = KEY_INT, FIELD(S, image_size), .def = "0", RANGE(0, 8192),
     .doc = "resize images to this side; 0 = native"},
    {.name = "crop_padding", .type = KEY_INT, FIELD(S, crop_padding), .def = "0", RANGE(0, 1024),
     .doc = "random-crop augmentation with this much padding; 0 = off"},
    {.name = "flip", .type = KEY_BOOL, FIELD(S, flip), .def = "false",
     .doc = "random horizontal flip augmentation"},
    {.name = "subset_seed", .type = KEY_INT, FIELD(S, subset_seed), .def = "0", AT_LEAST(0),
     .doc = "seed of the subset choice, fixed across runs so every arm sees the same images"},
    {.name = "options", .type = KEY_OPTIONS, .offset = offsetof(S, options),
     .count_offset = offsetof(S, n_options), .max_count = LBBT_MAX_OPTIONS, .def = "{}",
     .flags = KEY_ID_IF_SET,
     .doc = "settings of the dataset kind, checked by the datasets module: fashion-mnist-detection "
            "takes canvas, min_items, max_items, min_side, max_side, max_iou; "
            "fashion-mnist-segmentation the same but max_iou (docs in core/include/lbbt/dataset.h)"},
};
#undef S

static const spec_section DATA_SECTION = {
    .noun = "data", .path = "data", .keys = DATA_KEYS, .n_keys = (int)(sizeof DATA_KEYS / sizeof DATA_KEYS[0]),
    .doc = "The images: which dataset, how much of it, and which augmentations."};

/* ---- stages -------------------------------------------------------------------------- */
#define S lbbt_stage_spec
static const spec_key STAGE_KEYS[] = {
    {.name = "name", .type = KEY_STRING, FIELD(S, name), .def = REQUIRED, .flags = KEY_IDENT,
     .doc = "unique within the run; matrix keys address the stage by it (stages.NAME.lr)"},
    {.name = "task", .type = KEY_STRING, FIELD(S, task), .def = "",
     .doc = "task plugin: classification, linear-probe, lm-pretrain, ... (this or analysis)"},
    {.name = "analysis", .type = KEY_STRING, FIELD(S, analysis), .def = "",
     .doc = "analysis plugin: outliers, hessian, ... (this or task)"},
    /* Slots: these keys moved to the tables of the plugins that read them (classification,
     * hessian, landscape); a row here only holds the canonical text ids were made with when
     * they were core keys.  When the stage's plugin declares the key, its bound value is
     * written at this place; otherwise `def` is, so every run id stays what it was. */
    {.name = "labels", .type = KEY_ID_SLOT, .def = "true"},
    {.name = "label_ratio", .type = KEY_ID_SLOT, .def = "1"},
    {.name = "epochs", .type = KEY_INT, FIELD(S, epochs), .def = "0", RANGE(0, 1000000),
     .doc = "passes over the training data; must be written for a task"},
    {.name = "batch_size", .type = KEY_INT, FIELD(S, batch_size), .def = "64", RANGE(1, 1 << 20),
     .doc = "images per optimizer step"},
    {.name = "lr", .type = KEY_NUMBER, FIELD(S, lr), .def = "1e-3", POSITIVE, .doc = "peak learning rate"},
    {.name = "weight_decay", .type = KEY_NUMBER, FIELD(S, weight_decay), .def = "0.05", AT_LEAST(0),
     .doc = "decoupled (AdamW) or L2 (SGD) weight decay"},
    {.name = "drop_path", .type = KEY_NUMBER, FIELD(S, drop_path), .def = "0.1", RANGE(0, 1),
     .flags = KEY_MAX_EXCLUSIVE, .doc = "stochastic depth rate of the last block"},
    {.name = "clip", .type = KEY_NUMBER, FIELD(S, clip), .def = "1.0", AT_LEAST(0),
     .doc = "maximum global gradient norm; 0 = no clipping"},
    {.name = "warmup_epochs", .type = KEY_NUMBER, FIELD(S, warmup_epochs), .def = "0", AT_LEAST(0),
     .doc = "linear learning-rate warm-up length, then cosine decay"},
    {.name = "label_smoothing", .type = KEY_ID_SLOT, .def = "0"},
    {.name = "momentum", .type = KEY_NUMBER, FIELD(S, momentum), .def = "0.9", RANGE(0, 1),
     .flags = KEY_MAX_EXCLUSIVE, .doc = "SGD momentum (ignored by adamw)"},
    {.name = "optimizer", .type = KEY_ENUM, FIELD(S, optimizer), .def = "adamw", NAMES(OPTIMIZER_NAMES),
     .doc = "optimizer"},
    {.name = "train_layers", .type = KEY_LAYERS, FIELD(S, train_layers), .def = "all",
     .doc = "blocks that train: all, none, first:K, last:K, range:A-B (from 0, inclusive)"},
    {.name = "train_embed", .type = KEY_BOOL, FIELD(S, train_embed), .def = "true",
     .doc = "train the patch embedding and positions"},
    {.name = "train_head", .type = KEY_BOOL, FIELD(S, train_head), .def = "true",
     .doc = "train the final norm and the head"},
    {.name = "lr_sweep", .type = KEY_ID_SLOT, .def = "\"\""},
    {.name = "skip", .type = KEY_BOOL, FIELD(S, skip), .def = "false",
     .doc = "leave this stage out (a matrix over stages.NAME.skip compares with and without it)"},
    {.name = "options", .type = KEY_OPTIONS, .offset = offsetof(S, options),
     .count_offset = offsetof(S, n_options), .max_count = LBBT_MAX_OPTIONS, .def = "{}",
     .doc = "the task's or analysis's own keys (below, per plugin); they may also be written "
            "directly in the stage"},
};
#undef S

/* The stage's plugin keys: the table of the task or analysis the stage names, with storage
 * for its values (stage->plugin_options, freed with the run). */
static lbbt_status stage_plugin_keys(spec_bind *b, const spec_where *w, void *obj, spec_plugin_keys *out) {
  lbbt_stage_spec *st = obj;
  const yt_node *task = yt_get(w->map, "task"), *analysis = yt_get(w->map, "analysis");
  const char *t = task && task->kind == YT_SCALAR && !yt_is_null(task) ? task->text : "";
  const char *a = analysis && analysis->kind == YT_SCALAR && !yt_is_null(analysis) ? analysis->text : "";
  out->sec = NULL;
  out->obj = NULL;
  out->resolved = 0;
  snprintf(out->owner, sizeof out->owner, "%s '%.*s'", t[0] ? "task" : "analysis", LBBT_NAME_MAX, t[0] ? t : a);
  if (!b->reg || (!t[0] && !a[0]) || (t[0] && a[0])) return LBBT_OK; /* stage_check reports both/neither */
  const lbbt_option_table *table = spec_registry_options(b->reg, t, a, &out->resolved);
  return table ? plugin_storage(table, "stages.<name>", &st->plugin_options, out) : LBBT_OK;
}

static lbbt_status stage_check(spec_bind *b, const spec_where *w, void *obj) {
  const lbbt_stage_spec *st = obj;
  const yt_node *at = w->map ? w->map : w->at;
  if (!!st->task[0] == !!st->analysis[0])
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s needs exactly one of 'task' (a task plugin) or 'analysis' "
                     "(an analysis plugin)%s", b->file, at->line, at->col, w->noun,
                     st->task[0] ? ", not both" : "");
  const yt_node *epochs = yt_get(w->map, "epochs");
  if (st->task[0] && (!epochs || yt_is_null(epochs)))
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: missing required key 'epochs' in %s (task '%s' trains for "
                     "a number of epochs)", b->file, at->line, at->col, w->noun, st->task);
  return LBBT_OK;
}

const spec_section spec_stage_section = {
    .noun = "stage", .path = "stages.<name>", .keys = STAGE_KEYS,
    .n_keys = (int)(sizeof STAGE_KEYS / sizeof STAGE_KEYS[0]), .check = stage_check,
    .plugin_keys = stage_plugin_keys,
    .doc = "One step of a run, in order: a task that trains or evaluates the model, or an analysis "
           "that measures it. Each stage has exactly one of task and analysis."};

/* ---- one run (base) ------------------------------------------------------------------ */
#define S lbbt_run_spec
static const spec_key RUN_KEYS[] = {
    {.name = "seed", .type = KEY_SEED, .offset = offsetof(S, seed), .size = sizeof(uint64_t), .def = "0",
     .doc = "the run's seed; every random stream derives from it"},
    {.name = "backbone", .type = KEY_SECTION, .offset = offsetof(S, backbone), .sub = &BACKBONE_SECTION,
     .def = "{}", .doc = "the network (see below); only for runs with a stage that needs a model"},
    {.name = "data", .type = KEY_SECTION, .offset = offsetof(S, data), .sub = &DATA_SECTION,
     .def = "{}", .doc = "the images (see below); only for runs with a stage that needs images"},
    {.name = "stages", .type = KEY_LIST, .offset = offsetof(S, stages), .size = sizeof(lbbt_stage_spec),
     .count_offset = offsetof(S, n_stages), .max_count = LBBT_MAX_STAGES, .sub = &spec_stage_section,
     .def = REQUIRED, .doc = "what the run does, in order (a list of stages, see below)"},
};
#undef S

static lbbt_status run_check(spec_bind *b, const spec_where *w, void *obj) {
  const lbbt_run_spec *run = obj;
  const yt_node *seq = yt_get(w->map, "stages");
  for (int i = 1; i < run->n_stages; i++)
    for (int j = 0; j < i; j++)
      if (!strcmp(run->stages[i].name, run->stages[j].name)) {
        const yt_node *first = spec_node_or(seq && seq->kind == YT_SEQ ? seq->vals[j] : NULL, "name", w->at);
        const yt_node *again = spec_node_or(seq && seq->kind == YT_SEQ ? seq->vals[i] : NULL, "name", w->at);
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: duplicate stage name '%s' (first used at line %d, column "
                         "%d); stage names must be unique because matrix keys address stages by name",
                         b->file, again->line, again->col, run->stages[i].name, first->line, first->col);
      }
  return LBBT_OK;
}

const spec_section spec_run_section = {
    .noun = "base", .path = "", .keys = RUN_KEYS, .n_keys = (int)(sizeof RUN_KEYS / sizeof RUN_KEYS[0]),
    .check = run_check,
    .doc = "One run's configuration, written under `base:`; matrix keys are dotted paths into it."};

/* ---- the file ------------------------------------------------------------------------ */
#define S lbbt_experiment
static const spec_key PAPER_KEYS[] = {
    {.name = "table", .type = KEY_INT, FIELD(S, paper_table), .def = "0", AT_LEAST(0),
     .doc = "the paper table this reproduces (0 = none)"},
    {.name = "figure", .type = KEY_INT, FIELD(S, paper_figure), .def = "0", AT_LEAST(0),
     .doc = "the paper figure this reproduces (0 = none)"},
    {.name = "cells", .type = KEY_STRING, FIELD(S, paper_cells), .def = "",
     .doc = "which rows, columns or panels, in words"},
};

static const spec_section PAPER_SECTION = {
    .noun = "paper", .path = "paper", .keys = PAPER_KEYS, .n_keys = (int)(sizeof PAPER_KEYS / sizeof PAPER_KEYS[0]),
    .doc = "What in the paper this file reproduces."};

static const spec_key TOP_KEYS[] = {
    {.name = "experiment", .type = KEY_STRING, FIELD(S, name), .def = "", .flags = KEY_IDENT,
     .doc = "name; results go to results/NAME.h5 (default: the file name without .yaml)"},
    {.name = "description", .type = KEY_STRING, FIELD(S, description), .def = "",
     .doc = "one line for humans"},
    {.name = "paper", .type = KEY_SECTION, .offset = 0, .sub = &PAPER_SECTION, .def = "{}",
     .doc = "what this reproduces: {table: N} or {figure: N}"},
    {.name = "base", .type = KEY_LOADER, .def = REQUIRED, .doc = "one run's configuration (keys below)"},
    {.name = "matrix", .type = KEY_LOADER, .def = "{}",
     .doc = "dotted path -> list of values; runs are the cartesian product (last key fastest)"},
    {.name = "groups", .type = KEY_LOADER, .def = "[]", .flags = KEY_LOADER_LIST, .max_count = LBBT_MAX_GROUPS,
     .doc = "more runs: a list of matrices, each crossed only with itself over the same base; runs: the "
            "matrix's, then each group's"},
    {.name = "tiers", .type = KEY_LOADER, .def = "{}",
     .doc = "tier name -> {base: ..., matrix: ..., groups: ...} overrides; --tier picks one (default cpu)"},
};
#undef S

const spec_section spec_top_section = {
    .noun = "the top-level mapping", .path = "", .keys = TOP_KEYS, .n_keys = (int)(sizeof TOP_KEYS / sizeof TOP_KEYS[0]),
    .doc = "The keys of an experiment file."};

static const spec_key TIER_KEYS[] = {
    {.name = "base", .type = KEY_LOADER, .def = "{}",
     .doc = "deep-merged into base; `stages` may map stage names to overrides"},
    {.name = "matrix", .type = KEY_LOADER, .def = "{}",
     .doc = "merged into matrix: a key written here replaces that key's list, a new key is added"},
    {.name = "groups", .type = KEY_LOADER, .def = "[]", .flags = KEY_LOADER_LIST, .max_count = LBBT_MAX_GROUPS,
     .doc = "replaces groups (the whole list; null or [] = no groups); the tier's matrix does not apply to them"},
};

const spec_section spec_tier_section = {
    .noun = "tier", .path = "tiers.<tier>", .keys = TIER_KEYS, .n_keys = (int)(sizeof TIER_KEYS / sizeof TIER_KEYS[0]),
    .doc = "Overrides applied when this tier is chosen (smoke: seconds, for tests; cpu: the default; "
           "paper: the paper's settings)."};
