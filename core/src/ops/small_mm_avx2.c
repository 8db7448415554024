/* lbbt_small_mm_avx2: the kernel of small_mm_kernel.h for x86-64-v3 (AVX2 + FMA; the
 * Makefile compiles *_avx2.c with -march=x86-64-v3).  16 registers of 8 floats: tiles of
 * 6 rows x 2 vectors (12 accumulators + 1 broadcast, B read from L1 by the FMAs), 8 rows
 * x 1 vector, 4 rows x 3 vectors. */
#define SMM_FN lbbt_small_mm_avx2
#define SMM_VL 8
#define SMM_MAX_NV 3
#define SMM_TILE_ROWS {0, 8, 6, 4}
#include "ops/small_mm_kernel.h"
