/* lbbt inspect FILE.h5: a results file's provenance and one line per run. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "lbbt/results.h"

/* Series with at most this many values are printed in full by --run. */
enum { FULL_SERIES_MAX = 20 };

static void usage(FILE *f) {
  fprintf(f,
          "usage: lbbt inspect FILE.h5 [--yaml] [--run ID]\n"
          "Prints a results file's provenance (root attributes) and one line per run: id,\n"
          "status, label and the final value of each scalar and series (path=value).\n"
          "  --yaml     also print the experiment YAML stored in the file\n"
          "  --run ID   print that run in full: attributes, resolved config, every item\n"
          "exit codes: 0 ok, 2 missing file, not an lbbt results file, or unknown run\n");
}

/* First line of a multi-line value, with a note of how many lines follow. */
static void print_attr(const char *key, const char *value, int width) {
  const char *nl = strchr(value, '\n');
  if (!nl || !nl[1]) {
    printf("  %-*s %.*s\n", width, key, nl ? (int)(nl - value) : (int)strlen(value), value);
    return;
  }
  int lines = 0;
  for (const char *c = value; *c; c++) lines += *c == '\n';
  printf("  %-*s %.*s ... (%d lines)\n", width, key, (int)(nl - value), value, lines);
}

static void print_provenance(const lbbt_results *res) {
  int width = 0;
  for (int i = 0; i < res->n_attrs; i++) {
    int n = (int)strlen(res->attrs[i].key);
    if (n > width) width = n;
  }
  printf("%s\n", res->file);
  for (int i = 0; i < res->n_attrs; i++) print_attr(res->attrs[i].key, res->attrs[i].value, width);
}

static void print_run_line(const lbbt_result_run *run) {
  printf("%s  %s  %s", run->id, run->status[0] ? run->status : "(no status)",
         run->label[0] ? run->label : "(no label)");
  for (int i = 0; i < lbbt_record_count(run->record); i++) {
    const lbbt_record_item *it = lbbt_record_at(run->record, i);
    double v;
    if (lbbt_record_item_final(it, &v)) printf("  %s=%.6g", it->path, v);
  }
  if (run->damage) printf("  (%s; `lbbt run` computes it again)", run->damage);
  printf("\n");
}

static void print_shape(const lbbt_record_item *it) {
  printf("%s[", it->kind == LBBT_ITEM_F32 ? "f32" : "i32");
  for (int d = 0; d < it->ndim; d++) printf("%s%lld", d ? "x" : "", (long long)it->shape[d]);
  printf("]");
}

static void print_item(const lbbt_record_item *it) {
  printf("  %s = ", it->path);
  switch (it->kind) {
    case LBBT_ITEM_SCALAR:
      printf("%.17g\n", it->scalar);
      return;
    case LBBT_ITEM_STRING:
      printf("\"%s\"\n", it->string);
      return;
    case LBBT_ITEM_SERIES:
      printf("series of %d:", it->n);
      for (int i = 0; i < it->n; i++) {
        if (it->n > FULL_SERIES_MAX && i == 3) {
          printf(" ...");
          i = it->n - 3;
        }
        printf(" %.6g", it->series[i]);
      }
      printf("\n");
      return;
    case LBBT_ITEM_F32:
    case LBBT_ITEM_I32: {
      print_shape(it);
      if (it->numel == 0) {
        printf(" (empty)\n");
        return;
      }
      double lo = INFINITY, hi = -INFINITY, sum = 0;
      for (int64_t i = 0; i < it->numel; i++) {
        double x = it->kind == LBBT_ITEM_F32 ? (double)it->f32[i] : (double)it->i32[i];
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        sum += x;
      }
      printf(" min %.6g max %.6g mean %.6g\n", lo, hi, sum / (double)it->numel);
      return;
    }
  }
}

static void print_run_full(const lbbt_result_run *run) {
  printf("run %s\n", run->id);
  for (int i = 0; i < run->n_attrs; i++) {
    /* Top-level record strings are attributes too; they are printed with the items. */
    const lbbt_record_item *item = lbbt_record_find(run->record, run->attrs[i].key);
    if (strcmp(run->attrs[i].key, "config") != 0 && !(item && item->kind == LBBT_ITEM_STRING))
      printf("  %s: %s\n", run->attrs[i].key, run->attrs[i].value);
  }
  printf("config:\n");
  for (const char *line = run->config_yaml; *line;) {
    const char *nl = strchr(line, '\n');
    int n = nl ? (int)(nl - line) : (int)strlen(line);
    printf("  %.*s\n", n, line);
    line += n + (nl != NULL);
  }
  printf("items:\n");
  for (int i = 0; i < lbbt_record_count(run->record); i++) print_item(lbbt_record_at(run->record, i));
}

int cmd_inspect(int argc, char **argv) {
  if (cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *file = NULL, *run_id = NULL;
  int show_yaml = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--yaml")) {
      show_yaml = 1;
    } else if (!strcmp(argv[i], "--run")) {
      if (i + 1 >= argc) {
        fprintf(stderr, "lbbt inspect: --run needs a run id\n");
        return 2;
      }
      run_id = argv[++i];
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "lbbt inspect: unknown option '%s'\n", argv[i]);
      usage(stderr);
      return 2;
    } else if (file) {
      fprintf(stderr, "lbbt inspect: one file at a time ('%s' and '%s')\n", file, argv[i]);
      return 2;
    } else {
      file = argv[i];
    }
  }
  if (!file) {
    usage(stderr);
    return 2;
  }
  lbbt_results *res = NULL;
  lbbt_status st = lbbt_results_read(file, &res);
  if (st != LBBT_OK) return cli_report(st, "inspect");

  int rc = 0;
  if (run_id) {
    const lbbt_result_run *run = lbbt_results_find_run(res, run_id);
    if (run) {
      print_run_full(run);
    } else {
      fprintf(stderr, "lbbt: inspect: %s has no run '%s' (run `lbbt inspect %s` to list them)\n",
              file, run_id, file);
      rc = 2;
    }
  } else {
    print_provenance(res);
    if (show_yaml) {
      const char *yaml = lbbt_results_attr(res, "experiment_yaml");
      printf("experiment_yaml:\n%s%s", yaml ? yaml : "",
             yaml && *yaml && yaml[strlen(yaml) - 1] != '\n' ? "\n" : "");
    }
    printf("runs: %d\n", res->n_runs);
    for (int i = 0; i < res->n_runs; i++) print_run_line(&res->runs[i]);
  }
  lbbt_results_free(res);
  return rc;
}
