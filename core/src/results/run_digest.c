/* The checksum of a run group; see run_digest.h. */
#include "results/run_digest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/sha256.h"

static int cmp_attr(const void *a, const void *b) {
  return strcmp((*(lbbt_text_attr *const *)a)->key, (*(lbbt_text_attr *const *)b)->key);
}

static int cmp_item(const void *a, const void *b) {
  return strcmp((*(const lbbt_record_item *const *)a)->path,
                (*(const lbbt_record_item *const *)b)->path);
}

/* A string with its terminating NUL, so that ("ab", "c") and ("a", "bc") differ. */
static void put_text(lbbt_sha256_ctx *c, const char *s) {
  lbbt_sha256_update(c, s ? s : "", strlen(s ? s : "") + 1);
}

static void put_i64(lbbt_sha256_ctx *c, int64_t v) { lbbt_sha256_update(c, &v, sizeof v); }

static void put_item(lbbt_sha256_ctx *c, const lbbt_record_item *it) {
  put_text(c, it->path);
  put_i64(c, it->kind);
  switch (it->kind) {
    case LBBT_ITEM_SCALAR: lbbt_sha256_update(c, &it->scalar, sizeof it->scalar); break;
    case LBBT_ITEM_STRING: put_text(c, it->string); break;
    case LBBT_ITEM_SERIES:
      put_i64(c, it->n);
      if (it->n > 0) lbbt_sha256_update(c, it->series, (size_t)it->n * sizeof *it->series);
      break;
    case LBBT_ITEM_F32:
    case LBBT_ITEM_I32:
      put_i64(c, it->ndim);
      for (int d = 0; d < it->ndim; d++) put_i64(c, it->shape[d]);
      put_i64(c, it->numel);
      if (it->numel > 0)
        lbbt_sha256_update(c, it->kind == LBBT_ITEM_F32 ? (const void *)it->f32
                                                        : (const void *)it->i32,
                           (size_t)it->numel * 4);
      break;
  }
}

lbbt_status run_digest(const lbbt_result_run *r, char hex[65]) {
  int na = r->n_attrs, ni = r->record ? lbbt_record_count(r->record) : 0;
  lbbt_text_attr **attrs = malloc((size_t)(na ? na : 1) * sizeof *attrs);
  const lbbt_record_item **items = malloc((size_t)(ni ? ni : 1) * sizeof *items);
  if (!attrs || !items) {
    free(attrs);
    free(items);
    return lbbt_fail(LBBT_E_NOMEM, "run %s: out of memory for its checksum", r->id);
  }
  for (int i = 0; i < na; i++) attrs[i] = &r->attrs[i];
  qsort(attrs, (size_t)na, sizeof *attrs, cmp_attr);
  /* lbbt_record_at's view lasts until the next setter call; none happens here */
  for (int i = 0; i < ni; i++) items[i] = lbbt_record_at(r->record, i);
  qsort(items, (size_t)ni, sizeof *items, cmp_item);
  lbbt_sha256_ctx c;
  lbbt_sha256_init(&c);
  put_text(&c, "lbbt-run-digest/1");
  int counted = 0;
  for (int i = 0; i < na; i++) counted += strcmp(attrs[i]->key, RUN_DIGEST_ATTR) != 0;
  put_i64(&c, counted);
  for (int i = 0; i < na; i++) {
    if (!strcmp(attrs[i]->key, RUN_DIGEST_ATTR)) continue;
    put_text(&c, attrs[i]->key);
    put_text(&c, attrs[i]->value);
  }
  put_i64(&c, ni);
  for (int i = 0; i < ni; i++) put_item(&c, items[i]);
  uint8_t d[32];
  lbbt_sha256_final(&c, d);
  for (int i = 0; i < 32; i++) snprintf(hex + 2 * i, 3, "%02x", d[i]);
  free(attrs);
  free(items);
  return LBBT_OK;
}
