/* lbbt sweep --slurm: a job array with one task per pending run (SLURM_ARRAY_TASK_ID picks
 * the run id from a list in the script), and a merge job that runs after every task ended
 * (afterany: runs that completed are merged even when a task failed; rerunning the sweep
 * resumes the rest from their checkpoints). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/atomic_file.h"
#include "base/fs_util.h"
#include "sweep_cli.h"

/* Every path and value goes into the scripts inside single quotes. */
static int quotable(const char *what, const char *s) {
  if (!s || !strchr(s, '\'')) return 1;
  fprintf(stderr, "lbbt sweep: %s '%s' contains a single quote; Slurm scripts quote with them\n", what, s);
  return 0;
}

static void sbatch_line(FILE *f, const char *opt, const char *value) {
  if (value) fprintf(f, "#SBATCH --%s=%s\n", opt, value);
}

static void write_array(FILE *f, const sweep_args *a, const lbbt_sweep_plan *p, const char *exe,
                        const char *cwd, const char *dir) {
  const lbbt_experiment *e = p->exp;
  fprintf(f, "#!/bin/bash\n# lbbt sweep: one array task per pending run of %s (tier %s).\n", e->file, e->tier);
  fprintf(f, "#SBATCH --job-name=lbbt-%s-%s\n", e->name, e->tier);
  fprintf(f, "#SBATCH --array=0-%d", p->n_pending - 1);
  if (a->max_parallel) fprintf(f, "%%%d", a->max_parallel);
  fprintf(f, "\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=%d\n", a->threads);
  fprintf(f, "#SBATCH --output=%s%s%s/slurm-%%A_%%a.out\n", dir[0] == '/' ? "" : cwd, dir[0] == '/' ? "" : "/", dir);
  sbatch_line(f, "time", a->time);
  sbatch_line(f, "mem", a->mem);
  sbatch_line(f, "partition", a->partition);
  fprintf(f, "set -eu\ncd '%s'\nruns=(", cwd);
  for (int i = 0; i < e->n_runs; i++)
    if (p->state[i] == LBBT_SWEEP_PENDING) fprintf(f, "\n  %s  # %s", e->runs[i].id, e->runs[i].label);
  fprintf(f, "\n)\n");
  fprintf(f, "exec '%s' run '%s' --tier '%s' --out '%s' --threads \"${SLURM_CPUS_PER_TASK:-%d}\" \\\n"
             "  --run \"${runs[$SLURM_ARRAY_TASK_ID]}\"\n",
          exe, a->experiment_path, a->tier, a->table_path, a->threads);
}

static void write_merge(FILE *f, const sweep_args *a, const lbbt_sweep_plan *p, const char *exe,
                        const char *cwd, const char *dir) {
  const lbbt_experiment *e = p->exp;
  fprintf(f, "#!/bin/bash\n# lbbt sweep: merge the array's run files into %s (after every task).\n",
          a->table_path);
  fprintf(f, "#SBATCH --job-name=lbbt-merge-%s-%s\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task=1\n", e->name, e->tier);
  fprintf(f, "#SBATCH --output=%s%s%s/slurm-merge-%%j.out\n", dir[0] == '/' ? "" : cwd, dir[0] == '/' ? "" : "/", dir);
  sbatch_line(f, "partition", a->partition);
  fprintf(f, "set -eu\ncd '%s'\nexec '%s' merge '%s' --tier '%s' --out '%s'\n", cwd, exe,
          a->experiment_path, a->tier, a->table_path);
}

typedef void (*script_writer)(FILE *, const sweep_args *, const lbbt_sweep_plan *, const char *,
                              const char *, const char *);

/* Write a script atomically (a reader never sees half of it). */
static int save_script(const char *path, script_writer fn, const sweep_args *a,
                       const lbbt_sweep_plan *p, const char *exe, const char *cwd, const char *dir) {
  char tmp[LBBT_PATH_MAX + 64];
  FILE *f = NULL;
  if (atomic_tmp_name(path, tmp, sizeof tmp) != LBBT_OK || !(f = fopen(tmp, "w"))) {
    fprintf(stderr, "lbbt sweep: cannot write %s\n", path);
    return 0;
  }
  fn(f, a, p, exe, cwd, dir);
  if (fclose(f) != 0 || atomic_publish(tmp, path) != LBBT_OK) {
    fprintf(stderr, "lbbt sweep: cannot write %s\n", path);
    return 0;
  }
  return 1;
}

/* Run `sbatch --parsable [dependency] script` and read the job id it prints. */
static int submit(const char *sbatch, const char *dependency, const char *script, long *job) {
  char cmd[3 * LBBT_PATH_MAX];
  snprintf(cmd, sizeof cmd, "'%s' --parsable %s%s '%s'", sbatch, dependency ? "--dependency=" : "",
           dependency ? dependency : "", script);
  FILE *p = popen(cmd, "r");
  if (!p) {
    fprintf(stderr, "lbbt sweep: cannot run %s\n", sbatch);
    return 0;
  }
  char line[256] = "";
  if (!fgets(line, sizeof line, p)) line[0] = 0;
  int rc = pclose(p);
  char *end;
  *job = strtol(line, &end, 10); /* "<id>" or "<id>;<cluster>" */
  if (rc != 0 || end == line || *job <= 0) {
    fprintf(stderr, "lbbt sweep: %s failed (exit %d, printed '%s') submitting %s\n", sbatch, rc,
            strtok(line, "\n") ? line : "", script);
    return 0;
  }
  return 1;
}

int sweep_slurm(const sweep_args *a, lbbt_sweep_plan *plan) {
  char exe[PATH_MAX], cwd[PATH_MAX], dir[LBBT_PATH_MAX];
  if (!sweep_self_paths(exe, sizeof exe, cwd, sizeof cwd)) return 1;
  if (!quotable("path", exe) || !quotable("directory", cwd) || !quotable("experiment", a->experiment_path) ||
      !quotable("results file", a->table_path) || !quotable("tier", a->tier) || !quotable("sbatch", a->sbatch))
    return 2;
  lbbt_sweep_runs_dir(a->table_path, dir, sizeof dir);
  if (!plan->n_pending) {
    printf("nothing to run on Slurm\n");
    return a->dry_run ? 0 : sweep_merge_report(plan, 1);
  }
  if (a->dry_run) {
    printf("# ---- %s/sweep-array.sbatch\n", dir);
    write_array(stdout, a, plan, exe, cwd, dir);
    printf("# ---- %s/sweep-merge.sbatch (sbatch --dependency=afterany:<array job>)\n", dir);
    write_merge(stdout, a, plan, exe, cwd, dir);
    return 0;
  }
  if (lbbt_make_dirs(dir) != LBBT_OK) {
    fprintf(stderr, "lbbt sweep: %s\n", lbbt_last_error());
    return 1;
  }
  char array[LBBT_PATH_MAX + 32], merge[LBBT_PATH_MAX + 32], dep[64];
  snprintf(array, sizeof array, "%s/sweep-array.sbatch", dir);
  snprintf(merge, sizeof merge, "%s/sweep-merge.sbatch", dir);
  long array_job = 0, merge_job = 0;
  if (!save_script(array, write_array, a, plan, exe, cwd, dir) ||
      !save_script(merge, write_merge, a, plan, exe, cwd, dir) || !submit(a->sbatch, NULL, array, &array_job))
    return 1;
  snprintf(dep, sizeof dep, "afterany:%ld", array_job);
  if (!submit(a->sbatch, dep, merge, &merge_job)) {
    fprintf(stderr, "lbbt sweep: the array job %ld is submitted; run `lbbt merge %s --tier %s --out %s` "
                    "after it\n", array_job, a->experiment_path, a->tier, a->table_path);
    return 1;
  }
  printf("submitted array job %ld (%d tasks, %s) and merge job %ld (after it)\n", array_job,
         plan->n_pending, array, merge_job);
  return 0;
}
