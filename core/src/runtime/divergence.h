/* Private to the runtime: diverged runs (issue 20, class 6/11).  A run whose training stops
 * on a non-finite value, or whose final metrics are non-finite, is recorded as diverged
 * (lbbt/results.h: LBBT_RUN_DIVERGED_*) and the experiment goes on with its other runs. */
#ifndef LBBT_DIVERGENCE_H
#define LBBT_DIVERGENCE_H
#include <stddef.h>

#include "lbbt/results.h"

/* Record that the run diverged in `stage`, and why (the message naming step and op, or the
 * metric). */
lbbt_status divergence_mark(lbbt_record *rec, const char *stage, const char *reason);
/* The first training metric of rec (a scalar or series whose name holds "loss" or "acc")
 * whose final value is NaN or Inf: returns 1 with its stage (the path's first component) in
 * stage and its path and value in why, else 0.  Other items may hold NaN on purpose (an
 * analysis's undefined value), so they are not read as divergence. */
int divergence_find_nonfinite(const lbbt_record *rec, char *stage, size_t ns, char *why, size_t n);

#endif
