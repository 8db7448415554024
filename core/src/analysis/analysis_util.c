/* Stage-prefixed record items and image choice for analyses; see analysis_util.h. */
#include "lbbt/analysis_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/runner.h"

#define STAGE_KEY_MAX (LBBT_NAME_MAX + LBBT_RECORD_PATH_MAX)

lbbt_status lbbt_stage_scalar(lbbt_stage_ctx *ctx, const char *key, double v) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), v);
}

lbbt_status lbbt_stage_string(lbbt_stage_ctx *ctx, const char *key, const char *s) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_string(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), s);
}

lbbt_status lbbt_stage_array_f32(lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const float *data) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_array_f32(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), ndim, shape, data);
}

lbbt_status lbbt_stage_array_i32(lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const int32_t *data) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_array_i32(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), ndim, shape, data);
}

lbbt_status lbbt_analysis_pick_images(const lbbt_dataset *ds, int64_t want, uint64_t seed,
                                      const char *tag, int32_t **idx, int64_t *n) {
  *idx = NULL;
  *n = 0;
  int64_t m = (want <= 0 || want >= ds->n) ? ds->n : want;
  int32_t *out = malloc((size_t)(m > 0 ? m : 1) * sizeof *out);
  if (!out) return lbbt_fail(LBBT_E_NOMEM, "analysis: out of memory choosing %lld images", (long long)m);
  if (m == ds->n) {
    for (int64_t i = 0; i < m; i++) out[i] = (int32_t)i;
  } else {
    lbbt_status st = lbbt_subset_balanced(ds->labels, ds->n, ds->num_classes, m, seed, tag,
                                          ds->source ? ds->source : "analysis images", out);
    if (st != LBBT_OK) {
      free(out);
      return st;
    }
  }
  *idx = out;
  *n = m;
  return LBBT_OK;
}
