/* lbbt_knn_cosine and lbbt_retrieval_evaluate against a hand-worked ranking, a brute-force
 * double-precision kNN across several query blocks, and scikit-learn (average_precision_score,
 * ndcg_score) plus numpy counts on tie-free random features
 * (tests/fixtures/retrieval/sklearn.txt, written by tests/reference/make_retrieval_fixtures.py). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/kernels.h"
#include "lbbt/retrieval.h"
#include "lbbt/rng.h"
#include "test.h"

/* Metrics are means of ratios of small integers (and log2 terms): the ranking is exact on
 * tie-free scores, so only summation rounding remains. */
static const double METRIC_ATOL = 1e-9;
/* float32 cosine vs double: the top-k similarities may differ by this much. */
static const double SIM_ATOL = 1e-5;
#define FIXTURE "tests/fixtures/retrieval/sklearn.txt"

/* query (1,0), label 0; gallery g0 (0,1) l0, g1 (1,.1) l1, g2 (1,.5) l0, g3 (-1,0) l0.
 * Ranking g1 g2 g0 g3, relevance 0 1 1 1, R = 3.
 * AP = (1/2 + 2/3 + 3/4) / 3;  P@1 0, P@2 1/2;  hit@1 0, hit@2 1;  recall@2 1/3;
 * NDCG@2 = (1/log2 3) / (1 + 1/log2 3). */
static void hand_worked(void) {
  const float q[2] = {1, 0}, g[8] = {0, 1, 1, 0.1f, 1, 0.5f, -1, 0};
  const int64_t ql[1] = {0}, gl[4] = {0, 1, 0, 0}, ks[2] = {1, 2};
  lbbt_retrieval_metrics m;
  REQUIRE(lbbt_retrieval_evaluate(q, ql, 1, g, gl, 4, 2, 0, ks, 2, &m) == LBBT_OK, "%s",
          lbbt_last_error());
  CHECK_CLOSE(m.map, (0.5 + 2.0 / 3 + 0.75) / 3, METRIC_ATOL, 0, "AP");
  CHECK_CLOSE(m.precision_at[0], 0, METRIC_ATOL, 0, "P@1");
  CHECK_CLOSE(m.precision_at[1], 0.5, METRIC_ATOL, 0, "P@2");
  CHECK_CLOSE(m.recall_hit_at[0], 0, METRIC_ATOL, 0, "hit@1");
  CHECK_CLOSE(m.recall_hit_at[1], 1, METRIC_ATOL, 0, "hit@2");
  CHECK_CLOSE(m.recall_frac_at[1], 1.0 / 3, METRIC_ATOL, 0, "recall@2");
  double l3 = 1 / log2(3.0);
  CHECK_CLOSE(m.ndcg_at[1], l3 / (1 + l3), METRIC_ATOL, 0, "NDCG@2");
  CHECK(m.n_scored == 1 && m.n_queries == 1, "counts");
  int64_t idx[4];
  REQUIRE(lbbt_knn_cosine(q, 1, g, 4, 2, 0, 4, idx, NULL) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(idx[0] == 1 && idx[1] == 2 && idx[2] == 0 && idx[3] == 3, "ranking %lld %lld %lld %lld",
        (long long)idx[0], (long long)idx[1], (long long)idx[2], (long long)idx[3]);
}

/* Equal similarities: ranked by gallery index; self left out when query_is_gallery. */
static void ties_by_index_and_self_excluded(void) {
  const float x[8] = {1, 0, 1, 0, 1, 0, 1, 0};
  int64_t idx[12];
  REQUIRE(lbbt_knn_cosine(x, 2, x, 4, 2, 0, 3, idx, NULL) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(idx[0] == 0 && idx[1] == 1 && idx[2] == 2 && idx[3] == 0, "tie order");
  REQUIRE(lbbt_knn_cosine(x, 4, x, 4, 2, 1, 3, idx, NULL) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(idx[0] == 1 && idx[1] == 2 && idx[2] == 3 && idx[3] == 0 && idx[4] == 2, "self excluded");
  CHECK(lbbt_knn_cosine(x, 4, x, 4, 2, 1, 4, idx, NULL) == LBBT_E_INPUT, "k > ranking refused");
}

/* 150 queries (three blocks) vs 97 gallery rows: top-5 equal to a double brute force. */
static void knn_matches_brute_force(void) {
  enum { NQ = 150, NG = 97, D = 13, K = 5 };
  float *q = malloc(sizeof(float) * NQ * D), *g = malloc(sizeof(float) * NG * D);
  int64_t *idx = malloc(sizeof(int64_t) * NQ * K);
  float *sim = malloc(sizeof(float) * NQ * K);
  REQUIRE(q && g && idx && sim, "oom");
  lbbt_rng r;
  lbbt_rng_seed(&r, 16);
  for (int i = 0; i < NQ * D; i++) q[i] = (float)(lbbt_rng_uniform(&r) * 2 - 1);
  for (int i = 0; i < NG * D; i++) g[i] = (float)(lbbt_rng_uniform(&r) * 2 - 1);
  REQUIRE(lbbt_knn_cosine(q, NQ, g, NG, D, 0, K, idx, sim) == LBBT_OK, "%s", lbbt_last_error());
  for (int i = 0; i < NQ; i++) {
    double s[NG];
    double qn = 0;
    for (int c = 0; c < D; c++) qn += (double)q[i * D + c] * q[i * D + c];
    for (int j = 0; j < NG; j++) {
      double dot = 0, gn = 0;
      for (int c = 0; c < D; c++) dot += (double)q[i * D + c] * g[j * D + c], gn += (double)g[j * D + c] * g[j * D + c];
      s[j] = dot / sqrt(qn * gn);
    }
    for (int t = 0; t < K; t++) {
      /* the t-th best in double must carry the similarity lbbt reports at rank t */
      int best = -1;
      for (int j = 0; j < NG; j++) {
        int taken = 0;
        for (int u = 0; u < t; u++) taken |= idx[i * K + u] == j;
        if (!taken && (best < 0 || s[j] > s[best])) best = j;
      }
      CHECK(fabs(s[best] - sim[i * K + t]) <= SIM_ATOL && fabs(s[idx[i * K + t]] - s[best]) <= SIM_ATOL,
            "query %d rank %d: lbbt %lld (%g), brute %d (%g)", i, t, (long long)idx[i * K + t],
            sim[i * K + t], best, s[best]);
    }
  }
  free(q), free(g), free(idx), free(sim);
}

static int read_vals(FILE *f, const char *tag, double *v, int n) {
  char w[64];
  if (fscanf(f, "%63s", w) != 1 || strcmp(w, tag)) return 0;
  for (int i = 0; i < n; i++)
    if (fscanf(f, "%lf", &v[i]) != 1) return 0;
  return 1;
}

static void sklearn_fixture(void) {
  FILE *f = fopen(FIXTURE, "r");
  REQUIRE(f, "cannot open %s (committed; regenerate with tests/reference/make_retrieval_fixtures.py)",
          FIXTURE);
  char name[128];
  int nq, ng, d, self, n_cases = 0;
  while (fscanf(f, " case %127s %d %d %d %d", name, &nq, &ng, &d, &self) == 5) {
    double *ql = malloc(sizeof(double) * nq), *gl = malloc(sizeof(double) * ng);
    double *qd = malloc(sizeof(double) * nq * d), *gd = malloc(sizeof(double) * ng * d);
    int64_t *qli = malloc(sizeof(int64_t) * nq), *gli = malloc(sizeof(int64_t) * ng);
    float *qf = malloc(sizeof(float) * nq * d), *gf = malloc(sizeof(float) * ng * d);
    REQUIRE(ql && gl && qd && gd && qli && gli && qf && gf, "oom");
    int ok = read_vals(f, "qlab", ql, nq) && (self || read_vals(f, "glab", gl, ng));
    for (int i = 0; ok && i < nq; i++) ok = read_vals(f, "q", qd + (size_t)i * d, d);
    for (int i = 0; ok && !self && i < ng; i++) ok = read_vals(f, "g", gd + (size_t)i * d, d);
    for (int i = 0; i < nq; i++) qli[i] = (int64_t)ql[i];
    for (int i = 0; i < ng; i++) gli[i] = self ? qli[i] : (int64_t)gl[i];
    for (int i = 0; i < nq * d; i++) qf[i] = (float)qd[i];
    for (int i = 0; i < ng * d; i++) gf[i] = self ? qf[i] : (float)gd[i];
    double ksd[4], map, prec[4], hit[4], rec[4], ndcg[4], scored;
    ok = ok && read_vals(f, "ks", ksd, 4) && read_vals(f, "map", &map, 1) &&
         read_vals(f, "precision", prec, 4) && read_vals(f, "hit", hit, 4) &&
         read_vals(f, "recall", rec, 4) && read_vals(f, "ndcg", ndcg, 4) &&
         read_vals(f, "scored", &scored, 1);
    REQUIRE(ok, "%s: fixture parse", name);
    int64_t ks[4] = {(int64_t)ksd[0], (int64_t)ksd[1], (int64_t)ksd[2], (int64_t)ksd[3]};
    lbbt_retrieval_metrics m;
    REQUIRE(lbbt_retrieval_evaluate(qf, qli, nq, gf, gli, ng, d, self, ks, 4, &m) == LBBT_OK,
            "%s: %s", name, lbbt_last_error());
    CHECK(m.n_scored == (int64_t)scored, "%s: scored %lld want %g", name, (long long)m.n_scored, scored);
    CHECK(fabs(m.map - map) <= METRIC_ATOL, "%s: mAP %.12g want %.12g", name, m.map, map);
    for (int i = 0; i < 4; i++)
      CHECK(fabs(m.precision_at[i] - prec[i]) <= METRIC_ATOL && fabs(m.recall_hit_at[i] - hit[i]) <= METRIC_ATOL &&
                fabs(m.recall_frac_at[i] - rec[i]) <= METRIC_ATOL && fabs(m.ndcg_at[i] - ndcg[i]) <= METRIC_ATOL,
            "%s k=%lld: P %g/%g hit %g/%g rec %g/%g ndcg %g/%g", name, (long long)ks[i],
            m.precision_at[i], prec[i], m.recall_hit_at[i], hit[i], m.recall_frac_at[i], rec[i],
            m.ndcg_at[i], ndcg[i]);
    free(ql), free(gl), free(qd), free(gd), free(qli), free(gli), free(qf), free(gf);
    n_cases++;
  }
  fclose(f);
  CHECK(n_cases == 5, "expected 5 fixture cases, read %d", n_cases);
}

TEST_MAIN_BEGIN("test_retrieval")
TEST_RUN(hand_worked);
TEST_RUN(ties_by_index_and_self_excluded);
TEST_RUN(knn_matches_brute_force);
TEST_RUN(sklearn_fixture);
lbbt_dnnl_shutdown();
TEST_MAIN_END()
