/* The training loop shared by every training task; see train_loop.h. */
#include "lbbt/train_loop.h"

#include <math.h>
#include <time.h>

#include "lbbt/dist.h"
#include "lbbt/train.h"

/* An epoch whose mean training loss exceeds this many times the first step's has exploded. */
static const double EXPLODED_RATIO = 1000.0;

double lbbt_train_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

lbbt_status lbbt_train_loop_schedule(const lbbt_train_loop *l, lbbt_lr_schedule *s) {
  const int64_t total = (int64_t)l->epochs * l->steps_per_epoch;
  s->kind = LBBT_SCHEDULE_COSINE;
  s->base_lr = l->lr;
  s->min_lr = l->min_lr;
  s->warmup_steps = (int64_t)llround(l->warmup_epochs * (double)l->steps_per_epoch);
  s->total_steps = total;
  if (s->warmup_steps > total) s->warmup_steps = total; /* warm up over the whole stage */
  if (s->total_steps <= s->warmup_steps) s->kind = LBBT_SCHEDULE_CONSTANT;
  return lbbt_lr_schedule_check(s);
}

void lbbt_train_shard(lbbt_tape *tape, int64_t count, lbbt_train_batch *out, int64_t *lo, int64_t *hi) {
  lbbt_dist_shard(count, lo, hi);
  lbbt_tape_set_batch_shard(tape, *lo, count);
  out->sharded = 1;
  out->share = count > 0 ? (double)(*hi - *lo) / (double)count : 0;
}

/* One optimizer step (steps 1-4 of train_loop.h). */
static lbbt_status train_step(const lbbt_train_loop *l, const lbbt_lr_schedule *sched, int64_t step,
                              lbbt_train_batch *b, double *grad_norm) {
  lbbt_tape *t = l->tape;
  lbbt_tape_reset(t);
  lbbt_tape_set_recording(t, 1);
  lbbt_tape_set_training(t, 1);
  b->loss = NULL;
  b->weight = 1.0;
  b->items = 0;
  b->progress_metric = NAN;
  b->sharded = 0;
  b->share = 1.0;
  LBBT_TRY(l->batch(l->user, t, step, b));
  const int empty_shard = !b->loss && b->sharded && b->share == 0;
  if (!b->loss && !empty_shard)
    return lbbt_fail(LBBT_E_INTERNAL, "stage '%s', step %lld: the task's batch returned no loss",
                     l->ctx->stage->name, (long long)step);
  if (empty_shard) {
    b->weight = 0;
    b->items = 0;
    /* the ranks with samples train: join their allreduce with zero gradients */
    if (lbbt_optim_param_count(l->opt) == 0) return LBBT_OK;
  } else {
    double lv = b->loss->data[0];
    if (!isfinite(lv)) return lbbt_fail_nonfinite(t, l->ctx->stage->name, step, lv);
    if (!b->loss->requires_grad) return LBBT_OK; /* nothing trains (train_layers: none) */
    LBBT_TRY(lbbt_tape_backward(t, b->loss));
  }
  if (b->sharded) LBBT_TRY(lbbt_dist_allreduce_optim(l->opt, b->share));
  if (l->after_backward) LBBT_TRY(l->after_backward(l->user, step));
  LBBT_TRY(lbbt_optim_clip_grad_norm(l->opt, l->clip, grad_norm));
  /* The norm is a double sum of squares (no finite floats overflow it), so it is finite
   * exactly when every gradient is, before and after clipping: only a non-finite norm needs
   * the element scan, which names the tensor (it was 0.9% of a Table 6 detector run). */
  if (!isfinite(*grad_norm)) LBBT_TRY(lbbt_optim_check_finite(l->opt));
  lbbt_optim_set_lr(l->opt, lbbt_lr_at(sched, step));
  LBBT_TRY(lbbt_optim_step(l->opt));
  lbbt_optim_zero_grad(l->opt);
  return LBBT_OK;
}

lbbt_status lbbt_train_loop_run(const lbbt_train_loop *l) {
  lbbt_stage_ctx *ctx = l->ctx;
  const char *stage = ctx->stage->name;
  const int64_t spe = l->steps_per_epoch;
  lbbt_lr_schedule sched;
  int start_epoch = 0;
  if (l->checkpoint)
    LBBT_TRY(lbbt_checkpoint_resume_stage(ctx, l->opt, &start_epoch, l->extra, l->extra_names, l->n_extra));
  if (start_epoch > 0)
    lbbt_progress_log(ctx->progress, "run %d/%d stage %s: resuming after epoch %d/%d", ctx->run_index + 1,
                      ctx->n_runs, stage, start_epoch, l->epochs);
  LBBT_TRY(lbbt_train_loop_schedule(l, &sched));
  if (l->begin) LBBT_TRY(l->begin(l->user, start_epoch));
  double first_loss = 0; /* the first step's loss (of this process's part of the stage) */
  for (int epoch = start_epoch; epoch < l->epochs; epoch++) {
    /* data-parallel ranks stop together: one saw the signal, all stop */
    double stop = ctx->interrupted && *ctx->interrupted;
    LBBT_TRY(lbbt_dist_sum(&stop, 1));
    if (stop > 0)
      return lbbt_fail(LBBT_E_INTERRUPTED, "interrupted before epoch %d of stage '%s' (saved)", epoch + 1, stage);
    if (l->begin_epoch) LBBT_TRY(l->begin_epoch(l->user, epoch));
    const double t0 = lbbt_train_now();
    double loss_sum = 0, weight_sum = 0, grad_norm = 0, outside = 0, allreduce0 = lbbt_dist_allreduce_seconds();
    int64_t items = 0;
    for (int64_t k = 0; k < spe; k++) {
      const int64_t step = (int64_t)epoch * spe + k;
      lbbt_train_batch b;
      LBBT_TRY(train_step(l, &sched, step, &b, &grad_norm));
      if (b.loss) loss_sum += (double)b.loss->data[0] * b.weight;
      if (b.loss && first_loss == 0) first_loss = fabs((double)b.loss->data[0]);
      weight_sum += b.weight;
      items += b.items;
      if (l->after_step) {
        double ts = lbbt_train_now();
        LBBT_TRY(l->after_step(l->user, step + 1));
        outside += lbbt_train_now() - ts;
      }
      double el = lbbt_train_now() - t0 - outside;
      lbbt_progress_update(ctx->progress, ctx->run_index, epoch, l->epochs, (int)k, (int)spe,
                           weight_sum > 0 ? loss_sum / weight_sum : 0, b.progress_metric, el > 0 ? (double)items / el : -1.0);
    }
    const double train_seconds = lbbt_train_now() - t0 - outside;
    double totals[3] = {loss_sum, weight_sum, (double)items}; /* over every rank */
    LBBT_TRY(lbbt_dist_sum(totals, 3));
    lbbt_train_epoch e = {epoch, l->epochs, totals[1] > 0 ? totals[0] / totals[1] : 0, (int64_t)llround(totals[2]),
                          train_seconds, t0, grad_norm, lbbt_optim_lr(l->opt), (int64_t)(epoch + 1) * spe,
                          lbbt_dist_allreduce_seconds() - allreduce0};
    /* a loss that grew by orders of magnitude finite is as diverged as a NaN (issue 20: an
     * absurd learning rate finished "complete" with a test loss of 1e6) */
    if (first_loss > 0 && fabs(e.mean_loss) > EXPLODED_RATIO * first_loss)
      return lbbt_fail(LBBT_E_NUMERIC,
                       "stage '%s', epoch %d (step %lld): mean training loss %g is more than %g times "
                       "its first step's %g: training exploded. Lower the learning rate.",
                       stage, epoch + 1, (long long)((epoch + 1) * spe), e.mean_loss, EXPLODED_RATIO, first_loss);
    if (l->end_epoch) LBBT_TRY(l->end_epoch(l->user, &e));
    if (l->checkpoint)
      LBBT_TRY(lbbt_checkpoint_save(ctx, l->opt, epoch + 1, epoch + 1 == l->epochs, l->extra, l->extra_names,
                                    l->n_extra));
  }
  return LBBT_OK;
}
