/* Diverged runs: see divergence.h. */
#include "runtime/divergence.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

lbbt_status divergence_mark(lbbt_record *rec, const char *stage, const char *reason) {
  LBBT_TRY(lbbt_record_string(rec, LBBT_RUN_DIVERGED_STAGE, stage));
  return lbbt_record_string(rec, LBBT_RUN_DIVERGED_REASON, reason);
}

int divergence_find_nonfinite(const lbbt_record *rec, char *stage, size_t ns, char *why, size_t n) {
  for (int i = 0; i < lbbt_record_count(rec); i++) {
    const lbbt_record_item *it = lbbt_record_at(rec, i);
    const char *slash = strchr(it->path, '/');
    snprintf(stage, ns, "%.*s", slash ? (int)(slash - it->path) : (int)strlen(it->path), it->path);
    double v;
    if (lbbt_record_item_final(it, &v)) {
      if (isfinite(v)) continue;
      snprintf(why, n, "%s %s is %g", it->kind == LBBT_ITEM_SERIES ? "the last value of" : "metric",
               it->path, v);
      return 1;
    }
    for (int64_t k = 0; it->kind == LBBT_ITEM_F32 && k < it->numel; k++)
      if (!isfinite(it->f32[k])) {
        snprintf(why, n, "array %s holds %g at flat index %lld", it->path, (double)it->f32[k], (long long)k);
        return 1;
      }
  }
  return 0;
}
