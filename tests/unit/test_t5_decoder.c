/* The T5 decoder of the time-series pretraining (plugins/tasks/shared/t5_decoder.c) on top of
 * the chronos_t5 backbone's encoder, against float64 PyTorch references of modeling_t5.py's
 * encoder-decoder (tests/reference/make_t5_decoder_fixture.py): logits, the teacher-forced
 * cross-entropy and its gradient for tensors of the encoder, the cross-attention, the
 * relative bias, the FFN, the shared embedding and the head; relu and gated-gelu FFNs.  Also:
 * the decoder's scratch init follows T5's formula, saving writes a checkpoint that reloads to
 * the same logits and whose config says T5ForConditionalGeneration. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/checkpoint.h"
#include "lbbt/ops.h"
#include "backbone_tests.h"
#include "shared/t5_decoder.h"
#include "test.h"

/* f32 against float64 references on tiny models (as test_backbones' parity). */
static const double PARITY_ATOL = 1e-4;
static const double PARITY_RTOL = 1e-4;
/* Gradients pass through more f32 rounding (softmax backward, accumulation over B T). */
static const double GRAD_ATOL = 2e-4;
static const double GRAD_RTOL = 1e-3;
/* Scratch-init sample std within this relative distance of the formula (>= 1024 draws). */
static const double INIT_STD_RTOL = 0.08;

static const char *FIXTURES = "tests/fixtures/t5-seq2seq";
static lbbt_registry *g_reg;

typedef struct loaded {
  lbbt_model *m;
  t5_decoder dec;
  int32_t *ids, *dec_ids, *labels;
  int64_t B, S, T;
} loaded;

static int read_matrix(json_t *root, const char *key, int32_t **out, int64_t *B, int64_t *T) {
  json_t *rows = json_object_get(root, key);
  *B = (int64_t)json_array_size(rows);
  *T = *B ? (int64_t)json_array_size(json_array_get(rows, 0)) : 0;
  *out = malloc((size_t)(*B * *T + 1) * sizeof **out);
  if (!*out) return 0;
  for (int64_t b = 0; b < *B; b++)
    for (int64_t t = 0; t < *T; t++)
      (*out)[b * *T + t] = (int32_t)json_integer_value(json_array_get(json_array_get(rows, b), t));
  return *B > 0 && *T > 0;
}

static void loaded_free(loaded *l) {
  t5_decoder_free(&l->dec);
  lbbt_model_free(l->m);
  free(l->ids);
  free(l->dec_ids);
  free(l->labels);
  memset(l, 0, sizeof *l);
}

/* The encoder through the chronos_t5 plugin, the decoder from the same checkpoint; the
 * token ids from inputs_dir/inputs.json. */
static lbbt_status load(const char *dir, const char *inputs_dir, loaded *l) {
  memset(l, 0, sizeof *l);
  const lbbt_backbone_ops *bb = test_backbone_ops(g_reg, "chronos_t5");
  if (!bb) return lbbt_fail(LBBT_E_PLUGIN, "chronos_t5 not loaded");
  LBBT_TRY(bb->load_language(dir, &l->m));
  char path[512];
  snprintf(path, sizeof path, "%s/config.json", dir);
  json_t *cfg = NULL;
  LBBT_TRY(lbbt_json_read_file(path, &cfg));
  t5_decoder_config dc;
  lbbt_status st = t5_decoder_config_from_json(cfg, path, &dc);
  json_decref(cfg);
  LBBT_TRY(st);
  LBBT_TRY(t5_decoder_register(l->m, &dc, l->m->n_layers, &l->dec));
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  lbbt_st *sf = NULL;
  LBBT_TRY(lbbt_st_open(path, &sf));
  st = t5_decoder_read(l->m, &l->dec, sf);
  lbbt_st_close(sf);
  LBBT_TRY(st);
  snprintf(path, sizeof path, "%s/inputs.json", inputs_dir);
  json_t *in = NULL;
  LBBT_TRY(lbbt_json_read_file(path, &in));
  int64_t B2, T2;
  int ok = read_matrix(in, "input_ids", &l->ids, &l->B, &l->S) &&
           read_matrix(in, "decoder_input_ids", &l->dec_ids, &B2, &l->T) &&
           read_matrix(in, "labels", &l->labels, &B2, &T2);
  json_decref(in);
  if (!ok) return lbbt_fail(LBBT_E_INPUT, "%s: bad inputs", path);
  return LBBT_OK;
}

/* Logits [B, T, V] and the mean cross-entropy, recorded on tape. */
static lbbt_status forward(lbbt_tape *tape, loaded *l, lbbt_tensor **logits, lbbt_tensor **loss) {
  lbbt_tensor *mem, *flat;
  LBBT_TRY(l->m->ops->forward_language(l->m, tape, l->ids, l->B, l->S, &mem, NULL));
  LBBT_TRY(t5_decoder_forward(tape, &l->dec, l->dec_ids, l->B, l->T, mem, NULL, logits));
  int64_t shape[2] = {l->B * l->T, l->dec.cfg.vocab_size};
  LBBT_TRY(lbbt_reshape(tape, *logits, 2, shape, &flat));
  return lbbt_cross_entropy(tape, flat, l->labels, 0.0f, loss);
}

/* Largest |got - want| over n values and whether all are within atol + rtol |want|. */
static int close_all(const float *got, const float *want, int64_t n, double atol, double rtol,
                     double *worst) {
  int ok = 1;
  *worst = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]);
    if (d > *worst) *worst = d;
    if (!(d <= atol + rtol * fabs(want[i]))) ok = 0;
  }
  return ok;
}

static void parity_one(const char *name) {
  char dir[512], path[600];
  snprintf(dir, sizeof dir, "%s/%s", FIXTURES, name);
  snprintf(path, sizeof path, "%s/expected.safetensors", dir);
  if (!test_file_exists(path)) SKIP("%s absent (tests/reference/make_t5_decoder_fixture.py)", path);
  loaded l;
  lbbt_status st = load(dir, dir, &l);
  lbbt_st *exp = NULL;
  lbbt_tape *tape = NULL;
  if (st == LBBT_OK) st = lbbt_st_open(path, &exp);
  for (int i = 0; st == LBBT_OK && i < l.m->n_params; i++) st = lbbt_tensor_require_grad(l.m->params[i].t);
  if (st == LBBT_OK) st = lbbt_tape_create(&tape);
  lbbt_tensor *logits = NULL, *loss = NULL;
  if (st == LBBT_OK) st = forward(tape, &l, &logits, &loss);
  if (st == LBBT_OK) st = lbbt_tape_backward(tape, loss);
  if (st != LBBT_OK) {
    test_fail_(__FILE__, __LINE__, "%s: %s", name, lbbt_last_error());
    goto done;
  }
  int64_t n = logits->numel;
  float *want = malloc((size_t)n * sizeof *want);
  double worst;
  REQUIRE(want && lbbt_st_read_f32(exp, "logits", want, n) == LBBT_OK, "read logits: %s", lbbt_last_error());
  CHECK(close_all(logits->data, want, n, PARITY_ATOL, PARITY_RTOL, &worst), "%s logits: worst %.3g", name, worst);
  float want_loss;
  REQUIRE(lbbt_st_read_f32(exp, "loss", &want_loss, 1) == LBBT_OK, "read loss");
  CHECK_CLOSE(loss->data[0], want_loss, PARITY_ATOL, PARITY_RTOL, "loss");
  free(want);
  int grads = 0;
  for (int i = 0; i < lbbt_st_count(exp); i++) {
    const char *gname = lbbt_st_name(exp, i);
    if (strncmp(gname, "grad.", 5)) continue;
    lbbt_param *p = lbbt_model_find_param(l.m, gname + 5);
    CHECK(p != NULL, "%s: no parameter %s", name, gname + 5);
    if (!p) continue;
    float *g = malloc((size_t)p->t->numel * sizeof *g);
    REQUIRE(g && lbbt_st_read_f32(exp, gname, g, p->t->numel) == LBBT_OK, "read %s", gname);
    CHECK(close_all(p->t->grad, g, p->t->numel, GRAD_ATOL, GRAD_RTOL, &worst), "%s %s: worst %.3g",
          name, gname, worst);
    free(g);
    grads++;
  }
  CHECK(grads >= 5, "%s: %d gradients compared", name, grads);
done:
  lbbt_tape_free(tape);
  lbbt_st_close(exp);
  loaded_free(&l);
}

static void test_parity_relu(void) { parity_one("relu"); }
static void test_parity_gated_gelu(void) { parity_one("gated"); }

/* Save (the encoder's save writes every parameter; the config is patched) and reload. */
static void test_save_reload(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s/relu", FIXTURES);
  if (!test_file_exists(dir)) SKIP("fixtures absent");
  loaded a, b;
  REQUIRE(load(dir, dir, &a) == LBBT_OK, "load: %s", lbbt_last_error());
  char out[512];
  snprintf(out, sizeof out, "%s/saved", test_tmpdir());
  REQUIRE(a.m->ops->save(a.m, out) == LBBT_OK, "save: %s", lbbt_last_error());
  REQUIRE(t5_decoder_patch_config(out, &a.dec.cfg, NULL) == LBBT_OK, "patch: %s", lbbt_last_error());
  REQUIRE(load(out, dir, &b) == LBBT_OK, "reload: %s", lbbt_last_error());
  lbbt_tape *t1 = NULL, *t2 = NULL;
  REQUIRE(lbbt_tape_create(&t1) == LBBT_OK && lbbt_tape_create(&t2) == LBBT_OK, "tape");
  lbbt_tensor *la, *lb, *xa, *xb;
  REQUIRE(forward(t1, &a, &la, &xa) == LBBT_OK && forward(t2, &b, &lb, &xb) == LBBT_OK, "forward: %s",
          lbbt_last_error());
  double worst;
  CHECK(close_all(la->data, lb->data, la->numel, 0, 0, &worst), "reloaded logits differ by %.3g", worst);
  char cfgpath[600];
  snprintf(cfgpath, sizeof cfgpath, "%s/config.json", out);
  json_t *cfg = NULL;
  REQUIRE(lbbt_json_read_file(cfgpath, &cfg) == LBBT_OK, "config");
  CHECK(!strcmp(json_string_value(json_array_get(json_object_get(cfg, "architectures"), 0)),
                "T5ForConditionalGeneration"), "architectures");
  CHECK(json_integer_value(json_object_get(cfg, "num_decoder_layers")) == 2, "num_decoder_layers");
  json_decref(cfg);
  lbbt_tape_free(t1);
  lbbt_tape_free(t2);
  loaded_free(&a);
  loaded_free(&b);
}

/* The scratch init: each tensor's sample std against T5's formula. */
static void test_scratch_init(void) {
  const lbbt_backbone_ops *bb = test_backbone_ops(g_reg, "chronos_t5");
  REQUIRE(bb && bb->create_language, "chronos_t5 has no create_language");
  lbbt_backbone_spec s = test_backbone_spec("chronos_t5", NULL, NULL, LBBT_INIT_SCRATCH, 4);
  const char *opts[][2] = {{"d_model", "64"}, {"d_kv", "16"}, {"d_ff", "128"}, {"num_layers", "1"},
                           {"num_heads", "4"}, {"initializer_factor", "0.5"}};
  for (int i = 0; i < 6; i++) {
    snprintf(s.options[i].key, sizeof s.options[i].key, "%s", opts[i][0]);
    snprintf(s.options[i].value, sizeof s.options[i].value, "%s", opts[i][1]);
  }
  s.n_options = 6;
  lbbt_model *m = NULL;
  REQUIRE(bb->create_language(&s, 64, 32, 3, &m) == LBBT_OK, "create_language: %s", lbbt_last_error());
  t5_decoder_config c = {.dim = 64, .n_layers = 1, .n_heads = 4, .d_kv = 16, .d_ff = 128,
                         .vocab_size = 64, .num_buckets = 32, .max_distance = 128, .eps = 1e-6f,
                         .init_factor = 0.5};
  t5_decoder d;
  REQUIRE(t5_decoder_register(m, &c, 1, &d) == LBBT_OK, "register: %s", lbbt_last_error());
  REQUIRE(t5_decoder_init(m, &d, 9) == LBBT_OK, "init: %s", lbbt_last_error());
  struct { const lbbt_tensor *t; double std; const char *what; } want[] = {
      {d.layers[0].ca_q, 0.5 / sqrt(64.0 * 16), "cross q"}, {d.layers[0].ca_k, 0.5 / 8, "cross k"},
      {d.layers[0].sa_o, 0.5 / 8, "self o"},                 {d.layers[0].wo, 0.5 / sqrt(128.0), "wo"},
      {d.lm_head, 0.5, "lm_head"},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    double ss = 0;
    for (int64_t k = 0; k < want[i].t->numel; k++) ss += (double)want[i].t->data[k] * want[i].t->data[k];
    CHECK_CLOSE(sqrt(ss / want[i].t->numel), want[i].std, 0, INIT_STD_RTOL, want[i].what);
  }
  CHECK(d.final_norm->data[0] == 0.5f, "final norm = factor");
  t5_decoder_free(&d);
  lbbt_model_free(m);
}

int main(void) {
  test_binary_ = "test_t5_decoder";
  if (!test_load_backbones(&g_reg, 0, test_binary_)) return 1;
  TEST_RUN(test_parity_relu);
  TEST_RUN(test_parity_gated_gelu);
  TEST_RUN(test_save_reload);
  TEST_RUN(test_scratch_init);
  lbbt_registry_free(g_reg);
  return test_nfail_ ? 1 : 0;
}
