/* Global gradient-norm clipping and the NaN/Inf check over an optimizer's gradients. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "optim/optim_internal.h"

/* Partial sums are taken over chunks of this many elements and added in chunk order, so
 * the norm is the same whatever the number of threads. */
#define NORM_CHUNK 16384

/* Sum of squares of x[0..n) in double, thread-count independent. */
static lbbt_status sum_squares(const float *x, int64_t n, double *out) {
  int64_t n_chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
  if (n_chunks <= 1) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    *out = s;
    return LBBT_OK;
  }
  double *partial = malloc((size_t)n_chunks * sizeof *partial);
  if (!partial) return lbbt_fail(LBBT_E_NOMEM, "clip_grad_norm: out of memory");
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < n_chunks; c++) {
    int64_t lo = c * NORM_CHUNK, hi = lo + NORM_CHUNK < n ? lo + NORM_CHUNK : n;
    double s = 0;
    for (int64_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
    partial[c] = s;
  }
  double s = 0;
  for (int64_t c = 0; c < n_chunks; c++) s += partial[c];
  free(partial);
  *out = s;
  return LBBT_OK;
}

lbbt_status lbbt_optim_clip_grad_norm(lbbt_optim *o, double max_norm, double *total_norm) {
  double sum = 0;
  for (int i = 0; i < o->n_params; i++) {
    const optim_param *p = &o->params[i];
    if (!optim_param_active(p)) continue;
    double s = 0;
    LBBT_TRY(sum_squares(p->t->grad, p->t->numel, &s));
    sum += s;
  }
  double norm = sqrt(sum);
  if (total_norm) *total_norm = norm;
  if (!(max_norm > 0) || !isfinite(norm)) return LBBT_OK;
  /* PyTorch: clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1. */
  double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return LBBT_OK; /* multiplying by 1 would change nothing */
  const float scale = (float)coef;
  for (int i = 0; i < o->n_params; i++) {
    optim_param *p = &o->params[i];
    if (!optim_param_active(p)) continue;
    float *g = p->t->grad;
    const int64_t n = p->t->numel;
#pragma omp parallel for schedule(static) if (n >= LBBT_OPTIM_PARALLEL_MIN)
    for (int64_t j = 0; j < n; j++) g[j] *= scale;
  }
  return LBBT_OK;
}

lbbt_status lbbt_optim_check_finite(const lbbt_optim *o) {
  for (int i = 0; i < o->n_params; i++) {
    const optim_param *p = &o->params[i];
    if (!optim_param_active(p)) continue;
    const float *g = p->t->grad;
    const int64_t n = p->t->numel;
    int64_t first = -1, bad = 0;
    for (int64_t j = 0; j < n; j++)
      if (!isfinite(g[j])) {
        if (first < 0) first = j;
        bad++;
      }
    if (first >= 0) {
      char shape[96];
      return lbbt_fail(LBBT_E_NUMERIC,
                       "gradient of '%s' %s is not finite: element %lld is %g (%lld of %lld "
                       "elements non-finite); lower the learning rate, enable gradient clipping "
                       "or check the loss and the inputs",
                       p->name, lbbt_shape_str(p->t, shape, sizeof shape), (long long)first,
                       (double)g[first], (long long)bad, (long long)n);
    }
  }
  return LBBT_OK;
}
