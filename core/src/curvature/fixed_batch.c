/* The fixed analysis batch; see fixed_batch.h. */
#include "lbbt/fixed_batch.h"

#include <stdlib.h>

#include "lbbt/rng.h"

static int cmp_i32(const void *a, const void *b) {
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  return (x > y) - (x < y);
}

void lbbt_fixed_batch_free(lbbt_fixed_batch *b) {
  if (!b) return;
  free(b->images);
  free(b->labels);
  free(b->indices);
  free(b);
}

lbbt_status lbbt_fixed_batch_create(const lbbt_dataset *ds, int64_t n, lbbt_label_mode mode,
                                    double ratio, uint64_t label_seed, uint64_t batch_seed,
                                    lbbt_fixed_batch **out) {
  *out = NULL;
  if (n < 1 || n > ds->n)
    return lbbt_fail(LBBT_E_INPUT, "analysis batch of %lld images from a training set of %lld: use a "
                     "batch_size from 1 to %lld", (long long)n, (long long)ds->n, (long long)ds->n);
  lbbt_fixed_batch *b = calloc(1, sizeof *b);
  int32_t *perm = malloc((size_t)ds->n * sizeof *perm);
  int32_t *all_labels = malloc((size_t)ds->n * sizeof *all_labels);
  lbbt_status st = LBBT_OK;
  if (b) {
    b->n = n;
    b->channels = ds->channels;
    b->height = ds->height;
    b->width = ds->width;
    b->images = malloc((size_t)n * (size_t)lbbt_dataset_image_numel(ds) * sizeof(float));
    b->labels = malloc((size_t)n * sizeof(int32_t));
    b->indices = malloc((size_t)n * sizeof(int32_t));
  }
  if (!b || !perm || !all_labels || !b->images || !b->labels || !b->indices) {
    st = lbbt_fail(LBBT_E_NOMEM, "analysis batch: out of memory for %lld images", (long long)n);
    goto done;
  }
  for (int64_t i = 0; i < ds->n; i++) perm[i] = (int32_t)i;
  lbbt_rng r;
  lbbt_rng_derive(&r, batch_seed, "analysis-batch", 0);
  lbbt_rng_shuffle_i32(&r, perm, ds->n);
  for (int64_t i = 0; i < n; i++) b->indices[i] = perm[i];
  qsort(b->indices, (size_t)n, sizeof *b->indices, cmp_i32);
  st = lbbt_labels_for_mode(ds, mode, ratio, label_seed, all_labels, NULL);
  if (st != LBBT_OK) goto done;
  st = lbbt_dataset_gather_f32(ds, b->indices, n, all_labels, b->images, b->labels);
  if (st != LBBT_OK) goto done;
  for (int64_t i = 0; i < n; i++) b->n_changed += b->labels[i] != ds->labels[b->indices[i]];
  *out = b;
  b = NULL;
done:
  lbbt_fixed_batch_free(b);
  free(perm);
  free(all_labels);
  return st;
}
