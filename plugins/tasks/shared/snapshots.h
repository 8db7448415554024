/* Snapshots of a pretraining run at fractions of its steps ("0,0.1,0.3,1" -> folders
 * frac-0, frac-0.1, frac-0.3, frac-1 under the model folder), and creating model folders:
 * what the pretraining tasks (lm-pretrain, ts-pretrain) share.  Compiled into the task
 * plugins (Makefile TASK_SHARED_SRC); hidden. */
#ifndef LBBT_TASKS_SNAPSHOTS_H
#define LBBT_TASKS_SNAPSHOTS_H
#include <stddef.h>
#include <stdint.h>

#include "lbbt/status.h"

#define SNAP_HIDDEN __attribute__((visibility("hidden")))
#define SNAPSHOTS_MAX 32
#define SNAPSHOT_NAME_MAX 32

typedef struct snapshot_list {
  int n;
  double fraction[SNAPSHOTS_MAX];              /* ascending, distinct folder names */
  char name[SNAPSHOTS_MAX][SNAPSHOT_NAME_MAX]; /* frac-<%g> */
} snapshot_list;

/* "0, 0.1,0.3 ,1" -> sorted fractions in [0, 1] and their folder names.  On bad text returns
 * LBBT_E_INPUT with `why` (size why_cap) saying what is wrong; the caller names the place. */
SNAP_HIDDEN lbbt_status snapshots_parse(const char *text, snapshot_list *out, char *why,
                                        size_t why_cap);
/* The optimizer step of snapshot i in a run of `total` steps: round(fraction * total). */
SNAP_HIDDEN int64_t snapshots_step(const snapshot_list *s, int i, int64_t total);
/* Is any snapshot due after `step` steps? */
SNAP_HIDDEN int snapshots_due(const snapshot_list *s, int64_t step, int64_t total);
/* mkdir -p path (LBBT_E_IO naming the folder). */
SNAP_HIDDEN lbbt_status snapshots_make_dirs(const char *path);

#endif
