/* File helpers for checkpoints: full preads, atomic file replacement, name suggestions. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/ckpt_internal.h"

lbbt_status lbbt_ckpt_pread(int fd, void *buf, size_t n, uint64_t off, const char *path,
                            const char *what) {
  unsigned char *p = buf;
  while (n > 0) {
    /* Large reads are split: Linux returns at most ~2 GiB per call anyway. */
    size_t chunk = n > ((size_t)1 << 30) ? ((size_t)1 << 30) : n;
    ssize_t r = pread(fd, p, chunk, (off_t)off);
    if (r < 0) {
      if (errno == EINTR) continue;
      return lbbt_fail(LBBT_E_IO, "%s: reading %s at byte %llu: %s", path, what,
                       (unsigned long long)off, strerror(errno));
    }
    if (r == 0)
      return lbbt_fail(LBBT_E_INPUT,
                       "%s: file ended while reading %s at byte %llu (%zu bytes missing); "
                       "was it truncated or changed while open?",
                       path, what, (unsigned long long)off, n);
    p += r;
    n -= (size_t)r;
    off += (uint64_t)r;
  }
  return LBBT_OK;
}

static char *str_dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

lbbt_status lbbt_atomic_open(lbbt_atomic_file *f, const char *path) {
  f->fd = -1;
  f->path = str_dup(path);
  size_t n = strlen(path) + 16;
  f->tmp = malloc(n);
  if (!f->path || !f->tmp) {
    free(f->path);
    free(f->tmp);
    f->path = f->tmp = NULL;
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  }
  snprintf(f->tmp, n, "%s.tmp-XXXXXX", path);
  f->fd = mkstemp(f->tmp);
  if (f->fd < 0) {
    lbbt_status s = lbbt_fail(LBBT_E_IO, "%s: cannot create temporary file %s: %s", path, f->tmp,
                              strerror(errno));
    free(f->path);
    free(f->tmp);
    f->path = f->tmp = NULL;
    return s;
  }
  /* mkstemp creates 0600; checkpoints are ordinary files: honour the umask like fopen. */
  mode_t um = umask(0);
  umask(um);
  (void)fchmod(f->fd, 0666 & ~um);
  return LBBT_OK;
}

lbbt_status lbbt_atomic_write(lbbt_atomic_file *f, const void *buf, size_t n) {
  const unsigned char *p = buf;
  while (n > 0) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return lbbt_fail(LBBT_E_IO, "%s: write failed: %s", f->tmp, strerror(errno));
    }
    p += w;
    n -= (size_t)w;
  }
  return LBBT_OK;
}

void lbbt_atomic_abort(lbbt_atomic_file *f) {
  if (f->fd >= 0) close(f->fd);
  if (f->tmp) unlink(f->tmp);
  free(f->path);
  free(f->tmp);
  f->fd = -1;
  f->path = f->tmp = NULL;
}

lbbt_status lbbt_atomic_commit(lbbt_atomic_file *f) {
  if (fsync(f->fd) != 0) {
    lbbt_status s = lbbt_fail(LBBT_E_IO, "%s: fsync failed: %s", f->tmp, strerror(errno));
    lbbt_atomic_abort(f);
    return s;
  }
  int rc = close(f->fd);
  f->fd = -1;
  if (rc != 0) {
    lbbt_status s = lbbt_fail(LBBT_E_IO, "%s: close failed: %s", f->tmp, strerror(errno));
    lbbt_atomic_abort(f);
    return s;
  }
  if (rename(f->tmp, f->path) != 0) {
    lbbt_status s =
        lbbt_fail(LBBT_E_IO, "%s: rename from %s failed: %s", f->path, f->tmp, strerror(errno));
    lbbt_atomic_abort(f);
    return s;
  }
  /* Make the rename itself durable: fsync the folder entry. */
  char *dir = str_dup(f->path);
  if (dir) {
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash == dir) d = "/";
    else if (slash) {
      *slash = 0;
      d = dir;
    }
    int dfd = open(d, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
    free(dir);
  }
  free(f->path);
  free(f->tmp);
  f->path = f->tmp = NULL;
  return LBBT_OK;
}

int lbbt_edit_distance(const char *a, const char *b) {
  enum { CAP = 256 };
  size_t na = strlen(a), nb = strlen(b);
  if (na > CAP || nb > CAP) return CAP;
  int prev[CAP + 1], cur[CAP + 1];
  for (size_t j = 0; j <= nb; j++) prev[j] = (int)j;
  for (size_t i = 1; i <= na; i++) {
    cur[0] = (int)i;
    for (size_t j = 1; j <= nb; j++) {
      int sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
      int del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, (nb + 1) * sizeof *prev);
  }
  return prev[nb];
}
