/* A synthetic, learnable image dataset for tests and smoke runs (never a default). */
#include <stdio.h>
#include <stdlib.h>

#include "lbbt/rng.h"
#include "data/data_internal.h"

#define SYNTH_GRID 4           /* prototype resolution before upsampling */
#define SYNTH_PROTO_AMPLITUDE 90.0 /* prototype pixels span 128 +- this */
#define SYNTH_NOISE_STD 24.0   /* per-pixel Gaussian noise, in 8-bit units */

lbbt_status lbbt_dataset_synthetic(int64_t n, int classes, int channels, int height, int width,
                                   uint64_t seed, lbbt_dataset **out) {
  *out = NULL;
  lbbt_dataset *ds;
  LBBT_TRY(lbbt_dataset_create(n, channels, height, width, classes, &ds));
  const int64_t numel = lbbt_dataset_image_numel(ds);
  uint8_t *protos = malloc((size_t)classes * (size_t)numel);
  if (!protos) {
    lbbt_dataset_free(ds);
    return lbbt_fail(LBBT_E_NOMEM, "synthetic: out of memory for %d prototypes", classes);
  }
  for (int k = 0; k < classes; k++) {
    uint8_t grid[3 * SYNTH_GRID * SYNTH_GRID];
    lbbt_rng r;
    lbbt_rng_derive(&r, seed, "synthetic-prototype", (uint64_t)k);
    for (int g = 0; g < channels * SYNTH_GRID * SYNTH_GRID; g++)
      grid[g] = (uint8_t)(128.0 + SYNTH_PROTO_AMPLITUDE * (2.0 * lbbt_rng_uniform(&r) - 1.0));
    lbbt_resize_bilinear_u8(grid, channels, SYNTH_GRID, SYNTH_GRID, protos + k * numel, height,
                            width);
  }
  for (int64_t i = 0; i < n; i++) {
    int k = (int)(i % classes);
    lbbt_rng r;
    lbbt_rng_derive(&r, seed, "synthetic-noise", (uint64_t)i);
    const uint8_t *proto = protos + k * numel;
    uint8_t *px = ds->pixels + i * numel;
    for (int64_t p = 0; p < numel; p++) {
      double v = proto[p] + SYNTH_NOISE_STD * lbbt_rng_normal(&r);
      px[p] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v + 0.5);
    }
    ds->labels[i] = k;
  }
  free(protos);
  lbbt_dataset_compute_norm(ds);
  lbbt_status st = lbbt_dataset_set_source(
      ds, "synthetic (%lld images, %d classes, %dx%dx%d, seed %llu; class prototypes + noise)",
      (long long)n, classes, channels, height, width, (unsigned long long)seed);
  if (st != LBBT_OK) {
    lbbt_dataset_free(ds);
    return st;
  }
  *out = ds;
  return LBBT_OK;
}
