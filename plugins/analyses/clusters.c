/* Analysis `clusters` (Section 4.4, Eq. 1, Figure 5): how well the final-layer pooled
 * features of test images separate the true classes, without using the labels.
 *
 * Features: the pooled final features (after the final norm; mean or class-token pooling as
 * the backbone is configured), eval mode, of `images` test images (class-balanced, drawn with
 * subset_seed).  Then (lbbt/clustering.h has the exact algorithms):
 *   - k-means on the features, k = the number of classes unless `k` says otherwise
 *     (k-means++ seeding, `kmeans_restarts` restarts, at most `kmeans_max_iter` iterations);
 *   - an exact t-SNE 2-D map of the features (`perplexity`, `tsne_iterations`, seeded);
 *   - k-means on the map, as the paper does ("KMeans clustering on the reduced features");
 *   - NMI and ARI of both clusterings against the true labels.
 * Seeds: t-SNE and k-means use the run seed, so arms with the same seed are comparable.
 *
 * Records under "<stage>/":
 *   tsne f32 [N, 2], labels i32 [N] (true), indices i32 [N] (test-set indices),
 *   kmeans_features i32 [N], kmeans_tsne i32 [N] (cluster ids), features f32 [N, dim] (with
 *   save_features: true); scalars nmi_features, ari_features, nmi_tsne, ari_tsne,
 *   kmeans_{features,tsne}_{iterations,converged,inertia}, tsne_kl, tsne_learning_rate, k,
 *   images, dim, seed, and options/<key>. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/analysis_util.h"
#include "lbbt/clustering.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"
#include "lbbt/train.h"

#define PLUGIN_NAME "clusters"

typedef struct clusters_options {
  int images;
  double perplexity;
  int tsne_iterations;
  int k;
  int kmeans_restarts;
  int kmeans_max_iter;
  int subset_seed;
  int batch_size;
  int save_features;
} clusters_options;

#define O clusters_options
static const lbbt_key KEYS[] = {
    {.name = "images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, images), .def = "1000", LBBT_KEY_RANGE(10, 5000),
     .doc = "test images embedded (exact t-SNE is O(N^2) in time and memory)"},
    {.name = "perplexity", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, perplexity), .def = "30", LBBT_KEY_RANGE(1, 1000),
     .doc = "t-SNE perplexity (must be below the image count)"},
    {.name = "tsne_iterations", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, tsne_iterations), .def = "1000", LBBT_KEY_RANGE(1, 100000),
     .doc = "t-SNE gradient steps (the first 250 exaggerated)"},
    {.name = "k", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, k), .def = "0", LBBT_KEY_RANGE(0, 10000),
     .doc = "k-means clusters; 0 = the number of classes"},
    {.name = "kmeans_restarts", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, kmeans_restarts), .def = "10", LBBT_KEY_RANGE(1, 1000),
     .doc = "k-means++ restarts; lowest inertia kept"},
    {.name = "kmeans_max_iter", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, kmeans_max_iter), .def = "300", LBBT_KEY_RANGE(1, 100000),
     .doc = "Lloyd iterations per restart at most"},
    {.name = "subset_seed", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, subset_seed), .def = "0", LBBT_KEY_RANGE(0, 2147483647),
     .doc = "seed of the class-balanced image choice"},
    {.name = "batch_size", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, batch_size), .def = "100", LBBT_KEY_RANGE(1, 100000),
     .doc = "images per forward pass"},
    {.name = "save_features", .type = LBBT_KEY_BOOL, LBBT_KEY_FIELD(O, save_features), .def = "false",
     .doc = "also record the features themselves"},
};
#undef O
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(clusters_options, KEYS, "Which images, t-SNE and k-means settings.");

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  const clusters_options *o = lbbt_stage_options(s);
  double images, perplexity;
  images = o->images;
  perplexity = o->perplexity;
  if (perplexity >= images)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': perplexity %g must be below images %g", file, s->name,
                     perplexity, images);
  return LBBT_OK;
}

/* k-means with the stage's settings, then its agreement with the labels, recorded as
 * kmeans_<what>, nmi_<what>, ari_<what>. */
static lbbt_status cluster_and_score(lbbt_stage_ctx *ctx, const char *what, const float *x, int64_t n,
                                     int d, int k, int max_iter, int restarts, const int32_t *labels,
                                     int32_t *assign, double *nmi, double *ari) {
  lbbt_kmeans_info info;
  LBBT_TRY(lbbt_kmeans(x, n, d, k, max_iter, restarts, ctx->run->seed, assign, NULL, &info));
  LBBT_TRY(lbbt_cluster_agreement(labels, assign, n, nmi, ari));
  char key[96];
  int64_t s1[1] = {n};
  snprintf(key, sizeof key, "kmeans_%s", what);
  LBBT_TRY(lbbt_stage_array_i32(ctx, key, 1, s1, assign));
  snprintf(key, sizeof key, "kmeans_%s_iterations", what);
  LBBT_TRY(lbbt_stage_scalar(ctx, key, info.iterations));
  snprintf(key, sizeof key, "kmeans_%s_converged", what);
  LBBT_TRY(lbbt_stage_scalar(ctx, key, info.converged));
  snprintf(key, sizeof key, "kmeans_%s_inertia", what);
  LBBT_TRY(lbbt_stage_scalar(ctx, key, info.inertia));
  snprintf(key, sizeof key, "nmi_%s", what);
  LBBT_TRY(lbbt_stage_scalar(ctx, key, *nmi));
  snprintf(key, sizeof key, "ari_%s", what);
  LBBT_TRY(lbbt_stage_scalar(ctx, key, *ari));
  return LBBT_OK;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  const lbbt_stage_spec *s = ctx->stage;
  const clusters_options *o = lbbt_stage_options(s);
  lbbt_model *m = ctx->model;
  double images, perplexity, iters, kopt, restarts, max_iter, subset_seed, batch, save;
  images = o->images;
  perplexity = o->perplexity;
  iters = o->tsne_iterations;
  kopt = o->k;
  restarts = o->kmeans_restarts;
  max_iter = o->kmeans_max_iter;
  subset_seed = o->subset_seed;
  batch = o->batch_size;
  save = o->save_features;
  LBBT_TRY(lbbt_stage_options_record(ctx, &OPTIONS));
  int32_t *idx = NULL;
  int64_t n = 0;
  LBBT_TRY(lbbt_analysis_pick_images(ctx->test, (int64_t)images, (uint64_t)subset_seed, "clusters", &idx, &n));
  int k = kopt > 0 ? (int)kopt : ctx->test->num_classes;
  if ((double)n <= perplexity || k > n) {
    free(idx);
    return lbbt_fail(LBBT_E_INPUT, "clusters: stage '%s': only %lld test images for perplexity %g and "
                     "k = %d; lower them or raise data.test_limit", s->name, (long long)n, perplexity, k);
  }
  lbbt_dataset *sub = NULL;
  int d = m->dim;
  float *feat = NULL, *map = NULL;
  int32_t *labels = NULL, *assign = NULL;
  lbbt_status st = lbbt_dataset_subset(ctx->test, idx, n, &sub);
  if (st == LBBT_OK) {
    feat = malloc((size_t)n * (size_t)d * sizeof *feat);
    map = malloc((size_t)n * 2 * sizeof *map);
    labels = malloc((size_t)n * sizeof *labels);
    assign = malloc((size_t)n * sizeof *assign);
    if (!feat || !map || !labels || !assign) st = lbbt_fail(LBBT_E_NOMEM, "clusters: out of memory");
  }
  if (st == LBBT_OK) st = lbbt_extract_features(m, sub, (int)batch, feat);
  if (st != LBBT_OK) goto done;
  for (int64_t i = 0; i < n; i++) labels[i] = sub->labels[i];
  for (int64_t i = 0; i < n * d; i++)
    if (!isfinite(feat[i])) {
      st = lbbt_fail(LBBT_E_NUMERIC, "clusters: the %s model's features of image %lld are not finite",
                     m->arch, (long long)(i / d));
      goto done;
    }
  double nmi_f, ari_f, nmi_t, ari_t;
  LBBT_TRY_GOTO(st, cluster_and_score(ctx, "features", feat, n, d, k, (int)max_iter, (int)restarts, labels,
                                      assign, &nmi_f, &ari_f), done);
  lbbt_tsne_config tc = lbbt_tsne_defaults();
  tc.perplexity = perplexity;
  tc.iterations = (int)iters;
  if (tc.exaggeration_iters > tc.iterations) tc.exaggeration_iters = tc.iterations;
  tc.seed = ctx->run->seed;
  lbbt_tsne_info ti;
  LBBT_TRY_GOTO(st, lbbt_tsne(feat, n, d, &tc, map, &ti), done);
  LBBT_TRY_GOTO(st, cluster_and_score(ctx, "tsne", map, n, 2, k, (int)max_iter, (int)restarts, labels, assign,
                                      &nmi_t, &ari_t), done);
  int64_t s2[2] = {n, 2}, s1[1] = {n}, sf[2] = {n, d};
  LBBT_TRY_GOTO(st, lbbt_stage_array_f32(ctx, "tsne", 2, s2, map), done);
  LBBT_TRY_GOTO(st, lbbt_stage_array_i32(ctx, "labels", 1, s1, labels), done);
  LBBT_TRY_GOTO(st, lbbt_stage_array_i32(ctx, "indices", 1, s1, idx), done);
  if (save) LBBT_TRY_GOTO(st, lbbt_stage_array_f32(ctx, "features", 2, sf, feat), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "tsne_kl", ti.kl), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "tsne_learning_rate", ti.learning_rate), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "k", k), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "images", (double)n), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "dim", d), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "seed", (double)ctx->run->seed), done);
  lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s: %lld images, k = %d: features NMI %.3f ARI %.3f; "
                    "t-SNE map (KL %.3f) NMI %.3f ARI %.3f", ctx->run_index + 1, ctx->n_runs, ctx->run->id,
                    s->name, (long long)n, k, nmi_f, ari_f, ti.kl, nmi_t, ari_t);
done:
  lbbt_dataset_free(sub);
  free(idx);
  free(feat);
  free(map);
  free(labels);
  free(assign);
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
    .summary = "final-feature clusters: k-means and t-SNE of test images, NMI/ARI against the true labels (Fig. 5)",
    .task = &OPS,
    .options = &OPTIONS,
};
