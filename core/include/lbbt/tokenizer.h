/* Tokenizers for the models lbbt pretrains itself (the lm-pretrain task).
 *
 * Ids 0..255 are the 256 byte values and id 256 is the end-of-document token (EOD) in
 * both kinds, so any text (any bytes, valid UTF-8 or not) encodes losslessly:
 *   - bytes: vocab 257 = 256 bytes + EOD.  encode(text) = its bytes; decode the reverse.
 *   - bpe:   byte-level byte-pair encoding trained by lbbt on the corpus (Sennrich et al.
 *            2016, on bytes as GPT-2): ids 257.. are merges, in the order learned, each the
 *            concatenation of two earlier tokens.  Training splits text into chunks that a
 *            merge never crosses (a run of letters/digits with at most one leading space,
 *            or any other single byte), then repeatedly merges the most frequent adjacent
 *            pair within chunks (ties: the smaller pair of ids).  Encoding applies the merges
 *            to each chunk in learned order (lowest merge rank first), as GPT-2 does.
 * EOD is never produced by encode: callers insert it between documents.
 *
 * Saved as JSON beside a model (LBBT_TOKENIZER_FILE), read by `lbbt generate`:
 *   {"format": "lbbt-tokenizer/1", "type": "bytes" | "bpe", "vocab_size": V, "eod": 256,
 *    "merges": [[a, b], ...]}        (merges only for bpe: merge i makes id 257 + i)
 * The file is lbbt's own (not the Hugging Face tokenizers format). */
#ifndef LBBT_TOKENIZER_H
#define LBBT_TOKENIZER_H
#include <stdint.h>

#include "lbbt/status.h"

#define LBBT_TOKENIZER_FILE "lbbt_tokenizer.json"
#define LBBT_TOKEN_EOD 256
#define LBBT_TOKENIZER_BYTES_VOCAB 257
#define LBBT_TOKENIZER_MAX_VOCAB 65536

typedef enum { LBBT_TOKENIZER_BYTES, LBBT_TOKENIZER_BPE } lbbt_tokenizer_kind;
typedef struct lbbt_tokenizer lbbt_tokenizer;

/* The byte-level tokenizer (vocab 257).  Free with lbbt_tokenizer_free. */
LBBT_API lbbt_status lbbt_tokenizer_create_bytes(lbbt_tokenizer **out);
/* Train a BPE tokenizer of vocab_size ids (257 < vocab_size <= LBBT_TOKENIZER_MAX_VOCAB) on
 * n bytes of text.  Fewer merges are learned when no pair occurs twice; vocab_size then
 * reports the ids actually defined. */
LBBT_API lbbt_status lbbt_tokenizer_train_bpe(const char *text, int64_t n, int vocab_size,
                                     lbbt_tokenizer **out);
LBBT_API void lbbt_tokenizer_free(lbbt_tokenizer *t); /* NULL-safe */

LBBT_API lbbt_tokenizer_kind lbbt_tokenizer_kind_of(const lbbt_tokenizer *t);
LBBT_API const char *lbbt_tokenizer_kind_name(lbbt_tokenizer_kind k); /* "bytes", "bpe" */
LBBT_API int lbbt_tokenizer_vocab_size(const lbbt_tokenizer *t);

/* Encode n bytes into ids (capacity >= n: no tokenizer here makes more ids than bytes);
 * *n_ids gets the count. */
LBBT_API lbbt_status lbbt_tokenizer_encode(const lbbt_tokenizer *t, const char *text, int64_t n,
                                  int32_t *ids, int64_t *n_ids);
/* The bytes a token stands for: *bytes points into the tokenizer (valid until it is freed),
 * *len their count (0 for EOD).  LBBT_E_INPUT for an id outside [0, vocab_size). */
LBBT_API lbbt_status lbbt_tokenizer_token_bytes(const lbbt_tokenizer *t, int32_t id, const char **bytes,
                                       int *len);
/* Decode ids into out (capacity cap bytes, no NUL added); EOD decodes to nothing.
 * *len = bytes written.  LBBT_E_INPUT for a bad id or when out is too small. */
LBBT_API lbbt_status lbbt_tokenizer_decode(const lbbt_tokenizer *t, const int32_t *ids, int64_t n,
                                  char *out, int64_t cap, int64_t *len);

/* Write / read the JSON file described above (the write is atomic). */
LBBT_API lbbt_status lbbt_tokenizer_save(const lbbt_tokenizer *t, const char *path);
LBBT_API lbbt_status lbbt_tokenizer_load(const char *path, lbbt_tokenizer **out);

#endif
