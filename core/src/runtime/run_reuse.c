/* Runs shared between experiments; see run_reuse.h. */
#include "runtime/run_reuse.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/spec.h"

#define MAX_SIBLINGS 256

struct run_reuse {
  char dir[LBBT_PATH_MAX], self[LBBT_PATH_MAX];
  int loaded;
  lbbt_results *files[MAX_SIBLINGS];
  int n_files;
};

lbbt_status run_reuse_create(const char *results_path, run_reuse **out) {
  *out = NULL;
  run_reuse *r = calloc(1, sizeof *r);
  if (!r) return lbbt_fail(LBBT_E_NOMEM, "run reuse: out of memory");
  snprintf(r->self, sizeof r->self, "%s", results_path);
  snprintf(r->dir, sizeof r->dir, "%s", results_path);
  char *slash = strrchr(r->dir, '/');
  if (slash)
    *slash = 0;
  else
    snprintf(r->dir, sizeof r->dir, ".");
  *out = r;
  return LBBT_OK;
}

void run_reuse_free(run_reuse *r) {
  if (!r) return;
  for (int i = 0; i < r->n_files; i++) lbbt_results_free(r->files[i]);
  free(r);
}

static int is_results_file(const char *name) {
  size_t n = strlen(name);
  return n > 3 && !strcmp(name + n - 3, ".h5") && name[0] != '.';
}

/* Read every sibling results file once; what is not an lbbt results file is skipped. */
static void load_siblings(run_reuse *r) {
  r->loaded = 1;
  DIR *d = opendir(r->dir);
  if (!d) return;
  const char *self_name = strrchr(r->self, '/') ? strrchr(r->self, '/') + 1 : r->self;
  struct dirent *de;
  while ((de = readdir(d)) && r->n_files < MAX_SIBLINGS) {
    if (!is_results_file(de->d_name) || !strcmp(de->d_name, self_name)) continue;
    char path[LBBT_PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", r->dir, de->d_name) >= sizeof path) continue;
    lbbt_results *res = NULL;
    if (lbbt_results_read(path, &res) == LBBT_OK) {
      r->files[r->n_files++] = res;
    } else {
      /* not ours, or damaged: nothing to reuse from it, and this run goes on; a damaged
       * lbbt file is worth a word (one that crashes libhdf5 was read by the probe only) */
      if (strstr(lbbt_last_error(), "damaged"))
        fprintf(stderr, "lbbt: warning: skipping %s for run reuse: %s\n", path, lbbt_last_error());
      lbbt_clear_error();
    }
  }
  closedir(d);
}

static const char *record_string(const lbbt_record *rec, const char *path) {
  const char *s = NULL;
  if (lbbt_record_get_string(rec, path, &s) != LBBT_OK) {
    lbbt_clear_error();
    return NULL;
  }
  return s;
}

lbbt_status run_reuse_find(run_reuse *r, const char *run_id, const char *sha256,
                           lbbt_result_run **run, const char **from) {
  *run = NULL;
  *from = NULL;
  if (!r->loaded) load_siblings(r);
  for (int i = 0; i < r->n_files; i++) {
    lbbt_result_run *hit = (lbbt_result_run *)lbbt_results_find_run(r->files[i], run_id);
    if (!hit || strcmp(hit->status, "complete") || !hit->record) continue;
    const char *sha = record_string(hit->record, "model/checkpoint_sha256");
    const char *ckpt = record_string(hit->record, "model/checkpoint");
    /* a run from a checkpoint must carry the same fingerprint; one without a checkpoint
     * (built from scratch by architecture name) matches another without one */
    if (sha256[0] ? !sha || strcmp(sha, sha256) : ckpt != NULL) continue;
    if (!record_string(hit->record, "reused/from_file")) {
      const char *utc = lbbt_result_run_attr(hit, "committed_utc");
      const char *commit = lbbt_result_run_attr(hit, "git_commit");
      LBBT_TRY(lbbt_record_string(hit->record, "reused/from_file", r->files[i]->file));
      LBBT_TRY(lbbt_record_string(hit->record, "reused/committed_utc", utc ? utc : "unknown"));
      LBBT_TRY(lbbt_record_string(hit->record, "reused/git_commit", commit ? commit : "unknown"));
    }
    *run = hit;
    *from = r->files[i]->file;
    return LBBT_OK;
  }
  return LBBT_OK;
}
