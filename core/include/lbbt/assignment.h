/* Minimum-cost rectangular assignment (the linear sum assignment problem), as
 * scipy.optimize.linear_sum_assignment defines it.
 *
 * Given cost [n_rows, n_cols] (row-major), choose k = min(n_rows, n_cols) pairs (i, j), each
 * row and each column used at most once, minimising the sum of their costs.  The algorithm is
 * the Hungarian method with potentials and shortest augmenting paths (Kuhn-Munkres in the
 * Jonker-Volgenant form): O(k^2 max(n_rows, n_cols)) time, O(n_rows + n_cols) memory.
 * Used by set-prediction losses (bipartite matching of predictions to targets); it knows
 * nothing about what the costs mean. */
#ifndef LBBT_ASSIGNMENT_H
#define LBBT_ASSIGNMENT_H
#include <stdint.h>

#include "lbbt/status.h"

/* row_to_col[n_rows]: the column assigned to each row, -1 for rows left unassigned (only
 * when n_rows > n_cols).  total (may be NULL): the sum of the chosen costs.
 * Costs may be +INFINITY (a forbidden pair); NaN or -INFINITY are LBBT_E_INPUT, as is a
 * matrix with no assignment of finite cost ("infeasible"), naming the row that cannot be
 * placed.  n_rows or n_cols 0 is valid (nothing assigned, total 0).  Among assignments of
 * equal cost the result is deterministic (a function of the matrix only). */
LBBT_API lbbt_status lbbt_linear_assignment(const double *cost, int64_t n_rows, int64_t n_cols,
                                            int64_t *row_to_col, double *total);

#endif
