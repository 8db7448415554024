/* row_kernels_baseline: the row loops of row_kernels_impl.h for baseline x86-64 (SSE2; the Makefile compiles *_baseline.c with -march=x86-64). */
#define ROW_KERNELS_NAME row_kernels_baseline
#include "ops/row_kernels_impl.h"
