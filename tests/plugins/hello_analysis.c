/* A well-formed analysis plugin that lives outside plugins/: the Makefile builds it into
 * build/tests/plugins/, which the loader only searches through LBBT_PLUGIN_PATH.  It shows
 * that a plugin is added without any core change, and gives the loader tests a plugin whose
 * functions they can call.
 *
 * validate is real (accepts one option, `greeting`, non-empty).  run does not read its
 * context: struct lbbt_stage_ctx belongs to the runner and is not defined yet, so run
 * checks only that it got one and writes nothing. */
#include <string.h>

#include "lbbt/plugin.h"

static lbbt_status hello_validate(const lbbt_stage_spec *stage, const char *file) {
  for (int i = 0; i < stage->n_options; i++) {
    const lbbt_option *o = &stage->options[i];
    if (strcmp(o->key, "greeting"))
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: analysis 'hello' has no option '%s' (valid: greeting)",
                       file, o->line, o->col, o->key);
    if (!o->value[0])
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: analysis 'hello': greeting is empty", file, o->line,
                       o->col);
  }
  return LBBT_OK;
}

static lbbt_status hello_run(struct lbbt_stage_ctx *ctx) {
  if (!ctx) return lbbt_fail(LBBT_E_INTERNAL, "analysis 'hello': run called without a stage context");
  return LBBT_OK;
}

static const lbbt_analysis_ops HELLO_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = hello_validate,
    .run = hello_run,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_ANALYSIS,
    .name = "hello",
    .summary = "test plugin: says hello from LBBT_PLUGIN_PATH",
    .task = &HELLO_OPS,
};
