/* Shared by tokenizer.c (tables, encode, files) and bpe_train.c (learning merges). */
#ifndef LBBT_TOKENIZER_INTERNAL_H
#define LBBT_TOKENIZER_INTERNAL_H
#include <stdint.h>

#include "lbbt/tokenizer.h"

/* Open-addressing map from a pair of ids (a, b) to an int32 value (>= 0). */
typedef struct lbbt_pair_map {
  uint64_t *keys; /* (a << 32 | b) + 1; 0 = empty slot */
  int32_t *vals;
  int64_t cap, n; /* cap is a power of two, or 0 */
} lbbt_pair_map;
void lbbt_pair_map_free(lbbt_pair_map *m);
/* Insert or overwrite. */
lbbt_status lbbt_pair_map_add(lbbt_pair_map *m, int32_t a, int32_t b, int32_t v);
/* The value, or -1 when absent. */
int32_t lbbt_pair_map_get(const lbbt_pair_map *m, int32_t a, int32_t b);
/* The slot of (a, b), inserting it with value 0 when absent; NULL when out of memory. */
int32_t *lbbt_pair_map_slot(lbbt_pair_map *m, int32_t a, int32_t b);

/* Length of the BPE chunk starting at text (n > 0 bytes left): a run of "word" bytes
 * (ASCII letters, digits, bytes >= 0x80 so UTF-8 characters stay whole) with at most one
 * leading space, else a single byte.  Merges never cross chunk boundaries. */
int64_t lbbt_bpe_chunk_len(const char *text, int64_t n);

struct lbbt_tokenizer {
  lbbt_tokenizer_kind kind;
  int vocab, cap;   /* ids defined, slots allocated in off/len */
  char *pool;       /* every token's bytes */
  int64_t pool_used, pool_cap;
  int64_t *off;     /* token id -> offset into pool */
  int32_t *len;     /* token id -> byte count (0 for EOD) */
  int32_t *merges;  /* merge i (id 257 + i) = [2i] followed by [2i + 1] */
  int merges_cap;
  lbbt_pair_map ranks; /* (a, b) -> the merged id */
};

/* Append the merge a + b as the next id (a, b existing ids, not EOD); kind becomes bpe. */
lbbt_status lbbt_tokenizer_add_merge(lbbt_tokenizer *t, int32_t a, int32_t b);
#endif
