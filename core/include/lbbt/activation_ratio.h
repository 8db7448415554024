/* The neuron activation ratio of Section 6 (Eqs. 5-6, Figure 7).
 *
 * For a transformer block l, an image x and MLP neuron j, with A in R^{T x H} the MLP hidden
 * activations after the nonlinearity (GELU in GPT-2; SiLU(gate) in LLaMA's SwiGLU, before the
 * product with the up projection):
 *     abar_j(x) = (1 / T') sum over visual tokens t of A[t, j]            (Eq. 5)
 * neuron j is activated by x when abar_j(x) > tau, and the layer's ratio is the fraction of
 * (image, neuron) pairs activated:  r_l = #{(x, j) : abar_j(x) > tau} / (N H)   (Eq. 6).
 * Visual tokens are tokens t0..T-1 (t0 = 1 skips a class token, which is not a patch). */
#ifndef LBBT_ACTIVATION_RATIO_H
#define LBBT_ACTIVATION_RATIO_H
#include <stdint.h>

#include "lbbt/status.h"

/* One batch act [B, T, H] (row-major): for each image b and neuron j, the mean of
 * act[b, t0..T-1, j] is compared with tau; counts[j] (may be NULL) += the images for which
 * neuron j is activated, and *pairs += the activated (image, neuron) pairs.
 * LBBT_E_INPUT unless B, H >= 1 and 0 <= t0 < T. */
LBBT_API lbbt_status lbbt_activation_count(const float *act, int64_t B, int64_t T, int64_t H, int64_t t0,
                                  double tau, int64_t *counts, int64_t *pairs);

#endif
