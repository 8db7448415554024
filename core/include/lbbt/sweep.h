/* Sweeps: an experiment's runs spread over processes (`lbbt sweep --jobs K`) or Slurm array
 * tasks (`lbbt sweep --slurm`), each run written into its own results file, then joined into
 * the table's results file by one writer (`lbbt merge`).
 *
 * Files, for the table's results file results/table-3-smoke.h5:
 *   results/table-3-smoke.runs/<run id>.h5   one run each, written by `lbbt run ... --run ID`
 *                                            (an ordinary results file holding one run; a
 *                                            killed task leaves none, or the previous one)
 *   results/table-3-smoke.h5.partial/<id>/   a killed run's checkpoint: shared with plain
 *                                            `lbbt run`, so either resumes the other's run
 *   results/table-3-smoke.h5.stages/         first stages shared between runs (stage_cache.h)
 * HDF5 files never have two writers: each task writes only its own run file, and the merge
 * (one process, after the tasks) is the only writer of the table's file.  Merging copies
 * each complete run group verbatim (its own provenance: host, threads, commit time), in one
 * atomic commit, then removes the run files it merged: a second merge finds nothing to do. */
#ifndef LBBT_SWEEP_H
#define LBBT_SWEEP_H
#include <stddef.h>

#include "lbbt/spec.h"
#include "lbbt/status.h"

/* "<table path without .h5>.runs" and that folder + "/<run id>.h5". */
LBBT_API void lbbt_sweep_runs_dir(const char *table_path, char *buf, size_t n);
LBBT_API void lbbt_sweep_run_path(const char *table_path, const char *run_id, char *buf, size_t n);

/* Where each run of an experiment stands. */
typedef enum {
  LBBT_SWEEP_PENDING = 0, /* to run: complete nowhere */
  LBBT_SWEEP_TO_MERGE,    /* complete in its own run file, not yet in the table's file */
  LBBT_SWEEP_COMPLETE,    /* complete in the table's file */
} lbbt_sweep_state;

typedef struct lbbt_sweep_plan {
  lbbt_experiment *exp;          /* owned */
  char table_path[LBBT_PATH_MAX];
  lbbt_sweep_state *state;       /* one per exp->runs[i] */
  int n_pending, n_to_merge, n_complete;
} lbbt_sweep_plan;

/* Load the experiment at `tier` and classify its runs.  table_path NULL: the default
 * results path (lbbt_results_default_path).  Free with lbbt_sweep_plan_free. */
LBBT_API lbbt_status lbbt_sweep_plan_create(const char *experiment_path, const char *tier,
                                   const char *table_path, lbbt_sweep_plan **out);
LBBT_API void lbbt_sweep_plan_free(lbbt_sweep_plan *p);

/* Join the complete run files of the plan's experiment into its table file (one atomic
 * commit; run files of other experiments or tiers are refused), remove the merged run
 * files, and when every run is then complete, the shared stage cache and the empty partial
 * folder.  *merged: runs joined now.  The plan's states are updated. */
LBBT_API lbbt_status lbbt_sweep_merge(lbbt_sweep_plan *p, int threads, int *merged);

#endif
