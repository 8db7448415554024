/* The Table 15 analysis of one objective at one point; see hessian.h and docs/analyses.md. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lbbt/hessian.h"
#include "lbbt/rng.h"

/* At least this many Hutchinson samples before the relative-error stop may end the loop. */
#define TRACE_MIN_SAMPLES 10

void lbbt_hessian_config_default(lbbt_hessian_config *c) {
  memset(c, 0, sizeof *c);
  c->top_k = 20;
  c->lanczos_steps = 40;
  c->conv_tol = 1e-2;
  c->slq_probes = 4;
  c->slq_steps = 30;
  c->trace_probes = 100;
  c->trace_rtol = 1e-3;
  c->density_points = 256;
  c->density_sigma = 0.01;
  c->noise_max = 0.05;
  c->noise_steps = 10;
  c->noise_draws = 4;
  c->predict_min = 1e-4;
  c->predict_max = 1e-2;
  c->predict_steps = 5;
  c->hvp_eps = 0; /* choose per run */
  c->seed = 0;
}

lbbt_status lbbt_hessian_config_check(const lbbt_hessian_config *c) {
#define BAD(cond, ...) \
  if (cond) return lbbt_fail(LBBT_E_INPUT, "hessian: " __VA_ARGS__)
  BAD(c->top_k < 1, "top_k = %d must be >= 1", c->top_k);
  BAD(c->lanczos_steps < c->top_k, "lanczos_steps = %d must be >= top_k = %d (the top-k set is taken "
      "from the Ritz values)", c->lanczos_steps, c->top_k);
  BAD(!(c->conv_tol > 0), "conv_tol = %g must be > 0", c->conv_tol);
  BAD(c->slq_probes < 1 || c->slq_steps < 1, "slq_probes = %d and slq_steps = %d must be >= 1",
      c->slq_probes, c->slq_steps);
  BAD(c->trace_probes < 0, "trace_probes = %d must be >= 0", c->trace_probes);
  BAD(!(c->trace_rtol >= 0), "trace_rtol = %g must be >= 0", c->trace_rtol);
  BAD(c->density_points < 2, "density_points = %d must be >= 2", c->density_points);
  BAD(!(c->density_sigma > 0), "density_sigma = %g must be > 0", c->density_sigma);
  BAD(!(c->noise_max > 0) || c->noise_steps < 1 || c->noise_draws < 1,
      "noise_max = %g must be > 0, noise_steps = %d and noise_draws = %d >= 1", c->noise_max,
      c->noise_steps, c->noise_draws);
  BAD(!(c->predict_min > 0) || !(c->predict_max >= c->predict_min) || c->predict_steps < 1,
      "predictiveness steps need 0 < predict_min = %g <= predict_max = %g and predict_steps = %d >= 1",
      c->predict_min, c->predict_max, c->predict_steps);
  BAD(!(c->hvp_eps >= 0), "hvp_eps = %g must be > 0 (or 0: choose it)", c->hvp_eps);
#undef BAD
  return LBBT_OK;
}

void lbbt_hessian_report_free(lbbt_hessian_report *r) {
  if (!r) return;
  lbbt_lanczos_result_free(&r->lanczos);
  free(r->topk);
  free(r->slq_nodes);
  free(r->slq_weights);
  free(r->slq_probe_steps);
  free(r->density_grid);
  free(r->density);
  free(r->noise_sigma);
  free(r->noise_dloss);
  free(r->predict_eta);
  free(r->predict_ratio);
  memset(r, 0, sizeof *r);
}

static double norm2(const double *v, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; i++) s += v[i] * v[i];
  return sqrt(s);
}

lbbt_status lbbt_noise_sensitivity(lbbt_objective *obj, const double *theta0, double loss0,
                                   double sigma_max, int steps, int draws, uint64_t seed,
                                   double *sigma, double *dloss, double *auc) {
  int64_t n = obj->n;
  double *z = malloc((size_t)n * sizeof *z), *theta = malloc((size_t)n * sizeof *theta);
  if (!z || !theta) {
    free(z);
    free(theta);
    return lbbt_fail(LBBT_E_NOMEM, "noise sensitivity: out of memory");
  }
  lbbt_status st = LBBT_OK;
  for (int s = 0; s <= steps; s++) {
    sigma[s] = sigma_max * s / steps;
    dloss[s] = 0;
  }
  for (int d = 0; d < draws && st == LBBT_OK; d++) {
    lbbt_rng r;
    lbbt_rng_derive(&r, seed, "noise-sensitivity", (uint64_t)d);
    for (int64_t i = 0; i < n; i++) z[i] = lbbt_rng_normal(&r) * fabs(theta0[i]);
    for (int s = 1; s <= steps && st == LBBT_OK; s++) {
      for (int64_t i = 0; i < n; i++) theta[i] = theta0[i] + sigma[s] * z[i];
      double loss;
      st = lbbt_objective_eval(obj, theta, &loss, NULL);
      dloss[s] += (loss - loss0) / draws;
    }
  }
  double area = 0;
  for (int s = 1; s <= steps; s++) area += 0.5 * (dloss[s] + dloss[s - 1]) * (sigma[s] - sigma[s - 1]);
  *auc = area / sigma_max;
  free(z);
  free(theta);
  return st;
}

lbbt_status lbbt_gradient_predictiveness(lbbt_objective *obj, const double *theta0,
                                         const double *g0, const double *eta, int n_eta,
                                         double *ratio) {
  int64_t n = obj->n;
  double gnorm = norm2(g0, n);
  if (!(gnorm > 0)) {
    for (int k = 0; k < n_eta; k++) ratio[k] = NAN;
    return LBBT_OK; /* a stationary point: no gradient direction to follow */
  }
  double *theta = malloc((size_t)n * sizeof *theta), *g = malloc((size_t)n * sizeof *g);
  if (!theta || !g) {
    free(theta);
    free(g);
    return lbbt_fail(LBBT_E_NOMEM, "gradient predictiveness: out of memory");
  }
  lbbt_status st = LBBT_OK;
  for (int k = 0; k < n_eta && st == LBBT_OK; k++) {
    for (int64_t i = 0; i < n; i++) theta[i] = theta0[i] - eta[k] * g0[i] / gnorm;
    double loss;
    st = lbbt_objective_eval(obj, theta, &loss, g);
    double d = 0;
    for (int64_t i = 0; i < n; i++) d += (g0[i] - g[i]) * (g0[i] - g[i]);
    ratio[k] = sqrt(d) / gnorm;
  }
  free(theta);
  free(g);
  return st;
}

/* An operator that reports progress on every product. */
typedef struct counted_op {
  lbbt_linop op;
  lbbt_linop *inner;
  lbbt_hessian_progress_fn progress;
  void *user;
  const char *what;
  int done, total;
} counted_op;

static lbbt_status counted_apply(lbbt_linop *op, const double *v, double *out) {
  counted_op *c = op->user;
  LBBT_TRY(lbbt_linop_apply(c->inner, v, out));
  c->done++;
  if (c->progress) c->progress(c->user, c->what, c->done, c->total);
  return LBBT_OK;
}

static int idx_by_magnitude_desc(const void *a, const void *b, void *ritz) {
  double x = fabs(((const double *)ritz)[*(const int *)a]), y = fabs(((const double *)ritz)[*(const int *)b]);
  return (x < y) - (x > y);
}

static lbbt_status extremes(counted_op *op, const lbbt_hessian_config *cfg, lbbt_hessian_report *r) {
  int64_t n = op->op.n;
  double *v0 = malloc((size_t)n * sizeof *v0);
  if (!v0) return lbbt_fail(LBBT_E_NOMEM, "hessian: out of memory");
  lbbt_rng rng;
  lbbt_rng_derive(&rng, cfg->seed, "lanczos-start", 0);
  for (int64_t i = 0; i < n; i++) v0[i] = lbbt_rng_normal(&rng);
  op->what = "lanczos";
  op->done = 0;
  op->total = cfg->lanczos_steps;
  lbbt_status st = lbbt_lanczos(&op->op, v0, cfg->lanczos_steps, &r->lanczos);
  free(v0);
  if (st != LBBT_OK) return st;
  const lbbt_lanczos_result *L = &r->lanczos;
  int m = L->steps;
  double maxabs = fmax(fabs(L->ritz[0]), fabs(L->ritz[m - 1]));
  double tol = cfg->conv_tol * maxabs;
  r->lambda_max = L->ritz[m - 1];
  r->lambda_min = L->ritz[0];
  r->lambda_max_residual = L->residual[m - 1];
  r->lambda_min_residual = L->residual[0];
  r->extremes_converged = L->residual[m - 1] <= tol && L->residual[0] <= tol;
  int *idx = malloc((size_t)m * sizeof *idx);
  r->topk = malloc((size_t)m * sizeof *r->topk);
  if (!idx || !r->topk) {
    free(idx);
    return lbbt_fail(LBBT_E_NOMEM, "hessian: out of memory");
  }
  for (int i = 0; i < m; i++) idx[i] = i;
  qsort_r(idx, (size_t)m, sizeof *idx, idx_by_magnitude_desc, L->ritz);
  r->topk_n = cfg->top_k < m ? cfg->top_k : m;
  r->topk_converged = 0;
  for (int i = 0; i < r->topk_n; i++) r->topk_converged += L->residual[idx[i]] <= tol;
  free(idx);
  lbbt_top_k_by_magnitude(L->ritz, m, r->topk_n, r->topk);
  lbbt_spectrum_stats_set(r->topk, r->topk_n, &r->topk_stats);
  /* The gap is between the two algebraically largest eigenvalues, whether or not the
   * top-k set (by magnitude) holds both. */
  r->topk_stats.spectral_gap = m >= 2 ? L->ritz[m - 1] - L->ritz[m - 2] : NAN;
  r->trace_topk = 0;
  for (int i = 0; i < r->topk_n; i++) r->trace_topk += r->topk[i];
  return LBBT_OK;
}

/* y'Hy for the top Ritz vector with three finite-difference steps: a spread much larger
 * than the Lanczos residual means eps is too large (truncation) or too small (rounding). */
static lbbt_status hvp_check(lbbt_objective *obj, const double *theta0, const lbbt_hessian_config *cfg,
                             lbbt_hessian_report *r) {
  int64_t n = obj->n;
  double *hy = malloc((size_t)n * sizeof *hy);
  if (!hy) return lbbt_fail(LBBT_E_NOMEM, "hessian: out of memory");
  static const double factor[3] = {0.25, 1.0, 4.0};
  lbbt_status st = LBBT_OK;
  double lo = INFINITY, hi = -INFINITY;
  for (int k = 0; k < 3 && st == LBBT_OK; k++) {
    lbbt_hvp *h = NULL;
    r->hvp_check_eps[k] = r->hvp_eps * factor[k];
    st = lbbt_hvp_create(obj, theta0, r->hvp_check_eps[k], &h);
    if (st == LBBT_OK) st = lbbt_linop_apply(lbbt_hvp_linop(h), r->lanczos.y_max, hy);
    lbbt_hvp_free(h);
    double q = 0;
    for (int64_t i = 0; i < n; i++) q += r->lanczos.y_max[i] * hy[i];
    r->hvp_check_rayleigh[k] = q;
    lo = fmin(lo, q);
    hi = fmax(hi, q);
  }
  r->hvp_check_spread = fabs(r->lambda_max) > 0 ? (hi - lo) / fabs(r->lambda_max) : NAN;
  free(hy);
  return st;
}

typedef struct samples {
  double *t, *s; /* v'Hv and ||Hv||^2 per probe */
  int n, cap;
} samples;

static void sample_add(samples *S, double t, double s) {
  if (S->n < S->cap) {
    S->t[S->n] = t;
    S->s[S->n] = s;
    S->n++;
  }
}

static void mean_se(const double *x, int n, double *mean, double *se) {
  double m = 0;
  for (int i = 0; i < n; i++) m += x[i];
  m /= n;
  double v = 0;
  for (int i = 0; i < n; i++) v += (x[i] - m) * (x[i] - m);
  *mean = m;
  *se = n > 1 ? sqrt(v / (n - 1) / n) : NAN;
}

static lbbt_status density(counted_op *op, const lbbt_hessian_config *cfg, lbbt_hessian_report *r,
                           samples *S) {
  int64_t n = op->op.n;
  int P = cfg->slq_probes, M = cfg->slq_steps;
  r->slq_probes = P;
  r->slq_steps = M;
  r->slq_nodes = calloc((size_t)P * (size_t)M, sizeof(double));
  r->slq_weights = calloc((size_t)P * (size_t)M, sizeof(double));
  r->slq_probe_steps = calloc((size_t)P, sizeof(int));
  double *v = malloc((size_t)n * sizeof *v);
  if (!r->slq_nodes || !r->slq_weights || !r->slq_probe_steps || !v) {
    free(v);
    return lbbt_fail(LBBT_E_NOMEM, "hessian: out of memory for SLQ");
  }
  op->what = "slq";
  op->done = 0;
  op->total = P * M;
  lbbt_status st = LBBT_OK;
  for (int p = 0; p < P && st == LBBT_OK; p++) {
    lbbt_rademacher(cfg->seed, "slq-probe", (uint64_t)p, v, n);
    lbbt_lanczos_result L;
    st = lbbt_lanczos(&op->op, v, M, &L);
    if (st != LBBT_OK) break;
    r->slq_probe_steps[p] = L.steps;
    for (int j = 0; j < L.steps; j++) {
      r->slq_nodes[(size_t)p * M + j] = L.ritz[j];
      r->slq_weights[(size_t)p * M + j] = L.weights[j];
    }
    /* A Rademacher probe has ||v||^2 = n: v'Hv = n alpha_0 and ||Hv||^2 = n (alpha_0^2 + beta_0^2)
     * (q_0 = v/sqrt(n) and H q_0 = alpha_0 q_0 + beta_0 q_1). */
    double a = L.alpha[0], b = L.beta[0]; /* 0 after a breakdown at the first step */
    sample_add(S, (double)n * a, (double)n * (a * a + b * b));
    lbbt_lanczos_result_free(&L);
  }
  free(v);
  if (st != LBBT_OK) return st;
  /* The measure: each probe's weights / P. */
  int K = P * M;
  double *w = malloc((size_t)K * sizeof *w);
  if (!w) return lbbt_fail(LBBT_E_NOMEM, "hessian: out of memory");
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < K; i++) {
    w[i] = r->slq_weights[i] / P;
    if (w[i] > 0) {
      lo = fmin(lo, r->slq_nodes[i]);
      hi = fmax(hi, r->slq_nodes[i]);
    }
  }
  lbbt_spectrum_stats_density(r->slq_nodes, w, K, r->dim, &r->density_stats);
  double tol = cfg->conv_tol * fmax(fabs(r->lambda_max), fabs(r->lambda_min));
  r->negative_ratio_density_tol = 0;
  for (int i = 0; i < K; i++)
    if (r->slq_nodes[i] < -tol) r->negative_ratio_density_tol += w[i];
  int G = cfg->density_points;
  r->density_grid = malloc((size_t)G * sizeof(double));
  r->density = calloc((size_t)G, sizeof(double));
  if (!r->density_grid || !r->density) {
    free(w);
    return lbbt_fail(LBBT_E_NOMEM, "hessian: out of memory");
  }
  double sigma = cfg->density_sigma * (hi - lo);
  if (!(sigma > 0)) sigma = cfg->density_sigma * fmax(1.0, fabs(hi));
  r->density_sigma_abs = sigma;
  double g0 = lo - 3 * sigma, g1 = hi + 3 * sigma;
  for (int g = 0; g < G; g++) {
    double x = g0 + (g1 - g0) * g / (G - 1), d = 0;
    for (int i = 0; i < K; i++)
      if (w[i] > 0) {
        double z = (x - r->slq_nodes[i]) / sigma;
        d += w[i] * exp(-0.5 * z * z);
      }
    r->density_grid[g] = x;
    r->density[g] = d / (sigma * sqrt(2 * M_PI));
  }
  free(w);
  return LBBT_OK;
}

static lbbt_status hutchinson(counted_op *op, const lbbt_hessian_config *cfg, lbbt_hessian_report *r,
                              samples *S) {
  int64_t n = op->op.n;
  double *v = malloc((size_t)n * sizeof *v), *hv = malloc((size_t)n * sizeof *hv);
  if (!v || !hv) {
    free(v);
    free(hv);
    return lbbt_fail(LBBT_E_NOMEM, "hessian: out of memory");
  }
  op->what = "trace";
  op->done = 0;
  op->total = cfg->trace_probes;
  lbbt_status st = LBBT_OK;
  for (int p = 0; p < cfg->trace_probes; p++) {
    double mean, se;
    if (S->n >= TRACE_MIN_SAMPLES) {
      mean_se(S->t, S->n, &mean, &se);
      if (se <= cfg->trace_rtol * fabs(mean)) break;
    }
    lbbt_rademacher(cfg->seed, "hutchinson-probe", (uint64_t)p, v, n);
    st = lbbt_linop_apply(&op->op, v, hv);
    if (st != LBBT_OK) break;
    double t = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
      t += v[i] * hv[i];
      s += hv[i] * hv[i];
    }
    sample_add(S, t, s);
  }
  free(v);
  free(hv);
  if (st != LBBT_OK) return st;
  r->trace_samples = S->n;
  mean_se(S->t, S->n, &r->trace, &r->trace_se);
  mean_se(S->s, S->n, &r->trace_h2, &r->trace_h2_se);
  r->participation_global = r->trace_h2 > 0 ? r->trace * r->trace / ((double)n * r->trace_h2) : NAN;
  return LBBT_OK;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

lbbt_status lbbt_hessian_analyze(lbbt_objective *obj, const double *theta0,
                                 const lbbt_hessian_config *cfg, lbbt_hessian_progress_fn progress,
                                 void *progress_user, lbbt_hessian_report *out) {
  memset(out, 0, sizeof *out);
  LBBT_TRY(lbbt_hessian_config_check(cfg));
  double t0 = now_s();
  int64_t grad0 = obj->n_grad_evals, loss0 = obj->n_loss_evals, n = obj->n;
  out->dim = n;
  double *g0 = malloc((size_t)n * sizeof *g0);
  lbbt_hvp *hvp = NULL;
  samples S = {0};
  S.cap = cfg->slq_probes + cfg->trace_probes;
  S.t = malloc((size_t)S.cap * sizeof(double));
  S.s = malloc((size_t)S.cap * sizeof(double));
  int NS = cfg->noise_steps + 1, NP = cfg->predict_steps;
  out->noise_sigma = malloc((size_t)NS * sizeof(double));
  out->noise_dloss = malloc((size_t)NS * sizeof(double));
  out->predict_eta = malloc((size_t)NP * sizeof(double));
  out->predict_ratio = malloc((size_t)NP * sizeof(double));
  lbbt_status st = LBBT_OK;
  if (!g0 || !S.t || !S.s || !out->noise_sigma || !out->noise_dloss || !out->predict_eta ||
      !out->predict_ratio) {
    st = lbbt_fail(LBBT_E_NOMEM, "hessian: out of memory for %lld parameters", (long long)n);
    goto done;
  }
  if (progress) progress(progress_user, "gradient", 0, 1);
  LBBT_TRY_GOTO(st, lbbt_objective_eval(obj, theta0, &out->loss0, g0), done);
  out->grad_norm = norm2(g0, n);
  out->theta_norm = norm2(theta0, n);
  out->max_param_sensitivity = -1;
  for (int64_t i = 0; i < n; i++) {
    double s = fabs(theta0[i] * g0[i]);
    if (s > out->max_param_sensitivity) {
      out->max_param_sensitivity = s;
      out->max_param_sensitivity_index = i;
    }
    out->max_abs_grad = fmax(out->max_abs_grad, fabs(g0[i]));
  }
  out->hvp_eps = cfg->hvp_eps;
  if (!(cfg->hvp_eps > 0)) {
    if (progress) progress(progress_user, "eps-ladder", 0, 1);
    out->hvp_eps_auto = 1;
    LBBT_TRY_GOTO(st, lbbt_hvp_choose_eps(obj, theta0, cfg->seed, &out->hvp_eps, out->hvp_ladder_eps,
                                          out->hvp_ladder_q, out->hvp_ladder_change), done);
  }
  LBBT_TRY_GOTO(st, lbbt_hvp_create(obj, theta0, out->hvp_eps, &hvp), done);
  counted_op op = {.op = {.n = n, .apply = counted_apply}, .inner = lbbt_hvp_linop(hvp),
                   .progress = progress, .user = progress_user};
  op.op.user = &op;
  LBBT_TRY_GOTO(st, extremes(&op, cfg, out), done);
  if (progress) progress(progress_user, "hvp-check", 0, 3);
  LBBT_TRY_GOTO(st, hvp_check(obj, theta0, cfg, out), done);
  LBBT_TRY_GOTO(st, density(&op, cfg, out, &S), done);
  LBBT_TRY_GOTO(st, hutchinson(&op, cfg, out, &S), done);
  if (progress) progress(progress_user, "noise", 0, cfg->noise_steps * cfg->noise_draws);
  LBBT_TRY_GOTO(st, lbbt_noise_sensitivity(obj, theta0, out->loss0, cfg->noise_max, cfg->noise_steps,
                                           cfg->noise_draws, cfg->seed, out->noise_sigma,
                                           out->noise_dloss, &out->noise_auc), done);
  for (int k = 0; k < NP; k++) {
    double f = NP > 1 ? (double)k / (NP - 1) : 1.0;
    out->predict_eta[k] = cfg->predict_min * pow(cfg->predict_max / cfg->predict_min, f) * out->theta_norm;
  }
  if (progress) progress(progress_user, "predictiveness", 0, NP);
  LBBT_TRY_GOTO(st, lbbt_gradient_predictiveness(obj, theta0, g0, out->predict_eta, NP, out->predict_ratio),
                done);
  out->grad_predictiveness = NAN; /* stays NaN at a stationary point (no direction) */
  for (int k = 0; k < NP; k++)
    if (isfinite(out->predict_ratio[k]) &&
        (isnan(out->grad_predictiveness) || out->predict_ratio[k] > out->grad_predictiveness))
      out->grad_predictiveness = out->predict_ratio[k];
  out->grad_evals = obj->n_grad_evals - grad0;
  out->loss_evals = obj->n_loss_evals - loss0;
  out->seconds = now_s() - t0;
done:
  free(g0);
  free(S.t);
  free(S.s);
  lbbt_hvp_free(hvp);
  if (st != LBBT_OK) lbbt_hessian_report_free(out);
  return st;
}
