/* row_kernels_avx2: the row loops of row_kernels_impl.h for x86-64-v3 (AVX2 + FMA; the Makefile compiles *_avx2.c with -march=x86-64-v3). */
#define ROW_KERNELS_NAME row_kernels_avx2
#include "ops/row_kernels_impl.h"
