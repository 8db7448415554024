/* lbbt table: render a paper table from results beside the paper's numbers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "lbbt/plugin.h"
#include "lbbt/table.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt table N [--tier smoke|cpu|paper] [--results FILE.h5] [--results-dir DIR]\n"
          "                    [--out-dir DIR] [--paper-tables DIR]\n\n"
          "Joins paper-tables/table-N.yaml (layout and the paper's numbers) with the results of\n"
          "its experiment and writes DIR/table-N[-tier].{md,tex,csv} (default DIR: results);\n"
          "prints the Markdown.  Run the experiment first: make table-N TIER=...\n"
          "  --results FILE      the experiment's results file (default: from the results folder)\n"
          "  --results-dir DIR   the results folder (default results): the experiment's and the\n"
          "                      scratch-health check's results files are looked up there, and\n"
          "                      the rendered table is written there unless --out-dir says otherwise\n");
}

int cmd_table(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  lbbt_table_options o;
  memset(&o, 0, sizeof o);
  o.tier = "cpu";
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--tier") && i + 1 < argc) o.tier = argv[++i];
    else if (!strcmp(argv[i], "--results") && i + 1 < argc) o.results_path = argv[++i];
    else if (!strcmp(argv[i], "--out-dir") && i + 1 < argc) o.out_dir = argv[++i];
    else if (!strcmp(argv[i], "--results-dir") && i + 1 < argc) o.results_dir = argv[++i];
    else if (!strcmp(argv[i], "--paper-tables") && i + 1 < argc) o.paper_dir = argv[++i];
    else if (!o.table && argv[i][0] != '-') {
      char *end;
      long n = strtol(argv[i], &end, 10);
      if (*end || n < 1 || n > 99) {
        fprintf(stderr, "lbbt table: N must be a table number, got '%s'\n", argv[i]);
        return 2;
      }
      o.table = (int)n;
    } else {
      fprintf(stderr, "lbbt table: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (!o.table) {
    usage(stderr);
    return 2;
  }
  /* The experiment's stages may write plugin keys: its runs (and their ids) need the plugins. */
  lbbt_registry *reg = NULL;
  lbbt_status st = cli_load_plugins(&reg);
  if (st == LBBT_OK) st = lbbt_table_render(&o, stdout);
  lbbt_registry_free(reg);
  if (st != LBBT_OK) return cli_report(st, NULL);
  return 0;
}
