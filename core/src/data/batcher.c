/* Seeded, deterministic mini-batches with per-sample augmentation (streams in dataset.h). */
#include <stdlib.h>
#include <string.h>

#include "lbbt/rng.h"
#include "data/data_internal.h"

/* Below this many output floats a batch is filled on the calling thread. */
#define BATCH_PARALLEL_MIN_FLOATS (1 << 16)

struct lbbt_batcher {
  const lbbt_dataset *ds;
  lbbt_batcher_config cfg;
  int32_t *order; /* [n]: this epoch's dataset indices */
  int64_t epoch;  /* -1 before the first start_epoch */
};

lbbt_status lbbt_batcher_create(const lbbt_dataset *ds, const lbbt_batcher_config *cfg,
                                lbbt_batcher **out) {
  *out = NULL;
  if (cfg->batch_size < 1)
    return lbbt_fail(LBBT_E_INPUT, "batcher: batch_size %d must be at least 1", cfg->batch_size);
  if (cfg->crop_padding < 0 || cfg->crop_padding > ds->height || cfg->crop_padding > ds->width)
    return lbbt_fail(LBBT_E_INPUT, "batcher: crop_padding %d must lie in [0, %d] for %dx%d images",
                     cfg->crop_padding, ds->height < ds->width ? ds->height : ds->width,
                     ds->height, ds->width);
  if (cfg->flip != 0 && cfg->flip != 1)
    return lbbt_fail(LBBT_E_INPUT, "batcher: flip must be 0 or 1, got %d", cfg->flip);
  const int32_t *labels = cfg->labels ? cfg->labels : ds->labels;
  for (int64_t i = 0; i < ds->n; i++)
    if (labels[i] < 0 || labels[i] >= ds->num_classes)
      return lbbt_fail(LBBT_E_INPUT, "batcher: %s label %d of image %lld outside [0, %d)",
                       cfg->labels ? "given" : "dataset", labels[i], (long long)i,
                       ds->num_classes);
  lbbt_batcher *b = calloc(1, sizeof *b);
  if (!b) return lbbt_fail(LBBT_E_NOMEM, "batcher: out of memory");
  b->order = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *b->order);
  if (!b->order) {
    free(b);
    return lbbt_fail(LBBT_E_NOMEM, "batcher: out of memory for %lld indices", (long long)ds->n);
  }
  b->ds = ds;
  b->cfg = *cfg;
  b->cfg.labels = labels;
  b->epoch = -1;
  *out = b;
  return LBBT_OK;
}

void lbbt_batcher_free(lbbt_batcher *b) {
  if (!b) return;
  free(b->order);
  free(b);
}

int64_t lbbt_batcher_num_batches(const lbbt_batcher *b) {
  int64_t n = b->ds->n, bs = b->cfg.batch_size;
  return b->cfg.drop_last ? n / bs : (n + bs - 1) / bs;
}

void lbbt_batcher_start_epoch(lbbt_batcher *b, int64_t epoch) {
  for (int64_t i = 0; i < b->ds->n; i++) b->order[i] = (int32_t)i;
  if (b->cfg.shuffle) {
    lbbt_rng r;
    lbbt_rng_derive(&r, b->cfg.seed, "shuffle", (uint64_t)epoch);
    lbbt_rng_shuffle_i32(&r, b->order, b->ds->n);
  }
  b->epoch = epoch;
}

const int32_t *lbbt_batcher_order(const lbbt_batcher *b) { return b->order; }

/* Image idx, normalised, cropped from its zero-padded version and maybe flipped, into out
 * f32 [C, H, W]. */
static void write_sample(const lbbt_dataset *ds, const lbbt_batcher_config *cfg, int64_t epoch,
                         int32_t idx, float *out) {
  const int H = ds->height, W = ds->width, p = cfg->crop_padding;
  int dy = 0, dx = 0, flip = 0;
  if (p > 0 || cfg->flip) {
    lbbt_rng r;
    lbbt_rng_derive(&r, cfg->seed, "augment", (uint64_t)epoch << 32 | (uint32_t)idx);
    if (p > 0) { /* window offset in the padded image, minus p: a shift of the source */
      dy = (int)lbbt_rng_below(&r, (uint32_t)(2 * p + 1)) - p;
      dx = (int)lbbt_rng_below(&r, (uint32_t)(2 * p + 1)) - p;
    }
    if (cfg->flip) flip = (int)lbbt_rng_below(&r, 2);
  }
  const int64_t hw = (int64_t)H * W;
  const uint8_t *img = ds->pixels + (int64_t)idx * ds->channels * hw;
  for (int c = 0; c < ds->channels; c++) {
    const float scale = 1.0f / (255.0f * ds->std[c]), bias = -ds->mean[c] / ds->std[c];
    const uint8_t *src = img + c * hw;
    float *dst = out + c * hw;
    for (int y = 0; y < H; y++) {
      int sy = y + dy;
      float *row = dst + (int64_t)y * W;
      if (sy < 0 || sy >= H) { /* padding: raw value 0 */
        for (int x = 0; x < W; x++) row[x] = bias;
        continue;
      }
      const uint8_t *srow = src + (int64_t)sy * W;
      for (int x = 0; x < W; x++) {
        int sx = (flip ? W - 1 - x : x) + dx;
        row[x] = sx >= 0 && sx < W ? (float)srow[sx] * scale + bias : bias;
      }
    }
  }
}

lbbt_status lbbt_batcher_get(lbbt_batcher *b, int64_t batch, float *images, int32_t *labels,
                             int32_t *indices, int *count) {
  *count = 0;
  if (b->epoch < 0)
    return lbbt_fail(LBBT_E_INTERNAL, "batcher: lbbt_batcher_start_epoch was not called");
  int64_t nb = lbbt_batcher_num_batches(b);
  if (batch < 0 || batch >= nb)
    return lbbt_fail(LBBT_E_INTERNAL, "batcher: batch %lld outside [0, %lld)", (long long)batch,
                     (long long)nb);
  const int64_t bs = b->cfg.batch_size, start = batch * bs;
  const int64_t n = b->ds->n - start < bs ? b->ds->n - start : bs;
  const int64_t numel = lbbt_dataset_image_numel(b->ds);
  const int32_t *order = b->order + start;
#pragma omp parallel for schedule(static) if (n * numel >= BATCH_PARALLEL_MIN_FLOATS)
  for (int64_t j = 0; j < n; j++)
    write_sample(b->ds, &b->cfg, b->epoch, order[j], images + j * numel);
  for (int64_t j = 0; j < n; j++) {
    labels[j] = b->cfg.labels[order[j]];
    if (indices) indices[j] = order[j];
  }
  *count = (int)n;
  return LBBT_OK;
}
