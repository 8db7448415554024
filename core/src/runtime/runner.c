/* The runner; see runner.h.  One experiment -> runs -> stages, resuming what was killed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/checkpoint.h"
#include "lbbt/dist.h"
#include "lbbt/init_mode.h"
#include "lbbt/runner.h"
#include "lbbt/sweep.h"
#include "base/fs_util.h"
#include "runtime/divergence.h"
#include "runtime/results_lock.h"
#include "runtime/run_reuse.h"
#include "runtime/stage_cache.h"

static volatile sig_atomic_t g_interrupted;
static void on_signal(int sig) {
  (void)sig;
  g_interrupted = 1;
}

const char *lbbt_stage_key(const lbbt_stage_ctx *ctx, const char *key, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s", ctx->stage->name, key);
  return buf;
}

#define STAGE_KEY_MAX (LBBT_NAME_MAX + LBBT_RECORD_PATH_MAX)

lbbt_status lbbt_stage_scalar(lbbt_stage_ctx *ctx, const char *key, double v) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), v);
}

lbbt_status lbbt_stage_string(lbbt_stage_ctx *ctx, const char *key, const char *s) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_string(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), s);
}

lbbt_status lbbt_stage_append(lbbt_stage_ctx *ctx, const char *key, double v) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_append(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), v);
}

lbbt_status lbbt_stage_array_f32(lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const float *data) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_array_f32(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), ndim, shape, data);
}

lbbt_status lbbt_stage_array_i32(lbbt_stage_ctx *ctx, const char *key, int ndim,
                                 const int64_t *shape, const int32_t *data) {
  char k[STAGE_KEY_MAX];
  return lbbt_record_array_i32(ctx->record, lbbt_stage_key(ctx, key, k, sizeof k), ndim, shape, data);
}

void lbbt_results_default_path(const char *name, const char *tier, char *buf, size_t n) {
  if (!tier || !strcmp(tier, "cpu"))
    snprintf(buf, n, "results/%s.h5", name);
  else
    snprintf(buf, n, "results/%s-%s.h5", name, tier);
}

/* The stage's plugin (task or analysis). */
static const lbbt_task_ops *stage_plugin(lbbt_registry *reg, const lbbt_stage_spec *s,
                                        const char **kind_name) {
  if (s->task[0]) {
    *kind_name = "task";
    const lbbt_plugin *p = lbbt_registry_find(reg, LBBT_KIND_TASK, s->task);
    return p ? p->task : NULL;
  }
  *kind_name = "analysis";
  const lbbt_plugin *p = lbbt_registry_find(reg, LBBT_KIND_ANALYSIS, s->analysis);
  return p ? p->task : NULL;
}

/* The declarations of a run's stages (skipped stages need nothing) and their union. */
typedef struct run_needs {
  lbbt_task_needs stage[LBBT_MAX_STAGES];
  lbbt_task_needs all; /* what the runner prepares for the run */
} run_needs;

/* lbbt_targets (plugin.h) and lbbt_target_kind (dataset.h) number the kinds alike. */
_Static_assert((int)LBBT_TARGETS_CLASS == (int)LBBT_TARGET_CLASS && (int)LBBT_TARGETS_BOXES == (int)LBBT_TARGET_BOXES &&
                   (int)LBBT_TARGETS_MASK == (int)LBBT_TARGET_MASK && (int)LBBT_TARGETS_NONE == (int)LBBT_TARGET_NONE,
               "lbbt_targets and lbbt_target_kind disagree");

static lbbt_status fail_run(const lbbt_experiment *e, int r, const char *what, const char *stage,
                            const char *plugin) {
  return lbbt_fail(LBBT_E_INPUT, "%s: run %d (%s): stage '%s' (%s) %s", e->file, r + 1, e->runs[r].label, stage,
                   plugin, what);
}

static lbbt_status run_needs_of(const lbbt_experiment *e, int r, lbbt_registry *reg, run_needs *out) {
  const lbbt_run_spec *run = &e->runs[r];
  memset(out, 0, sizeof *out);
  const char *vision_from = NULL, *language_from = NULL;
  for (int k = 0; k < run->n_stages; k++) {
    const lbbt_stage_spec *s = &run->stages[k];
    if (s->skip) continue;
    const char *kind;
    const lbbt_task_ops *ops = stage_plugin(reg, s, &kind);
    const char *name = s->task[0] ? s->task : s->analysis;
    lbbt_task_needs *n = &out->stage[k];
    LBBT_TRY(lbbt_task_needs_of(ops, s, n));
    if (n->what & LBBT_NEED_VISION_MODEL) {
      if (vision_from && out->all.outputs != n->outputs)
        return fail_run(e, r, "needs a vision model with other outputs than an earlier stage's; the stages of a "
                        "run share one model", s->name, name);
      vision_from = s->name;
      out->all.outputs = n->outputs;
    }
    if (n->what & LBBT_NEED_LANGUAGE_MODEL) language_from = s->name;
    if (vision_from && language_from)
      return fail_run(e, r, "needs a vision and a language model in one run; the stages of a run share one "
                      "model: split them into two experiments", s->name, name);
    if ((n->what & LBBT_NEED_IMAGE_DATA) && n->targets != LBBT_TARGETS_NONE && run->data.dataset[0] &&
        (lbbt_target_kind)n->targets != lbbt_dataset_target_of(run->data.dataset)) {
      char why[256];
      snprintf(why, sizeof why, "needs images with %s targets, but dataset '%s' carries %s",
               lbbt_target_kind_name((lbbt_target_kind)n->targets), run->data.dataset,
               lbbt_target_kind_name(lbbt_dataset_target_of(run->data.dataset)));
      return fail_run(e, r, why, s->name, name);
    }
    if ((n->what & (LBBT_NEED_VISION_MODEL | LBBT_NEED_BLOCK_STACK | LBBT_NEED_LANGUAGE_MODEL)) &&
        !run->backbone.plugin[0])
      return fail_run(e, r, "needs a backbone: write backbone.plugin (`lbbt plugins` lists them)", s->name, name);
    if ((n->what & LBBT_NEED_IMAGE_DATA) && !run->data.dataset[0])
      return fail_run(e, r, "needs images: write data.dataset", s->name, name);
    out->all.what |= n->what;
  }
  return LBBT_OK;
}

lbbt_status lbbt_experiment_check_plugins(const lbbt_experiment *e, lbbt_registry *reg) {
  for (int r = 0; r < e->n_runs; r++) {
    const lbbt_run_spec *run = &e->runs[r];
    LBBT_TRY(lbbt_dataset_check_options(&run->data, e->file));
    for (int k = 0; k < run->n_stages; k++) {
      const lbbt_stage_spec *s = &run->stages[k];
      const char *kind;
      const lbbt_task_ops *ops = stage_plugin(reg, s, &kind);
      if (!ops)
        return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': %s plugin '%s' is not installed (see `lbbt plugins`)",
                         e->file, s->name, kind, s->task[0] ? s->task : s->analysis);
      const lbbt_plugin *p = lbbt_registry_find(reg, s->task[0] ? LBBT_KIND_TASK : LBBT_KIND_ANALYSIS,
                                                s->task[0] ? s->task : s->analysis);
      if (p->options && !lbbt_stage_options(s))
        return lbbt_fail(LBBT_E_INTERNAL, "%s: stage '%s': the experiment was loaded without the plugin "
                         "registry, so %s's keys are not bound (load it with lbbt_experiment_load_with)",
                         e->file, s->name, p->name);
      if (ops->validate) LBBT_TRY(ops->validate(s, e->file));
    }
    run_needs needs;
    LBBT_TRY(run_needs_of(e, r, reg, &needs));
    const unsigned model = LBBT_NEED_VISION_MODEL | LBBT_NEED_BLOCK_STACK | LBBT_NEED_LANGUAGE_MODEL;
    if (!(needs.all.what & model)) continue; /* the backbone, if written, is not used */
    const lbbt_plugin *bp = lbbt_registry_find(reg, LBBT_KIND_BACKBONE, run->backbone.plugin);
    if (!bp)
      return lbbt_fail(LBBT_E_INPUT, "%s: backbone plugin '%s' is not installed (see `lbbt plugins`)",
                       e->file, run->backbone.plugin);
    if ((needs.all.what & LBBT_NEED_BLOCK_STACK) && !bp->backbone->create_blocks)
      return lbbt_fail(LBBT_E_INPUT, "%s: run %d (%s): a stage borrows blocks from backbone plugin '%s', which "
                       "lends none (no create_blocks)", e->file, r + 1, run->label, run->backbone.plugin);
    if ((needs.all.what & LBBT_NEED_LANGUAGE_MODEL) && (!bp->backbone->load_language || !run->backbone.checkpoint[0]))
      return lbbt_fail(LBBT_E_INPUT, "%s: run %d (%s): a stage needs a language model: backbone plugin '%s' must "
                       "read one (load_language) from backbone.checkpoint", e->file, r + 1, run->label,
                       run->backbone.plugin);
  }
  return LBBT_OK;
}

/* Datasets are loaded once and reused by every run with the same data section. */
typedef struct data_cache {
  lbbt_data_spec spec;
  lbbt_dataset *train, *test;
  int valid;
} data_cache;

static lbbt_status data_get(data_cache *c, const lbbt_data_spec *spec, lbbt_progress *pr) {
  if (c->valid && !memcmp(&c->spec, spec, sizeof *spec)) return LBBT_OK;
  lbbt_dataset_free(c->train);
  lbbt_dataset_free(c->test);
  c->train = c->test = NULL;
  c->valid = 0;
  LBBT_TRY(lbbt_dataset_open(spec, 1, &c->train));
  LBBT_TRY(lbbt_dataset_open(spec, 0, &c->test));
  lbbt_progress_log(pr, "data: %s", c->train->source);
  lbbt_progress_log(pr, "data: %s", c->test->source);
  c->spec = *spec;
  c->valid = 1;
  return LBBT_OK;
}

/* Checkpoint fingerprints (lbbt_checkpoint_fingerprint), one per distinct path of the
 * experiment, so a 1.4 GB checkpoint shared by 30 runs is hashed once per `lbbt run`. */
#define FINGERPRINT_CACHE_SIZE 8
typedef struct fingerprint_cache {
  int n;
  char path[FINGERPRINT_CACHE_SIZE][LBBT_PATH_MAX];
  char hex[FINGERPRINT_CACHE_SIZE][65];
} fingerprint_cache;

static lbbt_status fingerprint_of(fingerprint_cache *c, const char *path, const char **hex) {
  for (int i = 0; i < c->n; i++)
    if (!strcmp(c->path[i], path)) {
      *hex = c->hex[i];
      return LBBT_OK;
    }
  int slot = c->n < FINGERPRINT_CACHE_SIZE ? c->n++ : FINGERPRINT_CACHE_SIZE - 1; /* full: reuse the last */
  snprintf(c->path[slot], sizeof c->path[slot], "%s", path);
  lbbt_status st = lbbt_checkpoint_fingerprint(path, c->hex[slot]);
  if (st != LBBT_OK) {
    c->path[slot][0] = 0;
    return lbbt_fail_context(st, "fingerprinting the checkpoint %s", path);
  }
  *hex = c->hex[slot];
  return LBBT_OK;
}

/* A complete run stays complete only while its checkpoint has the bytes it ran from: a run
 * recorded from another model at the same path (`make models` retrained it) runs again.
 * Runs recorded before lbbt kept fingerprints have none and are taken as they are. */
static lbbt_status still_current(const char *results_path, const lbbt_run_spec *run, const char *sha,
                                 lbbt_progress *pr, int i, int n_runs, int *present) {
  char *recorded = NULL;
  LBBT_TRY(lbbt_results_run_string(results_path, run->id, "model/checkpoint_sha256", &recorded));
  if (recorded && strcmp(recorded, sha)) {
    lbbt_progress_log(pr, "run %d/%d %s [%s]: its checkpoint %s changed since it ran (sha256 %.12s... then, "
                      "%.12s... now): running it again", i + 1, n_runs, run->id, run->label,
                      run->backbone.checkpoint, recorded, sha[0] ? sha : "(none)");
    *present = 0;
  }
  free(recorded);
  return LBBT_OK;
}

/* Restore the longest prefix of the run's stages another run stored (stage_cache.h):
 * *found = 1 with *done_stage the last stage it covers. */
static lbbt_status restore_shared_stages(lbbt_stage_ctx *ctx, const lbbt_task_needs *needs, const char *cache_root,
                                         const char *checkpoint_sha256, lbbt_progress *pr,
                                         int *found, int *done_stage) {
  const lbbt_run_spec *run = ctx->run;
  *found = 0;
  for (int k = run->n_stages - 2; k >= 0; k--) {
    if (!stage_cache_applies(run, k, &needs[k])) continue;
    char dir[LBBT_PATH_MAX + 96];
    LBBT_TRY(stage_cache_entry(cache_root, run, k, checkpoint_sha256, dir, sizeof dir));
    LBBT_TRY(stage_cache_load(ctx, dir, found));
    if (*found) {
      *done_stage = k;
      lbbt_progress_log(pr, "run %d/%d %s [%s]: stages up to '%s' restored from an identical run's "
                        "(%s)", ctx->run_index + 1, ctx->n_runs, run->id, run->label,
                        run->stages[k].name, dir);
      return LBBT_OK;
    }
  }
  return LBBT_OK;
}

static lbbt_status run_one(const lbbt_experiment *e, int ri, const lbbt_run_options *o,
                           lbbt_registry *reg, data_cache *dc, lbbt_progress *pr,
                           const char *results_path, const char *partial_root,
                           const char *checkpoint_sha256, const char *stage_cache_root,
                           int *diverged) {
  const lbbt_run_spec *run = &e->runs[ri];
  run_needs needs;
  LBBT_TRY(run_needs_of(e, ri, reg, &needs));
  const unsigned what = needs.all.what;
  if (what & LBBT_NEED_IMAGE_DATA) LBBT_TRY(data_get(dc, &run->data, pr));
  const lbbt_plugin *bp = lbbt_registry_find(reg, LBBT_KIND_BACKBONE, run->backbone.plugin);
  lbbt_stage_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.version = LBBT_STAGE_CTX_VERSION;
  ctx.exp = e;
  ctx.run = run;
  ctx.run_index = ri;
  ctx.n_runs = e->n_runs;
  ctx.registry = reg;
  if (what & LBBT_NEED_IMAGE_DATA) {
    ctx.train = dc->train;
    ctx.test = dc->test;
  }
  ctx.progress = pr;
  ctx.threads = o->threads;
  ctx.interrupted = &g_interrupted;
  snprintf(ctx.partial_dir, sizeof ctx.partial_dir, "%s/%s", partial_root, run->id);
  LBBT_TRY(lbbt_make_dirs(ctx.partial_dir));
  const uint64_t init_seed = run->seed + (uint64_t)run->backbone.init_seed_offset;
  lbbt_status st = LBBT_OK;
  if (what & LBBT_NEED_VISION_MODEL)
    st = bp->backbone->create_vision(&run->backbone, dc->train->channels, dc->train->height,
                                     needs.all.outputs ? needs.all.outputs : dc->train->num_classes, init_seed,
                                     &ctx.model);
  else if (what & LBBT_NEED_LANGUAGE_MODEL)
    st = bp->backbone->load_language(run->backbone.checkpoint, &ctx.model);
  if (st != LBBT_OK) return lbbt_fail_context(st, "run %s (%s): building the %s backbone", run->id, run->label, run->backbone.plugin);
  st = lbbt_record_create(&ctx.record);
  if (st != LBBT_OK) goto done;
  if (ctx.train) {
    lbbt_record_string(ctx.record, "data/train", dc->train->source);
    lbbt_record_string(ctx.record, "data/test", dc->test->source);
  }
  if (ctx.model) {
    lbbt_record_scalar(ctx.record, "model/params", (double)lbbt_model_numel(ctx.model, 0));
    /* the architecture's size, for tables that name it (a checkpoint's size is not in the config) */
    lbbt_record_scalar(ctx.record, "model/dim", (double)ctx.model->dim);
    lbbt_record_scalar(ctx.record, "model/n_layers", (double)ctx.model->n_layers);
    lbbt_record_string(ctx.record, "model/source", ctx.model->source);
    lbbt_record_string(ctx.record, "model/init", lbbt_init_mode_name(run->backbone.init));
    lbbt_record_scalar(ctx.record, "model/init_seed", (double)init_seed);
  }
  if (checkpoint_sha256[0]) {
    lbbt_record_string(ctx.record, "model/checkpoint", run->backbone.checkpoint);
    lbbt_record_string(ctx.record, "model/checkpoint_sha256", checkpoint_sha256);
  }
  int found = 0, done_stage = 0, stage_done = 0;
  /* lbbt_checkpoint_restore_run reads ctx.stage->name only through the record; set stage 0 */
  ctx.stage = &run->stages[0];
  st = lbbt_checkpoint_restore_run(&ctx, &found, &done_stage, &stage_done);
  if (st != LBBT_OK) goto done;
  if (found && checkpoint_sha256[0]) {
    /* a partial run continues only on the checkpoint it started from */
    const char *then = NULL;
    if (lbbt_record_get_string(ctx.record, "model/checkpoint_sha256", &then) == LBBT_OK && then &&
        strcmp(then, checkpoint_sha256)) {
      st = lbbt_fail(LBBT_E_INPUT,
                     "run %s (%s): its partial state in %s was made from %s with sha256 %.12s..., which "
                     "now has sha256 %.12s...; remove %s to start the run over on the new checkpoint",
                     run->id, run->label, ctx.partial_dir, run->backbone.checkpoint, then,
                     checkpoint_sha256, ctx.partial_dir);
      goto done;
    }
  }
  if (found)
    lbbt_progress_log(pr, "run %d/%d %s: resuming from its checkpoint (stage %d%s)", ri + 1, e->n_runs,
                      run->id, done_stage + 1, stage_done ? ", finished" : "");
  else if (stage_cache_root) {
    st = restore_shared_stages(&ctx, needs.stage, stage_cache_root, checkpoint_sha256, pr, &found, &done_stage);
    if (st != LBBT_OK) goto done;
    stage_done = 1;
  }
  for (int k = 0; k < run->n_stages; k++) {
    if (found && (k < done_stage || (k == done_stage && stage_done))) continue;
    ctx.stage = &run->stages[k];
    ctx.stage_index = k;
    if (ctx.stage->skip) {
      lbbt_progress_log(pr, "run %d/%d %s [%s]: stage %s skipped (skip: true)", ri + 1, e->n_runs,
                        run->id, run->label, ctx.stage->name);
      st = lbbt_stage_scalar(&ctx, "skipped", 1.0);
      if (st != LBBT_OK) goto done;
      continue;
    }
    const char *kind;
    const lbbt_task_ops *ops = stage_plugin(reg, ctx.stage, &kind);
    lbbt_progress_log(pr, "run %d/%d %s [%s]: stage %s (%s %s)", ri + 1, e->n_runs, run->id, run->label,
                      ctx.stage->name, kind, ctx.stage->task[0] ? ctx.stage->task : ctx.stage->analysis);
    st = ops->run(&ctx);
    if (st == LBBT_E_NUMERIC) { /* diverged: recorded, and the experiment goes on */
      char reason[1024];
      snprintf(reason, sizeof reason, "%s", lbbt_last_error());
      lbbt_progress_log(pr, "run %d/%d %s [%s]: diverged in stage %s: %s", ri + 1, e->n_runs, run->id,
                        run->label, ctx.stage->name, reason);
      st = divergence_mark(ctx.record, ctx.stage->name, reason);
      if (st != LBBT_OK) goto done;
      *diverged = 1;
      break;
    }
    if (st != LBBT_OK) {
      st = lbbt_fail_context(st, "run %s (%s), stage '%s'", run->id, run->label, ctx.stage->name);
      goto done;
    }
    st = lbbt_checkpoint_save(&ctx, NULL, 0, 1, NULL, NULL, 0);
    if (st != LBBT_OK) goto done;
    /* data-parallel ranks (lbbt/dist.h): rank 0 alone writes */
    if (stage_cache_root && stage_cache_applies(run, k, &needs.stage[k]) && lbbt_dist_rank() == 0) {
      char dir[LBBT_PATH_MAX + 96];
      st = stage_cache_entry(stage_cache_root, run, k, checkpoint_sha256, dir, sizeof dir);
      if (st == LBBT_OK) st = stage_cache_save(&ctx, dir);
      if (st != LBBT_OK) goto done;
    }
  }
  char stage[LBBT_NAME_MAX], why[512];
  if (!*diverged && divergence_find_nonfinite(ctx.record, stage, sizeof stage, why, sizeof why)) {
    lbbt_progress_log(pr, "run %d/%d %s [%s]: diverged: %s", ri + 1, e->n_runs, run->id, run->label, why);
    st = divergence_mark(ctx.record, stage, why);
    if (st != LBBT_OK) goto done;
    *diverged = 1;
  }
  if (lbbt_dist_rank() == 0) {
    st = lbbt_results_commit_run(results_path, e, run, ctx.record, o->threads);
    if (st == LBBT_OK) lbbt_remove_tree(ctx.partial_dir);
  }
  /* every rank sees what rank 0 wrote (results, stored stages) before the next run */
  if (st == LBBT_OK) st = lbbt_dist_barrier();
done:
  lbbt_record_free(ctx.record);
  lbbt_model_free(ctx.model);
  return st;
}

lbbt_status lbbt_run_experiment(const lbbt_run_options *o, lbbt_registry *reg) {
  lbbt_experiment *e = NULL;
  LBBT_TRY(lbbt_experiment_load_with(o->experiment_path, o->tier, 0, reg, &e));
  lbbt_status st = lbbt_experiment_check_plugins(e, reg);
  char results_path[LBBT_PATH_MAX], partial_root[LBBT_PATH_MAX + 16];
  if (o->results_path)
    snprintf(results_path, sizeof results_path, "%s", o->results_path);
  else
    lbbt_results_default_path(e->name, e->tier, results_path, sizeof results_path);
  snprintf(partial_root, sizeof partial_root, "%s.partial", results_path);
  char stage_root[LBBT_PATH_MAX + 16];
  snprintf(stage_root, sizeof stage_root, "%s.stages", results_path);
  lbbt_progress *pr = NULL;
  data_cache dc;
  memset(&dc, 0, sizeof dc);
  /* data-parallel ranks other than 0 train in step with it, silently */
  FILE *quiet = lbbt_dist_rank() ? fopen("/dev/null", "w") : NULL;
  if (st == LBBT_OK) st = lbbt_progress_create(&pr, quiet ? quiet : stderr, e->name, e->n_runs);
  if (st == LBBT_OK) {
    char dir[LBBT_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", results_path);
    char *slash = strrchr(dir, '/');
    if (slash) {
      *slash = 0;
      st = lbbt_make_dirs(dir);
    }
  }
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C stops at once */
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  g_interrupted = 0;
  int done = 0, skipped = 0, n_diverged = 0;
  /* A sweep task (o->only_run) computes one run into its own file, commit_path; the table's
   * file stays results_path (see lbbt/sweep.h). */
  char run_file[LBBT_PATH_MAX + 96];
  const char *commit_path = results_path;
  int only = -1;
  if (st == LBBT_OK && o->only_run) {
    for (int i = 0; i < e->n_runs; i++)
      if (!strcmp(e->runs[i].id, o->only_run)) only = i;
    if (only < 0)
      st = lbbt_fail(LBBT_E_INPUT, "%s: no run %s at tier %s (`lbbt check %s --tier %s` lists its runs)",
                     e->file, o->only_run, e->tier, e->file, e->tier);
    lbbt_sweep_runs_dir(results_path, run_file, sizeof run_file);
    if (st == LBBT_OK) st = lbbt_make_dirs(run_file);
    lbbt_sweep_run_path(results_path, o->only_run, run_file, sizeof run_file);
    commit_path = run_file;
  }
  /* One writer per results file, checked writable before computing: the file this process
   * commits to (a sweep task's own run file, so that the tasks of one sweep run side by
   * side).  Only rank 0 writes (lbbt/dist.h), so only rank 0 holds the lock: under mpirun
   * the other ranks would otherwise be refused as a second writer and leave rank 0 waiting
   * in a collective. */
  int lock_fd = -1;
  if (st == LBBT_OK && !o->dry_run && lbbt_dist_rank() == 0) st = results_lock_acquire(commit_path, &lock_fd);
  if (st == LBBT_OK)
    lbbt_progress_log(pr, "%s (tier %s): %d runs -> %s", e->file, e->tier, only >= 0 ? 1 : e->n_runs, commit_path);
  fingerprint_cache fc;
  memset(&fc, 0, sizeof fc);
  run_reuse *reuse = NULL;
  int reused = 0;
  if (st == LBBT_OK) st = run_reuse_create(results_path, &reuse);
  for (int i = 0; st == LBBT_OK && i < e->n_runs; i++) {
    if (only >= 0 && i != only) continue;
    int present = 0;
    const char *sha = "", *where = results_path;
    st = lbbt_results_has_run(results_path, e->runs[i].id, &present);
    if (st == LBBT_OK) st = fingerprint_of(&fc, e->runs[i].backbone.checkpoint, &sha);
    if (st == LBBT_OK && present) st = still_current(results_path, &e->runs[i], sha, pr, i, e->n_runs, &present);
    /* a sweep task's run may be complete in its own file, not yet merged */
    if (st == LBBT_OK && !present && only >= 0) {
      st = lbbt_results_has_run(commit_path, e->runs[i].id, &present);
      if (st == LBBT_OK && present) st = still_current(commit_path, &e->runs[i], sha, pr, i, e->n_runs, &present);
      where = commit_path;
    }
    if (st != LBBT_OK) break;
    if (present) {
      skipped++;
      lbbt_progress_log(pr, "run %d/%d %s [%s]: complete in %s, skipped", i + 1, e->n_runs,
                        e->runs[i].id, e->runs[i].label, where);
      continue;
    }
    lbbt_result_run *shared = NULL;
    const char *from = NULL;
    if (!o->no_reuse) st = run_reuse_find(reuse, e->runs[i].id, sha, &shared, &from);
    if (st != LBBT_OK) break;
    if (shared) {
      lbbt_progress_log(pr, "run %d/%d %s [%s]: complete in %s (the same config and checkpoint)%s",
                        i + 1, e->n_runs, e->runs[i].id, e->runs[i].label, from,
                        o->dry_run ? ", to copy" : ", copied");
      if (!o->dry_run && lbbt_dist_rank() == 0)
        st = lbbt_results_commit_run(commit_path, e, &e->runs[i], shared->record, o->threads);
      if (!o->dry_run && st == LBBT_OK) st = lbbt_dist_barrier();
      if (st == LBBT_OK) reused++;
      continue;
    }
    if (o->dry_run) {
      lbbt_progress_log(pr, "run %d/%d %s [%s]: to run", i + 1, e->n_runs, e->runs[i].id, e->runs[i].label);
      continue;
    }
    int diverged = 0;
    st = run_one(e, i, o, reg, &dc, pr, commit_path, partial_root, sha, o->no_reuse ? NULL : stage_root,
                 &diverged);
    if (st == LBBT_OK) done++, n_diverged += diverged;
  }
  run_reuse_free(reuse);
  /* every run complete: the stored stages have served (a sweep's merge removes them: other
   * tasks may still be using them) */
  if (st == LBBT_OK && !o->dry_run && only < 0 && lbbt_dist_rank() == 0) lbbt_remove_tree(stage_root);
  if (st == LBBT_OK) {
    if (reused)
      lbbt_progress_log(pr, "%s: %d runs copied from other results files", e->name, reused);
    lbbt_progress_log(pr, "%s: %d runs done now, %d already complete", e->name, done, skipped);
    if (n_diverged)
      lbbt_progress_log(pr, "%s: %d of the runs done now diverged (recorded as \"diverged\"; tables "
                        "show them so)", e->name, n_diverged);
    if (only < 0) rmdir(partial_root); /* only when empty (a sweep's merge does it) */
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  results_lock_release(commit_path, lock_fd);
  lbbt_dataset_free(dc.train);
  lbbt_dataset_free(dc.test);
  lbbt_progress_free(pr);
  if (quiet) fclose(quiet);
  lbbt_experiment_free(e);
  return st;
}
