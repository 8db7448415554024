/* Segmenter with a borrowed mask-transformer decoder (lbbt/mask_transformer.h), a small
 * scratch GPT-2 lending its blocks through the plugin registry: output shapes and parameter
 * names under both width readings, finite-difference gradients of the whole forward with
 * respect to parameters of every part (encoder, projections, class embeddings, borrowed
 * blocks, mask norm), the per-pixel cross-entropy against a hand computation (ignore label,
 * bad values), and the loss falling over 40 AdamW steps on one tiny batch. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "lbbt/dataset.h"
#include "lbbt/mask_transformer.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/plugin.h"
#include "backbone_tests.h"
#include "gpt2_spec.h"
#include "test.h"

enum { B = 2, S = 16, P = 4, K = 3, DIM = 32, STEPS = 40 };
/* After STEPS AdamW steps on the same batch the loss must be below this share of the first. */
static const double LOSS_DROP = 0.5;

static lbbt_registry *g_reg;

static lbbt_backbone_spec gpt2_spec(void) {
  lbbt_backbone_spec s;
  scratch_gpt2_spec(&s, 32, 2, 2, 16);
  s.patch_size = 4;
  s.pool = LBBT_POOL_MEAN;
  return s;
}

/* enc_dim 0: the encoder at the decoder's width; else its own width with projections. */
static lbbt_status build(int enc_dim, lbbt_model **m, lbbt_mask_transformer **seg) {
  static const lbbt_model_ops no_ops = {.version = LBBT_MODEL_OPS_VERSION};
  LBBT_TRY(lbbt_model_create(m, &no_ops, "mask_transformer"));
  lbbt_backbone_spec s = gpt2_spec();
  lbbt_block_stack *dec = NULL;
  lbbt_mask_transformer_config cfg = {.in_channels = 1, .crop = S, .patch = P, .num_classes = K, .enc_dim = enc_dim,
                               .enc_depth = 2, .enc_heads = 2, .enc_mlp = 48};
  LBBT_TRY(lbbt_borrow_blocks(g_reg, &s, 2, 11, "mask_transformer.decoder.", cfg.enc_depth, *m, &dec));
  lbbt_status st = lbbt_mask_transformer_create(&cfg, dec, *m, 5, seg);
  if (st != LBBT_OK) lbbt_block_stack_free(dec);
  return st;
}

/* Two images: rectangles of class-specific brightness on a dark background (class 0); the
 * last row of the second image's mask is ignored (255). */
static void make_batch(lbbt_tensor **images, int32_t *masks) {
  lbbt_tensor_create(images, 4, (int64_t[]){B, 1, S, S});
  static const int rects[B][2][5] = {{{1, 2, 7, 6, 1}, {9, 8, 6, 7, 2}}, {{4, 4, 10, 5, 2}, {0, 11, 5, 4, 1}}};
  for (int i = 0; i < B; i++)
    for (int y = 0; y < S; y++)
      for (int x = 0; x < S; x++) {
        int c = 0;
        for (int r = 0; r < 2; r++) {
          const int *q = rects[i][r];
          if (x >= q[0] && x < q[0] + q[2] && y >= q[1] && y < q[1] + q[3]) c = q[4];
        }
        (*images)->data[(i * S + y) * S + x] = c == 0 ? -0.8f : c == 1 ? 0.3f : 1.1f;
        masks[(i * S + y) * S + x] = i == 1 && y == S - 1 ? LBBT_MASK_IGNORE : c;
      }
}

static void test_shapes_and_names(void) {
  for (int reading = 0; reading < 2; reading++) {
    int E = reading ? 24 : 0;
    lbbt_model *m = NULL;
    lbbt_mask_transformer *seg = NULL;
    REQUIRE(build(E, &m, &seg) == LBBT_OK, "%s", lbbt_last_error());
    CHECK(seg->dim == DIM && seg->cfg.enc_dim == (E ? E : DIM) && seg->grid == S / P, "sizes");
    CHECK(seg->proj_dec_w->shape[0] == DIM && seg->proj_dec_w->shape[1] == (E ? E : DIM), "proj_dec [C, E]");
    CHECK(lbbt_model_find_param(m, "mask_transformer.decoder.h.1.attn.c_attn.weight") &&
              lbbt_model_find_param(m, "mask_transformer.encoder.blocks.1.attn.qkv.weight") &&
              lbbt_model_find_param(m, "mask_transformer.decoder.cls_emb") &&
              lbbt_model_find_param(m, "mask_transformer.decoder.mask_norm.bias"), "parameter names");
    lbbt_param *dec0 = lbbt_model_find_param(m, "mask_transformer.decoder.h.0.ln_1.weight");
    CHECK(dec0 && dec0->layer == 2, "decoder blocks come after the encoder's two layers");
    lbbt_tensor *images;
    int32_t masks[B * S * S];
    make_batch(&images, masks);
    lbbt_tape *t = NULL;
    lbbt_tape_create(&t);
    lbbt_tape_set_training(t, 0);
    lbbt_tensor *logits = NULL;
    REQUIRE(lbbt_mask_transformer_forward(t, seg, images, &logits) == LBBT_OK, "%s", lbbt_last_error());
    CHECK(logits->ndim == 4 && logits->shape[0] == B && logits->shape[1] == K && logits->shape[2] == S &&
              logits->shape[3] == S, "logits [B, K, S, S]");
    /* the masks are LayerNorm'd cosines over K: each patch's K values have mean ~ 0 */
    double worst = 0;
    for (int b = 0; b < B; b++)
      for (int px = 0; px < S * S; px++) {
        double sum = 0;
        for (int k = 0; k < K; k++) sum += logits->data[((int64_t)b * K + k) * S * S + px];
        worst = fmax(worst, fabs(sum / K));
      }
    CHECK(worst < 1e-4, "class-mean of upsampled mask-normed logits %g, want ~0 (zero mask-norm bias)", worst);
    lbbt_tensor *bad = NULL;
    lbbt_tensor_create(&bad, 4, (int64_t[]){1, 1, S + P, S + P});
    CHECK(lbbt_mask_transformer_forward(t, seg, bad, &logits) == LBBT_E_SHAPE &&
              strstr(lbbt_last_error(), "mask_transformer"), "wrong image size: %s", lbbt_last_error());
    lbbt_tensor_free(bad);
    lbbt_tape_free(t);
    lbbt_tensor_free(images);
    lbbt_mask_transformer_free(seg);
    lbbt_model_free(m);
  }
}

/* ---- gradients by finite differences ------------------------------------------------------ */
typedef struct gc_user {
  lbbt_mask_transformer *seg;
  lbbt_tensor *images;
  int32_t masks[B * S * S];
} gc_user;

/* The checked scalar is the training loss (an O(1) mean), not the logits: a sum over all
 * B K S S logits would carry f32 rounding far above what h = 1e-3 can resolve. */
static lbbt_status forward_loss(lbbt_tape *t, lbbt_tensor **in, void *user, lbbt_tensor **out) {
  (void)in; /* the inputs are the segmenter's own parameters, perturbed in place */
  gc_user *u = user;
  lbbt_tensor *logits;
  LBBT_TRY(lbbt_mask_transformer_forward(t, u->seg, u->images, &logits));
  return lbbt_pixel_cross_entropy(t, logits, u->masks, out);
}

static void test_gradients(void) {
  lbbt_model *m = NULL;
  lbbt_mask_transformer *seg = NULL;
  REQUIRE(build(24, &m, &seg) == LBBT_OK, "%s", lbbt_last_error());
  const char *names[] = {"mask_transformer.encoder.patch_embed.proj.weight", "mask_transformer.encoder.pos_embed",
                         "mask_transformer.encoder.blocks.0.attn.qkv.weight", "mask_transformer.decoder.proj_dec.weight",
                         "mask_transformer.decoder.cls_emb", "mask_transformer.decoder.h.1.mlp.c_fc.weight",
                         "mask_transformer.decoder.proj_patch", "mask_transformer.decoder.proj_classes",
                         "mask_transformer.decoder.mask_norm.weight"};
  enum { NN = sizeof names / sizeof names[0] };
  lbbt_tensor *in[NN];
  for (int i = 0; i < NN; i++) {
    lbbt_param *p = lbbt_model_find_param(m, names[i]);
    REQUIRE(p, "no parameter %s", names[i]);
    in[i] = p->t;
    REQUIRE(lbbt_tensor_require_grad(in[i]) == LBBT_OK, "%s", lbbt_last_error());
  }
  static gc_user u;
  u.seg = seg;
  make_batch(&u.images, u.masks);
  /* a whole network in f32: central differences of an O(1) loss, h 1e-3 on weights of
   * O(0.02..0.3); the loss's rounding (~1e-7) over 2h gives ~1e-4 of noise */
  const gc_tolerance tol = {1e-3, 3e-4, 3e-2};
  for (int i = 0; i < NN; i++) {
    lbbt_tensor *one[1] = {in[i]};
    for (int j = 0; j < NN; j++)
      if (j != i) in[j]->requires_grad = 0;
    gc_result r = gradcheck(forward_loss, one, 1, &u, tol, 8);
    printf("# %s: max |analytic - numeric| %.2g\n", names[i], r.max_abs_err);
    CHECK(r.status == LBBT_OK && r.ok, "%s: %s (max err %g) %s", names[i], r.where, r.max_abs_err,
          r.status ? lbbt_last_error() : "");
    for (int j = 0; j < NN; j++) in[j]->requires_grad = 1;
  }
  lbbt_tensor_free(u.images);
  lbbt_mask_transformer_free(seg);
  lbbt_model_free(m);
}

/* ---- the per-pixel loss ------------------------------------------------------------------- */
static void test_pixel_cross_entropy(void) {
  enum { PB = 1, PK = 3, PH = 2, PW = 2 };
  lbbt_tensor *x = NULL;
  lbbt_tensor_create(&x, 4, (int64_t[]){PB, PK, PH, PW});
  gc_fill_normal(x, 7, 1.5);
  lbbt_tensor_require_grad(x);
  int32_t masks[PH * PW] = {2, 0, LBBT_MASK_IGNORE, 1};
  double want = 0;
  for (int px = 0; px < PH * PW; px++) {
    if (masks[px] == LBBT_MASK_IGNORE) continue;
    double mx = -1e30, z = 0;
    for (int k = 0; k < PK; k++) mx = fmax(mx, x->data[k * PH * PW + px]);
    for (int k = 0; k < PK; k++) z += exp(x->data[k * PH * PW + px] - mx);
    want += -(x->data[masks[px] * PH * PW + px] - mx - log(z)) / 3.0; /* 3 counted pixels */
  }
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  lbbt_tensor *loss = NULL;
  REQUIRE(lbbt_pixel_cross_entropy(t, x, masks, &loss) == LBBT_OK, "%s", lbbt_last_error());
  CHECK_CLOSE(loss->data[0], want, 1e-6, 1e-5, "mean over non-ignored pixels");
  REQUIRE(lbbt_tape_backward(t, loss) == LBBT_OK, "%s", lbbt_last_error());
  for (int k = 0; k < PK; k++) CHECK(x->grad[k * PH * PW + 2] == 0, "ignored pixel gets no gradient");
  int32_t bad[PH * PW] = {0, 3, 1, 1};
  lbbt_tape_reset(t);
  CHECK(lbbt_pixel_cross_entropy(t, x, bad, &loss) == LBBT_E_INPUT && strstr(lbbt_last_error(), "pixel 1"),
        "mask value 3 of 3 classes: %s", lbbt_last_error());
  lbbt_tape_free(t);
  lbbt_tensor_free(x);
}

static void test_training_reduces_loss(void) {
  lbbt_model *m = NULL;
  lbbt_mask_transformer *seg = NULL;
  REQUIRE(build(24, &m, &seg) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_layer_range all;
  memset(&all, 0, sizeof all);
  all.select = LBBT_LAYERS_ALL;
  REQUIRE(lbbt_model_select_trainable(m, &all, 1, 1) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_optim_config oc;
  lbbt_optim_config_default(&oc, LBBT_OPT_ADAMW);
  oc.lr = 2e-3;
  oc.weight_decay = 1e-4;
  lbbt_optim *opt = NULL;
  REQUIRE(lbbt_optim_create_for_model(&opt, &oc, m) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_tensor *images;
  int32_t masks[B * S * S];
  make_batch(&images, masks);
  lbbt_tape *t = NULL;
  lbbt_tape_create(&t);
  double first = 0, last = 0;
  for (int s = 0; s < STEPS; s++) {
    lbbt_tape_reset(t);
    lbbt_tape_set_training(t, 1);
    lbbt_optim_zero_grad(opt);
    lbbt_tensor *logits, *loss;
    REQUIRE(lbbt_mask_transformer_forward(t, seg, images, &logits) == LBBT_OK, "%s", lbbt_last_error());
    REQUIRE(lbbt_pixel_cross_entropy(t, logits, masks, &loss) == LBBT_OK, "%s", lbbt_last_error());
    REQUIRE(lbbt_tape_backward(t, loss) == LBBT_OK, "%s", lbbt_last_error());
    if (s == 0) first = loss->data[0];
    last = loss->data[0];
    REQUIRE(isfinite(last), "loss %g at step %d", last, s);
    REQUIRE(lbbt_optim_step(opt) == LBBT_OK, "%s", lbbt_last_error());
  }
  printf("# segmenter loss: %.4f -> %.4f after %d steps\n", first, last, STEPS);
  CHECK(last < LOSS_DROP * first, "loss %g -> %g: did not fall below %.0f%%", first, last, 100 * LOSS_DROP);
  lbbt_tape_free(t);
  lbbt_optim_free(opt);
  lbbt_tensor_free(images);
  lbbt_mask_transformer_free(seg);
  lbbt_model_free(m);
}

static void test_invalid_config(void) {
  static const lbbt_model_ops no_ops = {.version = LBBT_MODEL_OPS_VERSION};
  lbbt_model *m = NULL;
  REQUIRE(lbbt_model_create(&m, &no_ops, "mask_transformer") == LBBT_OK, "%s", lbbt_last_error());
  lbbt_backbone_spec s = gpt2_spec();
  lbbt_block_stack *dec = NULL;
  REQUIRE(lbbt_borrow_blocks(g_reg, &s, 1, 1, "d.", 2, m, &dec) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_mask_transformer_config cfg = {1, 18, 4, K, 0, 2, 2, 32}; /* 18 % 4 != 0 */
  lbbt_mask_transformer *seg = NULL;
  CHECK(lbbt_mask_transformer_create(&cfg, dec, m, 1, &seg) == LBBT_E_INPUT && !seg &&
            strstr(lbbt_last_error(), "crop a multiple of the patch (18, 4)"), "%s", lbbt_last_error());
  cfg.crop = 16, cfg.enc_depth = 3; /* the decoder was borrowed at offset 2 */
  CHECK(lbbt_mask_transformer_create(&cfg, dec, m, 1, &seg) == LBBT_E_INPUT && !seg &&
            strstr(lbbt_last_error(), "layer offset 3"), "%s", lbbt_last_error());
  lbbt_block_stack_free(dec);
  lbbt_model_free(m);
}

int main(void) {
  test_binary_ = "test_mask_transformer";
  if (!test_load_backbones(&g_reg, 0, "test_mask_transformer")) return 1;
  if (!lbbt_registry_find(g_reg, LBBT_KIND_BACKBONE, "gpt2")) {
    printf("FAIL test_mask_transformer.load_plugins: no gpt2 backbone plugin in %s/plugins\n", test_build_dir());
    return 1;
  }
  TEST_RUN(test_shapes_and_names);
  TEST_RUN(test_gradients);
  TEST_RUN(test_pixel_cross_entropy);
  TEST_RUN(test_training_reduces_loss);
  TEST_RUN(test_invalid_config);
  lbbt_registry_free(g_reg);
  printf("%d passed, %d failed, %d skipped\n", test_npass_, test_nfail_, test_nskip_);
  return test_nfail_ ? 1 : 0;
}
