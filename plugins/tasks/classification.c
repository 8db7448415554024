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
 * trainable_params, epochs.  Accuracies are in percent. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"
#include "lbbt/train.h"

#define EVAL_BATCH 256

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  if (s->epochs < 0) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': epochs must be >= 0", file, s->name);
  if (s->batch_size < 1)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': batch_size must be >= 1", file, s->name);
  if (s->labels == LBBT_LABELS_RANDOM && (s->label_ratio < 0 || s->label_ratio > 1))
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': label_ratio must be in [0, 1]", file, s->name);
  return LBBT_OK;
}

/* The labels this stage trains on, and the record of which were replaced. */
static lbbt_status make_labels(lbbt_stage_ctx *ctx, int32_t *labels) {
  const lbbt_stage_spec *s = ctx->stage;
  const lbbt_dataset *ds = ctx->train;
  char key[300];
  if (s->labels == LBBT_LABELS_TRUE) {
    memcpy(labels, ds->labels, (size_t)ds->n * sizeof *labels);
    LBBT_TRY(lbbt_record_string(ctx->record, lbbt_stage_key(ctx, "label_mode", key, sizeof key), "true"));
    return LBBT_OK;
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

typedef struct train_state {
  lbbt_optim *opt;
  lbbt_batcher *batcher;
  lbbt_tape *tape;
  float *images;
  int32_t *labels, *batch_labels;
} train_state;

static void train_state_free(train_state *ts) {
  lbbt_optim_free(ts->opt);
  lbbt_batcher_free(ts->batcher);
  lbbt_tape_free(ts->tape);
  free(ts->images);
  free(ts->labels);
  free(ts->batch_labels);
}

static lbbt_status run_epochs(lbbt_stage_ctx *ctx, train_state *ts) {
  const lbbt_stage_spec *s = ctx->stage;
  lbbt_model *m = ctx->model;
  const lbbt_dataset *ds = ctx->train;
  char key[300];
  int start_epoch = 0;
  LBBT_TRY(lbbt_checkpoint_resume_stage(ctx, ts->opt, &start_epoch, NULL, NULL, 0));
  if (start_epoch > 0)
    lbbt_progress_log(ctx->progress, "run %d/%d stage %s: resuming after epoch %d/%d",
                      ctx->run_index + 1, ctx->n_runs, s->name, start_epoch, s->epochs);
  int64_t steps = lbbt_batcher_num_batches(ts->batcher);
  lbbt_lr_schedule sched = {LBBT_SCHEDULE_COSINE, s->lr, 0.0,
                            (int64_t)llround(s->warmup_epochs * (double)steps),
                            (int64_t)s->epochs * steps};
  if (sched.total_steps <= sched.warmup_steps) sched.kind = LBBT_SCHEDULE_CONSTANT;
  LBBT_TRY(lbbt_lr_schedule_check(&sched));
  int64_t per = lbbt_dataset_image_numel(ds);
  (void)per;
  for (int epoch = start_epoch; epoch < s->epochs; epoch++) {
    if (ctx->interrupted && *ctx->interrupted)
      return lbbt_fail(LBBT_E_INTERRUPTED, "interrupted before epoch %d of stage '%s' (saved)",
                       epoch + 1, s->name);
    double t0 = now_s(), loss_sum = 0, grad_norm = 0;
    int64_t correct = 0, seen = 0;
    lbbt_batcher_start_epoch(ts->batcher, epoch);
    for (int64_t b = 0; b < steps; b++) {
      int64_t step = (int64_t)epoch * steps + b;
      int count = 0;
      LBBT_TRY(lbbt_batcher_get(ts->batcher, b, ts->images, ts->batch_labels, NULL, &count));
      lbbt_tape_reset(ts->tape);
      lbbt_rng_derive(lbbt_tape_rng(ts->tape), ctx->run->seed, "drop-path", (uint64_t)step);
      lbbt_tensor *x, *logits, *loss;
      int64_t shape[4] = {count, ds->channels, ds->height, ds->width};
      LBBT_TRY(lbbt_tape_input(ts->tape, 4, shape, ts->images, &x));
      LBBT_TRY(m->ops->forward_vision(m, ts->tape, x, NULL, &logits));
      LBBT_TRY(lbbt_cross_entropy(ts->tape, logits, ts->batch_labels, (float)s->label_smoothing, &loss));
      double lv = loss->data[0];
      if (!isfinite(lv)) return lbbt_fail_nonfinite(ts->tape, s->name, step, lv);
      if (loss->requires_grad) {
        LBBT_TRY(lbbt_tape_backward(ts->tape, loss));
        LBBT_TRY(lbbt_optim_clip_grad_norm(ts->opt, s->clip, &grad_norm));
        LBBT_TRY(lbbt_optim_check_finite(ts->opt));
        lbbt_optim_set_lr(ts->opt, lbbt_lr_at(&sched, step));
        LBBT_TRY(lbbt_optim_step(ts->opt));
        lbbt_optim_zero_grad(ts->opt);
      }
      correct += lbbt_count_correct(logits, ts->batch_labels, count);
      seen += count;
      loss_sum += lv * count;
      double el = now_s() - t0;
      lbbt_progress_update(ctx->progress, ctx->run_index, epoch, s->epochs, (int)b, (int)steps,
                           loss_sum / (double)seen, (double)correct / (double)seen,
                           el > 0 ? (double)seen / el : -1.0);
    }
    double train_seconds = now_s() - t0;
    double test_acc = 0, test_loss = 0;
    LBBT_TRY(lbbt_evaluate(m, ctx->test, NULL, EVAL_BATCH, &test_acc, &test_loss));
    LBBT_TRY(append(ctx, "train_loss", seen ? loss_sum / (double)seen : 0));
    LBBT_TRY(append(ctx, "train_acc1", seen ? 100.0 * (double)correct / (double)seen : 0));
    LBBT_TRY(append(ctx, "test_loss", test_loss));
    LBBT_TRY(append(ctx, "test_acc1", test_acc));
    LBBT_TRY(append(ctx, "lr", lbbt_optim_lr(ts->opt)));
    LBBT_TRY(append(ctx, "grad_norm", grad_norm));
    LBBT_TRY(append(ctx, "images_per_s", train_seconds > 0 ? (double)seen / train_seconds : 0));
    LBBT_TRY(append(ctx, "seconds", now_s() - t0));
    lbbt_progress_log(ctx->progress,
                      "run %d/%d %s stage %s epoch %d/%d: train loss %.4f acc %.2f%%, test acc "
                      "%.2f%%, %.0f img/s",
                      ctx->run_index + 1, ctx->n_runs, ctx->run->id, s->name, epoch + 1, s->epochs,
                      seen ? loss_sum / (double)seen : 0, seen ? 100.0 * (double)correct / (double)seen : 0,
                      test_acc, train_seconds > 0 ? (double)seen / train_seconds : 0);
    LBBT_TRY(lbbt_checkpoint_save(ctx, ts->opt, epoch + 1, epoch + 1 == s->epochs, NULL, NULL, 0));
  }
  LBBT_TRY(lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "epochs", key, sizeof key), s->epochs));
  return LBBT_OK;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  const lbbt_stage_spec *s = ctx->stage;
  lbbt_model *m = ctx->model;
  const lbbt_dataset *ds = ctx->train;
  char key[300];
  train_state ts = {0};
  lbbt_status st = LBBT_OK;
  ts.labels = malloc((size_t)ds->n * sizeof *ts.labels);
  ts.images = malloc((size_t)s->batch_size * (size_t)lbbt_dataset_image_numel(ds) * sizeof(float));
  ts.batch_labels = malloc((size_t)s->batch_size * sizeof *ts.batch_labels);
  if (!ts.labels || !ts.images || !ts.batch_labels) {
    st = lbbt_fail(LBBT_E_NOMEM, "classification: out of memory");
    goto done;
  }
  LBBT_TRY_GOTO(st, make_labels(ctx, ts.labels), done);
  LBBT_TRY_GOTO(st, lbbt_model_select_trainable(m, &s->train_layers, s->train_embed, s->train_head), done);
  m->drop_path = (float)s->drop_path;
  LBBT_TRY_GOTO(st, lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "trainable_params", key, sizeof key),
                                       (double)lbbt_model_numel(m, 1)), done);
  lbbt_optim_config oc;
  lbbt_optim_config_from_stage(&oc, s);
  LBBT_TRY_GOTO(st, lbbt_optim_create_for_model(&ts.opt, &oc, m), done);
  lbbt_batcher_config bc = {0};
  bc.batch_size = s->batch_size;
  bc.shuffle = 1;
  bc.crop_padding = ctx->run->data.crop_padding;
  bc.flip = ctx->run->data.flip;
  bc.seed = ctx->run->seed;
  bc.labels = ts.labels;
  LBBT_TRY_GOTO(st, lbbt_batcher_create(ds, &bc, &ts.batcher), done);
  LBBT_TRY_GOTO(st, lbbt_tape_create(&ts.tape), done);
  st = run_epochs(ctx, &ts);
done:
  m->drop_path = 0;
  train_state_free(&ts);
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
