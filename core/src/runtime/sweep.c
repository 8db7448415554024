/* Sweeps: which runs are pending, and the merge of per-run files; see lbbt/sweep.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbbt/results.h"
#include "lbbt/runner.h"
#include "lbbt/sweep.h"
#include "base/fs_util.h"

void lbbt_sweep_runs_dir(const char *table_path, char *buf, size_t n) {
  size_t len = strlen(table_path);
  int strip = len > 3 && !strcmp(table_path + len - 3, ".h5");
  snprintf(buf, n, "%.*s.runs", (int)(strip ? len - 3 : len), table_path);
}

void lbbt_sweep_run_path(const char *table_path, const char *run_id, char *buf, size_t n) {
  char dir[LBBT_PATH_MAX];
  lbbt_sweep_runs_dir(table_path, dir, sizeof dir);
  snprintf(buf, n, "%s/%s.h5", dir, run_id);
}

static lbbt_status classify(lbbt_sweep_plan *p) {
  p->n_pending = p->n_to_merge = p->n_complete = 0;
  for (int i = 0; i < p->exp->n_runs; i++) {
    const char *id = p->exp->runs[i].id;
    int present = 0;
    LBBT_TRY(lbbt_results_has_run(p->table_path, id, &present));
    if (present) {
      p->state[i] = LBBT_SWEEP_COMPLETE;
      p->n_complete++;
      continue;
    }
    char run_file[LBBT_PATH_MAX + 96];
    lbbt_sweep_run_path(p->table_path, id, run_file, sizeof run_file);
    lbbt_status st = lbbt_results_has_run(run_file, id, &present);
    if (st != LBBT_OK) return lbbt_fail_context(st, "run %s's own results file (remove it to run it again)", id);
    p->state[i] = present ? LBBT_SWEEP_TO_MERGE : LBBT_SWEEP_PENDING;
    if (present)
      p->n_to_merge++;
    else
      p->n_pending++;
  }
  return LBBT_OK;
}

lbbt_status lbbt_sweep_plan_create(const char *experiment_path, const char *tier,
                                   const char *table_path, lbbt_sweep_plan **out) {
  *out = NULL;
  lbbt_sweep_plan *p = calloc(1, sizeof *p);
  if (!p) return lbbt_fail(LBBT_E_NOMEM, "sweep: out of memory");
  lbbt_status st = lbbt_experiment_load(experiment_path, tier, &p->exp);
  if (st == LBBT_OK) {
    if (table_path)
      snprintf(p->table_path, sizeof p->table_path, "%s", table_path);
    else
      lbbt_results_default_path(p->exp->name, p->exp->tier, p->table_path, sizeof p->table_path);
    p->state = calloc(p->exp->n_runs ? (size_t)p->exp->n_runs : 1, sizeof *p->state);
    if (!p->state) st = lbbt_fail(LBBT_E_NOMEM, "sweep: out of memory");
  }
  if (st == LBBT_OK) st = classify(p);
  if (st != LBBT_OK) {
    lbbt_sweep_plan_free(p);
    return st;
  }
  *out = p;
  return LBBT_OK;
}

void lbbt_sweep_plan_free(lbbt_sweep_plan *p) {
  if (!p) return;
  lbbt_experiment_free(p->exp);
  free(p->state);
  free(p);
}

lbbt_status lbbt_sweep_merge(lbbt_sweep_plan *p, int threads, int *merged) {
  *merged = 0;
  LBBT_TRY(classify(p));
  int n = p->n_to_merge;
  char (*paths)[LBBT_PATH_MAX + 96] = calloc(n ? (size_t)n : 1, sizeof *paths);
  const char **sources = calloc(n ? (size_t)n : 1, sizeof *sources);
  const char **ids = calloc(n ? (size_t)n : 1, sizeof *ids);
  lbbt_status st = (paths && sources && ids) ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "sweep: out of memory");
  int k = 0;
  for (int i = 0; st == LBBT_OK && i < p->exp->n_runs; i++) {
    if (p->state[i] != LBBT_SWEEP_TO_MERGE) continue;
    lbbt_sweep_run_path(p->table_path, p->exp->runs[i].id, paths[k], sizeof paths[k]);
    sources[k] = paths[k];
    ids[k] = p->exp->runs[i].id;
    k++;
  }
  if (st == LBBT_OK && k) {
    char dir[LBBT_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", p->table_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
      *slash = 0;
      st = lbbt_make_dirs(dir);
    }
    if (st == LBBT_OK) st = lbbt_results_merge_runs(p->table_path, p->exp, sources, ids, k, threads);
  }
  /* the table's file now holds them (a crash before this unlink only leaves files that the
   * next merge finds complete in the table and removes) */
  for (int i = 0; st == LBBT_OK && i < k; i++) unlink(sources[i]);
  if (st == LBBT_OK) *merged = k;
  free(paths);
  free(sources);
  free(ids);
  LBBT_TRY(st);
  /* run files left over from an earlier merge that stopped before removing them */
  for (int i = 0; i < p->exp->n_runs; i++) {
    char run_file[LBBT_PATH_MAX + 96];
    lbbt_sweep_run_path(p->table_path, p->exp->runs[i].id, run_file, sizeof run_file);
    int in_table = 0;
    LBBT_TRY(lbbt_results_has_run(p->table_path, p->exp->runs[i].id, &in_table));
    if (in_table && unlink(run_file) != 0 && errno != ENOENT)
      return lbbt_fail(LBBT_E_IO, "%s: cannot remove this merged run file: %s", run_file, strerror(errno));
  }
  LBBT_TRY(classify(p));
  if (p->n_complete == p->exp->n_runs) {
    char dir[LBBT_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s.stages", p->table_path);
    lbbt_remove_tree(dir); /* every run complete: the stored stages have served */
    snprintf(dir, sizeof dir, "%s.partial", p->table_path);
    rmdir(dir); /* only when empty */
    lbbt_sweep_runs_dir(p->table_path, dir, sizeof dir);
    rmdir(dir); /* only when empty (task logs stay) */
  }
  return LBBT_OK;
}
