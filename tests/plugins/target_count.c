/* Test plugin: a task that declares the targets it needs (option `targets`: boxes or mask)
 * and no model, and counts what one pass of the batcher serves (with flip and resize, so the
 * targets move with the images): train/boxes (all boxes served) or train/mask_pixels
 * (labelled pixels, not ignore) and train/samples.  It shows a detection or segmentation
 * dataset reaching a task plugin built outside the tree, with no core edit. */
#include <stdlib.h>
#include <string.h>

#include "lbbt/dataset.h"
#include "lbbt/options.h"
#include "lbbt/plugin.h"
#include "lbbt/results.h"
#include "lbbt/runner.h"

/* The task's one key, typed (lbbt/options.h): the core checks it (file:line:col) before any
 * run and lists it in `lbbt check --keys`. */
typedef struct count_options {
  int targets; /* 0 boxes, 1 mask */
} count_options;
static const char *const TARGETS[] = {"boxes", "mask"};
static const lbbt_key KEYS[] = {
    {.name = "targets", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(count_options, targets), .def = "boxes",
     LBBT_KEY_NAMES(TARGETS), .doc = "the target kind counted: boxes or mask"},
};
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(count_options, KEYS, "The target_count test task's keys.");

static lbbt_status count_needs(const lbbt_stage_spec *stage, lbbt_task_needs *out) {
  out->what = LBBT_NEED_IMAGE_DATA;
  const count_options *o = lbbt_stage_options(stage);
  out->targets = o->targets == 1 ? LBBT_TARGETS_MASK : LBBT_TARGETS_BOXES;
  return LBBT_OK;
}

static lbbt_status count_run(struct lbbt_stage_ctx *ctx) {
  const lbbt_dataset *ds = ctx->train;
  lbbt_batcher_config cfg = {.batch_size = 8, .shuffle = 1, .seed = ctx->run->seed, .flip = 1,
                             .out_size = ds->height / 2};
  lbbt_batcher *b = NULL;
  LBBT_TRY(lbbt_batcher_create(ds, &cfg, &b));
  float *images = malloc(8 * (size_t)ds->channels * (size_t)cfg.out_size * (size_t)cfg.out_size * sizeof *images);
  lbbt_status st = images ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "target_count: out of memory");
  double boxes = 0, pixels = 0, samples = 0;
  lbbt_batcher_start_epoch(b, 0);
  for (int64_t k = 0; st == LBBT_OK && k < lbbt_batcher_num_batches(b); k++) {
    lbbt_batch_targets t;
    st = lbbt_batcher_get_targets(b, k, images, NULL, &t);
    if (st != LBBT_OK) break;
    samples += t.count;
    if (t.kind == LBBT_TARGET_BOXES) boxes += (double)t.box_start[t.count];
    if (t.kind == LBBT_TARGET_MASK)
      for (int64_t p = 0; p < (int64_t)t.count * t.height * t.width; p++) pixels += t.masks[p] != LBBT_MASK_IGNORE;
  }
  char key[300];
  if (st == LBBT_OK)
    st = lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "samples", key, sizeof key), samples);
  if (st == LBBT_OK && ds->target == LBBT_TARGET_BOXES)
    st = lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "boxes", key, sizeof key), boxes);
  if (st == LBBT_OK && ds->target == LBBT_TARGET_MASK)
    st = lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "mask_pixels", key, sizeof key), pixels);
  free(images);
  lbbt_batcher_free(b);
  return st;
}

static const lbbt_task_ops COUNT_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .run = count_run,
    .needs = count_needs,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_TASK,
    .name = "target_count",
    .summary = "test plugin: counts the boxes or mask pixels a batcher serves",
    .task = &COUNT_OPS,
    .options = &OPTIONS,
};
