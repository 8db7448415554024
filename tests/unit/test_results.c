/* Run records, record files, the results file (commit, has_run, read, provenance,
 * h5dump-readability) and its crash safety under SIGKILL.
 *
 * With LBBT_WRITE_RESULTS_FIXTURE=PATH set, the binary only writes a small results file
 * there and exits (tests/cli/inspect.sh uses it). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "lbbt/isa.h"
#include "lbbt/results.h"
#include "lbbt/spec.h"
#include "test.h"

/* Values go through HDF5 unchanged (f64 and f32 stored as such): compare exactly. */
static const double EXACT = 0.0;
/* Crash test: at least CRASH_KILLS kills, and more (up to CRASH_MAX_KILLS) until
 * CRASH_MIN_MID_COMMIT of them landed while a temporary file existed (inside a commit's
 * file writing, not in its git/provenance phase); delays between a child's start and its
 * SIGKILL; runs and values per run (2 MiB each, so a commit takes tens of ms). */
enum { CRASH_KILLS = 6, CRASH_MAX_KILLS = 30, CRASH_MIN_MID_COMMIT = 2, CRASH_RUNS = 8,
       CRASH_ARRAY_LEN = 512 * 1024 };
static const int CRASH_DELAY_MIN_MS = 20, CRASH_DELAY_SPAN_MS = 180;
static const uint64_t CRASH_SEED = 0x5eed2024u;

static const char *H5DUMP = "/usr/bin/h5dump";

/* ---- helpers ---------------------------------------------------------------------- */
static char *path_in_tmp(const char *name) {
  static char buf[8][512];
  static int next;
  char *p = buf[next++ % 8];
  snprintf(p, 512, "%s/%s", test_tmpdir(), name);
  return p;
}

static lbbt_experiment *make_exp(const char *name, const char *tier) {
  lbbt_experiment *e = calloc(1, sizeof *e);
  snprintf(e->file, sizeof e->file, "experiments/%s.yaml", name);
  snprintf(e->name, sizeof e->name, "%s", name);
  snprintf(e->tier, sizeof e->tier, "%s", tier);
  e->yaml_text = strdup("experiment: demo\nbase:\n  seed: 0\nmatrix:\n  seed: [0, 1, 2]\n");
  snprintf(e->sha256, sizeof e->sha256, "%064d", 7);
  return e;
}

static void free_exp(lbbt_experiment *e) {
  if (!e) return;
  free(e->yaml_text);
  free(e);
}

/* A run spec with one matrix entry "seed" = seed. */
static lbbt_run_spec *make_run(const char *id, int seed) {
  lbbt_run_spec *r = calloc(1, sizeof *r);
  snprintf(r->id, sizeof r->id, "%s", id);
  snprintf(r->label, sizeof r->label, "init=language seed=%d", seed);
  r->seed = (uint64_t)seed;
  char cfg[128];
  snprintf(cfg, sizeof cfg, "seed: %d\nbackbone: {plugin: llama}\n", seed);
  r->config_yaml = strdup(cfg);
  r->n_matrix = 2;
  r->matrix_keys = calloc(2, sizeof(char *));
  r->matrix_values = calloc(2, sizeof(char *));
  r->matrix_keys[0] = strdup("backbone.init");
  r->matrix_values[0] = strdup("language");
  r->matrix_keys[1] = strdup("seed");
  char v[16];
  snprintf(v, sizeof v, "%d", seed);
  r->matrix_values[1] = strdup(v);
  return r;
}

static void free_run(lbbt_run_spec *r) {
  if (!r) return;
  for (int i = 0; i < r->n_matrix; i++) {
    free(r->matrix_keys[i]);
    free(r->matrix_values[i]);
  }
  free(r->matrix_keys);
  free(r->matrix_values);
  free(r->config_yaml);
  free(r);
}

/* The record of run number k: values derived from k so that read-back can be checked. */
static lbbt_status fill_record(lbbt_record *rec, int k, int64_t array_len) {
  for (int e = 0; e < 4; e++) LBBT_TRY(lbbt_record_append(rec, "bridge/train_acc1", 0.5 + 0.1 * e + k));
  LBBT_TRY(lbbt_record_scalar(rec, "probe/test_acc1", 0.25 * k + 0.125));
  LBBT_TRY(lbbt_record_string(rec, "bridge/checkpoint", "stories260K.bin"));
  LBBT_TRY(lbbt_record_string(rec, "note", "top-level string"));
  int64_t shape[2] = {3, array_len / 3};
  float *a = malloc((size_t)(shape[0] * shape[1]) * sizeof *a);
  if (!a) return LBBT_E_NOMEM;
  for (int64_t i = 0; i < shape[0] * shape[1]; i++) a[i] = (float)(k * 1000 + i % 997) * 0.5f;
  lbbt_status st = lbbt_record_array_f32(rec, "outliers/ratios", 2, shape, a);
  free(a);
  int32_t counts[5] = {k, 1, 2, 3, -4};
  int64_t cshape[1] = {5};
  if (st == LBBT_OK) st = lbbt_record_array_i32(rec, "outliers/counts", 1, cshape, counts);
  return st;
}

/* Does rec hold exactly what fill_record(k) wrote?  Returns a message or NULL. */
static const char *check_record(const lbbt_record *rec, int k, int64_t array_len) {
  static char msg[256];
  const double *s;
  int n;
  if (lbbt_record_get_series(rec, "bridge/train_acc1", &s, &n) != LBBT_OK || n != 4)
    return "series bridge/train_acc1 missing or wrong length";
  for (int e = 0; e < 4; e++)
    if (fabs(s[e] - (0.5 + 0.1 * e + k)) > EXACT) return "series value differs";
  double v;
  if (lbbt_record_get_scalar(rec, "probe/test_acc1", &v) != LBBT_OK || v != 0.25 * k + 0.125)
    return "scalar probe/test_acc1 differs";
  const char *str;
  if (lbbt_record_get_string(rec, "bridge/checkpoint", &str) != LBBT_OK ||
      strcmp(str, "stories260K.bin"))
    return "string bridge/checkpoint differs";
  if (lbbt_record_get_string(rec, "note", &str) != LBBT_OK || strcmp(str, "top-level string"))
    return "string note differs";
  int ndim;
  const int64_t *shape;
  const float *a;
  if (lbbt_record_get_array_f32(rec, "outliers/ratios", &ndim, &shape, &a) != LBBT_OK ||
      ndim != 2 || shape[0] != 3 || shape[1] != array_len / 3)
    return "array outliers/ratios missing or wrong shape";
  for (int64_t i = 0; i < shape[0] * shape[1]; i++)
    if (a[i] != (float)(k * 1000 + i % 997) * 0.5f) {
      snprintf(msg, sizeof msg, "array outliers/ratios[%lld] = %g differs", (long long)i, a[i]);
      return msg;
    }
  const int32_t *c;
  if (lbbt_record_get_array_i32(rec, "outliers/counts", &ndim, &shape, &c) != LBBT_OK ||
      ndim != 1 || shape[0] != 5 || c[0] != k || c[4] != -4)
    return "array outliers/counts differs";
  if (lbbt_record_count(rec) != 6) {
    snprintf(msg, sizeof msg, "record has %d items, want 6", lbbt_record_count(rec));
    return msg;
  }
  return NULL;
}

static int commit_k(const char *path, const lbbt_experiment *exp, const char *id, int k,
                    int64_t array_len) {
  lbbt_run_spec *run = make_run(id, k);
  lbbt_record *rec = NULL;
  lbbt_status st = lbbt_record_create(&rec);
  if (st == LBBT_OK) st = fill_record(rec, k, array_len);
  if (st == LBBT_OK) st = lbbt_results_commit_run(path, exp, run, rec, 2);
  lbbt_record_free(rec);
  free_run(run);
  return st;
}

static int h5dump_reads(const char *path) {
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s -H '%s' >/dev/null 2>&1", H5DUMP, path);
  return system(cmd) == 0;
}

/* Files in dir whose name ends in ".tmp". */
static int count_tmp_files(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (len > 4 && !strcmp(e->d_name + len - 4, ".tmp")) n++;
  }
  closedir(d);
  return n;
}

/* ---- records ---------------------------------------------------------------------- */
static void test_record_api(void) {
  lbbt_record *r;
  REQUIRE(lbbt_record_create(&r) == LBBT_OK, "create");
  CHECK(lbbt_record_scalar(r, "bridge/test_acc1", 0.5) == LBBT_OK, "scalar: %s", lbbt_last_error());
  CHECK(lbbt_record_scalar(r, "bridge/test_acc1", 0.75) == LBBT_OK, "scalar replace");
  for (int i = 0; i < 40; i++) CHECK(lbbt_record_append(r, "bridge/loss", 2.0 - 0.05 * i) == LBBT_OK, "append");
  CHECK(lbbt_record_string(r, "bridge/init", "language") == LBBT_OK, "string");
  CHECK(lbbt_record_string(r, "bridge/init", "scratch") == LBBT_OK, "string replace");
  float f[6] = {1, 2, 3, 4, 5, 6};
  int64_t shape[3] = {1, 2, 3};
  CHECK(lbbt_record_array_f32(r, "a/b/c", 3, shape, f) == LBBT_OK, "f32 3-D");
  f[0] = 99; /* the record holds a copy */
  int32_t one = 42;
  CHECK(lbbt_record_array_i32(r, "count", 0, NULL, &one) == LBBT_OK, "i32 0-D");

  double v;
  CHECK(lbbt_record_get_scalar(r, "bridge/test_acc1", &v) == LBBT_OK && v == 0.75, "get scalar");
  CHECK(lbbt_record_get_scalar(r, "bridge/nothing", &v) == LBBT_E_INPUT, "absent is E_INPUT");
  CHECK(lbbt_record_get_scalar(r, "bridge/loss", &v) == LBBT_E_INPUT, "wrong kind is E_INPUT");
  const double *s;
  int n;
  CHECK(lbbt_record_get_series(r, "bridge/loss", &s, &n) == LBBT_OK && n == 40 &&
            s[39] == 2.0 - 0.05 * 39, "get series");
  const char *str;
  CHECK(lbbt_record_get_string(r, "bridge/init", &str) == LBBT_OK && !strcmp(str, "scratch"),
        "get string");
  int ndim;
  const int64_t *sh;
  const float *fa;
  CHECK(lbbt_record_get_array_f32(r, "a/b/c", &ndim, &sh, &fa) == LBBT_OK && ndim == 3 &&
            sh[2] == 3 && fa[0] == 1 && fa[5] == 6, "get f32 (copied)");
  const int32_t *ia;
  CHECK(lbbt_record_get_array_i32(r, "count", &ndim, &sh, &ia) == LBBT_OK && ndim == 0 &&
            ia[0] == 42, "get i32 0-D");

  /* Kind changes, leaf/group conflicts and malformed paths are input errors. */
  CHECK(lbbt_record_append(r, "bridge/test_acc1", 1) == LBBT_E_INPUT, "append onto scalar");
  CHECK(lbbt_record_scalar(r, "bridge", 1) == LBBT_E_INPUT, "leaf over group");
  CHECK(lbbt_record_scalar(r, "count/x", 1) == LBBT_E_INPUT, "group under leaf");
  const char *bad[] = {"", "/a", "a/", "a//b", "a b", "a=b", "a/./b", "..", "tab\there"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK(lbbt_record_scalar(r, bad[i], 1) == LBBT_E_INPUT, "bad path '%s' accepted", bad[i]);
  char longp[LBBT_RECORD_PATH_MAX + 8];
  memset(longp, 'x', sizeof longp - 1);
  longp[sizeof longp - 1] = 0;
  CHECK(lbbt_record_scalar(r, longp, 1) == LBBT_E_INPUT, "overlong path accepted");
  int64_t neg = -1;
  CHECK(lbbt_record_array_f32(r, "neg", 1, &neg, f) == LBBT_E_INPUT, "negative dim accepted");

  /* Iteration is in insertion order; failed setters added nothing. */
  const char *order[] = {"bridge/test_acc1", "bridge/loss", "bridge/init", "a/b/c", "count"};
  CHECK(lbbt_record_count(r) == 5, "count %d", lbbt_record_count(r));
  for (int i = 0; i < 5 && i < lbbt_record_count(r); i++)
    CHECK(!strcmp(lbbt_record_at(r, i)->path, order[i]), "item %d is %s", i, lbbt_record_at(r, i)->path);
  CHECK(lbbt_record_at(r, 5) == NULL && lbbt_record_find(r, "nope") == NULL, "out of range");
  CHECK(lbbt_record_item_final(lbbt_record_find(r, "bridge/loss"), &v) && v == 2.0 - 0.05 * 39,
        "final of series");
  CHECK(lbbt_record_item_final(lbbt_record_find(r, "bridge/test_acc1"), &v) && v == 0.75,
        "final of scalar");
  CHECK(!lbbt_record_item_final(lbbt_record_find(r, "a/b/c"), &v), "array has no final value");
  lbbt_record_free(r);
}

static void test_record_save_load(void) {
  const char *path = path_in_tmp("rec.h5");
  lbbt_record *r, *back = NULL;
  REQUIRE(lbbt_record_create(&r) == LBBT_OK, "create");
  REQUIRE(fill_record(r, 3, 300) == LBBT_OK, "fill: %s", lbbt_last_error());
  REQUIRE(lbbt_record_save(r, path) == LBBT_OK, "save: %s", lbbt_last_error());
  lbbt_record_free(r);
  REQUIRE(lbbt_record_load(path, &back) == LBBT_OK, "load: %s", lbbt_last_error());
  const char *why = check_record(back, 3, 300);
  CHECK(!why, "round trip: %s", why);
  CHECK(count_tmp_files(test_tmpdir()) == 0, "a tmp file was left behind");

  /* An interrupted run appends to its restored record and saves over the old file. */
  CHECK(lbbt_record_append(back, "bridge/train_acc1", 9.5) == LBBT_OK, "append after load");
  CHECK(lbbt_record_save(back, path) == LBBT_OK, "resave: %s", lbbt_last_error());
  lbbt_record_free(back);
  REQUIRE(lbbt_record_load(path, &back) == LBBT_OK, "reload: %s", lbbt_last_error());
  const double *s;
  int n;
  CHECK(lbbt_record_get_series(back, "bridge/train_acc1", &s, &n) == LBBT_OK && n == 5 &&
            s[4] == 9.5, "appended value survives a save");
  lbbt_record_free(back);

  CHECK(lbbt_record_load(path_in_tmp("missing.h5"), &back) == LBBT_E_INPUT, "missing file");
  CHECK(strstr(lbbt_last_error(), "missing.h5") != NULL, "message names the file: %s",
        lbbt_last_error());
}

/* Empty and 0-D arrays keep their shapes through a file. */
static void test_record_edge_shapes(void) {
  const char *path = path_in_tmp("edge.h5");
  lbbt_record *r, *back = NULL;
  REQUIRE(lbbt_record_create(&r) == LBBT_OK, "create");
  int64_t empty_shape[2] = {0, 4};
  float x = 2.5f;
  int32_t big[7] = {INT32_MIN, -1, 0, 1, 2, 3, INT32_MAX};
  int64_t big_shape[3] = {7, 1, 1};
  CHECK(lbbt_record_array_f32(r, "empty", 2, empty_shape, NULL) == LBBT_OK, "empty: %s",
        lbbt_last_error());
  CHECK(lbbt_record_array_f32(r, "zero_d", 0, NULL, &x) == LBBT_OK, "0-D");
  CHECK(lbbt_record_array_i32(r, "deep/a/b/c/d/ints", 3, big_shape, big) == LBBT_OK, "3-D i32");
  CHECK(lbbt_record_scalar(r, "nan", NAN) == LBBT_OK, "NaN scalar");
  REQUIRE(lbbt_record_save(r, path) == LBBT_OK, "save: %s", lbbt_last_error());
  lbbt_record_free(r);
  REQUIRE(lbbt_record_load(path, &back) == LBBT_OK, "load: %s", lbbt_last_error());
  int ndim;
  const int64_t *shape;
  const float *f;
  const int32_t *i;
  CHECK(lbbt_record_get_array_f32(back, "empty", &ndim, &shape, &f) == LBBT_OK && ndim == 2 &&
            shape[0] == 0 && shape[1] == 4, "empty array shape");
  CHECK(lbbt_record_get_array_f32(back, "zero_d", &ndim, &shape, &f) == LBBT_OK && ndim == 0 &&
            f[0] == 2.5f, "0-D array");
  CHECK(lbbt_record_get_array_i32(back, "deep/a/b/c/d/ints", &ndim, &shape, &i) == LBBT_OK &&
            ndim == 3 && shape[0] == 7 && i[0] == INT32_MIN && i[6] == INT32_MAX, "i32 extremes");
  double v = 0;
  CHECK(lbbt_record_get_scalar(back, "nan", &v) == LBBT_OK && isnan(v), "NaN survives");
  CHECK(lbbt_record_count(back) == 4, "%d items", lbbt_record_count(back));
  lbbt_record_free(back);
}

/* ---- the results file ------------------------------------------------------------- */
static const char *const RUN_IDS[3] = {"0123456789abcdef", "fedcba9876543210", "00000000000000aa"};

static void test_commit_and_read(void) {
  const char *path = path_in_tmp("three.h5");
  lbbt_experiment *exp = make_exp("demo", "smoke");
  int present = 1;
  CHECK(lbbt_results_has_run(path, RUN_IDS[0], &present) == LBBT_OK && !present,
        "has_run on a missing file: %s", lbbt_last_error());
  for (int k = 0; k < 3; k++)
    REQUIRE(commit_k(path, exp, RUN_IDS[k], k, 30) == LBBT_OK, "commit %d: %s", k, lbbt_last_error());
  for (int k = 0; k < 3; k++)
    CHECK(lbbt_results_has_run(path, RUN_IDS[k], &present) == LBBT_OK && present, "has_run %d", k);
  CHECK(lbbt_results_has_run(path, "1111111111111111", &present) == LBBT_OK && !present,
        "has_run of an absent id");
  CHECK(lbbt_results_has_run(path, "a/b", &present) == LBBT_E_INPUT, "has_run of a bad id");

  lbbt_results *res = NULL;
  REQUIRE(lbbt_results_read(path, &res) == LBBT_OK, "read: %s", lbbt_last_error());
  REQUIRE(res->n_runs == 3, "%d runs read", res->n_runs);
  for (int k = 0; k < 3; k++) {
    const lbbt_result_run *run = &res->runs[k];
    char label[64], cfg[128], seed[8];
    snprintf(label, sizeof label, "init=language seed=%d", k);
    snprintf(cfg, sizeof cfg, "seed: %d\nbackbone: {plugin: llama}\n", k);
    snprintf(seed, sizeof seed, "%d", k);
    CHECK(!strcmp(run->id, RUN_IDS[k]), "run %d is %s (commit order kept)", k, run->id);
    CHECK(!strcmp(run->label, label) && !strcmp(run->config_yaml, cfg), "label/config %d", k);
    CHECK(!strcmp(run->status, "complete"), "status %s", run->status);
    CHECK(run->n_matrix == 2 && !strcmp(run->matrix[0].key, "backbone.init") &&
              !strcmp(lbbt_result_run_matrix(run, "seed"), seed), "matrix of run %d", k);
    CHECK(lbbt_result_run_attr(run, "committed_utc") && lbbt_result_run_attr(run, "git_commit") &&
              !strcmp(lbbt_result_run_attr(run, "threads"), "2"), "run provenance %d", k);
    CHECK(lbbt_result_run_attr(run, "kernel_isa") &&
              !strcmp(lbbt_result_run_attr(run, "kernel_isa"), lbbt_isa_name(lbbt_isa_active())),
          "run %d kernel_isa is the level that ran", k);
    const char *why = check_record(run->record, k, 30);
    CHECK(!why, "run %d record: %s", k, why);
  }
  CHECK(lbbt_results_find_run(res, RUN_IDS[1]) == &res->runs[1], "find_run");

  /* Provenance on the root. */
  const char *keys[] = {"lbbt_format", "lbbt_version", "git_commit", "git_dirty", "created_utc",
                        "updated_utc", "host", "cpu_model", "cpu_isa", "kernel_isa",
                        "onednn_isa", "threads",
                        "onednn_version", "hdf5_version", "gsl_version", "libyaml_version",
                        "experiment_name", "experiment_file", "experiment_yaml",
                        "experiment_sha256", "tier"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *v = lbbt_results_attr(res, keys[i]);
    CHECK(v && v[0], "root attribute %s missing or empty", keys[i]);
  }
  CHECK(!strcmp(lbbt_results_attr(res, "experiment_yaml"), exp->yaml_text), "yaml verbatim");
  CHECK(!strcmp(lbbt_results_attr(res, "experiment_sha256"), exp->sha256), "sha256");
  CHECK(!strcmp(lbbt_results_attr(res, "tier"), "smoke"), "tier");
  CHECK(!strcmp(lbbt_results_attr(res, "threads"), "2"), "threads");
  const char *utc = lbbt_results_attr(res, "updated_utc");
  CHECK(utc && strlen(utc) == 20 && utc[4] == '-' && utc[10] == 'T' && utc[19] == 'Z',
        "ISO 8601 UTC time: %s", utc ? utc : "(null)");
  const char *commit = lbbt_results_attr(res, "git_commit");
  CHECK(commit && (!strcmp(commit, "unknown") || strlen(commit) == 40), "git commit %s", commit);
  lbbt_results_free(res);

  if (access(H5DUMP, X_OK) == 0) CHECK(h5dump_reads(path), "h5dump -H cannot read %s", path);
  CHECK(count_tmp_files(test_tmpdir()) == 0, "a tmp file was left behind");
  free_exp(exp);
}

static void test_h5dump_reads_file(void) {
  if (access(H5DUMP, X_OK) != 0) SKIP("%s not installed", H5DUMP);
  const char *path = path_in_tmp("dump.h5");
  lbbt_experiment *exp = make_exp("demo", "smoke");
  REQUIRE(commit_k(path, exp, RUN_IDS[0], 0, 30) == LBBT_OK, "commit: %s", lbbt_last_error());
  free_exp(exp);
  CHECK(h5dump_reads(path), "h5dump -H failed");
  /* The values, not just the header: h5dump prints the scalar dataset's data. */
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s -d /runs/%s/probe/test_acc1 '%s' 2>/dev/null | grep -q 0.125",
           H5DUMP, RUN_IDS[0], path);
  CHECK(system(cmd) == 0, "h5dump does not show probe/test_acc1 = 0.125");
}

static void test_replace_run(void) {
  const char *path = path_in_tmp("replace.h5");
  lbbt_experiment *exp = make_exp("demo", "smoke");
  REQUIRE(commit_k(path, exp, RUN_IDS[0], 0, 30) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit_k(path, exp, RUN_IDS[1], 1, 30) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit_k(path, exp, RUN_IDS[0], 5, 30) == LBBT_OK, "recommit: %s", lbbt_last_error());
  lbbt_results *res = NULL;
  REQUIRE(lbbt_results_read(path, &res) == LBBT_OK, "read: %s", lbbt_last_error());
  CHECK(res->n_runs == 2, "%d runs after replacing one", res->n_runs);
  const lbbt_result_run *run = lbbt_results_find_run(res, RUN_IDS[0]);
  const char *why = run ? check_record(run->record, 5, 30) : "run missing";
  CHECK(!why, "replaced run: %s", why);
  lbbt_results_free(res);
  free_exp(exp);
}

/* lbbt_results_merge_runs (lbbt sweep's merge): run groups of per-run files copied verbatim
 * (items and the run's own attributes), an existing run replaced, others kept; a source of
 * another tier or without the run leaves the target as it was. */
static void test_merge_runs(void) {
  const char *target = path_in_tmp("merge.h5"), *a = path_in_tmp("merge-a.h5"),
             *b = path_in_tmp("merge-b.h5"), *other = path_in_tmp("merge-cpu.h5");
  lbbt_experiment *exp = make_exp("demo", "smoke"), *cpu = make_exp("demo", "cpu");
  REQUIRE(commit_k(target, exp, RUN_IDS[0], 9, 30) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit_k(target, exp, RUN_IDS[2], 2, 30) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit_k(a, exp, RUN_IDS[0], 0, 30) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit_k(b, exp, RUN_IDS[1], 1, 30) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit_k(other, cpu, RUN_IDS[1], 1, 30) == LBBT_OK, "commit: %s", lbbt_last_error());
  lbbt_results *ra = NULL;
  REQUIRE(lbbt_results_read(a, &ra) == LBBT_OK, "read: %s", lbbt_last_error());
  const char *sources[2] = {a, b}, *ids[2] = {RUN_IDS[0], RUN_IDS[1]};
  REQUIRE(lbbt_results_merge_runs(target, exp, sources, ids, 2, 7) == LBBT_OK, "merge: %s", lbbt_last_error());
  lbbt_results *res = NULL;
  REQUIRE(lbbt_results_read(target, &res) == LBBT_OK, "read: %s", lbbt_last_error());
  CHECK(res->n_runs == 3, "%d runs after merging 2 into 2 with one shared", res->n_runs);
  const int want_k[3] = {0, 1, 2};
  for (int i = 0; i < 3; i++) {
    const lbbt_result_run *run = lbbt_results_find_run(res, RUN_IDS[i]);
    const char *why = run ? check_record(run->record, want_k[i], 30) : "run missing";
    CHECK(!why, "run %s: %s", RUN_IDS[i], why);
  }
  /* the run keeps the provenance it was committed with (threads 2), not the merge's (7) */
  const lbbt_result_run *merged = lbbt_results_find_run(res, RUN_IDS[0]);
  const char *utc = merged ? lbbt_result_run_attr(merged, "committed_utc") : NULL;
  const char *threads = merged ? lbbt_result_run_attr(merged, "threads") : NULL;
  CHECK(utc && !strcmp(utc, lbbt_result_run_attr(&ra->runs[0], "committed_utc")), "committed_utc changed");
  CHECK(threads && !strcmp(threads, "2"), "threads %s, want the run's 2", threads ? threads : "(none)");
  CHECK(!strcmp(lbbt_results_attr(res, "threads"), "7"), "root threads: the merge's");
  lbbt_results_free(res);
  lbbt_results_free(ra);
  /* refusals: another tier's file, a run the source lacks; the target is untouched */
  struct stat before, after;
  REQUIRE(stat(target, &before) == 0, "stat");
  const char *bad_sources[2][1] = {{other}, {a}}, *bad_ids[2][1] = {{RUN_IDS[1]}, {RUN_IDS[1]}};
  const char *want_msg[2] = {"tier", "no complete run"};
  for (int i = 0; i < 2; i++) {
    lbbt_status st = lbbt_results_merge_runs(target, exp, bad_sources[i], bad_ids[i], 1, 1);
    CHECK(st == LBBT_E_INPUT && strstr(lbbt_last_error(), want_msg[i]), "refusal %d: status %d, %s", i, st,
          lbbt_last_error());
  }
  REQUIRE(stat(target, &after) == 0, "stat");
  CHECK(before.st_ino == after.st_ino && before.st_mtime == after.st_mtime, "a refused merge replaced the file");
  CHECK(count_tmp_files(test_tmpdir()) == 0, "a refused merge left a temporary file");
  free_exp(exp);
  free_exp(cpu);
}

/* A file is never overwritten when it is foreign or belongs to another experiment/tier,
 * and a bad record leaves the file as it was. */
static void test_refusals(void) {
  const char *path = path_in_tmp("refuse.h5");
  lbbt_experiment *exp = make_exp("demo", "smoke"), *other_tier = make_exp("demo", "cpu");
  lbbt_experiment *other_name = make_exp("table-9", "smoke");
  REQUIRE(commit_k(path, exp, RUN_IDS[0], 0, 30) == LBBT_OK, "commit: %s", lbbt_last_error());
  CHECK(commit_k(path, other_tier, RUN_IDS[1], 1, 30) == LBBT_E_INPUT, "tier mix accepted");
  CHECK(strstr(lbbt_last_error(), "tier") != NULL, "message: %s", lbbt_last_error());
  CHECK(commit_k(path, other_name, RUN_IDS[1], 1, 30) == LBBT_E_INPUT, "experiment mix accepted");

  lbbt_run_spec *run = make_run(RUN_IDS[2], 2);
  lbbt_record *rec;
  REQUIRE(lbbt_record_create(&rec) == LBBT_OK, "create");
  lbbt_record_string(rec, "status", "hijacked");
  CHECK(lbbt_results_commit_run(path, exp, run, rec, 1) == LBBT_E_INPUT,
        "a record string named like a run attribute was accepted");
  snprintf(run->id, sizeof run->id, "bad/id");
  lbbt_record_free(rec);
  lbbt_record_create(&rec);
  CHECK(lbbt_results_commit_run(path, exp, run, rec, 1) == LBBT_E_INPUT, "bad run id accepted");
  lbbt_record_free(rec);
  free_run(run);

  lbbt_results *res = NULL;
  REQUIRE(lbbt_results_read(path, &res) == LBBT_OK, "read: %s", lbbt_last_error());
  CHECK(res->n_runs == 1, "refused commits changed the file (%d runs)", res->n_runs);
  lbbt_results_free(res);
  CHECK(count_tmp_files(test_tmpdir()) == 0, "a refused commit left a tmp file");

  /* A foreign HDF5 file: readable HDF5 without lbbt_format. */
  const char *foreign = path_in_tmp("foreign.h5");
  hid_t f = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(f >= 0, "cannot create %s", foreign);
  hid_t g = H5Gcreate2(f, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Gclose(g);
  H5Fclose(f);
  struct stat before, after;
  stat(foreign, &before);
  int present;
  CHECK(lbbt_results_read(foreign, &res) == LBBT_E_INPUT, "foreign file read");
  CHECK(strstr(lbbt_last_error(), "lbbt_format"), "message: %s", lbbt_last_error());
  CHECK(lbbt_results_has_run(foreign, RUN_IDS[0], &present) == LBBT_E_INPUT, "foreign has_run");
  CHECK(commit_k(foreign, exp, RUN_IDS[0], 0, 30) == LBBT_E_INPUT, "foreign file overwritten");
  stat(foreign, &after);
  CHECK(before.st_ino == after.st_ino && before.st_size == after.st_size, "foreign file changed");

  /* Not HDF5 at all; and a results file is not a record file. */
  const char *text = path_in_tmp("text.h5");
  FILE *t = fopen(text, "w");
  REQUIRE(t, "cannot write %s", text);
  fputs("not hdf5\n", t);
  fclose(t);
  CHECK(lbbt_results_read(text, &res) == LBBT_E_INPUT, "text file read");
  CHECK(strstr(lbbt_last_error(), "not an HDF5 file"), "message: %s", lbbt_last_error());
  lbbt_record *back = NULL;
  CHECK(lbbt_record_load(path, &back) == LBBT_E_INPUT, "results file loaded as a record");
  CHECK(lbbt_results_read(path_in_tmp("nope.h5"), &res) == LBBT_E_INPUT, "missing file read");
  free_exp(exp);
  free_exp(other_tier);
  free_exp(other_name);
}

/* ---- crash safety ------------------------------------------------------------------- */
static void crash_id(int k, char id[17]) { snprintf(id, 17, "c%015d", k); }

/* What the child tells the parent, one message per event. */
typedef enum { CRASH_COMMITTING, CRASH_COMMITTED, CRASH_READ_FAILED, CRASH_COMMIT_FAILED } crash_event;
typedef struct crash_report {
  crash_event event;
  int run;
} crash_report;

static void crash_tell(int report, crash_event event, int run) {
  crash_report r = {event, run};
  (void)!write(report, &r, sizeof r);
}

/* The child: commit runs 0..CRASH_RUNS-1 in order, skipping those already present (resume),
 * then keep recommitting (replacing) them with identical content so that it is always in
 * the middle of a commit when the kill comes.  Tells the parent through `report` when each
 * commit starts and after it returns.  Runs until killed. */
static void crash_child(const char *path, int report) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  lbbt_experiment *exp = make_exp("crash", "smoke");
  for (int i = 0;; i++) {
    int k = i % CRASH_RUNS;
    char id[17];
    crash_id(k, id);
    int present = 0;
    if (i < CRASH_RUNS && lbbt_results_has_run(path, id, &present) != LBBT_OK) {
      crash_tell(report, CRASH_READ_FAILED, k);
      _exit(3);
    }
    if (present) continue;
    crash_tell(report, CRASH_COMMITTING, k);
    if (commit_k(path, exp, id, k, CRASH_ARRAY_LEN) != LBBT_OK) {
      crash_tell(report, CRASH_COMMIT_FAILED, k);
      _exit(3);
    }
    crash_tell(report, CRASH_COMMITTED, k);
  }
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

/* After a kill: the file is absent only when nothing was ever committed; otherwise it is
 * readable by us and by h5dump, every run in it is complete and intact, and it holds every
 * run the child saw committed. */
static const char *crash_check(const char *path, const int *committed, int n_committed,
                               int *n_runs) {
  static char msg[512];
  *n_runs = 0;
  if (access(path, F_OK) != 0)
    return n_committed ? "the results file vanished after runs were committed" : NULL;
  lbbt_results *res = NULL;
  if (lbbt_results_read(path, &res) != LBBT_OK) {
    snprintf(msg, sizeof msg, "unreadable after a kill: %s", lbbt_last_error());
    return msg;
  }
  const char *why = NULL;
  for (int i = 0; i < res->n_runs && !why; i++) {
    const lbbt_result_run *run = &res->runs[i];
    int k = atoi(run->id + 1);
    char id[17];
    crash_id(k, id);
    if (strcmp(run->status, "complete") || strcmp(id, run->id)) {
      snprintf(msg, sizeof msg, "run %s has status '%s'", run->id, run->status);
      why = msg;
    } else if ((why = check_record(run->record, k, CRASH_ARRAY_LEN))) {
      snprintf(msg, sizeof msg, "run %s: %s", run->id, why);
      why = msg;
    }
  }
  for (int i = 0; i < n_committed && !why; i++) {
    char id[17];
    crash_id(committed[i], id);
    if (!lbbt_results_find_run(res, id)) {
      snprintf(msg, sizeof msg, "committed run %s was lost", id);
      why = msg;
    }
  }
  *n_runs = res->n_runs;
  lbbt_results_free(res);
  if (!why && access(H5DUMP, X_OK) == 0 && !h5dump_reads(path)) why = "h5dump -H cannot read it";
  return why;
}

static void test_crash_safety(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/crash", test_tmpdir());
  REQUIRE(mkdir(dir, 0755) == 0, "mkdir %s: %s", dir, strerror(errno));
  char path[600];
  snprintf(path, sizeof path, "%s/crash.h5", dir);
  int committed[CRASH_RUNS], n_committed = 0, kills_mid_commit = 0, n_runs = 0;
  uint64_t lcg = CRASH_SEED;
  int kill_i;
  for (kill_i = 0; kill_i < CRASH_MAX_KILLS; kill_i++) {
    if (kill_i >= CRASH_KILLS && kills_mid_commit >= CRASH_MIN_MID_COMMIT && n_committed > 0) break;
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    int delay = CRASH_DELAY_MIN_MS + (int)((lcg >> 33) % (uint64_t)CRASH_DELAY_SPAN_MS);
    int fds[2];
    REQUIRE(pipe(fds) == 0, "pipe");
    fflush(stdout);
    pid_t pid = fork();
    REQUIRE(pid >= 0, "fork");
    if (pid == 0) {
      close(fds[0]);
      crash_child(path, fds[1]);
    }
    close(fds[1]);
    /* No timing assumption: the kill comes a random delay after the child says its first
     * commit started (even kills) or finished (odd kills), however long a loaded machine took
     * to get there; from then on the child is always inside a commit.  So some kills land in
     * a first commit and some runs are committed, at any load. */
    crash_event trigger = kill_i % 2 == 0 ? CRASH_COMMITTING : CRASH_COMMITTED;
    crash_report r;
    int started = 0;
    for (;;) {
      int got = read(fds[0], &r, sizeof r) == (ssize_t)sizeof r;
      if (got) {
        REQUIRE(r.event == CRASH_COMMITTING || r.event == CRASH_COMMITTED, "child failed %s run %d",
                r.event == CRASH_READ_FAILED ? "reading before" : "committing", r.run);
        if (r.event == CRASH_COMMITTED) {
          int seen = 0;
          for (int i = 0; i < n_committed; i++) seen |= committed[i] == r.run;
          if (!seen) committed[n_committed++] = r.run;
        }
      }
      if (!got) break; /* the child died or was killed: the pipe is closed */
      if (!started && r.event == trigger) {
        started = 1;
        sleep_ms(delay);
        kill(pid, SIGKILL);
      }
    }
    int wstatus;
    waitpid(pid, &wstatus, 0);
    close(fds[0]);
    REQUIRE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL, "child was not killed");
    if (count_tmp_files(dir) > 0) kills_mid_commit++;
    const char *why = crash_check(path, committed, n_committed, &n_runs);
    REQUIRE(!why, "after kill %d (at %d ms, %d runs committed): %s", kill_i, delay, n_committed, why);
  }
  /* The kills must have interrupted commits, or this test proves nothing. */
  CHECK(kills_mid_commit >= CRASH_MIN_MID_COMMIT,
        "only %d of %d kills landed inside a commit (tmp file left)", kills_mid_commit, kill_i);
  CHECK(n_committed > 0, "no commit finished before the kills");

  /* Resume: the next commit succeeds, keeps every run and removes stale tmp files. */
  lbbt_experiment *exp = make_exp("crash", "smoke");
  char id[17];
  crash_id(CRASH_RUNS, id);
  CHECK(commit_k(path, exp, id, CRASH_RUNS, 30) == LBBT_OK, "commit after kills: %s",
        lbbt_last_error());
  free_exp(exp);
  CHECK(count_tmp_files(dir) == 0, "stale tmp files remain after a commit");
  lbbt_results *res = NULL;
  REQUIRE(lbbt_results_read(path, &res) == LBBT_OK, "read: %s", lbbt_last_error());
  CHECK(res->n_runs == n_runs + 1, "%d runs after resume, want %d", res->n_runs, n_runs + 1);
  lbbt_results_free(res);
  printf("# crash test: %d kills, %d inside a commit, %d distinct runs committed\n", kill_i,
         kills_mid_commit, n_committed);
}

/* ---- fixture for tests/cli/inspect.sh ------------------------------------------------ */
static int write_fixture(const char *path) {
  lbbt_experiment *exp = make_exp("fixture", "smoke");
  int st = commit_k(path, exp, RUN_IDS[0], 0, 30);
  if (st == LBBT_OK) st = commit_k(path, exp, RUN_IDS[1], 1, 30);
  if (st != LBBT_OK) fprintf(stderr, "fixture: %s\n", lbbt_last_error());
  free_exp(exp);
  return st == LBBT_OK ? 0 : 1;
}

TEST_MAIN_BEGIN("test_results")
  const char *fixture = getenv("LBBT_WRITE_RESULTS_FIXTURE");
  if (fixture && *fixture) return write_fixture(fixture);
  TEST_RUN(test_record_api);
  TEST_RUN(test_record_save_load);
  TEST_RUN(test_record_edge_shapes);
  TEST_RUN(test_commit_and_read);
  TEST_RUN(test_h5dump_reads_file);
  TEST_RUN(test_replace_run);
  TEST_RUN(test_refusals);
  TEST_RUN(test_merge_runs);
  TEST_RUN(test_crash_safety);
TEST_MAIN_END()
