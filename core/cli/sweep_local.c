/* lbbt sweep --jobs K: K processes of `lbbt run ... --run ID` at a time, then the merge.
 * Processes, not threads or fork() alone: each run is an ordinary lbbt run (its own OpenMP
 * pool, HDF5 library state and signal handling), the same command a Slurm task runs. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/fs_util.h"
#include "sweep_cli.h"

extern char **environ;

static volatile sig_atomic_t g_stop;
static void on_signal(int sig) { g_stop = sig; }

typedef struct worker {
  pid_t pid;
  int run; /* index into plan->exp->runs */
} worker;

static pid_t spawn_run(const sweep_args *a, const char *exe, const char *run_id, const char *log) {
  char threads[16];
  snprintf(threads, sizeof threads, "%d", a->threads);
  char *argv[] = {(char *)exe, "run", (char *)a->experiment_path, "--tier", (char *)a->tier,
                  "--out", (char *)a->table_path, "--threads", threads, "--run", (char *)run_id,
                  NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  int err = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  if (err) {
    fprintf(stderr, "lbbt sweep: cannot start %s: %s\n", exe, strerror(err));
    return -1;
  }
  return pid;
}

int sweep_local(const sweep_args *a, lbbt_sweep_plan *plan) {
  const lbbt_experiment *e = plan->exp;
  if (a->dry_run) {
    for (int i = 0; i < e->n_runs; i++)
      if (plan->state[i] == LBBT_SWEEP_PENDING) printf("to run: %s [%s]\n", e->runs[i].id, e->runs[i].label);
    return 0;
  }
  char exe[PATH_MAX], cwd[PATH_MAX], dir[LBBT_PATH_MAX];
  if (!sweep_self_paths(exe, sizeof exe, cwd, sizeof cwd)) return 1;
  lbbt_sweep_runs_dir(a->table_path, dir, sizeof dir);
  if (plan->n_pending && lbbt_make_dirs(dir) != LBBT_OK) {
    fprintf(stderr, "lbbt sweep: %s\n", lbbt_last_error());
    return 1;
  }
  worker *w = calloc((size_t)a->jobs, sizeof *w);
  if (!w) return 1;
  /* Ctrl-C reaches the workers too (one process group): they save a checkpoint and stop; a
   * SIGTERM to the sweep alone is passed on.  No new run starts after either. */
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  g_stop = 0;
  int next = 0, running = 0, failed = 0, done = 0, forwarded = 0;
  for (;;) {
    while (!g_stop && running < a->jobs) {
      while (next < e->n_runs && plan->state[next] != LBBT_SWEEP_PENDING) next++;
      if (next >= e->n_runs) break;
      char log[LBBT_PATH_MAX + 96];
      snprintf(log, sizeof log, "%s/%s.log", dir, e->runs[next].id);
      pid_t pid = spawn_run(a, exe, e->runs[next].id, log);
      if (pid < 0) {
        failed++;
        next++;
        continue;
      }
      int slot = 0;
      while (w[slot].pid) slot++;
      w[slot] = (worker){pid, next};
      running++;
      printf("started %s [%s] (log %s)\n", e->runs[next].id, e->runs[next].label, log);
      fflush(stdout);
      next++;
    }
    if (!running) break;
    if (g_stop == SIGTERM && !forwarded) {
      for (int j = 0; j < a->jobs; j++)
        if (w[j].pid) kill(w[j].pid, SIGTERM);
      forwarded = 1;
    }
    int status;
    pid_t pid = waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int j = 0; j < a->jobs; j++) {
      if (w[j].pid != pid) continue;
      const lbbt_run_spec *r = &e->runs[w[j].run];
      int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (ok) done++; else failed++;
      printf("%s %s [%s]%s\n", ok ? "finished" : "FAILED", r->id, r->label,
             ok ? "" : " (see its log; rerun the sweep to resume it)");
      fflush(stdout);
      w[j].pid = 0;
      running--;
    }
  }
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  free(w);
  int rc = sweep_merge_report(plan, a->threads);
  if (rc) return rc;
  if (g_stop) {
    fprintf(stderr, "lbbt sweep: interrupted; complete runs are merged, rerun to resume the rest\n");
    return 1;
  }
  return failed ? 1 : 0;
}
