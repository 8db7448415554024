/* Snapshot lists and model folders (snapshots.h). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/types.h"
#include "snapshots.h"

lbbt_status snapshots_parse(const char *text, snapshot_list *out, char *why, size_t why_cap) {
  const char *p = text;
  memset(out, 0, sizeof *out);
  while (*p) {
    while (*p == ' ' || *p == ',') p++;
    if (!*p) break;
    char *end;
    double v = strtod(p, &end);
    if (end == p || !(v >= 0 && v <= 1)) {
      snprintf(why, why_cap, "is not a comma-separated list of fractions in [0, 1]");
      return LBBT_E_INPUT;
    }
    if (out->n == SNAPSHOTS_MAX) {
      snprintf(why, why_cap, "lists more than %d snapshots", SNAPSHOTS_MAX);
      return LBBT_E_INPUT;
    }
    out->fraction[out->n++] = v;
    p = end;
    while (*p == ' ') p++;
    if (*p && *p != ',') {
      snprintf(why, why_cap, "is not a comma-separated list of fractions in [0, 1]");
      return LBBT_E_INPUT;
    }
  }
  for (int i = 1; i < out->n; i++) /* insertion sort: a handful of values */
    for (int j = i; j > 0 && out->fraction[j] < out->fraction[j - 1]; j--) {
      double t = out->fraction[j];
      out->fraction[j] = out->fraction[j - 1];
      out->fraction[j - 1] = t;
    }
  for (int i = 0; i < out->n; i++) {
    snprintf(out->name[i], SNAPSHOT_NAME_MAX, "frac-%g", out->fraction[i]);
    if (i > 0 && !strcmp(out->name[i], out->name[i - 1])) {
      snprintf(why, why_cap, "names the folder %s twice: list each fraction once", out->name[i]);
      return LBBT_E_INPUT;
    }
  }
  return LBBT_OK;
}

int64_t snapshots_step(const snapshot_list *s, int i, int64_t total) {
  return llround(s->fraction[i] * (double)total);
}

int snapshots_due(const snapshot_list *s, int64_t step, int64_t total) {
  for (int i = 0; i < s->n; i++)
    if (snapshots_step(s, i, total) == step) return 1;
  return 0;
}

lbbt_status snapshots_make_dirs(const char *path) {
  char tmp[LBBT_PATH_MAX];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *p = tmp + 1;; p++) {
    if (*p && *p != '/') continue;
    char c = *p;
    *p = 0;
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
      return lbbt_fail(LBBT_E_IO, "cannot create folder %s: %s", tmp, strerror(errno));
    if (!c) break;
    *p = c;
  }
  return LBBT_OK;
}
