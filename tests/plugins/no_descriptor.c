/* Test plugin: a shared object without the descriptor symbol.  The descriptor below is
 * misspelled on purpose (the likeliest way to get this wrong), so dlsym finds nothing. */
#include "lbbt/plugin.h"

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptr = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_ANALYSIS,
    .name = "no_descriptor",
    .summary = "test plugin: misspelled descriptor symbol, must be refused",
};
