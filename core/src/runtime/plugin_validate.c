/* Checks on a plugin descriptor, made before the registry accepts it (see plugin.h).
 * Kept apart from the loader so that every rule lives in one function that tests and
 * plugin authors can call on an in-memory descriptor. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "lbbt/plugin.h"
#include "runtime/plugin_refuse.h"
#include "config/spec_keys.h"

const char *lbbt_plugin_kind_name(lbbt_plugin_kind k) {
  switch (k) {
    case LBBT_KIND_BACKBONE: return "backbone";
    case LBBT_KIND_TASK: return "task";
    case LBBT_KIND_ANALYSIS: return "analysis";
  }
  return "unknown";
}

lbbt_status lbbt_plugin_kind_parse(const char *text, lbbt_plugin_kind *out) {
  static const lbbt_plugin_kind kinds[] = {LBBT_KIND_BACKBONE, LBBT_KIND_TASK, LBBT_KIND_ANALYSIS};
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
    if (text && !strcmp(text, lbbt_plugin_kind_name(kinds[i]))) {
      *out = kinds[i];
      return LBBT_OK;
    }
  return lbbt_fail(LBBT_E_INPUT, "unknown plugin kind '%s': use backbone, task or analysis",
                   text ? text : "(null)");
}

/* Write the reason into both the caller's buffer and the thread's error message. */
lbbt_status lbbt_plugin_refuse(char *reason, size_t n, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (reason && n) snprintf(reason, n, "%s", line);
  return lbbt_fail(LBBT_E_PLUGIN, "%s", line);
}

/* Names are used as YAML values, HDF5 group names and file names: keep them plain. */
static int name_char_ok(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static lbbt_status check_backbone_table(const lbbt_plugin *p, char *reason, size_t n) {
  const lbbt_backbone_ops *t = p->backbone;
  if (!t) return lbbt_plugin_refuse(reason, n, "backbone table is NULL: a backbone plugin sets .backbone");
  if (p->task)
    return lbbt_plugin_refuse(reason, n, "backbone plugin also sets the task table: set only .backbone");
  if (t->version < 1)
    return lbbt_plugin_refuse(reason, n, "backbone->version is %d, expected >= 1: set it to "
                  "LBBT_BACKBONE_OPS_VERSION (%d)", t->version, LBBT_BACKBONE_OPS_VERSION);
  if (!t->create_vision) return lbbt_plugin_refuse(reason, n, "backbone->create_vision is NULL");
  return LBBT_OK;
}

/* Tasks and analyses share one table shape (lbbt_task_ops) in the field `task`. */
static lbbt_status check_task_table(const lbbt_plugin *p, char *reason, size_t n) {
  const char *kind = lbbt_plugin_kind_name(p->kind);
  const lbbt_task_ops *t = p->task;
  if (!t) return lbbt_plugin_refuse(reason, n, "task table is NULL: a%s %s plugin sets .task",
                        p->kind == LBBT_KIND_ANALYSIS ? "n" : "", kind);
  if (p->backbone)
    return lbbt_plugin_refuse(reason, n, "%s plugin also sets the backbone table: set only .task", kind);
  if (t->version < 1)
    return lbbt_plugin_refuse(reason, n, "task->version is %d, expected >= 1: set it to "
                  "LBBT_TASK_OPS_VERSION (%d)", t->version, LBBT_TASK_OPS_VERSION);
  if (!t->run) return lbbt_plugin_refuse(reason, n, "task->run is NULL");
  return LBBT_OK;
}

lbbt_status lbbt_plugin_validate(const lbbt_plugin *p, char *reason, size_t n) {
  if (reason && n) reason[0] = 0;
  if (!p) return lbbt_plugin_refuse(reason, n, "descriptor is NULL");
  if (p->abi_version != LBBT_ABI_VERSION)
    return lbbt_plugin_refuse(reason, n, "abi_version is %d, this lbbt expects %d: rebuild the plugin "
                  "against this lbbt's headers", p->abi_version, LBBT_ABI_VERSION);
  if (p->struct_size < LBBT_PLUGIN_MIN_SIZE)
    return lbbt_plugin_refuse(reason, n, "struct_size is %zu, smaller than the ABI %d layout (%zu bytes): "
                  "set .struct_size = sizeof(lbbt_plugin)", p->struct_size, LBBT_ABI_VERSION,
                  (size_t)LBBT_PLUGIN_MIN_SIZE);
  if (p->kind != LBBT_KIND_BACKBONE && p->kind != LBBT_KIND_TASK && p->kind != LBBT_KIND_ANALYSIS)
    return lbbt_plugin_refuse(reason, n, "unknown kind %d: use LBBT_KIND_BACKBONE, LBBT_KIND_TASK or "
                  "LBBT_KIND_ANALYSIS", (int)p->kind);
  if (!p->name) return lbbt_plugin_refuse(reason, n, "name is NULL");
  if (!p->name[0]) return lbbt_plugin_refuse(reason, n, "name is empty");
  size_t len = strlen(p->name);
  if (len >= LBBT_NAME_MAX)
    return lbbt_plugin_refuse(reason, n, "name '%.40s...' is %zu characters, the limit is %d", p->name, len,
                  LBBT_NAME_MAX - 1);
  for (const char *c = p->name; *c; c++)
    if (!name_char_ok(*c))
      return lbbt_plugin_refuse(reason, n, "name '%s' has character '%c' (0x%02x) outside [a-z0-9_-]", p->name,
                    (*c >= 0x20 && *c < 0x7f) ? *c : '?', (unsigned char)*c);
  if (!p->summary) return lbbt_plugin_refuse(reason, n, "summary is NULL");
  if (!p->summary[0]) return lbbt_plugin_refuse(reason, n, "summary is empty");
  if (strchr(p->summary, '\n')) return lbbt_plugin_refuse(reason, n, "summary has a newline: keep it to one line");
  if (p->kind == LBBT_KIND_BACKBONE) LBBT_TRY(check_backbone_table(p, reason, n));
  else LBBT_TRY(check_task_table(p, reason, n));
  return p->options ? spec_option_table_check(p->options, reason, n) : LBBT_OK;
}
