/* The fixed batch a curvature analysis (hessian, landscape) evaluates the training loss on:
 * the same images and labels for every evaluation, chosen by a seed and recorded by index.
 *
 * Images: `n` training images, the first n of a permutation of the dataset drawn from
 * (batch_seed, "analysis-batch", 0), then sorted by index; normalised as everywhere, with no
 * augmentation (crops and flips would change the function between evaluations).
 * Labels: lbbt_labels_for_mode over the whole training set with `mode`, `ratio` and
 * `label_seed`, the rule training stages use; passing label_seed = lbbt_label_seed(run seed,
 * stage name) gives the analysis exactly the labels that stage was trained with. */
#ifndef LBBT_FIXED_BATCH_H
#define LBBT_FIXED_BATCH_H
#include <stdint.h>

#include "lbbt/dataset.h"
#include "lbbt/types.h"

typedef struct lbbt_fixed_batch {
  int64_t n;
  int channels, height, width;
  float *images;    /* [n, C, H, W] */
  int32_t *labels;  /* [n] the labels the loss uses */
  int32_t *indices; /* [n] dataset indices, ascending */
  int64_t n_changed; /* how many of the n labels differ from the true ones */
} lbbt_fixed_batch;

/* 1 <= n <= ds->n (else LBBT_E_INPUT naming both).  *out is owned by the caller. */
LBBT_API lbbt_status lbbt_fixed_batch_create(const lbbt_dataset *ds, int64_t n, lbbt_label_mode mode,
                                    double ratio, uint64_t label_seed, uint64_t batch_seed,
                                    lbbt_fixed_batch **out);
LBBT_API void lbbt_fixed_batch_free(lbbt_fixed_batch *b); /* NULL-safe */

#endif
