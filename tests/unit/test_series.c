/* Time series: KernelSynth kernels, compositions and GP samples (reproducibility, sample
 * covariance against the kernel), and Chronos' mean-scaling uniform-bin tokenisation against
 * hand-worked values. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/rng.h"
#include "lbbt/series.h"
#include "test.h"

/* Closed forms in double: only rounding differs. */
#define EXACT_TOL 1e-12
/* Sample covariance of N_DRAWS draws: an entry's standard error is about
 * sqrt((K_ii K_jj + K_ij^2) / N) <= sqrt(2 / 4000) = 0.022 for unit-variance kernels, so
 * 0.1 is beyond 4 standard errors for every entry of the 24 x 24 matrix. */
#define N_DRAWS 4000
#define COV_TOL 0.1

static void kernel_values_match_definitions(void) {
  /* length 5: points 0, .25, .5, .75, 1 */
  lbbt_kernel_combo c = {.n = 1};
  double K[25];
  c.k[0] = (lbbt_kernel){LBBT_KERNEL_RBF, 0.5};
  REQUIRE(lbbt_kernel_covariance(&c, 5, K) == LBBT_OK, "rbf: %s", lbbt_last_error());
  CHECK_CLOSE(K[0 * 5 + 2], exp(-0.25 / (2 * 0.25)), EXACT_TOL, 0, "rbf(0.5) at d 0.5");
  c.k[0] = (lbbt_kernel){LBBT_KERNEL_LINEAR, 1.0};
  REQUIRE(lbbt_kernel_covariance(&c, 5, K) == LBBT_OK, "linear: %s", lbbt_last_error());
  CHECK_CLOSE(K[1 * 5 + 3], 1.0 + 0.25 * 0.75, EXACT_TOL, 0, "linear(1) at .25, .75");
  c.k[0] = (lbbt_kernel){LBBT_KERNEL_RQ, 2.0};
  REQUIRE(lbbt_kernel_covariance(&c, 5, K) == LBBT_OK, "rq: %s", lbbt_last_error());
  CHECK_CLOSE(K[0 * 5 + 4], pow(1 + 1.0 / 4.0, -2.0), EXACT_TOL, 0, "rq(2) at d 1");
  /* periodic(p) has period p / length = 2 / 5 in x: d 0.25 */
  c.k[0] = (lbbt_kernel){LBBT_KERNEL_PERIODIC, 2.0};
  REQUIRE(lbbt_kernel_covariance(&c, 5, K) == LBBT_OK, "periodic: %s", lbbt_last_error());
  double s = sin(M_PI * 0.25 / 0.4);
  CHECK_CLOSE(K[0 * 5 + 1], exp(-2 * s * s), EXACT_TOL, 0, "periodic(2) at d .25");
  /* (white(0.5) + constant) * rbf(0.5): diagonal 1.5, off-diagonal rbf */
  c.n = 3;
  c.k[0] = (lbbt_kernel){LBBT_KERNEL_WHITE, 0.5};
  c.k[1] = (lbbt_kernel){LBBT_KERNEL_CONSTANT, 1};
  c.k[2] = (lbbt_kernel){LBBT_KERNEL_RBF, 0.5};
  c.op[0] = '+';
  c.op[1] = '*';
  REQUIRE(lbbt_kernel_covariance(&c, 5, K) == LBBT_OK, "combo: %s", lbbt_last_error());
  CHECK_CLOSE(K[2 * 5 + 2], 1.5, EXACT_TOL, 0, "combo diagonal");
  CHECK_CLOSE(K[0 * 5 + 1], exp(-0.0625 / 0.5), EXACT_TOL, 0, "combo off-diagonal");
  char buf[128];
  lbbt_kernel_combo_str(&c, buf, sizeof buf);
  CHECK(!strcmp(buf, "white(0.5) + constant(1) * rbf(0.5)"), "combo text '%s'", buf);
  c.op[1] = '/';
  CHECK(lbbt_kernel_covariance(&c, 5, K) == LBBT_E_INPUT, "a bad operator is refused");
}

static void same_seed_same_series(void) {
  enum { L = 256 };
  float *a = malloc(L * sizeof *a), *b = malloc(L * sizeof *b), *c = malloc(L * sizeof *c);
  REQUIRE(a && b && c, "out of memory");
  lbbt_kernel_combo ka, kb;
  int differs = 0;
  for (uint64_t i = 0; i < 6; i++) {
    REQUIRE(lbbt_kernel_synth_series(7, i, L, 5, a, &ka) == LBBT_OK, "series %d: %s", (int)i,
            lbbt_last_error());
    REQUIRE(lbbt_kernel_synth_series(7, i, L, 5, b, &kb) == LBBT_OK, "again: %s", lbbt_last_error());
    REQUIRE(lbbt_kernel_synth_series(8, i, L, 5, c, NULL) == LBBT_OK, "seed 8: %s", lbbt_last_error());
    CHECK(!memcmp(a, b, L * sizeof *a), "series %d differs between two draws", (int)i);
    CHECK(ka.n >= 1 && ka.n <= 5 && ka.n == kb.n, "series %d: %d kernels", (int)i, ka.n);
    for (int t = 0; t < L; t++) CHECK(isfinite(a[t]), "series %d: value %d not finite", (int)i, t);
    if (memcmp(a, c, L * sizeof *a)) differs++;
  }
  CHECK(differs == 6, "another seed gives other series (%d of 6 differ)", differs);
  free(a);
  free(b);
  free(c);
}

static void sample_covariance_matches_kernel(void) {
  enum { L = 24 };
  const lbbt_kernel kernels[] = {{LBBT_KERNEL_RBF, 0.1}, {LBBT_KERNEL_PERIODIC, 6},
                                 {LBBT_KERNEL_RQ, 1}};
  float *x = malloc((size_t)N_DRAWS * L * sizeof *x);
  double *K = malloc(L * L * sizeof *K);
  REQUIRE(x && K, "out of memory");
  for (size_t k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
    lbbt_kernel_combo c = {.n = 1, .k = {kernels[k]}};
    lbbt_rng r;
    lbbt_rng_seed(&r, 11 + k);
    REQUIRE(lbbt_gp_sample(&c, L, &r, N_DRAWS, x) == LBBT_OK, "sample: %s", lbbt_last_error());
    REQUIRE(lbbt_kernel_covariance(&c, L, K) == LBBT_OK, "cov: %s", lbbt_last_error());
    double worst = 0;
    for (int i = 0; i < L; i++)
      for (int j = 0; j < L; j++) {
        double s = 0; /* zero-mean prior: E[x_i x_j] = K_ij */
        for (int n = 0; n < N_DRAWS; n++) s += (double)x[n * L + i] * x[n * L + j];
        double d = fabs(s / N_DRAWS - K[i * L + j]);
        if (d > worst) worst = d;
      }
    CHECK(worst < COV_TOL, "kernel %d: largest |sample cov - K| %.3f >= %g", (int)k, worst, COV_TOL);
  }
  free(x);
  free(K);
}

static void low_rank_kernels_sample_with_jitter(void) {
  /* linear(0) * constant: rank 1, not positive definite without jitter */
  enum { L = 64 };
  lbbt_kernel_combo c = {.n = 2, .k = {{LBBT_KERNEL_LINEAR, 0}, {LBBT_KERNEL_CONSTANT, 1}},
                         .op = {'*'}};
  float x[L];
  lbbt_rng r;
  lbbt_rng_seed(&r, 3);
  REQUIRE(lbbt_gp_sample(&c, L, &r, 1, x) == LBBT_OK, "rank-1 kernel: %s", lbbt_last_error());
  /* a sample of x -> a x is a line through the origin */
  double a = x[L - 1];
  for (int i = 0; i < L; i++) CHECK_CLOSE(x[i], a * i / (L - 1.0), 1e-3 * (1 + fabs(a)), 0, "line");
}

static void tokens_match_hand_worked_values(void) {
  /* n_tokens 8: 5 bins, centres -15, -7.5, 0, 7.5, 15; midpoints -11.25, -3.75, 3.75, 11.25;
   * bin b is token 3 + b. */
  lbbt_series_tokenizer tk;
  REQUIRE(lbbt_series_tokenizer_init(&tk, 8, -15, 15) == LBBT_OK, "init: %s", lbbt_last_error());
  const float ctx[4] = {0, 0, -20, 60}; /* mean |x| = 20 */
  double scale = lbbt_series_scale(ctx, 4);
  CHECK_CLOSE(scale, 20.0, EXACT_TOL, 0, "scale");
  /* scaled: 0, 0, -1, 3 | horizon: 75 -> 3.75 (a tie goes up), -230 -> -11.5, 1e6 -> 5e4
   * (clamped to the top bin), -224 -> -11.2, NaN -> PAD */
  const float x[9] = {0, 0, -20, 60, 75, -230, 1e6f, -224, NAN};
  const int32_t want[9] = {5, 5, 5, 5, 6, 3, 7, 4, LBBT_SERIES_PAD};
  int32_t got[9];
  lbbt_series_encode(&tk, x, 9, scale, got);
  for (int i = 0; i < 9; i++) CHECK(got[i] == want[i], "value %d (%g): token %d, want %d", i, x[i], got[i], want[i]);
  CHECK_CLOSE(lbbt_series_decode(&tk, 3, scale), -300.0, EXACT_TOL, 0, "decode bin 0");
  CHECK_CLOSE(lbbt_series_decode(&tk, 6, scale), 150.0, EXACT_TOL, 0, "decode bin 3");
  CHECK_CLOSE(lbbt_series_decode(&tk, 7, 1.0), 15.0, EXACT_TOL, 0, "decode top bin");
  CHECK_CLOSE(lbbt_series_decode(&tk, LBBT_SERIES_EOS, 1.0), -15.0, EXACT_TOL, 0, "EOS decodes as bin 0");
  /* all-zero context: scale 1 */
  const float zeros[3] = {0, 0, 0};
  CHECK_CLOSE(lbbt_series_scale(zeros, 3), 1.0, EXACT_TOL, 0, "zero context scale");
  CHECK(lbbt_series_tokenizer_init(&tk, 3, -15, 15) == LBBT_E_INPUT, "n_tokens 3 refused");
}

static void chronos_vocabulary_round_trip(void) {
  /* 4096 tokens: 4093 bins of width 30 / 4092; decode(encode(v)) is within half a bin */
  lbbt_series_tokenizer tk;
  REQUIRE(lbbt_series_tokenizer_init(&tk, 4096, -15, 15) == LBBT_OK, "init");
  const double half = 0.5 * 30.0 / 4092.0;
  lbbt_rng r;
  lbbt_rng_seed(&r, 5);
  for (int i = 0; i < 2000; i++) {
    float v = (float)(30.0 * lbbt_rng_uniform(&r) - 15.0);
    int32_t t;
    lbbt_series_encode(&tk, &v, 1, 1.0, &t);
    CHECK(t >= 3 && t <= 4095, "token %d out of the bins", t);
    CHECK(fabs(lbbt_series_decode(&tk, t, 1.0) - v) <= half + 1e-6, "value %g: decoded %g", v,
          lbbt_series_decode(&tk, t, 1.0));
  }
}

TEST_MAIN_BEGIN("test_series")
TEST_RUN(kernel_values_match_definitions);
TEST_RUN(same_seed_same_series);
TEST_RUN(sample_covariance_matches_kernel);
TEST_RUN(low_rank_kernels_sample_with_jitter);
TEST_RUN(tokens_match_hand_worked_values);
TEST_RUN(chronos_vocabulary_round_trip);
TEST_MAIN_END()
