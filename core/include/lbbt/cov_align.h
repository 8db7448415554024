/* Covariance alignment of first-layer weights with the data (the paper's Theorem 4.1,
 * after Maennel et al. 2020, "What do neural networks learn when trained with random
 * labels?").
 *
 * Definitions (docs/analyses.md repeats them):
 *  - data covariance Sigma_x: the centred covariance (divided by the count) of the inputs
 *    the first layer sees: every non-overlapping P x P patch of every chosen image, as
 *    normalised for the model, flattened in the weight's order (channel, row, column) into
 *    d = Cin * P * P values;
 *  - weight covariance Sigma_w: the second moment W'W / C of the C first-layer filters
 *    (rows of W [C, d]); not centred, because the theorem's initial distribution has mean
 *    zero and a shared mean filter is itself a direction the data can align;
 *  - eigenvectors u_i (of Sigma_x) and v_i (of Sigma_w), eigenvalues descending;
 *  - subspace overlap for k: the mean of cos^2 of the k principal angles between
 *    span(u_1..u_k) and span(v_1..v_k) = ||U_k' V_k||_F^2 / k (the cosines are the singular
 *    values of U_k' V_k).  1 = same subspace; for a random k-subspace of R^d its
 *    expectation is k / d;
 *  - transfer function: t_i = u_i' Sigma_w u_i, the weight variance along data eigenvector i,
 *    paired with the data eigenvalue lambda_i (Theorem 4.1's f: lambda_i -> t_i);
 *  - diagonal energy: sum_i t_i^2 / ||Sigma_w||_F^2, the share of Sigma_w that is diagonal in
 *    the data eigenbasis (1 when Sigma_w shares Sigma_x's eigenvectors; for Sigma_w = I it is
 *    also 1, so read it together with the overlaps);
 *  - Spearman correlation of (lambda_i, t_i) over i (ranks, ties averaged). */
#ifndef LBBT_COV_ALIGN_H
#define LBBT_COV_ALIGN_H
#include <stdint.h>

#include "lbbt/dataset.h"
#include "lbbt/status.h"

/* Sigma_x of the P x P patches (stride P) of images idx[0..n) of ds: cov [d, d] row-major,
 * d = ds->channels * patch * patch; mean [d] may be NULL.  Images must be multiples of
 * `patch` on each side (else LBBT_E_INPUT). */
LBBT_API lbbt_status lbbt_patch_covariance(const lbbt_dataset *ds, const int32_t *idx, int64_t n, int patch,
                                  double *cov, double *mean);
/* Sigma_w = W'W / C of W [C, d] into cov [d, d]. */
LBBT_API void lbbt_weight_second_moment(const float *w, int64_t c, int64_t d, double *cov);

typedef struct lbbt_cov_align_result {
  int d;                     /* dimension */
  int n_k;                   /* number of k values */
  int *ks;                   /* [n_k] the k values used (those <= d, in the order given) */
  double *data_eigenvalues;  /* [d] lambda_i, descending */
  double *weight_eigenvalues;/* [d] descending */
  double *transfer;          /* [d] t_i = u_i' Sigma_w u_i */
  double *overlap;           /* [n_k] mean cos^2 of the principal angles */
  double *cosines;           /* [n_k, kmax] cosines of the principal angles, descending,
                                NaN-padded past k; kmax = the largest k */
  int kmax;
  double diag_energy;
  double spearman;
} lbbt_cov_align_result;

/* Compare Sigma_x and Sigma_w ([d, d] symmetric).  ks: the k values wanted; those above d
 * are dropped (LBBT_E_INPUT when none is left or any is < 1).  *out is filled with arrays
 * the caller frees with lbbt_cov_align_result_free. */
LBBT_API lbbt_status lbbt_cov_align(const double *cov_data, const double *cov_weights, int d, const int *ks,
                           int n_k, lbbt_cov_align_result *out);
LBBT_API void lbbt_cov_align_result_free(lbbt_cov_align_result *r);

/* Spearman rank correlation of x and y [n] (average ranks for ties); NaN when n < 2 or a
 * side is constant. */
LBBT_API double lbbt_spearman(const double *x, const double *y, int n);

#endif
