/* Paper tables regenerated from results: `lbbt table N` joins paper-tables/table-N.yaml (the
 * paper's layout and published numbers, see paper-tables/README.md) with the runs of
 * experiments/... in the results file, and writes results/table-N[-tier].{md,tex,csv}.
 *
 * Each row selects runs by config values (dotted paths: backbone.init, stages.bridge.labels);
 * each reproduced column is one dataset the tier ran x one metric of the paper's columns.
 * A cell shows mean ± sample std over the matching runs (seeds) and n. */
#ifndef LBBT_TABLE_H
#define LBBT_TABLE_H
#include <stdio.h>

#include "lbbt/status.h"

typedef struct lbbt_table_options {
  int table;                /* N */
  const char *tier;         /* smoke | cpu | paper */
  const char *paper_dir;    /* default "paper-tables" */
  const char *results_path; /* NULL: the experiment's default results file for the tier */
  const char *out_dir;      /* default: results_dir, else "results" */
  const char *results_dir;  /* NULL: "results"; where results_path and the health check's
                               results are looked up (same file names), e.g. a test's temp dir */
} lbbt_table_options;

/* Render; also prints the Markdown to `echo` when not NULL. */
LBBT_API lbbt_status lbbt_table_render(const lbbt_table_options *o, FILE *echo);

#endif
