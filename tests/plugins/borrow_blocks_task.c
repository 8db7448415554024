/* A task plugin that borrows blocks from a backbone by name, as a DETR or Segmenter task
 * would: it proves that a separate .so reaches another plugin's blocks through the registry
 * (lbbt_borrow_blocks), trains them (forward + backward) and that `train_layers` freezes by
 * the borrowed parameters' layer index.  tests/unit/test_borrow_blocks.c drives it with a
 * hand-built stage context and reads what it recorded.
 *
 * Options: n_blocks (default 2), prefix (default "borrowed.").  The backbone is the run's
 * (ctx->run->backbone), seeded as the runner seeds create_vision.  The registry is
 * ctx->registry, or the process-wide one when that is NULL.
 * Records under "<stage>/": width, n_blocks, n_params (the stack's), loss, grad_trained
 * (sum of |grad| over borrowed parameters train_layers selects) and grad_frozen (the same
 * over the others: 0 when freezing works). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/block_stack.h"
#include "lbbt/runner.h"

enum { BATCH = 2, TOKENS = 5 };

static lbbt_status option_n_blocks(const lbbt_stage_spec *stage, const char *file, int *n) {
  *n = 2;
  const lbbt_option *o = lbbt_option_find(stage->options, stage->n_options, "n_blocks");
  if (!o) return LBBT_OK;
  char *end;
  errno = 0;
  long v = strtol(o->value, &end, 10);
  if (errno || end == o->value || *end || v < 1 || v > 1000)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: task 'borrow-check': n_blocks '%s' is not a whole "
                     "number from 1 to 1000", file, o->line, o->col, o->value);
  *n = (int)v;
  return LBBT_OK;
}

static lbbt_status borrow_validate(const lbbt_stage_spec *stage, const char *file) {
  for (int i = 0; i < stage->n_options; i++) {
    const lbbt_option *o = &stage->options[i];
    if (strcmp(o->key, "n_blocks") && strcmp(o->key, "prefix"))
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: task 'borrow-check' has no option '%s' (valid: "
                       "n_blocks, prefix)", file, o->line, o->col, o->key);
  }
  int n;
  return option_n_blocks(stage, file, &n);
}

static double grad_abs_sum(const lbbt_tensor *t) {
  double s = 0;
  if (t->grad)
    for (int64_t i = 0; i < t->numel; i++) s += fabs(t->grad[i]);
  return s;
}

/* x [B, T, C] through the stack, loss = mean(y^2), backward; record what reached whom. */
static lbbt_status train_step(lbbt_stage_ctx *ctx, lbbt_block_stack *s) {
  lbbt_tape *tape = NULL;
  lbbt_tensor *x = NULL, *zeros = NULL, *y, *loss;
  int64_t shape[3] = {BATCH, TOKENS, s->dim};
  lbbt_status st = lbbt_tape_create(&tape);
  if (st == LBBT_OK) st = lbbt_tensor_create(&x, 3, shape);
  if (st == LBBT_OK) st = lbbt_tensor_create(&zeros, 3, shape);
  if (st == LBBT_OK) {
    for (int64_t i = 0; i < x->numel; i++) x->data[i] = (float)sin(0.61 * (double)i + 0.3);
    memset(zeros->data, 0, (size_t)zeros->numel * sizeof(float));
    st = lbbt_block_stack_forward(tape, s, x, NULL, &y);
  }
  if (st == LBBT_OK) st = lbbt_mse(tape, y, zeros, &loss);
  if (st == LBBT_OK) st = lbbt_tape_backward(tape, loss);
  if (st == LBBT_OK) {
    double trained = 0, frozen = 0;
    for (int i = s->first_param; i < s->first_param + s->n_params; i++) {
      const lbbt_param *p = &s->model->params[i];
      if (p->trainable)
        trained += grad_abs_sum(p->t);
      else
        frozen += grad_abs_sum(p->t);
    }
    char key[160];
    lbbt_record *r = ctx->record;
    st = lbbt_record_scalar(r, lbbt_stage_key(ctx, "width", key, sizeof key), s->dim);
    if (st == LBBT_OK) st = lbbt_record_scalar(r, lbbt_stage_key(ctx, "n_blocks", key, sizeof key), s->n_blocks);
    if (st == LBBT_OK) st = lbbt_record_scalar(r, lbbt_stage_key(ctx, "n_params", key, sizeof key), s->n_params);
    if (st == LBBT_OK) st = lbbt_record_scalar(r, lbbt_stage_key(ctx, "loss", key, sizeof key), loss->data[0]);
    if (st == LBBT_OK) st = lbbt_record_scalar(r, lbbt_stage_key(ctx, "grad_trained", key, sizeof key), trained);
    if (st == LBBT_OK) st = lbbt_record_scalar(r, lbbt_stage_key(ctx, "grad_frozen", key, sizeof key), frozen);
  }
  lbbt_tensor_free(x);
  lbbt_tensor_free(zeros);
  lbbt_tape_free(tape);
  return st;
}

static lbbt_status borrow_run(struct lbbt_stage_ctx *ctx) {
  if (!ctx || !ctx->run || !ctx->stage || !ctx->record)
    return lbbt_fail(LBBT_E_INTERNAL, "task 'borrow-check': run called without a stage context");
  int n;
  LBBT_TRY(option_n_blocks(ctx->stage, "(stage)", &n));
  const lbbt_option *po = lbbt_option_find(ctx->stage->options, ctx->stage->n_options, "prefix");
  const lbbt_backbone_spec *spec = &ctx->run->backbone;
  /* The task's own model: a DETR would add its CNN, queries and heads here. */
  lbbt_model *m = NULL;
  LBBT_TRY(lbbt_model_create(&m, NULL, "borrow-check"));
  lbbt_block_stack *s = NULL;
  lbbt_status st = lbbt_borrow_blocks(ctx->registry, spec, n,
                                      ctx->run->seed + (uint64_t)spec->init_seed_offset,
                                      po ? po->value : "borrowed.", 0, m, &s);
  if (st == LBBT_OK) st = lbbt_model_select_trainable(m, &ctx->stage->train_layers, 1, 1);
  if (st == LBBT_OK) st = train_step(ctx, s);
  lbbt_block_stack_free(s);
  lbbt_model_free(m);
  return st;
}

static const lbbt_task_ops BORROW_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = borrow_validate,
    .run = borrow_run,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_TASK,
    .name = "borrow-check",
    .summary = "test plugin: borrows a backbone's first blocks through the registry and trains them once",
    .task = &BORROW_OPS,
};
