/* View augmentations of the batcher (dataset.h): per-view streams, brightness / contrast
 * jitter and Gaussian blur.  Checked against what the transforms must do (factor ranges and
 * their mean, a blurred impulse computed here from the Gaussian formula, the application
 * probabilities), and targets still moving with each view's geometry. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/dataset.h"
#include "mask_fixture.h"
#include "test.h"

/* A factor drawn U(lo, hi) over SAMPLES draws: its mean within this of (lo + hi) / 2
 * (about 5 standard errors for a width of 0.8 at 2000 draws). */
#define SAMPLES 2000
#define MEAN_ATOL 0.03
/* A probability estimated from SAMPLES draws (about 5 standard errors). */
#define PROB_ATOL 0.05
/* One u8 step, and float rounding of the blur's sums. */
#define PIXEL_ATOL (0.51 / 255.0)
#define BLUR_ATOL 1e-5

/* n grey images of h x w filled with value v, mean 0 / std 1 (a batch holds pixel / 255). */
static lbbt_dataset *flat(int64_t n, int h, int w, uint8_t v) {
  lbbt_dataset *ds = NULL;
  if (lbbt_dataset_create(n, 1, h, w, 2, &ds) != LBBT_OK) return NULL;
  memset(ds->pixels, v, (size_t)(n * h * w));
  for (int64_t i = 0; i < n; i++) ds->labels[i] = (int32_t)(i % 2);
  return ds;
}

/* Every sample of epoch e into out [n, numel]. */
static int fetch_all(lbbt_batcher *b, int64_t e, float *out, int64_t numel, int32_t *idx) {
  lbbt_batcher_start_epoch(b, e);
  int64_t done = 0;
  for (int64_t k = 0; k < lbbt_batcher_num_batches(b); k++) {
    int count = 0;
    if (lbbt_batcher_get(b, k, out + done * numel, NULL, idx ? idx + done : NULL, &count) != LBBT_OK) return 0;
    done += count;
  }
  return 1;
}

static void test_views_deterministic_and_distinct(void) {
  lbbt_dataset *ds = NULL;
  REQUIRE(lbbt_dataset_synthetic(40, 4, 1, 16, 16, 3, &ds) == LBBT_OK, "synthetic: %s", lbbt_last_error());
  const int64_t numel = 16 * 16;
  lbbt_batcher_config c0 = {.batch_size = 8, .shuffle = 1, .seed = 7, .flip = 1, .out_size = 16,
                            .random_resized_crop = 1, .jitter_p = 0.8, .brightness = 0.4, .contrast = 0.4,
                            .blur_p = 0.5};
  lbbt_batcher_config c1 = c0;
  c1.view = 1;
  lbbt_batcher *a = NULL, *a2 = NULL, *v1 = NULL;
  REQUIRE(lbbt_batcher_create(ds, &c0, &a) == LBBT_OK && lbbt_batcher_create(ds, &c0, &a2) == LBBT_OK &&
              lbbt_batcher_create(ds, &c1, &v1) == LBBT_OK, "create: %s", lbbt_last_error());
  float *x = malloc(40 * numel * sizeof *x), *y = malloc(40 * numel * sizeof *y), *z = malloc(40 * numel * sizeof *z);
  int32_t ix[40], iz[40];
  REQUIRE(x && y && z, "memory");
  for (int e = 0; e < 3; e++) {
    REQUIRE(fetch_all(a, e, x, numel, ix) && fetch_all(a2, e, y, numel, NULL) && fetch_all(v1, e, z, numel, iz),
            "fetch: %s", lbbt_last_error());
    CHECK(!memcmp(x, y, 40 * numel * sizeof *x), "same seed and view gave different images (epoch %d)", e);
    CHECK(!memcmp(ix, iz, sizeof ix), "the views serve different samples (epoch %d)", e);
    int same = 0;
    for (int i = 0; i < 40; i++) same += !memcmp(x + i * numel, z + i * numel, numel * sizeof *x);
    CHECK(same == 0, "%d samples identical in views 0 and 1 (epoch %d)", same, e);
  }
  /* another seed, another augmentation */
  lbbt_batcher_config c2 = c0;
  c2.seed = 8;
  lbbt_batcher *s8 = NULL;
  REQUIRE(lbbt_batcher_create(ds, &c2, &s8) == LBBT_OK, "create");
  REQUIRE(fetch_all(s8, 0, y, numel, NULL), "fetch");
  REQUIRE(fetch_all(a, 0, x, numel, NULL), "fetch");
  CHECK(memcmp(x, y, 40 * numel * sizeof *x), "seeds 7 and 8 gave the same views");
  free(x);
  free(y);
  free(z);
  lbbt_batcher_free(a);
  lbbt_batcher_free(a2);
  lbbt_batcher_free(v1);
  lbbt_batcher_free(s8);
  lbbt_dataset_free(ds);
}

/* Brightness on a flat image: the output is f * v with f ~ U(1 - b, 1 + b); jitter applies
 * with probability jitter_p. */
static void test_brightness_statistics(void) {
  lbbt_dataset *ds = flat(SAMPLES, 4, 4, 100);
  REQUIRE(ds, "dataset");
  lbbt_batcher_config c = {.batch_size = 100, .seed = 1, .jitter_p = 0.8, .brightness = 0.4};
  lbbt_batcher *b = NULL;
  REQUIRE(lbbt_batcher_create(ds, &c, &b) == LBBT_OK, "create: %s", lbbt_last_error());
  float *x = malloc(SAMPLES * 16 * sizeof *x);
  REQUIRE(x && fetch_all(b, 0, x, 16, NULL), "fetch");
  double sum = 0, sumsq = 0, lo = 9, hi = 0;
  int applied = 0, uniform = 1;
  for (int i = 0; i < SAMPLES; i++) {
    for (int p = 1; p < 16; p++) uniform &= x[i * 16 + p] == x[i * 16];
    double f = x[i * 16] * 255.0 / 100.0;
    if (fabs(f - 1) < 1e-6) continue; /* not applied (or a factor of exactly 1) */
    applied++;
    sum += f;
    sumsq += f * f;
    lo = fmin(lo, f);
    hi = fmax(hi, f);
  }
  CHECK(uniform, "a flat image did not stay flat");
  CHECK_CLOSE((double)applied / SAMPLES, 0.8, PROB_ATOL, 0, "share of jittered images");
  double mean = sum / applied, sd = sqrt(sumsq / applied - mean * mean);
  CHECK_CLOSE(mean, 1.0, MEAN_ATOL, 0, "mean brightness factor");
  CHECK_CLOSE(sd, 0.8 / sqrt(12.0), MEAN_ATOL, 0, "std of the brightness factor (uniform of width 0.8)");
  CHECK(lo >= 0.6 - 1e-6 && hi <= 1.4 + 1e-6 && lo < 0.62 && hi > 1.38, "factor range [%g, %g]", lo, hi);
  lbbt_batcher_free(b);
  free(x);
  lbbt_dataset_free(ds);
}

/* Contrast on a two-level image keeps the mean and scales the spread by f ~ U(1-c, 1+c);
 * a brightness and contrast of 0 change nothing. */
static void test_contrast_statistics(void) {
  lbbt_dataset *ds = flat(SAMPLES, 2, 4, 50);
  REQUIRE(ds, "dataset");
  for (int64_t i = 0; i < SAMPLES; i++) memset(ds->pixels + i * 8 + 4, 150, 4); /* bottom row 150 */
  lbbt_batcher_config c = {.batch_size = 100, .seed = 2, .jitter_p = 1, .contrast = 0.5};
  lbbt_batcher *b = NULL;
  REQUIRE(lbbt_batcher_create(ds, &c, &b) == LBBT_OK, "create: %s", lbbt_last_error());
  float *x = malloc(SAMPLES * 8 * sizeof *x);
  REQUIRE(x && fetch_all(b, 0, x, 8, NULL), "fetch");
  double fsum = 0, lo = 9, hi = 0;
  for (int i = 0; i < SAMPLES; i++) {
    const float *im = x + i * 8;
    CHECK_CLOSE(0.5 * (im[0] + im[4]), 100.0 / 255.0, 1e-6, 0, "contrast moved the mean");
    double f = (im[4] - im[0]) / (100.0 / 255.0);
    fsum += f;
    lo = fmin(lo, f);
    hi = fmax(hi, f);
  }
  CHECK_CLOSE(fsum / SAMPLES, 1.0, MEAN_ATOL, 0, "mean contrast factor");
  CHECK(lo >= 0.5 - 1e-5 && hi <= 1.5 + 1e-5 && lo < 0.52 && hi > 1.48, "contrast range [%g, %g]", lo, hi);
  lbbt_batcher_free(b);
  lbbt_batcher_config off = {.batch_size = 100, .seed = 2, .jitter_p = 1};
  REQUIRE(lbbt_batcher_create(ds, &off, &b) == LBBT_OK, "create");
  REQUIRE(fetch_all(b, 0, x, 8, NULL), "fetch");
  for (int i = 0; i < 8; i++) CHECK_CLOSE(x[i], ds->pixels[i] / 255.0, PIXEL_ATOL, 0, "factor 1 changed a pixel");
  lbbt_batcher_free(b);
  free(x);
  lbbt_dataset_free(ds);
}

/* A blurred impulse is the Gaussian kernel's outer product (computed here); blur applies
 * with probability blur_p; the kernel defaults to 10% of the side, odd. */
static void test_blur_impulse(void) {
  const int S = 15, K = 5;
  const double sigma = 1.3;
  lbbt_dataset *ds = flat(SAMPLES, S, S, 0);
  REQUIRE(ds, "dataset");
  for (int64_t i = 0; i < SAMPLES; i++) ds->pixels[i * S * S + 7 * S + 7] = 255;
  lbbt_batcher_config c = {.batch_size = 100, .seed = 3, .blur_p = 0.5, .blur_kernel = K,
                           .blur_sigma_min = sigma, .blur_sigma_max = sigma};
  lbbt_batcher *b = NULL;
  REQUIRE(lbbt_batcher_create(ds, &c, &b) == LBBT_OK, "create: %s", lbbt_last_error());
  float *x = malloc((size_t)SAMPLES * S * S * sizeof *x);
  REQUIRE(x && fetch_all(b, 0, x, S * S, NULL), "fetch");
  double w[5], ws = 0;
  for (int i = 0; i < K; i++) ws += (w[i] = exp(-0.5 * pow((i - K / 2) / sigma, 2)));
  int blurred = 0;
  for (int i = 0; i < SAMPLES; i++) {
    const float *im = x + (size_t)i * S * S;
    if (im[7 * S + 7] == 1.0f) continue; /* not blurred */
    blurred++;
    double total = 0;
    for (int y = 0; y < S; y++)
      for (int xx = 0; xx < S; xx++) {
        int dy = y - 7, dx = xx - 7;
        double want = abs(dy) <= K / 2 && abs(dx) <= K / 2 ? w[dy + K / 2] * w[dx + K / 2] / (ws * ws) : 0;
        CHECK_CLOSE(im[y * S + xx], want, BLUR_ATOL, 0, "blurred impulse");
        total += im[y * S + xx];
      }
    CHECK_CLOSE(total, 1.0, 1e-4, 0, "blur lost mass");
  }
  CHECK_CLOSE((double)blurred / SAMPLES, 0.5, PROB_ATOL, 0, "share of blurred images");
  lbbt_batcher_free(b);
  /* reflect padding (PyTorch "reflect" mirrors without repeating the edge pixel): at the
   * corner, taps -2 and -1 read pixels 2 and 1, which are 0 */
  memset(ds->pixels, 0, (size_t)S * S);
  ds->pixels[0] = 255;
  lbbt_batcher_config corner = c;
  corner.blur_p = 1;
  REQUIRE(lbbt_batcher_create(ds, &corner, &b) == LBBT_OK, "create");
  REQUIRE(fetch_all(b, 0, x, S * S, NULL), "fetch");
  double edge = w[2] / ws; /* only the centre tap reads the impulse */
  CHECK_CLOSE(x[0], edge * edge, BLUR_ATOL, 0, "corner impulse under reflect padding");
  CHECK_CLOSE(x[1], w[1] / ws * edge, BLUR_ATOL, 0, "next to the corner: tap -1 reads the impulse");
  CHECK_CLOSE(x[S], w[1] / ws * edge, BLUR_ATOL, 0, "below the corner");
  lbbt_batcher_free(b);
  free(x);
  lbbt_dataset_free(ds);
}

/* Each view moves the mask with its own geometry. */
static void test_views_move_targets(void) {
  lbbt_dataset *ds = mask_dataset(16, 20);
  REQUIRE(ds, "dataset: %s", lbbt_last_error());
  float img[2][5 * 16 * 20];
  int32_t masks[2][5 * 16 * 20];
  for (int v = 0; v < 2; v++) {
    lbbt_batcher_config cfg = {.batch_size = 5, .seed = 4, .crop_padding = 4, .flip = 1, .view = v};
    lbbt_batcher *b;
    REQUIRE(lbbt_batcher_create(ds, &cfg, &b) == LBBT_OK, "create: %s", lbbt_last_error());
    lbbt_batcher_start_epoch(b, 0);
    lbbt_batch_targets t;
    REQUIRE(lbbt_batcher_get_targets(b, 0, img[v], NULL, &t) == LBBT_OK, "get: %s", lbbt_last_error());
    memcpy(masks[v], t.masks, sizeof masks[v]);
    for (int p = 0; p < 5 * 16 * 20; p++) {
      int m = t.masks[p], px = (int)lroundf(img[v][p] * 255.0f);
      CHECK(px == 0 ? m == LBBT_MASK_IGNORE : m == px / 20, "view %d: mask %d where the image shows %d", v, m, px);
    }
    lbbt_batcher_free(b);
  }
  CHECK(memcmp(masks[0], masks[1], sizeof masks[0]), "both views moved the masks alike");
  lbbt_dataset_free(ds);
}

static void test_view_config_errors(void) {
  lbbt_dataset *ds = flat(4, 8, 8, 10);
  REQUIRE(ds, "dataset");
  lbbt_batcher *b = NULL;
  lbbt_batcher_config bad[] = {
      {.batch_size = 2, .view = -1},
      {.batch_size = 2, .jitter_p = 1.5},
      {.batch_size = 2, .blur_p = -0.1},
      {.batch_size = 2, .brightness = -1},
      {.batch_size = 2, .blur_p = 1, .blur_kernel = 4},
      {.batch_size = 2, .blur_p = 1, .blur_sigma_min = 2, .blur_sigma_max = 1},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CHECK(lbbt_batcher_create(ds, &bad[i], &b) == LBBT_E_INPUT && !b, "bad config %zu accepted", i);
    CHECK(strstr(lbbt_last_error(), "batcher"), "message %s", lbbt_last_error());
  }
  lbbt_dataset_free(ds);
}

TEST_MAIN_BEGIN("test_data_views")
TEST_RUN(test_views_deterministic_and_distinct);
TEST_RUN(test_brightness_statistics);
TEST_RUN(test_contrast_statistics);
TEST_RUN(test_blur_impulse);
TEST_RUN(test_views_move_targets);
TEST_RUN(test_view_config_errors);
TEST_MAIN_END()
