/* What a stage needs prepared; see lbbt_task_needs in plugin.h. */
#include "lbbt/plugin.h"

#include <string.h>

void lbbt_task_needs_default(lbbt_task_needs *out) {
  memset(out, 0, sizeof *out);
  out->what = LBBT_NEED_VISION_MODEL | LBBT_NEED_IMAGE_DATA;
  out->targets = LBBT_TARGETS_CLASS;
}

lbbt_status lbbt_task_needs_of(const lbbt_task_ops *ops, const lbbt_stage_spec *stage, lbbt_task_needs *out) {
  if (!ops->needs) {
    lbbt_task_needs_default(out);
    return LBBT_OK;
  }
  memset(out, 0, sizeof *out);
  lbbt_status st = ops->needs(stage, out);
  if (st != LBBT_OK) return lbbt_fail_context(st, "stage '%s': its plugin's needs", stage->name);
  const unsigned known = LBBT_NEED_VISION_MODEL | LBBT_NEED_IMAGE_DATA | LBBT_NEED_BLOCK_STACK |
                         LBBT_NEED_LANGUAGE_MODEL | LBBT_NEED_TEXT_CORPUS;
  if (out->what & ~known)
    return lbbt_fail(LBBT_E_PLUGIN, "stage '%s': its plugin needs 0x%x, which this lbbt does not know "
                     "(known bits 0x%x): rebuild lbbt or the plugin", stage->name, out->what & ~known, known);
  if (out->outputs < 0)
    return lbbt_fail(LBBT_E_PLUGIN, "stage '%s': its plugin asks for a vision model with %d outputs",
                     stage->name, out->outputs);
  if ((unsigned)out->targets > LBBT_TARGETS_NONE)
    return lbbt_fail(LBBT_E_PLUGIN, "stage '%s': its plugin asks for targets of unknown kind %d", stage->name,
                     (int)out->targets);
  if (out->what & LBBT_NEED_VISION_MODEL) out->what |= LBBT_NEED_IMAGE_DATA; /* its input size */
  return LBBT_OK;
}
