/* template — the plugin to copy when you add an analysis (plugins/tasks/template.c for a
 * task, plugins/backbones/template.c for a backbone).
 *
 * It is built and loaded like every other plugin (`lbbt plugins` lists it), so the steps
 * below are known to work.  Adding a plugin touches no core file: the Makefile builds
 * every plugins/<kind>/<name>.c into build/plugins/<kind>/<name>.so and the loader finds it.
 *
 *  1. Copy this file to plugins/<kind>/<name>.c, where <kind> is backbones, tasks or
 *     analyses and <name> uses only [a-z0-9_-] (the loader refuses anything else).
 *  2. Rename the descriptor's .name and .summary (bottom of this file).  The name is what
 *     experiments write (`analysis: <name>`, `task: <name>`, `backbone: {plugin: <name>}`);
 *     the summary is the one line `lbbt plugins` prints.  Set .kind.
 *  3. Fill the function table of your kind: lbbt_task_ops (.task) for tasks and analyses,
 *     lbbt_backbone_ops (.backbone) for backbones — see core/include/lbbt/plugin.h for what
 *     each function must do and which may be NULL.  Always set .version to the header's
 *     *_OPS_VERSION and .struct_size to sizeof(lbbt_plugin): that is how old plugins keep
 *     loading when the ABI grows.  A backbone should also fill create_blocks, so that
 *     DETR- or Segmenter-style tasks can borrow its blocks: build create_vision's blocks
 *     and create_blocks on one function, as plugins/backbones/gpt2.c does (lbbt/block_stack.h).
 *     A task that borrows blocks calls lbbt_borrow_blocks(ctx->registry, &ctx->run->backbone,
 *     N, seed, "prefix.", 0, its_model, &stack) — see docs/ARCHITECTURE.md, "Borrowing blocks".
 *  4. Declare your options in KEYS below (options.h): every key a stage may write, typed,
 *     with its default, range and meaning.  The core rejects anything else when the
 *     experiment loads, naming file:line:col; validate() adds rules between keys.
 *  5. Add a YAML experiment under experiments/ that uses the plugin (a `smoke` tier that
 *     finishes in seconds, for the tests).
 *  6. Add a test: tests/unit/test_<name>.c for the maths (see tests/unit/test.h), and
 *     tests/cli/<name>.sh running the smoke tier end to end.
 *  7. `make && build/lbbt plugins` — your plugin is listed, or the reason it was refused is.
 *
 * Why one file per plugin, with a descriptor at the end: the loader validates the whole
 * descriptor in one place and can name the exact field that is wrong. */
#include <stdio.h>
#include <string.h>

#include "lbbt/analysis_util.h"
#include "lbbt/options.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"

#define PLUGIN_NAME "template"

/* ---- 4. options ----------------------------------------------------------------------- */
/* The keys a stage may write, typed: the core binds them when the experiment is loaded
 * (unknown keys with the nearest suggested, bad values and ranges fail with file:line:col
 * before anything runs; `lbbt check --keys` lists them) and hands the struct to validate
 * and run through lbbt_stage_options.  A key enters the run id only when a stage writes
 * it, so adding one later changes no existing result's id. */
typedef struct template_options {
  int top_k;     /* how many parameters to report */
  int per_layer; /* also one line per transformer block */
} template_options;

static const lbbt_key KEYS[] = {
    {.name = "top_k", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(template_options, top_k), .def = "5",
     LBBT_KEY_RANGE(1, 1000000), .doc = "how many of the largest parameter tensors to report"},
    {.name = "per_layer", .type = LBBT_KEY_BOOL, LBBT_KEY_FIELD(template_options, per_layer), .def = "false",
     .doc = "also report the parameters of each transformer block"},
};
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(template_options, KEYS, "The template's example keys (copy and replace them).");

/* ---- 3. the function table ------------------------------------------------------------ */
/* Called once per stage before any run starts, for rules between keys the table cannot
 * state (each key's own type and range were checked by the core already).  May be NULL. */
static lbbt_status template_validate(const lbbt_stage_spec *stage, const char *file) {
  const template_options *o = lbbt_stage_options(stage);
  if (o->per_layer && o->top_k > 1000)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': per_layer prints top_k lines per block; keep top_k "
                     "at most 1000 with it", file, stage->name);
  return LBBT_OK;
}

/* One stage of one run.  The runner's context (struct lbbt_stage_ctx, runner.h) carries
 * the model, the data and the results writer.  This template measures the smallest useful
 * thing, the model's parameter count (all and trainable), and records its options, so a
 * copy starts from a plugin that runs end to end (tests/cli/plugins.sh runs it). */
static lbbt_status template_run(struct lbbt_stage_ctx *ctx) {
  const template_options *o = lbbt_stage_options(ctx->stage);
  LBBT_TRY(lbbt_stage_options_record(ctx, &OPTIONS));
  LBBT_TRY(lbbt_stage_scalar(ctx, "params", (double)lbbt_model_numel(ctx->model, 0)));
  LBBT_TRY(lbbt_stage_scalar(ctx, "params_trainable", (double)lbbt_model_numel(ctx->model, 1)));
  lbbt_progress_log(ctx->progress, "run %d/%d stage %s: %lld parameters (top_k %d%s)", ctx->run_index + 1,
                    ctx->n_runs, ctx->stage->name, (long long)lbbt_model_numel(ctx->model, 0), o->top_k,
                    o->per_layer ? ", per layer" : "");
  return LBBT_OK;
}

static const lbbt_analysis_ops TEMPLATE_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = template_validate,
    .run = template_run,
};

/* ---- 2. the descriptor: the one symbol the loader looks for ------------------------- */
LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_ANALYSIS,
    .name = PLUGIN_NAME,
    .summary = "starting point for new analyses: typed options, records the parameter count",
    .task = &TEMPLATE_OPS,
    .options = &OPTIONS,
};
