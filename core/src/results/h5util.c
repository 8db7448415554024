/* HDF5 helpers: error reporting, properties, attributes, link listing, opening lbbt files. */
#include "results/h5util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lbbt/results.h"

void h5u_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* The deepest entry of HDF5's error stack is the most specific reason ("unable to open
 * file: name = '...', errno = 2, ..."); the outer ones only repeat the API call. */
typedef struct {
  char desc[512];
} h5u_reason;

static herr_t take_deepest(unsigned n, const H5E_error2_t *err, void *data) {
  h5u_reason *r = data;
  if (err && err->desc && err->desc[0]) snprintf(r->desc, sizeof r->desc, "%s", err->desc);
  else if (err && err->func_name) snprintf(r->desc, sizeof r->desc, "failed in %s", err->func_name);
  return 0;
}

lbbt_status h5u_fail(lbbt_status code, const char *file, const char *fmt, ...) {
  char what[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  h5u_reason r = {{0}};
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, take_deepest, &r);
  H5Eclear2(H5E_DEFAULT);
  if (r.desc[0]) return lbbt_fail(code, "%s: %s (HDF5: %s)", file, what, r.desc);
  return lbbt_fail(code, "%s: %s", file, what);
}

hid_t h5u_fapl(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  if (fapl < 0) return fapl;
  if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0 ||
      H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI) < 0) {
    H5Pclose(fapl);
    return -1;
  }
#if H5_VERSION_GE(1, 10, 7)
  /* Keep HDF5's locking, but do not refuse to open on file systems that lack flock. */
  H5Pset_file_locking(fapl, 1, 1);
#endif
  return fapl;
}

static const unsigned CRT_ORDER = H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED;
/* Attributes always stay in the object header ("compact"), never in dense storage: HDF5
 * before 1.14.4 crashes in H5Ocopy on dense-stored variable-length string attributes
 * (HDFGroup/hdf5#2414), and commits copy runs with H5Ocopy.  The object header has no
 * practical limit on the number of attributes; each one here holds a heap reference. */
static const unsigned MAX_COMPACT_ATTRS = 65535, MIN_DENSE_ATTRS = 65535;

static herr_t set_order_and_compact(hid_t plist) {
  if (H5Pset_link_creation_order(plist, CRT_ORDER) < 0 ||
      H5Pset_attr_creation_order(plist, CRT_ORDER) < 0 ||
      H5Pset_attr_phase_change(plist, MAX_COMPACT_ATTRS, MIN_DENSE_ATTRS) < 0)
    return -1;
  return 0;
}

hid_t h5u_fcpl(void) {
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
  if (fcpl < 0) return fcpl;
  if (set_order_and_compact(fcpl) < 0) {
    H5Pclose(fcpl);
    return -1;
  }
  return fcpl;
}

hid_t h5u_group_create(hid_t loc, const char *name) {
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  if (gcpl < 0) return gcpl;
  hid_t g = -1;
  if (set_order_and_compact(gcpl) >= 0) g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  return g;
}

/* Links kept in the object header up to this many (HDF5's largest phase-change value). */
static const unsigned MAX_COMPACT_LINKS = 65535;
enum { RUN_ID_LEN = 16 };

hid_t h5u_group_create_sized(hid_t loc, const char *name, int n_links) {
  hid_t gcpl = H5Pcreate(H5P_GROUP_CREATE);
  if (gcpl < 0) return gcpl;
  unsigned est = n_links < 1 ? 1 : n_links > (int)MAX_COMPACT_LINKS ? MAX_COMPACT_LINKS : (unsigned)n_links;
  hid_t g = -1;
  if (set_order_and_compact(gcpl) >= 0 &&
      H5Pset_link_phase_change(gcpl, MAX_COMPACT_LINKS, MAX_COMPACT_LINKS) >= 0 &&
      H5Pset_est_link_info(gcpl, est, RUN_ID_LEN) >= 0)
    g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  H5Pclose(gcpl);
  return g;
}

static herr_t attr_write(hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                         const void *buf) {
  if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) return -1;
  hid_t space = H5Screate(H5S_SCALAR);
  if (space < 0) return -1;
  hid_t attr = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
  herr_t st = attr < 0 ? -1 : H5Awrite(attr, mem_type, buf);
  if (attr >= 0 && H5Aclose(attr) < 0) st = -1;
  H5Sclose(space);
  return st;
}

herr_t h5u_attr_write_str(hid_t obj, const char *name, const char *value) {
  hid_t type = H5Tcopy(H5T_C_S1);
  if (type < 0) return -1;
  herr_t st = -1;
  if (H5Tset_size(type, H5T_VARIABLE) >= 0 && H5Tset_cset(type, H5T_CSET_UTF8) >= 0) {
    const char *v = value ? value : "";
    st = attr_write(obj, name, type, type, &v);
  }
  H5Tclose(type);
  return st;
}

herr_t h5u_attr_write_i32(hid_t obj, const char *name, int32_t value) {
  return attr_write(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, &value);
}

static char *text_dup(const char *s) {
  char *d = strdup(s ? s : "");
  return d;
}

static herr_t read_string_attr(hid_t attr, hid_t type, char **out) {
  if (H5Tis_variable_str(type) > 0) {
    hid_t mem = H5Tcopy(H5T_C_S1);
    char *p = NULL;
    herr_t st = -1;
    if (mem >= 0 && H5Tset_size(mem, H5T_VARIABLE) >= 0 &&
        H5Tset_cset(mem, H5Tget_cset(type)) >= 0)
      st = H5Aread(attr, mem, &p);
    if (mem >= 0) H5Tclose(mem);
    if (st < 0) return -1;
    *out = text_dup(p);
    H5free_memory(p);
    return *out ? 0 : -1;
  }
  size_t size = H5Tget_size(type);
  if (size == 0) return -1;
  char *buf = calloc(size + 1, 1);
  if (!buf) return -1;
  hid_t mem = H5Tcopy(type);
  herr_t st = mem < 0 ? -1 : H5Aread(attr, mem, buf);
  if (mem >= 0) H5Tclose(mem);
  if (st < 0) {
    free(buf);
    return -1;
  }
  *out = buf;
  return 0;
}

herr_t h5u_attr_read_text(hid_t obj, const char *name, char **out) {
  *out = NULL;
  hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
  if (attr < 0) return -1;
  hid_t type = H5Aget_type(attr), space = H5Aget_space(attr);
  herr_t st = -1;
  if (type >= 0 && space >= 0) {
    hssize_t npoints = H5Sget_simple_extent_npoints(space);
    H5T_class_t cls = H5Tget_class(type);
    char buf[64];
    if (npoints == 1 && cls == H5T_STRING) {
      st = read_string_attr(attr, type, out);
    } else if (npoints == 1 && cls == H5T_INTEGER) {
      long long v;
      if (H5Aread(attr, H5T_NATIVE_LLONG, &v) >= 0) {
        snprintf(buf, sizeof buf, "%lld", v);
        *out = text_dup(buf);
        st = *out ? 0 : -1;
      }
    } else if (npoints == 1 && cls == H5T_FLOAT) {
      double v;
      if (H5Aread(attr, H5T_NATIVE_DOUBLE, &v) >= 0) {
        snprintf(buf, sizeof buf, "%.17g", v);
        *out = text_dup(buf);
        st = *out ? 0 : -1;
      }
    } else {
      snprintf(buf, sizeof buf, "<%lld values of class %d>", (long long)npoints, (int)cls);
      *out = text_dup(buf);
      st = *out ? 0 : -1;
    }
  }
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  H5Aclose(attr);
  return st;
}

void h5u_free_names(char **names, int n) {
  if (!names) return;
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
}

static herr_t link_names_by(hid_t group, H5_index_t index, char ***names, int *n) {
  H5G_info_t info;
  if (H5Gget_info(group, &info) < 0) return -1;
  char **list = calloc(info.nlinks ? info.nlinks : 1, sizeof *list);
  if (!list) return -1;
  for (hsize_t i = 0; i < info.nlinks; i++) {
    ssize_t len = H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, NULL, 0, H5P_DEFAULT);
    if (len < 0 || !(list[i] = malloc((size_t)len + 1)) ||
        H5Lget_name_by_idx(group, ".", index, H5_ITER_INC, i, list[i], (size_t)len + 1,
                           H5P_DEFAULT) < 0) {
      h5u_free_names(list, (int)info.nlinks);
      return -1;
    }
  }
  *names = list;
  *n = (int)info.nlinks;
  return 0;
}

herr_t h5u_link_names(hid_t group, char ***names, int *n) {
  /* Files written elsewhere may not track creation order: fall back to name order. */
  if (link_names_by(group, H5_INDEX_CRT_ORDER, names, n) >= 0) return 0;
  H5Eclear2(H5E_DEFAULT);
  return link_names_by(group, H5_INDEX_NAME, names, n);
}

typedef struct {
  char **names;
  int n, cap;
  int failed;
} name_list;

static herr_t collect_attr_name(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
  name_list *l = data;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 16;
    char **grown = realloc(l->names, (size_t)cap * sizeof *grown);
    if (!grown) {
      l->failed = 1;
      return -1;
    }
    l->names = grown;
    l->cap = cap;
  }
  if (!(l->names[l->n] = strdup(name))) {
    l->failed = 1;
    return -1;
  }
  l->n++;
  return 0;
}

static herr_t attr_names_by(hid_t obj, H5_index_t index, char ***names, int *n) {
  name_list l = {0};
  hsize_t idx = 0;
  if (H5Aiterate2(obj, index, H5_ITER_INC, &idx, collect_attr_name, &l) < 0 || l.failed) {
    h5u_free_names(l.names, l.n);
    return -1;
  }
  *names = l.names;
  *n = l.n;
  return 0;
}

herr_t h5u_attr_names(hid_t obj, char ***names, int *n) {
  if (attr_names_by(obj, H5_INDEX_CRT_ORDER, names, n) >= 0) return 0;
  H5Eclear2(H5E_DEFAULT);
  return attr_names_by(obj, H5_INDEX_NAME, names, n);
}

int h5u_valid_name(const char *name) {
  if (!name || !name[0] || strlen(name) >= 256) return 0;
  if (strchr(name, '/') || !strcmp(name, ".")) return 0;
  return 1;
}

/* ---- defensive open ------------------------------------------------------------------ */
/* libhdf5 trusts the file: one flipped bit in a heap address or a message size can make it
 * read wild memory and crash the process (SIGSEGV inside H5Fopen, H5Aread, H5Literate...).
 * No HDF5 API turns that into an error (H5Fis_accessible and error stacks only report the
 * failures HDF5 itself detects).  So before the first open of a file, a child process reads
 * all of it -- every attribute, link and dataset, the superset of what any lbbt reader
 * touches -- and only a file whose child did not die is opened here.  A child killed by a
 * signal (or stopped after H5U_CHILD_SECONDS) means the file is damaged in a way that crashes
 * or hangs libhdf5: it is reported by name and never opened in this process.  Files already
 * probed (same device, inode, size and modification time) are not probed again, so the
 * cost is one fork per version of a file; that includes a file whose child died (a
 * file that hangs libhdf5 would otherwise cost 60 s at every open). */
#define PROBE_CACHE 64

typedef struct {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  int died_of; /* the signal that killed its probe child, or 0 */
} file_identity;

static file_identity g_probed[PROBE_CACHE];
static int g_n_probed, g_next_probed;
static int g_in_probe_child; /* set in the probe child: it opens without probing */

static int same_identity(const file_identity *a, const struct stat *sb) {
  return a->dev == sb->st_dev && a->ino == sb->st_ino && a->size == sb->st_size &&
         a->mtime.tv_sec == sb->st_mtim.tv_sec && a->mtime.tv_nsec == sb->st_mtim.tv_nsec;
}

void h5u_child_begin(void) {
  static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP, SIGALRM};
  for (size_t i = 0; i < sizeof crash_signals / sizeof crash_signals[0]; i++)
    signal(crash_signals[i], SIG_DFL);
  alarm(H5U_CHILD_SECONDS);
}

/* The child: read everything as one record; exit 0 when it read, 1 on an HDF5 error (the
 * parent's own open then reports it in words).  _exit: no atexit handler (HDF5's shutdown,
 * OpenMP) runs in the copy of the parent. */
static void probe_child(const char *path) {
  g_in_probe_child = 1;
  h5u_child_begin();
  h5u_quiet();
  hid_t fapl = h5u_fapl();
  hid_t f = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (f < 0) _exit(1);
  lbbt_record *rec = NULL;
  int ok = lbbt_record_create(&rec) == LBBT_OK &&
           h5u_items_read(f, rec, NULL, path, "the whole file") == LBBT_OK;
  lbbt_record_free(rec);
  /* Closing is part of reading, as in the readers: libhdf5 frees what it cached from the
   * file then (on a damaged global heap it can free a wild pointer there: fuzz_results). */
  if (H5Fclose(f) < 0) ok = 0;
  H5Pclose(fapl);
  _exit(ok ? 0 : 1);
}

static void remember_probed(const struct stat *sb, int died_of) {
  g_probed[g_next_probed] =
      (file_identity){sb->st_dev, sb->st_ino, sb->st_size, sb->st_mtim, died_of};
  g_next_probed = (g_next_probed + 1) % PROBE_CACHE;
  if (g_n_probed < PROBE_CACHE) g_n_probed++;
}

void h5u_probe_trust(const char *path) {
  struct stat sb;
  if (stat(path, &sb) == 0) remember_probed(&sb, 0);
}

/* The verdict on a file whose probe child was killed by `sig`. */
static lbbt_status probe_died(const char *path, const char *what, int sig) {
  char how[64];
  if (sig == SIGALRM) snprintf(how, sizeof how, "stopped after %d s", H5U_CHILD_SECONDS);
  else snprintf(how, sizeof how, "%s", strsignal(sig));
  return lbbt_fail(LBBT_E_INPUT,
                   "%s: this %s is damaged: reading it %s libhdf5 (%s in a separate check "
                   "process); move it aside, and `lbbt run` computes its runs again",
                   path, what, sig == SIGALRM ? "hangs" : "crashes", how);
}

lbbt_status h5u_probe(const char *path, const char *what) {
  struct stat sb;
  if (g_in_probe_child || stat(path, &sb) != 0) return LBBT_OK; /* the open reports it */
  for (int i = 0; i < g_n_probed; i++)
    if (same_identity(&g_probed[i], &sb))
      return g_probed[i].died_of ? probe_died(path, what, g_probed[i].died_of) : LBBT_OK;
  fflush(NULL); /* nothing buffered is written twice */
  pid_t pid = fork();
  if (pid < 0) return lbbt_fail(LBBT_E_IO, "%s: cannot start a process to check this %s: %s",
                                path, what, strerror(errno));
  if (pid == 0) probe_child(path);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return lbbt_fail(LBBT_E_IO, "%s: waiting for the check of this %s: %s",
                                         path, what, strerror(errno));
  int died_of = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  remember_probed(&sb, died_of);
  return died_of ? probe_died(path, what, died_of) : LBBT_OK;
}

lbbt_status h5u_open_lbbt(const char *path, const char *kind, const char *what, hid_t *fid) {
  h5u_quiet();
  *fid = -1;
  struct stat sb;
  if (access(path, R_OK) != 0 || stat(path, &sb) != 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: cannot read %s: %s", path, what, strerror(errno));
  if (!S_ISREG(sb.st_mode))
    return lbbt_fail(LBBT_E_INPUT, "%s: not a regular file, so not an lbbt %s", path, what);
  LBBT_TRY(h5u_probe(path, what));
  htri_t is_h5 = H5Fis_hdf5(path);
  if (is_h5 == 0) {
    H5Eclear2(H5E_DEFAULT);
    return lbbt_fail(LBBT_E_INPUT, "%s: not an HDF5 file, so not an lbbt %s", path, what);
  }
  hid_t fapl = h5u_fapl();
  hid_t f = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
  if (fapl >= 0) H5Pclose(fapl);
  if (is_h5 < 0 || f < 0)
    return h5u_fail(LBBT_E_INPUT, path,
                    "cannot open this HDF5 file (truncated or damaged?); move it aside and "
                    "rerun to start a fresh %s", what);
  char *format = NULL;
  if (H5Aexists(f, "lbbt_format") <= 0 || h5u_attr_read_text(f, "lbbt_format", &format) < 0) {
    H5Eclear2(H5E_DEFAULT);
    H5Fclose(f);
    return lbbt_fail(LBBT_E_INPUT,
                     "%s: an HDF5 file but not an lbbt %s (it has no root attribute "
                     "lbbt_format); was it written by another program?", path, what);
  }
  size_t klen = strlen(kind);
  lbbt_status st = LBBT_OK;
  if (strncmp(format, kind, klen) != 0 || format[klen] != '/')
    st = lbbt_fail(LBBT_E_INPUT, "%s: lbbt_format is '%s', not '%s/1': this is not an lbbt %s",
                   path, format, kind, what);
  else if (strcmp(format + klen + 1, "1") != 0)
    st = lbbt_fail(LBBT_E_UNSUPPORTED,
                   "%s: written as '%s' by a newer lbbt; this lbbt reads '%s/1' (upgrade lbbt)",
                   path, format, kind);
  free(format);
  if (st != LBBT_OK) {
    H5Fclose(f);
    return st;
  }
  *fid = f;
  return LBBT_OK;
}
