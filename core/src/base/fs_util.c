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
