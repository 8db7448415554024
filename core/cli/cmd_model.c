/* lbbt model PATH [--plugin NAME]: which backbone plugin reads a checkpoint, its architecture,
 * parameter counts per layer and per-tensor weight statistics (the plugin's describe). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "lbbt/plugin.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt model PATH [--plugin NAME]\n"
          "Loads a checkpoint with the backbone plugin whose probe scores it highest (or NAME)\n"
          "and prints the plugin, the architecture, parameter counts per layer and, for every\n"
          "tensor, its shape, mean, std, max |w|, excess kurtosis and count beyond 6 std.\n"
          "PATH: a Hugging Face folder (config.json + model.safetensors, or an index and\n"
          "shards), one of its .safetensors files, or a llama2.c .bin.\n"
          "exit codes: 0 ok, 2 missing file / no plugin recognises it / bad checkpoint, 1 other\n");
}

int cmd_model(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *path = NULL, *plugin = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--plugin") && i + 1 < argc) {
      plugin = argv[++i];
    } else if (!strncmp(argv[i], "--plugin=", 9)) {
      plugin = argv[i] + 9;
    } else if (argv[i][0] == '-' || path) {
      fprintf(stderr, "lbbt model: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else {
      path = argv[i];
    }
  }
  if (!path) {
    usage(stderr);
    return 2;
  }
  cli_backbone b;
  int code = cli_open_backbone("model", path, plugin, &b);
  if (code) return code;
  if (b.score)
    printf("plugin: %s (probe score %d)\n", b.plugin->name, b.score);
  else
    printf("plugin: %s (chosen with --plugin)\n", b.plugin->name);
  printf("source: %s\n", path);
  lbbt_status st = LBBT_OK;
  if (b.plugin->backbone->describe)
    st = b.plugin->backbone->describe(b.model, stdout);
  else
    lbbt_model_describe(b.model, stdout);
  if (st != LBBT_OK) code = cli_report(st, "model");
  else code = cli_check_finite_params("model", path, b.model);
  cli_close_backbone(&b);
  return code;
}
