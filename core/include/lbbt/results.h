/* Run records and the HDF5 results file.
 *
 * 1. A run record (lbbt_record) is what one run measured, in memory: a tree of named items
 *    addressed by '/'-separated paths such as "bridge/train_acc1".  Each item is one of
 *      - a scalar (double), e.g. a final accuracy;
 *      - a string, e.g. the checkpoint a stage loaded;
 *      - a series (doubles appended one at a time), e.g. a per-epoch loss;
 *      - an array of f32 or i32 of any shape (copied in), e.g. an analysis output.
 *    A path is either a leaf (an item) or a prefix of other paths (a group), never both:
 *    "a" and "a/b" cannot coexist.  Path components are 1+ printable ASCII characters other
 *    than '/', ' ' and '=' (so `key=value` output stays unambiguous), not "." or "..".
 *    A record can be saved to and loaded from its own file (an HDF5 file written atomically)
 *    so that an interrupted run's partial series are restored together with its checkpoint.
 *
 * 2. A results file (results/<experiment>.h5) holds every completed run of one experiment
 *    at one tier.  Layout (every string is a variable-length UTF-8 HDF5 string):
 *
 *      /                        root attributes = provenance of the latest commit:
 *                                 lbbt_format = "lbbt-results/1" (marks an lbbt file)
 *                                 lbbt_version, git_commit (40 hex or "unknown"),
 *                                 git_dirty ("yes" | "no" | "unknown"),
 *                                 created_utc (first commit), updated_utc (this commit),
 *                                 host, cpu_model, cpu_isa ("avx2 avx512f amx_tile ..."),
 *                                 kernel_isa (the level lbbt's own kernels ran at:
 *                                 "baseline" | "avx2" | "avx512", lbbt/isa.h),
 *                                 onednn_isa (oneDNN's effective ISA, "AVX2", ...),
 *                                 threads (int32), onednn_version, hdf5_version,
 *                                 gsl_version, libyaml_version, experiment_name,
 *                                 experiment_file, experiment_yaml (verbatim),
 *                                 experiment_sha256, tier
 *      /runs/<run id>           one group per run, attributes:
 *                                 id, label, config (canonical resolved YAML),
 *                                 status = "complete" (or "diverged": below),
 *                                 matrix.<key> = value (strings),
 *                                 and the run's own provenance: committed_utc, git_commit,
 *                                 git_dirty, host, threads, lbbt_version, experiment_sha256,
 *                                 kernel_isa, onednn_isa
 *      /runs/<run id>/<path>    the record's items:
 *                                 scalar -> scalar-dataspace f64 dataset
 *                                 series -> 1-D f64 dataset
 *                                 f32/i32 array -> dataset of that type and shape
 *                                 string -> attribute named by the last path component on
 *                                           the group of the other components
 *    Scalars are datasets, not attributes, so every number reads the same way from
 *    h5py (f["runs/<id>/bridge/test_acc1"][()]) and from this reader.  Groups and
 *    attributes track creation order, so runs and items read back in the order written.
 *
 *    Crash safety: a commit never modifies the existing file.  It builds
 *    "<path>.<pid>.tmp" (the existing runs copied with H5Ocopy, plus the new run), fsyncs
 *    it, rename()s it over <path> and fsyncs the directory.  A process killed at any moment
 *    leaves either the old file or the new one, both complete; its stale tmp file is
 *    removed by the next commit.  Commits are serialised with flock() on the file's
 *    directory (no lock file; the kernel releases it when a process dies), so two
 *    processes committing to one file cannot lose each other's runs.  Each commit copies
 *    the whole file: cost grows with the file, which is fine for tables of tens to
 *    hundreds of runs.  Attributes are kept in object headers (never "dense" storage; see
 *    h5util.c for the HDF5 bug this avoids).
 *
 * None of these functions are thread-safe (HDF5 serial builds are not): call them from one
 * thread.  HDF5's own error printing is silenced; failures become lbbt messages naming the
 * file, the object and HDF5's innermost reason. */
#ifndef LBBT_RESULTS_H
#define LBBT_RESULTS_H
#include <stdint.h>

#include "lbbt/types.h"
#include "lbbt/status.h"

#define LBBT_RECORD_PATH_MAX 256 /* bytes, including the terminating NUL */
#define LBBT_RECORD_MAX_DIMS 8

/* ---- run records ------------------------------------------------------------------ */
typedef struct lbbt_record lbbt_record;

typedef enum {
  LBBT_ITEM_SCALAR = 1,
  LBBT_ITEM_STRING,
  LBBT_ITEM_SERIES,
  LBBT_ITEM_F32,
  LBBT_ITEM_I32
} lbbt_item_kind;
LBBT_API const char *lbbt_item_kind_name(lbbt_item_kind k); /* "scalar", "string", "series", ... */

/* A read-only view of one item, owned by its record.  The view itself (the pointer
 * lbbt_record_at/find return) is valid until the next setter call on the record; the data
 * it points to until the record is freed or that item is set again. */
typedef struct lbbt_record_item {
  const char *path;
  lbbt_item_kind kind;
  double scalar;        /* SCALAR */
  const char *string;   /* STRING */
  const double *series; /* SERIES: n values */
  int n;
  int ndim;             /* F32/I32: 0..LBBT_RECORD_MAX_DIMS (0 = a single value) */
  int64_t shape[LBBT_RECORD_MAX_DIMS];
  int64_t numel;
  const float *f32;     /* F32: numel values, row-major */
  const int32_t *i32;   /* I32: numel values, row-major */
} lbbt_record_item;

LBBT_API lbbt_status lbbt_record_create(lbbt_record **out);
LBBT_API void lbbt_record_free(lbbt_record *rec);

/* Setters.  Setting an existing path of the same kind replaces it (append extends it);
 * a path of another kind, a path that conflicts with a group, or a malformed path is
 * LBBT_E_INPUT.  Data is copied. */
LBBT_API lbbt_status lbbt_record_scalar(lbbt_record *rec, const char *path, double v);
LBBT_API lbbt_status lbbt_record_string(lbbt_record *rec, const char *path, const char *s);
LBBT_API lbbt_status lbbt_record_append(lbbt_record *rec, const char *path, double v);
/* shape has ndim entries, each >= 0; data has their product of values. */
LBBT_API lbbt_status lbbt_record_array_f32(lbbt_record *rec, const char *path, int ndim,
                                  const int64_t *shape, const float *data);
LBBT_API lbbt_status lbbt_record_array_i32(lbbt_record *rec, const char *path, int ndim,
                                  const int64_t *shape, const int32_t *data);

/* Getters: LBBT_E_INPUT when the path is absent or holds another kind.  Returned pointers
 * are owned by the record (valid until it is freed or the item is changed). */
LBBT_API lbbt_status lbbt_record_get_scalar(const lbbt_record *rec, const char *path, double *v);
LBBT_API lbbt_status lbbt_record_get_string(const lbbt_record *rec, const char *path, const char **s);
LBBT_API lbbt_status lbbt_record_get_series(const lbbt_record *rec, const char *path,
                                   const double **v, int *n);
LBBT_API lbbt_status lbbt_record_get_array_f32(const lbbt_record *rec, const char *path, int *ndim,
                                      const int64_t **shape, const float **data);
LBBT_API lbbt_status lbbt_record_get_array_i32(const lbbt_record *rec, const char *path, int *ndim,
                                      const int64_t **shape, const int32_t **data);

/* Iteration in insertion order: for (i = 0; i < lbbt_record_count(r); i++)
 * lbbt_record_at(r, i)->path ...  lbbt_record_find returns NULL when absent. */
LBBT_API int lbbt_record_count(const lbbt_record *rec);
LBBT_API const lbbt_record_item *lbbt_record_at(const lbbt_record *rec, int i);
LBBT_API const lbbt_record_item *lbbt_record_find(const lbbt_record *rec, const char *path);
/* The "final value" of a scalar (itself) or a non-empty series (its last element), as
 * printed by `lbbt inspect`: returns 1 and sets *v, else returns 0. */
LBBT_API int lbbt_record_item_final(const lbbt_record_item *it, double *v);

/* Save to / load from a standalone HDF5 file (root attribute lbbt_format =
 * "lbbt-record/1", items laid out as in a run group).  Save is atomic (tmp + fsync +
 * rename).  Load: *out is a new record the caller frees; a missing or foreign file is
 * LBBT_E_INPUT. */
LBBT_API lbbt_status lbbt_record_save(const lbbt_record *rec, const char *path);
LBBT_API lbbt_status lbbt_record_load(const char *path, lbbt_record **out);

/* ---- provenance ------------------------------------------------------------------- */
typedef struct lbbt_provenance {
  char lbbt_version[32];
  char git_commit[64];  /* of the checkout liblbbt.so was built in; "unknown" otherwise */
  char git_dirty[8];    /* "yes" | "no" | "unknown" (`git status --porcelain` non-empty) */
  char utc_time[32];    /* ISO 8601, "2025-01-31T12:00:00Z" */
  char host[256];
  char cpu_model[256];  /* /proc/cpuinfo "model name"; "unknown" elsewhere */
  char cpu_isa[256];    /* the vector ISA flags present, e.g. "sse4_2 avx avx2 fma avx512f" */
  int threads;
  char onednn_version[32], hdf5_version[32], gsl_version[32], libyaml_version[32];
  char kernel_isa[16];  /* lbbt_isa_name(lbbt_isa_active()): "baseline" | "avx2" | "avx512" */
  char onednn_isa[32];  /* lbbt_isa_onednn(): oneDNN's effective ISA, e.g. "AVX2" */
} lbbt_provenance;
/* Fill *out for this process and moment (runs git, reads /proc/cpuinfo).  Never fails:
 * what cannot be found is "unknown". */
LBBT_API void lbbt_provenance_collect(int threads, lbbt_provenance *out);

/* A run whose training diverged (a non-finite loss, gradient or final metric, or a loss that
 * exploded) is recorded, not lost: its record holds the strings LBBT_RUN_DIVERGED_STAGE (the
 * stage) and LBBT_RUN_DIVERGED_REASON (what, where: step, op or metric), and it is committed
 * with status "diverged".  It counts as done (lbbt_results_has_run: computing it again would
 * diverge again); tables and verdicts show it as "diverged", never as a number. */
#define LBBT_RUN_DIVERGED "diverged"
#define LBBT_RUN_DIVERGED_STAGE "diverged/stage"
#define LBBT_RUN_DIVERGED_REASON "diverged/reason"

/* ---- the results file ------------------------------------------------------------- */
/* Is /runs/<run_id> present, intact, with status "complete" or "diverged"?  A missing file is not an error
 * (*present = 0); a foreign or unreadable file is LBBT_E_INPUT. */
LBBT_API lbbt_status lbbt_results_has_run(const char *path, const char *run_id, int *present);

/* The record string `item` (e.g. "model/checkpoint_sha256") of run run_id, malloc'd into
 * *out (free it), or *out = NULL when the file, the run or the item is absent. */
LBBT_API lbbt_status lbbt_results_run_string(const char *path, const char *run_id, const char *item, char **out);

/* Add run `run` (id, label, config_yaml, matrix) with the items of `rec` to the results
 * file at `path`, creating it when absent; a run with the same id is replaced.  `threads`
 * is the thread count the run used (provenance).  The root provenance is rewritten to
 * describe this commit (created_utc is kept).  Refuses (LBBT_E_INPUT) a file that is not
 * an lbbt results file or that belongs to another experiment name or tier, and a record
 * string at the top of the run whose name is one of the run attributes above. */
struct lbbt_experiment;
struct lbbt_run_spec; /* spec.h */
LBBT_API lbbt_status lbbt_results_commit_run(const char *path, const struct lbbt_experiment *exp,
                                    const struct lbbt_run_spec *run, const lbbt_record *rec,
                                    int threads);

/* Copy run /runs/<run_ids[i]> of each results file sources[i] (i < n) verbatim into the
 * results file at `path` (created when absent), in one commit with the crash safety and
 * lock of lbbt_results_commit_run: the run groups keep their attributes (their own
 * provenance: host, threads, committed_utc) and items; a run already in `path` is replaced.
 * The root provenance describes this commit (`threads` as there).  A source that is not a
 * results file of exp's name and tier, or whose run is absent or not complete, is
 * LBBT_E_INPUT naming it, and nothing is written.  lbbt sweep's merge (lbbt/sweep.h). */
LBBT_API lbbt_status lbbt_results_merge_runs(const char *path, const struct lbbt_experiment *exp,
                                    const char *const *sources, const char *const *run_ids,
                                    int n, int threads);

/* A results file read back into memory (for tables and `lbbt inspect`). */
typedef struct lbbt_text_attr {
  char *key;
  char *value; /* strings verbatim; numbers printed as text ("2", "0.5") */
} lbbt_text_attr;

typedef struct lbbt_result_run {
  char *id;              /* the group name under /runs */
  char *label;           /* "" when absent */
  char *config_yaml;     /* "" when absent */
  char *status;          /* "complete"; "" when absent */
  lbbt_text_attr *matrix; /* matrix values, "matrix." prefix removed, in file order */
  int n_matrix;
  lbbt_text_attr *attrs; /* every attribute of the run group (provenance included) */
  int n_attrs;
  lbbt_record *record;   /* the items (none when damaged) */
  /* NULL when the run reads back intact (its checksum matches, or it predates checksums);
   * otherwise why it cannot be trusted, and status is "damaged": tables, verdicts and the
   * copy of runs between files never see it (lbbt_results_find_run skips it), the runner
   * recomputes it, `lbbt inspect` and `lbbt fsck` report it. */
  char *damage;
} lbbt_result_run;

typedef struct lbbt_results {
  char *file;
  lbbt_text_attr *attrs; /* root attributes (provenance), in file order */
  int n_attrs;
  lbbt_result_run *runs; /* in commit order */
  int n_runs;
} lbbt_results;

/* Read every run.  *out is owned by the caller (lbbt_results_free).  A missing file, a
 * non-HDF5 file or an HDF5 file without lbbt_format = "lbbt-results/..." is LBBT_E_INPUT. */
LBBT_API lbbt_status lbbt_results_read(const char *path, lbbt_results **out);
LBBT_API void lbbt_results_free(lbbt_results *r);
/* Lookups; NULL when absent. */
LBBT_API const char *lbbt_results_attr(const lbbt_results *r, const char *key);
/* The intact run `id`, or NULL (absent or damaged). */
LBBT_API const lbbt_result_run *lbbt_results_find_run(const lbbt_results *r, const char *id);
LBBT_API const char *lbbt_result_run_attr(const lbbt_result_run *run, const char *key);
LBBT_API const char *lbbt_result_run_matrix(const lbbt_result_run *run, const char *key);

#endif
