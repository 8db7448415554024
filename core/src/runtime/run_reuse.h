/* Runs shared between experiments (private to the core: the runner's).
 *
 * A run id hashes the run's whole resolved config, so two experiments that contain the
 * same run give it the same id: Table 12's random-label rows are Table 8's, for example.
 * Before computing a run its own results file lacks, the runner asks here whether a
 * sibling results file (another *.h5 in the same folder) holds it complete, recorded from
 * a checkpoint with the same bytes (model/checkpoint_sha256; a run without a fingerprint is
 * not reused, since nothing shows it ran from the same model).  The run is then committed
 * into this experiment's file with its record as it was measured, plus where it came from
 * (reused/from_file, reused/committed_utc, reused/git_commit), instead of being computed
 * again.  Siblings are read once, on the first miss. */
#ifndef LBBT_RUN_REUSE_H
#define LBBT_RUN_REUSE_H
#include "lbbt/results.h"

typedef struct run_reuse run_reuse;

/* An index of the results files beside results_path (nothing is read yet). */
lbbt_status run_reuse_create(const char *results_path, run_reuse **out);
void run_reuse_free(run_reuse *r);

/* The complete run run_id from a sibling file whose checkpoint fingerprint is sha256 (""
 * for a run without a checkpoint: matched only by another run without one), or NULL.  The
 * run's record gains the reused/ items.  *from: the sibling's path.  Valid until
 * run_reuse_free.  Unreadable or foreign siblings are skipped. */
lbbt_status run_reuse_find(run_reuse *r, const char *run_id, const char *sha256,
                           lbbt_result_run **run, const char **from);

#endif
