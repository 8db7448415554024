/* A two-block GPT-2 vision classifier trained for 3 AdamW steps, against PyTorch.
 *
 * Fixture: tests/fixtures/transformer/vit_tiny_adamw3.safetensors from
 * tests/reference/make_transformer_fixture.py (the model, data, optimizer and the float64
 * reference trajectory are described there).  Here the same model is built from lbbt's own
 * pieces, as a backbone plugin would build it (vit_gpt2.h: lbbt_vision_register for patch
 * embedding, positions and head; lbbt_block_register with GPT-2's names and block config,
 * fused c_attn in Conv1D layout, LayerNorm, GELU tanh, bidirectional; a final LayerNorm),
 * its weights are overwritten with the fixture's initial ones, then
 * lbbt_vision_forward, lbbt_cross_entropy, lbbt_optim_clip_grad_norm (max norm 1) and
 * lbbt_optim_step with the no-decay rule applied.
 *
 * Checked: the loss and the pre-clip gradient norm at each of the 3 steps, and every final
 * weight.
 *
 * Tolerances.  Losses and gradient norms: 1e-5 relative.  Final weights:
 * |lbbt - ref| <= WEIGHT_ATOL + WEIGHT_RTOL |ref| with WEIGHT_RTOL = 1e-5 and WEIGHT_ATOL =
 * 5e-6 (5e-4 of the learning rate 1e-2).  A pure 1e-5 relative bound cannot hold for weights:
 * Adam divides each gradient by its own running RMS, so from step 2 on the update of an
 * element depends on the *relative* accuracy of that element's gradient, and elements with
 * small gradients (or weights near 0) carry relative errors of 1e-4 .. 1e-3 in any f32
 * implementation.  PyTorch itself in float32 deviates from its float64 run by up to 1.8e-6
 * absolute on this fixture (the generator prints this figure), i.e. 1.3x the 1e-6 + 1e-5|w|
 * bound; WEIGHT_ATOL leaves lbbt the same room with margin.
 *
 * One slice is excluded from the elementwise comparison: the key third of each block's
 * c_attn.bias.  Adding a constant vector to every key shifts each query's scores by a
 * constant, which softmax ignores, so that gradient is exactly 0 in exact arithmetic and pure
 * rounding noise (~1e-10) in f32; Adam normalises noise to a step of up to lr, in PyTorch f32
 * as in lbbt.  For it the test checks instead that the f32 gradient noise moved it by no more
 * than Adam's step size allows, and that the float64 reference left it where it started. */
#include "lbbt/optim.h"
#include "parity_fixture.h"
#include "test.h"
#include "vit_gpt2.h"

#define FIXTURE "tests/fixtures/transformer/vit_tiny_adamw3.safetensors"

static const double LOSS_RTOL = 1e-5;
static const double GRAD_NORM_RTOL = 1e-5;
static const double WEIGHT_RTOL = 1e-5;
static const double WEIGHT_ATOL = 5e-6;
/* Key bias: float64 noise normalised by Adam moves it by ~lr * 1e-11; f32 noise by up to about
 * lr per step (|m_hat / sqrt(v_hat)| stays near 1 for betas (0.9, 0.95); 2 leaves margin). */
static const double KEY_BIAS_REF_DRIFT = 1e-7;
static const double KEY_BIAS_MAX_LR_STEPS = 2.0;
enum { MAX_STEPS = 8 };

/* The fixture's configuration (its __metadata__) as a vit_gpt2 model. */
static lbbt_status build_model(lbbt_st *st, vit_gpt2 *g) {
  vit_gpt2_config c = {0};
  c.image_size = pf_meta_int(st, "image_size", 0);
  c.in_channels = pf_meta_int(st, "in_channels", 1);
  c.patch_size = pf_meta_int(st, "patch_size", 0);
  c.num_classes = pf_meta_int(st, "num_classes", 0);
  c.dim = pf_meta_int(st, "dim", 0);
  c.n_heads = pf_meta_int(st, "n_heads", 0);
  c.n_blocks = pf_meta_int(st, "n_blocks", 0);
  c.mlp_ratio = pf_meta_int(st, "mlp_ratio", 4);
  c.norm_eps = (float)pf_meta_double(st, "norm_eps", 1e-5);
  c.causal = 0;
  return vit_gpt2_build(&c, 0, g);
}

/* Copy "<prefix><name>" from the fixture into every model parameter. */
static lbbt_status load_weights(lbbt_st *st, lbbt_model *m, const char *prefix) {
  for (int i = 0; i < m->n_params; i++) {
    char name[200];
    snprintf(name, sizeof name, "%s%s", prefix, m->params[i].name);
    LBBT_TRY(lbbt_st_read_f32(st, name, m->params[i].t->data, m->params[i].t->numel));
  }
  return LBBT_OK;
}

/* Is element j of parameter p in the key slice of a fused c_attn bias [3C]? */
static int in_key_bias(const lbbt_param *p, int64_t j, int64_t C) {
  return strstr(p->name, "attn.c_attn.bias") && j >= C && j < 2 * C;
}

static void adamw_three_steps(void) {
  if (!test_file_exists(FIXTURE)) SKIP("%s absent (make parity regenerates it)", FIXTURE);
  lbbt_st *st = NULL;
  REQUIRE(lbbt_st_open(FIXTURE, &st) == LBBT_OK, "%s", lbbt_last_error());
  vit_gpt2 pm = {0};
  lbbt_optim *opt = NULL;
  lbbt_tape *tape = NULL;
  lbbt_tensor *images = NULL, *ref_losses = NULL, *ref_norms = NULL;
  int32_t *labels = NULL;
  float *ref = NULL;
  lbbt_status s = build_model(st, &pm);
  CHECK(s == LBBT_OK, "build: %s", lbbt_last_error());
  if (s != LBBT_OK) goto done;

  /* the fixture's parameter list is exactly the model's, in any order */
  int64_t n_listed = 0;
  {
    const char *list = lbbt_st_metadata_get(st, "params");
    for (const char *p = list; p && *p; n_listed++) {
      const char *comma = strchr(p, ',');
      size_t len = comma ? (size_t)(comma - p) : strlen(p);
      char name[160];
      snprintf(name, sizeof name, "%.*s", (int)len, p);
      CHECK(lbbt_model_find_param(pm.m, name), "fixture parameter %s is not in the lbbt model",
            name);
      p = comma ? comma + 1 : p + len;
    }
  }
  CHECK(n_listed == pm.m->n_params, "fixture lists %lld parameters, lbbt model has %d",
        (long long)n_listed, pm.m->n_params);
  s = load_weights(st, pm.m, "init.");
  CHECK(s == LBBT_OK, "init weights: %s", lbbt_last_error());
  if (s != LBBT_OK) goto done;

  const int steps = pf_meta_int(st, "steps", 0);
  const int64_t C = pf_meta_int(st, "dim", 0);
  const double lr = pf_meta_double(st, "lr", 0), max_norm = pf_meta_double(st, "max_grad_norm", 0);
  CHECK(steps >= 1 && steps <= MAX_STEPS, "steps %d", steps);
  images = pf_tensor(st, "images");
  int64_t n_labels = 0;
  labels = pf_ints(st, "labels", &n_labels);
  ref_losses = pf_tensor(st, "losses");
  ref_norms = pf_tensor(st, "grad_norms");
  CHECK(images && labels && ref_losses && ref_norms, "fixture data: %s", lbbt_last_error());
  if (!images || !labels || !ref_losses || !ref_norms || steps < 1 || steps > MAX_STEPS) goto done;
  CHECK(n_labels == images->shape[0], "labels %lld for %lld images", (long long)n_labels,
        (long long)images->shape[0]);

  s = lbbt_model_select_trainable(pm.m, NULL, 1, 1);
  CHECK(s == LBBT_OK, "select_trainable: %s", lbbt_last_error());
  lbbt_model_apply_no_decay_rule(pm.m);
  lbbt_optim_config oc;
  lbbt_optim_config_default(&oc, LBBT_OPT_ADAMW);
  oc.lr = lr;
  oc.weight_decay = pf_meta_double(st, "weight_decay", 0);
  oc.beta1 = pf_meta_double(st, "beta1", 0.9);
  oc.beta2 = pf_meta_double(st, "beta2", 0.999);
  oc.eps = pf_meta_double(st, "eps", 1e-8);
  if (s == LBBT_OK) s = lbbt_optim_create_for_model(&opt, &oc, pm.m);
  if (s == LBBT_OK) s = lbbt_tape_create(&tape);
  CHECK(s == LBBT_OK, "optimizer/tape: %s", lbbt_last_error());
  if (s != LBBT_OK) goto done;

  for (int step = 0; step < steps; step++) {
    lbbt_tape_reset(tape);
    lbbt_tensor *logits = NULL, *loss = NULL;
    double norm = 0;
    s = lbbt_vision_forward(pm.m, &pm.v, tape, images, NULL, &logits);
    if (s == LBBT_OK) s = lbbt_cross_entropy(tape, logits, labels, 0.0f, &loss);
    if (s == LBBT_OK) s = lbbt_tape_backward(tape, loss);
    if (s == LBBT_OK) s = lbbt_optim_clip_grad_norm(opt, max_norm, &norm);
    if (s == LBBT_OK) s = lbbt_optim_step(opt);
    CHECK(s == LBBT_OK, "step %d: %s", step + 1, lbbt_last_error());
    if (s != LBBT_OK) goto done;
    lbbt_optim_zero_grad(opt);
    double want_loss = ref_losses->data[step], want_norm = ref_norms->data[step];
    printf("# step %d: loss %.8f (torch %.8f), grad norm %.7f (torch %.7f)\n", step + 1,
           loss->data[0], want_loss, norm, want_norm);
    CHECK_CLOSE(loss->data[0], want_loss, 0.0, LOSS_RTOL, "loss");
    CHECK_CLOSE(norm, want_norm, 0.0, GRAD_NORM_RTOL, "pre-clip gradient norm");
  }

  /* final weights */
  double worst = 0, worst_abs = 0;
  const char *worst_name = "";
  for (int i = 0; i < pm.m->n_params; i++) {
    const lbbt_param *p = &pm.m->params[i];
    char name[200];
    free(ref);
    ref = malloc((size_t)p->t->numel * sizeof *ref);
    float *init = malloc((size_t)p->t->numel * sizeof *init);
    snprintf(name, sizeof name, "final.%s", p->name);
    s = ref ? lbbt_st_read_f32(st, name, ref, p->t->numel) : LBBT_E_NOMEM;
    snprintf(name, sizeof name, "init.%s", p->name);
    if (s == LBBT_OK) s = init ? lbbt_st_read_f32(st, name, init, p->t->numel) : LBBT_E_NOMEM;
    CHECK(s == LBBT_OK, "%s: %s", name, lbbt_last_error());
    for (int64_t j = 0; s == LBBT_OK && j < p->t->numel; j++) {
      double got = p->t->data[j], want = ref[j];
      if (in_key_bias(p, j, C)) {
        CHECK(fabs(want - init[j]) <= KEY_BIAS_REF_DRIFT,
              "%s[%lld]: the float64 reference moved a key bias by %.3g", p->name, (long long)j,
              fabs(want - init[j]));
        CHECK(fabs(got - init[j]) <= KEY_BIAS_MAX_LR_STEPS * steps * lr,
              "%s[%lld]: key bias moved %.3g, more than %g steps of lr", p->name, (long long)j,
              fabs(got - init[j]), KEY_BIAS_MAX_LR_STEPS * steps);
        continue;
      }
      double err = fabs(got - want), allowed = WEIGHT_ATOL + WEIGHT_RTOL * fabs(want);
      if (err / allowed > worst) {
        worst = err / allowed;
        worst_name = p->name;
      }
      if (err > worst_abs) worst_abs = err;
      CHECK(err <= allowed, "%s[%lld]: lbbt %.9g, torch %.9g (|diff| %.3g > %.3g)", p->name,
            (long long)j, got, want, err, allowed);
    }
    free(init);
  }
  printf("# final weights: max |diff| %.3g, worst diff/tolerance %.3g (%s)\n", worst_abs, worst,
         worst_name);
done:
  free(ref);
  free(labels);
  lbbt_tensor_free(images);
  lbbt_tensor_free(ref_losses);
  lbbt_tensor_free(ref_norms);
  lbbt_tape_free(tape);
  lbbt_optim_free(opt);
  vit_gpt2_free(&pm);
  lbbt_st_close(st);
}

TEST_MAIN_BEGIN("test_parity_transformer")
  TEST_RUN(adamw_three_steps);
TEST_MAIN_END()
