/* Private to the core: folders for run checkpoints and results. */
#ifndef LBBT_FS_UTIL_H
#define LBBT_FS_UTIL_H
#include <stdint.h>

#include "lbbt/status.h"

/* mkdir -p; LBBT_E_IO naming the folder that could not be made. */
lbbt_status lbbt_make_dirs(const char *path);
/* rm -r of a folder lbbt wrote (files and folders only; symlinks are removed, not followed).
 * Best effort: what cannot be removed stays (it costs only disk space). */
void lbbt_remove_tree(const char *path);

/* Refuse anything but a regular file before reading it: a FIFO blocks in open() and
 * /dev/zero or /dev/urandom never end.  LBBT_E_INPUT naming `what` ("checkpoint", "IDX
 * file") and the path, saying what it is instead; *size (when not NULL) gets its bytes. */
lbbt_status lbbt_require_regular_file(const char *path, const char *what, int64_t *size);

#endif
