/* template — the task plugin to copy when you add a task (plugins/analyses/template.c for
 * an analysis).  It is built, loaded and run like every other plugin (tests/cli/plugins.sh
 * runs it on a tiny model), so the steps below are known to work.  Adding a task touches no
 * core file: the Makefile builds plugins/tasks/<name>.c into build/plugins/tasks/<name>.so.
 *
 *  1. Copy this file to plugins/tasks/<name>.c; <name> uses only [a-z0-9_-].
 *  2. Rename the descriptor's .name (what experiments write: `task: <name>`) and .summary
 *     (the line `lbbt plugins` prints).
 *  3. Declare the task's own keys in KEYS (typed, lbbt/options.h): the core checks them when
 *     an experiment loads (file:line:col, nearest key suggested), lists them in `lbbt check
 *     --keys`, and hands them over as lbbt_stage_options(stage).  A stage writes them
 *     directly (`{name: e, task: <name>, images: 100}`) or under options:.  The core stage
 *     keys (epochs, batch_size, lr, ...) are in lbbt_stage_spec.
 *  4. validate(): rules between keys that the table cannot state.  needs(): what the runner
 *     must prepare (lbbt_task_needs in plugin.h: a vision model, image data and the targets
 *     they carry, a language model, nothing).  run(): the work, on ctx->model and
 *     ctx->train / ctx->test, writing results through ctx->record (lbbt/runner.h has the
 *     stage-prefixed helpers: lbbt_stage_scalar, _string, _append, _array_f32/_i32).  A task that trains runs the core's loop (lbbt/train_loop.h:
 *     schedule, clipping, checkpoints and resume; plugins/tasks/linear_probe.c shows how).
 *  5. Add an experiment under experiments/ with a smoke tier, and a test.
 *
 * What this template does: evaluates the model as it is on (a class-balanced part of) the
 * test images and records top-1 and the mean cross-entropy under "<stage>/", with its
 * options.  It trains nothing, so `epochs` is not read. */
#include <stdlib.h>

#include "lbbt/analysis_util.h"
#include "lbbt/options.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"
#include "shared/top1.h"

#define PLUGIN_NAME "template"

/* ---- 3. keys ------------------------------------------------------------------------------ */
typedef struct template_options {
  int images;     /* test images evaluated; 0 = all */
  int eval_batch; /* images per forward pass */
} template_options;

static const lbbt_key KEYS[] = {
    {.name = "images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(template_options, images), .def = "0",
     LBBT_KEY_RANGE(0, 10000000), .doc = "test images evaluated (class-balanced); 0 = all"},
    {.name = "eval_batch", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(template_options, eval_batch), .def = "256",
     LBBT_KEY_RANGE(1, 1 << 20), .doc = "images per forward pass (memory only)"},
};
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(template_options, KEYS, "The task template's example keys (copy and replace them).");

/* ---- 4. the function table --------------------------------------------------------------- */
static lbbt_status template_validate(const lbbt_stage_spec *stage, const char *file) {
  const template_options *o = lbbt_stage_options(stage);
  if (o->images && o->images < o->eval_batch && lbbt_stage_option_written(stage, "eval_batch"))
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': eval_batch %d is more than the %d images evaluated", file,
                     stage->name, o->eval_batch, o->images);
  return LBBT_OK;
}

static lbbt_status template_run(lbbt_stage_ctx *ctx) {
  const template_options *o = lbbt_stage_options(ctx->stage);
  int32_t *idx = NULL;
  int64_t n = 0;
  LBBT_TRY(lbbt_analysis_pick_images(ctx->test, o->images, ctx->run->seed, PLUGIN_NAME, &idx, &n));
  lbbt_dataset *part = NULL;
  lbbt_status st = lbbt_dataset_subset(ctx->test, idx, n, &part);
  double acc = 0, loss = 0;
  if (st == LBBT_OK) st = top1_evaluate(ctx->model, part, NULL, o->eval_batch, &acc, &loss);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "test_acc1", acc);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "test_loss", loss);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "images", (double)n);
  if (st == LBBT_OK) st = lbbt_stage_options_record(ctx, &OPTIONS);
  if (st == LBBT_OK)
    lbbt_progress_log(ctx->progress, "run %d/%d stage %s: test top-1 %.2f%% on %lld images", ctx->run_index + 1,
                      ctx->n_runs, ctx->stage->name, acc, (long long)n);
  lbbt_dataset_free(part);
  free(idx);
  return st;
}

/* A vision model with a head of the data's classes, and test images with class labels.  Not
 * cacheable: nothing to share, it changes no parameter. */
static lbbt_status template_needs(const lbbt_stage_spec *stage, lbbt_task_needs *out) {
  (void)stage;
  out->what = LBBT_NEED_VISION_MODEL | LBBT_NEED_IMAGE_DATA;
  out->targets = LBBT_TARGETS_CLASS;
  return LBBT_OK;
}

static const lbbt_task_ops TEMPLATE_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = template_validate,
    .run = template_run,
    .needs = template_needs,
};

/* ---- 2. the descriptor: the one symbol the loader looks for ------------------------------ */
LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_TASK,
    .name = PLUGIN_NAME,
    .summary = "starting point for new tasks: typed options, evaluates test top-1",
    .task = &TEMPLATE_OPS,
    .options = &OPTIONS,
};
