/* Learning byte-pair merges from text (tokenizer.h), and the pair map both halves use.
 *
 * Training works on the distinct chunks of the text with their counts (a word that occurs
 * 5000 times is merged once, weighted 5000), so each merge costs one pass over the distinct
 * chunks' symbols rather than over the whole text. */
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer_internal.h"

/* ---- pair map --------------------------------------------------------------------------- */
static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static uint64_t mix(uint64_t x) { /* splitmix64 finaliser: spreads keys over the table */
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void lbbt_pair_map_free(lbbt_pair_map *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

static int64_t find_slot(const lbbt_pair_map *m, uint64_t key) {
  int64_t i = (int64_t)(mix(key) & (uint64_t)(m->cap - 1));
  while (m->keys[i] && m->keys[i] != key) i = (i + 1) & (m->cap - 1);
  return i;
}

static int grow(lbbt_pair_map *m) {
  int64_t cap = m->cap ? m->cap * 2 : 1024;
  lbbt_pair_map g = {calloc((size_t)cap, sizeof(uint64_t)), malloc((size_t)cap * sizeof(int32_t)), cap, m->n};
  if (!g.keys || !g.vals) {
    free(g.keys);
    free(g.vals);
    return 0;
  }
  for (int64_t i = 0; i < m->cap; i++)
    if (m->keys[i]) {
      int64_t j = find_slot(&g, m->keys[i]);
      g.keys[j] = m->keys[i];
      g.vals[j] = m->vals[i];
    }
  free(m->keys);
  free(m->vals);
  *m = g;
  return 1;
}

int32_t *lbbt_pair_map_slot(lbbt_pair_map *m, int32_t a, int32_t b) {
  if ((m->n + 1) * 2 > m->cap && !grow(m)) return NULL;
  uint64_t key = pair_key(a, b);
  int64_t i = find_slot(m, key);
  if (!m->keys[i]) {
    m->keys[i] = key;
    m->vals[i] = 0;
    m->n++;
  }
  return &m->vals[i];
}

lbbt_status lbbt_pair_map_add(lbbt_pair_map *m, int32_t a, int32_t b, int32_t v) {
  int32_t *slot = lbbt_pair_map_slot(m, a, b);
  if (!slot) return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory (pair map)");
  *slot = v;
  return LBBT_OK;
}

int32_t lbbt_pair_map_get(const lbbt_pair_map *m, int32_t a, int32_t b) {
  if (!m->cap) return -1;
  int64_t i = find_slot(m, pair_key(a, b));
  return m->keys[i] ? m->vals[i] : -1;
}

/* ---- chunks ----------------------------------------------------------------------------- */
static int is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

int64_t lbbt_bpe_chunk_len(const char *text, int64_t n) {
  const unsigned char *u = (const unsigned char *)text;
  int64_t i = (u[0] == ' ' && n > 1 && is_word_byte(u[1])) ? 1 : 0;
  if (!is_word_byte(u[i])) return 1;
  while (i < n && is_word_byte(u[i])) i++;
  return i;
}

/* ---- distinct chunks ----------------------------------------------------------------- */
typedef struct word {
  int64_t text_off; /* first occurrence in the text (hashing and comparing) */
  int32_t text_len;
  int32_t count;
  int64_t sym_off;  /* its symbols in the shared array */
  int32_t n_sym;
} word;

typedef struct word_set {
  word *words;
  int64_t n, cap;
  int64_t *slots; /* index + 1 into words; 0 = empty */
  int64_t n_slots;
} word_set;

static uint64_t hash_bytes(const char *s, int64_t n) {
  uint64_t h = 1469598103934665603ULL;
  for (int64_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
  return h;
}

static lbbt_status word_set_grow(word_set *ws, const char *text) {
  int64_t n_slots = ws->n_slots ? ws->n_slots * 2 : 4096;
  int64_t *slots = calloc((size_t)n_slots, sizeof *slots);
  if (!slots) return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory (chunk table)");
  for (int64_t w = 0; w < ws->n; w++) {
    int64_t i = (int64_t)(hash_bytes(text + ws->words[w].text_off, ws->words[w].text_len) & (uint64_t)(n_slots - 1));
    while (slots[i]) i = (i + 1) & (n_slots - 1);
    slots[i] = w + 1;
  }
  free(ws->slots);
  ws->slots = slots;
  ws->n_slots = n_slots;
  return LBBT_OK;
}

static lbbt_status word_set_add(word_set *ws, const char *text, int64_t off, int32_t len) {
  if ((ws->n + 1) * 2 > ws->n_slots) LBBT_TRY(word_set_grow(ws, text));
  int64_t i = (int64_t)(hash_bytes(text + off, len) & (uint64_t)(ws->n_slots - 1));
  while (ws->slots[i]) {
    word *w = &ws->words[ws->slots[i] - 1];
    if (w->text_len == len && !memcmp(text + w->text_off, text + off, (size_t)len)) {
      w->count++;
      return LBBT_OK;
    }
    i = (i + 1) & (ws->n_slots - 1);
  }
  if (ws->n == ws->cap) {
    int64_t cap = ws->cap ? ws->cap * 2 : 4096;
    word *words = realloc(ws->words, (size_t)cap * sizeof *words);
    if (!words) return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory (chunk table)");
    ws->words = words;
    ws->cap = cap;
  }
  ws->words[ws->n] = (word){off, len, 1, 0, len};
  ws->slots[i] = ++ws->n;
  return LBBT_OK;
}

/* ---- training ---------------------------------------------------------------------------- */
/* Add `sign` * count to every adjacent pair of one word. */
static lbbt_status count_pairs(lbbt_pair_map *pairs, const int32_t *sym, int32_t n, int32_t weight) {
  for (int32_t i = 0; i + 1 < n; i++) {
    int32_t *slot = lbbt_pair_map_slot(pairs, sym[i], sym[i + 1]);
    if (!slot) return lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory (pair counts)");
    *slot += weight;
  }
  return LBBT_OK;
}

/* The most frequent pair (ties: the smaller (a, b)); *count 0 when none. */
static void best_pair(const lbbt_pair_map *pairs, int32_t *a, int32_t *b, int32_t *count) {
  *count = 0;
  uint64_t best_key = 0;
  for (int64_t i = 0; i < pairs->cap; i++) {
    if (!pairs->keys[i] || pairs->vals[i] <= 0) continue;
    if (pairs->vals[i] > *count || (pairs->vals[i] == *count && pairs->keys[i] < best_key)) {
      *count = pairs->vals[i];
      best_key = pairs->keys[i];
    }
  }
  if (*count) {
    *a = (int32_t)((best_key - 1) >> 32);
    *b = (int32_t)((best_key - 1) & 0xffffffffu);
  }
}

lbbt_status lbbt_tokenizer_train_bpe(const char *text, int64_t n, int vocab_size,
                                     lbbt_tokenizer **out) {
  *out = NULL;
  if (vocab_size <= LBBT_TOKENIZER_BYTES_VOCAB || vocab_size > LBBT_TOKENIZER_MAX_VOCAB)
    return lbbt_fail(LBBT_E_INPUT, "tokenizer: bpe vocab_size %d must be in (%d, %d]", vocab_size,
                     LBBT_TOKENIZER_BYTES_VOCAB, LBBT_TOKENIZER_MAX_VOCAB);
  word_set ws = {0};
  lbbt_pair_map pairs = {0};
  int32_t *sym = NULL;
  lbbt_tokenizer *t = NULL;
  lbbt_status st = LBBT_OK;
  for (int64_t i = 0; i < n && st == LBBT_OK;) {
    int64_t len = lbbt_bpe_chunk_len(text + i, n - i);
    if (len > 1) st = word_set_add(&ws, text, i, (int32_t)len); /* single bytes never merge */
    i += len;
  }
  if (st != LBBT_OK) goto done;
  int64_t total = 0;
  for (int64_t w = 0; w < ws.n; w++) {
    ws.words[w].sym_off = total;
    total += ws.words[w].text_len;
  }
  sym = malloc((size_t)(total ? total : 1) * sizeof *sym);
  if (!sym) {
    st = lbbt_fail(LBBT_E_NOMEM, "tokenizer: out of memory (bpe symbols)");
    goto done;
  }
  for (int64_t w = 0; w < ws.n && st == LBBT_OK; w++) {
    word *wd = &ws.words[w];
    for (int32_t k = 0; k < wd->text_len; k++) sym[wd->sym_off + k] = (unsigned char)text[wd->text_off + k];
    st = count_pairs(&pairs, sym + wd->sym_off, wd->n_sym, wd->count);
  }
  if (st != LBBT_OK) goto done;
  LBBT_TRY_GOTO(st, lbbt_tokenizer_create_bytes(&t), done);
  t->kind = LBBT_TOKENIZER_BPE;
  while (t->vocab < vocab_size) {
    int32_t a = 0, b = 0, count = 0;
    best_pair(&pairs, &a, &b, &count);
    if (count < 2) break; /* a pair seen once compresses nothing worth an id */
    int32_t id = t->vocab;
    LBBT_TRY_GOTO(st, lbbt_tokenizer_add_merge(t, a, b), done);
    for (int64_t w = 0; w < ws.n; w++) {
      word *wd = &ws.words[w];
      int32_t *s = sym + wd->sym_off;
      int found = 0;
      for (int32_t k = 0; k + 1 < wd->n_sym && !found; k++) found = s[k] == a && s[k + 1] == b;
      if (!found) continue;
      LBBT_TRY_GOTO(st, count_pairs(&pairs, s, wd->n_sym, -wd->count), done);
      int32_t m = 0;
      for (int32_t k = 0; k < wd->n_sym; k++) {
        if (k + 1 < wd->n_sym && s[k] == a && s[k + 1] == b) {
          s[m++] = id;
          k++;
        } else {
          s[m++] = s[k];
        }
      }
      wd->n_sym = m;
      LBBT_TRY_GOTO(st, count_pairs(&pairs, s, wd->n_sym, wd->count), done);
    }
  }
done:
  free(ws.words);
  free(ws.slots);
  free(sym);
  lbbt_pair_map_free(&pairs);
  if (st != LBBT_OK) {
    lbbt_tokenizer_free(t);
    return st;
  }
  *out = t;
  return LBBT_OK;
}
