/* Backbone models are bit-identical to those of the recorded reference.
 *
 * For every backbone plugin (gpt2, llama, chronos_t5), every weight source (the tiny Hugging
 * Face fixtures in tests/fixtures/backbones, stories260K.bin from the shared models folder,
 * scratch presets sized by options) and every init mode, the models the plugin builds -
 * create_vision, create_blocks (borrowed blocks under a prefix), load_language and
 * create_language - are hashed: the model's sizes, then per parameter its name, part, layer,
 * no_decay flag, shape and the bytes of its values, in registration order (and the file name
 * of the model's source).  The digests are
 * compared with tests/fixtures/backbones/model_checksums.txt, recorded by this same program
 * from main before the backbone kit replaced the three plugins' own model code:
 *
 *   LBBT_RECORD_CHECKSUMS=tests/fixtures/backbones/model_checksums.txt build/tests/test_backbone_checksums
 *
 * Any change to a parameter's name, order, flags or initial values shows here; record again
 * only for a change that is meant to alter the models (and say so in the commit). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/block_stack.h"
#include "lbbt/sha256.h"
#include "backbone_tests.h"
#include "test.h"

static const char *FIXTURES = "tests/fixtures/backbones";
static const char *CHECKSUMS = "tests/fixtures/backbones/model_checksums.txt";
enum { SEED = 77, IMAGE = 12, PATCH = 4, CLASSES = 5, IN_CHANNELS = 3 };
enum { MAX_CASES = 256 };

static lbbt_registry *g_reg;
static FILE *g_record;           /* recording mode: digests are written here */
static char *g_names[MAX_CASES]; /* the recorded digests, "name digest" */
static char *g_digests[MAX_CASES];
static int g_n_recorded, g_n_checked, g_n_sources_absent;

static const lbbt_init_mode ALL_MODES[] = {LBBT_INIT_LANGUAGE, LBBT_INIT_SCRATCH,
                                           LBBT_INIT_SHUFFLED, LBBT_INIT_MOMENT_MATCHED,
                                           LBBT_INIT_SCRATCH_RESCALED};
static const char *const MODE_NAMES[] = {"language", "scratch", "shuffled", "moment_matched",
                                         "scratch_rescaled"};
enum { N_MODES = sizeof ALL_MODES / sizeof ALL_MODES[0] };

/* ---- hashing ------------------------------------------------------------------------------ */
static void hash_int(lbbt_sha256_ctx *c, int64_t v) { lbbt_sha256_update(c, &v, sizeof v); }
static void hash_str(lbbt_sha256_ctx *c, const char *s) { lbbt_sha256_update(c, s, strlen(s) + 1); }

static void hash_params(lbbt_sha256_ctx *c, const lbbt_model *m, int from, int to) {
  for (int i = from; i < to; i++) {
    const lbbt_param *p = &m->params[i];
    hash_str(c, p->name);
    hash_int(c, p->part);
    hash_int(c, p->layer);
    hash_int(c, p->no_decay);
    hash_int(c, p->t->ndim);
    for (int d = 0; d < p->t->ndim; d++) hash_int(c, p->t->shape[d]);
    lbbt_sha256_update(c, p->t->data, (size_t)p->t->numel * sizeof(float));
  }
}

static void hash_model(lbbt_sha256_ctx *c, const lbbt_model *m) {
  hash_str(c, m->arch);
  const char *slash = strrchr(m->source, '/'); /* the file name: the folder varies by machine */
  hash_str(c, slash ? slash + 1 : m->source);
  hash_int(c, m->init);
  hash_int(c, m->n_layers);
  hash_int(c, m->dim);
  hash_int(c, m->num_classes);
  hash_int(c, m->vocab_size);
  hash_int(c, m->n_params);
  hash_params(c, m, 0, m->n_params);
}

static void hash_stack(lbbt_sha256_ctx *c, const lbbt_block_stack *s) {
  hash_str(c, s->backbone);
  hash_str(c, s->prefix);
  hash_int(c, s->n_blocks);
  hash_int(c, s->n_backbone_blocks);
  hash_int(c, s->layer_offset);
  hash_int(c, s->dim);
  hash_int(c, s->causal);
  hash_int(c, s->relbias_table != NULL);
  hash_int(c, s->relbias_buckets);
  hash_int(c, s->relbias_max_distance);
  hash_int(c, s->first_param);
  hash_int(c, s->n_params);
  hash_int(c, s->model->n_layers);
  hash_params(c, s->model, s->first_param, s->first_param + s->n_params);
}

static void digest_hex(lbbt_sha256_ctx *c, char out[65]) {
  uint8_t d[32];
  lbbt_sha256_final(c, d);
  for (int i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Record the digest of case `name`, or compare it with the recorded one. */
static void check_digest(const char *name, lbbt_sha256_ctx *c) {
  char hex[65];
  digest_hex(c, hex);
  if (g_record) {
    fprintf(g_record, "%s %s\n", name, hex);
    return;
  }
  for (int i = 0; i < g_n_recorded; i++)
    if (!strcmp(g_names[i], name)) {
      g_n_checked++;
      CHECK(!strcmp(g_digests[i], hex), "%s: digest %s, recorded %s", name, hex, g_digests[i]);
      return;
    }
  CHECK(0, "%s: no recorded digest in %s", name, CHECKSUMS);
}

static void check_model(const char *name, const lbbt_model *m) {
  lbbt_sha256_ctx h;
  lbbt_sha256_init(&h);
  hash_model(&h, m);
  check_digest(name, &h);
}

static int load_checksums(void) {
  FILE *f = fopen(CHECKSUMS, "r");
  if (!f) return 0;
  char name[256], hex[80];
  while (g_n_recorded < MAX_CASES && fscanf(f, "%255s %79s", name, hex) == 2) {
    g_names[g_n_recorded] = strdup(name);
    g_digests[g_n_recorded] = strdup(hex);
    g_n_recorded++;
  }
  fclose(f);
  return g_n_recorded > 0;
}

/* ---- cases -------------------------------------------------------------------------------- */
typedef struct source_case {
  const char *label;      /* in the case names */
  const char *plugin;
  const char *fixture;    /* under FIXTURES, or NULL */
  const char *model;      /* under the shared models folder, or NULL */
  const char *arch;       /* scratch preset (no checkpoint), or NULL */
  const char *options[8]; /* key, value pairs, NULL-terminated */
  int language;           /* load_language reads it */
} source_case;

static const source_case SOURCES[] = {
    {"gpt2", "gpt2", "gpt2", NULL, NULL, {NULL}, 1},
    {"gpt2-sharded", "gpt2", "gpt2-sharded", NULL, NULL, {NULL}, 1},
    {"gpt2-wpe", "gpt2", "gpt2", NULL, NULL, {"positions", "pretrained", NULL}, 0},
    {"llama", "llama", "llama", NULL, NULL, {NULL}, 1},
    {"llama-bf16", "llama", "llama-bf16", NULL, NULL, {NULL}, 1},
    {"qwen3", "llama", "qwen3", NULL, NULL, {NULL}, 1},
    {"stories260K", "llama", NULL, "stories260K.bin", NULL, {NULL}, 1},
    {"chronos-t5", "chronos_t5", "chronos-t5", NULL, NULL, {NULL}, 1},
    {"t5-gated", "chronos_t5", "t5-gated", NULL, NULL, {NULL}, 1},
    {"t5-factor", "chronos_t5", "t5-gated", NULL, NULL, {"initializer_factor", "0.5", NULL}, 0},
    {"scratch-gpt2", "gpt2", NULL, NULL, "gpt2",
     {"n_embd", "16", "n_layer", "3", "n_head", "2", NULL}, 0},
    {"scratch-gpt2-wpe", "gpt2", NULL, NULL, "gpt2-medium",
     {"n_embd", "8", "n_layer", "2", "n_head", "2", "positions", "pretrained"}, 0},
    {"scratch-stories260K", "llama", NULL, NULL, "stories260K", {NULL}, 0},
    {"scratch-t5-tiny", "chronos_t5", NULL, NULL, "chronos-t5-tiny", {NULL}, 0},
    {"scratch-t5-gated", "chronos_t5", NULL, NULL, "chronos-t5-mini",
     {"d_model", "16", "num_layers", "2", "d_ff", "24", "feed_forward_proj", "gated-gelu"}, 0},
};
enum { N_SOURCES = sizeof SOURCES / sizeof SOURCES[0] };

/* The checkpoint path of a case ("" for scratch), or NULL when its file is absent. */
static const char *source_path(const source_case *c) {
  static char buf[512];
  buf[0] = 0;
  if (c->fixture) {
    snprintf(buf, sizeof buf, "%s/%s/config.json", FIXTURES, c->fixture);
    if (!test_file_exists(buf)) return NULL;
    snprintf(buf, sizeof buf, "%s/%s", FIXTURES, c->fixture);
  } else if (c->model) {
    snprintf(buf, sizeof buf, "%s/%s", test_models_dir(), c->model);
    if (!test_file_exists(buf)) return NULL;
  }
  return buf;
}

static lbbt_backbone_spec make_spec(const source_case *c, const char *path, lbbt_init_mode init) {
  lbbt_backbone_spec s = test_backbone_spec(c->plugin, path, c->arch, init, PATCH);
  for (int i = 0; i + 1 < 8 && c->options[i]; i += 2) test_add_option(&s, c->options[i], c->options[i + 1]);
  return s;
}

static const lbbt_backbone_ops *backbone(const char *name) { return test_backbone_ops(g_reg, name); }

/* create_vision for every init mode the source allows, with mean and class-token pooling. */
static void check_vision(const source_case *c, const char *path) {
  const lbbt_backbone_ops *ops = backbone(c->plugin);
  REQUIRE(ops, "backbone %s not loaded", c->plugin);
  for (int k = 0; k < N_MODES; k++) {
    if (!path[0] && ALL_MODES[k] != LBBT_INIT_SCRATCH) continue;
    for (int pool = 0; pool < 2; pool++) {
      lbbt_backbone_spec spec = make_spec(c, path, ALL_MODES[k]);
      spec.pool = pool ? LBBT_POOL_CLS : LBBT_POOL_MEAN;
      if (pool) spec.patch_size = 6; /* 4 tokens + class token fits every position table */
      lbbt_model *m = NULL;
      lbbt_status st = ops->create_vision(&spec, IN_CHANNELS, IMAGE, CLASSES, SEED + k, &m);
      char name[128];
      snprintf(name, sizeof name, "vision/%s/%s/%s", c->label, MODE_NAMES[k], pool ? "cls" : "mean");
      CHECK(st == LBBT_OK, "%s: %s", name, lbbt_last_error());
      if (st == LBBT_OK) check_model(name, m);
      lbbt_model_free(m);
    }
  }
}

/* create_blocks: the first block, under a prefix, into a model that already has a parameter,
 * and every block into a model of the stack's own. */
static void check_blocks(const source_case *c, const char *path) {
  const lbbt_backbone_ops *ops = backbone(c->plugin);
  REQUIRE(ops && ops->create_blocks, "backbone %s lends no blocks", c->plugin);
  for (int k = 0; k < N_MODES; k++) {
    if (!path[0] && ALL_MODES[k] != LBBT_INIT_SCRATCH) continue;
    lbbt_backbone_spec spec = make_spec(c, path, ALL_MODES[k]);
    lbbt_model *into = NULL;
    lbbt_tensor *first = NULL;
    lbbt_block_stack *one = NULL, *all = NULL;
    lbbt_status st = lbbt_model_create(&into, NULL, "borrower");
    if (st == LBBT_OK)
      st = lbbt_model_add_param(into, "borrower.embed", LBBT_PART_EMBED, 0, 1, 1, (int64_t[]){4}, &first);
    if (st == LBBT_OK) st = ops->create_blocks(&spec, 1, SEED + 10 + k, "enc.", 2, into, &one);
    if (st == LBBT_OK) {
      lbbt_model *vm = NULL;
      /* every block: the depth is the vision model's */
      st = ops->create_vision(&spec, 1, IMAGE, 2, SEED, &vm);
      int depth = vm ? vm->n_layers : 0;
      lbbt_model_free(vm);
      if (st == LBBT_OK) st = ops->create_blocks(&spec, depth, SEED + 20 + k, NULL, 0, NULL, &all);
    }
    char name[128];
    snprintf(name, sizeof name, "blocks/%s/%s", c->label, MODE_NAMES[k]);
    CHECK(st == LBBT_OK, "%s: %s", name, lbbt_last_error());
    if (st == LBBT_OK) {
      lbbt_sha256_ctx h;
      lbbt_sha256_init(&h);
      hash_stack(&h, one);
      hash_model(&h, into);
      hash_stack(&h, all);
      check_digest(name, &h);
    }
    lbbt_block_stack_free(one);
    lbbt_block_stack_free(all);
    lbbt_model_free(into);
  }
}

static void check_language(const source_case *c, const char *path) {
  const lbbt_backbone_ops *ops = backbone(c->plugin);
  REQUIRE(ops && ops->load_language, "backbone %s has no load_language", c->plugin);
  lbbt_model *m = NULL;
  char name[128];
  snprintf(name, sizeof name, "language/%s", c->label);
  lbbt_status st = ops->load_language(path, &m);
  CHECK(st == LBBT_OK, "%s: %s", name, lbbt_last_error());
  if (st == LBBT_OK) check_model(name, m);
  lbbt_model_free(m);
}

static void run_source(const source_case *c) {
  const char *p = source_path(c);
  if (!p) g_n_sources_absent++;
  if (!p) SKIP("%s: checkpoint absent (fixture %s, model %s)", c->label, c->fixture ? c->fixture : "-",
               c->model ? c->model : "-");
  char path[512];
  snprintf(path, sizeof path, "%s", p);
  check_vision(c, path);
  check_blocks(c, path);
  if (c->language) check_language(c, path);
}

#define SOURCE_TEST(fn, i) \
  static void fn(void) { run_source(&SOURCES[i]); }
SOURCE_TEST(test_gpt2, 0)
SOURCE_TEST(test_gpt2_sharded, 1)
SOURCE_TEST(test_gpt2_pretrained_positions, 2)
SOURCE_TEST(test_llama, 3)
SOURCE_TEST(test_llama_bf16, 4)
SOURCE_TEST(test_qwen3, 5)
SOURCE_TEST(test_stories260k, 6)
SOURCE_TEST(test_chronos_t5, 7)
SOURCE_TEST(test_t5_gated, 8)
SOURCE_TEST(test_t5_initializer_factor, 9)
SOURCE_TEST(test_scratch_gpt2, 10)
SOURCE_TEST(test_scratch_gpt2_pretrained_positions, 11)
SOURCE_TEST(test_scratch_stories260k, 12)
SOURCE_TEST(test_scratch_t5_tiny, 13)
SOURCE_TEST(test_scratch_t5_gated, 14)

/* create_language (gpt2: the lm-pretrain task's scratch model). */
static void test_create_language(void) {
  const lbbt_backbone_ops *ops = backbone("gpt2");
  REQUIRE(ops && ops->create_language, "gpt2 has no create_language");
  lbbt_backbone_spec spec = make_spec(&SOURCES[10], "", LBBT_INIT_SCRATCH);
  lbbt_model *m = NULL;
  lbbt_status st = ops->create_language(&spec, 37, 9, SEED, &m);
  REQUIRE(st == LBBT_OK, "create_language: %s", lbbt_last_error());
  check_model("create_language/gpt2", m);
  lbbt_model_free(m);
}

/* Every recorded case was checked (none silently dropped from the list above). */
static void test_all_recorded_cases_checked(void) {
  if (g_record) SKIP("recording");
  if (g_n_sources_absent) SKIP("%d weight sources absent", g_n_sources_absent);
  CHECK(g_n_checked == g_n_recorded, "%d of %d recorded digests checked", g_n_checked,
        g_n_recorded);
}

int main(void) {
  test_binary_ = "test_backbone_checksums";
  const char *record = getenv("LBBT_RECORD_CHECKSUMS");
  if (record && *record) {
    g_record = fopen(record, "w");
    if (!g_record) {
      printf("FAIL test_backbone_checksums.record: cannot write %s\n", record);
      return 1;
    }
  } else if (!load_checksums()) {
    printf("FAIL test_backbone_checksums.load: cannot read %s\n", CHECKSUMS);
    return 1;
  }
  if (!test_load_backbones(&g_reg, 0, test_binary_)) return 1;
  TEST_RUN(test_gpt2);
  TEST_RUN(test_gpt2_sharded);
  TEST_RUN(test_gpt2_pretrained_positions);
  TEST_RUN(test_llama);
  TEST_RUN(test_llama_bf16);
  TEST_RUN(test_qwen3);
  TEST_RUN(test_stories260k);
  TEST_RUN(test_chronos_t5);
  TEST_RUN(test_t5_gated);
  TEST_RUN(test_t5_initializer_factor);
  TEST_RUN(test_scratch_gpt2);
  TEST_RUN(test_scratch_gpt2_pretrained_positions);
  TEST_RUN(test_scratch_stories260k);
  TEST_RUN(test_scratch_t5_tiny);
  TEST_RUN(test_scratch_t5_gated);
  TEST_RUN(test_create_language);
  TEST_RUN(test_all_recorded_cases_checked);
  lbbt_registry_free(g_reg);
  if (g_record) fclose(g_record);
  for (int i = 0; i < g_n_recorded; i++) {
    free(g_names[i]);
    free(g_digests[i]);
  }
  printf("%d passed, %d failed, %d skipped\n", test_npass_, test_nfail_, test_nskip_);
  return test_nfail_ ? 1 : 0;
}
