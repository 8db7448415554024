/* lbbt_coco_evaluate against hand-worked cases and against an independent Python + numpy
 * re-implementation of pycocotools' COCOeval (tests/reference/coco_eval_reference.py),
 * whose fixtures tests/fixtures/coco_eval/NAME.json hold random and edge-case datasets
 * (crowds, empty images, detections without ground truth, categories without ground truth,
 * duplicates, tied scores, more detections than maxDets, explicit areas, area boundaries,
 * no detections, no ground truth) with the reference's 12 stats, recall array and AP per
 * (IoU threshold, category, area, maxDets). */
#include <glob.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/coco_eval.h"
#include "test.h"

/* Recall is one division (exact); AP and the stats are means of 101 (x 10 x K) values that
 * numpy sums pairwise and lbbt left to right: a few ulps apart. */
static const double MEAN_ATOL = 1e-12;
static const double HAND_ATOL = 1e-12; /* hand values ignore the eps(1) in tp / (tp + fp + eps) */

static lbbt_coco_eval *eval_or_null(const lbbt_coco_gt *gt, int64_t ng, const lbbt_coco_det *dt,
                                    int64_t nd, const int64_t *imgs, int64_t ni,
                                    const int64_t *cats, int64_t nc, const lbbt_coco_params *p) {
  lbbt_coco_eval *e = NULL;
  if (lbbt_coco_evaluate(gt, ng, dt, nd, imgs, ni, cats, nc, p, &e) != LBBT_OK) return NULL;
  return e;
}

static void check_stats(const lbbt_coco_eval *e, const double *want, const char *what) {
  for (int s = 0; s < LBBT_COCO_N_STATS; s++) {
    char w[96];
    snprintf(w, sizeof w, "%s %s", what, lbbt_coco_stat_name((lbbt_coco_stat)s));
    CHECK_CLOSE(e->stats[s], want[s], HAND_ATOL, 0, w);
  }
}

/* One medium ground truth and a crowd on image 1; detections: an exact hit (0.9), its
 * duplicate (0.8: a false positive), one inside the crowd (0.7: IoU with a crowd is
 * inter / detection area = 1, so it is ignored), and one on image 2, which has no ground
 * truth (0.95: a false positive).  In score order FP, TP, FP: precision 0, 1/2, 1/3, made
 * monotone 1/2, 1/2, 1/3; recall 0, 1, 1: AP = 1/2 at every threshold.  AR1 takes each
 * image's best detection: the hit is image 1's, so AR1 = 1.  In the medium range the
 * false positive on image 2 (30x30 = 900 < 32^2) is unmatched and outside the range, hence
 * ignored: TP, FP gives APm = 1.  No small or large ground truth: -1. */
static void test_hand_crowd_duplicate(void) {
  const lbbt_coco_gt gt[2] = {{1, 7, {10, 10, 40, 40}, -1, 0}, {1, 7, {100, 100, 50, 50}, -1, 1}};
  const lbbt_coco_det dt[4] = {{1, 7, {10, 10, 40, 40}, 0.9}, {1, 7, {10, 10, 40, 40}, 0.8},
                               {1, 7, {110, 110, 20, 20}, 0.7}, {2, 7, {0, 0, 30, 30}, 0.95}};
  const int64_t imgs[2] = {2, 1}, cats[1] = {7};
  lbbt_coco_eval *e = eval_or_null(gt, 2, dt, 4, imgs, 2, cats, 1, NULL);
  REQUIRE(e, "%s", lbbt_last_error());
  const double want[12] = {0.5, 0.5, 0.5, -1, 1, -1, 1, 1, 1, -1, 1, -1};
  check_stats(e, want, "crowd/duplicate");
  lbbt_coco_eval_free(e);
}

/* A detection of IoU 0.62 (100x62 inside 100x100) matches at thresholds 0.50, 0.55, 0.60
 * only: AP = 3/10, AP50 = 1, AP75 = 0; the ground truth is large (10^4 > 96^2). */
static void test_hand_partial_iou(void) {
  const lbbt_coco_gt gt[1] = {{5, 1, {0, 0, 100, 100}, -1, 0}};
  const lbbt_coco_det dt[1] = {{5, 1, {0, 0, 100, 62}, 0.5}};
  const int64_t imgs[1] = {5}, cats[2] = {1, 2}; /* category 2 has no ground truth: -1, left out */
  lbbt_coco_eval *e = eval_or_null(gt, 1, dt, 1, imgs, 1, cats, 2, NULL);
  REQUIRE(e, "%s", lbbt_last_error());
  const double want[12] = {0.3, 1, 0, -1, -1, 0.3, 0.3, 0.3, 0.3, -1, -1, 0.3};
  check_stats(e, want, "IoU 0.62");
  /* the same boxes on a 96-px canvas: 10^4 is above the scaled 96^2 (207.36): still large */
  lbbt_coco_params p = lbbt_coco_params_default(96);
  CHECK_CLOSE(p.small_max, 23.04, 1e-9, 0, "scaled small bound");
  CHECK_CLOSE(p.medium_max, 207.36, 1e-9, 0, "scaled medium bound");
  lbbt_coco_eval_free(e);
}

/* Greedy by score, not optimal: the higher-scored detection takes the ground truth it
 * overlaps best, leaving the second detection nothing at 0.5 (DETR-style Hungarian matching
 * would pair them differently). */
static void test_hand_greedy(void) {
  const lbbt_coco_gt gt[2] = {{1, 1, {0, 0, 10, 10}, -1, 0}, {1, 1, {6, 0, 10, 10}, -1, 0}};
  /* d0 (0.9) spans x 3..13: IoU 7/13 with g0 (x 0..10) and with g1 (x 6..16) */
  const lbbt_coco_det dt[2] = {{1, 1, {3, 0, 10, 10}, 0.9}, {1, 1, {0, 0, 10, 10}, 0.8}};
  const int64_t imgs[1] = {1}, cats[1] = {1};
  lbbt_coco_eval *e = eval_or_null(gt, 2, dt, 2, imgs, 1, cats, 1, NULL);
  REQUIRE(e, "%s", lbbt_last_error());
  /* At 0.5: d0's IoUs tie (7/13 = 0.538 each): the later ground truth (g1) wins, so d1 still
   * finds g0 (IoU 1): 2 TP, AP50 = 1.  At 0.55 and above d0 matches nothing (FP) and d1
   * matches g0: precision 0, 1/2, recall 0, 1/2 -> interpolated 1/2 up to recall 0.5, then
   * 0: AP = 51/101 * 1/2 for each of the 9 thresholds. */
  double ap_high = 51.0 / 101.0 * 0.5, ap = (1.0 + 9 * ap_high) / 10.0;
  CHECK_CLOSE(e->stats[LBBT_COCO_AP50], 1.0, HAND_ATOL, 0, "AP50");
  CHECK_CLOSE(e->stats[LBBT_COCO_AP75], ap_high, HAND_ATOL, 0, "AP75");
  CHECK_CLOSE(e->stats[LBBT_COCO_AP], ap, HAND_ATOL, 0, "AP");
  CHECK_CLOSE(e->stats[LBBT_COCO_AR100], (1.0 + 9 * 0.5) / 10.0, HAND_ATOL, 0, "AR100");
  lbbt_coco_eval_free(e);
}

static void test_invalid_inputs(void) {
  const lbbt_coco_gt gt[1] = {{1, 1, {0, 0, 10, 10}, -1, 0}};
  const lbbt_coco_det dt[1] = {{9, 1, {0, 0, 10, 10}, 0.5}};
  const int64_t imgs[2] = {1, 1}, cats[1] = {1};
  lbbt_coco_eval *e = NULL;
  CHECK(lbbt_coco_evaluate(gt, 1, NULL, 0, imgs, 2, cats, 1, NULL, &e) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "image id 1 listed twice") && !e, "duplicate image: %s",
        lbbt_last_error());
  CHECK(lbbt_coco_evaluate(gt, 1, dt, 1, imgs, 1, cats, 1, NULL, &e) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "image 9"), "detection on unknown image: %s",
        lbbt_last_error());
  const int64_t cat2[1] = {2};
  CHECK(lbbt_coco_evaluate(gt, 1, NULL, 0, imgs, 1, cat2, 1, NULL, &e) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "category 1"), "gt of unknown category: %s",
        lbbt_last_error());
  const lbbt_coco_det nan_dt[1] = {{1, 1, {0, 0, 10, 10}, NAN}};
  CHECK(lbbt_coco_evaluate(gt, 1, nan_dt, 1, imgs, 1, cats, 1, NULL, &e) == LBBT_E_INPUT,
        "NaN score refused");
  /* a detection of a category outside the list is ignored, as COCOeval ignores it */
  const lbbt_coco_det other[1] = {{1, 5, {0, 0, 10, 10}, 0.5}};
  REQUIRE(lbbt_coco_evaluate(gt, 1, other, 1, imgs, 1, cats, 1, NULL, &e) == LBBT_OK, "%s",
          lbbt_last_error());
  CHECK(e->stats[LBBT_COCO_AP] == 0.0 && e->stats[LBBT_COCO_AR100] == 0.0, "other category");
  lbbt_coco_eval_free(e);
}

/* ---- reference fixtures ---------------------------------------------------------------- */
static double jnum(json_t *a, size_t i) { return json_number_value(json_array_get(a, i)); }

static int run_fixture(const char *path, char *msg, size_t n) {
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr);
  if (!doc) {
    snprintf(msg, n, "%s:%d: %s", path, jerr.line, jerr.text);
    return 0;
  }
  int ok = 0;
  json_t *ji = json_object_get(doc, "images"), *jc = json_object_get(doc, "categories");
  json_t *jg = json_object_get(doc, "gt"), *jd = json_object_get(doc, "dt");
  json_t *jp = json_object_get(doc, "params");
  size_t ni = json_array_size(ji), nc = json_array_size(jc), ng = json_array_size(jg),
         nd = json_array_size(jd);
  int64_t *imgs = malloc((ni + 1) * sizeof *imgs), *cats = malloc((nc + 1) * sizeof *cats);
  lbbt_coco_gt *gt = malloc((ng + 1) * sizeof *gt);
  lbbt_coco_det *dt = malloc((nd + 1) * sizeof *dt);
  lbbt_coco_eval *e = NULL;
  for (size_t i = 0; i < ni; i++) imgs[i] = json_integer_value(json_array_get(ji, i));
  for (size_t i = 0; i < nc; i++) cats[i] = json_integer_value(json_array_get(jc, i));
  for (size_t i = 0; i < ng; i++) {
    json_t *r = json_array_get(jg, i);
    gt[i] = (lbbt_coco_gt){json_integer_value(json_array_get(r, 0)),
                           json_integer_value(json_array_get(r, 1)),
                           {jnum(r, 2), jnum(r, 3), jnum(r, 4), jnum(r, 5)}, jnum(r, 6),
                           (int)json_integer_value(json_array_get(r, 7))};
  }
  for (size_t i = 0; i < nd; i++) {
    json_t *r = json_array_get(jd, i);
    dt[i] = (lbbt_coco_det){json_integer_value(json_array_get(r, 0)),
                            json_integer_value(json_array_get(r, 1)),
                            {jnum(r, 2), jnum(r, 3), jnum(r, 4), jnum(r, 5)}, jnum(r, 6)};
  }
  lbbt_coco_params p = {json_number_value(json_object_get(jp, "small_max")),
                        json_number_value(json_object_get(jp, "medium_max")),
                        json_number_value(json_object_get(jp, "area_max")),
                        {0, 0, 0}};
  for (int m = 0; m < LBBT_COCO_N_MAXDET; m++)
    p.max_dets[m] = (int)json_integer_value(json_array_get(json_object_get(jp, "max_dets"), m));
  if (lbbt_coco_evaluate(gt, (int64_t)ng, dt, (int64_t)nd, imgs, (int64_t)ni, cats, (int64_t)nc,
                         &p, &e) != LBBT_OK) {
    snprintf(msg, n, "evaluate: %s", lbbt_last_error());
    goto done;
  }
  json_t *ti = json_object_get(doc, "iou_thrs"), *tr = json_object_get(doc, "rec_thrs");
  for (int t = 0; t < LBBT_COCO_N_IOU; t++)
    if (e->iou_thrs[t] != jnum(ti, (size_t)t)) {
      snprintf(msg, n, "iou_thrs[%d] %.17g, numpy %.17g", t, e->iou_thrs[t], jnum(ti, (size_t)t));
      goto done;
    }
  for (int r = 0; r < LBBT_COCO_N_REC; r++)
    if (e->rec_thrs[r] != jnum(tr, (size_t)r)) {
      snprintf(msg, n, "rec_thrs[%d] %.17g, numpy %.17g", r, e->rec_thrs[r], jnum(tr, (size_t)r));
      goto done;
    }
  json_t *js = json_object_get(doc, "stats");
  for (int s = 0; s < LBBT_COCO_N_STATS; s++)
    if (!(fabs(e->stats[s] - jnum(js, (size_t)s)) <= MEAN_ATOL)) {
      snprintf(msg, n, "%s: lbbt %.17g, reference %.17g", lbbt_coco_stat_name((lbbt_coco_stat)s),
               e->stats[s], jnum(js, (size_t)s));
      goto done;
    }
  int64_t K = (int64_t)nc, A = LBBT_COCO_N_AREA, M = LBBT_COCO_N_MAXDET, R = LBBT_COCO_N_REC;
  json_t *jr = json_object_get(doc, "recall"), *ja = json_object_get(doc, "ap_by_threshold");
  if ((int64_t)json_array_size(jr) != LBBT_COCO_N_IOU * K * A * M ||
      json_array_size(ja) != json_array_size(jr)) {
    snprintf(msg, n, "fixture arrays have the wrong size");
    goto done;
  }
  for (int64_t j = 0; j < LBBT_COCO_N_IOU * K * A * M; j++) {
    if (e->recall[j] != jnum(jr, (size_t)j)) {
      snprintf(msg, n, "recall[%lld] %.17g, reference %.17g", (long long)j, e->recall[j],
               jnum(jr, (size_t)j));
      goto done;
    }
    /* AP of (t, k, a, m): the mean of precision[t, :, k, a, m] */
    int64_t t = j / (K * A * M), kam = j % (K * A * M);
    double sum = 0;
    int neg = 0;
    for (int64_t r = 0; r < R; r++) {
      double v = e->precision[(t * R + r) * K * A * M + kam];
      neg |= v == -1;
      sum += v;
    }
    double ap = neg ? -1.0 : sum / (double)R;
    if (!(fabs(ap - jnum(ja, (size_t)j)) <= MEAN_ATOL)) {
      snprintf(msg, n, "AP[t %lld, k/a/m %lld] %.17g, reference %.17g", (long long)t,
               (long long)kam, ap, jnum(ja, (size_t)j));
      goto done;
    }
  }
  ok = 1;
done:
  lbbt_coco_eval_free(e);
  free(imgs), free(cats), free(gt), free(dt);
  json_decref(doc);
  return ok;
}

static void test_reference_fixtures(void) {
  glob_t gl;
  if (glob("tests/fixtures/coco_eval/*.json", 0, NULL, &gl) != 0)
    SKIP("no fixtures in tests/fixtures/coco_eval (tests/reference/coco_eval_reference.py)");
  for (size_t i = 0; i < gl.gl_pathc; i++) {
    char msg[400];
    if (!run_fixture(gl.gl_pathv[i], msg, sizeof msg)) {
      printf("  %s: %s\n", gl.gl_pathv[i], msg);
      CHECK(0, "%s: %s", gl.gl_pathv[i], msg);
    }
  }
  CHECK(gl.gl_pathc >= 12, "%zu fixtures", gl.gl_pathc);
  globfree(&gl);
}

TEST_MAIN_BEGIN("test_coco_eval")
TEST_RUN(test_hand_crowd_duplicate);
TEST_RUN(test_hand_partial_iou);
TEST_RUN(test_hand_greedy);
TEST_RUN(test_invalid_inputs);
TEST_RUN(test_reference_fixtures);
TEST_MAIN_END()
