/* The DETR-form detector on borrowed blocks (lbbt/set_detector.h), with a small scratch
 * GPT-2 lending its blocks through the plugin registry: output shapes and ranges, the
 * cross-attention copied from the decoder blocks' attention, the sine positions against
 * their formula, every parameter group receiving a gradient, and the loss (with auxiliary
 * outputs) falling when the detector trains on one tiny synthetic batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/plugin.h"
#include "lbbt/set_detector.h"
#include "backbone_tests.h"
#include "gpt2_spec.h"
#include "test.h"

enum { B = 4, IMG = 32, K = 3, Q = 6, DIM = 32, STEPS = 40 };
/* After STEPS AdamW steps on the same batch the loss must be below this share of the first. */
static const double LOSS_DROP = 0.6;

static lbbt_registry *g_reg;

static lbbt_backbone_spec gpt2_spec(void) {
  lbbt_backbone_spec s;
  scratch_gpt2_spec(&s, 32, 2, 2, 16);
  s.patch_size = 4;
  s.pool = LBBT_POOL_MEAN;
  s.attention = LBBT_ATTN_BIDIRECTIONAL;
  return s;
}

/* A model holding 2 encoder + 2 decoder blocks of the scratch GPT-2 and the detector. */
static lbbt_status build(int cross_from_blocks, lbbt_model **m, lbbt_set_detector **d) {
  static const lbbt_model_ops no_ops = {.version = LBBT_MODEL_OPS_VERSION};
  LBBT_TRY(lbbt_model_create(m, &no_ops, "detector"));
  lbbt_backbone_spec s = gpt2_spec();
  lbbt_block_stack *enc = NULL, *dec = NULL;
  LBBT_TRY(lbbt_borrow_blocks(g_reg, &s, 2, 11, "detector.encoder.", 0, *m, &enc));
  lbbt_status st = lbbt_borrow_blocks(g_reg, &s, 2, 11, "detector.decoder.", 2, *m, &dec);
  if (st != LBBT_OK) {
    lbbt_block_stack_free(enc);
    return st;
  }
  lbbt_set_detector_config cfg = {1, IMG, K, Q, 8, 2, cross_from_blocks};
  st = lbbt_set_detector_create(&cfg, enc, dec, *m, 5, d);
  if (st != LBBT_OK) lbbt_block_stack_free(enc), lbbt_block_stack_free(dec);
  return st;
}

/* Rectangles of class-specific brightness; targets in fractions of the image. */
typedef struct batch {
  lbbt_tensor *images;
  int32_t labels[B * 2];
  float boxes[B * 2 * 4];
  lbbt_set_target tg[B];
} batch;

static void make_batch(batch *b) {
  lbbt_tensor_create(&b->images, 4, (int64_t[]){B, 1, IMG, IMG});
  memset(b->images->data, 0, (size_t)b->images->numel * sizeof(float));
  static const int rects[B][2][5] = { /* x0, y0, w, h, class; w 0 = none */
      {{2, 3, 10, 12, 0}, {18, 16, 12, 10, 2}}, {{5, 5, 20, 8, 1}, {0}},
      {{20, 2, 9, 9, 2}, {4, 18, 14, 12, 0}}, {{8, 8, 16, 16, 1}, {0}}};
  for (int i = 0; i < B; i++) {
    int n = 0;
    for (int r = 0; r < 2; r++) {
      const int *q = rects[i][r];
      if (!q[2]) continue;
      float v = 0.4f + 0.3f * (float)q[4];
      for (int y = q[1]; y < q[1] + q[3]; y++)
        for (int x = q[0]; x < q[0] + q[2]; x++) b->images->data[((int64_t)i * IMG + y) * IMG + x] = v;
      b->labels[2 * i + n] = q[4];
      float *bx = b->boxes + 4 * (2 * i + n);
      bx[0] = (q[0] + 0.5f * q[2]) / IMG, bx[1] = (q[1] + 0.5f * q[3]) / IMG;
      bx[2] = (float)q[2] / IMG, bx[3] = (float)q[3] / IMG;
      n++;
    }
    b->tg[i] = (lbbt_set_target){n, b->labels + 2 * i, b->boxes + 8 * i};
  }
}

static void test_sine_positions(void) {
  enum { H = 3, W = 4, C = 8 };
  float pos[H * W * C];
  lbbt_sine_positions(H, W, C, pos);
  const double two_pi = 2 * M_PI;
  /* row i = 1, column j = 2: y = 2 / (3 + 1e-6) 2pi, x = 3 / (4 + 1e-6) 2pi; npf = 4 */
  const float *p = pos + (1 * W + 2) * C;
  double y = 2 / (3 + 1e-6) * two_pi, x = 3 / (4 + 1e-6) * two_pi;
  CHECK_CLOSE(p[0], sin(y), 1e-6, 0, "row sin k=0");
  CHECK_CLOSE(p[1], cos(y), 1e-6, 0, "row cos k=1");
  CHECK_CLOSE(p[2], sin(y / 100.0), 1e-6, 0, "row sin k=2 (10000^(2/4))");
  CHECK_CLOSE(p[3], cos(y / 100.0), 1e-6, 0, "row cos k=3");
  CHECK_CLOSE(p[4], sin(x), 1e-6, 0, "column sin k=0");
  CHECK_CLOSE(p[7], cos(x / 100.0), 1e-6, 0, "column cos k=3");
}

static void test_forward_shapes_and_copy(void) {
  lbbt_model *m = NULL;
  lbbt_set_detector *d = NULL;
  REQUIRE(build(1, &m, &d) == LBBT_OK, "%s", lbbt_last_error());
  /* cross-attention q of decoder layer 1 = columns [0, C) of GPT-2's c_attn [C, 3C] */
  const lbbt_tensor *qkv = d->decoder->blocks[1].qkv_w, *qw = d->cross[1].q_w, *vb = d->cross[1].v_b;
  CHECK(qkv && qkv->shape[0] == DIM && qkv->shape[1] == 3 * DIM, "gpt2 c_attn layout");
  double diff = 0;
  for (int o = 0; o < DIM; o++)
    for (int i = 0; i < DIM; i++) diff = fmax(diff, fabs(qw->data[o * DIM + i] - qkv->data[i * 3 * DIM + o]));
  for (int o = 0; o < DIM; o++) diff = fmax(diff, fabs(vb->data[o] - d->decoder->blocks[1].qkv_b->data[2 * DIM + o]));
  CHECK(diff == 0, "copied cross-attention differs from the block's by %g", diff);
  CHECK(lbbt_model_find_param(m, "detector.decoder.0.cross.o.weight") &&
            lbbt_model_find_param(m, "detector.decoder.h.1.attn.c_attn.weight") &&
            lbbt_model_find_param(m, "detector.encoder.h.0.mlp.c_fc.weight"), "parameter names");
  batch b;
  make_batch(&b);
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  lbbt_tape_set_training(t, 0);
  lbbt_tensor *logits[2], *boxes[2];
  REQUIRE(lbbt_set_detector_forward(t, d, b.images, logits, boxes) == LBBT_OK, "%s", lbbt_last_error());
  for (int l = 0; l < 2; l++) {
    CHECK(logits[l]->ndim == 3 && logits[l]->shape[0] == B && logits[l]->shape[1] == Q &&
              logits[l]->shape[2] == K + 1, "logits shape");
    CHECK(boxes[l]->ndim == 3 && boxes[l]->shape[2] == 4, "boxes shape");
    for (int64_t i = 0; i < boxes[l]->numel; i++)
      if (!(boxes[l]->data[i] > 0 && boxes[l]->data[i] < 1)) {
        CHECK(0, "box value %g outside (0, 1)", (double)boxes[l]->data[i]);
        break;
      }
  }
  lbbt_tensor *bad = NULL;
  lbbt_tensor_create(&bad, 4, (int64_t[]){1, 1, 24, 24});
  CHECK(lbbt_set_detector_forward(t, d, bad, logits, boxes) == LBBT_E_SHAPE, "wrong image size");
  lbbt_tensor_free(bad);
  lbbt_tape_free(t);
  lbbt_tensor_free(b.images);
  lbbt_set_detector_free(d);
  lbbt_model_free(m);
}

static double grad_abs(const lbbt_model *m, const char *prefix) {
  double s = 0;
  for (int i = 0; i < m->n_params; i++) {
    const lbbt_param *p = &m->params[i];
    if (strncmp(p->name, prefix, strlen(prefix)) || !p->t->grad) continue;
    for (int64_t j = 0; j < p->t->numel; j++) s += fabs(p->t->grad[j]);
  }
  return s;
}

static void test_training_reduces_loss(void) {
  lbbt_model *m = NULL;
  lbbt_set_detector *d = NULL;
  REQUIRE(build(1, &m, &d) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_layer_range all;
  memset(&all, 0, sizeof all);
  all.select = LBBT_LAYERS_ALL;
  REQUIRE(lbbt_model_select_trainable(m, &all, 1, 1) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_optim_config oc;
  lbbt_optim_config_default(&oc, LBBT_OPT_ADAMW);
  oc.lr = 1e-3;
  oc.weight_decay = 1e-4;
  lbbt_optim *opt = NULL;
  REQUIRE(lbbt_optim_create_for_model(&opt, &oc, m) == LBBT_OK, "%s", lbbt_last_error());
  batch b;
  make_batch(&b);
  lbbt_set_loss_config lc = lbbt_set_loss_config_detr();
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  double first = 0, last = 0;
  for (int s = 0; s < STEPS; s++) {
    lbbt_tape_reset(t);
    lbbt_tape_set_training(t, 1);
    lbbt_optim_zero_grad(opt);
    lbbt_tensor *logits[2], *boxes[2], *loss;
    lbbt_set_loss_parts parts;
    REQUIRE(lbbt_set_detector_forward(t, d, b.images, logits, boxes) == LBBT_OK, "%s", lbbt_last_error());
    REQUIRE(lbbt_set_detector_loss(t, d, logits, boxes, b.tg, &lc, 1, &parts, &loss) == LBBT_OK,
            "%s", lbbt_last_error());
    REQUIRE(lbbt_tape_backward(t, loss) == LBBT_OK, "%s", lbbt_last_error());
    if (s == 0) {
      first = loss->data[0];
      /* every group learns: stem, projection, queries, borrowed blocks, cross-attention, heads */
      const char *groups[] = {"detector.stem.", "detector.input_proj.", "detector.query_embed.",
                              "detector.encoder.h.", "detector.decoder.h.", "detector.decoder.1.cross.",
                              "detector.class_embed.", "detector.bbox_embed."};
      for (size_t g = 0; g < sizeof groups / sizeof *groups; g++)
        CHECK(grad_abs(m, groups[g]) > 0, "no gradient reaches %s", groups[g]);
      CHECK(parts.num_boxes == 6 && parts.ce > 0 && parts.l1 > 0 && parts.giou > 0, "parts");
    }
    last = loss->data[0];
    REQUIRE(isfinite(last), "loss %g at step %d", last, s);
    REQUIRE(lbbt_optim_step(opt) == LBBT_OK, "%s", lbbt_last_error());
  }
  printf("# detector loss: %.4f -> %.4f after %d steps\n", first, last, STEPS);
  CHECK(last < LOSS_DROP * first, "loss %g -> %g: did not fall below %.0f%%", first, last,
        100 * LOSS_DROP);
  lbbt_tape_free(t);
  lbbt_optim_free(opt);
  lbbt_tensor_free(b.images);
  lbbt_set_detector_free(d);
  lbbt_model_free(m);
}

/* stories260K's architecture (LLaMA, 8 query heads sharing 4 key/value heads, RoPE): the
 * copied cross-attention key rows of query head h are the block's rows of head h / 2. */
static void test_gqa_copy(void) {
  static const lbbt_model_ops no_ops = {.version = LBBT_MODEL_OPS_VERSION};
  lbbt_model *m = NULL;
  REQUIRE(lbbt_model_create(&m, &no_ops, "detector") == LBBT_OK, "%s", lbbt_last_error());
  lbbt_backbone_spec s;
  memset(&s, 0, sizeof s);
  snprintf(s.plugin, sizeof s.plugin, "llama");
  snprintf(s.arch, sizeof s.arch, "stories260K");
  s.init = LBBT_INIT_SCRATCH, s.patch_size = 4, s.pool = LBBT_POOL_MEAN;
  s.attention = LBBT_ATTN_BIDIRECTIONAL;
  lbbt_block_stack *enc = NULL, *dec = NULL;
  REQUIRE(lbbt_borrow_blocks(g_reg, &s, 1, 3, "e.", 0, m, &enc) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_borrow_blocks(g_reg, &s, 1, 3, "d.", 1, m, &dec) == LBBT_OK, "%s", lbbt_last_error());
  const lbbt_block *blk = &dec->blocks[0];
  REQUIRE(blk->cfg.n_heads == 8 && blk->cfg.n_kv_heads == 4 && blk->cfg.head_dim == 8 && blk->k_w,
          "stories260K attention: %d/%d heads of %d", blk->cfg.n_heads, blk->cfg.n_kv_heads,
          blk->cfg.head_dim);
  lbbt_set_detector_config cfg = {1, IMG, K, Q, 8, 4, 1};
  lbbt_set_detector *d = NULL;
  lbbt_status st = lbbt_set_detector_create(&cfg, enc, dec, m, 2, &d);
  if (st != LBBT_OK) lbbt_block_stack_free(enc), lbbt_block_stack_free(dec);
  REQUIRE(st == LBBT_OK, "%s", lbbt_last_error());
  int C = 64, D = 8;
  double diff = 0;
  for (int o = 0; o < C; o++) {
    int src = (o / D / 2) * D + o % D;
    for (int i = 0; i < C; i++) {
      diff = fmax(diff, fabs(d->cross[0].k_w->data[o * C + i] - blk->k_w->data[src * C + i]));
      diff = fmax(diff, fabs(d->cross[0].q_w->data[o * C + i] - blk->q_w->data[o * C + i]));
    }
  }
  CHECK(diff == 0, "GQA copy differs by %g", diff);
  batch b;
  make_batch(&b);
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  lbbt_tensor *logits[1], *boxes[1];
  CHECK(lbbt_set_detector_forward(t, d, b.images, logits, boxes) == LBBT_OK &&
            logits[0]->shape[2] == K + 1, "forward with LLaMA blocks: %s", lbbt_last_error());
  lbbt_tape_free(t);
  lbbt_tensor_free(b.images);
  lbbt_set_detector_free(d);
  lbbt_model_free(m);
}

static void test_invalid_config(void) {
  static const lbbt_model_ops no_ops = {.version = LBBT_MODEL_OPS_VERSION};
  lbbt_model *m = NULL;
  REQUIRE(lbbt_model_create(&m, &no_ops, "detector") == LBBT_OK, "%s", lbbt_last_error());
  lbbt_backbone_spec s = gpt2_spec();
  lbbt_block_stack *enc = NULL, *dec = NULL;
  REQUIRE(lbbt_borrow_blocks(g_reg, &s, 1, 1, "e.", 0, m, &enc) == LBBT_OK, "%s", lbbt_last_error());
  REQUIRE(lbbt_borrow_blocks(g_reg, &s, 1, 1, "d.", 1, m, &dec) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_set_detector_config cfg = {1, IMG, K, Q, 8, 5, 0}; /* 32 % 5 != 0 */
  lbbt_set_detector *d = NULL;
  CHECK(lbbt_set_detector_create(&cfg, enc, dec, m, 1, &d) == LBBT_E_INPUT && !d &&
            strstr(lbbt_last_error(), "cross_heads 5"), "%s", lbbt_last_error());
  lbbt_block_stack_free(enc);
  lbbt_block_stack_free(dec);
  lbbt_model_free(m);
}

int main(void) {
  test_binary_ = "test_set_detector";
  if (!test_load_backbones(&g_reg, 0, "test_set_detector")) return 1;
  if (!lbbt_registry_find(g_reg, LBBT_KIND_BACKBONE, "gpt2")) {
    printf("FAIL test_set_detector.load_plugins: no gpt2 backbone plugin in %s/plugins\n", test_build_dir());
    return 1;
  }
  TEST_RUN(test_sine_positions);
  TEST_RUN(test_forward_shapes_and_copy);
  TEST_RUN(test_training_reduces_loss);
  TEST_RUN(test_gqa_copy);
  TEST_RUN(test_invalid_config);
  lbbt_registry_free(g_reg);
  printf("%d passed, %d failed, %d skipped\n", test_npass_, test_nfail_, test_nskip_);
  return test_nfail_ ? 1 : 0;
}
