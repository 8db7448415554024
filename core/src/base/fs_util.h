/* Private to the core: folders for run checkpoints and results. */
#ifndef LBBT_FS_UTIL_H
#define LBBT_FS_UTIL_H
#include "lbbt/status.h"

/* mkdir -p; LBBT_E_IO naming the folder that could not be made. */
lbbt_status lbbt_make_dirs(const char *path);
/* rm -r of a folder lbbt wrote (files and folders only; symlinks are removed, not followed).
 * Best effort: what cannot be removed stays (it costs only disk space). */
void lbbt_remove_tree(const char *path);

#endif
