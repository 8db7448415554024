/* Declared stage options for analyses (check, read, record) and the choice of images. */
#include <stdint.h>

#include "lbbt/analysis_util.h"
#include "lbbt/runner.h"
#include "test.h"

static const lbbt_option_decl DECLS[] = {
    {"images", LBBT_OPTION_INT, "100", 1, 1000, NULL, "images measured"},
    {"tau", LBBT_OPTION_NUMBER, "0", -10, 10, NULL, "threshold"},
    {"spectrum", LBBT_OPTION_BOOL, "true", 0, 0, NULL, "fit spectra"},
    {"split", LBBT_OPTION_CHOICE, "test", 0, 0, "test|train", "split"},
    {"baseline", LBBT_OPTION_NAME, "", 0, 0, NULL, "an earlier stage"},
};
enum { N_DECLS = 5 };

static void set_option(lbbt_stage_spec *s, const char *key, const char *value, int line) {
  lbbt_option *o = &s->options[s->n_options++];
  snprintf(o->key, sizeof o->key, "%s", key);
  snprintf(o->value, sizeof o->value, "%s", value);
  o->line = line;
  o->col = 7;
}

static void test_check_and_read(void) {
  lbbt_stage_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.name, sizeof s.name, "probe");
  double v;
  REQUIRE(lbbt_options_check(&s, "x.yaml", "demo", DECLS, N_DECLS) == LBBT_OK, "no options: %s", lbbt_last_error());
  REQUIRE(lbbt_option_number(&s, DECLS, N_DECLS, "images", &v) == LBBT_OK && v == 100, "default images");
  REQUIRE(lbbt_option_number(&s, DECLS, N_DECLS, "spectrum", &v) == LBBT_OK && v == 1, "default bool");
  CHECK(!strcmp(lbbt_option_text(&s, DECLS, N_DECLS, "split"), "test"), "default choice");
  set_option(&s, "images", "250", 3);
  set_option(&s, "tau", "-0.5", 4);
  set_option(&s, "spectrum", "off", 5);
  set_option(&s, "split", "train", 6);
  CHECK(!strcmp(lbbt_option_text(&s, DECLS, N_DECLS, "baseline"), ""), "default name");
  set_option(&s, "baseline", "cov_init-2", 7);
  REQUIRE(lbbt_options_check(&s, "x.yaml", "demo", DECLS, N_DECLS) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(!strcmp(lbbt_option_text(&s, DECLS, N_DECLS, "baseline"), "cov_init-2"), "name");
  CHECK(lbbt_option_number(&s, DECLS, N_DECLS, "baseline", &v) == LBBT_E_INTERNAL, "a name read as a number");
  CHECK(lbbt_option_number(&s, DECLS, N_DECLS, "images", &v) == LBBT_OK && v == 250, "images");
  CHECK(lbbt_option_number(&s, DECLS, N_DECLS, "tau", &v) == LBBT_OK && v == -0.5, "tau");
  CHECK(lbbt_option_number(&s, DECLS, N_DECLS, "spectrum", &v) == LBBT_OK && v == 0, "bool off");
  CHECK(!strcmp(lbbt_option_text(&s, DECLS, N_DECLS, "split"), "train"), "choice");
  CHECK(lbbt_option_number(&s, DECLS, N_DECLS, "nope", &v) == LBBT_E_INTERNAL, "undeclared key read");
}

static void expect_refused(const char *key, const char *value, const char *needle) {
  lbbt_stage_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.name, sizeof s.name, "probe");
  set_option(&s, key, value, 12);
  lbbt_status st = lbbt_options_check(&s, "x.yaml", "demo", DECLS, N_DECLS);
  CHECK(st == LBBT_E_INPUT, "%s: %s accepted", key, value);
  CHECK(strstr(lbbt_last_error(), "x.yaml:12:7") && strstr(lbbt_last_error(), needle),
        "message for %s=%s lacks location or '%s': %s", key, value, needle, lbbt_last_error());
}

static void test_refusals(void) {
  expect_refused("imagez", "3", "valid: images, tau, spectrum, split, baseline");
  expect_refused("images", "0", "from 1 to 1000");
  expect_refused("images", "2.5", "whole number");
  expect_refused("tau", "nan", "a number from -10 to 10");
  expect_refused("tau", "11", "a number");
  expect_refused("spectrum", "maybe", "true or false");
  expect_refused("split", "val", "one of test|train");
  expect_refused("baseline", "Cov Init", "a name of lower-case letters");
}

static void test_record(void) {
  lbbt_stage_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.name, sizeof s.name, "probe");
  set_option(&s, "tau", "0.25", 1);
  lbbt_stage_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.stage = &s;
  REQUIRE(lbbt_record_create(&ctx.record) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_options_record(&ctx, DECLS, N_DECLS) == LBBT_OK, "%s", lbbt_last_error());
  double v;
  const char *t;
  CHECK(lbbt_record_get_scalar(ctx.record, "probe/options/tau", &v) == LBBT_OK && v == 0.25, "tau recorded");
  CHECK(lbbt_record_get_scalar(ctx.record, "probe/options/images", &v) == LBBT_OK && v == 100, "default recorded");
  CHECK(lbbt_record_get_string(ctx.record, "probe/options/split", &t) == LBBT_OK && !strcmp(t, "test"), "choice recorded");
  CHECK(lbbt_record_get_string(ctx.record, "probe/options/baseline", &t) == LBBT_OK && !strcmp(t, ""), "empty name recorded");
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
  TEST_RUN(test_check_and_read);
  TEST_RUN(test_refusals);
  TEST_RUN(test_record);
  TEST_RUN(test_pick_images);
TEST_MAIN_END()
