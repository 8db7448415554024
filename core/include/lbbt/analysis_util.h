/* Helpers shared by analysis plugins: stage-prefixed record items and the choice of the
 * images an analysis measures.  (Options: a plugin declares them typed, options.h; the
 * core checks them when the experiment loads and lbbt_stage_options_record records them.) */
#ifndef LBBT_ANALYSIS_UTIL_H
#define LBBT_ANALYSIS_UTIL_H
#include <stdint.h>

#include "lbbt/dataset.h"
#include "lbbt/spec.h"
#include "lbbt/status.h"

struct lbbt_stage_ctx;

/* Record items under "<stage name>/<key>" (the stage-prefixed forms of lbbt_record_*). */
LBBT_API lbbt_status lbbt_stage_scalar(struct lbbt_stage_ctx *ctx, const char *key, double v);
LBBT_API lbbt_status lbbt_stage_string(struct lbbt_stage_ctx *ctx, const char *key, const char *s);
LBBT_API lbbt_status lbbt_stage_array_f32(struct lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const float *data);
LBBT_API lbbt_status lbbt_stage_array_i32(struct lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const int32_t *data);

/* The images an analysis measures: all of ds when want <= 0 or want >= ds->n, else a
 * class-balanced subset of `want` drawn with lbbt_subset_balanced(seed, tag) — the same
 * images for every run and arm with the same data and seed.  *idx (int32 [*n], ascending)
 * is malloc'ed and owned by the caller. */
LBBT_API lbbt_status lbbt_analysis_pick_images(const lbbt_dataset *ds, int64_t want, uint64_t seed,
                                      const char *tag, int32_t **idx, int64_t *n);

#endif
