/* lbbt fsck: check each run of a results file in its own child process, read a truncated
 * file through a zero-padded copy, and salvage the intact runs (lbbt/results_fsck.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/atomic_file.h"
#include "base/fs_util.h"
#include "lbbt/results.h"
#include "lbbt/results_fsck.h"
#include "results/h5util.h"
#include "results/results_run.h"

#define RESULTS_KIND "lbbt-results"
#define ANSWER_MAX (4 << 20)      /* bytes of a child's answer kept (run lists, messages) */
#define PADDED_MAX ((int64_t)1 << 40) /* a declared size beyond this is not believed */

static const unsigned char HDF5_SIGNATURE[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

const char *lbbt_fsck_state_name(lbbt_fsck_state s) {
  switch (s) {
    case LBBT_FSCK_OK: return "ok";
    case LBBT_FSCK_DAMAGED: return "damaged";
    case LBBT_FSCK_UNREADABLE: return "unreadable";
  }
  return "?";
}

/* ---- children ------------------------------------------------------------------------ */
/* A child's answer: the bytes it wrote, and how it ended. */
typedef struct {
  char *buf;
  size_t len;
  int signal;    /* the signal that killed it (SIGALRM: hung), or 0 */
  int exit_code; /* when it exited */
} child_answer;

static int write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n) {
    ssize_t w = write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    c += w;
    n -= (size_t)w;
  }
  return 0;
}

/* A string and its NUL, as one field of an answer. */
static int put_field(int fd, const char *s) { return write_all(fd, s ? s : "", strlen(s ? s : "") + 1); }

/* The n-th NUL-terminated field of an answer, or NULL. */
static const char *field(const child_answer *a, int n) {
  size_t at = 0;
  for (int i = 0; i < n; i++) {
    const char *nul = memchr(a->buf + at, 0, a->len - at);
    if (!nul) return NULL;
    at = (size_t)(nul - a->buf) + 1;
  }
  return at < a->len && memchr(a->buf + at, 0, a->len - at) ? a->buf + at : NULL;
}

typedef int (*child_fn)(const void *arg, int fd); /* writes its answer; returns the exit code */

/* Run fn in a child process (alarm after H5U_CHILD_SECONDS; _exit, so no atexit handler of the
 * copied parent runs) and collect what it writes.  Only failing to fork, pipe or wait is an
 * error; a child that dies is an answer (signal set). */
static lbbt_status in_child(child_fn fn, const void *arg, const char *path, child_answer *out) {
  memset(out, 0, sizeof *out);
  int p[2];
  if (pipe(p) < 0) return lbbt_fail(LBBT_E_IO, "%s: cannot create a pipe: %s", path, strerror(errno));
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    close(p[0]);
    close(p[1]);
    return lbbt_fail(LBBT_E_IO, "%s: cannot start a check process: %s", path, strerror(errno));
  }
  if (pid == 0) {
    close(p[0]);
    h5u_child_begin();
    h5u_quiet();
    _exit(fn(arg, p[1]));
  }
  close(p[1]);
  size_t cap = 0;
  char chunk[8192];
  for (;;) {
    ssize_t n = read(p[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (out->len + (size_t)n + 1 > ANSWER_MAX) continue; /* drain the rest, keep what fits */
    if (out->len + (size_t)n + 1 > cap) {
      size_t grow = cap ? 2 * cap : sizeof chunk * 2;
      while (grow < out->len + (size_t)n + 1) grow *= 2;
      char *b = realloc(out->buf, grow);
      if (!b) break;
      out->buf = b;
      cap = grow;
    }
    memcpy(out->buf + out->len, chunk, (size_t)n);
    out->len += (size_t)n;
  }
  close(p[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      free(out->buf);
      out->buf = NULL;
      return lbbt_fail(LBBT_E_IO, "%s: waiting for a check process: %s", path, strerror(errno));
    }
  if (WIFSIGNALED(status)) out->signal = WTERMSIG(status);
  else out->exit_code = WEXITSTATUS(status);
  if (!out->buf && !(out->buf = calloc(1, 1))) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  return LBBT_OK;
}

/* "crashes libhdf5 (Segmentation fault)" / "hangs libhdf5 (stopped after 60 s)" */
static char *died_reason(int sig) {
  char buf[160];
  if (sig == SIGALRM)
    snprintf(buf, sizeof buf, "reading it hangs libhdf5 (stopped after %d s)", H5U_CHILD_SECONDS);
  else snprintf(buf, sizeof buf, "reading it crashes libhdf5 (%s)", strsignal(sig));
  return strdup(buf);
}

static hid_t open_ro(const char *file) {
  hid_t fapl = h5u_fapl();
  hid_t f = fapl < 0 ? -1 : H5Fopen(file, H5F_ACC_RDONLY, fapl);
  if (fapl >= 0) H5Pclose(fapl);
  return f;
}

/* ---- the file as a whole: signature, declared size, padded copy ---------------------- */
static uint64_t le_uint(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

/* Find the superblock (at 0, 512, 1024, ...: HDF5's user block sizes) and its end-of-file
 * address.  Returns 1 when the signature is found (*declared = -1 when the superblock is
 * cut short or its size fields are not HDF5's), 0 when the file is not HDF5. */
static int read_superblock(int fd, int64_t size, int64_t *declared) {
  *declared = -1;
  for (int64_t off = 0; off + 8 <= size; off = off ? 2 * off : 512) {
    unsigned char sb[128];
    ssize_t n = pread(fd, sb, sizeof sb, off);
    if (n < 8 || memcmp(sb, HDF5_SIGNATURE, 8) != 0) continue;
    int version = sb[8], o, eof_at;
    if (version <= 1) { /* format spec: superblock versions 0 and 1 */
      o = sb[13];
      eof_at = (version == 0 ? 24 : 28) + 2 * o;
    } else { /* versions 2 and 3 */
      o = sb[9];
      eof_at = 12 + 2 * o;
    }
    if ((o == 2 || o == 4 || o == 8) && eof_at + o <= n) {
      uint64_t eof = le_uint(sb + eof_at, o);
      if (eof != UINT64_MAX >> (64 - 8 * o) && eof <= (uint64_t)INT64_MAX) *declared = (int64_t)eof;
    }
    return 1;
  }
  return 0;
}

/* A copy of `path` extended with zeros to `declared` bytes (sparse: only the real bytes
 * take space), in $TMPDIR, so that HDF5 opens a truncated file. */
static lbbt_status padded_copy(const char *path, int fd, int64_t declared, char **out) {
  const char *dir = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/lbbt-fsck-XXXXXX", dir && *dir ? dir : "/tmp");
  int w = mkstemp(tmpl);
  if (w < 0) return lbbt_fail(LBBT_E_IO, "%s: cannot create a padded copy %s: %s", path, tmpl, strerror(errno));
  char buf[1 << 16];
  ssize_t n;
  off_t at = 0;
  int err = 0;
  while ((n = pread(fd, buf, sizeof buf, at)) > 0) {
    if (write_all(w, buf, (size_t)n) < 0) {
      err = errno;
      break;
    }
    at += n;
  }
  if (!err && n < 0) err = errno;
  if (!err && ftruncate(w, (off_t)declared) < 0) err = errno;
  close(w);
  if (err) {
    unlink(tmpl);
    return lbbt_fail(LBBT_E_IO, "%s: cannot write a padded copy %s: %s", path, tmpl, strerror(err));
  }
  if (!(*out = strdup(tmpl))) {
    unlink(tmpl);
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  }
  return LBBT_OK;
}

static char *dup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *dup_printf(const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return strdup(buf);
}

/* Append one more thing wrong with the file as a whole to r->problem ("a; b"). */
static void add_problem(lbbt_fsck_report *r, const char *what) {
  char *joined = r->problem ? dup_printf("%s; %s", r->problem, what ? what : "?") : strdup(what ? what : "?");
  if (!joined) return; /* out of memory: the first problem stays */
  free(r->problem);
  r->problem = joined;
}

/* Signature, declared size, padded copy when truncated.  LBBT_E_INPUT when not HDF5. */
static lbbt_status examine_file(lbbt_fsck_report *r) {
  LBBT_TRY(lbbt_require_regular_file(r->file, "results file", &r->size));
  int fd = open(r->file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return lbbt_fail(LBBT_E_INPUT, "%s: cannot read this results file: %s", r->file, strerror(errno));
  lbbt_status st = LBBT_OK;
  if (!read_superblock(fd, r->size, &r->declared_size)) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: not an HDF5 file (no HDF5 signature), so not an lbbt results file", r->file);
  } else if (r->declared_size > r->size) {
    r->truncated = 1;
    if (r->declared_size > PADDED_MAX)
      r->problem = dup_printf("its superblock declares %lld bytes, which is not believable: the "
                              "superblock is damaged", (long long)r->declared_size);
    else {
      r->problem = dup_printf("truncated: %lld of the %lld bytes its superblock declares (runs "
                              "stored in the lost %lld bytes are lost)", (long long)r->size,
                              (long long)r->declared_size, (long long)(r->declared_size - r->size));
      st = padded_copy(r->file, fd, r->declared_size, &r->read_from);
    }
  } else if (!(r->read_from = strdup(r->file))) {
    st = lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", r->file);
  }
  close(fd);
  return st;
}

/* What a child reads: `read_from` (the file or its padded copy), named `file` in messages,
 * and the attribute or run `name`. */
typedef struct {
  const char *read_from, *file, *name;
} named_arg;

/* ---- listing the runs ------------------------------------------------------------------ */
/* Answer: 'R' (an lbbt results file), the number of root attributes (-1: they cannot be
 * listed), their names, then each run name, and when /runs cannot be listed "" + why;
 * 'F' + the format found (foreign); 'E' + why the file cannot be opened. */
static int list_child(const void *arg, int fd) {
  const named_arg *na = arg;
  const char *file = na->file;
  hid_t f = open_ro(na->read_from);
  if (f < 0) {
    h5u_fail(LBBT_E_INPUT, file, "HDF5 cannot open it");
    put_field(fd, "E");
    put_field(fd, lbbt_last_error());
    return 1;
  }
  char *format = NULL;
  if (H5Aexists(f, "lbbt_format") <= 0 || h5u_attr_read_text(f, "lbbt_format", &format) < 0 ||
      strncmp(format, RESULTS_KIND "/", sizeof RESULTS_KIND) != 0) {
    put_field(fd, "F");
    put_field(fd, format ? format : "(none)");
    return 0;
  }
  put_field(fd, "R");
  char **attrs = NULL, count[16];
  int n_attrs = 0;
  if (h5u_attr_names(f, &attrs, &n_attrs) < 0) n_attrs = -1;
  snprintf(count, sizeof count, "%d", n_attrs);
  put_field(fd, count);
  for (int i = 0; i < n_attrs; i++) put_field(fd, attrs[i]);
  if (H5Lexists(f, "runs", H5P_DEFAULT) <= 0) return 0; /* no run yet */
  hid_t runs = H5Gopen2(f, "runs", H5P_DEFAULT);
  char **names = NULL;
  int n = 0;
  if (runs < 0 || h5u_link_names(runs, &names, &n) < 0) {
    h5u_fail(LBBT_E_INPUT, file, "cannot list /runs");
    put_field(fd, "");
    put_field(fd, lbbt_last_error());
    return 1;
  }
  for (int i = 0; i < n; i++)
    if (names[i][0]) put_field(fd, names[i]);
  return 0;
}

static char **take_names(const child_answer *a, int first, int n) {
  char **names = calloc(n ? (size_t)n : 1, sizeof *names);
  for (int i = 0; names && i < n; i++)
    if (!(names[i] = strdup(field(a, first + i)))) {
      for (int k = 0; k < i; k++) free(names[k]);
      free(names);
      return NULL;
    }
  return names;
}

/* The root attribute names and run names of a list_child answer. */
static lbbt_status add_names(lbbt_fsck_report *r, const child_answer *a) {
  const char *count = field(a, 1);
  int n_attrs = count ? atoi(count) : -1, at = 2;
  if (n_attrs < 0) {
    add_problem(r, "its root attributes (provenance) cannot be listed");
    n_attrs = 0;
  }
  for (int i = 0; i < n_attrs; i++)
    if (!field(a, at + i)) n_attrs = i; /* a cut answer: keep what came */
  if (!(r->root_ok = take_names(a, at, n_attrs))) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", r->file);
  r->n_root_ok = n_attrs;
  at += n_attrs;
  int n = 0;
  while (field(a, at + n) && field(a, at + n)[0]) n++;
  char **ids = take_names(a, at, n);
  if (!ids || !(r->runs = calloc(n ? (size_t)n : 1, sizeof *r->runs))) {
    for (int i = 0; ids && i < n; i++) free(ids[i]);
    free(ids);
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", r->file);
  }
  for (int i = 0; i < n; i++) r->runs[i].id = ids[i];
  free(ids);
  r->n_runs = n;
  /* an empty field after the names: listing /runs stopped with the reason that follows */
  if (field(a, at + n) && field(a, at + n + 1)) {
    char *why = dup_printf("its runs cannot be listed: %s", field(a, at + n + 1));
    add_problem(r, why);
    free(why);
    r->listed = 0;
  }
  return LBBT_OK;
}

static lbbt_status list_runs(lbbt_fsck_report *r) {
  child_answer a;
  named_arg arg = {r->read_from, r->file, NULL};
  LBBT_TRY(in_child(list_child, &arg, r->file, &a));
  lbbt_status st = LBBT_OK;
  const char *kind = field(&a, 0);
  if (a.signal) {
    char *why = died_reason(a.signal), *msg = dup_printf("its root group cannot be read: %s", why ? why : "");
    add_problem(r, msg);
    free(why);
    free(msg);
  } else if (kind && !strcmp(kind, "F")) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: an HDF5 file but not an lbbt results file (lbbt_format: %s)",
                   r->file, field(&a, 1) ? field(&a, 1) : "?");
  } else if (kind && !strcmp(kind, "R")) {
    r->listed = 1;
    st = add_names(r, &a);
  } else {
    char *msg = dup_printf("it cannot be opened: %s", kind && field(&a, 1) ? field(&a, 1) : "no answer");
    add_problem(r, msg);
    free(msg);
  }
  free(a.buf);
  return st;
}

/* ---- checking each root attribute ------------------------------------------------------ */
static int attr_child(const void *arg, int fd) {
  (void)fd;
  const named_arg *na = arg;
  hid_t f = open_ro(na->read_from);
  char *text = NULL;
  return f >= 0 && h5u_attr_read_text(f, na->name, &text) >= 0 ? 0 : 1;
}

/* Keep in root_ok the attributes that read back; name the others in the problem. */
static lbbt_status check_root_attrs(lbbt_fsck_report *r) {
  int kept = 0;
  for (int i = 0; i < r->n_root_ok; i++) {
    named_arg arg = {r->read_from, r->file, r->root_ok[i]};
    child_answer a;
    LBBT_TRY(in_child(attr_child, &arg, r->file, &a));
    free(a.buf);
    if (!a.signal && !a.exit_code) {
      r->root_ok[kept++] = r->root_ok[i];
      continue;
    }
    char *why = a.signal ? died_reason(a.signal) : strdup("HDF5 reports an error reading it");
    char *msg = dup_printf("root attribute '%s' is damaged: %s", r->root_ok[i], why ? why : "");
    add_problem(r, msg);
    free(msg);
    free(why);
    free(r->root_ok[i]);
    r->n_root_damaged++;
  }
  r->n_root_ok = kept;
  return LBBT_OK;
}

/* ---- checking each run ----------------------------------------------------------------- */
/* Answer: 'O' or 'D', the label, the damage. */
static int run_child(const void *arg, int fd) {
  const named_arg *ra = arg;
  hid_t f = open_ro(ra->read_from);
  hid_t runs = f < 0 ? -1 : H5Gopen2(f, "runs", H5P_DEFAULT);
  if (runs < 0) {
    h5u_fail(LBBT_E_INPUT, ra->file, "cannot open /runs");
    put_field(fd, "D");
    put_field(fd, "");
    put_field(fd, lbbt_last_error());
    return 1;
  }
  lbbt_result_run run;
  memset(&run, 0, sizeof run);
  if (results_read_one_run(runs, ra->name, ra->file, &run) != LBBT_OK) {
    put_field(fd, "D");
    put_field(fd, "");
    put_field(fd, lbbt_last_error());
    return 1;
  }
  put_field(fd, run.damage ? "D" : "O");
  put_field(fd, run.label);
  put_field(fd, run.damage);
  return 0;
}

static lbbt_status check_run(lbbt_fsck_report *r, lbbt_fsck_run *run) {
  named_arg arg = {r->read_from, r->file, run->id};
  child_answer a;
  LBBT_TRY(in_child(run_child, &arg, r->file, &a));
  const char *kind = field(&a, 0), *label = field(&a, 1), *why = field(&a, 2);
  if (a.signal) {
    run->state = LBBT_FSCK_UNREADABLE;
    run->reason = died_reason(a.signal);
  } else if (kind && !strcmp(kind, "O")) {
    run->state = LBBT_FSCK_OK;
  } else {
    run->state = LBBT_FSCK_DAMAGED;
    run->reason = strdup(why && why[0] ? why : "cannot be read (no reason given)");
  }
  run->label = strdup(label ? label : "");
  free(a.buf);
  if (!run->label || (run->state != LBBT_FSCK_OK && !run->reason))
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", r->file);
  if (run->state == LBBT_FSCK_OK) r->n_ok++;
  else if (run->state == LBBT_FSCK_DAMAGED) r->n_damaged++;
  else r->n_unreadable++;
  return LBBT_OK;
}

lbbt_status lbbt_results_fsck(const char *path, lbbt_fsck_report **out) {
  if (!path || !out) return lbbt_fail(LBBT_E_INTERNAL, "lbbt_results_fsck: NULL argument");
  *out = NULL;
  h5u_quiet();
  lbbt_fsck_report *r = calloc(1, sizeof *r);
  if (!r || !(r->file = strdup(path))) {
    free(r);
    return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  }
  r->declared_size = -1;
  lbbt_status st = examine_file(r);
  if (st == LBBT_OK && r->read_from) st = list_runs(r);
  if (st == LBBT_OK && r->listed) st = check_root_attrs(r);
  for (int i = 0; st == LBBT_OK && r->listed && i < r->n_runs; i++) st = check_run(r, &r->runs[i]);
  if (st != LBBT_OK) {
    lbbt_fsck_report_free(r);
    return st;
  }
  *out = r;
  return LBBT_OK;
}

int lbbt_fsck_clean(const lbbt_fsck_report *r) {
  return r && !r->problem && r->listed && r->n_ok == r->n_runs;
}

void lbbt_fsck_report_free(lbbt_fsck_report *r) {
  if (!r) return;
  for (int i = 0; i < r->n_runs; i++) {
    free(r->runs[i].id);
    free(r->runs[i].label);
    free(r->runs[i].reason);
  }
  free(r->runs);
  for (int i = 0; i < r->n_root_ok; i++) free(r->root_ok[i]);
  free(r->root_ok);
  if (r->read_from && r->file && strcmp(r->read_from, r->file)) unlink(r->read_from); /* padded copy */
  free(r->read_from);
  free(r->problem);
  free(r->file);
  free(r);
}

/* ---- salvage ------------------------------------------------------------------------- */
/* Copy the attributes `names` of src onto dst, whatever their type (the root's provenance
 * holds variable-length strings and an int32).  Returns how many could not be copied. */
static int copy_attrs(hid_t src, hid_t dst, char *const *names, int n) {
  int failed = 0;
  for (int i = 0; i < n; i++) {
    hid_t a = H5Aopen(src, names[i], H5P_DEFAULT);
    hid_t type = a < 0 ? -1 : H5Aget_type(a), space = a < 0 ? -1 : H5Aget_space(a);
    hid_t mem = type < 0 ? -1 : H5Tget_native_type(type, H5T_DIR_ASCEND);
    hssize_t npoints = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    size_t bytes = mem < 0 || npoints < 0 ? 0 : (size_t)npoints * H5Tget_size(mem);
    void *buf = bytes ? calloc(1, bytes) : NULL;
    int ok = buf && H5Aread(a, mem, buf) >= 0;
    if (ok) {
      hid_t b = H5Acreate2(dst, names[i], type, space, H5P_DEFAULT, H5P_DEFAULT);
      ok = b >= 0 && H5Awrite(b, mem, buf) >= 0;
      if (b >= 0) H5Aclose(b);
#if H5_VERSION_GE(1, 12, 0)
      H5Treclaim(mem, space, H5P_DEFAULT, buf);
#else
      H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
#endif
    }
    failed += !ok;
    free(buf);
    if (mem >= 0) H5Tclose(mem);
    if (type >= 0) H5Tclose(type);
    if (space >= 0) H5Sclose(space);
    if (a >= 0) H5Aclose(a);
  }
  H5Eclear2(H5E_DEFAULT);
  return failed;
}

typedef struct {
  const lbbt_fsck_report *r;
  const char *tmp;
} salvage_arg;

/* Build the salvaged file at tmp.  Answer: the reason on failure. */
static int salvage_child(const void *arg, int fd) {
  const salvage_arg *sa = arg;
  const lbbt_fsck_report *r = sa->r;
  hid_t src = open_ro(r->read_from);
  hid_t fapl = h5u_fapl(), fcpl = h5u_fcpl();
  hid_t dst = (fapl < 0 || fcpl < 0) ? -1 : H5Fcreate(sa->tmp, H5F_ACC_EXCL, fcpl, fapl);
  hid_t runs = dst < 0 ? -1 : h5u_group_create(dst, "runs");
  if (src < 0 || runs < 0) {
    h5u_fail(LBBT_E_IO, r->file, src < 0 ? "cannot open it" : "cannot create %s", sa->tmp);
    return put_field(fd, lbbt_last_error()), 1;
  }
  if (copy_attrs(src, dst, r->root_ok, r->n_root_ok) != 0) {
    put_field(fd, "its root attributes (provenance) cannot all be read");
    return 1;
  }
  /* the format mark is what makes it a results file, even when the original's is damaged */
  if (H5Aexists(dst, "lbbt_format") <= 0 && h5u_attr_write_str(dst, "lbbt_format", RESULTS_KIND "/1") < 0) {
    put_field(fd, "cannot write lbbt_format");
    return 1;
  }
  char when[32] = "unknown";
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  if (h5u_attr_write_str(dst, "salvaged_from", r->file) < 0 ||
      h5u_attr_write_str(dst, "salvaged_utc", when) < 0) {
    put_field(fd, "cannot write the salvage attributes");
    return 1;
  }
  for (int i = 0; i < r->n_runs; i++) {
    if (r->runs[i].state != LBBT_FSCK_OK) continue;
    char from[LBBT_PATH_MAX];
    snprintf(from, sizeof from, "runs/%s", r->runs[i].id);
    if (H5Ocopy(src, from, runs, r->runs[i].id, H5P_DEFAULT, H5P_DEFAULT) < 0) {
      h5u_fail(LBBT_E_IO, r->file, "cannot copy run /runs/%s", r->runs[i].id);
      put_field(fd, lbbt_last_error());
      return 1;
    }
  }
  H5Gclose(runs);
  H5Fclose(src);
  if (H5Fclose(dst) < 0) {
    h5u_fail(LBBT_E_IO, r->file, "cannot finish %s", sa->tmp);
    put_field(fd, lbbt_last_error());
    return 1;
  }
  return 0;
}

/* The salvaged file reads back with exactly the ok runs, each intact. */
static lbbt_status verify_salvaged(const lbbt_fsck_report *r, const char *tmp, int n_want) {
  lbbt_results *res = NULL;
  LBBT_TRY(lbbt_results_read(tmp, &res));
  lbbt_status st = LBBT_OK;
  if (res->n_runs != n_want)
    st = lbbt_fail(LBBT_E_IO, "%s: the salvaged copy %s holds %d runs, not %d", r->file, tmp,
                   res->n_runs, n_want);
  for (int i = 0; st == LBBT_OK && i < res->n_runs; i++)
    if (res->runs[i].damage)
      st = lbbt_fail(LBBT_E_IO, "%s: run %s of the salvaged copy %s does not verify: %s", r->file,
                     res->runs[i].id, tmp, res->runs[i].damage);
  lbbt_results_free(res);
  return st;
}

lbbt_status lbbt_results_salvage(const lbbt_fsck_report *r, const char *out_path, int *n_copied) {
  if (!r || !out_path || !n_copied) return lbbt_fail(LBBT_E_INTERNAL, "lbbt_results_salvage: NULL argument");
  *n_copied = 0;
  if (!r->listed || !r->read_from)
    return lbbt_fail(LBBT_E_INPUT, "%s: its runs cannot be listed, so there is nothing to salvage", r->file);
  struct stat a, b;
  if (stat(out_path, &b) == 0 || errno != ENOENT) {
    int same = stat(r->file, &a) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
    return lbbt_fail(LBBT_E_INPUT, "%s: %s; salvage into a new file", out_path,
                     same ? "is the file being checked" : "already exists");
  }
  char tmp[LBBT_PATH_MAX + 64];
  LBBT_TRY(atomic_tmp_name(out_path, tmp, sizeof tmp));
  unlink(tmp);
  salvage_arg arg = {r, tmp};
  child_answer ans;
  LBBT_TRY(in_child(salvage_child, &arg, r->file, &ans));
  lbbt_status st = LBBT_OK;
  if (ans.signal || ans.exit_code)
    st = ans.signal ? lbbt_fail(LBBT_E_IO, "%s: salvaging into %s: libhdf5 died while copying (%s)",
                                r->file, out_path, strsignal(ans.signal))
                    : lbbt_fail(LBBT_E_IO, "%s: salvaging into %s: %s", r->file, out_path,
                                field(&ans, 0) ? field(&ans, 0) : "the copy failed");
  free(ans.buf);
  if (st == LBBT_OK) st = verify_salvaged(r, tmp, r->n_ok);
  if (st == LBBT_OK) st = atomic_publish(tmp, out_path);
  else unlink(tmp);
  if (st == LBBT_OK) *n_copied = r->n_ok;
  return st;
}
