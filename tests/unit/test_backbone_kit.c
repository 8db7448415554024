/* The backbone kit (lbbt/backbone_kit.h) on its own terms:
 *   - helpers: config.json model_type, integer option fields, option value checks;
 *   - hooks tables without struct_size or a required hook are refused;
 *   - a backbone made only of kit hooks (tests/plugins/tiny_prenorm.c, loaded from
 *     build/tests/plugins): create_vision forward + backward with finite loss and gradients in
 *     every block, borrowed blocks bit-identical to the vision model's, save writing every
 *     parameter and config.json, describe, and the refusals of what it does not offer
 *     (checkpoints, language mode, create_language);
 *   - the kit's shared spec errors through the real backbones: size options with a checkpoint,
 *     options to a backbone that takes none, reused positions that do not fit. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/backbone_kit.h"
#include "lbbt/ops.h"
#include "backbone_tests.h"
#include "test.h"

static const char *FIXTURES = "tests/fixtures/backbones";
enum { IMAGE = 12, PATCH = 4, CLASSES = 3, BATCH = 2, SEED = 5 };
static lbbt_registry *g_reg;

static const lbbt_backbone_ops *backbone(const char *name) { return test_backbone_ops(g_reg, name); }

/* checkpoint: a fixture folder name, or NULL for a scratch preset (arch). */
static lbbt_backbone_spec make_spec(const char *plugin, const char *fixture, const char *arch) {
  char path[256] = "";
  if (fixture) snprintf(path, sizeof path, "%s/%s", FIXTURES, fixture);
  return test_backbone_spec(plugin, fixture ? path : NULL, arch,
                            fixture ? LBBT_INIT_LANGUAGE : LBBT_INIT_SCRATCH, PATCH);
}

/* ---- helpers ---------------------------------------------------------------------------- */
static void test_config_model_type(void) {
  json_t *cfg = json_pack("{s:s}", "model_type", "qwen2");
  const char *mt = NULL;
  CHECK(lbbt_config_model_type(cfg, "x/config.json", "llama, qwen2, qwen3", &mt) == LBBT_OK &&
            mt && !strcmp(mt, "qwen2"), "qwen2 in a list: %s", lbbt_last_error());
  CHECK(lbbt_config_model_type(cfg, "x", "qwen", &mt) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "x: config.json model_type 'qwen2' is not qwen"),
        "a prefix is no match: %s", lbbt_last_error());
  CHECK(lbbt_config_model_type(cfg, "x", "llama, qwen3", &mt) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "is not one of llama, qwen3"), "%s", lbbt_last_error());
  json_decref(cfg);
  cfg = json_object();
  CHECK(lbbt_config_model_type(cfg, "y", "t5", &mt) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "model_type '(missing)' is not t5"), "%s", lbbt_last_error());
  CHECK(lbbt_config_int(cfg, "absent", 7) == 7 && lbbt_config_num(cfg, "absent", 0.5) == 0.5,
        "defaults");
  json_decref(cfg);
}

/* Backbone specs built in code are bound to the plugin's typed table: written values,
 * defaults, optional keys left unwritten, errors naming line:col. */
typedef struct kit_test_options { int depth; int act; double scale; } kit_test_options;
static const char *const ACTS[] = {"gelu", "relu"};
static const lbbt_key KIT_TEST_KEYS[] = {
    {.name = "depth", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(kit_test_options, depth),
     LBBT_KEY_RANGE(1, 1 << 30), .flags = LBBT_KEY_OPTIONAL, .doc = "blocks"},
    {.name = "act", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(kit_test_options, act), .def = "relu",
     LBBT_KEY_NAMES(ACTS), .doc = "activation"},
    {.name = "scale", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(kit_test_options, scale), .def = "0.5",
     LBBT_KEY_RANGE(0, 10), .flags = LBBT_KEY_MIN_EXCLUSIVE, .doc = "init scale"},
};
static const lbbt_option_table KIT_TEST_TABLE = LBBT_OPTION_TABLE(kit_test_options, KIT_TEST_KEYS, "test");

static void set_option(lbbt_backbone_spec *s, const char *key, const char *value) {
  lbbt_option *o = &s->options[s->n_options++];
  snprintf(o->key, sizeof o->key, "%s", key);
  snprintf(o->value, sizeof o->value, "%s", value);
  o->line = 3;
  o->col = 7;
}

static void test_options_bind(void) {
  static lbbt_backbone_spec s; /* large: not on the stack */
  lbbt_backbone_spec *bound = NULL;
  memset(&s, 0, sizeof s);
  CHECK(lbbt_backbone_options_bind(&s, NULL, "mine", &bound) == LBBT_OK && !bound, "no table: nothing to bind");
  CHECK(lbbt_backbone_options_bind(&s, &KIT_TEST_TABLE, "mine", &bound) == LBBT_OK && bound, "bound");
  const kit_test_options *o = bound ? lbbt_backbone_options(bound) : NULL;
  CHECK(o && o->depth == 0 && o->act == 1 && o->scale == 0.5, "defaults; optional depth left zero");
  CHECK(bound && !lbbt_backbone_option_written(bound, "depth"), "depth not written");
  lbbt_backbone_options_bound_free(bound);

  set_option(&s, "depth", "12");
  set_option(&s, "act", "gelu");
  CHECK(lbbt_backbone_options_bind(&s, &KIT_TEST_TABLE, "mine", &bound) == LBBT_OK && bound, "bound");
  o = bound ? lbbt_backbone_options(bound) : NULL;
  CHECK(o && o->depth == 12 && o->act == 0 && o->scale == 0.5, "written values");
  CHECK(bound && lbbt_backbone_option_written(bound, "depth"), "depth written");
  lbbt_backbone_spec *again = NULL;
  CHECK(bound && lbbt_backbone_options_bind(bound, &KIT_TEST_TABLE, "mine", &again) == LBBT_OK && !again,
        "an already bound spec is used as it is");
  lbbt_backbone_options_bound_free(bound);

  const char *bad[][2] = {{"depth", "0"}, {"depth", "-3"}, {"depth", "1.5"}, {"depth", "x"},
                          {"depth", "2000000000"}, {"act", "tanh"}, {"scale", "0"}, {"scale", "inf"}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    memset(&s, 0, sizeof s);
    set_option(&s, bad[i][0], bad[i][1]);
    bound = NULL;
    CHECK(lbbt_backbone_options_bind(&s, &KIT_TEST_TABLE, "mine", &bound) == LBBT_E_INPUT && !bound &&
              strstr(lbbt_last_error(), "mine backbone options:3:7:"),
          "%s: '%s' refused: %s", bad[i][0], bad[i][1], lbbt_last_error());
  }
  memset(&s, 0, sizeof s);
  set_option(&s, "width", "4");
  CHECK(lbbt_backbone_options_bind(&s, &KIT_TEST_TABLE, "mine", &bound) == LBBT_E_INPUT &&
            strstr(lbbt_last_error(), "unknown key 'width' (known: depth, act, scale)"),
        "unknown key: %s", lbbt_last_error());
}

/* A hooks table without struct_size (not built with LBBT_BACKBONE_ARCH_HOOKS), or without a
 * required hook, is refused by name before any hook runs. */
static lbbt_status preset_never_called(const char *preset, void *arch) {
  (void)preset;
  (void)arch;
  return lbbt_fail(LBBT_E_INTERNAL, "a hook of a refused table ran");
}

static void test_malformed_hooks(void) {
  lbbt_backbone_arch k;
  memset(&k, 0, sizeof k);
  k.name = "broken";
  k.from_preset = preset_never_called;
  lbbt_backbone_spec spec = make_spec("broken", NULL, "x");
  lbbt_model *m = NULL;
  CHECK(lbbt_backbone_kit_create_vision(&k, &spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_E_PLUGIN &&
            !m && strstr(lbbt_last_error(), "struct_size 0, below the first layout's"),
        "no struct_size: %s", lbbt_last_error());
  k.struct_size = sizeof k;
  CHECK(lbbt_backbone_kit_create_vision(&k, &spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_E_PLUGIN &&
            !m && strstr(lbbt_last_error(), "backbone kit: broken: the required check is NULL"),
        "no check hook: %s", lbbt_last_error());
  int score = -1;
  CHECK(lbbt_backbone_kit_probe(&k, "tests/fixtures/backbones/gpt2", &score) == LBBT_E_PLUGIN &&
            score == 0, "probe with a broken table");
}

/* ---- a backbone of kit hooks only --------------------------------------------------------- */
static void test_tiny_vision_trains(void) {
  const lbbt_backbone_ops *ops = backbone("tiny_prenorm");
  if (!ops) SKIP("tiny_prenorm not loaded (build the test plugins with make test)");
  lbbt_backbone_spec spec = make_spec("tiny_prenorm", NULL, "tiny");
  lbbt_model *m = NULL;
  REQUIRE(ops->create_vision(&spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_OK, "create_vision: %s",
          lbbt_last_error());
  CHECK(!strcmp(m->arch, "tiny_prenorm") && m->n_layers == 2 && m->dim == 16 &&
            m->num_classes == CLASSES, "model sizes: %s %d %d %d", m->arch, m->n_layers, m->dim,
        m->num_classes);
  CHECK(lbbt_model_find_param(m, "blocks.1.attn.q.weight") && lbbt_model_find_param(m, "norm.bias") &&
            lbbt_model_find_param(m, "vision.pos_embed"), "parameter names");
  lbbt_tape *tape = NULL;
  lbbt_tensor *images = NULL, *logits = NULL, *loss = NULL;
  int64_t shape[4] = {BATCH, 1, IMAGE, IMAGE};
  lbbt_status st = lbbt_model_select_trainable(m, NULL, 1, 1);
  if (st == LBBT_OK) st = lbbt_tape_create(&tape);
  if (st == LBBT_OK) st = lbbt_tensor_create(&images, 4, shape);
  for (int64_t i = 0; images && i < images->numel; i++) images->data[i] = (float)sin(0.3 * (double)i);
  int32_t labels[BATCH] = {0, 2};
  if (st == LBBT_OK) st = m->ops->forward_vision(m, tape, images, NULL, &logits);
  if (st == LBBT_OK) st = lbbt_cross_entropy(tape, logits, labels, 0.0f, &loss);
  if (st == LBBT_OK) st = lbbt_tape_backward(tape, loss);
  CHECK(st == LBBT_OK, "forward/backward: %s", lbbt_last_error());
  if (st == LBBT_OK) {
    CHECK(isfinite(loss->data[0]) && loss->data[0] > 0, "loss %g", loss->data[0]);
    lbbt_param *q = lbbt_model_find_param(m, "blocks.0.attn.q.weight");
    double g = 0;
    for (int64_t i = 0; q && q->t->grad && i < q->t->numel; i++) g += fabs(q->t->grad[i]);
    CHECK(g > 0 && isfinite(g), "no gradient reaches block 0 (sum |g| = %g)", g);
  }
  lbbt_tensor_free(images);
  lbbt_tape_free(tape);
  lbbt_model_free(m);
}

static void test_tiny_borrowed_blocks(void) {
  const lbbt_backbone_ops *ops = backbone("tiny_prenorm");
  if (!ops) SKIP("tiny_prenorm not loaded (build the test plugins with make test)");
  lbbt_backbone_spec spec = make_spec("tiny_prenorm", NULL, "small");
  lbbt_model *vm = NULL;
  lbbt_block_stack *s = NULL;
  REQUIRE(ops->create_vision(&spec, 3, IMAGE, CLASSES, SEED, &vm) == LBBT_OK, "%s", lbbt_last_error());
  lbbt_status st = lbbt_borrow_blocks(g_reg, &spec, 3, SEED, "enc.", 1, NULL, &s);
  CHECK(st == LBBT_OK, "borrow: %s", lbbt_last_error());
  if (st == LBBT_OK) {
    CHECK(s->n_blocks == 3 && s->dim == 32 && !s->causal && s->layer_offset == 1, "stack shape");
    int compared = 0;
    for (int i = s->first_param; i < s->first_param + s->n_params; i++) {
      const lbbt_param *p = &s->model->params[i];
      const lbbt_param *q = lbbt_model_find_param(vm, lbbt_block_stack_source_name(s, p));
      CHECK(q && q->t->numel == p->t->numel &&
                !memcmp(q->t->data, p->t->data, (size_t)p->t->numel * sizeof(float)) &&
                p->layer == q->layer + 1, "'%s' differs from the vision model's", p->name);
      compared++;
    }
    CHECK(compared == 3 * 16, "%d borrowed parameters, want 3 blocks x 16", compared);
  }
  lbbt_block_stack_free(s);
  lbbt_model_free(vm);
}

static void test_tiny_save_and_describe(void) {
  const lbbt_backbone_ops *ops = backbone("tiny_prenorm");
  if (!ops) SKIP("tiny_prenorm not loaded (build the test plugins with make test)");
  lbbt_backbone_spec spec = make_spec("tiny_prenorm", NULL, NULL);
  test_add_option(&spec, "width", "8");
  test_add_option(&spec, "depth", "1");
  lbbt_model *m = NULL;
  REQUIRE(ops->create_vision(&spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_OK, "%s", lbbt_last_error());
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/tiny-saved", test_tmpdir());
  CHECK(m->ops->save(m, dir) == LBBT_OK, "save: %s", lbbt_last_error());
  lbbt_st *st = NULL;
  if (lbbt_st_open(dir, &st) == LBBT_OK) { /* the folder: model.safetensors + config.json */
    CHECK(lbbt_st_count(st) == m->n_params, "%d tensors saved, the model has %d", lbbt_st_count(st),
          m->n_params);
    json_t *cfg = lbbt_st_config(st);
    CHECK(cfg && lbbt_config_int(cfg, "width", 0) == 8 && lbbt_config_int(cfg, "depth", 0) == 1,
          "config.json: width and depth");
    lbbt_st_close(st);
  } else {
    CHECK(0, "reopen: %s", lbbt_last_error());
  }
  snprintf(path, sizeof path, "%s/describe.txt", test_tmpdir());
  FILE *f = fopen(path, "w+");
  REQUIRE(f, "tmp file");
  CHECK(ops->describe(m, f) == LBBT_OK, "describe: %s", lbbt_last_error());
  char text[4096] = {0};
  rewind(f);
  size_t n = fread(text, 1, sizeof text - 1, f);
  text[n] = 0;
  fclose(f);
  CHECK(strstr(text, "architecture: tiny_prenorm (test backbone)\n  width 8, depth 1, heads 2"),
        "describe printed: %.200s", text);
  /* a model of another backbone is refused, not misread */
  const lbbt_backbone_ops *gpt2 = backbone("gpt2");
  if (gpt2) {
    f = fopen(path, "w");
    CHECK(f && gpt2->describe(m, f) == LBBT_E_INPUT &&
              strstr(lbbt_last_error(), "was not built by this backbone"), "gpt2 describing a tiny model");
    if (f) fclose(f);
  }
  lbbt_model_free(m);
}

static void test_tiny_refusals(void) {
  const lbbt_backbone_ops *ops = backbone("tiny_prenorm");
  if (!ops) SKIP("tiny_prenorm not loaded (build the test plugins with make test)");
  CHECK(!ops->create_language, "tiny_prenorm offers no create_language");
  lbbt_model *m = NULL;
  int score = -1;
  CHECK(ops->probe("tests/fixtures/backbones/gpt2", &score) == LBBT_OK && score == 0,
        "probe claims a checkpoint (%d)", score);
  CHECK(ops->load_language("tests/fixtures/backbones/gpt2", &m) == LBBT_E_INPUT && !m &&
            strstr(lbbt_last_error(), "tiny_prenorm: this backbone reads no checkpoints"),
        "load_language: %s", lbbt_last_error());
  lbbt_backbone_spec spec = make_spec("tiny_prenorm", "gpt2", NULL);
  CHECK(ops->create_vision(&spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_E_INPUT && !m,
        "a checkpoint for a scratch-only backbone");
  spec = make_spec("tiny_prenorm", NULL, NULL);
  test_add_option(&spec, "width", "10");
  test_add_option(&spec, "heads", "3");
  CHECK(ops->create_vision(&spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_E_INPUT && !m &&
            strstr(lbbt_last_error(), "tiny_prenorm backbone options: width 10 is not a multiple of heads 3"),
        "check: %s", lbbt_last_error());
}

/* ---- the kit's spec errors through the real backbones ---------------------------------------- */
static void test_spec_errors(void) {
  const lbbt_backbone_ops *gpt2 = backbone("gpt2"), *llama = backbone("llama");
  REQUIRE(gpt2 && llama, "gpt2 and llama loaded");
  lbbt_model *m = NULL;
  lbbt_backbone_spec spec = make_spec("gpt2", "gpt2", NULL);
  test_add_option(&spec, "n_layer", "1");
  CHECK(gpt2->create_vision(&spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_E_INPUT && !m &&
            strstr(lbbt_last_error(), "gpt2: size options (n_embd, n_layer, ...) are for scratch "
                                      "models; with backbone.checkpoint"),
        "sizes with a checkpoint: %s", lbbt_last_error());
  spec = make_spec("llama", "llama", NULL);
  test_add_option(&spec, "dim", "8");
  CHECK(llama->create_vision(&spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_E_INPUT && !m &&
            strstr(lbbt_last_error(), "line 7:5: backbone llama takes no options (got 'dim')"),
        "llama options: %s", lbbt_last_error());
  /* positions: pretrained reuses wpe: 9 patches + a class token need 10 of its rows */
  spec = make_spec("gpt2", NULL, "gpt2");
  test_add_option(&spec, "n_embd", "8");
  test_add_option(&spec, "n_layer", "1");
  test_add_option(&spec, "n_head", "2");
  test_add_option(&spec, "n_positions", "9");
  test_add_option(&spec, "positions", "pretrained");
  spec.pool = LBBT_POOL_CLS;
  CHECK(gpt2->create_vision(&spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_E_INPUT && !m &&
            strstr(lbbt_last_error(), "gpt2: positions: pretrained needs 10 tokens (patches + class "
                                      "token) but wpe.weight has 9 rows"),
        "wpe too short: %s", lbbt_last_error());
  spec.pool = LBBT_POOL_MEAN; /* 9 patches fit */
  CHECK(gpt2->create_vision(&spec, 1, IMAGE, CLASSES, SEED, &m) == LBBT_OK &&
            lbbt_model_find_param(m, "wpe.weight") && !lbbt_model_find_param(m, "vision.pos_embed"),
        "9 rows for 9 patches: %s", lbbt_last_error());
  lbbt_model_free(m);
}

int main(void) {
  test_binary_ = "test_backbone_kit";
  if (!test_load_backbones(&g_reg, 1, test_binary_)) return 1; /* with tests/plugins: tiny_prenorm */
  TEST_RUN(test_config_model_type);
  TEST_RUN(test_options_bind);
  TEST_RUN(test_malformed_hooks);
  TEST_RUN(test_tiny_vision_trains);
  TEST_RUN(test_tiny_borrowed_blocks);
  TEST_RUN(test_tiny_save_and_describe);
  TEST_RUN(test_tiny_refusals);
  TEST_RUN(test_spec_errors);
  lbbt_registry_free(g_reg);
  printf("%d passed, %d failed, %d skipped\n", test_npass_, test_nfail_, test_nskip_);
  return test_nfail_ ? 1 : 0;
}
