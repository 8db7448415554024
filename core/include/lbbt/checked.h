/* Checked size arithmetic for values read from files (headers, config.json, options).
 *
 * A size that comes from a file is hostile until checked: a 70-byte IDX header can declare
 * 16 images of 2^30 x 2^30 pixels, whose byte count wraps to 0 in 64 bits.  Every reader
 * computes such products and sums with these helpers, which refuse negative operands and
 * overflow, and parses integers with lbbt_parse_i64 (range-checked, never truncated). */
#ifndef LBBT_CHECKED_H
#define LBBT_CHECKED_H
#include <stdint.h>

#include "lbbt/status.h"

/* *out = a * b; 0 (and *out untouched) when a or b is negative or the product overflows. */
static inline int lbbt_mul_i64(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return 0;
  *out = r;
  return 1;
}

/* *out = a + b; 0 when a or b is negative or the sum overflows. */
static inline int lbbt_add_i64(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r)) return 0;
  *out = r;
  return 1;
}

/* *out = a * b as an int (sizes kept in int fields); 0 when negative or beyond INT32_MAX. */
static inline int lbbt_mul_int(int a, int b, int *out) {
  int64_t r;
  if (!lbbt_mul_i64(a, b, &r) || r > INT32_MAX) return 0;
  *out = (int)r;
  return 1;
}

/* *out = d[0] * ... * d[n-1] (1 for n = 0); 0 when any factor is negative or it overflows. */
static inline int lbbt_product_i64(const int64_t *d, int n, int64_t *out) {
  int64_t r = 1;
  for (int i = 0; i < n; i++)
    if (!lbbt_mul_i64(r, d[i], &r)) return 0;
  *out = r;
  return 1;
}

/* Parse all of `text` as a decimal integer in [lo, hi].  LBBT_E_INPUT with a message
 * "'<text>' is not an integer in [lo, hi]" (callers add where it came from with
 * lbbt_fail_context); never wraps or truncates. */
LBBT_API lbbt_status lbbt_parse_i64(const char *text, int64_t lo, int64_t hi, int64_t *out);

#endif
