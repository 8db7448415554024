/* lbbt: the command-line entry point.  Dispatches to one subcommand per file. */
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "lbbt/isa.h"
#include "lbbt/plugin.h"
#include "lbbt/status.h"
#include "lbbt/version.h"

static const lbbt_command COMMANDS[] = {
    {"run", "run an experiment's missing runs (resuming killed ones) into an HDF5 file", cmd_run},
    {"sweep", "run an experiment's pending runs as K processes or a Slurm job array, then merge", cmd_sweep},
    {"merge", "join a sweep's complete per-run files into the experiment's results file", cmd_merge},
    {"table", "render a paper table from results beside the paper's numbers", cmd_table},
    {"verdicts", "test the paper's claims on the reproduced tables (interval, verdict, controls)", cmd_verdicts},
    {"version", "print lbbt and library versions", cmd_version},
    {"plugins", "list installed plugins (and those refused, with the reason)", cmd_plugins},
    {"check", "validate an experiment file and list its runs", cmd_check},
    {"inspect", "print a results file's provenance and runs", cmd_inspect},
    {"fsck", "check every run of a results file; salvage the intact runs of a damaged one", cmd_fsck},
    {"model", "which plugin reads a checkpoint; architecture, parameters, weight statistics", cmd_model},
    {"forward", "run a checkpoint on token ids (HDF5) and write hidden states and logits", cmd_forward},
    {"generate", "continue a prompt of token ids with a checkpoint (greedy or sampled)", cmd_generate},
};
static const int N_COMMANDS = (int)(sizeof COMMANDS / sizeof COMMANDS[0]);

int cli_report(int status, const char *what) {
  fprintf(stderr, "lbbt: %s%s%s\n", what ? what : "", what ? ": " : "", lbbt_last_error());
  return lbbt_status_exit_code((lbbt_status)status);
}

const char *cli_build_dir(void) {
  static char dir[PATH_MAX];
  const char *e = getenv("LBBT_BUILD");
  if (e && *e) return e;
  if (!dir[0]) {
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return "build";
    exe[n] = 0;
    snprintf(dir, sizeof dir, "%s", dirname(exe));
  }
  return dir;
}

static void plugin_warning(const char *line) { fprintf(stderr, "lbbt: warning: %s\n", line); }

int cli_load_plugins(struct lbbt_registry **out) {
  char dir[PATH_MAX + 16];
  snprintf(dir, sizeof dir, "%s/plugins", cli_build_dir());
  lbbt_status st = lbbt_registry_load(out, dir, plugin_warning);
  if (st != LBBT_OK) return st;
  lbbt_registry_set_global(*out);
  return LBBT_OK;
}

int cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return 1;
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "lbbt %s — reproduce \"Language-Pretraining-Induced Bias\" (tables, figures, analyses)\n\n"
          "usage: lbbt <command> [options]     lbbt <command> --help\n\ncommands:\n",
          LBBT_VERSION);
  for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].summary);
  fprintf(f,
          "\nexit codes: 0 ok, 1 failure, 2 bad input (file, line and column are named)\n"
          "environment: LBBT_PLUGIN_PATH (extra plugin folders, ':'-separated), LBBT_MODELS\n"
          "(models folder, default ../shared/models), LBBT_BUILD (build folder), LBBT_MAX_ISA\n"
          "(baseline|avx2|avx512: cap the kernels' vector ISA; DNNL_MAX_CPU_ISA caps oneDNN's),\n"
          "LBBT_OUTPUT_ROOTS (more folders stages may write to), LBBT_REPLACE_MODELS=1 (replace a\n"
          "model folder another run made), LBBT_FORWARD_MEMORY_MB (lbbt forward's chunk budget)\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  /* The kernels' ISA level is decided before any work, so that oneDNN can be capped with it
   * (lbbt/isa.h); a misspelt LBBT_MAX_ISA is bad input, not a silent baseline. */
  if (lbbt_isa_check_env() != LBBT_OK) return cli_report(LBBT_E_INPUT, NULL);
  (void)lbbt_isa_active();
  if (!strcmp(argv[1], "--version")) return cmd_version(1, argv + 1);
  for (int i = 0; i < N_COMMANDS; i++)
    if (!strcmp(argv[1], COMMANDS[i].name)) return COMMANDS[i].main(argc - 1, argv + 1);
  fprintf(stderr, "lbbt: unknown command '%s' (see lbbt --help)\n", argv[1]);
  return 2;
}
