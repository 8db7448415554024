/* Analysis `cov-align` (Section 4.2, Theorem 4.1, Appendix A): does the first layer's weight
 * covariance share the eigenvectors of the input-patch covariance, and what is the map from
 * data eigenvalues to weight variances?  Put it before and after a random-label bridge stage.
 *
 * First layer: the patch embedding vision.patch_embed.weight [C, Cin, P, P], read as C
 * filters of d = Cin P P values.  Data: every non-overlapping P x P patch of `images`
 * training images (class-balanced, subset_seed), normalised as the model sees them, without
 * augmentation.  Definitions in lbbt/cov_align.h (second moment W'W / C for the weights,
 * centred covariance for the patches, principal angles of the top-k eigenvector subspaces for
 * k in 1, 2, 5, 10 (those <= d), transfer t_i = u_i' Sigma_w u_i).
 *
 * Records under "<stage>/":
 *   data_eigenvalues, weight_eigenvalues, transfer   f32 [d]
 *   ks i32 [n_k], overlap f32 [n_k], overlap_random f32 [n_k] (= k / d, an isotropic
 *   subspace's expectation), cosines f32 [n_k, kmax] (NaN-padded)
 *   scalars overlap_k1, overlap_k2, overlap_k5, overlap_k10 (those with k <= d),
 *   diag_energy, spearman, d, filters, images, patches, and options/<key>;
 *   weights f32 [C, d] (the filters, for a later stage's baseline).
 * With `baseline: <earlier cov-align stage>`, the same comparison for the update's second
 * moment (W - W0)'(W - W0) / C under "update/" (update/overlap, update/transfer, ...), and
 * update/relative_norm = |W - W0|_F / |W0|_F. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/analysis_util.h"
#include "lbbt/cov_align.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"

#define PLUGIN_NAME "cov-align"
#define FIRST_LAYER "vision.patch_embed.weight"

static const int KS[] = {1, 2, 5, 10};
enum { N_KS = sizeof KS / sizeof KS[0] };

typedef struct cov_align_options {
  int images;
  char split[16];
  int subset_seed;
  char baseline[LBBT_NAME_MAX];
} cov_align_options;

#define O cov_align_options
static const char *const SPLIT_NAMES[] = {"train", "test"};
static const lbbt_key KEYS[] = {
    {.name = "images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, images), .def = "2000", LBBT_KEY_RANGE(1, 1e7),
     .doc = "images whose patches make the data covariance (all when fewer)"},
    {.name = "split", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, split), .def = "train", LBBT_KEY_NAMES(SPLIT_NAMES),
     .doc = "which split the images come from"},
    {.name = "subset_seed", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, subset_seed), .def = "0", LBBT_KEY_RANGE(0, 2147483647),
     .doc = "seed of the class-balanced image choice"},
    {.name = "baseline", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, baseline), .def = "", .flags = LBBT_KEY_IDENT,
     .doc = "an earlier cov-align stage: also measure the update W - W(baseline)"},
};
#undef O
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(cov_align_options, KEYS, "Which images make the data covariance, and the baseline stage.");

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  const cov_align_options *o = lbbt_stage_options(s);
  if (!strcmp(o->baseline, s->name))
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': baseline names the stage itself; name an earlier "
                     "cov-align stage", file, s->name);
  return LBBT_OK;
}

static float *to_f32(const double *v, int64_t n) {
  float *f = malloc((size_t)(n > 0 ? n : 1) * sizeof *f);
  if (f)
    for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
  return f;
}

/* The comparison's items, under "<stage>/<prefix><name>" (prefix "" or "update/"). */
static lbbt_status record_result(lbbt_stage_ctx *ctx, const char *prefix, const lbbt_cov_align_result *r) {
  int d = r->d;
  char key[96];
  int64_t sd[1] = {d}, sk[1] = {r->n_k}, sc[2] = {r->n_k, r->kmax};
  struct { const char *key; const double *v; int64_t n; const int64_t *shape; int ndim; } items[] = {
      {"data_eigenvalues", r->data_eigenvalues, d, sd, 1},
      {"weight_eigenvalues", r->weight_eigenvalues, d, sd, 1},
      {"transfer", r->transfer, d, sd, 1},
      {"overlap", r->overlap, r->n_k, sk, 1},
      {"cosines", r->cosines, (int64_t)r->n_k * r->kmax, sc, 2},
  };
  for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
    float *f = to_f32(items[i].v, items[i].n);
    if (!f) return lbbt_fail(LBBT_E_NOMEM, "cov-align: out of memory");
    snprintf(key, sizeof key, "%s%s", prefix, items[i].key);
    lbbt_status st = lbbt_stage_array_f32(ctx, key, items[i].ndim, items[i].shape, f);
    free(f);
    LBBT_TRY(st);
  }
  float baseline[N_KS];
  for (int a = 0; a < r->n_k; a++) baseline[a] = (float)r->ks[a] / (float)d;
#define PUT(fn, name, ...) (snprintf(key, sizeof key, "%s%s", prefix, name), fn(ctx, key, __VA_ARGS__))
  LBBT_TRY(PUT(lbbt_stage_array_i32, "ks", 1, sk, r->ks));
  LBBT_TRY(PUT(lbbt_stage_array_f32, "overlap_random", 1, sk, baseline));
  for (int a = 0; a < r->n_k; a++) {
    char name[32];
    snprintf(name, sizeof name, "overlap_k%d", r->ks[a]);
    LBBT_TRY(PUT(lbbt_stage_scalar, name, r->overlap[a]));
  }
  LBBT_TRY(PUT(lbbt_stage_scalar, "diag_energy", r->diag_energy));
  LBBT_TRY(PUT(lbbt_stage_scalar, "spearman", r->spearman));
  LBBT_TRY(PUT(lbbt_stage_scalar, "d", d));
#undef PUT
  return LBBT_OK;
}

/* Theorem 4.1 read as a statement about the update: with an isotropic start, does the change
 * W - W0 since an earlier cov-align stage (its recorded `weights`) concentrate on the data's
 * principal directions?  Compares the update's second moment with Sigma_x under "update/". */
static lbbt_status update_alignment(lbbt_stage_ctx *ctx, const char *base, const float *w, int64_t C,
                                    int64_t d, const double *sx) {
  char key[LBBT_NAME_MAX + 16];
  snprintf(key, sizeof key, "%s/weights", base);
  int ndim = 0;
  const int64_t *shape = NULL;
  const float *w0 = NULL;
  if (lbbt_record_get_array_f32(ctx->record, key, &ndim, &shape, &w0) != LBBT_OK || ndim != 2 ||
      shape[0] != C || shape[1] != d)
    return lbbt_fail(LBBT_E_INPUT, "cov-align: stage '%s': baseline '%s' has no recorded %lldx%lld "
                     "'weights'; it must name an earlier cov-align stage of the same run",
                     ctx->stage->name, base, (long long)C, (long long)d);
  float *dw = malloc((size_t)(C * d) * sizeof *dw);
  double *su = malloc((size_t)(d * d) * sizeof *su);
  lbbt_status st = dw && su ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "cov-align: out of memory");
  double n2 = 0, n02 = 0;
  lbbt_cov_align_result r;
  memset(&r, 0, sizeof r);
  if (st == LBBT_OK) {
    for (int64_t i = 0; i < C * d; i++) {
      dw[i] = w[i] - w0[i];
      n2 += (double)dw[i] * dw[i];
      n02 += (double)w0[i] * w0[i];
    }
    lbbt_weight_second_moment(dw, C, d, su);
    st = lbbt_cov_align(sx, su, (int)d, KS, N_KS, &r);
  }
  if (st == LBBT_OK) st = record_result(ctx, "update/", &r);
  if (st == LBBT_OK) st = lbbt_stage_string(ctx, "update/baseline", base);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "update/relative_norm", n02 > 0 ? sqrt(n2 / n02) : NAN);
  if (st == LBBT_OK)
    lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s: update since %s: |dW|/|W0| %.3f, overlap k=1 %.3f "
                      "k=2 %.3f, Spearman(lambda, t) %.3f", ctx->run_index + 1, ctx->n_runs, ctx->run->id,
                      ctx->stage->name, base, n02 > 0 ? sqrt(n2 / n02) : NAN, r.overlap[0],
                      r.n_k > 1 ? r.overlap[1] : NAN, r.spearman);
  lbbt_cov_align_result_free(&r);
  free(dw);
  free(su);
  return st;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  const lbbt_stage_spec *s = ctx->stage;
  const cov_align_options *o = lbbt_stage_options(s);
  double images, subset_seed;
  images = o->images;
  subset_seed = o->subset_seed;
  const lbbt_dataset *ds = strcmp(o->split, "test") ? ctx->train : ctx->test;
  LBBT_TRY(lbbt_stage_options_record(ctx, &OPTIONS));
  lbbt_param *p = lbbt_model_find_param(ctx->model, FIRST_LAYER);
  if (!p || p->t->ndim != 4 || p->t->shape[2] != p->t->shape[3])
    return lbbt_fail(LBBT_E_UNSUPPORTED, "cov-align: the %s model has no square patch embedding '%s' "
                     "[C, Cin, P, P]", ctx->model->arch, FIRST_LAYER);
  int64_t C = p->t->shape[0], cin = p->t->shape[1], P = p->t->shape[2], d = cin * P * P;
  if (cin != ds->channels)
    return lbbt_fail(LBBT_E_INPUT, "cov-align: %s has %lld input channels, the images %d", FIRST_LAYER,
                     (long long)cin, ds->channels);
  int32_t *idx = NULL;
  int64_t n = 0;
  LBBT_TRY(lbbt_analysis_pick_images(ds, (int64_t)images, (uint64_t)subset_seed, "cov-align", &idx, &n));
  double *sx = malloc((size_t)(d * d) * sizeof *sx), *sw = malloc((size_t)(d * d) * sizeof *sw);
  lbbt_cov_align_result r;
  memset(&r, 0, sizeof r);
  lbbt_status st = sx && sw ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "cov-align: out of memory (d = %lld)", (long long)d);
  if (st == LBBT_OK) st = lbbt_patch_covariance(ds, idx, n, (int)P, sx, NULL);
  if (st == LBBT_OK) {
    lbbt_weight_second_moment(p->t->data, C, d, sw);
    st = lbbt_cov_align(sx, sw, (int)d, KS, N_KS, &r);
  }
  if (st == LBBT_OK) st = record_result(ctx, "", &r);
  int64_t sw2[2] = {C, d};
  if (st == LBBT_OK) st = lbbt_stage_array_f32(ctx, "weights", 2, sw2, p->t->data);
  const char *base = o->baseline;
  if (st == LBBT_OK && *base) st = update_alignment(ctx, base, p->t->data, C, d, sx);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "filters", (double)C);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "images", (double)n);
  if (st == LBBT_OK)
    st = lbbt_stage_scalar(ctx, "patches", (double)n * (double)(ds->height / P) * (double)(ds->width / P));
  if (st == LBBT_OK) {
    char line[256] = "";
    for (int a = 0; a < r.n_k; a++) {
      char b[48];
      snprintf(b, sizeof b, "%sk=%d %.3f (random %.3f)", a ? ", " : "", r.ks[a], r.overlap[a],
               (double)r.ks[a] / (double)d);
      strncat(line, b, sizeof line - strlen(line) - 1);
    }
    lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s: d = %lld, subspace overlap %s; Spearman(lambda, t) %.3f",
                      ctx->run_index + 1, ctx->n_runs, ctx->run->id, s->name, (long long)d, line, r.spearman);
  }
  lbbt_cov_align_result_free(&r);
  free(idx);
  free(sx);
  free(sw);
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
    .summary = "first-layer weight covariance vs input-patch covariance: subspace overlap, transfer function (Thm 4.1)",
    .task = &OPS,
    .options = &OPTIONS,
};
