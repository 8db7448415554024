/* Atomic file replacement: tmp + fsync + rename + directory fsync, stale tmp cleanup, and
 * a writer lock.  See atomic_file.h. */
#include "base/atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

void atomic_dir_of(const char *path, char *buf, size_t n) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(buf, n, ".");
  else if (slash == path) snprintf(buf, n, "/");
  else snprintf(buf, n, "%.*s", (int)(slash - path), path);
}

static const char *base_of(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

lbbt_status atomic_tmp_name(const char *path, char *buf, size_t n) {
  int len = snprintf(buf, n, "%s.%ld.tmp", path, (long)getpid());
  if (len < 0 || (size_t)len >= n)
    return lbbt_fail(LBBT_E_INPUT, "%s: path too long for its temporary file name", path);
  return LBBT_OK;
}

/* Is `name` "<base>.<digits>.tmp"?  Returns the pid, or 0. */
static long stale_pid(const char *name, const char *base) {
  size_t blen = strlen(base);
  if (strncmp(name, base, blen) != 0 || name[blen] != '.') return 0;
  const char *digits = name + blen + 1;
  char *end;
  long pid = strtol(digits, &end, 10);
  if (end == digits || pid <= 0 || strcmp(end, ".tmp") != 0) return 0;
  return pid;
}

void atomic_remove_stale(const char *path, int all) {
  char dir[4096];
  atomic_dir_of(path, dir, sizeof dir);
  const char *base = base_of(path);
  DIR *d = opendir(dir);
  if (!d) return; /* nothing to clean is not an error: the write itself will report */
  struct dirent *e;
  while ((e = readdir(d))) {
    long pid = stale_pid(e->d_name, base);
    if (!pid || pid == (long)getpid()) continue;
    if (!all && !(kill((pid_t)pid, 0) < 0 && errno == ESRCH)) continue;
    char victim[4096 + 256];
    snprintf(victim, sizeof victim, "%s/%s", dir, e->d_name);
    unlink(victim);
  }
  closedir(d);
}

static int fsync_path(const char *p, int flags) {
  int fd = open(p, flags | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc;
  while ((rc = fsync(fd)) < 0 && errno == EINTR) {
  }
  /* Some file systems refuse fsync on directories (EINVAL); the rename is still atomic. */
  if (rc < 0 && (flags & O_DIRECTORY) && (errno == EINVAL || errno == EBADF)) rc = 0;
  close(fd);
  return rc;
}

lbbt_status atomic_publish(const char *tmp, const char *path) {
  if (fsync_path(tmp, O_RDONLY) < 0) {
    int err = errno;
    unlink(tmp);
    return lbbt_fail(LBBT_E_IO, "%s: cannot flush %s to disk: %s", path, tmp, strerror(err));
  }
  if (rename(tmp, path) < 0) {
    int err = errno;
    unlink(tmp);
    return lbbt_fail(LBBT_E_IO, "%s: cannot rename %s over it: %s", path, tmp, strerror(err));
  }
  char dir[4096];
  atomic_dir_of(path, dir, sizeof dir);
  if (fsync_path(dir, O_RDONLY | O_DIRECTORY) < 0)
    return lbbt_fail(LBBT_E_IO, "%s: written, but flushing directory %s failed: %s", path, dir,
                     strerror(errno));
  return LBBT_OK;
}

lbbt_status atomic_lock(const char *path, int *fd) {
  char dir[4096];
  atomic_dir_of(path, dir, sizeof dir);
  int d = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0)
    return lbbt_fail(LBBT_E_IO, "%s: cannot open its directory %s: %s (create it first)", path,
                     dir, strerror(errno));
  int rc;
  while ((rc = flock(d, LOCK_EX)) < 0 && errno == EINTR) {
  }
  if (rc < 0 && errno != ENOLCK && errno != EOPNOTSUPP) {
    int err = errno;
    close(d);
    return lbbt_fail(LBBT_E_IO, "%s: cannot lock directory %s: %s", path, dir, strerror(err));
  }
  /* Without flock support (some network file systems) writers are not serialised; a
   * single writer per results file, the normal case, is still crash-safe. */
  *fd = d;
  return LBBT_OK;
}

void atomic_unlock(int fd) {
  if (fd < 0) return;
  flock(fd, LOCK_UN);
  close(fd);
}
