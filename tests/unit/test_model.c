/* Model parameter bookkeeping (core/src/nn/model.c) and the no-decay rule (optim/no_decay.c). */
#include "lbbt/model.h"
#include "lbbt/optim.h"
#include "test.h"

enum { N_BLOCKS = 6 };

static int destroy_calls;
static void count_destroy(lbbt_model *m) { destroy_calls++; }
static const lbbt_model_ops counting_ops = {.version = LBBT_MODEL_OPS_VERSION,
                                             .destroy = count_destroy};

/* wte [10, 4] (embed), h.L.attn.weight [4, 4] and h.L.ln_1.weight [4] per block,
 * ln_f.weight [4] and head.weight [3, 4] (head). */
static lbbt_model *make_model(void) {
  lbbt_model *m = NULL;
  if (lbbt_model_create(&m, &counting_ops, "toy") != LBBT_OK) return NULL;
  m->n_layers = N_BLOCKS;
  const int64_t emb[2] = {10, 4}, sq[2] = {4, 4}, vec[1] = {4}, head[2] = {3, 4};
  char name[64];
  lbbt_status st = lbbt_model_add_param(m, "wte.weight", LBBT_PART_EMBED, 0, 1, 2, emb, NULL);
  for (int l = 0; l < N_BLOCKS && st == LBBT_OK; l++) {
    snprintf(name, sizeof name, "h.%d.attn.weight", l);
    st = lbbt_model_add_param(m, name, LBBT_PART_BLOCK, l, 0, 2, sq, NULL);
    snprintf(name, sizeof name, "h.%d.ln_1.weight", l);
    if (st == LBBT_OK) st = lbbt_model_add_param(m, name, LBBT_PART_BLOCK, l, 1, 1, vec, NULL);
  }
  if (st == LBBT_OK) st = lbbt_model_add_param(m, "ln_f.weight", LBBT_PART_HEAD, 0, 1, 1, vec, NULL);
  if (st == LBBT_OK)
    st = lbbt_model_add_param(m, "head.weight", LBBT_PART_HEAD, 0, 0, 2, head, NULL);
  if (st != LBBT_OK) {
    lbbt_model_free(m);
    return NULL;
  }
  return m;
}

static void add_find_numel_free(void) {
  destroy_calls = 0;
  lbbt_model *m = make_model();
  REQUIRE(m, "make_model: %s", lbbt_last_error());
  CHECK(m->n_params == 1 + 2 * N_BLOCKS + 2, "n_params %d", m->n_params);
  CHECK(lbbt_model_numel(m, 0) == 40 + N_BLOCKS * 20 + 4 + 12, "numel %lld",
        (long long)lbbt_model_numel(m, 0));
  CHECK(lbbt_model_numel(m, 1) == 0, "nothing trainable before selection");
  lbbt_param *p = lbbt_model_find_param(m, "h.3.attn.weight");
  REQUIRE(p, "find");
  CHECK(p->part == LBBT_PART_BLOCK && p->layer == 3 && p->t->numel == 16, "found param fields");
  CHECK(lbbt_model_find_param(m, "h.9.attn.weight") == NULL, "absent name found");
  /* Grow the array past several capacities: every tensor's name must still be its own. */
  const int64_t one[1] = {1};
  for (int i = 0; i < 40; i++) {
    char name[32];
    snprintf(name, sizeof name, "extra.%d", i);
    REQUIRE(lbbt_model_add_param(m, name, LBBT_PART_HEAD, 0, 0, 1, one, NULL) == LBBT_OK, "%s",
            lbbt_last_error());
  }
  for (int i = 0; i < m->n_params; i++)
    CHECK(m->params[i].t->name == m->params[i].name, "tensor %d name points elsewhere", i);
  CHECK(lbbt_model_add_param(m, "head.weight", LBBT_PART_HEAD, 0, 0, 1, one, NULL) ==
            LBBT_E_INTERNAL,
        "duplicate name accepted");
  CHECK(strstr(lbbt_last_error(), "head.weight"), "message: %s", lbbt_last_error());
  lbbt_model_free(m);
  CHECK(destroy_calls == 1, "ops->destroy called %d times", destroy_calls);
  lbbt_model_free(NULL);
}

/* Which blocks train under a selection, as a bitmask over blocks; embed/head flags. */
static int trained_blocks(lbbt_model *m) {
  int mask = 0;
  for (int i = 0; i < m->n_params; i++) {
    const lbbt_param *p = &m->params[i];
    int on = p->trainable;
    /* Trainable <=> grad allocated and requires_grad; frozen <=> neither. */
    CHECK(on ? (p->t->grad != NULL && p->t->requires_grad) : (p->t->grad == NULL &&
                                                             !p->t->requires_grad),
          "%s: trainable %d but grad %p requires_grad %d", p->name, on, (void *)p->t->grad,
          p->t->requires_grad);
    if (p->part == LBBT_PART_BLOCK && on) mask |= 1 << p->layer;
  }
  return mask;
}

static void check_selection(lbbt_model *m, lbbt_layer_range r, int embed, int head, int want,
                            const char *what) {
  REQUIRE(lbbt_model_select_trainable(m, &r, embed, head) == LBBT_OK, "%s: %s", what,
          lbbt_last_error());
  int got = trained_blocks(m);
  CHECK(got == want, "%s: blocks mask 0x%x, want 0x%x", what, got, want);
  CHECK(lbbt_model_find_param(m, "wte.weight")->trainable == embed, "%s: embed flag", what);
  CHECK(lbbt_model_find_param(m, "head.weight")->trainable == head &&
            lbbt_model_find_param(m, "ln_f.weight")->trainable == head,
        "%s: head flag", what);
  int64_t want_numel = (embed ? 40 : 0) + (head ? 16 : 0);
  for (int l = 0; l < N_BLOCKS; l++)
    if (want & (1 << l)) want_numel += 20;
  CHECK(lbbt_model_numel(m, 1) == want_numel, "%s: trainable numel %lld, want %lld", what,
        (long long)lbbt_model_numel(m, 1), (long long)want_numel);
}

static void select_trainable_by_layer_range(void) {
  lbbt_model *m = make_model();
  REQUIRE(m, "make_model: %s", lbbt_last_error());
  check_selection(m, (lbbt_layer_range){LBBT_LAYERS_ALL, 0, 0, 0}, 1, 1, 0x3f, "all");
  check_selection(m, (lbbt_layer_range){LBBT_LAYERS_NONE, 0, 0, 0}, 0, 1, 0x00, "none (probe)");
  check_selection(m, (lbbt_layer_range){LBBT_LAYERS_FIRST, 2, 0, 0}, 1, 1, 0x03, "first:2");
  check_selection(m, (lbbt_layer_range){LBBT_LAYERS_LAST, 2, 0, 0}, 1, 0, 0x30, "last:2");
  check_selection(m, (lbbt_layer_range){LBBT_LAYERS_RANGE, 0, 1, 3}, 0, 0, 0x0e, "range:1-3");
  check_selection(m, (lbbt_layer_range){LBBT_LAYERS_FIRST, 0, 0, 0}, 0, 0, 0x00, "first:0");
  check_selection(m, (lbbt_layer_range){LBBT_LAYERS_LAST, N_BLOCKS, 0, 0}, 1, 1, 0x3f, "last:all");
  /* Re-selecting after freezing must restore grads (from none back to all). */
  check_selection(m, (lbbt_layer_range){LBBT_LAYERS_ALL, 0, 0, 0}, 1, 1, 0x3f, "all again");
  REQUIRE(lbbt_model_select_trainable(m, NULL, 1, 1) == LBBT_OK, "NULL range");
  CHECK(trained_blocks(m) == 0x3f, "NULL range means all");

  lbbt_layer_range bad = {LBBT_LAYERS_FIRST, N_BLOCKS + 1, 0, 0};
  CHECK(lbbt_model_select_trainable(m, &bad, 1, 1) == LBBT_E_INPUT, "first:7 of 6 accepted");
  CHECK(strstr(lbbt_last_error(), "first:7"), "message: %s", lbbt_last_error());
  bad = (lbbt_layer_range){LBBT_LAYERS_RANGE, 0, 4, N_BLOCKS};
  CHECK(lbbt_model_select_trainable(m, &bad, 1, 1) == LBBT_E_INPUT, "range:4-6 accepted");
  bad = (lbbt_layer_range){LBBT_LAYERS_RANGE, 0, 3, 2};
  CHECK(lbbt_model_select_trainable(m, &bad, 1, 1) == LBBT_E_INPUT, "range:3-2 accepted");
  lbbt_model_free(m);
}

static void select_trainable_rejects_inconsistent_model(void) {
  lbbt_model *m = make_model();
  REQUIRE(m, "make_model: %s", lbbt_last_error());
  m->n_layers = 4; /* blocks 4 and 5 exist */
  CHECK(lbbt_model_select_trainable(m, NULL, 1, 1) == LBBT_E_INTERNAL, "accepted");
  CHECK(strstr(lbbt_last_error(), "h.4.attn.weight"), "message: %s", lbbt_last_error());
  lbbt_model_free(m);
}

static void trainable_pattern(void) {
  lbbt_model *m = make_model();
  REQUIRE(m, "make_model: %s", lbbt_last_error());
  REQUIRE(lbbt_model_select_trainable(m, NULL, 1, 1) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(lbbt_model_set_trainable_pattern(m, "h.*.ln_*", 0) == N_BLOCKS, "ln matches");
  lbbt_param *ln = lbbt_model_find_param(m, "h.2.ln_1.weight");
  lbbt_param *attn = lbbt_model_find_param(m, "h.2.attn.weight");
  CHECK(!ln->trainable && !ln->t->requires_grad && ln->t->grad == NULL, "ln not frozen");
  CHECK(attn->trainable && attn->t->grad != NULL, "attn frozen by mistake");
  CHECK(lbbt_model_set_trainable_pattern(m, "h.[0-1].*", 0) == 4, "bracket glob");
  CHECK(!lbbt_model_find_param(m, "h.1.attn.weight")->trainable, "h.1 not frozen");
  CHECK(lbbt_model_set_trainable_pattern(m, "h.2.ln_1.weight", 1) == 1, "exact name");
  CHECK(ln->trainable && ln->t->requires_grad && ln->t->grad != NULL, "unfreeze");
  CHECK(lbbt_model_set_trainable_pattern(m, "nothing.*", 0) == 0, "no match");
  lbbt_model_free(m);
}

static void no_decay_rule(void) {
  static const struct {
    const char *name;
    int ndim, want;
  } cases[] = {
      {"h.0.attn.c_attn.weight", 2, 0}, {"h.0.attn.c_attn.bias", 1, 1},
      {"h.0.ln_1.weight", 1, 1},        {"layers.0.attention_norm.weight", 1, 1},
      {"pos_embed", 3, 1},              {"patch_embed.proj.weight", 4, 1},
      {"cls_token", 3, 0},              {"head.weight", 2, 0},
      {"logit_scale", 1, 1},            {"blocks.0.mlp.fc1.weight", 2, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    CHECK(lbbt_no_decay_rule(cases[i].name, cases[i].ndim) == cases[i].want, "%s (ndim %d)",
          cases[i].name, cases[i].ndim);
  lbbt_model *m = make_model();
  REQUIRE(m, "make_model: %s", lbbt_last_error());
  /* wte was added with no_decay=1 by the "plugin"; the rule alone would not pick it. */
  int n = lbbt_model_apply_no_decay_rule(m);
  CHECK(n == 1 + N_BLOCKS + 1, "no_decay count %d", n);
  CHECK(lbbt_model_find_param(m, "wte.weight")->no_decay, "plugin's flag cleared");
  CHECK(!lbbt_model_find_param(m, "head.weight")->no_decay, "head weight excluded");
  lbbt_model_free(m);
}

TEST_MAIN_BEGIN("test_model")
TEST_RUN(add_find_numel_free);
TEST_RUN(select_trainable_by_layer_range);
TEST_RUN(select_trainable_rejects_inconsistent_model);
TEST_RUN(trainable_pattern);
TEST_RUN(no_decay_rule);
TEST_MAIN_END()
