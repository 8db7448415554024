/* Backbone option values (backbone_kit.h): the checks every backbone's options share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/backbone_kit.h"

lbbt_status lbbt_backbone_option_int(const char *plugin, const lbbt_option *o, int *out) {
  char *end = NULL;
  long v = strtol(o->value, &end, 10);
  if (!*o->value || *end || v < 1 || v > (1L << 30))
    return lbbt_fail(LBBT_E_INPUT, "line %d:%d: %s option %s: '%s' is not a positive integer",
                     o->line, o->col, plugin, o->key, o->value);
  *out = (int)v;
  return LBBT_OK;
}

lbbt_status lbbt_backbone_option_positive(const char *plugin, const lbbt_option *o, double *out) {
  char *end = NULL;
  double v = strtod(o->value, &end);
  if (!*o->value || *end || !(v > 0) || !isfinite(v))
    return lbbt_fail(LBBT_E_INPUT, "line %d:%d: %s option %s: '%s' is not a positive number",
                     o->line, o->col, plugin, o->key, o->value);
  *out = v;
  return LBBT_OK;
}

int *lbbt_backbone_int_field(const lbbt_backbone_int_option *table, int n, void *arch,
                             const char *key) {
  for (int i = 0; i < n; i++)
    if (!strcmp(table[i].key, key)) return (int *)((char *)arch + table[i].offset);
  return NULL;
}
