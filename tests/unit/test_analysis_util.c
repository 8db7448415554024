/* Typed stage options recorded (options.h) and the choice of images for analyses. */
#include <stdint.h>

#include "lbbt/analysis_util.h"
#include "lbbt/options.h"
#include "lbbt/runner.h"
#include "test.h"

/* A plugin's typed options (options.h) and their record. */
typedef struct demo_options {
  int images;
  double tau;
  int spectrum;
  char split[16];
  char baseline[LBBT_NAME_MAX];
  int mode;
  uint64_t seed;
} demo_options;
static const char *const SPLITS[] = {"test", "train"};
static const char *const MODES[] = {"fast", "exact"};
static const lbbt_key KEYS[] = {
    {.name = "images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(demo_options, images), .def = "100",
     LBBT_KEY_RANGE(1, 1000), .doc = "images measured"},
    {.name = "tau", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(demo_options, tau), .def = "0", .doc = "threshold"},
    {.name = "spectrum", .type = LBBT_KEY_BOOL, LBBT_KEY_FIELD(demo_options, spectrum), .def = "true",
     .doc = "fit spectra"},
    {.name = "split", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(demo_options, split), .def = "test",
     LBBT_KEY_NAMES(SPLITS), .doc = "split"},
    {.name = "baseline", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(demo_options, baseline), .def = "",
     .flags = LBBT_KEY_IDENT, .doc = "an earlier stage"},
    {.name = "mode", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(demo_options, mode), .def = "fast",
     LBBT_KEY_NAMES(MODES), .doc = "mode"},
    {.name = "seed", .type = LBBT_KEY_SEED, LBBT_KEY_FIELD(demo_options, seed), .def = "0", .doc = "seed"},
};
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(demo_options, KEYS, "demo");

/* lbbt_stage_options_record writes every key's effective value, typed. */
static void test_record(void) {
  demo_options o = {.images = 250, .tau = 0.25, .spectrum = 0, .split = "train", .baseline = "", .mode = 1,
                    .seed = 7};
  lbbt_stage_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.name, sizeof s.name, "probe");
  s.plugin_options = &o;
  CHECK(lbbt_stage_options(&s) == &o, "accessor");
  lbbt_stage_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.stage = &s;
  REQUIRE(lbbt_record_create(&ctx.record) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_stage_options_record(&ctx, &OPTIONS) == LBBT_OK, "%s", lbbt_last_error());
  double v;
  const char *t;
  CHECK(lbbt_record_get_scalar(ctx.record, "probe/options/tau", &v) == LBBT_OK && v == 0.25, "tau recorded");
  CHECK(lbbt_record_get_scalar(ctx.record, "probe/options/images", &v) == LBBT_OK && v == 250, "int recorded");
  CHECK(lbbt_record_get_scalar(ctx.record, "probe/options/spectrum", &v) == LBBT_OK && v == 0, "bool recorded");
  CHECK(lbbt_record_get_scalar(ctx.record, "probe/options/seed", &v) == LBBT_OK && v == 7, "seed recorded");
  CHECK(lbbt_record_get_string(ctx.record, "probe/options/split", &t) == LBBT_OK && !strcmp(t, "train"),
        "choice recorded");
  CHECK(lbbt_record_get_string(ctx.record, "probe/options/mode", &t) == LBBT_OK && !strcmp(t, "exact"),
        "enum recorded by name");
  CHECK(lbbt_record_get_string(ctx.record, "probe/options/baseline", &t) == LBBT_OK && !strcmp(t, ""),
        "empty name recorded");
  lbbt_record_free(ctx.record);
  /* a stage whose plugin declares no table records nothing */
  s.plugin_options = NULL;
  REQUIRE(lbbt_record_create(&ctx.record) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(lbbt_stage_options_record(&ctx, &OPTIONS) == LBBT_OK, "no options");
  CHECK(lbbt_record_get_scalar(ctx.record, "probe/options/tau", &v) != LBBT_OK, "nothing recorded");
  lbbt_record_free(ctx.record);
}

static void test_pick_images(void) {
  lbbt_dataset *ds = NULL;
  REQUIRE(lbbt_dataset_synthetic(100, 10, 1, 8, 8, 1, &ds) == LBBT_OK, "%s", lbbt_last_error());
  int32_t *idx = NULL, *again = NULL;
  int64_t n = 0, n2 = 0;
  REQUIRE(lbbt_analysis_pick_images(ds, 30, 5, "probe", &idx, &n) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(n == 30, "n %lld", (long long)n);
  int per[10] = {0};
  for (int64_t i = 0; i < n; i++) {
    per[ds->labels[idx[i]]]++;
    if (i) CHECK(idx[i] > idx[i - 1], "indices not ascending");
  }
  for (int c = 0; c < 10; c++) CHECK(per[c] == 3, "class %d has %d images, want 3", c, per[c]);
  REQUIRE(lbbt_analysis_pick_images(ds, 30, 5, "probe", &again, &n2) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(n2 == n && !memcmp(idx, again, (size_t)n * sizeof *idx), "same seed, different images");
  free(idx);
  free(again);
  REQUIRE(lbbt_analysis_pick_images(ds, 0, 5, "probe", &idx, &n) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(n == 100 && idx[0] == 0 && idx[99] == 99, "want 0 = every image");
  free(idx);
  lbbt_dataset_free(ds);
}

TEST_MAIN_BEGIN("test_analysis_util")
  TEST_RUN(test_record);
  TEST_RUN(test_pick_images);
TEST_MAIN_END()
