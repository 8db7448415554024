/* One oneDNN matmul over strided views (internal to the core library; used by matmul.c
 * and attention_engine.c).
 *
 * lbbt_mm_exec computes dst = scale * (src @ wei) (+ bias[N]), or accumulates
 * dst += scale * (src @ wei) with a sum post-op, where each operand is a view: dims and
 * element strides, the last two dims being the matrix, leading dims a batch (a dim of size
 * 1 in src or wei is broadcast).  Transposes and head splits are strides, never copies;
 * oneDNN's brgemm kernels take strided src/wei directly and its gemm-based matmul takes a
 * strided dst.  Primitives are cached per (op, views, bias, scale, accumulate). */
#ifndef LBBT_OPS_MM_PRIM_H
#define LBBT_OPS_MM_PRIM_H
#include <stdint.h>

#include "lbbt/status.h"
#include "lbbt/tensor.h"

#define LBBT_MM_MAX_ND LBBT_MAX_DIMS

typedef struct lbbt_mm_view {
  int nd;
  int64_t dims[LBBT_MM_MAX_ND];
  int64_t strides[LBBT_MM_MAX_ND];
} lbbt_mm_view;

/* The row-major buffer of shape[0..ndim) seen as nd dims: missing leading dims are
 * broadcast (size 1); the last two are swapped when trans. */
void lbbt_mm_view_of(lbbt_mm_view *v, int nd, int ndim, const int64_t *shape, int trans);
/* A row-major [rows, cols] buffer as a 2-D view, transposed when trans. */
void lbbt_mm_view_2d(lbbt_mm_view *v, int64_t rows, int64_t cols, int trans);

/* dst = scale * (src @ wei) (+ bias[N] when bias), or dst += scale * (src @ wei) when
 * accumulate.  src_data etc. point at each view's element (0, ..., 0). */
lbbt_status lbbt_mm_exec(const char *op, const lbbt_mm_view *src, const lbbt_mm_view *wei,
                         const lbbt_mm_view *dst, const float *bias, float scale, int accumulate,
                         const float *src_data, const float *wei_data, float *dst_data);

/* dst = src @ wei (+ bias[N]) + residual, the residual (laid out as dst, not aliasing it)
 * added by a binary post-op while the product is written: no separate pass over memory. */
lbbt_status lbbt_mm_exec_residual(const char *op, const lbbt_mm_view *src,
                                  const lbbt_mm_view *wei, const lbbt_mm_view *dst,
                                  const float *bias, const float *residual,
                                  const float *src_data, const float *wei_data, float *dst_data);

#endif
