/* Results files under damage (issue 20, classes 2, 7, 11): each run carries a checksum that
 * every read verifies; a run whose bytes changed is reported damaged by name, is not found
 * by tables (lbbt_results_find_run), is "not complete" for the runner (recomputed), and is
 * dropped, not copied, when the file is rewritten, while the other runs stay usable.  And
 * no single flipped bit anywhere in the file crashes the reader (libhdf5 is kept at arm's
 * length by the probe process of results/h5util.c). */
#include <hdf5.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lbbt/results.h"
#include "lbbt/spec.h"
#include "test.h"

/* Flip sweep: FLIP_COPIES copies of the file, spread evenly over it, one bit flipped in each
 * (the bit cycles with the offset), each read in a child process that must exit, not die.
 * (Before the probe about 1 in 200 such copies crashed libhdf5.) */
enum { FLIP_COPIES = 60 };

static lbbt_experiment g_exp;

static lbbt_status commit(const char *path, const char *id, double acc) {
  snprintf(g_exp.name, sizeof g_exp.name, "integrity");
  snprintf(g_exp.tier, sizeof g_exp.tier, "smoke");
  snprintf(g_exp.file, sizeof g_exp.file, "experiments/integrity.yaml");
  snprintf(g_exp.sha256, sizeof g_exp.sha256, "%064d", 1);
  lbbt_run_spec run;
  memset(&run, 0, sizeof run);
  snprintf(run.id, sizeof run.id, "%s", id);
  snprintf(run.label, sizeof run.label, "run %s", id);
  run.config_yaml = (char *)"seed: 0\n";
  lbbt_record *rec = NULL;
  LBBT_TRY(lbbt_record_create(&rec));
  lbbt_status st = lbbt_record_scalar(rec, "probe/test_acc1", acc);
  for (int e = 0; st == LBBT_OK && e < 3; e++) st = lbbt_record_append(rec, "bridge/loss", 2.0 - e);
  if (st == LBBT_OK) st = lbbt_record_string(rec, "model/source", "scratch");
  if (st == LBBT_OK) st = lbbt_results_commit_run(path, &g_exp, &run, rec, 1);
  lbbt_record_free(rec);
  return st;
}

/* Change one stored value behind lbbt's back, as a flipped bit on disk would. */
static int poke_scalar(const char *path, const char *dset_path, double v) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) return -1;
  hid_t d = H5Dopen2(f, dset_path, H5P_DEFAULT);
  herr_t st = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
  if (d >= 0) H5Dclose(d);
  H5Fclose(f);
  return st < 0 ? -1 : 0;
}

static void test_checksum_detects_changed_value(void) {
  const char *path = test_tmp_path("changed.h5");
  REQUIRE(commit(path, "aaaa", 0.17) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit(path, "bbbb", 0.42) == LBBT_OK, "commit: %s", lbbt_last_error());
  lbbt_results *r = NULL;
  REQUIRE(lbbt_results_read(path, &r) == LBBT_OK, "read: %s", lbbt_last_error());
  CHECK(lbbt_results_find_run(r, "aaaa") && lbbt_results_find_run(r, "bbbb"), "both intact");
  lbbt_results_free(r);
  /* 0.17 -> 0.085: the 17.0 rendered as 8.5 */
  REQUIRE(poke_scalar(path, "runs/aaaa/probe/test_acc1", 0.085) == 0, "cannot poke the file");
  r = NULL;
  REQUIRE(lbbt_results_read(path, &r) == LBBT_OK, "read after damage: %s", lbbt_last_error());
  CHECK(r->n_runs == 2, "both runs listed (%d)", r->n_runs);
  CHECK(lbbt_results_find_run(r, "aaaa") == NULL, "the damaged run must not be found");
  const lbbt_result_run *b = lbbt_results_find_run(r, "bbbb");
  double v = 0;
  CHECK(b && lbbt_record_get_scalar(b->record, "probe/test_acc1", &v) == LBBT_OK && v == 0.42,
        "the other run stays usable");
  for (int i = 0; i < r->n_runs; i++)
    if (!strcmp(r->runs[i].id, "aaaa"))
      CHECK(r->runs[i].damage && strstr(r->runs[i].damage, "checksum") &&
                !strcmp(r->runs[i].status, "damaged") && lbbt_record_count(r->runs[i].record) == 0,
            "run aaaa reported damaged (%s)", r->runs[i].damage ? r->runs[i].damage : "none");
  lbbt_results_free(r);
  int present = 1;
  CHECK(lbbt_results_has_run(path, "aaaa", &present) == LBBT_OK && !present,
        "a damaged run is not complete: the runner computes it again");
  CHECK(lbbt_results_has_run(path, "bbbb", &present) == LBBT_OK && present, "bbbb complete");
  /* rewriting the file (a new run) keeps the damaged run detectably damaged */
  REQUIRE(commit(path, "cccc", 0.5) == LBBT_OK, "commit after damage: %s", lbbt_last_error());
  r = NULL;
  REQUIRE(lbbt_results_read(path, &r) == LBBT_OK, "read: %s", lbbt_last_error());
  CHECK(r->n_runs == 3 && !lbbt_results_find_run(r, "aaaa") && lbbt_results_find_run(r, "bbbb") &&
            lbbt_results_find_run(r, "cccc"),
        "after a rewrite the damaged run is still damaged, the others intact (%d runs)", r->n_runs);
  lbbt_results_free(r);
  /* and recomputing it restores it */
  REQUIRE(commit(path, "aaaa", 0.17) == LBBT_OK, "recommit: %s", lbbt_last_error());
  CHECK(lbbt_results_has_run(path, "aaaa", &present) == LBBT_OK && present, "aaaa recomputed");
}

static void test_checksum_covers_attributes(void) {
  const char *path = test_tmp_path("attr.h5");
  REQUIRE(commit(path, "aaaa", 0.25) == LBBT_OK, "commit: %s", lbbt_last_error());
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  REQUIRE(f >= 0, "open");
  hid_t g = H5Gopen2(f, "runs/aaaa", H5P_DEFAULT);
  REQUIRE(g >= 0, "group");
  H5Adelete(g, "label");
  H5Gclose(g);
  H5Fclose(f);
  int present = 1;
  CHECK(lbbt_results_has_run(path, "aaaa", &present) == LBBT_OK && !present,
        "a run whose attributes changed is damaged");
}

/* Read `path` in a child; 1 when the child exited (any status), 0 when a signal killed it. */
static int reads_without_dying(const char *path) {
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    lbbt_results *r = NULL;
    lbbt_status st = lbbt_results_read(path, &r);
    lbbt_results_free(r);
    int present = 0;
    lbbt_results_has_run(path, "aaaa", &present);
    _exit(st == LBBT_OK ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return !WIFSIGNALED(status);
}

static void test_flipped_bits_never_crash(void) {
  const char *clean = test_tmp_path("clean.h5"), *bad = test_tmp_path("flipped.h5");
  REQUIRE(commit(clean, "aaaa", 0.17) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit(clean, "bbbb", 0.42) == LBBT_OK, "commit: %s", lbbt_last_error());
  FILE *fp = fopen(clean, "rb");
  REQUIRE(fp, "open clean");
  static unsigned char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, fp);
  fclose(fp);
  REQUIRE(n > 0 && n < sizeof buf, "clean file size %zu", n);
  int crashed = 0, first = -1, tried = 0;
  size_t stride = n / FLIP_COPIES + 1;
  for (size_t off = 0; off < n; off += stride, tried++) {
    buf[off] ^= (unsigned char)(1u << (off % 8));
    FILE *o = fopen(bad, "wb");
    REQUIRE(o && fwrite(buf, 1, n, o) == n && fclose(o) == 0, "write flipped copy");
    buf[off] ^= (unsigned char)(1u << (off % 8));
    if (!reads_without_dying(bad)) {
      crashed++;
      if (first < 0) first = (int)off;
    }
  }
  CHECK(crashed == 0, "%d of %d flipped copies crashed the reader (first at byte %d)", crashed,
        tried, first);
}

/* Add to run `run` of `path` something lbbt's writer never writes, through HDF5 directly:
 * a chunked dataset of `ndim` dims whose chunks were never written (it reads as fill values,
 * so a few bytes of file declare 2^40 values), or (ndim 0) a group holding a hard link to
 * itself (a cycle). */
static int add_to_run(const char *path, const char *run, int ndim, const hsize_t *dims) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) return -1;
  char where[64];
  snprintf(where, sizeof where, "runs/%s", run);
  hid_t g = H5Gopen2(f, where, H5P_DEFAULT);
  herr_t st = g < 0 ? -1 : 0;
  if (st >= 0 && ndim == 0) {
    hid_t loop = H5Gcreate2(g, "loopy", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    st = loop < 0 ? -1 : H5Lcreate_hard(loop, ".", loop, "again", H5P_DEFAULT, H5P_DEFAULT);
    if (loop >= 0) H5Gclose(loop);
  } else if (st >= 0) {
    hsize_t chunk[2] = {1, 1};
    hid_t space = H5Screate_simple(ndim, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = space < 0 || dcpl < 0 || H5Pset_chunk(dcpl, ndim, chunk) < 0
                  ? -1
                  : H5Dcreate2(g, "unstored", H5T_IEEE_F64LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    st = d < 0 ? -1 : H5Dclose(d);
    if (space >= 0) H5Sclose(space);
    if (dcpl >= 0) H5Pclose(dcpl);
  }
  if (g >= 0) H5Gclose(g);
  if (H5Fclose(f) < 0) st = -1;
  return st < 0 ? -1 : 0;
}

/* The run that holds `what` is damaged, with a reason containing `why`; the other intact. */
static void check_only_aaaa_damaged(const char *path, const char *what, const char *why) {
  lbbt_results *r = NULL;
  REQUIRE(lbbt_results_read(path, &r) == LBBT_OK, "%s: read: %s", what, lbbt_last_error());
  const char *damage = r->n_runs == 2 && !strcmp(r->runs[0].id, "aaaa") ? r->runs[0].damage : NULL;
  CHECK(damage && strstr(damage, why), "%s: run aaaa damaged because %s (got: %s)", what, why,
        damage ? damage : "not damaged");
  CHECK(lbbt_results_find_run(r, "bbbb") != NULL, "%s: run bbbb stays usable", what);
  lbbt_results_free(r);
}

/* Found by fuzz_results' review: a 16 KB file declaring 2^40 values (8 TB) made the reader
 * allocate them (out of memory: the whole file refused, in the probe process too), and a
 * shape whose product overflows int64 was multiplied unchecked (UBSan). */
static void test_unstored_values_refused(void) {
  const char *path = test_tmp_path("unstored.h5");
  REQUIRE(commit(path, "aaaa", 0.17) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit(path, "bbbb", 0.42) == LBBT_OK, "commit: %s", lbbt_last_error());
  const hsize_t huge[1] = {(hsize_t)1 << 40};
  REQUIRE(add_to_run(path, "aaaa", 1, huge) == 0, "cannot add a chunked dataset");
  check_only_aaaa_damaged(path, "2^40 unstored values", "stores only");

  const char *wrap = test_tmp_path("wrapping.h5");
  REQUIRE(commit(wrap, "aaaa", 0.17) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit(wrap, "bbbb", 0.42) == LBBT_OK, "commit: %s", lbbt_last_error());
  const hsize_t wrapping[2] = {(hsize_t)1 << 62, 4};
  REQUIRE(add_to_run(wrap, "aaaa", 2, wrapping) == 0, "cannot add a 2^62 x 4 dataset");
  check_only_aaaa_damaged(wrap, "a 2^62 x 4 shape", "overflows");
}

/* Found by review for fuzz_results: a group holding a link to itself made the record walker
 * recurse until the stack overflowed (in the probe process, reported as a libhdf5 crash). */
static void test_link_cycle_refused(void) {
  const char *path = test_tmp_path("cycle.h5");
  REQUIRE(commit(path, "aaaa", 0.17) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(commit(path, "bbbb", 0.42) == LBBT_OK, "commit: %s", lbbt_last_error());
  REQUIRE(add_to_run(path, "aaaa", 0, NULL) == 0, "cannot add a link cycle");
  check_only_aaaa_damaged(path, "a link cycle", "link cycle");
}

TEST_MAIN_BEGIN("test_results_integrity")
TEST_RUN(test_checksum_detects_changed_value);
TEST_RUN(test_checksum_covers_attributes);
TEST_RUN(test_flipped_bits_never_crash);
TEST_RUN(test_unstored_values_refused);
TEST_RUN(test_link_cycle_refused);
TEST_MAIN_END()
