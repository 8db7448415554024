/* lbbt_seg_confusion (mmseg mIoU / mAcc / aAcc) against hand-worked cases and against an
 * independent numpy transcription of mmseg's IoUMetric on random masks
 * (tests/fixtures/segmetrics/mmseg.txt, written by tests/reference/make_segmetrics_fixtures.py). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/seg_metrics.h"
#include "test.h"

/* Ratios of integer counts: exact up to one rounding. */
static const double SCORE_ATOL = 1e-12;
#define FIXTURE "tests/fixtures/segmetrics/mmseg.txt"

static int same(double a, double b) {
  return (isnan(a) && isnan(b)) || fabs(a - b) <= SCORE_ATOL;
}

/* gt  = 0 0 1 1 255 2 ; pred = 0 1 1 1 2 0  (pixel 4 ignored)
 * counts[gt,pred]: (0,0)=1 (0,1)=1 (1,1)=2 (2,0)=1
 * IoU: c0 1/(2+2-1)=1/3, c1 2/(2+3-2)=2/3, c2 0/(1+0-0)=0 -> mIoU 1/3
 * Acc: 1/2, 2/2, 0/1 -> mAcc 1/2;  aAcc 3/5. */
static const int32_t HW_GT[6] = {0, 0, 1, 1, 255, 2}, HW_PRED[6] = {0, 1, 1, 1, 2, 0};

static void hand_worked(void) {
  lbbt_seg_confusion *c;
  REQUIRE(lbbt_seg_confusion_create(3, 255, &c) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_seg_confusion_add(c, HW_PRED, HW_GT, 6) == LBBT_OK, "%s", lbbt_last_error());
  double iou[3], acc[3];
  lbbt_seg_scores s;
  REQUIRE(lbbt_seg_confusion_scores(c, iou, acc, &s) == LBBT_OK, "scores");
  CHECK(same(iou[0], 1.0 / 3) && same(iou[1], 2.0 / 3) && same(iou[2], 0.0), "iou %g %g %g",
        iou[0], iou[1], iou[2]);
  CHECK(same(acc[0], 0.5) && same(acc[1], 1.0) && same(acc[2], 0.0), "acc");
  CHECK(same(s.miou, 1.0 / 3) && same(s.macc, 0.5) && same(s.aacc, 0.6) && s.n_valid_iou == 3,
        "summary miou %g macc %g aacc %g", s.miou, s.macc, s.aacc);
  lbbt_seg_confusion_free(c);
}

/* The same pixels with K = 4: class 3 is absent from both -> NaN, excluded from the means. */
static void absent_class_excluded(void) {
  lbbt_seg_confusion *c;
  REQUIRE(lbbt_seg_confusion_create(4, 255, &c) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_seg_confusion_add(c, HW_PRED, HW_GT, 6) == LBBT_OK, "%s", lbbt_last_error());
  double iou[4], acc[4];
  lbbt_seg_scores s;
  lbbt_seg_confusion_scores(c, iou, acc, &s);
  CHECK(isnan(iou[3]) && isnan(acc[3]), "absent class must be NaN");
  CHECK(same(s.miou, 1.0 / 3) && same(s.macc, 0.5) && s.n_valid_iou == 3, "miou %g", s.miou);
  lbbt_seg_confusion_free(c);
}

/* Predicted but never in the ground truth: IoU 0 (counts in mIoU), Acc NaN (not in mAcc). */
static void predicted_only_class(void) {
  const uint8_t gt[4] = {0, 0, 0, 0}, pred[4] = {0, 0, 1, 1};
  lbbt_seg_confusion *c;
  REQUIRE(lbbt_seg_confusion_create(2, 255, &c) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_seg_confusion_add_u8(c, pred, gt, 4) == LBBT_OK, "%s", lbbt_last_error());
  double iou[2], acc[2];
  lbbt_seg_scores s;
  lbbt_seg_confusion_scores(c, iou, acc, &s);
  CHECK(same(iou[1], 0.0) && isnan(acc[1]), "class 1: iou %g acc %g", iou[1], acc[1]);
  CHECK(same(s.miou, 0.25) && same(s.macc, 0.5) && same(s.aacc, 0.5), "miou %g macc %g", s.miou,
        s.macc);
  lbbt_seg_confusion_free(c);
}

/* Whole-set accumulation: two images give the concatenation's scores (not a per-image mean). */
static void whole_set_not_per_image(void) {
  lbbt_seg_confusion *a, *b;
  REQUIRE(lbbt_seg_confusion_create(3, 255, &a) == LBBT_OK, "create");
  REQUIRE(lbbt_seg_confusion_create(3, 255, &b) == LBBT_OK, "create");
  lbbt_seg_confusion_add(a, HW_PRED, HW_GT, 6);
  lbbt_seg_confusion_add(b, HW_PRED, HW_GT, 2);
  lbbt_seg_confusion_add(b, HW_PRED + 2, HW_GT + 2, 4);
  CHECK(memcmp(lbbt_seg_confusion_counts(a), lbbt_seg_confusion_counts(b), 9 * sizeof(uint64_t)) == 0,
        "split accumulation differs");
  lbbt_seg_confusion_free(a);
  lbbt_seg_confusion_free(b);
}

static void refuses_out_of_range(void) {
  lbbt_seg_confusion *c;
  REQUIRE(lbbt_seg_confusion_create(3, 255, &c) == LBBT_OK, "create");
  const int32_t gt[3] = {0, 7, 1}, pred[3] = {0, 0, 1}, gt2[2] = {0, 1}, pred2[2] = {0, 3};
  CHECK(lbbt_seg_confusion_add(c, pred, gt, 3) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "pixel 1"),
        "gt 7 refused naming the pixel: %s", lbbt_last_error());
  CHECK(lbbt_seg_confusion_add(c, pred2, gt2, 2) == LBBT_E_INPUT, "pred 3 refused");
  const uint64_t *k = lbbt_seg_confusion_counts(c);
  uint64_t sum = 0;
  for (int i = 0; i < 9; i++) sum += k[i];
  CHECK(sum == 0, "a refused batch must leave the matrix unchanged (%llu counted)",
        (unsigned long long)sum);
  lbbt_seg_confusion *bad;
  CHECK(lbbt_seg_confusion_create(0, 255, &bad) == LBBT_E_INPUT && !bad, "0 classes refused");
  lbbt_seg_confusion_free(c);
}

/* Read "tag v v v ..." into vals (nan allowed); returns the count. */
static int read_tagged(FILE *f, const char *tag, double *vals, int max) {
  char word[64];
  if (fscanf(f, "%63s", word) != 1 || strcmp(word, tag) != 0) return -1;
  int n = 0;
  while (n < max && fscanf(f, "%63s", word) == 1) {
    vals[n++] = strcmp(word, "nan") == 0 ? NAN : strtod(word, NULL);
    int ch = fgetc(f);
    if (ch == '\n' || ch == EOF) break;
    ungetc(ch, f);
  }
  return n;
}

static void numpy_mmseg_fixture(void) {
  FILE *f = fopen(FIXTURE, "r");
  REQUIRE(f, "cannot open %s (committed; regenerate with tests/reference/make_segmetrics_fixtures.py)",
          FIXTURE);
  char name[128];
  int k, ignore, n_img, n_cases = 0;
  while (fscanf(f, " case %127s %d %d %d", name, &k, &ignore, &n_img) == 4) {
    lbbt_seg_confusion *c;
    REQUIRE(lbbt_seg_confusion_create(k, ignore, &c) == LBBT_OK, "%s: %s", name, lbbt_last_error());
    for (int im = 0; im < n_img; im++) {
      long npix;
      REQUIRE(fscanf(f, " image %ld", &npix) == 1, "%s: image header", name);
      double *g = malloc((size_t)npix * sizeof *g), *p = malloc((size_t)npix * sizeof *p);
      int32_t *gi = malloc((size_t)npix * sizeof *gi), *pi = malloc((size_t)npix * sizeof *pi);
      int ok = g && p && gi && pi && read_tagged(f, "gt", g, (int)npix) == npix &&
               read_tagged(f, "pred", p, (int)npix) == npix;
      for (long i = 0; ok && i < npix; i++) gi[i] = (int32_t)g[i], pi[i] = (int32_t)p[i];
      lbbt_status st = ok ? lbbt_seg_confusion_add(c, pi, gi, npix) : LBBT_E_INPUT;
      free(g), free(p), free(gi), free(pi);
      REQUIRE(ok && st == LBBT_OK, "%s image %d: %s", name, im, ok ? lbbt_last_error() : "parse");
    }
    double want[3], *wiou = malloc((size_t)k * sizeof(double)), *wacc = malloc((size_t)k * sizeof(double));
    double *iou = malloc((size_t)k * sizeof(double)), *acc = malloc((size_t)k * sizeof(double));
    REQUIRE(wiou && wacc && iou && acc, "oom");
    int ok = read_tagged(f, "aacc", &want[0], 1) == 1 && read_tagged(f, "miou", &want[1], 1) == 1 &&
             read_tagged(f, "macc", &want[2], 1) == 1 && read_tagged(f, "iou", wiou, k) == k &&
             read_tagged(f, "acc", wacc, k) == k;
    lbbt_seg_scores s;
    lbbt_seg_confusion_scores(c, iou, acc, &s);
    CHECK(ok, "%s: fixture parse", name);
    CHECK(same(s.aacc, want[0]) && same(s.miou, want[1]) && same(s.macc, want[2]),
          "%s: aacc %g/%g miou %g/%g macc %g/%g", name, s.aacc, want[0], s.miou, want[1], s.macc,
          want[2]);
    for (int i = 0; ok && i < k; i++)
      CHECK(same(iou[i], wiou[i]) && same(acc[i], wacc[i]), "%s class %d: iou %g/%g acc %g/%g",
            name, i, iou[i], wiou[i], acc[i], wacc[i]);
    free(wiou), free(wacc), free(iou), free(acc);
    lbbt_seg_confusion_free(c);
    n_cases++;
  }
  fclose(f);
  CHECK(n_cases == 7, "expected 7 fixture cases, read %d", n_cases);
}

TEST_MAIN_BEGIN("test_seg_metrics")
TEST_RUN(hand_worked);
TEST_RUN(absent_class_excluded);
TEST_RUN(predicted_only_class);
TEST_RUN(whole_set_not_per_image);
TEST_RUN(refuses_out_of_range);
TEST_RUN(numpy_mmseg_fixture);
TEST_MAIN_END()
