/* Operators and Hessian-vector products by central differences of gradients; see hessian.h.
 *
 * Why central differences: the tape is reverse-mode only, so the exact forward-over-reverse
 * product is not available; (g(theta + eps u) - g(theta - eps u)) / 2 eps has truncation
 * error O(eps^2) (the odd terms cancel) against O(eps) for a one-sided difference, and its
 * rounding error grows like (gradient noise) / eps.  tests/unit/test_hessian.c measures both
 * against an exact Hessian and chose LBBT_HVP_EPS. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/hessian.h"

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
    return lbbt_fail(LBBT_E_INPUT, "hvp: finite-difference step eps = %g must be a positive number "
                     "(default %g)", eps, LBBT_HVP_EPS);
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
