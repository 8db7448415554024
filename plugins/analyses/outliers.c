/* Analysis `outliers` (Section 3, Figures 2, 10, 11, 14, Appendix D): weight statistics of
 * the model as it is when the stage runs — per tensor and per layer group.
 *
 * Which tensors: `tensors: matrices` (default) takes every parameter with two or more
 * dimensions (linear and patch-embedding weights, position and token embeddings, the head);
 * `all` adds the vectors (norm gains, biases).  Groups, in this order: "embed" (patch
 * embedding, positions, class token), "block.0" .. "block.<L-1>", "head" (final norm and
 * classifier).
 *
 * Rules and statistics (lbbt/weight_stats.h has the exact definitions):
 *   sigma rule      |w - mean| > k std within each tensor (k = 6 by default)
 *   magnitude rule  |w| > tau, tau fixed across models (default 0.5)
 *   kurtosis        excess kurtosis per tensor; per group and overall, the excess kurtosis of
 *                   the pooled per-tensor standardised values z = (w - mean) / std, so tensors
 *                   of different scales do not fake heavy tails
 *   histograms      |w| on log-spaced edges [mag_min, mag_max] and z on linear edges
 *                   [-z_max, z_max], per tensor and per group; the edges are options, so two
 *                   runs with the same options share them exactly, and they are recorded
 *   spectrum        for 2-D tensors whose smaller side <= spectrum_max_dim: the eigenvalues
 *                   of W W' / cols and the power-law exponent alpha of their tail
 *                   (Clauset et al. 2009; WeightWatcher's alpha); NaN where skipped.
 *
 * Records under "<stage>/": see docs/analyses.md (tensor_..., group_..., hist/..., scalars
 * outliers_sigma, outliers_tau, outlier_fraction_sigma, kurtosis, kurtosis_median_tensor,
 * alpha_median, params_measured, and options/<key>). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/analysis_util.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"
#include "lbbt/weight_stats.h"

#define PLUGIN_NAME "outliers"

typedef struct outliers_options {
  double k;
  double tau;
  char tensors[16];
  int bins;
  double mag_min;
  double mag_max;
  int z_bins;
  double z_max;
  int spectrum;
  int spectrum_max_dim;
  int spectrum_min_tail;
} outliers_options;

#define O outliers_options
static const char *const TENSORS_NAMES[] = {"matrices", "all"};
static const lbbt_key KEYS[] = {
    {.name = "k", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, k), .def = "6", LBBT_KEY_RANGE(0.5, 1000),
     .doc = "sigma rule: |w - mean| > k std per tensor"},
    {.name = "tau", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, tau), .def = "0.5", LBBT_KEY_RANGE(0, 1e6),
     .doc = "magnitude rule: |w| > tau"},
    {.name = "tensors", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, tensors), .def = "matrices", LBBT_KEY_NAMES(TENSORS_NAMES),
     .doc = "which parameters: >= 2-D, or all"},
    {.name = "bins", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, bins), .def = "60", LBBT_KEY_RANGE(1, 100000),
     .doc = "log-spaced |w| histogram bins"},
    {.name = "mag_min", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, mag_min), .def = "1e-6", LBBT_KEY_RANGE(1e-30, 1e30),
     .doc = "lowest |w| histogram edge"},
    {.name = "mag_max", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, mag_max), .def = "10", LBBT_KEY_RANGE(1e-30, 1e30),
     .doc = "highest |w| histogram edge"},
    {.name = "z_bins", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, z_bins), .def = "80", LBBT_KEY_RANGE(1, 100000),
     .doc = "standardised-value histogram bins"},
    {.name = "z_max", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, z_max), .def = "20", LBBT_KEY_RANGE(1e-3, 1e6),
     .doc = "z histogram covers [-z_max, z_max]"},
    {.name = "spectrum", .type = LBBT_KEY_BOOL, LBBT_KEY_FIELD(O, spectrum), .def = "true",
     .doc = "fit the power-law exponent of each matrix's spectrum"},
    {.name = "spectrum_max_dim", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, spectrum_max_dim), .def = "1024", LBBT_KEY_RANGE(2, 100000),
     .doc = "skip spectra of matrices whose smaller side is larger"},
    {.name = "spectrum_min_tail", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, spectrum_min_tail), .def = "10", LBBT_KEY_RANGE(2, 100000),
     .doc = "fewest eigenvalues in a fitted tail"},
};
#undef O
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(outliers_options, KEYS, "The outlier rules and the histograms' edges.");

typedef struct settings {
  double k, tau, mag_min, mag_max, z_max;
  int bins, z_bins, all, spectrum, spectrum_max_dim, spectrum_min_tail;
} settings;

static lbbt_status read_settings(const lbbt_stage_spec *s, settings *o) {
  const outliers_options *w = lbbt_stage_options(s);
  *o = (settings){.k = w->k, .tau = w->tau, .mag_min = w->mag_min, .mag_max = w->mag_max, .z_max = w->z_max,
                  .bins = w->bins, .z_bins = w->z_bins, .all = !strcmp(w->tensors, "all"), .spectrum = w->spectrum,
                  .spectrum_max_dim = w->spectrum_max_dim, .spectrum_min_tail = w->spectrum_min_tail};
  return LBBT_OK;
}

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  settings o;
  LBBT_TRY(read_settings(s, &o));
  if (!(o.mag_min < o.mag_max))
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': mag_min %g must be below mag_max %g", file, s->name,
                     o.mag_min, o.mag_max);
  return LBBT_OK;
}

/* Everything measured, laid out for the record. */
typedef struct measure {
  int nt, ng, bins, z_bins;
  double *mag_edges, *z_edges;
  /* per tensor [nt] */
  int32_t *group, *numel, *out_sigma, *out_tau, *spec_n;
  float *mean, *std, *kurt, *max_abs, *alpha, *alpha_xmin, *alpha_ks;
  int32_t *t_mag, *t_z; /* [nt, bins], [nt, z_bins] */
  /* per group [ng] */
  int32_t *g_numel, *g_sigma, *g_tau, *g_mag, *g_z, *g_mag_under, *g_mag_over, *g_z_under, *g_z_over;
  double *g_z4;         /* sum of z^4 over the group's values */
  float *g_kurt;
} measure;

static void measure_free(measure *m) {
  void *ptrs[] = {m->mag_edges, m->z_edges, m->group, m->numel, m->out_sigma, m->out_tau, m->spec_n,
                  m->mean, m->std, m->kurt, m->max_abs, m->alpha, m->alpha_xmin, m->alpha_ks,
                  m->t_mag, m->t_z, m->g_numel, m->g_sigma, m->g_tau, m->g_mag, m->g_z,
                  m->g_mag_under, m->g_mag_over, m->g_z_under, m->g_z_over, m->g_z4, m->g_kurt};
  for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
}

static int group_of(const lbbt_model *mdl, const lbbt_param *p) {
  if (p->part == LBBT_PART_EMBED) return 0;
  if (p->part == LBBT_PART_BLOCK) return 1 + p->layer;
  return mdl->n_layers + 1;
}

static int wanted(const lbbt_param *p, int all) { return all || p->t->ndim >= 2; }

static lbbt_status measure_alloc(measure *m, int nt, int ng, int bins, int z_bins) {
  m->nt = nt;
  m->ng = ng;
  m->bins = bins;
  m->z_bins = z_bins;
  size_t t = (size_t)(nt > 0 ? nt : 1), g = (size_t)ng;
#define ALLOC(field, count) (m->field = calloc((count), sizeof *m->field)) == NULL
  if (ALLOC(mag_edges, (size_t)bins + 1) || ALLOC(z_edges, (size_t)z_bins + 1) || ALLOC(group, t) ||
      ALLOC(numel, t) || ALLOC(out_sigma, t) || ALLOC(out_tau, t) || ALLOC(spec_n, t) || ALLOC(mean, t) ||
      ALLOC(std, t) || ALLOC(kurt, t) || ALLOC(max_abs, t) || ALLOC(alpha, t) || ALLOC(alpha_xmin, t) ||
      ALLOC(alpha_ks, t) || ALLOC(t_mag, t * (size_t)bins) || ALLOC(t_z, t * (size_t)z_bins) ||
      ALLOC(g_numel, g) || ALLOC(g_sigma, g) || ALLOC(g_tau, g) || ALLOC(g_mag, g * (size_t)bins) ||
      ALLOC(g_z, g * (size_t)z_bins) || ALLOC(g_mag_under, g) || ALLOC(g_mag_over, g) ||
      ALLOC(g_z_under, g) || ALLOC(g_z_over, g) || ALLOC(g_z4, g) || ALLOC(g_kurt, g))
    return lbbt_fail(LBBT_E_NOMEM, "outliers: out of memory for %d tensors", nt);
#undef ALLOC
  return LBBT_OK;
}

/* Statistics of tensor i (param p) into m. */
static lbbt_status measure_tensor(measure *m, int i, const lbbt_param *p, int g, const settings *o) {
  const float *w = p->t->data;
  int64_t n = p->t->numel;
  if (n > INT32_MAX)
    return lbbt_fail(LBBT_E_UNSUPPORTED, "outliers: tensor '%s' has %lld values; counts are int32",
                     p->name, (long long)n);
  lbbt_moments mo;
  lbbt_moments_compute(w, n, &mo);
  m->group[i] = g;
  m->numel[i] = (int32_t)n;
  m->mean[i] = (float)mo.mean;
  m->std[i] = (float)mo.std;
  m->kurt[i] = (float)mo.kurtosis;
  m->max_abs[i] = (float)mo.max_abs;
  m->out_sigma[i] = (int32_t)lbbt_count_sigma_outliers(w, n, mo.mean, mo.std, o->k);
  m->out_tau[i] = (int32_t)lbbt_count_magnitude_outliers(w, n, o->tau);
  m->g_numel[g] += (int32_t)n;
  m->g_sigma[g] += m->out_sigma[i];
  m->g_tau[g] += m->out_tau[i];
  int64_t under, over, zu, zo;
  int64_t *hm = calloc((size_t)m->bins, sizeof *hm), *hz = calloc((size_t)m->z_bins, sizeof *hz);
  if (!hm || !hz) {
    free(hm);
    free(hz);
    return lbbt_fail(LBBT_E_NOMEM, "outliers: out of memory");
  }
  under = over = zu = zo = 0;
  double z4 = 0;
  for (int64_t j = 0; j < n; j++) {
    lbbt_histogram_add(m->mag_edges, m->bins, fabs(w[j]), hm, &under, &over);
    if (mo.std > 0) {
      double z = (w[j] - mo.mean) / mo.std;
      lbbt_histogram_add(m->z_edges, m->z_bins, z, hz, &zu, &zo);
      z4 += z * z * z * z;
    }
  }
  for (int b = 0; b < m->bins; b++) {
    m->t_mag[(int64_t)i * m->bins + b] = (int32_t)hm[b];
    m->g_mag[(int64_t)g * m->bins + b] += (int32_t)hm[b];
  }
  for (int b = 0; b < m->z_bins; b++) {
    m->t_z[(int64_t)i * m->z_bins + b] = (int32_t)hz[b];
    m->g_z[(int64_t)g * m->z_bins + b] += (int32_t)hz[b];
  }
  m->g_mag_under[g] += (int32_t)under;
  m->g_mag_over[g] += (int32_t)over;
  m->g_z_under[g] += (int32_t)zu;
  m->g_z_over[g] += (int32_t)zo;
  m->g_z4[g] += z4;
  free(hm);
  free(hz);
  /* spectrum: matrices only, viewed as [shape[0], numel / shape[0]] (a conv filter bank
   * [C, Cin, P, P] becomes [C, Cin P P]) */
  m->alpha[i] = m->alpha_xmin[i] = m->alpha_ks[i] = NAN;
  int64_t rows = p->t->shape[0], cols = n / rows;
  int64_t small = rows < cols ? rows : cols;
  if (o->spectrum && p->t->ndim >= 2 && small <= o->spectrum_max_dim && small >= o->spectrum_min_tail) {
    double *eig = malloc((size_t)small * sizeof *eig);
    if (!eig) return lbbt_fail(LBBT_E_NOMEM, "outliers: out of memory for a spectrum");
    lbbt_status st = lbbt_weight_spectrum(w, rows, cols, eig);
    lbbt_powerlaw fit;
    if (st == LBBT_OK && lbbt_powerlaw_fit(eig, (int)small, o->spectrum_min_tail, &fit) == LBBT_OK) {
      m->alpha[i] = (float)fit.alpha;
      m->alpha_xmin[i] = (float)fit.xmin;
      m->alpha_ks[i] = (float)fit.ks;
      m->spec_n[i] = fit.n_tail;
    }
    lbbt_clear_error(); /* an unfittable spectrum (too few positive values) is just NaN */
    free(eig);
    if (st != LBBT_OK) return lbbt_fail(st, "outliers: spectrum of '%s' failed", p->name);
  }
  return LBBT_OK;
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Median of the finite values of v[n] (NaN when none). */
static double median_finite(const float *v, int n) {
  float *c = malloc((size_t)(n > 0 ? n : 1) * sizeof *c);
  if (!c) return NAN;
  int m = 0;
  for (int i = 0; i < n; i++)
    if (isfinite(v[i])) c[m++] = v[i];
  qsort(c, (size_t)m, sizeof *c, cmp_float);
  double r = m == 0 ? NAN : (m % 2 ? c[m / 2] : 0.5 * ((double)c[m / 2 - 1] + c[m / 2]));
  free(c);
  return r;
}

/* A buffer for every parameter name joined with newlines (one string item). */
static char *names_buffer(const lbbt_model *mdl) {
  size_t cap = 1;
  for (int i = 0; i < mdl->n_params; i++) cap += strlen(mdl->params[i].name) + 1;
  return calloc(cap, 1);
}

static lbbt_status record_all(lbbt_stage_ctx *ctx, const measure *m, char *tensor_names) {
  int64_t nt = m->nt, ng = m->ng;
  int64_t s1[1], s2[2];
  s1[0] = m->bins + 1;
  float *ef = malloc((size_t)((m->bins > m->z_bins ? m->bins : m->z_bins) + 1) * sizeof *ef);
  if (!ef) return lbbt_fail(LBBT_E_NOMEM, "outliers: out of memory");
  lbbt_status st;
  for (int b = 0; b <= m->bins; b++) ef[b] = (float)m->mag_edges[b];
  st = lbbt_stage_array_f32(ctx, "hist/magnitude_edges", 1, s1, ef);
  s1[0] = m->z_bins + 1;
  for (int b = 0; b <= m->z_bins && st == LBBT_OK; b++) ef[b] = (float)m->z_edges[b];
  if (st == LBBT_OK) st = lbbt_stage_array_f32(ctx, "hist/z_edges", 1, s1, ef);
  free(ef);
  LBBT_TRY(st);
  LBBT_TRY(lbbt_stage_string(ctx, "tensor_names", tensor_names));
  s1[0] = nt;
  LBBT_TRY(lbbt_stage_array_i32(ctx, "tensor_group", 1, s1, m->group));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "tensor_numel", 1, s1, m->numel));
  LBBT_TRY(lbbt_stage_array_f32(ctx, "tensor_mean", 1, s1, m->mean));
  LBBT_TRY(lbbt_stage_array_f32(ctx, "tensor_std", 1, s1, m->std));
  LBBT_TRY(lbbt_stage_array_f32(ctx, "tensor_kurtosis", 1, s1, m->kurt));
  LBBT_TRY(lbbt_stage_array_f32(ctx, "tensor_max_abs", 1, s1, m->max_abs));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "tensor_outliers_sigma", 1, s1, m->out_sigma));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "tensor_outliers_tau", 1, s1, m->out_tau));
  LBBT_TRY(lbbt_stage_array_f32(ctx, "tensor_alpha", 1, s1, m->alpha));
  LBBT_TRY(lbbt_stage_array_f32(ctx, "tensor_alpha_xmin", 1, s1, m->alpha_xmin));
  LBBT_TRY(lbbt_stage_array_f32(ctx, "tensor_alpha_ks", 1, s1, m->alpha_ks));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "tensor_alpha_tail", 1, s1, m->spec_n));
  s2[0] = nt;
  s2[1] = m->bins;
  LBBT_TRY(lbbt_stage_array_i32(ctx, "hist/tensor_magnitude", 2, s2, m->t_mag));
  s2[1] = m->z_bins;
  LBBT_TRY(lbbt_stage_array_i32(ctx, "hist/tensor_z", 2, s2, m->t_z));
  s1[0] = ng;
  LBBT_TRY(lbbt_stage_array_i32(ctx, "group_numel", 1, s1, m->g_numel));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "group_outliers_sigma", 1, s1, m->g_sigma));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "group_outliers_tau", 1, s1, m->g_tau));
  LBBT_TRY(lbbt_stage_array_f32(ctx, "group_kurtosis", 1, s1, m->g_kurt));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "hist/group_magnitude_under", 1, s1, m->g_mag_under));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "hist/group_magnitude_over", 1, s1, m->g_mag_over));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "hist/group_z_under", 1, s1, m->g_z_under));
  LBBT_TRY(lbbt_stage_array_i32(ctx, "hist/group_z_over", 1, s1, m->g_z_over));
  s2[0] = ng;
  s2[1] = m->bins;
  LBBT_TRY(lbbt_stage_array_i32(ctx, "hist/group_magnitude", 2, s2, m->g_mag));
  s2[1] = m->z_bins;
  LBBT_TRY(lbbt_stage_array_i32(ctx, "hist/group_z", 2, s2, m->g_z));
  return LBBT_OK;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  lbbt_model *mdl = ctx->model;
  settings o;
  LBBT_TRY(read_settings(ctx->stage, &o));
  LBBT_TRY(lbbt_stage_options_record(ctx, &OPTIONS));
  int nt = 0, ng = mdl->n_layers + 2;
  for (int i = 0; i < mdl->n_params; i++) nt += wanted(&mdl->params[i], o.all);
  measure m;
  memset(&m, 0, sizeof m);
  char *names = names_buffer(mdl);
  lbbt_status st = names ? measure_alloc(&m, nt, ng, o.bins, o.z_bins)
                         : lbbt_fail(LBBT_E_NOMEM, "outliers: out of memory");
  if (st != LBBT_OK) goto done;
  lbbt_edges_log(o.mag_min, o.mag_max, o.bins, m.mag_edges);
  lbbt_edges_linear(-o.z_max, o.z_max, o.z_bins, m.z_edges);
  int64_t measured = 0, total_sigma = 0, total_tau = 0;
  double z4 = 0;
  int64_t zcount = 0;
  for (int i = 0, t = 0; i < mdl->n_params && st == LBBT_OK; i++) {
    const lbbt_param *p = &mdl->params[i];
    if (!wanted(p, o.all)) continue;
    int g = group_of(mdl, p);
    st = measure_tensor(&m, t, p, g, &o);
    if (st != LBBT_OK) break;
    if (t) strcat(names, "\n");
    strcat(names, p->name);
    measured += p->t->numel;
    total_sigma += m.out_sigma[t];
    total_tau += m.out_tau[t];
    if (m.std[t] > 0) zcount += p->t->numel;
    t++;
  }
  if (st != LBBT_OK) goto done;
  /* pooled standardised kurtosis per group and overall: E[z^4] - 3 (z has mean 0, var 1
   * within each tensor, so the pooled values do too) */
  for (int g = 0; g < ng; g++) {
    int64_t cnt = 0;
    for (int t = 0; t < nt; t++)
      if (m.group[t] == g && m.std[t] > 0) cnt += m.numel[t];
    m.g_kurt[g] = cnt ? (float)(m.g_z4[g] / (double)cnt - 3.0) : NAN;
    z4 += m.g_z4[g];
  }
  LBBT_TRY_GOTO(st, record_all(ctx, &m, names), done);
  char groups[LBBT_PATH_MAX * 4] = "embed";
  for (int L = 0; L < mdl->n_layers; L++) {
    char b[32];
    snprintf(b, sizeof b, "\nblock.%d", L);
    strncat(groups, b, sizeof groups - strlen(groups) - 1);
  }
  strncat(groups, "\nhead", sizeof groups - strlen(groups) - 1);
  LBBT_TRY_GOTO(st, lbbt_stage_string(ctx, "group_names", groups), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "params_measured", (double)measured), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "outliers_sigma", (double)total_sigma), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "outliers_tau", (double)total_tau), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "outlier_fraction_sigma",
                                      measured ? (double)total_sigma / (double)measured : 0.0), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "kurtosis", zcount ? z4 / (double)zcount - 3.0 : NAN), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "kurtosis_median_tensor", median_finite(m.kurt, nt)), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "alpha_median", median_finite(m.alpha, nt)), done);
  lbbt_progress_log(ctx->progress,
                    "run %d/%d %s stage %s: %lld weights in %d tensors, %lld beyond %g std, %lld with "
                    "|w| > %g, pooled excess kurtosis %.3f",
                    ctx->run_index + 1, ctx->n_runs, ctx->run->id, ctx->stage->name, (long long)measured,
                    nt, (long long)total_sigma, o.k, (long long)total_tau, o.tau,
                    zcount ? z4 / (double)zcount - 3.0 : NAN);
done:
  free(names);
  measure_free(&m);
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
    .summary = "weight outliers: per-tensor/per-layer kurtosis, k-sigma and |w|>tau counts, histograms, spectrum alpha",
    .task = &OPS,
    .options = &OPTIONS,
};
