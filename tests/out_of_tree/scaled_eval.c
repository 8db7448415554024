/* An out-of-tree task plugin: built by tests/cli/out_of_tree.sh in a folder of its own,
 * against core/include only (no core source, no Makefile rule), and found through
 * LBBT_PLUGIN_PATH.  It shows that a task with typed options needs no core change.
 *
 * Task `scaled-eval`: evaluates the run's model on the test images (top-1) and records it
 * with its options.  Keys (typed, options.h): images (how many test images, 0 = all),
 * scale (a factor applied to the recorded accuracy), mode (plain | scaled), note (a name).
 * Records under "<stage>/": acc1 (times scale in mode scaled), images, options/<key>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/analysis_util.h"
#include "lbbt/options.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"
#include "lbbt/train.h"

typedef struct scaled_eval_options {
  int images;
  double scale;
  int mode; /* 0 plain, 1 scaled */
  char note[LBBT_NAME_MAX];
} scaled_eval_options;

static const char *const MODES[] = {"plain", "scaled"};
static const lbbt_key KEYS[] = {
    {.name = "images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(scaled_eval_options, images), .def = "0",
     LBBT_KEY_RANGE(0, 100000), .doc = "test images evaluated; 0 = all"},
    {.name = "scale", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(scaled_eval_options, scale), .def = "1",
     LBBT_KEY_RANGE(0, 100), .flags = LBBT_KEY_MIN_EXCLUSIVE, .doc = "factor on the recorded accuracy"},
    {.name = "mode", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(scaled_eval_options, mode), .def = "plain",
     LBBT_KEY_NAMES(MODES), .doc = "plain, or scaled by scale"},
    {.name = "note", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(scaled_eval_options, note), .def = "",
     .flags = LBBT_KEY_IDENT, .doc = "a label recorded with the result"},
};
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(scaled_eval_options, KEYS, "An out-of-tree test task's keys.");

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  const scaled_eval_options *o = lbbt_stage_options(s);
  if (o->mode == 0 && lbbt_stage_option_written(s, "scale"))
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': scale is for mode: scaled", file, s->name);
  return LBBT_OK;
}

/* Top-1 over the images, counted batch by batch in lbbt_eval_pass (eval mode). */
typedef struct top1_count {
  int64_t correct, n;
} top1_count;

static lbbt_status count_batch(lbbt_model *m, lbbt_tape *t, lbbt_tensor *x, const int32_t *labels, int64_t start,
                               int count, void *user) {
  top1_count *c = user;
  lbbt_tensor *logits;
  LBBT_TRY(m->ops->forward_vision(m, t, x, NULL, &logits));
  int64_t K = logits->shape[1];
  for (int i = 0; i < count; i++) {
    const float *row = logits->data + (int64_t)i * K;
    int64_t best = 0;
    for (int64_t k = 1; k < K; k++)
      if (row[k] > row[best]) best = k;
    c->correct += best == labels[i];
  }
  c->n += count;
  return LBBT_OK;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  const scaled_eval_options *o = lbbt_stage_options(ctx->stage);
  int32_t *idx = NULL;
  int64_t n = 0;
  LBBT_TRY(lbbt_analysis_pick_images(ctx->test, o->images, 0, "scaled-eval", &idx, &n));
  lbbt_dataset *sub = NULL;
  lbbt_status st = lbbt_dataset_subset(ctx->test, idx, n, &sub);
  top1_count c = {0, 0};
  if (st == LBBT_OK) st = lbbt_eval_pass(ctx->model, sub, NULL, 64, count_batch, &c);
  double acc = c.n ? 100.0 * (double)c.correct / (double)c.n : 0;
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "acc1", o->mode ? acc * o->scale : acc);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "images", (double)n);
  if (st == LBBT_OK) st = lbbt_stage_options_record(ctx, &OPTIONS);
  lbbt_dataset_free(sub);
  free(idx);
  return st;
}

static const lbbt_task_ops OPS = {.version = LBBT_TASK_OPS_VERSION, .validate = validate, .run = run};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_TASK,
    .name = "scaled-eval",
    .summary = "out-of-tree test task: test top-1 with typed options",
    .task = &OPS,
    .options = &OPTIONS,
};
