/* lbbt fsck RESULTS.h5 [--salvage OUT.h5]: report every run of a results file (ok, damaged
 * and why, unreadable) and copy the intact runs of a damaged or truncated file into a new
 * one (lbbt/results_fsck.h). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "lbbt/results_fsck.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt fsck RESULTS.h5 [--salvage OUT.h5]\n"
          "Checks every run of a results file, each read in its own process: 'ok' (its checksum\n"
          "matches), 'damaged' (HDF5 reports an error, or its checksum does not match: the\n"
          "reason follows) or 'unreadable' (reading it crashes or hangs libhdf5).  A truncated\n"
          "file is read as far as it goes.\n"
          "  --salvage OUT.h5  write the intact runs and the provenance into the new file\n"
          "                    OUT.h5 (atomically; it must not exist).  `lbbt run --out` on a\n"
          "                    copy of it computes the missing runs again.\n"
          "exit codes: 0 every run ok, 1 damage found (or salvaging failed), 2 bad input (a\n"
          "missing file, not an lbbt results file, OUT.h5 exists)\n");
}

static void print_report(const lbbt_fsck_report *r) {
  printf("%s: %lld bytes, %d run%s: %d ok, %d damaged, %d unreadable\n", r->file,
         (long long)r->size, r->n_runs, r->n_runs == 1 ? "" : "s", r->n_ok, r->n_damaged,
         r->n_unreadable);
  if (r->problem) printf("file: %s\n", r->problem);
  for (int i = 0; i < r->n_runs; i++) {
    const lbbt_fsck_run *run = &r->runs[i];
    printf("%-10s %s", lbbt_fsck_state_name(run->state), run->id);
    if (run->label[0]) printf("  %s", run->label);
    if (run->reason) printf("  (%s)", run->reason);
    printf("\n");
  }
}

int cmd_fsck(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *path = NULL, *salvage = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--salvage") && i + 1 < argc) salvage = argv[++i];
    else if (argv[i][0] != '-' && !path) path = argv[i];
    else {
      fprintf(stderr, "lbbt fsck: unexpected argument '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    }
  }
  if (!path) {
    usage(stderr);
    return 2;
  }
  lbbt_fsck_report *r = NULL;
  lbbt_status st = lbbt_results_fsck(path, &r);
  if (st != LBBT_OK) return cli_report(st, "fsck");
  print_report(r);
  int code = lbbt_fsck_clean(r) ? 0 : 1;
  if (salvage) {
    int n = 0;
    st = lbbt_results_salvage(r, salvage, &n);
    if (st != LBBT_OK) code = cli_report(st, "fsck --salvage");
    else printf("salvaged %d intact run%s of %d into %s\n", n, n == 1 ? "" : "s", r->n_runs, salvage);
  }
  lbbt_fsck_report_free(r);
  return code;
}
