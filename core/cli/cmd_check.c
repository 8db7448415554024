/* lbbt check: validate an experiment file and list the runs it expands to. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"
#include "lbbt/spec.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt check FILE.yaml [--tier T] [--config]\n"
          "       lbbt check --keys\n\n"
          "Validates an experiment file (keys, values, and each stage's plugin options through\n"
          "its plugin) and prints one line per run of the chosen tier: its id\n"
          "(hash of the resolved config) and its matrix values.  The other tiers declared in\n"
          "the file are validated too (without requiring their data and checkpoints to exist\n"
          "here).\n\n"
          "  --tier T    the tier to expand: smoke, cpu (default) or paper\n"
          "  --config    also print each run's resolved config (the text its id hashes)\n"
          "  --keys      print the reference of every key (Markdown; experiments/README.md)\n\n"
          "exit codes: 0 valid, 2 invalid (the message names file:line:col), 1 other failure\n");
}

int cmd_check(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *file = NULL, *tier = "cpu";
  int print_config = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--keys")) { /* core keys, then every plugin's */
      lbbt_registry *reg = NULL;
      lbbt_status st = cli_load_plugins(&reg);
      if (st != LBBT_OK) return cli_report(st, "loading plugins");
      lbbt_spec_write_reference(stdout);
      lbbt_registry_free(reg);
      return 0;
    } else if (!strcmp(argv[i], "--tier") && i + 1 < argc) {
      tier = argv[++i];
    } else if (!strncmp(argv[i], "--tier=", 7)) {
      tier = argv[i] + 7;
    } else if (!strcmp(argv[i], "--config")) {
      print_config = 1;
    } else if (argv[i][0] == '-' || file) {
      fprintf(stderr, "lbbt check: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else {
      file = argv[i];
    }
  }
  if (!file) {
    usage(stderr);
    return 2;
  }
  /* Plugins check their own stage options (a typo in an lm-pretrain option is caught here,
   * not when its run starts after hours of others). */
  lbbt_registry *reg = NULL;
  lbbt_status st = cli_load_plugins(&reg);
  if (st != LBBT_OK) return cli_report(st, "loading plugins");
  lbbt_experiment *e;
  st = lbbt_experiment_load(file, tier, &e);
  if (st == LBBT_OK) {
    st = lbbt_experiment_check_plugins(e, reg);
    if (st != LBBT_OK) lbbt_experiment_free(e);
  }
  if (st != LBBT_OK) {
    lbbt_registry_free(reg);
    return cli_report(st, NULL);
  }
  /* A typo in a tier nobody runs today would otherwise wait for the day someone does. */
  char others[256] = "";
  for (int t = 0; t < e->n_tiers; t++) {
    if (!strcmp(e->tiers[t], e->tier)) continue;
    lbbt_experiment *o;
    st = lbbt_experiment_load_flags(file, e->tiers[t], LBBT_SPEC_SKIP_FILE_CHECKS, &o);
    if (st == LBBT_OK) {
      st = lbbt_experiment_check_plugins(o, reg);
      if (st != LBBT_OK) lbbt_experiment_free(o);
    }
    if (st != LBBT_OK) {
      char what[64];
      snprintf(what, sizeof what, "tier '%s'", e->tiers[t]);
      lbbt_experiment_free(e);
      lbbt_registry_free(reg);
      return cli_report(st, what);
    }
    size_t len = strlen(others);
    snprintf(others + len, sizeof others - len, "%s%s (%d run%s)", len ? ", " : "", o->tiers[t], o->n_runs,
             o->n_runs == 1 ? "" : "s");
    lbbt_experiment_free(o);
  }
  for (int i = 0; i < e->n_runs; i++) {
    const lbbt_run_spec *r = &e->runs[i];
    printf("%s  %s\n", r->id, r->label[0] ? r->label : "(no matrix)");
    if (print_config) printf("%s\n", r->config_yaml);
  }
  fprintf(stderr, "%s: ok: experiment %s, tier %s, %d run%s%s%s\n", file, e->name, e->tier, e->n_runs,
          e->n_runs == 1 ? "" : "s", others[0] ? "; other tiers valid: " : "", others);
  lbbt_experiment_free(e);
  lbbt_registry_free(reg);
  return 0;
}
