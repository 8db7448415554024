/* The training loop every training task runs (train_loop.h): the order of its callbacks and
 * hook points, the steps and learning rates it gives them, the epoch statistics, the stop on
 * a non-finite loss naming the step, a non-finite gradient under a finite loss naming the
 * tensor (the loop scans gradients only when their norm is not finite), the interruption at an epoch boundary, a callback's
 * error ending it, and the schedule (warm-up clamped to the stage).  The task here: a linear
 * classifier W [2, 2], b [2] on 8 separable points, 2 per step, 4 steps per epoch, SGD.
 * Resume and checkpoints are covered end to end by tests/cli/run.sh and lm_pretrain.sh, and
 * the three tasks' numbers by tests/cli/smoke_numbers.sh. */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/train.h"
#include "lbbt/train_loop.h"
#include "test.h"

enum { N = 8, B = 2, STEPS = N / B, EPOCHS = 3, MAX_EVENTS = 256 };

/* x [N, 2]: class 0 left of the origin, class 1 right of it */
static const float X[N][2] = {{-2, 1}, {-1, -1}, {-3, 0.5f}, {-1.5f, 2}, {2, 1}, {1, -1}, {3, 0.5f}, {1.5f, -2}};
static const int32_t Y[N] = {0, 0, 0, 0, 1, 1, 1, 1};

typedef struct fixture {
  lbbt_tensor *w, *b;
  lbbt_optim *opt;
  lbbt_tape *tape;
  lbbt_stage_spec stage;
  lbbt_stage_ctx ctx;
  volatile sig_atomic_t interrupted;
  /* what the callbacks saw, in order: 'B' begin, 'E' begin_epoch, 'b' batch, 'a'
   * after_backward, 's' after_step, 'e' end_epoch */
  char events[MAX_EVENTS];
  int64_t event_step[MAX_EVENTS];
  int n_events;
  lbbt_train_epoch epochs_seen[EPOCHS];
  int n_epochs_seen;
  int64_t nan_at, fail_at; /* batch: a NaN input / an error at this step (-1: never) */
  int64_t bad_grad_at;     /* after_backward: w's gradient element 3 := bad_grad (-1: never) */
  float bad_grad;
  int frozen;              /* batch: a loss that needs no gradient */
} fixture;

static void event(fixture *f, char what, int64_t step) {
  if (f->n_events < MAX_EVENTS) {
    f->events[f->n_events] = what;
    f->event_step[f->n_events++] = step;
  }
}

static lbbt_status on_begin(void *user, int start_epoch) {
  event(user, 'B', start_epoch);
  return LBBT_OK;
}
static lbbt_status on_begin_epoch(void *user, int epoch) {
  event(user, 'E', epoch);
  return LBBT_OK;
}
static lbbt_status on_batch(void *user, lbbt_tape *t, int64_t step, lbbt_train_batch *out) {
  fixture *f = user;
  event(f, 'b', step);
  if (step == f->fail_at) return lbbt_fail(LBBT_E_IO, "batch %lld cannot be read", (long long)step);
  int64_t lo = (step % STEPS) * B, shape[2] = {B, 2};
  float x[B][2];
  memcpy(x, X[lo], sizeof x);
  if (step == f->nan_at) x[1][0] = NAN;
  lbbt_tensor *in, *logits;
  LBBT_TRY(lbbt_tape_input(t, 2, shape, &x[0][0], &in));
  if (f->frozen) lbbt_tape_set_recording(t, 0);
  LBBT_TRY(lbbt_linear(t, in, f->w, f->b, &logits));
  LBBT_TRY(lbbt_cross_entropy(t, logits, Y + lo, 0.0f, &out->loss));
  out->weight = B;
  out->items = B;
  return LBBT_OK;
}
static lbbt_status on_after_backward(void *user, int64_t step) {
  fixture *f = user;
  event(f, 'a', step);
  /* the hook point sees the gradients of this step, before clipping and the update */
  if (!f->w->grad || !isfinite(f->w->grad[0])) return lbbt_fail(LBBT_E_INTERNAL, "no gradient at the hook");
  if (step == f->bad_grad_at) f->w->grad[3] = f->bad_grad;
  return LBBT_OK;
}
static lbbt_status on_after_step(void *user, int64_t steps_done) {
  event(user, 's', steps_done);
  return LBBT_OK;
}
static lbbt_status on_end_epoch(void *user, const lbbt_train_epoch *e) {
  fixture *f = user;
  event(f, 'e', e->epoch);
  if (f->n_epochs_seen < EPOCHS) f->epochs_seen[f->n_epochs_seen++] = *e;
  return LBBT_OK;
}

static int fixture_init(fixture *f) {
  memset(f, 0, sizeof *f);
  f->nan_at = f->fail_at = f->bad_grad_at = -1;
  int64_t ws[2] = {2, 2}, bs[1] = {2};
  lbbt_optim_config oc;
  lbbt_optim_config_default(&oc, LBBT_OPT_SGD);
  oc.lr = 0.5;
  if (lbbt_tensor_create(&f->w, 2, ws) || lbbt_tensor_create(&f->b, 1, bs) || lbbt_tensor_require_grad(f->w) ||
      lbbt_tensor_require_grad(f->b) || lbbt_optim_create(&f->opt, &oc) ||
      lbbt_optim_add_param(f->opt, "w", f->w, 0) || lbbt_optim_add_param(f->opt, "b", f->b, 1) ||
      lbbt_tape_create(&f->tape))
    return 0;
  snprintf(f->stage.name, sizeof f->stage.name, "fit");
  f->ctx.stage = &f->stage;
  f->ctx.n_runs = 1;
  f->ctx.interrupted = &f->interrupted;
  return 1;
}

static void fixture_free(fixture *f) {
  lbbt_optim_free(f->opt);
  lbbt_tensor_free(f->w);
  lbbt_tensor_free(f->b);
  lbbt_tape_free(f->tape);
}

static lbbt_train_loop loop_of(fixture *f) {
  lbbt_train_loop l = {0};
  l.ctx = &f->ctx;
  l.opt = f->opt;
  l.tape = f->tape;
  l.epochs = EPOCHS;
  l.steps_per_epoch = STEPS;
  l.lr = 0.5;
  l.min_lr = 0.05;
  l.warmup_epochs = 0.5;
  l.clip = 1.0;
  l.user = f;
  l.batch = on_batch;
  l.begin = on_begin;
  l.begin_epoch = on_begin_epoch;
  l.after_backward = on_after_backward;
  l.after_step = on_after_step;
  l.end_epoch = on_end_epoch;
  return l;
}

static void test_loop_order_steps_and_epochs(void) {
  fixture f;
  REQUIRE(fixture_init(&f), "fixture: %s", lbbt_last_error());
  lbbt_train_loop l = loop_of(&f);
  lbbt_status st = lbbt_train_loop_run(&l);
  CHECK(st == LBBT_OK, "run: %s", lbbt_last_error());
  /* B, then per epoch: E, (b a s) x 4, e */
  char want[MAX_EVENTS];
  int n = 0;
  want[n++] = 'B';
  for (int e = 0; e < EPOCHS; e++) {
    want[n++] = 'E';
    for (int k = 0; k < STEPS; k++) {
      want[n++] = 'b';
      want[n++] = 'a';
      want[n++] = 's';
    }
    want[n++] = 'e';
  }
  CHECK(f.n_events == n && !memcmp(f.events, want, (size_t)n), "events %.*s, want %.*s", f.n_events, f.events, n,
        want);
  int64_t step = 0;
  for (int i = 0; i < f.n_events && i < n; i++) {
    if (f.events[i] == 'b') CHECK(f.event_step[i] == step, "batch %d got step %lld", i, (long long)f.event_step[i]);
    if (f.events[i] == 'a') CHECK(f.event_step[i] == step, "after_backward got step %lld", (long long)f.event_step[i]);
    if (f.events[i] == 's') CHECK(f.event_step[i] == ++step, "after_step got %lld done", (long long)f.event_step[i]);
  }
  REQUIRE(f.n_epochs_seen == EPOCHS, "%d end_epoch calls", f.n_epochs_seen);
  lbbt_lr_schedule sched;
  REQUIRE(lbbt_train_loop_schedule(&l, &sched) == LBBT_OK, "schedule");
  for (int e = 0; e < EPOCHS; e++) {
    const lbbt_train_epoch *s = &f.epochs_seen[e];
    CHECK(s->epoch == e && s->epochs == EPOCHS, "epoch %d of %d", s->epoch, s->epochs);
    CHECK(s->items == N, "epoch %d: %lld items", e, (long long)s->items);
    CHECK(s->steps_done == (int64_t)(e + 1) * STEPS, "epoch %d: %lld steps done", e, (long long)s->steps_done);
    CHECK_CLOSE(s->lr, lbbt_lr_at(&sched, (int64_t)(e + 1) * STEPS - 1), 0, 1e-12, "the last step's lr");
    CHECK(s->grad_norm > 0 && isfinite(s->mean_loss), "epoch %d: grad norm %g, loss %g", e, s->grad_norm,
          s->mean_loss);
  }
  CHECK(f.epochs_seen[EPOCHS - 1].mean_loss < 0.5 * f.epochs_seen[0].mean_loss, "loss %g -> %g: not learning",
        f.epochs_seen[0].mean_loss, f.epochs_seen[EPOCHS - 1].mean_loss);
  fixture_free(&f);
}

static void test_loop_schedule(void) {
  fixture f;
  REQUIRE(fixture_init(&f), "fixture");
  lbbt_train_loop l = loop_of(&f);
  lbbt_lr_schedule s;
  REQUIRE(lbbt_train_loop_schedule(&l, &s) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(s.kind == LBBT_SCHEDULE_COSINE && s.warmup_steps == 2 && s.total_steps == EPOCHS * STEPS,
        "half an epoch of warm-up: %lld of %lld", (long long)s.warmup_steps, (long long)s.total_steps);
  CHECK(s.base_lr == 0.5 && s.min_lr == 0.05, "lr %g -> %g", s.base_lr, s.min_lr);
  l.warmup_epochs = 10; /* longer than the stage: warm up over all of it, then nothing left */
  REQUIRE(lbbt_train_loop_schedule(&l, &s) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(s.kind == LBBT_SCHEDULE_CONSTANT && s.warmup_steps == s.total_steps, "clamped warm-up");
  l.lr = -1;
  CHECK(lbbt_train_loop_schedule(&l, &s) == LBBT_E_INPUT, "a negative lr is refused");
  fixture_free(&f);
}

static void test_loop_nonfinite_names_step(void) {
  fixture f;
  REQUIRE(fixture_init(&f), "fixture");
  f.nan_at = 5;
  lbbt_train_loop l = loop_of(&f);
  lbbt_status st = lbbt_train_loop_run(&l);
  CHECK(st == LBBT_E_NUMERIC, "status %s", lbbt_status_name(st));
  CHECK(strstr(lbbt_last_error(), "stage 'fit', step 5") && strstr(lbbt_last_error(), "first non-finite"),
        "message: %s", lbbt_last_error());
  CHECK(f.events[f.n_events - 1] == 'b' && f.event_step[f.n_events - 1] == 5, "stopped at once");
  fixture_free(&f);
}

/* NaN, +Inf and -Inf in one gradient element, with and without clipping: the step stops
 * with the element scan's message naming the tensor, and nothing is updated. */
static void test_loop_nonfinite_gradient_names_tensor(void) {
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  for (int k = 0; k < 3; k++)
    for (int clip = 0; clip < 2; clip++) {
      fixture f;
      REQUIRE(fixture_init(&f), "fixture");
      f.bad_grad_at = 2, f.bad_grad = bad[k];
      lbbt_train_loop l = loop_of(&f);
      l.clip = clip ? 1.0 : 0.0;
      lbbt_status st = lbbt_train_loop_run(&l);
      CHECK(st == LBBT_E_NUMERIC, "%g, clip %d: status %s", (double)bad[k], clip, lbbt_status_name(st));
      CHECK(strstr(lbbt_last_error(), "gradient of 'w' [2, 2] is not finite: element 3"), "%g, clip %d: message: %s",
            (double)bad[k], clip, lbbt_last_error());
      CHECK(f.events[f.n_events - 1] == 'a' && f.event_step[f.n_events - 1] == 2, "%g, clip %d: stopped before the update",
            (double)bad[k], clip);
      fixture_free(&f);
    }
}

static void test_loop_interrupted_and_errors(void) {
  fixture f;
  REQUIRE(fixture_init(&f), "fixture");
  f.interrupted = 1;
  lbbt_train_loop l = loop_of(&f);
  lbbt_status st = lbbt_train_loop_run(&l);
  CHECK(st == LBBT_E_INTERRUPTED, "interrupted: status %s", lbbt_status_name(st));
  CHECK(f.n_events == 1 && f.events[0] == 'B', "no step after the interruption (%d events)", f.n_events);
  fixture_free(&f);

  REQUIRE(fixture_init(&f), "fixture");
  f.fail_at = 6;
  l = loop_of(&f);
  st = lbbt_train_loop_run(&l);
  CHECK(st == LBBT_E_IO && strstr(lbbt_last_error(), "batch 6 cannot be read"), "the batch's error: %s",
        lbbt_last_error());
  CHECK(f.event_step[f.n_events - 1] == 6, "stopped at step 6");
  fixture_free(&f);
}

static void test_loop_nothing_trains(void) {
  fixture f;
  REQUIRE(fixture_init(&f), "fixture");
  f.frozen = 1;
  f.w->data[0] = 0.25f;
  lbbt_train_loop l = loop_of(&f);
  CHECK(lbbt_train_loop_run(&l) == LBBT_OK, "%s", lbbt_last_error());
  for (int i = 0; i < f.n_events; i++) CHECK(f.events[i] != 'a', "after_backward without a backward");
  CHECK(f.w->data[0] == 0.25f && f.w->data[1] == 0, "parameters unchanged");
  CHECK(f.n_epochs_seen == EPOCHS && f.epochs_seen[0].grad_norm == 0, "epochs still end; no gradient norm");
  fixture_free(&f);
}

TEST_MAIN_BEGIN("test_train_loop")
TEST_RUN(test_loop_order_steps_and_epochs);
TEST_RUN(test_loop_schedule);
TEST_RUN(test_loop_nonfinite_names_step);
TEST_RUN(test_loop_nonfinite_gradient_names_tensor);
TEST_RUN(test_loop_interrupted_and_errors);
TEST_RUN(test_loop_nothing_trains);
TEST_MAIN_END()
