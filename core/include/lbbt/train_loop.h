/* The training loop every training task plugin runs (plugins/tasks/: one loop, not one per task):
 * epochs of steps, linear warm-up then cosine decay of the learning rate, gradient clipping,
 * a stop naming the step and the first non-finite op when the loss is NaN/Inf, resume after
 * SIGTERM/SIGKILL from the run's checkpoint, a checkpoint at the end of every epoch, and
 * progress lines with throughput and ETA.
 *
 * A task supplies what is its own through callbacks:
 *   batch        build the forward pass of step `step` on the tape and return its loss
 *                (a scalar tensor), how much it weighs in the epoch's mean loss and how many
 *                items it processed (images, tokens: for throughput).  Required.
 *                Data-parallel (lbbt/dist.h, mpirun): it calls lbbt_train_shard on the
 *                step's global batch and computes only this rank's samples [lo, hi); the
 *                loop then sums the gradients over ranks.  A task that does not shard is
 *                computed whole on every rank (each rank's gradient is the global one).
 *   begin        after resuming, before the first epoch: start_epoch > 0 when the stage
 *                resumes.  Optional.
 *   begin_epoch  before each epoch's first step (shuffle).  Optional.
 *   after_step   after each optimizer step (snapshots); its time is not training time.
 *   end_epoch    after each epoch's last step: evaluate and write the task's own metrics
 *                into ctx->record.  The loop saves the checkpoint right after it, so what it
 *                writes outside the record (a model folder) is rewritten if a kill comes
 *                between the two.  Optional.
 *
 * One step, in order (the hook points other features plug into):
 *   1. tape reset, recording and training mode on
 *   2. batch(step)                       -> loss        (data-parallel: the rank's shard)
 *   3. non-finite loss: LBBT_E_NUMERIC naming the stage, step and first non-finite op
 *   4. when the loss requires a gradient (something trains):
 *        backward
 *        sharded: the optimizer's gradients, weighted by the rank's share, summed over
 *        ranks (one allreduce; nothing with one process)
 *        after_backward(step)
 *        clip to stage->clip (0 = off; the pre-clip norm is kept for end_epoch)
 *        a non-finite gradient stops with LBBT_E_NUMERIC naming the tensor
 *        lr = schedule(step); optimizer step; zero grads
 *      (a rank whose shard is empty returns no loss and only joins the allreduce)
 *   5. after_step(step + 1 steps done)
 *   6. progress line
 * Under mpirun the epoch's loss sum, weight and items are summed over ranks before end_epoch,
 * and all ranks stop at the same epoch boundary when any was interrupted.
 * Mixed precision (bf16) belongs in the task's batch (its forward) and in the optimizer,
 * not here: the loop only sees f32 losses and the optimizer's master weights.
 *
 * The schedule: peak lr, floor min_lr, warm-up round(warmup_epochs * steps_per_epoch)
 * steps (at most all of them), cosine over the rest; constant after the warm-up when no
 * step is left for the cosine.  The learning rate is set before each step from the global
 * step index epoch * steps_per_epoch + i, so a resumed stage continues the same curve. */
#ifndef LBBT_TRAIN_LOOP_H
#define LBBT_TRAIN_LOOP_H
#include <stdint.h>

#include "lbbt/optim.h"
#include "lbbt/runner.h"
#include "lbbt/tensor.h"

/* What one step's batch callback returns. */
typedef struct lbbt_train_batch {
  lbbt_tensor *loss;      /* scalar, on the loop's tape */
  double weight;          /* the loss's weight in the epoch mean (images in the batch; 1 for
                             a mean over steps) */
  int64_t items;          /* images, tokens: throughput = items / training seconds */
  double progress_metric; /* a running fraction for the progress line (accuracy so far), or
                             NAN for none */
  int sharded;            /* set by lbbt_train_shard: the loss is this rank's shard's */
  double share;           /* the shard's fraction of the global batch (n / B) */
} lbbt_train_batch;

/* Data parallelism for a batch callback: this rank's samples [*lo, *hi) of the step's global
 * batch of `count` (all of it with one process).  Tells the tape (per-sample draws such as
 * drop path are taken for the whole batch) and `out` (the loop reduces the gradients).  The
 * callback then computes the mean loss of its shard only; with an empty shard (count <
 * ranks) it returns no loss.  Epoch totals (mean loss, items) are summed over ranks by the
 * loop; a task's own counts (correct answers) it sums with lbbt_dist_sum in end_epoch. */
LBBT_API void lbbt_train_shard(lbbt_tape *tape, int64_t count, lbbt_train_batch *out, int64_t *lo, int64_t *hi);

/* What end_epoch receives about the epoch just trained. */
typedef struct lbbt_train_epoch {
  int epoch;              /* 0-based */
  int epochs;
  double mean_loss;       /* sum(loss * weight) / sum(weight) over the epoch's steps */
  int64_t items;          /* items trained on in this epoch */
  double train_seconds;   /* training time of this epoch (after_step time excluded) */
  double started;         /* lbbt_train_now() at the epoch's start */
  double grad_norm;       /* the last step's gradient norm before clipping (0 if nothing trained) */
  double lr;              /* the last step's learning rate */
  int64_t steps_done;     /* optimizer steps done in the stage so far */
  double allreduce_seconds; /* data-parallel: this epoch's time in the gradient allreduce */
} lbbt_train_epoch;

typedef struct lbbt_train_loop {
  lbbt_stage_ctx *ctx;    /* the stage: its name, progress, record, checkpoint folder */
  lbbt_optim *opt;        /* the parameters trained (owned by the caller) */
  lbbt_tape *tape;        /* owned by the caller (it may evaluate on it between epochs) */
  int epochs;
  int64_t steps_per_epoch;
  double lr, min_lr, warmup_epochs, clip;
  /* 1: resume from and save to the run's checkpoint (lbbt_checkpoint_resume_stage/save),
   * and stop at an epoch boundary when ctx->interrupted is set.  0: a trial run (an lr
   * sweep's) that leaves the checkpoint alone. */
  int checkpoint;
  /* Tensors saved with the checkpoint besides the model and optimizer (a probe's head, a
   * model the task built itself). */
  lbbt_tensor *const *extra;
  const char *const *extra_names;
  int n_extra;
  void *user;             /* passed to every callback */
  lbbt_status (*batch)(void *user, lbbt_tape *tape, int64_t step, lbbt_train_batch *out);
  lbbt_status (*begin)(void *user, int start_epoch);
  lbbt_status (*begin_epoch)(void *user, int epoch);
  lbbt_status (*after_backward)(void *user, int64_t step);
  lbbt_status (*after_step)(void *user, int64_t steps_done);
  lbbt_status (*end_epoch)(void *user, const lbbt_train_epoch *e);
} lbbt_train_loop;

/* Run the stage's remaining epochs.  LBBT_E_INTERRUPTED (after the last checkpoint) when
 * ctx->interrupted was set; LBBT_E_NUMERIC on a non-finite loss or gradient; whatever a
 * callback returns stops the loop and is returned. */
LBBT_API lbbt_status lbbt_train_loop_run(const lbbt_train_loop *loop);
/* The schedule the loop follows (above); LBBT_E_INPUT when it is invalid. */
LBBT_API lbbt_status lbbt_train_loop_schedule(const lbbt_train_loop *loop, lbbt_lr_schedule *out);
/* Monotonic seconds (timing epochs and throughput). */
LBBT_API double lbbt_train_now(void);

#endif
