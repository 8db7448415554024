/* Checking a results file and salvaging its intact runs (`lbbt fsck`, issue 20 class 11).
 *
 * A results file can be damaged on disk (a flipped bit: a run's checksum no longer
 * matches), damaged in a way that crashes libhdf5 when one run is read, or truncated (a
 * copy cut short, a full disk): lbbt_results_read then refuses the whole file.  fsck reads
 * each run in its own child process, so that one run that crashes or hangs libhdf5 cannot
 * hide the others, and a truncated file is read through a copy padded with zeros to the
 * size its superblock declares: runs stored before the cut read back and verify, runs in
 * the lost tail fail their checksum or cannot be read.  Salvaging copies the intact runs
 * (and the root's provenance) into a new results file, written atomically.
 *
 *   lbbt_fsck_report *r = NULL;
 *   LBBT_TRY(lbbt_results_fsck("results/table-4.h5", &r));
 *   for (int i = 0; i < r->n_runs; i++) printf("%s %s\n", lbbt_fsck_state_name(r->runs[i].state), r->runs[i].id);
 *   if (!lbbt_fsck_clean(r)) lbbt_results_salvage(r, "results/table-4.salvaged.h5", &n);
 *   lbbt_fsck_report_free(r);
 */
#ifndef LBBT_RESULTS_FSCK_H
#define LBBT_RESULTS_FSCK_H
#include <stdint.h>

#include "lbbt/status.h"

typedef enum {
  LBBT_FSCK_OK = 0,     /* reads back and its checksum matches (or it predates checksums) */
  LBBT_FSCK_DAMAGED,    /* HDF5 reports an error reading it, or its checksum does not match */
  LBBT_FSCK_UNREADABLE, /* reading it crashes or hangs libhdf5 */
} lbbt_fsck_state;
/* "ok", "damaged", "unreadable" */
LBBT_API const char *lbbt_fsck_state_name(lbbt_fsck_state s);

typedef struct lbbt_fsck_run {
  char *id;
  char *label;  /* "" when it could not be read */
  lbbt_fsck_state state;
  char *reason; /* NULL when ok */
} lbbt_fsck_run;

typedef struct lbbt_fsck_report {
  char *file;
  int64_t size;          /* bytes on disk */
  int64_t declared_size; /* the end-of-file address in its superblock; -1 when unknown */
  int truncated;         /* size < declared_size */
  char *problem;         /* NULL, or what is wrong with the file as a whole */
  int listed;            /* 1 when its runs could be listed (else runs is empty) */
  lbbt_fsck_run *runs;   /* in the file's order */
  int n_runs, n_ok, n_damaged, n_unreadable;
  char **root_ok;        /* the root attributes (provenance) that read back: what salvage copies */
  int n_root_ok, n_root_damaged;
  char *read_from;       /* private: the file HDF5 reads (a padded copy when truncated) */
} lbbt_fsck_report;

/* Check every run of the results file at `path`.  LBBT_OK with *out (free it with
 * lbbt_fsck_report_free) whenever the file could be examined, damaged or not; LBBT_E_INPUT
 * for a missing or non-regular file, a file that is not HDF5, and an HDF5 file that is not
 * an lbbt results file. */
LBBT_API lbbt_status lbbt_results_fsck(const char *path, lbbt_fsck_report **out);
/* 1 when the file as a whole is sound and every run is ok. */
LBBT_API int lbbt_fsck_clean(const lbbt_fsck_report *r);
/* Write a new results file at out_path holding the root attributes (provenance) of the
 * checked file, plus salvaged_from and salvaged_utc, and each of its ok runs copied
 * verbatim (checksum included); *n_copied gets their number.  Atomic (tmp + rename), and
 * read back and verified before it is published.  Refuses (LBBT_E_INPUT) an out_path that
 * exists or is the checked file, and a report whose runs could not be listed. */
LBBT_API lbbt_status lbbt_results_salvage(const lbbt_fsck_report *r, const char *out_path,
                                          int *n_copied);
LBBT_API void lbbt_fsck_report_free(lbbt_fsck_report *r);

#endif
