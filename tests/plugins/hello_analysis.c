/* A well-formed analysis plugin that lives outside plugins/: the Makefile builds it into
 * build/tests/plugins/, which the loader only searches through LBBT_PLUGIN_PATH.  It shows
 * that a plugin is added without any core change, and gives the loader tests a plugin whose
 * functions they can call.
 *
 * validate is real (one typed option, `greeting`, which must not be empty).  run does not read its
 * context: struct lbbt_stage_ctx belongs to the runner and is not defined yet, so run
 * checks only that it got one and writes nothing. */
#include "lbbt/options.h"
#include "lbbt/plugin.h"

/* One typed key (options.h): the core binds it when an experiment loads. */
typedef struct hello_options {
  char greeting[32];
} hello_options;
static const lbbt_key KEYS[] = {
    {.name = "greeting", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(hello_options, greeting), .def = "hello",
     .doc = "what to say"},
};
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(hello_options, KEYS, "What hello says.");

static lbbt_status hello_validate(const lbbt_stage_spec *stage, const char *file) {
  const hello_options *o = lbbt_stage_options(stage);
  if (!o->greeting[0]) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': analysis 'hello': greeting is empty", file,
                                        stage->name);
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
    .options = &OPTIONS,
};
