/* What the backbone tests (test_backbones, test_borrow_blocks, test_backbone_kit,
 * test_backbone_checksums) share: the plugin registry they load and backbone specs as the
 * runner would resolve them from a YAML `backbone:` block. */
#ifndef LBBT_TEST_BACKBONE_TESTS_H
#define LBBT_TEST_BACKBONE_TESTS_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/plugin.h"
#include "lbbt/spec.h"

/* $LBBT_BUILD, else "build". */
static inline const char *test_build_dir(void) {
  const char *e = getenv("LBBT_BUILD");
  return e && *e ? e : "build";
}

static void test_print_loader_warning_(const char *line) {
  fprintf(stderr, "plugin loader: %s\n", line);
}

/* Load the build's plugins into *r, and with test_plugins also BUILD/tests/plugins (through
 * LBBT_PLUGIN_PATH, quietly: it holds plugins refused on purpose); without, LBBT_PLUGIN_PATH
 * is cleared.  On failure prints "FAIL binary.load_plugins: ..." and returns 0. */
static inline int test_load_backbones(lbbt_registry **r, int test_plugins, const char *binary) {
  char dir[512], tests_dir[512];
  snprintf(dir, sizeof dir, "%s/plugins", test_build_dir());
  snprintf(tests_dir, sizeof tests_dir, "%s/tests/plugins", test_build_dir());
  setenv("LBBT_PLUGIN_PATH", test_plugins ? tests_dir : "", 1);
  if (lbbt_registry_load(r, dir, test_plugins ? NULL : test_print_loader_warning_) != LBBT_OK) {
    printf("FAIL %s.load_plugins: %s: %s\n", binary, dir, lbbt_last_error());
    return 0;
  }
  return 1;
}

/* The backbone table of plugin `name` in r, or NULL. */
static inline const lbbt_backbone_ops *test_backbone_ops(const lbbt_registry *r, const char *name) {
  const lbbt_plugin *p = lbbt_registry_find(r, LBBT_KIND_BACKBONE, name);
  return p ? p->backbone : NULL;
}

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
