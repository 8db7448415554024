/* The body of lbbt_small_mm at one ISA level (see small_mm.h), included once by each of
 * small_mm_baseline.c, small_mm_avx2.c and small_mm_avx512.c, which the Makefile compiles
 * with -march=x86-64, x86-64-v3 and x86-64-v4.  The including file defines:
 *   SMM_FN          the function's name (lbbt_small_mm_avx2, ...)
 *   SMM_VL          floats per vector: 4 (SSE2), 8 (AVX2), 16 (AVX-512)
 *   SMM_MAX_NV      vectors per column block (at most 4)
 *   SMM_TILE_ROWS   {0, rows for 1 vector, rows for 2, ...}: SMM_MAX_NV + 1 entries, each
 *                   at most 8, sized so that rows * nv accumulators + nv operands + 1
 *                   broadcast (+ 1 product without FMA) fit in the level's registers.
 *
 * C [M, N] = scale * A [M, K] @ B [K, N]:
 *   1. B is copied into bp [K, NP] (NP = N rounded up to SMM_VL, padding zero): rows become
 *      contiguous whatever B's strides were (K^T and V^T are transposed here).  A B whose
 *      rows are already contiguous whole vectors is read in place instead.
 *   2. C is cut into balanced column blocks of up to SMM_MAX_NV vectors and balanced row
 *      tiles of up to SMM_TILE_ROWS[nv] rows; a tile's accumulators stay in registers while
 *      k runs over K: per k, nv loads of bp's row k, one broadcast of A[r, k] per row,
 *      rows * nv multiply-adds.
 *   3. The tile is scaled and stored (or added) into C; lanes past N are dropped.
 * A is read in place through its strides (a broadcast load per element), so P^T and dS^T
 * cost nothing extra. */
#include <stdint.h>
#include <string.h>

#include "ops/small_mm.h"

/* ISO C mode turns off FMA contraction; the kernel is written as a * b + c for it. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=fast")
#endif

enum { VL = SMM_VL, MAX_NV = SMM_MAX_NV, MAX_ROWS = 8 };
typedef float vf __attribute__((vector_size(VL * sizeof(float))));
/* The same vector at float alignment: B's rows read in place need not be aligned. */
typedef float vf_unaligned __attribute__((vector_size(VL * sizeof(float)), aligned(4)));
static const int TILE_ROWS[MAX_NV + 1] = SMM_TILE_ROWS;

/* A vector of VL copies of s (a macro: a vector returned by value is the ISA's ABI). */
#if SMM_VL == 4
#define BROADCAST(s) ((vf){s, s, s, s})
#elif SMM_VL == 8
#define BROADCAST(s) ((vf){s, s, s, s, s, s, s, s})
#elif SMM_VL == 16
#define BROADCAST(s) ((vf){s, s, s, s, s, s, s, s, s, s, s, s, s, s, s, s})
#else
#error "SMM_VL must be 4, 8 or 16"
#endif

typedef struct tile_args {
  const float *a;  /* A [tile row 0, k 0] */
  int64_t ars, acs; /* A's row and column strides */
  const float *bp; /* B's row 0 at this column block: packed, or B itself */
  int64_t np, K;
  float *c; /* C [tile row 0, column block start] */
  int64_t crs;
  int64_t cols; /* valid columns in this block (<= nv * VL) */
  float scale;
  int accumulate;
} tile_args;

typedef void (*tile_fn)(const tile_args *t);

static inline void store_row(const tile_args *t, float *c, const vf *acc, int nv) {
  for (int v = 0; v < nv; v++) {
    vf x = acc[v] * t->scale;
    int64_t n0 = (int64_t)v * VL, n = t->cols - n0 < VL ? t->cols - n0 : VL;
    if (n <= 0) break;
    if (n == VL) {
      if (t->accumulate) {
        vf old;
        memcpy(&old, c + n0, sizeof old);
        x += old;
      }
      memcpy(c + n0, &x, sizeof x);
    } else {
      float lane[VL];
      memcpy(lane, &x, sizeof x);
      for (int64_t i = 0; i < n; i++) c[n0 + i] = t->accumulate ? c[n0 + i] + lane[i] : lane[i];
    }
  }
}

/* One tile of R rows x NV vectors; R and NV are constants in each instance, so the
 * accumulator array is registers after unrolling. */
#define DEFINE_TILE(R, NV)                                                                   \
  static void tile_##R##_##NV(const tile_args *t) {                                         \
    vf acc[R][NV];                                                                           \
    for (int r = 0; r < R; r++)                                                              \
      for (int v = 0; v < NV; v++) acc[r][v] = (vf){0};                                      \
    const float *a = t->a;                                                                   \
    for (int64_t k = 0; k < t->K; k++) {                                                     \
      const vf_unaligned *b = (const vf_unaligned *)(t->bp + k * t->np);                     \
      _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                  \
        const float ark = a[r * t->ars + k * t->acs];                                        \
        const vf ar = BROADCAST(ark);                                                        \
        _Pragma("GCC unroll 4") for (int v = 0; v < NV; v++) acc[r][v] = ar * b[v] + acc[r][v]; \
      }                                                                                      \
    }                                                                                        \
    for (int r = 0; r < R; r++) store_row(t, t->c + r * t->crs, acc[r], NV);                 \
  }
#define DEFINE_TILES(NV)                                                                     \
  DEFINE_TILE(1, NV) DEFINE_TILE(2, NV) DEFINE_TILE(3, NV) DEFINE_TILE(4, NV)               \
  DEFINE_TILE(5, NV) DEFINE_TILE(6, NV) DEFINE_TILE(7, NV) DEFINE_TILE(8, NV)
#define TILE_ROW(NV)                                                                         \
  {NULL, tile_1_##NV, tile_2_##NV, tile_3_##NV, tile_4_##NV,                                 \
   tile_5_##NV, tile_6_##NV, tile_7_##NV, tile_8_##NV}
DEFINE_TILES(1)
#if SMM_MAX_NV >= 2
DEFINE_TILES(2)
#endif
#if SMM_MAX_NV >= 3
DEFINE_TILES(3)
#endif
#if SMM_MAX_NV >= 4
DEFINE_TILES(4)
#endif
static const tile_fn TILES[MAX_NV + 1][MAX_ROWS + 1] = {
    {NULL}, TILE_ROW(1),
#if SMM_MAX_NV >= 2
    TILE_ROW(2),
#endif
#if SMM_MAX_NV >= 3
    TILE_ROW(3),
#endif
#if SMM_MAX_NV >= 4
    TILE_ROW(4),
#endif
};

/* bp [K, np] = B [K, N] (strides brs, bcs), zero past N (padding lanes must not hold
 * NaNs or denormals: they are multiplied, then dropped). */
static void pack_b(float *restrict bp, int64_t np, const float *restrict b, int64_t K, int64_t N,
                   int64_t brs, int64_t bcs) {
  if (bcs == 1) {
    for (int64_t k = 0; k < K; k++) {
      memcpy(bp + k * np, b + k * brs, (size_t)N * sizeof *bp);
      memset(bp + k * np + N, 0, (size_t)(np - N) * sizeof *bp);
    }
    return;
  }
  /* transposed: read B's columns (contiguous when brs == 1), write bp's rows */
  for (int64_t n = 0; n < N; n++)
    for (int64_t k = 0; k < K; k++) bp[k * np + n] = b[k * brs + n * bcs];
  for (int64_t k = 0; k < K; k++) memset(bp + k * np + N, 0, (size_t)(np - N) * sizeof *bp);
}

void SMM_FN(int64_t M, int64_t N, int64_t K, const float *a, int64_t ars, int64_t acs,
            const float *b, int64_t brs, int64_t bcs, float *c, int64_t crs, float scale,
            int accumulate, float *scratch) {
  /* B whose rows are contiguous whole vectors is read in place (P V, dV, dQ and dK at
   * head dims that are multiples of VL); anything else is packed. */
  const int in_place = bcs == 1 && N % VL == 0;
  const int64_t np = in_place ? brs : (N + VL - 1) / VL * VL;
  const float *bp = in_place ? b : scratch;
  if (!in_place) pack_b(scratch, np, b, K, N, brs, bcs);
  /* Balanced column blocks (7 vectors at most 3 per block: 3 + 2 + 2, not 3 + 3 + 1). */
  const int64_t vecs = (N + VL - 1) / VL, blocks = (vecs + MAX_NV - 1) / MAX_NV;
  for (int64_t j = 0, v0 = 0; j < blocks; j++) {
    const int nv = (int)(vecs / blocks + (j < vecs % blocks)), rows = TILE_ROWS[nv];
    const int64_t n0 = v0 * VL, cols = N - n0 < (int64_t)nv * VL ? N - n0 : (int64_t)nv * VL;
    tile_args t = {.ars = ars, .acs = acs, .bp = bp + n0, .np = np, .K = K, .crs = crs,
                   .cols = cols, .scale = scale, .accumulate = accumulate};
    /* Balanced row tiles (49 rows at most 6 per tile: 4 of 6 and 5 of 5, not 8 of 6 and
     * a 1-row tile that is load-bound). */
    const int64_t tiles = (M + rows - 1) / rows, base = M / tiles, extra = M % tiles;
    for (int64_t i = 0, m0 = 0; i < tiles; i++) {
      const int r = (int)(base + (i < extra));
      t.a = a + m0 * ars;
      t.c = c + m0 * crs + n0;
      TILES[nv][r](&t);
      m0 += r;
    }
    v0 += nv;
  }
}
