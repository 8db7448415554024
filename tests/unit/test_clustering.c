/* Clustering for Figure 5: NMI and ARI against hand-computed values, k-means on separable
 * blobs, and t-SNE keeping well-separated clusters apart (and being thread-independent). */
#include <omp.h>
#include <stdint.h>

#include "lbbt/clustering.h"
#include "lbbt/rng.h"
#include "test.h"

#define SCORE_TOL 1e-12     /* NMI/ARI are closed-form in double */
#define CENTROID_TOL 1e-5   /* float centroids of a k = 1 fit vs the double mean */
#define TSNE_NN_MIN 0.98    /* share of points whose nearest map neighbour has their class */

/* n points in d dims: classes c = i % k around centres 10 * e_c (well separated), noise 0.3. */
static void blobs(float *x, int32_t *y, int n, int d, int k, uint64_t seed) {
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, "test-blobs", 0);
  for (int i = 0; i < n; i++) {
    y[i] = i % k;
    for (int j = 0; j < d; j++) x[i * d + j] = (float)((j == y[i] % d ? 10.0 : 0.0) + 0.3 * lbbt_rng_normal(&r));
  }
}

static void test_agreement_hand(void) {
  /* truth {0,0,0,1,1,1}, prediction {0,0,1,1,2,2}: contingency [[2,1,0],[0,1,2]].
   * ARI: sum C(nij,2) = 2, sum C(ai,2) = 6, sum C(bj,2) = 3, C(6,2) = 15, expected 1.2,
   * max 4.5 -> 0.8 / 3.3 = 8/33.  MI = (2/3) ln 2, H(U) = ln 2, H(V) = ln 3 ->
   * NMI = (2/3) ln 2 / ((ln 2 + ln 3) / 2) = 4 ln 2 / (3 ln 6). */
  const int32_t t[6] = {0, 0, 0, 1, 1, 1}, p[6] = {0, 0, 1, 1, 2, 2};
  double nmi, ari;
  REQUIRE(lbbt_cluster_agreement(t, p, 6, &nmi, &ari) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(ari, 8.0 / 33.0, SCORE_TOL, 0, "ARI");
  CHECK_CLOSE(nmi, 4 * log(2.0) / (3 * log(6.0)), SCORE_TOL, 0, "NMI");
  /* label values are arbitrary: relabelled prediction, same scores */
  const int32_t q[6] = {7, 7, -3, -3, 100, 100};
  double nmi2, ari2;
  REQUIRE(lbbt_cluster_agreement(t, q, 6, &nmi2, &ari2) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(nmi2 == nmi && ari2 == ari, "relabelling changed the scores");
  /* independent: truth {0,0,1,1} vs {0,1,0,1}: MI 0; ARI (0 - 4/6) / (2 - 4/6) = -1/2 */
  const int32_t a[4] = {0, 0, 1, 1}, b[4] = {0, 1, 0, 1};
  REQUIRE(lbbt_cluster_agreement(a, b, 4, &nmi, &ari) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(nmi, 0.0, SCORE_TOL, 0, "NMI independent");
  CHECK_CLOSE(ari, -0.5, SCORE_TOL, 0, "ARI independent");
  /* identical partitions */
  REQUIRE(lbbt_cluster_agreement(t, t, 6, &nmi, &ari) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(nmi, 1.0, SCORE_TOL, 0, "NMI identical");
  CHECK_CLOSE(ari, 1.0, SCORE_TOL, 0, "ARI identical");
  /* one cluster vs two: NMI 0 by convention; both single: 1 */
  const int32_t one[4] = {5, 5, 5, 5};
  REQUIRE(lbbt_cluster_agreement(one, a, 4, &nmi, &ari) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(nmi == 0.0, "NMI single vs two clusters: %g", nmi);
  REQUIRE(lbbt_cluster_agreement(one, one, 4, &nmi, &ari) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(nmi == 1.0 && ari == 1.0, "single vs single: NMI %g ARI %g", nmi, ari);
}

static void test_kmeans_blobs(void) {
  enum { N = 300, D = 8, K = 5 };
  static float x[N * D], c[K * D];
  static int32_t y[N], a[N], a2[N];
  blobs(x, y, N, D, K, 3);
  lbbt_kmeans_info info;
  REQUIRE(lbbt_kmeans(x, N, D, K, 100, 5, 11, a, c, &info) == LBBT_OK, "%s", lbbt_last_error());
  double nmi, ari;
  REQUIRE(lbbt_cluster_agreement(y, a, N, &nmi, &ari) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(ari == 1.0 && nmi == 1.0, "separable blobs: ARI %g NMI %g", ari, nmi);
  CHECK(info.converged && info.iterations >= 1 && info.iterations < 100, "converged %d after %d",
        info.converged, info.iterations);
  /* inertia of the true partition: about N * D * 0.3^2 */
  CHECK(info.inertia > 0.5 * N * D * 0.09 && info.inertia < 1.5 * N * D * 0.09, "inertia %g", info.inertia);
  /* same seed, same answer */
  lbbt_kmeans_info info2;
  REQUIRE(lbbt_kmeans(x, N, D, K, 100, 5, 11, a2, NULL, &info2) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(!memcmp(a, a2, sizeof a) && info2.inertia == info.inertia, "not reproducible");
  /* k = 1: the centroid is the mean */
  REQUIRE(lbbt_kmeans(x, N, D, 1, 10, 1, 1, a2, c, &info2) == LBBT_OK, "%s", lbbt_last_error());
  for (int j = 0; j < D; j++) {
    double m = 0;
    for (int i = 0; i < N; i++) m += x[i * D + j];
    CHECK_CLOSE(c[j], m / N, CENTROID_TOL, 1e-5, "k=1 centroid");
  }
  CHECK(lbbt_kmeans(x, 3, D, 4, 10, 1, 1, a2, NULL, &info2) == LBBT_E_INPUT, "k > n accepted");
}

/* Share of points whose nearest neighbour in y [n, 2] has the same label. */
static double nn_agreement(const float *y, const int32_t *lab, int n) {
  int ok = 0;
  for (int i = 0; i < n; i++) {
    int best = -1;
    double bd = INFINITY;
    for (int j = 0; j < n; j++) {
      if (j == i) continue;
      double dx = y[2 * i] - y[2 * j], dy = y[2 * i + 1] - y[2 * j + 1];
      if (dx * dx + dy * dy < bd) { bd = dx * dx + dy * dy; best = j; }
    }
    ok += lab[best] == lab[i];
  }
  return (double)ok / n;
}

static void test_tsne_keeps_clusters(void) {
  enum { N = 120, D = 10, K = 4 };
  static float x[N * D], y1[N * 2], y2[N * 2];
  static int32_t lab[N], a[N];
  blobs(x, lab, N, D, K, 5);
  lbbt_tsne_config cfg = lbbt_tsne_defaults();
  cfg.perplexity = 15;
  cfg.iterations = 500;
  cfg.seed = 9;
  lbbt_tsne_info info;
  omp_set_num_threads(1);
  REQUIRE(lbbt_tsne(x, N, D, &cfg, y1, &info) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(isfinite(info.kl) && info.kl >= 0, "KL %g", info.kl);
  CHECK_CLOSE(info.learning_rate, 50.0, 0, 0, "auto learning rate max(120/12/4, 50)");
  double nn = nn_agreement(y1, lab, N);
  CHECK(nn >= TSNE_NN_MIN, "nearest-neighbour class agreement in the map %g", nn);
  lbbt_kmeans_info ki;
  double nmi, ari;
  REQUIRE(lbbt_kmeans(y1, N, 2, K, 100, 5, 1, a, NULL, &ki) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_cluster_agreement(lab, a, N, &nmi, &ari) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(ari == 1.0, "k-means on the t-SNE map: ARI %g", ari);
  /* the map does not depend on the thread count */
  omp_set_num_threads(2);
  REQUIRE(lbbt_tsne(x, N, D, &cfg, y2, &info) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(!memcmp(y1, y2, sizeof y1), "t-SNE differs between 1 and 2 threads");
  cfg.perplexity = N;
  CHECK(lbbt_tsne(x, N, D, &cfg, y2, &info) == LBBT_E_INPUT, "perplexity >= n accepted");
}

TEST_MAIN_BEGIN("test_clustering")
  TEST_RUN(test_agreement_hand);
  TEST_RUN(test_kmeans_blobs);
  TEST_RUN(test_tsne_keeps_clusters);
TEST_MAIN_END()
