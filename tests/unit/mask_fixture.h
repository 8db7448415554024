/* A segmentation test pattern shared by the data tests (targets, views): 5 grey H x W images
 * whose mask and pixels carry the same content (class 1..9 in 5 x 4 blocks, shifted per
 * image; pixel = 20 * class), so any geometric transform can be checked on the mask by
 * reading the pixels. NULL (with lbbt_last_error) on failure; lbbt_dataset_free it. */
#ifndef LBBT_TEST_MASK_FIXTURE_H
#define LBBT_TEST_MASK_FIXTURE_H
#include <stddef.h>
#include <stdint.h>

#include "lbbt/dataset.h"

static inline lbbt_dataset *mask_dataset(int H, int W) {
  lbbt_dataset *ds = NULL;
  if (lbbt_dataset_create(5, 1, H, W, 10, &ds) != LBBT_OK) return NULL;
  if (lbbt_dataset_attach_masks(ds) != LBBT_OK) {
    lbbt_dataset_free(ds);
    return NULL;
  }
  for (int i = 0; i < 5; i++)
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        int c = 1 + (x / 5 + 2 * (y / 4) + i) % 9;
        ds->masks[((size_t)i * H + y) * W + x] = (uint8_t)c;
        ds->pixels[((size_t)i * H + y) * W + x] = (uint8_t)(20 * c);
      }
  return ds;
}

#endif
