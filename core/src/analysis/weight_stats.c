/* Weight statistics; see weight_stats.h for the definitions. */
#include "lbbt/weight_stats.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void lbbt_moments_compute(const float *w, int64_t n, lbbt_moments *out) {
  memset(out, 0, sizeof *out);
  out->n = n;
  if (n < 1) return;
  double sum = 0;
  for (int64_t i = 0; i < n; i++) {
    sum += w[i];
    double a = fabs(w[i]);
    if (a > out->max_abs) out->max_abs = a;
  }
  out->mean = sum / (double)n;
  /* Two passes: the centred sums keep their precision when |mean| >> std (norm gains ~1). */
  double m2 = 0, m4 = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = w[i] - out->mean, d2 = d * d;
    m2 += d2;
    m4 += d2 * d2;
  }
  m2 /= (double)n;
  m4 /= (double)n;
  out->std = sqrt(m2);
  out->kurtosis = m2 > 0 ? m4 / (m2 * m2) - 3.0 : 0.0;
}

int64_t lbbt_count_sigma_outliers(const float *w, int64_t n, double mean, double std, double k) {
  if (!(std > 0)) return 0;
  double lim = k * std;
  int64_t c = 0;
  for (int64_t i = 0; i < n; i++) c += fabs(w[i] - mean) > lim;
  return c;
}

int64_t lbbt_count_magnitude_outliers(const float *w, int64_t n, double tau) {
  int64_t c = 0;
  for (int64_t i = 0; i < n; i++) c += fabs(w[i]) > tau;
  return c;
}

void lbbt_edges_linear(double lo, double hi, int nb, double *edges) {
  for (int i = 0; i <= nb; i++) edges[i] = lo + (hi - lo) * (double)i / (double)nb;
  edges[nb] = hi;
}

void lbbt_edges_log(double lo, double hi, int nb, double *edges) {
  double a = log(lo), b = log(hi);
  for (int i = 0; i <= nb; i++) edges[i] = exp(a + (b - a) * (double)i / (double)nb);
  edges[0] = lo;
  edges[nb] = hi;
}

void lbbt_histogram_add(const double *edges, int nb, double v, int64_t *counts, int64_t *under,
                        int64_t *over) {
  if (v < edges[0]) {
    if (under) (*under)++;
    return;
  }
  if (v > edges[nb]) {
    if (over) (*over)++;
    return;
  }
  /* the largest i with edges[i] <= v, capped at nb - 1 so v == edges[nb] lands in the last bin */
  int lo = 0, hi = nb;
  while (hi - lo > 1) {
    int mid = (lo + hi) / 2;
    if (edges[mid] <= v) lo = mid; else hi = mid;
  }
  counts[lo]++;
}

static lbbt_status weight_spectrum(const float *w, int64_t rows, int64_t cols, double *eig);
/* GSL's default error handler aborts; switch it off and check return codes instead. */
lbbt_status lbbt_weight_spectrum(const float *w, int64_t rows, int64_t cols, double *eig) {
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  lbbt_status st = weight_spectrum(w, rows, cols, eig);
  gsl_set_error_handler(old);
  return st;
}

static lbbt_status weight_spectrum(const float *w, int64_t rows, int64_t cols, double *eig) {
  if (rows < 1 || cols < 1)
    return lbbt_fail(LBBT_E_INPUT, "weight_spectrum: matrix %lldx%lld is empty", (long long)rows,
                     (long long)cols);
  /* G = W W' (rows x rows) when rows <= cols, else W' W (cols x cols); both have the same
   * non-zero eigenvalues (the squared singular values). */
  int transpose = cols < rows;
  int64_t d = transpose ? cols : rows;
  gsl_matrix *a = gsl_matrix_alloc((size_t)rows, (size_t)cols);
  gsl_matrix *g = gsl_matrix_alloc((size_t)d, (size_t)d);
  gsl_vector *ev = gsl_vector_alloc((size_t)d);
  gsl_eigen_symm_workspace *ws = gsl_eigen_symm_alloc((size_t)d);
  if (!a || !g || !ev || !ws) {
    gsl_matrix_free(a);
    gsl_matrix_free(g);
    gsl_vector_free(ev);
    gsl_eigen_symm_free(ws);
    return lbbt_fail(LBBT_E_NOMEM, "weight_spectrum: out of memory for a %lldx%lld Gram matrix",
                     (long long)d, (long long)d);
  }
  for (int64_t i = 0; i < rows * cols; i++) a->data[i] = w[i]; /* tda == cols: fresh matrix */
  /* lower triangle of G = A A' / cols (or A' A / cols); gsl_eigen_symm reads only that */
  gsl_blas_dsyrk(CblasLower, transpose ? CblasTrans : CblasNoTrans, 1.0 / (double)cols, a, 0.0, g);
  gsl_matrix_free(a);
  int rc = gsl_eigen_symm(g, ev, ws);
  for (int64_t i = 0; i < d; i++) eig[i] = gsl_vector_get(ev, (size_t)i);
  gsl_matrix_free(g);
  gsl_vector_free(ev);
  gsl_eigen_symm_free(ws);
  if (rc != GSL_SUCCESS)
    return lbbt_fail(LBBT_E_NUMERIC, "weight_spectrum: eigensolver failed on a %lldx%lld Gram "
                     "matrix (GSL: %s); check the weights for NaN/Inf", (long long)d, (long long)d,
                     gsl_strerror(rc));
  /* descending */
  for (int64_t i = 1; i < d; i++) {
    double v = eig[i];
    int64_t j = i;
    while (j > 0 && eig[j - 1] < v) {
      eig[j] = eig[j - 1];
      j--;
    }
    eig[j] = v;
  }
  return LBBT_OK;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

lbbt_status lbbt_powerlaw_fit(const double *x, int n, int min_tail, lbbt_powerlaw *out) {
  out->alpha = NAN;
  out->xmin = NAN;
  out->n_tail = 0;
  out->ks = NAN;
  if (min_tail < 2) min_tail = 2;
  double *s = malloc((size_t)(n > 0 ? n : 1) * sizeof *s);
  if (!s) return lbbt_fail(LBBT_E_NOMEM, "powerlaw_fit: out of memory");
  int m = 0;
  for (int i = 0; i < n; i++)
    if (x[i] > 0 && isfinite(x[i])) s[m++] = x[i];
  if (m < min_tail) {
    free(s);
    return lbbt_fail(LBBT_E_INPUT, "powerlaw_fit: %d positive values, at least %d needed", m, min_tail);
  }
  qsort(s, (size_t)m, sizeof *s, cmp_double); /* ascending */
  double best_ks = INFINITY;
  for (int start = 0; start + min_tail <= m; start++) {
    if (start > 0 && s[start] == s[start - 1]) continue; /* same xmin as before */
    double xmin = s[start];
    int nt = m - start;
    double logsum = 0;
    for (int i = start; i < m; i++) logsum += log(s[i] / xmin);
    if (!(logsum > 0)) continue; /* all equal: no exponent */
    double alpha = 1.0 + (double)nt / logsum;
    /* KS: max over tail points of |F_emp - F_fit|, F_fit(x) = 1 - (x / xmin)^(1 - alpha);
     * the empirical CDF jumps at each point, so both sides of the jump are compared. */
    double ks = 0;
    for (int i = start; i < m; i++) {
      double fit = 1.0 - pow(s[i] / xmin, 1.0 - alpha);
      double before = (double)(i - start) / nt, after = (double)(i - start + 1) / nt;
      double d = fmax(fabs(fit - before), fabs(after - fit));
      if (d > ks) ks = d;
    }
    if (ks < best_ks) {
      best_ks = ks;
      out->alpha = alpha;
      out->xmin = xmin;
      out->n_tail = nt;
      out->ks = ks;
    }
  }
  free(s);
  if (!isfinite(best_ks))
    return lbbt_fail(LBBT_E_INPUT, "powerlaw_fit: no tail of %d or more distinct values", min_tail);
  return LBBT_OK;
}
