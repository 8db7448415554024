/* lbbt verdicts: test the paper's claims on the reproduced tables. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "lbbt/plugin.h"
#include "lbbt/verdicts.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt verdicts [--tier smoke|cpu|paper] [--results-dir DIR] [--out-dir DIR]\n"
          "                     [--claims FILE] [--paper-tables DIR]\n"
          "       lbbt verdicts --list-tables [--claims FILE]\n\n"
          "Tests each claim of paper-tables/claims.yaml on the tables' results: both rows (mean ± std,\n"
          "n), their difference with a 95%% Welch t interval over seeds, the verdict (supports /\n"
          "contradicts / within noise; too few seeds; not run yet) and what the controls say about\n"
          "the cause.  Writes DIR/verdicts.md (verdicts-<tier>.md for tiers other than cpu) and prints\n"
          "it.  A table without results is reported as \"not run yet\".  Run the tables first:\n"
          "make verdicts TIER=... does both.\n"
          "  --results-dir DIR   where the tables' results files are (default results)\n"
          "  --out-dir DIR       where to write (default: the results folder)\n"
          "  --claims FILE       default paper-tables/claims.yaml\n"
          "  --paper-tables DIR  default paper-tables\n"
          "  --list-tables       print the numbers of the tables the claims use, and exit\n");
}

int cmd_verdicts(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  lbbt_verdicts_options o;
  memset(&o, 0, sizeof o);
  o.tier = "cpu";
  int list_tables = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--list-tables")) list_tables = 1;
    else if (i + 1 < argc && !strcmp(a, "--tier")) o.tier = argv[++i];
    else if (i + 1 < argc && !strcmp(a, "--results-dir")) o.results_dir = argv[++i];
    else if (i + 1 < argc && !strcmp(a, "--out-dir")) o.out_dir = argv[++i];
    else if (i + 1 < argc && !strcmp(a, "--claims")) o.claims_path = argv[++i];
    else if (i + 1 < argc && !strcmp(a, "--paper-tables")) o.paper_dir = argv[++i];
    else {
      fprintf(stderr, "lbbt verdicts: unexpected argument '%s'\n", a);
      usage(stderr);
      return 2;
    }
  }
  if (list_tables) {
    int tables[64], n;
    lbbt_status st = lbbt_verdicts_tables(o.claims_path, tables, 64, &n);
    if (st != LBBT_OK) return cli_report(st, NULL);
    for (int i = 0; i < n; i++) printf("%s%d", i ? " " : "", tables[i]);
    printf("\n");
    return 0;
  }
  /* The experiment's stages may write plugin keys: its runs (and their ids) need the plugins. */
  lbbt_registry *reg = NULL;
  lbbt_status st = cli_load_plugins(&reg);
  if (st == LBBT_OK) st = lbbt_verdicts_render(&o, stdout);
  lbbt_registry_free(reg);
  if (st != LBBT_OK) return cli_report(st, NULL);
  return 0;
}
