/* The results file's writer lock; see results_lock.h.  The lock is a file beside the
 * results file, not the results file itself: commits replace that file by rename(), so a
 * lock on it would be a lock on an inode that no longer has the name. */
#include "runtime/results_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/spec.h"

static void lock_name(const char *results_path, char *buf, size_t n) {
  snprintf(buf, n, "%s.lock", results_path);
}

/* The pid written in the lock file, or 0. */
static long owner_pid(int fd) {
  char text[32] = "";
  ssize_t got = pread(fd, text, sizeof text - 1, 0);
  if (got <= 0) return 0;
  text[got] = 0;
  return strtol(text, NULL, 10);
}

lbbt_status results_lock_acquire(const char *results_path, int *fd) {
  *fd = -1;
  char lock[LBBT_PATH_MAX + 8];
  lock_name(results_path, lock, sizeof lock);
  if (access(results_path, F_OK) == 0 && access(results_path, W_OK) != 0)
    return lbbt_fail(LBBT_E_INPUT,
                     "%s: the results file is read-only (%s); make it writable or choose "
                     "another --out before anything is computed",
                     results_path, strerror(errno));
  for (int attempt = 0; attempt < 8; attempt++) {
    int f = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0)
      return lbbt_fail(LBBT_E_INPUT,
                       "%s: cannot create the lock file %s (%s): is the folder read-only? "
                       "Choose another --out",
                       results_path, lock, strerror(errno));
    int rc;
    while ((rc = flock(f, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR) {
    }
    if (rc < 0 && errno == EWOULDBLOCK) {
      long pid = owner_pid(f);
      close(f);
      return lbbt_fail(LBBT_E_INPUT,
                       "%s: another lbbt process (pid %ld) is writing this file; wait for it "
                       "to finish or choose another --out",
                       results_path, pid);
    }
    /* flock unsupported (some network file systems): go on unlocked, as commits do */
    struct stat held, named;
    if (rc == 0 && (fstat(f, &held) != 0 || stat(lock, &named) != 0 ||
                    held.st_ino != named.st_ino || held.st_dev != named.st_dev)) {
      close(f); /* the previous owner removed it between our open and flock: again */
      continue;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(f, 0) != 0 || pwrite(f, pid, (size_t)len, 0) != len) {
      int err = errno;
      close(f);
      return lbbt_fail(LBBT_E_IO, "%s: cannot write the lock file %s: %s", results_path, lock,
                       strerror(err));
    }
    *fd = f;
    return LBBT_OK;
  }
  return lbbt_fail(LBBT_E_IO, "%s: the lock file %s keeps being replaced", results_path, lock);
}

void results_lock_release(const char *results_path, int fd) {
  if (fd < 0) return;
  char lock[LBBT_PATH_MAX + 8];
  lock_name(results_path, lock, sizeof lock);
  unlink(lock); /* while still held: a waiter that opened it retries (see acquire) */
  flock(fd, LOCK_UN);
  close(fd);
}
