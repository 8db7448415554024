/* Writing an lbbt_hessian_report into a run record; the keys are listed in
 * docs/analyses.md. */
#include <stdio.h>
#include <stdlib.h>

#include "lbbt/hessian.h"

typedef struct writer {
  lbbt_record *rec;
  const char *prefix;
  lbbt_status st;
} writer;

static const char *key(const writer *w, const char *name, char *buf, size_t n) {
  snprintf(buf, n, "%s/%s", w->prefix, name);
  return buf;
}

static void scalar(writer *w, const char *name, double v) {
  char k[LBBT_RECORD_PATH_MAX];
  if (w->st == LBBT_OK) w->st = lbbt_record_scalar(w->rec, key(w, name, k, sizeof k), v);
}

static void array(writer *w, const char *name, const double *v, int ndim, int64_t d0, int64_t d1) {
  char k[LBBT_RECORD_PATH_MAX];
  if (w->st != LBBT_OK) return;
  int64_t shape[2] = {d0, d1}, n = ndim == 2 ? d0 * d1 : d0;
  float *f = malloc((size_t)(n ? n : 1) * sizeof *f);
  if (!f) {
    w->st = lbbt_fail(LBBT_E_NOMEM, "hessian record: out of memory");
    return;
  }
  for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
  w->st = lbbt_record_array_f32(w->rec, key(w, name, k, sizeof k), ndim, shape, f);
  free(f);
}

static void stats(writer *w, const lbbt_spectrum_stats *s, const char *suffix, int with_gap) {
  char name[64];
#define S(field, label)                               \
  snprintf(name, sizeof name, "%s_%s", label, suffix); \
  scalar(w, name, s->field);
  S(decay_rate, "decay_rate")
  S(decay_points, "decay_points")
  S(kurtosis, "kurtosis")
  S(participation_ratio, "participation_ratio")
  S(negative_ratio, "negative_ratio")
#undef S
  if (with_gap) scalar(w, "spectral_gap", s->spectral_gap);
}

lbbt_status lbbt_hessian_report_record(const lbbt_hessian_report *r,
                                       const lbbt_hessian_config *c, const char *param_name,
                                       lbbt_record *rec, const char *prefix) {
  writer w = {rec, prefix, LBBT_OK};
  scalar(&w, "params", (double)r->dim);
  scalar(&w, "loss", r->loss0);
  scalar(&w, "grad_norm", r->grad_norm);
  scalar(&w, "theta_norm", r->theta_norm);
  /* extremes and the top-k set */
  scalar(&w, "lambda_max", r->lambda_max);
  scalar(&w, "lambda_min", r->lambda_min);
  scalar(&w, "lambda_max_residual", r->lambda_max_residual);
  scalar(&w, "lambda_min_residual", r->lambda_min_residual);
  scalar(&w, "lanczos_iterations", r->lanczos.steps);
  scalar(&w, "lanczos_breakdown", r->lanczos.breakdown);
  scalar(&w, "lanczos_converged", r->extremes_converged);
  scalar(&w, "topk_n", r->topk_n);
  scalar(&w, "topk_converged", r->topk_converged);
  stats(&w, &r->topk_stats, "topk", 1);
  scalar(&w, "trace_topk", r->trace_topk);
  array(&w, "ritz", r->lanczos.ritz, 1, r->lanczos.steps, 0);
  array(&w, "ritz_residual", r->lanczos.residual, 1, r->lanczos.steps, 0);
  array(&w, "topk", r->topk, 1, r->topk_n, 0);
  scalar(&w, "hvp_eps", r->hvp_eps);
  scalar(&w, "hvp_eps_auto", r->hvp_eps_auto);
  if (r->hvp_eps_auto) {
    array(&w, "hvp_ladder_eps", r->hvp_ladder_eps, 1, LBBT_HVP_LADDER, 0);
    array(&w, "hvp_ladder_rayleigh", r->hvp_ladder_q, 1, LBBT_HVP_LADDER, 0);
    array(&w, "hvp_ladder_change", r->hvp_ladder_change, 1, LBBT_HVP_LADDER, 0);
  }
  array(&w, "hvp_check_eps", r->hvp_check_eps, 1, 3, 0);
  array(&w, "hvp_check_rayleigh", r->hvp_check_rayleigh, 1, 3, 0);
  scalar(&w, "hvp_check_spread", r->hvp_check_spread);
  /* density */
  stats(&w, &r->density_stats, "density", 0);
  scalar(&w, "negative_ratio_density_tol", r->negative_ratio_density_tol);
  array(&w, "slq_nodes", r->slq_nodes, 2, r->slq_probes, r->slq_steps);
  array(&w, "slq_weights", r->slq_weights, 2, r->slq_probes, r->slq_steps);
  array(&w, "density_grid", r->density_grid, 1, c->density_points, 0);
  array(&w, "density", r->density, 1, c->density_points, 0);
  scalar(&w, "density_sigma_abs", r->density_sigma_abs);
  /* Hutchinson */
  scalar(&w, "trace", r->trace);
  scalar(&w, "trace_se", r->trace_se);
  scalar(&w, "trace_samples", r->trace_samples);
  scalar(&w, "trace_h2", r->trace_h2);
  scalar(&w, "trace_h2_se", r->trace_h2_se);
  scalar(&w, "participation_ratio_global", r->participation_global);
  /* the other metrics */
  scalar(&w, "noise_auc", r->noise_auc);
  array(&w, "noise_sigma", r->noise_sigma, 1, c->noise_steps + 1, 0);
  array(&w, "noise_dloss", r->noise_dloss, 1, c->noise_steps + 1, 0);
  scalar(&w, "grad_predictiveness", r->grad_predictiveness);
  array(&w, "predict_eta", r->predict_eta, 1, c->predict_steps, 0);
  array(&w, "predict_ratio", r->predict_ratio, 1, c->predict_steps, 0);
  scalar(&w, "max_param_sensitivity", r->max_param_sensitivity);
  scalar(&w, "max_param_sensitivity_index", (double)r->max_param_sensitivity_index);
  scalar(&w, "max_abs_grad", r->max_abs_grad);
  if (param_name && w.st == LBBT_OK) {
    char k[LBBT_RECORD_PATH_MAX];
    w.st = lbbt_record_string(rec, key(&w, "max_param_sensitivity_param", k, sizeof k), param_name);
  }
  /* cost and settings */
  scalar(&w, "grad_evals", (double)r->grad_evals);
  scalar(&w, "loss_evals", (double)r->loss_evals);
  scalar(&w, "seconds", r->seconds);
  scalar(&w, "config/top_k", c->top_k);
  scalar(&w, "config/lanczos_steps", c->lanczos_steps);
  scalar(&w, "config/conv_tol", c->conv_tol);
  scalar(&w, "config/slq_probes", c->slq_probes);
  scalar(&w, "config/slq_steps", c->slq_steps);
  scalar(&w, "config/trace_probes", c->trace_probes);
  scalar(&w, "config/trace_rtol", c->trace_rtol);
  scalar(&w, "config/density_sigma", c->density_sigma);
  scalar(&w, "config/noise_max", c->noise_max);
  scalar(&w, "config/noise_steps", c->noise_steps);
  scalar(&w, "config/noise_draws", c->noise_draws);
  scalar(&w, "config/predict_min", c->predict_min);
  scalar(&w, "config/predict_max", c->predict_max);
  scalar(&w, "config/predict_steps", c->predict_steps);
  scalar(&w, "config/hvp_eps", c->hvp_eps);
  if (w.st == LBBT_OK) { /* as text: a 64-bit seed does not fit a double exactly */
    char k[LBBT_RECORD_PATH_MAX], v[32];
    snprintf(v, sizeof v, "%llu", (unsigned long long)c->seed);
    w.st = lbbt_record_string(rec, key(&w, "config/seed", k, sizeof k), v);
  }
  return w.st;
}
