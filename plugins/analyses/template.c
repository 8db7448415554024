/* template — the plugin to copy when you add a backbone, task or analysis.
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
 *  4. Declare your options in OPTIONS below: every key a stage may write, its meaning and
 *     its check.  validate() rejects anything else before a run starts, naming file:line:col.
 *  5. Add a YAML experiment under experiments/ that uses the plugin (a `smoke` tier that
 *     finishes in seconds, for the tests).
 *  6. Add a test: tests/unit/test_<name>.c for the maths (see tests/unit/test.h), and
 *     tests/cli/<name>.sh running the smoke tier end to end.
 *  7. `make && build/lbbt plugins` — your plugin is listed, or the reason it was refused is.
 *
 * Why one file per plugin, with a descriptor at the end: the loader validates the whole
 * descriptor in one place and can name the exact field that is wrong. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/plugin.h"

#define PLUGIN_NAME "template"

/* ---- 4. options ----------------------------------------------------------------------- */
/* Checks one option value; returns NULL when fine, else what is wrong (a static string). */
typedef const char *(*option_check)(const char *value);

static const char *check_positive_int(const char *value) {
  char *end;
  errno = 0;
  long v = strtol(value, &end, 10);
  if (errno || end == value || *end || v < 1 || v > 1000000) return "a whole number from 1 to 1000000";
  return NULL;
}

static const char *check_bool(const char *value) {
  static const char *ok[] = {"true", "false", "yes", "no", "on", "off", "1", "0"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (!strcmp(value, ok[i])) return NULL;
  return "true or false";
}

typedef struct option_decl {
  const char *key;
  const char *meaning;
  option_check check;
} option_decl;

static const option_decl OPTIONS[] = {
    {"top_k", "how many parameters to report (default 5)", check_positive_int},
    {"per_layer", "also report one line per transformer block (default false)", check_bool},
};
static const int N_OPTIONS = (int)(sizeof OPTIONS / sizeof OPTIONS[0]);

static const option_decl *find_option(const char *key) {
  for (int i = 0; i < N_OPTIONS; i++)
    if (!strcmp(OPTIONS[i].key, key)) return &OPTIONS[i];
  return NULL;
}

/* ---- 3. the function table ------------------------------------------------------------ */
/* Called once per stage before any run starts, so a typo fails in a second, not after an
 * hour of training.  Errors carry file:line:col from the option as written. */
static lbbt_status template_validate(const lbbt_stage_spec *stage, const char *file) {
  for (int i = 0; i < stage->n_options; i++) {
    const lbbt_option *o = &stage->options[i];
    const option_decl *d = find_option(o->key);
    if (!d) {
      char valid[256] = "";
      for (int k = 0; k < N_OPTIONS; k++) {
        strncat(valid, k ? ", " : "", sizeof valid - strlen(valid) - 1);
        strncat(valid, OPTIONS[k].key, sizeof valid - strlen(valid) - 1);
      }
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': analysis '%s' has no option '%s' "
                       "(valid: %s)", file, o->line, o->col, stage->name, PLUGIN_NAME, o->key, valid);
    }
    const char *want = d->check(o->value);
    if (want)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': option '%s' is '%s', expected %s",
                       file, o->line, o->col, stage->name, o->key, o->value, want);
  }
  return LBBT_OK;
}

/* One stage of one run.  The runner's context (struct lbbt_stage_ctx, runner.h) carries
 * the model, the data and the results writer; this template does not read it yet, so it
 * computes and writes nothing.  A real analysis reads ctx->model here, measures, and
 * writes arrays and scalars through ctx. */
static lbbt_status template_run(struct lbbt_stage_ctx *ctx) {
  if (!ctx) return lbbt_fail(LBBT_E_INTERNAL, "analysis '%s': run called without a stage context", PLUGIN_NAME);
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
    .summary = "starting point for new plugins: validates its options, measures nothing yet",
    .task = &TEMPLATE_OPS,
};
