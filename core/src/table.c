/* `lbbt table N`; see table.h. */
#include "lbbt/table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbbt/results.h"
#include "lbbt/runner.h"
#include "lbbt/spec.h"
#include "spec_text.h"
#include "spec_tree.h"

#define MAX_COLS 32
#define MAX_ROWS 64
#define MAX_SEL 8
#define MAX_GROUPS 16
#define MAX_DATASETS 8

typedef struct selector {
  const char *key[MAX_SEL], *value[MAX_SEL];
  int n;
} selector;

typedef struct paper_col {
  const char *id, *dataset, *metric;
  selector sel;
} paper_col;

typedef struct paper_row {
  const char *id, *label;
  const char *metric; /* when set, every cell of the row reads this metric (rows are metrics,
                         as in Table 15) instead of its column's */
  int digits;         /* decimals of rendered cells (default 1) */
  selector sel;
  const char *paper[MAX_COLS]; /* text of the published value per paper column, NULL = n.r. */
  const char *source[MAX_COLS];
} paper_row;

/* A reproduced column group: one metric under one column selector. */
typedef struct col_group {
  const char *metric;
  const selector *sel;
  const char *label; /* e.g. "train_acc1" */
} col_group;

typedef struct cell {
  int n;
  double mean, std, values[64];
} cell;

typedef struct table_def {
  yt_node *root;
  int number;
  const char *title, *experiment;
  paper_col cols[MAX_COLS];
  int n_cols;
  paper_row rows[MAX_ROWS];
  int n_rows;
  const yt_node *metrics; /* map metric -> record path */
  const yt_node *notes;   /* list */
} table_def;

static const char *scalar(const yt_node *n) { return n && n->kind == YT_SCALAR ? n->text : NULL; }

static lbbt_status read_selector(const yt_node *m, selector *s, const char *file) {
  s->n = 0;
  if (!m) return LBBT_OK;
  if (m->kind != YT_MAP) return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: select must be a mapping", file, m->line, m->col);
  for (int i = 0; i < m->n && s->n < MAX_SEL; i++) {
    s->key[s->n] = m->keys[i]->text;
    s->value[s->n] = scalar(m->vals[i]);
    if (!s->value[s->n])
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: select values must be scalars", file, m->vals[i]->line,
                       m->vals[i]->col);
    s->n++;
  }
  return LBBT_OK;
}

static lbbt_status load_def(const char *path, const char *tier, table_def *d) {
  memset(d, 0, sizeof *d);
  FILE *f = fopen(path, "rb");
  if (!f) return lbbt_fail(LBBT_E_INPUT, "%s: cannot open: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *text = malloc((size_t)len + 1);
  if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
    fclose(f);
    free(text);
    return lbbt_fail(LBBT_E_IO, "%s: read failed", path);
  }
  fclose(f);
  text[len] = 0;
  lbbt_status st = yt_parse(text, (size_t)len, path, &d->root);
  free(text);
  if (st != LBBT_OK) return st;
  const yt_node *r = d->root;
  if (r->kind != YT_MAP) return lbbt_fail(LBBT_E_INPUT, "%s: top level must be a mapping", path);
  d->title = scalar(yt_get(r, "title"));
  d->experiment = scalar(yt_get(r, "experiment"));
  d->metrics = yt_get(r, "metrics");
  d->notes = yt_get(r, "notes");
  const char *num = scalar(yt_get(r, "table"));
  d->number = num ? atoi(num) : 0;
  if (!d->experiment) return lbbt_fail(LBBT_E_INPUT, "%s: missing 'experiment'", path);
  if (!d->metrics || d->metrics->kind != YT_MAP) return lbbt_fail(LBBT_E_INPUT, "%s: missing 'metrics' mapping", path);
  const yt_node *cols = yt_get(r, "columns"), *rows = yt_get(r, "rows");
  if (!cols || cols->kind != YT_SEQ || !rows || rows->kind != YT_SEQ)
    return lbbt_fail(LBBT_E_INPUT, "%s: 'columns' and 'rows' must be lists", path);
  for (int i = 0; i < cols->n && d->n_cols < MAX_COLS; i++) {
    const yt_node *c = cols->vals[i];
    paper_col *pc = &d->cols[d->n_cols++];
    pc->id = scalar(yt_get(c, "id"));
    pc->dataset = scalar(yt_get(c, "dataset"));
    pc->metric = scalar(yt_get(c, "metric"));
    if (!pc->id)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a column needs an id", path, c->line, c->col);
    if (pc->metric && !scalar(yt_get(d->metrics, pc->metric)))
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: metric '%s' is not defined under 'metrics'", path, c->line,
                       c->col, pc->metric);
    LBBT_TRY(read_selector(yt_get(c, "select"), &pc->sel, path));
  }
  for (int i = 0; i < rows->n && d->n_rows < MAX_ROWS; i++) {
    const yt_node *rn = rows->vals[i];
    paper_row *pr = &d->rows[d->n_rows++];
    pr->id = scalar(yt_get(rn, "id"));
    pr->label = scalar(yt_get(rn, "label"));
    if (!pr->id || !pr->label)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a row needs id and label", path, rn->line, rn->col);
    pr->metric = scalar(yt_get(rn, "metric"));
    if (pr->metric && !scalar(yt_get(d->metrics, pr->metric)))
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: row '%s': metric '%s' is not defined under 'metrics'", path,
                       rn->line, rn->col, pr->id, pr->metric);
    for (int c = 0; c < d->n_cols && !pr->metric; c++)
      if (!d->cols[c].metric)
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: row '%s' names no metric and column '%s' has none either: give "
                         "the column a metric or the row one", path, rn->line, rn->col, pr->id, d->cols[c].id);
    const char *digits = scalar(yt_get(rn, "digits"));
    pr->digits = digits ? atoi(digits) : 1;
    if (pr->digits < 0 || pr->digits > 9)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: row '%s': digits must be 0..9", path, rn->line, rn->col, pr->id);
    LBBT_TRY(read_selector(yt_get(rn, "select"), &pr->sel, path));
    /* tier_select: {cpu: {...}}: this tier reads the row through other config values
     * (e.g. last:3 of a 5-block model for the paper's last:14 of 24). */
    selector over;
    LBBT_TRY(read_selector(yt_get(yt_get(rn, "tier_select"), tier), &over, path));
    for (int k = 0; k < over.n; k++) {
      int j = 0;
      while (j < pr->sel.n && strcmp(pr->sel.key[j], over.key[k])) j++;
      if (j == pr->sel.n && pr->sel.n < MAX_SEL) pr->sel.key[pr->sel.n++] = over.key[k];
      if (j < MAX_SEL) pr->sel.value[j] = over.value[k];
    }
    const yt_node *paper = yt_get(rn, "paper"), *source = yt_get(rn, "source");
    for (int c = 0; c < d->n_cols; c++) {
      pr->paper[c] = scalar(yt_get(paper, d->cols[c].id));
      pr->source[c] = scalar(yt_get(source, d->cols[c].id));
    }
    if (paper && paper->kind == YT_MAP)
      for (int k = 0; k < paper->n; k++) {
        int known = 0;
        for (int c = 0; c < d->n_cols; c++) known |= !strcmp(paper->keys[k]->text, d->cols[c].id);
        if (!known)
          return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: row '%s' gives a value for unknown column '%s'", path,
                           paper->keys[k]->line, paper->keys[k]->col, pr->id, paper->keys[k]->text);
      }
  }
  return LBBT_OK;
}

/* The value at a dotted path of a canonical run config ("stages.bridge.lr": stages are a
 * list addressed by name). */
static const char *config_value(const yt_node *cfg, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  const yt_node *n = cfg;
  for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && n; tok = strtok_r(NULL, ".", &save)) {
    if (n->kind == YT_MAP) {
      n = yt_get(n, tok);
    } else if (n->kind == YT_SEQ) {
      const yt_node *hit = NULL;
      for (int i = 0; i < n->n; i++) {
        const char *nm = scalar(yt_get(n->vals[i], "name"));
        if (nm && !strcmp(nm, tok)) hit = n->vals[i];
      }
      n = hit;
    } else {
      return NULL;
    }
  }
  return scalar(n);
}

static int truthy(const char *s, int *v) {
  if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on")) { *v = 1; return 1; }
  if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off")) { *v = 0; return 1; }
  return 0;
}

/* Equal as numbers when both are numbers, as booleans when both are, else as text. */
static int values_equal(const char *a, const char *b) {
  double x, y;
  int p, q;
  if (spec_parse_double(a, &x) && spec_parse_double(b, &y)) return fabs(x - y) <= 1e-9 * fmax(1.0, fabs(y));
  if (truthy(a, &p) && truthy(b, &q)) return p == q;
  return !strcmp(a, b);
}

static int matches(const yt_node *cfg, const selector *s) {
  for (int i = 0; i < s->n; i++) {
    const char *v = config_value(cfg, s->key[i]);
    if (!v || !values_equal(v, s->value[i])) return 0;
  }
  return 1;
}

static int selector_equal(const selector *a, const selector *b) {
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++)
    if (strcmp(a->key[i], b->key[i]) || strcmp(a->value[i], b->value[i])) return 0;
  return 1;
}

static void cell_finish(cell *c) {
  if (c->n == 0) return;
  double s = 0;
  for (int i = 0; i < c->n; i++) s += c->values[i];
  c->mean = s / c->n;
  double v = 0;
  for (int i = 0; i < c->n; i++) v += (c->values[i] - c->mean) * (c->values[i] - c->mean);
  c->std = c->n > 1 ? sqrt(v / (c->n - 1)) : 0.0;
}

static void cell_text(const cell *c, int digits, char *buf, size_t n) {
  if (c->n == 0)
    snprintf(buf, n, "—");
  else if (c->n == 1)
    snprintf(buf, n, "%.*f (n=1)", digits, c->mean);
  else
    snprintf(buf, n, "%.*f ± %.*f (n=%d)", digits, c->mean, digits, c->std, c->n);
}

/* Write text to path atomically. */
static lbbt_status write_atomic(const char *path, const char *text) {
  char tmp[LBBT_PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
  FILE *f = fopen(tmp, "wb");
  if (!f) return lbbt_fail(LBBT_E_IO, "cannot write %s: %s", tmp, strerror(errno));
  size_t len = strlen(text);
  int ok = fwrite(text, 1, len, f) == len;
  ok &= fflush(f) == 0 && fsync(fileno(f)) == 0;
  ok &= fclose(f) == 0;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return lbbt_fail(LBBT_E_IO, "cannot write %s: %s", path, strerror(errno));
  }
  return LBBT_OK;
}

static const char *latex_escape(const char *s, char *buf, size_t n) {
  size_t k = 0;
  for (; *s && k + 3 < n; s++) {
    if (strchr("%&_#$", *s)) buf[k++] = '\\';
    buf[k++] = *s;
  }
  buf[k] = 0;
  return buf;
}

lbbt_status lbbt_table_render(const lbbt_table_options *o, FILE *echo) {
  char path[LBBT_PATH_MAX];
  snprintf(path, sizeof path, "%s/table-%d.yaml", o->paper_dir ? o->paper_dir : "paper-tables", o->table);
  if (access(path, R_OK) != 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: no such paper table (tables with a layout: see paper-tables/)", path);
  table_def *d = calloc(1, sizeof *d);
  if (!d) return lbbt_fail(LBBT_E_NOMEM, "table: out of memory");
  lbbt_experiment *e = NULL;
  lbbt_results *res = NULL;
  yt_node **cfgs = NULL;
  spec_buf md = {0}, tex = {0}, csv = {0};
  lbbt_status st = load_def(path, o->tier ? o->tier : "cpu", d);
  if (st != LBBT_OK) goto done;
  st = lbbt_experiment_load(d->experiment, o->tier ? o->tier : "cpu", &e);
  if (st != LBBT_OK) goto done;
  char rpath[LBBT_PATH_MAX];
  if (o->results_path)
    snprintf(rpath, sizeof rpath, "%s", o->results_path);
  else
    lbbt_results_default_path(e->name, e->tier, rpath, sizeof rpath);
  if (access(rpath, R_OK) != 0) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: no results yet for %s (tier %s); run `make table-%d TIER=%s` first",
                   rpath, d->experiment, e->tier, o->table, e->tier);
    goto done;
  }
  st = lbbt_results_read(rpath, &res);
  if (st != LBBT_OK) goto done;
  /* The experiment's runs that have results, with their parsed configs. */
  cfgs = calloc((size_t)e->n_runs, sizeof *cfgs);
  const lbbt_result_run **rr = calloc((size_t)e->n_runs, sizeof *rr);
  int missing = 0;
  for (int i = 0; i < e->n_runs; i++) {
    rr[i] = lbbt_results_find_run(res, e->runs[i].id);
    if (!rr[i]) {
      missing++;
      continue;
    }
    st = yt_parse(e->runs[i].config_yaml, strlen(e->runs[i].config_yaml), "config", &cfgs[i]);
    if (st != LBBT_OK) {
      free(rr);
      goto done;
    }
  }
  /* Column groups and datasets. */
  col_group groups[MAX_GROUPS];
  int n_groups = 0;
  for (int c = 0; c < d->n_cols; c++) {
    int seen = 0;
    for (int g = 0; g < n_groups; g++)
      seen |= !strcmp(groups[g].metric ? groups[g].metric : "", d->cols[c].metric ? d->cols[c].metric : "") &&
            selector_equal(groups[g].sel, &d->cols[c].sel);
    if (!seen && n_groups < MAX_GROUPS) {
      groups[n_groups].metric = d->cols[c].metric;
      groups[n_groups].sel = &d->cols[c].sel;
      groups[n_groups].label = d->cols[c].sel.n || !d->cols[c].metric ? d->cols[c].id : d->cols[c].metric;
      n_groups++;
    }
  }
  const char *datasets[MAX_DATASETS];
  const char *dsource[MAX_DATASETS];
  int n_ds = 0;
  for (int i = 0; i < e->n_runs; i++) {
    int seen = 0;
    for (int k = 0; k < n_ds; k++) seen |= !strcmp(datasets[k], e->runs[i].data.dataset);
    if (!seen && n_ds < MAX_DATASETS) {
      dsource[n_ds] = NULL;
      datasets[n_ds++] = e->runs[i].data.dataset;
    }
  }
  for (int k = 0; k < n_ds; k++)
    for (int i = 0; i < e->n_runs && !dsource[k]; i++)
      if (rr[i] && !strcmp(e->runs[i].data.dataset, datasets[k]))
        lbbt_record_get_string(rr[i]->record, "data/train", &dsource[k]);
  /* Cells. */
  int n_rep = n_ds * n_groups;
  cell *cells = calloc((size_t)(d->n_rows * (n_rep ? n_rep : 1)), sizeof *cells);
  for (int r = 0; r < d->n_rows; r++)
    for (int k = 0; k < n_ds; k++)
      for (int g = 0; g < n_groups; g++) {
        cell *c = &cells[r * n_rep + k * n_groups + g];
        const char *metric = d->rows[r].metric ? d->rows[r].metric : groups[g].metric;
        const char *mpath = scalar(yt_get(d->metrics, metric));
        for (int i = 0; i < e->n_runs; i++) {
          if (!rr[i] || strcmp(e->runs[i].data.dataset, datasets[k])) continue;
          if (!matches(cfgs[i], &d->rows[r].sel) || !matches(cfgs[i], groups[g].sel)) continue;
          const lbbt_record_item *it = lbbt_record_find(rr[i]->record, mpath);
          double v;
          if (it && lbbt_record_item_final(it, &v) && c->n < 64) c->values[c->n++] = v;
        }
        cell_finish(c);
      }
  /* Markdown */
  const char *commit = lbbt_results_attr(res, "git_commit");
  spec_buf_addf(&md, "# Table %d — %s\n\n", o->table, d->title ? d->title : "");
  spec_buf_addf(&md, "Tier **%s**; results `%s` (%d of %d runs present%s); lbbt commit %s.\n\n", e->tier, rpath,
                e->n_runs - missing, e->n_runs, missing ? ", the missing cells are incomplete" : "",
                commit ? commit : "unknown");
  spec_buf_add(&md, "| Row |");
  for (int c = 0; c < d->n_cols; c++)
    spec_buf_addf(&md, " paper: %s%s%s |", d->cols[c].dataset ? d->cols[c].dataset : "", d->cols[c].dataset ? " " : "",
                  d->cols[c].metric ? d->cols[c].metric : d->cols[c].id);
  for (int k = 0; k < n_ds; k++)
    for (int g = 0; g < n_groups; g++) spec_buf_addf(&md, " lbbt: %s %s |", datasets[k], groups[g].label);
  spec_buf_add(&md, "\n|---|");
  for (int c = 0; c < d->n_cols + n_rep; c++) spec_buf_add(&md, "---|");
  spec_buf_add(&md, "\n");
  spec_buf_add(&csv, "row_id,row,column,source,dataset,metric,mean,std,n,values\n");
  for (int r = 0; r < d->n_rows; r++) {
    const paper_row *pr = &d->rows[r];
    spec_buf_addf(&md, "| %s |", pr->label);
    for (int c = 0; c < d->n_cols; c++) {
      spec_buf_addf(&md, " %s%s |", pr->paper[c] ? pr->paper[c] : "n.r.", pr->source[c] ? "*" : "");
      spec_buf_addf(&csv, "%s,\"%s\",%s,paper,%s,%s,%s,,,\n", pr->id, pr->label, d->cols[c].id,
                    d->cols[c].dataset ? d->cols[c].dataset : "", pr->metric ? pr->metric : d->cols[c].metric,
                    pr->paper[c] ? pr->paper[c] : "");
    }
    for (int k = 0; k < n_ds; k++)
      for (int g = 0; g < n_groups; g++) {
        const cell *c = &cells[r * n_rep + k * n_groups + g];
        char txt[64];
        cell_text(c, pr->digits, txt, sizeof txt);
        spec_buf_addf(&md, " %s |", txt);
        spec_buf_addf(&csv, "%s,\"%s\",%s,lbbt,%s,%s,", pr->id, pr->label, groups[g].label, datasets[k],
                      pr->metric ? pr->metric : groups[g].metric);
        if (c->n)
          spec_buf_addf(&csv, "%.4f,%.4f,%d,\"", c->mean, c->std, c->n);
        else
          spec_buf_add(&csv, ",,0,\"");
        for (int i = 0; i < c->n; i++) spec_buf_addf(&csv, i ? " %.4f" : "%.4f", c->values[i]);
        spec_buf_add(&csv, "\"\n");
      }
    spec_buf_add(&md, "\n");
  }
  spec_buf_add(&md, "\nCells: mean ± sample std over seeds (n runs); \"n.r.\": the paper does not report it; "
                    "\"*\": the value comes from the paper's prose or another table (see the notes); \"—\": no "
                    "run yet.\n");
  for (int k = 0; k < n_ds; k++)
    spec_buf_addf(&md, "\nData `%s`: %s.", datasets[k], dsource[k] ? dsource[k] : "(no run yet)");
  spec_buf_add(&md, "\n");
  /* Which backbone each row used (from the first matching run); when rows are metrics the
   * backbones vary by column instead. */
  int rows_are_metrics = 0;
  for (int r = 0; r < d->n_rows; r++) rows_are_metrics |= d->rows[r].metric != NULL;
  spec_buf_add(&md, "\nBackbones:\n");
  for (int r = 0; r < (rows_are_metrics ? d->n_cols : d->n_rows); r++)
    for (int i = 0; i < e->n_runs; i++) {
      const selector *sel = rows_are_metrics ? &d->cols[r].sel : &d->rows[r].sel;
      if (cfgs[i] && matches(cfgs[i], sel)) {
        const char *cp = config_value(cfgs[i], "backbone.checkpoint");
        spec_buf_addf(&md, "- %s: `%s` plugin, init `%s`%s%s\n", rows_are_metrics ? d->cols[r].id : d->rows[r].label,
                      config_value(cfgs[i], "backbone.plugin"), config_value(cfgs[i], "backbone.init"),
                      cp && *cp ? ", checkpoint " : "", cp && *cp ? cp : "");
        break;
      }
    }
  if (d->notes && d->notes->kind == YT_SEQ) {
    spec_buf_add(&md, "\nNotes:\n");
    for (int i = 0; i < d->notes->n; i++)
      if (scalar(d->notes->vals[i])) spec_buf_addf(&md, "- %s\n", d->notes->vals[i]->text);
  }
  for (int r = 0; r < d->n_rows; r++)
    for (int c = 0; c < d->n_cols; c++)
      if (d->rows[r].source[c])
        spec_buf_addf(&md, "- %s, %s: %s\n", d->rows[r].label, d->cols[c].id, d->rows[r].source[c]);
  /* The scratch-health check (paper-tables key `health: <experiment name>`): can the
   * scratch model memorise a small random-label subset at all? */
  const char *health = scalar(yt_get(d->root, "health"));
  if (health) {
    char hpath[LBBT_PATH_MAX];
    lbbt_results_default_path(health, e->tier, hpath, sizeof hpath);
    lbbt_results *hr = NULL;
    cell hc = {0};
    int epochs = 0;
    if (access(hpath, R_OK) == 0 && lbbt_results_read(hpath, &hr) == LBBT_OK) {
      for (int i = 0; i < hr->n_runs && hc.n < 64; i++) {
        const lbbt_record_item *it = lbbt_record_find(hr->runs[i].record, "memorise/train_acc1");
        double v;
        if (it && lbbt_record_item_final(it, &v)) {
          hc.values[hc.n++] = v;
          epochs = it->n;
        }
      }
      cell_finish(&hc);
    }
    lbbt_clear_error();
    if (hc.n)
      spec_buf_addf(&md, "\nScratch health check (`experiments/%s.yaml`, tier %s): the scratch model fits "
                         "%.1f ± %.1f%% of a small random-label subset after %d epochs (n=%d)%s.\n",
                    health, e->tier, hc.mean, hc.std, epochs, hc.n,
                    hc.mean >= 95.0 ? "; it can memorise, so its random-label numbers are not a training failure"
                                    : "; it does NOT memorise it, so low scratch numbers under random labels may "
                                      "reflect the recipe rather than the absence of language pretraining");
    else
      spec_buf_addf(&md, "\nScratch health check: no results in %s yet (`make table-N` runs it first).\n", hpath);
    lbbt_results_free(hr);
  }
  /* LaTeX (booktabs) */
  char esc[512];
  spec_buf_addf(&tex, "%% Table %d regenerated by lbbt (tier %s) from %s\n\\begin{tabular}{l", o->table, e->tier, rpath);
  for (int c = 0; c < d->n_cols + n_rep; c++) spec_buf_add(&tex, "r");
  spec_buf_add(&tex, "}\n\\toprule\n Row");
  for (int c = 0; c < d->n_cols; c++)
    spec_buf_addf(&tex, " & paper %s", latex_escape(d->cols[c].id, esc, sizeof esc));
  for (int k = 0; k < n_ds; k++)
    for (int g = 0; g < n_groups; g++) {
      spec_buf_addf(&tex, " & lbbt %s", latex_escape(datasets[k], esc, sizeof esc));
      spec_buf_addf(&tex, " %s", latex_escape(groups[g].label, esc, sizeof esc));
    }
  spec_buf_add(&tex, " \\\\\n\\midrule\n");
  for (int r = 0; r < d->n_rows; r++) {
    spec_buf_addf(&tex, "%s", latex_escape(d->rows[r].label, esc, sizeof esc));
    for (int c = 0; c < d->n_cols; c++) spec_buf_addf(&tex, " & %s", d->rows[r].paper[c] ? d->rows[r].paper[c] : "n.r.");
    for (int k = 0; k < n_rep; k++) {
      const cell *c = &cells[r * n_rep + k];
      if (c->n)
        spec_buf_addf(&tex, " & $%.*f \\pm %.*f$ (%d)", d->rows[r].digits, c->mean, d->rows[r].digits, c->std, c->n);
      else
        spec_buf_add(&tex, " & --");
    }
    spec_buf_add(&tex, " \\\\\n");
  }
  spec_buf_add(&tex, "\\bottomrule\n\\end{tabular}\n");
  free(cells);
  free(rr);
  if (md.oom || tex.oom || csv.oom) {
    st = lbbt_fail(LBBT_E_NOMEM, "table: out of memory");
    goto done;
  }
  const char *outd = o->out_dir ? o->out_dir : "results";
  const char *suffix = strcmp(e->tier, "cpu") ? e->tier : NULL;
  char out[LBBT_PATH_MAX + 64];
#define OUT(ext, buf)                                                                      \
  snprintf(out, sizeof out, "%s/table-%d%s%s.%s", outd, o->table, suffix ? "-" : "", suffix ? suffix : "", ext); \
  st = write_atomic(out, (buf).s);                                                         \
  if (st != LBBT_OK) goto done;
  OUT("md", md)
  OUT("tex", tex)
  OUT("csv", csv)
#undef OUT
  if (echo) fputs(md.s, echo);
done:
  if (cfgs && e)
    for (int i = 0; i < e->n_runs; i++) yt_free(cfgs[i]);
  free(cfgs);
  spec_buf_free(&md);
  spec_buf_free(&tex);
  spec_buf_free(&csv);
  lbbt_results_free(res);
  lbbt_experiment_free(e);
  yt_free(d->root);
  free(d);
  return st;
}
