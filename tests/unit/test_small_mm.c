/* lbbt_small_mm (core/src/ops/small_mm.h), the register-tiled kernel behind the attention
 * engine's fused path, against a double-precision triple loop: every tile shape (1 to 8
 * rows, 1 to 4 vectors, more than 64 columns), ragged N, transposed operands through
 * strides, scale, accumulate, and that nothing outside C's N columns is written.
 * Every case runs at each ISA level the machine has (lbbt_small_mm_at: each level's own
 * vector width and tile shapes), and through lbbt_small_mm (the level LBBT_MAX_ISA leaves).
 * (The attention ops' own cases in test_ops_seq run the fused path end to end;
 * tests/cli/isa_levels.sh runs them under each LBBT_MAX_ISA.) */
#include <stdint.h>

#include "../../core/src/ops/small_mm.h"
#include "lbbt/isa.h"
#include "test.h"

/* f32 products of K <= 128 terms of size ~1 against a double reference. */
static const double SMALL_MM_ATOL = 1e-5, SMALL_MM_RTOL = 1e-5;
/* Bytes C's rows are padded by beyond N: must come back untouched. */
enum { GUARD = 5 };
static const float GUARD_VALUE = 12345.0f;

static float value(uint64_t *s) {
  *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((double)(*s >> 40) / (double)(1 << 24) * 2.0 - 1.0);
}

typedef struct mm_case {
  int64_t M, N, K;
  int trans_a, trans_b, accumulate;
  float scale;
} mm_case;

/* One case at one level (-1: lbbt_small_mm's own choice): A stored [M, K] or [K, M]
 * (trans_a), B [K, N] or [N, K], row padding 3. */
static void check_case_at(const mm_case *c, int isa) {
  const int64_t M = c->M, N = c->N, K = c->K, pad = 3;
  const int64_t a_ld = (c->trans_a ? M : K) + pad, b_ld = (c->trans_b ? K : N) + pad;
  const int64_t a_rows = c->trans_a ? K : M, b_rows = c->trans_b ? N : K, crs = N + GUARD;
  float *a = malloc((size_t)(a_rows * a_ld) * sizeof *a);
  float *b = malloc((size_t)(b_rows * b_ld) * sizeof *b);
  float *cm = malloc((size_t)(M * crs) * sizeof *cm), *c0 = malloc((size_t)(M * crs) * sizeof *c0);
  float *scratch = aligned_alloc(64, (size_t)((lbbt_small_mm_scratch_floats(K, N) * 4 + 63) / 64 * 64));
  REQUIRE(a && b && cm && c0 && scratch, "allocation failed");
  uint64_t s = (uint64_t)(M * 1000003 + N * 1009 + K);
  for (int64_t i = 0; i < a_rows * a_ld; i++) a[i] = value(&s);
  for (int64_t i = 0; i < b_rows * b_ld; i++) b[i] = value(&s);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < crs; j++)
      c0[i * crs + j] = j < N ? (c->accumulate ? value(&s) : NAN) : GUARD_VALUE;
  memcpy(cm, c0, (size_t)(M * crs) * sizeof *cm);
  /* A (i, k) and B (k, n) through strides */
  const int64_t ars = c->trans_a ? 1 : a_ld, acs = c->trans_a ? a_ld : 1;
  const int64_t brs = c->trans_b ? 1 : b_ld, bcs = c->trans_b ? b_ld : 1;
  (isa < 0 ? lbbt_small_mm : lbbt_small_mm_at(isa))(M, N, K, a, ars, acs, b, brs, bcs, cm, crs,
                                                     c->scale, c->accumulate, scratch);
  const char *level = isa < 0 ? "dispatched" : lbbt_isa_name((lbbt_isa)isa);
  char what[160];
  for (int64_t i = 0; i < M; i++) {
    for (int64_t n = 0; n < N; n++) {
      double want = 0;
      for (int64_t k = 0; k < K; k++) want += (double)a[i * ars + k * acs] * b[k * brs + n * bcs];
      want *= c->scale;
      if (c->accumulate) want += c0[i * crs + n];
      snprintf(what, sizeof what, "%s: M%lld N%lld K%lld ta%d tb%d acc%d C[%lld, %lld]", level,
               (long long)M, (long long)N, (long long)K, c->trans_a, c->trans_b, c->accumulate,
               (long long)i, (long long)n);
      CHECK_CLOSE(cm[i * crs + n], want, SMALL_MM_ATOL * K, SMALL_MM_RTOL, what);
    }
    for (int64_t j = N; j < crs; j++)
      CHECK(cm[i * crs + j] == GUARD_VALUE, "%s: M%lld N%lld K%lld: C[%lld, %lld] past N written",
            level, (long long)M, (long long)N, (long long)K, (long long)i, (long long)j);
  }
  free(a);
  free(b);
  free(cm);
  free(c0);
  free(scratch);
}

/* The case at every level this machine has, then through the dispatch. */
static void check_case(const mm_case *c) {
  for (int isa = 0; isa <= (int)lbbt_isa_machine(); isa++) check_case_at(c, isa);
  check_case_at(c, -1);
}

/* Every row count 1..13 (tiles of 1-8 rows, balanced splits) at every vector count of
 * every level (4, 8 and 16 floats per vector; up to 4 vectors per column block). */
static void test_small_mm_tile_shapes(void) {
  const int64_t Ns[] = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 23, 24, 25, 32, 33, 48, 49, 56, 64};
  for (int64_t M = 1; M <= 13; M++)
    for (size_t i = 0; i < sizeof Ns / sizeof Ns[0]; i++)
      check_case(&(mm_case){M, Ns[i], 7, 0, 0, 0, 1.0f});
}

/* Attention's shapes at the cpu tier (T = S = 49, D = 32; the LM's T = 128, D = 32) with the
 * transposes the engine uses (K^T, V^T for B; P^T, dS^T for A). */
static void test_small_mm_attention_shapes(void) {
  const mm_case cases[] = {
      {49, 49, 32, 0, 1, 0, 0.176777f}, /* scores = scale Q K^T */
      {49, 32, 49, 0, 0, 0, 1.0f},      /* P V */
      {49, 32, 49, 1, 0, 1, 1.0f},      /* dV += P^T dO */
      {49, 32, 49, 1, 0, 1, 0.176777f}, /* dK += scale dS^T Q */
      {128, 128, 32, 0, 1, 0, 0.125f},  /* LM scores */
      {128, 32, 128, 1, 0, 1, 1.0f},
      {49, 8, 49, 0, 0, 0, 1.0f}, /* stories260K: D = 8 */
      {49, 49, 8, 0, 1, 0, 0.353553f},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

/* More than 64 columns (two column blocks), the largest K and N, both operands transposed. */
static void test_small_mm_wide_and_transposed(void) {
  const mm_case cases[] = {
      {9, 65, 3, 0, 0, 0, 1.0f},   {20, 100, 128, 1, 1, 1, -0.5f},
      {3, 128, 128, 0, 1, 1, 2.0f}, {1, 1, 1, 1, 1, 0, 1.0f},
      {17, 127, 5, 1, 0, 0, 1.0f},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_case(&cases[i]);
}

/* The level LBBT_MAX_ISA leaves is the machine's, capped. */
static void test_small_mm_dispatch_level(void) {
  const char *cap = getenv("LBBT_MAX_ISA");
  lbbt_isa want = lbbt_isa_machine();
  if (cap && *cap) {
    lbbt_isa c;
    REQUIRE(lbbt_isa_parse(cap, &c) == LBBT_OK, "LBBT_MAX_ISA=%s does not parse", cap);
    if (c < want) want = c;
  }
  CHECK(lbbt_isa_active() == want, "active level %s, want %s", lbbt_isa_name(lbbt_isa_active()),
        lbbt_isa_name(want));
  lbbt_isa parsed;
  CHECK(lbbt_isa_parse("AVX2", &parsed) == LBBT_OK && parsed == LBBT_ISA_AVX2, "parse AVX2");
  CHECK(lbbt_isa_parse("x86-64-v4", &parsed) == LBBT_OK && parsed == LBBT_ISA_AVX512, "v4");
  CHECK(lbbt_isa_parse("avx3", &parsed) == LBBT_E_INPUT, "avx3 refused");
  printf("  (machine level %s, running at %s)\n", lbbt_isa_name(lbbt_isa_machine()),
         lbbt_isa_name(lbbt_isa_active()));
}

TEST_MAIN_BEGIN("test_small_mm")
TEST_RUN(test_small_mm_dispatch_level);
TEST_RUN(test_small_mm_tile_shapes);
TEST_RUN(test_small_mm_attention_shapes);
TEST_RUN(test_small_mm_wide_and_transposed);
TEST_MAIN_END()
