/* `lbbt verdicts`: the paper's claims (paper-tables/claims.yaml) tested on the reproduced
 * tables; see verdicts.h.  Cells come from table_data.c, the same join `lbbt table` renders. */
#include "lbbt/verdicts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/table.h"
#include "config/spec_text.h"
#include "config/spec_tree.h"
#include "report/table_data.h"

#define MAX_CLAIMS 64
#define MAX_CONTROLS 8
#define MAX_TABLES 32
#define VERDICT_LEVEL 0.95
#define CONTROL_LABEL_PREFIX "Control (not in the paper): "

/* A control: a row in place of the claimed arm (baseline NULL), or a pair of rows that
 * repeats the claim's comparison from a control init. */
typedef struct claim_control {
  const char *better, *baseline;
  int line, col;
} claim_control;

typedef struct claim {
  const char *id, *text, *paper, *metric, *better, *baseline, *dataset;
  int table;
  int applies; /* 0 when `only_tiers` leaves this tier out: the claim is checked, not reported */
  lbbt_relation rel;
  /* `than: {better: R1, baseline: R2}`: the claim is about the advantage better - baseline
   * against the advantage R1 - R2 (does it grow?), tested on the difference of the two */
  claim_control than;
  int has_than;
  claim_control controls[MAX_CONTROLS];
  int n_controls;
  int line, col;
} claim;

typedef struct claims_file {
  yt_node *root;
  const char *path;
  claim claims[MAX_CLAIMS];
  int n;
} claims_file;

static const char *scalar(const yt_node *n) { return n && n->kind == YT_SCALAR ? n->text : NULL; }

static const char *const CLAIM_KEYS[] = {"id", "claim", "paper", "table", "metric", "better",
                                         "baseline", "relation", "controls", "dataset", "tiers",
                                         "only_tiers", "than"};
#define N_CLAIM_KEYS ((int)(sizeof CLAIM_KEYS / sizeof CLAIM_KEYS[0]))
/* What `tiers: {<tier>: {...}}` may replace at one tier. */
static const char *const TIER_KEYS[] = {"better", "baseline", "controls", "than"};
#define N_TIER_KEYS ((int)(sizeof TIER_KEYS / sizeof TIER_KEYS[0]))

static lbbt_status known_keys(const char *file, const yt_node *m, const char *const *keys, int n, const char *where) {
  for (int k = 0; k < m->n; k++) {
    int known = 0;
    for (int i = 0; i < n; i++) known |= !strcmp(m->keys[k]->text, keys[i]);
    if (!known) {
      const char *near = spec_suggest(m->keys[k]->text, keys, n);
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: unknown key '%s' in %s%s%s%s", file, m->keys[k]->line,
                       m->keys[k]->col, m->keys[k]->text, where, near ? "; did you mean '" : "", near ? near : "",
                       near ? "'?" : "");
    }
  }
  return LBBT_OK;
}

static lbbt_status need_scalar(const char *file, const yt_node *map, const char *key, int required,
                               const char **out) {
  const yt_node *v = yt_get(map, key);
  *out = scalar(v);
  if (v && !*out)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: '%s' must be a single value", file, v->line, v->col, key);
  if (required && !*out)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a claim needs '%s'", file, map->line, map->col, key);
  return LBBT_OK;
}

static lbbt_status read_control(const char *file, const yt_node *n, claim_control *c) {
  c->line = n->line;
  c->col = n->col;
  if (n->kind == YT_SCALAR) {
    c->better = n->text;
    c->baseline = NULL;
    return LBBT_OK;
  }
  if (n->kind != YT_MAP || yt_get(n, "better") == NULL || yt_get(n, "baseline") == NULL || n->n != 2)
    return lbbt_fail(LBBT_E_INPUT,
                     "%s:%d:%d: a control is a row id (it replaces the claimed row) or {better: ROW, "
                     "baseline: ROW} (both rows from the control init)",
                     file, n->line, n->col);
  LBBT_TRY(need_scalar(file, n, "better", 1, &c->better));
  return need_scalar(file, n, "baseline", 1, &c->baseline);
}

/* `than:` is a pair of rows, like a control pair. */
static lbbt_status read_than(const char *file, const yt_node *n, claim *c) {
  if (n->kind != YT_MAP)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: than must be {better: ROW, baseline: ROW} (the advantage to compare with)",
                     file, n->line, n->col);
  LBBT_TRY(read_control(file, n, &c->than));
  c->has_than = 1;
  return LBBT_OK;
}

static lbbt_status read_controls(const char *file, const yt_node *ctl, claim *c) {
  if (ctl->kind != YT_SEQ) return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: controls must be a list", file, ctl->line, ctl->col);
  if (ctl->n > MAX_CONTROLS)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: at most %d controls per claim", file, ctl->line, ctl->col, MAX_CONTROLS);
  c->n_controls = 0;
  for (int i = 0; i < ctl->n; i++) LBBT_TRY(read_control(file, ctl->vals[i], &c->controls[c->n_controls++]));
  return LBBT_OK;
}

/* `tiers:`: every entry is checked; the one for `tier` replaces better, baseline, controls. */
static lbbt_status apply_tier(const char *file, const yt_node *tiers, const char *tier, claim *c) {
  if (tiers->kind != YT_MAP)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: tiers must map a tier name to {better, baseline, controls}", file,
                     tiers->line, tiers->col);
  for (int t = 0; t < tiers->n; t++) {
    const yt_node *o = tiers->vals[t];
    if (o->kind != YT_MAP)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: tiers.%s must be a mapping", file, o->line, o->col,
                       tiers->keys[t]->text);
    LBBT_TRY(known_keys(file, o, TIER_KEYS, N_TIER_KEYS, "a claim's tier override"));
    claim probe = *c; /* checks the entry even when it is not this tier's */
    const char *v;
    LBBT_TRY(need_scalar(file, o, "better", 0, &v));
    if (v) probe.better = v;
    LBBT_TRY(need_scalar(file, o, "baseline", 0, &v));
    if (v) probe.baseline = v;
    if (yt_get(o, "controls")) LBBT_TRY(read_controls(file, yt_get(o, "controls"), &probe));
    if (yt_get(o, "than")) LBBT_TRY(read_than(file, yt_get(o, "than"), &probe));
    if (!strcmp(tiers->keys[t]->text, tier)) *c = probe;
  }
  return LBBT_OK;
}

/* `only_tiers: [cpu, smoke]`: the claim is tested at those tiers only (its rows exist only
 * there, e.g. a second backbone the cpu tier adds); absent = every tier. */
static lbbt_status read_only_tiers(const char *file, const yt_node *list, const char *tier, claim *c) {
  c->applies = 1;
  if (!list) return LBBT_OK;
  if (list->kind != YT_SEQ || list->n == 0)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: only_tiers must be a non-empty list of tier names ([cpu, smoke])",
                     file, list->line, list->col);
  c->applies = 0;
  for (int i = 0; i < list->n; i++) {
    const char *t = scalar(list->vals[i]);
    if (!t)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: only_tiers: each entry is a tier name", file, list->vals[i]->line,
                       list->vals[i]->col);
    if (!strcmp(t, tier)) c->applies = 1;
  }
  return LBBT_OK;
}

static lbbt_status read_claim(const char *file, const yt_node *m, const char *tier, claim *c) {
  if (m->kind != YT_MAP) return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a claim must be a mapping", file, m->line, m->col);
  c->line = m->line;
  c->col = m->col;
  LBBT_TRY(known_keys(file, m, CLAIM_KEYS, N_CLAIM_KEYS, "a claim"));
  const char *table, *rel;
  LBBT_TRY(need_scalar(file, m, "id", 1, &c->id));
  LBBT_TRY(need_scalar(file, m, "claim", 1, &c->text));
  LBBT_TRY(need_scalar(file, m, "paper", 0, &c->paper));
  LBBT_TRY(need_scalar(file, m, "table", 1, &table));
  LBBT_TRY(need_scalar(file, m, "metric", 1, &c->metric));
  LBBT_TRY(need_scalar(file, m, "better", 1, &c->better));
  LBBT_TRY(need_scalar(file, m, "baseline", 1, &c->baseline));
  LBBT_TRY(need_scalar(file, m, "relation", 1, &rel));
  LBBT_TRY(need_scalar(file, m, "dataset", 0, &c->dataset));
  long long n;
  const yt_node *tn = yt_get(m, "table");
  if (!spec_parse_integer(table, &n) || n < 1 || n > 99)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: table must be a table number, got '%s'", file, tn->line, tn->col, table);
  c->table = (int)n;
  if (!lbbt_relation_parse(rel, &c->rel)) {
    const yt_node *rn = yt_get(m, "relation");
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: relation must be 'greater' or 'not-worse', got '%s'", file, rn->line,
                     rn->col, rel);
  }
  if (yt_get(m, "controls")) LBBT_TRY(read_controls(file, yt_get(m, "controls"), c));
  if (yt_get(m, "than")) LBBT_TRY(read_than(file, yt_get(m, "than"), c));
  if (yt_get(m, "tiers")) LBBT_TRY(apply_tier(file, yt_get(m, "tiers"), tier, c));
  if (c->has_than && c->n_controls > 0)
    return lbbt_fail(LBBT_E_INPUT,
                     "%s:%d:%d: claim '%s': a claim with 'than' (the growth of an advantage) takes no controls: "
                     "give each advantage's own claim its controls",
                     file, c->line, c->col, c->id);
  return read_only_tiers(file, yt_get(m, "only_tiers"), tier, c);
}

static lbbt_status load_claims(const char *path, const char *tier, claims_file *cf) {
  memset(cf, 0, sizeof *cf);
  cf->path = path;
  FILE *f = fopen(path, "rb");
  if (!f) return lbbt_fail(LBBT_E_INPUT, "%s: cannot open the claims file: %s", path, strerror(errno));
  spec_buf text = {0};
  char chunk[4096];
  size_t got;
  while ((got = fread(chunk, 1, sizeof chunk - 1, f)) > 0) {
    chunk[got] = 0;
    if (memchr(chunk, 0, got)) {
      fclose(f);
      spec_buf_free(&text);
      return lbbt_fail(LBBT_E_INPUT, "%s: not a text file (NUL byte)", path);
    }
    spec_buf_add(&text, chunk);
  }
  int err = ferror(f);
  fclose(f);
  if (err || text.oom) {
    spec_buf_free(&text);
    return lbbt_fail(err ? LBBT_E_IO : LBBT_E_NOMEM, "%s: read failed", path);
  }
  lbbt_status st = yt_parse(text.s ? text.s : "", text.len, path, &cf->root);
  spec_buf_free(&text);
  if (st != LBBT_OK) return st;
  const yt_node *list = cf->root->kind == YT_MAP ? yt_get(cf->root, "claims") : NULL;
  if (!list || list->kind != YT_SEQ)
    return lbbt_fail(LBBT_E_INPUT, "%s: the top level must be a mapping with a 'claims' list", path);
  if (list->n > MAX_CLAIMS)
    return lbbt_fail(LBBT_E_INPUT, "%s: at most %d claims (this file: %d)", path, MAX_CLAIMS, list->n);
  for (int i = 0; i < list->n; i++) {
    claim *c = &cf->claims[cf->n++];
    LBBT_TRY(read_claim(path, list->vals[i], tier, c));
    for (int k = 0; k < i; k++)
      if (!strcmp(cf->claims[k].id, c->id))
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: claim id '%s' is used twice", path, c->line, c->col, c->id);
  }
  return LBBT_OK;
}

/* ---- tables ------------------------------------------------------------------------- */

typedef struct table_cache {
  int number[MAX_TABLES];
  table_data *data[MAX_TABLES];
  int n;
} table_cache;

static lbbt_status cached_table(table_cache *tc, const lbbt_verdicts_options *o, int number, table_data **out) {
  for (int i = 0; i < tc->n; i++)
    if (tc->number[i] == number) {
      *out = tc->data[i];
      return LBBT_OK;
    }
  if (tc->n == MAX_TABLES) return lbbt_fail(LBBT_E_INPUT, "verdicts: claims use more than %d tables", MAX_TABLES);
  lbbt_table_options to;
  memset(&to, 0, sizeof to);
  to.table = number;
  to.tier = o->tier;
  to.paper_dir = o->paper_dir;
  to.results_dir = o->results_dir;
  LBBT_TRY(table_data_load(&to, 1, out));
  tc->number[tc->n] = number;
  tc->data[tc->n++] = *out;
  return LBBT_OK;
}

static lbbt_status need_row(const claims_file *cf, const claim *c, const table_data *d, const char *row, int line,
                            int col, int *idx) {
  *idx = table_data_row_index(d, row);
  if (*idx >= 0) return LBBT_OK;
  spec_buf ids = {0};
  for (int r = 0; r < d->n_rows; r++) spec_buf_addf(&ids, "%s%s", r ? ", " : "", d->rows[r].id);
  lbbt_status st = lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: claim '%s': table %d has no row '%s' (rows: %s)", cf->path, line,
                             col, c->id, c->table, row, ids.s ? ids.s : "none");
  spec_buf_free(&ids);
  return st;
}

/* Every claim's table, rows and metric exist (checked before anything is written). */
static lbbt_status check_claims(const claims_file *cf, table_cache *tc, const lbbt_verdicts_options *o) {
  for (int i = 0; i < cf->n; i++) {
    const claim *c = &cf->claims[i]; /* checked at every tier, reported at its own */
    table_data *d;
    lbbt_status st = cached_table(tc, o, c->table, &d);
    if (st != LBBT_OK)
      return lbbt_fail_context(st, "%s:%d:%d: claim '%s': ", cf->path, c->line, c->col, c->id);
    int idx;
    LBBT_TRY(need_row(cf, c, d, c->better, c->line, c->col, &idx));
    LBBT_TRY(need_row(cf, c, d, c->baseline, c->line, c->col, &idx));
    if (c->has_than) {
      LBBT_TRY(need_row(cf, c, d, c->than.better, c->than.line, c->than.col, &idx));
      LBBT_TRY(need_row(cf, c, d, c->than.baseline, c->than.line, c->than.col, &idx));
    }
    for (int k = 0; k < c->n_controls; k++) {
      LBBT_TRY(need_row(cf, c, d, c->controls[k].better, c->controls[k].line, c->controls[k].col, &idx));
      if (c->controls[k].baseline)
        LBBT_TRY(need_row(cf, c, d, c->controls[k].baseline, c->controls[k].line, c->controls[k].col, &idx));
    }
    if (table_data_group_index(d, c->metric) < 0)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: claim '%s': table %d has no column group or metric '%s'", cf->path,
                       c->line, c->col, c->id, c->table, c->metric);
  }
  return LBBT_OK;
}

/* ---- rendering ---------------------------------------------------------------------- */

static const char *short_label(const char *label) {
  size_t n = strlen(CONTROL_LABEL_PREFIX);
  return strncmp(label, CONTROL_LABEL_PREFIX, n) ? label : label + n;
}

static void arm_text(spec_buf *b, const table_cell *c) {
  if (c->n_diverged)
    spec_buf_addf(b, "diverged (%d run%s)", c->n_diverged, c->n_diverged == 1 ? "" : "s");
  else if (c->n == 0)
    spec_buf_add(b, "no run");
  else if (c->n == 1)
    spec_buf_addf(b, "%.1f (n=1)", c->mean);
  else
    spec_buf_addf(b, "%.1f ± %.1f (n=%d)", c->mean, c->std, c->n);
}

/* "+2.0 [+0.5, +3.5]" (or "+2.0" without an interval), then the verdict: ", supports". */
static void comparison_text(spec_buf *b, lbbt_verdict v, const lbbt_welch *w) {
  if (v == LBBT_VERDICT_NOT_RUN) {
    spec_buf_add(b, "not run yet");
    return;
  }
  if (v == LBBT_VERDICT_TOO_FEW)
    spec_buf_addf(b, "%+.1f", w->diff);
  else
    spec_buf_addf(b, "%+.1f [%+.1f, %+.1f]", w->diff, w->lo, w->hi);
  spec_buf_addf(b, ", %s", lbbt_verdict_name(v));
}

static lbbt_verdict compare_cells(const table_cell *a, const table_cell *b, lbbt_relation rel, lbbt_welch *w) {
  return lbbt_compare_arms(a->values, a->n, b->values, b->n, rel, VERDICT_LEVEL, w);
}

/* Why: "the interval lies above 0", or for a not-worse claim supported by an interval that
 * contains 0, how large a loss the seeds cannot exclude. */
static void verdict_reason(spec_buf *b, lbbt_relation rel, lbbt_verdict v, const lbbt_welch *w) {
  switch (v) {
  case LBBT_VERDICT_SUPPORTS:
    if (rel == LBBT_RELATION_NOT_WORSE && w->lo <= 0)
      spec_buf_addf(b, "the interval contains 0: the rows match within noise (these seeds cannot exclude a loss of "
                       "up to %.1f)", -w->lo);
    else
      spec_buf_add(b, "the interval lies above 0");
    return;
  case LBBT_VERDICT_CONTRADICTS: spec_buf_add(b, "the interval lies below 0"); return;
  case LBBT_VERDICT_WITHIN_NOISE: spec_buf_add(b, "the interval contains 0"); return;
  case LBBT_VERDICT_TOO_FEW:
    spec_buf_add(b, "a row has a single run, so there is no spread to draw an interval from");
    return;
  case LBBT_VERDICT_NOT_RUN: spec_buf_add(b, "a row has no runs yet"); return;
  }
}

static void render_paper_values(spec_buf *md, const table_data *d, const claim *c, int better, int baseline) {
  const char *metric = d->groups[table_data_group_index(d, c->metric)].metric;
  int any = 0;
  for (int k = 0; k < d->n_cols; k++) {
    if (strcmp(d->cols[k].metric, metric)) continue;
    const char *a = d->rows[better].paper[k], *b = d->rows[baseline].paper[k];
    if (!a && !b) continue;
    spec_buf_addf(md, "%s%s %s vs %s", any ? "; " : "In the paper: ", d->cols[k].dataset ? d->cols[k].dataset : d->cols[k].id,
                  a ? a : "n.r.", b ? b : "n.r.");
    any = 1;
  }
  spec_buf_add(md, any ? ".\n\n" : "The paper reports neither row for this metric in this table.\n\n");
}

/* Each control's comparison on one dataset, one line each; every reading is counted in *tally. */
static void render_controls(spec_buf *md, const table_data *d, const claim *c, int group, int dataset,
                            lbbt_verdict claim_verdict, int better, int baseline, lbbt_control_tally *tally) {
  const table_cell *cb = table_data_cell(d, better, dataset, group);
  const table_cell *cs = table_data_cell(d, baseline, dataset, group);
  for (int k = 0; k < c->n_controls; k++) {
    const claim_control *ctl = &c->controls[k];
    int cr = table_data_row_index(d, ctl->better);
    const table_cell *cc = table_data_cell(d, cr, dataset, group);
    spec_buf_add(md, "- ");
    if (d->n_datasets > 1) spec_buf_addf(md, "[%s] ", d->datasets[dataset]);
    spec_buf_addf(md, "*%s* (`%s`)", short_label(d->rows[cr].label), ctl->better);
    lbbt_control_reading reading;
    lbbt_welch w1, w2;
    if (!ctl->baseline) {
      spec_buf_add(md, " in place of the claimed row: ");
      arm_text(md, cc);
      lbbt_verdict v1 = compare_cells(cb, cc, LBBT_RELATION_GREATER, &w1);
      lbbt_verdict v2 = compare_cells(cc, cs, LBBT_RELATION_GREATER, &w2);
      spec_buf_add(md, ". Claimed − control: ");
      comparison_text(md, v1, &w1);
      spec_buf_add(md, "; control − baseline: ");
      comparison_text(md, v2, &w2);
      reading = lbbt_control_read_arm(claim_verdict, v1, v2);
    } else {
      int cbase = table_data_row_index(d, ctl->baseline);
      const table_cell *cbb = table_data_cell(d, cbase, dataset, group);
      spec_buf_addf(md, " vs *%s* (`%s`), the claim's comparison from the control init: ",
                    short_label(d->rows[cbase].label), ctl->baseline);
      arm_text(md, cc);
      spec_buf_add(md, " vs ");
      arm_text(md, cbb);
      lbbt_verdict v = compare_cells(cc, cbb, c->rel, &w1);
      spec_buf_add(md, "; difference ");
      comparison_text(md, v, &w1);
      if (v == LBBT_VERDICT_SUPPORTS && c->rel == LBBT_RELATION_NOT_WORSE && w1.lo <= 0)
        spec_buf_addf(md, " (within noise: a loss of up to %.1f is not excluded)", -w1.lo);
      reading = lbbt_control_read_pair(claim_verdict, v);
    }
    lbbt_control_tally_add(tally, reading);
    spec_buf_addf(md, ". → %s.\n", lbbt_control_reading_text(reading));
  }
}

/* The commands that rerun the claim's table and this report: `make table-N` for the default
 * results folder, else `lbbt run` into the folder given. */
static void reproduce_command(spec_buf *b, const lbbt_verdicts_options *o, const char *tier, const table_data *d) {
  if (o->results_dir)
    spec_buf_addf(b, "build/lbbt run %s --tier %s --out %s && ", d->exp->file, tier, d->results_path);
  else
    spec_buf_addf(b, "make table-%d TIER=%s && ", d->number, tier);
  spec_buf_addf(b, "build/lbbt verdicts --tier %s", tier);
  if (o->results_dir) spec_buf_addf(b, " --results-dir %s", o->results_dir);
  if (o->claims_path) spec_buf_addf(b, " --claims %s", o->claims_path);
  if (o->paper_dir) spec_buf_addf(b, " --paper-tables %s", o->paper_dir);
}

/* The last line of a claim's section: where its data is and how to reproduce it. */
static void data_line(spec_buf *md, const lbbt_verdicts_options *o, const char *tier, const table_data *d) {
  spec_buf_addf(md, "Data: `%s`", d->results_path);
  if (d->res) spec_buf_addf(md, " (%d of %d runs present)", d->exp->n_runs - d->n_missing, d->exp->n_runs);
  spec_buf_add(md, ". Reproduce: `");
  reproduce_command(md, o, tier, d);
  spec_buf_add(md, "`\n\n");
}

/* A claim with `than:`: the advantage better - baseline against the advantage than.better -
 * than.baseline, per dataset; greater: the advantage grows (supports), shrinks (contradicts)
 * or the seeds cannot tell (within noise). */
static void render_growth_claim(spec_buf *md, const lbbt_verdicts_options *o, const char *tier, int index,
                                const claim *c, table_data *d, spec_buf *summary) {
  int rows[4] = {table_data_row_index(d, c->better), table_data_row_index(d, c->baseline),
                 table_data_row_index(d, c->than.better), table_data_row_index(d, c->than.baseline)};
  int group = table_data_group_index(d, c->metric);
  spec_buf_addf(md, "## %d. %s (Table %d)\n\n", index + 1, c->text, c->table);
  spec_buf_addf(md, "Claim `%s`: the advantage *%s* − *%s* %s the advantage *%s* − *%s* in `%s`", c->id,
                short_label(d->rows[rows[0]].label), short_label(d->rows[rows[1]].label),
                c->rel == LBBT_RELATION_GREATER ? "larger than" : "not smaller than",
                short_label(d->rows[rows[2]].label), short_label(d->rows[rows[3]].label), d->groups[group].label);
  if (c->paper) spec_buf_addf(md, " (%s)", c->paper);
  spec_buf_add(md, ". The difference of the two advantages is tested (a Welch interval over the four rows' "
                   "seeds): above 0, the advantage grows; below 0, it shrinks; containing 0, the seeds cannot "
                   "tell growth from shrinkage.\n\n");
  spec_buf_add(md, "| data | advantage | compared advantage | growth [95% interval] | df | verdict |\n"
                   "|---|---|---|---|---|---|\n");
  spec_buf verdict_text = {0}, verdict_md = {0}; /* for the summary; "**w1** (d1); **w2** (d2)" */
  int n_shown = 0;
  for (int k = 0; k < d->n_datasets; k++) {
    if (c->dataset && strcmp(c->dataset, d->datasets[k])) continue;
    const double *arms[4];
    int n[4];
    for (int i = 0; i < 4; i++) {
      const table_cell *cell = table_data_cell(d, rows[i], k, group);
      arms[i] = cell->values;
      n[i] = cell->n;
    }
    lbbt_growth g;
    lbbt_verdict v = lbbt_compare_growth(arms, n, c->rel, VERDICT_LEVEL, &g);
    spec_buf_addf(md, "| %s | ", d->datasets[k]);
    if (v == LBBT_VERDICT_NOT_RUN)
      spec_buf_add(md, "— | — | — | — |");
    else if (v == LBBT_VERDICT_TOO_FEW)
      spec_buf_addf(md, "%+.1f | %+.1f | %+.1f (no interval) | — |", g.adv_ab, g.adv_cd, g.diff);
    else
      spec_buf_addf(md, "%+.1f | %+.1f | %+.1f [%+.1f, %+.1f] | %.1f |", g.adv_ab, g.adv_cd, g.diff, g.lo, g.hi,
                    g.df);
    spec_buf_addf(md, " %s |\n", lbbt_verdict_name(v));
    spec_buf_addf(&verdict_text, "%s%s", n_shown ? "; " : "", lbbt_verdict_name(v));
    spec_buf_addf(&verdict_md, "%s%s**", n_shown ? "; **" : "", lbbt_verdict_name(v));
    if (c->dataset == NULL && d->n_datasets > 1) {
      spec_buf_addf(&verdict_text, " (%s)", d->datasets[k]);
      spec_buf_addf(&verdict_md, " (%s)", d->datasets[k]);
    }
    n_shown++;
  }
  spec_buf_add(md, "\n");
  if (!d->res || n_shown == 0) {
    spec_buf_add(summary, lbbt_verdict_name(LBBT_VERDICT_NOT_RUN));
    spec_buf_addf(md, "**Verdict: not run yet** — %s.\n\n",
                  !d->res ? "the table's results do not exist" : "the results hold no run on this dataset");
  } else {
    spec_buf_add(summary, verdict_text.s);
    spec_buf_addf(md, "**Verdict: %s.\n\n", verdict_md.s);
  }
  spec_buf_free(&verdict_text);
  spec_buf_free(&verdict_md);
  spec_buf_add(summary, " | none");
  spec_buf_add(md, "Controls: none apply (each advantage's own claim reads its controls).\n\n");
  data_line(md, o, tier, d);
}

/* One claim's section into md, and its verdict per dataset into summary (for the table on top). */
static void render_claim(spec_buf *md, const lbbt_verdicts_options *o, const char *tier, int index, const claim *c,
                         table_data *d, spec_buf *summary) {
  if (c->has_than) {
    render_growth_claim(md, o, tier, index, c, d, summary);
    return;
  }
  int better = table_data_row_index(d, c->better), baseline = table_data_row_index(d, c->baseline);
  int group = table_data_group_index(d, c->metric);
  spec_buf_addf(md, "## %d. %s (Table %d)\n\n", index + 1, c->text, c->table);
  spec_buf_addf(md, "Claim `%s`: *%s* %s *%s* in `%s`", c->id, d->rows[better].label,
                c->rel == LBBT_RELATION_GREATER ? "higher than" : "not worse than", d->rows[baseline].label,
                d->groups[group].label);
  if (c->paper) spec_buf_addf(md, " (%s)", c->paper);
  spec_buf_add(md, ".\n");
  render_paper_values(md, d, c, better, baseline);
  spec_buf_addf(md, "| data | %s | %s | difference [95%% interval] | df | verdict |\n|---|---|---|---|---|---|\n",
                short_label(d->rows[better].label), short_label(d->rows[baseline].label));
  lbbt_verdict verdicts[TABLE_MAX_DATASETS];
  lbbt_welch ws[TABLE_MAX_DATASETS];
  int shown[TABLE_MAX_DATASETS] = {0}, n_shown = 0;
  for (int k = 0; k < d->n_datasets; k++) {
    if (c->dataset && strcmp(c->dataset, d->datasets[k])) continue;
    const table_cell *a = table_data_cell(d, better, k, group), *b = table_data_cell(d, baseline, k, group);
    lbbt_welch *w = &ws[k];
    verdicts[k] = compare_cells(a, b, c->rel, w);
    shown[k] = 1;
    n_shown++;
    spec_buf_addf(md, "| %s | ", d->datasets[k]);
    arm_text(md, a);
    spec_buf_add(md, " | ");
    arm_text(md, b);
    spec_buf_add(md, " | ");
    if (verdicts[k] == LBBT_VERDICT_NOT_RUN)
      spec_buf_add(md, "— | — |");
    else if (verdicts[k] == LBBT_VERDICT_TOO_FEW)
      spec_buf_addf(md, "%+.1f (no interval) | — |", w->diff);
    else
      spec_buf_addf(md, "%+.1f [%+.1f, %+.1f] | %.1f |", w->diff, w->lo, w->hi, w->df);
    spec_buf_addf(md, " %s |\n", lbbt_verdict_name(verdicts[k]));
  }
  spec_buf_add(md, "\n");
  if (!d->res || n_shown == 0) spec_buf_add(summary, lbbt_verdict_name(LBBT_VERDICT_NOT_RUN));
  if (!d->res) {
    spec_buf_addf(md, "**Verdict: not run yet** — `%s` does not exist.\n\n", d->results_path);
  } else if (n_shown == 0) {
    spec_buf_addf(md, "**Verdict: not run yet** — the results hold no run on dataset '%s'.\n\n",
                  c->dataset ? c->dataset : "?");
  } else {
    spec_buf_add(md, "**Verdict:");
    int first = 1;
    for (int k = 0; k < d->n_datasets; k++) {
      if (!shown[k]) continue;
      spec_buf_addf(md, "%s %s**", first ? "" : "; **", lbbt_verdict_name(verdicts[k]));
      spec_buf_addf(summary, "%s%s", first ? "" : "; ", lbbt_verdict_name(verdicts[k]));
      if (n_shown > 1) {
        spec_buf_addf(md, " (%s)", d->datasets[k]);
        spec_buf_addf(summary, " (%s)", d->datasets[k]);
      }
      spec_buf_add(md, " — ");
      verdict_reason(md, c->rel, verdicts[k], &ws[k]);
      first = 0;
    }
    spec_buf_add(md, ".\n\n");
  }
  /* the summary's last column: do the controls reproduce the effect? (per dataset shown) */
  char tally_text[128];
  if (c->n_controls == 0) {
    spec_buf_add(summary, " | none");
    spec_buf_add(md, "Controls: none apply (the claim does not compare weight initialisations).\n\n");
  } else if (!d->res || n_shown == 0) {
    spec_buf_add(summary, " | not run yet");
    spec_buf_add(md, "Controls (not in the paper):");
    for (int k = 0; k < c->n_controls; k++)
      spec_buf_addf(md, "%s `%s`%s%s%s", k ? "," : "", c->controls[k].better, c->controls[k].baseline ? " vs `" : "",
                    c->controls[k].baseline ? c->controls[k].baseline : "", c->controls[k].baseline ? "`" : "");
    spec_buf_add(md, " — not run yet.\n\n");
  } else {
    spec_buf_add(md, "Controls (not in the paper):\n");
    lbbt_control_tally tallies[TABLE_MAX_DATASETS];
    memset(tallies, 0, sizeof tallies);
    for (int k = 0; k < d->n_datasets; k++)
      if (shown[k]) render_controls(md, d, c, group, k, verdicts[k], better, baseline, &tallies[k]);
    spec_buf_add(md, "\n**Controls:");
    spec_buf_add(summary, " |");
    for (int k = 0, first = 1; k < d->n_datasets; k++) {
      if (!shown[k]) continue;
      lbbt_control_tally_text(&tallies[k], tally_text, sizeof tally_text);
      spec_buf_addf(md, "%s %s", first ? "" : ";", tally_text);
      spec_buf_addf(summary, "%s %s", first ? "" : ";", tally_text);
      if (n_shown > 1) {
        spec_buf_addf(md, " (%s)", d->datasets[k]);
        spec_buf_addf(summary, " (%s)", d->datasets[k]);
      }
      first = 0;
    }
    spec_buf_add(md, "** (a control that reproduces the effect shows that it follows the weight statistics the control "
                     "keeps, not the language structure).\n\n");
  }
  data_line(md, o, tier, d);
}

static lbbt_status ensure_dir(const char *dir) {
  if (mkdir(dir, 0755) == 0 || errno == EEXIST) return LBBT_OK;
  return lbbt_fail(LBBT_E_IO, "cannot create folder %s: %s", dir, strerror(errno));
}

lbbt_status lbbt_verdicts_render(const lbbt_verdicts_options *o, FILE *echo) {
  const char *tier = o->tier ? o->tier : "cpu";
  const char *claims_path = o->claims_path ? o->claims_path : "paper-tables/claims.yaml";
  claims_file *cf = calloc(1, sizeof *cf);
  table_cache *tc = calloc(1, sizeof *tc);
  spec_buf body = {0}, summary = {0}, md = {0};
  lbbt_status st = cf && tc ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "verdicts: out of memory");
  if (st == LBBT_OK) st = load_claims(claims_path, tier, cf);
  if (st == LBBT_OK) st = check_claims(cf, tc, o);
  if (st != LBBT_OK) goto done;
  for (int i = 0, shown = 0; i < cf->n; i++) {
    if (!cf->claims[i].applies) continue;
    table_data *d;
    LBBT_TRY_GOTO(st, cached_table(tc, o, cf->claims[i].table, &d), done);
    spec_buf_addf(&summary, "| %d | %s | %d | ", shown + 1, cf->claims[i].text, cf->claims[i].table);
    render_claim(&body, o, tier, shown++, &cf->claims[i], d, &summary);
    spec_buf_add(&summary, " |\n");
  }
  spec_buf_addf(&md, "# Verdicts — the paper's claims tested at tier %s\n\n", tier);
  spec_buf_addf(&md,
                "Generated by `lbbt verdicts --tier %s` from `%s` and the rendered tables' results. Each claim "
                "compares two rows of one table over seeds: the difference of their means (claimed − baseline) "
                "with a %.0f%% Welch t interval. **supports**: the interval lies above 0 (for \"not worse\" "
                "claims: it does not lie entirely below 0); **contradicts**: it lies below 0; **within noise**: "
                "it contains 0; **too few seeds**: a row has one run; **not run yet**: a row has none. Controls "
                "(not in the paper) rerun a row from weights that keep some statistics of the language weights "
                "but not their structure, and say which of the two the effect follows. Regenerate everything "
                "with `make verdicts TIER=%s`.\n\n",
                tier, claims_path, 100 * VERDICT_LEVEL, tier);
  spec_buf_add(&md, "| # | claim | table | verdict | controls reproduce it? |\n|---|---|---|---|---|\n");
  spec_buf_add(&md, summary.s ? summary.s : "");
  spec_buf_add(&md, "\n");
  spec_buf_add(&md, body.s ? body.s : "");
  if (md.oom || body.oom || summary.oom) {
    st = lbbt_fail(LBBT_E_NOMEM, "verdicts: out of memory");
    goto done;
  }
  const char *outd = o->out_dir ? o->out_dir : o->results_dir ? o->results_dir : "results";
  LBBT_TRY_GOTO(st, ensure_dir(outd), done);
  char out[LBBT_PATH_MAX + 64];
  if (strcmp(tier, "cpu"))
    snprintf(out, sizeof out, "%s/verdicts-%s.md", outd, tier);
  else
    snprintf(out, sizeof out, "%s/verdicts.md", outd);
  LBBT_TRY_GOTO(st, table_write_text(out, md.s), done);
  if (echo) fputs(md.s, echo);
done:
  if (tc)
    for (int i = 0; i < tc->n; i++) table_data_free(tc->data[i]);
  free(tc);
  if (cf) yt_free(cf->root);
  free(cf);
  spec_buf_free(&body);
  spec_buf_free(&summary);
  spec_buf_free(&md);
  return st;
}

lbbt_status lbbt_verdicts_tables(const char *claims_path, int *tables, int max, int *n) {
  *n = 0;
  claims_file *cf = calloc(1, sizeof *cf);
  if (!cf) return lbbt_fail(LBBT_E_NOMEM, "verdicts: out of memory");
  lbbt_status st = load_claims(claims_path ? claims_path : "paper-tables/claims.yaml", "cpu", cf);
  for (int i = 0; st == LBBT_OK && i < cf->n; i++) {
    int seen = 0;
    for (int k = 0; k < *n; k++) seen |= tables[k] == cf->claims[i].table;
    if (seen) continue;
    if (*n == max) {
      st = lbbt_fail(LBBT_E_INPUT, "%s: the claims use more than %d tables", cf->path, max);
      break;
    }
    tables[(*n)++] = cf->claims[i].table;
  }
  yt_free(cf->root);
  free(cf);
  return st;
}
