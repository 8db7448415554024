/* The runner: expands an experiment into runs, skips runs already complete in the results
 * file, and runs each run's stages in order on one in-memory model (Eq. 2 of the paper:
 * a random-label bridge stage, then a linear-probe or fine-tune stage on the same model).
 *
 * Resuming: each run has a partial folder results/<experiment>.partial/<run id>/ where
 * task plugins save a checkpoint at the end of every epoch (lbbt_stage_checkpoint_save) and
 * the runner marks finished stages.  A killed run restarts from its last checkpoint; a
 * completed run is committed to the results file atomically and its folder removed. */
#ifndef LBBT_RUNNER_H
#define LBBT_RUNNER_H
#include <signal.h>

#include "lbbt/dataset.h"
#include "lbbt/model.h"
#include "lbbt/plugin.h"
#include "lbbt/progress.h"
#include "lbbt/results.h"
#include "lbbt/spec.h"

/* What a task or analysis plugin receives for one stage of one run. */
typedef struct lbbt_stage_ctx {
  int version;                  /* LBBT_STAGE_CTX_VERSION; fields only appended */
  const lbbt_experiment *exp;
  const lbbt_run_spec *run;
  const lbbt_stage_spec *stage;
  int stage_index;
  int run_index, n_runs;        /* for progress lines */
  lbbt_registry *registry;
  lbbt_model *model;            /* built by the runner before the first stage; stages share it */
  lbbt_dataset *train, *test;   /* true labels; tasks derive random labels themselves */
  lbbt_record *record;          /* write metrics here under "<stage name>/..." */
  lbbt_progress *progress;
  char partial_dir[LBBT_PATH_MAX]; /* this run's folder for checkpoints (exists) */
  int threads;
  volatile sig_atomic_t *interrupted; /* set by SIGINT/SIGTERM: save, then return
                                         LBBT_E_INTERRUPTED at the next epoch boundary */
} lbbt_stage_ctx;
#define LBBT_STAGE_CTX_VERSION 1

/* "<stage name>/<key>" into buf (size n); returns buf. */
LBBT_API const char *lbbt_stage_key(const lbbt_stage_ctx *ctx, const char *key, char *buf, size_t n);

/* Record items under "<stage name>/<key>" (the stage-prefixed forms of lbbt_record_*): what
 * every task and analysis writes.  lbbt_stage_append adds one value to a series (one per
 * epoch, say). */
LBBT_API lbbt_status lbbt_stage_scalar(lbbt_stage_ctx *ctx, const char *key, double v);
LBBT_API lbbt_status lbbt_stage_string(lbbt_stage_ctx *ctx, const char *key, const char *s);
LBBT_API lbbt_status lbbt_stage_append(lbbt_stage_ctx *ctx, const char *key, double v);
LBBT_API lbbt_status lbbt_stage_array_f32(lbbt_stage_ctx *ctx, const char *key, int ndim, const int64_t *shape,
                                          const float *data);
LBBT_API lbbt_status lbbt_stage_array_i32(lbbt_stage_ctx *ctx, const char *key, int ndim, const int64_t *shape,
                                          const int32_t *data);

/* ---- checkpoints (core/src/runtime/run_checkpoint.c) --------------------------------------------
 * One checkpoint per run, in <partial_dir>/ckpt/: the model's parameters, the current
 * stage's optimizer state and extra tensors (a probe's own head), and the run record so far.
 * It is replaced atomically (written to ckpt.new/, then renamed), so a kill at any moment
 * leaves either the previous or the new checkpoint.  It carries SHA256SUMS (sha256sum's
 * format), verified before it is read: a damaged checkpoint is moved to ckpt.damaged/ with a
 * warning and the run goes on from the previous one or from scratch. */
struct lbbt_optim;
/* Save after `epochs_done` epochs of the current stage; stage_done = 1 after its last. */
LBBT_API lbbt_status lbbt_checkpoint_save(lbbt_stage_ctx *ctx, struct lbbt_optim *opt, int epochs_done,
                                 int stage_done, lbbt_tensor *const *extra,
                                 const char *const *extra_names, int n_extra);
/* For a task starting a stage: restore the optimizer state and extras when the checkpoint
 * belongs to this stage; *epochs_done = epochs already done (0 = start fresh).  The model
 * parameters and record were already restored by the runner. */
LBBT_API lbbt_status lbbt_checkpoint_resume_stage(lbbt_stage_ctx *ctx, struct lbbt_optim *opt,
                                         int *epochs_done, lbbt_tensor *const *extra,
                                         const char *const *extra_names, int n_extra);
/* For the runner: when <partial_dir>/ckpt exists, load the model parameters into ctx->model,
 * replace ctx->record, and report the stage it was in and whether that stage finished.
 * *found = 0 when there is no checkpoint. */
LBBT_API lbbt_status lbbt_checkpoint_restore_run(lbbt_stage_ctx *ctx, int *found, int *stage_index,
                                        int *stage_done);

typedef struct lbbt_run_options {
  const char *experiment_path;
  const char *tier;          /* smoke | cpu | paper */
  const char *results_path;  /* NULL: results/<experiment name>.h5 (tier != cpu: -<tier>) */
  int threads;
  int dry_run;               /* list runs and whether they are complete; run nothing */
  int no_reuse;              /* 1: compute every run and stage, even when a sibling results
                                file holds the run complete or another run of the experiment
                                computed the same first stages (default 0: reuse them;
                                core/src/runtime/run_reuse.h, core/src/runtime/stage_cache.h) */
  const char *only_run;      /* a sweep task (lbbt/sweep.h): run only the run with this id, into
                                its own file lbbt_sweep_run_path(results_path, id); results_path
                                stays the table's file, whose completeness, siblings (reuse),
                                partial folder and stage cache it shares.  NULL: every run */
} lbbt_run_options;

/* Run everything that is missing.  Returns LBBT_OK when every run is complete. */
LBBT_API lbbt_status lbbt_run_experiment(const lbbt_run_options *opts, lbbt_registry *registry);
/* Is every plugin the runs name installed, and does each task or analysis accept its
 * stage's options (its validate entry: file:line:col errors)?  lbbt_run_experiment does
 * this before the first run; `lbbt check` does it for every tier. */
LBBT_API lbbt_status lbbt_experiment_check_plugins(const lbbt_experiment *e, lbbt_registry *registry);
/* Default results path for an experiment and tier: results/<name>.h5 for cpu,
 * results/<name>-<tier>.h5 otherwise. */
LBBT_API void lbbt_results_default_path(const char *name, const char *tier, char *buf, size_t n);

#endif
