/* Small helpers shared by the dense ops' C loops (internal to the core library). */
#ifndef LBBT_OPS_OP_UTIL_H
#define LBBT_OPS_OP_UTIL_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/dnnl_util.h"
#include "ops/row_kernels.h"
#include "lbbt/tensor.h"
#include "autograd/tape_internal.h"

/* Shape text for messages; each call site passes its own buffer. */
#define OP_SHAPE_BUF 96
static inline const char *op_shape(const lbbt_tensor *t, char buf[OP_SHAPE_BUF]) {
  if (!t) return "(none)";
  return lbbt_shape_str(t, buf, OP_SHAPE_BUF);
}

/* dst[i] += src[i]: how every backward that computed a gradient into scratch accumulates
 * it (the contract is +=, since a tensor may feed several ops). */
static inline void op_accumulate(float *restrict dst, const float *restrict src, int64_t n) {
#pragma omp parallel for simd if (n >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t i = 0; i < n; i++) dst[i] += src[i];
}

/* dst[j] += sum over rows of src[r, j], src [rows, cols] row-major (bias gradients and
 * broadcast reductions).  Each thread owns a strip of columns and walks every row, so the
 * summation order - hence the result - does not depend on the thread count. */
static inline void op_colsum_accumulate(float *restrict dst, const float *restrict src,
                                        int64_t rows, int64_t cols) {
  const row_kernels *rk = row_kernels_active(); /* this ISA level's strip loop */
  int64_t n_strips = (cols + ROW_KERNELS_STRIP - 1) / ROW_KERNELS_STRIP;
#pragma omp parallel for if (rows * cols >= LBBT_PAR_MIN_ELEMS) schedule(static)
  for (int64_t s = 0; s < n_strips; s++) {
    int64_t c0 = s * ROW_KERNELS_STRIP;
    int64_t c1 = c0 + ROW_KERNELS_STRIP < cols ? c0 + ROW_KERNELS_STRIP : cols;
    rk->colsum_strip(dst, src, rows, cols, c0, c1);
  }
}

/* exp(x) for f32 that GCC vectorises inside `omp simd` loops (the C library's expf is a
 * scalar call): Cephes' range reduction x = n ln2 + r, |r| <= ln2/2, and a degree-6
 * polynomial; relative error below 2e-7 over [-87, 88].  Inputs below -87.3 give ~1e-38
 * instead of a denormal or 0, which is harmless for softmax and cross-entropy.
 * Written so that GCC 12 vectorises it at -O2 without -ffast-math: n = round(x log2 e) by
 * the 1.5 * 2^23 trick (floorf only vectorises without -ftrapping-math), the clamps as
 * selects, and 2^n built from exponent bits through memcpy (a union local defeats the
 * vectoriser inside `omp simd`). */
static inline float op_expf(float x) {
  x = x < -87.3f ? -87.3f : x;
  x = x > 88.7f ? 88.7f : x;
  const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  /* unsigned shift: a NaN x (the clamps let it through) makes n NaN, whose int conversion is
   * INT_MIN on x86; shifting that signed is undefined (UBSan stops a NaN loss's diagnosis),
   * unsigned it is not, and p is NaN anyway, so NaN still propagates */
  const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

/* Normalise a possibly negative dim index against ndim; -1 when out of range. */
static inline int op_norm_dim(int dim, int ndim) {
  if (dim < 0) dim += ndim;
  return dim >= 0 && dim < ndim ? dim : -1;
}

/* Rows of a tensor seen as [rows, last dim]. */
static inline int64_t op_rows(const lbbt_tensor *t) { return t->numel / t->shape[t->ndim - 1]; }

/* x's gradient for a fresh-gradient backward (tape_internal.h) that can only accumulate:
 * a new buffer is zeroed first.  NULL (message set) when out of memory. */
static inline float *op_grad_zeroed(lbbt_tape *t, lbbt_tensor *x) {
  int acc;
  float *g = lbbt_tape_grad_for(t, x, &acc);
  if (g && !acc) memset(g, 0, (size_t)x->numel * sizeof *g);
  return g;
}

/* A float scratch buffer in the tape's arena (valid until reset); NULL sets a message. */
static inline float *op_scratch(lbbt_tape *t, int64_t n) {
  return (float *)lbbt_tape_alloc(t, (size_t)n * sizeof(float));
}

#endif
