/* Helpers shared by analysis plugins: declared, typed stage options (checked before a run
 * starts, recorded with the results) and the choice of the images an analysis measures.
 *
 * An analysis declares its options once, as a table:
 *
 *   static const lbbt_option_decl OPTIONS[] = {
 *       {"images", LBBT_OPTION_INT, "1000", 1, 1e6, NULL, "test images measured"},
 *       {"tau", LBBT_OPTION_NUMBER, "0", -1e9, 1e9, NULL, "activation threshold"},
 *       {"split", LBBT_OPTION_CHOICE, "test", 0, 0, "test|train", "which split"},
 *   };
 *
 * validate() calls lbbt_options_check (unknown keys, bad numbers, out-of-range values fail
 * with file:line:col and the list of valid keys); run() reads values with lbbt_option_number
 * / lbbt_option_text (the value as written, else the default) and writes every effective
 * value to the record with lbbt_options_record, so a results file says what was used. */
#ifndef LBBT_ANALYSIS_UTIL_H
#define LBBT_ANALYSIS_UTIL_H
#include <stdint.h>

#include "lbbt/dataset.h"
#include "lbbt/spec.h"
#include "lbbt/status.h"

struct lbbt_stage_ctx;

typedef enum {
  LBBT_OPTION_INT,    /* whole number in [min, max] */
  LBBT_OPTION_NUMBER, /* finite real number in [min, max] */
  LBBT_OPTION_BOOL,   /* true/false/yes/no/on/off/1/0; read as 1 or 0 */
  LBBT_OPTION_CHOICE, /* one of the '|'-separated words in `choices` */
  LBBT_OPTION_NAME    /* "" or a name of [a-z0-9_-] characters (e.g. another stage's name) */
} lbbt_option_type;

typedef struct lbbt_option_decl {
  const char *key;
  lbbt_option_type type;
  const char *def;     /* the default, written as in YAML (must itself be valid) */
  double min, max;     /* INT and NUMBER: inclusive range */
  const char *choices; /* CHOICE: "test|train" */
  const char *doc;     /* one line: meaning and unit */
} lbbt_option_decl;

/* Check every option the stage wrote against decls[0..n): LBBT_E_INPUT naming
 * file:line:col, the stage, the plugin and what is expected. */
lbbt_status lbbt_options_check(const lbbt_stage_spec *stage, const char *file, const char *plugin,
                               const lbbt_option_decl *decls, int n);
/* The value of a declared INT/NUMBER/BOOL option (as written, else the default).
 * LBBT_E_INPUT when the value does not parse (run without validate) or the key is not
 * declared (a bug in the plugin: LBBT_E_INTERNAL). */
lbbt_status lbbt_option_number(const lbbt_stage_spec *stage, const lbbt_option_decl *decls, int n,
                               const char *key, double *out);
/* The text of a declared option (as written, else the default); NULL when not declared.
 * The pointer is into stage or decls. */
const char *lbbt_option_text(const lbbt_stage_spec *stage, const lbbt_option_decl *decls, int n,
                             const char *key);
/* Write each option's effective value to "<stage>/options/<key>": a scalar for INT, NUMBER
 * and BOOL, a string for CHOICE and NAME. */
lbbt_status lbbt_options_record(struct lbbt_stage_ctx *ctx, const lbbt_option_decl *decls, int n);

/* Record items under "<stage name>/<key>" (the stage-prefixed forms of lbbt_record_*). */
lbbt_status lbbt_stage_scalar(struct lbbt_stage_ctx *ctx, const char *key, double v);
lbbt_status lbbt_stage_string(struct lbbt_stage_ctx *ctx, const char *key, const char *s);
lbbt_status lbbt_stage_array_f32(struct lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const float *data);
lbbt_status lbbt_stage_array_i32(struct lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const int32_t *data);

/* The images an analysis measures: all of ds when want <= 0 or want >= ds->n, else a
 * class-balanced subset of `want` drawn with lbbt_subset_balanced(seed, tag) — the same
 * images for every run and arm with the same data and seed.  *idx (int32 [*n], ascending)
 * is malloc'ed and owned by the caller. */
lbbt_status lbbt_analysis_pick_images(const lbbt_dataset *ds, int64_t want, uint64_t seed,
                                      const char *tag, int32_t **idx, int64_t *n);

#endif
