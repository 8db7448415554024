/* Statistics of eigenvalue sets and spectral densities, top-k selection and Rademacher
 * probes; see hessian.h and docs/analyses.md for the definitions and their sources. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/hessian.h"
#include "lbbt/rng.h"

void lbbt_rademacher(uint64_t seed, const char *purpose, uint64_t index, double *v, int64_t n) {
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, purpose, index);
  for (int64_t i = 0; i < n; i += 64) {
    uint64_t bits = lbbt_rng_u64(&r);
    for (int64_t k = i; k < n && k < i + 64; k++, bits >>= 1) v[k] = (bits & 1) ? 1.0 : -1.0;
  }
}

typedef struct node {
  double value, weight;
} node;

static int by_value_desc(const void *a, const void *b) {
  double x = ((const node *)a)->value, y = ((const node *)b)->value;
  return (x < y) - (x > y);
}

static int by_magnitude_desc(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  if (fabs(x) != fabs(y)) return (fabs(x) < fabs(y)) - (fabs(x) > fabs(y));
  return (x < y) - (x > y);
}

static int double_desc(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x < y) - (x > y);
}

int lbbt_top_k_by_magnitude(const double *vals, int n, int k, double *out) {
  if (n <= 0 || k <= 0) return 0;
  double *tmp = malloc((size_t)n * sizeof *tmp);
  if (!tmp) return 0;
  memcpy(tmp, vals, (size_t)n * sizeof *tmp);
  qsort(tmp, (size_t)n, sizeof *tmp, by_magnitude_desc);
  int m = k < n ? k : n;
  memcpy(out, tmp, (size_t)m * sizeof *out);
  qsort(out, (size_t)m, sizeof *out, double_desc);
  free(tmp);
  return m;
}

/* Least-squares slope of y on x. */
static double ls_slope(const double *x, const double *y, int n) {
  double mx = 0, my = 0;
  for (int i = 0; i < n; i++) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0;
  for (int i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : NAN;
}

/* Moments, participation and negative weight of nodes sorted descending, weights summing
 * to 1; decay from the given ranks. */
static void stats_sorted(const node *nd, int n, const double *rank, lbbt_spectrum_stats *out) {
  double mean = 0, m1 = 0, m2raw = 0, neg = 0;
  for (int i = 0; i < n; i++) {
    mean += nd[i].weight * nd[i].value;
    m2raw += nd[i].weight * nd[i].value * nd[i].value;
    if (nd[i].value < 0) neg += nd[i].weight;
  }
  m1 = mean;
  double c2 = 0, c4 = 0;
  for (int i = 0; i < n; i++) {
    double d = nd[i].value - mean;
    c2 += nd[i].weight * d * d;
    c4 += nd[i].weight * d * d * d * d;
  }
  out->kurtosis = c2 > 0 ? c4 / (c2 * c2) - 3.0 : NAN;
  out->participation_ratio = m2raw > 0 ? m1 * m1 / m2raw : NAN;
  out->negative_ratio = neg;
  double *x = malloc((size_t)(n ? n : 1) * sizeof *x), *y = malloc((size_t)(n ? n : 1) * sizeof *y);
  int p = 0;
  if (x && y)
    for (int i = 0; i < n; i++)
      if (nd[i].value > 0 && nd[i].weight > 0) {
        x[p] = log(rank[i]);
        y[p] = log(nd[i].value);
        p++;
      }
  out->decay_points = p;
  out->decay_rate = p >= 2 ? ls_slope(x, y, p) : NAN;
  free(x);
  free(y);
}

void lbbt_spectrum_stats_set(const double *vals, int n, lbbt_spectrum_stats *out) {
  memset(out, 0, sizeof *out);
  out->decay_rate = out->kurtosis = out->participation_ratio = out->spectral_gap = NAN;
  if (n <= 0) return;
  node *nd = malloc((size_t)n * sizeof *nd);
  double *rank = malloc((size_t)n * sizeof *rank);
  if (!nd || !rank) {
    free(nd);
    free(rank);
    return;
  }
  for (int i = 0; i < n; i++) {
    nd[i].value = vals[i];
    nd[i].weight = 1.0 / n;
  }
  qsort(nd, (size_t)n, sizeof *nd, by_value_desc);
  /* rank i among the positive values, from 1: they come first in descending order */
  for (int i = 0; i < n; i++) rank[i] = (double)(i + 1);
  stats_sorted(nd, n, rank, out);
  out->spectral_gap = n >= 2 ? nd[0].value - nd[1].value : NAN;
  free(nd);
  free(rank);
}

void lbbt_spectrum_stats_density(const double *nodes, const double *weights, int n, int64_t dim,
                                 lbbt_spectrum_stats *out) {
  memset(out, 0, sizeof *out);
  out->decay_rate = out->kurtosis = out->participation_ratio = out->spectral_gap = NAN;
  double total = 0;
  for (int i = 0; i < n; i++)
    if (weights[i] > 0) total += weights[i];
  if (n <= 0 || !(total > 0)) return;
  node *nd = malloc((size_t)n * sizeof *nd);
  double *rank = malloc((size_t)n * sizeof *rank);
  if (!nd || !rank) {
    free(nd);
    free(rank);
    return;
  }
  int k = 0;
  for (int i = 0; i < n; i++)
    if (weights[i] > 0) {
      nd[k].value = nodes[i];
      nd[k].weight = weights[i] / total;
      k++;
    }
  qsort(nd, (size_t)k, sizeof *nd, by_value_desc);
  double above = 0;
  for (int i = 0; i < k; i++) {
    rank[i] = (double)dim * (above + nd[i].weight / 2) + 0.5;
    above += nd[i].weight;
  }
  stats_sorted(nd, k, rank, out);
  out->spectral_gap = NAN;
  free(nd);
  free(rank);
}
