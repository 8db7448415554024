/* Task plugin `linear-probe`: freeze the backbone, extract pooled features once, train a
 * linear classifier on them with the TRUE labels, report test top-1 (Table 14's protocol).
 *
 * Features are standardised with the training set's per-dimension mean and std (a
 * parameter-free BatchNorm, as MAE's linear probe does) so one learning rate suits
 * backbones whose feature scales differ.  The classifier is W [classes, dim], b [classes],
 * zero-initialised (the optimum of a convex problem does not depend on the start), trained
 * with the stage's optimizer, batch size, epochs, lr, weight decay and cosine schedule.
 * Per epoch under "<stage>/": train_loss, train_acc1, test_acc1, test_loss. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/dist.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"
#include "lbbt/train.h"
#include "lbbt/train_loop.h"
#include "shared/top1.h"

#define FEATURE_BATCH 256

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  if (s->epochs < 1) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': epochs must be >= 1", file, s->name);
  if (s->batch_size < 1)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': batch_size must be >= 1", file, s->name);
  return LBBT_OK;
}

static void standardise(float *f, int64_t n, int64_t d, const double *mean, const double *std) {
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) f[i * d + j] = (float)((f[i * d + j] - mean[j]) / std[j]);
}

typedef struct probe {
  float *ftrain, *ftest, *batch;
  int32_t *order, *blabels;
  double *mean, *std;
  lbbt_tensor *w, *b;
  lbbt_optim *opt;
  lbbt_tape *tape;
  lbbt_stage_ctx *ctx;
  int64_t n, d;            /* training images, feature size */
  int64_t correct;         /* this epoch's running top-1 on the training features */
} probe;

static void probe_free(probe *p) {
  free(p->ftrain);
  free(p->ftest);
  free(p->batch);
  free(p->order);
  free(p->blabels);
  free(p->mean);
  free(p->std);
  lbbt_optim_free(p->opt);
  lbbt_tensor_free(p->w);
  lbbt_tensor_free(p->b);
  lbbt_tape_free(p->tape);
}

/* Accuracy (%) and mean loss of the classifier on features f [n, d]. */
static lbbt_status probe_eval(probe *p, const float *f, const int32_t *labels, int64_t n, int64_t d,
                              double *acc, double *loss) {
  lbbt_tape_reset(p->tape);
  lbbt_tape_set_recording(p->tape, 0);
  lbbt_tensor *x, *logits, *l;
  int64_t shape[2] = {n, d};
  LBBT_TRY(lbbt_tape_input(p->tape, 2, shape, f, &x));
  LBBT_TRY(lbbt_linear(p->tape, x, p->w, p->b, &logits));
  LBBT_TRY(lbbt_cross_entropy(p->tape, logits, labels, 0.0f, &l));
  *acc = 100.0 * (double)top1_count_correct(logits, labels, n) / (double)n;
  *loss = l->data[0];
  lbbt_tape_set_recording(p->tape, 1);
  return LBBT_OK;
}

/* The epoch's order of the training features: a shuffle derived from the run seed. */
static lbbt_status begin_epoch(void *user, int epoch) {
  probe *p = user;
  lbbt_rng r;
  lbbt_rng_derive(&r, p->ctx->run->seed, "probe-shuffle", (uint64_t)epoch);
  for (int64_t i = 0; i < p->n; i++) p->order[i] = (int32_t)i;
  lbbt_rng_shuffle_i32(&r, p->order, p->n);
  p->correct = 0;
  return LBBT_OK;
}

/* Cross-entropy of the classifier on one batch of standardised features [cnt, d]. */
static lbbt_status batch_loss(void *user, lbbt_tape *tape, int64_t step, lbbt_train_batch *out) {
  probe *p = user;
  const int64_t bs = p->ctx->stage->batch_size, d = p->d, n = p->n;
  const int64_t first = (step % ((n + bs - 1) / bs)) * bs, count = n - first < bs ? n - first : bs;
  /* data parallelism: this rank's rows [lo, hi) of the batch (all of it alone) */
  int64_t lo, hi;
  lbbt_train_shard(tape, count, out, &lo, &hi);
  const int64_t cnt = hi - lo;
  if (cnt == 0) return LBBT_OK; /* more ranks than rows: this one only joins the allreduce */
  for (int64_t i = 0; i < cnt; i++) {
    int32_t k = p->order[first + lo + i];
    memcpy(p->batch + i * d, p->ftrain + (int64_t)k * d, (size_t)d * sizeof(float));
    p->blabels[i] = p->ctx->train->labels[k];
  }
  lbbt_tensor *x, *logits;
  int64_t shape[2] = {cnt, d};
  LBBT_TRY(lbbt_tape_input(tape, 2, shape, p->batch, &x));
  LBBT_TRY(lbbt_linear(tape, x, p->w, p->b, &logits));
  LBBT_TRY(lbbt_cross_entropy(tape, logits, p->blabels, 0.0f, &out->loss));
  p->correct += top1_count_correct(logits, p->blabels, cnt);
  out->weight = (double)cnt;
  out->items = cnt;
  return LBBT_OK;
}

static lbbt_status end_epoch(void *user, const lbbt_train_epoch *e) {
  probe *p = user;
  lbbt_stage_ctx *ctx = p->ctx;
  double test_acc, test_loss;
  LBBT_TRY(probe_eval(p, p->ftest, ctx->test->labels, ctx->test->n, p->d, &test_acc, &test_loss));
  LBBT_TRY(lbbt_stage_append(ctx, "train_loss", e->mean_loss));
  double correct = (double)p->correct; /* over every rank */
  LBBT_TRY(lbbt_dist_sum(&correct, 1));
  LBBT_TRY(lbbt_stage_append(ctx, "train_acc1", 100.0 * correct / (double)p->n));
  LBBT_TRY(lbbt_stage_append(ctx, "test_loss", test_loss));
  LBBT_TRY(lbbt_stage_append(ctx, "test_acc1", test_acc));
  return LBBT_OK;
}

static lbbt_status train(lbbt_stage_ctx *ctx, probe *p) {
  const lbbt_stage_spec *s = ctx->stage;
  lbbt_model *m = ctx->model;
  const lbbt_dataset *tr = ctx->train, *te = ctx->test;
  int64_t d = m->dim, n = tr->n, nt = te->n, K = tr->num_classes;
  p->ctx = ctx;
  p->n = n;
  p->d = d;
  p->ftrain = malloc((size_t)(n * d) * sizeof(float));
  p->ftest = malloc((size_t)(nt * d) * sizeof(float));
  p->batch = malloc((size_t)(s->batch_size * d) * sizeof(float));
  p->order = malloc((size_t)n * sizeof(int32_t));
  p->blabels = malloc((size_t)s->batch_size * sizeof(int32_t));
  p->mean = calloc((size_t)d, sizeof(double));
  p->std = calloc((size_t)d, sizeof(double));
  if (!p->ftrain || !p->ftest || !p->batch || !p->order || !p->blabels || !p->mean || !p->std)
    return lbbt_fail(LBBT_E_NOMEM, "linear-probe: out of memory");
  lbbt_progress_log(ctx->progress, "run %d/%d stage %s: extracting features of %lld + %lld images",
                    ctx->run_index + 1, ctx->n_runs, s->name, (long long)n, (long long)nt);
  LBBT_TRY(lbbt_extract_features(m, tr, FEATURE_BATCH, p->ftrain));
  LBBT_TRY(lbbt_extract_features(m, te, FEATURE_BATCH, p->ftest));
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) p->mean[j] += p->ftrain[i * d + j] / (double)n;
  for (int64_t i = 0; i < n; i++)
    for (int64_t j = 0; j < d; j++) {
      double c = p->ftrain[i * d + j] - p->mean[j];
      p->std[j] += c * c / (double)n;
    }
  for (int64_t j = 0; j < d; j++) p->std[j] = sqrt(p->std[j]) + 1e-6;
  standardise(p->ftrain, n, d, p->mean, p->std);
  standardise(p->ftest, nt, d, p->mean, p->std);

  int64_t ws[2] = {K, d}, bs[1] = {K};
  LBBT_TRY(lbbt_tensor_create(&p->w, 2, ws));
  LBBT_TRY(lbbt_tensor_create(&p->b, 1, bs));
  LBBT_TRY(lbbt_tensor_require_grad(p->w));
  LBBT_TRY(lbbt_tensor_require_grad(p->b));
  lbbt_optim_config oc;
  lbbt_optim_config_from_stage(&oc, s);
  LBBT_TRY(lbbt_optim_create(&p->opt, &oc));
  LBBT_TRY(lbbt_optim_add_param(p->opt, "probe.weight", p->w, 0));
  LBBT_TRY(lbbt_optim_add_param(p->opt, "probe.bias", p->b, 1));
  LBBT_TRY(lbbt_tape_create(&p->tape));
  lbbt_tensor *extra[2] = {p->w, p->b};
  const char *extra_names[2] = {"probe.weight", "probe.bias"};
  lbbt_train_loop loop = {0};
  loop.ctx = ctx;
  loop.opt = p->opt;
  loop.tape = p->tape;
  loop.epochs = s->epochs;
  loop.steps_per_epoch = (n + s->batch_size - 1) / s->batch_size;
  loop.lr = s->lr;
  loop.warmup_epochs = s->warmup_epochs;
  loop.clip = 0; /* a convex problem on standardised features: never clipped */
  loop.checkpoint = 1;
  loop.extra = extra;
  loop.extra_names = extra_names;
  loop.n_extra = 2;
  loop.user = p;
  loop.batch = batch_loss;
  loop.begin_epoch = begin_epoch;
  loop.end_epoch = end_epoch;
  LBBT_TRY(lbbt_train_loop_run(&loop));
  double acc, loss;
  LBBT_TRY(probe_eval(p, p->ftest, te->labels, nt, d, &acc, &loss));
  lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s: linear-probe test acc %.2f%%",
                    ctx->run_index + 1, ctx->n_runs, ctx->run->id, s->name, acc);
  return LBBT_OK;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  probe p = {0};
  lbbt_status st = train(ctx, &p);
  probe_free(&p);
  return st;
}

/* The run's vision model (its features; its own head is unused) and images with class
 * labels. */
static lbbt_status needs(const lbbt_stage_spec *s, lbbt_task_needs *out) {
  (void)s;
  out->what = LBBT_NEED_VISION_MODEL | LBBT_NEED_IMAGE_DATA;
  out->targets = LBBT_TARGETS_CLASS;
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
    .name = "linear-probe",
    .summary = "freeze the backbone, extract pooled features, train a linear classifier (true labels)",
    .task = &TASK_OPS,
};
