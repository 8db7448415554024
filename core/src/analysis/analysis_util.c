/* The choice of the images an analysis measures; see analysis_util.h. */
#include "lbbt/analysis_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/runner.h"

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
