/* The results file: crash-safe commits (copy-on-write + rename), has_run, read-back.
 * Layout and guarantees are documented in lbbt/results.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "results/h5util.h"
#include "results/results_run.h"
#include "results/run_digest.h"
#include "lbbt/results.h"
#include "lbbt/spec.h" /* lbbt_experiment, lbbt_run_spec */

#define RESULTS_KIND "lbbt-results"
#define RESULTS_WHAT "results file"
static const char STATUS_COMPLETE[] = "complete";
static const char STATUS_DAMAGED[] = "damaged";
static const char STATUS_DIVERGED[] = LBBT_RUN_DIVERGED;
static const char MATRIX_PREFIX[] = "matrix.";

/* Attributes of a run group that the commit writes itself (not record strings). */
static const char *const RUN_ATTRS[] = {
    "id", "label", "config", "status", "committed_utc", "git_commit", "git_dirty", "host",
    "threads", "lbbt_version", "experiment_sha256", "kernel_isa", "onednn_isa", RUN_DIGEST_ATTR,
};

static int run_attr_reserved(const char *name) {
  if (!strncmp(name, MATRIX_PREFIX, sizeof MATRIX_PREFIX - 1)) return 1;
  for (size_t i = 0; i < sizeof RUN_ATTRS / sizeof RUN_ATTRS[0]; i++)
    if (!strcmp(name, RUN_ATTRS[i])) return 1;
  return 0;
}

static lbbt_status read_run(hid_t runs, const char *name, const char *path, lbbt_result_run *r);
static void free_run(lbbt_result_run *run);

/* ---- has_run ---------------------------------------------------------------------- */
/* Does group /runs/<id> exist in the open file with status "complete"? */
static lbbt_status run_complete(hid_t f, const char *path, const char *run_id, int *present) {
  *present = 0;
  htri_t has_runs = H5Lexists(f, "runs", H5P_DEFAULT);
  if (has_runs <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return LBBT_OK;
  }
  hid_t runs = H5Gopen2(f, "runs", H5P_DEFAULT);
  if (runs < 0) return h5u_fail(LBBT_E_INPUT, path, "cannot open group /runs");
  lbbt_status st = LBBT_OK;
  if (H5Lexists(runs, run_id, H5P_DEFAULT) > 0) {
    /* read and verify the whole run: a damaged run is not complete, it is computed again */
    lbbt_result_run r;
    memset(&r, 0, sizeof r);
    st = read_run(runs, run_id, path, &r);
    /* a diverged run is done too: computing it again diverges again */
    if (st == LBBT_OK)
      *present = !r.damage && (!strcmp(r.status, STATUS_COMPLETE) || !strcmp(r.status, STATUS_DIVERGED));
    free_run(&r);
  }
  H5Eclear2(H5E_DEFAULT);
  H5Gclose(runs);
  return st;
}

lbbt_status lbbt_results_has_run(const char *path, const char *run_id, int *present) {
  if (!path || !run_id || !present)
    return lbbt_fail(LBBT_E_INTERNAL, "lbbt_results_has_run: NULL argument");
  *present = 0;
  if (!h5u_valid_name(run_id))
    return lbbt_fail(LBBT_E_INPUT, "%s: run id '%s' is not a valid group name", path, run_id);
  if (access(path, F_OK) != 0 && errno == ENOENT) return LBBT_OK;
  hid_t f;
  LBBT_TRY(h5u_open_lbbt(path, RESULTS_KIND, RESULTS_WHAT, &f));
  lbbt_status st = run_complete(f, path, run_id, present);
  H5Fclose(f);
  return st;
}

/* The record string `item` ("model/checkpoint_sha256": an attribute of group
 * /runs/<id>/model) of a run, or *out = NULL when the file, the run or the item is absent. */
lbbt_status lbbt_results_run_string(const char *path, const char *run_id, const char *item, char **out) {
  if (!path || !run_id || !item || !out)
    return lbbt_fail(LBBT_E_INTERNAL, "lbbt_results_run_string: NULL argument");
  *out = NULL;
  if (!h5u_valid_name(run_id))
    return lbbt_fail(LBBT_E_INPUT, "%s: run id '%s' is not a valid group name", path, run_id);
  if (access(path, F_OK) != 0 && errno == ENOENT) return LBBT_OK;
  char group[LBBT_RECORD_PATH_MAX + 64];
  const char *slash = strrchr(item, '/');
  const char *leaf = slash ? slash + 1 : item;
  int len = slash ? (int)(slash - item) : 0;
  if (snprintf(group, sizeof group, "runs/%s%s%.*s", run_id, slash ? "/" : "", len, item) >= (int)sizeof group)
    return lbbt_fail(LBBT_E_INPUT, "%s: item path '%s' too long", path, item);
  hid_t f;
  LBBT_TRY(h5u_open_lbbt(path, RESULTS_KIND, RESULTS_WHAT, &f));
  if (H5Lexists(f, "runs", H5P_DEFAULT) > 0 && H5Lexists(f, group, H5P_DEFAULT) > 0) {
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g >= 0 && H5Aexists(g, leaf) > 0 && h5u_attr_read_text(g, leaf, out) < 0) *out = NULL;
    if (g >= 0) H5Gclose(g);
  }
  H5Eclear2(H5E_DEFAULT);
  H5Fclose(f);
  return LBBT_OK;
}

/* ---- commit ----------------------------------------------------------------------- */
/* The old file's root attribute `name` (malloc'd) or NULL when absent. */
static char *old_attr(hid_t f, const char *name) {
  char *text = NULL;
  if (f < 0 || H5Aexists(f, name) <= 0 || h5u_attr_read_text(f, name, &text) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return NULL;
  }
  return text;
}

/* Refuse to mix experiments or tiers in one file: tables read every run in it. */
static lbbt_status check_same_experiment(hid_t old, const char *path, const lbbt_experiment *exp) {
  struct { const char *attr, *want, *what; } keys[] = {
      {"experiment_name", exp->name, "experiment"},
      {"tier", exp->tier, "tier"},
  };
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    char *have = old_attr(old, keys[i].attr);
    int differs = have && strcmp(have, keys[i].want) != 0;
    lbbt_status st = differs ? lbbt_fail(LBBT_E_INPUT,
                                         "%s: holds runs of %s '%s', not '%s'; write to another "
                                         "results file or move this one aside",
                                         path, keys[i].what, have, keys[i].want)
                             : LBBT_OK;
    free(have);
    if (st != LBBT_OK) return st;
  }
  return LBBT_OK;
}

static herr_t write_root_attrs(hid_t f, const lbbt_experiment *exp, const lbbt_provenance *p,
                               const char *created_utc) {
  const struct { const char *name, *value; } text[] = {
      {"lbbt_format", RESULTS_KIND "/1"},
      {"lbbt_version", p->lbbt_version},
      {"git_commit", p->git_commit},
      {"git_dirty", p->git_dirty},
      {"created_utc", created_utc ? created_utc : p->utc_time},
      {"updated_utc", p->utc_time},
      {"host", p->host},
      {"cpu_model", p->cpu_model},
      {"cpu_isa", p->cpu_isa},
      {"kernel_isa", p->kernel_isa},
      {"onednn_isa", p->onednn_isa},
      {"onednn_version", p->onednn_version},
      {"hdf5_version", p->hdf5_version},
      {"gsl_version", p->gsl_version},
      {"libyaml_version", p->libyaml_version},
      {"experiment_name", exp->name},
      {"experiment_file", exp->file},
      {"experiment_yaml", exp->yaml_text ? exp->yaml_text : ""},
      {"experiment_sha256", exp->sha256},
      {"tier", exp->tier},
  };
  for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
    if (h5u_attr_write_str(f, text[i].name, text[i].value) < 0) return -1;
  return h5u_attr_write_i32(f, "threads", p->threads);
}

static herr_t write_run_attrs(hid_t g, const lbbt_experiment *exp, const lbbt_run_spec *run,
                              const lbbt_record *rec, const lbbt_provenance *p) {
  const struct { const char *name, *value; } text[] = {
      {"id", run->id},
      {"label", run->label},
      {"config", run->config_yaml ? run->config_yaml : ""},
      {"status", lbbt_record_find(rec, LBBT_RUN_DIVERGED_REASON) ? STATUS_DIVERGED : STATUS_COMPLETE},
      {"committed_utc", p->utc_time},
      {"git_commit", p->git_commit},
      {"git_dirty", p->git_dirty},
      {"host", p->host},
      {"lbbt_version", p->lbbt_version},
      {"experiment_sha256", exp->sha256},
      {"kernel_isa", p->kernel_isa},
      {"onednn_isa", p->onednn_isa},
  };
  for (size_t i = 0; i < sizeof text / sizeof text[0]; i++)
    if (h5u_attr_write_str(g, text[i].name, text[i].value) < 0) return -1;
  if (h5u_attr_write_i32(g, "threads", p->threads) < 0) return -1;
  for (int i = 0; i < run->n_matrix; i++) {
    char name[LBBT_PATH_MAX];
    snprintf(name, sizeof name, "%s%s", MATRIX_PREFIX, run->matrix_keys[i]);
    if (h5u_attr_write_str(g, name, run->matrix_values[i]) < 0) return -1;
  }
  return 0;
}

static int name_in(const char *name, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(name, names[i])) return 1;
  return 0;
}

/* Copy every run of the old file except those in skip_ids (being replaced) into new_runs. */
static lbbt_status copy_old_runs(hid_t old, hid_t new_runs, const char *const *skip_ids,
                                 int n_skip, const char *path) {
  if (old < 0 || H5Lexists(old, "runs", H5P_DEFAULT) <= 0) return LBBT_OK;
  hid_t old_runs = H5Gopen2(old, "runs", H5P_DEFAULT);
  char **names = NULL;
  int n = 0;
  if (old_runs < 0 || h5u_link_names(old_runs, &names, &n) < 0) {
    if (old_runs >= 0) H5Gclose(old_runs);
    return h5u_fail(LBBT_E_IO, path, "cannot list /runs");
  }
  lbbt_status st = LBBT_OK;
  for (int i = 0; i < n && st == LBBT_OK; i++) {
    if (name_in(names[i], skip_ids, n_skip)) continue;
    /* Copied byte for byte with its checksum: a damaged run stays detectably damaged in the
     * new file (and is replaced when recomputed); verifying every run here would make each
     * commit read the whole file again. */
    if (H5Ocopy(old_runs, names[i], new_runs, names[i], H5P_DEFAULT, H5P_DEFAULT) < 0)
      st = h5u_fail(LBBT_E_IO, path, "cannot copy run /runs/%s into the new file", names[i]);
  }
  h5u_free_names(names, n);
  H5Gclose(old_runs);
  return st;
}

static lbbt_status check_commit_args(const char *path, const lbbt_experiment *exp,
                                     const lbbt_run_spec *run, const lbbt_record *rec) {
  if (!path || !exp || !run || !rec)
    return lbbt_fail(LBBT_E_INTERNAL, "lbbt_results_commit_run: NULL argument");
  if (!h5u_valid_name(run->id))
    return lbbt_fail(LBBT_E_INPUT, "%s: run id '%s' is not a valid group name", path, run->id);
  for (int i = 0; i < run->n_matrix; i++)
    if (!run->matrix_keys[i] || !run->matrix_values[i] ||
        strlen(run->matrix_keys[i]) + sizeof MATRIX_PREFIX >= LBBT_PATH_MAX)
      return lbbt_fail(LBBT_E_INPUT, "%s: run %s: matrix entry %d is missing or too long", path,
                       run->id, i);
  return LBBT_OK;
}

/* The run's checksum, computed from the run as read back from the new file (so that it
 * covers exactly what a reader will see), written as attribute RUN_DIGEST_ATTR of g. */
static lbbt_status write_digest(hid_t runs, hid_t g, const char *id, const char *path,
                                const char *where) {
  lbbt_result_run r;
  memset(&r, 0, sizeof r);
  char hex[65];
  lbbt_status st = read_run(runs, id, path, &r);
  if (st == LBBT_OK && r.damage)
    st = lbbt_fail(LBBT_E_IO, "%s: %s does not read back as written: %s", path, where, r.damage);
  if (st == LBBT_OK) st = run_digest(&r, hex);
  if (st == LBBT_OK && h5u_attr_write_str(g, RUN_DIGEST_ATTR, hex) < 0)
    st = h5u_fail(LBBT_E_IO, path, "cannot write the checksum of %s", where);
  free_run(&r);
  return st;
}

/* How many runs the old file (may be -1) holds, for sizing the new /runs group. */
static int old_run_count(hid_t old) {
  H5G_info_t info;
  int n = 0;
  if (old >= 0 && H5Lexists(old, "runs", H5P_DEFAULT) > 0 &&
      H5Gget_info_by_name(old, "runs", &info, H5P_DEFAULT) >= 0)
    n = info.nlinks > 65535 ? 65535 : (int)info.nlinks;
  H5Eclear2(H5E_DEFAULT);
  return n;
}

/* The new file, created empty at tmp. */
static lbbt_status create_tmp(const char *tmp, const char *path, hid_t *out) {
  hid_t fapl = h5u_fapl(), fcpl = h5u_fcpl();
  hid_t f = (fapl < 0 || fcpl < 0) ? -1 : H5Fcreate(tmp, H5F_ACC_TRUNC, fcpl, fapl);
  if (fapl >= 0) H5Pclose(fapl);
  if (fcpl >= 0) H5Pclose(fcpl);
  *out = f;
  if (f < 0) return h5u_fail(LBBT_E_IO, path, "cannot create temporary file %s", tmp);
  return LBBT_OK;
}

/* Build the new file at tmp from the old file (may be -1) plus the run. */
static lbbt_status build_new_file(const char *tmp, const char *path, hid_t old,
                                  const lbbt_experiment *exp, const lbbt_run_spec *run,
                                  const lbbt_record *rec, const lbbt_provenance *prov) {
  hid_t f;
  LBBT_TRY(create_tmp(tmp, path, &f));

  lbbt_status st = LBBT_OK;
  hid_t runs = -1, g = -1;
  char *created = old_attr(old, "created_utc");
  char where[128];
  snprintf(where, sizeof where, "run /runs/%s", run->id);
  if (write_root_attrs(f, exp, prov, created) < 0)
    st = h5u_fail(LBBT_E_IO, path, "cannot write provenance attributes");
  else if ((runs = h5u_group_create_sized(f, "runs", old_run_count(old) + 1)) < 0)
    st = h5u_fail(LBBT_E_IO, path, "cannot create group /runs");
  const char *replaced[1] = {run->id};
  if (st == LBBT_OK) st = copy_old_runs(old, runs, replaced, 1, path);
  if (st == LBBT_OK && (g = h5u_group_create(runs, run->id)) < 0)
    st = h5u_fail(LBBT_E_IO, path, "cannot create group /runs/%s", run->id);
  if (st == LBBT_OK && write_run_attrs(g, exp, run, rec, prov) < 0)
    st = h5u_fail(LBBT_E_IO, path, "cannot write the attributes of %s", where);
  if (st == LBBT_OK) st = h5u_items_write(g, rec, run_attr_reserved, path, where);
  if (st == LBBT_OK) st = write_digest(runs, g, run->id, path, where);
  free(created);
  if (g >= 0) H5Gclose(g);
  if (runs >= 0) H5Gclose(runs);
  if (H5Fclose(f) < 0 && st == LBBT_OK)
    st = h5u_fail(LBBT_E_IO, path, "cannot finish temporary file %s", tmp);
  return st;
}

/* What a commit adds to the runs of the old file: one new run, or runs copied from others. */
typedef struct commit_job {
  const lbbt_run_spec *run; /* a run and its record ... */
  const lbbt_record *rec;
  const char *const *sources; /* ... or n run groups copied from other results files */
  const char *const *run_ids;
  int n;
} commit_job;

/* Build the new file at tmp from the old file (may be -1) plus the runs of other files. */
static lbbt_status build_merged_file(const char *tmp, const char *path, hid_t old,
                                     const lbbt_experiment *exp, const commit_job *job,
                                     const lbbt_provenance *prov) {
  hid_t f;
  LBBT_TRY(create_tmp(tmp, path, &f));
  lbbt_status st = LBBT_OK;
  hid_t runs = -1;
  char *created = old_attr(old, "created_utc");
  if (write_root_attrs(f, exp, prov, created) < 0)
    st = h5u_fail(LBBT_E_IO, path, "cannot write provenance attributes");
  else if ((runs = h5u_group_create_sized(f, "runs", old_run_count(old) + job->n)) < 0)
    st = h5u_fail(LBBT_E_IO, path, "cannot create group /runs");
  if (st == LBBT_OK) st = copy_old_runs(old, runs, job->run_ids, job->n, path);
  for (int i = 0; st == LBBT_OK && i < job->n; i++) {
    hid_t src = -1;
    st = h5u_open_lbbt(job->sources[i], RESULTS_KIND, RESULTS_WHAT, &src);
    if (st == LBBT_OK) st = check_same_experiment(src, job->sources[i], exp);
    int complete = 0;
    if (st == LBBT_OK) st = run_complete(src, job->sources[i], job->run_ids[i], &complete);
    if (st == LBBT_OK && !complete)
      st = lbbt_fail(LBBT_E_INPUT, "%s: holds no complete run %s to merge", job->sources[i], job->run_ids[i]);
    char from[LBBT_PATH_MAX];
    snprintf(from, sizeof from, "runs/%s", job->run_ids[i]);
    if (st == LBBT_OK && H5Ocopy(src, from, runs, job->run_ids[i], H5P_DEFAULT, H5P_DEFAULT) < 0)
      st = h5u_fail(LBBT_E_IO, job->sources[i], "cannot copy run /runs/%s into %s", job->run_ids[i], path);
    if (src >= 0) H5Fclose(src);
  }
  free(created);
  if (runs >= 0) H5Gclose(runs);
  if (H5Fclose(f) < 0 && st == LBBT_OK)
    st = h5u_fail(LBBT_E_IO, path, "cannot finish temporary file %s", tmp);
  return st;
}

/* Under the directory lock: open the old file (if any), build the new one at a tmp name
 * and rename it over `path`. */
static lbbt_status commit(const char *path, const lbbt_experiment *exp, const commit_job *job,
                          int threads) {
  h5u_quiet();
  char tmp[LBBT_PATH_MAX + 64];
  LBBT_TRY(atomic_tmp_name(path, tmp, sizeof tmp));
  int lock = -1;
  LBBT_TRY(atomic_lock(path, &lock));
  /* Under the lock no other writer is active: every tmp file of this path is stale. */
  atomic_remove_stale(path, 1);

  lbbt_status st = LBBT_OK;
  hid_t old = -1;
  if (access(path, F_OK) == 0) {
    st = h5u_open_lbbt(path, RESULTS_KIND, RESULTS_WHAT, &old);
    if (st == LBBT_OK) st = check_same_experiment(old, path, exp);
  } else if (errno != ENOENT) {
    st = lbbt_fail(LBBT_E_IO, "%s: cannot check for an existing results file: %s", path,
                   strerror(errno));
  }
  if (st == LBBT_OK) {
    lbbt_provenance prov;
    lbbt_provenance_collect(threads, &prov);
    st = job->rec ? build_new_file(tmp, path, old, exp, job->run, job->rec, &prov)
                  : build_merged_file(tmp, path, old, exp, job, &prov);
  }
  if (old >= 0) H5Fclose(old);
  if (st == LBBT_OK) st = atomic_publish(tmp, path);
  else unlink(tmp);
  if (st == LBBT_OK) h5u_probe_trust(path); /* just written by us: no need to probe it */
  atomic_unlock(lock);
  return st;
}

lbbt_status lbbt_results_commit_run(const char *path, const lbbt_experiment *exp,
                                    const lbbt_run_spec *run, const lbbt_record *rec,
                                    int threads) {
  LBBT_TRY(check_commit_args(path, exp, run, rec));
  commit_job job = {.run = run, .rec = rec};
  return commit(path, exp, &job, threads);
}

lbbt_status lbbt_results_merge_runs(const char *path, const lbbt_experiment *exp,
                                    const char *const *sources, const char *const *run_ids,
                                    int n, int threads) {
  if (!path || !exp || n < 0 || (n && (!sources || !run_ids)))
    return lbbt_fail(LBBT_E_INTERNAL, "lbbt_results_merge_runs: NULL argument");
  for (int i = 0; i < n; i++)
    if (!sources[i] || !run_ids[i] || !h5u_valid_name(run_ids[i]))
      return lbbt_fail(LBBT_E_INPUT, "%s: run id '%s' to merge is not a valid group name", path,
                       run_ids[i] ? run_ids[i] : "(null)");
  if (n == 0) return LBBT_OK;
  commit_job job = {.sources = sources, .run_ids = run_ids, .n = n};
  return commit(path, exp, &job, threads);
}

/* ---- read ------------------------------------------------------------------------- */
static lbbt_status read_attrs(hid_t obj, const char *path, const char *where,
                              lbbt_text_attr **out, int *n_out) {
  char **names = NULL;
  int n = 0;
  *out = NULL;
  *n_out = 0;
  if (h5u_attr_names(obj, &names, &n) < 0)
    return h5u_fail(LBBT_E_INPUT, path, "cannot list the attributes of %s", where);
  lbbt_text_attr *attrs = calloc(n ? (size_t)n : 1, sizeof *attrs);
  if (!attrs) {
    h5u_free_names(names, n);
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory reading %s", path, where);
  }
  lbbt_status st = LBBT_OK;
  for (int i = 0; i < n; i++) {
    attrs[i].key = names[i];
    names[i] = NULL;
    if (st == LBBT_OK && h5u_attr_read_text(obj, attrs[i].key, &attrs[i].value) < 0)
      st = h5u_fail(LBBT_E_INPUT, path, "cannot read attribute '%s' of %s", attrs[i].key, where);
  }
  h5u_free_names(names, n);
  *out = attrs;
  *n_out = n;
  return st;
}

static void free_attrs(lbbt_text_attr *a, int n) {
  if (!a) return;
  for (int i = 0; i < n; i++) {
    free(a[i].key);
    free(a[i].value);
  }
  free(a);
}

static const char *find_attr(const lbbt_text_attr *a, int n, const char *key) {
  for (int i = 0; i < n; i++)
    if (!strcmp(a[i].key, key)) return a[i].value;
  return NULL;
}

/* Derive label/config/status and the matrix from the run's attributes. */
static lbbt_status run_fields(lbbt_result_run *r, const char *path) {
  const char *fields[3] = {find_attr(r->attrs, r->n_attrs, "label"),
                           find_attr(r->attrs, r->n_attrs, "config"),
                           find_attr(r->attrs, r->n_attrs, "status")};
  r->label = strdup(fields[0] ? fields[0] : "");
  r->config_yaml = strdup(fields[1] ? fields[1] : "");
  r->status = strdup(fields[2] ? fields[2] : "");
  r->matrix = calloc(r->n_attrs ? (size_t)r->n_attrs : 1, sizeof *r->matrix);
  if (!r->label || !r->config_yaml || !r->status || !r->matrix)
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory reading run %s", path, r->id);
  const size_t plen = sizeof MATRIX_PREFIX - 1;
  for (int i = 0; i < r->n_attrs; i++) {
    if (strncmp(r->attrs[i].key, MATRIX_PREFIX, plen) != 0) continue;
    lbbt_text_attr *m = &r->matrix[r->n_matrix++];
    m->key = strdup(r->attrs[i].key + plen);
    m->value = strdup(r->attrs[i].value);
    if (!m->key || !m->value)
      return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory reading run %s", path, r->id);
  }
  return LBBT_OK;
}

/* Mark r damaged: the message of the failed read (or `why`), status "damaged", no items.
 * Only running out of memory stays an error. */
static lbbt_status mark_damaged(lbbt_result_run *r, const char *path, const char *why) {
  char *msg = strdup(why ? why : lbbt_last_error());
  lbbt_record *empty = NULL;
  if (!msg || lbbt_record_create(&empty) != LBBT_OK) {
    free(msg);
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory reading run %s", path, r->id);
  }
  free(r->damage);
  r->damage = msg;
  free(r->status);
  r->status = strdup(STATUS_DAMAGED);
  if (!r->label) r->label = strdup("");
  if (!r->config_yaml) r->config_yaml = strdup("");
  lbbt_record_free(r->record);
  r->record = empty;
  if (!r->status || !r->label || !r->config_yaml)
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory reading run %s", path, r->id);
  return LBBT_OK;
}

/* Read run `name`; a run that cannot be read or whose checksum does not match is returned
 * marked damaged (LBBT_OK), so that the file's other runs stay usable. */
static lbbt_status read_run(hid_t runs, const char *name, const char *path, lbbt_result_run *r) {
  char where[320];
  snprintf(where, sizeof where, "run /runs/%s", name);
  if (!(r->id = strdup(name))) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  hid_t g = H5Gopen2(runs, name, H5P_DEFAULT);
  lbbt_status st = g < 0 ? h5u_fail(LBBT_E_INPUT, path, "cannot open %s", where)
                         : read_attrs(g, path, where, &r->attrs, &r->n_attrs);
  if (st == LBBT_OK) st = run_fields(r, path);
  if (st == LBBT_OK) st = lbbt_record_create(&r->record);
  if (st == LBBT_OK) st = h5u_items_read(g, r->record, run_attr_reserved, path, where);
  if (g >= 0) H5Gclose(g);
  H5Eclear2(H5E_DEFAULT);
  if (st == LBBT_E_NOMEM) return st;
  if (st != LBBT_OK) return mark_damaged(r, path, NULL);
  const char *want = find_attr(r->attrs, r->n_attrs, RUN_DIGEST_ATTR);
  if (!want) return LBBT_OK; /* written before checksums existed: nothing to verify */
  char have[65];
  LBBT_TRY(run_digest(r, have));
  if (strcmp(have, want)) {
    char why[256];
    snprintf(why, sizeof why, "its checksum does not match its contents (stored %.12s..., "
             "computed %.12s...): a bit of the file changed after it was written", want, have);
    return mark_damaged(r, path, why);
  }
  return LBBT_OK;
}

static lbbt_status read_runs(hid_t f, const char *path, lbbt_results *res) {
  if (H5Lexists(f, "runs", H5P_DEFAULT) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return LBBT_OK;
  }
  hid_t runs = H5Gopen2(f, "runs", H5P_DEFAULT);
  char **names = NULL;
  int n = 0;
  if (runs < 0 || h5u_link_names(runs, &names, &n) < 0) {
    if (runs >= 0) H5Gclose(runs);
    return h5u_fail(LBBT_E_INPUT, path, "cannot list /runs");
  }
  lbbt_status st = LBBT_OK;
  res->runs = calloc(n ? (size_t)n : 1, sizeof *res->runs);
  if (!res->runs) st = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory for %d runs", path, n);
  for (int i = 0; i < n && st == LBBT_OK; i++) {
    res->n_runs = i + 1; /* so that _free releases a partly read run */
    st = read_run(runs, names[i], path, &res->runs[i]);
  }
  h5u_free_names(names, n);
  H5Gclose(runs);
  return st;
}

lbbt_status lbbt_results_read(const char *path, lbbt_results **out) {
  if (!path || !out) return lbbt_fail(LBBT_E_INTERNAL, "lbbt_results_read: NULL argument");
  *out = NULL;
  hid_t f;
  LBBT_TRY(h5u_open_lbbt(path, RESULTS_KIND, RESULTS_WHAT, &f));
  lbbt_results *res = calloc(1, sizeof *res);
  lbbt_status st = LBBT_OK;
  if (!res || !(res->file = strdup(path)))
    st = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  if (st == LBBT_OK) st = read_attrs(f, path, "the root group", &res->attrs, &res->n_attrs);
  if (st == LBBT_OK) st = read_runs(f, path, res);
  H5Fclose(f);
  if (st != LBBT_OK) {
    lbbt_results_free(res);
    return st;
  }
  *out = res;
  return LBBT_OK;
}

static void free_run(lbbt_result_run *run) {
  free(run->id);
  free(run->label);
  free(run->config_yaml);
  free(run->status);
  free(run->damage);
  free_attrs(run->matrix, run->n_matrix);
  free_attrs(run->attrs, run->n_attrs);
  lbbt_record_free(run->record);
}

void lbbt_results_free(lbbt_results *r) {
  if (!r) return;
  for (int i = 0; i < r->n_runs; i++) free_run(&r->runs[i]);
  free(r->runs);
  free_attrs(r->attrs, r->n_attrs);
  free(r->file);
  free(r);
}

const char *lbbt_results_attr(const lbbt_results *r, const char *key) {
  return r && key ? find_attr(r->attrs, r->n_attrs, key) : NULL;
}

const lbbt_result_run *lbbt_results_find_run(const lbbt_results *r, const char *id) {
  if (!r || !id) return NULL;
  for (int i = 0; i < r->n_runs; i++)
    if (!strcmp(r->runs[i].id, id)) return r->runs[i].damage ? NULL : &r->runs[i];
  return NULL;
}

const char *lbbt_result_run_attr(const lbbt_result_run *run, const char *key) {
  return run && key ? find_attr(run->attrs, run->n_attrs, key) : NULL;
}

const char *lbbt_result_run_matrix(const lbbt_result_run *run, const char *key) {
  return run && key ? find_attr(run->matrix, run->n_matrix, key) : NULL;
}

/* ---- for lbbt fsck (results_fsck.c) -------------------------------------------------- */
lbbt_status results_read_one_run(hid_t runs, const char *name, const char *path,
                                 lbbt_result_run *r) {
  return read_run(runs, name, path, r);
}

void results_free_one_run(lbbt_result_run *r) { free_run(r); }
