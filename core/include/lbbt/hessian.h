/* Hessian spectra of a loss (Table 15 of the paper): Hessian-vector products, Lanczos with
 * full reorthogonalisation, stochastic Lanczos quadrature (SLQ), Hutchinson traces, and the
 * nine Table 15 metrics.  docs/analyses.md states every definition and its source.
 *
 * Pieces, each usable alone:
 *  - lbbt_linop: a symmetric operator v -> Av on R^n (the Hessian, or an explicit matrix).
 *  - lbbt_hvp: Hv by central differences of gradients of an lbbt_objective (objective.h):
 *        Hv ~ ||v|| (g(theta0 + eps u) - g(theta0 - eps u)) / (2 eps),   u = v / ||v||
 *    so eps is the length of the step along the unit direction (chosen per analysis by
 *    lbbt_hvp_choose_eps unless fixed).  2 gradient evaluations each.
 *  - lbbt_lanczos: m steps from a start vector, reorthogonalising every new vector against
 *    all previous ones (classical Gram-Schmidt, twice), so it stores m vectors of n doubles:
 *    memory O(n m).  The tridiagonal T is diagonalised with GSL (gsl_eigen_symmv); its
 *    eigenvalues are the Ritz values, the squared first components of its eigenvectors the
 *    Gauss quadrature weights, and |beta_m s_{m,i}| the residual norm ||A y_i - theta_i y_i||
 *    of Ritz pair i (exact in exact arithmetic; used as the convergence test).
 *  - lbbt_spectrum_stats: the statistics of a set of eigenvalues (equal weights) or of a
 *    weighted spectral measure (SLQ).
 *  - lbbt_hessian_analyze: everything Table 15 reports, for one objective at one point. */
#ifndef LBBT_HESSIAN_H
#define LBBT_HESSIAN_H
#include <stdint.h>

#include "lbbt/objective.h"
#include "lbbt/results.h"

/* ---- operators ------------------------------------------------------------------------ */
typedef struct lbbt_linop lbbt_linop;
typedef lbbt_status (*lbbt_linop_fn)(lbbt_linop *op, const double *v, double *out);
struct lbbt_linop {
  int64_t n;
  lbbt_linop_fn apply; /* out = A v; v and out do not overlap */
  void *user;
  int64_t n_applies;   /* counted by lbbt_linop_apply */
};
LBBT_API lbbt_status lbbt_linop_apply(lbbt_linop *op, const double *v, double *out);

/* ---- Hessian-vector products by central differences ----------------------------------- */
/* The step eps.  No single value suits every model: with f32 gradients the rounding error of
 * Hv grows like 1/eps and the truncation error like eps^2 times the third derivatives, which
 * differ by orders of magnitude between models.  Measured (tests/unit/test_hessian.c and
 * docs/analyses.md): softmax regression is most accurate near eps 1e-2 (3.5e-3 relative
 * error at 1e-4); stories260K with language weights has y'Hy = 144.6 on its top eigenvector
 * flat from eps 3e-5 to 3e-4 but 144.1 at 1e-3, 139.9 at 3e-3 and 107.6 at 1e-2.  So by
 * default each analysis chooses eps itself (lbbt_hvp_choose_eps): along an estimate of the
 * top eigenvector (where truncation matters most), the product on a ladder of steps from
 * 1e-5 to 1e-2, and the step where it changes least. */
#define LBBT_HVP_LADDER 7          /* steps 1e-5, 10^-4.5, ..., 1e-2 */
#define LBBT_HVP_EPS_PROBE 1e-4    /* step of the 4 Lanczos products that find the direction */
/* *eps = the ladder step k (1 <= k <= 5) minimising change[k] = ||Hy(eps[k+1]) -
 * Hy(eps[k-1])|| / ||Hy(eps[k])|| (ties: the larger step), for y the top Ritz vector of 4
 * Lanczos steps from a Gaussian vector of stream (seed, "eps-probe"): the step where the
 * product is least sensitive to the step.  ladder_eps, ladder_q (y'Hy) and ladder_change
 * (NaN at both ends) [LBBT_HVP_LADDER] receive the ladder; memory LBBT_HVP_LADDER vectors.
 * Cost: 2 (4 + LBBT_HVP_LADDER) = 22 gradient evaluations. */
LBBT_API lbbt_status lbbt_hvp_choose_eps(lbbt_objective *obj, const double *theta0, uint64_t seed,
                                double *eps, double *ladder_eps, double *ladder_q,
                                double *ladder_change);
typedef struct lbbt_hvp lbbt_hvp;
/* theta0 [obj->n] is copied; obj is borrowed.  eps > 0. */
LBBT_API lbbt_status lbbt_hvp_create(lbbt_objective *obj, const double *theta0, double eps,
                            lbbt_hvp **out);
LBBT_API void lbbt_hvp_free(lbbt_hvp *h);
LBBT_API lbbt_linop *lbbt_hvp_linop(lbbt_hvp *h); /* owned by h */

/* ---- Lanczos -------------------------------------------------------------------------- */
typedef struct lbbt_lanczos_result {
  int steps;         /* iterations done: m, or fewer after a breakdown */
  int breakdown;     /* 1: beta vanished (the Krylov space is invariant: the Ritz values are
                        exact eigenvalues of A, residuals 0) */
  double start_norm; /* ||v0|| */
  double *alpha;     /* [steps] diagonal of T */
  double *beta;      /* [steps] off-diagonal; beta[steps-1] is the residual factor beta_m */
  double *ritz;      /* [steps] Ritz values, ascending */
  double *weights;   /* [steps] quadrature weights (sum 1) */
  double *residual;  /* [steps] residual norms of the Ritz pairs */
  double *y_min, *y_max; /* [n] unit Ritz vectors of the smallest and largest Ritz values */
} lbbt_lanczos_result;
/* m >= 1 steps of Lanczos on op from v0 [op->n] (nonzero).  m > n is reduced to n.  *out is
 * filled (arrays owned by it; lbbt_lanczos_result_free). */
LBBT_API lbbt_status lbbt_lanczos(lbbt_linop *op, const double *v0, int m, lbbt_lanczos_result *out);
LBBT_API void lbbt_lanczos_result_free(lbbt_lanczos_result *r);
/* Eigen-decomposition of the symmetric tridiagonal (alpha [k], beta [k-1]) with GSL:
 * eigenvalues ascending into vals [k], squared first eigenvector components into w0 [k],
 * absolute last components into wl [k], and the eigenvectors of the smallest and largest
 * eigenvalues into s_min [k] and s_max [k] (each output but vals may be NULL). */
LBBT_API lbbt_status lbbt_tridiag_eigen(const double *alpha, const double *beta, int k, double *vals,
                               double *w0, double *wl, double *s_min, double *s_max);

/* ---- statistics of a spectrum --------------------------------------------------------- */
typedef struct lbbt_spectrum_stats {
  double decay_rate;          /* least-squares slope of log(lambda) vs log(rank), positive
                                 values only; NaN when fewer than 2 */
  int decay_points;           /* how many values the slope used */
  double kurtosis;            /* excess kurtosis m4 / m2^2 - 3 (central moments); NaN when
                                 m2 == 0 */
  double participation_ratio; /* (sum w l)^2 / (sum w l^2) with weights summing to 1, i.e.
                                 (sum l)^2 / (k sum l^2) for a set of k values */
  double negative_ratio;      /* weight of the values < 0 */
  double spectral_gap;        /* largest minus second largest value (sets only; NaN for a
                                 density or fewer than 2 values) */
} lbbt_spectrum_stats;
/* A set of n equally weighted values (the top-k Ritz values). */
LBBT_API void lbbt_spectrum_stats_set(const double *vals, int n, lbbt_spectrum_stats *out);
/* A discrete spectral measure: nodes [n] with weights [n] (>= 0, sum > 0; normalised here)
 * standing for the eigenvalues of a dim x dim matrix.  The decay rate ranks node j at
 * r_j = dim * (weight strictly above it + w_j / 2) + 1/2, which for dim point masses of
 * 1/dim is their rank 1, 2, ...; spectral_gap is NaN. */
LBBT_API void lbbt_spectrum_stats_density(const double *nodes, const double *weights, int n, int64_t dim,
                                 lbbt_spectrum_stats *out);
/* The top-k set: the k values of largest magnitude among vals [n] (ties: the larger value
 * first), sorted descending by value, into out [min(k, n)]; returns how many. */
LBBT_API int lbbt_top_k_by_magnitude(const double *vals, int n, int k, double *out);

/* ---- probes --------------------------------------------------------------------------- */
/* Rademacher vector (entries +-1) number `index` of stream (seed, purpose). */
LBBT_API void lbbt_rademacher(uint64_t seed, const char *purpose, uint64_t index, double *v, int64_t n);

/* ---- the whole analysis --------------------------------------------------------------- */
typedef struct lbbt_hessian_config {
  int top_k;            /* size of the top-k set (20: see docs/analyses.md) */
  int lanczos_steps;    /* Lanczos iterations for the extremes, >= top_k (default 2 top_k) */
  double conv_tol;      /* Ritz pair converged when residual <= conv_tol * max |ritz| */
  int slq_probes;       /* SLQ Rademacher probes */
  int slq_steps;        /* Lanczos steps per SLQ probe */
  int trace_probes;     /* most Hutchinson probes besides the SLQ ones (1 HVP each) */
  double trace_rtol;    /* stop adding probes once standard error <= trace_rtol |trace| */
  int density_points;   /* grid points of the smoothed density */
  double density_sigma; /* Gaussian kernel width, fraction of (lambda_max - lambda_min) */
  double noise_max;     /* largest relative weight noise sigma */
  int noise_steps;      /* sigma grid: noise_max * s / noise_steps, s = 0..noise_steps */
  int noise_draws;      /* noise vectors averaged per sigma (the same ones for every sigma) */
  double predict_min, predict_max; /* gradient predictiveness step lengths, as fractions of
                                      ||theta0||, geometric grid of predict_steps points */
  int predict_steps;
  double hvp_eps;       /* central-difference step; 0 (default): lbbt_hvp_choose_eps */
  uint64_t seed;        /* every random vector derives from it */
} lbbt_hessian_config;
LBBT_API void lbbt_hessian_config_default(lbbt_hessian_config *c);
/* LBBT_E_INPUT naming the first bad field. */
LBBT_API lbbt_status lbbt_hessian_config_check(const lbbt_hessian_config *c);

typedef struct lbbt_hessian_report {
  int64_t dim;                    /* P */
  double loss0, grad_norm, theta_norm;
  /* extremes: one Lanczos run from a Gaussian start vector */
  lbbt_lanczos_result lanczos;
  int topk_n;                     /* values in the top-k set (top_k, or fewer Ritz values) */
  double *topk;                   /* [topk_n] descending by value */
  int topk_converged;             /* how many of them pass the residual test */
  int extremes_converged;         /* 1 when lambda_max and lambda_min both pass it */
  double lambda_max, lambda_min, lambda_max_residual, lambda_min_residual;
  lbbt_spectrum_stats topk_stats; /* + spectral_gap of the two largest Ritz values */
  /* the step: chosen (ladder filled) or fixed by the configuration (ladder zero) */
  double hvp_eps;
  int hvp_eps_auto;
  double hvp_ladder_eps[LBBT_HVP_LADDER], hvp_ladder_q[LBBT_HVP_LADDER];
  double hvp_ladder_change[LBBT_HVP_LADDER];
  /* finite-difference check: y'Hy for the top Ritz vector y with steps eps/4, eps, 4 eps */
  double hvp_check_eps[3], hvp_check_rayleigh[3];
  double hvp_check_spread;        /* (max - min of the three) / |lambda_max| */
  /* density: SLQ */
  int slq_probes, slq_steps;
  double *slq_nodes, *slq_weights; /* [slq_probes * slq_steps]; weights 0 pad a probe that
                                      broke down early; weights of a probe sum to 1 */
  int *slq_probe_steps;            /* [slq_probes] */
  double *density_grid, *density;  /* [density_points]: Gaussian-smoothed SLQ density */
  double density_sigma_abs;
  lbbt_spectrum_stats density_stats;
  double negative_ratio_density_tol; /* mass of nodes below -conv_tol * max(|lambda_max|,
                                        |lambda_min|): the near-zero bulk, whose sign is
                                        rounding, counts as neither */
  /* Hutchinson, pooled over the SLQ probes and the extra trace probes */
  int trace_samples;
  double trace, trace_se;          /* tr H and its standard error */
  double trace_h2, trace_h2_se;    /* tr H^2 = E ||Hv||^2 */
  double participation_global;     /* tr(H)^2 / (P tr(H^2)) */
  double trace_topk;               /* sum of the top-k set */
  /* noise sensitivity */
  double *noise_sigma, *noise_dloss; /* [noise_steps + 1] mean loss increase per sigma */
  double noise_auc;
  /* gradient predictiveness */
  double *predict_eta, *predict_ratio; /* [predict_steps] step length, ||g0 - g1|| / ||g0|| */
  double grad_predictiveness;          /* max of predict_ratio */
  /* sensitivity */
  double max_param_sensitivity;   /* max_i |theta_i g_i| */
  int64_t max_param_sensitivity_index;
  double max_abs_grad;            /* max_i |g_i| */
  /* cost */
  int64_t grad_evals, loss_evals;
  double seconds;
} lbbt_hessian_report;

/* Called between phases and every few HVPs: what ("lanczos", "slq", ...), done, total. */
typedef void (*lbbt_hessian_progress_fn)(void *user, const char *what, int done, int total);
/* Everything above for obj at theta0 [obj->n] (copied).  The objective's counters give the
 * cost.  On failure *out is freed and zeroed. */
LBBT_API lbbt_status lbbt_hessian_analyze(lbbt_objective *obj, const double *theta0,
                                 const lbbt_hessian_config *cfg, lbbt_hessian_progress_fn progress,
                                 void *progress_user, lbbt_hessian_report *out);
LBBT_API void lbbt_hessian_report_free(lbbt_hessian_report *r);
/* Write the report (scalars and arrays) and the configuration under "<prefix>/..." of rec;
 * docs/analyses.md lists the keys.  param_name: the parameter holding
 * max_param_sensitivity_index (NULL: not written). */
LBBT_API lbbt_status lbbt_hessian_report_record(const lbbt_hessian_report *r,
                                       const lbbt_hessian_config *cfg, const char *param_name,
                                       lbbt_record *rec, const char *prefix);

/* The building blocks of the non-spectral metrics (also used by lbbt_hessian_analyze). */
/* Mean loss increase under multiplicative Gaussian noise theta0 + sigma * z (.) |theta0|,
 * z ~ N(0, I) from stream (seed, "noise-sensitivity", d), d < draws, the same z for every
 * sigma; sigma_s = sigma_max s / steps.  dloss [steps + 1] (dloss[0] = 0); returns the
 * trapezoid area under dloss(sigma) divided by sigma_max in *auc. */
LBBT_API lbbt_status lbbt_noise_sensitivity(lbbt_objective *obj, const double *theta0, double loss0,
                                   double sigma_max, int steps, int draws, uint64_t seed,
                                   double *sigma, double *dloss, double *auc);
/* ratio[i] = ||g0 - g(theta0 - eta_i g0/||g0||)|| / ||g0|| for the given step lengths. */
LBBT_API lbbt_status lbbt_gradient_predictiveness(lbbt_objective *obj, const double *theta0,
                                         const double *g0, const double *eta, int n,
                                         double *ratio);

#endif
