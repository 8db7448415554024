/* Seeded random numbers whose streams do not depend on thread count.
 *
 * An lbbt_rng is a small value type (xoshiro256**, seeded through splitmix64).  Independent
 * streams come from lbbt_rng_derive(parent_seed, "purpose", index): the same (seed, purpose,
 * index) always gives the same stream, so e.g. each parameter tensor's initialisation, each
 * epoch's shuffle and each step's dropout masks are reproducible whatever the threads. */
#ifndef LBBT_RNG_H
#define LBBT_RNG_H
#include "lbbt/status.h"
#include <stdint.h>

typedef struct lbbt_rng {
  uint64_t s[4];
  int has_spare; /* Box-Muller keeps its second value */
  double spare;
} lbbt_rng;

LBBT_API void lbbt_rng_seed(lbbt_rng *r, uint64_t seed);
/* A stream keyed by (seed, purpose, index). */
LBBT_API void lbbt_rng_derive(lbbt_rng *r, uint64_t seed, const char *purpose, uint64_t index);
LBBT_API uint64_t lbbt_rng_u64(lbbt_rng *r);
LBBT_API double lbbt_rng_uniform(lbbt_rng *r);            /* [0, 1) */
LBBT_API uint32_t lbbt_rng_below(lbbt_rng *r, uint32_t n); /* uniform in [0, n), unbiased */
LBBT_API double lbbt_rng_normal(lbbt_rng *r);             /* N(0, 1) */
/* Fisher-Yates shuffle of an int32 array. */
LBBT_API void lbbt_rng_shuffle_i32(lbbt_rng *r, int32_t *a, int64_t n);
/* 64-bit FNV-1a of a string, used to key streams and ids. */
LBBT_API uint64_t lbbt_hash_str(const char *s);

#endif
