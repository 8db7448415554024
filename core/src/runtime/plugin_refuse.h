/* Refusing a plugin: the reason goes both into the caller's buffer (the loader prints it
 * beside the file) and into the thread's error message.  Used by the descriptor checks
 * (plugin_validate.c) and the option-table checks (config/spec_plugin.c). */
#ifndef LBBT_PLUGIN_REFUSE_H
#define LBBT_PLUGIN_REFUSE_H
#include <stddef.h>

#include "lbbt/status.h"

/* LBBT_E_PLUGIN with the formatted reason (cut at 511 bytes); reason may be NULL. */
__attribute__((format(printf, 3, 4))) lbbt_status lbbt_plugin_refuse(char *reason, size_t n,
                                                                     const char *fmt, ...);

#endif
