/* k-means with k-means++ seeding and restarts; see clustering.h. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/clustering.h"
#include "lbbt/rng.h"

static double sqdist(const float *a, const double *c, int d) {
  double s = 0;
  for (int j = 0; j < d; j++) {
    double t = a[j] - c[j];
    s += t * t;
  }
  return s;
}

/* k-means++: centroids c [k, d] from rows of x. dist [n] is scratch. */
static void seed_plusplus(const float *x, int64_t n, int d, int k, lbbt_rng *r, double *c,
                          double *dist) {
  int64_t first = (int64_t)(lbbt_rng_uniform(r) * (double)n);
  if (first >= n) first = n - 1;
  for (int j = 0; j < d; j++) c[j] = x[first * d + j];
  for (int64_t i = 0; i < n; i++) dist[i] = sqdist(x + i * d, c, d);
  for (int m = 1; m < k; m++) {
    double total = 0;
    for (int64_t i = 0; i < n; i++) total += dist[i];
    int64_t pick = n - 1;
    if (total > 0) {
      double u = lbbt_rng_uniform(r) * total, acc = 0;
      for (int64_t i = 0; i < n; i++) {
        acc += dist[i];
        if (acc > u) {
          pick = i;
          break;
        }
      }
    } else {
      /* every row already coincides with a centroid: any row will do */
      pick = (int64_t)(lbbt_rng_uniform(r) * (double)n);
      if (pick >= n) pick = n - 1;
    }
    double *cm = c + (int64_t)m * d;
    for (int j = 0; j < d; j++) cm[j] = x[pick * d + j];
    for (int64_t i = 0; i < n; i++) {
      double dd = sqdist(x + i * d, cm, d);
      if (dd < dist[i]) dist[i] = dd;
    }
  }
}

/* One restart: Lloyd from the seeded centroids. Returns inertia. */
static double lloyd(const float *x, int64_t n, int d, int k, int max_iter, double *c, int32_t *assign,
                    double *dist, int64_t *count, int *iters, int *converged) {
  for (int64_t i = 0; i < n; i++) assign[i] = -1;
  *converged = 0;
  *iters = 0;
  for (int it = 0; it < max_iter; it++) {
    int64_t changed = 0;
    for (int64_t i = 0; i < n; i++) {
      int best = 0;
      double bd = DBL_MAX;
      for (int m = 0; m < k; m++) {
        double dd = sqdist(x + i * d, c + (int64_t)m * d, d);
        if (dd < bd) { bd = dd; best = m; }
      }
      dist[i] = bd;
      if (assign[i] != best) { assign[i] = best; changed++; }
    }
    *iters = it + 1;
    if (changed == 0) {
      *converged = 1;
      break;
    }
    memset(c, 0, (size_t)k * (size_t)d * sizeof *c);
    memset(count, 0, (size_t)k * sizeof *count);
    for (int64_t i = 0; i < n; i++) {
      double *cm = c + (int64_t)assign[i] * d;
      for (int j = 0; j < d; j++) cm[j] += x[i * d + j];
      count[assign[i]]++;
    }
    for (int m = 0; m < k; m++) {
      double *cm = c + (int64_t)m * d;
      if (count[m] > 0) {
        for (int j = 0; j < d; j++) cm[j] /= (double)count[m];
        continue;
      }
      /* empty cluster: move it onto the row worst served by its centroid */
      int64_t far = 0;
      for (int64_t i = 1; i < n; i++)
        if (dist[i] > dist[far]) far = i;
      for (int j = 0; j < d; j++) cm[j] = x[far * d + j];
      dist[far] = 0;
    }
  }
  double inertia = 0;
  for (int64_t i = 0; i < n; i++) inertia += sqdist(x + i * d, c + (int64_t)assign[i] * d, d);
  return inertia;
}

lbbt_status lbbt_kmeans(const float *x, int64_t n, int d, int k, int max_iter, int restarts,
                        uint64_t seed, int32_t *assign, float *centroids, lbbt_kmeans_info *info) {
  if (n < 1 || d < 1 || k < 1 || k > n || max_iter < 1 || restarts < 1)
    return lbbt_fail(LBBT_E_INPUT, "kmeans: need 1 <= k <= n, d >= 1, max_iter >= 1, restarts >= 1 "
                     "(n %lld, d %d, k %d, max_iter %d, restarts %d)", (long long)n, d, k, max_iter, restarts);
  double *c = malloc((size_t)k * (size_t)d * sizeof *c);
  double *best_c = malloc((size_t)k * (size_t)d * sizeof *best_c);
  double *dist = malloc((size_t)n * sizeof *dist);
  int64_t *count = malloc((size_t)k * sizeof *count);
  int32_t *a = malloc((size_t)n * sizeof *a);
  if (!c || !best_c || !dist || !count || !a) {
    free(c); free(best_c); free(dist); free(count); free(a);
    return lbbt_fail(LBBT_E_NOMEM, "kmeans: out of memory (n %lld, d %d, k %d)", (long long)n, d, k);
  }
  double best = INFINITY;
  for (int r = 0; r < restarts; r++) {
    lbbt_rng rng;
    lbbt_rng_derive(&rng, seed, "kmeans", (uint64_t)r);
    seed_plusplus(x, n, d, k, &rng, c, dist);
    int iters, conv;
    double inertia = lloyd(x, n, d, k, max_iter, c, a, dist, count, &iters, &conv);
    if (inertia < best) {
      best = inertia;
      memcpy(assign, a, (size_t)n * sizeof *a);
      memcpy(best_c, c, (size_t)k * (size_t)d * sizeof *c);
      info->iterations = iters;
      info->converged = conv;
      info->restart = r;
      info->inertia = inertia;
    }
  }
  if (centroids)
    for (int64_t i = 0; i < (int64_t)k * d; i++) centroids[i] = (float)best_c[i];
  free(c); free(best_c); free(dist); free(count); free(a);
  return LBBT_OK;
}
