/* Sliding-window and multi-scale inference (lbbt/dense_inference.h) with stand-in models:
 * a pointwise model (logit k = (k + 1) x pixel) must come back unchanged through windows that
 * overlap, pad or tile exactly, and through flips; a model that outputs each window's own
 * column index must give, per pixel, the mean over the windows covering it, counted by an
 * independent transcription of mmseg's slide_inference; multi-scale of a constant image is
 * that constant. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/dense_inference.h"
#include "lbbt/ops.h"
#include "test.h"

enum { K = 2 };

typedef struct model {
  int mode;  /* 0: pointwise, 1: window column index */
  int calls; /* windows seen */
} model;

static lbbt_status forward(void *user, lbbt_tape *t, lbbt_tensor *x, lbbt_tensor **out) {
  model *m = user;
  const int64_t n = x->shape[0], S = x->shape[2], C = x->shape[1];
  LBBT_TRY(lbbt_tape_tensor(t, 4, (int64_t[]){n, K, S, S}, out));
  for (int64_t i = 0; i < n; i++)
    for (int k = 0; k < K; k++)
      for (int64_t p = 0; p < S * S; p++)
        (*out)->data[(i * K + k) * S * S + p] =
            m->mode == 0 ? (float)(k + 1) * x->data[i * C * S * S + p] : (float)(p % S);
  m->calls += (int)n;
  return LBBT_OK;
}

static float *ramp(int C, int H, int W) {
  float *img = malloc((size_t)C * H * W * sizeof *img);
  for (int i = 0; i < C * H * W; i++) img[i] = (float)((i * 7919) % 101) / 50.0f - 1.0f;
  return img;
}

static void test_pointwise_survives_windows(void) {
  static const int sizes[][2] = {{20, 27}, {8, 5}, {16, 16}, {33, 9}}; /* overlap, pad, exact, mixed */
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
    int H = sizes[s][0], W = sizes[s][1];
    model m = {0, 0};
    lbbt_dense_inference d = {forward, &m, 1, K, 16, 10, 3};
    float *img = ramp(1, H, W), *lg = malloc((size_t)K * H * W * sizeof *lg);
    REQUIRE(lbbt_dense_slide(&d, t, img, H, W, lg) == LBBT_OK, "%s", lbbt_last_error());
    double worst = 0;
    for (int k = 0; k < K; k++)
      for (int i = 0; i < H * W; i++) worst = fmax(worst, fabs(lg[k * H * W + i] - (k + 1) * img[i]));
    CHECK(worst < 1e-6, "%d x %d: pointwise logits differ by %g", H, W, worst);
    /* flip and ratio 1: the mirror image's logits, mirrored back, are the same */
    double one = 1.0;
    REQUIRE(lbbt_dense_multiscale(&d, t, img, H, W, &one, 1, 1, lg) == LBBT_OK, "%s", lbbt_last_error());
    worst = 0;
    for (int k = 0; k < K; k++)
      for (int i = 0; i < H * W; i++) worst = fmax(worst, fabs(lg[k * H * W + i] - (k + 1) * img[i]));
    CHECK(worst < 1e-5, "%d x %d: flip test differs by %g", H, W, worst);
    free(img);
    free(lg);
  }
  lbbt_tape_free(t);
}

/* mmseg's slide_inference loop, transcribed: the window column index averaged per pixel. */
static void reference_columns(int H, int W, int S, int st, double *want) {
  int Hp = H > S ? H : S, Wp = W > S ? W : S;
  int hg = (Hp - S + st - 1 > 0 ? Hp - S + st - 1 : 0) / st + 1, wg = (Wp - S + st - 1 > 0 ? Wp - S + st - 1 : 0) / st + 1;
  double *sum = calloc((size_t)Hp * Wp, sizeof *sum);
  int *cnt = calloc((size_t)Hp * Wp, sizeof *cnt);
  for (int hi = 0; hi < hg; hi++)
    for (int wi = 0; wi < wg; wi++) {
      int y1 = hi * st, x1 = wi * st, y2 = y1 + S < Hp ? y1 + S : Hp, x2 = x1 + S < Wp ? x1 + S : Wp;
      y1 = y2 - S > 0 ? y2 - S : 0, x1 = x2 - S > 0 ? x2 - S : 0;
      for (int y = y1; y < y2; y++)
        for (int x = x1; x < x2; x++) sum[y * Wp + x] += x - x1, cnt[y * Wp + x]++;
    }
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) want[y * W + x] = sum[y * Wp + x] / cnt[y * Wp + x];
  free(sum);
  free(cnt);
}

static void test_overlaps_averaged(void) {
  enum { H = 23, W = 30, S = 12, ST = 7 };
  model m = {1, 0};
  lbbt_dense_inference d = {forward, &m, 1, K, S, ST, 4};
  float *img = ramp(1, H, W), lg[K * H * W];
  double want[H * W];
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  REQUIRE(lbbt_dense_slide(&d, t, img, H, W, lg) == LBBT_OK, "%s", lbbt_last_error());
  reference_columns(H, W, S, ST, want);
  double worst = 0;
  for (int i = 0; i < H * W; i++) worst = fmax(worst, fabs(lg[i] - want[i]) + fabs(lg[H * W + i] - want[i]));
  CHECK(worst < 1e-5, "window averages differ from mmseg's by %g", worst);
  CHECK(m.calls == 3 * 4, "%d windows, want 3 x 4", m.calls); /* (23-12+6)/7+1 = 3, (30-12+6)/7+1 = 4 */
  d.stride = S + 1;
  CHECK(lbbt_dense_slide(&d, t, img, H, W, lg) == LBBT_E_INPUT, "stride above the window");
  lbbt_tape_free(t);
  free(img);
}

static void test_multiscale_constant(void) {
  enum { H = 14, W = 11 };
  model m = {0, 0};
  lbbt_dense_inference d = {forward, &m, 2, K, 8, 5, 8};
  float img[2 * H * W], lg[K * H * W];
  for (int i = 0; i < 2 * H * W; i++) img[i] = 0.25f;
  const double ratios[] = LBBT_SEGMENTER_MS_RATIOS;
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  REQUIRE(lbbt_dense_multiscale(&d, t, img, H, W, ratios, 6, 1, lg) == LBBT_OK, "%s", lbbt_last_error());
  double worst = 0;
  for (int k = 0; k < K; k++)
    for (int i = 0; i < H * W; i++) worst = fmax(worst, fabs(lg[k * H * W + i] - 0.25 * (k + 1)));
  CHECK(worst < 1e-6, "constant image: multi-scale logits differ by %g", worst);
  const double bad = -1;
  CHECK(lbbt_dense_multiscale(&d, t, img, H, W, &bad, 1, 0, lg) == LBBT_E_INPUT, "negative ratio");
  lbbt_tape_free(t);
}

TEST_MAIN_BEGIN("test_dense_inference")
  TEST_RUN(test_pointwise_survives_windows);
  TEST_RUN(test_overlaps_averaged);
  TEST_RUN(test_multiscale_constant);
TEST_MAIN_END()
