/* Progress reporting for long work (training runs of an experiment).
 *
 * On a terminal, one status line is rewritten in place with '\r' at most every
 * LBBT_PROGRESS_TTY_INTERVAL_S seconds, and kept (newline) at the end of each epoch:
 *   table-4 run 3/12 init=language seed=0 | epoch 2/10 step 40/100 | loss 1.2345
 *   acc 45.60% | 1234 items/s | ETA 3m12s
 * Anywhere else (a log file, a pipe, CI) it prints plain lines prefixed with the elapsed
 * time, at most every LBBT_PROGRESS_LOG_INTERVAL_S seconds plus one at each epoch end.
 *
 * Updates are meant to be called every training step, so they must cost next to nothing:
 * the clock is read only every `stride` updates, where the stride adapts so that reads
 * happen about four times per interval (and at each epoch end, which always prints and
 * restarts the adaptation, since the step rate may change there).
 *
 * ETA is linear in the fraction of work done since the first update (runs skipped on
 * resume do not distort it): fraction = (run_i + (epoch + (step+1)/n_steps)/n_epochs)
 * / total_runs.  Not thread-safe: update from the training thread.  Output errors are
 * ignored (progress never fails a run). */
#ifndef LBBT_PROGRESS_H
#define LBBT_PROGRESS_H
#include <stdio.h>

#include "lbbt/status.h"

#define LBBT_PROGRESS_TTY_INTERVAL_S 0.1
#define LBBT_PROGRESS_LOG_INTERVAL_S 5.0

typedef struct lbbt_progress lbbt_progress;

/* `out` is borrowed (not closed by _free); `what` names the work ("table-4"); total_runs
 * >= 1 is the number of runs in the whole experiment, skipped ones included. */
LBBT_API lbbt_status lbbt_progress_create(lbbt_progress **p, FILE *out, const char *what, int total_runs);
/* Ends an in-place line with a newline; frees p (NULL is fine). */
LBBT_API void lbbt_progress_free(lbbt_progress *p);
/* Text shown after "run i/n" from now on, e.g. the run's label and stage ("" for none). */
LBBT_API void lbbt_progress_set_label(lbbt_progress *p, const char *label);
/* Override the interval between lines (seconds > 0), e.g. for tests or chatty logs. */
LBBT_API void lbbt_progress_set_interval(lbbt_progress *p, double seconds);

/* One training step finished.  run_i, epoch and step are 0-based indices (printed
 * 1-based); step == n_steps - 1 is an epoch end.  loss is left out of the line when NaN
 * (it may be negative), acc (a fraction in [0, 1]) and items_per_s when NaN or negative. */
LBBT_API void lbbt_progress_update(lbbt_progress *p, int run_i, int epoch, int n_epochs, int step,
                          int n_steps, double loss, double acc, double items_per_s);
/* A plain line (a newline is added when missing); on a terminal it first clears the
 * in-place line, which the next update redraws. */
LBBT_API void lbbt_progress_log(lbbt_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* How many times the clock has been read (for tests and overhead checks). */
LBBT_API long lbbt_progress_clock_reads(const lbbt_progress *p);

#endif
