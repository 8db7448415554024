/* Which transformer blocks a stage trains: "all", "none", "first:K", "last:K", "range:A-B".
 * See spec.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/spec.h"

/* Block counts in any real model are far below this; it keeps the arithmetic in int. */
enum { MAX_LAYER_INDEX = 100000 };

/* Read a decimal number of at most 6 digits at *p; advance *p.  0 when there is none. */
static int read_count(const char **p, int *out) {
  const char *s = *p;
  int v = 0, digits = 0;
  while (*s >= '0' && *s <= '9') {
    if (++digits > 6) return 0;
    v = v * 10 + (*s++ - '0');
  }
  if (!digits) return 0;
  *p = s;
  *out = v;
  return 1;
}

static lbbt_status bad_range(const char *text, const char *why) {
  return lbbt_fail(LBBT_E_INPUT, "bad layer range '%s'%s%s; write all, none, first:K, last:K or range:A-B "
                   "(blocks counted from 0, A and B included)", text, why ? ": " : "", why ? why : "");
}

lbbt_status lbbt_layer_range_parse(const char *text, lbbt_layer_range *out) {
  lbbt_layer_range r = {LBBT_LAYERS_ALL, 0, 0, 0};
  if (!strcmp(text, "all")) {
    r.select = LBBT_LAYERS_ALL;
  } else if (!strcmp(text, "none")) {
    r.select = LBBT_LAYERS_NONE;
  } else if (!strncmp(text, "first:", 6) || !strncmp(text, "last:", 5)) {
    int first = text[0] == 'f';
    const char *p = text + (first ? 6 : 5);
    if (!read_count(&p, &r.k) || *p) return bad_range(text, "K must be a whole number");
    if (r.k < 1) return bad_range(text, "K must be at least 1 (use 'none' to train no block)");
    if (r.k > MAX_LAYER_INDEX) return bad_range(text, "K is too large");
    r.select = first ? LBBT_LAYERS_FIRST : LBBT_LAYERS_LAST;
  } else if (!strncmp(text, "range:", 6)) {
    const char *p = text + 6;
    if (!read_count(&p, &r.from) || *p++ != '-' || !read_count(&p, &r.to) || *p)
      return bad_range(text, "expected two whole numbers A-B");
    if (r.from > r.to) return bad_range(text, "A must not exceed B");
    if (r.to > MAX_LAYER_INDEX) return bad_range(text, "B is too large");
    r.select = LBBT_LAYERS_RANGE;
  } else {
    return bad_range(text, NULL);
  }
  *out = r;
  return LBBT_OK;
}

int lbbt_layer_range_contains(const lbbt_layer_range *r, int layer, int n_layers) {
  if (layer < 0 || layer >= n_layers) return 0;
  switch (r->select) {
    case LBBT_LAYERS_ALL: return 1;
    case LBBT_LAYERS_NONE: return 0;
    case LBBT_LAYERS_FIRST: return layer < r->k;
    case LBBT_LAYERS_LAST: return layer >= n_layers - r->k;
    case LBBT_LAYERS_RANGE: return layer >= r->from && layer <= r->to;
  }
  return 0;
}

void lbbt_layer_range_format(const lbbt_layer_range *r, char *out, size_t n) {
  switch (r->select) {
    case LBBT_LAYERS_ALL: snprintf(out, n, "all"); return;
    case LBBT_LAYERS_NONE: snprintf(out, n, "none"); return;
    case LBBT_LAYERS_FIRST: snprintf(out, n, "first:%d", r->k); return;
    case LBBT_LAYERS_LAST: snprintf(out, n, "last:%d", r->k); return;
    case LBBT_LAYERS_RANGE: snprintf(out, n, "range:%d-%d", r->from, r->to); return;
  }
  snprintf(out, n, "?");
}
