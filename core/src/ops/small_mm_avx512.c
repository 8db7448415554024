/* lbbt_small_mm_avx512: the kernel of small_mm_kernel.h for x86-64-v4 (AVX-512; the
 * Makefile compiles *_avx512.c with -march=x86-64-v4).  32 registers of 16 floats: tiles
 * of up to 8 rows x 2 vectors, 6 rows x 4 vectors (24 accumulators + 4 operands + 1
 * broadcast). */
#define SMM_FN lbbt_small_mm_avx512
#define SMM_VL 16
#define SMM_MAX_NV 4
#define SMM_TILE_ROWS {0, 8, 8, 6, 6}
#include "ops/small_mm_kernel.h"
