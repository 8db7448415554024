/* Task plugin `retrieval`: image retrieval with the stage's model as a frozen feature
 * extractor (Appendix B, Table 11 of the paper).
 *
 * Every test image is a query; its gallery is the training set (`gallery: train`) or the rest
 * of the test set (`gallery: test`, the query itself left out).  Features are the model's
 * tokens pooled as `pool` says, L2-normalised; the gallery is ranked by cosine similarity
 * (exact, blocked, ties by index: lbbt/retrieval.h); an item is relevant when it has the
 * query's class.  The metrics, defined in docs/retrieval.md, go to the run record under
 * "<stage>/": map, and for every k of `ks`: pass_at_<k> (precision at k), recall_at_<k> (hit
 * rate: at least one relevant item in the top k; the reading Table 11's numbers suggest),
 * recall_frac_at_<k> (the other reading: relevant items in the top k / all relevant items),
 * ndcg_at_<k> (binary gains); n_queries, n_scored, gallery_size.
 *
 * For the figure (tools/plot/figure-retrieval.py) it also saves, for `examples` queries
 * (class-balanced, the same test images for every arm and seed), the top `example_top`
 * gallery items: indices, labels, similarities, whether each is relevant, and the pixels of
 * the query and of each retrieved image (scaled to [0, 1]) under "<stage>/examples/".
 *
 * It trains nothing and changes no parameter; `epochs` and the optimizer keys are not read. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/analysis_util.h"
#include "lbbt/options.h"
#include "lbbt/plugin.h"
#include "lbbt/retrieval.h"
#include "lbbt/runner.h"
#include "lbbt/train.h"

#define PLUGIN_NAME "retrieval"

/* ---- options ------------------------------------------------------------------------------- */
enum { POOL_MODEL, POOL_MEAN, POOL_LAST, POOL_CLS };
static const char *const POOLS[] = {"model", "mean", "last", "cls"};
enum { GALLERY_TRAIN, GALLERY_TEST };
static const char *const GALLERIES[] = {"train", "test"};

typedef struct retrieval_options {
  int pool;
  int gallery;
  char ks[64];
  int examples;
  int example_top;
  int eval_batch;
} retrieval_options;

static const lbbt_key KEYS[] = {
    {.name = "pool", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(retrieval_options, pool), .def = "model",
     LBBT_KEY_NAMES(POOLS),
     .doc = "features: model = the model's own pooled features (backbone.pool); mean = mean of the "
            "patch tokens; last = the last token (what a causal backbone's last position sees); "
            "cls = the class token (needs backbone.pool: cls)"},
    {.name = "gallery", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(retrieval_options, gallery), .def = "train",
     LBBT_KEY_NAMES(GALLERIES),
     .doc = "what each test image is ranked against: the training set, or the rest of the test set"},
    {.name = "ks", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(retrieval_options, ks), .def = "1,5",
     .doc = "the k of Pass@k, Recall@k, NDCG@k: comma-separated, ascending, 1 to 16 values"},
    {.name = "examples", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(retrieval_options, examples), .def = "6",
     LBBT_KEY_RANGE(0, 64), .doc = "queries whose top results (and pixels) are saved for the figure"},
    {.name = "example_top", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(retrieval_options, example_top), .def = "5",
     LBBT_KEY_RANGE(1, 16), .doc = "retrieved items saved per example query"},
    {.name = "eval_batch", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(retrieval_options, eval_batch), .def = "256",
     LBBT_KEY_RANGE(1, 1 << 20), .doc = "images per forward pass (memory only)"},
};
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(
    retrieval_options, KEYS, "Image retrieval by exact cosine kNN on the stage's frozen features.");

/* "1,5" -> ks[], *n.  On bad text, a message naming file, stage and key. */
static lbbt_status parse_ks(const char *text, const char *file, const char *stage, int64_t *ks, int *n) {
  *n = 0;
  const char *p = text;
  for (;;) {
    char *end;
    while (*p == ' ') p++;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 1 || v > 1000000)
      return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': ks '%s': expected comma-separated integers >= 1 (\"1,5\")",
                       file, stage, text);
    if (*n == LBBT_RETRIEVAL_MAX_K)
      return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': ks '%s': at most %d values", file, stage, text,
                       LBBT_RETRIEVAL_MAX_K);
    if (*n > 0 && v <= ks[*n - 1])
      return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': ks '%s': values must be ascending and distinct", file,
                       stage, text);
    ks[(*n)++] = v;
    p = end;
    while (*p == ' ') p++;
    if (*p == '\0') return LBBT_OK;
    if (*p != ',')
      return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': ks '%s': unexpected '%c' (write \"1,5\")", file, stage,
                       text, *p);
    p++;
  }
}

static lbbt_status retrieval_validate(const lbbt_stage_spec *stage, const char *file) {
  const retrieval_options *o = lbbt_stage_options(stage);
  int64_t ks[LBBT_RETRIEVAL_MAX_K];
  int n;
  return parse_ks(o->ks, file, stage->name, ks, &n);
}

/* ---- features ------------------------------------------------------------------------------ */
typedef struct extractor {
  int pool;             /* POOL_* (not POOL_MODEL: that reads the model's own output) */
  int has_cls;          /* the model's tokens start with a class token */
  int64_t dim;
  float *out;           /* [n, dim] */
  int64_t start;        /* first image of the current batch */
  int seen;             /* the forward reported its tokens */
  lbbt_status st;
} extractor;

/* The "tokens" hook: x [B, T, C] after the final norm -> out[start .. start + B). */
static void on_tokens(void *user, const char *what, int layer, const lbbt_tensor *x) {
  (void)layer;
  extractor *e = user;
  if (strcmp(what, "tokens") || e->st != LBBT_OK) return;
  if (x->ndim != 3 || x->shape[2] != e->dim || x->shape[1] < 1 + e->has_cls) {
    e->st = lbbt_fail(LBBT_E_SHAPE, "retrieval: the model's tokens have %d dims (expected [B, T, %lld])",
                      x->ndim, (long long)e->dim);
    return;
  }
  const int64_t B = x->shape[0], T = x->shape[1], C = e->dim;
  const int64_t first = e->has_cls; /* the patch tokens: [first, T) */
  for (int64_t b = 0; b < B; b++) {
    const float *tok = x->data + b * T * C;
    float *o = e->out + (e->start + b) * C;
    if (e->pool == POOL_CLS) {
      memcpy(o, tok, (size_t)C * sizeof(float));
    } else if (e->pool == POOL_LAST) {
      memcpy(o, tok + (T - 1) * C, (size_t)C * sizeof(float));
    } else { /* mean of the patch tokens, in double (T is up to a few hundred) */
      for (int64_t c = 0; c < C; c++) {
        double s = 0;
        for (int64_t t = first; t < T; t++) s += tok[t * C + c];
        o[c] = (float)(s / (double)(T - first));
      }
    }
  }
  e->seen = 1;
}

static lbbt_status token_batch(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images, const int32_t *labels,
                               int64_t start, int count, void *user) {
  (void)labels;
  (void)count;
  extractor *e = user;
  e->start = start;
  e->seen = 0;
  lbbt_tensor *f;
  LBBT_TRY(m->ops->forward_vision(m, t, images, &f, NULL));
  LBBT_TRY(e->st);
  if (!e->seen)
    return lbbt_fail(LBBT_E_UNSUPPORTED,
                     "retrieval: this model (%s) does not report its tokens to hooks; use pool: model", m->arch);
  return LBBT_OK;
}

/* Features of every image of ds, out [ds->n, m->dim]. */
static lbbt_status features(lbbt_stage_ctx *ctx, const retrieval_options *o, const lbbt_dataset *ds,
                            float *out) {
  lbbt_model *m = ctx->model;
  if (o->pool == POOL_MODEL) return lbbt_extract_features(m, ds, o->eval_batch, out);
  extractor e = {.pool = o->pool, .has_cls = ctx->run->backbone.pool == LBBT_POOL_CLS, .dim = m->dim, .out = out};
  lbbt_activation_hook prev = m->hook;
  void *prev_user = m->hook_user;
  m->hook = on_tokens;
  m->hook_user = &e;
  lbbt_status st = lbbt_eval_pass(m, ds, NULL, o->eval_batch, token_batch, &e);
  m->hook = prev;
  m->hook_user = prev_user;
  return st;
}

/* ---- the figure's examples ---------------------------------------------------------------- */
/* Image i of ds as floats in [0, 1], out [C, H, W]. */
static void pixels01(const lbbt_dataset *ds, int64_t i, float *out) {
  const int64_t per = (int64_t)ds->channels * ds->height * ds->width;
  for (int64_t j = 0; j < per; j++) out[j] = (float)ds->pixels[i * per + j] / 255.0f;
}

static lbbt_status save_examples(lbbt_stage_ctx *ctx, const retrieval_options *o, const float *fq,
                                 const float *fg, const lbbt_dataset *gal, int64_t d, int query_is_gallery) {
  const lbbt_dataset *te = ctx->test;
  const int64_t ng = gal->n, len = query_is_gallery ? ng - 1 : ng;
  const int64_t top = o->example_top < len ? o->example_top : len;
  if (o->examples == 0 || top < 1) return LBBT_OK;
  int32_t *q = NULL;
  int64_t nq = 0;
  /* a fixed seed: the same queries for every seed and arm with the same test set */
  LBBT_TRY(lbbt_analysis_pick_images(te, o->examples, 0, "retrieval-examples", &q, &nq));
  const int64_t per = (int64_t)te->channels * te->height * te->width;
  int64_t *idx_all = malloc((size_t)(te->n * top) * sizeof(int64_t));
  float *sim_all = malloc((size_t)(te->n * top) * sizeof(float));
  int32_t *top_idx = malloc((size_t)(nq * top) * sizeof(int32_t));
  int32_t *top_lab = malloc((size_t)(nq * top) * sizeof(int32_t));
  int32_t *top_rel = malloc((size_t)(nq * top) * sizeof(int32_t));
  int32_t *q_lab = malloc((size_t)nq * sizeof(int32_t));
  float *top_sim = malloc((size_t)(nq * top) * sizeof(float));
  float *q_img = malloc((size_t)(nq * per) * sizeof(float));
  float *top_img = malloc((size_t)(nq * top * per) * sizeof(float));
  lbbt_status st = LBBT_OK;
  if (!idx_all || !sim_all || !top_idx || !top_lab || !top_rel || !q_lab || !top_sim || !q_img || !top_img)
    st = lbbt_fail(LBBT_E_NOMEM, "retrieval: out of memory for the examples");
  /* every query ranked (query i is gallery item i when the gallery is the test set) */
  if (st == LBBT_OK) st = lbbt_knn_cosine(fq, te->n, fg, ng, d, query_is_gallery, top, idx_all, sim_all);
  for (int64_t i = 0; st == LBBT_OK && i < nq; i++) {
    q_lab[i] = te->labels[q[i]];
    pixels01(te, q[i], q_img + i * per);
    for (int64_t j = 0; j < top; j++) {
      int64_t g = idx_all[(int64_t)q[i] * top + j];
      top_idx[i * top + j] = (int32_t)g;
      top_lab[i * top + j] = gal->labels[g];
      top_rel[i * top + j] = gal->labels[g] == q_lab[i];
      top_sim[i * top + j] = sim_all[(int64_t)q[i] * top + j];
      pixels01(gal, g, top_img + (i * top + j) * per);
    }
  }
  const int64_t s1[1] = {nq}, s2[2] = {nq, top};
  const int64_t s4[4] = {nq, te->channels, te->height, te->width};
  const int64_t s5[5] = {nq, top, te->channels, te->height, te->width};
  if (st == LBBT_OK) st = lbbt_stage_array_i32(ctx, "examples/query", 1, s1, q);
  if (st == LBBT_OK) st = lbbt_stage_array_i32(ctx, "examples/query_label", 1, s1, q_lab);
  if (st == LBBT_OK) st = lbbt_stage_array_i32(ctx, "examples/top", 2, s2, top_idx);
  if (st == LBBT_OK) st = lbbt_stage_array_i32(ctx, "examples/top_label", 2, s2, top_lab);
  if (st == LBBT_OK) st = lbbt_stage_array_i32(ctx, "examples/top_relevant", 2, s2, top_rel);
  if (st == LBBT_OK) st = lbbt_stage_array_f32(ctx, "examples/top_similarity", 2, s2, top_sim);
  if (st == LBBT_OK) st = lbbt_stage_array_f32(ctx, "examples/query_pixels", 4, s4, q_img);
  if (st == LBBT_OK) st = lbbt_stage_array_f32(ctx, "examples/top_pixels", 5, s5, top_img);
  free(q);
  free(idx_all);
  free(sim_all);
  free(top_idx);
  free(top_lab);
  free(top_rel);
  free(q_lab);
  free(top_sim);
  free(q_img);
  free(top_img);
  return st;
}

/* ---- run ---------------------------------------------------------------------------------- */
static lbbt_status record_metrics(lbbt_stage_ctx *ctx, const lbbt_retrieval_metrics *r, int64_t ng) {
  char key[64];
  LBBT_TRY(lbbt_stage_scalar(ctx, "map", 100.0 * r->map));
  for (int i = 0; i < r->n_k; i++) {
    long long k = (long long)r->ks[i];
    snprintf(key, sizeof key, "pass_at_%lld", k);
    LBBT_TRY(lbbt_stage_scalar(ctx, key, 100.0 * r->precision_at[i]));
    snprintf(key, sizeof key, "recall_at_%lld", k);
    LBBT_TRY(lbbt_stage_scalar(ctx, key, 100.0 * r->recall_hit_at[i]));
    snprintf(key, sizeof key, "recall_frac_at_%lld", k);
    LBBT_TRY(lbbt_stage_scalar(ctx, key, 100.0 * r->recall_frac_at[i]));
    snprintf(key, sizeof key, "ndcg_at_%lld", k);
    LBBT_TRY(lbbt_stage_scalar(ctx, key, 100.0 * r->ndcg_at[i]));
  }
  LBBT_TRY(lbbt_stage_scalar(ctx, "n_queries", (double)r->n_queries));
  LBBT_TRY(lbbt_stage_scalar(ctx, "n_scored", (double)r->n_scored));
  LBBT_TRY(lbbt_stage_scalar(ctx, "gallery_size", (double)ng));
  return LBBT_OK;
}

static lbbt_status retrieval_run(lbbt_stage_ctx *ctx) {
  const retrieval_options *o = lbbt_stage_options(ctx->stage);
  const lbbt_dataset *te = ctx->test;
  const int query_is_gallery = o->gallery == GALLERY_TEST;
  const lbbt_dataset *gal = query_is_gallery ? te : ctx->train;
  const int64_t d = ctx->model->dim, nq = te->n, ng = gal->n;
  int64_t ks[LBBT_RETRIEVAL_MAX_K];
  int n_k;
  LBBT_TRY(parse_ks(o->ks, ctx->exp->file, ctx->stage->name, ks, &n_k));
  if (o->pool == POOL_CLS && ctx->run->backbone.pool != LBBT_POOL_CLS)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': pool: cls needs a class token (backbone.pool: cls)",
                     ctx->exp->file, ctx->stage->name);
  const int64_t len = query_is_gallery ? ng - 1 : ng;
  if (ks[n_k - 1] > len)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': k = %lld is more than the %lld gallery items per query",
                     ctx->exp->file, ctx->stage->name, (long long)ks[n_k - 1], (long long)len);
  float *fq = malloc((size_t)(nq * d) * sizeof(float));
  float *fg = query_is_gallery ? fq : malloc((size_t)(ng * d) * sizeof(float));
  int64_t *lq = malloc((size_t)nq * sizeof(int64_t));
  int64_t *lg = malloc((size_t)ng * sizeof(int64_t));
  lbbt_status st = fq && fg && lq && lg ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "retrieval: out of memory for features");
  if (st == LBBT_OK)
    lbbt_progress_log(ctx->progress, "run %d/%d stage %s: features of %lld queries and %lld gallery images (pool %s)",
                      ctx->run_index + 1, ctx->n_runs, ctx->stage->name, (long long)nq,
                      (long long)(query_is_gallery ? 0 : ng), POOLS[o->pool]);
  if (st == LBBT_OK) st = features(ctx, o, te, fq);
  if (st == LBBT_OK && !query_is_gallery) st = features(ctx, o, gal, fg);
  for (int64_t i = 0; st == LBBT_OK && i < nq * d; i++)
    if (!isfinite(fq[i])) st = lbbt_fail(LBBT_E_NUMERIC, "retrieval: stage '%s': a query feature is %g (image %lld)",
                                         ctx->stage->name, (double)fq[i], (long long)(i / d));
  for (int64_t i = 0; st == LBBT_OK && !query_is_gallery && i < ng * d; i++)
    if (!isfinite(fg[i])) st = lbbt_fail(LBBT_E_NUMERIC, "retrieval: stage '%s': a gallery feature is %g (image %lld)",
                                         ctx->stage->name, (double)fg[i], (long long)(i / d));
  for (int64_t i = 0; st == LBBT_OK && i < nq; i++) lq[i] = te->labels[i];
  for (int64_t i = 0; st == LBBT_OK && i < ng; i++) lg[i] = gal->labels[i];
  lbbt_retrieval_metrics r;
  if (st == LBBT_OK) st = lbbt_retrieval_evaluate(fq, lq, nq, fg, lg, ng, d, query_is_gallery, ks, n_k, &r);
  if (st == LBBT_OK) st = record_metrics(ctx, &r, ng);
  if (st == LBBT_OK) {
    /* the examples rank normalised features; evaluate normalises its own copies */
    lbbt_l2_normalize_rows(fq, nq, d);
    if (!query_is_gallery) lbbt_l2_normalize_rows(fg, ng, d);
    st = save_examples(ctx, o, fq, fg, gal, d, query_is_gallery);
  }
  if (st == LBBT_OK) st = lbbt_stage_options_record(ctx, &OPTIONS);
  if (st == LBBT_OK)
    lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s: retrieval mAP %.2f, Pass@%lld %.2f (%lld queries)",
                      ctx->run_index + 1, ctx->n_runs, ctx->run->id, ctx->stage->name, 100.0 * r.map,
                      (long long)ks[0], 100.0 * r.precision_at[0], (long long)r.n_scored);
  free(fq);
  if (!query_is_gallery) free(fg);
  free(lq);
  free(lg);
  return st;
}

/* The run's vision model (its features; its head is unused) and images with class labels
 * (relevance = same class).  Not cacheable: it changes no parameter and is a run's last stage. */
static lbbt_status retrieval_needs(const lbbt_stage_spec *stage, lbbt_task_needs *out) {
  (void)stage;
  out->what = LBBT_NEED_VISION_MODEL | LBBT_NEED_IMAGE_DATA;
  out->targets = LBBT_TARGETS_CLASS;
  return LBBT_OK;
}

static const lbbt_task_ops RETRIEVAL_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = retrieval_validate,
    .run = retrieval_run,
    .needs = retrieval_needs,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_TASK,
    .name = PLUGIN_NAME,
    .summary = "image retrieval by exact cosine kNN on frozen pooled features: mAP, Pass@k, Recall@k, NDCG@k",
    .task = &RETRIEVAL_OPS,
    .options = &OPTIONS,
};
