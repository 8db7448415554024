/* Experiment files: read, apply the tier, expand the matrix, bind each run; see spec.h.
 * Key-level validation lives in the directive tables (spec_keys.c, spec_bind.c), tree
 * edits (tier merge, matrix paths) in spec_merge.c; this file handles the file's
 * structure, the expansion into runs and their ids. */
#include "lbbt/spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/plugin.h"
#include "lbbt/sha256.h"
#include "config/spec_keys.h"
#include "config/spec_merge.h"

#define DEFAULT_TIER "cpu"
/* A run struct is ~90 KB (option tables); this bounds memory to a few hundred MB. */
enum { MAX_RUNS = 4096, MAX_FILE_BYTES = 16 << 20 };

const lbbt_option *lbbt_option_find(const lbbt_option *opts, int n, const char *key) {
  for (int i = 0; i < n; i++)
    if (!strcmp(opts[i].key, key)) return &opts[i];
  return NULL;
}

/* $LBBT_MODELS; else ../shared/models when it exists (the machines this project runs on);
 * else models/ in the checkout, where tools/fetch-models puts downloads. */
const char *lbbt_models_dir(void) {
  const char *e = getenv("LBBT_MODELS");
  if (e && *e) return e;
  struct stat sb;
  if (stat("../shared/models", &sb) == 0 && S_ISDIR(sb.st_mode)) return "../shared/models";
  return "models";
}

lbbt_status lbbt_resolve_path(const char *written, char *out, size_t n) {
  int len = !strncmp(written, "models:", 7) ? snprintf(out, n, "%s/%s", lbbt_models_dir(), written + 7)
                                            : snprintf(out, n, "%s", written);
  if (len < 0 || (size_t)len >= n)
    return lbbt_fail(LBBT_E_INPUT, "path '%.64s...' is longer than %zu bytes once resolved", written, n - 1);
  return LBBT_OK;
}

/* ---- reading ------------------------------------------------------------------------- */

static lbbt_status read_file(const char *path, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return lbbt_fail(LBBT_E_INPUT, "%s: cannot open the experiment file: %s (relative paths are relative to the "
                     "current directory)", path, strerror(errno));
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap + 1);
  lbbt_status st = LBBT_OK;
  while (buf) {
    if (n == cap) {
      if (cap >= MAX_FILE_BYTES) {
        st = lbbt_fail(LBBT_E_INPUT, "%s: larger than %d MiB; an experiment file is a few KB of YAML", path,
                       MAX_FILE_BYTES >> 20);
        break;
      }
      cap *= 2;
      char *grown = realloc(buf, cap + 1);
      if (!grown) break;
      buf = grown;
    }
    size_t got = fread(buf + n, 1, cap - n, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) st = lbbt_fail(LBBT_E_IO, "%s: read failed: %s", path, strerror(errno));
      break;
    }
  }
  fclose(f);
  if (!buf) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory reading the file", path);
  if (st != LBBT_OK) {
    free(buf);
    return st;
  }
  buf[n] = 0;
  *text = buf;
  *len = n;
  return LBBT_OK;
}

/* `groups:` (or a tier's replacement): null or a list of at most LBBT_MAX_GROUPS mappings,
 * each a matrix (dotted path -> list). */
static lbbt_status check_groups(const spec_load_ctx *c, const char *where, const yt_node *g) {
  if (!g || yt_is_null(g)) return LBBT_OK;
  char buf[64];
  if (g->kind != YT_SEQ)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: expected a list of matrices ([{path: [values], ...}, ...]), "
                     "got %s", c->file, g->line, g->col, where, yt_describe(g, buf, sizeof buf));
  if (g->n > LBBT_MAX_GROUPS)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s: %d groups; at most %d (split the experiment)", c->file,
                     g->vals[LBBT_MAX_GROUPS]->line, g->vals[LBBT_MAX_GROUPS]->col, where, g->n, LBBT_MAX_GROUPS);
  for (int i = 0; i < g->n; i++)
    if (g->vals[i]->kind != YT_MAP)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s[%d]: expected a mapping of path: [values] (a matrix), got %s",
                       c->file, g->vals[i]->line, g->vals[i]->col, where, i + 1,
                       yt_describe(g->vals[i], buf, sizeof buf));
  return LBBT_OK;
}

/* ---- tiers --------------------------------------------------------------------------- */

/* Validate `tiers:` (each entry is {base, matrix}) and record the names in e->tiers. */
static lbbt_status read_tiers(const spec_load_ctx *c, const yt_node *tiers, lbbt_experiment *e) {
  e->n_tiers = 0;
  if (!tiers || yt_is_null(tiers)) return LBBT_OK;
  if (tiers->kind != YT_MAP) {
    char buf[64];
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: tiers: expected a mapping of tier name -> overrides, got %s",
                     c->file, tiers->line, tiers->col, yt_describe(tiers, buf, sizeof buf));
  }
  for (int i = 0; i < tiers->n; i++) {
    const yt_node *name = tiers->keys[i], *t = tiers->vals[i];
    if (e->n_tiers == LBBT_MAX_TIERS)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: more than %d tiers", c->file, name->line, name->col, LBBT_MAX_TIERS);
    if (strlen(name->text) >= LBBT_TIER_MAX || !name->text[0])
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: tier name '%s' must be 1 to %d characters", c->file, name->line,
                       name->col, name->text, LBBT_TIER_MAX - 1);
    snprintf(e->tiers[e->n_tiers++], LBBT_TIER_MAX, "%s", name->text);
    char noun[LBBT_TIER_MAX + 16];
    snprintf(noun, sizeof noun, "tier '%s'", name->text);
    char path[LBBT_TIER_MAX + 16];
    snprintf(path, sizeof path, "tiers.%s", name->text);
    spec_bind b = {.file = c->file};
    spec_where w = {path, noun, t, name};
    LBBT_TRY(spec_bind_section(&b, &spec_tier_section, &w, NULL, 0));
    char where[LBBT_TIER_MAX + 32];
    snprintf(where, sizeof where, "%s.groups", path);
    LBBT_TRY(check_groups(c, where, yt_get(t, "groups")));
    static const char *const parts[] = {"base", "matrix"};
    for (int p = 0; p < 2; p++) {
      const yt_node *v = yt_get(t, parts[p]);
      if (v && !yt_is_null(v) && v->kind != YT_MAP) {
        char buf[64];
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s.%s: expected a mapping, got %s", c->file, v->line, v->col, path,
                         parts[p], yt_describe(v, buf, sizeof buf));
      }
    }
  }
  return LBBT_OK;
}

static lbbt_status unknown_tier(const spec_load_ctx *c, const lbbt_experiment *e, const yt_node *at) {
  if (!e->n_tiers)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: unknown tier '%s': this file declares no tiers (no 'tiers:' section), "
                     "so only the default tier '" DEFAULT_TIER "' applies", c->file, at->line, at->col, c->tier);
  char list[LBBT_MAX_TIERS * (LBBT_TIER_MAX + 2)] = "";
  const char *names[LBBT_MAX_TIERS] = {0};
  for (int i = 0; i < e->n_tiers; i++) {
    names[i] = e->tiers[i];
    strcat(list, i ? ", " : "");
    strcat(list, e->tiers[i]);
  }
  const char *near = spec_suggest(c->tier, names, e->n_tiers);
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: unknown tier '%s'; tiers in this file: %s%s%s%s", c->file, at->line,
                   at->col, c->tier, list, near ? " (did you mean '" : "", near ? near : "", near ? "'?)" : "");
}

/* ---- runs ---------------------------------------------------------------------------- */

static void run_clear(lbbt_run_spec *r) {
  free(r->config_yaml);
  for (int i = 0; i < LBBT_MAX_STAGES; i++) free(r->stages[i].plugin_options); /* bound ones, even past n_stages */
  free(r->backbone.plugin_options);
  for (int i = 0; i < r->n_matrix; i++) {
    if (r->matrix_keys) free(r->matrix_keys[i]);
    if (r->matrix_values) free(r->matrix_values[i]);
  }
  free(r->matrix_keys);
  free(r->matrix_values);
}

void lbbt_experiment_free(lbbt_experiment *e) {
  if (!e) return;
  for (int i = 0; i < e->n_runs; i++) run_clear(&e->runs[i]);
  free(e->runs);
  free(e->yaml_text);
  free(e);
}

/* The label "backbone.init=language seed=0", cut with "..." when it does not fit. */
static void make_label(lbbt_run_spec *r) {
  size_t len = 0, cap = sizeof r->label;
  r->label[0] = 0;
  for (int i = 0; i < r->n_matrix; i++) {
    int n = snprintf(r->label + len, cap - len, "%s%s=%s", i ? " " : "", r->matrix_keys[i], r->matrix_values[i]);
    if (n < 0 || (size_t)n >= cap - len) {
      memcpy(r->label + cap - 4, "...", 4);
      return;
    }
    len += (size_t)n;
  }
}

static lbbt_status build_run(const spec_load_ctx *c, unsigned flags, const yt_node *base, const yt_node *matrix,
                             const int *choice, lbbt_run_spec *r) {
  yt_node *tree = yt_clone(base);
  if (!tree) return spec_oom(c);
  lbbt_status st = LBBT_OK;
  r->n_matrix = 0;
  r->matrix_keys = calloc((size_t)matrix->n + 1, sizeof(char *));
  r->matrix_values = calloc((size_t)matrix->n + 1, sizeof(char *));
  if (!r->matrix_keys || !r->matrix_values) st = spec_oom(c);
  for (int j = 0; st == LBBT_OK && j < matrix->n; j++) {
    const yt_node *value = matrix->vals[j]->vals[choice[j]];
    r->matrix_keys[j] = strdup(matrix->keys[j]->text);
    r->matrix_values[j] = yt_flow_text(value);
    r->n_matrix = j + 1;
    if (!r->matrix_keys[j] || !r->matrix_values[j]) st = spec_oom(c);
    else st = spec_matrix_set(c, tree, matrix->keys[j], value);
  }
  if (st == LBBT_OK) make_label(r);
  spec_buf canon = {0};
  if (st == LBBT_OK) {
    spec_bind b = {.file = c->file, .reg = c->reg, .flags = flags, .canon = &canon};
    spec_where w = {"", "base", tree, tree};
    st = spec_bind_section(&b, &spec_run_section, &w, r, 0);
  }
  yt_free(tree);
  if (st == LBBT_OK) {
    uint8_t digest[32];
    lbbt_sha256(canon.s, canon.len, digest);
    for (int i = 0; i < 8; i++) snprintf(r->id + 2 * i, 3, "%02x", digest[i]);
    r->config_yaml = canon.s;
    canon.s = NULL;
  }
  spec_buf_free(&canon);
  return st;
}

/* A block of runs: `matrix` (group 0) or the k-th item of `groups:` (group k >= 1).  Each
 * block is its own cartesian product over the (tier-merged) base; the experiment's runs are
 * the blocks' runs in order, so adding a group leaves the matrix's runs, and their ids, as
 * they were. */
typedef struct run_block {
  const yt_node *matrix; /* mapping: dotted path -> non-empty list */
  int group;             /* 0: `matrix`; k: groups[k] (1-based, as messages say it) */
  long first, n;         /* its runs: e->runs[first .. first + n) */
} run_block;

/* "groups[2]", or "" for the matrix (spec_load_ctx.block). */
static void block_name(const run_block *b, char *out, size_t n) {
  if (b->group) snprintf(out, n, "groups[%d]", b->group);
  else if (n) out[0] = 0;
}

typedef struct id_index {
  const char *id;
  int run;
} id_index;

static int id_cmp(const void *a, const void *b) {
  const id_index *x = a, *y = b;
  int d = strcmp(x->id, y->id);
  return d ? d : x->run - y->run;
}

static const run_block *block_of(const run_block *blocks, int n_blocks, int run) {
  int k = 0;
  while (k + 1 < n_blocks && run >= blocks[k + 1].first) k++;
  return &blocks[k];
}

/* Two runs with one id would share a results group: a repeated matrix value, or a group
 * that repeats runs of the matrix or of another group. */
static lbbt_status check_distinct_ids(const spec_load_ctx *c, const lbbt_experiment *e, const run_block *blocks,
                                      int n_blocks, int *const *choices) {
  id_index *ix = malloc((size_t)e->n_runs * sizeof *ix);
  if (!ix) return spec_oom(c);
  for (int i = 0; i < e->n_runs; i++) ix[i] = (id_index){e->runs[i].id, i};
  qsort(ix, (size_t)e->n_runs, sizeof *ix, id_cmp);
  lbbt_status st = LBBT_OK;
  for (int i = 1; i < e->n_runs && st == LBBT_OK; i++) {
    if (strcmp(ix[i].id, ix[i - 1].id)) continue;
    int a = ix[i - 1].run, b = ix[i].run;
    const run_block *ba = block_of(blocks, n_blocks, a), *bb = block_of(blocks, n_blocks, b);
    if (ba == bb) {
      const yt_node *matrix = bb->matrix;
      int j = 0;
      while (j < matrix->n && choices[a][j] == choices[b][j]) j++;
      const yt_node *at = j < matrix->n ? matrix->vals[j]->vals[choices[b][j]] : matrix;
      char where[32] = "";
      if (bb->group) snprintf(where, sizeof where, " of groups[%d]", bb->group);
      st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: runs %d (%s) and %d (%s)%s resolve to the same config (id %s); "
                     "remove the repeated matrix value", c->file, at->line, at->col, a + 1, e->runs[a].label, b + 1,
                     e->runs[b].label, where, e->runs[a].id);
    } else {
      char first[32] = "matrix";
      if (ba->group) snprintf(first, sizeof first, "groups[%d]", ba->group);
      st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: run %d (%s) of groups[%d] repeats run %d (%s) of %s: both resolve "
                     "to the same config (id %s); a group adds runs the matrix and the other groups do not have, "
                     "so remove the repeated values from one of them", c->file, bb->matrix->line, bb->matrix->col,
                     b + 1, e->runs[b].label, bb->group, a + 1, e->runs[a].label, first, e->runs[a].id);
    }
  }
  free(ix);
  return st;
}

static int subtree_has_line(const yt_node *n, int line) {
  if (n->line == line) return 1;
  for (int i = 0; i < n->n; i++)
    if (subtree_has_line(n->vals[i], line) || (n->keys && n->keys[i]->line == line)) return 1;
  return 0;
}

/* Does the current error message point at a line holding one of this run's matrix values?
 * Then it depends on the combination, and the message says which run failed; an error in
 * base would fail every run and is reported without that noise. */
static int error_in_matrix_value(const spec_load_ctx *c, const yt_node *matrix, const int *choice) {
  const char *msg = lbbt_last_error();
  size_t n = strlen(c->file);
  int line;
  if (strncmp(msg, c->file, n) || msg[n] != ':' || sscanf(msg + n + 1, "%d", &line) != 1) return 0;
  for (int j = 0; j < matrix->n; j++)
    if (subtree_has_line(matrix->vals[j]->vals[choice[j]], line)) return 1;
  return 0;
}

/* Check one block's keys and lists; *runs gets the size of its product. */
static lbbt_status check_block(const spec_load_ctx *c, const yt_node *base, const yt_node *matrix, long *runs) {
  long total = 1;
  for (int j = 0; j < matrix->n; j++) {
    const yt_node *key = matrix->keys[j], *list = matrix->vals[j];
    if (list->kind != YT_SEQ) {
      char buf[64];
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s key '%s': expected a list of values ([a, b, ...]), got %s",
                       c->file, list->line, list->col, spec_block_noun(c), key->text, yt_describe(list, buf, sizeof buf));
    }
    if (list->n == 0)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: %s key '%s' has no values; give at least one or remove the key",
                       c->file, list->line, list->col, spec_block_noun(c), key->text);
    total *= list->n;
    if (total > MAX_RUNS)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: the %s expands to more than %d runs; split the experiment",
                       c->file, key->line, key->col, spec_block_noun(c), MAX_RUNS);
  }
  /* Paths first, so that a bad matrix key is reported as such and not as a failing run. */
  for (int j = 0; j < matrix->n; j++) {
    yt_node *scratch = yt_clone(base);
    if (!scratch) return spec_oom(c);
    lbbt_status st = spec_matrix_set(c, scratch, matrix->keys[j], matrix->vals[j]->vals[0]);
    yt_free(scratch);
    LBBT_TRY(st);
  }
  *runs = total;
  return LBBT_OK;
}

/* Build the runs of one block into e->runs[b->first ..]; choices[i] gets run i's list
 * positions (allocated here, freed by the caller). */
static lbbt_status build_block(const spec_load_ctx *c, unsigned flags, const yt_node *base, const run_block *b,
                               long all_runs, lbbt_experiment *e, int **choices) {
  const yt_node *matrix = b->matrix;
  for (long i = 0; i < b->n; i++) {
    long run = b->first + i;
    choices[run] = calloc((size_t)matrix->n + 1, sizeof **choices);
    if (!choices[run]) return spec_oom(c);
    long rest = i; /* mixed-radix digits, the last key varying fastest */
    for (int j = matrix->n - 1; j >= 0; j--) {
      choices[run][j] = (int)(rest % matrix->vals[j]->n);
      rest /= matrix->vals[j]->n;
    }
    lbbt_run_spec *r = &e->runs[run];
    r->index = (int)run;
    e->n_runs = (int)run + 1;
    lbbt_status st = build_run(c, flags, base, matrix, choices[run], r);
    if (st != LBBT_OK && error_in_matrix_value(c, matrix, choices[run])) { /* which combination failed */
      char msg[2048], group[32] = "";
      snprintf(msg, sizeof msg, "%s", lbbt_last_error());
      if (b->group) snprintf(group, sizeof group, " (groups[%d])", b->group);
      st = lbbt_fail(st, "%s [run %ld of %ld%s: %s]", msg, run + 1, all_runs, group, r->label[0] ? r->label : "?");
    }
    LBBT_TRY(st);
  }
  return LBBT_OK;
}

/* The runs: the matrix's product, then each group's. */
static lbbt_status expand(const spec_load_ctx *c0, unsigned flags, const yt_node *base, const yt_node *matrix,
                          const yt_node *groups, lbbt_experiment *e) {
  run_block blocks[1 + LBBT_MAX_GROUPS];
  int n_blocks = 1 + (groups ? groups->n : 0);
  long total = 0;
  for (int k = 0; k < n_blocks; k++) {
    run_block *b = &blocks[k];
    b->matrix = k ? groups->vals[k - 1] : matrix;
    b->group = k;
    b->first = total;
    char name[32];
    block_name(b, name, sizeof name);
    spec_load_ctx c = *c0;
    c.block = name;
    LBBT_TRY(check_block(&c, base, b->matrix, &b->n));
    total += b->n;
    if (total > MAX_RUNS)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: the matrix and groups expand to more than %d runs; split the "
                       "experiment", c.file, b->matrix->line, b->matrix->col, MAX_RUNS);
  }
  e->runs = calloc((size_t)total, sizeof *e->runs);
  int **choices = calloc((size_t)total, sizeof *choices);
  lbbt_status st = e->runs && choices ? LBBT_OK : spec_oom(c0);
  for (int k = 0; st == LBBT_OK && k < n_blocks; k++) {
    char name[32];
    block_name(&blocks[k], name, sizeof name);
    spec_load_ctx c = *c0;
    c.block = name;
    st = build_block(&c, flags, base, &blocks[k], total, e, choices);
  }
  if (st == LBBT_OK) st = check_distinct_ids(c0, e, blocks, n_blocks, choices);
  for (long i = 0; choices && i < total; i++) free(choices[i]);
  free(choices);
  return st;
}

/* ---- loading ------------------------------------------------------------------------- */

static void default_name(lbbt_experiment *e) {
  const char *slash = strrchr(e->file, '/');
  const char *stem = slash ? slash + 1 : e->file;
  size_t n = strlen(stem);
  if (n > 5 && !strcmp(stem + n - 5, ".yaml")) n -= 5;
  else if (n > 4 && !strcmp(stem + n - 4, ".yml")) n -= 4;
  if (n >= sizeof e->name) n = sizeof e->name - 1;
  memcpy(e->name, stem, n);
  e->name[n] = 0;
}

static lbbt_status load(lbbt_experiment *e, const char *tier, unsigned flags, const lbbt_registry *reg) {
  spec_load_ctx c = {e->file, tier, NULL, reg};
  size_t len = 0;
  LBBT_TRY(read_file(e->file, &e->yaml_text, &len));
  lbbt_sha256_hex(e->yaml_text, len, e->sha256);
  yt_node *root = NULL, *base = NULL, *matrix = NULL;
  lbbt_status st = yt_parse(e->yaml_text, len, e->file, &root);
  if (st == LBBT_OK && root->kind != YT_MAP)
    st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: an experiment file is a mapping (experiment:, base:, matrix:, tiers:)",
                   e->file, root->line, root->col);
  if (st == LBBT_OK) {
    spec_bind b = {.file = e->file, .flags = flags};
    spec_where w = {"", "the top-level mapping", root, root};
    st = spec_bind_section(&b, &spec_top_section, &w, e, 0);
  }
  if (st == LBBT_OK && !e->name[0]) default_name(e);
  if (st == LBBT_OK) st = read_tiers(&c, yt_get(root, "tiers"), e);
  const yt_node *tier_node = NULL;
  if (st == LBBT_OK) {
    int found = !e->n_tiers && !strcmp(tier, DEFAULT_TIER);
    const yt_node *tiers = yt_get(root, "tiers");
    for (int i = 0; i < e->n_tiers; i++)
      if (!strcmp(e->tiers[i], tier)) {
        found = 1;
        tier_node = tiers->vals[i];
      }
    if (!found) st = unknown_tier(&c, e, tiers && !yt_is_null(tiers) ? tiers : root);
  }
  if (st == LBBT_OK) {
    const yt_node *b0 = yt_get(root, "base"), *m0 = yt_get(root, "matrix");
    if (b0->kind != YT_MAP) {
      char buf[64];
      st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: base: expected a mapping (one run's configuration), got %s", e->file,
                     b0->line, b0->col, yt_describe(b0, buf, sizeof buf));
    } else if (m0 && !yt_is_null(m0) && m0->kind != YT_MAP) {
      char buf[64];
      st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: matrix: expected a mapping of path: [values], got %s", e->file,
                     m0->line, m0->col, yt_describe(m0, buf, sizeof buf));
    }
    if (st == LBBT_OK) {
      base = yt_clone(b0);
      matrix = m0 && !yt_is_null(m0) ? yt_clone(m0) : yt_map(root->line, root->col);
      if (!base || !matrix) st = spec_oom(&c);
    }
  }
  if (st == LBBT_OK && tier_node && !yt_is_null(tier_node)) {
    const yt_node *tb = yt_get(tier_node, "base"), *tm = yt_get(tier_node, "matrix");
    if (tb && !yt_is_null(tb)) st = spec_merge_map(&c, base, tb, 1);
    for (int i = 0; st == LBBT_OK && tm && !yt_is_null(tm) && i < tm->n; i++)
      st = spec_put_clone(&c, matrix, tm->keys[i], tm->vals[i]);
  }
  /* groups: the file's list, or the chosen tier's when it writes one (a list replaces the
   * whole list; null removes every group). */
  const yt_node *groups = NULL;
  if (st == LBBT_OK) {
    const yt_node *tg = tier_node && tier_node->kind == YT_MAP ? yt_get(tier_node, "groups") : NULL;
    groups = tg ? tg : yt_get(root, "groups");
    if (!tg) st = check_groups(&c, "groups", groups);
    if (groups && yt_is_null(groups)) groups = NULL;
  }
  if (st == LBBT_OK) st = expand(&c, flags, base, matrix, groups, e);
  yt_free(root);
  yt_free(base);
  yt_free(matrix);
  return st;
}

lbbt_status lbbt_experiment_load_with(const char *path, const char *tier, unsigned flags, const lbbt_registry *reg,
                                      lbbt_experiment **out) {
  *out = NULL;
  if (!tier) tier = DEFAULT_TIER;
  lbbt_experiment *e = calloc(1, sizeof *e);
  if (!e) return lbbt_fail(LBBT_E_NOMEM, "%s: out of memory", path);
  if (snprintf(e->file, sizeof e->file, "%s", path) >= (int)sizeof e->file) {
    free(e);
    return lbbt_fail(LBBT_E_INPUT, "experiment path is longer than %d bytes", LBBT_PATH_MAX - 1);
  }
  if (strlen(tier) >= sizeof e->tier || !tier[0]) {
    free(e);
    return lbbt_fail(LBBT_E_INPUT, "tier name '%.32s' must be 1 to %d characters", tier, LBBT_TIER_MAX - 1);
  }
  snprintf(e->tier, sizeof e->tier, "%s", tier);
  lbbt_status st = load(e, tier, flags, reg);
  if (st != LBBT_OK) {
    lbbt_experiment_free(e);
    return st;
  }
  *out = e;
  return LBBT_OK;
}

lbbt_status lbbt_experiment_load_flags(const char *path, const char *tier, unsigned flags, lbbt_experiment **out) {
  return lbbt_experiment_load_with(path, tier, flags, lbbt_registry_global(), out);
}

lbbt_status lbbt_experiment_load(const char *path, const char *tier, lbbt_experiment **out) {
  return lbbt_experiment_load_with(path, tier, 0, lbbt_registry_global(), out);
}
