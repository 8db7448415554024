/* NMI and ARI of two labelings; see clustering.h for the definitions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/clustering.h"

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

/* Dense relabelling: out[i] = rank of v[i] among the distinct values; returns their count. */
static int64_t densify(const int32_t *v, int64_t n, int32_t *sorted, int32_t *out) {
  memcpy(sorted, v, (size_t)n * sizeof *v);
  qsort(sorted, (size_t)n, sizeof *sorted, cmp_i32);
  int64_t m = 0;
  for (int64_t i = 0; i < n; i++)
    if (i == 0 || sorted[i] != sorted[i - 1]) sorted[m++] = sorted[i];
  for (int64_t i = 0; i < n; i++) {
    int32_t *hit = bsearch(&v[i], sorted, (size_t)m, sizeof *sorted, cmp_i32);
    out[i] = (int32_t)(hit - sorted);
  }
  return m;
}

static double comb2(double x) { return x * (x - 1) / 2; }

lbbt_status lbbt_cluster_agreement(const int32_t *a, const int32_t *b, int64_t n, double *nmi,
                                   double *ari) {
  if (n < 1) return lbbt_fail(LBBT_E_INPUT, "cluster_agreement: no items");
  int32_t *scratch = malloc((size_t)n * sizeof *scratch);
  int32_t *da = malloc((size_t)n * sizeof *da), *db = malloc((size_t)n * sizeof *db);
  if (!scratch || !da || !db) {
    free(scratch); free(da); free(db);
    return lbbt_fail(LBBT_E_NOMEM, "cluster_agreement: out of memory");
  }
  int64_t ka = densify(a, n, scratch, da), kb = densify(b, n, scratch, db);
  free(scratch);
  /* the contingency table; dense because cluster counts here are small (classes, k) */
  if ((double)ka * (double)kb > 1e8) {
    free(da); free(db);
    return lbbt_fail(LBBT_E_INPUT, "cluster_agreement: %lld x %lld clusters is too many for a "
                     "dense contingency table", (long long)ka, (long long)kb);
  }
  int64_t *table = calloc((size_t)(ka * kb), sizeof *table);
  int64_t *ra = calloc((size_t)ka, sizeof *ra), *rb = calloc((size_t)kb, sizeof *rb);
  if (!table || !ra || !rb) {
    free(da); free(db); free(table); free(ra); free(rb);
    return lbbt_fail(LBBT_E_NOMEM, "cluster_agreement: out of memory");
  }
  for (int64_t i = 0; i < n; i++) {
    table[(int64_t)da[i] * kb + db[i]]++;
    ra[da[i]]++;
    rb[db[i]]++;
  }
  double N = (double)n, mi = 0, ha = 0, hb = 0, sum_ij = 0, sum_a = 0, sum_b = 0;
  for (int64_t i = 0; i < ka; i++) {
    double pa = (double)ra[i] / N;
    ha -= pa * log(pa);
    sum_a += comb2((double)ra[i]);
  }
  for (int64_t j = 0; j < kb; j++) {
    double pb = (double)rb[j] / N;
    hb -= pb * log(pb);
    sum_b += comb2((double)rb[j]);
  }
  for (int64_t i = 0; i < ka; i++)
    for (int64_t j = 0; j < kb; j++) {
      double c = (double)table[i * kb + j];
      if (c == 0) continue;
      mi += (c / N) * log(c * N / ((double)ra[i] * (double)rb[j]));
      sum_ij += comb2(c);
    }
  if (ka == 1 && kb == 1)
    *nmi = 1.0;
  else if (ka == 1 || kb == 1)
    *nmi = 0.0;
  else
    *nmi = fmax(mi, 0.0) / ((ha + hb) / 2.0);
  double expected = n < 2 ? 0.0 : sum_a * sum_b / comb2(N), maxi = (sum_a + sum_b) / 2.0;
  double denom = maxi - expected;
  *ari = denom == 0 ? 1.0 : (sum_ij - expected) / denom;
  free(da); free(db); free(table); free(ra); free(rb);
  return LBBT_OK;
}
