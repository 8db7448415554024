/* Test plugin: a second analysis named "hello".  Its path sorts after hello_analysis.so, so
 * the loader keeps that one and refuses this one, naming the first file. */
#include "lbbt/plugin.h"

static lbbt_status copy_run(struct lbbt_stage_ctx *ctx) {
  return ctx ? LBBT_OK : lbbt_fail(LBBT_E_INTERNAL, "analysis 'hello' (copy): no stage context");
}

static const lbbt_analysis_ops COPY_OPS = {.version = LBBT_TASK_OPS_VERSION, .run = copy_run};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_ANALYSIS,
    .name = "hello",
    .summary = "test plugin: a duplicate name, must be refused",
    .task = &COPY_OPS,
};
