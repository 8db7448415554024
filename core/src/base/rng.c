/* xoshiro256** (Blackman & Vigna) with splitmix64 seeding; see rng.h. */
#include "lbbt/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void lbbt_rng_seed(lbbt_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
  r->has_spare = 0;
  r->spare = 0;
}

uint64_t lbbt_hash_str(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; s && *s; s++) {
    h ^= (unsigned char)*s;
    h *= 0x100000001b3ULL;
  }
  return h;
}

void lbbt_rng_derive(lbbt_rng *r, uint64_t seed, const char *purpose, uint64_t index) {
  uint64_t x = seed ^ lbbt_hash_str(purpose);
  uint64_t a = splitmix64(&x);
  x = a ^ (index * 0xd1b54a32d192ed03ULL);
  lbbt_rng_seed(r, splitmix64(&x));
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lbbt_rng_u64(lbbt_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double lbbt_rng_uniform(lbbt_rng *r) { return (double)(lbbt_rng_u64(r) >> 11) * 0x1.0p-53; }

uint32_t lbbt_rng_below(lbbt_rng *r, uint32_t n) {
  if (n <= 1) return 0;
  /* Lemire's nearly-divisionless method with rejection: exact uniformity. */
  uint64_t m = (uint64_t)(uint32_t)(lbbt_rng_u64(r) >> 32) * n;
  uint32_t lo = (uint32_t)m;
  if (lo < n) {
    uint32_t thresh = (uint32_t)(-n) % n;
    while (lo < thresh) {
      m = (uint64_t)(uint32_t)(lbbt_rng_u64(r) >> 32) * n;
      lo = (uint32_t)m;
    }
  }
  return (uint32_t)(m >> 32);
}

double lbbt_rng_normal(lbbt_rng *r) {
  if (r->has_spare) {
    r->has_spare = 0;
    return r->spare;
  }
  double u1, u2;
  do u1 = lbbt_rng_uniform(r); while (u1 <= 0.0);
  u2 = lbbt_rng_uniform(r);
  double rad = sqrt(-2.0 * log(u1)), th = 2.0 * M_PI * u2;
  r->spare = rad * sin(th);
  r->has_spare = 1;
  return rad * cos(th);
}

void lbbt_rng_shuffle_i32(lbbt_rng *r, int32_t *a, int64_t n) {
  for (int64_t i = n - 1; i > 0; i--) {
    int64_t j = (int64_t)lbbt_rng_below(r, (uint32_t)(i + 1));
    int32_t tmp = a[i];
    a[i] = a[j];
    a[j] = tmp;
  }
}
