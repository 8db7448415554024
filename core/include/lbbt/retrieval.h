/* Image retrieval by exact cosine k-nearest neighbours, and its ranking metrics.
 *
 * Features are L2-normalised (a zero row stays zero), so cosine similarity is a dot product;
 * similarities are computed by a oneDNN matmul in query blocks of [block, n_gallery], so a
 * 10^4 x 10^4 evaluation never holds an n^2 buffer.  Each query's gallery is ranked by
 * similarity descending, ties broken by gallery index ascending (deterministic; note that
 * scikit-learn's average_precision_score / ndcg_score instead average over tied scores, so
 * the two agree only on tie-free scores).  When query_is_gallery, query i is gallery item i
 * and is left out of its own ranking ("each test image against the rest of the test set").
 * Relevant = same label.  Formulas: docs/retrieval.md. */
#ifndef LBBT_RETRIEVAL_H
#define LBBT_RETRIEVAL_H
#include <stdint.h>

#include "lbbt/status.h"

#define LBBT_RETRIEVAL_MAX_K 16

/* x[n, d] in place: each row divided by its L2 norm (rows of norm 0 are left as they are). */
LBBT_API void lbbt_l2_normalize_rows(float *x, int64_t n, int64_t d);

/* Exact top-k by cosine: idx[nq, k] gallery indices, sim[nq, k] (may be NULL) similarities,
 * best first.  k must not exceed the ranking length (ng, or ng - 1 when query_is_gallery). */
LBBT_API lbbt_status lbbt_knn_cosine(const float *query, int64_t nq, const float *gallery,
                                     int64_t ng, int64_t d, int query_is_gallery, int64_t k,
                                     int64_t *idx, float *sim);

typedef struct lbbt_retrieval_metrics {
  int n_k;
  int64_t ks[LBBT_RETRIEVAL_MAX_K];
  double map;                                  /* mean AP over the full ranking */
  double precision_at[LBBT_RETRIEVAL_MAX_K];   /* Pass@k: mean (#relevant in top k) / k */
  double recall_hit_at[LBBT_RETRIEVAL_MAX_K];  /* Recall@k, hit rate: >= 1 relevant in top k */
  double recall_frac_at[LBBT_RETRIEVAL_MAX_K]; /* Recall@k, fraction: (#rel in top k) / R */
  double ndcg_at[LBBT_RETRIEVAL_MAX_K];        /* NDCG@k, binary relevance, log2 discount */
  int64_t n_queries;       /* queries given */
  int64_t n_scored;        /* queries with R >= 1 relevant item: the ones averaged */
} lbbt_retrieval_metrics;

/* query[nq, d], gallery[ng, d] raw features (normalised internally, inputs untouched);
 * labels: one class id per row.  ks[n_k] (1 <= n_k <= LBBT_RETRIEVAL_MAX_K), each k >= 1.
 * Queries without any relevant gallery item are left out of every mean (n_scored says how
 * many remain); with none left the means are NaN. */
LBBT_API lbbt_status lbbt_retrieval_evaluate(const float *query, const int64_t *query_labels,
                                             int64_t nq, const float *gallery,
                                             const int64_t *gallery_labels, int64_t ng, int64_t d,
                                             int query_is_gallery, const int64_t *ks, int n_k,
                                             lbbt_retrieval_metrics *out);

#endif
