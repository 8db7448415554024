/* lbbt merge: join a sweep's complete run files into the experiment's results file. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "lbbt/plugin.h"
#include "sweep_cli.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt merge EXPERIMENT.yaml [--tier T] [--out FILE.h5]\n\n"
          "Copies each run that a sweep task completed in its own file (<results>.runs/ID.h5)\n"
          "into the experiment's results file, in one atomic commit, and removes the run files\n"
          "it merged; runs still pending are left alone (merge again later: merging twice does\n"
          "nothing more).  The one writer of the results file: run it after the tasks (lbbt\n"
          "sweep does, and its Slurm merge job).\n"
          "  --tier T   the tier (default cpu)\n"
          "  --out F    the results file (default results/<experiment>[-<tier>].h5)\n");
}

int sweep_merge_report(lbbt_sweep_plan *plan, int threads) {
  int merged = 0;
  lbbt_status st = lbbt_sweep_merge(plan, threads, &merged);
  if (st != LBBT_OK) return cli_report(st, "merging");
  printf("merged %d runs into %s: %d of %d complete, %d still to run\n", merged, plan->table_path,
         plan->n_complete, plan->exp->n_runs, plan->n_pending);
  return 0;
}

int cmd_merge(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *exp = NULL, *tier = "cpu", *out = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--tier") && i + 1 < argc) tier = argv[++i];
    else if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
    else if (argv[i][0] == '-' || exp) {
      fprintf(stderr, "lbbt merge: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else exp = argv[i];
  }
  if (!exp) {
    usage(stderr);
    return 2;
  }
  /* The experiment's stages may write plugin keys: its runs (and their ids) need the plugins. */
  lbbt_registry *reg = NULL;
  lbbt_sweep_plan *plan = NULL;
  lbbt_status st = cli_load_plugins(&reg);
  if (st == LBBT_OK) st = lbbt_sweep_plan_create(exp, tier, out, &plan);
  if (st != LBBT_OK) {
    lbbt_registry_free(reg);
    return cli_report(st, NULL);
  }
  int rc = sweep_merge_report(plan, omp_get_max_threads());
  lbbt_sweep_plan_free(plan);
  lbbt_registry_free(reg);
  return rc;
}
