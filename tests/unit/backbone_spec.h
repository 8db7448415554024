/* Backbone specs for the backbone tests (test_backbones, test_borrow_blocks, test_backbone_kit,
 * test_backbone_checksums), as the runner would resolve them from a YAML `backbone:` block. */
#ifndef LBBT_TEST_BACKBONE_SPEC_H
#define LBBT_TEST_BACKBONE_SPEC_H
#include <stdio.h>
#include <string.h>

#include "lbbt/spec.h"

/* The position test options claim in the YAML file (errors name it as "line 7:5"). */
enum { TEST_OPTION_LINE = 7, TEST_OPTION_COL = 5 };

/* plugin with checkpoint (NULL: none) or scratch preset arch (NULL: the plugin's default),
 * init mode, patch size; mean pooling, the architecture's attention, no options. */
static inline lbbt_backbone_spec test_backbone_spec(const char *plugin, const char *checkpoint,
                                                    const char *arch, lbbt_init_mode init,
                                                    int patch_size) {
  lbbt_backbone_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.plugin, sizeof s.plugin, "%s", plugin);
  if (checkpoint) snprintf(s.checkpoint, sizeof s.checkpoint, "%s", checkpoint);
  if (arch) snprintf(s.arch, sizeof s.arch, "%s", arch);
  s.init = init;
  s.patch_size = patch_size;
  s.pool = LBBT_POOL_MEAN;
  s.attention = LBBT_ATTN_DEFAULT;
  return s;
}

/* Append backbone option key: value (written at TEST_OPTION_LINE:TEST_OPTION_COL). */
static inline void test_add_option(lbbt_backbone_spec *s, const char *key, const char *value) {
  lbbt_option *o = &s->options[s->n_options++];
  snprintf(o->key, sizeof o->key, "%s", key);
  snprintf(o->value, sizeof o->value, "%s", value);
  o->line = TEST_OPTION_LINE;
  o->col = TEST_OPTION_COL;
}

#endif
