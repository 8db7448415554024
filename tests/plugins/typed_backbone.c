/* Test plugin: a backbone whose options are typed (options.h), to show the mechanism works
 * for backbones as for tasks: `backbone.options` (or keys written directly under backbone:)
 * are bound by the core when the experiment loads, with file:line:col errors, and the
 * plugin reads them with lbbt_backbone_options.  It builds no model: create_vision reports
 * the values it was handed, which tests/unit/test_plugins.c checks. */
#include <stdio.h>

#include "lbbt/options.h"
#include "lbbt/plugin.h"

typedef struct typed_backbone_options {
  int width, depth;
  int act; /* 0 gelu, 1 relu */
} typed_backbone_options;

static const char *const ACTS[] = {"gelu", "relu"};
static const lbbt_key KEYS[] = {
    {.name = "width", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(typed_backbone_options, width), .def = "16",
     LBBT_KEY_RANGE(1, 4096), .doc = "model width"},
    {.name = "depth", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(typed_backbone_options, depth), .def = "1",
     LBBT_KEY_RANGE(1, 64), .doc = "blocks"},
    {.name = "act", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(typed_backbone_options, act), .def = "gelu",
     LBBT_KEY_NAMES(ACTS), .doc = "MLP activation"},
};
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(typed_backbone_options, KEYS, "A test backbone's sizes.");

static lbbt_status typed_create_vision(const lbbt_backbone_spec *spec, int in_channels, int image_size,
                                       int num_classes, uint64_t seed, lbbt_model **out) {
  *out = NULL;
  const typed_backbone_options *o = lbbt_backbone_options(spec);
  if (!o) return lbbt_fail(LBBT_E_INTERNAL, "typed-backbone: options not bound");
  return lbbt_fail(LBBT_E_UNSUPPORTED, "typed-backbone builds no model (width %d, depth %d, act %s)", o->width,
                   o->depth, ACTS[o->act]);
}

static const lbbt_backbone_ops OPS = {.version = LBBT_BACKBONE_OPS_VERSION, .create_vision = typed_create_vision};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_BACKBONE,
    .name = "typed-backbone",
    .summary = "test plugin: a backbone with typed options (builds no model)",
    .backbone = &OPS,
    .options = &OPTIONS,
};
