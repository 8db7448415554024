/* Experiment files: tiers, matrix expansion, run ids, and every kind of input error with
 * its file:line:col.  YAML is written into a temporary folder. */
#include <sys/stat.h>

#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/sha256.h"
#include "lbbt/spec.h"
#include "test.h"

static const double EXACT = 0; /* values parsed from decimal text compare exactly */
static const int N_MUTATIONS = 400; /* corrupted files fed to the loader */

/* ---- helpers ------------------------------------------------------------------------- */

/* The build's plugins: stages write their task's keys (labels, label_ratio, ...), which bind
 * through the plugin registry (lbbt_registry_global, set in main). */
static lbbt_registry *g_reg;

/* A stage key's value in the run's canonical text ("random", "0.3"); "" when absent.  Plugin
 * keys are read this way because their struct belongs to the plugin. */
static const char *stage_value(const lbbt_run_spec *r, const char *stage, const char *key) {
  static char out[4][64];
  static int slot;
  char *v = out[slot++ % 4];
  v[0] = 0;
  char head[128], line[128];
  snprintf(head, sizeof head, "  - name: %s\n", stage);
  const char *p = strstr(r->config_yaml, head);
  if (!p) return v;
  const char *end = strstr(p + strlen(head), "  - name: ");
  snprintf(line, sizeof line, "\n    %s: ", key);
  const char *at = strstr(p, line);
  if (!at || (end && at > end)) return v;
  at += strlen(line);
  size_t n = strcspn(at, "\n");
  snprintf(v, 64, "%.*s", (int)(n < 63 ? n : 63), at);
  return v;
}
static double stage_number(const lbbt_run_spec *r, const char *stage, const char *key) {
  return atof(stage_value(r, stage, key));
}

static char g_ckpt[512]; /* an existing "checkpoint" file, absolute path */

static const char *write_yaml(const char *name, const char *text) {
  static char path[512];
  snprintf(path, sizeof path, "%s/%s", test_tmpdir(), name);
  FILE *f = fopen(path, "w");
  if (!f) return NULL;
  fputs(text, f);
  fclose(f);
  return path;
}

/* Replace every "@CKPT@" in text by g_ckpt (into a static buffer). */
static const char *with_ckpt(const char *text) {
  static char out[8192];
  size_t n = 0;
  for (const char *p = text; *p && n < sizeof out - 600;) {
    if (!strncmp(p, "@CKPT@", 6)) {
      n += (size_t)snprintf(out + n, sizeof out - n, "%s", g_ckpt);
      p += 6;
    } else {
      out[n++] = *p++;
    }
  }
  out[n] = 0;
  return out;
}

/* "line:col" (1-based) of the first occurrence of needle in text, nth (0-based) occurrence. */
static const char *pos_of(const char *text, const char *needle, int nth) {
  static char buf[4][32];
  static int slot;
  char *out = buf[slot++ % 4];
  const char *hit = strstr(text, needle);
  for (int i = 0; hit && i < nth; i++) hit = strstr(hit + 1, needle);
  if (!hit) {
    snprintf(out, 32, "(no '%s')", needle);
    return out;
  }
  int line = 1, col = 1;
  for (const char *p = text; p < hit; p++) {
    if (*p == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  snprintf(out, 32, "%d:%d", line, col);
  return out;
}

/* Loading text must fail with LBBT_E_INPUT and a message holding "<file>:<where>:" and each
 * of the given fragments (NULL-terminated). */
#define EXPECT_ERROR(name, text, tier, where, ...) expect_error_(__FILE__, __LINE__, name, text, tier, where, __VA_ARGS__, NULL)
static void expect_error_(const char *file, int line, const char *name, const char *text, const char *tier,
                          const char *where, ...) {
  const char *path = write_yaml(name, text);
  if (!path) {
    test_fail_(file, line, "cannot write %s", name);
    return;
  }
  lbbt_experiment *e = (lbbt_experiment *)1;
  lbbt_clear_error();
  lbbt_status st = lbbt_experiment_load(path, tier, &e);
  if (st != LBBT_E_INPUT) {
    test_fail_(file, line, "%s: status %s, want bad input (%s)", name, lbbt_status_name(st), lbbt_last_error());
    if (st == LBBT_OK) lbbt_experiment_free(e);
    return;
  }
  if (e) test_fail_(file, line, "%s: *out not NULL on failure", name);
  const char *msg = lbbt_last_error();
  char prefix[600];
  snprintf(prefix, sizeof prefix, "%s:%s:", path, where);
  if (where && strncmp(msg, prefix, strlen(prefix)))
    test_fail_(file, line, "%s: message does not start with '%s': %s", name, prefix, msg);
  va_list ap;
  va_start(ap, where);
  for (const char *frag; (frag = va_arg(ap, const char *));)
    if (!strstr(msg, frag)) test_fail_(file, line, "%s: message lacks '%s': %s", name, frag, msg);
  va_end(ap);
}

static lbbt_experiment *load_ok_(const char *file, int line, const char *name, const char *text, const char *tier) {
  const char *path = write_yaml(name, text);
  lbbt_experiment *e = NULL;
  if (!path || lbbt_experiment_load(path, tier, &e) != LBBT_OK) {
    test_fail_(file, line, "%s: load failed: %s", name, lbbt_last_error());
    return NULL;
  }
  return e;
}
#define LOAD_OK(name, text, tier) load_ok_(__FILE__, __LINE__, name, text, tier)

static const char *BASE_FILE =
    "experiment: table-4\n"
    "description: \"init x label ratio\"\n"
    "paper: {table: 4, cells: \"rows 1-2\"}\n"
    "base:\n"
    "  seed: 0\n"
    "  backbone:\n"
    "    plugin: llama\n"
    "    checkpoint: @CKPT@\n"
    "    init: language\n"
    "    options: {dim: 64, n_layers: 5}\n"
    "  data: {dataset: fashion-mnist, limit: 2000, test_limit: 1000}\n"
    "  stages:\n"
    "    - name: bridge\n"
    "      task: classification\n"
    "      labels: random\n"
    "      label_ratio: 1.0\n"
    "      epochs: 10\n"
    "      lr: 1e-3\n"
    "    - {name: probe, task: linear-probe, epochs: 20, train_layers: none}\n"
    "matrix:\n"
    "  backbone.init: [scratch, language]\n"
    "  stages.bridge.label_ratio: [0.15, 0.3, 1.0]\n"
    "tiers:\n"
    "  smoke:\n"
    "    base: {data: {limit: 200}, stages: {bridge: {epochs: 1}}, backbone: {options: {dim: null}}}\n"
    "    matrix: {stages.bridge.label_ratio: [0.5]}\n"
    "  cpu: {}\n"
    "  paper:\n"
    "    base: {data: {dataset: cifar10, limit: null}}\n"
    "    matrix: {seed: [0, 1]}\n";

/* The same experiment with keys in other orders, other spacing, block instead of flow
 * style, numbers spelled differently and defaults written out: the same resolved runs. */
static const char *BASE_FILE_REORDERED =
    "tiers:\n"
    "  cpu:\n"
    "matrix:\n"
    "  backbone.init:\n"
    "    - scratch\n"
    "    - language\n"
    "  stages.bridge.label_ratio: [1.5e-1, 0.30, 1]\n"
    "base:\n"
    "  stages:\n"
    "    - {lr: 0.001, epochs: 10, label_ratio: 1, labels: random, task: classification, name: bridge}\n"
    "    - name: probe\n"
    "      train_layers: none\n"
    "      epochs: 20\n"
    "      batch_size: 64\n"
    "      task: linear-probe\n"
    "  data:   {test_limit: 1000,   limit: 2000, dataset: fashion-mnist}\n"
    "  backbone: {options: {n_layers: 5, dim: 64.0}, init: language, checkpoint: '@CKPT@', plugin: llama}\n"
    "  seed: 0\n"
    "experiment: table-4\n";

/* ---- valid files ----------------------------------------------------------------------- */

static void test_spec_matrix_expands_in_order(void) {
  lbbt_experiment *e = LOAD_OK("valid.yaml", with_ckpt(BASE_FILE), NULL);
  REQUIRE(e, "load");
  REQUIRE(e->n_runs == 6, "n_runs %d, want 6", e->n_runs);
  CHECK(!strcmp(e->name, "table-4"), "name %s", e->name);
  CHECK(!strcmp(e->description, "init x label ratio"), "description %s", e->description);
  CHECK(e->paper_table == 4 && e->paper_figure == 0, "paper %d %d", e->paper_table, e->paper_figure);
  CHECK(!strcmp(e->paper_cells, "rows 1-2"), "cells %s", e->paper_cells);
  CHECK(!strcmp(e->tier, "cpu"), "default tier %s", e->tier);
  CHECK(e->n_tiers == 3 && !strcmp(e->tiers[0], "smoke") && !strcmp(e->tiers[2], "paper"), "tiers");
  /* last key fastest: (scratch, .15) (scratch, .3) (scratch, 1) (language, .15) ... */
  static const double ratios[3] = {0.15, 0.3, 1.0};
  for (int i = 0; i < 6; i++) {
    const lbbt_run_spec *r = &e->runs[i];
    lbbt_init_mode want_init = i < 3 ? LBBT_INIT_SCRATCH : LBBT_INIT_LANGUAGE;
    CHECK(r->backbone.init == want_init, "run %d init %d", i, r->backbone.init);
    CHECK_CLOSE(stage_number(r, "bridge", "label_ratio"), ratios[i % 3], EXACT, EXACT, "label_ratio");
    CHECK(r->index == i, "index");
    CHECK(r->n_matrix == 2 && !strcmp(r->matrix_keys[0], "backbone.init") &&
              !strcmp(r->matrix_keys[1], "stages.bridge.label_ratio"), "matrix keys");
    CHECK(strlen(r->id) == 16 && strspn(r->id, "0123456789abcdef") == 16, "id '%s'", r->id);
    for (int j = 0; j < i; j++) CHECK(strcmp(r->id, e->runs[j].id), "runs %d and %d share id %s", i, j, r->id);
  }
  CHECK(!strcmp(e->runs[0].label, "backbone.init=scratch stages.bridge.label_ratio=0.15"), "label '%s'",
        e->runs[0].label);
  CHECK(!strcmp(e->runs[5].label, "backbone.init=language stages.bridge.label_ratio=1.0"), "label '%s'",
        e->runs[5].label);
  /* Values and defaults */
  const lbbt_run_spec *r = &e->runs[4];
  CHECK(!strcmp(r->backbone.plugin, "llama") && !strcmp(r->backbone.checkpoint, g_ckpt), "backbone");
  CHECK(r->backbone.patch_size == 4 && r->backbone.pool == LBBT_POOL_MEAN &&
            r->backbone.attention == LBBT_ATTN_DEFAULT, "backbone defaults");
  CHECK(r->data.limit == 2000 && r->data.test_limit == 1000 && !strcmp(r->data.dataset, "fashion-mnist") &&
            r->data.flip == 0 && r->data.root[0] == 0, "data");
  CHECK(r->n_stages == 2 && !strcmp(r->stages[1].name, "probe"), "stages");
  const lbbt_stage_spec *s = &r->stages[0];
  CHECK(!strcmp(stage_value(r, "bridge", "labels"), "random") && s->epochs == 10 && s->batch_size == 64,
        "stage ints");
  CHECK_CLOSE(s->lr, 1e-3, EXACT, EXACT, "lr");
  CHECK_CLOSE(s->weight_decay, 0.05, EXACT, EXACT, "weight_decay");
  CHECK_CLOSE(s->drop_path, 0.1, EXACT, EXACT, "drop_path");
  CHECK_CLOSE(s->clip, 1.0, EXACT, EXACT, "clip");
  CHECK_CLOSE(s->momentum, 0.9, EXACT, EXACT, "momentum");
  CHECK(s->optimizer == LBBT_OPT_ADAMW && s->train_layers.select == LBBT_LAYERS_ALL && s->train_embed == 1 &&
            s->train_head == 1 && !strcmp(stage_value(r, "bridge", "lr_sweep"), "\"\""), "stage defaults");
  CHECK(r->stages[1].train_layers.select == LBBT_LAYERS_NONE, "probe layers");
  CHECK(r->backbone.n_options == 2, "options %d", r->backbone.n_options);
  const lbbt_option *dim = lbbt_option_find(r->backbone.options, r->backbone.n_options, "dim");
  CHECK(dim && !strcmp(dim->value, "64") && dim->line == 10, "option dim");
  CHECK(!lbbt_option_find(r->backbone.options, r->backbone.n_options, "heads"), "absent option found");
  /* Canonical text: normalised numbers, sorted options, paths as written */
  CHECK(strstr(r->config_yaml, "    label_ratio: 0.3\n") && strstr(r->config_yaml, "    lr: 0.001\n"), "%s",
        r->config_yaml);
  CHECK(strstr(r->config_yaml, "  options:\n    dim: 64\n    n_layers: 5\n"), "options text");
  /* Provenance: the file verbatim and its hash */
  const char *text = with_ckpt(BASE_FILE);
  CHECK(!strcmp(e->yaml_text, text), "yaml_text is not the file verbatim");
  char hex[65];
  lbbt_sha256_hex(text, strlen(text), hex);
  CHECK(!strcmp(e->sha256, hex), "sha256 %s, want %s", e->sha256, hex);
  lbbt_experiment_free(e);
}

static void test_spec_ids_stable_and_sensitive(void) {
  char a_text[8192];
  snprintf(a_text, sizeof a_text, "%s", with_ckpt(BASE_FILE));
  lbbt_experiment *a = LOAD_OK("ids-a.yaml", a_text, "cpu");
  lbbt_experiment *b = LOAD_OK("ids-b.yaml", with_ckpt(BASE_FILE_REORDERED), "cpu");
  /* one value changed: the bridge stage's learning rate */
  char changed[8192];
  snprintf(changed, sizeof changed, "%s", a_text);
  char *lr = strstr(changed, "lr: 1e-3");
  REQUIRE(lr, "fixture");
  memcpy(lr, "lr: 2e-3", 8);
  lbbt_experiment *c = LOAD_OK("ids-c.yaml", changed, "cpu");
  REQUIRE(a && b && c, "load");
  REQUIRE(a->n_runs == b->n_runs && a->n_runs == c->n_runs, "run counts");
  for (int i = 0; i < a->n_runs; i++) {
    CHECK(!strcmp(a->runs[i].id, b->runs[i].id), "run %d: id %s vs %s after reordering", i, a->runs[i].id,
          b->runs[i].id);
    CHECK(!strcmp(a->runs[i].config_yaml, b->runs[i].config_yaml), "run %d: canonical text differs", i);
    CHECK(strcmp(a->runs[i].id, c->runs[i].id), "run %d: id unchanged after a value changed", i);
  }
  lbbt_experiment_free(a);
  lbbt_experiment_free(b);
  lbbt_experiment_free(c);
}

static void test_spec_tiers_override(void) {
  const char *text = with_ckpt(BASE_FILE);
  lbbt_experiment *smoke = LOAD_OK("tiers.yaml", text, "smoke");
  REQUIRE(smoke, "smoke");
  CHECK(smoke->n_runs == 2, "smoke runs %d (2 inits x 1 ratio)", smoke->n_runs);
  CHECK(!strcmp(smoke->tier, "smoke"), "tier");
  for (int i = 0; i < smoke->n_runs; i++) {
    const lbbt_run_spec *r = &smoke->runs[i];
    CHECK(r->data.limit == 200 && r->data.test_limit == 1000, "deep merge of data: %d %d", r->data.limit,
          r->data.test_limit);
    CHECK(r->stages[0].epochs == 1 && r->stages[1].epochs == 20, "stage override by name");
    CHECK_CLOSE(stage_number(r, "bridge", "label_ratio"), 0.5, EXACT, EXACT, "matrix override");
    CHECK(r->backbone.n_options == 1 && !strcmp(r->backbone.options[0].key, "n_layers"), "null option removed");
  }
  lbbt_experiment_free(smoke);
  lbbt_experiment *paper = LOAD_OK("tiers.yaml", text, "paper");
  REQUIRE(paper, "paper");
  CHECK(paper->n_runs == 12, "paper runs %d (2 x 3 x 2 seeds)", paper->n_runs);
  CHECK(!strcmp(paper->runs[0].data.dataset, "cifar10") && paper->runs[0].data.limit == 0,
        "paper data %s limit %d (null = default)", paper->runs[0].data.dataset, paper->runs[0].data.limit);
  CHECK(paper->runs[0].seed == 0 && paper->runs[1].seed == 1, "seed is the last matrix key, so fastest");
  CHECK(!strcmp(paper->runs[1].label, "backbone.init=scratch stages.bridge.label_ratio=0.15 seed=1"), "label %s",
        paper->runs[1].label);
  lbbt_experiment_free(paper);
  EXPECT_ERROR("tiers.yaml", text, "gpu", pos_of(text, "smoke:", 0), "unknown tier 'gpu'",
               "tiers in this file: smoke, cpu, paper");
}

static void test_spec_tier_replaces_stage_list(void) {
  const char *text =
      "base:\n"
      "  backbone: {plugin: gpt2}\n"
      "  data: {dataset: fashion-mnist}\n"
      "  stages: [{name: a, task: classification, epochs: 3}, {name: b, analysis: outliers}]\n"
      "tiers:\n"
      "  cpu: {base: {stages: [{name: c, task: linear-probe, epochs: 1}]}}\n";
  lbbt_experiment *e = LOAD_OK("replace.yaml", text, NULL);
  REQUIRE(e, "load");
  CHECK(e->n_runs == 1 && e->runs[0].n_stages == 1 && !strcmp(e->runs[0].stages[0].name, "c"), "stages replaced");
  CHECK(!strcmp(e->name, "replace"), "default name from the file: %s", e->name);
  CHECK(e->runs[0].label[0] == 0 && e->runs[0].n_matrix == 0, "no matrix");
  lbbt_experiment_free(e);
}

static void test_spec_models_prefix_and_matrix_values(void) {
  const char *old = getenv("LBBT_MODELS");
  char saved[512] = "";
  if (old) snprintf(saved, sizeof saved, "%s", old);
  setenv("LBBT_MODELS", test_tmpdir(), 1);
  const char *text =
      "base:\n"
      "  backbone: {plugin: llama, checkpoint: models:ckpt.bin, init: language}\n"
      "  data: {dataset: fashion-mnist}\n"
      "  stages: [{name: fit, task: classification, epochs: 1, options: {sweep_epochs: 1}}]\n"
      "matrix:\n"
      "  backbone.options.dim: [32, 64]\n"
      "  stages.fit: [{lr: 0.1, options: {sweep_holdout: 0.5}}]\n"
      "  data: [{limit: 10}]\n";
  lbbt_experiment *e = LOAD_OK("models.yaml", text, NULL);
  if (old) setenv("LBBT_MODELS", saved, 1);
  else unsetenv("LBBT_MODELS");
  REQUIRE(e, "load");
  REQUIRE(e->n_runs == 2, "runs %d", e->n_runs);
  const lbbt_run_spec *r = &e->runs[1];
  CHECK(!strcmp(r->backbone.checkpoint, g_ckpt), "checkpoint resolved to %s, want %s", r->backbone.checkpoint, g_ckpt);
  CHECK(strstr(r->config_yaml, "checkpoint: models:ckpt.bin\n"), "canonical text keeps the path as written");
  const lbbt_option *dim = lbbt_option_find(r->backbone.options, r->backbone.n_options, "dim");
  CHECK(dim && !strcmp(dim->value, "64"), "matrix into options");
  CHECK_CLOSE(r->stages[0].lr, 0.1, EXACT, EXACT, "a mapping value merges into the stage");
  CHECK(r->stages[0].n_options == 2, "stage options merged: %d", r->stages[0].n_options);
  CHECK(r->data.limit == 10 && !strcmp(r->data.dataset, "fashion-mnist"), "mapping merged into data");
  CHECK(!strcmp(r->label, "backbone.options.dim=64 stages.fit={lr: 0.1, options: {sweep_holdout: 0.5}} data={limit: 10}"),
        "label %s", r->label);
  lbbt_experiment_free(e);
}

static void test_spec_anchors_and_merge_keys(void) {
  const char *text =
      "base:\n"
      "  backbone: {plugin: gpt2}\n"
      "  data: {dataset: fashion-mnist}\n"
      "  stages:\n"
      "    - &train {name: a, task: classification, epochs: 2, lr: 0.01}\n"
      "    - {<<: *train, name: b, lr: 0.02}\n";
  lbbt_experiment *e = LOAD_OK("anchors.yaml", text, NULL);
  REQUIRE(e, "load");
  const lbbt_stage_spec *b = &e->runs[0].stages[1];
  CHECK(!strcmp(b->name, "b") && b->epochs == 2 && !strcmp(b->task, "classification"), "merged keys");
  CHECK_CLOSE(b->lr, 0.02, EXACT, EXACT, "explicit key wins over the merge key");
  lbbt_experiment_free(e);
}

static void test_spec_skip_file_checks(void) {
  const char *text =
      "base:\n"
      "  backbone: {plugin: gpt2, checkpoint: /no/such/file.bin, init: language}\n"
      "  data: {dataset: cifar10, root: /no/such/folder}\n"
      "  stages: [{name: a, task: classification, epochs: 1}]\n";
  const char *path = write_yaml("skip.yaml", text);
  lbbt_experiment *e = NULL;
  REQUIRE(lbbt_experiment_load_flags(path, "cpu", LBBT_SPEC_SKIP_FILE_CHECKS, &e) == LBBT_OK, "%s",
          lbbt_last_error());
  CHECK(!strcmp(e->runs[0].backbone.checkpoint, "/no/such/file.bin"), "checkpoint kept");
  lbbt_experiment_free(e);
  EXPECT_ERROR("skip.yaml", text, NULL, pos_of(text, "/no/such/file.bin", 0), "backbone.checkpoint",
               "'/no/such/file.bin' does not exist");
}

/* ---- errors ---------------------------------------------------------------------------- */

/* A minimal valid file with a hole to fill: one stage, with extra text spliced in. */
static const char *file_with(const char *backbone_extra, const char *data_extra, const char *stage_extra,
                             const char *tail) {
  static char buf[4096];
  snprintf(buf, sizeof buf,
           "experiment: errors\n"
           "base:\n"
           "  backbone: {plugin: llama, checkpoint: %s%s}\n"
           "  data: {dataset: fashion-mnist%s}\n"
           "  stages:\n"
           "    - name: bridge\n"
           "      task: classification\n"
           "      epochs: 3\n"
           "%s"
           "%s",
           g_ckpt, backbone_extra, data_extra, stage_extra, tail);
  return buf;
}

static void test_spec_error_malformed_yaml(void) {
  const char *text = "base:\n  backbone: {plugin: llama\n  data: x\n";
  EXPECT_ERROR("malformed.yaml", text, NULL, NULL, "malformed YAML", "flow mapping", "line 2, column 13");
  const char *tabs = "base:\n\tbackbone: 1\n";
  EXPECT_ERROR("tabs.yaml", tabs, NULL, "2:1", "malformed YAML");
  EXPECT_ERROR("empty.yaml", "# nothing\n", NULL, "1:1", "holds no YAML");
  const char *two = "base: {}\n---\nbase: {}\n";
  EXPECT_ERROR("two.yaml", two, NULL, "3:1", "second YAML document");
  const char *dup = "experiment: a\nexperiment: b\n";
  EXPECT_ERROR("dupkey.yaml", dup, NULL, "2:1", "duplicate key 'experiment' (first written at line 1, column 1)");
  EXPECT_ERROR("list.yaml", "- a\n- b\n", NULL, "1:1", "an experiment file is a mapping");
  lbbt_experiment *e = (lbbt_experiment *)1;
  CHECK(lbbt_experiment_load("/no/such/experiment.yaml", NULL, &e) == LBBT_E_INPUT && !e, "missing file");
  CHECK(strstr(lbbt_last_error(), "/no/such/experiment.yaml: cannot open"), "%s", lbbt_last_error());
}

static void test_spec_error_unknown_keys(void) {
  const char *t1 = file_with("", "", "      epoch: 4\n", "");
  EXPECT_ERROR("unknown1.yaml", t1, NULL, pos_of(t1, "epoch: 4", 0),
               "unknown key 'epoch' in stage 'bridge'; did you mean 'epochs'?");
  const char *t2 = file_with(", chekpoint: x", "", "", "");
  EXPECT_ERROR("unknown2.yaml", t2, NULL, pos_of(t2, "chekpoint", 0),
               "unknown key 'chekpoint' in backbone; did you mean 'checkpoint'?");
  const char *t3 = file_with("", ", xyz: 1", "", "");
  EXPECT_ERROR("unknown3.yaml", t3, NULL, pos_of(t3, "xyz", 0), "unknown key 'xyz' in data; valid keys: dataset, root");
  const char *t4 = file_with("", "", "", "matirx: {}\n");
  EXPECT_ERROR("unknown4.yaml", t4, NULL, pos_of(t4, "matirx", 0), "did you mean 'matrix'?");
  const char *t5 = file_with("", "", "", "tiers: {smoke: {bsae: {}}}\n");
  EXPECT_ERROR("unknown5.yaml", t5, NULL, pos_of(t5, "bsae", 0), "unknown key 'bsae' in tier 'smoke'",
               "did you mean 'base'?");
  const char *t6 = file_with("", "", "      lables: random\n", "");
  EXPECT_ERROR("unknown6.yaml", t6, NULL, pos_of(t6, "lables", 0), "did you mean 'labels'?");
}

static void test_spec_error_types_and_ranges(void) {
  const char *t1 = file_with("", "", "      lr: abc\n", "");
  EXPECT_ERROR("type1.yaml", t1, NULL, pos_of(t1, "abc", 0), "stages.bridge.lr: expected a number, got 'abc'");
  const char *t2 = file_with("", ", limit: 1.5", "", "");
  EXPECT_ERROR("type2.yaml", t2, NULL, pos_of(t2, "1.5", 0), "data.limit: expected an integer, got '1.5'");
  const char *t3 = file_with("", "", "      label_ratio: 1.5\n", "");
  EXPECT_ERROR("range1.yaml", t3, NULL, pos_of(t3, "1.5", 0), "label_ratio: 1.5 is out of range (allowed: from 0 to 1)");
  const char *t5 = file_with(", init: langauge", "", "", "");
  EXPECT_ERROR("enum1.yaml", t5, NULL, pos_of(t5, "langauge", 0),
               "backbone.init: 'langauge' is not one of scratch, language, shuffled, moment-matched, scratch-rescaled",
               "did you mean 'language'?");
  const char *t6 = file_with("", ", flip: maybe", "", "");
  EXPECT_ERROR("bool.yaml", t6, NULL, pos_of(t6, "maybe", 0), "data.flip: expected true or false, got 'maybe'");
  const char *t7 = file_with("", "", "      train_layers: frist:3\n", "");
  EXPECT_ERROR("layers.yaml", t7, NULL, pos_of(t7, "frist", 0), "stages.bridge.train_layers: bad layer range 'frist:3'");
  const char *t8 = file_with("", "", "      batch_size: [1, 2]\n", "");
  EXPECT_ERROR("list-for-int.yaml", t8, NULL, pos_of(t8, "[1, 2]", 0),
               "stages.bridge.batch_size: expected an integer, got a list");
  const char *t9 = file_with(", patch_size: [1, 2]", "", "", "");
  EXPECT_ERROR("type3.yaml", t9, NULL, pos_of(t9, "[1, 2]", 0), "backbone.patch_size: expected an integer, got a list");
  const char *t10 = "base:\n  seed: -1\n  backbone: {plugin: x}\n  data: {dataset: y}\n  stages: [{name: a, analysis: z}]\n";
  EXPECT_ERROR("seed.yaml", t10, NULL, "2:9", "seed: expected a non-negative integer, got '-1'");
  const char *t11 = file_with("", "", "      lr_sweep: per-ram\n", "");
  EXPECT_ERROR("choice.yaml", t11, NULL, pos_of(t11, "per-ram", 0), "did you mean 'per-arm'?");
  const char *t12 = file_with("", "", "      name: again\n", "");
  EXPECT_ERROR("dupkey-in-stage.yaml", t12, NULL, pos_of(t12, "name: again", 0),
               "duplicate key 'name' (first written at line 6, column 7)");
}

static void test_spec_error_range_positions(void) {
  /* lr: 0 is outside lr > 0; the error points at the value */
  const char *t = file_with("", "", "      lr: 0\n", "");
  char where[32];
  snprintf(where, sizeof where, "%s", pos_of(t, "lr: 0", 0));
  int line, col;
  REQUIRE(sscanf(where, "%d:%d", &line, &col) == 2, "pos");
  snprintf(where, sizeof where, "%d:%d", line, col + 4);
  EXPECT_ERROR("range3.yaml", t, NULL, where, "stages.bridge.lr: 0 is out of range (allowed: greater than 0)");
  const char *n = "experiment: has.dot\nbase: {backbone: {plugin: x}, data: {dataset: y}, stages: [{name: a, analysis: z}]}\n";
  EXPECT_ERROR("ident2.yaml", n, NULL, "1:13", "experiment: 'has.dot' is not a valid name");
}

static void test_spec_error_missing_required(void) {
  /* backbone and data (and their plugin and dataset) are optional in the schema: whether a
   * run needs them is the stages' plugins' declaration, checked by lbbt_experiment_check_plugins
   * (tests/cli/spec.sh: a classification stage without data) */
  const char *t1 = "base:\n  backbone: {plugin: llama}\n  data: {limit: 5}\n  stages: [{name: a, task: t, epochs: 1}]\n";
  lbbt_experiment *e1 = LOAD_OK("nodataset.yaml", t1, NULL);
  if (e1) {
    CHECK(e1->runs[0].data.dataset[0] == 0, "data.dataset absent: empty");
    lbbt_experiment_free(e1);
  }
  const char *t0 = "base:\n  stages: [{name: a, task: t, epochs: 1}]\n";
  lbbt_experiment *e0 = LOAD_OK("nobackbone.yaml", t0, NULL);
  if (e0) {
    CHECK(e0->runs[0].backbone.plugin[0] == 0 && e0->runs[0].data.dataset[0] == 0, "no backbone, no data: empty");
    lbbt_experiment_free(e0);
  }
  const char *t2 = "base:\n  backbone: {plugin: llama}\n  data: {dataset: d}\n  stages: [{task: t, epochs: 1}]\n";
  EXPECT_ERROR("missing2.yaml", t2, NULL, "4:12", "missing required key 'name' in stage 1");
  const char *t3 = "base:\n  backbone: {plugin: llama}\n  data: {dataset: d}\n  stages: [{name: a, task: t}]\n";
  EXPECT_ERROR("missing3.yaml", t3, NULL, "4:12", "missing required key 'epochs' in stage 'a'");
  const char *t4 = "experiment: x\n";
  EXPECT_ERROR("missing4.yaml", t4, NULL, "1:1", "missing required key 'base' in the top-level mapping");
  const char *t6 = "base:\n  backbone: {plugin: llama}\n  data: {dataset: d}\n  stages: []\n";
  EXPECT_ERROR("missing6.yaml", t6, NULL, "4:11", "a run needs at least one stage");
  const char *t8 = "base:\n  backbone: {plugin: llama}\n  data: {dataset: d}\n  stages: [{name: a, task: t, analysis: o, epochs: 1}]\n";
  EXPECT_ERROR("both.yaml", t8, NULL, "4:12", "stage 'a' needs exactly one of 'task'", "not both");
  const char *t9 = "base:\n  backbone: {plugin: llama, init: shuffled}\n  data: {dataset: d}\n  stages: [{name: a, analysis: o}]\n";
  EXPECT_ERROR("nockpt.yaml", t9, NULL, "2:35", "backbone.init 'shuffled' starts from pretrained weights",
               "backbone.checkpoint is not set");
}

static void test_spec_error_matrix(void) {
  const char *t1 = file_with("", "", "", "matrix:\n  backbone.int: [scratch]\n");
  EXPECT_ERROR("matrix1.yaml", t1, NULL, pos_of(t1, "backbone.int", 0),
               "matrix key 'backbone.int': 'int' is not a key of backbone; did you mean 'init'?");
  const char *t2 = file_with("", "", "", "matrix:\n  stages.brige.lr: [0.1]\n");
  EXPECT_ERROR("matrix2.yaml", t2, NULL, pos_of(t2, "stages.brige", 0), "no stage named 'brige' in base.stages",
               "(stages: bridge)", "did you mean 'bridge'?");
  const char *t3 = file_with("", "", "", "matrix:\n  seed.x: [1]\n");
  EXPECT_ERROR("matrix3.yaml", t3, NULL, pos_of(t3, "seed.x", 0), "'seed' is a single value in base");
  const char *t4 = file_with("", "", "", "matrix:\n  seed: []\n");
  EXPECT_ERROR("matrix4.yaml", t4, NULL, pos_of(t4, "[]", 0), "matrix key 'seed' has no values");
  const char *t5 = file_with("", "", "", "matrix:\n  seed: 3\n");
  EXPECT_ERROR("matrix5.yaml", t5, NULL, pos_of(t5, "3\n", 1), "expected a list of values");
  const char *t6 = file_with("", "", "", "matrix:\n  seed: [0, 1, 0]\n");
  EXPECT_ERROR("matrix6.yaml", t6, NULL, pos_of(t6, "0]", 0), "runs 1 (seed=0) and 3 (seed=0) resolve to the same config");
  const char *t7 = file_with("", "", "", "matrix:\n  stages.bridge.lr: [0.1, abc]\n");
  EXPECT_ERROR("matrix7.yaml", t7, NULL, pos_of(t7, "abc", 0), "expected a number, got 'abc'",
               "[run 2 of 2: stages.bridge.lr=abc]");
  const char *t8 = file_with("", "", "", "matrix:\n  seeds: [1]\n");
  EXPECT_ERROR("matrix8.yaml", t8, NULL, pos_of(t8, "seeds", 0), "'seeds' is not a key of base; did you mean 'seed'?");
  const char *t9 = file_with("", "", "", "matrix:\n  a..b: [1]\n");
  EXPECT_ERROR("matrix9.yaml", t9, NULL, pos_of(t9, "a..b", 0), "not a dotted path");
  const char *t10 = file_with("", "", "", "tiers: {smoke: {base: {stages: {brdge: {epochs: 1}}}}}\n");
  EXPECT_ERROR("tierstage.yaml", t10, "smoke", pos_of(t10, "brdge", 0), "tier 'smoke' overrides stage 'brdge'",
               "did you mean 'bridge'?");
  const char *t11 = file_with("", "", "", "");
  EXPECT_ERROR("notier.yaml", t11, "smoke", "1:1", "this file declares no tiers");
}

static void test_spec_error_stages_and_files(void) {
  const char *t1 = file_with("", "", "    - {name: bridge, analysis: outliers}\n", "");
  EXPECT_ERROR("dupstage.yaml", t1, NULL, pos_of(t1, "bridge", 1),
               "duplicate stage name 'bridge' (first used at line 6, column 13)");
  const char *t2 = "base:\n  backbone: {plugin: llama,\n    checkpoint: /no/such/ckpt.bin}\n  data: {dataset: d}\n"
                   "  stages: [{name: a, analysis: o}]\n";
  EXPECT_ERROR("nofile.yaml", t2, NULL, "3:17", "backbone.checkpoint: '/no/such/ckpt.bin' does not exist");
  const char *t3 = file_with("", ", root: no/such/dir", "", "");
  EXPECT_ERROR("noroot.yaml", t3, NULL, pos_of(t3, "no/such/dir", 0), "data.root: 'no/such/dir' does not exist",
               "relative to the current directory");
  const char *t4 = "base:\n  backbone: {plugin: llama, checkpoint: models:no-such-model.bin}\n  data: {dataset: d}\n"
                   "  stages: [{name: a, analysis: o}]\n";
  EXPECT_ERROR("nomodel.yaml", t4, NULL, "2:41", "no-such-model.bin' does not exist", "$LBBT_MODELS");
  const char *t5 = file_with("", "", "    - {name: b.c, analysis: outliers}\n", "");
  EXPECT_ERROR("stagename.yaml", t5, NULL, pos_of(t5, "b.c", 0), "'b.c' is not a valid name");
}

/* ---- groups ----------------------------------------------------------------------------- */

/* BASE_FILE's matrix plus two groups: a gpt2 pair (a mapping item merged into backbone) and
 * one more learning rate; the tiers replace or drop the list. */
static const char *GROUPS_TAIL =
    "groups:\n"
    "  - backbone: [{plugin: gpt2, checkpoint: @CKPT@, options: {dim: null, n_layers: null, n_embd: 32}}]\n"
    "    backbone.init: [scratch, language]\n"
    "    seed: [0, 1]\n"
    "  - {stages.bridge.lr: [0.01]}\n";

static void test_spec_groups_add_runs(void) {
  char plain[8192], grouped[8192];
  snprintf(plain, sizeof plain, "%s", with_ckpt(BASE_FILE));
  /* the same file with groups: written before `tiers:` so the tier overrides stay below */
  const char *tiers_at = strstr(plain, "tiers:\n");
  REQUIRE(tiers_at, "fixture");
  int head = (int)(tiers_at - plain);
  char tail[1024];
  snprintf(tail, sizeof tail, "%s", with_ckpt(GROUPS_TAIL));
  snprintf(grouped, sizeof grouped, "%.*s%s%s", head, plain, tail, tiers_at);
  lbbt_experiment *a = LOAD_OK("nogroups.yaml", plain, "cpu");
  lbbt_experiment *b = LOAD_OK("groups.yaml", grouped, "cpu");
  REQUIRE(a && b, "load");
  REQUIRE(a->n_runs == 6 && b->n_runs == 6 + 4 + 1, "runs %d and %d, want 6 and 11", a->n_runs, b->n_runs);
  /* the matrix's runs come first and keep their ids: existing results stay valid */
  for (int i = 0; i < a->n_runs; i++)
    CHECK(!strcmp(a->runs[i].id, b->runs[i].id) && !strcmp(a->runs[i].label, b->runs[i].label),
          "run %d: %s %s vs %s %s", i, a->runs[i].id, a->runs[i].label, b->runs[i].id, b->runs[i].label);
  /* groups[1]: crossed only with itself (no label_ratio axis: base's 1.0), last key fastest */
  for (int k = 0; k < 4; k++) {
    const lbbt_run_spec *r = &b->runs[6 + k];
    CHECK(r->index == 6 + k, "index %d", r->index);
    CHECK(!strcmp(r->backbone.plugin, "gpt2") && !strcmp(r->backbone.checkpoint, g_ckpt), "plugin %s",
          r->backbone.plugin);
    CHECK(r->backbone.init == (k < 2 ? LBBT_INIT_SCRATCH : LBBT_INIT_LANGUAGE), "run %d init", 6 + k);
    CHECK(r->seed == (uint64_t)(k % 2), "run %d seed %llu", 6 + k, (unsigned long long)r->seed);
    CHECK_CLOSE(stage_number(r, "bridge", "label_ratio"), 1.0, EXACT, EXACT, "label_ratio from base");
    CHECK(r->n_matrix == 3 && !strcmp(r->matrix_keys[0], "backbone"), "matrix keys of a group run");
    /* merged into base's options: the nulls drop llama's keys (gpt2 does not know them) */
    const lbbt_option *embd = lbbt_option_find(r->backbone.options, r->backbone.n_options, "n_embd");
    CHECK(r->backbone.n_options == 1 && embd && !strcmp(embd->value, "32"), "merged options: %d",
          r->backbone.n_options);
  }
  CHECK(strstr(b->runs[6].label, "backbone={plugin: gpt2") && strstr(b->runs[6].label, "backbone.init=scratch seed=0"),
        "label '%s'", b->runs[6].label);
  const lbbt_run_spec *lr = &b->runs[10];
  CHECK(lr->backbone.init == LBBT_INIT_LANGUAGE && !strcmp(lr->backbone.plugin, "llama"), "groups[2] from base");
  CHECK_CLOSE(lr->stages[0].lr, 0.01, EXACT, EXACT, "groups[2] lr");
  CHECK(!strcmp(lr->label, "stages.bridge.lr=0.01"), "label '%s'", lr->label);
  for (int i = 0; i < b->n_runs; i++)
    for (int j = 0; j < i; j++) CHECK(strcmp(b->runs[i].id, b->runs[j].id), "runs %d and %d share an id", i, j);
  /* a tier's matrix does not reach the groups; its base does */
  lbbt_experiment *smoke = LOAD_OK("groups.yaml", grouped, "smoke");
  REQUIRE(smoke, "smoke");
  CHECK(smoke->n_runs == 2 + 4 + 1, "smoke runs %d, want 7", smoke->n_runs);
  CHECK(smoke->runs[2].data.limit == 200 && smoke->runs[2].stages[0].epochs == 1, "tier base in a group run");
  CHECK_CLOSE(stage_number(&smoke->runs[2], "bridge", "label_ratio"), 1.0, EXACT, EXACT,
              "tier matrix not applied to groups");
  lbbt_experiment_free(smoke);
  lbbt_experiment_free(a);
  lbbt_experiment_free(b);

  /* a tier's groups replaces the list; null removes it */
  char replaced[8192];
  snprintf(replaced, sizeof replaced, "%s", grouped);
  char *paper = strstr(replaced, "  paper:\n");
  REQUIRE(paper, "fixture");
  snprintf(paper, sizeof replaced - (size_t)(paper - replaced),
           "  paper:\n    groups: [{seed: [5]}]\n  gpu:\n    groups: null\n");
  lbbt_experiment *p = LOAD_OK("groups-tier.yaml", replaced, "paper");
  lbbt_experiment *g = LOAD_OK("groups-tier.yaml", replaced, "gpu");
  REQUIRE(p && g, "load tiers");
  CHECK(p->n_runs == 7 && p->runs[6].seed == 5 && p->runs[6].backbone.init == LBBT_INIT_LANGUAGE,
        "paper: the tier's one group (%d runs)", p->n_runs);
  CHECK(g->n_runs == 6, "null groups: the matrix alone (%d runs)", g->n_runs);
  lbbt_experiment_free(p);
  lbbt_experiment_free(g);
}

static void test_spec_error_groups(void) {
  const char *t1 = file_with("", "", "", "groups: {seed: [1]}\n");
  EXPECT_ERROR("groups1.yaml", t1, NULL, pos_of(t1, "{seed", 0), "groups: expected a list of matrices");
  const char *t2 = file_with("", "", "", "groups: [[1, 2]]\n");
  EXPECT_ERROR("groups2.yaml", t2, NULL, pos_of(t2, "[1, 2]", 0), "groups[1]: expected a mapping");
  const char *t3 = file_with("", "", "", "groups:\n  - {seed: [1]}\n  - {backbone.int: [scratch]}\n");
  EXPECT_ERROR("groups3.yaml", t3, NULL, pos_of(t3, "backbone.int", 0),
               "groups[2] key 'backbone.int': 'int' is not a key of backbone; did you mean 'init'?");
  const char *t4 = file_with("", "", "", "groups:\n  - {seed: []}\n");
  EXPECT_ERROR("groups4.yaml", t4, NULL, pos_of(t4, "[]", 0), "groups[1] key 'seed' has no values");
  /* a group that repeats a matrix run: both would write one results group */
  const char *t5 = file_with("", "", "", "matrix: {seed: [0, 1]}\ngroups:\n  - {seed: [2]}\n  - {seed: [1]}\n");
  EXPECT_ERROR("groups5.yaml", t5, NULL, pos_of(t5, "{seed: [1]}", 0),
               "run 4 (seed=1) of groups[2] repeats run 2 (seed=1) of matrix");
  const char *t6 = file_with("", "", "", "groups:\n  - {seed: [3, 3]}\n");
  EXPECT_ERROR("groups6.yaml", t6, NULL, pos_of(t6, "3]", 0),
               "runs 2 (seed=3) and 3 (seed=3) of groups[1] resolve to the same config");
  const char *t7 = file_with("", "", "", "groups:\n  - {stages.bridge.lr: [0.1, abc]}\n");
  EXPECT_ERROR("groups7.yaml", t7, NULL, pos_of(t7, "abc", 0), "expected a number, got 'abc'",
               "[run 3 of 3 (groups[1]): stages.bridge.lr=abc]");
  const char *t8 = file_with("", "", "", "tiers:\n  smoke: {groups: 7}\n");
  EXPECT_ERROR("groups8.yaml", t8, "smoke", pos_of(t8, "7}", 0), "tiers.smoke.groups: expected a list");
  char many[4096];
  int n = snprintf(many, sizeof many, "%s", file_with("", "", "", "groups:\n"));
  for (int i = 0; i <= LBBT_MAX_GROUPS; i++) n += snprintf(many + n, sizeof many - (size_t)n, "  - {seed: [%d]}\n", i + 1);
  char last[32];
  snprintf(last, sizeof last, "{seed: [%d]}", LBBT_MAX_GROUPS + 1);
  EXPECT_ERROR("groups9.yaml", many, NULL, pos_of(many, last, 0), "at most 16");
}

/* ---- layer ranges and the reference ------------------------------------------------------ */

static void test_layer_range(void) {
  static const struct {
    const char *text;
    int n_layers;
    const char *selected; /* one char per block */
  } cases[] = {
      {"all", 4, "1111"},    {"none", 4, "0000"},        {"first:1", 4, "1000"}, {"last:2", 5, "00011"},
      {"first:9", 3, "111"}, {"range:1-2", 5, "01100"}, {"range:0-0", 2, "10"},  {"last:5", 5, "11111"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lbbt_layer_range r;
    REQUIRE(lbbt_layer_range_parse(cases[i].text, &r) == LBBT_OK, "%s: %s", cases[i].text, lbbt_last_error());
    for (int l = 0; l < cases[i].n_layers; l++)
      CHECK(lbbt_layer_range_contains(&r, l, cases[i].n_layers) == (cases[i].selected[l] == '1'), "%s block %d",
            cases[i].text, l);
    CHECK(!lbbt_layer_range_contains(&r, -1, cases[i].n_layers) &&
              !lbbt_layer_range_contains(&r, cases[i].n_layers, cases[i].n_layers), "%s: outside", cases[i].text);
    char text[32];
    lbbt_layer_range_format(&r, text, sizeof text);
    CHECK(!strcmp(text, cases[i].text), "format %s -> %s", cases[i].text, text);
  }
  static const char *const bad[] = {"", "ALL", "first:", "first:0", "last:-1", "first:2x", "range:3-1",
                                    "range:1", "range:a-b", "middle:2", "first:9999999", " all"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    lbbt_layer_range r = {LBBT_LAYERS_LAST, 7, 0, 0};
    CHECK(lbbt_layer_range_parse(bad[i], &r) == LBBT_E_INPUT, "'%s' accepted", bad[i]);
    CHECK(r.select == LBBT_LAYERS_LAST && r.k == 7, "'%s': output written on failure", bad[i]);
    CHECK(strstr(lbbt_last_error(), "bad layer range"), "'%s': %s", bad[i], lbbt_last_error());
  }
}

static void test_spec_reference_lists_every_key(void) {
  char path[512];
  snprintf(path, sizeof path, "%s/keys.md", test_tmpdir());
  FILE *f = fopen(path, "w+");
  REQUIRE(f, "tmp");
  lbbt_spec_write_reference(f);
  long n = ftell(f);
  REQUIRE(n > 0, "empty reference");
  char *text = calloc(1, (size_t)n + 1);
  REQUIRE(text, "malloc");
  rewind(f);
  CHECK(fread(text, 1, (size_t)n, f) == (size_t)n, "read");
  fclose(f);
  static const char *const keys[] = {"`experiment`", "`paper.table`", "`tiers.<tier>.matrix`", "`seed`",
                                     "| `groups` | list |", "`tiers.<tier>.groups`",
                                     "`backbone.checkpoint`", "`data.subset_seed`", "`stages.<name>.epochs`",
                                     "`stages.<name>.options`", "| **required** |",
                                     "with task: classification", "`stages.<name>.label_ratio`",
                                     "with analysis: hessian", "`stages.<name>.lanczos_steps`"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) CHECK(strstr(text, keys[i]), "reference lacks %s", keys[i]);
  free(text);
}

/* Plugin keys (options.h): bound with the stage through the plugin's table, written flat or
 * under options: (one setting, one id), checked with file:line:col and suggestions. */
static void test_spec_plugin_keys(void) {
  static const char *const head =
      "base:\n"
      "  backbone: {plugin: llama}\n"
      "  data: {dataset: fashion-mnist}\n"
      "  stages:\n";
  char a[1024], b[1024], c[1024];
  snprintf(a, sizeof a, "%s    - {name: h, analysis: hessian, top_k: 4, options: {slq_steps: 5}}\n", head);
  snprintf(b, sizeof b, "%s    - {name: h, analysis: hessian, options: {top_k: 4.0, slq_steps: 5}}\n", head);
  snprintf(c, sizeof c, "%s    - {name: h, analysis: hessian, options: {top_k: 5, slq_steps: 5}}\n", head);
  lbbt_experiment *ea = LOAD_OK("flat.yaml", a, NULL), *eb = LOAD_OK("nested.yaml", b, NULL);
  lbbt_experiment *ec = LOAD_OK("other.yaml", c, NULL);
  REQUIRE(ea && eb && ec, "load");
  CHECK(!strcmp(ea->runs[0].id, eb->runs[0].id), "flat and options: spellings differ in id: %s vs %s\n%s\n%s",
        ea->runs[0].id, eb->runs[0].id, ea->runs[0].config_yaml, eb->runs[0].config_yaml);
  CHECK(strcmp(ea->runs[0].id, ec->runs[0].id), "a changed plugin key keeps the id");
  CHECK(strstr(ea->runs[0].config_yaml, "    options:\n      slq_steps: 5\n      top_k: 4\n"), "canonical: %s",
        ea->runs[0].config_yaml);
  const lbbt_stage_spec *st = &ea->runs[0].stages[0];
  CHECK(lbbt_stage_options(st) != NULL, "typed options bound");
  CHECK(lbbt_stage_option_written(st, "top_k") && lbbt_stage_option_written(st, "slq_steps") &&
            !lbbt_stage_option_written(st, "chunk"), "written keys");
  /* slots keep today's text for a stage whose plugin does not read the key */
  CHECK(strstr(ea->runs[0].config_yaml, "    labels: true\n    label_ratio: 1\n"), "slot text: %s",
        ea->runs[0].config_yaml);
  lbbt_experiment_free(ea);
  lbbt_experiment_free(eb);
  lbbt_experiment_free(ec);

  char t[1024];
  snprintf(t, sizeof t, "%s    - {name: h, analysis: hessian, options: {top_kk: 4}}\n", head);
  EXPECT_ERROR("pk1.yaml", t, NULL, pos_of(t, "top_kk", 0), "unknown key 'top_kk'", "analysis 'hessian'",
               "did you mean 'top_k'?");
  snprintf(t, sizeof t, "%s    - {name: h, analysis: hessian, lanczos_step: 4}\n", head);
  EXPECT_ERROR("pk2.yaml", t, NULL, pos_of(t, "lanczos_step", 0), "did you mean 'lanczos_steps'?");
  snprintf(t, sizeof t, "%s    - {name: h, analysis: hessian, top_k: 0}\n", head);
  EXPECT_ERROR("pk3.yaml", t, NULL, pos_of(t, "0}", 0), "stages.h.top_k: 0 is out of range (allowed: from 1 to 10000)");
  snprintf(t, sizeof t, "%s    - {name: h, analysis: hessian, top_k: 4, options: {top_k: 5}}\n", head);
  EXPECT_ERROR("pk4.yaml", t, NULL, pos_of(t, "top_k", 0), "written twice");
  snprintf(t, sizeof t, "%s    - {name: p, task: linear-probe, epochs: 1, labels: random}\n", head);
  EXPECT_ERROR("pk5.yaml", t, NULL, pos_of(t, "labels", 0), "unknown key 'labels' in stage 'p'",
               "task 'linear-probe' declares no keys of its own");
  snprintf(t, sizeof t, "%s    - {name: l, task: lm-pretrain, epochs: 1, options: {corpus: x}}\n", head);
  EXPECT_ERROR("pk6.yaml", t, NULL, pos_of(t, "{name: l", 0), "missing required key 'out'", "task 'lm-pretrain'");
  snprintf(t, sizeof t, "%s    - {name: b, task: classification, epochs: 1, labels: randm}\n", head);
  EXPECT_ERROR("pk7.yaml", t, NULL, pos_of(t, "randm", 0), "'randm'", "true, random");
  /* matrix paths reach plugin keys too */
  snprintf(t, sizeof t, "%s    - {name: h, analysis: hessian}\nmatrix:\n  stages.h.top_k: [2, 3]\n", head);
  lbbt_experiment *m = LOAD_OK("pk8.yaml", t, NULL);
  REQUIRE(m && m->n_runs == 2, "matrix over a plugin key");
  CHECK(strstr(m->runs[1].config_yaml, "      top_k: 3\n"), "matrix value: %s", m->runs[1].config_yaml);
  lbbt_experiment_free(m);
  /* without a registry, a plugin key is unknown and the message says why */
  snprintf(t, sizeof t, "%s    - {name: b, task: classification, epochs: 1, labels: random}\n", head);
  const char *path = write_yaml("pk9.yaml", t);
  lbbt_experiment *none = NULL;
  CHECK(lbbt_experiment_load_with(path, NULL, 0, NULL, &none) == LBBT_E_INPUT && !none, "no registry");
  CHECK(strstr(lbbt_last_error(), "task 'classification' is not loaded"), "%s", lbbt_last_error());
}

/* Aliases expand into copies: a file that expands exponentially or contains itself must
 * be refused quickly, with a position. */
static void test_spec_alias_bombs_refused(void) {
  char text[2048];
  size_t n = (size_t)snprintf(text, sizeof text, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
  for (int i = 1; i < 10; i++) {
    n += (size_t)snprintf(text + n, sizeof text - n, "a%d: &a%d [", i, i);
    for (int j = 0; j < 10; j++) n += (size_t)snprintf(text + n, sizeof text - n, "%s*a%d", j ? ", " : "", i - 1);
    n += (size_t)snprintf(text + n, sizeof text - n, "]\n");
  }
  snprintf(text + n, sizeof text - n, "base: *a9\n");
  EXPECT_ERROR("bomb.yaml", text, NULL, NULL, "more than 1000000 YAML nodes");
  EXPECT_ERROR("self.yaml", "a: &x [*x]\n", NULL, "1:4", "nested deeper than");
}

/* Random byte edits of a valid file: the loader either accepts the result or refuses it
 * with a bad-input message naming the file, and never crashes (run under ASan). */
static void test_spec_survives_mutations(void) {
  char original[8192];
  snprintf(original, sizeof original, "%s", with_ckpt(BASE_FILE));
  size_t len = strlen(original);
  static const char alphabet[] = "{}[],:-&*!|>'\"#%@` \n\tab0.9~<";
  lbbt_rng rng;
  lbbt_rng_seed(&rng, 20240601);
  int accepted = 0;
  for (int it = 0; it < N_MUTATIONS; it++) {
    char text[8192];
    memcpy(text, original, len + 1);
    int edits = 1 + (int)lbbt_rng_below(&rng, 4);
    for (int k = 0; k < edits; k++)
      text[lbbt_rng_below(&rng, (uint32_t)len)] = alphabet[lbbt_rng_below(&rng, (uint32_t)(sizeof alphabet - 1))];
    const char *path = write_yaml("mutant.yaml", text);
    REQUIRE(path, "write");
    lbbt_experiment *e = NULL;
    lbbt_status st = lbbt_experiment_load(path, "cpu", &e);
    if (st == LBBT_OK) {
      accepted++;
      CHECK(e && e->n_runs >= 1, "accepted without runs");
      lbbt_experiment_free(e);
      continue;
    }
    CHECK(st == LBBT_E_INPUT, "iteration %d: status %s: %s", it, lbbt_status_name(st), lbbt_last_error());
    CHECK(!strncmp(lbbt_last_error(), path, strlen(path)), "iteration %d: message lacks the file: %s", it,
          lbbt_last_error());
  }
  CHECK(accepted < N_MUTATIONS, "every corrupted file was accepted");
}

TEST_MAIN_BEGIN("test_spec")
char plugin_dir[512];
const char *build = getenv("LBBT_BUILD");
snprintf(plugin_dir, sizeof plugin_dir, "%s/plugins", build && *build ? build : "build");
if (lbbt_registry_load(&g_reg, plugin_dir, NULL) != LBBT_OK) {
  printf("FAIL test_spec.load_plugins: %s: %s\n", plugin_dir, lbbt_last_error());
  return 1;
}
lbbt_registry_set_global(g_reg);
snprintf(g_ckpt, sizeof g_ckpt, "%s/ckpt.bin", test_tmpdir());
FILE *ck = fopen(g_ckpt, "w");
if (ck) fclose(ck);
TEST_RUN(test_spec_matrix_expands_in_order);
TEST_RUN(test_spec_ids_stable_and_sensitive);
TEST_RUN(test_spec_tiers_override);
TEST_RUN(test_spec_tier_replaces_stage_list);
TEST_RUN(test_spec_models_prefix_and_matrix_values);
TEST_RUN(test_spec_anchors_and_merge_keys);
TEST_RUN(test_spec_skip_file_checks);
TEST_RUN(test_spec_error_malformed_yaml);
TEST_RUN(test_spec_error_unknown_keys);
TEST_RUN(test_spec_error_types_and_ranges);
TEST_RUN(test_spec_error_range_positions);
TEST_RUN(test_spec_error_missing_required);
TEST_RUN(test_spec_error_matrix);
TEST_RUN(test_spec_error_stages_and_files);
TEST_RUN(test_spec_groups_add_runs);
TEST_RUN(test_spec_error_groups);
TEST_RUN(test_layer_range);
TEST_RUN(test_spec_reference_lists_every_key);
TEST_RUN(test_spec_plugin_keys);
TEST_RUN(test_spec_alias_bombs_refused);
TEST_RUN(test_spec_survives_mutations);
lbbt_registry_free(g_reg);
TEST_MAIN_END()
