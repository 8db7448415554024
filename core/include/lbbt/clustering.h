/* Clustering of features for Figure 5: k-means (k-means++ seeding, Lloyd iterations),
 * exact t-SNE, and agreement of two labelings (normalised mutual information, adjusted Rand
 * index).  All results are pure functions of the inputs and the seed; the loops are
 * single-threaded (see tsne.c for why), so the thread count cannot change them.
 *
 * Definitions (docs/analyses.md repeats them):
 *  - k-means: minimise the sum of squared Euclidean distances to the nearest of k centroids.
 *    Seeding: k-means++ (Arthur & Vassilvitskii 2007): the first centroid a uniform row,
 *    each next one a row drawn with probability proportional to its squared distance to the
 *    nearest centroid so far.  Lloyd iterations until no assignment changes (converged) or
 *    max_iter; an empty cluster takes the row farthest from its centroid.  With restarts > 1,
 *    restart r seeds from (seed, "kmeans", r) and the lowest inertia wins (ties: lowest r).
 *  - t-SNE (van der Maaten & Hinton 2008), exact O(N^2): squared Euclidean distances;
 *    per-row Gaussian bandwidth by bisection on beta so that the entropy (nats) of P(.|i)
 *    equals ln(perplexity) within 1e-5 (at most 100 steps); P = (P + P') / (2N) floored at
 *    1e-12; Student-t (one degree of freedom) Q; gradient descent with momentum 0.5 for the
 *    first exaggeration_iters iterations and 0.8 after, P multiplied by early_exaggeration
 *    during those, delta-bar-delta gains (+0.2 / x0.8, at least 0.01), learning rate
 *    max(N / early_exaggeration / 4, 50) when learning_rate is 0 (Belkina et al. 2019, the
 *    scikit-learn "auto"); the map is re-centred every iteration; initial points
 *    N(0, 1e-4^2) from (seed, "tsne-init").  The reported KL divergence is KL(P || Q)
 *    without exaggeration, at the end.
 *  - NMI: I(U; V) / mean(H(U), H(V)) (arithmetic mean, scikit-learn's default), natural
 *    logs; 1 when both labelings have a single cluster, 0 when exactly one has.
 *  - ARI: Hubert & Arabie (1985), (index - expected) / (max - expected) over pair counts;
 *    1 when the denominator is 0 (both labelings trivial in the same way). */
#ifndef LBBT_CLUSTERING_H
#define LBBT_CLUSTERING_H
#include <stdint.h>

#include "lbbt/status.h"

typedef struct lbbt_kmeans_info {
  int iterations;   /* Lloyd iterations of the kept restart */
  int converged;    /* 1: the kept restart stopped because no assignment changed */
  int restart;      /* which restart was kept */
  double inertia;   /* sum of squared distances to the assigned centroid */
} lbbt_kmeans_info;

/* x [n, d] row-major; 1 <= k <= n.  assign [n] receives cluster ids in [0, k); centroids
 * [k, d] (may be NULL).  restarts >= 1, max_iter >= 1. */
LBBT_API lbbt_status lbbt_kmeans(const float *x, int64_t n, int d, int k, int max_iter, int restarts,
                        uint64_t seed, int32_t *assign, float *centroids, lbbt_kmeans_info *info);

typedef struct lbbt_tsne_config {
  double perplexity;         /* > 0 and < n (typically 5..50); 30 */
  int iterations;            /* total gradient steps; 1000 */
  int exaggeration_iters;    /* steps with exaggeration and momentum 0.5; 250 */
  double early_exaggeration; /* 12 */
  double learning_rate;      /* 0 = auto (see above) */
  uint64_t seed;
} lbbt_tsne_config;
/* The defaults above. */
LBBT_API lbbt_tsne_config lbbt_tsne_defaults(void);

typedef struct lbbt_tsne_info {
  double kl;             /* KL(P || Q) of the final map */
  double learning_rate;  /* the one used */
} lbbt_tsne_info;

/* x [n, d] -> y [n, 2].  n >= 2; 0 < perplexity; LBBT_E_INPUT for bad settings naming them,
 * LBBT_E_NOMEM for the n x n matrices (3 of them, doubles). */
LBBT_API lbbt_status lbbt_tsne(const float *x, int64_t n, int d, const lbbt_tsne_config *cfg, float *y,
                      lbbt_tsne_info *info);

/* Agreement of two labelings of n items (any int32 values; they are relabelled densely). */
LBBT_API lbbt_status lbbt_cluster_agreement(const int32_t *a, const int32_t *b, int64_t n, double *nmi,
                                   double *ari);

#endif
