/* lbbt fsck (issue 20, class 11): every run of a results file is reported ok, damaged (with
 * the reason) or unreadable, and the intact runs of a damaged or truncated file are salvaged
 * into a new file that reads back with exactly those runs, values unchanged.  Before fsck a
 * truncated file lost every run: lbbt_results_read refuses it as a whole. */
#include <hdf5.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lbbt/results.h"
#include "lbbt/results_fsck.h"
#include "lbbt/spec.h"
#include "test.h"

enum { N_RUNS = 6 };
/* Flip sweep: copies of a file, one bit flipped in each, checked and salvaged in a child. */
enum { FLIP_COPIES = 24 };

static lbbt_experiment g_exp;

static double acc_of(int i) { return 0.1 + 0.01 * i; }

static void run_id(int i, char *id) { snprintf(id, 16, "run%04d", i); }

/* A run with a scalar, a series, a string and an array (a few KB, so that runs spread over
 * the file). */
static lbbt_status commit(const char *path, int i) {
  snprintf(g_exp.name, sizeof g_exp.name, "fsck");
  snprintf(g_exp.tier, sizeof g_exp.tier, "smoke");
  snprintf(g_exp.file, sizeof g_exp.file, "experiments/fsck.yaml");
  snprintf(g_exp.sha256, sizeof g_exp.sha256, "%064d", 2);
  lbbt_run_spec run;
  memset(&run, 0, sizeof run);
  run_id(i, run.id);
  snprintf(run.label, sizeof run.label, "run number %d", i);
  run.config_yaml = (char *)"seed: 0\n";
  lbbt_record *rec = NULL;
  LBBT_TRY(lbbt_record_create(&rec));
  float w[512];
  for (int k = 0; k < 512; k++) w[k] = (float)(i * 1000 + k);
  int64_t shape[1] = {512};
  lbbt_status st = lbbt_record_scalar(rec, "probe/test_acc1", acc_of(i));
  for (int e = 0; st == LBBT_OK && e < 3; e++) st = lbbt_record_append(rec, "bridge/loss", 2.0 - e);
  if (st == LBBT_OK) st = lbbt_record_string(rec, "model/source", "scratch");
  if (st == LBBT_OK) st = lbbt_record_array_f32(rec, "analysis/w", 1, shape, w);
  if (st == LBBT_OK) st = lbbt_results_commit_run(path, &g_exp, &run, rec, 1);
  lbbt_record_free(rec);
  return st;
}

static lbbt_status make_file(const char *path, int n) {
  unlink(path);
  for (int i = 0; i < n; i++) LBBT_TRY(commit(path, i));
  return LBBT_OK;
}

/* The run of `res` with id run<i> holds what commit(i) wrote. */
static int run_holds_commit(const lbbt_results *res, int i) {
  char id[16];
  run_id(i, id);
  const lbbt_result_run *run = lbbt_results_find_run(res, id);
  double v = 0;
  int nd = 0;
  const int64_t *shape = NULL;
  const float *w = NULL;
  if (!run || lbbt_record_get_scalar(run->record, "probe/test_acc1", &v) != LBBT_OK || v != acc_of(i))
    return 0;
  if (lbbt_record_get_array_f32(run->record, "analysis/w", &nd, &shape, &w) != LBBT_OK || nd != 1 ||
      shape[0] != 512)
    return 0;
  for (int k = 0; k < 512; k++)
    if (w[k] != (float)(i * 1000 + k)) return 0;
  return 1;
}

static int index_of(const char *id) { return atoi(id + 3); }

/* Salvage r into out; the new file must hold exactly r's ok runs, as written. */
static int salvage_matches(const lbbt_fsck_report *r, const char *out, char *why, size_t n) {
  unlink(out);
  int copied = -1;
  if (lbbt_results_salvage(r, out, &copied) != LBBT_OK) {
    snprintf(why, n, "salvage: %s", lbbt_last_error());
    return 0;
  }
  lbbt_results *res = NULL;
  if (lbbt_results_read(out, &res) != LBBT_OK) {
    snprintf(why, n, "read salvaged: %s", lbbt_last_error());
    return 0;
  }
  int ok = copied == r->n_ok && res->n_runs == r->n_ok;
  if (!ok) snprintf(why, n, "copied %d, file holds %d, %d ok", copied, res->n_runs, r->n_ok);
  for (int i = 0; ok && i < r->n_runs; i++)
    if (r->runs[i].state == LBBT_FSCK_OK && !run_holds_commit(res, index_of(r->runs[i].id))) {
      snprintf(why, n, "run %s not salvaged intact", r->runs[i].id);
      ok = 0;
    }
  const char *name = lbbt_results_attr(res, "experiment_name"), *from = lbbt_results_attr(res, "salvaged_from");
  if (ok && (!name || strcmp(name, "fsck") || !from || strcmp(from, r->file))) {
    snprintf(why, n, "provenance not carried over (experiment_name %s, salvaged_from %s)",
             name ? name : "-", from ? from : "-");
    ok = 0;
  }
  lbbt_results_free(res);
  return ok;
}

static void test_clean_file(void) {
  const char *path = test_tmp_path("clean.h5"), *out = test_tmp_path("clean.salvaged.h5");
  REQUIRE(make_file(path, 3) == LBBT_OK, "commit: %s", lbbt_last_error());
  lbbt_fsck_report *r = NULL;
  REQUIRE(lbbt_results_fsck(path, &r) == LBBT_OK, "fsck: %s", lbbt_last_error());
  CHECK(lbbt_fsck_clean(r) && r->n_runs == 3 && r->n_ok == 3 && !r->truncated && !r->problem,
        "a clean file is clean (%d runs, %d ok, problem %s)", r->n_runs, r->n_ok,
        r->problem ? r->problem : "none");
  CHECK(r->n_runs == 3 && !strcmp(r->runs[1].id, "run0001") && !strcmp(r->runs[1].label, "run number 1"),
        "runs listed in commit order with their labels");
  char why[512] = "";
  CHECK(salvage_matches(r, out, why, sizeof why), "%s", why);
  int n = 0;
  CHECK(lbbt_results_salvage(r, out, &n) == LBBT_E_INPUT && strstr(lbbt_last_error(), "already exists"),
        "salvage refuses an existing file: %s", lbbt_last_error());
  CHECK(lbbt_results_salvage(r, path, &n) == LBBT_E_INPUT && strstr(lbbt_last_error(), "being checked"),
        "salvage refuses the checked file: %s", lbbt_last_error());
  lbbt_fsck_report_free(r);
}

static int poke_scalar(const char *path, const char *dset_path, double v) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) return -1;
  hid_t d = H5Dopen2(f, dset_path, H5P_DEFAULT);
  herr_t st = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
  if (d >= 0) H5Dclose(d);
  H5Fclose(f);
  return st < 0 ? -1 : 0;
}

static void test_damaged_run(void) {
  const char *path = test_tmp_path("damaged.h5"), *out = test_tmp_path("damaged.salvaged.h5");
  REQUIRE(make_file(path, 3) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(poke_scalar(path, "runs/run0001/probe/test_acc1", 0.5) == 0, "cannot poke the file");
  lbbt_fsck_report *r = NULL;
  REQUIRE(lbbt_results_fsck(path, &r) == LBBT_OK, "fsck: %s", lbbt_last_error());
  CHECK(!lbbt_fsck_clean(r) && r->n_ok == 2 && r->n_damaged == 1 && !r->problem,
        "one damaged run (%d ok, %d damaged)", r->n_ok, r->n_damaged);
  CHECK(r->n_runs == 3 && r->runs[1].state == LBBT_FSCK_DAMAGED && r->runs[1].reason &&
            strstr(r->runs[1].reason, "checksum"),
        "run0001 damaged by its checksum (%s)", r->n_runs == 3 && r->runs[1].reason ? r->runs[1].reason : "-");
  char why[512] = "";
  CHECK(salvage_matches(r, out, why, sizeof why), "%s", why);
  lbbt_fsck_report_free(r);
}

static int64_t file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (int64_t)sb.st_size : -1;
}

static int copy_prefix(const char *from, const char *to, int64_t n) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  int ok = in && out;
  char buf[4096];
  while (ok && n > 0) {
    size_t want = n < (int64_t)sizeof buf ? (size_t)n : sizeof buf;
    size_t got = fread(buf, 1, want, in);
    ok = got == want && fwrite(buf, 1, got, out) == got;
    n -= (int64_t)got;
  }
  if (in) fclose(in);
  if (out && fclose(out) != 0) ok = 0;
  return ok;
}

/* Cut a file of N_RUNS runs at several points: each cut is reported truncated, nothing
 * crashes, and whatever is reported ok is salvaged intact.  Somewhere before the end most
 * runs survive: the file is not lost as a whole. */
static void test_truncated_file(void) {
  const char *path = test_tmp_path("whole.h5"), *cut = test_tmp_path("cut.h5"), *out = test_tmp_path("cut.salvaged.h5");
  REQUIRE(make_file(path, N_RUNS) == LBBT_OK, "commit: %s", lbbt_last_error());
  int64_t size = file_size(path);
  REQUIRE(size > 0, "size");
  int best = 0;
  for (int pct = 50; pct <= 95; pct += 15) {
    REQUIRE(copy_prefix(path, cut, size * pct / 100), "cut at %d%%", pct);
    lbbt_results *res = NULL;
    CHECK(lbbt_results_read(cut, &res) == LBBT_E_INPUT, "a truncated file is refused as a whole");
    lbbt_results_free(res);
    lbbt_fsck_report *r = NULL;
    REQUIRE(lbbt_results_fsck(cut, &r) == LBBT_OK, "fsck at %d%%: %s", pct, lbbt_last_error());
    CHECK(r->truncated && r->problem && strstr(r->problem, "truncated") && !lbbt_fsck_clean(r) &&
              r->declared_size == size,
          "cut at %d%%: reported truncated (%s)", pct, r->problem ? r->problem : "no problem");
    /* the list of runs is written near the start (sized when /runs is created): a cut
     * loses the last runs, not the list (before, a cut at 50% or 65% lost every run) */
    CHECK(r->listed && r->n_runs == N_RUNS && r->n_ok >= 1, "cut at %d%%: %d of %d runs listed, %d ok (%s)",
          pct, r->n_runs, N_RUNS, r->n_ok, r->problem ? r->problem : "");
    if (r->listed && r->n_ok > best) best = r->n_ok;
    char why[512] = "";
    if (r->listed) CHECK(salvage_matches(r, out, why, sizeof why), "cut at %d%%: %s", pct, why);
    lbbt_fsck_report_free(r);
  }
  CHECK(best >= N_RUNS / 2, "at best %d of %d runs survive a cut", best, N_RUNS);
}

static void test_bad_input(void) {
  lbbt_fsck_report *r = NULL;
  CHECK(lbbt_results_fsck(test_tmp_path("absent.h5"), &r) == LBBT_E_INPUT && !r, "a missing file is bad input");
  const char *text = test_tmp_path("text.h5");
  FILE *f = fopen(text, "w");
  REQUIRE(f, "write");
  fputs("not hdf5 at all\n", f);
  fclose(f);
  CHECK(lbbt_results_fsck(text, &r) == LBBT_E_INPUT && strstr(lbbt_last_error(), "not an HDF5 file"),
        "a text file is bad input: %s", lbbt_last_error());
  const char *foreign = test_tmp_path("foreign.h5");
  hid_t h = H5Fcreate(foreign, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  REQUIRE(h >= 0, "create");
  H5Fclose(h);
  CHECK(lbbt_results_fsck(foreign, &r) == LBBT_E_INPUT && strstr(lbbt_last_error(), "not an lbbt results file"),
        "a foreign HDF5 file is bad input: %s", lbbt_last_error());
  CHECK(lbbt_results_fsck("/dev/zero", &r) == LBBT_E_INPUT, "a device is bad input");
}

/* In a child: fsck the file and salvage what it reports ok; exit 0 when the salvaged file
 * holds exactly those runs intact (or nothing could be listed), 1 otherwise. */
static int check_in_child(const char *path, const char *out) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    lbbt_fsck_report *r = NULL;
    if (lbbt_results_fsck(path, &r) != LBBT_OK) _exit(lbbt_last_error()[0] ? 0 : 1); /* refused, in words */
    char why[512];
    int ok = !r->listed || salvage_matches(r, out, why, sizeof why);
    if (!ok) fprintf(stderr, "%s\n", why);
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void test_flipped_bits(void) {
  const char *clean = test_tmp_path("flip-clean.h5"), *bad = test_tmp_path("flipped.h5"),
             *out = test_tmp_path("flipped.salvaged.h5");
  REQUIRE(make_file(clean, 3) == LBBT_OK, "commit: %s", lbbt_last_error());
  FILE *fp = fopen(clean, "rb");
  REQUIRE(fp, "open clean");
  static unsigned char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  REQUIRE(n > 0 && n < sizeof buf, "clean file size %zu", n);
  int failed = 0, first = -1, code = 0;
  size_t stride = n / FLIP_COPIES + 1;
  for (size_t off = 0; off < n; off += stride) {
    buf[off] ^= (unsigned char)(1u << (off % 8));
    FILE *o = fopen(bad, "wb");
    REQUIRE(o && fwrite(buf, 1, n, o) == n && fclose(o) == 0, "write flipped copy");
    buf[off] ^= (unsigned char)(1u << (off % 8));
    int c = check_in_child(bad, out);
    if (c) {
      failed++;
      if (first < 0) first = (int)off, code = c;
    }
  }
  CHECK(failed == 0, "%d flipped copies failed fsck or salvage (first at byte %d, exit %d)", failed,
        first, code);
}

TEST_MAIN_BEGIN("test_results_fsck")
TEST_RUN(test_clean_file);
TEST_RUN(test_damaged_run);
TEST_RUN(test_truncated_file);
TEST_RUN(test_bad_input);
TEST_RUN(test_flipped_bits);
TEST_MAIN_END()
