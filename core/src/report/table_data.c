/* A paper table's cells: the one join of paper-tables/table-N.yaml with results; see
 * table_data.h. */
#include "report/table_data.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbbt/runner.h"
#include "config/spec_text.h"

static const char *scalar(const yt_node *n) { return n && n->kind == YT_SCALAR ? n->text : NULL; }

static lbbt_status read_selector(const yt_node *m, table_selector *s, const char *file) {
  s->n = 0;
  if (!m) return LBBT_OK;
  if (m->kind != YT_MAP) return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: select must be a mapping", file, m->line, m->col);
  if (m->n > TABLE_MAX_SEL)
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a selector has at most %d keys", file, m->line, m->col, TABLE_MAX_SEL);
  for (int i = 0; i < m->n; i++) {
    s->key[s->n] = m->keys[i]->text;
    s->value[s->n] = scalar(m->vals[i]);
    if (!s->value[s->n])
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: select values must be scalars", file, m->vals[i]->line,
                       m->vals[i]->col);
    s->n++;
  }
  return LBBT_OK;
}

static lbbt_status read_text_file(const char *path, char **text, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return lbbt_fail(LBBT_E_INPUT, "%s: cannot open: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    fclose(f);
    free(buf);
    return lbbt_fail(LBBT_E_IO, "%s: read failed", path);
  }
  fclose(f);
  buf[n] = 0;
  *text = buf;
  *len = (size_t)n;
  return LBBT_OK;
}

static lbbt_status load_def(const char *path, const char *tier, table_data *d) {
  char *text = NULL;
  size_t len = 0;
  LBBT_TRY(read_text_file(path, &text, &len));
  lbbt_status st = yt_parse(text, len, path, &d->root);
  free(text);
  if (st != LBBT_OK) return st;
  const yt_node *r = d->root;
  if (r->kind != YT_MAP) return lbbt_fail(LBBT_E_INPUT, "%s: top level must be a mapping", path);
  d->title = scalar(yt_get(r, "title"));
  d->experiment_path = scalar(yt_get(r, "experiment"));
  d->health = scalar(yt_get(r, "health"));
  d->health_metric = scalar(yt_get(r, "health_metric"));
  if (d->health && !d->health_metric)
    return lbbt_fail(LBBT_E_INPUT, "%s: 'health: %s' needs 'health_metric': the series its runs are judged by "
                     "(\"<stage>/<series>\", in percent)", path, d->health);
  d->metrics = yt_get(r, "metrics");
  d->notes = yt_get(r, "notes");
  if (!d->experiment_path) return lbbt_fail(LBBT_E_INPUT, "%s: missing 'experiment'", path);
  if (!d->metrics || d->metrics->kind != YT_MAP) return lbbt_fail(LBBT_E_INPUT, "%s: missing 'metrics' mapping", path);
  const yt_node *cols = yt_get(r, "columns"), *rows = yt_get(r, "rows");
  if (!cols || cols->kind != YT_SEQ || !rows || rows->kind != YT_SEQ)
    return lbbt_fail(LBBT_E_INPUT, "%s: 'columns' and 'rows' must be lists", path);
  if (cols->n > TABLE_MAX_COLS || rows->n > TABLE_MAX_ROWS)
    return lbbt_fail(LBBT_E_INPUT, "%s: at most %d columns and %d rows (this file: %d and %d)", path,
                     TABLE_MAX_COLS, TABLE_MAX_ROWS, cols->n, rows->n);
  for (int i = 0; i < cols->n; i++) {
    const yt_node *c = cols->vals[i];
    table_col *pc = &d->cols[d->n_cols++];
    pc->id = scalar(yt_get(c, "id"));
    pc->dataset = scalar(yt_get(c, "dataset"));
    pc->metric = scalar(yt_get(c, "metric"));
    pc->label = scalar(yt_get(c, "label"));
    if (!pc->id) return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a column needs an id", path, c->line, c->col);
    if (pc->metric && !scalar(yt_get(d->metrics, pc->metric)))
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: metric '%s' is not defined under 'metrics'", path, c->line,
                       c->col, pc->metric);
    LBBT_TRY(read_selector(yt_get(c, "select"), &pc->sel, path));
  }
  for (int i = 0; i < rows->n; i++) {
    const yt_node *rn = rows->vals[i];
    table_row *pr = &d->rows[d->n_rows++];
    pr->id = scalar(yt_get(rn, "id"));
    pr->label = scalar(yt_get(rn, "label"));
    if (!pr->id || !pr->label)
      return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: a row needs id and label", path, rn->line, rn->col);
    for (int k = 0; k < i; k++)
      if (!strcmp(d->rows[k].id, pr->id))
        return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: row id '%s' is used twice", path, rn->line, rn->col, pr->id);
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
    table_selector over;
    LBBT_TRY(read_selector(yt_get(yt_get(rn, "tier_select"), tier), &over, path));
    for (int k = 0; k < over.n; k++) {
      int j = 0;
      while (j < pr->sel.n && strcmp(pr->sel.key[j], over.key[k])) j++;
      if (j == pr->sel.n) {
        if (pr->sel.n == TABLE_MAX_SEL)
          return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: row '%s': select and tier_select give more than %d keys",
                           path, rn->line, rn->col, pr->id, TABLE_MAX_SEL);
        pr->sel.key[pr->sel.n++] = over.key[k];
      }
      pr->sel.value[j] = over.value[k];
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

const char *table_config_value(const yt_node *cfg, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  const yt_node *n = cfg;
  for (char *save = NULL, *tok = strtok_r(buf, ".", &save); tok && n; tok = strtok_r(NULL, ".", &save)) {
    if (n->kind == YT_MAP) {
      n = yt_get(n, tok);
    } else if (n->kind == YT_SEQ) { /* stages are a list addressed by name */
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

static int matches(const yt_node *cfg, const table_selector *s) {
  for (int i = 0; i < s->n; i++) {
    const char *v = table_config_value(cfg, s->key[i]);
    if (!v || !values_equal(v, s->value[i])) return 0;
  }
  return 1;
}

static int selector_equal(const table_selector *a, const table_selector *b) {
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++)
    if (strcmp(a->key[i], b->key[i]) || strcmp(a->value[i], b->value[i])) return 0;
  return 1;
}

void table_cell_finish(table_cell *c) {
  c->mean = c->std = 0;
  if (c->n == 0) return;
  double s = 0;
  for (int i = 0; i < c->n; i++) s += c->values[i];
  c->mean = s / c->n;
  double v = 0;
  for (int i = 0; i < c->n; i++) v += (c->values[i] - c->mean) * (c->values[i] - c->mean);
  c->std = c->n > 1 ? sqrt(v / (c->n - 1)) : 0.0;
}

void table_results_path(const char *results_dir, const char *name, const char *tier, char *buf, size_t n) {
  char def[LBBT_PATH_MAX];
  lbbt_results_default_path(name, tier, def, sizeof def);
  const char *base = strrchr(def, '/');
  if (results_dir && *results_dir)
    snprintf(buf, n, "%s/%s", results_dir, base ? base + 1 : def);
  else
    snprintf(buf, n, "%s", def);
}

int table_data_run_in_row(const table_data *d, int run, int row) {
  return d->cfgs[run] && matches(d->cfgs[run], &d->rows[row].sel);
}

int table_data_run_in_group(const table_data *d, int run, int group) {
  return d->cfgs[run] && matches(d->cfgs[run], d->groups[group].sel);
}

const table_cell *table_data_cell(const table_data *d, int row, int dataset, int group) {
  return &d->cells[(row * d->n_datasets + dataset) * d->n_groups + group];
}

int table_data_row_index(const table_data *d, const char *row_id) {
  for (int r = 0; r < d->n_rows; r++)
    if (!strcmp(d->rows[r].id, row_id)) return r;
  return -1;
}

int table_data_group_index(const table_data *d, const char *name) {
  for (int g = 0; g < d->n_groups; g++)
    if (!strcmp(d->groups[g].label, name)) return g;
  for (int g = 0; g < d->n_groups; g++)
    if (d->groups[g].metric && !strcmp(d->groups[g].metric, name)) return g;
  return -1;
}

/* Column groups (distinct metric x column selector) and the datasets the runs use. */
static void find_groups_and_datasets(table_data *d) {
  for (int c = 0; c < d->n_cols; c++) {
    int seen = 0;
    for (int g = 0; g < d->n_groups; g++)
      seen |= !strcmp(d->groups[g].metric ? d->groups[g].metric : "", d->cols[c].metric ? d->cols[c].metric : "") &&
              selector_equal(d->groups[g].sel, &d->cols[c].sel);
    if (!seen && d->n_groups < TABLE_MAX_GROUPS) {
      table_group *g = &d->groups[d->n_groups++];
      g->metric = d->cols[c].metric;
      g->sel = &d->cols[c].sel;
      g->label = d->cols[c].label                            ? d->cols[c].label
                 : d->cols[c].sel.n || !d->cols[c].metric ? d->cols[c].id
                                                          : d->cols[c].metric;
    }
  }
  const lbbt_experiment *e = d->exp;
  for (int i = 0; i < e->n_runs; i++) {
    int seen = 0;
    for (int k = 0; k < d->n_datasets; k++) seen |= !strcmp(d->datasets[k], e->runs[i].data.dataset);
    if (!seen && d->n_datasets < TABLE_MAX_DATASETS) {
      d->dsource[d->n_datasets] = NULL;
      d->datasets[d->n_datasets++] = e->runs[i].data.dataset;
    }
  }
  for (int k = 0; k < d->n_datasets; k++)
    for (int i = 0; i < e->n_runs && !d->dsource[k]; i++)
      if (d->runs[i] && !strcmp(e->runs[i].data.dataset, d->datasets[k]))
        lbbt_record_get_string(d->runs[i]->record, "data/train", &d->dsource[k]);
  lbbt_clear_error();
}

const char *table_cell_metric(const table_data *d, int row, int group) {
  return d->rows[row].metric ? d->rows[row].metric : d->groups[group].metric;
}

static void fill_cells(table_data *d) {
  const lbbt_experiment *e = d->exp;
  for (int r = 0; r < d->n_rows; r++)
    for (int k = 0; k < d->n_datasets; k++)
      for (int g = 0; g < d->n_groups; g++) {
        table_cell *c = (table_cell *)table_data_cell(d, r, k, g);
        const char *mpath = scalar(yt_get(d->metrics, table_cell_metric(d, r, g)));
        for (int i = 0; i < e->n_runs; i++) {
          if (!d->runs[i] || strcmp(e->runs[i].data.dataset, d->datasets[k])) continue;
          if (!matches(d->cfgs[i], &d->rows[r].sel) || !matches(d->cfgs[i], d->groups[g].sel)) continue;
          if (!strcmp(d->runs[i]->status, LBBT_RUN_DIVERGED)) {
            c->n_diverged++;
            continue;
          }
          const lbbt_record_item *it = lbbt_record_find(d->runs[i]->record, mpath);
          double v;
          if (it && lbbt_record_item_final(it, &v) && c->n < TABLE_MAX_SEEDS) c->values[c->n++] = v;
        }
        if (c->n_diverged) c->n = 0; /* no mean of the seeds that happened not to diverge */
        table_cell_finish(c);
      }
}

lbbt_status table_data_load(const lbbt_table_options *o, int allow_missing_results, table_data **out) {
  *out = NULL;
  const char *tier = o->tier ? o->tier : "cpu";
  char path[LBBT_PATH_MAX];
  snprintf(path, sizeof path, "%s/table-%d.yaml", o->paper_dir ? o->paper_dir : "paper-tables", o->table);
  if (access(path, R_OK) != 0)
    return lbbt_fail(LBBT_E_INPUT, "%s: no such paper table (tables with a layout: see paper-tables/)", path);
  table_data *d = calloc(1, sizeof *d);
  if (!d) return lbbt_fail(LBBT_E_NOMEM, "table: out of memory");
  d->number = o->table;
  lbbt_status st = load_def(path, tier, d);
  if (st != LBBT_OK) goto fail;
  st = lbbt_experiment_load_flags(d->experiment_path, tier, LBBT_SPEC_SKIP_FILE_CHECKS, &d->exp);
  if (st != LBBT_OK) goto fail;
  const lbbt_experiment *e = d->exp;
  if (o->results_path)
    snprintf(d->results_path, sizeof d->results_path, "%s", o->results_path);
  else
    table_results_path(o->results_dir, e->name, e->tier, d->results_path, sizeof d->results_path);
  d->cfgs = calloc((size_t)e->n_runs + 1, sizeof *d->cfgs);
  d->runs = calloc((size_t)e->n_runs + 1, sizeof *d->runs);
  if (!d->cfgs || !d->runs) {
    st = lbbt_fail(LBBT_E_NOMEM, "table: out of memory");
    goto fail;
  }
  d->n_missing = e->n_runs;
  if (access(d->results_path, R_OK) != 0) {
    if (!allow_missing_results) {
      st = lbbt_fail(LBBT_E_INPUT, "%s: no results yet for %s (tier %s); run `make table-%d TIER=%s` first",
                     d->results_path, d->experiment_path, e->tier, o->table, e->tier);
      goto fail;
    }
  } else {
    st = lbbt_results_read(d->results_path, &d->res);
    if (st != LBBT_OK) goto fail;
    for (int i = 0; i < e->n_runs; i++) {
      d->runs[i] = lbbt_results_find_run(d->res, e->runs[i].id);
      if (!d->runs[i]) continue;
      d->n_missing--;
      st = yt_parse(e->runs[i].config_yaml, strlen(e->runs[i].config_yaml), "config", &d->cfgs[i]);
      if (st != LBBT_OK) goto fail;
    }
  }
  find_groups_and_datasets(d);
  d->cells = calloc((size_t)(d->n_rows * d->n_datasets * d->n_groups) + 1, sizeof *d->cells);
  if (!d->cells) {
    st = lbbt_fail(LBBT_E_NOMEM, "table: out of memory for %d x %d x %d cells", d->n_rows, d->n_datasets,
                   d->n_groups);
    goto fail;
  }
  fill_cells(d);
  *out = d;
  return LBBT_OK;
fail:
  table_data_free(d);
  return st;
}

void table_data_free(table_data *d) {
  if (!d) return;
  if (d->cfgs && d->exp)
    for (int i = 0; i < d->exp->n_runs; i++) yt_free(d->cfgs[i]);
  free(d->cfgs);
  free(d->runs);
  free(d->cells);
  lbbt_results_free(d->res);
  lbbt_experiment_free(d->exp);
  yt_free(d->root);
  free(d);
}

lbbt_status table_write_text(const char *path, const char *text) {
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

