/* Init modes (controls): shuffled keeps each tensor's sorted values, moment-matched keeps
 * its first two moments, scratch-rescaled keeps its norm; all are seeded and reproducible. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "lbbt/init_mode.h"
#include "lbbt/param_init.h"
#include "test.h"

/* Sample moments of 40,000 values: 5 standard errors. */
#define N_VALUES 40000
#define MOMENT_TOL_SE 5.0

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static lbbt_status scratch_normal(lbbt_tensor *t, const char *name, uint64_t seed, void *user) {
  (void)user;
  return lbbt_init_normal(t, seed, name, 0.0, 0.02);
}

/* A heavy-tailed "pretrained" tensor: normal plus a few large outliers. */
static lbbt_tensor *pretrained(void) {
  lbbt_tensor *t = NULL;
  int64_t shape[2] = {200, N_VALUES / 200};
  if (lbbt_tensor_create(&t, 2, shape) != LBBT_OK) return NULL;
  gc_fill_normal(t, 7, 0.1);
  for (int i = 0; i < 20; i++) t->data[i * 997] = 3.0f + (float)i;
  return t;
}

static void moments(const lbbt_tensor *t, double *mean, double *std) {
  double s = 0, s2 = 0;
  for (int64_t i = 0; i < t->numel; i++) s += t->data[i];
  *mean = s / (double)t->numel;
  for (int64_t i = 0; i < t->numel; i++) s2 += (t->data[i] - *mean) * (t->data[i] - *mean);
  *std = sqrt(s2 / (double)t->numel);
}

static void test_shuffled_keeps_sorted_values(void) {
  lbbt_tensor *a = pretrained(), *b = pretrained();
  REQUIRE(a && b, "create");
  REQUIRE(lbbt_apply_init_mode(b, "h.0.w", LBBT_INIT_SHUFFLED, 3, scratch_normal, NULL) == LBBT_OK, "%s",
          lbbt_last_error());
  int moved = 0;
  for (int64_t i = 0; i < a->numel; i++) moved += a->data[i] != b->data[i];
  CHECK(moved > a->numel / 2, "only %d of %lld entries moved", moved, (long long)a->numel);
  qsort(a->data, (size_t)a->numel, sizeof(float), cmp_float);
  qsort(b->data, (size_t)b->numel, sizeof(float), cmp_float);
  CHECK(!memcmp(a->data, b->data, (size_t)a->numel * sizeof(float)), "sorted values differ");
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
}

static void test_shuffled_is_seeded(void) {
  lbbt_tensor *a = pretrained(), *b = pretrained(), *c = pretrained();
  REQUIRE(a && b && c, "create");
  lbbt_apply_init_mode(a, "w", LBBT_INIT_SHUFFLED, 3, scratch_normal, NULL);
  lbbt_apply_init_mode(b, "w", LBBT_INIT_SHUFFLED, 3, scratch_normal, NULL);
  lbbt_apply_init_mode(c, "w", LBBT_INIT_SHUFFLED, 4, scratch_normal, NULL);
  CHECK(!memcmp(a->data, b->data, (size_t)a->numel * sizeof(float)), "same seed, different permutation");
  CHECK(memcmp(a->data, c->data, (size_t)a->numel * sizeof(float)), "different seeds, same permutation");
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
  lbbt_tensor_free(c);
}

static void test_moment_matched_keeps_two_moments(void) {
  lbbt_tensor *a = pretrained(), *b = pretrained();
  REQUIRE(a && b, "create");
  REQUIRE(lbbt_apply_init_mode(b, "w", LBBT_INIT_MOMENT_MATCHED, 5, scratch_normal, NULL) == LBBT_OK, "%s",
          lbbt_last_error());
  double ma, sa, mb, sb;
  moments(a, &ma, &sa);
  moments(b, &mb, &sb);
  double se_mean = sa / sqrt((double)a->numel), se_std = sa / sqrt(2.0 * (double)a->numel);
  CHECK(fabs(ma - mb) < MOMENT_TOL_SE * se_mean, "mean %g vs %g", mb, ma);
  CHECK(fabs(sa - sb) < MOMENT_TOL_SE * se_std, "std %g vs %g", sb, sa);
  /* the outliers are gone: a Gaussian of that std has no 3.0+ values at this size */
  float mx = 0;
  for (int64_t i = 0; i < b->numel; i++) mx = fmaxf(mx, fabsf(b->data[i]));
  CHECK(mx < 3.0f, "max |w| %g: outliers kept", mx);
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
}

static void test_scratch_rescaled_keeps_norm(void) {
  lbbt_tensor *a = pretrained(), *b = pretrained(), *s = pretrained();
  REQUIRE(a && b && s, "create");
  REQUIRE(lbbt_apply_init_mode(b, "w", LBBT_INIT_SCRATCH_RESCALED, 5, scratch_normal, NULL) == LBBT_OK, "%s",
          lbbt_last_error());
  scratch_normal(s, "w", 5, NULL);
  double na = 0, nb = 0, dot = 0, ns = 0;
  for (int64_t i = 0; i < a->numel; i++) {
    na += (double)a->data[i] * a->data[i];
    nb += (double)b->data[i] * b->data[i];
    ns += (double)s->data[i] * s->data[i];
    dot += (double)b->data[i] * s->data[i];
  }
  CHECK_CLOSE(sqrt(nb), sqrt(na), 0, 1e-5, "norm");
  /* and its direction is the scratch init's */
  CHECK_CLOSE(dot / sqrt(nb * ns), 1.0, 1e-6, 0, "cosine with scratch init");
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
  lbbt_tensor_free(s);
}

static void test_language_and_scratch(void) {
  lbbt_tensor *a = pretrained(), *b = pretrained();
  REQUIRE(a && b, "create");
  lbbt_apply_init_mode(b, "w", LBBT_INIT_LANGUAGE, 5, scratch_normal, NULL);
  CHECK(!memcmp(a->data, b->data, (size_t)a->numel * sizeof(float)), "language changed the values");
  lbbt_apply_init_mode(b, "w", LBBT_INIT_SCRATCH, 5, scratch_normal, NULL);
  double m, s;
  moments(b, &m, &s);
  CHECK(fabs(s - 0.02) < 0.001, "scratch std %g", s);
  CHECK(!strcmp(lbbt_init_mode_name(LBBT_INIT_MOMENT_MATCHED), "moment-matched"), "name");
  CHECK(!lbbt_init_mode_needs_checkpoint(LBBT_INIT_SCRATCH) && lbbt_init_mode_needs_checkpoint(LBBT_INIT_SHUFFLED),
        "needs_checkpoint");
  lbbt_tensor_free(a);
  lbbt_tensor_free(b);
}

TEST_MAIN_BEGIN("test_init_mode")
TEST_RUN(test_shuffled_keeps_sorted_values);
TEST_RUN(test_shuffled_is_seeded);
TEST_RUN(test_moment_matched_keeps_two_moments);
TEST_RUN(test_scratch_rescaled_keeps_norm);
TEST_RUN(test_language_and_scratch);
TEST_MAIN_END()
