/* Range-checked integer parsing; see lbbt/checked.h. */
#include "lbbt/checked.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

lbbt_status lbbt_parse_i64(const char *text, int64_t lo, int64_t hi, int64_t *out) {
  char *end = NULL;
  errno = 0;
  /* strtoll skips leading blanks and accepts "+"; a size written by a person or a program
   * has neither, so both are refused, as is anything after the digits. */
  long long v = text && *text && !isspace((unsigned char)*text) && *text != '+'
                    ? strtoll(text, &end, 10)
                    : 0;
  if (!text || !end || end == text || *end || errno == ERANGE || v < lo || v > hi)
    return lbbt_fail(LBBT_E_INPUT, "'%.64s' is not an integer in [%lld, %lld]",
                     text ? text : "(null)", (long long)lo, (long long)hi);
  *out = (int64_t)v;
  return LBBT_OK;
}
