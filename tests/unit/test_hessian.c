/* Hessian spectra: statistics on known sets, Lanczos on explicit matrices, the whole
 * analysis on linear regression (H = X'X/n known exactly), the finite-difference error study
 * behind lbbt_hvp_choose_eps (softmax regression, exact Hessian known), and a tiny transformer
 * whose dense Hessian is formed column by column with the same products and diagonalised by
 * GSL.  Measured values are printed as "# ..." lines. */
#include <gsl/gsl_eigen.h>
#include <gsl/gsl_matrix.h>
#include <gsl/gsl_vector.h>
#include <omp.h>

#include "curvature_fixtures.h"
#include "lbbt/hessian.h"
#include "test.h"

/* Statistics of explicit sets are closed-form: only rounding. */
#define STATS_TOL 1e-12
/* Lanczos on an explicit matrix whose Krylov space closes: exact up to rounding. */
#define EXACT_TOL 1e-9
/* Linear regression (a): the extremes after 60 steps on a 100 x 100 spectrum with separated
 * top eigenvalues; a converged Ritz value lies within its residual of an eigenvalue (the
 * Ritz bound) — measured errors are ~1e-12 relative. */
#define LINREG_EXTREME_RTOL 1e-8
/* Hutchinson: the estimate must fall within this many standard errors of tr H. */
#define TRACE_SIGMAS 4.0
/* SLQ density vs the exact spectrum: Kolmogorov distance between the cumulative
 * distributions, both smoothed by a Gaussian of DENSITY_SMOOTH times the spectral radius
 * (measured: 0.03 on linear regression, 0.0X on the tiny transformer). */
#define DENSITY_SMOOTH 0.02
#define DENSITY_KS_TOL 0.1
/* Spectral moments from SLQ (Gauss quadrature is exact for degree <= 2m-1, so only the
 * probe noise remains): relative error of E[lambda] and E[lambda^2] (measured < 0.05). */
#define DENSITY_MOMENT_RTOL 0.15
/* Error study (softmax regression, f32 gradients): relative error ||Hv_fd - Hv|| / ||Hv||
 * at the step lbbt_hvp_choose_eps picks (measured 3.6e-5 at 1e-2; the best studied 3.6e-5). */
#define HVP_REL_TOL 1e-3
/* Tiny transformer (b): the dense finite-difference Hessian is symmetric up to this relative
 * Frobenius error (measured ~1e-5), and Lanczos extremes match its eigenvalues within this
 * fraction of its spectral radius (measured ~1e-6). */
#define DENSE_ASYM_TOL 1e-3
#define DENSE_EXTREME_TOL 1e-3
/* Quadratic objective: noise AUC and gradient predictiveness are exact polynomials. */
#define QUADRATIC_TOL 1e-9

static double scale_decay(int j) { return 1.0 / (1.0 + 0.15 * j); }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Eigenvalues (ascending) of a symmetric n x n matrix (copied). */
static void dense_eigenvalues(const double *A, int n, double *vals) {
  gsl_matrix *M = gsl_matrix_alloc((size_t)n, (size_t)n);
  for (int i = 0; i < n * n; i++) M->data[i] = A[i];
  gsl_vector *e = gsl_vector_alloc((size_t)n);
  gsl_eigen_symm_workspace *w = gsl_eigen_symm_alloc((size_t)n);
  gsl_eigen_symm(M, e, w);
  for (int i = 0; i < n; i++) vals[i] = gsl_vector_get(e, (size_t)i);
  qsort(vals, (size_t)n, sizeof *vals, cmp_double);
  gsl_eigen_symm_free(w);
  gsl_vector_free(e);
  gsl_matrix_free(M);
}

/* Kolmogorov distance between the weighted measure (nodes, weights / total) and n point
 * masses at vals, both smoothed by a Gaussian of width sigma: a spectral density is only
 * meaningful up to a resolution, and near-zero eigenvalues of a finite-difference Hessian
 * change sign with the rounding, which an unsmoothed comparison would count in full. */
static double smoothed_ks(const double *nodes, const double *weights, int k, const double *vals, int n,
                          double sigma) {
  double total = 0, lo = INFINITY, hi = -INFINITY, worst = 0;
  for (int i = 0; i < k; i++) total += weights[i];
  for (int i = 0; i < n; i++) {
    lo = fmin(lo, vals[i]);
    hi = fmax(hi, vals[i]);
  }
  for (int g = 0; g <= 1000; g++) {
    double x = lo - 4 * sigma + (hi - lo + 8 * sigma) * g / 1000.0, F1 = 0, F2 = 0;
    for (int i = 0; i < k; i++) F1 += weights[i] / total * 0.5 * erfc(-(x - nodes[i]) / (sigma * M_SQRT2));
    for (int i = 0; i < n; i++) F2 += 1.0 / n * 0.5 * erfc(-(x - vals[i]) / (sigma * M_SQRT2));
    worst = fmax(worst, fabs(F1 - F2));
  }
  return worst;
}

/* ---- statistics of sets -------------------------------------------------------------------- */
static void stats_known_sets(void) {
  lbbt_spectrum_stats s;
  double v[4] = {1, -1, 4, 2}; /* mean 1.5, central: -.5 -2.5 2.5 .5 */
  lbbt_spectrum_stats_set(v, 4, &s);
  double c2 = (0.25 + 6.25 + 6.25 + 0.25) / 4, c4 = (0.0625 + 39.0625 + 39.0625 + 0.0625) / 4;
  CHECK_CLOSE(s.kurtosis, c4 / (c2 * c2) - 3, STATS_TOL, STATS_TOL, "kurtosis");
  CHECK_CLOSE(s.participation_ratio, 36.0 / (4 * 22.0), STATS_TOL, STATS_TOL, "participation");
  CHECK_CLOSE(s.negative_ratio, 0.25, STATS_TOL, 0, "negative ratio");
  CHECK_CLOSE(s.spectral_gap, 2.0, STATS_TOL, 0, "gap");
  CHECK(s.decay_points == 3, "decay uses the 3 positive values, got %d", s.decay_points);
  /* lambda_i = 7 i^-2.5: the slope is -2.5 exactly */
  double pw[12];
  for (int i = 0; i < 12; i++) pw[i] = 7 * pow(i + 1, -2.5);
  lbbt_spectrum_stats_set(pw, 12, &s);
  CHECK_CLOSE(s.decay_rate, -2.5, STATS_TOL, STATS_TOL, "power-law decay");
  /* the same values as a density of 12 point masses of 1/12 rank identically */
  double w[12];
  for (int i = 0; i < 12; i++) w[i] = 1;
  lbbt_spectrum_stats d;
  lbbt_spectrum_stats_density(pw, w, 12, 12, &d);
  CHECK_CLOSE(d.decay_rate, -2.5, STATS_TOL, STATS_TOL, "density decay of point masses");
  CHECK_CLOSE(d.kurtosis, s.kurtosis, STATS_TOL, STATS_TOL, "density kurtosis of point masses");
  CHECK(isnan(d.spectral_gap), "a density has no gap");
  /* the ANALYSES-NOTES clue: one outlier among n values gives the largest excess kurtosis
   * (n^2 - 3n + 3)/(n - 1) - 3; 14.5 needs n >= about 20 */
  double one[20] = {1};
  lbbt_spectrum_stats_set(one, 20, &s);
  CHECK_CLOSE(s.kurtosis, (400.0 - 60 + 3) / 19 - 3, STATS_TOL, STATS_TOL, "max kurtosis, n=20");
  CHECK(s.kurtosis > 14.5, "n = 20 can reach 14.5 (got max %g)", s.kurtosis);
  lbbt_spectrum_stats_set(one, 19, &s);
  CHECK(s.kurtosis < 14.5, "n = 19 cannot reach 14.5 (max %g)", s.kurtosis);
  /* top-k by magnitude, reported descending by value */
  double mix[6] = {0.5, -9, 3, 8, -0.1, 2}, top[3];
  int k = lbbt_top_k_by_magnitude(mix, 6, 3, top);
  CHECK(k == 3 && top[0] == 8 && top[1] == 3 && top[2] == -9, "top-3 by magnitude: %g %g %g", top[0],
        top[1], top[2]);
}

/* ---- Lanczos on explicit matrices ----------------------------------------------------------- */
static void lanczos_breakdown_is_exact(void) {
  enum { N = 50 };
  static double A[N * N];
  memset(A, 0, sizeof A);
  for (int i = 0; i < N; i++) A[i * N + i] = i % 3 == 0 ? 5.0 : i % 3 == 1 ? -2.0 : 0.5;
  dense_op d;
  dense_op_init(&d, A, N);
  double v0[N];
  for (int i = 0; i < N; i++) v0[i] = 1.0 + 0.01 * i;
  lbbt_lanczos_result L;
  REQUIRE(lbbt_lanczos(&d.op, v0, 20, &L) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(L.steps == 3 && L.breakdown, "3 distinct eigenvalues: breakdown after 3 steps (got %d, %d)", L.steps,
        L.breakdown);
  if (L.steps == 3) {
    CHECK_CLOSE(L.ritz[0], -2.0, EXACT_TOL, 0, "ritz 0");
    CHECK_CLOSE(L.ritz[1], 0.5, EXACT_TOL, 0, "ritz 1");
    CHECK_CLOSE(L.ritz[2], 5.0, EXACT_TOL, 0, "ritz 2");
    double wsum = L.weights[0] + L.weights[1] + L.weights[2];
    CHECK_CLOSE(wsum, 1.0, EXACT_TOL, 0, "weights sum to 1");
    /* the weight of an eigenvalue is the share of the start vector in its eigenspace */
    double share5 = 0, norm = 0;
    for (int i = 0; i < N; i++) {
      norm += v0[i] * v0[i];
      if (i % 3 == 0) share5 += v0[i] * v0[i];
    }
    CHECK_CLOSE(L.weights[2], share5 / norm, EXACT_TOL, 0, "quadrature weight");
  }
  lbbt_lanczos_result_free(&L);
  CHECK(d.op.n_applies == 3, "3 products, got %lld", (long long)d.op.n_applies);
}

/* ---- (a) linear regression: the whole analysis against H = X'X/n ----------------------------- */
static void linear_regression_analysis(void) {
  enum { N = 300, D = 100 };
  linreg *lr = linreg_create(N, D, 11, scale_decay);
  double *H = malloc(sizeof(double) * D * D), *eig = malloc(sizeof(double) * D), *w = calloc(D, sizeof(double));
  linreg_hessian(lr, H);
  dense_eigenvalues(H, D, eig);
  for (int j = 0; j < D; j++) w[j] = 0.1 * sin(j); /* away from the minimum: g != 0 */
  lbbt_hessian_config c;
  lbbt_hessian_config_default(&c);
  c.lanczos_steps = 60;
  c.slq_probes = 10;
  c.slq_steps = 30;
  c.trace_probes = 200;
  c.trace_rtol = 0;
  c.seed = 5;
  lbbt_hessian_report r;
  REQUIRE(lbbt_hessian_analyze(&lr->obj, w, &c, NULL, NULL, &r) == LBBT_OK, "%s", lbbt_last_error());
  double trace = 0, tr2 = 0, rho = fmax(fabs(eig[0]), fabs(eig[D - 1]));
  for (int i = 0; i < D; i++) {
    trace += eig[i];
    for (int j = 0; j < D; j++) tr2 += H[i * D + j] * H[i * D + j];
  }
  printf("# linreg: lambda_max %.9g (exact %.9g), lambda_min %.6g (exact %.6g, residual %.2g), "
         "trace %.6g +- %.2g (exact %.6g), top-k converged %d/%d\n",
         r.lambda_max, eig[D - 1], r.lambda_min, eig[0], r.lambda_min_residual, r.trace, r.trace_se, trace,
         r.topk_converged, r.topk_n);
  CHECK_CLOSE(r.lambda_max, eig[D - 1], 0, LINREG_EXTREME_RTOL, "lambda_max");
  CHECK(r.lanczos.steps == 60, "iterations reported: %d", r.lanczos.steps);
  /* every Ritz value flagged converged is within its residual of an exact eigenvalue */
  int converged = 0;
  for (int i = 0; i < r.lanczos.steps; i++) {
    double best = INFINITY;
    for (int j = 0; j < D; j++) best = fmin(best, fabs(r.lanczos.ritz[i] - eig[j]));
    CHECK(best <= r.lanczos.residual[i] * (1 + 1e-6) + EXACT_TOL * rho,
          "Ritz value %g is %g from the spectrum, residual only %g", r.lanczos.ritz[i], best,
          r.lanczos.residual[i]);
    converged += r.lanczos.residual[i] <= c.conv_tol * rho;
  }
  CHECK(converged >= 1 && r.extremes_converged == (r.lambda_min_residual <= c.conv_tol * rho &&
                                                   r.lambda_max_residual <= c.conv_tol * rho),
        "convergence flags");
  /* top-k statistics equal those of the exact top-k when the whole set converged */
  double exact_top[20];
  lbbt_top_k_by_magnitude(eig, D, 20, exact_top);
  lbbt_spectrum_stats ex;
  lbbt_spectrum_stats_set(exact_top, 20, &ex);
  if (r.topk_converged == r.topk_n) {
    CHECK_CLOSE(r.topk_stats.decay_rate, ex.decay_rate, 1e-6, 1e-6, "top-k decay rate");
    CHECK_CLOSE(r.topk_stats.kurtosis, ex.kurtosis, 1e-6, 1e-6, "top-k kurtosis");
    CHECK_CLOSE(r.topk_stats.participation_ratio, ex.participation_ratio, 1e-6, 1e-6, "top-k PR");
    CHECK_CLOSE(r.topk_stats.spectral_gap, eig[D - 1] - eig[D - 2], 1e-6, 1e-6, "gap");
  } else {
    CHECK(0, "only %d of %d top-k Ritz values converged on a separated spectrum", r.topk_converged, r.topk_n);
  }
  CHECK(r.topk_stats.negative_ratio == 0, "PSD: no negative values in the top-k set");
  /* trace and tr H^2 */
  CHECK(fabs(r.trace - trace) <= TRACE_SIGMAS * r.trace_se, "trace %g +- %g vs exact %g", r.trace, r.trace_se,
        trace);
  CHECK(r.trace_samples == c.slq_probes + c.trace_probes, "samples %d", r.trace_samples);
  CHECK(fabs(r.trace_h2 - tr2) <= TRACE_SIGMAS * r.trace_h2_se, "tr H^2 %g +- %g vs %g", r.trace_h2,
        r.trace_h2_se, tr2);
  /* density */
  double ks = smoothed_ks(r.slq_nodes, r.slq_weights, c.slq_probes * c.slq_steps, eig, D, DENSITY_SMOOTH * rho);
  double m1 = 0, m2 = 0, wsum = 0;
  for (int i = 0; i < c.slq_probes * c.slq_steps; i++) {
    m1 += r.slq_weights[i] * r.slq_nodes[i];
    m2 += r.slq_weights[i] * r.slq_nodes[i] * r.slq_nodes[i];
    wsum += r.slq_weights[i];
  }
  printf("# linreg density: KS %.3g, mean %.5g (exact %.5g), second moment %.5g (exact %.5g)\n", ks, m1 / wsum,
         trace / D, m2 / wsum, tr2 / D);
  CHECK(ks <= DENSITY_KS_TOL, "KS distance %g", ks);
  CHECK_CLOSE(m1 / wsum, trace / D, 0, DENSITY_MOMENT_RTOL, "density mean");
  CHECK_CLOSE(m2 / wsum, tr2 / D, 0, DENSITY_MOMENT_RTOL, "density second moment");
  CHECK(r.density_stats.negative_ratio < 1e-6, "PSD density: negative mass %g", r.density_stats.negative_ratio);
  CHECK(r.negative_ratio_density_tol == 0, "PSD density: thresholded negative mass %g", r.negative_ratio_density_tol);
  CHECK_CLOSE(r.participation_global, trace * trace / (D * tr2), 0, 2 * DENSITY_MOMENT_RTOL, "global PR");
  /* the smoothed density integrates to 1 */
  double integral = 0;
  for (int g = 1; g < c.density_points; g++)
    integral += 0.5 * (r.density[g] + r.density[g - 1]) * (r.density_grid[g] - r.density_grid[g - 1]);
  CHECK_CLOSE(integral, 1.0, 1e-3, 0, "density integral");
  int64_t products = r.lanczos.steps + c.slq_probes * c.slq_steps + c.trace_probes;
  /* cost: 1 gradient, 22 to choose eps, 2 per product, 6 for the check, 1 per step length */
  CHECK(r.hvp_eps_auto && r.grad_evals == 1 + 22 + 2 * products + 6 + c.predict_steps,
        "gradient evaluations %lld, expected %lld", (long long)r.grad_evals,
        (long long)(1 + 22 + 2 * products + 6 + c.predict_steps));
  CHECK(r.hvp_check_spread < 1e-6, "a quadratic has no finite-difference truncation: spread %g", r.hvp_check_spread);
  CHECK(r.loss_evals == (int64_t)c.noise_steps * c.noise_draws, "loss evaluations %lld", (long long)r.loss_evals);
  lbbt_hessian_report_free(&r);
  free(H);
  free(eig);
  free(w);
  linreg_free(lr);
}

/* Noise sensitivity and gradient predictiveness are polynomials on a quadratic. */
static void quadratic_noise_and_predictiveness(void) {
  enum { N = 40, D = 12 };
  linreg *lr = linreg_create(N, D, 3, scale_decay);
  double H[D * D], w[D], g[D], loss0;
  linreg_hessian(lr, H);
  for (int j = 0; j < D; j++) w[j] = 0.3 * cos(j) + 0.05;
  REQUIRE(lbbt_objective_eval(&lr->obj, w, &loss0, g) == LBBT_OK, "eval");
  enum { STEPS = 5, DRAWS = 3 };
  double sigma[STEPS + 1], dloss[STEPS + 1], auc;
  REQUIRE(lbbt_noise_sensitivity(&lr->obj, w, loss0, 0.05, STEPS, DRAWS, 9, sigma, dloss, &auc) == LBBT_OK,
          "%s", lbbt_last_error());
  /* dL(sigma) = sigma a + sigma^2 b averaged over the draws u = z (.) |w| */
  double a = 0, b = 0;
  for (int d = 0; d < DRAWS; d++) {
    lbbt_rng r;
    lbbt_rng_derive(&r, 9, "noise-sensitivity", (uint64_t)d);
    double u[D];
    for (int j = 0; j < D; j++) u[j] = lbbt_rng_normal(&r) * fabs(w[j]);
    for (int i = 0; i < D; i++) {
      a += g[i] * u[i] / DRAWS;
      for (int j = 0; j < D; j++) b += 0.5 * u[i] * H[i * D + j] * u[j] / DRAWS;
    }
  }
  double area = 0;
  for (int s = 0; s <= STEPS; s++) {
    double want = sigma[s] * a + sigma[s] * sigma[s] * b;
    CHECK_CLOSE(dloss[s], want, QUADRATIC_TOL, 1e-7, "loss increase");
    if (s) {
      double prev = sigma[s - 1] * a + sigma[s - 1] * sigma[s - 1] * b;
      area += 0.5 * (want + prev) * (sigma[s] - sigma[s - 1]);
    }
  }
  CHECK_CLOSE(auc, area / 0.05, QUADRATIC_TOL, 1e-7, "AUC");
  /* g(w - eta ghat) = g - eta H ghat: ratio = eta ||H ghat|| / ||g|| */
  double eta[3] = {0.01, 0.1, 1.0}, ratio[3], gn = 0, hg[D], hgn = 0;
  for (int i = 0; i < D; i++) gn += g[i] * g[i];
  gn = sqrt(gn);
  for (int i = 0; i < D; i++) {
    hg[i] = 0;
    for (int j = 0; j < D; j++) hg[i] += H[i * D + j] * g[j] / gn;
    hgn += hg[i] * hg[i];
  }
  REQUIRE(lbbt_gradient_predictiveness(&lr->obj, w, g, eta, 3, ratio) == LBBT_OK, "%s", lbbt_last_error());
  for (int k = 0; k < 3; k++) CHECK_CLOSE(ratio[k], eta[k] * sqrt(hgn) / gn, QUADRATIC_TOL, 1e-7, "predictiveness");
  linreg_free(lr);
}

/* ---- the finite-difference error study ------------------------------------------------------ */
static void hvp_error_study(void) {
  enum { B = 64, K = 5, PIX = 16 };
  const int D = PIX;
  lbbt_model *m = softmax_model_create(D, K, 0.5, 21);
  REQUIRE(m, "model");
  float *images = malloc(sizeof(float) * B * PIX);
  int32_t labels[B];
  random_batch(B, PIX, K, 4, images, labels);
  lbbt_model_objective *mo = NULL;
  REQUIRE(lbbt_model_objective_create(m, images, labels, B, 1, 4, 4, 16, LBBT_OBJ_PARAMS_ALL, &mo) == LBBT_OK,
          "%s", lbbt_last_error());
  lbbt_objective *o = lbbt_model_objective_base(mo);
  int64_t P = o->n;
  CHECK(P == K * D + K, "P = %lld", (long long)P);
  double *v = malloc(sizeof(double) * P), *exact = malloc(sizeof(double) * P), *fd = malloc(sizeof(double) * P);
  lbbt_rng r;
  lbbt_rng_derive(&r, 1, "direction", 0);
  for (int64_t i = 0; i < P; i++) v[i] = lbbt_rng_normal(&r);
  softmax_exact_hv(m, images, B, D, v, exact);
  double chosen, ladder_eps[LBBT_HVP_LADDER], ladder_q[LBBT_HVP_LADDER], change[LBBT_HVP_LADDER];
  REQUIRE(lbbt_hvp_choose_eps(o, lbbt_model_objective_theta0(mo), 3, &chosen, ladder_eps, ladder_q, change) == LBBT_OK,
          "%s", lbbt_last_error());
  for (int k = 0; k < LBBT_HVP_LADDER; k++)
    printf("# eps ladder: %.2g -> y'Hy %.9g, change %.3g\n", ladder_eps[k], ladder_q[k], change[k]);
  const double eps[] = {1e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1, chosen};
  double err_chosen = INFINITY, best = INFINITY;
  for (size_t e = 0; e < sizeof eps / sizeof eps[0]; e++) {
    lbbt_hvp *h = NULL;
    REQUIRE(lbbt_hvp_create(o, lbbt_model_objective_theta0(mo), eps[e], &h) == LBBT_OK, "%s", lbbt_last_error());
    REQUIRE(lbbt_linop_apply(lbbt_hvp_linop(h), v, fd) == LBBT_OK, "%s", lbbt_last_error());
    lbbt_hvp_free(h);
    double num = 0, den = 0;
    for (int64_t i = 0; i < P; i++) {
      num += (fd[i] - exact[i]) * (fd[i] - exact[i]);
      den += exact[i] * exact[i];
    }
    double rel = sqrt(num / den);
    printf("# hvp error study: eps %.2g%s relative error %.3g\n", eps[e], e + 1 == sizeof eps / sizeof eps[0] ?
           " (chosen)" : "", rel);
    if (e + 1 == sizeof eps / sizeof eps[0]) err_chosen = rel;
    best = fmin(best, rel);
  }
  CHECK(err_chosen <= HVP_REL_TOL, "relative error %g at the chosen eps %g", err_chosen, chosen);
  CHECK(err_chosen <= 10 * best, "the chosen eps (error %g) is far from the best studied (%g)", err_chosen, best);
  lbbt_model_objective_free(mo);
  free(v);
  free(exact);
  free(fd);
  free(images);
  lbbt_model_free(m);
}

/* ---- the model objective ------------------------------------------------------------------ */
static void model_objective_bookkeeping(void) {
  lbbt_model *m = tiny_transformer_create(0.3, 2);
  REQUIRE(m, "tiny model");
  int64_t total = lbbt_model_numel(m, 0), blocks = 0;
  for (int i = 0; i < m->n_params; i++)
    if (m->params[i].part == LBBT_PART_BLOCK) blocks += m->params[i].t->numel;
  enum { B = 12, PIX = 16 };
  float images[B * PIX];
  int32_t labels[B];
  random_batch(B, PIX, TINY_CLASSES, 8, images, labels);
  float before = m->params[0].t->data[0];
  m->params[0].t->requires_grad = 0; /* a frozen patch embedding, as after a linear probe */
  lbbt_model_objective *mo = NULL;
  REQUIRE(lbbt_model_objective_create(m, images, labels, B, 1, 4, 4, 5, LBBT_OBJ_PARAMS_BLOCKS, &mo) == LBBT_OK,
          "%s", lbbt_last_error());
  lbbt_objective *o = lbbt_model_objective_base(mo);
  CHECK(o->n == blocks && blocks > 0 && blocks < total, "blocks: %lld of %lld", (long long)o->n, (long long)total);
  int nseg;
  const lbbt_param_segment *segs = lbbt_model_objective_segments(mo, &nseg);
  CHECK(nseg > 0 && segs[nseg - 1].offset + segs[nseg - 1].numel == o->n, "segments cover the vector");
  CHECK(lbbt_param_segment_at(segs, nseg, o->n - 1) == &segs[nseg - 1] && !lbbt_param_segment_at(segs, nseg, o->n),
        "segment lookup");
  /* gradient vs central differences of the loss along a random direction (chunked batch) */
  double *t0 = malloc(sizeof(double) * o->n), *g = malloc(sizeof(double) * o->n), *t = malloc(sizeof(double) * o->n);
  double *u = malloc(sizeof(double) * o->n);
  memcpy(t0, lbbt_model_objective_theta0(mo), sizeof(double) * o->n);
  double l0, lp, lm, dd = 0, un = 0;
  REQUIRE(lbbt_objective_eval(o, t0, &l0, g) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_rng r;
  lbbt_rng_derive(&r, 3, "u", 0);
  for (int64_t i = 0; i < o->n; i++) {
    u[i] = lbbt_rng_normal(&r);
    un += u[i] * u[i];
  }
  for (int64_t i = 0; i < o->n; i++) u[i] /= sqrt(un);
  const double h = 1e-2;
  for (int64_t i = 0; i < o->n; i++) t[i] = t0[i] + h * u[i];
  REQUIRE(lbbt_objective_eval(o, t, &lp, NULL) == LBBT_OK, "eval");
  for (int64_t i = 0; i < o->n; i++) t[i] = t0[i] - h * u[i];
  REQUIRE(lbbt_objective_eval(o, t, &lm, NULL) == LBBT_OK, "eval");
  for (int64_t i = 0; i < o->n; i++) dd += g[i] * u[i];
  CHECK_CLOSE((lp - lm) / (2 * h), dd, 1e-4, 1e-2, "directional derivative");
  CHECK(o->n_grad_evals == 1 && o->n_loss_evals == 2, "counters %lld %lld", (long long)o->n_grad_evals,
        (long long)o->n_loss_evals);
  lbbt_model_objective_free(mo);
  /* parameters and flags as they were */
  CHECK(m->params[0].t->data[0] == before, "patch weight restored");
  CHECK(m->params[0].t->requires_grad == 0, "frozen flag restored");
  free(t0);
  free(g);
  free(t);
  free(u);
  lbbt_model_free(m);
}

/* ---- (b) tiny transformer: dense Hessian vs Lanczos and SLQ --------------------------------- */
static void tiny_transformer_dense(void) {
  lbbt_model *m = tiny_transformer_create(0.4, 6);
  REQUIRE(m, "tiny model");
  enum { B = 24, PIX = 16 };
  float images[B * PIX];
  int32_t labels[B];
  random_batch(B, PIX, TINY_CLASSES, 12, images, labels);
  lbbt_model_objective *mo = NULL;
  REQUIRE(lbbt_model_objective_create(m, images, labels, B, 1, 4, 4, B, LBBT_OBJ_PARAMS_ALL, &mo) == LBBT_OK,
          "%s", lbbt_last_error());
  lbbt_objective *o = lbbt_model_objective_base(mo);
  const int P = (int)o->n;
  CHECK(P > 200 && P < 1000, "a few hundred parameters: %d", P);
  const double *t0 = lbbt_model_objective_theta0(mo);
  double eps, ladder_eps[LBBT_HVP_LADDER], ladder_q[LBBT_HVP_LADDER], change[LBBT_HVP_LADDER];
  REQUIRE(lbbt_hvp_choose_eps(o, t0, 1, &eps, ladder_eps, ladder_q, change) == LBBT_OK, "%s", lbbt_last_error());
  for (int k = 0; k < LBBT_HVP_LADDER; k++)
    printf("# tiny transformer eps ladder: %.2g -> y'Hy %.9g, change %.3g%s\n", ladder_eps[k], ladder_q[k], change[k],
           ladder_eps[k] == eps ? " (chosen)" : "");
  lbbt_hvp *h = NULL;
  REQUIRE(lbbt_hvp_create(o, t0, eps, &h) == LBBT_OK, "%s", lbbt_last_error());
  double *Hd = calloc((size_t)P * P, sizeof(double)), *e = calloc((size_t)P, sizeof(double));
  double *col = malloc(sizeof(double) * P);
  for (int j = 0; j < P; j++) {
    e[j] = 1;
    REQUIRE(lbbt_linop_apply(lbbt_hvp_linop(h), e, col) == LBBT_OK, "%s", lbbt_last_error());
    for (int i = 0; i < P; i++) Hd[i * P + j] = col[i];
    e[j] = 0;
  }
  double asym = 0, fro = 0;
  for (int i = 0; i < P; i++)
    for (int j = 0; j < P; j++) {
      asym += (Hd[i * P + j] - Hd[j * P + i]) * (Hd[i * P + j] - Hd[j * P + i]) / 4;
      fro += Hd[i * P + j] * Hd[i * P + j];
    }
  for (int i = 0; i < P; i++)
    for (int j = i + 1; j < P; j++) Hd[i * P + j] = Hd[j * P + i] = 0.5 * (Hd[i * P + j] + Hd[j * P + i]);
  double *eig = malloc(sizeof(double) * P);
  dense_eigenvalues(Hd, P, eig);
  double rho = fmax(fabs(eig[0]), fabs(eig[P - 1])), trace = 0, tr2 = 0;
  int negatives = 0;
  for (int i = 0; i < P; i++) {
    trace += eig[i];
    tr2 += eig[i] * eig[i];
    negatives += eig[i] < 0;
  }
  printf("# tiny transformer: P %d, asymmetry %.3g, eigenvalues [%.5g, %.5g], trace %.5g, %d negative\n", P,
         sqrt(asym / fro), eig[0], eig[P - 1], trace, negatives);
  CHECK(sqrt(asym / fro) <= DENSE_ASYM_TOL, "finite-difference Hessian asymmetry %g", sqrt(asym / fro));
  lbbt_hessian_config c;
  lbbt_hessian_config_default(&c);
  c.top_k = 10;
  c.lanczos_steps = 60;
  c.slq_probes = 8;
  c.slq_steps = 30;
  c.trace_probes = 60;
  c.trace_rtol = 0;
  c.noise_draws = 2;
  c.seed = 1;
  c.hvp_eps = eps; /* the operator the dense matrix was formed with */
  lbbt_hessian_report r;
  REQUIRE(lbbt_hessian_analyze(o, t0, &c, NULL, NULL, &r) == LBBT_OK, "%s", lbbt_last_error());
  printf("# tiny transformer Lanczos: %d iterations, extremes converged %d, lambda_max %.6g (dense %.6g, residual "
         "%.2g), lambda_min %.6g (dense %.6g, residual %.2g), top-%d converged %d\n",
         r.lanczos.steps, r.extremes_converged, r.lambda_max, eig[P - 1], r.lambda_max_residual, r.lambda_min,
         eig[0], r.lambda_min_residual, r.topk_n, r.topk_converged);
  CHECK(r.lanczos.steps == c.lanczos_steps, "iterations %d", r.lanczos.steps);
  CHECK(r.extremes_converged, "extremes not converged after %d steps (residuals %g, %g)", r.lanczos.steps,
        r.lambda_max_residual, r.lambda_min_residual);
  CHECK(fabs(r.lambda_max - eig[P - 1]) <= DENSE_EXTREME_TOL * rho, "lambda_max %g vs %g", r.lambda_max, eig[P - 1]);
  CHECK(fabs(r.lambda_min - eig[0]) <= DENSE_EXTREME_TOL * rho, "lambda_min %g vs %g", r.lambda_min, eig[0]);
  /* every converged top-k value is one of the dense eigenvalues */
  double dense_top[10];
  lbbt_top_k_by_magnitude(eig, P, 10, dense_top);
  if (r.topk_converged == r.topk_n)
    for (int i = 0; i < r.topk_n; i++)
      CHECK(fabs(r.topk[i] - dense_top[i]) <= DENSE_EXTREME_TOL * rho, "top-k value %d: %g vs %g", i, r.topk[i],
            dense_top[i]);
  double ks = smoothed_ks(r.slq_nodes, r.slq_weights, c.slq_probes * c.slq_steps, eig, P, DENSITY_SMOOTH * rho);
  double m1 = 0, m2 = 0, wsum = 0;
  for (int i = 0; i < c.slq_probes * c.slq_steps; i++) {
    m1 += r.slq_weights[i] * r.slq_nodes[i];
    m2 += r.slq_weights[i] * r.slq_nodes[i] * r.slq_nodes[i];
    wsum += r.slq_weights[i];
  }
  printf("# tiny transformer SLQ: KS %.3g, mean %.5g (dense %.5g), second moment %.5g (dense %.5g), negative mass "
         "%.3f (dense %.3f); trace %.5g +- %.2g\n",
         ks, m1 / wsum, trace / P, m2 / wsum, tr2 / P, r.density_stats.negative_ratio, (double)negatives / P, r.trace,
         r.trace_se);
  CHECK(ks <= DENSITY_KS_TOL, "KS distance %g", ks);
  CHECK_CLOSE(m2 / wsum, tr2 / P, 0, DENSITY_MOMENT_RTOL, "density second moment");
  /* below the threshold -conv_tol rho: the dense count and the SLQ mass agree */
  int below = 0;
  for (int i = 0; i < P; i++) below += eig[i] < -c.conv_tol * fmax(fabs(r.lambda_max), fabs(r.lambda_min));
  printf("# tiny transformer: negative mass beyond -%.2g: SLQ %.3f, dense %.3f\n",
         c.conv_tol * fmax(fabs(r.lambda_max), fabs(r.lambda_min)), r.negative_ratio_density_tol, (double)below / P);
  CHECK(fabs(r.negative_ratio_density_tol - (double)below / P) <= DENSITY_KS_TOL, "thresholded negative mass %g vs %g",
        r.negative_ratio_density_tol, (double)below / P);
  CHECK(fabs(m1 / wsum - trace / P) <= DENSITY_MOMENT_RTOL * sqrt(tr2 / P), "density mean %g vs %g", m1 / wsum,
        trace / P);
  CHECK(fabs(r.trace - trace) <= TRACE_SIGMAS * r.trace_se, "trace %g +- %g vs dense %g", r.trace, r.trace_se, trace);
  lbbt_hessian_report_free(&r);
  lbbt_hvp_free(h);
  lbbt_model_objective_free(mo);
  free(Hd);
  free(e);
  free(col);
  free(eig);
  lbbt_model_free(m);
}

/* ---- the record ------------------------------------------------------------------------------ */
static void report_keys(void) {
  linreg *lr = linreg_create(30, 8, 2, scale_decay);
  double w[8] = {0.1, 0.2, -0.1, 0, 0.3, 0.1, -0.2, 0.05};
  lbbt_hessian_config c;
  lbbt_hessian_config_default(&c);
  c.top_k = 4;
  c.lanczos_steps = 6;
  c.slq_probes = 2;
  c.slq_steps = 4;
  c.trace_probes = 5;
  lbbt_hessian_report r;
  REQUIRE(lbbt_hessian_analyze(&lr->obj, w, &c, NULL, NULL, &r) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_record *rec = NULL;
  REQUIRE(lbbt_record_create(&rec) == LBBT_OK, "record");
  REQUIRE(lbbt_hessian_report_record(&r, &c, "w", rec, "hessian") == LBBT_OK, "%s", lbbt_last_error());
  static const char *keys[] = {
      "hessian/decay_rate_topk", "hessian/decay_rate_density", "hessian/kurtosis_topk", "hessian/kurtosis_density",
      "hessian/trace", "hessian/trace_topk", "hessian/spectral_gap", "hessian/participation_ratio_topk",
      "hessian/participation_ratio_density", "hessian/participation_ratio_global", "hessian/noise_auc",
      "hessian/grad_predictiveness", "hessian/max_param_sensitivity", "hessian/negative_ratio_topk",
      "hessian/negative_ratio_density", "hessian/grad_evals", "hessian/lanczos_iterations",
      "hessian/lanczos_converged", "hessian/ritz", "hessian/density", "hessian/slq_nodes", "hessian/config/hvp_eps"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    CHECK(lbbt_record_find(rec, keys[i]), "missing %s", keys[i]);
  /* a bad configuration is refused before any evaluation */
  c.lanczos_steps = 2;
  lbbt_hessian_report bad;
  CHECK(lbbt_hessian_analyze(&lr->obj, w, &c, NULL, NULL, &bad) == LBBT_E_INPUT, "lanczos_steps < top_k refused");
  CHECK(strstr(lbbt_last_error(), "lanczos_steps"), "message names the field: %s", lbbt_last_error());
  lbbt_record_free(rec);
  lbbt_hessian_report_free(&r);
  linreg_free(lr);
}

TEST_MAIN_BEGIN("test_hessian")
/* The models here are tiny (a few hundred parameters): threads only add synchronisation,
 * which on a busy machine costs a hundred times the work (OpenMP workers spin-wait). */
omp_set_num_threads(1);
TEST_RUN(stats_known_sets);
TEST_RUN(lanczos_breakdown_is_exact);
TEST_RUN(linear_regression_analysis);
TEST_RUN(quadratic_noise_and_predictiveness);
TEST_RUN(hvp_error_study);
TEST_RUN(model_objective_bookkeeping);
TEST_RUN(tiny_transformer_dense);
TEST_RUN(report_keys);
TEST_MAIN_END()
