/* Weight statistics for the outlier analysis: moments, outlier rules, histograms, spectra,
 * power-law fits — each against hand-computed values or a known distribution. */
#include <stdint.h>

#include "lbbt/rng.h"
#include "lbbt/weight_stats.h"
#include "test.h"

#define EXACT_TOL 1e-12        /* closed-form values computed in double */
#define SAMPLE_KURT_TOL 0.08   /* excess kurtosis of 200k samples (std error ~0.011 Gaussian) */
#define SPECTRUM_TOL 1e-9
#define POWERLAW_ALPHA_TOL 0.12 /* MLE on 5000 Pareto samples: std error (alpha-1)/sqrt(n) ~ 0.02 */
#define N_SAMPLES 200000

static void test_moments_hand(void) {
  const float w[4] = {1, 2, 3, 4};
  lbbt_moments m;
  lbbt_moments_compute(w, 4, &m);
  CHECK_CLOSE(m.mean, 2.5, EXACT_TOL, 0, "mean");
  CHECK_CLOSE(m.std, sqrt(1.25), EXACT_TOL, 0, "std");
  /* m4 = (2 * 1.5^4 + 2 * 0.5^4) / 4 = 2.5625, m2^2 = 1.5625 */
  CHECK_CLOSE(m.kurtosis, 2.5625 / 1.5625 - 3.0, EXACT_TOL, 0, "excess kurtosis");
  CHECK_CLOSE(m.max_abs, 4.0, 0, 0, "max |w|");
  const float c[3] = {0.5f, 0.5f, 0.5f};
  lbbt_moments_compute(c, 3, &m);
  CHECK(m.std == 0 && m.kurtosis == 0, "constant tensor: std %g kurtosis %g", m.std, m.kurtosis);
}

/* Excess kurtosis of known distributions: Gaussian 0, uniform -1.2, Laplace 3. */
static void test_kurtosis_of_distributions(void) {
  float *w = malloc(N_SAMPLES * sizeof *w);
  REQUIRE(w, "out of memory");
  lbbt_rng r;
  lbbt_moments m;
  lbbt_rng_derive(&r, 1, "test-gauss", 0);
  for (int i = 0; i < N_SAMPLES; i++) w[i] = (float)(0.02 * lbbt_rng_normal(&r));
  lbbt_moments_compute(w, N_SAMPLES, &m);
  CHECK_CLOSE(m.kurtosis, 0.0, SAMPLE_KURT_TOL, 0, "Gaussian");
  for (int i = 0; i < N_SAMPLES; i++) w[i] = (float)(lbbt_rng_uniform(&r) - 0.5);
  lbbt_moments_compute(w, N_SAMPLES, &m);
  CHECK_CLOSE(m.kurtosis, -1.2, SAMPLE_KURT_TOL, 0, "uniform");
  for (int i = 0; i < N_SAMPLES; i++) {
    double u = lbbt_rng_uniform(&r) - 0.5;
    w[i] = (float)(u < 0 ? log(1 + 2 * u) : -log(1 - 2 * u)); /* Laplace(0, 1) */
  }
  lbbt_moments_compute(w, N_SAMPLES, &m);
  CHECK_CLOSE(m.kurtosis, 3.0, 4 * SAMPLE_KURT_TOL, 0, "Laplace"); /* heavier tail, noisier */
  free(w);
}

static void test_outlier_rules(void) {
  float w[100];
  for (int i = 0; i < 99; i++) w[i] = 0;
  w[99] = 100;
  lbbt_moments m;
  lbbt_moments_compute(w, 100, &m);
  /* mean 1, std sqrt(100 - 1): |100 - 1| = 99 > 6 * 9.95; |0 - 1| = 1 is not */
  CHECK_CLOSE(m.std, sqrt(99.0), 1e-9, 0, "std");
  CHECK(lbbt_count_sigma_outliers(w, 100, m.mean, m.std, 6.0) == 1, "6-sigma count");
  CHECK(lbbt_count_sigma_outliers(w, 100, m.mean, m.std, 9.9) == 1, "99 > 9.9 * 9.95");
  CHECK(lbbt_count_sigma_outliers(w, 100, m.mean, m.std, 10.0) == 0, "99 is not > 10 * 9.95");
  CHECK(lbbt_count_sigma_outliers(w, 100, m.mean, 0.0, 6.0) == 0, "std 0: no outliers");
  const float v[5] = {-0.6f, 0.5f, 0.49f, 0.51f, -0.5f};
  CHECK(lbbt_count_magnitude_outliers(v, 5, 0.5) == 2, "|w| > 0.5 is strict: -0.6 and 0.51");
}

static void test_histogram(void) {
  double e[4];
  lbbt_edges_linear(0, 3, 3, e);
  CHECK(e[0] == 0 && e[1] == 1 && e[2] == 2 && e[3] == 3, "linear edges %g %g %g %g", e[0], e[1], e[2], e[3]);
  int64_t counts[3] = {0}, under = 0, over = 0;
  const double vals[] = {-1, 0, 0.5, 1, 2.999, 3, 3.5};
  for (int i = 0; i < 7; i++) lbbt_histogram_add(e, 3, vals[i], counts, &under, &over);
  CHECK(under == 1 && over == 1, "under %lld over %lld", (long long)under, (long long)over);
  CHECK(counts[0] == 2 && counts[1] == 1 && counts[2] == 2, "counts %lld %lld %lld (3 lands in the last bin)",
        (long long)counts[0], (long long)counts[1], (long long)counts[2]);
  double l[5];
  lbbt_edges_log(1e-4, 1, 4, l);
  CHECK(l[0] == 1e-4 && l[4] == 1, "log edge ends");
  for (int i = 0; i < 4; i++) CHECK_CLOSE(l[i + 1] / l[i], 10.0, 1e-9, 0, "log edge ratio");
}

static void test_spectrum(void) {
  /* W [2, 3] with singular values 3 and 4: W W' / 3 = diag(9, 16) / 3 */
  const float w[6] = {3, 0, 0, 0, 4, 0};
  double eig[2];
  REQUIRE(lbbt_weight_spectrum(w, 2, 3, eig) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(eig[0], 16.0 / 3, SPECTRUM_TOL, 0, "largest");
  CHECK_CLOSE(eig[1], 9.0 / 3, SPECTRUM_TOL, 0, "smallest");
  /* its transpose [3, 2]: W'W / 2 (the smaller Gram matrix), same singular values */
  const float wt[6] = {3, 0, 0, 4, 0, 0};
  REQUIRE(lbbt_weight_spectrum(wt, 3, 2, eig) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(eig[0], 16.0 / 2, SPECTRUM_TOL, 0, "largest (transposed)");
  CHECK_CLOSE(eig[1], 9.0 / 2, SPECTRUM_TOL, 0, "smallest (transposed)");
  /* a rotated matrix: W = R diag(2, 1), R a rotation; eigenvalues of W W' / 2 = (4, 1) / 2 */
  double c = cos(0.3), s = sin(0.3);
  const float wr[4] = {(float)(2 * c), (float)(-s), (float)(2 * s), (float)c};
  REQUIRE(lbbt_weight_spectrum(wr, 2, 2, eig) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(eig[0], 2.0, 1e-6, 0, "rotated largest");
  CHECK_CLOSE(eig[1], 0.5, 1e-6, 0, "rotated smallest");
}

static void test_powerlaw(void) {
  enum { N = 5000 };
  static double x[N];
  lbbt_rng r;
  lbbt_rng_derive(&r, 7, "test-pareto", 0);
  const double alpha = 2.5, xmin = 1.0;
  /* inverse CDF of the density (alpha - 1) x^-alpha on [xmin, inf) */
  for (int i = 0; i < N; i++) x[i] = xmin * pow(1.0 - lbbt_rng_uniform(&r), -1.0 / (alpha - 1.0));
  lbbt_powerlaw fit;
  REQUIRE(lbbt_powerlaw_fit(x, N, 10, &fit) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(fit.alpha, alpha, POWERLAW_ALPHA_TOL, 0, "alpha");
  CHECK(fit.n_tail >= 10 && fit.ks < 0.1, "tail %d, KS %g", fit.n_tail, fit.ks);
  double few[3] = {1, 2, 3};
  CHECK(lbbt_powerlaw_fit(few, 3, 10, &fit) == LBBT_E_INPUT && isnan(fit.alpha), "too few values");
  double same[20];
  for (int i = 0; i < 20; i++) same[i] = 2.0;
  CHECK(lbbt_powerlaw_fit(same, 20, 5, &fit) == LBBT_E_INPUT, "all-equal values have no exponent");
}

TEST_MAIN_BEGIN("test_weight_stats")
  TEST_RUN(test_moments_hand);
  TEST_RUN(test_kurtosis_of_distributions);
  TEST_RUN(test_outlier_rules);
  TEST_RUN(test_histogram);
  TEST_RUN(test_spectrum);
  TEST_RUN(test_powerlaw);
TEST_MAIN_END()
