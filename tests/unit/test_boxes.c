/* Box geometry outside the tape (lbbt/boxes.h) and the set-prediction matching built on it:
 * hand-worked GIoU values, and DETR's Hungarian matcher (models/matcher.py with scipy's
 * linear_sum_assignment, in float64) as the reference for lbbt_match_cost,
 * lbbt_boxes_giou_pairwise and lbbt_linear_assignment together: fixtures
 * tests/fixtures/boxes/match_NAME.safetensors from tests/reference/make_box_fixtures.py. */
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/assignment.h"
#include "lbbt/boxes.h"
#include "parity_fixture.h"
#include "test.h"

/* The fixture's costs are float64 rounded once to f32 (|cost| up to ~10).  lbbt computes in
 * double from the same f32 inputs, but converts cxcywh to xyxy in f32 (as the tape op does),
 * an error of ~1e-7 per coordinate that GIoU (slope ~1/width) turns into ~1e-6 per cost; the
 * total of the assignment allows that per matched pair. */
static const double COST_ATOL = 2e-6, COST_RTOL = 1e-6;
static const double EXACT_ATOL = 1e-12;

static void test_giou_hand(void) {
  const float unit[4] = {0, 0, 1, 1}, right[4] = {2, 0, 3, 1};
  const float a[4] = {0, 0, 2, 2}, b[4] = {1, 1, 3, 3};
  const float big[4] = {0, 0, 4, 4}, small[4] = {1, 1, 2, 2};
  double iou;
  CHECK_CLOSE(lbbt_box_giou_xyxy(unit, unit, &iou), 1.0, EXACT_ATOL, 0, "identical");
  CHECK_CLOSE(iou, 1.0, EXACT_ATOL, 0, "identical iou");
  /* apart: IoU 0, enclosing 3, union 2 -> -(3 - 2)/3 */
  CHECK_CLOSE(lbbt_box_giou_xyxy(unit, right, &iou), -1.0 / 3.0, EXACT_ATOL, 0, "apart");
  CHECK_CLOSE(iou, 0.0, EXACT_ATOL, 0, "apart iou");
  /* corner overlap: inter 1, union 7, enclosing 9 */
  CHECK_CLOSE(lbbt_box_giou_xyxy(a, b, &iou), 1.0 / 7.0 - 2.0 / 9.0, EXACT_ATOL, 0, "corner");
  CHECK_CLOSE(iou, 1.0 / 7.0, EXACT_ATOL, 0, "corner iou");
  /* nested: enclosing = union, GIoU = IoU = 1/16; symmetric */
  CHECK_CLOSE(lbbt_box_giou_xyxy(big, small, NULL), 1.0 / 16.0, EXACT_ATOL, 0, "nested");
  CHECK_CLOSE(lbbt_box_giou_xyxy(small, big, NULL), 1.0 / 16.0, EXACT_ATOL, 0, "nested swapped");
  /* touching edges: IoU 0 and enclosing = union: GIoU 0 */
  const float touch[4] = {1, 0, 2, 1};
  CHECK_CLOSE(lbbt_box_giou_xyxy(unit, touch, NULL), 0.0, EXACT_ATOL, 0, "touching");
}

static void test_conversions_hand(void) {
  const float c[4] = {0.5f, 0.5f, 0.2f, 0.4f};
  float x[4], back[4];
  lbbt_box_to_xyxy(c, x);
  CHECK(fabsf(x[0] - 0.4f) < 1e-7f && fabsf(x[1] - 0.3f) < 1e-7f && fabsf(x[2] - 0.6f) < 1e-7f &&
            fabsf(x[3] - 0.7f) < 1e-7f, "xyxy (%g %g %g %g)", x[0], x[1], x[2], x[3]);
  lbbt_box_to_cxcywh(x, back);
  for (int i = 0; i < 4; i++) CHECK_CLOSE(back[i], c[i], 1e-7, 0, "round trip");
}

static void test_invalid_inputs(void) {
  const float inv[8] = {0, 0, 1, 1, 0.5f, 0, 0.4f, 1}; /* box 1 has x1 < x0 */
  double g[4];
  CHECK(lbbt_boxes_giou_pairwise(inv, 2, inv, 1, g, NULL) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "box 1 of 2"), "inverted box: %s", lbbt_last_error());
  const float probs[3] = {0.2f, 0.3f, 0.5f}, box[4] = {0.5f, 0.5f, 0.1f, 0.1f};
  const int32_t bad_label = 3;
  const lbbt_match_weights w = {1, 5, 2};
  CHECK(lbbt_match_cost(probs, 1, 3, box, &bad_label, box, 1, &w, g) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "label 3"), "label out of range: %s", lbbt_last_error());
  const float neg[4] = {0.5f, 0.5f, -0.1f, 0.1f}; /* negative width */
  const int32_t label = 1;
  CHECK(lbbt_match_cost(probs, 1, 3, neg, &label, box, 1, &w, g) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "predicted boxes"), "negative width: %s", lbbt_last_error());
}

/* DETR's matcher: the cost matrix, the pairwise GIoU and the assignment. */
static int check_fixture(const char *path, char *msg, size_t n) {
  lbbt_st *st = NULL;
  int ok = 0;
  lbbt_tensor *probs = NULL, *pred = NULL, *tgt = NULL, *cost = NULL, *giou = NULL;
  int32_t *labels = NULL, *p2t = NULL;
  double *c = NULL, *gi = NULL;
  int64_t *r2c = NULL;
  float *px = NULL;
  if (lbbt_st_open(path, &st) != LBBT_OK) {
    snprintf(msg, n, "%s", lbbt_last_error());
    return 0;
  }
  probs = pf_tensor(st, "probs"), pred = pf_tensor(st, "pred"), tgt = pf_tensor(st, "tgt");
  cost = pf_tensor(st, "cost"), giou = pf_tensor(st, "giou");
  int64_t G = 0, Q = 0;
  labels = pf_ints(st, "labels", &G), p2t = pf_ints(st, "pred_to_tgt", &Q);
  if (!probs || !pred || !tgt || !cost || !giou || !labels || !p2t) {
    snprintf(msg, n, "incomplete fixture: %s", lbbt_last_error());
    goto done;
  }
  int64_t K = probs->shape[1];
  lbbt_match_weights w = {pf_meta_double(st, "w_cls", 0), pf_meta_double(st, "w_l1", 0),
                          pf_meta_double(st, "w_giou", 0)};
  c = malloc((size_t)(Q * G) * sizeof *c), gi = malloc((size_t)(Q * G) * sizeof *gi);
  r2c = malloc((size_t)Q * sizeof *r2c), px = malloc((size_t)(Q + G) * 4 * sizeof *px);
  if (lbbt_match_cost(probs->data, Q, K, pred->data, labels, tgt->data, G, &w, c) != LBBT_OK) {
    snprintf(msg, n, "match_cost: %s", lbbt_last_error());
    goto done;
  }
  for (int64_t i = 0; i < Q * G; i++)
    if (!(fabs(c[i] - cost->data[i]) <= COST_ATOL + COST_RTOL * fabs(cost->data[i]))) {
      snprintf(msg, n, "cost[%lld]: lbbt %.9g, DETR %.9g", (long long)i, c[i], (double)cost->data[i]);
      goto done;
    }
  for (int64_t q = 0; q < Q; q++) lbbt_box_to_xyxy(pred->data + 4 * q, px + 4 * q);
  for (int64_t g = 0; g < G; g++) lbbt_box_to_xyxy(tgt->data + 4 * g, px + 4 * (Q + g));
  if (lbbt_boxes_giou_pairwise(px, Q, px + 4 * Q, G, gi, NULL) != LBBT_OK) {
    snprintf(msg, n, "giou_pairwise: %s", lbbt_last_error());
    goto done;
  }
  for (int64_t i = 0; i < Q * G; i++)
    if (!(fabs(gi[i] - giou->data[i]) <= COST_ATOL + COST_RTOL * fabs(giou->data[i]))) {
      snprintf(msg, n, "giou[%lld]: lbbt %.9g, DETR %.9g", (long long)i, gi[i], (double)giou->data[i]);
      goto done;
    }
  double total;
  if (lbbt_linear_assignment(c, Q, G, r2c, &total) != LBBT_OK) {
    snprintf(msg, n, "assignment: %s", lbbt_last_error());
    goto done;
  }
  double want_total = pf_meta_double(st, "total", NAN);
  if (!(fabs(total - want_total) <= COST_ATOL * (double)(Q < G ? Q : G))) {
    snprintf(msg, n, "total %.17g, scipy %.17g", total, want_total);
    goto done;
  }
  for (int64_t q = 0; q < Q; q++)
    if (r2c[q] != p2t[q]) {
      snprintf(msg, n, "prediction %lld matched to %lld, DETR/scipy %d", (long long)q,
               (long long)r2c[q], (int)p2t[q]);
      goto done;
    }
  ok = 1;
done:
  lbbt_tensor_free(probs), lbbt_tensor_free(pred), lbbt_tensor_free(tgt);
  lbbt_tensor_free(cost), lbbt_tensor_free(giou);
  free(labels), free(p2t), free(c), free(gi), free(r2c), free(px);
  lbbt_st_close(st);
  return ok;
}

static void test_detr_matcher_fixtures(void) {
  glob_t gl;
  if (glob("tests/fixtures/boxes/match_*.safetensors", 0, NULL, &gl) != 0)
    SKIP("no tests/fixtures/boxes/match_*.safetensors (tests/reference/make_box_fixtures.py)");
  for (size_t i = 0; i < gl.gl_pathc; i++) {
    char msg[300];
    if (!check_fixture(gl.gl_pathv[i], msg, sizeof msg)) CHECK(0, "%s: %s", gl.gl_pathv[i], msg);
  }
  CHECK(gl.gl_pathc >= 4, "%zu fixtures", gl.gl_pathc);
  globfree(&gl);
}

TEST_MAIN_BEGIN("test_boxes")
TEST_RUN(test_giou_hand);
TEST_RUN(test_conversions_hand);
TEST_RUN(test_invalid_inputs);
TEST_RUN(test_detr_matcher_fixtures);
TEST_MAIN_END()
