/* Test plugin: a task whose table has no run function.  The loader must refuse it and
 * name the field ("task->run is NULL"), not crash later when a stage runs. */
#include "lbbt/plugin.h"

static lbbt_status null_run_validate(const lbbt_stage_spec *stage, const char *file) {
  return LBBT_OK;
}

static const lbbt_task_ops NULL_RUN_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = null_run_validate,
    .run = NULL,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_TASK,
    .name = "null_run",
    .summary = "test plugin: task without run, must be refused",
    .task = &NULL_RUN_OPS,
};
