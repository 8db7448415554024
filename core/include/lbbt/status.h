/* Status codes and error messages.
 *
 * Every library function that can fail returns an lbbt_status. On failure it also leaves a
 * message (what, where, what to do) in a thread-local buffer read with lbbt_last_error().
 * The library never calls exit() or abort(); the CLI maps statuses to exit codes with
 * lbbt_status_exit_code(): 0 ok, 2 bad input, 1 anything else. */
#ifndef LBBT_STATUS_H
#define LBBT_STATUS_H
#include <stddef.h>

/* Marks what liblbbt.so exports.  The library is built with -fvisibility=hidden, so a
 * function without it (everything declared under core/src: spec_*, yt_*, h5u_*, ...) is
 * internal: plugins and programs see only the headers in core/include/lbbt. */
#ifndef LBBT_API
#define LBBT_API __attribute__((visibility("default")))
#endif

typedef enum lbbt_status {
  LBBT_OK = 0,
  LBBT_E_INPUT,       /* bad user input: YAML, CLI argument, data file, checkpoint -> exit 2 */
  LBBT_E_SHAPE,       /* tensor shapes do not fit an op (programming or config error) */
  LBBT_E_IO,          /* read/write failed for a reason other than bad content */
  LBBT_E_NOMEM,       /* allocation failed */
  LBBT_E_NUMERIC,     /* NaN/Inf met, or an iteration did not converge */
  LBBT_E_UNSUPPORTED, /* a valid request this build cannot do (e.g. dtype, oneDNN primitive) */
  LBBT_E_PLUGIN,      /* a plugin could not be loaded or misbehaved */
  LBBT_E_INTERRUPTED, /* stopped by a signal; state saved where possible */
  LBBT_E_INTERNAL     /* a bug in lbbt */
} lbbt_status;

/* Set the thread's error message (printf format) and return `code`, so that
 *   return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: unknown key '%s'", file, line, col, key);
 * is the single way to fail with a message. */
LBBT_API lbbt_status lbbt_fail(lbbt_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prefix the current message with more context ("loading gpt2: " + old message), keep code. */
LBBT_API lbbt_status lbbt_fail_context(lbbt_status code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
LBBT_API const char *lbbt_last_error(void);
LBBT_API void lbbt_clear_error(void);
LBBT_API const char *lbbt_status_name(lbbt_status s);
/* 0 for OK, 2 for LBBT_E_INPUT (and shape errors caused by configuration), 1 otherwise. */
LBBT_API int lbbt_status_exit_code(lbbt_status s);

/* Propagate a failing status: LBBT_TRY(lbbt_linear(...)); */
#define LBBT_TRY(expr)                     \
  do {                                     \
    lbbt_status lbbt_try_s_ = (expr);      \
    if (lbbt_try_s_ != LBBT_OK) return lbbt_try_s_; \
  } while (0)
/* Propagate into a cleanup label: LBBT_TRY_GOTO(st, expr, done); */
#define LBBT_TRY_GOTO(st, expr, label)     \
  do {                                     \
    (st) = (expr);                         \
    if ((st) != LBBT_OK) goto label;       \
  } while (0)

#endif
