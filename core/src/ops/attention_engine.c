/* attn_forward / attn_backward; see attention_engine.h.  The fused path (small T, S, D)
 * is described where it is defined; what follows is the chunked oneDNN path.
 *
 * Shapes: the products run over the batch dims [nb, Hkv, group] (group = Hq / Hkv query
 * heads per kv head; the group dim is left out when it is 1), nb being the batch chunk.
 * k and v views have size 1 in the group dim, which oneDNN broadcasts.  Scores,
 * probabilities and their gradients are contiguous [nb, Hq, T, S] = [nb, Hkv, group, T, S].
 * dK and dV sum over a kv head's group of query heads: one accumulating product per group
 * member g (a single one without grouped-query attention).
 *
 * Memory: training keeps P [B, Hq, T, S] (the caller's probs); the backward's dP/dS and
 * the scores of an inference forward are arena scratch of one chunk (ATTN_CHUNK_BYTES or
 * one sample, whichever is larger), released before returning. */
#include "ops/attention_engine.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#include "autograd/tape_internal.h"
#include "lbbt/isa.h"
#include "ops/dnnl_util.h"
#include "ops/mm_prim.h"
#include "ops/op_util.h"
#include "ops/row_kernels.h"
#include "ops/small_mm.h"

/* Scores per batch chunk, in bytes (at least one sample per chunk).  Each chunk's scores
 * are computed, softmaxed and multiplied by V (in backward: dP formed, turned into dS and
 * multiplied) while they are still in cache, so this is sized for L2, not for memory:
 * 1 MiB measured 8% faster training and 15% faster inference than whole-batch products at
 * d 64 / 8 heads / batch 256, and no slower at d 128. */
#define ATTN_CHUNK_BYTES ((int64_t)1 << 20)

static int64_t chunk_size(const attn_problem *p) {
  int64_t per_sample = p->Hq * p->T * p->S * (int64_t)sizeof(float);
  int64_t n = ATTN_CHUNK_BYTES / per_sample;
  return n < 1 ? 1 : (n > p->B ? p->B : n);
}

/* Push one batch dim (size, stride) onto a view under construction. */
static void push_dim(lbbt_mm_view *v, int64_t size, int64_t stride) {
  v->dims[v->nd] = size;
  v->strides[v->nd] = stride;
  v->nd++;
}

static void finish_matrix(lbbt_mm_view *v, int64_t rows, int64_t rs, int64_t cols, int64_t cs,
                          int trans) {
  if (trans) {
    push_dim(v, cols, cs);
    push_dim(v, rows, rs);
  } else {
    push_dim(v, rows, rs);
    push_dim(v, cols, cs);
  }
}

/* A per-query-head operand (q, out, dout): [nb, Hkv, (group,) L, D]. */
static void view_heads(lbbt_mm_view *v, const attn_problem *p, const attn_operand *o, int64_t nb,
                       int64_t L, int trans) {
  const int64_t group = p->Hq / p->Hkv;
  v->nd = 0;
  push_dim(v, nb, o->sb);
  push_dim(v, p->Hkv, group * o->sh);
  if (group > 1) push_dim(v, group, o->sh);
  finish_matrix(v, L, o->sl, p->D, 1, trans);
}

/* A kv operand (k, v), broadcast over the group: [nb, Hkv, (1,) L, D]. */
static void view_kv(lbbt_mm_view *v, const attn_problem *p, const attn_operand *o, int64_t nb,
                    int64_t L, int trans) {
  v->nd = 0;
  push_dim(v, nb, o->sb);
  push_dim(v, p->Hkv, o->sh);
  if (p->Hq > p->Hkv) push_dim(v, 1, o->sh);
  finish_matrix(v, L, o->sl, p->D, 1, trans);
}

/* Contiguous scores [nb, Hkv, (group,) T, S], transposed to [.., S, T] when trans. */
static void view_scores(lbbt_mm_view *v, const attn_problem *p, int64_t nb, int trans) {
  const int64_t group = p->Hq / p->Hkv, TS = p->T * p->S;
  v->nd = 0;
  push_dim(v, nb, p->Hq * TS);
  push_dim(v, p->Hkv, group * TS);
  if (group > 1) push_dim(v, group, TS);
  finish_matrix(v, p->T, p->S, p->S, 1, trans);
}

/* For group member g: scores of query heads h = kvh * group + g as [nb, Hkv, S, T]
 * (transposed; data at offset g*T*S), and a per-query-head operand as [nb, Hkv, T, D]
 * (data at offset g*sh), so that one product covers every kv head. */
static void view_scores_member_t(lbbt_mm_view *v, const attn_problem *p, int64_t nb) {
  const int64_t group = p->Hq / p->Hkv, TS = p->T * p->S;
  v->nd = 0;
  push_dim(v, nb, p->Hq * TS);
  push_dim(v, p->Hkv, group * TS);
  finish_matrix(v, p->T, p->S, p->S, 1, 1);
}
static void view_heads_member(lbbt_mm_view *v, const attn_problem *p, const attn_operand *o,
                              int64_t nb) {
  const int64_t group = p->Hq / p->Hkv;
  v->nd = 0;
  push_dim(v, nb, o->sb);
  push_dim(v, p->Hkv, group * o->sh);
  finish_matrix(v, p->T, o->sl, p->D, 1, 0);
}
/* A kv operand without the group dim: [nb, Hkv, S, D] (the dK, dV destinations). */
static void view_kv_plain(lbbt_mm_view *v, const attn_problem *p, const attn_operand *o,
                          int64_t nb) {
  v->nd = 0;
  push_dim(v, nb, o->sb);
  push_dim(v, p->Hkv, o->sh);
  finish_matrix(v, p->S, o->sl, p->D, 1, 0);
}

/* Keys a causal query t may see: the prefix 0 .. end-1 (S when not causal). */
static inline int64_t allowed_end(int causal, int64_t t, int64_t T, int64_t S) {
  if (!causal) return S;
  int64_t end = t + (S - T) + 1;
  return end < 0 ? 0 : (end > S ? S : end);
}

/* ---- Fused path: one (sample, head) at a time, its scores in cache ----------------------
 *
 * When T, S and D are at most ATTN_FUSED_MAX of the ISA level (vision at the smoke and cpu
 * tiers at every level; the cpu tier's language model with AVX-512), each (sample, head)
 * runs its whole chain -
 * scores, softmax, P V; in backward dV, dP, dS, dQ, dK - on lbbt_small_mm (small_mm.h)
 * with the T x S block never leaving the thread's cache.  The backward's unit is a
 * (sample, kv head) with its group of query heads in turn, so dK and dV have one writer.
 * Every item is computed by one thread in a fixed order: results do not depend on the
 * thread count.  Against the batched oneDNN products below, back to back on one quiet
 * machine (docs/BENCH.md): training +24% images/s at d 64 (head dim 8), +5% at d 128,
 * within noise at d 256, where attention is a small share of the step. */
/* The largest T, S and D the fused path takes, per ISA level (lbbt/isa.h): the measured
 * crossover depends on the small matmul's width.  With AVX-512 the fused path won at the
 * language model's T = S = 128 too.  Capped to AVX2 and to the baseline (bench_train, fused
 * vs batched interleaved on a shared 2-core AMD EPYC, load 15-22, images or tokens per
 * CPU-second): at T = S = 49, D = 8 (d 64 / 8 heads) fused is 4-10% faster (AVX2) or no
 * slower (baseline); at the language model's T = S = 128, D = 32 batched oneDNN is 4-11%
 * (AVX2) and 9-13% (baseline) faster.  So 64 below AVX-512. */
static const int64_t ATTN_FUSED_MAX[LBBT_ISA_COUNT] = {
    [LBBT_ISA_BASELINE] = 64, [LBBT_ISA_AVX2] = 64, [LBBT_ISA_AVX512] = 128};

static int fused_fits(const attn_problem *p) {
  const int64_t max = ATTN_FUSED_MAX[lbbt_isa_active()];
  return p->T <= max && p->S <= max && p->D <= max;
}

static int64_t max3(int64_t a, int64_t b, int64_t c) {
  int64_t m = a > b ? a : b;
  return m > c ? m : c;
}

/* Per-thread scratch: the packed right operand, then a T x S block (scores or dS), each
 * a multiple of 16 floats so the second stays 64-byte aligned. */
typedef struct fused_scratch {
  float *base;
  int64_t pack, block, per_thread;
} fused_scratch;

static lbbt_status fused_scratch_get(lbbt_tape *t, const attn_problem *p, int threads,
                                     fused_scratch *fs) {
  const int64_t T = p->T, S = p->S, D = p->D;
  fs->pack = (max3(lbbt_small_mm_scratch_floats(D, S), lbbt_small_mm_scratch_floats(S, D),
                   lbbt_small_mm_scratch_floats(T, D)) + 15) / 16 * 16;
  fs->block = (T * S + 15) / 16 * 16;
  fs->per_thread = fs->pack + fs->block;
  fs->base = op_scratch(t, fs->per_thread * threads);
  return fs->base ? LBBT_OK : LBBT_E_NOMEM;
}

static int fused_threads(const attn_problem *p, int64_t items) {
  int n = omp_get_max_threads();
  if (items < 2 || items * p->T * p->S * p->D < 8 * LBBT_PAR_MIN_ELEMS) n = 1;
  return n;
}

static lbbt_status fused_forward(lbbt_tape *t, const attn_problem *p, const float *q,
                                 const float *k, const float *v, const float *bias, float *out,
                                 float *probs) {
  const row_kernels *rk = row_kernels_active(); /* this ISA level's (row_kernels.h) */
  const int64_t Hq = p->Hq, T = p->T, S = p->S, D = p->D, group = p->Hq / p->Hkv;
  const int64_t items = p->B * Hq;
  const int threads = fused_threads(p, items);
  lbbt_tape_mark mark = lbbt_tape_mark_get(t);
  fused_scratch fs;
  LBBT_TRY(fused_scratch_get(t, p, threads, &fs));
#pragma omp parallel num_threads(threads)
  {
    float *pack = fs.base + omp_get_thread_num() * fs.per_thread, *block = pack + fs.pack;
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; it++) {
      const int64_t b = it / Hq, h = it % Hq, kvh = h / group;
      const float *qi = q + p->q.offset + b * p->q.sb + h * p->q.sh;
      const float *ki = k + p->k.offset + b * p->k.sb + kvh * p->k.sh;
      const float *vi = v + p->v.offset + b * p->v.sb + kvh * p->v.sh;
      float *oi = out + p->out.offset + b * p->out.sb + h * p->out.sh;
      float *sc = probs ? probs + it * T * S : block;
      /* scores [T, S] = scale Q [T, D] @ K^T [D, S] */
      lbbt_small_mm(T, S, D, qi, p->q.sl, 1, ki, 1, p->k.sl, sc, S, p->scale, 0, pack);
      for (int64_t tq = 0; tq < T; tq++)
        rk->softmax_row(sc + tq * S, bias ? bias + (h * T + tq) * S : NULL,
                    p->key_mask ? p->key_mask + b * S : NULL, allowed_end(p->causal, tq, T, S),
                    S);
      /* out [T, D] = P [T, S] @ V [S, D] */
      lbbt_small_mm(T, D, S, sc, S, 1, vi, p->v.sl, 1, oi, p->out.sl, 1.0f, 0, pack);
    }
  }
  lbbt_tape_mark_release(t, mark);
  return LBBT_OK;
}

static lbbt_status fused_backward(lbbt_tape *t, const attn_problem *p, const float *q,
                                  const float *k, const float *v, const float *probs,
                                  const float *dout, float *dq, float *dk, float *dv,
                                  int accumulate) {
  const row_kernels *rk = row_kernels_active(); /* this ISA level's (row_kernels.h) */
  const int64_t Hq = p->Hq, Hkv = p->Hkv, T = p->T, S = p->S, D = p->D;
  const int64_t group = Hq / Hkv, items = p->B * Hkv;
  const int threads = fused_threads(p, items);
  lbbt_tape_mark mark = lbbt_tape_mark_get(t);
  fused_scratch fs;
  LBBT_TRY(fused_scratch_get(t, p, threads, &fs));
#pragma omp parallel num_threads(threads)
  {
    float *pack = fs.base + omp_get_thread_num() * fs.per_thread, *ds = pack + fs.pack;
#pragma omp for schedule(static)
    for (int64_t it = 0; it < items; it++) {
      const int64_t b = it / Hkv, kvh = it % Hkv;
      const float *ki = k + p->k.offset + b * p->k.sb + kvh * p->k.sh;
      const float *vi = v + p->v.offset + b * p->v.sb + kvh * p->v.sh;
      float *dki = dk ? dk + p->k.offset + b * p->k.sb + kvh * p->k.sh : NULL;
      float *dvi = dv ? dv + p->v.offset + b * p->v.sb + kvh * p->v.sh : NULL;
      for (int64_t g = 0; g < group; g++) {
        const int64_t h = kvh * group + g;
        const float *pi = probs + (b * Hq + h) * T * S;
        const float *qi = q + p->q.offset + b * p->q.sb + h * p->q.sh;
        const float *doi = dout + p->out.offset + b * p->out.sb + h * p->out.sh;
        const int acc_kv = accumulate || g > 0; /* the group's heads sum into dK, dV */
        /* dV [S, D] (+)= P^T [S, T] @ dO [T, D] */
        if (dvi)
          lbbt_small_mm(S, D, T, pi, 1, S, doi, p->out.sl, 1, dvi, p->v.sl, 1.0f, acc_kv, pack);
        if (!dq && !dk) continue;
        /* dP [T, S] = dO [T, D] @ V^T [D, S], then dS = P (dP - delta) in place */
        lbbt_small_mm(T, S, D, doi, p->out.sl, 1, vi, 1, p->v.sl, ds, S, 1.0f, 0, pack);
        for (int64_t r = 0; r < T; r++) rk->softmax_grad_row(pi + r * S, ds + r * S, S);
        /* dQ [T, D] (+)= scale dS [T, S] @ K [S, D] */
        if (dq)
          lbbt_small_mm(T, D, S, ds, S, 1, ki, p->k.sl, 1,
                        dq + p->q.offset + b * p->q.sb + h * p->q.sh, p->q.sl, p->scale,
                        accumulate, pack);
        /* dK [S, D] (+)= scale dS^T [S, T] @ Q [T, D] */
        if (dki)
          lbbt_small_mm(S, D, T, ds, 1, S, qi, p->q.sl, 1, dki, p->k.sl, p->scale, acc_kv, pack);
      }
    }
  }
  lbbt_tape_mark_release(t, mark);
  return LBBT_OK;
}

lbbt_status attn_forward(lbbt_tape *t, const attn_problem *p, const float *q, const float *k,
                         const float *v, const float *bias, float *out, float *probs) {
  const row_kernels *rk = row_kernels_active(); /* this ISA level's (row_kernels.h) */
  if (fused_fits(p)) return fused_forward(t, p, q, k, v, bias, out, probs);
  const int64_t B = p->B, Hq = p->Hq, T = p->T, S = p->S;
  const int64_t nb_max = chunk_size(p);
  lbbt_tape_mark mark = lbbt_tape_mark_get(t);
  float *scratch = NULL;
  if (!probs) {
    scratch = op_scratch(t, nb_max * Hq * T * S);
    if (!scratch) return LBBT_E_NOMEM;
  }
  lbbt_status st = LBBT_OK;
  for (int64_t b0 = 0; b0 < B && st == LBBT_OK; b0 += nb_max) {
    const int64_t nb = B - b0 < nb_max ? B - b0 : nb_max;
    float *scores = probs ? probs + b0 * Hq * T * S : scratch;
    lbbt_mm_view src, wei, dst;
    view_heads(&src, p, &p->q, nb, T, 0);
    view_kv(&wei, p, &p->k, nb, S, 1);
    view_scores(&dst, p, nb, 0);
    st = lbbt_mm_exec("attention (scores)", &src, &wei, &dst, NULL, p->scale, 0,
                      q + p->q.offset + b0 * p->q.sb, k + p->k.offset + b0 * p->k.sb, scores);
    if (st != LBBT_OK) break;
    const int64_t rows = nb * Hq * T;
#pragma omp parallel for if (rows * S >= LBBT_PAR_MIN_ELEMS) schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      const int64_t b = b0 + r / (Hq * T), h = (r / T) % Hq, tq = r % T;
      rk->softmax_row(scores + r * S, bias ? bias + (h * T + tq) * S : NULL,
                  p->key_mask ? p->key_mask + b * S : NULL, allowed_end(p->causal, tq, T, S), S);
    }
    view_scores(&src, p, nb, 0);
    view_kv(&wei, p, &p->v, nb, S, 0);
    view_heads(&dst, p, &p->out, nb, T, 0);
    st = lbbt_mm_exec("attention (P V)", &src, &wei, &dst, NULL, 1.0f, 0, scores,
                      v + p->v.offset + b0 * p->v.sb, out + p->out.offset + b0 * p->out.sb);
  }
  lbbt_tape_mark_release(t, mark);
  return st;
}

/* With P the probabilities and dO the output gradient:
 *   dP = dO V^T,  dS = P (dP - delta) with delta_t = sum_s P_ts dP_ts (= dO_t . O_t),
 *   dQ += scale dS K,  dK += scale dS^T Q,  dV += P^T dO,  dbias[h] += sum_b dS[b, h].
 * Masked keys have P = 0, hence dS = 0: they pass no gradient. */
lbbt_status attn_backward(lbbt_tape *t, const attn_problem *p, const float *q, const float *k,
                          const float *v, const float *probs, const float *dout, float *dq,
                          float *dk, float *dv, float *dbias, int accumulate) {
  const row_kernels *rk = row_kernels_active(); /* this ISA level's (row_kernels.h) */
  if (fused_fits(p) && !dbias)
    return fused_backward(t, p, q, k, v, probs, dout, dq, dk, dv, accumulate);
  const int64_t B = p->B, Hq = p->Hq, T = p->T, S = p->S, group = p->Hq / p->Hkv;
  const int64_t nb_max = chunk_size(p);
  lbbt_tape_mark mark = lbbt_tape_mark_get(t);
  float *ds = op_scratch(t, nb_max * Hq * T * S);
  if (!ds) return LBBT_E_NOMEM;
  lbbt_status st = LBBT_OK;
  for (int64_t b0 = 0; b0 < B && st == LBBT_OK; b0 += nb_max) {
    const int64_t nb = B - b0 < nb_max ? B - b0 : nb_max;
    const float *pc = probs + b0 * Hq * T * S;
    const float *qc = q + p->q.offset + b0 * p->q.sb, *kc = k + p->k.offset + b0 * p->k.sb;
    const float *vc = v + p->v.offset + b0 * p->v.sb;
    const float *doc = dout + p->out.offset + b0 * p->out.sb;
    lbbt_mm_view src, wei, dst;
    /* dV += P^T dO, one accumulating product per group member */
    for (int64_t g = 0; dv && g < group && st == LBBT_OK; g++) {
      view_scores_member_t(&src, p, nb);
      view_heads_member(&wei, p, &p->out, nb);
      view_kv_plain(&dst, p, &p->v, nb);
      st = lbbt_mm_exec("attention backward (dV)", &src, &wei, &dst, NULL, 1.0f,
                        accumulate || g, pc + g * T * S, doc + g * p->out.sh,
                        dv + p->v.offset + b0 * p->v.sb);
    }
    if (st != LBBT_OK || (!dq && !dk && !dbias)) continue;
    view_heads(&src, p, &p->out, nb, T, 0);
    view_kv(&wei, p, &p->v, nb, S, 1);
    view_scores(&dst, p, nb, 0);
    st = lbbt_mm_exec("attention backward (dP)", &src, &wei, &dst, NULL, 1.0f, 0, doc, vc, ds);
    if (st != LBBT_OK) break;
    const int64_t rows = nb * Hq * T;
#pragma omp parallel for if (rows * S >= LBBT_PAR_MIN_ELEMS) schedule(static)
    for (int64_t r = 0; r < rows; r++) rk->softmax_grad_row(pc + r * S, ds + r * S, S);
    if (dbias) {
      const int64_t per_sample = Hq * T * S;
#pragma omp parallel for if (nb * per_sample >= LBBT_PAR_MIN_ELEMS) schedule(static)
      for (int64_t i = 0; i < per_sample; i++) {
        float acc = 0.0f;
        for (int64_t b = 0; b < nb; b++) acc += ds[b * per_sample + i];
        dbias[i] += acc;
      }
    }
    if (dq) {
      view_scores(&src, p, nb, 0);
      view_kv(&wei, p, &p->k, nb, S, 0);
      view_heads(&dst, p, &p->q, nb, T, 0);
      st = lbbt_mm_exec("attention backward (dQ)", &src, &wei, &dst, NULL, p->scale, accumulate,
                        ds, kc, dq + p->q.offset + b0 * p->q.sb);
    }
    for (int64_t g = 0; dk && g < group && st == LBBT_OK; g++) {
      view_scores_member_t(&src, p, nb);
      view_heads_member(&wei, p, &p->q, nb);
      view_kv_plain(&dst, p, &p->k, nb);
      st = lbbt_mm_exec("attention backward (dK)", &src, &wei, &dst, NULL, p->scale,
                        accumulate || g, ds + g * T * S, qc + g * p->q.sh,
                        dk + p->k.offset + b0 * p->k.sb);
    }
  }
  lbbt_tape_mark_release(t, mark);
  return st;
}
