/* A backbone plugin whose table says version 2, as one built before create_blocks existed
 * (version 3) would.  It is built against today's header and sets create_blocks anyway, so
 * the loader must go by the version, not by what the memory holds: the registry's
 * normalised table has create_blocks NULL, and lbbt_borrow_blocks refuses the plugin with
 * "does not lend blocks" (tests/unit/test_plugins.c, test_borrow_blocks.c).
 * create_vision is a test double: this plugin exists for the loader, it builds no model. */
#include "lbbt/plugin.h"

static lbbt_status v2_create_vision(const lbbt_backbone_spec *spec, int in_channels,
                                    int image_size, int num_classes, uint64_t seed,
                                    lbbt_model **out) {
  *out = NULL;
  return lbbt_fail(LBBT_E_UNSUPPORTED, "backbone 'old-backbone-v2' is a loader test plugin and "
                   "builds no models");
}

/* Must never be reached: its slot is past a version-2 table. */
static lbbt_status v2_create_blocks(const lbbt_backbone_spec *spec, int n_blocks, uint64_t seed,
                                    const char *prefix, int layer_offset, lbbt_model *into,
                                    struct lbbt_block_stack **out) {
  *out = NULL;
  return lbbt_fail(LBBT_E_INTERNAL, "old-backbone-v2: create_blocks called although the table "
                   "says version 2");
}

static const lbbt_backbone_ops V2_OPS = {
    .version = 2,
    .create_vision = v2_create_vision,
    .create_blocks = v2_create_blocks,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_BACKBONE,
    .name = "old-backbone-v2",
    .summary = "test plugin: a backbone table at version 2 (no create_blocks)",
    .backbone = &V2_OPS,
};
