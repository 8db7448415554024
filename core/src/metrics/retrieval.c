/* Exact cosine kNN and ranking metrics (lbbt/retrieval.h; formulas in docs/retrieval.md).
 * Similarities come from lbbt_mm_exec in blocks of QUERY_BLOCK queries: sim[bq, ng] =
 * Q[bq, d] @ G[ng, d]^T, the gallery read transposed through its strides (no copy). */
#include "lbbt/retrieval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/mm_prim.h"

enum { QUERY_BLOCK = 64 };

typedef struct ranked {
  float sim;
  int64_t index;
} ranked;

/* Similarity descending, then gallery index ascending: a total order, so the ranking is
 * a function of the similarities only. */
static int ranked_cmp(const void *pa, const void *pb) {
  const ranked *a = pa, *b = pb;
  if (a->sim != b->sim) return a->sim > b->sim ? -1 : 1;
  return (a->index > b->index) - (a->index < b->index);
}

void lbbt_l2_normalize_rows(float *x, int64_t n, int64_t d) {
  for (int64_t i = 0; i < n; i++) {
    double ss = 0;
    for (int64_t j = 0; j < d; j++) ss += (double)x[i * d + j] * x[i * d + j];
    if (ss <= 0) continue;
    float inv = (float)(1.0 / sqrt(ss));
    for (int64_t j = 0; j < d; j++) x[i * d + j] *= inv;
  }
}

static float *normalized_copy(const float *x, int64_t n, int64_t d) {
  float *y = malloc((size_t)(n * d) * sizeof *y + 1);
  if (!y) return NULL;
  memcpy(y, x, (size_t)(n * d) * sizeof *y);
  lbbt_l2_normalize_rows(y, n, d);
  return y;
}

/* Walks the query blocks: for each query, its ranked gallery (self left out). */
typedef lbbt_status (*ranking_fn)(void *ctx, int64_t q, const ranked *r, int64_t len);

static lbbt_status for_each_ranking(const float *qn, int64_t nq, const float *gn, int64_t ng,
                                    int64_t d, int query_is_gallery, ranking_fn fn, void *ctx) {
  float *sims = malloc((size_t)(QUERY_BLOCK * ng) * sizeof *sims + 1);
  ranked *r = malloc((size_t)ng * sizeof *r + 1);
  lbbt_status st = LBBT_OK;
  if (!sims || !r) {
    st = lbbt_fail(LBBT_E_NOMEM, "retrieval: out of memory for a [%d, %lld] similarity block",
                   QUERY_BLOCK, (long long)ng);
    goto done;
  }
  for (int64_t q0 = 0; q0 < nq && st == LBBT_OK; q0 += QUERY_BLOCK) {
    int64_t bq = nq - q0 < QUERY_BLOCK ? nq - q0 : QUERY_BLOCK;
    lbbt_mm_view src, wei, dst;
    lbbt_mm_view_2d(&src, bq, d, 0);
    lbbt_mm_view_2d(&wei, ng, d, 1); /* G^T [d, ng] */
    lbbt_mm_view_2d(&dst, bq, ng, 0);
    st = lbbt_mm_exec("retrieval_sim", &src, &wei, &dst, NULL, 1.0f, 0, qn + q0 * d, gn, sims);
    for (int64_t b = 0; b < bq && st == LBBT_OK; b++) {
      int64_t q = q0 + b, len = 0;
      for (int64_t g = 0; g < ng; g++) {
        if (query_is_gallery && g == q) continue;
        r[len].sim = sims[b * ng + g];
        r[len].index = g;
        len++;
      }
      qsort(r, (size_t)len, sizeof *r, ranked_cmp);
      st = fn(ctx, q, r, len);
    }
  }
done:
  free(sims);
  free(r);
  return st;
}

static lbbt_status check_sizes(const char *what, int64_t nq, int64_t ng, int64_t d,
                               int query_is_gallery) {
  if (nq < 0 || ng < 0 || d < 1)
    return lbbt_fail(LBBT_E_INPUT, "%s: bad sizes nq %lld, ng %lld, d %lld", what, (long long)nq,
                     (long long)ng, (long long)d);
  if (query_is_gallery && nq != ng)
    return lbbt_fail(LBBT_E_INPUT, "%s: query_is_gallery needs nq == ng (%lld vs %lld)", what,
                     (long long)nq, (long long)ng);
  return LBBT_OK;
}

typedef struct knn_ctx {
  int64_t k;
  int64_t *idx;
  float *sim;
} knn_ctx;

static lbbt_status knn_take(void *vctx, int64_t q, const ranked *r, int64_t len) {
  knn_ctx *c = vctx;
  (void)len;
  for (int64_t j = 0; j < c->k; j++) {
    c->idx[q * c->k + j] = r[j].index;
    if (c->sim) c->sim[q * c->k + j] = r[j].sim;
  }
  return LBBT_OK;
}

lbbt_status lbbt_knn_cosine(const float *query, int64_t nq, const float *gallery, int64_t ng,
                            int64_t d, int query_is_gallery, int64_t k, int64_t *idx, float *sim) {
  lbbt_status st = check_sizes("knn_cosine", nq, ng, d, query_is_gallery);
  if (st) return st;
  int64_t len = query_is_gallery ? ng - 1 : ng;
  if (k < 1 || k > len)
    return lbbt_fail(LBBT_E_INPUT, "knn_cosine: k %lld outside [1, %lld] (ranking length)",
                     (long long)k, (long long)len);
  float *qn = normalized_copy(query, nq, d), *gn = normalized_copy(gallery, ng, d);
  knn_ctx ctx = {k, idx, sim};
  st = qn && gn ? for_each_ranking(qn, nq, gn, ng, d, query_is_gallery, knn_take, &ctx)
                : lbbt_fail(LBBT_E_NOMEM, "knn_cosine: out of memory for features");
  free(qn);
  free(gn);
  return st;
}

typedef struct eval_ctx {
  const int64_t *qlab, *glab;
  lbbt_retrieval_metrics *m;
} eval_ctx;

/* One query's AP, P@k, hit@k, recall@k, NDCG@k added to the running sums in m. */
static lbbt_status eval_take(void *vctx, int64_t q, const ranked *r, int64_t len) {
  eval_ctx *c = vctx;
  lbbt_retrieval_metrics *m = c->m;
  int64_t n_rel = 0;
  for (int64_t j = 0; j < len; j++) n_rel += c->glab[r[j].index] == c->qlab[q];
  if (n_rel == 0) return LBBT_OK;
  m->n_scored++;
  double ap = 0;
  int64_t hits = 0;
  for (int64_t j = 0; j < len; j++)
    if (c->glab[r[j].index] == c->qlab[q]) ap += (double)++hits / (double)(j + 1);
  m->map += ap / (double)n_rel;
  for (int i = 0; i < m->n_k; i++) {
    int64_t k = m->ks[i], top = k < len ? k : len, in_top = 0;
    double dcg = 0, idcg = 0;
    for (int64_t j = 0; j < top; j++)
      if (c->glab[r[j].index] == c->qlab[q]) in_top++, dcg += 1.0 / log2((double)j + 2.0);
    for (int64_t j = 0; j < (k < n_rel ? k : n_rel); j++) idcg += 1.0 / log2((double)j + 2.0);
    m->precision_at[i] += (double)in_top / (double)k;
    m->recall_hit_at[i] += in_top > 0;
    m->recall_frac_at[i] += (double)in_top / (double)n_rel;
    m->ndcg_at[i] += dcg / idcg;
  }
  return LBBT_OK;
}

lbbt_status lbbt_retrieval_evaluate(const float *query, const int64_t *query_labels, int64_t nq,
                                    const float *gallery, const int64_t *gallery_labels,
                                    int64_t ng, int64_t d, int query_is_gallery,
                                    const int64_t *ks, int n_k, lbbt_retrieval_metrics *out) {
  memset(out, 0, sizeof *out);
  lbbt_status st = check_sizes("retrieval_evaluate", nq, ng, d, query_is_gallery);
  if (st) return st;
  if (n_k < 1 || n_k > LBBT_RETRIEVAL_MAX_K)
    return lbbt_fail(LBBT_E_INPUT, "retrieval_evaluate: %d values of k (1 to %d allowed)", n_k,
                     LBBT_RETRIEVAL_MAX_K);
  for (int i = 0; i < n_k; i++) {
    if (ks[i] < 1)
      return lbbt_fail(LBBT_E_INPUT, "retrieval_evaluate: k[%d] = %lld (must be >= 1)", i,
                       (long long)ks[i]);
    out->ks[i] = ks[i];
  }
  out->n_k = n_k;
  out->n_queries = nq;
  float *qn = normalized_copy(query, nq, d), *gn = normalized_copy(gallery, ng, d);
  eval_ctx ctx = {query_labels, gallery_labels, out};
  st = qn && gn ? for_each_ranking(qn, nq, gn, ng, d, query_is_gallery, eval_take, &ctx)
                : lbbt_fail(LBBT_E_NOMEM, "retrieval_evaluate: out of memory for features");
  free(qn);
  free(gn);
  if (st) return st;
  double n = out->n_scored ? (double)out->n_scored : NAN;
  out->map /= n;
  for (int i = 0; i < n_k; i++) {
    out->precision_at[i] /= n;
    out->recall_hit_at[i] /= n;
    out->recall_frac_at[i] /= n;
    out->ndcg_at[i] /= n;
  }
  return LBBT_OK;
}
