/* Text corpora for language-model pretraining (the lm-pretrain task), and the measures that
 * say how well a model predicts them (bits per byte, unigram entropy).
 *
 * A corpus is read from a list of sources (files or folders), in the order given:
 *   - a folder is read recursively, its entries sorted by name (byte order); hidden names
 *     (".*"), symbolic links, fortune's index files "*.dat" and the "*.u8" copies are
 *     skipped, and so is any subfolder named "off" (the fortunes-off package's offensive
 *     fortunes) unless include_offensive is set;
 *   - a file that has at least one line holding only "%" is in fortune format: its documents
 *     are the texts between those lines;
 *   - any other file is split into paragraphs: maximal runs of lines that are not blank
 *     (a blank line holds only spaces, tabs or '\r').
 * A document is its text exactly as in the file (its lines with their newlines; the
 * separator lines are not part of it).  Documents holding only whitespace are dropped.
 *
 * The default corpus is the Debian package `fortunes` (/usr/share/games/fortunes, about
 * 2.4 MB of English: quotations, jokes, poems, definitions; without off/) followed by
 * $LBBT_CORPORA/tinyshakespeare.txt (default ../shared/corpora), each when present.
 *
 * Validation split: round(val_fraction * n_docs) documents (at least one when there are two
 * or more and val_fraction > 0, never all) chosen by a Fisher-Yates shuffle of the document
 * indices with lbbt_rng_derive(split_seed, "corpus-split", 0), the first k of the shuffle.
 * The choice depends only on (n_docs, val_fraction, split_seed); the rest is training text.
 *
 * Token streams (lbbt_corpus_tokens): the documents of one split in corpus order, each
 * encoded by the tokenizer and followed by its end-of-document token, so a model learns
 * where documents end and never sees text of one document as context of another without
 * that token in between. */
#ifndef LBBT_CORPUS_H
#define LBBT_CORPUS_H
#include <stdint.h>

#include "lbbt/types.h"
#include "lbbt/status.h"
#include "lbbt/tokenizer.h"

#define LBBT_FORTUNES_DIR "/usr/share/games/fortunes"
#define LBBT_CORPUS_MAX_SOURCES 64

typedef struct lbbt_corpus_doc {
  int64_t offset, length; /* into lbbt_corpus.text */
  int source;             /* index into lbbt_corpus.files */
  int val;                /* 1: in the validation split */
} lbbt_corpus_doc;

typedef struct lbbt_corpus_file {
  char *path;       /* owned */
  int64_t bytes;    /* bytes of its documents (separators and blank lines excluded) */
  int64_t n_docs;
  int fortune;      /* 1: split at "%" lines; 0: split into paragraphs */
} lbbt_corpus_file;

typedef struct lbbt_corpus {
  char *text;             /* every document, concatenated in order (owned; NUL-terminated) */
  int64_t n_bytes;
  lbbt_corpus_doc *docs;  /* n_docs, in reading order (owned) */
  int64_t n_docs;
  lbbt_corpus_file *files;/* every file read, in order (owned) */
  int n_files;
  int64_t n_val_docs, val_bytes, train_bytes;
  char sha256[65];        /* of `text`: identifies the corpus in results */
} lbbt_corpus;

typedef struct lbbt_corpus_options {
  const char *const *sources; /* files or folders; n_sources == 0: the default corpus */
  int n_sources;
  int include_offensive;      /* read "off" subfolders too */
  double val_fraction;        /* in [0, 1); 0 = no validation split */
  uint64_t split_seed;
} lbbt_corpus_options;

/* The default sources that exist on this machine, into out[0..cap); returns how many
 * (0 when none does). */
LBBT_API int lbbt_corpus_default_sources(char (*out)[LBBT_PATH_MAX], int cap);

/* Read, split into documents, choose the validation split.  LBBT_E_INPUT when a source
 * does not exist, when nothing was found (the message says how to install fortunes or where
 * to point options.corpus), or for a bad val_fraction.  *out is owned by the caller. */
LBBT_API lbbt_status lbbt_corpus_load(const lbbt_corpus_options *o, lbbt_corpus **out);
LBBT_API void lbbt_corpus_free(lbbt_corpus *c); /* NULL-safe */

/* The token stream of one split (val = 0: training, 1: validation): every document of it, in
 * order, encoded and followed by the tokenizer's end-of-document token.  *ids (malloc'd,
 * owned by the caller) gets *n_ids tokens; *n_bytes (may be NULL) the split's text bytes. */
LBBT_API lbbt_status lbbt_corpus_tokens(const lbbt_corpus *c, const lbbt_tokenizer *tok, int val,
                               int32_t **ids, int64_t *n_ids, int64_t *n_bytes);

/* ---- measures --------------------------------------------------------------------------- */
/* Bits per byte of a model whose mean loss over `tokens` predicted tokens is
 * loss_nats_per_token, on text of `bytes` bytes:  loss / ln 2 * tokens / bytes.  It compares
 * models with different tokenizers (a byte-level model has tokens/bytes just above 1, the
 * excess being end-of-document tokens).  NaN when bytes <= 0. */
LBBT_API double lbbt_bits_per_byte(double loss_nats_per_token, int64_t tokens, int64_t bytes);
/* Entropy in bits of the byte distribution of the training split: -sum p(b) log2 p(b) over
 * the 256 byte values, i.e. the bits per byte of the best model that ignores context (the
 * "unigram entropy").  0 for an empty split. */
LBBT_API double lbbt_corpus_unigram_entropy_bpb(const lbbt_corpus *c);
/* Mean cross-entropy in nats per token of a unigram model of `train` (counts + 1, Laplace)
 * on `eval`: the context-free baseline measured the same way as a language model's loss.
 * Tokens must lie in [0, vocab). */
LBBT_API lbbt_status lbbt_unigram_cross_entropy(const int32_t *train, int64_t n_train, const int32_t *eval,
                                       int64_t n_eval, int vocab, double *nats_per_token);

#endif
