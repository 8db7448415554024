/* Weight statistics for the outlier analysis (Figures 2, 10, 11, 14 of the paper):
 * moments and excess kurtosis, outlier counts under two rules, histograms on fixed edges,
 * and the power-law exponent of a weight matrix's eigenvalue spectrum.
 *
 * Definitions (docs/analyses.md repeats them):
 *  - moments are population moments in double: mean, std = sqrt(m2), excess kurtosis
 *    m4 / m2^2 - 3 (0 for a Gaussian; 0 reported when std = 0);
 *  - sigma rule: |w - mean| > k * std, mean and std of the same tensor (none when std = 0);
 *  - magnitude rule: |w| > tau, tau fixed across models;
 *  - histogram: edges e[0] < ... < e[nb]; bin i counts e[i] <= v < e[i+1], the last bin also
 *    v == e[nb]; values below e[0] and above e[nb] are counted apart (under, over);
 *  - spectrum: the eigenvalues lambda of W W' / cols (the squared singular values of W
 *    scaled by the number of columns, i.e. the empirical spectral density WeightWatcher
 *    fits), whichever Gram matrix is smaller;
 *  - power law: Clauset, Shalizi & Newman (2009): for each candidate lambda_min among the
 *    eigenvalues leaving at least min_tail in the tail, the continuous MLE
 *    alpha = 1 + n / sum ln(lambda_i / lambda_min) and the Kolmogorov-Smirnov distance
 *    between the tail's empirical CDF and the fitted one; the fit with the smallest
 *    distance is kept. */
#ifndef LBBT_WEIGHT_STATS_H
#define LBBT_WEIGHT_STATS_H
#include <stdint.h>

#include "lbbt/status.h"

typedef struct lbbt_moments {
  int64_t n;
  double mean, std, max_abs, kurtosis; /* kurtosis: excess, m4 / m2^2 - 3 */
} lbbt_moments;

/* Moments of w[0..n) (n >= 1). */
LBBT_API void lbbt_moments_compute(const float *w, int64_t n, lbbt_moments *out);
/* Values with |w - mean| > k std (0 when std == 0). */
LBBT_API int64_t lbbt_count_sigma_outliers(const float *w, int64_t n, double mean, double std, double k);
/* Values with |w| > tau. */
LBBT_API int64_t lbbt_count_magnitude_outliers(const float *w, int64_t n, double tau);

/* nb + 1 edges: linearly spaced over [lo, hi], or logarithmically (0 < lo < hi). */
LBBT_API void lbbt_edges_linear(double lo, double hi, int nb, double *edges);
LBBT_API void lbbt_edges_log(double lo, double hi, int nb, double *edges);
/* Add v to counts[nb] (under/over as described above; either may be NULL). */
LBBT_API void lbbt_histogram_add(const double *edges, int nb, double v, int64_t *counts, int64_t *under,
                        int64_t *over);

/* Eigenvalues of W W' / cols for W [rows, cols] (or W' W / cols when cols < rows), descending,
 * into eig[min(rows, cols)].  GSL symmetric eigensolver on the smaller Gram matrix. */
LBBT_API lbbt_status lbbt_weight_spectrum(const float *w, int64_t rows, int64_t cols, double *eig);

typedef struct lbbt_powerlaw {
  double alpha;   /* density ~ lambda^-alpha on the tail */
  double xmin;    /* lambda_min of the tail */
  int n_tail;     /* eigenvalues >= xmin */
  double ks;      /* KS distance of the fit */
} lbbt_powerlaw;
/* Fit x[0..n) (any order; non-positive values ignored).  min_tail >= 2; LBBT_E_INPUT when
 * fewer than min_tail positive values exist (out->alpha = NaN). */
LBBT_API lbbt_status lbbt_powerlaw_fit(const double *x, int n, int min_tail, lbbt_powerlaw *out);

#endif
