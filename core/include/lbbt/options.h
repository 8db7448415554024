/* Typed plugin options: a plugin's keys are rows of a directive table, as the core's own
 * keys are (core/src/config/spec_keys.c), bound by the same binder.
 *
 * A task or analysis plugin that takes options declares a struct for them and one row per
 * key (name, type, offset into the struct, default, range or allowed names, doc), then
 * points its descriptor's `options` at the table (plugin.h):
 *
 *   typedef struct my_options { int images; double tau; int split; } my_options;
 *   static const char *const SPLITS[] = {"test", "train"};
 *   static const lbbt_key KEYS[] = {
 *       {.name = "images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(my_options, images), .def = "1000",
 *        LBBT_KEY_RANGE(1, 1e7), .doc = "test images measured"},
 *       {.name = "split", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(my_options, split), .def = "test",
 *        LBBT_KEY_NAMES(SPLITS), .doc = "which split"},
 *   };
 *   static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(my_options, KEYS, "what they set");
 *
 * Where a stage writes them: under `options:` (`options: {images: 500}`) or directly in the
 * stage (`images: 500`); both spellings are the same setting (writing one key in both places
 * is an error; a key named like a core stage key, e.g. batch_size, is written under options:
 * only).  The core binds them when the experiment is loaded: unknown keys (with the
 * nearest key suggested), bad values and out-of-range values fail with file:line:col before
 * any run starts; `lbbt check --keys` lists every plugin's table.  The plugin reads the
 * typed values with lbbt_stage_options(stage) (validate and run both may).
 *
 * Backbones: the same table on a backbone plugin's descriptor types `backbone.options` (or
 * keys written directly under backbone:), read with lbbt_backbone_options(spec); kit backbones
 * name it in LBBT_BACKBONE_KIT_PLUGIN_WITH_OPTIONS (backbone_kit.h).  A backbone without a
 * table checks its raw options itself (spec->options).
 *
 * Run ids: a plugin key enters the run id only when the stage writes it, so adding a key
 * with a default changes no existing id.  (A written key enters as written in canonical
 * form: `images: 500.0` and `images: 500` are one setting.) */
#ifndef LBBT_OPTIONS_H
#define LBBT_OPTIONS_H
#include <stddef.h>

#include "lbbt/status.h"
#include "lbbt/types.h"

/* Value types.  The numbering is the core binder's (_Static_assert'ed there). */
typedef enum {
  LBBT_KEY_STRING = 0, /* char[size]; with names: one of them; LBBT_KEY_IDENT: a plain name */
  LBBT_KEY_INT = 2,    /* int */
  LBBT_KEY_SEED = 3,   /* uint64_t, 0 .. 2^63-1 */
  LBBT_KEY_NUMBER = 4, /* double, finite */
  LBBT_KEY_BOOL = 5,   /* int 0/1: true/false, yes/no, on/off */
  LBBT_KEY_ENUM = 6,   /* int: the index of the written name in names */
  LBBT_KEY_LAYERS = 7  /* lbbt_layer_range */
} lbbt_key_type;

/* lbbt_key.flags */
#define LBBT_KEY_MIN_EXCLUSIVE 1u /* the range excludes min */
#define LBBT_KEY_MAX_EXCLUSIVE 2u /* the range excludes max */
#define LBBT_KEY_IDENT 16u        /* STRING: letters, digits, '-', '_' (or "") */
/* No default and not required: when the key is not written its field stays zero and
 * lbbt_*_option_written says so (a backbone size that the preset or checkpoint gives
 * unless written).  def must be NULL. */
#define LBBT_KEY_OPTIONAL 128u

typedef struct lbbt_key {
  const char *name;          /* [a-z0-9_]+ */
  lbbt_key_type type;
  size_t offset, size;       /* of the field in the plugin's options struct */
  const char *def;           /* default as YAML text (must itself be valid); NULL = required
                              * (or, with LBBT_KEY_OPTIONAL, absent unless written) */
  const char *const *names;  /* ENUM: spellings in enum order; STRING: allowed values */
  int n_names;
  int has_range;             /* INT/SEED/NUMBER: [min, max] applies (see flags) */
  double min, max;
  unsigned flags;
  const char *doc;           /* one line: meaning and unit */
} lbbt_key;

#define LBBT_KEY_FIELD(S, f) .offset = offsetof(S, f), .size = sizeof(((S *)0)->f)
#define LBBT_KEY_NAMES(a) .names = (a), .n_names = (int)(sizeof(a) / sizeof((a)[0]))
#define LBBT_KEY_RANGE(lo, hi) .has_range = 1, .min = (lo), .max = (hi)

/* A plugin's whole table.  Versioned by its size, so fields can be appended. */
typedef struct lbbt_option_table {
  size_t struct_size;   /* sizeof(lbbt_option_table) at build time */
  size_t options_size;  /* sizeof the plugin's options struct */
  const lbbt_key *keys;
  int n_keys;           /* at most LBBT_MAX_PLUGIN_KEYS */
  const char *doc;      /* a sentence for `lbbt check --keys` */
} lbbt_option_table;
#define LBBT_MAX_PLUGIN_KEYS 48
#define LBBT_OPTION_TABLE(S, keys_array, doc_text)                                        \
  {sizeof(lbbt_option_table), sizeof(S), (keys_array),                                   \
   (int)(sizeof(keys_array) / sizeof((keys_array)[0])), (doc_text)}

struct lbbt_stage_spec;
struct lbbt_stage_ctx;

/* The stage's options as bound by the core: a pointer to the plugin's options struct
 * (every key its written value or its default), or NULL when the stage's plugin declares no
 * table.  Valid as long as the experiment. */
LBBT_API const void *lbbt_stage_options(const struct lbbt_stage_spec *stage);
/* Was key written for this stage (directly or under options:)?  For options whose default
 * means "decide at run time" (a seed that defaults to the run's). */
LBBT_API int lbbt_stage_option_written(const struct lbbt_stage_spec *stage, const char *key);
struct lbbt_backbone_spec;
/* A backbone's options as bound by the core (its plugin's struct), or NULL when the backbone
 * plugin declares no table. */
LBBT_API const void *lbbt_backbone_options(const struct lbbt_backbone_spec *spec);
/* Was key written under backbone: (directly or under options:)?  For LBBT_KEY_OPTIONAL keys. */
LBBT_API int lbbt_backbone_option_written(const struct lbbt_backbone_spec *spec, const char *key);
/* A backbone spec built in code (options as text, no experiment file: a task sizing a model,
 * a test) bound to its plugin's table t: *out is a heap copy of spec whose typed options hold
 * the written values and the defaults, or NULL when there is nothing to bind (t is NULL, or
 * spec was bound when its experiment was loaded).  An unknown key or a bad value fails naming
 * its line:col and `owner`.  LBBT_BACKBONE_KIT_PLUGIN_WITH_OPTIONS (backbone_kit.h) does this
 * for every kit backbone.  Free *out with lbbt_backbone_options_bound_free. */
LBBT_API lbbt_status lbbt_backbone_options_bind(const struct lbbt_backbone_spec *spec, const lbbt_option_table *t,
                                                const char *owner, struct lbbt_backbone_spec **out);
LBBT_API void lbbt_backbone_options_bound_free(struct lbbt_backbone_spec *bound);
/* Write every key's effective value to "<stage>/options/<key>": a scalar for INT, SEED,
 * NUMBER and BOOL, a string for the others (ENUM: its name; LAYERS: its canonical text),
 * so a results file says what was used. */
LBBT_API lbbt_status lbbt_stage_options_record(struct lbbt_stage_ctx *ctx, const lbbt_option_table *table);

#endif
