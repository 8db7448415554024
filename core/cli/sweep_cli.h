/* lbbt sweep's two ways of running an experiment's pending runs (one process per run,
 * each writing its own run file; lbbt/sweep.h): local processes or a Slurm job array. */
#ifndef LBBT_CLI_SWEEP_H
#define LBBT_CLI_SWEEP_H
#include "lbbt/sweep.h"

typedef struct sweep_args {
  const char *experiment_path, *tier, *table_path; /* table_path: NULL = default */
  int threads;          /* per run (--threads; Slurm: --cpus-per-task) */
  int jobs;             /* local: processes at once */
  int dry_run;
  /* Slurm resources per task, verbatim #SBATCH values (NULL: Slurm's defaults) */
  const char *time, *mem, *partition;
  int max_parallel;     /* array throttle (%K); 0: none */
  const char *sbatch;   /* the sbatch program (default "sbatch") */
} sweep_args;

/* The absolute path of this lbbt binary and of the working directory (workers run them). */
int sweep_self_paths(char *exe, size_t n_exe, char *cwd, size_t n_cwd);

/* Run the plan's pending runs as a.jobs processes of `lbbt run ... --run ID` (logs in
 * <table>.runs/ID.log), then merge.  Returns the exit code. */
int sweep_local(const sweep_args *a, lbbt_sweep_plan *plan);
/* Write the array and merge job scripts into <table>.runs/ and submit them (dry_run: print
 * them).  Returns the exit code. */
int sweep_slurm(const sweep_args *a, lbbt_sweep_plan *plan);
/* Merge the plan's complete run files into its results file and print what stands
 * (lbbt merge; the end of a local sweep).  Returns the exit code. */
int sweep_merge_report(lbbt_sweep_plan *plan, int threads);
#endif
