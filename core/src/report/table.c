/* `lbbt table N`; see table.h.  The cells come from table_data.c (the one place rows
 * select runs); this file only renders them as Markdown, LaTeX and CSV. */
#include "lbbt/table.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lbbt/results.h"
#include "lbbt/runner.h"
#include "config/spec_text.h"
#include "report/table_data.h"

static void cell_text(const table_cell *c, int digits, char *buf, size_t n) {
  if (c->n_diverged)
    snprintf(buf, n, "diverged (%d run%s)", c->n_diverged, c->n_diverged == 1 ? "" : "s");
  else if (c->n == 0)
    snprintf(buf, n, "—");
  else if (c->n == 1)
    snprintf(buf, n, "%.*f (n=1)", digits, c->mean);
  else
    snprintf(buf, n, "%.*f ± %.*f (n=%d)", digits, c->mean, digits, c->std, c->n);
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

/* ", dim 128, 4 blocks, 0.84M parameters": the size the run recorded (runs older than the
 * model/dim record give the parameter count only). */
static void backbone_size(spec_buf *md, const lbbt_result_run *run) {
  double dim = 0, layers = 0, params = 0;
  const lbbt_record_item *it;
  if ((it = lbbt_record_find(run->record, "model/dim"))) lbbt_record_item_final(it, &dim);
  if ((it = lbbt_record_find(run->record, "model/n_layers"))) lbbt_record_item_final(it, &layers);
  if ((it = lbbt_record_find(run->record, "model/params"))) lbbt_record_item_final(it, &params);
  if (dim > 0 && layers > 0) spec_buf_addf(md, ", dim %.0f, %.0f blocks", dim, layers);
  if (params > 0) spec_buf_addf(md, ", %.2fM parameters", params / 1e6);
}

static void render_markdown(const lbbt_table_options *o, const table_data *d, spec_buf *md) {
  const lbbt_experiment *e = d->exp;
  const char *commit = lbbt_results_attr(d->res, "git_commit");
  spec_buf_addf(md, "# Table %d — %s\n\n", o->table, d->title ? d->title : "");
  spec_buf_addf(md, "Tier **%s**; results `%s` (%d of %d runs present%s); lbbt commit %s.\n\n", e->tier,
                d->results_path, e->n_runs - d->n_missing, e->n_runs,
                d->n_missing ? ", the missing cells are incomplete" : "", commit ? commit : "unknown");
  spec_buf_add(md, "| Row |");
  for (int c = 0; c < d->n_cols; c++)
    spec_buf_addf(md, " paper: %s%s%s |", d->cols[c].dataset ? d->cols[c].dataset : "", d->cols[c].dataset ? " " : "",
                  d->cols[c].label ? d->cols[c].label : d->cols[c].metric ? d->cols[c].metric : d->cols[c].id);
  for (int k = 0; k < d->n_datasets; k++)
    for (int g = 0; g < d->n_groups; g++) spec_buf_addf(md, " lbbt: %s %s |", d->datasets[k], d->groups[g].label);
  spec_buf_add(md, "\n|---|");
  for (int c = 0; c < d->n_cols + d->n_datasets * d->n_groups; c++) spec_buf_add(md, "---|");
  spec_buf_add(md, "\n");
  for (int r = 0; r < d->n_rows; r++) {
    const table_row *pr = &d->rows[r];
    spec_buf_addf(md, "| %s |", pr->label);
    for (int c = 0; c < d->n_cols; c++)
      spec_buf_addf(md, " %s%s |", pr->paper[c] ? pr->paper[c] : "n.r.", pr->source[c] ? "*" : "");
    for (int k = 0; k < d->n_datasets; k++)
      for (int g = 0; g < d->n_groups; g++) {
        char txt[64];
        cell_text(table_data_cell(d, r, k, g), pr->digits, txt, sizeof txt);
        spec_buf_addf(md, " %s |", txt);
      }
    spec_buf_add(md, "\n");
  }
  spec_buf_add(md, "\nCells: mean ± sample std over seeds (n runs); \"n.r.\": the paper does not report it; "
                   "\"*\": the value comes from the paper's prose or another table (see the notes); \"—\": no "
                   "run yet.\n");
  for (int k = 0; k < d->n_datasets; k++)
    spec_buf_addf(md, "\nData `%s`: %s.", d->datasets[k], d->dsource[k] ? d->dsource[k] : "(no run yet)");
  spec_buf_add(md, "\n");
  /* Which backbone each row used (from the first matching run); when rows are metrics
   * (Table 15) the columns select the arms, so list one line per column group. */
  int rows_are_metrics = 0;
  for (int r = 0; r < d->n_rows; r++) rows_are_metrics |= d->rows[r].metric != NULL;
  spec_buf_add(md, "\nBackbones:\n");
  int n_lines = rows_are_metrics ? d->n_groups : d->n_rows;
  for (int r = 0; r < n_lines; r++)
    for (int i = 0; i < e->n_runs; i++) {
      int in = rows_are_metrics ? table_data_run_in_group(d, i, r) : table_data_run_in_row(d, i, r);
      if (!in) continue;
      const char *cp = table_config_value(d->cfgs[i], "backbone.checkpoint");
      spec_buf_addf(md, "- %s: `%s` plugin, init `%s`%s%s", rows_are_metrics ? d->groups[r].label : d->rows[r].label,
                    table_config_value(d->cfgs[i], "backbone.plugin"),
                    table_config_value(d->cfgs[i], "backbone.init"), cp && *cp ? ", checkpoint " : "",
                    cp && *cp ? cp : "");
      backbone_size(md, d->runs[i]);
      spec_buf_add(md, "\n");
      break;
    }
  if (d->notes && d->notes->kind == YT_SEQ) {
    spec_buf_add(md, "\nNotes:\n");
    for (int i = 0; i < d->notes->n; i++)
      if (d->notes->vals[i]->kind == YT_SCALAR) spec_buf_addf(md, "- %s\n", d->notes->vals[i]->text);
  }
  for (int r = 0; r < d->n_rows; r++)
    for (int c = 0; c < d->n_cols; c++)
      if (d->rows[r].source[c]) spec_buf_addf(md, "- %s, %s: %s\n", d->rows[r].label, d->cols[c].id, d->rows[r].source[c]);
}

/* The scratch-health check (paper-tables keys `health: <experiment name>` and
 * `health_metric: <stage>/<series>`): can the scratch model memorise a small random-label
 * subset at all?  The last value of the series, in percent, from 95 counts as "it can". */
static void render_health(const lbbt_table_options *o, const table_data *d, spec_buf *md) {
  if (!d->health) return;
  const char *tier = d->exp->tier;
  char hpath[LBBT_PATH_MAX];
  table_results_path(o->results_dir, d->health, tier, hpath, sizeof hpath);
  lbbt_results *hr = NULL;
  table_cell hc = {0};
  int epochs = 0;
  if (access(hpath, R_OK) == 0 && lbbt_results_read(hpath, &hr) == LBBT_OK) {
    for (int i = 0; i < hr->n_runs && hc.n < TABLE_MAX_SEEDS; i++) {
      const lbbt_record_item *it = lbbt_record_find(hr->runs[i].record, d->health_metric);
      double v;
      if (it && lbbt_record_item_final(it, &v)) {
        hc.values[hc.n++] = v;
        epochs = it->n;
      }
    }
    table_cell_finish(&hc);
  }
  lbbt_clear_error();
  if (hc.n)
    spec_buf_addf(md, "\nScratch health check (`experiments/%s.yaml`, tier %s): the scratch model fits "
                      "%.1f ± %.1f%% of a small random-label subset after %d epochs (n=%d)%s.\n",
                  d->health, tier, hc.mean, hc.std, epochs, hc.n,
                  hc.mean >= 95.0 ? "; it can memorise, so its random-label numbers are not a training failure"
                                  : "; it does NOT memorise it, so low scratch numbers under random labels may "
                                    "reflect the recipe rather than the absence of language pretraining");
  else
    spec_buf_addf(md, "\nScratch health check: no results in %s yet (`make table-N` runs it first).\n", hpath);
  lbbt_results_free(hr);
}

static void render_csv(const table_data *d, spec_buf *csv) {
  spec_buf_add(csv, "row_id,row,column,source,dataset,metric,mean,std,n,values\n");
  for (int r = 0; r < d->n_rows; r++) {
    const table_row *pr = &d->rows[r];
    for (int c = 0; c < d->n_cols; c++)
      spec_buf_addf(csv, "%s,\"%s\",%s,paper,%s,%s,%s,,,\n", pr->id, pr->label, d->cols[c].id,
                    d->cols[c].dataset ? d->cols[c].dataset : "", pr->metric ? pr->metric : d->cols[c].metric,
                    pr->paper[c] ? pr->paper[c] : "");
    for (int k = 0; k < d->n_datasets; k++)
      for (int g = 0; g < d->n_groups; g++) {
        const table_cell *c = table_data_cell(d, r, k, g);
        spec_buf_addf(csv, "%s,\"%s\",%s,lbbt,%s,%s,", pr->id, pr->label, d->groups[g].label, d->datasets[k],
                      table_cell_metric(d, r, g));
        if (c->n_diverged)
          spec_buf_addf(csv, "diverged,,%d,\"", c->n_diverged);
        else if (c->n)
          spec_buf_addf(csv, "%.4f,%.4f,%d,\"", c->mean, c->std, c->n);
        else
          spec_buf_add(csv, ",,0,\"");
        for (int i = 0; i < c->n; i++) spec_buf_addf(csv, i ? " %.4f" : "%.4f", c->values[i]);
        spec_buf_add(csv, "\"\n");
      }
  }
}

static void render_latex(const lbbt_table_options *o, const table_data *d, spec_buf *tex) {
  char esc[512];
  int n_rep = d->n_datasets * d->n_groups;
  spec_buf_addf(tex, "%% Table %d regenerated by lbbt (tier %s) from %s\n\\begin{tabular}{l", o->table, d->exp->tier,
                d->results_path);
  for (int c = 0; c < d->n_cols + n_rep; c++) spec_buf_add(tex, "r");
  spec_buf_add(tex, "}\n\\toprule\n Row");
  for (int c = 0; c < d->n_cols; c++)
    spec_buf_addf(tex, " & paper %s", latex_escape(d->cols[c].label ? d->cols[c].label : d->cols[c].id, esc, sizeof esc));
  for (int k = 0; k < d->n_datasets; k++)
    for (int g = 0; g < d->n_groups; g++) {
      spec_buf_addf(tex, " & lbbt %s", latex_escape(d->datasets[k], esc, sizeof esc));
      spec_buf_addf(tex, " %s", latex_escape(d->groups[g].label, esc, sizeof esc));
    }
  spec_buf_add(tex, " \\\\\n\\midrule\n");
  for (int r = 0; r < d->n_rows; r++) {
    spec_buf_addf(tex, "%s", latex_escape(d->rows[r].label, esc, sizeof esc));
    for (int c = 0; c < d->n_cols; c++) spec_buf_addf(tex, " & %s", d->rows[r].paper[c] ? d->rows[r].paper[c] : "n.r.");
    for (int k = 0; k < d->n_datasets; k++)
      for (int g = 0; g < d->n_groups; g++) {
        const table_cell *c = table_data_cell(d, r, k, g);
        if (c->n_diverged)
          spec_buf_add(tex, " & diverged");
        else if (c->n)
          spec_buf_addf(tex, " & $%.*f \\pm %.*f$ (%d)", d->rows[r].digits, c->mean, d->rows[r].digits, c->std, c->n);
        else
          spec_buf_add(tex, " & --");
      }
    spec_buf_add(tex, " \\\\\n");
  }
  spec_buf_add(tex, "\\bottomrule\n\\end{tabular}\n");
}

lbbt_status lbbt_table_render(const lbbt_table_options *o, FILE *echo) {
  table_data *d = NULL;
  LBBT_TRY(table_data_load(o, 0, &d));
  spec_buf md = {0}, tex = {0}, csv = {0};
  render_markdown(o, d, &md);
  render_health(o, d, &md);
  render_latex(o, d, &tex);
  render_csv(d, &csv);
  lbbt_status st = LBBT_OK;
  if (md.oom || tex.oom || csv.oom) {
    st = lbbt_fail(LBBT_E_NOMEM, "table: out of memory");
    goto done;
  }
  const char *outd = o->out_dir ? o->out_dir : o->results_dir ? o->results_dir : "results";
  const char *tier = d->exp->tier;
  const char *suffix = strcmp(tier, "cpu") ? tier : NULL;
  const char *ext[3] = {"md", "tex", "csv"};
  const spec_buf *buf[3] = {&md, &tex, &csv};
  for (int i = 0; i < 3 && st == LBBT_OK; i++) {
    char out[LBBT_PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/table-%d%s%s.%s", outd, o->table, suffix ? "-" : "", suffix ? suffix : "", ext[i]);
    st = table_write_text(out, buf[i]->s);
  }
  if (st == LBBT_OK && echo) fputs(md.s, echo);
done:
  spec_buf_free(&md);
  spec_buf_free(&tex);
  spec_buf_free(&csv);
  table_data_free(d);
  return st;
}
