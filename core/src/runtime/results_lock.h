/* Private to the core: one lbbt process writes a results file at a time. */
#ifndef LBBT_RESULTS_LOCK_H
#define LBBT_RESULTS_LOCK_H
#include "lbbt/status.h"

/* Take the advisory lock "<results>.lock" (flock, held until results_lock_release or the
 * process dies; the file holds the owner's pid) and check, before anything is computed, that
 * the results file can be written.  LBBT_E_INPUT "another lbbt process (pid N) is writing
 * this file" when another process holds it; LBBT_E_INPUT when the folder or an existing
 * results file is read-only.  *fd is -1 on failure. */
lbbt_status results_lock_acquire(const char *results_path, int *fd);
/* Remove the lock file and release the lock (fd -1: nothing to do). */
void results_lock_release(const char *results_path, int fd);

#endif
