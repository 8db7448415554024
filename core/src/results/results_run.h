/* Private to core/src/results: one run group read on its own (results.c), for `lbbt fsck`
 * (results_fsck.c), which reads each run of a damaged file in a separate process. */
#ifndef LBBT_RESULTS_RUN_H
#define LBBT_RESULTS_RUN_H
#include <hdf5.h>

#include "lbbt/results.h"

/* Read /runs/<name> (runs: the open /runs group) into *r (zeroed by the caller), verifying
 * its checksum: a run that cannot be read or does not match comes back with r->damage set
 * and LBBT_OK; only running out of memory is an error.  Free with results_free_one_run. */
lbbt_status results_read_one_run(hid_t runs, const char *name, const char *path,
                                 lbbt_result_run *r);
void results_free_one_run(lbbt_result_run *r);

#endif
