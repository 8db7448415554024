/* lbbt run: run an experiment (what is missing), resuming killed runs. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "lbbt/dist.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt run EXPERIMENT.yaml [--tier smoke|cpu|paper] [--out FILE.h5] [--threads N]\n"
          "                [--dry-run] [--no-reuse] [--run ID]\n\n"
          "Expands the experiment's matrix into runs and runs those not yet complete in the\n"
          "results file (default results/<experiment>.h5, or results/<experiment>-<tier>.h5 for\n"
          "tiers other than cpu).  A killed run resumes from its last epoch checkpoint.  A run\n"
          "that another results file in the same folder holds complete (same config, same\n"
          "checkpoint bytes: Tables 8 and 12 share runs) is copied from it, not computed, and\n"
          "runs that begin with the same training stage compute it once.\n"
          "  --tier T     which tier's overrides to apply (default cpu)\n"
          "  --out F      results file\n"
          "  --threads N  threads for kernels (default: OMP_NUM_THREADS, else all cores)\n"
          "  --dry-run    list the runs and whether each is complete; run nothing\n"
          "  --no-reuse   compute every missing run and stage, even ones already computed\n"
          "  --run ID     only the run ID (from `lbbt check`), into its own file beside the\n"
          "               results file, <results>.runs/ID.h5, for `lbbt merge` (a sweep task:\n"
          "               lbbt sweep runs these)\n");
}


int cmd_run(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  lbbt_run_options o;
  memset(&o, 0, sizeof o);
  o.tier = "cpu";
  o.threads = omp_get_max_threads();
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--tier") && i + 1 < argc) o.tier = argv[++i];
    else if (!strcmp(argv[i], "--out") && i + 1 < argc) o.results_path = argv[++i];
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
      char *end;
      long n = strtol(argv[++i], &end, 10);
      if (*end || n < 1 || n > 1024) {
        fprintf(stderr, "lbbt run: --threads wants a positive integer, got '%s'\n", argv[i]);
        return 2;
      }
      o.threads = (int)n;
    } else if (!strcmp(argv[i], "--dry-run")) o.dry_run = 1;
    else if (!strcmp(argv[i], "--no-reuse")) o.no_reuse = 1;
    else if (!strcmp(argv[i], "--run") && i + 1 < argc) o.only_run = argv[++i];
    else if (argv[i][0] == '-' ) {
      fprintf(stderr, "lbbt run: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else if (!o.experiment_path) o.experiment_path = argv[i];
    else {
      fprintf(stderr, "lbbt run: one experiment file at a time ('%s' is extra)\n", argv[i]);
      return 2;
    }
  }
  if (!o.experiment_path) {
    usage(stderr);
    return 2;
  }
  omp_set_num_threads(o.threads);
  /* under mpirun (make MPI=1): one data-parallel rank of the job (lbbt/dist.h) */
  lbbt_status st = lbbt_dist_init(&argc, &argv);
  if (st != LBBT_OK) return cli_report(st, NULL);
  if (lbbt_dist_size() > 1 && lbbt_dist_rank() == 0)
    fprintf(stderr, "lbbt run: %d data-parallel ranks over %s, %d threads each\n", lbbt_dist_size(),
            lbbt_dist_backend(), o.threads);
  lbbt_registry *reg = NULL;
  st = cli_load_plugins(&reg);
  if (st == LBBT_OK) st = lbbt_run_experiment(&o, reg);
  else st = lbbt_fail_context(st, "loading plugins");
  lbbt_registry_free(reg);
  if (st != LBBT_OK && lbbt_dist_size() > 1) {
    int code = cli_report(st, NULL);
    lbbt_dist_abort(code);
  }
  lbbt_dist_finalize();
  if (st != LBBT_OK) return cli_report(st, NULL);
  return 0;
}
