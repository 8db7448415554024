/* The lbbt CLI's subcommands: one file each (core/cli/cmd_<name>.c), one row each in the
 * table in main.c.  A command returns the process exit code: 0 ok, 1 failure, 2 bad input. */
#ifndef LBBT_CLI_COMMANDS_H
#define LBBT_CLI_COMMANDS_H

typedef struct lbbt_command {
  const char *name;
  const char *summary; /* one line for `lbbt --help` */
  int (*main)(int argc, char **argv); /* argv[0] is the command name */
} lbbt_command;

/* Print "lbbt: <message>" for the library's last error and return the exit code for s. */
int cli_report(int status, const char *what);
/* The build directory holding plugins/ : $LBBT_BUILD, else the directory of the lbbt binary. */
const char *cli_build_dir(void);
/* Load every plugin under cli_build_dir()/plugins (and $LBBT_PLUGIN_PATH) into *out and make
 * it the global registry; plugins that fail to load are reported as warnings on stderr and
 * skipped.  The caller frees *out with lbbt_registry_free. */
struct lbbt_registry;
int cli_load_plugins(struct lbbt_registry **out);
/* Is argv[i] "--help" or "-h" anywhere? */
int cli_wants_help(int argc, char **argv);

/* A checkpoint loaded as a language model by the backbone plugin that claims it
 * (core/cli/cli_backbone.c), for `lbbt model`, `forward` and `generate`. */
struct lbbt_registry;
struct lbbt_model;
struct lbbt_plugin;
typedef struct cli_backbone {
  struct lbbt_registry *registry; /* owns the plugin; also set as the global registry */
  const struct lbbt_plugin *plugin;
  int score;                      /* its probe score (0 when chosen with --plugin) */
  struct lbbt_model *model;
} cli_backbone;
/* Pick the plugin (plugin_name, or the highest probe score among the loaded backbones),
 * load path with it.  Returns 0, or the exit code after printing why to stderr (2: missing
 * file, no plugin recognises it, bad checkpoint).  On failure *out holds nothing. */
int cli_open_backbone(const char *cmd, const char *path, const char *plugin_name,
                      cli_backbone *out);
void cli_close_backbone(cli_backbone *b);
/* 0 when every parameter of the model is finite; otherwise print which tensor first holds
 * NaN or Inf (name, flat index, value, how many) and return 2: weights that cannot give a
 * meaningful output are bad input, not a result. */
int cli_check_finite_params(const char *cmd, const char *path, const struct lbbt_model *m);

int cmd_version(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_table(int argc, char **argv);
int cmd_plugins(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_model(int argc, char **argv);
int cmd_forward(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_verdicts(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_merge(int argc, char **argv);
#endif
