/* Operators and Hessian-vector products by central differences of gradients; see hessian.h.
 *
 * Why central differences: the tape is reverse-mode only, so the exact forward-over-reverse
 * product is not available; (g(theta + eps u) - g(theta - eps u)) / 2 eps has truncation
 * error O(eps^2) (the odd terms cancel) against O(eps) for a one-sided difference, and its
 * rounding error grows like (gradient noise) / eps; lbbt_hvp_choose_eps balances the two for
 * the model at hand. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/hessian.h"
#include "lbbt/rng.h"

lbbt_status lbbt_linop_apply(lbbt_linop *op, const double *v, double *out) {
  if (!op || !op->apply) return lbbt_fail(LBBT_E_INTERNAL, "linop_apply: operator without apply");
  LBBT_TRY(op->apply(op, v, out));
  op->n_applies++;
  return LBBT_OK;
}

struct lbbt_hvp {
  lbbt_linop op;
  lbbt_objective *obj;
  double eps;
  double *theta0, *theta, *g_plus, *g_minus; /* [n] each */
};

static lbbt_status hvp_apply(lbbt_linop *op, const double *v, double *out) {
  lbbt_hvp *h = op->user;
  int64_t n = op->n;
  double norm = 0;
  for (int64_t i = 0; i < n; i++) norm += v[i] * v[i];
  norm = sqrt(norm);
  if (norm == 0) {
    memset(out, 0, (size_t)n * sizeof *out);
    return LBBT_OK;
  }
  /* Step eps along the unit direction; H is linear, so scale the result back by ||v||. */
  double step = h->eps / norm, loss;
  for (int64_t i = 0; i < n; i++) h->theta[i] = h->theta0[i] + step * v[i];
  LBBT_TRY(lbbt_objective_eval(h->obj, h->theta, &loss, h->g_plus));
  for (int64_t i = 0; i < n; i++) h->theta[i] = h->theta0[i] - step * v[i];
  LBBT_TRY(lbbt_objective_eval(h->obj, h->theta, &loss, h->g_minus));
  double scale = norm / (2.0 * h->eps);
  for (int64_t i = 0; i < n; i++) out[i] = (h->g_plus[i] - h->g_minus[i]) * scale;
  return LBBT_OK;
}

void lbbt_hvp_free(lbbt_hvp *h) {
  if (!h) return;
  free(h->theta0);
  free(h->theta);
  free(h->g_plus);
  free(h->g_minus);
  free(h);
}

lbbt_status lbbt_hvp_create(lbbt_objective *obj, const double *theta0, double eps,
                            lbbt_hvp **out) {
  *out = NULL;
  if (!obj || obj->n < 1) return lbbt_fail(LBBT_E_INTERNAL, "hvp_create: empty objective");
  if (!(eps > 0) || !isfinite(eps))
    return lbbt_fail(LBBT_E_INPUT, "hvp: finite-difference step eps = %g must be a positive number", eps);
  lbbt_hvp *h = calloc(1, sizeof *h);
  size_t bytes = (size_t)obj->n * sizeof(double);
  if (h) {
    h->theta0 = malloc(bytes);
    h->theta = malloc(bytes);
    h->g_plus = malloc(bytes);
    h->g_minus = malloc(bytes);
  }
  if (!h || !h->theta0 || !h->theta || !h->g_plus || !h->g_minus) {
    lbbt_hvp_free(h);
    return lbbt_fail(LBBT_E_NOMEM, "hvp: out of memory for 4 vectors of %lld doubles", (long long)obj->n);
  }
  memcpy(h->theta0, theta0, bytes);
  h->obj = obj;
  h->eps = eps;
  h->op.n = obj->n;
  h->op.apply = hvp_apply;
  h->op.user = h;
  *out = h;
  return LBBT_OK;
}

lbbt_linop *lbbt_hvp_linop(lbbt_hvp *h) { return &h->op; }

lbbt_status lbbt_hvp_choose_eps(lbbt_objective *obj, const double *theta0, uint64_t seed,
                                double *eps, double *ladder_eps, double *ladder_q,
                                double *ladder_change) {
  int64_t n = obj->n;
  enum { K = LBBT_HVP_LADDER };
  double *v = malloc((size_t)n * sizeof *v), *hy = malloc((size_t)K * (size_t)n * sizeof *hy);
  lbbt_hvp *h = NULL;
  lbbt_lanczos_result L;
  memset(&L, 0, sizeof L);
  lbbt_status st = v && hy ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "hvp: out of memory choosing eps");
  if (st == LBBT_OK) {
    lbbt_rng r;
    lbbt_rng_derive(&r, seed, "eps-probe", 0);
    for (int64_t i = 0; i < n; i++) v[i] = lbbt_rng_normal(&r);
    st = lbbt_hvp_create(obj, theta0, LBBT_HVP_EPS_PROBE, &h);
  }
  if (st == LBBT_OK) st = lbbt_lanczos(lbbt_hvp_linop(h), v, 4, &L);
  lbbt_hvp_free(h);
  h = NULL;
  for (int k = 0; k < K && st == LBBT_OK; k++) {
    double *out = hy + (size_t)k * (size_t)n;
    ladder_eps[k] = pow(10.0, -5.0 + 0.5 * k);
    st = lbbt_hvp_create(obj, theta0, ladder_eps[k], &h);
    if (st == LBBT_OK) st = lbbt_linop_apply(lbbt_hvp_linop(h), L.y_max, out);
    lbbt_hvp_free(h);
    h = NULL;
    double q = 0;
    for (int64_t i = 0; st == LBBT_OK && i < n; i++) q += L.y_max[i] * out[i];
    ladder_q[k] = q;
  }
  if (st == LBBT_OK) {
    /* The whole vector Hy, not only y'Hy: rounding noise is mostly orthogonal to y and would
     * cancel in the Rayleigh quotient. */
    int best = 1;
    ladder_change[0] = ladder_change[K - 1] = NAN;
    for (int k = 1; k < K - 1; k++) {
      const double *a = hy + (size_t)(k - 1) * (size_t)n, *b = hy + (size_t)(k + 1) * (size_t)n,
                   *c = hy + (size_t)k * (size_t)n;
      double d = 0, m = 0;
      for (int64_t i = 0; i < n; i++) {
        d += (b[i] - a[i]) * (b[i] - a[i]);
        m += c[i] * c[i];
      }
      ladder_change[k] = m > 0 ? sqrt(d / m) : sqrt(d);
      if (ladder_change[k] <= ladder_change[best]) best = k;
    }
    *eps = ladder_eps[best];
  }
  lbbt_lanczos_result_free(&L);
  free(v);
  free(hy);
  return st;
}
