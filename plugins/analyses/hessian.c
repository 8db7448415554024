/* Analysis plugin `hessian` (Table 15): the Hessian spectrum of the training loss on a fixed,
 * recorded batch, at the model's current weights.
 *
 * Stage keys it reads: batch_size (images in the Hessian batch), and its own (typed, see
 * KEYS; labels and label_ratio: the loss's labels, true or random by the classification
 * task's own rule):
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
typedef struct hessian_options {
  int labels; /* lbbt_label_mode */
  double label_ratio;
  char params[16];
  int top_k, lanczos_steps;
  double conv_tol;
  int slq_probes, slq_steps, trace_probes;
  double trace_rtol;
  int density_points;
  double density_sigma, noise_max;
  int noise_steps, noise_draws;
  double predict_min, predict_max;
  int predict_steps;
  double hvp_eps;
  uint64_t seed;
  int chunk;
  char label_stage[LBBT_NAME_MAX];
} hessian_options;

#define O hessian_options
#define INT(f, d, lo, hi, text) \
  {.name = #f, .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, f), .def = d, LBBT_KEY_RANGE(lo, hi), .doc = text}
#define NUM(f, d, lo, hi, text) \
  {.name = #f, .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, f), .def = d, LBBT_KEY_RANGE(lo, hi), .doc = text}
static const char *const LABEL_NAMES[] = {"true", "random"};
static const char *const PARAMS_NAMES[] = {"all", "blocks"};
static const lbbt_key KEYS[] = {
    {.name = "labels", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(O, labels), .def = "true", LBBT_KEY_NAMES(LABEL_NAMES),
     .doc = "the loss's labels: true, or random by the classification task's rule (see label_stage)"},
    NUM(label_ratio, "1.0", 0, 1, "fraction of labels replaced by random ones when labels is random"),
    {.name = "params", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, params), .def = "all",
     LBBT_KEY_NAMES(PARAMS_NAMES), .doc = "the parameters the Hessian is taken over"},
    INT(top_k, "20", 1, 10000, "size of the top-k eigenvalue set"),
    INT(lanczos_steps, "0", 0, 100000, "Lanczos iterations for the extreme eigenvalues; 0 = 2 top_k"),
    NUM(conv_tol, "0.01", 1e-16, 1, "Ritz residual / max |Ritz value| that counts as converged"),
    INT(slq_probes, "4", 1, 100000, "stochastic Lanczos quadrature probes"),
    INT(slq_steps, "30", 1, 100000, "Lanczos steps per SLQ probe"),
    INT(trace_probes, "100", 0, 1000000, "extra Hutchinson probes"),
    NUM(trace_rtol, "0.001", 0, 1, "relative standard error that stops the Hutchinson probes"),
    INT(density_points, "256", 2, 1000000, "points of the smoothed density"),
    NUM(density_sigma, "0.01", 1e-12, 1, "density kernel width, fraction of the spectrum's range"),
    NUM(noise_max, "0.05", 1e-12, 10, "largest relative weight-noise level"),
    INT(noise_steps, "10", 1, 100000, "noise levels after 0"),
    INT(noise_draws, "4", 1, 100000, "noise vectors per level"),
    NUM(predict_min, "1e-4", 1e-12, 10, "smallest predictiveness step, times ||theta||"),
    NUM(predict_max, "0.01", 1e-12, 10, "largest predictiveness step, times ||theta||"),
    INT(predict_steps, "5", 1, 1000, "predictiveness step lengths"),
    NUM(hvp_eps, "0", 0, 1, "finite-difference step of Hessian-vector products (0: choose per run)"),
    {.name = "seed", .type = LBBT_KEY_SEED, LBBT_KEY_FIELD(O, seed), .def = "0",
     .doc = "seed of the batch choice and random vectors (not written: the run seed)"},
    INT(chunk, "64", 1, 1 << 20, "images per forward pass (memory only)"),
    {.name = "label_stage", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, label_stage), .def = "",
     .flags = LBBT_KEY_IDENT, .doc = "stage whose random labels to reuse (\"\" = this stage)"},
};
#undef INT
#undef NUM
#undef O
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(hessian_options, KEYS, "The loss's labels and the spectrum estimators' settings.");

static const hessian_options *opts(const lbbt_stage_spec *s) { return lbbt_stage_options(s); }

static lbbt_status validate(const lbbt_stage_spec *stage, const char *file) {
  const hessian_options *o = opts(stage);
  const lbbt_option *m = lbbt_option_find(stage->options, stage->n_options, "lanczos_steps");
  if (o->lanczos_steps && o->lanczos_steps < o->top_k)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': lanczos_steps %d is below top_k %d: the top-k set "
                     "is taken from the Ritz values", file, m ? m->line : 0, m ? m->col : 0, stage->name,
                     o->lanczos_steps, o->top_k);
  return LBBT_OK;
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
  const hessian_options *o = opts(s);
  lbbt_obj_params which = LBBT_OBJ_PARAMS_ALL;
  LBBT_TRY(lbbt_obj_params_parse(o->params, &which));
  uint64_t seed = lbbt_stage_option_written(s, "seed") ? o->seed : ctx->run->seed;
  const char *label_stage = o->label_stage[0] ? o->label_stage : s->name;
  lbbt_hessian_config cfg;
  lbbt_hessian_config_default(&cfg);
  cfg.top_k = o->top_k;
  cfg.lanczos_steps = o->lanczos_steps ? o->lanczos_steps : 2 * o->top_k;
  cfg.conv_tol = o->conv_tol;
  cfg.slq_probes = o->slq_probes;
  cfg.slq_steps = o->slq_steps;
  cfg.trace_probes = o->trace_probes;
  cfg.trace_rtol = o->trace_rtol;
  cfg.density_points = o->density_points;
  cfg.density_sigma = o->density_sigma;
  cfg.noise_max = o->noise_max;
  cfg.noise_steps = o->noise_steps;
  cfg.noise_draws = o->noise_draws;
  cfg.predict_min = o->predict_min;
  cfg.predict_max = o->predict_max;
  cfg.predict_steps = o->predict_steps;
  cfg.hvp_eps = o->hvp_eps;
  cfg.seed = seed;
  LBBT_TRY(lbbt_hessian_config_check(&cfg));

  lbbt_fixed_batch *batch = NULL;
  LBBT_TRY(lbbt_fixed_batch_create(ctx->train, s->batch_size, (lbbt_label_mode)o->labels, o->label_ratio,
                                   lbbt_label_seed(ctx->run->seed, label_stage), seed, &batch));
  lbbt_model_objective *mo = NULL;
  lbbt_hessian_report rep;
  memset(&rep, 0, sizeof rep);
  lbbt_status st = lbbt_model_objective_create(ctx->model, batch->images, batch->labels, batch->n,
                                               batch->channels, batch->height, batch->width,
                                               o->chunk, which, &mo);
  if (st != LBBT_OK) goto done;
  lbbt_objective *obj = lbbt_model_objective_base(mo);
  lbbt_progress_log(ctx->progress,
                    "run %d/%d stage %s: Hessian over %lld parameters (%s) on %lld images, %s labels; top-%d "
                    "from %d Lanczos steps, SLQ %d x %d, up to %d trace probes",
                    ctx->run_index + 1, ctx->n_runs, s->name, (long long)obj->n, lbbt_obj_params_name(which),
                    (long long)batch->n, o->labels == LBBT_LABELS_RANDOM ? "random" : "true", cfg.top_k,
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
    st = lbbt_stage_array_i32(ctx, "batch_indices", 1, shape,
                               batch->indices);
  if (st == LBBT_OK)
    st = lbbt_stage_string(ctx, "label_mode", o->labels == LBBT_LABELS_RANDOM ? "random" : "true");
  if (st == LBBT_OK)
    st = lbbt_stage_scalar(ctx, "labels_changed", (double)batch->n_changed);
  if (st == LBBT_OK)
    st = lbbt_stage_string(ctx, "param_set", lbbt_obj_params_name(which));
  if (st == LBBT_OK)
    st = lbbt_stage_string(ctx, "label_stage", label_stage);
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
    .options = &OPTIONS,
};
