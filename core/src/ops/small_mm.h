/* One product of small matrices on a register-tiled C kernel (internal to the core
 * library; the attention engine's fused path, attention_engine.c, is its user).
 *
 * Attention multiplies many small matrices: per (sample, head) 49x32 @ 32x49 for the
 * scores at the cpu tier, 49x49 @ 49x32 for P V, and four more in backward.  oneDNN 2.6
 * runs these as strided batched views through its gemm-based matmul at 60-110 GFLOP/s on a
 * machine where its large GEMMs reach 300 (ONEDNN_VERBOSE: attention took 12% of the d 256
 * training step's oneDNN time for 3% of its FLOPs), and every batch of scores makes a round
 * trip through memory between the products and the softmax.  With this kernel the engine
 * instead runs one (sample, head) at a time with its scores in cache.
 *
 * The kernel packs B into a zero-padded [K, N rounded up to a vector] block of the caller's
 * scratch (transposing it when its columns are strided: K^T, V^T; a B whose rows are
 * contiguous multiples of a vector are read in place) and accumulates row tiles of C in
 * registers (GCC vector extensions).  A is read in place through its strides, so P^T and
 * dS^T cost nothing extra.  It is compiled once per ISA level (small_mm_kernel.h, with the
 * level's vector width and tile shapes) and lbbt_small_mm runs lbbt_isa_active()'s. */
#ifndef LBBT_OPS_SMALL_MM_H
#define LBBT_OPS_SMALL_MM_H
#include <stdint.h>

/* Floats of scratch lbbt_small_mm needs for a K x N right operand. */
int64_t lbbt_small_mm_scratch_floats(int64_t K, int64_t N);

/* C [M, N] = scale * A [M, K] @ B [K, N], or C += ... when accumulate (C is not read
 * otherwise).  A and B are read through (row, column) element strides; C's columns are
 * contiguous, its rows crs apart.  scratch: lbbt_small_mm_scratch_floats(K, N) floats,
 * 64-byte aligned.  Single-threaded and deterministic. */
void lbbt_small_mm(int64_t M, int64_t N, int64_t K, const float *a, int64_t ars, int64_t acs,
                   const float *b, int64_t brs, int64_t bcs, float *c, int64_t crs, float scale,
                   int accumulate, float *scratch);

/* The same at one level (lbbt/isa.h); only a level <= lbbt_isa_machine() may be called.
 * (Tests compare the levels; everything else calls lbbt_small_mm.) */
typedef void (*lbbt_small_mm_fn)(int64_t M, int64_t N, int64_t K, const float *a, int64_t ars,
                                 int64_t acs, const float *b, int64_t brs, int64_t bcs, float *c,
                                 int64_t crs, float scale, int accumulate, float *scratch);
void lbbt_small_mm_baseline(int64_t M, int64_t N, int64_t K, const float *a, int64_t ars,
                            int64_t acs, const float *b, int64_t brs, int64_t bcs, float *c,
                            int64_t crs, float scale, int accumulate, float *scratch);
void lbbt_small_mm_avx2(int64_t M, int64_t N, int64_t K, const float *a, int64_t ars,
                        int64_t acs, const float *b, int64_t brs, int64_t bcs, float *c,
                        int64_t crs, float scale, int accumulate, float *scratch);
void lbbt_small_mm_avx512(int64_t M, int64_t N, int64_t K, const float *a, int64_t ars,
                          int64_t acs, const float *b, int64_t brs, int64_t bcs, float *c,
                          int64_t crs, float scale, int accumulate, float *scratch);
/* The level's kernel (isa is an lbbt_isa). */
lbbt_small_mm_fn lbbt_small_mm_at(int isa);

#endif
