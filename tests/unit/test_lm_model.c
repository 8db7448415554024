/* The backbone table's create_language (version 2), as the lm-pretrain task uses it through the
 * gpt2 plugin: a scratch causal language model of the asked sizes, seeded, whose saved folder
 * load_language reads back to the same outputs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/ops.h"
#include "lbbt/plugin.h"
#include "gpt2_spec.h"
#include "test.h"

/* Save writes f32 and reload runs the same ops in the same order: outputs are identical. */
static const double SAVE_LOAD_ATOL = 0.0;

static lbbt_registry *g_reg;

static const lbbt_backbone_ops *gpt2(void) {
  const lbbt_plugin *p = lbbt_registry_find(g_reg, LBBT_KIND_BACKBONE, "gpt2");
  return p ? p->backbone : NULL;
}

static void small_spec(lbbt_backbone_spec *s, int n_embd, int n_head) { scratch_gpt2_spec(s, n_embd, 2, n_head, 0); }

static lbbt_tensor *param(lbbt_model *m, const char *name) {
  lbbt_param *p = lbbt_model_find_param(m, name);
  return p ? p->t : NULL;
}

/* ids[b*T + t] = (7 b + 3 t) mod vocab */
static void pattern_ids(int32_t *ids, int B, int T, int vocab) {
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++) ids[b * T + t] = (7 * b + 3 * t) % vocab;
}

static void test_shapes(void) {
  lbbt_backbone_spec spec;
  small_spec(&spec, 16, 2);
  lbbt_model *m = NULL;
  REQUIRE(gpt2()->create_language(&spec, 257, 24, 5, &m) == LBBT_OK, "create: %s", lbbt_last_error());
  CHECK(m->vocab_size == 257 && m->dim == 16 && m->n_layers == 2, "vocab %d dim %d layers %d", m->vocab_size,
        m->dim, m->n_layers);
  lbbt_tensor *wte = param(m, "wte.weight"), *wpe = param(m, "wpe.weight");
  CHECK(wte && wte->shape[0] == 257 && wte->shape[1] == 16, "wte.weight missing or misshapen");
  CHECK(wpe && wpe->shape[0] == 24 && wpe->shape[1] == 16, "wpe.weight: context sets the positions");
  CHECK(param(m, "h.1.mlp.c_fc.weight") && param(m, "ln_f.weight"), "blocks or final norm missing");
  CHECK(!strcmp(m->source, "scratch") && m->init == LBBT_INIT_SCRATCH, "source '%s'", m->source);
  lbbt_tape *tape = NULL;
  REQUIRE(lbbt_tape_create(&tape) == LBBT_OK, "tape");
  int32_t ids[2 * 24];
  pattern_ids(ids, 2, 24, 257);
  lbbt_tensor *hidden = NULL, *logits = NULL;
  CHECK(m->ops->forward_language(m, tape, ids, 2, 10, &hidden, &logits) == LBBT_OK, "forward: %s",
        lbbt_last_error());
  CHECK(logits && logits->numel == 2 * 10 * 257 && hidden && hidden->numel == 2 * 10 * 16, "output sizes");
  lbbt_tape_reset(tape);
  CHECK(m->ops->forward_language(m, tape, ids, 1, 25, NULL, &logits) == LBBT_E_INPUT,
        "25 tokens accepted by a model of 24 positions");
  lbbt_tape_free(tape);
  lbbt_model_free(m);
}

static void test_seeded(void) {
  lbbt_backbone_spec spec;
  small_spec(&spec, 16, 2);
  lbbt_model *a = NULL, *b = NULL, *c = NULL;
  REQUIRE(gpt2()->create_language(&spec, 100, 8, 5, &a) == LBBT_OK &&
              gpt2()->create_language(&spec, 100, 8, 5, &b) == LBBT_OK &&
              gpt2()->create_language(&spec, 100, 8, 6, &c) == LBBT_OK,
          "create: %s", lbbt_last_error());
  int same = a->n_params == b->n_params, differ = 0;
  for (int i = 0; same && i < a->n_params; i++) {
    same &= !memcmp(a->params[i].t->data, b->params[i].t->data, (size_t)a->params[i].t->numel * sizeof(float));
    differ |= memcmp(a->params[i].t->data, c->params[i].t->data, (size_t)a->params[i].t->numel * sizeof(float)) != 0;
  }
  CHECK(same, "the same seed gave different weights");
  CHECK(differ, "seeds 5 and 6 gave the same weights");
  lbbt_model_free(a);
  lbbt_model_free(b);
  lbbt_model_free(c);
}

static void test_save_load(void) {
  lbbt_backbone_spec spec;
  small_spec(&spec, 16, 4);
  lbbt_model *a = NULL, *b = NULL;
  lbbt_tape *tape = NULL;
  REQUIRE(gpt2()->create_language(&spec, 257, 16, 9, &a) == LBBT_OK, "create: %s", lbbt_last_error());
  char dir[600];
  snprintf(dir, sizeof dir, "%s/lm", test_tmpdir());
  REQUIRE(a->ops->save(a, dir) == LBBT_OK, "save: %s", lbbt_last_error());
  int score = 0;
  CHECK(gpt2()->probe(dir, &score) == LBBT_OK && score > 0, "gpt2 does not claim the saved folder");
  REQUIRE(gpt2()->load_language(dir, &b) == LBBT_OK, "load_language: %s", lbbt_last_error());
  REQUIRE(lbbt_tape_create(&tape) == LBBT_OK, "tape");
  int32_t ids[3 * 16];
  pattern_ids(ids, 3, 16, 257);
  lbbt_tensor *la = NULL, *lb = NULL;
  REQUIRE(a->ops->forward_language(a, tape, ids, 3, 16, NULL, &la) == LBBT_OK, "forward a");
  float *first = malloc((size_t)la->numel * sizeof *first);
  memcpy(first, la->data, (size_t)la->numel * sizeof *first);
  int64_t n = la->numel;
  lbbt_tape_reset(tape);
  REQUIRE(b->ops->forward_language(b, tape, ids, 3, 16, NULL, &lb) == LBBT_OK, "forward b");
  double err = 0;
  for (int64_t i = 0; i < n && lb->numel == n; i++) err = fmax(err, fabs((double)lb->data[i] - first[i]));
  CHECK(lb->numel == n && err <= SAVE_LOAD_ATOL, "logits differ after save/load (max err %g)", err);
  free(first);
  lbbt_tape_free(tape);
  lbbt_model_free(a);
  lbbt_model_free(b);
}

static void test_refusals(void) {
  lbbt_backbone_spec spec;
  lbbt_model *m = NULL;
  small_spec(&spec, 16, 3); /* 16 is not a multiple of 3 heads */
  CHECK(gpt2()->create_language(&spec, 257, 8, 0, &m) == LBBT_E_INPUT && !m, "n_embd 16 with 3 heads accepted");
  small_spec(&spec, 16, 2);
  CHECK(gpt2()->create_language(&spec, 0, 8, 0, &m) == LBBT_E_INPUT && !m, "vocab 0 accepted");
  CHECK(gpt2()->create_language(&spec, 257, 0, 0, &m) == LBBT_E_INPUT && !m, "context 0 accepted");
  snprintf(spec.checkpoint, sizeof spec.checkpoint, "tests/fixtures/backbones/gpt2");
  CHECK(gpt2()->create_language(&spec, 257, 8, 0, &m) == LBBT_E_INPUT && !m, "a checkpoint accepted");
  CHECK(strstr(lbbt_last_error(), "load_language") != NULL, "message: %s", lbbt_last_error());
}

static void print_warning(const char *line) { fprintf(stderr, "plugin loader: %s\n", line); }

int main(void) {
  test_binary_ = "test_lm_model";
  const char *e = getenv("LBBT_BUILD");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/plugins", e && *e ? e : "build");
  if (lbbt_registry_load(&g_reg, dir, print_warning) != LBBT_OK || !gpt2() || !gpt2()->create_language) {
    printf("FAIL test_lm_model.load_plugins: gpt2 with create_language from %s: %s\n", dir, lbbt_last_error());
    lbbt_registry_free(g_reg);
    return 1;
  }
  TEST_RUN(test_shapes);
  TEST_RUN(test_seeded);
  TEST_RUN(test_save_load);
  TEST_RUN(test_refusals);
  lbbt_registry_free(g_reg);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", test_tmpdir());
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", test_tmpdir());
  return test_nfail_ ? 1 : 0;
}
