/* lbbt_small_mm_baseline: the kernel of small_mm_kernel.h for baseline x86-64 (SSE2; the
 * Makefile compiles *_baseline.c with -march=x86-64).  16 registers of 4 floats and no
 * FMA (a product needs its own register): tiles of 6 rows x 2 vectors, 8 x 1. */
#define SMM_FN lbbt_small_mm_baseline
#define SMM_VL 4
#define SMM_MAX_NV 2
#define SMM_TILE_ROWS {0, 8, 6}
#include "ops/small_mm_kernel.h"
