/* Replacing a file atomically: write "<path>.<pid>.tmp", fsync it, rename() it over <path>,
 * fsync the directory.  A process killed at any point leaves either the old or the new
 * file, never a mix; the tmp files it leaves behind are removed by the next writer.
 * (The ".tmp" suffix matches the project's .gitignore patterns for results/.) */
#ifndef LBBT_ATOMIC_FILE_H
#define LBBT_ATOMIC_FILE_H
#include <stddef.h>

#include "lbbt/status.h"

/* "<path>.<pid>.tmp" into buf; LBBT_E_INPUT when it does not fit. */
lbbt_status atomic_tmp_name(const char *path, char *buf, size_t n);
/* Remove "<path>.<pid>.tmp" files of earlier writers: every one when `all` (the caller
 * holds atomic_lock, so no other writer is active), else those whose process is gone. */
void atomic_remove_stale(const char *path, int all);
/* fsync `tmp`, rename it to `path`, fsync the directory.  On failure tmp is removed. */
lbbt_status atomic_publish(const char *tmp, const char *path);
/* Serialise writers of files in path's directory: an exclusive flock() on the directory
 * itself (no lock file to leave behind; the kernel drops it when the process dies).
 * *fd is released with atomic_unlock. */
lbbt_status atomic_lock(const char *path, int *fd);
void atomic_unlock(int fd);
/* The directory of `path` ("." when it has none) into buf. */
void atomic_dir_of(const char *path, char *buf, size_t n);
#endif
