/* row_kernels_active / row_kernels_at; see row_kernels.h. */
#include "ops/row_kernels.h"

#include "lbbt/isa.h"

const row_kernels *row_kernels_at(int isa) {
  static const row_kernels *const LEVELS[LBBT_ISA_COUNT] = {
      [LBBT_ISA_BASELINE] = &row_kernels_baseline,
      [LBBT_ISA_AVX2] = &row_kernels_avx2,
      [LBBT_ISA_AVX512] = &row_kernels_avx512,
  };
  return isa >= 0 && isa < LBBT_ISA_COUNT ? LEVELS[isa] : &row_kernels_baseline;
}

const row_kernels *row_kernels_active(void) { return row_kernels_at(lbbt_isa_active()); }
