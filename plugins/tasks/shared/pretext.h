/* The self-supervised pretext tasks' maths (the `ssl` task plugin; compiled into every task
 * plugin and the unit tests, plugins/tasks/shared/): rotating images, SimCLR's NT-Xent loss,
 * MAE's per-patch pixel targets, random patch masking and masked reconstruction loss.
 * Shapes: B images, C channels, S side, N rows or patches, D feature / patch size.
 * Tested against numpy (tests/reference/make_pretext_fixtures.py) and finite differences
 * (tests/unit/test_pretext.c). */
#ifndef LBBT_TASKS_PRETEXT_H
#define LBBT_TASKS_PRETEXT_H
#include <stdint.h>

#include "lbbt/rng.h"
#include "lbbt/tensor.h"

/* dst [C, S, S] = src rotated by k * 90 degrees counter-clockwise, as torch.rot90(src, k,
 * dims=(1, 2)): k = 1 gives dst[c][i][j] = src[c][j][S - 1 - i].  k in 0..3. */
void pretext_rotate90(const float *src, int channels, int side, int k, float *dst);

/* out [N, D] = x / max(||x||_2, eps) per row (F.normalize). Differentiable. */
lbbt_status pretext_l2_normalize(lbbt_tape *t, lbbt_tensor *x, float eps, lbbt_tensor **out);

/* SimCLR's NT-Xent (normalised temperature-scaled cross-entropy) over z [2N, D], whose rows
 * i and i + N are the two views of one image: rows are L2-normalised, s = z z^T / tau, the
 * diagonal left out, and the loss is the mean over the 2N rows of cross-entropy with the
 * other view as the target (the other 2N - 2 rows are the negatives).  out [1].
 * *correct (may be NULL) = rows whose other view scores highest. */
lbbt_status pretext_nt_xent(lbbt_tape *t, lbbt_tensor *z, float temperature, lbbt_tensor **out,
                            int64_t *correct);

/* MAE's patchify with norm_pix_loss: images [B, C, S, S] -> out [B, N, P*P*C] (N = (S/P)^2,
 * patches row-major, each patch's pixels row-major with channels last, as MAE's
 * einsum('nchpwq->nhwpqc')); with norm_pix each patch becomes (x - mean) / sqrt(var + 1e-6),
 * var unbiased (torch's default).  out is the caller's. */
void pretext_patch_targets(const float *images, int64_t B, int channels, int side, int patch, int norm_pix,
                           float *out);

/* MAE's random_masking for one image: a permutation of the N patches from the stream r
 * (MAE sorts uniform noise; a Fisher-Yates shuffle is the same distribution); the first
 * n_keep are visible.  keep [n_keep] ascending patch indices; mask [N]: 1 = masked.
 * restore [N]: where patch n sits in the sequence [visible in `keep` order, then masked in
 * ascending order] (the decoder's gather).  n_patches <= PRETEXT_MAX_PATCHES. */
#define PRETEXT_MAX_PATCHES 4096
void pretext_random_mask(lbbt_rng *r, int n_patches, int n_keep, int32_t *keep, uint8_t *mask, int32_t *restore);

/* Mean over masked patches (mask [B * N] 1) of the mean over D of (pred - target)^2:
 * pred [B, N, D] on the tape, target [B * N * D] constant floats.  out [1]; no masked patch
 * is LBBT_E_INPUT. */
lbbt_status pretext_masked_mse(lbbt_tape *t, lbbt_tensor *pred, const float *target, const uint8_t *mask,
                               lbbt_tensor **out);

#endif
