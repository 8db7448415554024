/* Diverged runs: see divergence.h. */
#include "runtime/divergence.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

lbbt_status divergence_mark(lbbt_record *rec, const char *stage, const char *reason) {
  LBBT_TRY(lbbt_record_string(rec, LBBT_RUN_DIVERGED_STAGE, stage));
  return lbbt_record_string(rec, LBBT_RUN_DIVERGED_REASON, reason);
}

/* A training metric: a loss or an accuracy ("train_loss", "test_acc1", "val_loss").  Other
 * items may hold NaN on purpose (an analysis marks an undefined value so). */
static int training_metric(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *leaf = slash ? slash + 1 : path;
  return strstr(leaf, "loss") || strstr(leaf, "acc");
}

int divergence_find_nonfinite(const lbbt_record *rec, char *stage, size_t ns, char *why, size_t n) {
  for (int i = 0; i < lbbt_record_count(rec); i++) {
    const lbbt_record_item *it = lbbt_record_at(rec, i);
    double v;
    if (!training_metric(it->path) || !lbbt_record_item_final(it, &v) || isfinite(v)) continue;
    const char *slash = strchr(it->path, '/');
    snprintf(stage, ns, "%.*s", slash ? (int)(slash - it->path) : (int)strlen(it->path), it->path);
    snprintf(why, n, "%s %s is %g", it->kind == LBBT_ITEM_SERIES ? "the last value of" : "metric",
             it->path, v);
    return 1;
  }
  return 0;
}
