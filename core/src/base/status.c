/* Thread-local error messages; see status.h. */
#include "lbbt/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char g_msg[2048];

lbbt_status lbbt_fail(lbbt_status code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  return code;
}

lbbt_status lbbt_fail_context(lbbt_status code, const char *fmt, ...) {
  char old[sizeof g_msg], pre[512];
  memcpy(old, g_msg, sizeof old);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(pre, sizeof pre, fmt, ap);
  va_end(ap);
  snprintf(g_msg, sizeof g_msg, "%.500s: %.1500s", pre, old);
  return code;
}

const char *lbbt_last_error(void) { return g_msg[0] ? g_msg : "no error message"; }
void lbbt_clear_error(void) { g_msg[0] = 0; }

const char *lbbt_status_name(lbbt_status s) {
  switch (s) {
    case LBBT_OK: return "ok";
    case LBBT_E_INPUT: return "bad input";
    case LBBT_E_SHAPE: return "shape mismatch";
    case LBBT_E_IO: return "I/O error";
    case LBBT_E_NOMEM: return "out of memory";
    case LBBT_E_NUMERIC: return "numerical failure";
    case LBBT_E_UNSUPPORTED: return "unsupported";
    case LBBT_E_PLUGIN: return "plugin error";
    case LBBT_E_INTERRUPTED: return "interrupted";
    case LBBT_E_INTERNAL: return "internal error";
  }
  return "unknown status";
}

int lbbt_status_exit_code(lbbt_status s) {
  if (s == LBBT_OK) return 0;
  if (s == LBBT_E_INPUT) return 2;
  return 1;
}
