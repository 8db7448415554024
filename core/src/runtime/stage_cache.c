/* Stages shared between runs; see stage_cache.h. */
#include "runtime/stage_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/checkpoint.h"
#include "lbbt/sha256.h"
#include "base/fs_util.h"

static int dir_exists(const char *p) {
  struct stat sb;
  return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

int stage_cache_applies(const lbbt_run_spec *run, int k, const lbbt_task_needs *needs) {
  return k < run->n_stages - 1 && !run->stages[k].skip && needs->cacheable;
}

/* The canonical config holds "stages:" followed by entries "  - name: ..."; the prefix is
 * the text without entries k+1.. (every other line kept, wherever the list stands). */
static lbbt_status config_prefix(const lbbt_run_spec *run, int k, const char **a, size_t *na,
                                 const char **b) {
  const char *cfg = run->config_yaml;
  const char *stages = strstr(cfg, "\nstages:\n");
  if (!stages) return lbbt_fail(LBBT_E_INTERNAL, "stage cache: run %s: no stages in its config", run->id);
  const char *p = stages + strlen("\nstages:\n") - 1; /* at the newline ending "stages:" */
  int seen = -1;
  const char *cut = NULL;
  for (; (p = strstr(p, "\n  - name: ")); p++)
    if (++seen == k + 1) {
      cut = p + 1;
      break;
    }
  if (!cut) return lbbt_fail(LBBT_E_INTERNAL, "stage cache: run %s: stage %d not in its config", run->id, k + 1);
  /* the stages list ends at the next line that starts in column 0 (or the text's end) */
  const char *end = cut;
  while ((end = strchr(end, '\n')) && end[1] && (end[1] == ' ' || end[1] == '-')) end++;
  *a = cfg;
  *na = (size_t)(cut - cfg);
  *b = end ? end + 1 : cfg + strlen(cfg);
  return LBBT_OK;
}

lbbt_status stage_cache_entry(const char *root, const lbbt_run_spec *run, int k,
                              const char *checkpoint_sha256, char *dir, size_t n) {
  const char *a = NULL, *b = NULL;
  size_t na = 0;
  LBBT_TRY(config_prefix(run, k, &a, &na, &b));
  lbbt_sha256_ctx c;
  lbbt_sha256_init(&c);
  lbbt_sha256_update(&c, "lbbt-stage-cache/1\n", strlen("lbbt-stage-cache/1\n"));
  lbbt_sha256_update(&c, a, na);
  lbbt_sha256_update(&c, b, strlen(b));
  lbbt_sha256_update(&c, "\ncheckpoint_sha256: ", strlen("\ncheckpoint_sha256: "));
  lbbt_sha256_update(&c, checkpoint_sha256, strlen(checkpoint_sha256));
  uint8_t d[32];
  lbbt_sha256_final(&c, d);
  char hex[65];
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  if ((size_t)snprintf(dir, n, "%s/%s", root, hex) >= n)
    return lbbt_fail(LBBT_E_INPUT, "stage cache: path %s/%s is too long", root, hex);
  return LBBT_OK;
}

lbbt_status stage_cache_save(const lbbt_stage_ctx *ctx, const char *dir) {
  if (dir_exists(dir)) return LBBT_OK;
  char tmp[LBBT_PATH_MAX + 64], path[LBBT_PATH_MAX + 96], parent[LBBT_PATH_MAX + 16];
  snprintf(parent, sizeof parent, "%s", dir);
  char *slash = strrchr(parent, '/');
  if (slash) *slash = 0;
  LBBT_TRY(lbbt_make_dirs(parent));
  snprintf(tmp, sizeof tmp, "%s.%ld.tmp", dir, (long)getpid());
  lbbt_remove_tree(tmp);
  if (mkdir(tmp, 0755) != 0)
    return lbbt_fail(LBBT_E_IO, "stage cache: cannot create %s: %s", tmp, strerror(errno));
  lbbt_st_writer *w = NULL;
  lbbt_status st = lbbt_st_writer_create(&w);
  const lbbt_model *m = ctx->model;
  for (int i = 0; st == LBBT_OK && m && i < m->n_params; i++)
    st = lbbt_st_writer_add_tensor(w, m->params[i].name, m->params[i].t);
  snprintf(path, sizeof path, "%s/state.safetensors", tmp);
  if (st == LBBT_OK) st = lbbt_st_writer_write(w, path);
  lbbt_st_writer_free(w);
  snprintf(path, sizeof path, "%s/record.h5", tmp);
  if (st == LBBT_OK) st = lbbt_record_save(ctx->record, path);
  /* another process may have stored the same entry meanwhile: theirs is as good */
  if (st == LBBT_OK && rename(tmp, dir) != 0 && !dir_exists(dir))
    st = lbbt_fail(LBBT_E_IO, "stage cache: rename %s: %s", tmp, strerror(errno));
  lbbt_remove_tree(tmp);
  return st;
}

lbbt_status stage_cache_load(lbbt_stage_ctx *ctx, const char *dir, int *found) {
  *found = 0;
  if (!dir_exists(dir)) return LBBT_OK;
  char path[LBBT_PATH_MAX + 96];
  snprintf(path, sizeof path, "%s/state.safetensors", dir);
  lbbt_st *st = NULL;
  LBBT_TRY(lbbt_st_open(path, &st));
  lbbt_status s = LBBT_OK;
  for (int i = 0; s == LBBT_OK && ctx->model && i < ctx->model->n_params; i++)
    s = lbbt_st_read_into(st, ctx->model->params[i].name, ctx->model->params[i].t);
  lbbt_st_close(st);
  lbbt_record *rec = NULL;
  snprintf(path, sizeof path, "%s/record.h5", dir);
  if (s == LBBT_OK) s = lbbt_record_load(path, &rec);
  if (s != LBBT_OK) return lbbt_fail_context(s, "stage cache: reading %s (remove it to recompute)", dir);
  lbbt_record_free(ctx->record);
  ctx->record = rec;
  *found = 1;
  return LBBT_OK;
}
