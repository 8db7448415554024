/* Covariance alignment (Theorem 4.1); see cov_align.h for the definitions. */
#include "lbbt/cov_align.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PATCH_CHUNK 4096 /* patches per rank-k update of the covariance */

/* GSL's default error handler aborts; the library returns statuses instead, so each entry
 * point switches it off for its duration and checks GSL's return codes. */
static lbbt_status patch_covariance(const lbbt_dataset *ds, const int32_t *idx, int64_t n, int patch,
                                    double *cov, double *mean);
lbbt_status lbbt_patch_covariance(const lbbt_dataset *ds, const int32_t *idx, int64_t n, int patch,
                                  double *cov, double *mean) {
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  lbbt_status st = patch_covariance(ds, idx, n, patch, cov, mean);
  gsl_set_error_handler(old);
  return st;
}

static lbbt_status patch_covariance(const lbbt_dataset *ds, const int32_t *idx, int64_t n, int patch,
                                    double *cov, double *mean) {
  if (patch < 1 || ds->height % patch || ds->width % patch)
    return lbbt_fail(LBBT_E_INPUT, "patch_covariance: images %dx%d are not a whole number of %dx%d "
                     "patches", ds->height, ds->width, patch, patch);
  if (n < 1) return lbbt_fail(LBBT_E_INPUT, "patch_covariance: no images");
  int C = ds->channels, H = ds->height, W = ds->width, gy = H / patch, gx = W / patch;
  int d = C * patch * patch;
  int64_t per_image = (int64_t)gy * gx, total = n * per_image;
  float *img = malloc((size_t)C * H * W * sizeof *img);
  gsl_matrix *chunk = gsl_matrix_alloc(PATCH_CHUNK, (size_t)d);
  gsl_matrix *acc = gsl_matrix_calloc((size_t)d, (size_t)d);
  double *sum = calloc((size_t)d, sizeof *sum);
  if (!img || !chunk || !acc || !sum) {
    free(img);
    gsl_matrix_free(chunk);
    gsl_matrix_free(acc);
    free(sum);
    return lbbt_fail(LBBT_E_NOMEM, "patch_covariance: out of memory (d = %d)", d);
  }
  /* Accumulate the raw second moment, then subtract the mean's outer product.  Patch values
   * are normalised pixels (|x| of order 1), so the cancellation costs no useful precision. */
  size_t rows = 0;
  lbbt_status st = LBBT_OK;
  for (int64_t a = 0; a < n && st == LBBT_OK; a++) {
    if (idx[a] < 0 || idx[a] >= ds->n) {
      st = lbbt_fail(LBBT_E_INPUT, "patch_covariance: image index %d outside [0, %lld)", idx[a],
                     (long long)ds->n);
      break;
    }
    lbbt_dataset_image_f32(ds, idx[a], img);
    for (int py = 0; py < gy; py++)
      for (int px = 0; px < gx; px++) {
        double *row = chunk->data + rows * chunk->tda;
        int q = 0;
        for (int c = 0; c < C; c++)
          for (int y = 0; y < patch; y++)
            for (int x = 0; x < patch; x++) {
              double v = img[((int64_t)c * H + py * patch + y) * W + px * patch + x];
              row[q++] = v;
            }
        for (int j = 0; j < d; j++) sum[j] += row[j];
        if (++rows == PATCH_CHUNK) {
          gsl_blas_dsyrk(CblasLower, CblasTrans, 1.0, chunk, 1.0, acc);
          rows = 0;
        }
      }
  }
  if (st == LBBT_OK && rows > 0) {
    gsl_matrix_view part = gsl_matrix_submatrix(chunk, 0, 0, rows, (size_t)d);
    gsl_blas_dsyrk(CblasLower, CblasTrans, 1.0, &part.matrix, 1.0, acc);
  }
  if (st == LBBT_OK) {
    double N = (double)total;
    for (int i = 0; i < d; i++)
      for (int j = 0; j <= i; j++) {
        double v = gsl_matrix_get(acc, (size_t)i, (size_t)j) / N - (sum[i] / N) * (sum[j] / N);
        cov[i * d + j] = cov[j * d + i] = v;
      }
    if (mean)
      for (int j = 0; j < d; j++) mean[j] = sum[j] / N;
  }
  free(img);
  gsl_matrix_free(chunk);
  gsl_matrix_free(acc);
  free(sum);
  return st;
}

void lbbt_weight_second_moment(const float *w, int64_t c, int64_t d, double *cov) {
  for (int64_t i = 0; i < d; i++)
    for (int64_t j = 0; j <= i; j++) {
      double s = 0;
      for (int64_t r = 0; r < c; r++) s += (double)w[r * d + i] * w[r * d + j];
      cov[i * d + j] = cov[j * d + i] = s / (double)c;
    }
}

/* Eigen-decomposition of a symmetric [d, d]: values descending, vectors as columns of vecs. */
static lbbt_status eigen_desc(const double *a, int d, gsl_vector *vals, gsl_matrix *vecs) {
  gsl_matrix *m = gsl_matrix_alloc((size_t)d, (size_t)d);
  gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc((size_t)d);
  if (!m || !ws) {
    gsl_matrix_free(m);
    gsl_eigen_symmv_free(ws);
    return lbbt_fail(LBBT_E_NOMEM, "cov_align: out of memory (d = %d)", d);
  }
  memcpy(m->data, a, (size_t)d * d * sizeof(double)); /* fresh matrix: tda == d */
  int rc = gsl_eigen_symmv(m, vals, vecs, ws);
  if (rc == GSL_SUCCESS) rc = gsl_eigen_symmv_sort(vals, vecs, GSL_EIGEN_SORT_VAL_DESC);
  gsl_matrix_free(m);
  gsl_eigen_symmv_free(ws);
  if (rc != GSL_SUCCESS)
    return lbbt_fail(LBBT_E_NUMERIC, "cov_align: symmetric eigensolver failed on a %dx%d matrix "
                     "(GSL: %s); check the covariance for NaN/Inf", d, d, gsl_strerror(rc));
  return LBBT_OK;
}

static void ranks(const double *x, int n, double *r) {
  /* average ranks (1-based) by counting: O(n^2), n = d is small */
  for (int i = 0; i < n; i++) {
    int less = 0, equal = 0;
    for (int j = 0; j < n; j++) {
      if (x[j] < x[i]) less++;
      else if (x[j] == x[i]) equal++;
    }
    r[i] = less + (equal + 1) / 2.0;
  }
}

double lbbt_spearman(const double *x, const double *y, int n) {
  if (n < 2) return NAN;
  double *rx = malloc((size_t)n * sizeof *rx), *ry = malloc((size_t)n * sizeof *ry);
  if (!rx || !ry) {
    free(rx);
    free(ry);
    return NAN;
  }
  ranks(x, n, rx);
  ranks(y, n, ry);
  double mx = 0, my = 0;
  for (int i = 0; i < n; i++) {
    mx += rx[i];
    my += ry[i];
  }
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0, syy = 0;
  for (int i = 0; i < n; i++) {
    sxy += (rx[i] - mx) * (ry[i] - my);
    sxx += (rx[i] - mx) * (rx[i] - mx);
    syy += (ry[i] - my) * (ry[i] - my);
  }
  free(rx);
  free(ry);
  return (sxx > 0 && syy > 0) ? sxy / sqrt(sxx * syy) : NAN;
}

void lbbt_cov_align_result_free(lbbt_cov_align_result *r) {
  if (!r) return;
  free(r->ks);
  free(r->data_eigenvalues);
  free(r->weight_eigenvalues);
  free(r->transfer);
  free(r->overlap);
  free(r->cosines);
  memset(r, 0, sizeof *r);
}

static lbbt_status cov_align(const double *cov_data, const double *cov_weights, int d, const int *ks,
                             int n_k, lbbt_cov_align_result *out);
lbbt_status lbbt_cov_align(const double *cov_data, const double *cov_weights, int d, const int *ks,
                           int n_k, lbbt_cov_align_result *out) {
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  lbbt_status st = cov_align(cov_data, cov_weights, d, ks, n_k, out);
  gsl_set_error_handler(old);
  return st;
}

static lbbt_status cov_align(const double *cov_data, const double *cov_weights, int d, const int *ks,
                             int n_k, lbbt_cov_align_result *out) {
  memset(out, 0, sizeof *out);
  if (d < 1) return lbbt_fail(LBBT_E_INPUT, "cov_align: dimension %d", d);
  int kept = 0, kmax = 0;
  for (int i = 0; i < n_k; i++) {
    if (ks[i] < 1) return lbbt_fail(LBBT_E_INPUT, "cov_align: k = %d, must be >= 1", ks[i]);
    if (ks[i] <= d) {
      kept++;
      if (ks[i] > kmax) kmax = ks[i];
    }
  }
  if (!kept) return lbbt_fail(LBBT_E_INPUT, "cov_align: every k exceeds the dimension %d", d);
  out->d = d;
  out->n_k = kept;
  out->kmax = kmax;
  out->ks = malloc((size_t)kept * sizeof *out->ks);
  out->data_eigenvalues = malloc((size_t)d * sizeof(double));
  out->weight_eigenvalues = malloc((size_t)d * sizeof(double));
  out->transfer = malloc((size_t)d * sizeof(double));
  out->overlap = malloc((size_t)kept * sizeof(double));
  out->cosines = malloc((size_t)kept * kmax * sizeof(double));
  gsl_vector *lx = gsl_vector_alloc((size_t)d), *lw = gsl_vector_alloc((size_t)d);
  gsl_matrix *ux = gsl_matrix_alloc((size_t)d, (size_t)d), *uw = gsl_matrix_alloc((size_t)d, (size_t)d);
  gsl_matrix *sw = gsl_matrix_alloc((size_t)d, (size_t)d), *tmp = gsl_matrix_alloc((size_t)d, (size_t)d);
  lbbt_status st = LBBT_OK;
  if (!out->ks || !out->data_eigenvalues || !out->weight_eigenvalues || !out->transfer ||
      !out->overlap || !out->cosines || !lx || !lw || !ux || !uw || !sw || !tmp) {
    st = lbbt_fail(LBBT_E_NOMEM, "cov_align: out of memory (d = %d)", d);
    goto done;
  }
  for (int i = 0, j = 0; i < n_k; i++)
    if (ks[i] <= d) out->ks[j++] = ks[i];
  LBBT_TRY_GOTO(st, eigen_desc(cov_data, d, lx, ux), done);
  LBBT_TRY_GOTO(st, eigen_desc(cov_weights, d, lw, uw), done);
  for (int i = 0; i < d; i++) {
    out->data_eigenvalues[i] = gsl_vector_get(lx, (size_t)i);
    out->weight_eigenvalues[i] = gsl_vector_get(lw, (size_t)i);
  }
  /* transfer: diag(Ux' Sw Ux) */
  memcpy(sw->data, cov_weights, (size_t)d * d * sizeof(double));
  gsl_blas_dgemm(CblasNoTrans, CblasNoTrans, 1.0, sw, ux, 0.0, tmp); /* Sw Ux */
  double diag2 = 0, fro2 = 0;
  for (int i = 0; i < d; i++) {
    double t = 0;
    for (int r = 0; r < d; r++) t += gsl_matrix_get(ux, (size_t)r, (size_t)i) * gsl_matrix_get(tmp, (size_t)r, (size_t)i);
    out->transfer[i] = t;
    diag2 += t * t;
  }
  for (int64_t i = 0; i < (int64_t)d * d; i++) fro2 += cov_weights[i] * cov_weights[i];
  out->diag_energy = fro2 > 0 ? diag2 / fro2 : NAN;
  out->spearman = lbbt_spearman(out->data_eigenvalues, out->transfer, d);
  /* principal angles: singular values of Ux[:, :k]' Uw[:, :k] */
  for (int a = 0; a < kept; a++) {
    int k = out->ks[a];
    gsl_matrix *m = gsl_matrix_alloc((size_t)k, (size_t)k), *v = gsl_matrix_alloc((size_t)k, (size_t)k);
    gsl_vector *s = gsl_vector_alloc((size_t)k), *work = gsl_vector_alloc((size_t)k);
    if (!m || !v || !s || !work) {
      gsl_matrix_free(m); gsl_matrix_free(v); gsl_vector_free(s); gsl_vector_free(work);
      st = lbbt_fail(LBBT_E_NOMEM, "cov_align: out of memory (k = %d)", k);
      goto done;
    }
    gsl_matrix_const_view xk = gsl_matrix_const_submatrix(ux, 0, 0, (size_t)d, (size_t)k);
    gsl_matrix_const_view wk = gsl_matrix_const_submatrix(uw, 0, 0, (size_t)d, (size_t)k);
    gsl_blas_dgemm(CblasTrans, CblasNoTrans, 1.0, &xk.matrix, &wk.matrix, 0.0, m);
    int rc = gsl_linalg_SV_decomp(m, v, s, work); /* s descending */
    if (rc != GSL_SUCCESS) {
      gsl_matrix_free(m); gsl_matrix_free(v); gsl_vector_free(s); gsl_vector_free(work);
      st = lbbt_fail(LBBT_E_NUMERIC, "cov_align: SVD of the %dx%d principal-angle matrix failed (GSL: %s)",
                     k, k, gsl_strerror(rc));
      goto done;
    }
    double sum2 = 0;
    for (int i = 0; i < kmax; i++) {
      double c = i < k ? fmin(gsl_vector_get(s, (size_t)i), 1.0) : NAN;
      out->cosines[a * kmax + i] = c;
      if (i < k) sum2 += c * c;
    }
    out->overlap[a] = sum2 / k;
    gsl_matrix_free(m); gsl_matrix_free(v); gsl_vector_free(s); gsl_vector_free(work);
  }
done:
  gsl_vector_free(lx); gsl_vector_free(lw);
  gsl_matrix_free(ux); gsl_matrix_free(uw); gsl_matrix_free(sw); gsl_matrix_free(tmp);
  if (st != LBBT_OK) lbbt_cov_align_result_free(out);
  return st;
}
