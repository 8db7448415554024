/* Test plugin: built for an ABI this lbbt does not know (999).  The loader must refuse it
 * without reading anything past abi_version, and say found vs expected. */
#include "lbbt/plugin.h"

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = 999,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_ANALYSIS,
    .name = "bad_abi",
    .summary = "test plugin: wrong ABI version, must be refused",
};
