/* Helpers shared by analysis plugins: the choice of the images an analysis measures (the
 * stage-prefixed record items, lbbt_stage_scalar and kin, are in runner.h, included here).  (Options: a plugin declares them typed, options.h; the
 * core checks them when the experiment loads and lbbt_stage_options_record records them.) */
#ifndef LBBT_ANALYSIS_UTIL_H
#define LBBT_ANALYSIS_UTIL_H
#include <stdint.h>

#include "lbbt/dataset.h"
#include "lbbt/runner.h"
#include "lbbt/spec.h"
#include "lbbt/status.h"

/* The images an analysis measures: all of ds when want <= 0 or want >= ds->n, else a
 * class-balanced subset of `want` drawn with lbbt_subset_balanced(seed, tag) — the same
 * images for every run and arm with the same data and seed.  *idx (int32 [*n], ascending)
 * is malloc'ed and owned by the caller. */
LBBT_API lbbt_status lbbt_analysis_pick_images(const lbbt_dataset *ds, int64_t want, uint64_t seed,
                                      const char *tag, int32_t **idx, int64_t *n);

#endif
