/* Task plugin `classification`: train a vision model on images with true or random labels
 * (the paper's bridge training, Eq. 3), fully or partially (train_layers: first:K, last:K,
 * all, none), with AdamW (or SGD), cosine schedule with warm-up, gradient clipping and
 * drop-path, as in Section 6.
 *
 * Per epoch it appends to the run record under "<stage>/":
 *   train_loss, train_acc1   running mean over the epoch's batches, against the labels
 *                            trained on (random ones under labels: random), in training
 *                            mode (drop-path on), as training logs usually report it
 *   test_loss, test_acc1     the test set with TRUE labels, eval mode
 *   lr, grad_norm            the last step's learning rate and pre-clip gradient norm
 *   images_per_s, seconds    training throughput and the epoch's wall time
 * and once: label_mode, label_ratio, corrupted (int32 indices of replaced labels),
 * trainable_params, epochs.  Accuracies are in percent.
 *
 * lr_sweep: per-arm (fair comparisons, beyond the paper): before training, each arm picks
 * its own learning rate from lr_grid (default "0.0003,0.001,0.003") by training a
 * copy for sweep_epochs (default max(1, epochs/4)) on (1 - sweep_holdout)
 * of the training images (default holdout 0.2).  Criterion: with true labels, accuracy on
 * the held-out images; with random labels, accuracy on the labels trained on (the fit,
 * since held-out accuracy against random labels is chance by construction).  Records
 * sweep_lr, sweep_score (arrays) and chosen_lr; then trains as usual with chosen_lr. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbbt/dist.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"
#include "lbbt/train.h"
#include "lbbt/train_loop.h"
#include "shared/top1.h"

#define EVAL_BATCH 256
#define MAX_GRID 16

/* ---- options --------------------------------------------------------------------------- */
typedef struct class_options {
  int labels;             /* lbbt_label_mode */
  double label_ratio;
  double label_smoothing;
  char lr_sweep[16];      /* "" or "per-arm" */
  char lr_grid[LBBT_PATH_MAX];
  int sweep_epochs;       /* 0: max(1, epochs / 4) */
  double sweep_holdout;
} class_options;

#define O class_options
static const char *const LABEL_NAMES[] = {"true", "random"};
static const char *const LR_SWEEP_NAMES[] = {"", "per-arm"};
static const lbbt_key KEYS[] = {
    {.name = "labels", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(O, labels), .def = "true", LBBT_KEY_NAMES(LABEL_NAMES),
     .doc = "true labels, or random labels for a fraction label_ratio of the images"},
    {.name = "label_ratio", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, label_ratio), .def = "1.0",
     LBBT_KEY_RANGE(0, 1), .doc = "fraction of labels replaced by random ones when labels is random"},
    {.name = "label_smoothing", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, label_smoothing), .def = "0",
     LBBT_KEY_RANGE(0, 1), .flags = LBBT_KEY_MAX_EXCLUSIVE, .doc = "cross-entropy label smoothing"},
    {.name = "lr_sweep", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, lr_sweep), .def = "",
     LBBT_KEY_NAMES(LR_SWEEP_NAMES), .doc = "per-arm: pick the best learning rate per matrix arm (\"\" = off)"},
    {.name = "lr_grid", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, lr_grid), .def = "0.0003,0.001,0.003",
     .doc = "lr_sweep's learning rates, comma-separated (at most 16)"},
    {.name = "sweep_epochs", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, sweep_epochs), .def = "0",
     LBBT_KEY_RANGE(0, 1000000), .doc = "lr_sweep's epochs per rate; 0 = max(1, epochs / 4)"},
    {.name = "sweep_holdout", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, sweep_holdout), .def = "0.2",
     LBBT_KEY_RANGE(0, 1), .flags = LBBT_KEY_MIN_EXCLUSIVE | LBBT_KEY_MAX_EXCLUSIVE,
     .doc = "lr_sweep's share of the training images held out to score each rate"},
};
#undef O
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(class_options, KEYS, "Labels, label smoothing and the per-arm learning-rate sweep.");

static const class_options *opts(const lbbt_stage_spec *s) { return lbbt_stage_options(s); }

/* lr_grid as numbers; LBBT_E_INPUT naming the option on bad text. */
static lbbt_status parse_grid(const lbbt_stage_spec *s, const char *file, double *grid, int *n) {
  const lbbt_option *o = lbbt_option_find(s->options, s->n_options, "lr_grid");
  const char *text = opts(s)->lr_grid;
  char buf[LBBT_PATH_MAX];
  snprintf(buf, sizeof buf, "%s", text);
  *n = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    char *end;
    double v = strtod(tok, &end);
    if (*end || !(v > 0) || *n == MAX_GRID)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': lr_grid wants up to %d positive numbers "
                       "separated by commas, got '%s'", file, o ? o->line : 0, o ? o->col : 0, s->name,
                       MAX_GRID, text);
    grid[(*n)++] = v;
  }
  if (*n == 0) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': lr_grid is empty", file, s->name);
  return LBBT_OK;
}

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  if (s->batch_size < 1)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': batch_size must be >= 1", file, s->name);
  double grid[MAX_GRID];
  int n;
  if (!strcmp(opts(s)->lr_sweep, "per-arm")) LBBT_TRY(parse_grid(s, file, grid, &n));
  return LBBT_OK;
}

/* The labels this stage trains on, and the record of which were replaced. */
static lbbt_status make_labels(lbbt_stage_ctx *ctx, int32_t *labels) {
  const lbbt_stage_spec *s = ctx->stage;
  const class_options *o = opts(s);
  const lbbt_dataset *ds = ctx->train;
  if (o->labels == LBBT_LABELS_TRUE) {
    memcpy(labels, ds->labels, (size_t)ds->n * sizeof *labels);
    return lbbt_stage_string(ctx, "label_mode", "true");
  }
  uint8_t *corrupted = calloc((size_t)ds->n, 1);
  int32_t *idx = malloc((size_t)ds->n * sizeof *idx);
  lbbt_status st = corrupted && idx ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "classification: out of memory");
  /* The corruption depends on the run seed: each seed sees its own random labels. */
  if (st == LBBT_OK)
    st = lbbt_labels_for_mode(ds, (lbbt_label_mode)o->labels, o->label_ratio,
                              lbbt_label_seed(ctx->run->seed, s->name), labels, corrupted);
  int64_t m = 0;
  for (int64_t i = 0; st == LBBT_OK && i < ds->n; i++)
    if (corrupted[i]) idx[m++] = (int32_t)i;
  if (st == LBBT_OK)
    st = lbbt_stage_string(ctx, "label_mode", "random");
  if (st == LBBT_OK)
    st = lbbt_stage_scalar(ctx, "label_ratio", o->label_ratio);
  int64_t shape[1] = {m};
  if (st == LBBT_OK && m > 0)
    st = lbbt_stage_array_i32(ctx, "corrupted", 1, shape, idx);
  free(corrupted);
  free(idx);
  return st;
}

/* One training job: `epochs` epochs on `ds` with `labels` at peak learning rate `lr`.
 * The main job records every epoch and checkpoints; sweep trials do neither. */
typedef struct train_job {
  const lbbt_dataset *ds;
  const int32_t *labels;   /* [ds->n], the labels trained on */
  int epochs;
  double lr;
  int main_job;            /* record series, evaluate on ctx->test, checkpoint, resume */
  double final_fit;        /* out: last epoch's running train accuracy (%) */
} train_job;

/* The training loop's view of a job (train_loop.h callbacks). */
typedef struct job_state {
  lbbt_stage_ctx *ctx;
  train_job *job;
  lbbt_batcher *batcher;
  lbbt_optim *opt;
  float *images;
  int32_t *labels;
  int64_t correct, seen;   /* this epoch's running top-1 against the labels trained on */
} job_state;

static lbbt_status begin_epoch(void *user, int epoch) {
  job_state *j = user;
  lbbt_batcher_start_epoch(j->batcher, epoch);
  j->correct = j->seen = 0;
  return LBBT_OK;
}

/* Cross-entropy (with the stage's label smoothing) of one shuffled, augmented batch;
 * drop-path draws from a stream derived from the run seed and the step. */
static lbbt_status batch_loss(void *user, lbbt_tape *tape, int64_t step, lbbt_train_batch *out) {
  job_state *j = user;
  lbbt_stage_ctx *ctx = j->ctx;
  const lbbt_dataset *ds = j->job->ds;
  lbbt_model *m = ctx->model;
  int64_t b = step % lbbt_batcher_num_batches(j->batcher); /* the batch within the epoch */
  int count = 0;
  LBBT_TRY(lbbt_batcher_get(j->batcher, b, j->images, j->labels, NULL, &count));
  /* data parallelism: this rank's samples [lo, lo + n) of the batch (all of it alone) */
  int64_t lo, hi;
  lbbt_train_shard(tape, count, out, &lo, &hi);
  const int n = (int)(hi - lo);
  if (n == 0) return LBBT_OK; /* more ranks than samples: this one only joins the allreduce */
  const float *images = j->images + lo * lbbt_dataset_image_numel(ds);
  const int32_t *labels = j->labels + lo;
  lbbt_rng_derive(lbbt_tape_rng(tape), ctx->run->seed, "drop-path", (uint64_t)step);
  lbbt_tensor *x, *logits;
  int64_t shape[4] = {n, ds->channels, ds->height, ds->width};
  LBBT_TRY(lbbt_tape_input(tape, 4, shape, images, &x));
  LBBT_TRY(m->ops->forward_vision(m, tape, x, NULL, &logits));
  LBBT_TRY(lbbt_cross_entropy(tape, logits, labels, (float)opts(ctx->stage)->label_smoothing, &out->loss));
  j->correct += top1_count_correct(logits, labels, n);
  j->seen += n;
  out->weight = n;
  out->items = n;
  out->progress_metric = (double)j->correct / (double)j->seen;
  return LBBT_OK;
}

static lbbt_status end_epoch(void *user, const lbbt_train_epoch *e) {
  job_state *j = user;
  lbbt_stage_ctx *ctx = j->ctx;
  double counts[2] = {(double)j->correct, (double)j->seen}; /* over every rank */
  LBBT_TRY(lbbt_dist_sum(counts, 2));
  double fit = counts[1] > 0 ? 100.0 * counts[0] / counts[1] : 0;
  j->job->final_fit = fit;
  if (!j->job->main_job) return LBBT_OK;
  double test_acc = 0, test_loss = 0, per_s = e->train_seconds > 0 ? (double)e->items / e->train_seconds : 0;
  LBBT_TRY(top1_evaluate(ctx->model, ctx->test, NULL, EVAL_BATCH, &test_acc, &test_loss));
  LBBT_TRY(lbbt_stage_append(ctx, "train_loss", e->mean_loss));
  LBBT_TRY(lbbt_stage_append(ctx, "train_acc1", fit));
  LBBT_TRY(lbbt_stage_append(ctx, "test_loss", test_loss));
  LBBT_TRY(lbbt_stage_append(ctx, "test_acc1", test_acc));
  LBBT_TRY(lbbt_stage_append(ctx, "lr", e->lr));
  LBBT_TRY(lbbt_stage_append(ctx, "grad_norm", e->grad_norm));
  LBBT_TRY(lbbt_stage_append(ctx, "images_per_s", per_s));
  LBBT_TRY(lbbt_stage_append(ctx, "seconds", lbbt_train_now() - e->started));
  if (lbbt_dist_size() > 1) /* data-parallel: the gradient allreduce's share (make bench-mpi) */
    LBBT_TRY(lbbt_stage_append(ctx, "allreduce_seconds", e->allreduce_seconds));
  lbbt_progress_log(ctx->progress,
                    "run %d/%d %s stage %s epoch %d/%d: train loss %.4f acc %.2f%%, test acc %.2f%%, "
                    "%.0f img/s",
                    ctx->run_index + 1, ctx->n_runs, ctx->run->id, ctx->stage->name, e->epoch + 1, e->epochs,
                    e->mean_loss, fit, test_acc, per_s);
  return LBBT_OK;
}

static lbbt_status train(lbbt_stage_ctx *ctx, train_job *job) {
  const lbbt_stage_spec *s = ctx->stage;
  const lbbt_dataset *ds = job->ds;
  job_state j = {ctx, job, NULL, NULL, NULL, NULL, 0, 0};
  lbbt_tape *tape = NULL;
  j.images = malloc((size_t)s->batch_size * (size_t)lbbt_dataset_image_numel(ds) * sizeof(float));
  j.labels = malloc((size_t)s->batch_size * sizeof *j.labels);
  lbbt_status st = j.images && j.labels ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "classification: out of memory");
  lbbt_optim_config oc;
  lbbt_optim_config_from_stage(&oc, s);
  oc.lr = job->lr;
  if (st == LBBT_OK) st = lbbt_optim_create_for_model(&j.opt, &oc, ctx->model);
  lbbt_batcher_config bc = {0};
  bc.batch_size = s->batch_size;
  bc.shuffle = 1;
  bc.crop_padding = ctx->run->data.crop_padding;
  bc.flip = ctx->run->data.flip;
  bc.seed = ctx->run->seed;
  bc.labels = job->labels;
  if (st == LBBT_OK) st = lbbt_batcher_create(ds, &bc, &j.batcher);
  if (st == LBBT_OK) st = lbbt_tape_create(&tape);
  if (st == LBBT_OK) {
    lbbt_train_loop loop = {0};
    loop.ctx = ctx;
    loop.opt = j.opt;
    loop.tape = tape;
    loop.epochs = job->epochs;
    loop.steps_per_epoch = lbbt_batcher_num_batches(j.batcher);
    loop.lr = job->lr;
    loop.warmup_epochs = s->warmup_epochs;
    loop.clip = s->clip;
    loop.checkpoint = job->main_job;
    loop.user = &j;
    loop.batch = batch_loss;
    loop.begin_epoch = begin_epoch;
    loop.end_epoch = end_epoch;
    st = lbbt_train_loop_run(&loop);
  }
  lbbt_optim_free(j.opt);
  lbbt_batcher_free(j.batcher);
  lbbt_tape_free(tape);
  free(j.images);
  free(j.labels);
  return st;
}

/* Copy every parameter's values (to restore the starting point between sweep trials). */
static float *snapshot(const lbbt_model *m) {
  float *buf = malloc((size_t)lbbt_model_numel(m, 0) * sizeof(float));
  if (!buf) return NULL;
  int64_t off = 0;
  for (int i = 0; i < m->n_params; i++) {
    memcpy(buf + off, m->params[i].t->data, (size_t)m->params[i].t->numel * sizeof(float));
    off += m->params[i].t->numel;
  }
  return buf;
}
static void restore(lbbt_model *m, const float *buf) {
  int64_t off = 0;
  for (int i = 0; i < m->n_params; i++) {
    memcpy(m->params[i].t->data, buf + off, (size_t)m->params[i].t->numel * sizeof(float));
    off += m->params[i].t->numel;
  }
}

/* The sweep's progress, so that a killed run does not score its rates again (issue 20: with
 * repeated kills the sweep made no progress): <partial_dir>/lr-sweep-<stage>.txt, one
 * "lr score" line per rate scored, in grid order, replaced atomically after each rate.  Each
 * rate's trial starts from the stage's starting point, which the run's checkpoint restores,
 * so a resumed sweep scores the remaining rates exactly as an uninterrupted one would.  The
 * partial folder goes when the run is committed. */
static void sweep_progress_path(const lbbt_stage_ctx *ctx, char *buf, size_t n) {
  snprintf(buf, n, "%s/lr-sweep-%s.txt", ctx->partial_dir, ctx->stage->name);
}

/* How many leading rates of grid the progress file scored (their scores into score). */
static int sweep_progress_read(const lbbt_stage_ctx *ctx, const double *grid, int n, double *score) {
  char path[LBBT_PATH_MAX + 64];
  sweep_progress_path(ctx, path, sizeof path);
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  int done = 0;
  double lr, sc;
  while (done < n && fscanf(f, "%lf %lf", &lr, &sc) == 2 && lr == grid[done] && isfinite(sc))
    score[done++] = sc;
  fclose(f);
  return done;
}

static lbbt_status sweep_progress_write(const lbbt_stage_ctx *ctx, const double *grid, const double *score, int done) {
  if (lbbt_dist_rank() != 0) return LBBT_OK; /* rank 0 writes, as it writes checkpoints */
  char path[LBBT_PATH_MAX + 64], tmp[LBBT_PATH_MAX + 80];
  sweep_progress_path(ctx, path, sizeof path);
  snprintf(tmp, sizeof tmp, "%s.new", path);
  FILE *f = fopen(tmp, "w");
  int ok = f != NULL;
  for (int i = 0; ok && i < done; i++) ok = fprintf(f, "%.17g %.17g\n", grid[i], score[i]) > 0;
  if (f && fclose(f) != 0) ok = 0;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return lbbt_fail(LBBT_E_IO, "lr sweep: cannot write its progress %s: %s", path, strerror(errno));
  }
  return LBBT_OK;
}

/* The per-arm learning-rate sweep; *chosen gets the winner. */
static lbbt_status sweep(lbbt_stage_ctx *ctx, const int32_t *labels, double *chosen) {
  const lbbt_stage_spec *s = ctx->stage;
  const lbbt_dataset *ds = ctx->train;
  double grid[MAX_GRID], score[MAX_GRID];
  int n;
  LBBT_TRY(parse_grid(s, ctx->exp->file, grid, &n));
  int epochs = opts(s)->sweep_epochs ? opts(s)->sweep_epochs : s->epochs / 4 > 1 ? s->epochs / 4 : 1;
  double holdout = opts(s)->sweep_holdout;
  int64_t n_hold = (int64_t)llround(holdout * (double)ds->n), n_fit = ds->n - n_hold;
  int32_t *perm = malloc((size_t)ds->n * sizeof *perm), *fit_labels = malloc((size_t)ds->n * sizeof *fit_labels);
  float *start = snapshot(ctx->model);
  lbbt_dataset *fit = NULL, *hold = NULL;
  lbbt_status st = perm && fit_labels && start ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "lr sweep: out of memory");
  if (st == LBBT_OK) {
    lbbt_rng r;
    lbbt_rng_derive(&r, ctx->run->seed, "lr-sweep-split", 0);
    for (int64_t i = 0; i < ds->n; i++) perm[i] = (int32_t)i;
    lbbt_rng_shuffle_i32(&r, perm, ds->n);
    for (int64_t i = 0; i < n_fit; i++) fit_labels[i] = labels[perm[i]];
    st = lbbt_dataset_subset(ds, perm, n_fit, &fit);
  }
  if (st == LBBT_OK) st = lbbt_dataset_subset(ds, perm + n_fit, n_hold, &hold);
  int done = st == LBBT_OK ? sweep_progress_read(ctx, grid, n, score) : 0;
  if (done)
    lbbt_progress_log(ctx->progress, "run %d/%d stage %s: lr sweep resumed: %d of %d rates already scored",
                      ctx->run_index + 1, ctx->n_runs, s->name, done, n);
  for (int i = done; st == LBBT_OK && i < n; i++) {
    restore(ctx->model, start);
    train_job job = {fit, fit_labels, epochs, grid[i], 0, 0.0};
    st = train(ctx, &job);
    if (st != LBBT_OK) break;
    if (opts(s)->labels == LBBT_LABELS_TRUE) {
      double loss;
      st = top1_evaluate(ctx->model, hold, NULL, EVAL_BATCH, &score[i], &loss);
    } else {
      score[i] = job.final_fit;
    }
    lbbt_progress_log(ctx->progress, "run %d/%d stage %s: lr sweep %g -> %s %.2f%%", ctx->run_index + 1,
                      ctx->n_runs, s->name, grid[i], opts(s)->labels == LBBT_LABELS_TRUE ? "held-out acc" : "fit",
                      score[i]);
    st = sweep_progress_write(ctx, grid, score, i + 1);
  }
  if (st == LBBT_OK) {
    int best = 0;
    for (int i = 1; i < n; i++)
      if (score[i] > score[best]) best = i;
    *chosen = grid[best];
    int64_t shape[1] = {n};
    float g32[MAX_GRID], s32[MAX_GRID];
    for (int i = 0; i < n; i++) {
      g32[i] = (float)grid[i];
      s32[i] = (float)score[i];
    }
    st = lbbt_stage_array_f32(ctx, "sweep_lr", 1, shape, g32);
    if (st == LBBT_OK)
      st = lbbt_stage_array_f32(ctx, "sweep_score", 1, shape, s32);
    if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "chosen_lr", *chosen);
    restore(ctx->model, start);
  }
  lbbt_dataset_free(fit);
  lbbt_dataset_free(hold);
  free(perm);
  free(fit_labels);
  free(start);
  return st;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  const lbbt_stage_spec *s = ctx->stage;
  lbbt_model *m = ctx->model;
  const lbbt_dataset *ds = ctx->train;
  char key[300];
  int32_t *labels = malloc((size_t)ds->n * sizeof *labels);
  if (!labels) return lbbt_fail(LBBT_E_NOMEM, "classification: out of memory");
  lbbt_status st = make_labels(ctx, labels);
  if (st == LBBT_OK) st = lbbt_model_select_trainable(m, &s->train_layers, s->train_embed, s->train_head);
  m->drop_path = (float)s->drop_path;
  if (st == LBBT_OK)
    st = lbbt_stage_scalar(ctx, "trainable_params", (double)lbbt_model_numel(m, 1));
  double lr = s->lr;
  if (st == LBBT_OK && !strcmp(opts(s)->lr_sweep, "per-arm")) {
    /* A resumed stage already chose (the record came back with the checkpoint). */
    if (lbbt_record_get_scalar(ctx->record, lbbt_stage_key(ctx, "chosen_lr", key, sizeof key), &lr) != LBBT_OK) {
      lbbt_clear_error();
      st = sweep(ctx, labels, &lr);
    }
  }
  if (st == LBBT_OK) {
    train_job job = {ds, labels, s->epochs, lr, 1, 0.0};
    st = train(ctx, &job);
  }
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "epochs", s->epochs);
  m->drop_path = 0;
  free(labels);
  return st;
}

/* A vision model with a head of the data's classes, images with class labels; the stage's
 * whole effect is the model and the record (the lr sweep included: its trials are seeded),
 * so identical first stages of runs may be shared. */
static lbbt_status needs(const lbbt_stage_spec *s, lbbt_task_needs *out) {
  (void)s;
  out->what = LBBT_NEED_VISION_MODEL | LBBT_NEED_IMAGE_DATA;
  out->targets = LBBT_TARGETS_CLASS;
  out->cacheable = 1;
  return LBBT_OK;
}

static const lbbt_task_ops TASK_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = validate,
    .run = run,
    .needs = needs,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_TASK,
    .name = "classification",
    .summary = "image classification with true or random labels (bridge training), full or partial",
    .task = &TASK_OPS,
    .options = &OPTIONS,
};
