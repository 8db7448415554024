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
 * its own learning rate from options.lr_grid (default "0.0003,0.001,0.003") by training a
 * copy for options.sweep_epochs (default max(1, epochs/4)) on (1 - options.sweep_holdout)
 * of the training images (default holdout 0.2).  Criterion: with true labels, accuracy on
 * the held-out images; with random labels, accuracy on the labels trained on (the fit,
 * since held-out accuracy against random labels is chance by construction).  Records
 * sweep_lr, sweep_score (arrays) and chosen_lr; then trains as usual with chosen_lr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lbbt/dist.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"
#include "lbbt/train.h"

#define EVAL_BATCH 256
#define MAX_GRID 16

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* options.lr_grid as numbers; LBBT_E_INPUT naming the option on bad text. */
static lbbt_status parse_grid(const lbbt_stage_spec *s, const char *file, double *grid, int *n) {
  const lbbt_option *o = lbbt_option_find(s->options, s->n_options, "lr_grid");
  const char *text = o ? o->value : "0.0003,0.001,0.003";
  char buf[LBBT_PATH_MAX];
  snprintf(buf, sizeof buf, "%s", text);
  *n = 0;
  for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok; tok = strtok_r(NULL, ", ", &save)) {
    char *end;
    double v = strtod(tok, &end);
    if (*end || !(v > 0) || *n == MAX_GRID)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': options.lr_grid wants up to %d positive numbers "
                       "separated by commas, got '%s'", file, o ? o->line : 0, o ? o->col : 0, s->name,
                       MAX_GRID, text);
    grid[(*n)++] = v;
  }
  if (*n == 0) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': options.lr_grid is empty", file, s->name);
  return LBBT_OK;
}

static double option_number(const lbbt_stage_spec *s, const char *key, double def) {
  const lbbt_option *o = lbbt_option_find(s->options, s->n_options, key);
  return o ? strtod(o->value, NULL) : def;
}

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  if (s->batch_size < 1)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': batch_size must be >= 1", file, s->name);
  for (int i = 0; i < s->n_options; i++) {
    const char *k = s->options[i].key;
    if (strcmp(k, "lr_grid") && strcmp(k, "sweep_epochs") && strcmp(k, "sweep_holdout"))
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': unknown option '%s' for task classification "
                       "(known: lr_grid, sweep_epochs, sweep_holdout)", file, s->options[i].line,
                       s->options[i].col, s->name, k);
  }
  double grid[MAX_GRID];
  int n;
  if (!strcmp(s->lr_sweep, "per-arm")) LBBT_TRY(parse_grid(s, file, grid, &n));
  double h = option_number(s, "sweep_holdout", 0.2);
  if (!(h > 0 && h < 1))
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': options.sweep_holdout must be in (0, 1)", file, s->name);
  return LBBT_OK;
}

/* The labels this stage trains on, and the record of which were replaced. */
static lbbt_status make_labels(lbbt_stage_ctx *ctx, int32_t *labels) {
  const lbbt_stage_spec *s = ctx->stage;
  const lbbt_dataset *ds = ctx->train;
  char key[300];
  if (s->labels == LBBT_LABELS_TRUE) {
    memcpy(labels, ds->labels, (size_t)ds->n * sizeof *labels);
    return lbbt_record_string(ctx->record, lbbt_stage_key(ctx, "label_mode", key, sizeof key), "true");
  }
  uint8_t *corrupted = calloc((size_t)ds->n, 1);
  int32_t *idx = malloc((size_t)ds->n * sizeof *idx);
  lbbt_status st = corrupted && idx ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "classification: out of memory");
  /* The corruption depends on the run seed: each seed sees its own random labels. */
  uint64_t seed = ctx->run->seed ^ lbbt_hash_str(s->name);
  if (st == LBBT_OK)
    st = lbbt_labels_randomize(ds->labels, ds->n, ds->num_classes, s->label_ratio, seed, labels,
                               corrupted);
  int64_t m = 0;
  for (int64_t i = 0; st == LBBT_OK && i < ds->n; i++)
    if (corrupted[i]) idx[m++] = (int32_t)i;
  if (st == LBBT_OK)
    st = lbbt_record_string(ctx->record, lbbt_stage_key(ctx, "label_mode", key, sizeof key), "random");
  if (st == LBBT_OK)
    st = lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "label_ratio", key, sizeof key), s->label_ratio);
  int64_t shape[1] = {m};
  if (st == LBBT_OK && m > 0)
    st = lbbt_record_array_i32(ctx->record, lbbt_stage_key(ctx, "corrupted", key, sizeof key), 1, shape, idx);
  free(corrupted);
  free(idx);
  return st;
}

static lbbt_status append(lbbt_stage_ctx *ctx, const char *name, double v) {
  char key[300];
  return lbbt_record_append(ctx->record, lbbt_stage_key(ctx, name, key, sizeof key), v);
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

static lbbt_status train(lbbt_stage_ctx *ctx, train_job *job) {
  const lbbt_stage_spec *s = ctx->stage;
  lbbt_model *m = ctx->model;
  const lbbt_dataset *ds = job->ds;
  lbbt_optim *opt = NULL;
  lbbt_batcher *batcher = NULL;
  lbbt_tape *tape = NULL;
  float *images = malloc((size_t)s->batch_size * (size_t)lbbt_dataset_image_numel(ds) * sizeof(float));
  int32_t *batch_labels = malloc((size_t)s->batch_size * sizeof *batch_labels);
  lbbt_status st = images && batch_labels ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "classification: out of memory");
  lbbt_optim_config oc;
  lbbt_optim_config_from_stage(&oc, s);
  oc.lr = job->lr;
  if (st == LBBT_OK) st = lbbt_optim_create_for_model(&opt, &oc, m);
  lbbt_batcher_config bc = {0};
  bc.batch_size = s->batch_size;
  bc.shuffle = 1;
  bc.crop_padding = ctx->run->data.crop_padding;
  bc.flip = ctx->run->data.flip;
  bc.seed = ctx->run->seed;
  bc.labels = job->labels;
  if (st == LBBT_OK) st = lbbt_batcher_create(ds, &bc, &batcher);
  if (st == LBBT_OK) st = lbbt_tape_create(&tape);
  int start_epoch = 0;
  if (st == LBBT_OK && job->main_job) st = lbbt_checkpoint_resume_stage(ctx, opt, &start_epoch, NULL, NULL, 0);
  if (st == LBBT_OK && start_epoch > 0)
    lbbt_progress_log(ctx->progress, "run %d/%d stage %s: resuming after epoch %d/%d", ctx->run_index + 1,
                      ctx->n_runs, s->name, start_epoch, job->epochs);
  int64_t steps = st == LBBT_OK ? lbbt_batcher_num_batches(batcher) : 0;
  lbbt_lr_schedule sched = {LBBT_SCHEDULE_COSINE, job->lr, 0.0,
                            (int64_t)llround(s->warmup_epochs * (double)steps), (int64_t)job->epochs * steps};
  if (sched.total_steps <= sched.warmup_steps) sched.kind = LBBT_SCHEDULE_CONSTANT;
  if (st == LBBT_OK) st = lbbt_lr_schedule_check(&sched);
  for (int epoch = start_epoch; st == LBBT_OK && epoch < job->epochs; epoch++) {
    /* data-parallel ranks stop together: one saw the signal, all stop */
    double stop = ctx->interrupted && *ctx->interrupted;
    LBBT_TRY_GOTO(st, lbbt_dist_sum(&stop, 1), done);
    if (stop > 0) {
      st = lbbt_fail(LBBT_E_INTERRUPTED, "interrupted before epoch %d of stage '%s' (saved)", epoch + 1, s->name);
      break;
    }
    double t0 = now_s(), loss_sum = 0, grad_norm = 0, allreduce0 = lbbt_dist_allreduce_seconds();
    int64_t correct = 0, seen = 0;
    lbbt_batcher_start_epoch(batcher, epoch);
    for (int64_t b = 0; st == LBBT_OK && b < steps; b++) {
      int64_t step = (int64_t)epoch * steps + b;
      int count = 0;
      LBBT_TRY_GOTO(st, lbbt_batcher_get(batcher, b, images, batch_labels, NULL, &count), done);
      /* ---- data parallelism (lbbt/dist.h): this rank trains on samples [lo, lo + n) of the
       * global batch (all of it in one process); its gradient, weighted by n / count, is
       * summed over ranks before clipping, so every rank steps as one process would. */
      int64_t lo, hi;
      lbbt_dist_shard(count, &lo, &hi);
      const int n = (int)(hi - lo);
      const float *shard_images = images + lo * lbbt_dataset_image_numel(ds);
      const int32_t *shard_labels = batch_labels + lo;
      lbbt_tape_reset(tape);
      lbbt_tape_set_batch_shard(tape, lo, count);
      lbbt_rng_derive(lbbt_tape_rng(tape), ctx->run->seed, "drop-path", (uint64_t)step);
      lbbt_tensor *x, *logits = NULL, *loss = NULL;
      double lv = 0;
      if (n > 0) {
        int64_t shape[4] = {n, ds->channels, ds->height, ds->width};
        LBBT_TRY_GOTO(st, lbbt_tape_input(tape, 4, shape, shard_images, &x), done);
        LBBT_TRY_GOTO(st, m->ops->forward_vision(m, tape, x, NULL, &logits), done);
        LBBT_TRY_GOTO(st, lbbt_cross_entropy(tape, logits, shard_labels, (float)s->label_smoothing, &loss), done);
        lv = loss->data[0];
        if (!isfinite(lv)) {
          st = lbbt_fail_nonfinite(tape, s->name, step, lv);
          goto done;
        }
      }
      if (loss ? loss->requires_grad : lbbt_model_numel(m, 1) > 0) {
        if (loss) LBBT_TRY_GOTO(st, lbbt_tape_backward(tape, loss), done);
        LBBT_TRY_GOTO(st, lbbt_dist_allreduce_grads(m, (double)n / (double)count), done);
        LBBT_TRY_GOTO(st, lbbt_optim_clip_grad_norm(opt, s->clip, &grad_norm), done);
        LBBT_TRY_GOTO(st, lbbt_optim_check_finite(opt), done);
        lbbt_optim_set_lr(opt, lbbt_lr_at(&sched, step));
        LBBT_TRY_GOTO(st, lbbt_optim_step(opt), done);
        lbbt_optim_zero_grad(opt);
      }
      if (n > 0) correct += lbbt_count_correct(logits, shard_labels, n);
      seen += n;
      loss_sum += lv * n;
      double el = now_s() - t0;
      lbbt_progress_update(ctx->progress, ctx->run_index, epoch, job->epochs, (int)b, (int)steps,
                           loss_sum / (double)seen, (double)correct / (double)seen,
                           el > 0 ? (double)seen / el : -1.0);
    }
    double totals[3] = {loss_sum, (double)correct, (double)seen}; /* over every rank */
    LBBT_TRY_GOTO(st, lbbt_dist_sum(totals, 3), done);
    loss_sum = totals[0];
    correct = (int64_t)llround(totals[1]);
    seen = (int64_t)llround(totals[2]);
    double train_seconds = now_s() - t0;
    double fit = seen ? 100.0 * (double)correct / (double)seen : 0, mean_loss = seen ? loss_sum / (double)seen : 0;
    job->final_fit = fit;
    if (!job->main_job) continue;
    double test_acc = 0, test_loss = 0;
    LBBT_TRY_GOTO(st, lbbt_evaluate(m, ctx->test, NULL, EVAL_BATCH, &test_acc, &test_loss), done);
    LBBT_TRY_GOTO(st, append(ctx, "train_loss", mean_loss), done);
    LBBT_TRY_GOTO(st, append(ctx, "train_acc1", fit), done);
    LBBT_TRY_GOTO(st, append(ctx, "test_loss", test_loss), done);
    LBBT_TRY_GOTO(st, append(ctx, "test_acc1", test_acc), done);
    LBBT_TRY_GOTO(st, append(ctx, "lr", lbbt_optim_lr(opt)), done);
    LBBT_TRY_GOTO(st, append(ctx, "grad_norm", grad_norm), done);
    LBBT_TRY_GOTO(st, append(ctx, "images_per_s", train_seconds > 0 ? (double)seen / train_seconds : 0), done);
    LBBT_TRY_GOTO(st, append(ctx, "seconds", now_s() - t0), done);
    if (lbbt_dist_size() > 1) /* data-parallel: the gradient allreduce's share (make bench-mpi) */
      LBBT_TRY_GOTO(st, append(ctx, "allreduce_seconds", lbbt_dist_allreduce_seconds() - allreduce0), done);
    lbbt_progress_log(ctx->progress,
                      "run %d/%d %s stage %s epoch %d/%d: train loss %.4f acc %.2f%%, test acc %.2f%%, "
                      "%.0f img/s",
                      ctx->run_index + 1, ctx->n_runs, ctx->run->id, s->name, epoch + 1, job->epochs,
                      mean_loss, fit, test_acc, train_seconds > 0 ? (double)seen / train_seconds : 0);
    LBBT_TRY_GOTO(st, lbbt_checkpoint_save(ctx, opt, epoch + 1, epoch + 1 == job->epochs, NULL, NULL, 0), done);
  }
done:
  lbbt_optim_free(opt);
  lbbt_batcher_free(batcher);
  lbbt_tape_free(tape);
  free(images);
  free(batch_labels);
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

/* The per-arm learning-rate sweep; *chosen gets the winner. */
static lbbt_status sweep(lbbt_stage_ctx *ctx, const int32_t *labels, double *chosen) {
  const lbbt_stage_spec *s = ctx->stage;
  const lbbt_dataset *ds = ctx->train;
  char key[300];
  double grid[MAX_GRID], score[MAX_GRID];
  int n;
  LBBT_TRY(parse_grid(s, ctx->exp->file, grid, &n));
  int epochs = (int)option_number(s, "sweep_epochs", s->epochs / 4 > 1 ? s->epochs / 4 : 1);
  double holdout = option_number(s, "sweep_holdout", 0.2);
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
  for (int i = 0; st == LBBT_OK && i < n; i++) {
    restore(ctx->model, start);
    train_job job = {fit, fit_labels, epochs, grid[i], 0, 0.0};
    st = train(ctx, &job);
    if (st != LBBT_OK) break;
    if (s->labels == LBBT_LABELS_TRUE) {
      double loss;
      st = lbbt_evaluate(ctx->model, hold, NULL, EVAL_BATCH, &score[i], &loss);
    } else {
      score[i] = job.final_fit;
    }
    lbbt_progress_log(ctx->progress, "run %d/%d stage %s: lr sweep %g -> %s %.2f%%", ctx->run_index + 1,
                      ctx->n_runs, s->name, grid[i], s->labels == LBBT_LABELS_TRUE ? "held-out acc" : "fit",
                      score[i]);
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
    st = lbbt_record_array_f32(ctx->record, lbbt_stage_key(ctx, "sweep_lr", key, sizeof key), 1, shape, g32);
    if (st == LBBT_OK)
      st = lbbt_record_array_f32(ctx->record, lbbt_stage_key(ctx, "sweep_score", key, sizeof key), 1, shape, s32);
    if (st == LBBT_OK) st = lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "chosen_lr", key, sizeof key), *chosen);
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
    st = lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "trainable_params", key, sizeof key),
                            (double)lbbt_model_numel(m, 1));
  double lr = s->lr;
  if (st == LBBT_OK && !strcmp(s->lr_sweep, "per-arm")) {
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
  if (st == LBBT_OK) st = lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "epochs", key, sizeof key), s->epochs);
  m->drop_path = 0;
  free(labels);
  return st;
}

static const lbbt_task_ops TASK_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = validate,
    .run = run,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_TASK,
    .name = "classification",
    .summary = "image classification with true or random labels (bridge training), full or partial",
    .task = &TASK_OPS,
};
