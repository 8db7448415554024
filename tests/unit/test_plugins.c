/* The plugin loader: descriptor rules on in-memory descriptors, then real .so files from
 * build/tests/plugins (through LBBT_PLUGIN_PATH) and build/plugins, refusals with their
 * reasons, duplicate handling, order, warnings, and calls through the loaded tables. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/options.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"
#include "lbbt/spec.h"
#include "test.h"

/* Every refused .so in tests/plugins/, exactly these (see the files' comments). */
enum { N_BAD_TEST_PLUGINS = 5 };

static const char *build_dir(void) {
  const char *e = getenv("LBBT_BUILD");
  return e && *e ? e : "build";
}

/* Warnings and refusals as the loader reported them through its callback. */
static char g_warned[32][1024];
static int g_n_warned;
static void capture_warning(const char *line) {
  if (g_n_warned < 32) snprintf(g_warned[g_n_warned++], sizeof g_warned[0], "%s", line);
}

/* The refusal line mentioning `file_part`, or NULL. */
static const char *refusal_for(const lbbt_registry *r, const char *file_part) {
  for (int i = 0; i < lbbt_registry_n_refused(r); i++)
    if (strstr(lbbt_registry_refused(r, i), file_part)) return lbbt_registry_refused(r, i);
  return NULL;
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

static int copy_file(const char *from, const char *to) {
  FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
  int ok = in && out;
  char buf[65536];
  size_t n;
  while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
  if (in) fclose(in);
  if (out && fclose(out)) ok = 0;
  return ok;
}

static const char *test_plugin(const char *name) {
  static char path[512];
  snprintf(path, sizeof path, "%s/tests/plugins/%s.so", build_dir(), name);
  return path;
}

/* ---- descriptor rules, no dlopen ------------------------------------------------------- */
static lbbt_status dummy_create(const lbbt_backbone_spec *s, int c, int i, int n, uint64_t seed,
                                lbbt_model **out) {
  return LBBT_OK;
}
static lbbt_status dummy_run(struct lbbt_stage_ctx *ctx) { return LBBT_OK; }

/* Expect validate to refuse p with a reason containing `want`. */
#define CHECK_REFUSED(p, want)                                                                 \
  do {                                                                                         \
    char reason_[512];                                                                         \
    lbbt_status st_ = lbbt_plugin_validate((p), reason_, sizeof reason_);                      \
    CHECK(st_ == LBBT_E_PLUGIN, "want refusal '%s', got status %d", (want), (int)st_);          \
    CHECK(strstr(reason_, (want)) != NULL, "reason '%s' lacks '%s'", reason_, (want));         \
    CHECK(strstr(lbbt_last_error(), (want)) != NULL, "last error '%s' lacks '%s'",             \
          lbbt_last_error(), (want));                                                          \
  } while (0)

static void test_validate_rules(void) {
  const lbbt_task_ops task_ok = {.version = LBBT_TASK_OPS_VERSION, .run = dummy_run};
  const lbbt_task_ops task_no_run = {.version = LBBT_TASK_OPS_VERSION};
  const lbbt_task_ops task_v0 = {.version = 0, .run = dummy_run};
  const lbbt_backbone_ops bb_ok = {.version = LBBT_BACKBONE_OPS_VERSION, .create_vision = dummy_create};
  const lbbt_backbone_ops bb_no_create = {.version = LBBT_BACKBONE_OPS_VERSION};
  const lbbt_backbone_ops bb_v0 = {.version = 0, .create_vision = dummy_create};
  const lbbt_plugin good = {.abi_version = LBBT_ABI_VERSION, .struct_size = sizeof(lbbt_plugin),
                            .kind = LBBT_KIND_ANALYSIS, .name = "ok-name_2", .summary = "fine",
                            .task = &task_ok};
  char reason[512];
  CHECK(lbbt_plugin_validate(&good, reason, sizeof reason) == LBBT_OK, "good analysis refused: %s", reason);
  CHECK(reason[0] == 0, "reason set for a good plugin: '%s'", reason);
  lbbt_plugin p = good;
  p.kind = LBBT_KIND_TASK;
  CHECK(lbbt_plugin_validate(&p, NULL, 0) == LBBT_OK, "good task refused: %s", lbbt_last_error());
  p = good, p.kind = LBBT_KIND_BACKBONE, p.task = NULL, p.backbone = &bb_ok;
  CHECK(lbbt_plugin_validate(&p, NULL, 0) == LBBT_OK, "good backbone refused: %s", lbbt_last_error());

  CHECK_REFUSED(NULL, "descriptor is NULL");
  p = good, p.abi_version = 999;
  CHECK_REFUSED(&p, "abi_version is 999, this lbbt expects 2");
  p = good, p.struct_size = 8;
  CHECK_REFUSED(&p, "struct_size is 8, smaller than");
  p = good, p.kind = (lbbt_plugin_kind)7;
  CHECK_REFUSED(&p, "unknown kind 7");
  p = good, p.name = NULL;
  CHECK_REFUSED(&p, "name is NULL");
  p = good, p.name = "";
  CHECK_REFUSED(&p, "name is empty");
  p = good, p.name = "Gpt2";
  CHECK_REFUSED(&p, "name 'Gpt2' has character 'G'");
  p = good, p.name = "my plugin";
  CHECK_REFUSED(&p, "character ' '");
  p = good, p.name = "a_name_that_is_far_too_long_to_be_used_as_a_yaml_value_or_a_group";
  CHECK_REFUSED(&p, "the limit is 63");
  p = good, p.summary = NULL;
  CHECK_REFUSED(&p, "summary is NULL");
  p = good, p.summary = "";
  CHECK_REFUSED(&p, "summary is empty");
  p = good, p.summary = "two\nlines";
  CHECK_REFUSED(&p, "summary has a newline");
  p = good, p.task = NULL;
  CHECK_REFUSED(&p, "task table is NULL");
  p = good, p.task = &task_no_run;
  CHECK_REFUSED(&p, "task->run is NULL");
  p = good, p.task = &task_v0;
  CHECK_REFUSED(&p, "task->version is 0");
  p = good, p.backbone = &bb_ok;
  CHECK_REFUSED(&p, "analysis plugin also sets the backbone table");
  p = good, p.kind = LBBT_KIND_BACKBONE, p.task = NULL;
  CHECK_REFUSED(&p, "backbone table is NULL");
  p.backbone = &bb_no_create;
  CHECK_REFUSED(&p, "backbone->create_vision is NULL");
  p.backbone = &bb_v0;
  CHECK_REFUSED(&p, "backbone->version is 0");
  p.backbone = &bb_ok, p.task = &task_ok;
  CHECK_REFUSED(&p, "backbone plugin also sets the task table");
}

static void test_kind_names(void) {
  const lbbt_plugin_kind kinds[] = {LBBT_KIND_BACKBONE, LBBT_KIND_TASK, LBBT_KIND_ANALYSIS};
  for (int i = 0; i < 3; i++) {
    lbbt_plugin_kind k = (lbbt_plugin_kind)0;
    CHECK(lbbt_plugin_kind_parse(lbbt_plugin_kind_name(kinds[i]), &k) == LBBT_OK && k == kinds[i],
          "kind %d does not round-trip through '%s'", (int)kinds[i], lbbt_plugin_kind_name(kinds[i]));
  }
  CHECK(!strcmp(lbbt_plugin_kind_name(LBBT_KIND_BACKBONE), "backbone"), "backbone name");
  CHECK(!strcmp(lbbt_plugin_kind_name((lbbt_plugin_kind)42), "unknown"), "unknown kind name");
  lbbt_plugin_kind k;
  CHECK(lbbt_plugin_kind_parse("backbones", &k) == LBBT_E_INPUT, "'backbones' accepted as a kind");
  CHECK(strstr(lbbt_last_error(), "backbone, task or analysis") != NULL, "message lacks the kinds: %s",
        lbbt_last_error());
}

/* ---- real files -------------------------------------------------------------------------- */
static void test_load_test_plugins(void) {
  if (!test_file_exists(test_plugin("hello_analysis")))
    SKIP("%s absent: build the test plugins with `make test`", test_plugin("hello_analysis"));
  char plugin_dir[512], path[1200];
  snprintf(plugin_dir, sizeof plugin_dir, "%s/plugins", build_dir());
  snprintf(path, sizeof path, "%s/tests/plugins:/nonexistent/lbbt-plugins", build_dir());
  setenv("LBBT_PLUGIN_PATH", path, 1);
  g_n_warned = 0;
  lbbt_registry *r = NULL;
  lbbt_status st = lbbt_registry_load(&r, plugin_dir, capture_warning);
  REQUIRE(st == LBBT_OK && r, "load failed: %s", lbbt_last_error());

  /* build/plugins first: everything from the build folder comes before anything from the path */
  const lbbt_plugin_entry *first = lbbt_registry_at(r, 0);
  CHECK(first && strstr(first->file, "/plugins/") && !strstr(first->file, "/tests/plugins/"),
        "first plugin is '%s' from %s, want one from the build's plugins folder",
        first ? first->plugin->name : "(none)", first ? first->file : "-");
  CHECK(lbbt_registry_find(r, LBBT_KIND_ANALYSIS, "template") != NULL, "template not found");

  const lbbt_plugin_entry *hello = lbbt_registry_find_entry(r, LBBT_KIND_ANALYSIS, "hello");
  CHECK(hello != NULL, "hello not found");
  if (hello) {
    CHECK(hello->plugin == lbbt_registry_find(r, LBBT_KIND_ANALYSIS, "hello"), "find and find_entry differ");
    CHECK(hello->plugin->kind == LBBT_KIND_ANALYSIS, "hello kind %d", (int)hello->plugin->kind);
    CHECK(hello->plugin->abi_version == LBBT_ABI_VERSION, "hello abi %d", hello->plugin->abi_version);
    /* the first of the two "hello"s by path wins: its summary, its file */
    CHECK(!strcmp(hello->plugin->summary, "test plugin: says hello from LBBT_PLUGIN_PATH"),
          "hello summary '%s'", hello->plugin->summary);
    CHECK(ends_with(hello->file, "tests/plugins/hello_analysis.so"), "hello file '%s'", hello->file);
    CHECK(hello->plugin->task && hello->plugin->task->run && hello->plugin->task->validate,
          "hello's table not copied");
    CHECK(hello->plugin->backbone == NULL, "hello has a backbone table");
  }
  CHECK(lbbt_registry_find(r, LBBT_KIND_TASK, "hello") == NULL, "hello found as a task");
  CHECK(lbbt_registry_find(r, LBBT_KIND_ANALYSIS, "null_run") == NULL, "refused plugin registered");
  CHECK(lbbt_registry_find(r, LBBT_KIND_ANALYSIS, "bad_abi") == NULL, "refused plugin registered");
  /* The test plugins that must load (each found by name in some kind); the build's own
   * plugins (template, backbones, tasks, ...) load too, however many there are.  A new test
   * plugin that should load adds its name here. */
  static const char *const MUST_LOAD[] = {"hello", "borrow-check", "old-backbone-v2", "tiny_prenorm",
                                          "typed-backbone", "target_count"};
  int from_tests = 0;
  for (int i = 0; i < lbbt_registry_count(r); i++)
    from_tests += strstr(lbbt_registry_at(r, i)->file, "/tests/plugins/") != NULL;
  for (size_t k = 0; k < sizeof MUST_LOAD / sizeof *MUST_LOAD; k++) {
    int found = 0;
    for (int kind = LBBT_KIND_BACKBONE; kind <= LBBT_KIND_ANALYSIS; kind++)
      found |= lbbt_registry_find(r, (lbbt_plugin_kind)kind, MUST_LOAD[k]) != NULL;
    CHECK(found, "test plugin '%s' did not load", MUST_LOAD[k]);
  }
  CHECK(from_tests >= (int)(sizeof MUST_LOAD / sizeof *MUST_LOAD), "%d test plugins loaded", from_tests);
  /* A version-2 backbone table built against this header, with create_blocks set anyway:
   * the normalised copy goes by the version, so the version-3 field reads as absent. */
  const lbbt_plugin *v2 = lbbt_registry_find(r, LBBT_KIND_BACKBONE, "old-backbone-v2");
  CHECK(v2 && v2->backbone && v2->backbone->version == 2 && v2->backbone->create_vision,
        "old-backbone-v2 not loaded with its version-2 table");
  CHECK(v2 && v2->backbone && v2->backbone->create_blocks == NULL,
        "old-backbone-v2: create_blocks past its version-2 table was copied");
  const lbbt_plugin *gpt2 = lbbt_registry_find(r, LBBT_KIND_BACKBONE, "gpt2");
  CHECK(gpt2 && gpt2->backbone->version == LBBT_BACKBONE_OPS_VERSION && gpt2->backbone->create_blocks,
        "gpt2's version-%d table lost create_blocks", LBBT_BACKBONE_OPS_VERSION);
  CHECK(lbbt_registry_at(r, lbbt_registry_count(r)) == NULL, "at(count) is not NULL");

  /* each bad plugin refused once, naming its file and the reason */
  CHECK(lbbt_registry_n_refused(r) == N_BAD_TEST_PLUGINS, "%d refused, want %d",
        lbbt_registry_n_refused(r), N_BAD_TEST_PLUGINS);
  const char *why = refusal_for(r, "/bad_abi.so: ");
  CHECK(why && strstr(why, "abi_version is 999, this lbbt expects 2"), "bad_abi: %s", why ? why : "not refused");
  /* built against ABI 1's layout: refused on its version, nothing else read or called */
  why = refusal_for(r, "/abi1_task.so: ");
  CHECK(why && strstr(why, "abi_version is 1, this lbbt expects 2: rebuild the plugin against this lbbt's headers"),
        "abi1_task: %s", why ? why : "not refused");
  CHECK(lbbt_registry_find(r, LBBT_KIND_TASK, "abi1-task") == NULL, "ABI 1 plugin registered");
  why = refusal_for(r, "/no_descriptor.so: ");
  CHECK(why && strstr(why, "no symbol 'lbbt_plugin_descriptor'"), "no_descriptor: %s", why ? why : "not refused");
  why = refusal_for(r, "/null_run_task.so: ");
  CHECK(why && strstr(why, "task->run is NULL"), "null_run_task: %s", why ? why : "not refused");
  why = refusal_for(r, "/hello_analysis_copy.so: ");
  CHECK(why && strstr(why, "name 'hello' is already taken by ") &&
            strstr(why, "tests/plugins/hello_analysis.so"),
        "duplicate: %s", why ? why : "not refused");
  CHECK(refusal_for(r, "lbbt-plugins") == NULL, "missing path entry refused instead of warned");

  /* the missing path entry only warns */
  CHECK(lbbt_registry_n_warnings(r) == 1, "%d warnings, want 1", lbbt_registry_n_warnings(r));
  CHECK(lbbt_registry_n_warnings(r) < 1 || strstr(lbbt_registry_warning(r, 0), "/nonexistent/lbbt-plugins"),
        "warning '%s'", lbbt_registry_warning(r, 0));
  CHECK(g_n_warned == N_BAD_TEST_PLUGINS + 1, "callback got %d lines, want %d", g_n_warned,
        N_BAD_TEST_PLUGINS + 1);
  lbbt_registry_free(r);
}

/* Calls across dlopen: the copied tables point into the plugins. */
static void test_call_through_registry(void) {
  if (!test_file_exists(test_plugin("hello_analysis")))
    SKIP("%s absent: build the test plugins with `make test`", test_plugin("hello_analysis"));
  char plugin_dir[512], path[1024];
  snprintf(plugin_dir, sizeof plugin_dir, "%s/plugins", build_dir());
  snprintf(path, sizeof path, "%s/tests/plugins", build_dir());
  setenv("LBBT_PLUGIN_PATH", path, 1);
  lbbt_registry *r = NULL;
  REQUIRE(lbbt_registry_load(&r, plugin_dir, NULL) == LBBT_OK, "load failed: %s", lbbt_last_error());
  const lbbt_plugin *hello = lbbt_registry_find(r, LBBT_KIND_ANALYSIS, "hello");
  const lbbt_plugin *tmpl = lbbt_registry_find(r, LBBT_KIND_ANALYSIS, "template");
  if (!hello || !tmpl) {
    lbbt_registry_free(r);
    REQUIRE(0, "hello (%p) or template (%p) missing", (const void *)hello, (const void *)tmpl);
  }
  /* Through an experiment: the core binds each plugin's typed keys, validate sees them. */
  static const char *const head = "base:\n  backbone: {plugin: llama}\n  data: {dataset: fashion-mnist}\n"
                                  "  stages:\n";
  static const struct {
    const char *stage;  /* one stage line */
    lbbt_status load;   /* from lbbt_experiment_load_with */
    lbbt_status check;  /* from lbbt_experiment_check_plugins (when loaded) */
    const char *needle; /* in the message */
  } cases[] = {
      {"    - {name: a, analysis: hello, options: {greeting: hi}}\n", LBBT_OK, LBBT_OK, NULL},
      {"    - {name: a, analysis: hello, greeting: \"\"}\n", LBBT_OK, LBBT_E_INPUT, "greeting is empty"},
      {"    - {name: a, analysis: hello, options: {greting: hi}}\n", LBBT_E_INPUT, 0, ":5:44: unknown key 'greting'"},
      {"    - {name: a, analysis: template, top_k: 3}\n", LBBT_OK, LBBT_OK, NULL},
      {"    - {name: a, analysis: template, top_k: 0}\n", LBBT_E_INPUT, 0, ":5:44: stages.a.top_k: 0 is out of range"},
      {"    - {name: a, analysis: template, topk: 3}\n", LBBT_E_INPUT, 0, "did you mean 'top_k'?"},
      {"    - {name: a, analysis: template, top_k: 2000, per_layer: true}\n", LBBT_OK, LBBT_E_INPUT,
       "keep top_k at most 1000"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(path, sizeof path, "%s/hello-%zu.yaml", test_tmpdir(), i);
    FILE *f = fopen(path, "w");
    REQUIRE(f, "cannot write %s", path);
    fprintf(f, "%s%s", head, cases[i].stage);
    fclose(f);
    lbbt_experiment *e = NULL;
    lbbt_status st = lbbt_experiment_load_with(path, NULL, LBBT_SPEC_SKIP_FILE_CHECKS, r, &e);
    CHECK(st == cases[i].load, "case %zu: load %s: %s", i, lbbt_status_name(st), lbbt_last_error());
    if (st == LBBT_OK) {
      st = lbbt_experiment_check_plugins(e, r);
      CHECK(st == cases[i].check, "case %zu: check %s: %s", i, lbbt_status_name(st), lbbt_last_error());
    }
    if (cases[i].needle) CHECK(strstr(lbbt_last_error(), cases[i].needle), "case %zu: %s", i, lbbt_last_error());
    lbbt_experiment_free(e);
  }
  CHECK(hello->task->run(NULL) == LBBT_E_INTERNAL, "hello run without context not refused");

  /* A backbone's typed options: bound at load, handed to create_vision. */
  const lbbt_plugin *tb = lbbt_registry_find(r, LBBT_KIND_BACKBONE, "typed-backbone");
  REQUIRE(tb, "typed-backbone missing");
  static const struct {
    const char *backbone; /* the backbone line */
    lbbt_status load;
    const char *needle; /* in the load error, or in create_vision's report */
  } bb[] = {
      {"  backbone: {plugin: typed-backbone, options: {width: 8}, depth: 3}\n", LBBT_OK,
       "width 8, depth 3, act gelu"},
      {"  backbone: {plugin: typed-backbone}\n", LBBT_OK, "width 16, depth 1, act gelu"},
      {"  backbone: {plugin: typed-backbone, options: {widht: 8}}\n", LBBT_E_INPUT,
       ":2:48: unknown key 'widht' in the options of backbone (backbone 'typed-backbone'); did you mean 'width'?"},
      {"  backbone: {plugin: typed-backbone, act: tanh}\n", LBBT_E_INPUT,
       ":2:43: backbone.act: 'tanh' is not one of gelu, relu"},
  };
  for (size_t i = 0; i < sizeof bb / sizeof bb[0]; i++) {
    snprintf(path, sizeof path, "%s/backbone-%zu.yaml", test_tmpdir(), i);
    FILE *f = fopen(path, "w");
    REQUIRE(f, "cannot write %s", path);
    fprintf(f, "base:\n%s  data: {dataset: fashion-mnist}\n  stages: [{name: a, analysis: hello}]\n",
            bb[i].backbone);
    fclose(f);
    lbbt_experiment *e = NULL;
    lbbt_status st = lbbt_experiment_load_with(path, NULL, LBBT_SPEC_SKIP_FILE_CHECKS, r, &e);
    CHECK(st == bb[i].load, "backbone case %zu: load %s: %s", i, lbbt_status_name(st), lbbt_last_error());
    if (st == LBBT_OK) {
      lbbt_model *m = NULL;
      CHECK(tb->backbone->create_vision(&e->runs[0].backbone, 1, 28, 10, 0, &m) == LBBT_E_UNSUPPORTED && !m,
            "backbone case %zu: create_vision", i);
    }
    CHECK(strstr(lbbt_last_error(), bb[i].needle), "backbone case %zu: %s", i, lbbt_last_error());
    lbbt_experiment_free(e);
  }
  /* an untyped backbone keeps its raw options, checked by itself */
  snprintf(path, sizeof path, "%s/backbone-raw.yaml", test_tmpdir());
  FILE *f = fopen(path, "w");
  REQUIRE(f, "cannot write %s", path);
  fprintf(f, "base:\n  backbone: {plugin: old-backbone-v2, options: {anything: 1}}\n  data: {dataset: fashion-mnist}\n"
             "  stages: [{name: a, analysis: hello}]\n");
  fclose(f);
  lbbt_experiment *e = NULL;
  CHECK(lbbt_experiment_load_with(path, NULL, LBBT_SPEC_SKIP_FILE_CHECKS, r, &e) == LBBT_OK, "raw: %s",
        lbbt_last_error());
  CHECK(e && e->runs[0].backbone.n_options == 1 && !lbbt_backbone_options(&e->runs[0].backbone), "raw options");
  lbbt_experiment_free(e);
  lbbt_registry_free(r);
}

/* A folder of our own: recursion, sorting by path, a broken file, a file reached twice. */
static void test_order_and_dlopen_failure(void) {
  if (!test_file_exists(test_plugin("hello_analysis")))
    SKIP("%s absent: build the test plugins with `make test`", test_plugin("hello_analysis"));
  char dir[600], sub[700], a[800], z[800], broken[800], path[1500];
  snprintf(dir, sizeof dir, "%s/order", test_tmpdir());
  snprintf(sub, sizeof sub, "%s/a_sub", dir);
  REQUIRE((mkdir(dir, 0755) == 0 || errno == EEXIST) && (mkdir(sub, 0755) == 0 || errno == EEXIST),
          "mkdir %s: %s", sub, strerror(errno));
  /* two copies of the same plugin: "a_sub/x.so" sorts before "m_broken.so" and "z.so" */
  snprintf(a, sizeof a, "%s/x.so", sub);
  snprintf(z, sizeof z, "%s/z.so", dir);
  snprintf(broken, sizeof broken, "%s/m_broken.so", dir);
  REQUIRE(copy_file(test_plugin("hello_analysis"), a) && copy_file(test_plugin("hello_analysis"), z),
          "copying the hello plugin failed");
  FILE *f = fopen(broken, "w");
  REQUIRE(f, "cannot write %s", broken);
  for (int i = 0; i < 32; i++) fputs("not an ELF file, long enough to have a header\n", f);
  fclose(f);
  /* the same folder twice, and empty entries: loaded once, no extra lines */
  snprintf(path, sizeof path, "::%s::%s:", dir, dir);
  setenv("LBBT_PLUGIN_PATH", path, 1);
  lbbt_registry *r = NULL;
  REQUIRE(lbbt_registry_load(&r, NULL, NULL) == LBBT_OK, "load failed: %s", lbbt_last_error());
  CHECK(lbbt_registry_count(r) == 1, "count %d, want 1", lbbt_registry_count(r));
  const lbbt_plugin_entry *e = lbbt_registry_find_entry(r, LBBT_KIND_ANALYSIS, "hello");
  CHECK(e && !strcmp(e->file, a), "hello from '%s', want '%s'", e ? e->file : "(none)", a);
  CHECK(lbbt_registry_n_refused(r) == 2, "%d refused, want 2", lbbt_registry_n_refused(r));
  CHECK(lbbt_registry_n_warnings(r) == 0, "%d warnings, want 0: %s", lbbt_registry_n_warnings(r),
        lbbt_registry_warning(r, 0));
  /* sorted: m_broken.so is refused before z.so */
  const char *r0 = lbbt_registry_refused(r, 0), *r1 = lbbt_registry_refused(r, 1);
  CHECK(r0 && strstr(r0, "m_broken.so: dlopen failed: ") && strstr(r0, "invalid ELF header"), "first refusal: %s", r0);
  CHECK(r1 && strstr(r1, "z.so: analysis name 'hello' is already taken by ") && strstr(r1, "a_sub/x.so"),
        "second refusal: %s", r1);
  lbbt_registry_free(r);
  remove(a), remove(z), remove(broken), rmdir(sub), rmdir(dir), rmdir(test_tmpdir());
}

static void test_unreadable_plugin_dir(void) {
  setenv("LBBT_PLUGIN_PATH", "", 1);
  lbbt_registry *r = (lbbt_registry *)&r; /* must be reset to NULL */
  lbbt_status st = lbbt_registry_load(&r, "/nonexistent/lbbt-build/plugins", NULL);
  CHECK(st == LBBT_E_IO, "status %d, want LBBT_E_IO", (int)st);
  CHECK(r == NULL, "*out not NULL on failure");
  CHECK(strstr(lbbt_last_error(), "/nonexistent/lbbt-build/plugins") != NULL, "message lacks the folder: %s",
        lbbt_last_error());
  /* an empty LBBT_PLUGIN_PATH and no plugin_dir: an empty registry, not an error */
  REQUIRE(lbbt_registry_load(&r, NULL, NULL) == LBBT_OK, "empty load failed: %s", lbbt_last_error());
  CHECK(lbbt_registry_count(r) == 0 && lbbt_registry_n_refused(r) == 0 && lbbt_registry_n_warnings(r) == 0,
        "empty registry not empty");
  CHECK(lbbt_registry_find(r, LBBT_KIND_TASK, "x") == NULL && lbbt_registry_at(r, 0) == NULL, "found in empty");
  lbbt_registry_free(r);
}

static void test_global(void) {
  setenv("LBBT_PLUGIN_PATH", "", 1);
  CHECK(lbbt_registry_global() == NULL, "global set before anyone set it");
  lbbt_registry *r = NULL;
  REQUIRE(lbbt_registry_load(&r, NULL, NULL) == LBBT_OK, "load failed: %s", lbbt_last_error());
  lbbt_registry_set_global(r);
  CHECK(lbbt_registry_global() == r, "global not the one set");
  lbbt_registry_free(r);
  CHECK(lbbt_registry_global() == NULL, "global dangles after free");
  lbbt_registry_free(NULL);
}

TEST_MAIN_BEGIN("test_plugins")
TEST_RUN(test_validate_rules);
TEST_RUN(test_kind_names);
TEST_RUN(test_load_test_plugins);
TEST_RUN(test_call_through_registry);
TEST_RUN(test_order_and_dlopen_failure);
TEST_RUN(test_unreadable_plugin_dir);
TEST_RUN(test_global);
TEST_MAIN_END()
