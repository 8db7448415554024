/* Borrowing blocks (block_stack.h, backbone ops version 3), for gpt2, llama (Llama-3.2, Qwen3,
 * stories260K) and chronos_t5 (relu and gated-gelu), through the registry (dlopen):
 *   - weights: for every init mode, N borrowed blocks hold bit-for-bit the values of blocks
 *     0..N-1 of create_vision(spec, ..., seed), under the borrower's prefix, with layer index
 *     layer_offset + i (also for N below the backbone's depth, where depth-scaled scratch
 *     inits would show a mistake); another seed gives other scratch values;
 *   - forward: images through the vision model's patch embedding, the borrowed full stack,
 *     its final norm and mean pooling give create_vision's features; N borrowed blocks give
 *     what the first N of the full stack give; a padded key (key_mask) changes nothing for
 *     the other tokens;
 *   - partial training: two borrows into one model (a DETR's encoder and decoder) and
 *     `train_layers: first:K` selecting by their layer index;
 *   - errors: n 0 or above the depth, unknown backbone, a version-2 backbone, no registry,
 *     a wrong width, a negative layer offset, a spec error;
 *   - a task plugin in build/tests/plugins (borrow_blocks_task.c) borrowing by name through
 *     the process-wide registry, forward + backward, gradients reaching only the trained
 *     borrowed blocks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/block_stack.h"
#include "lbbt/init_mode.h"
#include "lbbt/ops.h"
#include "lbbt/results.h"
#include "lbbt/runner.h"
#include "backbone_tests.h"
#include "test.h"

/* The borrowed stack runs the same ops on the same values as the vision model: any
 * difference beyond float reassociation noise is a bug. */
static const double SAME_COMPUTATION_ATOL = 1e-6;
/* A masked key versus a shorter sequence: softmax over different lengths, same math. */
static const double KEY_MASK_ATOL = 1e-5;

static const char *FIXTURES = "tests/fixtures/backbones";
enum { SEED = 1234, BATCH = 2, IMAGE = 12, PATCH = 4, CLASSES = 3 };

static lbbt_registry *g_reg;

typedef struct borrow_case {
  const char *plugin;
  const char *fixture;   /* under FIXTURES, or NULL */
  const char *model;     /* under the shared models folder, or NULL */
  int n_layers;          /* the checkpoint's depth */
} borrow_case;

static const borrow_case CASES[] = {
    {"gpt2", "gpt2", NULL, 2},          {"llama", "llama", NULL, 2},
    {"llama", "qwen3", NULL, 2},        {"llama", NULL, "stories260K.bin", 5},
    {"chronos_t5", "chronos-t5", NULL, 2}, {"chronos_t5", "t5-gated", NULL, 2},
};
enum { N_CASES = sizeof CASES / sizeof CASES[0] };

static const lbbt_init_mode ALL_MODES[] = {LBBT_INIT_LANGUAGE, LBBT_INIT_SCRATCH,
                                           LBBT_INIT_SHUFFLED, LBBT_INIT_MOMENT_MATCHED,
                                           LBBT_INIT_SCRATCH_RESCALED};
enum { N_MODES = sizeof ALL_MODES / sizeof ALL_MODES[0] };

/* The checkpoint path of a case, or NULL when its file is absent. */
static const char *case_path(const borrow_case *c) {
  static char buf[512];
  if (c->fixture)
    snprintf(buf, sizeof buf, "%s/%s/config.json", FIXTURES, c->fixture);
  else
    snprintf(buf, sizeof buf, "%s/%s", test_models_dir(), c->model);
  if (!test_file_exists(buf)) return NULL;
  if (c->fixture) snprintf(buf, sizeof buf, "%s/%s", FIXTURES, c->fixture);
  return buf;
}

static lbbt_backbone_spec make_spec(const char *plugin, const char *checkpoint, lbbt_init_mode init) {
  return test_backbone_spec(plugin, checkpoint, NULL, init, PATCH);
}

static lbbt_status create_vision(const lbbt_backbone_spec *spec, uint64_t seed, lbbt_model **out) {
  const lbbt_plugin *p = lbbt_registry_find(g_reg, LBBT_KIND_BACKBONE, spec->plugin);
  if (!p) return lbbt_fail(LBBT_E_INPUT, "backbone %s not loaded", spec->plugin);
  return p->backbone->create_vision(spec, 1, IMAGE, CLASSES, seed, out);
}

static void fill_sin(lbbt_tensor *t, double freq) {
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = (float)sin(freq * (double)i + 0.25);
}

static double max_abs_diff(const lbbt_tensor *a, const lbbt_tensor *b) {
  if (a->numel != b->numel) return INFINITY;
  double d = 0;
  for (int64_t i = 0; i < a->numel; i++) d = fmax(d, fabs((double)a->data[i] - b->data[i]));
  return d;
}

/* ---- weights ------------------------------------------------------------------------------ */
/* Every parameter of s: named prefix + a block parameter of vm, bit-identical values, part
 * BLOCK, layer = vm's layer + offset; and s holds exactly vm's block parameters of layers
 * below s->n_blocks. */
static void check_same_weights(const lbbt_block_stack *s, lbbt_model *vm, const char *what) {
  size_t np = strlen(s->prefix);
  for (int i = s->first_param; i < s->first_param + s->n_params; i++) {
    const lbbt_param *p = &s->model->params[i];
    REQUIRE(!strncmp(p->name, s->prefix, np), "%s: '%s' lacks the prefix '%s'", what, p->name, s->prefix);
    const char *src = lbbt_block_stack_source_name(s, p);
    const lbbt_param *q = lbbt_model_find_param(vm, src);
    REQUIRE(q, "%s: borrowed '%s' has no counterpart '%s' in the vision model", what, p->name, src);
    REQUIRE(q->part == LBBT_PART_BLOCK && p->part == LBBT_PART_BLOCK, "%s: '%s' is not a block parameter", what, src);
    CHECK(p->layer == q->layer + s->layer_offset, "%s: '%s' has layer %d, want %d", what, p->name,
          p->layer, q->layer + s->layer_offset);
    REQUIRE(p->t->numel == q->t->numel, "%s: '%s' has %lld values, the vision model %lld", what,
            p->name, (long long)p->t->numel, (long long)q->t->numel);
    CHECK(!memcmp(p->t->data, q->t->data, (size_t)p->t->numel * sizeof(float)),
          "%s: '%s' differs from create_vision's '%s'", what, p->name, src);
    CHECK(p->no_decay == q->no_decay, "%s: '%s' no_decay %d, create_vision's %d", what, p->name,
          p->no_decay, q->no_decay);
  }
  int want = 0;
  for (int i = 0; i < vm->n_params; i++)
    want += vm->params[i].part == LBBT_PART_BLOCK && vm->params[i].layer < s->n_blocks;
  CHECK(s->n_params == want, "%s: %d borrowed parameters, the vision model's first %d blocks have %d",
        what, s->n_params, s->n_blocks, want);
}

/* Does any random (not constant-initialised) parameter of s differ from vm's? */
static int any_weight_differs(const lbbt_block_stack *s, lbbt_model *vm) {
  for (int i = s->first_param; i < s->first_param + s->n_params; i++) {
    const lbbt_param *p = &s->model->params[i];
    const lbbt_param *q = lbbt_model_find_param(vm, lbbt_block_stack_source_name(s, p));
    if (q && memcmp(p->t->data, q->t->data, (size_t)p->t->numel * sizeof(float))) return 1;
  }
  return 0;
}

/* ---- forward ------------------------------------------------------------------------------ */
/* create_vision's features computed by hand around the borrowed full stack: the vision
 * model's patch embedding (+ its positions), the stack, the final norm, mean pooling. */
static lbbt_status features_through_stack(lbbt_tape *t, lbbt_model *vm, const lbbt_block_stack *full,
                                          lbbt_tensor *images, lbbt_tensor **out) {
  lbbt_param *pw = lbbt_model_find_param(vm, "vision.patch_embed.weight");
  lbbt_param *pb = lbbt_model_find_param(vm, "vision.patch_embed.bias");
  lbbt_param *pos = lbbt_model_find_param(vm, "vision.pos_embed");
  lbbt_tensor *norm_w = NULL, *norm_b = NULL;
  for (int i = 0; i < vm->n_params; i++) {
    lbbt_param *p = &vm->params[i];
    if (p->part != LBBT_PART_HEAD || !strncmp(p->name, "vision.", 7)) continue;
    if (strstr(p->name, "bias")) norm_b = p->t;
    else norm_w = p->t;
  }
  if (!pw || !pb || !norm_w) return lbbt_fail(LBBT_E_INTERNAL, "vision model lacks patch embedding or final norm");
  int64_t B = images->shape[0], C = full->dim;
  lbbt_tensor *x;
  LBBT_TRY(lbbt_conv2d(t, images, pw->t, pb->t, PATCH, 0, &x));
  int64_t N = x->shape[2] * x->shape[3], s3[3] = {B, C, N};
  LBBT_TRY(lbbt_reshape(t, x, 3, s3, &x));
  LBBT_TRY(lbbt_transpose(t, x, 1, 2, &x));
  if (pos) LBBT_TRY(lbbt_add(t, x, pos->t, &x));
  LBBT_TRY(lbbt_block_stack_forward(t, full, x, NULL, &x));
  const lbbt_block_config *bc = &full->blocks[0].cfg; /* the final norm is the blocks' kind */
  if (bc->norm == LBBT_NORM_LAYERNORM)
    LBBT_TRY(lbbt_layernorm(t, x, norm_w, norm_b, bc->norm_eps, &x));
  else
    LBBT_TRY(lbbt_rmsnorm(t, x, norm_w, bc->norm_eps, &x));
  return lbbt_mean(t, x, 1, 0, out);
}

static void check_vision_features(lbbt_model *vm, const lbbt_block_stack *full, const char *what) {
  lbbt_tape *tape = NULL;
  lbbt_tensor *images = NULL, *want, *got;
  int64_t shape[4] = {BATCH, 1, IMAGE, IMAGE};
  REQUIRE(lbbt_tape_create(&tape) == LBBT_OK && lbbt_tensor_create(&images, 4, shape) == LBBT_OK,
          "setup: %s", lbbt_last_error());
  fill_sin(images, 0.37);
  lbbt_status st = vm->ops->forward_vision(vm, tape, images, &want, NULL);
  if (st == LBBT_OK) st = features_through_stack(tape, vm, full, images, &got);
  CHECK(st == LBBT_OK, "%s: forward: %s", what, lbbt_last_error());
  if (st == LBBT_OK) {
    double d = max_abs_diff(got, want);
    CHECK(d <= SAME_COMPUTATION_ATOL, "%s: features through the borrowed stack differ from "
          "create_vision's by %g", what, d);
  }
  lbbt_tensor_free(images);
  lbbt_tape_free(tape);
}

/* N borrowed blocks = the first N blocks of the full stack, on a random hidden state. */
static void check_prefix_forward(const lbbt_block_stack *part, const lbbt_block_stack *full,
                                 const char *what) {
  lbbt_tape *tape = NULL;
  lbbt_tensor *x = NULL, *got, *want;
  int64_t shape[3] = {BATCH, 6, full->dim};
  REQUIRE(lbbt_tape_create(&tape) == LBBT_OK && lbbt_tensor_create(&x, 3, shape) == LBBT_OK,
          "setup: %s", lbbt_last_error());
  fill_sin(x, 0.73);
  lbbt_block_stack first_n = *full; /* a view: the full stack cut to N blocks */
  first_n.n_blocks = part->n_blocks;
  first_n.layer_offset = part->layer_offset;
  lbbt_status st = lbbt_block_stack_forward(tape, part, x, NULL, &got);
  if (st == LBBT_OK) st = lbbt_block_stack_forward(tape, &first_n, x, NULL, &want);
  CHECK(st == LBBT_OK, "%s: forward: %s", what, lbbt_last_error());
  if (st == LBBT_OK) {
    double d = max_abs_diff(got, want);
    CHECK(d <= SAME_COMPUTATION_ATOL, "%s: %d borrowed blocks differ from the first %d of the "
          "full stack by %g", what, part->n_blocks, part->n_blocks, d);
    CHECK(got->ndim == 3 && got->shape[0] == BATCH && got->shape[1] == 6 && got->shape[2] == full->dim,
          "%s: output is not [B, T, C]", what);
  }
  lbbt_tensor_free(x);
  lbbt_tape_free(tape);
}

/* Bidirectional attention with the last key masked: the other tokens come out as they do
 * for the sequence without that token. */
static void check_key_mask(const lbbt_block_stack *s, const char *what) {
  enum { T = 5 };
  lbbt_tape *tape = NULL;
  lbbt_tensor *x = NULL, *shorter = NULL, *masked, *cut, *masked_head;
  int64_t shape[3] = {1, T, s->dim}, short_shape[3] = {1, T - 1, s->dim};
  REQUIRE(lbbt_tape_create(&tape) == LBBT_OK && lbbt_tensor_create(&x, 3, shape) == LBBT_OK &&
              lbbt_tensor_create(&shorter, 3, short_shape) == LBBT_OK,
          "setup: %s", lbbt_last_error());
  fill_sin(x, 0.53);
  memcpy(shorter->data, x->data, (size_t)shorter->numel * sizeof(float));
  const uint8_t mask[T] = {1, 1, 1, 1, 0};
  lbbt_block_stack_opts with_mask = {.attention = LBBT_ATTN_BIDIRECTIONAL, .key_mask = mask};
  lbbt_block_stack_opts plain = {.attention = LBBT_ATTN_BIDIRECTIONAL};
  lbbt_status st = lbbt_block_stack_forward(tape, s, x, &with_mask, &masked);
  if (st == LBBT_OK) st = lbbt_block_stack_forward(tape, s, shorter, &plain, &cut);
  if (st == LBBT_OK) st = lbbt_slice(tape, masked, 1, 0, T - 1, &masked_head);
  CHECK(st == LBBT_OK, "%s: forward: %s", what, lbbt_last_error());
  if (st == LBBT_OK) {
    double d = max_abs_diff(masked_head, cut);
    CHECK(d <= KEY_MASK_ATOL, "%s: a masked key changed the other tokens by %g", what, d);
  }
  lbbt_tensor_free(x);
  lbbt_tensor_free(shorter);
  lbbt_tape_free(tape);
}

/* ---- one backbone ------------------------------------------------------------------------ */
/* For one spec: the full stack and a DETR-like pair (encoder + decoder of n_part blocks in
 * one model), checked against create_vision(spec, seed). */
static void check_spec(const lbbt_backbone_spec *spec, int n_layers, int forward, const char *what) {
  lbbt_model *vm = NULL, *detr = NULL;
  lbbt_block_stack *full = NULL, *enc = NULL, *dec = NULL, *other_seed = NULL;
  lbbt_status st = create_vision(spec, SEED, &vm);
  REQUIRE(st == LBBT_OK, "%s: create_vision: %s", what, lbbt_last_error());
  st = lbbt_borrow_blocks(NULL, spec, n_layers, SEED, "backbone.", 0, NULL, &full);
  CHECK(st == LBBT_OK, "%s: borrowing %d blocks: %s", what, n_layers, lbbt_last_error());
  if (st != LBBT_OK) goto done;
  CHECK(full->n_blocks == n_layers && full->n_backbone_blocks == n_layers && full->dim == vm->dim,
        "%s: stack of %d of %d blocks, width %d (vision model: %d)", what, full->n_blocks,
        full->n_backbone_blocks, full->dim, vm->dim);
  CHECK(full->owns_model && full->model->n_layers == n_layers, "%s: own model with %d layers",
        what, full->model->n_layers);
  check_same_weights(full, vm, what);

  /* a DETR: encoder and decoder each start from the first n_part blocks */
  int n_part = n_layers > 1 ? n_layers - 1 : 1;
  REQUIRE(lbbt_model_create(&detr, NULL, "detr-like") == LBBT_OK, "model: %s", lbbt_last_error());
  st = lbbt_borrow_blocks(NULL, spec, n_part, SEED, "detr.encoder.", 0, detr, &enc);
  if (st == LBBT_OK) st = lbbt_borrow_blocks(NULL, spec, n_part, SEED, "detr.decoder.", n_part, detr, &dec);
  CHECK(st == LBBT_OK, "%s: borrowing %d blocks twice into one model: %s", what, n_part, lbbt_last_error());
  if (st != LBBT_OK) goto done;
  CHECK(!enc->owns_model && enc->model == detr && dec->model == detr, "%s: parameters not in the borrower's model", what);
  CHECK(detr->n_params == enc->n_params + dec->n_params && dec->first_param == enc->n_params,
        "%s: %d parameters in the model, stacks say %d + %d", what, detr->n_params, enc->n_params, dec->n_params);
  CHECK(detr->n_layers == 2 * n_part, "%s: borrower's n_layers %d, want %d", what, detr->n_layers, 2 * n_part);
  check_same_weights(enc, vm, what);
  check_same_weights(dec, vm, what);
  /* train_layers first:1 selects the encoder's block 0 only (layer indices are the model's) */
  lbbt_layer_range first1 = {LBBT_LAYERS_FIRST, 1, 0, 0};
  st = lbbt_model_select_trainable(detr, &first1, 0, 0);
  CHECK(st == LBBT_OK, "%s: select_trainable first:1: %s", what, lbbt_last_error());
  for (int i = 0; i < detr->n_params && st == LBBT_OK; i++) {
    const lbbt_param *p = &detr->params[i];
    int want = !strncmp(p->name, "detr.encoder.", 13) && p->layer == 0;
    CHECK(p->trainable == want, "%s: first:1 makes '%s' (layer %d) %s", what, p->name, p->layer,
          p->trainable ? "trainable" : "frozen");
  }

  if (spec->init == LBBT_INIT_SCRATCH) {
    st = lbbt_borrow_blocks(NULL, spec, n_layers, SEED + 1, "", 0, NULL, &other_seed);
    CHECK(st == LBBT_OK && any_weight_differs(other_seed, vm),
          "%s: seed %d gives the same scratch blocks as seed %d", what, SEED + 1, SEED);
  }
  if (forward) {
    check_vision_features(vm, full, what);
    check_prefix_forward(enc, full, what);
    check_prefix_forward(dec, full, what);
    check_key_mask(full, what);
  }
done:
  lbbt_block_stack_free(other_seed);
  lbbt_block_stack_free(dec);
  lbbt_block_stack_free(enc);
  lbbt_model_free(detr);
  lbbt_block_stack_free(full);
  lbbt_model_free(vm);
}

static void check_case(int k) {
  const borrow_case *c = &CASES[k];
  const char *path = case_path(c);
  if (!path) SKIP("%s absent", c->fixture ? c->fixture : c->model);
  char cp[512];
  snprintf(cp, sizeof cp, "%s", path);
  for (int m = 0; m < N_MODES; m++) {
    lbbt_backbone_spec spec = make_spec(c->plugin, cp, ALL_MODES[m]);
    char what[640];
    snprintf(what, sizeof what, "%s %s init %s", c->plugin, cp, lbbt_init_mode_name(ALL_MODES[m]));
    int forward = ALL_MODES[m] == LBBT_INIT_LANGUAGE || ALL_MODES[m] == LBBT_INIT_SCRATCH;
    check_spec(&spec, c->n_layers, forward, what);
    if (test_failed_) return;
  }
}

static void test_gpt2_fixture(void) { check_case(0); }
static void test_llama3_fixture(void) { check_case(1); }
static void test_qwen3_fixture(void) { check_case(2); }
static void test_stories260k(void) { check_case(3); }
static void test_chronos_t5_fixture(void) { check_case(4); }
static void test_t5_gated_fixture(void) { check_case(5); }

/* Scratch backbones without a checkpoint: sizes from presets and options, attention from
 * the spec (a bidirectional GPT-2, a causal T5). */
static void test_scratch_presets(void) {
  lbbt_backbone_spec g = make_spec("gpt2", NULL, LBBT_INIT_SCRATCH);
  test_add_option(&g, "n_embd", "16");
  test_add_option(&g, "n_layer", "3");
  test_add_option(&g, "n_head", "2");
  test_add_option(&g, "vocab_size", "32");
  g.attention = LBBT_ATTN_BIDIRECTIONAL;
  check_spec(&g, 3, 1, "gpt2 scratch 16x3 bidirectional");
  lbbt_backbone_spec t = make_spec("chronos_t5", NULL, LBBT_INIT_SCRATCH);
  test_add_option(&t, "d_model", "16");
  test_add_option(&t, "d_kv", "4");
  test_add_option(&t, "d_ff", "32");
  test_add_option(&t, "num_layers", "2");
  test_add_option(&t, "num_heads", "4");
  t.attention = LBBT_ATTN_CAUSAL;
  check_spec(&t, 2, 1, "chronos_t5 scratch 16x2 causal");
  lbbt_backbone_spec l = make_spec("llama", NULL, LBBT_INIT_SCRATCH);
  snprintf(l.arch, sizeof l.arch, "stories260K");
  check_spec(&l, 5, 1, "llama scratch stories260K");

  /* the stack's default attention is the spec's, resolved against the architecture's own */
  lbbt_block_stack *s = NULL;
  REQUIRE(lbbt_borrow_blocks(NULL, &g, 1, SEED, NULL, 0, NULL, &s) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(s->causal == 0, "gpt2 with attention: bidirectional lends causal blocks");
  lbbt_block_stack_free(s);
  g.attention = LBBT_ATTN_DEFAULT;
  REQUIRE(lbbt_borrow_blocks(NULL, &g, 1, SEED, NULL, 0, NULL, &s) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(s->causal == 1 && !strcmp(s->backbone, "gpt2") && !strcmp(s->prefix, ""),
        "gpt2 default: causal %d, backbone '%s', prefix '%s'", s->causal, s->backbone, s->prefix);
  lbbt_block_stack_free(s);
  t.attention = LBBT_ATTN_DEFAULT;
  REQUIRE(lbbt_borrow_blocks(NULL, &t, 1, SEED, NULL, 0, NULL, &s) == LBBT_OK, "%s", lbbt_last_error());
  CHECK(s->causal == 0 && s->relbias_table != NULL, "T5 default: causal %d, relative bias %p",
        s->causal, (void *)s->relbias_table);
  lbbt_block_stack_free(s);
}

/* ---- errors ------------------------------------------------------------------------------- */
#define CHECK_BORROW_FAILS(r, spec, n, offset, code, want)                                      \
  do {                                                                                         \
    lbbt_block_stack *s_ = (lbbt_block_stack *)&s_;                                            \
    lbbt_status st_ = lbbt_borrow_blocks((r), (spec), (n), SEED, "x.", (offset), NULL, &s_);    \
    CHECK(st_ == (code), "n %d: status %d, want %d (%s)", (n), (int)st_, (int)(code),           \
          lbbt_last_error());                                                                  \
    CHECK(strstr(lbbt_last_error(), (want)) != NULL, "message '%s' lacks '%s'",                \
          lbbt_last_error(), (want));                                                          \
    CHECK(s_ == NULL, "*out not NULL after an error");                                         \
  } while (0)

static void test_errors(void) {
  lbbt_backbone_spec g = make_spec("gpt2", NULL, LBBT_INIT_SCRATCH);
  test_add_option(&g, "n_embd", "16");
  test_add_option(&g, "n_layer", "2");
  test_add_option(&g, "n_head", "2");
  test_add_option(&g, "vocab_size", "32");
  CHECK_BORROW_FAILS(NULL, &g, 0, 0, LBBT_E_INPUT, "0 blocks asked of backbone gpt2; ask for at least 1");
  CHECK_BORROW_FAILS(NULL, &g, 3, 0, LBBT_E_INPUT, "3 blocks asked of backbone gpt2 (scratch arch gpt2, sized by options), which has 2; ask for 1 to 2");
  CHECK_BORROW_FAILS(NULL, &g, 1, -1, LBBT_E_INPUT, "layer_offset -1 is negative");
  const char *path = case_path(&CASES[4]);
  if (path) {
    char cp[512];
    snprintf(cp, sizeof cp, "%s", path);
    lbbt_backbone_spec t = make_spec("chronos_t5", cp, LBBT_INIT_LANGUAGE);
    CHECK_BORROW_FAILS(NULL, &t, 3, 0, LBBT_E_INPUT, "which has 2; ask for 1 to 2");
    /* straight through the table: the plugin checks too */
    lbbt_block_stack *s = NULL;
    const lbbt_plugin *p = lbbt_registry_find(g_reg, LBBT_KIND_BACKBONE, "chronos_t5");
    lbbt_status st = p->backbone->create_blocks(&t, 0, SEED, NULL, 0, NULL, &s);
    CHECK(st == LBBT_E_INPUT && s == NULL && strstr(lbbt_last_error(), "0 blocks asked of backbone chronos_t5"),
          "create_blocks n 0: status %d, '%s'", (int)st, lbbt_last_error());
  }
  lbbt_backbone_spec nope = make_spec("gpt3", NULL, LBBT_INIT_SCRATCH);
  CHECK_BORROW_FAILS(NULL, &nope, 1, 0, LBBT_E_INPUT, "no backbone plugin named 'gpt3' is loaded (loaded: ");
  CHECK(strstr(lbbt_last_error(), "gpt2") && strstr(lbbt_last_error(), "chronos_t5"),
        "the loaded backbones are not listed: %s", lbbt_last_error());
  lbbt_backbone_spec lang = make_spec("gpt2", NULL, LBBT_INIT_LANGUAGE);
  CHECK_BORROW_FAILS(NULL, &lang, 1, 0, LBBT_E_INPUT, "gpt2: init 'language' needs backbone.checkpoint");

  /* no registry at all */
  lbbt_registry_set_global(NULL);
  CHECK_BORROW_FAILS(NULL, &g, 1, 0, LBBT_E_INTERNAL, "no plugin registry");
  lbbt_block_stack *explicit_reg = NULL; /* an explicit registry needs no global */
  CHECK(lbbt_borrow_blocks(g_reg, &g, 1, SEED, NULL, 0, NULL, &explicit_reg) == LBBT_OK && explicit_reg,
        "borrowing through an explicit registry: %s", lbbt_last_error());
  lbbt_block_stack_free(explicit_reg);
  lbbt_registry_set_global(g_reg);

  /* a prefixed name already taken: borrowing the same blocks twice under one prefix */
  lbbt_model *m = NULL;
  lbbt_block_stack *a = NULL, *b = (lbbt_block_stack *)&b;
  REQUIRE(lbbt_model_create(&m, NULL, "twice") == LBBT_OK, "%s", lbbt_last_error());
  lbbt_status st = lbbt_borrow_blocks(NULL, &g, 1, SEED, "enc.", 0, m, &a);
  CHECK(st == LBBT_OK, "first borrow: %s", lbbt_last_error());
  st = lbbt_borrow_blocks(NULL, &g, 1, SEED, "enc.", 0, m, &b);
  CHECK(st != LBBT_OK && b == NULL && strstr(lbbt_last_error(), "'enc.h.0.ln_1.weight' added twice"),
        "second borrow under the same prefix: status %d, '%s'", (int)st, lbbt_last_error());

  /* hidden states of the wrong width */
  lbbt_tape *tape = NULL;
  lbbt_tensor *x = NULL, *y = NULL;
  int64_t shape[3] = {1, 2, 15};
  if (a && lbbt_tape_create(&tape) == LBBT_OK && lbbt_tensor_create(&x, 3, shape) == LBBT_OK) {
    fill_sin(x, 0.1);
    st = lbbt_block_stack_forward(tape, a, x, NULL, &y);
    CHECK(st == LBBT_E_SHAPE && strstr(lbbt_last_error(), "[1, 2, 15], expected [B, T, 16]"),
          "width 15 into a width-16 stack: status %d, '%s'", (int)st, lbbt_last_error());
  }
  lbbt_tensor_free(x);
  lbbt_tape_free(tape);
  lbbt_block_stack_free(a);
  lbbt_model_free(m);
}

/* ---- a separate .so borrowing through the registry --------------------------------------- */
static void test_borrowing_plugin(void) {
  char plugins[512], tplugins[512], so[600];
  snprintf(plugins, sizeof plugins, "%s/plugins", test_build_dir());
  snprintf(tplugins, sizeof tplugins, "%s/tests/plugins", test_build_dir());
  snprintf(so, sizeof so, "%s/borrow_blocks_task.so", tplugins);
  if (!test_file_exists(so)) SKIP("%s absent: build the test plugins with `make test`", so);
  const char *fixture = case_path(&CASES[0]);
  if (!fixture) SKIP("gpt2 fixture absent");
  char cp[512];
  snprintf(cp, sizeof cp, "%s", fixture);
  setenv("LBBT_PLUGIN_PATH", tplugins, 1);
  lbbt_registry *r = NULL;
  REQUIRE(lbbt_registry_load(&r, plugins, NULL) == LBBT_OK, "load: %s", lbbt_last_error());
  const lbbt_plugin *task = lbbt_registry_find(r, LBBT_KIND_TASK, "borrow-check");
  if (!task) {
    lbbt_registry_free(r);
    REQUIRE(0, "task borrow-check not loaded from %s", tplugins);
  }
  lbbt_run_spec run;
  memset(&run, 0, sizeof run);
  run.seed = 7;
  run.backbone = make_spec("gpt2", cp, LBBT_INIT_LANGUAGE);
  lbbt_stage_spec *stage = &run.stages[0];
  run.n_stages = 1;
  snprintf(stage->name, sizeof stage->name, "borrow");
  snprintf(stage->task, sizeof stage->task, "borrow-check");
  stage->n_options = 2;
  snprintf(stage->options[0].key, sizeof stage->options[0].key, "n_blocks");
  snprintf(stage->options[0].value, sizeof stage->options[0].value, "2");
  snprintf(stage->options[1].key, sizeof stage->options[1].key, "prefix");
  snprintf(stage->options[1].value, sizeof stage->options[1].value, "detr.encoder.");
  stage->train_layers = (lbbt_layer_range){LBBT_LAYERS_FIRST, 1, 0, 0};
  CHECK(task->task->validate(stage, "x.yaml") == LBBT_OK, "validate: %s", lbbt_last_error());

  lbbt_record *rec = NULL;
  REQUIRE(lbbt_record_create(&rec) == LBBT_OK, "record: %s", lbbt_last_error());
  lbbt_stage_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.version = LBBT_STAGE_CTX_VERSION;
  ctx.run = &run;
  ctx.stage = stage;
  ctx.record = rec;
  ctx.registry = NULL; /* the plugin must find the backbone through the process-wide registry */
  lbbt_registry *saved = lbbt_registry_global();
  lbbt_registry_set_global(r);
  lbbt_status st = task->task->run(&ctx);
  CHECK(st == LBBT_OK, "borrow-check run: %s", lbbt_last_error());
  double width = 0, n_blocks = 0, n_params = 0, loss = 0, trained = 0, frozen = -1;
  if (st == LBBT_OK) {
    lbbt_record_get_scalar(rec, "borrow/width", &width);
    lbbt_record_get_scalar(rec, "borrow/n_blocks", &n_blocks);
    lbbt_record_get_scalar(rec, "borrow/n_params", &n_params);
    lbbt_record_get_scalar(rec, "borrow/loss", &loss);
    lbbt_record_get_scalar(rec, "borrow/grad_trained", &trained);
    lbbt_record_get_scalar(rec, "borrow/grad_frozen", &frozen);
    CHECK(width == 32 && n_blocks == 2, "width %g, %g blocks; want 32 and 2", width, n_blocks);
    CHECK(n_params == 24, "%g borrowed parameters, want 24 (12 per GPT-2 block)", n_params);
    CHECK(isfinite(loss) && loss > 0, "loss %g", loss);
    CHECK(isfinite(trained) && trained > 0, "no gradient reached the trained borrowed block (%g)", trained);
    CHECK(frozen == 0, "gradient %g reached blocks that train_layers first:1 froze", frozen);
  }
  /* more blocks than the checkpoint has, and a backbone that lends none: clean input errors */
  snprintf(stage->options[0].value, sizeof stage->options[0].value, "3");
  st = task->task->run(&ctx);
  CHECK(st == LBBT_E_INPUT && strstr(lbbt_last_error(), "which has 2"), "3 blocks: status %d, '%s'",
        (int)st, lbbt_last_error());
  snprintf(stage->options[0].value, sizeof stage->options[0].value, "1");
  snprintf(run.backbone.plugin, sizeof run.backbone.plugin, "old-backbone-v2");
  st = task->task->run(&ctx);
  CHECK(st == LBBT_E_INPUT && strstr(lbbt_last_error(), "'old-backbone-v2'") &&
            strstr(lbbt_last_error(), "does not lend blocks: its backbone table is version 2"),
        "version-2 backbone: status %d, '%s'", (int)st, lbbt_last_error());
  /* an explicit registry in the context serves as well */
  lbbt_registry_set_global(NULL);
  ctx.registry = r;
  snprintf(run.backbone.plugin, sizeof run.backbone.plugin, "gpt2");
  st = task->task->run(&ctx);
  CHECK(st == LBBT_OK, "run with ctx->registry: %s", lbbt_last_error());
  lbbt_registry_set_global(saved);
  lbbt_record_free(rec);
  lbbt_registry_free(r);
  setenv("LBBT_PLUGIN_PATH", "", 1);
}

int main(void) {
  test_binary_ = "test_borrow_blocks";
  if (!test_load_backbones(&g_reg, 0, test_binary_)) return 1;
  lbbt_registry_set_global(g_reg);
  TEST_RUN(test_gpt2_fixture);
  TEST_RUN(test_llama3_fixture);
  TEST_RUN(test_qwen3_fixture);
  TEST_RUN(test_stories260k);
  TEST_RUN(test_chronos_t5_fixture);
  TEST_RUN(test_t5_gated_fixture);
  TEST_RUN(test_scratch_presets);
  TEST_RUN(test_errors);
  TEST_RUN(test_borrowing_plugin);
  lbbt_registry_free(g_reg);
  printf("%d passed, %d failed, %d skipped\n", test_npass_, test_nfail_, test_nskip_);
  return test_nfail_ ? 1 : 0;
}
