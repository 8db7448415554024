/* Covariance alignment (Theorem 4.1): weights drawn with the data covariance align (overlap
 * ~ 1, transfer ~ the data eigenvalues); isotropic weights give overlap ~ k/d on average;
 * the patch covariance matches a direct computation; Spearman against hand values. */
#include <stdint.h>

#include "lbbt/cov_align.h"
#include "lbbt/dataset.h"
#include "lbbt/rng.h"
#include "test.h"

#define D 16
#define ALIGNED_OVERLAP_MIN 0.95   /* 20000 filters drawn from Sigma_x: sampling error ~1% */
#define TRANSFER_RTOL 0.08         /* t_i vs lambda_i, same sampling error */
#define ISOTROPIC_MEAN_TOL 0.04    /* mean over 200 draws of a quantity with std ~0.15 */
#define COV_TOL 1e-6               /* the dataset normalises pixels in float */

/* A random orthonormal basis Q [D, D] (Gram-Schmidt of Gaussian columns) and
 * Sigma = Q diag(lambda) Q'. */
static void make_sigma(uint64_t seed, const double *lambda, double *q, double *sigma) {
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, "test-basis", 0);
  for (int i = 0; i < D * D; i++) q[i] = lbbt_rng_normal(&r);
  for (int c = 0; c < D; c++) {
    for (int p = 0; p < c; p++) {
      double dot = 0;
      for (int i = 0; i < D; i++) dot += q[i * D + c] * q[i * D + p];
      for (int i = 0; i < D; i++) q[i * D + c] -= dot * q[i * D + p];
    }
    double nrm = 0;
    for (int i = 0; i < D; i++) nrm += q[i * D + c] * q[i * D + c];
    for (int i = 0; i < D; i++) q[i * D + c] /= sqrt(nrm);
  }
  for (int i = 0; i < D; i++)
    for (int j = 0; j < D; j++) {
      double s = 0;
      for (int c = 0; c < D; c++) s += q[i * D + c] * lambda[c] * q[j * D + c];
      sigma[i * D + j] = s;
    }
}

/* C filters w = Q diag(sqrt(lambda)) z, z ~ N(0, I): covariance Sigma. */
static void draw_filters(const double *q, const double *lambda, int c, uint64_t seed, float *w) {
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, "test-filters", 0);
  double z[D];
  for (int n = 0; n < c; n++) {
    for (int k = 0; k < D; k++) z[k] = sqrt(lambda[k]) * lbbt_rng_normal(&r);
    for (int i = 0; i < D; i++) {
      double s = 0;
      for (int k = 0; k < D; k++) s += q[i * D + k] * z[k];
      w[n * D + i] = (float)s;
    }
  }
}

static const int KS[4] = {1, 2, 5, 10};

static void test_aligned_weights(void) {
  enum { C = 20000 };
  static double q[D * D], sx[D * D], sw[D * D];
  static float w[C * D];
  double lambda[D];
  for (int i = 0; i < D; i++) lambda[i] = pow(0.6, i); /* distinct, well-separated eigenvalues */
  make_sigma(1, lambda, q, sx);
  draw_filters(q, lambda, C, 2, w);
  lbbt_weight_second_moment(w, C, D, sw);
  lbbt_cov_align_result r;
  REQUIRE(lbbt_cov_align(sx, sw, D, KS, 4, &r) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(r.n_k == 4 && r.kmax == 10, "n_k %d kmax %d", r.n_k, r.kmax);
  for (int a = 0; a < r.n_k; a++)
    CHECK(r.overlap[a] >= ALIGNED_OVERLAP_MIN, "k = %d: overlap %g", r.ks[a], r.overlap[a]);
  for (int i = 0; i < 6; i++) {
    CHECK_CLOSE(r.data_eigenvalues[i], lambda[i], 1e-9, 1e-9, "data eigenvalue");
    CHECK_CLOSE(r.transfer[i], lambda[i], 0, TRANSFER_RTOL, "transfer t_i ~ lambda_i");
  }
  CHECK(r.spearman > 0.99, "Spearman(lambda, t) %g", r.spearman);
  CHECK(r.diag_energy > 0.99, "diagonal energy %g", r.diag_energy);
  CHECK(isnan(r.cosines[0 * r.kmax + 1]) && !isnan(r.cosines[3 * r.kmax + 9]), "cosine padding");
  lbbt_cov_align_result_free(&r);
}

static void test_isotropic_weights(void) {
  enum { C = 64, DRAWS = 200 };
  static double q[D * D], sx[D * D], sw[D * D], qi[D * D], dummy[D * D];
  static float w[C * D];
  double lambda[D], ones[D];
  for (int i = 0; i < D; i++) {
    lambda[i] = pow(0.6, i);
    ones[i] = 1.0;
  }
  make_sigma(1, lambda, q, sx);
  make_sigma(2, ones, qi, dummy); /* an orthonormal basis; with unit eigenvalues: isotropic */
  double mean[4] = {0};
  for (int s = 0; s < DRAWS; s++) {
    draw_filters(qi, ones, C, 100 + (uint64_t)s, w);
    lbbt_weight_second_moment(w, C, D, sw);
    lbbt_cov_align_result r;
    REQUIRE(lbbt_cov_align(sx, sw, D, KS, 4, &r) == LBBT_OK, "%s", lbbt_last_error());
    for (int a = 0; a < 4; a++) mean[a] += r.overlap[a] / DRAWS;
    lbbt_cov_align_result_free(&r);
  }
  for (int a = 0; a < 4; a++)
    CHECK_CLOSE(mean[a], (double)KS[a] / D, ISOTROPIC_MEAN_TOL, 0, "isotropic overlap ~ k/d");
}

static void test_k_selection(void) {
  static double eye[4 * 4];
  for (int i = 0; i < 4; i++) eye[i * 4 + i] = 1.0 + i;
  lbbt_cov_align_result r;
  REQUIRE(lbbt_cov_align(eye, eye, 4, KS, 4, &r) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(r.n_k == 2 && r.ks[0] == 1 && r.ks[1] == 2, "k above d kept: n_k %d", r.n_k);
  CHECK_CLOSE(r.overlap[0], 1.0, 1e-12, 0, "identical covariances");
  lbbt_cov_align_result_free(&r);
  const int big[1] = {5}, zero[1] = {0};
  CHECK(lbbt_cov_align(eye, eye, 4, big, 1, &r) == LBBT_E_INPUT, "every k > d accepted");
  CHECK(lbbt_cov_align(eye, eye, 4, zero, 1, &r) == LBBT_E_INPUT, "k = 0 accepted");
}

/* Patches of 2 grey 4x4 images with patch 2 (8 patches of 4 values), against a direct sum. */
static void test_patch_covariance(void) {
  lbbt_dataset *ds = NULL;
  REQUIRE(lbbt_dataset_create(2, 1, 4, 4, 2, &ds) == LBBT_OK, "%s", lbbt_last_error());
  for (int i = 0; i < 32; i++) ds->pixels[i] = (uint8_t)((i * 37 + 11) % 256);
  const int32_t idx[2] = {0, 1};
  double cov[16], mean[4], want[16] = {0}, wmean[4] = {0};
  REQUIRE(lbbt_patch_covariance(ds, idx, 2, 2, cov, mean) == LBBT_OK, "%s", lbbt_last_error());
  double patches[8][4];
  int p = 0;
  for (int im = 0; im < 2; im++)
    for (int py = 0; py < 2; py++)
      for (int px = 0; px < 2; px++, p++)
        for (int y = 0; y < 2; y++)
          for (int x = 0; x < 2; x++)
            patches[p][y * 2 + x] = ds->pixels[im * 16 + (py * 2 + y) * 4 + px * 2 + x] / 255.0;
  for (p = 0; p < 8; p++)
    for (int j = 0; j < 4; j++) wmean[j] += patches[p][j] / 8;
  for (p = 0; p < 8; p++)
    for (int i = 0; i < 4; i++)
      for (int j = 0; j < 4; j++) want[i * 4 + j] += (patches[p][i] - wmean[i]) * (patches[p][j] - wmean[j]) / 8;
  for (int i = 0; i < 16; i++) CHECK_CLOSE(cov[i], want[i], COV_TOL, 0, "patch covariance");
  for (int j = 0; j < 4; j++) CHECK_CLOSE(mean[j], wmean[j], COV_TOL, 0, "patch mean");
  CHECK(lbbt_patch_covariance(ds, idx, 2, 3, cov, NULL) == LBBT_E_INPUT, "4x4 images in 3x3 patches accepted");
  lbbt_dataset_free(ds);
}

static void test_spearman(void) {
  const double x[4] = {1, 2, 3, 4}, y[4] = {1, 3, 2, 4};
  /* no ties: 1 - 6 sum d^2 / (n (n^2 - 1)) = 1 - 12 / 60 */
  CHECK_CLOSE(lbbt_spearman(x, y, 4), 0.8, 1e-12, 0, "Spearman");
  /* ties get average ranks: x ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): 3 / sqrt(10) (scipy) */
  const double xt[4] = {1, 2, 2, 3};
  CHECK_CLOSE(lbbt_spearman(xt, x, 4), 3.0 / sqrt(10.0), 1e-12, 0, "Spearman with ties");
  const double c[4] = {2, 2, 2, 2};
  CHECK(isnan(lbbt_spearman(c, x, 4)), "constant side gives NaN");
}

TEST_MAIN_BEGIN("test_cov_align")
  TEST_RUN(test_aligned_weights);
  TEST_RUN(test_isotropic_weights);
  TEST_RUN(test_k_selection);
  TEST_RUN(test_patch_covariance);
  TEST_RUN(test_spearman);
TEST_MAIN_END()
