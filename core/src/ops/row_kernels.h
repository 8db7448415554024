/* Row loops of the dense ops compiled once per ISA level (internal to the core library).
 *
 * The library is built for baseline x86-64; these loops (the attention softmax rows, the
 * column sums behind bias gradients: the hottest C loops of a training step after the
 * small matmul, by `perf record` on bench_train; GELU and SiLU, which oneDNN 2.6's eltwise
 * JIT ran 4-5x slower capped to AVX2) are compiled again for AVX2 and AVX-512
 * (row_kernels_impl.h, included by row_kernels_{baseline,avx2,avx512}.c) and
 * row_kernels_active() returns lbbt_isa_active()'s table.  Every level computes the same
 * sums in the same order within a row up to the lane count of its vectors, so results
 * differ between levels by float reassociation only. */
#ifndef LBBT_OPS_ROW_KERNELS_H
#define LBBT_OPS_ROW_KERNELS_H
#include <stdint.h>

/* Columns per strip of colsum_strip. */
enum { ROW_KERNELS_STRIP = 256 };

typedef struct row_kernels {
  /* One row of scale * q.k (row [S]): add bias_row (NULL: none), mask keys whose mask_b is 0
   * (NULL: none) and keys at or past end, softmax in place; masked keys get probability 0,
   * a row with no allowed key is all 0. */
  void (*softmax_row)(float *restrict row, const float *restrict bias_row,
                      const uint8_t *restrict mask_b, int64_t end, int64_t S);
  /* dS = P (dP - delta) in place over dr [S], delta = sum_s P dP (pr: P's row). */
  void (*softmax_grad_row)(const float *restrict pr, float *restrict dr, int64_t S);
  /* dst[c] += sum over rows r of src[r * cols + c] for c in [c0, c1), c1 - c0 <=
   * ROW_KERNELS_STRIP, rows summed in order. */
  void (*colsum_strip)(float *restrict dst, const float *restrict src, int64_t rows,
                       int64_t cols, int64_t c0, int64_t c1);
  /* y[i] = f(x[i]) for i < n: GELU (tanh form) and SiLU. */
  void (*gelu_tanh)(float *restrict y, const float *restrict x, int64_t n);
  void (*silu)(float *restrict y, const float *restrict x, int64_t n);
  /* dx[i] = (or += when accumulate) dy[i] * f'(x[i]) for i < n. */
  void (*gelu_tanh_grad)(float *restrict dx, const float *restrict x, const float *restrict dy,
                         int64_t n, int accumulate);
  void (*silu_grad)(float *restrict dx, const float *restrict x, const float *restrict dy,
                    int64_t n, int accumulate);
} row_kernels;

extern const row_kernels row_kernels_baseline, row_kernels_avx2, row_kernels_avx512;

/* The table of lbbt_isa_active()'s level. */
const row_kernels *row_kernels_active(void);
/* The table of one level (an lbbt_isa no higher than lbbt_isa_machine()). */
const row_kernels *row_kernels_at(int isa);

#endif
