/* The pretext tasks' maths (plugins/tasks/shared/pretext.c, the `ssl` task) against numpy
 * (tests/reference/make_pretext_fixtures.py -> tests/fixtures/pretext/numpy.txt: NT-Xent
 * value and gradient, MAE's patch targets and masked loss, rot90) and finite differences
 * (gradcheck.h), plus the masking's invariants and the row gather. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "lbbt/ops.h"
#include "shared/pretext.h"
#include "test.h"

#define FIXTURE "tests/fixtures/pretext/numpy.txt"
/* Declared tolerances, per op. */
#define NTXENT_VALUE_ATOL 1e-5   /* f32 similarities, f64 reference */
#define NTXENT_GRAD_ATOL 1e-5
#define TARGETS_ATOL 1e-4        /* per-patch normalisation divides by a small std */
#define MSE_ATOL 1e-5
static const gc_tolerance NTXENT_GC = {1e-2, 2e-3, 2e-2};
static const gc_tolerance L2N_GC = {1e-3, 1e-3, 1e-2};
static const gc_tolerance MSE_GC = {1e-2, 1e-3, 1e-2};
static const gc_tolerance GATHER_GC = {1e-2, 1e-3, 1e-3};

/* The values of array `name` in the fixture (malloc'd) and its count. */
static float *fixture(const char *name, int64_t *n) {
  FILE *f = fopen(FIXTURE, "r");
  if (!f) return NULL;
  static char line[1 << 16];
  float *out = NULL;
  while (fgets(line, sizeof line, f)) {
    size_t k = strlen(name);
    if (strncmp(line, name, k) || line[k] != ' ') continue;
    char *p = strstr(line, " : ");
    if (!p) break;
    p += 3;
    out = malloc(sizeof(float) * 4096);
    *n = 0;
    for (char *end; *n < 4096; p = end) {
      float v = strtof(p, &end);
      if (end == p) break;
      out[(*n)++] = v;
    }
    break;
  }
  fclose(f);
  return out;
}

static lbbt_tensor *heap(int ndim, const int64_t *shape, const float *data) {
  lbbt_tensor *t = NULL;
  if (lbbt_tensor_create(&t, ndim, shape) != LBBT_OK) return NULL;
  if (data) memcpy(t->data, data, (size_t)t->numel * sizeof(float));
  lbbt_tensor_require_grad(t);
  return t;
}

static float g_tau = 0.3f;
static lbbt_status fwd_ntxent(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  (void)u;
  return pretext_nt_xent(t, in[0], g_tau, out, NULL);
}

static void test_nt_xent_vs_numpy(void) {
  int64_t nz, nl, ng, nt;
  float *z = fixture("ntxent_z", &nz), *loss = fixture("ntxent_loss", &nl), *grad = fixture("ntxent_grad", &ng),
        *tau = fixture("ntxent_tau", &nt);
  if (!z) SKIP("%s missing (run tests/reference/make_pretext_fixtures.py)", FIXTURE);
  REQUIRE(nz == 30 && nl == 1 && ng == 30 && nt == 1, "fixture sizes");
  g_tau = tau[0];
  lbbt_tensor *x = heap(2, (int64_t[]){6, 5}, z);
  lbbt_tape *t = NULL;
  REQUIRE(x && lbbt_tape_create(&t) == LBBT_OK, "setup");
  lbbt_tensor *l;
  int64_t correct = -1;
  REQUIRE(pretext_nt_xent(t, x, g_tau, &l, &correct) == LBBT_OK, "nt_xent: %s", lbbt_last_error());
  CHECK_CLOSE(l->data[0], loss[0], NTXENT_VALUE_ATOL, 0, "NT-Xent value");
  CHECK(correct >= 0 && correct <= 6, "correct %lld", (long long)correct);
  REQUIRE(lbbt_tape_backward(t, l) == LBBT_OK, "backward: %s", lbbt_last_error());
  for (int i = 0; i < 30; i++) CHECK_CLOSE(x->grad[i], grad[i], NTXENT_GRAD_ATOL, 0, "NT-Xent gradient");
  gc_result r = gradcheck(fwd_ntxent, &x, 1, NULL, NTXENT_GC, 30);
  CHECK(r.ok, "finite differences: %s %s", r.where, lbbt_last_error());
  /* identical views: the pair is found for every row */
  lbbt_tensor *y = heap(2, (int64_t[]){6, 5}, z);
  memcpy(y->data + 15, y->data, 15 * sizeof(float));
  lbbt_tape_reset(t);
  REQUIRE(pretext_nt_xent(t, y, g_tau, &l, &correct) == LBBT_OK, "nt_xent");
  CHECK(correct == 6, "identical views: %lld of 6 rows find their pair", (long long)correct);
  lbbt_tape_free(t);
  lbbt_tensor_free(x);
  lbbt_tensor_free(y);
  free(z);
  free(loss);
  free(grad);
  free(tau);
}

static lbbt_status fwd_l2n(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  (void)u;
  return pretext_l2_normalize(t, in[0], 1e-12f, out);
}

static void test_l2_normalize(void) {
  lbbt_tensor *x = heap(2, (int64_t[]){4, 7}, NULL);
  REQUIRE(x, "alloc");
  gc_fill_normal(x, 3, 1.0);
  lbbt_tape *t = NULL;
  REQUIRE(lbbt_tape_create(&t) == LBBT_OK, "tape");
  lbbt_tensor *y;
  REQUIRE(pretext_l2_normalize(t, x, 1e-12f, &y) == LBBT_OK, "l2n");
  for (int i = 0; i < 4; i++) {
    double s = 0;
    for (int d = 0; d < 7; d++) s += (double)y->data[i * 7 + d] * y->data[i * 7 + d];
    CHECK_CLOSE(s, 1.0, 1e-6, 0, "unit rows");
  }
  gc_result r = gradcheck(fwd_l2n, &x, 1, NULL, L2N_GC, 28);
  CHECK(r.ok, "finite differences: %s", r.where);
  lbbt_tape_free(t);
  lbbt_tensor_free(x);
}

static const uint8_t MAE_MASK[8] = {1, 0, 1, 1, 0, 0, 1, 0};
static float *g_target;
static lbbt_status fwd_mse(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  (void)u;
  return pretext_masked_mse(t, in[0], g_target, MAE_MASK, out);
}

static void test_mae_targets_and_loss_vs_numpy(void) {
  int64_t ni, n0, n1, np_, nl;
  float *imgs = fixture("patch_images", &ni), *t0 = fixture("patch_targets_0", &n0),
        *t1 = fixture("patch_targets_1", &n1), *pred = fixture("mae_pred", &np_), *loss = fixture("mae_loss", &nl);
  if (!imgs) SKIP("%s missing", FIXTURE);
  REQUIRE(ni == 384 && n0 == 384 && n1 == 384 && np_ == 384 && nl == 1, "fixture sizes");
  float out[384];
  pretext_patch_targets(imgs, 2, 3, 8, 4, 0, out);
  for (int i = 0; i < 384; i++) CHECK_CLOSE(out[i], t0[i], 1e-6, 0, "patchify (MAE's order)");
  pretext_patch_targets(imgs, 2, 3, 8, 4, 1, out);
  for (int i = 0; i < 384; i++) CHECK_CLOSE(out[i], t1[i], TARGETS_ATOL, 0, "norm_pix targets");
  lbbt_tensor *p = heap(3, (int64_t[]){2, 4, 48}, pred);
  lbbt_tape *t = NULL;
  REQUIRE(p && lbbt_tape_create(&t) == LBBT_OK, "setup");
  lbbt_tensor *l;
  REQUIRE(pretext_masked_mse(t, p, out, MAE_MASK, &l) == LBBT_OK, "masked_mse: %s", lbbt_last_error());
  CHECK_CLOSE(l->data[0], loss[0], MSE_ATOL, 1e-6, "masked loss");
  g_target = out;
  gc_result r = gradcheck(fwd_mse, &p, 1, NULL, MSE_GC, 384);
  CHECK(r.ok, "finite differences: %s", r.where);
  /* unmasked patches get no gradient */
  lbbt_tape_reset(t);
  lbbt_tensor_zero_grad(p);
  REQUIRE(pretext_masked_mse(t, p, out, MAE_MASK, &l) == LBBT_OK && lbbt_tape_backward(t, l) == LBBT_OK, "bwd");
  for (int r2 = 0; r2 < 8; r2++)
    if (!MAE_MASK[r2])
      for (int d = 0; d < 48; d++) CHECK(p->grad[r2 * 48 + d] == 0.0f, "visible patch %d has a gradient", r2);
  uint8_t none[8] = {0};
  lbbt_tape_reset(t);
  CHECK(pretext_masked_mse(t, p, out, none, &l) == LBBT_E_INPUT, "no masked patch accepted");
  lbbt_tape_free(t);
  lbbt_tensor_free(p);
  free(imgs);
  free(t0);
  free(t1);
  free(pred);
  free(loss);
}

static void test_rot90_vs_numpy(void) {
  int64_t nx, nr;
  float *x = fixture("rot_x", &nx);
  if (!x) SKIP("%s missing", FIXTURE);
  REQUIRE(nx == 50, "fixture size");
  float out[50];
  for (int k = 0; k < 4; k++) {
    char name[16];
    snprintf(name, sizeof name, "rot_%d", k);
    float *want = fixture(name, &nr);
    REQUIRE(want && nr == 50, "fixture %s", name);
    pretext_rotate90(x, 2, 5, k, out);
    CHECK(!memcmp(out, want, sizeof out), "rot90 k=%d differs from numpy", k);
    free(want);
  }
  free(x);
}

static void test_random_mask(void) {
  const int N = 49, K = 12;
  int32_t keep[12], restore[49], keep2[12], restore2[49];
  uint8_t mask[49], mask2[49];
  lbbt_rng r, r2;
  lbbt_rng_seed(&r, 5);
  lbbt_rng_seed(&r2, 5);
  pretext_random_mask(&r, N, K, keep, mask, restore);
  pretext_random_mask(&r2, N, K, keep2, mask2, restore2);
  CHECK(!memcmp(keep, keep2, sizeof keep) && !memcmp(mask, mask2, sizeof mask), "same stream, other mask");
  int masked = 0, seen[49] = {0};
  for (int n = 0; n < N; n++) {
    masked += mask[n];
    CHECK(restore[n] >= 0 && restore[n] < N && !seen[restore[n]]++, "restore is no permutation");
    CHECK(mask[n] ? restore[n] >= K : restore[n] < K && keep[restore[n]] == n, "patch %d misplaced", n);
  }
  CHECK(masked == N - K, "%d masked, want %d", masked, N - K);
  for (int k = 1; k < K; k++) CHECK(keep[k] > keep[k - 1], "visible patches not ascending");
  /* uniform: over many draws each patch is visible about K/N of the time */
  int visible[49] = {0};
  for (int i = 0; i < 4000; i++) {
    pretext_random_mask(&r, N, K, keep, mask, restore);
    for (int n = 0; n < N; n++) visible[n] += !mask[n];
  }
  for (int n = 0; n < N; n++) CHECK_CLOSE(visible[n] / 4000.0, (double)K / N, 0.04, 0, "visible share of a patch");
}

static const int32_t GATHER_IDX[6] = {2, 0, 2, 3, 1, 1};
static lbbt_status fwd_gather(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  (void)u;
  return lbbt_gather_rows(t, in[0], GATHER_IDX, 3, out);
}

static void test_gather_rows(void) {
  lbbt_tensor *x = heap(3, (int64_t[]){2, 4, 3}, NULL);
  REQUIRE(x, "alloc");
  gc_fill_normal(x, 9, 1.0);
  lbbt_tape *t = NULL;
  REQUIRE(lbbt_tape_create(&t) == LBBT_OK, "tape");
  lbbt_tensor *y;
  REQUIRE(lbbt_gather_rows(t, x, GATHER_IDX, 3, &y) == LBBT_OK, "gather: %s", lbbt_last_error());
  for (int b = 0; b < 2; b++)
    for (int k = 0; k < 3; k++)
      CHECK(!memcmp(y->data + (b * 3 + k) * 3, x->data + (b * 4 + GATHER_IDX[b * 3 + k]) * 3, 3 * sizeof(float)),
            "row %d of image %d", k, b);
  gc_result r = gradcheck(fwd_gather, &x, 1, NULL, GATHER_GC, 24);
  CHECK(r.ok, "finite differences: %s", r.where);
  int32_t bad[6] = {0, 1, 4, 0, 0, 0};
  lbbt_tape_reset(t);
  CHECK(lbbt_gather_rows(t, x, bad, 3, &y) == LBBT_E_INPUT, "index 4 of 4 rows accepted");
  lbbt_tape_free(t);
  lbbt_tensor_free(x);
}

TEST_MAIN_BEGIN("test_pretext")
TEST_RUN(test_nt_xent_vs_numpy);
TEST_RUN(test_l2_normalize);
TEST_RUN(test_mae_targets_and_loss_vs_numpy);
TEST_RUN(test_rot90_vs_numpy);
TEST_RUN(test_random_mask);
TEST_RUN(test_gather_rows);
TEST_MAIN_END()
