/* Seeded, deterministic mini-batches with per-sample augmentation that moves the targets
 * with the image (streams and order of operations in dataset.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/rng.h"
#include "data/data_internal.h"

/* Below this many output floats a batch is filled on the calling thread. */
#define BATCH_PARALLEL_MIN_FLOATS (1 << 16)
/* torchvision RandomResizedCrop: defaults and the number of tries before the central crop. */
#define RRC_SCALE_MIN 0.08
#define RRC_SCALE_MAX 1.0
#define RRC_RATIO_MIN (3.0 / 4.0)
#define RRC_RATIO_MAX (4.0 / 3.0)
#define RRC_TRIES 10
/* SimCLR's blur: sigma U(0.1, 2.0), kernel 10% of the image side (made odd). */
#define BLUR_SIGMA_MIN 0.1
#define BLUR_SIGMA_MAX 2.0

struct lbbt_batcher {
  const lbbt_dataset *ds;
  lbbt_batcher_config cfg;
  int32_t *order;     /* [n]: this epoch's dataset indices */
  int64_t epoch;      /* -1 before the first start_epoch */
  int out_h, out_w;   /* H', W' of the images served */
  /* resizing (out_size > 0): per-sample scratch, slot j of B, for the window and its resize */
  uint8_t *scratch;
  size_t scratch_slot;
  float *blur_tmp;    /* blur_p > 0: [B, C, H', W'] scratch of the separable blur */
  /* the targets of the last batch */
  int32_t *labels;    /* [B] */
  int64_t max_boxes;  /* most boxes of one item */
  lbbt_box *boxes;    /* [B * max_boxes]: sample j's first at j * max_boxes, then compacted */
  int64_t *box_count; /* [B] */
  int64_t *box_start; /* [B + 1] */
  int32_t *masks;     /* [B, H', W'] */
};

/* Where sample idx's output comes from: the source window (wy, wx, wh, ww) of the dataset
 * image, resized to out_h x out_w when out_size > 0, then shifted by (dy, dx) with padding
 * and maybe flipped; then the photometric draws (jitter, blur). */
typedef struct sample_geometry {
  int wy, wx, wh, ww;
  int dy, dx, flip;
  int jitter, bright_first, blur;
  float bright, contrast, sigma;
} sample_geometry;

static int in_unit(double p) { return p >= 0 && p <= 1; }

lbbt_status lbbt_batcher_create(const lbbt_dataset *ds, const lbbt_batcher_config *cfg,
                                lbbt_batcher **out) {
  *out = NULL;
  if (cfg->batch_size < 1)
    return lbbt_fail(LBBT_E_INPUT, "batcher: batch_size %d must be at least 1", cfg->batch_size);
  if (cfg->out_size < 0)
    return lbbt_fail(LBBT_E_INPUT, "batcher: out_size %d is negative (0 = the dataset's size)", cfg->out_size);
  if (cfg->random_resized_crop && cfg->out_size == 0)
    return lbbt_fail(LBBT_E_INPUT, "batcher: random_resized_crop needs an out_size");
  const int oh = cfg->out_size ? cfg->out_size : ds->height, ow = cfg->out_size ? cfg->out_size : ds->width;
  if (cfg->crop_padding < 0 || cfg->crop_padding > oh || cfg->crop_padding > ow)
    return lbbt_fail(LBBT_E_INPUT, "batcher: crop_padding %d must lie in [0, %d] for %dx%d images",
                     cfg->crop_padding, oh < ow ? oh : ow, oh, ow);
  if (cfg->flip != 0 && cfg->flip != 1)
    return lbbt_fail(LBBT_E_INPUT, "batcher: flip must be 0 or 1, got %d", cfg->flip);
  if (cfg->view < 0) return lbbt_fail(LBBT_E_INPUT, "batcher: view %d is negative", cfg->view);
  if (!in_unit(cfg->jitter_p) || !in_unit(cfg->blur_p))
    return lbbt_fail(LBBT_E_INPUT, "batcher: jitter_p %g and blur_p %g must lie in [0, 1]", cfg->jitter_p,
                     cfg->blur_p);
  if (!(cfg->brightness >= 0 && cfg->brightness <= 1e3 && cfg->contrast >= 0 && cfg->contrast <= 1e3))
    return lbbt_fail(LBBT_E_INPUT, "batcher: brightness %g and contrast %g must lie in [0, 1000]",
                     cfg->brightness, cfg->contrast);
  lbbt_batcher_config c = *cfg;
  if (c.blur_sigma_min == 0 && c.blur_sigma_max == 0) c.blur_sigma_min = BLUR_SIGMA_MIN, c.blur_sigma_max = BLUR_SIGMA_MAX;
  if (!(c.blur_sigma_min > 0 && c.blur_sigma_min <= c.blur_sigma_max && c.blur_sigma_max <= 1e3))
    return lbbt_fail(LBBT_E_INPUT, "batcher: blur sigma [%g, %g] must satisfy 0 < min <= max <= 1000",
                     c.blur_sigma_min, c.blur_sigma_max);
  if (c.blur_kernel == 0) {
    c.blur_kernel = (int)(0.1 * (oh < ow ? oh : ow));
    c.blur_kernel += c.blur_kernel % 2 == 0;
    if (c.blur_kernel < 3) c.blur_kernel = 3;
    if (c.blur_kernel > LBBT_BLUR_KERNEL_MAX) c.blur_kernel = LBBT_BLUR_KERNEL_MAX;
  }
  if (c.blur_kernel < 1 || c.blur_kernel % 2 == 0 || c.blur_kernel > LBBT_BLUR_KERNEL_MAX)
    return lbbt_fail(LBBT_E_INPUT, "batcher: blur_kernel %d must be odd and in [1, %d]", c.blur_kernel,
                     LBBT_BLUR_KERNEL_MAX);
  if (c.scale_min == 0 && c.scale_max == 0) c.scale_min = RRC_SCALE_MIN, c.scale_max = RRC_SCALE_MAX;
  if (c.ratio_min == 0 && c.ratio_max == 0) c.ratio_min = RRC_RATIO_MIN, c.ratio_max = RRC_RATIO_MAX;
  if (!(c.scale_min > 0 && c.scale_min <= c.scale_max && c.scale_max <= 1))
    return lbbt_fail(LBBT_E_INPUT, "batcher: resized-crop scale [%g, %g] must satisfy 0 < min <= max <= 1",
                     c.scale_min, c.scale_max);
  if (!(c.ratio_min > 0 && c.ratio_min <= c.ratio_max && isfinite(c.ratio_max)))
    return lbbt_fail(LBBT_E_INPUT, "batcher: resized-crop aspect ratio [%g, %g] must satisfy 0 < min <= max",
                     c.ratio_min, c.ratio_max);
  const int32_t *labels = cfg->labels ? cfg->labels : ds->labels;
  if (ds->target == LBBT_TARGET_CLASS || cfg->labels)
    for (int64_t i = 0; i < ds->n; i++)
      if (labels[i] < 0 || labels[i] >= ds->num_classes)
        return lbbt_fail(LBBT_E_INPUT, "batcher: %s label %d of image %lld outside [0, %d)",
                         cfg->labels ? "given" : "dataset", labels[i], (long long)i, ds->num_classes);
  lbbt_batcher *b = calloc(1, sizeof *b);
  if (!b) return lbbt_fail(LBBT_E_NOMEM, "batcher: out of memory");
  const size_t B = (size_t)cfg->batch_size, plane = (size_t)oh * (size_t)ow;
  b->ds = ds;
  b->cfg = c;
  b->cfg.labels = labels;
  b->epoch = -1;
  b->out_h = oh;
  b->out_w = ow;
  b->order = malloc((size_t)(ds->n ? ds->n : 1) * sizeof *b->order);
  b->labels = malloc(B * sizeof *b->labels);
  int ok = b->order && b->labels;
  if (cfg->out_size) { /* window (at most the image) + its resize, for image and mask */
    b->scratch_slot = (size_t)(ds->channels + 1) * ((size_t)ds->height * ds->width + plane);
    b->scratch = malloc(B * b->scratch_slot);
    ok = ok && b->scratch;
  }
  if (cfg->blur_p > 0) {
    b->blur_tmp = malloc(B * (size_t)ds->channels * plane * sizeof *b->blur_tmp);
    ok = ok && b->blur_tmp;
  }
  if (ds->target == LBBT_TARGET_BOXES) {
    b->max_boxes = lbbt_dataset_max_boxes(ds);
    b->boxes = malloc((B * (size_t)b->max_boxes + 1) * sizeof *b->boxes);
    b->box_count = malloc(B * sizeof *b->box_count);
    b->box_start = malloc((B + 1) * sizeof *b->box_start);
    ok = ok && b->boxes && b->box_count && b->box_start;
  } else if (ds->target == LBBT_TARGET_MASK) {
    b->masks = malloc(B * plane * sizeof *b->masks);
    ok = ok && b->masks;
  }
  if (!ok) {
    lbbt_batcher_free(b);
    return lbbt_fail(LBBT_E_NOMEM, "batcher: out of memory for batches of %d", cfg->batch_size);
  }
  *out = b;
  return LBBT_OK;
}

void lbbt_batcher_free(lbbt_batcher *b) {
  if (!b) return;
  free(b->order);
  free(b->scratch);
  free(b->blur_tmp);
  free(b->labels);
  free(b->boxes);
  free(b->box_count);
  free(b->box_start);
  free(b->masks);
  free(b);
}

int64_t lbbt_batcher_num_batches(const lbbt_batcher *b) {
  int64_t n = b->ds->n, bs = b->cfg.batch_size;
  return b->cfg.drop_last ? n / bs : (n + bs - 1) / bs;
}

void lbbt_batcher_image_size(const lbbt_batcher *b, int *height, int *width) {
  *height = b->out_h;
  *width = b->out_w;
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

/* torchvision RandomResizedCrop.get_params on an H x W image. */
static void draw_resized_crop(lbbt_rng *r, const lbbt_batcher_config *cfg, int H, int W,
                              sample_geometry *g) {
  const double area = (double)H * W, log_lo = log(cfg->ratio_min), log_hi = log(cfg->ratio_max);
  for (int t = 0; t < RRC_TRIES; t++) {
    double target = area * (cfg->scale_min + (cfg->scale_max - cfg->scale_min) * lbbt_rng_uniform(r));
    double aspect = exp(log_lo + (log_hi - log_lo) * lbbt_rng_uniform(r));
    int w = (int)lround(sqrt(target * aspect)), h = (int)lround(sqrt(target / aspect));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      g->wy = (int)lbbt_rng_below(r, (uint32_t)(H - h + 1));
      g->wx = (int)lbbt_rng_below(r, (uint32_t)(W - w + 1));
      g->wh = h;
      g->ww = w;
      return;
    }
  }
  /* central crop, aspect clamped to the range */
  double in_ratio = (double)W / H;
  int w = W, h = H;
  if (in_ratio < cfg->ratio_min) h = (int)lround(w / cfg->ratio_min);
  else if (in_ratio > cfg->ratio_max) w = (int)lround(h * cfg->ratio_max);
  if (h > H) h = H;
  if (w > W) w = W;
  g->wh = h;
  g->ww = w;
  g->wy = (H - h) / 2;
  g->wx = (W - w) / 2;
}

static void draw_geometry(const lbbt_batcher *b, int32_t idx, sample_geometry *g) {
  const lbbt_batcher_config *cfg = &b->cfg;
  const int p = cfg->crop_padding;
  memset(g, 0, sizeof *g);
  g->wh = b->ds->height;
  g->ww = b->ds->width;
  if (p > 0 || cfg->flip || cfg->random_resized_crop || cfg->jitter_p > 0 || cfg->blur_p > 0) {
    lbbt_rng r;
    char purpose[32] = "augment";
    if (cfg->view > 0) snprintf(purpose, sizeof purpose, "augment-view-%d", cfg->view);
    lbbt_rng_derive(&r, cfg->seed, purpose, (uint64_t)b->epoch << 32 | (uint32_t)idx);
    if (cfg->random_resized_crop) draw_resized_crop(&r, cfg, b->ds->height, b->ds->width, g);
    if (p > 0) { /* window offset in the padded image, minus p: a shift of the source */
      g->dy = (int)lbbt_rng_below(&r, (uint32_t)(2 * p + 1)) - p;
      g->dx = (int)lbbt_rng_below(&r, (uint32_t)(2 * p + 1)) - p;
    }
    if (cfg->flip) g->flip = (int)lbbt_rng_below(&r, 2);
    if (cfg->jitter_p > 0) { /* every draw taken, applied or not, so later draws stay put */
      g->jitter = lbbt_rng_uniform(&r) < cfg->jitter_p;
      double lo = cfg->brightness < 1 ? 1 - cfg->brightness : 0;
      g->bright = (float)(lo + (1 + cfg->brightness - lo) * lbbt_rng_uniform(&r));
      lo = cfg->contrast < 1 ? 1 - cfg->contrast : 0;
      g->contrast = (float)(lo + (1 + cfg->contrast - lo) * lbbt_rng_uniform(&r));
      g->bright_first = (int)lbbt_rng_below(&r, 2);
    }
    if (cfg->blur_p > 0) {
      g->blur = lbbt_rng_uniform(&r) < cfg->blur_p;
      g->sigma = (float)(cfg->blur_sigma_min + (cfg->blur_sigma_max - cfg->blur_sigma_min) * lbbt_rng_uniform(&r));
    }
  }
}

/* The window of `planes` u8 planes [planes, H, W] into dst [planes, wh, ww]. */
static void copy_window(const uint8_t *src, int planes, int H, int W, const sample_geometry *g,
                        uint8_t *dst) {
  for (int c = 0; c < planes; c++)
    for (int y = 0; y < g->wh; y++)
      memcpy(dst + ((size_t)c * g->wh + y) * g->ww, src + ((size_t)c * H + g->wy + y) * W + g->wx,
             (size_t)g->ww);
}

/* Image idx into out f32 [C, H', W']: (resized window,) normalised, shifted with zero
 * padding, maybe flipped; with jitter or blur, first as pixels in [0, 1], transformed, then
 * normalised.  scratch: this sample's slot (NULL without out_size); blur_tmp: its blur
 * scratch. */
static void write_image(const lbbt_batcher *b, int32_t idx, const sample_geometry *g, uint8_t *scratch,
                        float *blur_tmp, float *out) {
  const lbbt_dataset *ds = b->ds;
  const int H = b->out_h, W = b->out_w, dy = g->dy, dx = g->dx, flip = g->flip;
  const int64_t hw = (int64_t)H * W;
  const uint8_t *img = ds->pixels + (int64_t)idx * lbbt_dataset_image_numel(ds);
  if (b->cfg.out_size) {
    uint8_t *win = scratch, *resized = scratch + (size_t)ds->channels * ds->height * ds->width;
    copy_window(img, ds->channels, ds->height, ds->width, g, win);
    lbbt_resize_bilinear_u8(win, ds->channels, g->wh, g->ww, resized, H, W);
    img = resized;
  }
  const int photometric = g->jitter || g->blur;
  for (int c = 0; c < ds->channels; c++) {
    const float scale = photometric ? 1.0f / 255.0f : 1.0f / (255.0f * ds->std[c]),
                bias = photometric ? 0.0f : -ds->mean[c] / ds->std[c];
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
  if (!photometric) return;
  if (g->jitter) {
    if (g->bright_first) lbbt_adjust_brightness(out, ds->channels, H, W, g->bright);
    lbbt_adjust_contrast(out, ds->channels, H, W, g->contrast);
    if (!g->bright_first) lbbt_adjust_brightness(out, ds->channels, H, W, g->bright);
  }
  if (g->blur) lbbt_gaussian_blur(out, ds->channels, H, W, b->cfg.blur_kernel, g->sigma, blur_tmp);
  for (int c = 0; c < ds->channels; c++) {
    const float inv = 1.0f / ds->std[c], m = ds->mean[c];
    float *dst = out + c * hw;
    for (int64_t i = 0; i < hw; i++) dst[i] = (dst[i] - m) * inv;
  }
}

/* Mask idx into out int32 [H', W'] by the same geometry (nearest resize, ignore padding). */
static void write_mask(const lbbt_batcher *b, int32_t idx, const sample_geometry *g, uint8_t *scratch,
                       int32_t *out) {
  const lbbt_dataset *ds = b->ds;
  const int H = b->out_h, W = b->out_w;
  const uint8_t *m = ds->masks + (size_t)idx * ds->height * ds->width;
  if (b->cfg.out_size) { /* after the image's part of the slot */
    uint8_t *win = scratch + (size_t)ds->channels * ((size_t)ds->height * ds->width + (size_t)H * W);
    uint8_t *resized = win + (size_t)ds->height * ds->width;
    copy_window(m, 1, ds->height, ds->width, g, win);
    lbbt_resize_nearest_u8(win, g->wh, g->ww, resized, H, W);
    m = resized;
  }
  for (int y = 0; y < H; y++) {
    int sy = y + g->dy;
    for (int x = 0; x < W; x++) {
      int sx = (g->flip ? W - 1 - x : x) + g->dx;
      out[(size_t)y * W + x] = sy >= 0 && sy < H && sx >= 0 && sx < W ? m[(size_t)sy * W + sx] : LBBT_MASK_IGNORE;
    }
  }
}

static float clampf(float v, float lo, float hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Boxes of idx mapped by the geometry into out (at most max_boxes); returns how many remain. */
static int64_t write_boxes(const lbbt_batcher *b, int32_t idx, const sample_geometry *g, lbbt_box *out) {
  const lbbt_dataset *ds = b->ds;
  const float W = (float)b->out_w, H = (float)b->out_h;
  const float sx = W / (float)g->ww, sy = H / (float)g->wh;
  int64_t m = 0;
  for (int64_t k = ds->box_start[idx]; k < ds->box_start[idx + 1]; k++) {
    lbbt_box o = ds->boxes[k];
    /* window and resize, then the shift; clipped after each (outside the window is gone,
     * and what the shift brings in is padding) */
    o.x0 = clampf(clampf((o.x0 - (float)g->wx) * sx, 0, W) - (float)g->dx, 0, W);
    o.x1 = clampf(clampf((o.x1 - (float)g->wx) * sx, 0, W) - (float)g->dx, 0, W);
    o.y0 = clampf(clampf((o.y0 - (float)g->wy) * sy, 0, H) - (float)g->dy, 0, H);
    o.y1 = clampf(clampf((o.y1 - (float)g->wy) * sy, 0, H) - (float)g->dy, 0, H);
    if (!(o.x1 > o.x0 && o.y1 > o.y0)) continue; /* nothing of it left in view */
    if (g->flip) {
      float x0 = W - o.x1;
      o.x1 = W - o.x0;
      o.x0 = x0;
    }
    out[m++] = o;
  }
  return m;
}

/* Images, and the targets of the dataset's kind, of samples order[0..n) into b's buffers. */
static void fill(lbbt_batcher *b, const int32_t *order, int64_t n, float *images) {
  const int64_t numel = (int64_t)b->ds->channels * b->out_h * b->out_w;
  const size_t plane = (size_t)b->out_h * b->out_w;
  const lbbt_target_kind kind = b->ds->target;
#pragma omp parallel for schedule(static) if (n * numel >= BATCH_PARALLEL_MIN_FLOATS)
  for (int64_t j = 0; j < n; j++) {
    sample_geometry g;
    draw_geometry(b, order[j], &g);
    uint8_t *scratch = b->scratch ? b->scratch + (size_t)j * b->scratch_slot : NULL;
    float *blur_tmp = b->blur_tmp ? b->blur_tmp + j * numel : NULL;
    write_image(b, order[j], &g, scratch, blur_tmp, images + j * numel);
    if (kind == LBBT_TARGET_MASK) write_mask(b, order[j], &g, scratch, b->masks + (size_t)j * plane);
    if (kind == LBBT_TARGET_BOXES) b->box_count[j] = write_boxes(b, order[j], &g, b->boxes + j * b->max_boxes);
  }
  if (kind == LBBT_TARGET_BOXES) { /* compact: sample j's boxes from slot j to box_start[j] */
    b->box_start[0] = 0;
    for (int64_t j = 0; j < n; j++) {
      memmove(b->boxes + b->box_start[j], b->boxes + j * b->max_boxes, (size_t)b->box_count[j] * sizeof *b->boxes);
      b->box_start[j + 1] = b->box_start[j] + b->box_count[j];
    }
  }
  for (int64_t j = 0; j < n; j++) b->labels[j] = b->cfg.labels[order[j]];
}

/* Check the batch number and return its samples (order + *start, *n of them). */
static lbbt_status batch_range(const lbbt_batcher *b, int64_t batch, int64_t *start, int64_t *n) {
  if (b->epoch < 0)
    return lbbt_fail(LBBT_E_INTERNAL, "batcher: lbbt_batcher_start_epoch was not called");
  int64_t nb = lbbt_batcher_num_batches(b);
  if (batch < 0 || batch >= nb)
    return lbbt_fail(LBBT_E_INTERNAL, "batcher: batch %lld outside [0, %lld)", (long long)batch,
                     (long long)nb);
  const int64_t bs = b->cfg.batch_size;
  *start = batch * bs;
  *n = b->ds->n - *start < bs ? b->ds->n - *start : bs;
  return LBBT_OK;
}

lbbt_status lbbt_batcher_get_targets(lbbt_batcher *b, int64_t batch, float *images,
                                     int32_t *indices, lbbt_batch_targets *out) {
  memset(out, 0, sizeof *out);
  int64_t start = 0, n = 0;
  LBBT_TRY(batch_range(b, batch, &start, &n));
  const int32_t *order = b->order + start;
  fill(b, order, n, images);
  if (indices) memcpy(indices, order, (size_t)n * sizeof *indices);
  out->kind = b->ds->target;
  out->count = (int)n;
  out->height = b->out_h;
  out->width = b->out_w;
  out->labels = b->labels;
  if (out->kind == LBBT_TARGET_BOXES) {
    out->boxes = b->boxes;
    out->box_start = b->box_start;
  }
  if (out->kind == LBBT_TARGET_MASK) out->masks = b->masks;
  return LBBT_OK;
}

lbbt_status lbbt_batcher_get(lbbt_batcher *b, int64_t batch, float *images, int32_t *labels,
                             int32_t *indices, int *count) {
  *count = 0;
  lbbt_batch_targets t;
  LBBT_TRY(lbbt_batcher_get_targets(b, batch, images, indices, &t));
  if (labels) memcpy(labels, t.labels, (size_t)t.count * sizeof *labels);
  *count = t.count;
  return LBBT_OK;
}
