/* Private to the table code: a paper table's cells, joined once and read by every renderer.
 *
 * paper-tables/table-N.yaml names rows (each selects runs by config values) and columns
 * (a metric, optionally under a column selector); the experiment it names says which runs
 * exist.  table_data_load does the one join of the two with a results file: each cell
 * (row x dataset x column group) holds the final value of the group's metric in every
 * matching run (one per seed).  `lbbt table` renders the cells (table.c), `lbbt verdicts`
 * tests claims on them (verdicts.c); neither selects runs itself. */
#ifndef LBBT_TABLE_DATA_H
#define LBBT_TABLE_DATA_H
#include <stddef.h>

#include "lbbt/results.h"
#include "lbbt/spec.h"
#include "lbbt/table.h"
#include "config/spec_tree.h"

#define TABLE_MAX_COLS 32
#define TABLE_MAX_ROWS 64
#define TABLE_MAX_SEL 8
#define TABLE_MAX_GROUPS 16
#define TABLE_MAX_DATASETS 8
#define TABLE_MAX_SEEDS 64 /* values kept per cell */

typedef struct table_selector {
  const char *key[TABLE_MAX_SEL], *value[TABLE_MAX_SEL]; /* dotted config path = value */
  int n;
} table_selector;

typedef struct table_col {
  const char *id, *dataset, *metric;
  const char *label; /* header text (`label:`), e.g. "w/o LBBT", when columns share a metric */
  table_selector sel;
} table_col;

typedef struct table_row {
  const char *id, *label;
  const char *metric; /* when set, every cell of the row reads this metric (rows are metrics,
                         as in Table 15) instead of its column group's */
  int digits;         /* decimals of rendered cells (default 1) */
  table_selector sel; /* `select` with this tier's `tier_select` applied */
  const char *paper[TABLE_MAX_COLS];  /* published value per paper column, NULL = n.r. */
  const char *source[TABLE_MAX_COLS]; /* where a value comes from when not the table */
} table_row;

/* A reproduced column group: one metric under one column selector. */
typedef struct table_group {
  const char *metric;
  const table_selector *sel;
  const char *label; /* the column's label; else its id when it has a selector or no metric,
                        else the metric */
} table_group;

typedef struct table_cell {
  int n;                            /* matching runs with the metric (0 when any diverged) */
  int n_diverged;                   /* matching runs that diverged: the cell shows "diverged",
                                       not a number from the runs that did not */
  double mean, std;                 /* std: sample std (n - 1), 0 when n < 2 */
  double values[TABLE_MAX_SEEDS];   /* per run, in the experiment's run order */
} table_cell;

typedef struct table_data {
  yt_node *root; /* the parsed paper table (owns every string below) */
  int number;
  const char *title, *experiment_path, *health;
  const char *health_metric; /* "<stage>/<series>" of the health runs (required with health) */
  table_col cols[TABLE_MAX_COLS];
  int n_cols;
  table_row rows[TABLE_MAX_ROWS];
  int n_rows;
  const yt_node *metrics; /* map metric -> record path */
  const yt_node *notes;   /* list, or NULL */

  lbbt_experiment *exp;
  char results_path[LBBT_PATH_MAX];
  lbbt_results *res;              /* NULL when the results file does not exist (yet) */
  int n_missing;                  /* experiment runs absent from the results */
  yt_node **cfgs;                 /* per experiment run: parsed config, NULL when absent */
  const lbbt_result_run **runs;   /* per experiment run: its results, NULL when absent */

  table_group groups[TABLE_MAX_GROUPS];
  int n_groups;
  const char *datasets[TABLE_MAX_DATASETS]; /* as the experiment's runs name them */
  const char *dsource[TABLE_MAX_DATASETS];  /* data/train string of a run, NULL if none */
  int n_datasets;
  table_cell *cells; /* [row][dataset][group] */
} table_data;

/* Load paper_dir/table-N.yaml, its experiment at o->tier and the results, and fill the cells.
 * When the results file does not exist: with allow_missing_results the cells are empty and
 * d->res is NULL; without, LBBT_E_INPUT saying which `make table-N` to run.  The experiment
 * is loaded without checking that its data and checkpoints exist on this machine (results
 * can be read anywhere).  *out is owned by the caller (table_data_free). */
lbbt_status table_data_load(const lbbt_table_options *o, int allow_missing_results, table_data **out);
void table_data_free(table_data *d); /* NULL-safe */

const table_cell *table_data_cell(const table_data *d, int row, int dataset, int group);
int table_data_row_index(const table_data *d, const char *row_id);  /* -1 when absent */
/* The group whose label is `name`, else the first whose metric is `name`; -1 when none. */
int table_data_group_index(const table_data *d, const char *name);
/* Does experiment run i (with results) feed row r? */
int table_data_run_in_row(const table_data *d, int run, int row);
/* Does experiment run i (with results) fall under column group g's selector? */
int table_data_run_in_group(const table_data *d, int run, int group);
/* The value at a dotted path of a canonical run config ("stages.bridge.lr"); NULL if absent. */
const char *table_config_value(const yt_node *cfg, const char *path);

/* Where the results of experiment `name` at `tier` live: o->results_dir when set (the same
 * file names as the default results/ folder), else lbbt_results_default_path. */
void table_results_path(const char *results_dir, const char *name, const char *tier, char *buf, size_t n);

/* Write text to path atomically (tmp file, fsync, rename). */
lbbt_status table_write_text(const char *path, const char *text);

/* The metric a cell of row r in group g reads: the row's own, else the group's. */
const char *table_cell_metric(const table_data *d, int row, int group);
/* mean and sample std of c->values[0..n). */
void table_cell_finish(table_cell *c);

#endif
