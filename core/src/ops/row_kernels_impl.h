/* The row kernels of the dense ops at one ISA level (see row_kernels.h), included once by
 * each of row_kernels_baseline.c, row_kernels_avx2.c and row_kernels_avx512.c, which the
 * Makefile compiles for x86-64, x86-64-v3 and x86-64-v4; GCC vectorises the fixed-width
 * loops below at each level's width.  The including file defines ROW_KERNELS_NAME, the
 * name of the table it exports. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ops/op_util.h"
#include "ops/row_kernels.h"

/* Row reductions over ROW_LANES independent accumulators combined by halving: GCC
 * vectorises these fixed-width loops, where an `omp simd reduction` over rows as short as
 * attention's (S = 49 here) spends most of its time combining lanes one by one (measured
 * 170 -> 95 ns per 49-key softmax row). */
enum { ROW_LANES = 16 };
static inline float lanes_max(float *m) {
  for (int w = ROW_LANES / 2; w; w /= 2)
    for (int l = 0; l < w; l++) m[l] = m[l + w] > m[l] ? m[l + w] : m[l];
  return m[0];
}
static inline float lanes_sum(float *a) {
  for (int w = ROW_LANES / 2; w; w /= 2)
    for (int l = 0; l < w; l++) a[l] += a[l + w];
  return a[0];
}

/* One row of scale * q.k (already in row): add the bias, mask, softmax in place; keys
 * that are not allowed get probability 0, and a row with no allowed key is all 0. */
static void softmax_row(float *restrict row, const float *restrict bias_row,
                        const uint8_t *restrict mask_b, int64_t end, int64_t S) {
  if (bias_row) {
#pragma omp simd
    for (int64_t s = 0; s < end; s++) row[s] += bias_row[s];
  }
  if (mask_b) {
#pragma omp simd
    for (int64_t s = 0; s < end; s++) row[s] = mask_b[s] ? row[s] : -INFINITY;
  }
  float m[ROW_LANES];
  for (int l = 0; l < ROW_LANES; l++) m[l] = -INFINITY;
  int64_t s = 0;
  for (; s + ROW_LANES <= end; s += ROW_LANES)
    for (int l = 0; l < ROW_LANES; l++) m[l] = row[s + l] > m[l] ? row[s + l] : m[l];
  for (int l = 0; s + l < end; l++) m[l] = row[s + l] > m[l] ? row[s + l] : m[l];
  const float mx = lanes_max(m);
  if (mx == -INFINITY) { /* fully masked row: defined as probability 0, output 0 */
    memset(row, 0, (size_t)S * sizeof *row);
    return;
  }
  /* The exponentials in one vectorised pass, then their sum over ROW_LANES accumulators.
   * op_expf runs on masked keys too (it clamps -inf) and a select drops them: a branch
   * around it kept GCC from vectorising the loop ("control flow in loop"). */
#pragma omp simd
  for (s = 0; s < end; s++) {
    const float x = row[s], e = op_expf(x - mx);
    row[s] = x == -INFINITY ? 0.0f : e;
  }
  float a[ROW_LANES] = {0};
  for (s = 0; s + ROW_LANES <= end; s += ROW_LANES)
    for (int l = 0; l < ROW_LANES; l++) a[l] += row[s + l];
  for (int l = 0; s + l < end; l++) a[l] += row[s + l];
  const float inv = 1.0f / lanes_sum(a);
#pragma omp simd
  for (s = 0; s < end; s++) row[s] *= inv;
  for (s = end; s < S; s++) row[s] = 0.0f;
}

/* dS = P (dP - delta) in place over dP, delta = sum_s P dP. */
static void softmax_grad_row(const float *restrict pr, float *restrict dr, int64_t S) {
  float a[ROW_LANES] = {0};
  int64_t s = 0;
  for (; s + ROW_LANES <= S; s += ROW_LANES)
    for (int l = 0; l < ROW_LANES; l++) a[l] += pr[s + l] * dr[s + l];
  for (int l = 0; s + l < S; l++) a[l] += pr[s + l] * dr[s + l];
  const float delta = lanes_sum(a);
#pragma omp simd
  for (s = 0; s < S; s++) dr[s] = pr[s] * (dr[s] - delta);
}

/* dst[c0 .. c1) += column sums of src [rows, cols] over those columns (c1 - c0 <=
 * ROW_KERNELS_STRIP), rows in order. */
static void colsum_strip(float *restrict dst, const float *restrict src, int64_t rows,
                         int64_t cols, int64_t c0, int64_t c1) {
  float acc[ROW_KERNELS_STRIP] = {0};
  for (int64_t r = 0; r < rows; r++) {
    const float *row = src + r * cols;
#pragma omp simd
    for (int64_t c = c0; c < c1; c++) acc[c - c0] += row[c];
  }
  for (int64_t c = c0; c < c1; c++) dst[c] += acc[c - c0];
}

/* GELU, tanh form: 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).  1 + tanh(u)
 * and 1 - tanh(u) are formed without cancellation from e = exp(-2|u|) in (0, 1]:
 * 2 / (1 + e) and 2e / (1 + e), the larger one for 1 + tanh when u >= 0 (1 - tanh(u)^2
 * is their product).  The plain 1 - 2 / (exp(2u) + 1) lost 1% of the gradient at x = -4
 * against PyTorch (test_parity_ops). */
#define GELU_C 0.7978845608028654f
#define GELU_A 0.044715f
typedef struct one_pm_tanh {
  float plus, minus; /* 1 + tanh(u), 1 - tanh(u) */
} one_pm_tanh;
static inline one_pm_tanh gelu_tanh_parts(float v) {
  const float u = GELU_C * (v + GELU_A * v * v * v), au = u < 0.0f ? -u : u;
  const float e = op_expf(-2.0f * au), r = 2.0f / (1.0f + e), small = e * r;
  return (one_pm_tanh){u >= 0.0f ? r : small, u >= 0.0f ? small : r};
}

static void gelu_tanh(float *restrict y, const float *restrict x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = 0.5f * x[i] * gelu_tanh_parts(x[i]).plus;
}

/* d/dx = 0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2). */
static void gelu_tanh_grad(float *restrict dx, const float *restrict x, const float *restrict dy,
                           int64_t n, int accumulate) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i];
    const one_pm_tanh t = gelu_tanh_parts(v);
    const float d = 0.5f * t.plus +
                    0.5f * v * (t.plus * t.minus) * GELU_C * (1.0f + 3.0f * GELU_A * v * v);
    dx[i] = (accumulate ? dx[i] : 0.0f) + dy[i] * d;
  }
}

/* SiLU: x s, s = sigmoid(x) = 1 / (1 + exp(-x)); d/dx = s (1 + x (1 - s)), 1 - s = exp(-x) s
 * (no cancellation for large x). */
static void silu(float *restrict y, const float *restrict x, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = x[i] / (1.0f + op_expf(-x[i]));
}

static void silu_grad(float *restrict dx, const float *restrict x, const float *restrict dy,
                      int64_t n, int accumulate) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    const float e = op_expf(-x[i]), s = 1.0f / (1.0f + e);
    dx[i] = (accumulate ? dx[i] : 0.0f) + dy[i] * (s * (1.0f + x[i] * (e * s)));
  }
}

const row_kernels ROW_KERNELS_NAME = {
    .softmax_row = softmax_row,
    .softmax_grad_row = softmax_grad_row,
    .colsum_strip = colsum_strip,
    .gelu_tanh = gelu_tanh,
    .silu = silu,
    .gelu_tanh_grad = gelu_tanh_grad,
    .silu_grad = silu_grad,
};
