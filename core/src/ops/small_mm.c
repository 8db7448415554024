/* lbbt_small_mm; see small_mm.h.  The kernels are small_mm_kernel.h compiled per ISA
 * level (small_mm_{baseline,avx2,avx512}.c); this file picks lbbt_isa_active()'s. */
#include "ops/small_mm.h"

#include "lbbt/isa.h"

/* The widest vector of any level (AVX-512: 16 floats): packing at any level fits. */
enum { WIDEST_VL = 16 };

int64_t lbbt_small_mm_scratch_floats(int64_t K, int64_t N) {
  return K * ((N + WIDEST_VL - 1) / WIDEST_VL * WIDEST_VL);
}

lbbt_small_mm_fn lbbt_small_mm_at(int isa) {
  static const lbbt_small_mm_fn LEVELS[LBBT_ISA_COUNT] = {
      [LBBT_ISA_BASELINE] = lbbt_small_mm_baseline,
      [LBBT_ISA_AVX2] = lbbt_small_mm_avx2,
      [LBBT_ISA_AVX512] = lbbt_small_mm_avx512,
  };
  return isa >= 0 && isa < LBBT_ISA_COUNT ? LEVELS[isa] : lbbt_small_mm_baseline;
}

void lbbt_small_mm(int64_t M, int64_t N, int64_t K, const float *a, int64_t ars, int64_t acs,
                   const float *b, int64_t brs, int64_t bcs, float *c, int64_t crs, float scale,
                   int accumulate, float *scratch) {
  lbbt_small_mm_at(lbbt_isa_active())(M, N, K, a, ars, acs, b, brs, bcs, c, crs, scale,
                                      accumulate, scratch);
}
