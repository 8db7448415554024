/* Folders; see fs_util.h. */
#include "base/fs_util.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/spec.h"

lbbt_status lbbt_make_dirs(const char *path) {
  char tmp[LBBT_PATH_MAX];
  int n = snprintf(tmp, sizeof tmp, "%s", path);
  if (n < 0 || (size_t)n >= sizeof tmp) return lbbt_fail(LBBT_E_INPUT, "folder path too long: %.80s...", path);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
      return lbbt_fail(LBBT_E_IO, "cannot create folder %s: %s", tmp, strerror(errno));
    *p = '/';
  }
  if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
    return lbbt_fail(LBBT_E_IO, "cannot create folder %s: %s", tmp, strerror(errno));
  return LBBT_OK;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void lbbt_remove_tree(const char *path) {
  /* depth first, without following symlinks */
  nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

lbbt_status lbbt_require_regular_file(const char *path, const char *what, int64_t *size) {
  struct stat sb;
  if (stat(path, &sb) != 0)
    return lbbt_fail(LBBT_E_INPUT, "cannot open %s '%s': %s", what, path, strerror(errno));
  if (!S_ISREG(sb.st_mode)) {
    const char *kind = S_ISDIR(sb.st_mode)   ? "a folder"
                       : S_ISFIFO(sb.st_mode) ? "a FIFO (named pipe)"
                       : S_ISCHR(sb.st_mode)  ? "a character device"
                       : S_ISBLK(sb.st_mode)  ? "a block device"
                       : S_ISSOCK(sb.st_mode) ? "a socket"
                                              : "not a regular file";
    return lbbt_fail(LBBT_E_INPUT, "%s '%s' is %s; lbbt reads only regular files", what, path,
                     kind);
  }
  if (size) *size = (int64_t)sb.st_size;
  return LBBT_OK;
}
