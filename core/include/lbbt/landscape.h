/* Loss landscapes (Figure 4 of the paper): the loss on a 2-D grid around the current
 * parameters along two random directions, filter-normalised as in Li et al. 2018 ("Visualizing
 * the Loss Landscape of Neural Nets", Section 4):
 *
 *   L(a, b) = L(theta0 + a d1 + b d2),   a, b in [-span, span] on a size x size grid.
 *
 * Filter normalisation: each direction starts as N(0, I); then, for every parameter tensor
 * with ndim >= 2, each filter (a slice along dim 0: an output channel of a convolution, a
 * row of an [out, in] weight, a token row of a position table) is rescaled to the norm of
 * the same filter of theta0, so a step of a = 1 moves every filter by its own size and
 * layers of different scales are comparable.  Tensors with ndim 1 (biases, norm gains) get 0
 * in the directions, as in Li et al.'s published code (its ignore='biasbn' option): they
 * stay at theta0.  docs/analyses.md has the full definition. */
#ifndef LBBT_LANDSCAPE_H
#define LBBT_LANDSCAPE_H
#include <stdint.h>

#include "lbbt/objective.h"

/* A filter-normalised direction [n] for theta0 [n] laid out by segs (sorted, covering
 * [0, n)), drawn from stream (seed, "landscape-direction", index). */
LBBT_API lbbt_status lbbt_landscape_direction(const lbbt_param_segment *segs, int n_segs,
                                     const double *theta0, int64_t n, uint64_t seed,
                                     uint64_t index, double *dir);
/* Coordinates of the grid: alphas[i] = -span + 2 span i / (size - 1), i < size (size >= 2). */
LBBT_API void lbbt_landscape_alphas(int size, double span, double *alphas);
/* grid [size * size], row-major: grid[i * size + j] = L(theta0 + alphas[i] d1 + alphas[j] d2).
 * size * size loss evaluations (forward only).  progress may be NULL. */
LBBT_API lbbt_status lbbt_landscape_grid(lbbt_objective *obj, const double *theta0, const double *d1,
                                const double *d2, int size, double span, double *grid,
                                void (*progress)(void *user, int done, int total), void *user);

#endif
