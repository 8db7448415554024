/* row_kernels_avx512: the row loops of row_kernels_impl.h for x86-64-v4 (AVX-512; the Makefile compiles *_avx512.c with -march=x86-64-v4). */
#define ROW_KERNELS_NAME row_kernels_avx512
#include "ops/row_kernels_impl.h"
