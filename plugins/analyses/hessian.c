/* Analysis plugin `hessian` (Table 15): the Hessian spectrum of the training loss on a fixed,
 * recorded batch, at the model's current weights.
 *
 * Stage keys it reads: batch_size (images in the Hessian batch), labels and label_ratio (the
 * loss's labels: true, or random by the classification task's own rule), and options:
 *   params          all | blocks      parameters the Hessian is taken over (default all)
 *   top_k           20                size of the top-k eigenvalue set
 *   lanczos_steps   2 top_k           Lanczos iterations for the extremes
 *   conv_tol        1e-2              Ritz residual / max |Ritz value| counted as converged
 *   slq_probes      4, slq_steps 30   stochastic Lanczos quadrature for the density
 *   trace_probes    100               extra Hutchinson probes (stop early at trace_rtol)
 *   trace_rtol      1e-3              relative standard error that ends the trace probes
 *   density_points  256, density_sigma 0.01   the smoothed density written out
 *   noise_max 0.05, noise_steps 10, noise_draws 4     noise-sensitivity AUC
 *   predict_min 1e-4, predict_max 1e-2, predict_steps 5  gradient predictiveness steps (x ||theta||)
 *   hvp_eps         0 (choose)        finite-difference step of Hessian-vector products
 *   seed            the run seed      batch choice and every random vector
 *   chunk           64                images per forward pass (memory only)
 *   label_stage     this stage        the classification stage whose random labels to reuse
 * Every metric is written under "<stage>/" (docs/analyses.md lists the keys and definitions);
 * the model's weights are left exactly as they were. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/fixed_batch.h"
#include "lbbt/hessian.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"

#define PLUGIN_NAME "hessian"

/* ---- options ---------------------------------------------------------------------------- */
typedef enum { OPT_INT, OPT_NUMBER, OPT_PARAMS, OPT_SEED, OPT_NAME } opt_type;
typedef struct option_decl {
  const char *key;
  opt_type type;
  double min, max; /* OPT_INT / OPT_NUMBER: inclusive range */
  const char *meaning;
} option_decl;

static const option_decl OPTIONS[] = {
    {"params", OPT_PARAMS, 0, 0, "all | blocks: the parameters the Hessian is taken over"},
    {"top_k", OPT_INT, 1, 10000, "size of the top-k eigenvalue set"},
    {"lanczos_steps", OPT_INT, 1, 100000, "Lanczos iterations for the extreme eigenvalues"},
    {"conv_tol", OPT_NUMBER, 1e-16, 1, "Ritz residual / max |Ritz value| that counts as converged"},
    {"slq_probes", OPT_INT, 1, 100000, "stochastic Lanczos quadrature probes"},
    {"slq_steps", OPT_INT, 1, 100000, "Lanczos steps per SLQ probe"},
    {"trace_probes", OPT_INT, 0, 1000000, "extra Hutchinson probes"},
    {"trace_rtol", OPT_NUMBER, 0, 1, "relative standard error that stops the Hutchinson probes"},
    {"density_points", OPT_INT, 2, 1000000, "points of the smoothed density"},
    {"density_sigma", OPT_NUMBER, 1e-12, 1, "density kernel width, fraction of the spectrum's range"},
    {"noise_max", OPT_NUMBER, 1e-12, 10, "largest relative weight-noise level"},
    {"noise_steps", OPT_INT, 1, 100000, "noise levels after 0"},
    {"noise_draws", OPT_INT, 1, 100000, "noise vectors per level"},
    {"predict_min", OPT_NUMBER, 1e-12, 10, "smallest predictiveness step, times ||theta||"},
    {"predict_max", OPT_NUMBER, 1e-12, 10, "largest predictiveness step, times ||theta||"},
    {"predict_steps", OPT_INT, 1, 1000, "predictiveness step lengths"},
    {"hvp_eps", OPT_NUMBER, 0, 1, "finite-difference step of Hessian-vector products (0: choose per run)"},
    {"seed", OPT_SEED, 0, 0, "seed of the batch choice and random vectors (default: the run seed)"},
    {"chunk", OPT_INT, 1, 1 << 20, "images per forward pass"},
    {"label_stage", OPT_NAME, 0, 0, "stage whose random labels to reuse (default: this stage)"},
};
static const int N_OPTIONS = (int)(sizeof OPTIONS / sizeof OPTIONS[0]);

static const option_decl *find_option(const char *key) {
  for (int i = 0; i < N_OPTIONS; i++)
    if (!strcmp(OPTIONS[i].key, key)) return &OPTIONS[i];
  return NULL;
}

/* NULL when fine, else what was expected (into buf). */
static const char *check_value(const option_decl *d, const char *v, char *buf, size_t n) {
  char *end;
  errno = 0;
  switch (d->type) {
  case OPT_INT: {
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < d->min || x > d->max) {
      snprintf(buf, n, "a whole number from %.0f to %.0f", d->min, d->max);
      return buf;
    }
    return NULL;
  }
  case OPT_NUMBER: {
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x >= d->min && x <= d->max)) {
      snprintf(buf, n, "a number from %g to %g", d->min, d->max);
      return buf;
    }
    return NULL;
  }
  case OPT_SEED: {
    strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') return "a non-negative whole number";
    return NULL;
  }
  case OPT_PARAMS: {
    lbbt_obj_params p;
    if (lbbt_obj_params_parse(v, &p) != LBBT_OK) return "all or blocks";
    return NULL;
  }
  case OPT_NAME:
    return *v ? NULL : "a stage name";
  }
  return "a valid value";
}

static lbbt_status validate(const lbbt_stage_spec *stage, const char *file) {
  for (int i = 0; i < stage->n_options; i++) {
    const lbbt_option *o = &stage->options[i];
    const option_decl *d = find_option(o->key);
    if (!d) {
      char valid[512] = "";
      for (int k = 0; k < N_OPTIONS; k++) {
        strncat(valid, k ? ", " : "", sizeof valid - strlen(valid) - 1);
        strncat(valid, OPTIONS[k].key, sizeof valid - strlen(valid) - 1);
      }
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': analysis '%s' has no option '%s' (valid: %s)", file,
                       o->line, o->col, stage->name, PLUGIN_NAME, o->key, valid);
    }
    char buf[96];
    const char *want = check_value(d, o->value, buf, sizeof buf);
    if (want)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': option '%s' is '%s', expected %s (%s)", file,
                       o->line, o->col, stage->name, o->key, o->value, want, d->meaning);
  }
  const lbbt_option *k = lbbt_option_find(stage->options, stage->n_options, "top_k");
  const lbbt_option *m = lbbt_option_find(stage->options, stage->n_options, "lanczos_steps");
  if (m && atoi(m->value) < (k ? atoi(k->value) : 20))
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': lanczos_steps %s is below top_k %s: the top-k set "
                     "is taken from the Ritz values", file, m->line, m->col, stage->name, m->value,
                     k ? k->value : "20 (default)");
  return LBBT_OK;
}

static const char *opt(const lbbt_stage_spec *s, const char *key) {
  const lbbt_option *o = lbbt_option_find(s->options, s->n_options, key);
  return o ? o->value : NULL;
}
static int opt_int(const lbbt_stage_spec *s, const char *key, int def) {
  const char *v = opt(s, key);
  return v ? atoi(v) : def;
}
static double opt_num(const lbbt_stage_spec *s, const char *key, double def) {
  const char *v = opt(s, key);
  return v ? strtod(v, NULL) : def;
}

/* ---- run -------------------------------------------------------------------------------- */
typedef struct progress_state {
  lbbt_stage_ctx *ctx;
  const char *last;
  int every;
} progress_state;

static void on_progress(void *user, const char *what, int done, int total) {
  progress_state *p = user;
  if (p->last != what || done == total || (p->every && done % p->every == 0))
    lbbt_progress_log(p->ctx->progress, "run %d/%d stage %s: %s %d/%d", p->ctx->run_index + 1, p->ctx->n_runs,
                      p->ctx->stage->name, what, done, total);
  p->last = what;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  const lbbt_stage_spec *s = ctx->stage;
  char key[300];
  lbbt_obj_params which = LBBT_OBJ_PARAMS_ALL;
  if (opt(s, "params")) LBBT_TRY(lbbt_obj_params_parse(opt(s, "params"), &which));
  uint64_t seed = opt(s, "seed") ? strtoull(opt(s, "seed"), NULL, 10) : ctx->run->seed;
  const char *label_stage = opt(s, "label_stage") ? opt(s, "label_stage") : s->name;
  lbbt_hessian_config cfg;
  lbbt_hessian_config_default(&cfg);
  cfg.top_k = opt_int(s, "top_k", cfg.top_k);
  cfg.lanczos_steps = opt_int(s, "lanczos_steps", 2 * cfg.top_k);
  cfg.conv_tol = opt_num(s, "conv_tol", cfg.conv_tol);
  cfg.slq_probes = opt_int(s, "slq_probes", cfg.slq_probes);
  cfg.slq_steps = opt_int(s, "slq_steps", cfg.slq_steps);
  cfg.trace_probes = opt_int(s, "trace_probes", cfg.trace_probes);
  cfg.trace_rtol = opt_num(s, "trace_rtol", cfg.trace_rtol);
  cfg.density_points = opt_int(s, "density_points", cfg.density_points);
  cfg.density_sigma = opt_num(s, "density_sigma", cfg.density_sigma);
  cfg.noise_max = opt_num(s, "noise_max", cfg.noise_max);
  cfg.noise_steps = opt_int(s, "noise_steps", cfg.noise_steps);
  cfg.noise_draws = opt_int(s, "noise_draws", cfg.noise_draws);
  cfg.predict_min = opt_num(s, "predict_min", cfg.predict_min);
  cfg.predict_max = opt_num(s, "predict_max", cfg.predict_max);
  cfg.predict_steps = opt_int(s, "predict_steps", cfg.predict_steps);
  cfg.hvp_eps = opt_num(s, "hvp_eps", cfg.hvp_eps);
  cfg.seed = seed;
  LBBT_TRY(lbbt_hessian_config_check(&cfg));

  lbbt_fixed_batch *batch = NULL;
  LBBT_TRY(lbbt_fixed_batch_create(ctx->train, s->batch_size, s->labels, s->label_ratio,
                                   lbbt_label_seed(ctx->run->seed, label_stage), seed, &batch));
  lbbt_model_objective *mo = NULL;
  lbbt_hessian_report rep;
  memset(&rep, 0, sizeof rep);
  lbbt_status st = lbbt_model_objective_create(ctx->model, batch->images, batch->labels, batch->n,
                                               batch->channels, batch->height, batch->width,
                                               opt_int(s, "chunk", 64), which, &mo);
  if (st != LBBT_OK) goto done;
  lbbt_objective *obj = lbbt_model_objective_base(mo);
  lbbt_progress_log(ctx->progress,
                    "run %d/%d stage %s: Hessian over %lld parameters (%s) on %lld images, %s labels; top-%d "
                    "from %d Lanczos steps, SLQ %d x %d, up to %d trace probes",
                    ctx->run_index + 1, ctx->n_runs, s->name, (long long)obj->n, lbbt_obj_params_name(which),
                    (long long)batch->n, s->labels == LBBT_LABELS_RANDOM ? "random" : "true", cfg.top_k,
                    cfg.lanczos_steps, cfg.slq_probes, cfg.slq_steps, cfg.trace_probes);
  progress_state ps = {ctx, NULL, 10};
  st = lbbt_hessian_analyze(obj, lbbt_model_objective_theta0(mo), &cfg, on_progress, &ps, &rep);
  if (st != LBBT_OK) goto done;
  int nseg;
  const lbbt_param_segment *segs = lbbt_model_objective_segments(mo, &nseg);
  const lbbt_param_segment *hot = lbbt_param_segment_at(segs, nseg, rep.max_param_sensitivity_index);
  char prefix[LBBT_NAME_MAX + 1];
  snprintf(prefix, sizeof prefix, "%s", s->name);
  st = lbbt_hessian_report_record(&rep, &cfg, hot ? hot->name : NULL, ctx->record, prefix);
  int64_t shape[1] = {batch->n};
  if (st == LBBT_OK)
    st = lbbt_record_array_i32(ctx->record, lbbt_stage_key(ctx, "batch_indices", key, sizeof key), 1, shape,
                               batch->indices);
  if (st == LBBT_OK)
    st = lbbt_record_string(ctx->record, lbbt_stage_key(ctx, "label_mode", key, sizeof key),
                            s->labels == LBBT_LABELS_RANDOM ? "random" : "true");
  if (st == LBBT_OK)
    st = lbbt_record_scalar(ctx->record, lbbt_stage_key(ctx, "labels_changed", key, sizeof key),
                            (double)batch->n_changed);
  if (st == LBBT_OK)
    st = lbbt_record_string(ctx->record, lbbt_stage_key(ctx, "param_set", key, sizeof key),
                            lbbt_obj_params_name(which));
  if (st == LBBT_OK)
    st = lbbt_record_string(ctx->record, lbbt_stage_key(ctx, "label_stage", key, sizeof key), label_stage);
  if (st == LBBT_OK)
    lbbt_progress_log(ctx->progress,
                      "run %d/%d stage %s: lambda max %.4g min %.4g (%d Lanczos steps, extremes %sconverged, top-%d "
                      "%d converged), trace %.4g +- %.2g, %lld gradient evaluations in %.0f s",
                      ctx->run_index + 1, ctx->n_runs, s->name, rep.lambda_max, rep.lambda_min, rep.lanczos.steps,
                      rep.extremes_converged ? "" : "NOT ", rep.topk_n, rep.topk_converged, rep.trace, rep.trace_se,
                      (long long)rep.grad_evals, rep.seconds);
done:
  lbbt_hessian_report_free(&rep);
  lbbt_model_objective_free(mo); /* puts the weights and their flags back */
  lbbt_fixed_batch_free(batch);
  return st;
}

static const lbbt_analysis_ops OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = validate,
    .run = run,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_ANALYSIS,
    .name = PLUGIN_NAME,
    .summary = "Hessian spectrum of the training loss (Lanczos, SLQ density, Hutchinson trace): Table 15 metrics",
    .task = &OPS,
};
