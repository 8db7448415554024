/* Filter-normalised directions and the 2-D loss grid; see landscape.h. */
#include <math.h>
#include <stdlib.h>

#include "lbbt/landscape.h"
#include "lbbt/rng.h"

lbbt_status lbbt_landscape_direction(const lbbt_param_segment *segs, int n_segs,
                                     const double *theta0, int64_t n, uint64_t seed,
                                     uint64_t index, double *dir) {
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, "landscape-direction", index);
  int64_t covered = 0;
  for (int s = 0; s < n_segs; s++) {
    const lbbt_param_segment *g = &segs[s];
    if (g->offset != covered || g->numel < 1 || g->offset + g->numel > n)
      return lbbt_fail(LBBT_E_INTERNAL, "landscape: segment '%s' [%lld, +%lld) does not continue the "
                       "layout at %lld of %lld", g->name ? g->name : "?", (long long)g->offset,
                       (long long)g->numel, (long long)covered, (long long)n);
    covered += g->numel;
    double *d = dir + g->offset;
    const double *t = theta0 + g->offset;
    /* Draw for every entry, even zeroed ones, so a tensor's direction does not depend on
     * whether the tensors before it are normalised or zeroed. */
    for (int64_t i = 0; i < g->numel; i++) d[i] = lbbt_rng_normal(&r);
    if (g->ndim < 2 || g->rows < 1 || g->numel % g->rows) {
      for (int64_t i = 0; i < g->numel; i++) d[i] = 0;
      continue;
    }
    int64_t len = g->numel / g->rows;
    for (int64_t row = 0; row < g->rows; row++) {
      double dn = 0, tn = 0;
      for (int64_t i = row * len; i < (row + 1) * len; i++) {
        dn += d[i] * d[i];
        tn += t[i] * t[i];
      }
      double f = dn > 0 ? sqrt(tn / dn) : 0.0;
      for (int64_t i = row * len; i < (row + 1) * len; i++) d[i] *= f;
    }
  }
  if (covered != n)
    return lbbt_fail(LBBT_E_INTERNAL, "landscape: segments cover %lld of %lld parameters",
                     (long long)covered, (long long)n);
  return LBBT_OK;
}

void lbbt_landscape_alphas(int size, double span, double *alphas) {
  for (int i = 0; i < size; i++) alphas[i] = -span + 2.0 * span * i / (size - 1);
}

lbbt_status lbbt_landscape_grid(lbbt_objective *obj, const double *theta0, const double *d1,
                                const double *d2, int size, double span, double *grid,
                                void (*progress)(void *user, int done, int total), void *user) {
  if (size < 2 || !(span > 0) || !isfinite(span))
    return lbbt_fail(LBBT_E_INPUT, "landscape: grid size %d and span %g: need size >= 2 and span > 0",
                     size, span);
  int64_t n = obj->n;
  double *alphas = malloc((size_t)size * sizeof *alphas), *theta = malloc((size_t)n * sizeof *theta);
  lbbt_status st = alphas && theta ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "landscape: out of memory");
  if (st == LBBT_OK) lbbt_landscape_alphas(size, span, alphas);
  for (int i = 0; i < size && st == LBBT_OK; i++)
    for (int j = 0; j < size && st == LBBT_OK; j++) {
      for (int64_t k = 0; k < n; k++) theta[k] = theta0[k] + alphas[i] * d1[k] + alphas[j] * d2[k];
      st = lbbt_objective_eval(obj, theta, &grid[i * size + j], NULL);
      if (progress) progress(user, i * size + j + 1, size * size);
    }
  free(alphas);
  free(theta);
  return st;
}
