/* Test plugin: a task built against the ABI 1 headers (lbbt before typed options).  The
 * declarations below are a copy of what ABI 1's lbbt/plugin.h declared, not today's header,
 * so this object has exactly the layout a plugin built then has: no `options` field, and
 * a validate that reads the stage's labels from lbbt_stage_spec's ABI 1 layout (a field
 * that no longer exists there).  Loading it must not misread anything: the loader refuses it
 * on abi_version alone, naming found and expected versions and telling to rebuild
 * (tests/unit/test_plugins.c, tests/cli/plugins.sh). */
#include <stddef.h>

#include "lbbt/status.h"

/* ---- ABI 1 declarations (core/include/lbbt/plugin.h as of ABI 1) ---- */
typedef enum { ABI1_KIND_BACKBONE = 1, ABI1_KIND_TASK = 2, ABI1_KIND_ANALYSIS = 3 } abi1_plugin_kind;
struct lbbt_stage_spec;
struct lbbt_stage_ctx;
typedef struct abi1_task_ops {
  int version;
  lbbt_status (*validate)(const struct lbbt_stage_spec *stage, const char *file);
  lbbt_status (*run)(struct lbbt_stage_ctx *ctx);
} abi1_task_ops;
typedef struct abi1_plugin {
  int abi_version;
  size_t struct_size;
  abi1_plugin_kind kind;
  const char *name;
  const char *summary;
  const void *backbone;
  const abi1_task_ops *task;
} abi1_plugin;

/* Must never run: this lbbt's lbbt_stage_spec is not the layout this plugin knows. */
static lbbt_status abi1_validate(const struct lbbt_stage_spec *stage, const char *file) {
  return lbbt_fail(LBBT_E_INTERNAL, "%s: abi1-task validate called: an ABI 1 plugin was loaded", file);
}

static lbbt_status abi1_run(struct lbbt_stage_ctx *ctx) {
  return lbbt_fail(LBBT_E_INTERNAL, "abi1-task run called: an ABI 1 plugin was loaded");
}

static const abi1_task_ops ABI1_OPS = {.version = 1, .validate = abi1_validate, .run = abi1_run};

__attribute__((visibility("default"))) const abi1_plugin lbbt_plugin_descriptor = {
    .abi_version = 1,
    .struct_size = sizeof(abi1_plugin),
    .kind = ABI1_KIND_TASK,
    .name = "abi1-task",
    .summary = "test plugin: built against the ABI 1 layout, must be refused",
    .task = &ABI1_OPS,
};
