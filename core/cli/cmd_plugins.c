/* lbbt plugins [--kind backbone|task|analysis]: what the loader finds, and what it refuses.
 * The table goes to stdout; refusals and path warnings to stderr, so `lbbt plugins | cut`
 * stays clean.  Refusals are not failures (exit 0): one broken plugin must not hide the
 * others.  An unreadable build plugin folder is (exit 1). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "lbbt/plugin.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt plugins [--kind backbone|task|analysis]\n"
          "Lists the plugins found in <build>/plugins and in each folder of LBBT_PLUGIN_PATH\n"
          "(':'-separated, searched recursively for *.so): name, kind, summary, file.\n"
          "Plugins that are refused (wrong ABI version, missing descriptor, NULL functions,\n"
          "duplicate names) are listed on stderr with the reason; the exit code stays 0.\n");
}

static int column_width(const lbbt_registry *r, int filter, const char *header,
                        const char *(*field)(const lbbt_plugin_entry *)) {
  int w = (int)strlen(header);
  for (int i = 0; i < lbbt_registry_count(r); i++) {
    const lbbt_plugin_entry *e = lbbt_registry_at(r, i);
    if (filter && (int)e->plugin->kind != filter) continue;
    int n = (int)strlen(field(e));
    if (n > w) w = n;
  }
  return w;
}

static const char *field_name(const lbbt_plugin_entry *e) { return e->plugin->name; }
static const char *field_kind(const lbbt_plugin_entry *e) { return lbbt_plugin_kind_name(e->plugin->kind); }
static const char *field_summary(const lbbt_plugin_entry *e) { return e->plugin->summary; }

int cmd_plugins(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  int filter = 0; /* 0 = every kind */
  for (int i = 1; i < argc; i++) {
    const char *value = NULL;
    if (!strcmp(argv[i], "--kind")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "lbbt plugins: --kind needs a value: backbone, task or analysis\n");
        return 2;
      }
      value = argv[++i];
    } else if (!strncmp(argv[i], "--kind=", 7)) {
      value = argv[i] + 7;
    } else {
      fprintf(stderr, "lbbt plugins: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
    lbbt_plugin_kind k;
    if (lbbt_plugin_kind_parse(value, &k) != LBBT_OK) return cli_report(LBBT_E_INPUT, "plugins --kind");
    filter = (int)k;
  }

  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/plugins", cli_build_dir());
  lbbt_registry *r = NULL;
  lbbt_status st = lbbt_registry_load(&r, dir, NULL);
  if (st != LBBT_OK) return cli_report(st, "plugins");

  int wn = column_width(r, filter, "NAME", field_name);
  int wk = column_width(r, filter, "KIND", field_kind);
  int ws = column_width(r, filter, "SUMMARY", field_summary);
  int shown = 0;
  for (int i = 0; i < lbbt_registry_count(r); i++) {
    const lbbt_plugin_entry *e = lbbt_registry_at(r, i);
    if (filter && (int)e->plugin->kind != filter) continue;
    if (!shown++) printf("%-*s  %-*s  %-*s  %s\n", wn, "NAME", wk, "KIND", ws, "SUMMARY", "FILE");
    printf("%-*s  %-*s  %-*s  %s\n", wn, field_name(e), wk, field_kind(e), ws, field_summary(e),
           e->file);
  }
  if (!shown)
    printf("no %s%splugins found in %s or LBBT_PLUGIN_PATH\n",
           filter ? lbbt_plugin_kind_name((lbbt_plugin_kind)filter) : "", filter ? " " : "", dir);
  fflush(stdout);
  for (int i = 0; i < lbbt_registry_n_warnings(r); i++)
    fprintf(stderr, "lbbt: warning: %s\n", lbbt_registry_warning(r, i));
  for (int i = 0; i < lbbt_registry_n_refused(r); i++)
    fprintf(stderr, "lbbt: refused %s\n", lbbt_registry_refused(r, i));
  lbbt_registry_free(r);
  return 0;
}
