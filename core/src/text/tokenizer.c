/* Byte-level and BPE tokenizers; see tokenizer.h. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/checkpoint.h"
#include "lbbt/tokenizer.h"
#include "text/tokenizer_internal.h"

static const char *const FORMAT = "lbbt-tokenizer/1";

/* ---- the token table ---------------------------------------------------------------- */
static lbbt_status tok_alloc(lbbt_tokenizer **out, lbbt_tokenizer_kind kind) {
  *out = NULL;
  lbbt_tokenizer *t = calloc(1, sizeof *t);
  if (!t) return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory");
  t->kind = kind;
  t->vocab = LBBT_TOKENIZER_BYTES_VOCAB;
  /* Base vocabulary: each byte is itself; EOD has no bytes. */
  t->pool_cap = 1024;
  t->pool = malloc((size_t)t->pool_cap);
  t->cap = 1024;
  t->off = malloc((size_t)t->cap * sizeof *t->off);
  t->len = malloc((size_t)t->cap * sizeof *t->len);
  if (!t->pool || !t->off || !t->len) {
    lbbt_tokenizer_free(t);
    return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory");
  }
  for (int b = 0; b < 256; b++) {
    t->pool[b] = (char)b;
    t->off[b] = b;
    t->len[b] = 1;
  }
  t->pool_used = 256;
  t->off[LBBT_TOKEN_EOD] = 256;
  t->len[LBBT_TOKEN_EOD] = 0;
  *out = t;
  return LBBT_OK;
}

lbbt_status lbbt_tokenizer_create_bytes(lbbt_tokenizer **out) {
  return tok_alloc(out, LBBT_TOKENIZER_BYTES);
}

void lbbt_tokenizer_free(lbbt_tokenizer *t) {
  if (!t) return;
  free(t->pool);
  free(t->off);
  free(t->len);
  free(t->merges);
  lbbt_pair_map_free(&t->ranks);
  free(t);
}

lbbt_tokenizer_kind lbbt_tokenizer_kind_of(const lbbt_tokenizer *t) { return t->kind; }
const char *lbbt_tokenizer_kind_name(lbbt_tokenizer_kind k) {
  return k == LBBT_TOKENIZER_BPE ? "bpe" : "bytes";
}
int lbbt_tokenizer_vocab_size(const lbbt_tokenizer *t) { return t->vocab; }

/* Append token a+b (both existing ids) as id t->vocab. */
lbbt_status lbbt_tokenizer_add_merge(lbbt_tokenizer *t, int32_t a, int32_t b) {
  if (a < 0 || b < 0 || a >= t->vocab || b >= t->vocab || a == LBBT_TOKEN_EOD || b == LBBT_TOKEN_EOD)
    return lbbt_fail(LBBT_E_INPUT, "tokenizer: merge [%d, %d] names an id outside [0, %d) or EOD",
                     a, b, t->vocab);
  if (t->vocab >= LBBT_TOKENIZER_MAX_VOCAB)
    return lbbt_fail(LBBT_E_INPUT, "tokenizer: more than %d ids", LBBT_TOKENIZER_MAX_VOCAB);
  if (t->vocab == t->cap) {
    int cap = t->cap * 2;
    int64_t *off = realloc(t->off, (size_t)cap * sizeof *off);
    if (off) t->off = off;
    int32_t *len = realloc(t->len, (size_t)cap * sizeof *len);
    if (len) t->len = len;
    if (!off || !len) return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory");
    t->cap = cap;
  }
  int64_t n = (int64_t)t->len[a] + t->len[b];
  if (t->pool_used + n > t->pool_cap) {
    int64_t cap = (t->pool_cap + n) * 2;
    char *p = realloc(t->pool, (size_t)cap);
    if (!p) return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory");
    t->pool = p;
    t->pool_cap = cap;
  }
  int m = t->vocab - LBBT_TOKENIZER_BYTES_VOCAB; /* merge rank */
  if (m == t->merges_cap) {
    int cap = t->merges_cap ? 2 * t->merges_cap : 256;
    int32_t *mg = realloc(t->merges, (size_t)cap * 2 * sizeof *mg);
    if (!mg) return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory");
    t->merges = mg;
    t->merges_cap = cap;
  }
  LBBT_TRY(lbbt_pair_map_add(&t->ranks, a, b, t->vocab));
  memcpy(t->pool + t->pool_used, t->pool + t->off[a], (size_t)t->len[a]);
  memcpy(t->pool + t->pool_used + t->len[a], t->pool + t->off[b], (size_t)t->len[b]);
  t->off[t->vocab] = t->pool_used;
  t->len[t->vocab] = (int32_t)n;
  t->pool_used += n;
  t->merges[2 * m] = a;
  t->merges[2 * m + 1] = b;
  t->vocab++;
  t->kind = LBBT_TOKENIZER_BPE;
  return LBBT_OK;
}

/* ---- encode / decode ----------------------------------------------------------------- */
/* Merge within one chunk (ids[0..*n)), lowest-ranked pair first, every occurrence left to
 * right, until no adjacent pair is a merge.  Ranks are ids: earlier merges have lower ids. */
static void bpe_chunk(const lbbt_tokenizer *t, int32_t *ids, int64_t *n) {
  for (;;) {
    int32_t best = -1;
    for (int64_t i = 0; i + 1 < *n; i++) {
      int32_t id = lbbt_pair_map_get(&t->ranks, ids[i], ids[i + 1]);
      if (id >= 0 && (best < 0 || id < best)) best = id;
    }
    if (best < 0) return;
    int32_t a = t->merges[2 * (best - LBBT_TOKENIZER_BYTES_VOCAB)];
    int32_t b = t->merges[2 * (best - LBBT_TOKENIZER_BYTES_VOCAB) + 1];
    int64_t w = 0;
    for (int64_t i = 0; i < *n; i++) {
      if (i + 1 < *n && ids[i] == a && ids[i + 1] == b) {
        ids[w++] = best;
        i++;
      } else {
        ids[w++] = ids[i];
      }
    }
    *n = w;
  }
}

lbbt_status lbbt_tokenizer_encode(const lbbt_tokenizer *t, const char *text, int64_t n,
                                  int32_t *ids, int64_t *n_ids) {
  const unsigned char *u = (const unsigned char *)text;
  for (int64_t i = 0; i < n; i++) ids[i] = u[i];
  if (t->kind == LBBT_TOKENIZER_BYTES) {
    *n_ids = n;
    return LBBT_OK;
  }
  /* Chunks are merged in place and compacted leftwards: w <= the chunk's start always. */
  int64_t w = 0, i = 0;
  while (i < n) {
    int64_t len = lbbt_bpe_chunk_len(text + i, n - i);
    int64_t m = len;
    if (w != i) memmove(ids + w, ids + i, (size_t)len * sizeof *ids);
    bpe_chunk(t, ids + w, &m);
    w += m;
    i += len;
  }
  *n_ids = w;
  return LBBT_OK;
}

lbbt_status lbbt_tokenizer_token_bytes(const lbbt_tokenizer *t, int32_t id, const char **bytes,
                                       int *len) {
  if (id < 0 || id >= t->vocab)
    return lbbt_fail(LBBT_E_INPUT, "tokenizer: token id %d is outside the vocabulary [0, %d)", id,
                     t->vocab);
  *bytes = t->pool + t->off[id];
  *len = t->len[id];
  return LBBT_OK;
}

lbbt_status lbbt_tokenizer_decode(const lbbt_tokenizer *t, const int32_t *ids, int64_t n,
                                  char *out, int64_t cap, int64_t *len) {
  int64_t w = 0;
  for (int64_t i = 0; i < n; i++) {
    const char *b;
    int k;
    LBBT_TRY(lbbt_tokenizer_token_bytes(t, ids[i], &b, &k));
    if (w + k > cap)
      return lbbt_fail(LBBT_E_INPUT, "tokenizer: decoding %lld ids needs more than %lld bytes",
                       (long long)n, (long long)cap);
    memcpy(out + w, b, (size_t)k);
    w += k;
  }
  *len = w;
  return LBBT_OK;
}

/* ---- file ------------------------------------------------------------------------------ */
lbbt_status lbbt_tokenizer_save(const lbbt_tokenizer *t, const char *path) {
  json_t *root = json_object(), *merges = json_array();
  if (!root || !merges) {
    json_decref(root);
    json_decref(merges);
    return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory");
  }
  json_object_set_new(root, "format", json_string(FORMAT));
  json_object_set_new(root, "type", json_string(lbbt_tokenizer_kind_name(t->kind)));
  json_object_set_new(root, "vocab_size", json_integer(t->vocab));
  json_object_set_new(root, "eod", json_integer(LBBT_TOKEN_EOD));
  for (int m = 0; m < t->vocab - LBBT_TOKENIZER_BYTES_VOCAB; m++)
    json_array_append_new(merges, json_pack("[ii]", t->merges[2 * m], t->merges[2 * m + 1]));
  if (t->kind == LBBT_TOKENIZER_BPE)
    json_object_set_new(root, "merges", merges);
  else
    json_decref(merges);
  lbbt_status st = lbbt_json_write_file(path, root);
  json_decref(root);
  return st;
}

lbbt_status lbbt_tokenizer_load(const char *path, lbbt_tokenizer **out) {
  *out = NULL;
  json_t *root = NULL;
  LBBT_TRY(lbbt_json_read_file(path, &root));
  lbbt_status st = LBBT_OK;
  lbbt_tokenizer *t = NULL;
  const char *format = json_string_value(json_object_get(root, "format"));
  const char *type = json_string_value(json_object_get(root, "type"));
  json_t *vocab = json_object_get(root, "vocab_size"), *eod = json_object_get(root, "eod");
  json_t *merges = json_object_get(root, "merges");
  if (!format || strcmp(format, FORMAT)) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: \"format\" is '%s', expected '%s'", path,
                   format ? format : "(missing)", FORMAT);
    goto done;
  }
  if (!json_is_integer(eod) || json_integer_value(eod) != LBBT_TOKEN_EOD || !json_is_integer(vocab)) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: needs integer \"vocab_size\" and \"eod\": %d", path,
                   LBBT_TOKEN_EOD);
    goto done;
  }
  int is_bpe = type && !strcmp(type, "bpe");
  if (!type || (!is_bpe && strcmp(type, "bytes"))) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: \"type\" is '%s', expected bytes or bpe", path,
                   type ? type : "(missing)");
    goto done;
  }
  LBBT_TRY_GOTO(st, tok_alloc(&t, LBBT_TOKENIZER_BYTES), done);
  if (is_bpe) {
    if (!json_is_array(merges)) {
      st = lbbt_fail(LBBT_E_INPUT, "%s: a bpe tokenizer needs a \"merges\" array", path);
      goto done;
    }
    for (size_t i = 0; i < json_array_size(merges); i++) {
      json_t *m = json_array_get(merges, i);
      json_t *a = json_array_get(m, 0), *b = json_array_get(m, 1);
      if (json_array_size(m) != 2 || !json_is_integer(a) || !json_is_integer(b)) {
        st = lbbt_fail(LBBT_E_INPUT, "%s: merges[%zu] is not a pair of integers", path, i);
        goto done;
      }
      st = lbbt_tokenizer_add_merge(t, (int32_t)json_integer_value(a), (int32_t)json_integer_value(b));
      if (st != LBBT_OK) {
        st = lbbt_fail_context(st, "%s: merges[%zu]", path, i);
        goto done;
      }
    }
    t->kind = LBBT_TOKENIZER_BPE;
  }
  if (json_integer_value(vocab) != t->vocab) {
    st = lbbt_fail(LBBT_E_INPUT, "%s: \"vocab_size\" is %lld but the file defines %d ids", path,
                   (long long)json_integer_value(vocab), t->vocab);
    goto done;
  }
done:
  json_decref(root);
  if (st != LBBT_OK) {
    lbbt_tokenizer_free(t);
    return st;
  }
  *out = t;
  return LBBT_OK;
}
