/* lbbt_set_loss against DETR's SetCriterion + HungarianMatcher (PyTorch, float64; fixtures
 * tests/fixtures/boxes/setloss_NAME.safetensors from tests/reference/make_box_fixtures.py):
 * the matching, the three losses, the weighted total and its gradients w.r.t. logits and
 * boxes; and finite differences of the total (the matching is locally constant). */
#include <glob.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "lbbt/set_loss.h"
#include "parity_fixture.h"
#include "test.h"

/* Losses are computed in double and rounded to f32 once per op (a few ops chained);
 * gradients likewise. */
static const double LOSS_ATOL = 2e-6, LOSS_RTOL = 2e-6;
static const double GRAD_ATOL = 1e-6, GRAD_RTOL = 1e-4;
static const gc_tolerance TOL_SET_LOSS = {1e-3, 2e-3, 2e-2};

typedef struct set_case {
  int64_t B;
  lbbt_set_target tg[8];
  int32_t *labels;
  float *boxes;
} set_case;

static lbbt_status build_set_loss(lbbt_tape *t, lbbt_tensor **in, void *u, lbbt_tensor **out) {
  set_case *c = u;
  lbbt_set_loss_config cfg = lbbt_set_loss_config_detr();
  return lbbt_set_loss(t, in[0], in[1], c->tg, &cfg, NULL, NULL, out);
}

static int check_fixture(const char *path, char *msg, size_t n) {
  lbbt_st *st = NULL;
  int ok = 0;
  lbbt_tensor *logits = NULL, *boxes = NULL, *tb = NULL, *gl = NULL, *gb = NULL, *want[4] = {0};
  int32_t *counts = NULL, *labels = NULL, *match = NULL;
  lbbt_tape *t = NULL;
  int64_t *got_match = NULL;
  if (lbbt_st_open(path, &st) != LBBT_OK) {
    snprintf(msg, n, "%s", lbbt_last_error());
    return 0;
  }
  logits = pf_tensor(st, "logits"), boxes = pf_tensor(st, "boxes"), tb = pf_tensor(st, "tgt_boxes");
  gl = pf_tensor(st, "grad.logits"), gb = pf_tensor(st, "grad.boxes");
  const char *names[4] = {"loss_ce", "loss_bbox", "loss_giou", "total"};
  for (int i = 0; i < 4; i++) want[i] = pf_tensor(st, names[i]);
  int64_t B = 0, nm = 0;
  counts = pf_ints(st, "tgt_counts", &B), labels = pf_ints(st, "tgt_labels", NULL);
  match = pf_ints(st, "match", &nm);
  if (!logits || !boxes || !tb || !gl || !gb || !want[3] || !counts || !labels || !match || B > 8) {
    snprintf(msg, n, "incomplete fixture: %s", lbbt_last_error());
    goto done;
  }
  lbbt_set_target tg[8];
  for (int64_t b = 0, off = 0; b < B; off += counts[b], b++)
    tg[b] = (lbbt_set_target){counts[b], labels + off, tb->data + 4 * off};
  lbbt_set_loss_config cfg = lbbt_set_loss_config_detr();
  cfg.eos_coef = (float)pf_meta_double(st, "eos_coef", 0.1);
  lbbt_tensor_require_grad(logits);
  lbbt_tensor_require_grad(boxes);
  lbbt_tape_create(&t);
  lbbt_tensor *loss = NULL;
  lbbt_set_loss_parts parts;
  got_match = malloc((size_t)nm * sizeof *got_match);
  if (lbbt_set_loss(t, logits, boxes, tg, &cfg, got_match, &parts, &loss) != LBBT_OK) {
    snprintf(msg, n, "set_loss: %s", lbbt_last_error());
    goto done;
  }
  for (int64_t i = 0; i < nm; i++)
    if (got_match[i] != match[i]) {
      snprintf(msg, n, "prediction %lld matched to %lld, DETR %d", (long long)i,
               (long long)got_match[i], (int)match[i]);
      goto done;
    }
  double got[4] = {parts.ce, parts.l1, parts.giou, loss->data[0]};
  for (int i = 0; i < 4; i++)
    if (!(fabs(got[i] - want[i]->data[0]) <= LOSS_ATOL + LOSS_RTOL * fabs(want[i]->data[0]))) {
      snprintf(msg, n, "%s: lbbt %.9g, DETR %.9g", names[i], got[i], (double)want[i]->data[0]);
      goto done;
    }
  if (lbbt_tape_backward(t, loss) != LBBT_OK) {
    snprintf(msg, n, "backward: %s", lbbt_last_error());
    goto done;
  }
  const lbbt_tensor *gx[2] = {logits, boxes}, *gw[2] = {gl, gb};
  for (int k = 0; k < 2; k++)
    for (int64_t i = 0; i < gw[k]->numel; i++)
      if (!(fabs(gx[k]->grad[i] - gw[k]->data[i]) <= GRAD_ATOL + GRAD_RTOL * fabs(gw[k]->data[i]))) {
        snprintf(msg, n, "grad %s[%lld]: lbbt %.9g, DETR %.9g", k ? "boxes" : "logits",
                 (long long)i, (double)gx[k]->grad[i], (double)gw[k]->data[i]);
        goto done;
      }
  ok = 1;
done:
  lbbt_tape_free(t);
  lbbt_tensor_free(logits), lbbt_tensor_free(boxes), lbbt_tensor_free(tb);
  lbbt_tensor_free(gl), lbbt_tensor_free(gb);
  for (int i = 0; i < 4; i++) lbbt_tensor_free(want[i]);
  free(counts), free(labels), free(match), free(got_match);
  lbbt_st_close(st);
  return ok;
}

static void test_detr_criterion_fixtures(void) {
  glob_t gl;
  if (glob("tests/fixtures/boxes/setloss_*.safetensors", 0, NULL, &gl) != 0)
    SKIP("no setloss fixtures (tests/reference/make_box_fixtures.py)");
  for (size_t i = 0; i < gl.gl_pathc; i++) {
    char msg[300];
    if (!check_fixture(gl.gl_pathv[i], msg, sizeof msg)) CHECK(0, "%s: %s", gl.gl_pathv[i], msg);
  }
  CHECK(gl.gl_pathc >= 3, "%zu fixtures", gl.gl_pathc);
  globfree(&gl);
}

/* Finite differences of the whole loss w.r.t. logits and boxes. */
static void test_finite_differences(void) {
  enum { B = 2, Q = 5, V = 4 };
  lbbt_tensor *logits = NULL, *boxes = NULL;
  lbbt_tensor_create(&logits, 3, (int64_t[]){B, Q, V});
  lbbt_tensor_create(&boxes, 3, (int64_t[]){B, Q, 4});
  gc_fill_normal(logits, 7, 1.0);
  lbbt_rng r;
  lbbt_rng_seed(&r, 8);
  for (int64_t i = 0; i < boxes->numel; i++) /* cx, cy in (0.3, 0.7); w, h in (0.1, 0.4) */
    boxes->data[i] = (float)(i % 4 < 2 ? 0.3 + 0.4 * lbbt_rng_uniform(&r) : 0.1 + 0.3 * lbbt_rng_uniform(&r));
  const int32_t labels[3] = {0, 2, 1};
  const float tboxes[12] = {0.4f, 0.5f, 0.2f, 0.3f, 0.6f, 0.4f, 0.25f, 0.2f, 0.5f, 0.55f, 0.3f, 0.3f};
  set_case c = {B, {{2, labels, tboxes}, {1, labels + 2, tboxes + 8}}, NULL, NULL};
  lbbt_tensor_require_grad(logits);
  lbbt_tensor_require_grad(boxes);
  lbbt_tensor *in[2] = {logits, boxes};
  gc_result res = gradcheck(build_set_loss, in, 2, &c, TOL_SET_LOSS, 40);
  CHECK(res.status == LBBT_OK && res.ok, "%s (max abs err %.3g) %s", res.where, res.max_abs_err,
        res.status != LBBT_OK ? lbbt_last_error() : "");
  lbbt_tensor_free(logits);
  lbbt_tensor_free(boxes);
}

static void test_invalid_inputs(void) {
  lbbt_tensor *logits = NULL, *boxes = NULL, *bad = NULL;
  lbbt_tensor_create(&logits, 3, (int64_t[]){1, 2, 3});
  lbbt_tensor_create(&boxes, 3, (int64_t[]){1, 2, 4});
  lbbt_tensor_create(&bad, 3, (int64_t[]){1, 3, 4});
  for (int64_t i = 0; i < boxes->numel; i++) boxes->data[i] = 0.3f;
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  lbbt_set_loss_config cfg = lbbt_set_loss_config_detr();
  const int32_t lab[3] = {5, 0, 0};
  const float tb[12] = {0.5f, 0.5f, 0.2f, 0.2f, 0.5f, 0.5f, 0.2f, 0.2f, 0.5f, 0.5f, 0.2f, 0.2f};
  lbbt_set_target tg = {1, lab, tb};
  lbbt_tensor *out = NULL;
  CHECK(lbbt_set_loss(t, logits, bad, &tg, &cfg, NULL, NULL, &out) == LBBT_E_SHAPE && !out,
        "shape mismatch: %s", lbbt_last_error());
  CHECK(lbbt_set_loss(t, logits, boxes, &tg, &cfg, NULL, NULL, &out) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "image 0") && strstr(lbbt_last_error(), "label 5"),
        "label outside [0, K): %s", lbbt_last_error());
  lbbt_set_target three = {3, lab + 1, tb};
  CHECK(lbbt_set_loss(t, logits, boxes, &three, &cfg, NULL, NULL, &out) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "3 targets"), "more targets than queries: %s",
        lbbt_last_error());
  lbbt_tape_free(t);
  lbbt_tensor_free(logits), lbbt_tensor_free(boxes), lbbt_tensor_free(bad);
}

TEST_MAIN_BEGIN("test_set_loss")
TEST_RUN(test_detr_criterion_fixtures);
TEST_RUN(test_finite_differences);
TEST_RUN(test_invalid_inputs);
TEST_MAIN_END()
