/* Minimum-cost rectangular assignment: the Hungarian method with row/column potentials and
 * Dijkstra-like shortest augmenting paths (Kuhn-Munkres as Jonker and Volgenant organise
 * it; the loop follows the well-known O(n^2 m) formulation, e.g. e-maxx.ru "Hungarian
 * algorithm").  Rows are added one at a time; each addition grows a tree of tight edges
 * (reduced cost cost[i][j] - u[i] - v[j] = 0) until it reaches a free column, then flips the
 * path.  The potentials keep every reduced cost >= 0, which is the certificate that the
 * final assignment is optimal.
 *
 * The working orientation has n <= m (the short side are the "rows"); a tall matrix is
 * read transposed.  +INFINITY costs are never tight, so they are never chosen; when no free
 * column is reachable at finite cost (delta = +inf) the problem is infeasible. */
#include "lbbt/assignment.h"

#include <math.h>
#include <stdlib.h>

typedef struct oriented_cost {
  const double *cost;
  int64_t ld;     /* leading dimension of the caller's matrix (n_cols) */
  int transposed; /* working row i, column j = caller's (j, i) */
} oriented_cost;

static inline double oc_at(const oriented_cost *c, int64_t i, int64_t j) {
  return c->transposed ? c->cost[j * c->ld + i] : c->cost[i * c->ld + j];
}

lbbt_status lbbt_linear_assignment(const double *cost, int64_t n_rows, int64_t n_cols,
                                   int64_t *row_to_col, double *total) {
  if (total) *total = 0.0;
  if (n_rows < 0 || n_cols < 0)
    return lbbt_fail(LBBT_E_INPUT, "linear_assignment: negative size [%lld, %lld]",
                     (long long)n_rows, (long long)n_cols);
  for (int64_t i = 0; i < n_rows; i++) row_to_col[i] = -1;
  if (n_rows == 0 || n_cols == 0) return LBBT_OK;
  for (int64_t k = 0; k < n_rows * n_cols; k++)
    if (isnan(cost[k]) || cost[k] == -INFINITY)
      return lbbt_fail(LBBT_E_INPUT,
                       "linear_assignment: cost [%lld, %lld] holds %g at row %lld, column %lld "
                       "(only finite values and +inf are allowed)",
                       (long long)n_rows, (long long)n_cols, cost[k], (long long)(k / n_cols),
                       (long long)(k % n_cols));
  oriented_cost c = {cost, n_cols, n_rows > n_cols};
  int64_t n = c.transposed ? n_cols : n_rows, m = c.transposed ? n_rows : n_cols;
  /* 1-based as in the textbook form: column 0 is a virtual column holding the row being
   * added; p[j] is the row matched to column j (0: free); way[j] the previous column on the
   * shortest path to j. */
  double *u = calloc((size_t)n + 1, sizeof *u), *v = calloc((size_t)m + 1, sizeof *v);
  double *minv = malloc(((size_t)m + 1) * sizeof *minv);
  int64_t *p = calloc((size_t)m + 1, sizeof *p), *way = calloc((size_t)m + 1, sizeof *way);
  unsigned char *used = malloc((size_t)m + 1);
  lbbt_status st = LBBT_OK;
  if (!u || !v || !minv || !p || !way || !used) {
    st = lbbt_fail(LBBT_E_NOMEM, "linear_assignment: out of memory for [%lld, %lld]",
                   (long long)n_rows, (long long)n_cols);
    goto done;
  }
  for (int64_t i = 1; i <= n; i++) {
    p[0] = i;
    int64_t j0 = 0;
    for (int64_t j = 0; j <= m; j++) {
      minv[j] = INFINITY;
      used[j] = 0;
    }
    do {
      used[j0] = 1;
      int64_t i0 = p[j0], j1 = -1;
      double delta = INFINITY;
      for (int64_t j = 1; j <= m; j++) {
        if (used[j]) continue;
        double cur = oc_at(&c, i0 - 1, j - 1) - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      if (j1 < 0) { /* every free column is at +inf: this row cannot be placed */
        st = lbbt_fail(LBBT_E_INPUT,
                       "linear_assignment: cost [%lld, %lld] is infeasible: %s %lld has no "
                       "finite-cost assignment compatible with the %s before it",
                       (long long)n_rows, (long long)n_cols, c.transposed ? "column" : "row",
                       (long long)(i - 1), c.transposed ? "columns" : "rows");
        goto done;
      }
      for (int64_t j = 0; j <= m; j++) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do { /* flip the augmenting path back to the virtual column */
      int64_t j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0);
  }
  double sum = 0.0;
  for (int64_t j = 1; j <= m; j++) {
    if (!p[j]) continue;
    int64_t i = p[j] - 1, col = j - 1;
    if (c.transposed)
      row_to_col[col] = i; /* working row i is the caller's column i */
    else
      row_to_col[i] = col;
    sum += oc_at(&c, i, col);
  }
  if (total) *total = sum;
done:
  free(u);
  free(v);
  free(minv);
  free(p);
  free(way);
  free(used);
  return st;
}
