/* The identity of a checkpoint's bytes, so that a results file never passes off a run made
 * from one model as a run of another that sits at the same path (a model retrained by
 * `make models`, a re-downloaded checkpoint).  Run ids hash the configuration, which names
 * the checkpoint only by path; the runner records this fingerprint with every run and reruns
 * a "complete" run whose checkpoint has changed since (core/src/runtime/runner.c). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/checkpoint.h"
#include "lbbt/sha256.h"
#include "lbbt/spec.h" /* LBBT_PATH_MAX */

/* Feed name, size and contents of one regular file into c. */
static lbbt_status hash_file(lbbt_sha256_ctx *c, const char *path, const char *name) {
  FILE *f = fopen(path, "rb");
  if (!f) return lbbt_fail(LBBT_E_IO, "%s: cannot open to fingerprint the checkpoint: %s", path, strerror(errno));
  lbbt_sha256_update(c, name, strlen(name) + 1);
  unsigned char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) lbbt_sha256_update(c, buf, n);
  int bad = ferror(f);
  fclose(f);
  if (bad) return lbbt_fail(LBBT_E_IO, "%s: read error while fingerprinting the checkpoint", path);
  return LBBT_OK;
}

static int compare_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file directly in dir, in name order (subfolders such as step-N/ snapshots
 * are separate checkpoints and not part of this one). */
static lbbt_status hash_folder(lbbt_sha256_ctx *c, const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return lbbt_fail(LBBT_E_IO, "%s: cannot list the checkpoint folder: %s", dir, strerror(errno));
  char **names = NULL;
  int n = 0, cap = 0;
  lbbt_status st = LBBT_OK;
  struct dirent *e;
  while (st == LBBT_OK && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.') continue;
    char path[LBBT_PATH_MAX];
    struct stat sb;
    if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path || stat(path, &sb) != 0 ||
        !S_ISREG(sb.st_mode))
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 16;
      char **grown = realloc(names, (size_t)cap * sizeof *names);
      if (!grown) { st = lbbt_fail(LBBT_E_NOMEM, "fingerprinting %s: out of memory", dir); break; }
      names = grown;
    }
    names[n] = strdup(e->d_name);
    if (!names[n]) st = lbbt_fail(LBBT_E_NOMEM, "fingerprinting %s: out of memory", dir);
    else n++;
  }
  closedir(d);
  if (st == LBBT_OK) qsort(names, (size_t)n, sizeof *names, compare_names);
  for (int i = 0; st == LBBT_OK && i < n; i++) {
    char path[LBBT_PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    st = hash_file(c, path, names[i]);
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return st;
}

lbbt_status lbbt_checkpoint_fingerprint(const char *path, char hex[65]) {
  hex[0] = 0;
  if (!path || !path[0]) return LBBT_OK;
  struct stat sb;
  if (stat(path, &sb) != 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: checkpoint not found (%s)", path, strerror(errno));
  lbbt_sha256_ctx c;
  lbbt_sha256_init(&c);
  lbbt_status st;
  if (S_ISDIR(sb.st_mode)) {
    st = hash_folder(&c, path);
  } else if (!S_ISREG(sb.st_mode)) {
    /* /dev/zero would be hashed forever and a FIFO blocks in open() */
    return lbbt_fail(LBBT_E_INPUT, "%s: the checkpoint is %s, not a regular file or a folder",
                     path, S_ISFIFO(sb.st_mode) ? "a FIFO (named pipe)"
                           : S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ? "a device"
                                                                         : "a special file");
  } else {
    const char *slash = strrchr(path, '/');
    st = hash_file(&c, path, slash ? slash + 1 : path);
    /* a lone model.safetensors takes its shapes from the config.json beside it */
    char config[LBBT_PATH_MAX];
    int len = slash ? (int)(slash - path) : 0;
    if (st == LBBT_OK && snprintf(config, sizeof config, "%.*s%sconfig.json", len, path, slash ? "/" : "") < (int)sizeof config &&
        strcmp(config, path) && stat(config, &sb) == 0 && S_ISREG(sb.st_mode))
      st = hash_file(&c, config, "config.json");
  }
  if (st != LBBT_OK) return st;
  uint8_t digest[32];
  lbbt_sha256_final(&c, digest);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return LBBT_OK;
}
