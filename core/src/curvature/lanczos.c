/* Lanczos with full reorthogonalisation and the tridiagonal eigenproblem (GSL); see
 * hessian.h.
 *
 * Why full reorthogonalisation: in floating point (and with finite-difference products,
 * which are not exactly symmetric) plain Lanczos loses orthogonality as soon as a Ritz value
 * converges and then repeats it ("ghost" copies), which would corrupt a top-k set and its
 * statistics.  Keeping all m vectors and orthogonalising each new one against them twice
 * (classical Gram-Schmidt, "twice is enough") costs O(n m) memory and O(n m^2) flops, far
 * less than the 2m gradient evaluations the products cost. */
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/hessian.h"

/* beta_j below this fraction of the largest |alpha| or beta seen means the Krylov space is
 * invariant: continuing would only normalise rounding noise. */
#define LANCZOS_BREAKDOWN_RTOL 1e-10

lbbt_status lbbt_tridiag_eigen(const double *alpha, const double *beta, int k, double *vals,
                               double *w0, double *wl, double *s_min, double *s_max) {
  if (k < 1) return lbbt_fail(LBBT_E_INTERNAL, "tridiag_eigen: size %d", k);
  gsl_matrix *T = gsl_matrix_calloc((size_t)k, (size_t)k);
  gsl_matrix *V = gsl_matrix_alloc((size_t)k, (size_t)k);
  gsl_vector *e = gsl_vector_alloc((size_t)k);
  gsl_eigen_symmv_workspace *ws = gsl_eigen_symmv_alloc((size_t)k);
  lbbt_status st = LBBT_OK;
  if (!T || !V || !e || !ws) {
    st = lbbt_fail(LBBT_E_NOMEM, "tridiag_eigen: out of memory for a %dx%d matrix", k, k);
    goto done;
  }
  for (int i = 0; i < k; i++) {
    gsl_matrix_set(T, (size_t)i, (size_t)i, alpha[i]);
    if (i + 1 < k) {
      gsl_matrix_set(T, (size_t)i, (size_t)i + 1, beta[i]);
      gsl_matrix_set(T, (size_t)i + 1, (size_t)i, beta[i]);
    }
  }
  /* GSL's default handler aborts; the library must return a status instead. */
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  int rc = gsl_eigen_symmv(T, e, V, ws);
  if (rc == GSL_SUCCESS) rc = gsl_eigen_symmv_sort(e, V, GSL_EIGEN_SORT_VAL_ASC);
  gsl_set_error_handler(old);
  if (rc != GSL_SUCCESS) {
    st = lbbt_fail(LBBT_E_NUMERIC, "tridiag_eigen: gsl_eigen_symmv failed on a %dx%d tridiagonal: %s",
                   k, k, gsl_strerror(rc));
    goto done;
  }
  for (int i = 0; i < k; i++) {
    vals[i] = gsl_vector_get(e, (size_t)i);
    double first = gsl_matrix_get(V, 0, (size_t)i), last = gsl_matrix_get(V, (size_t)k - 1, (size_t)i);
    if (w0) w0[i] = first * first;
    if (wl) wl[i] = fabs(last);
    if (s_min) s_min[i] = gsl_matrix_get(V, (size_t)i, 0);
    if (s_max) s_max[i] = gsl_matrix_get(V, (size_t)i, (size_t)k - 1);
  }
done:
  gsl_eigen_symmv_free(ws);
  gsl_vector_free(e);
  gsl_matrix_free(V);
  gsl_matrix_free(T);
  return st;
}

void lbbt_lanczos_result_free(lbbt_lanczos_result *r) {
  if (!r) return;
  free(r->alpha);
  free(r->beta);
  free(r->ritz);
  free(r->weights);
  free(r->residual);
  free(r->y_min);
  free(r->y_max);
  memset(r, 0, sizeof *r);
}

static double dot(const double *a, const double *b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
  return s;
}

lbbt_status lbbt_lanczos(lbbt_linop *op, const double *v0, int m, lbbt_lanczos_result *out) {
  memset(out, 0, sizeof *out);
  int64_t n = op->n;
  if (m < 1) return lbbt_fail(LBBT_E_INPUT, "lanczos: %d steps; need at least 1", m);
  if ((int64_t)m > n) m = (int)n;
  double start = sqrt(dot(v0, v0, n));
  if (!(start > 0) || !isfinite(start))
    return lbbt_fail(LBBT_E_INTERNAL, "lanczos: start vector has norm %g", start);
  double *Q = malloc((size_t)m * (size_t)n * sizeof *Q); /* the basis, row j = q_j */
  double *w = malloc((size_t)n * sizeof *w);
  out->alpha = calloc((size_t)m, sizeof(double));
  out->beta = calloc((size_t)m, sizeof(double));
  out->ritz = calloc((size_t)m, sizeof(double));
  out->weights = calloc((size_t)m, sizeof(double));
  out->residual = calloc((size_t)m, sizeof(double));
  double *wl = calloc((size_t)m, sizeof(double));
  double *s_min = calloc((size_t)m, sizeof(double)), *s_max = calloc((size_t)m, sizeof(double));
  out->y_min = calloc((size_t)n, sizeof(double));
  out->y_max = calloc((size_t)n, sizeof(double));
  lbbt_status st = LBBT_OK;
  if (!Q || !w || !out->alpha || !out->beta || !out->ritz || !out->weights || !out->residual || !wl ||
      !s_min || !s_max || !out->y_min || !out->y_max) {
    st = lbbt_fail(LBBT_E_NOMEM, "lanczos: out of memory for %d vectors of %lld doubles (%.0f MB): "
                   "lower the number of steps", m, (long long)n, (double)m * (double)n * 8 / 1e6);
    goto done;
  }
  out->start_norm = start;
  for (int64_t i = 0; i < n; i++) Q[i] = v0[i] / start;
  double scale = 0; /* largest |alpha| or beta so far, for the breakdown test */
  int steps = 0;
  for (int j = 0; j < m; j++) {
    const double *q = Q + (size_t)j * (size_t)n;
    st = lbbt_linop_apply(op, q, w);
    if (st != LBBT_OK) goto done;
    double a = dot(q, w, n);
    out->alpha[j] = a;
    steps = j + 1;
    /* Three-term recurrence, then two passes of Gram-Schmidt against every q_i. */
    for (int64_t i = 0; i < n; i++) w[i] -= a * q[i];
    if (j > 0) {
      const double *qp = Q + (size_t)(j - 1) * (size_t)n;
      double b = out->beta[j - 1];
      for (int64_t i = 0; i < n; i++) w[i] -= b * qp[i];
    }
    for (int pass = 0; pass < 2; pass++)
      for (int l = 0; l <= j; l++) {
        const double *ql = Q + (size_t)l * (size_t)n;
        double c = dot(ql, w, n);
        for (int64_t i = 0; i < n; i++) w[i] -= c * ql[i];
      }
    double b = sqrt(dot(w, w, n));
    out->beta[j] = b;
    scale = fmax(scale, fmax(fabs(a), b));
    if (b <= LANCZOS_BREAKDOWN_RTOL * scale) {
      out->breakdown = 1;
      out->beta[j] = 0;
      break;
    }
    if (j + 1 < m) {
      double *qn = Q + (size_t)(j + 1) * (size_t)n;
      for (int64_t i = 0; i < n; i++) qn[i] = w[i] / b;
    }
  }
  out->steps = steps;
  if ((int64_t)steps == n) out->breakdown = 1; /* the whole space: T is similar to A */
  st = lbbt_tridiag_eigen(out->alpha, out->beta, steps, out->ritz, out->weights, wl, s_min, s_max);
  if (st != LBBT_OK) goto done;
  for (int j = 0; j < steps; j++) { /* Ritz vectors y = Q s */
    const double *q = Q + (size_t)j * (size_t)n;
    for (int64_t i = 0; i < n; i++) {
      out->y_min[i] += s_min[j] * q[i];
      out->y_max[i] += s_max[j] * q[i];
    }
  }
  /* ||A y_i - theta_i y_i|| = beta_m |s_{m,i}| for Ritz vector y_i = Q s_i. */
  for (int i = 0; i < steps; i++) out->residual[i] = out->breakdown ? 0.0 : out->beta[steps - 1] * wl[i];
done:
  free(Q);
  free(w);
  free(wl);
  free(s_min);
  free(s_max);
  if (st != LBBT_OK) lbbt_lanczos_result_free(out);
  return st;
}
