/* lbbt sweep: an experiment's pending runs as separate processes (--jobs K) or Slurm array
 * tasks (--slurm), each into its own run file, joined by lbbt merge.  See lbbt/sweep.h. */
#include <limits.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "lbbt/plugin.h"
#include "sweep_cli.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt sweep EXPERIMENT.yaml [--tier T] [--out FILE.h5] [--threads N]\n"
          "                  [--jobs K | --slurm [--time T] [--mem M] [--partition P]\n"
          "                  [--max-parallel K] [--sbatch PROGRAM]] [--dry-run]\n\n"
          "Runs the experiment's pending runs (complete neither in the results file nor in a run\n"
          "file) as one process each: `lbbt run EXPERIMENT --run ID` writes run ID into its own\n"
          "file <results>.runs/ID.h5, then `lbbt merge` joins the complete ones into the results\n"
          "file (one writer).  A killed run resumes from its checkpoint when the sweep runs again.\n"
          "  --jobs K         K processes at once on this machine (default 1); logs <results>.runs/ID.log\n"
          "  --threads N      threads per run (default: all cores / K, at least 1; Slurm: 1)\n"
          "  --slurm          write a job array (one task per pending run, SLURM_ARRAY_TASK_ID\n"
          "                   picks it) and a merge job that runs after it (afterany) into\n"
          "                   <results>.runs/, and submit both with sbatch\n"
          "  --time, --mem, --partition   per task, as sbatch's options (default: Slurm's)\n"
          "                   (--threads N asks for N CPUs per task)\n"
          "  --max-parallel K at most K array tasks at once (--array=0-N%%K)\n"
          "  --sbatch P       the sbatch program (default sbatch)\n"
          "  --dry-run        list the pending runs (with --slurm: print both job scripts); run\n"
          "                   and write nothing\n");
}

static int positive(const char *flag, const char *s, int *out) {
  char *end;
  long n = strtol(s, &end, 10);
  if (*end || n < 1 || n > 4096) {
    fprintf(stderr, "lbbt sweep: %s wants a positive integer, got '%s'\n", flag, s);
    return 0;
  }
  *out = (int)n;
  return 1;
}

int sweep_self_paths(char *exe, size_t n_exe, char *cwd, size_t n_cwd) {
  ssize_t n = readlink("/proc/self/exe", exe, n_exe - 1);
  if (n <= 0 || !getcwd(cwd, n_cwd)) {
    fprintf(stderr, "lbbt sweep: cannot find this program's path or the working directory\n");
    return 0;
  }
  exe[n] = 0;
  return 1;
}

int cmd_sweep(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  sweep_args a;
  memset(&a, 0, sizeof a);
  a.tier = "cpu";
  a.jobs = 1;
  a.sbatch = "sbatch";
  int slurm = 0;
  for (int i = 1; i < argc; i++) {
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(argv[i], "--tier") && v) a.tier = argv[++i];
    else if (!strcmp(argv[i], "--out") && v) a.table_path = argv[++i];
    else if (!strcmp(argv[i], "--threads") && v) {
      if (!positive("--threads", argv[++i], &a.threads)) return 2;
    } else if (!strcmp(argv[i], "--jobs") && v) {
      if (!positive("--jobs", argv[++i], &a.jobs)) return 2;
    } else if (!strcmp(argv[i], "--max-parallel") && v) {
      if (!positive("--max-parallel", argv[++i], &a.max_parallel)) return 2;
    } else if (!strcmp(argv[i], "--time") && v) a.time = argv[++i];
    else if (!strcmp(argv[i], "--mem") && v) a.mem = argv[++i];
    else if (!strcmp(argv[i], "--partition") && v) a.partition = argv[++i];
    else if (!strcmp(argv[i], "--sbatch") && v) a.sbatch = argv[++i];
    else if (!strcmp(argv[i], "--slurm")) slurm = 1;
    else if (!strcmp(argv[i], "--dry-run")) a.dry_run = 1;
    else if (argv[i][0] == '-') {
      fprintf(stderr, "lbbt sweep: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else if (!a.experiment_path) a.experiment_path = argv[i];
    else {
      fprintf(stderr, "lbbt sweep: one experiment file at a time ('%s' is extra)\n", argv[i]);
      return 2;
    }
  }
  if (!a.experiment_path) {
    usage(stderr);
    return 2;
  }
  if (!a.threads) {
    int cores = omp_get_max_threads();
    a.threads = slurm ? 1 : (cores / a.jobs > 1 ? cores / a.jobs : 1);
  }
  /* The experiment's stages may write plugin keys: its runs (and their ids) need the plugins. */
  lbbt_registry *reg = NULL;
  lbbt_sweep_plan *plan = NULL;
  lbbt_status st = cli_load_plugins(&reg);
  if (st == LBBT_OK) st = lbbt_sweep_plan_create(a.experiment_path, a.tier, a.table_path, &plan);
  if (st != LBBT_OK) {
    lbbt_registry_free(reg);
    return cli_report(st, NULL);
  }
  a.table_path = plan->table_path;
  printf("%s (tier %s): %d runs: %d to run, %d to merge, %d complete in %s\n", plan->exp->file,
         plan->exp->tier, plan->exp->n_runs, plan->n_pending, plan->n_to_merge, plan->n_complete,
         plan->table_path);
  int rc = slurm ? sweep_slurm(&a, plan) : sweep_local(&a, plan);
  lbbt_sweep_plan_free(plan);
  lbbt_registry_free(reg);
  return rc;
}
