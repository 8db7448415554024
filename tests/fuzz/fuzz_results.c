/* libFuzzer target: the results file reader (issue 20), through the entry points the CLI
 * uses: lbbt_results_read (inspect, table, verdicts, the sibling scan for run reuse: it
 * opens through the probe process of results/h5util.c and verifies each run's checksum),
 * lbbt_results_has_run and lbbt_results_run_string (the runner), and lbbt_results_fsck +
 * lbbt_results_salvage (`lbbt fsck`).  Built and run by tools/run-fuzz.
 *
 * Input: a mode byte, then the file.  Mode byte & 3 == 1: fsck and, when it finds intact runs
 * in a damaged file, salvage (a child process per run and per root attribute, so only a
 * quarter of the inputs pay for them); otherwise read, has_run, run_string.  The file is written to a private folder in
 * $TMPDIR (libhdf5 cannot open a memfd: it resolves /proc/self/fd links to real paths).
 *
 * libhdf5 is Debian's, not built with the sanitizers.  What it does on a corrupt file is not
 * lbbt's to fix; containing it is: lbbt reads a file in this process only after a child
 * process has read all of it without dying.  So this target checks lbbt's side:
 *   - no crash, hang or leak in lbbt's code: the probe's verdict, the record walker
 *     (results_items.c), the checksum, fsck's child protocol and salvage;
 *   - a crash of libhdf5 in *this* process is a failure too: the probe read the file first,
 *     so lbbt should have refused it (the probe must read a superset of what readers touch);
 *   - every run handed out as intact has a checksum that matches what was read, and its
 *     numbers are finite (the seeds write finite values; lbbt_results_find_run never returns
 *     a damaged run); structural invariants of the record (shapes, counts, strings);
 *   - fsck agrees with lbbt_results_read on which runs are intact (same file, not cut short),
 *     and a salvaged file reads back with exactly its intact runs.
 * Not checked, and stated so: libhdf5's own memory errors.  Its calls into intercepted libc
 * functions (memcpy with overlapping arguments, seen on flipped files) are suppressed by
 * library, and leaks whose allocation stack runs through libhdf5 are not reported (it leaks
 * on some error paths of corrupt files).  Runs without a checksum (written before checksums
 * existed) are accepted unverified by design, so a mutation that renames run_sha256 turns off
 * verification of that run; the finiteness check below still holds for the seeds' values.
 * H5U_CHILD_SECONDS is 1 in this build (60 in lbbt), so a libhdf5 hang costs a second. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lbbt/results.h"
#include "lbbt/results_fsck.h"
#include "results/run_digest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* libhdf5 is not instrumented; see above.  Reports about lbbt's own code stay on. */
const char *__asan_default_suppressions(void);
const char *__lsan_default_suppressions(void);
const char *__asan_default_options(void);
const char *__asan_default_suppressions(void) { return "interceptor_via_lib:libhdf5_serial.so\n"; }
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_serial.so\n"; }
/* malloc of an absurd size returns NULL, as glibc's does, instead of aborting */
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }
void __sanitizer_set_death_callback(void (*callback)(void));

#define FAIL(...) (fprintf(stderr, "fuzz_results: " __VA_ARGS__), fputc('\n', stderr), __builtin_trap())

static char dir[512];           /* private folder in $TMPDIR: the input, salvaged files */
static const uint8_t *g_input;  /* the input being run, for child_death */
static size_t g_input_size;
static volatile double g_sink; /* keeps the reads of every value */
static int g_verbose;          /* FUZZ_RESULTS_VERBOSE=1: print what each entry point said */

static void said(const char *what, lbbt_status st) {
  if (g_verbose) fprintf(stderr, "fuzz_results[%d]: %s: %d %s\n", (int)getpid(), what, (int)st, st ? lbbt_last_error() : "ok");
}

/* Structural invariants of one item, and every byte of it read (ASan checks the bounds). */
static void check_item(const lbbt_record_item *it, int finite) {
  if (!it || !it->path || !it->path[0] || strlen(it->path) >= LBBT_RECORD_PATH_MAX)
    FAIL("item without a valid path");
  double sum = 0;
  switch (it->kind) {
    case LBBT_ITEM_SCALAR: sum = it->scalar; break;
    case LBBT_ITEM_STRING:
      if (!it->string) FAIL("string item %s without a string", it->path);
      sum = (double)strlen(it->string);
      break;
    case LBBT_ITEM_SERIES:
      if (it->n < 1 || !it->series) FAIL("series %s has %d values", it->path, it->n);
      for (int i = 0; i < it->n; i++) sum += it->series[i];
      break;
    case LBBT_ITEM_F32:
    case LBBT_ITEM_I32: {
      if (it->ndim < 0 || it->ndim > LBBT_RECORD_MAX_DIMS) FAIL("array %s: ndim %d", it->path, it->ndim);
      int64_t numel = 1;
      for (int d = 0; d < it->ndim; d++) {
        if (it->shape[d] < 0 || (it->shape[d] && numel > INT64_MAX / it->shape[d]))
          FAIL("array %s: shape[%d] = %lld", it->path, d, (long long)it->shape[d]);
        numel *= it->shape[d];
      }
      if (numel != it->numel) FAIL("array %s: numel %lld, shape says %lld", it->path, (long long)it->numel, (long long)numel);
      for (int64_t i = 0; i < it->numel; i++)
        sum += it->kind == LBBT_ITEM_F32 ? (double)it->f32[i] : (double)it->i32[i];
      break;
    }
    default: FAIL("item %s of unknown kind %d", it->path, (int)it->kind);
  }
  if (finite && it->kind != LBBT_ITEM_STRING && !isfinite(sum))
    FAIL("intact run: item %s holds a non-finite value", it->path);
  g_sink = sum;
}

static void check_run(const lbbt_results *res, const lbbt_result_run *run) {
  if (!run->id || !run->label || !run->config_yaml || !run->status || !run->record)
    FAIL("run with a NULL field");
  g_sink = (double)(strlen(run->id) + strlen(run->label) + strlen(run->config_yaml) + strlen(run->status));
  for (int i = 0; i < run->n_attrs; i++)
    g_sink = (double)(strlen(run->attrs[i].key) + strlen(run->attrs[i].value));
  for (int i = 0; i < run->n_matrix; i++)
    g_sink = (double)strlen(lbbt_result_run_matrix(run, run->matrix[i].key));
  const lbbt_result_run *found = lbbt_results_find_run(res, run->id);
  if (run->damage) {
    if (strcmp(run->status, "damaged") || lbbt_record_count(run->record) != 0)
      FAIL("damaged run %s keeps status '%s' or %d items", run->id, run->status, lbbt_record_count(run->record));
    if (found == run) FAIL("lbbt_results_find_run returned damaged run %s", run->id);
    return;
  }
  /* handed out as intact: its stored checksum (when it has one) matches what was read */
  const char *want = lbbt_result_run_attr(run, RUN_DIGEST_ATTR);
  if (want) {
    char have[65];
    if (run_digest(run, have) != LBBT_OK) FAIL("run_digest: %s", lbbt_last_error());
    if (strcmp(have, want)) FAIL("run %s is intact but its checksum does not match", run->id);
  }
  int finite = want && strcmp(run->status, LBBT_RUN_DIVERGED) != 0;
  for (int i = 0; i < lbbt_record_count(run->record); i++) {
    const lbbt_record_item *it = lbbt_record_at(run->record, i);
    check_item(it, finite);
    double v;
    if (lbbt_record_item_final(it, &v)) g_sink = v;
    if (lbbt_record_find(run->record, it->path) == NULL) FAIL("item %s not found by its path", it->path);
  }
}

static void read_mode(const char *path) {
  lbbt_results *res = NULL;
  lbbt_status st = lbbt_results_read(path, &res);
  said("lbbt_results_read", st);
  if (st != LBBT_OK) {
    if (res) FAIL("lbbt_results_read failed (%d) but returned results", (int)st);
    if (st != LBBT_E_INPUT && st != LBBT_E_UNSUPPORTED && st != LBBT_E_NOMEM)
      FAIL("lbbt_results_read: status %d: %s", (int)st, lbbt_last_error());
    if (!lbbt_last_error()[0]) FAIL("lbbt_results_read failed without a message");
  } else {
    if (!res->file || (res->n_runs && !res->runs)) FAIL("results without file or runs");
    for (int i = 0; i < res->n_attrs; i++)
      g_sink = (double)strlen(lbbt_results_attr(res, res->attrs[i].key));
    for (int i = 0; i < res->n_runs; i++) check_run(res, &res->runs[i]);
  }
  /* the runner's questions, for the first run (or a seed's run id) */
  const char *id = res && res->n_runs ? res->runs[0].id : "run-a";
  int present = -1;
  st = lbbt_results_has_run(path, id, &present);
  if (st == LBBT_OK && present && res) {
    const lbbt_result_run *run = lbbt_results_find_run(res, id);
    if (!run) FAIL("has_run says %s is complete, lbbt_results_read says damaged or absent", id);
  }
  char *text = NULL;
  if (lbbt_results_run_string(path, id, "model/source", &text) == LBBT_OK && text)
    g_sink = (double)strlen(text);
  free(text);
  lbbt_results_free(res);
}

static void fsck_mode(const char *path) {
  lbbt_fsck_report *r = NULL;
  lbbt_status st = lbbt_results_fsck(path, &r);
  said("lbbt_results_fsck", st);
  if (st != LBBT_OK) {
    if (r) FAIL("lbbt_results_fsck failed but returned a report");
    if (st != LBBT_E_INPUT) FAIL("lbbt_results_fsck: status %d: %s", (int)st, lbbt_last_error());
    return;
  }
  if (r->n_ok + r->n_damaged + r->n_unreadable != (r->listed ? r->n_runs : 0))
    FAIL("fsck counts %d + %d + %d runs of %d", r->n_ok, r->n_damaged, r->n_unreadable, r->n_runs);
  for (int i = 0; i < r->n_runs; i++) {
    const lbbt_fsck_run *run = &r->runs[i];
    if (!run->id || !run->label || (run->state != LBBT_FSCK_OK) != (run->reason != NULL))
      FAIL("fsck run %d: id, label or reason inconsistent with its state", i);
    g_sink = (double)strlen(lbbt_fsck_state_name(run->state));
  }
  /* fsck and the reader agree on which runs are intact (a file not cut short) */
  lbbt_results *res = NULL;
  if (!r->truncated && r->listed && lbbt_results_read(path, &res) == LBBT_OK) {
    for (int i = 0; i < r->n_runs; i++) {
      if (r->runs[i].state == LBBT_FSCK_UNREADABLE) continue; /* the reader refuses such files */
      const lbbt_result_run *run = lbbt_results_find_run(res, r->runs[i].id);
      if ((r->runs[i].state == LBBT_FSCK_OK) != (run != NULL))
        FAIL("run %s: fsck says %s, lbbt_results_read says %s", r->runs[i].id,
             lbbt_fsck_state_name(r->runs[i].state), run ? "intact" : "damaged or absent");
    }
  }
  lbbt_results_free(res);
  if (!lbbt_fsck_clean(r) && r->listed && r->n_ok > 0) {
    char out[600];
    snprintf(out, sizeof out, "%s/salvaged.h5", dir);
    unlink(out);
    int n = -1;
    if (lbbt_results_salvage(r, out, &n) == LBBT_OK) {
      res = NULL;
      if (lbbt_results_read(out, &res) != LBBT_OK) FAIL("salvaged file unreadable: %s", lbbt_last_error());
      if (res->n_runs != r->n_ok || n != r->n_ok) FAIL("salvaged %d runs of %d ok", res->n_runs, r->n_ok);
      for (int i = 0; i < res->n_runs; i++)
        if (res->runs[i].damage) FAIL("salvaged run %s is damaged", res->runs[i].id);
      lbbt_results_free(res);
      unlink(out);
    }
  }
  lbbt_fsck_report_free(r);
}

/* FNV-1a of the input: names kept inputs, and is the input file's modification time. */
static uint64_t input_hash(const uint8_t *data, size_t size) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; i++) h = (h ^ data[i]) * 1099511628211ull;
  return h;
}

/* A sanitizer report in a child process lbbt forked to read the file (the probe, fsck's
 * children).  Without sanitizers such an error in libhdf5 kills the child by a signal or
 * goes unnoticed; here ASan would report it and exit with a code, which the parent takes for
 * an ordinary HDF5 error, so it would open the file itself.  So: when the stack runs through
 * libhdf5, the child dies of SIGABRT, as it would of a crash, and the parent gives its
 * verdict; otherwise the error is lbbt's, and the input is kept in $FUZZ_RESULTS_ARTIFACTS
 * (tools/run-fuzz: build/fuzz/crashes/) as fuzz_results-child-crash-<hash>, which makes the
 * run fail.  (lbbt code that libhdf5 calls back, the attribute-name collector, counts as
 * libhdf5's here.) */
static void child_death(void) {
  void *frames[256];
  int n = backtrace(frames, 256);
  for (int i = 0; i < n; i++) {
    Dl_info info;
    if (dladdr(frames[i], &info) && info.dli_fname && strstr(info.dli_fname, "libhdf5")) {
      signal(SIGABRT, SIG_DFL);
      abort();
    }
  }
  const char *out = getenv("FUZZ_RESULTS_ARTIFACTS");
  uint64_t h = input_hash(g_input, g_input_size);
  char path[1024];
  snprintf(path, sizeof path, "%s/fuzz_results-child-crash-%016llx", out && *out ? out : ".",
           (unsigned long long)h);
  FILE *f = fopen(path, "wb");
  if (f) {
    fwrite(g_input, 1, g_input_size, f);
    fclose(f);
  }
  fprintf(stderr, "fuzz_results: sanitizer report in lbbt's code in a child process; input "
          "written to %s\n", path);
}

static void child_after_fork(void) { __sanitizer_set_death_callback(child_death); }

static void remove_dir(void) {
  char p[600];
  snprintf(p, sizeof p, "%s/input.h5", dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/salvaged.h5", dir);
  unlink(p);
  rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) { /* salvaged files and fsck's padded copies go here */
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/fuzz-results-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) FAIL("mkdtemp %s", dir);
    atexit(remove_dir);
    void *warm[4];
    backtrace(warm, 4); /* loads the unwinder now, not inside a sanitizer report */
    pthread_atfork(NULL, NULL, child_after_fork);
    setenv("TMPDIR", dir, 1);
    g_verbose = getenv("FUZZ_RESULTS_VERBOSE") && atoi(getenv("FUZZ_RESULTS_VERBOSE"));
  }
  if (size < 1) return 0;
  g_input = data;
  g_input_size = size;
  /* The input's modification time is a hash of its bytes, so that the probe's cache of
   * checked files (device, inode, size, mtime) never takes it for an earlier input that got
   * the same inode, while the same input run again (libFuzzer reruns an input to look for
   * leaks) finds its verdict there, as a second open of one file does in lbbt. */
  uint64_t h = input_hash(data, size);
  char path[600];
  snprintf(path, sizeof path, "%s/input.h5", dir);
  unlink(path);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) FAIL("cannot create %s", path);
  for (size_t at = 1; at < size;) {
    ssize_t w = write(fd, data + at, size - at);
    if (w <= 0) FAIL("write");
    at += (size_t)w;
  }
  const struct timespec when[2] = {{(time_t)(h % (1ull << 33)), (long)((h >> 33) % 1000000000)},
                                   {(time_t)(h % (1ull << 33)), (long)((h >> 33) % 1000000000)}};
  if (futimens(fd, when) != 0 || close(fd) != 0) FAIL("futimens %s", path);
  if ((data[0] & 3) == 1) fsck_mode(path);
  else read_mode(path);
  return 0;
}
