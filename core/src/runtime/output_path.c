/* Where a stage may write, and whose model it may replace: see lbbt/output_path.h. */
#include "lbbt/output_path.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/checkpoint.h"

enum { MAX_PARTS = 512 };

/* `path` made absolute against the current folder, "." and ".." resolved lexically, into
 * out ("/a/b", no trailing slash).  -1 when it does not fit. */
static int normalize(const char *path, char *out, size_t n) {
  char buf[2 * PATH_MAX + 2], cwd[PATH_MAX];
  if (path[0] == '/') snprintf(buf, sizeof buf, "%s", path);
  else if (!getcwd(cwd, sizeof cwd)) return -1;
  else if (snprintf(buf, sizeof buf, "%s/%s", cwd, path) >= (int)sizeof buf) return -1;
  char *parts[MAX_PARTS], *save = NULL;
  int np = 0;
  for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
    if (!strcmp(t, ".")) continue;
    if (!strcmp(t, "..")) {
      if (np) np--;
      continue;
    }
    if (np == MAX_PARTS) return -1;
    parts[np++] = t;
  }
  size_t k = 0;
  out[0] = 0;
  for (int i = 0; i < np; i++) {
    int w = snprintf(out + k, n - k, "/%s", parts[i]);
    if (w < 0 || (size_t)w >= n - k) return -1;
    k += (size_t)w;
  }
  if (!np) snprintf(out, n, "/");
  return 0;
}

/* Is the normalized path inside root (itself normalized here)? */
static int inside(const char *norm, const char *root) {
  char r[PATH_MAX];
  if (!root[0] || normalize(root, r, sizeof r) < 0) return 0;
  size_t len = strlen(r);
  if (!strcmp(r, "/")) return 1;
  return !strncmp(norm, r, len) && (norm[len] == 0 || norm[len] == '/');
}

/* The folder of the run's results file: ctx->partial_dir is "<results>.partial/<run id>". */
static void results_folder(const lbbt_stage_ctx *ctx, char *out, size_t n) {
  snprintf(out, n, "%s", ctx->partial_dir);
  for (int up = 0; up < 2; up++) {
    char *slash = strrchr(out, '/');
    if (slash) *slash = 0;
    else snprintf(out, n, ".");
  }
  if (!out[0]) snprintf(out, n, "/");
}

lbbt_status lbbt_output_path_check(const lbbt_stage_ctx *ctx, const char *path, const char *what) {
  char norm[PATH_MAX], results[LBBT_PATH_MAX];
  if (!path || !path[0] || normalize(path, norm, sizeof norm) < 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: '%s' is not a usable path", what, path ? path : "");
  results_folder(ctx, results, sizeof results);
  if (inside(norm, "models") || inside(norm, "results") || inside(norm, results)) return LBBT_OK;
  const char *env = getenv("LBBT_OUTPUT_ROOTS");
  char roots[4096] = "";
  if (env && *env) {
    snprintf(roots, sizeof roots, "%s", env);
    char *save = NULL;
    for (char *r = strtok_r(roots, ":", &save); r; r = strtok_r(NULL, ":", &save))
      if (inside(norm, r)) return LBBT_OK;
    snprintf(roots, sizeof roots, ", %s", env);
  }
  return lbbt_fail(LBBT_E_INPUT,
                   "%s: '%s' (%s) is outside the folders lbbt writes to: models/, results/, %s "
                   "(the results file's folder)%s; write there, or allow the folder with "
                   "LBBT_OUTPUT_ROOTS=DIR[:DIR...]",
                   what, path, norm, results, roots);
}

static int file_exists(const char *dir, const char *name) {
  char p[LBBT_PATH_MAX + 256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  struct stat sb;
  return stat(p, &sb) == 0;
}

lbbt_status lbbt_output_model_check(const lbbt_stage_ctx *ctx, const char *dir, const char *info_file) {
  if (!file_exists(dir, "config.json") && !file_exists(dir, "model.safetensors")) return LBBT_OK;
  const char *replace = getenv("LBBT_REPLACE_MODELS");
  if (replace && !strcmp(replace, "1")) return LBBT_OK;
  char path[LBBT_PATH_MAX + 256];
  snprintf(path, sizeof path, "%s/%s", dir, info_file);
  json_t *info = NULL;
  const char *owner = NULL;
  if (file_exists(dir, info_file) && lbbt_json_read_file(path, &info) == LBBT_OK)
    owner = json_string_value(json_object_get(info, "run_id"));
  lbbt_status st = LBBT_OK;
  if (!owner || strcmp(owner, ctx->run->id))
    st = lbbt_fail(LBBT_E_INPUT,
                   "%s already holds a model %s%s%s, not by this run (%s: another configuration); "
                   "refusing to replace it: write to another folder, remove it, or set "
                   "LBBT_REPLACE_MODELS=1 to replace it",
                   dir, owner ? "made by run " : "not made by lbbt (no ", owner ? owner : info_file,
                   owner ? "" : " with a run_id)", ctx->run->id);
  json_decref(info);
  return st;
}
