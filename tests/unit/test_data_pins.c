/* Pins of the classification data path: the exact batches (normalised f32 images, labels,
 * indices), random labels and fixed analysis batches that the smoke tiers of the tables
 * train and measure on, as SHA-256 digests.  The digests in tests/fixtures/data_pins.txt were
 * written by this program (LBBT_WRITE_PINS=tests/fixtures/data_pins.txt build/tests/
 * test_data_pins) built on main at faf50fb, before datasets carried typed targets; a change
 * to the data code that moves one bit of a classification batch fails here.
 *
 * The cases follow the tables: Fashion-MNIST class-balanced subsets (limit 1000/2000,
 * subset seed 0), batch 64, shuffled, no augmentation and crop 4 + flip, a resized test split,
 * random labels at ratios 1.0 and 0.3, the Hessian's fixed batch; plus a synthetic RGB set
 * (runs without Fashion-MNIST). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/dataset.h"
#include "lbbt/spec.h"
#include "lbbt/fixed_batch.h"
#include "lbbt/sha256.h"
#include "test.h"

static const char *FMNIST = "/usr/share/datasets/fashion-mnist";
static const char *PINS = "tests/fixtures/data_pins.txt";

/* Write mode (LBBT_WRITE_PINS=path) appends "name digest" lines instead of comparing. */
static FILE *pin_out;

/* The pinned digest of `name` from PINS into want[65]; 0 when absent. */
static int pin_lookup(const char *name, char want[65]) {
  FILE *f = fopen(PINS, "r");
  if (!f) return 0;
  char line[512], key[256], hex[80];
  int found = 0;
  while (!found && fgets(line, sizeof line, f))
    if (line[0] != '#' && sscanf(line, "%255s %79s", key, hex) == 2 && !strcmp(key, name)) {
      snprintf(want, 65, "%s", hex);
      found = 1;
    }
  fclose(f);
  return found;
}

static void pin_check(const char *name, lbbt_sha256_ctx *ctx) {
  uint8_t d[32];
  char hex[65];
  lbbt_sha256_final(ctx, d);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  if (pin_out) {
    fprintf(pin_out, "%s %s\n", name, hex);
    return;
  }
  char want[65];
  if (!pin_lookup(name, want)) {
    test_fail_(__FILE__, __LINE__, "no pin '%s' in %s", name, PINS);
    return;
  }
  if (strcmp(hex, want))
    test_fail_(__FILE__, __LINE__, "%s: digest %s, pinned %s (batches changed)", name, hex, want);
}

/* Digest every batch of epochs 0 and 1: images, labels, indices, counts. */
static void digest_batches(const lbbt_dataset *ds, const lbbt_batcher_config *cfg,
                           lbbt_sha256_ctx *ctx) {
  lbbt_batcher *b;
  REQUIRE(lbbt_batcher_create(ds, cfg, &b) == LBBT_OK, "batcher: %s", lbbt_last_error());
  int64_t numel = lbbt_dataset_image_numel(ds);
  float *img = malloc((size_t)cfg->batch_size * (size_t)numel * sizeof *img);
  int32_t *lab = malloc((size_t)cfg->batch_size * sizeof *lab);
  int32_t *idx = malloc((size_t)cfg->batch_size * sizeof *idx);
  for (int64_t e = 0; e < 2 && img && lab && idx; e++) {
    lbbt_batcher_start_epoch(b, e);
    for (int64_t k = 0; k < lbbt_batcher_num_batches(b); k++) {
      int count = 0;
      CHECK(lbbt_batcher_get(b, k, img, lab, idx, &count) == LBBT_OK, "get: %s", lbbt_last_error());
      lbbt_sha256_update(ctx, &count, sizeof count);
      lbbt_sha256_update(ctx, img, (size_t)count * (size_t)numel * sizeof *img);
      lbbt_sha256_update(ctx, lab, (size_t)count * sizeof *lab);
      lbbt_sha256_update(ctx, idx, (size_t)count * sizeof *idx);
    }
  }
  free(img);
  free(lab);
  free(idx);
  lbbt_batcher_free(b);
}

static lbbt_dataset *open_fmnist(int train, int limit, int image_size) {
  lbbt_data_spec spec;
  memset(&spec, 0, sizeof spec);
  snprintf(spec.dataset, sizeof spec.dataset, "fashion-mnist");
  snprintf(spec.root, sizeof spec.root, "%s", FMNIST);
  if (train) spec.limit = limit;
  else spec.test_limit = limit;
  spec.image_size = image_size;
  lbbt_dataset *ds = NULL;
  if (lbbt_dataset_open(&spec, train, &ds) != LBBT_OK) return NULL;
  return ds;
}

static void test_pins_fmnist_batches(void) {
  if (!test_file_exists(FMNIST)) SKIP("%s absent (Debian dataset-fashion-mnist)", FMNIST);
  static const int limits[2] = {1000, 2000};
  for (int l = 0; l < 2; l++) {
    lbbt_dataset *ds = open_fmnist(1, limits[l], 0);
    REQUIRE(ds, "open: %s", lbbt_last_error());
    for (int aug = 0; aug < 2; aug++) {
      lbbt_batcher_config cfg = {.batch_size = 64, .shuffle = 1, .seed = 3,
                                 .crop_padding = aug ? 4 : 0, .flip = aug, .drop_last = aug};
      lbbt_sha256_ctx ctx;
      lbbt_sha256_init(&ctx);
      digest_batches(ds, &cfg, &ctx);
      char name[64];
      snprintf(name, sizeof name, "fmnist-train-%d-%s", limits[l], aug ? "crop4-flip" : "plain");
      pin_check(name, &ctx);
    }
    lbbt_dataset_free(ds);
  }
}

static void test_pins_fmnist_test_resized(void) {
  if (!test_file_exists(FMNIST)) SKIP("%s absent (Debian dataset-fashion-mnist)", FMNIST);
  lbbt_dataset *ds = open_fmnist(0, 200, 32);
  REQUIRE(ds, "open: %s", lbbt_last_error());
  lbbt_batcher_config cfg = {.batch_size = 64};
  lbbt_sha256_ctx ctx;
  lbbt_sha256_init(&ctx);
  digest_batches(ds, &cfg, &ctx);
  pin_check("fmnist-test-200-resized32", &ctx);
  lbbt_dataset_free(ds);
}

static void test_pins_random_labels(void) {
  if (!test_file_exists(FMNIST)) SKIP("%s absent (Debian dataset-fashion-mnist)", FMNIST);
  lbbt_dataset *ds = open_fmnist(1, 1000, 0);
  REQUIRE(ds, "open: %s", lbbt_last_error());
  int32_t *labels = malloc((size_t)ds->n * sizeof *labels);
  uint8_t *corrupted = malloc((size_t)ds->n);
  static const double ratios[2] = {1.0, 0.3};
  for (int r = 0; r < 2 && labels && corrupted; r++) {
    CHECK(lbbt_labels_randomize(ds->labels, ds->n, ds->num_classes, ratios[r], 11, labels,
                                corrupted) == LBBT_OK, "randomize: %s", lbbt_last_error());
    lbbt_sha256_ctx ctx;
    lbbt_sha256_init(&ctx);
    lbbt_sha256_update(&ctx, labels, (size_t)ds->n * sizeof *labels);
    lbbt_sha256_update(&ctx, corrupted, (size_t)ds->n);
    lbbt_batcher_config cfg = {.batch_size = 64, .shuffle = 1, .seed = 5, .labels = labels};
    digest_batches(ds, &cfg, &ctx);
    char name[64];
    snprintf(name, sizeof name, "fmnist-random-labels-%.1f", ratios[r]);
    pin_check(name, &ctx);
  }
  free(labels);
  free(corrupted);
  lbbt_dataset_free(ds);
}

static void test_pins_fixed_batch(void) {
  if (!test_file_exists(FMNIST)) SKIP("%s absent (Debian dataset-fashion-mnist)", FMNIST);
  lbbt_dataset *ds = open_fmnist(1, 1000, 0);
  REQUIRE(ds, "open: %s", lbbt_last_error());
  static const lbbt_label_mode modes[2] = {LBBT_LABELS_TRUE, LBBT_LABELS_RANDOM};
  for (int m = 0; m < 2; m++) {
    lbbt_fixed_batch *fb = NULL;
    CHECK(lbbt_fixed_batch_create(ds, 128, modes[m], 0.5, 21, 22, &fb) == LBBT_OK, "fixed batch: %s",
          lbbt_last_error());
    if (!fb) break;
    lbbt_sha256_ctx ctx;
    lbbt_sha256_init(&ctx);
    lbbt_sha256_update(&ctx, fb->images, (size_t)fb->n * (size_t)lbbt_dataset_image_numel(ds) * sizeof(float));
    lbbt_sha256_update(&ctx, fb->labels, (size_t)fb->n * sizeof(int32_t));
    lbbt_sha256_update(&ctx, fb->indices, (size_t)fb->n * sizeof(int32_t));
    lbbt_sha256_update(&ctx, &fb->n_changed, sizeof fb->n_changed);
    pin_check(m ? "fmnist-fixed-batch-random-0.5" : "fmnist-fixed-batch-true", &ctx);
    lbbt_fixed_batch_free(fb);
  }
  lbbt_dataset_free(ds);
}

static void test_pins_synthetic_rgb(void) {
  lbbt_dataset *ds;
  REQUIRE(lbbt_dataset_synthetic(300, 7, 3, 16, 12, 9, &ds) == LBBT_OK, "synthetic: %s", lbbt_last_error());
  lbbt_batcher_config cfg = {.batch_size = 32, .shuffle = 1, .seed = 4, .crop_padding = 3, .flip = 1};
  lbbt_sha256_ctx ctx;
  lbbt_sha256_init(&ctx);
  lbbt_sha256_update(&ctx, ds->pixels, (size_t)ds->n * (size_t)lbbt_dataset_image_numel(ds));
  lbbt_sha256_update(&ctx, ds->labels, (size_t)ds->n * sizeof(int32_t));
  digest_batches(ds, &cfg, &ctx);
  pin_check("synthetic-rgb-crop3-flip", &ctx);
  lbbt_dataset_free(ds);
}

TEST_MAIN_BEGIN("test_data_pins")
const char *w = getenv("LBBT_WRITE_PINS");
if (w && *w) {
  pin_out = fopen(w, "w");
  if (!pin_out) {
    fprintf(stderr, "cannot write %s\n", w);
    return 2;
  }
  fprintf(pin_out, "# name sha256: written by tests/unit/test_data_pins.c (see its header)\n");
}
TEST_RUN(test_pins_fmnist_batches);
TEST_RUN(test_pins_fmnist_test_resized);
TEST_RUN(test_pins_random_labels);
TEST_RUN(test_pins_fixed_batch);
TEST_RUN(test_pins_synthetic_rgb);
if (pin_out) fclose(pin_out);
TEST_MAIN_END()
