/* Corpora (fortune files, paragraphs, folders, the validation split, token streams),
 * tokenizers (byte level and BPE: round trips, a hand-worked merge sequence, files) and the
 * measures (bits per byte, unigram entropy, unigram cross-entropy). */
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lbbt/corpus.h"
#include "lbbt/rng.h"
#include "lbbt/tokenizer.h"
#include "test.h"

/* Closed-form values computed in double: only rounding differs. */
#define EXACT_TOL 1e-12
/* The default corpus (fortunes, about 2.4 MB) has tens of thousands of entries. */
#define FORTUNES_MIN_DOCS 10000
/* A BPE of a few hundred ids on English-like text must shorten it by at least this factor. */
#define BPE_MIN_COMPRESSION 1.3

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  return remove(path);
}
static void remove_tmpdir(void) { nftw(test_tmpdir(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

static int write_text(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  int ok = fwrite(text, 1, n, f) == n;
  return fclose(f) == 0 && ok;
}
#define WRITE_STR(path, s) write_text((path), (s), strlen(s))

static int doc_is(const lbbt_corpus *c, int64_t i, const char *want) {
  return i < c->n_docs && c->docs[i].length == (int64_t)strlen(want) &&
         !memcmp(c->text + c->docs[i].offset, want, strlen(want));
}

static lbbt_status load(const char *const *sources, int n, int offensive, double val, uint64_t seed,
                        lbbt_corpus **out) {
  lbbt_corpus_options o = {sources, n, offensive, val, seed};
  return lbbt_corpus_load(&o, out);
}

/* ---- corpus reading --------------------------------------------------------------------- */
static void make_fortune_folder(void) {
  mkdir(test_tmp_path("fortunes"), 0755);
  mkdir(test_tmp_path("fortunes/off"), 0755);
  WRITE_STR(test_tmp_path("fortunes/alpha"),
            "First fortune.\n%\nSecond one\n  with two lines.\n%\n\n%\nThird.\n%\n");
  /* fortune's index: binary, and it happens to hold a "%" line; must be skipped */
  write_text(test_tmp_path("fortunes/alpha.dat"), "\x02\x00\x00\x00\n%\nindex\n", 14);
  symlink("alpha", test_tmp_path("fortunes/alpha.u8"));
  WRITE_STR(test_tmp_path("fortunes/beta"), "Beta one.\r\n%\r\nBeta two.\r\n");
  WRITE_STR(test_tmp_path("fortunes/.hidden"), "Hidden.\n%\n");
  WRITE_STR(test_tmp_path("fortunes/off/rude"), "Rude.\n%\n");
}

static void test_fortune_folder(void) {
  make_fortune_folder();
  const char *src[1] = {test_tmp_path("fortunes")};
  lbbt_corpus *c = NULL;
  REQUIRE(load(src, 1, 0, 0.0, 0, &c) == LBBT_OK, "load: %s", lbbt_last_error());
  CHECK(c->n_files == 2, "%d files read, want 2 (alpha, beta: .dat, .u8, hidden and off/ skipped)",
        c->n_files);
  CHECK(c->n_files >= 2 && strstr(c->files[0].path, "/alpha") && strstr(c->files[1].path, "/beta"),
        "files not in name order");
  CHECK(c->n_files >= 1 && c->files[0].fortune && c->files[0].n_docs == 3, "alpha: fortune %d, %lld docs",
        c->files[0].fortune, (long long)c->files[0].n_docs);
  CHECK(c->n_docs == 5, "%lld documents, want 5", (long long)c->n_docs);
  CHECK(doc_is(c, 0, "First fortune.\n"), "doc 0");
  CHECK(doc_is(c, 1, "Second one\n  with two lines.\n"), "doc 1 (multi-line, indentation kept)");
  CHECK(doc_is(c, 2, "Third.\n"), "doc 2 (the blank entry before it is dropped)");
  CHECK(doc_is(c, 3, "Beta one.\r\n"), "doc 3 (CRLF separator recognised)");
  CHECK(doc_is(c, 4, "Beta two.\r\n"), "doc 4");
  int64_t sum = 0;
  for (int64_t i = 0; i < c->n_docs; i++) sum += c->docs[i].length;
  CHECK(sum == c->n_bytes && c->n_val_docs == 0 && c->train_bytes == c->n_bytes, "byte counts");
  CHECK(strlen(c->sha256) == 64, "sha256 '%s'", c->sha256);
  lbbt_corpus_free(c);

  REQUIRE(load(src, 1, 1, 0.0, 0, &c) == LBBT_OK, "load with offensive: %s", lbbt_last_error());
  CHECK(c->n_docs == 6 && doc_is(c, 5, "Rude.\n"), "off/ not read with include_offensive (%lld docs)",
        (long long)c->n_docs);
  lbbt_corpus_free(c);
}

static void test_paragraph_file(void) {
  const char *p = test_tmp_path("plain.txt");
  REQUIRE(WRITE_STR(p, "A line.\nSecond line.\n\n\n  \t\nNext para.\n\nLast para, no newline"), "write");
  const char *src[1] = {p};
  lbbt_corpus *c = NULL;
  REQUIRE(load(src, 1, 0, 0.0, 0, &c) == LBBT_OK, "load: %s", lbbt_last_error());
  CHECK(c->n_files == 1 && !c->files[0].fortune, "not read as paragraphs");
  CHECK(c->n_docs == 3, "%lld documents, want 3", (long long)c->n_docs);
  CHECK(doc_is(c, 0, "A line.\nSecond line.\n"), "paragraph 0");
  CHECK(doc_is(c, 1, "Next para.\n"), "paragraph 1 (whitespace-only lines separate)");
  CHECK(doc_is(c, 2, "Last para, no newline"), "paragraph 2");
  lbbt_corpus_free(c);
}

static void test_sources_in_order(void) {
  const char *a = test_tmp_path("order-a.txt"), *b = test_tmp_path("order-b.txt");
  REQUIRE(WRITE_STR(a, "from a\n") && WRITE_STR(b, "from b\n"), "write");
  const char *src[2] = {b, a}; /* given order, not name order */
  lbbt_corpus *c = NULL;
  REQUIRE(load(src, 2, 0, 0.0, 0, &c) == LBBT_OK, "load: %s", lbbt_last_error());
  CHECK(doc_is(c, 0, "from b\n") && doc_is(c, 1, "from a\n"), "sources not read in the order given");
  lbbt_corpus_free(c);
}

static void test_bad_sources(void) {
  const char *missing[1] = {test_tmp_path("no-such-file")};
  lbbt_corpus *c = NULL;
  CHECK(load(missing, 1, 0, 0.05, 0, &c) == LBBT_E_INPUT && !c, "missing source accepted");
  CHECK(strstr(lbbt_last_error(), "no-such-file") != NULL, "message lacks the path: %s", lbbt_last_error());
  mkdir(test_tmp_path("empty"), 0755);
  WRITE_STR(test_tmp_path("empty/x.dat"), "%\n");
  const char *empty[1] = {test_tmp_path("empty")};
  CHECK(load(empty, 1, 0, 0.05, 0, &c) == LBBT_E_INPUT && !c, "a folder without text accepted");
  CHECK(strstr(lbbt_last_error(), "no text found") != NULL, "message: %s", lbbt_last_error());
  const char *p = test_tmp_path("one.txt");
  WRITE_STR(p, "x\n");
  const char *one[1] = {p};
  CHECK(load(one, 1, 0, 1.0, 0, &c) == LBBT_E_INPUT && !c, "val_fraction 1 accepted");
  CHECK(load(one, 1, 0, -0.1, 0, &c) == LBBT_E_INPUT && !c, "negative val_fraction accepted");
}

/* 100 one-line fortunes "doc <i>". */
static const char *hundred_docs(void) {
  static char path[512];
  if (path[0]) return path;
  snprintf(path, sizeof path, "%s", test_tmp_path("hundred"));
  char text[2000];
  size_t n = 0;
  for (int i = 0; i < 100; i++) n += (size_t)snprintf(text + n, sizeof text - n, "doc %d\n%%\n", i);
  write_text(path, text, n);
  return path;
}

static void val_set(const lbbt_corpus *c, char *set) {
  for (int64_t i = 0; i < c->n_docs; i++) set[i] = (char)('0' + c->docs[i].val);
  set[c->n_docs] = 0;
}

static void test_validation_split(void) {
  const char *src[1] = {hundred_docs()};
  lbbt_corpus *a = NULL, *b = NULL, *d = NULL, *e = NULL;
  REQUIRE(load(src, 1, 0, 0.05, 7, &a) == LBBT_OK, "load: %s", lbbt_last_error());
  REQUIRE(load(src, 1, 0, 0.05, 7, &b) == LBBT_OK && load(src, 1, 0, 0.05, 8, &d) == LBBT_OK &&
              load(src, 1, 0, 0.001, 7, &e) == LBBT_OK,
          "load: %s", lbbt_last_error());
  char sa[128], sb[128], sd[128];
  val_set(a, sa);
  val_set(b, sb);
  val_set(d, sd);
  int64_t marked = 0;
  for (int64_t i = 0; i < a->n_docs; i++) marked += a->docs[i].val;
  CHECK(a->n_docs == 100 && a->n_val_docs == 5 && marked == 5, "%lld of %lld held out, want 5",
        (long long)a->n_val_docs, (long long)a->n_docs);
  CHECK(a->val_bytes + a->train_bytes == a->n_bytes, "split bytes do not add up");
  CHECK(!strcmp(sa, sb), "same seed, different split");
  CHECK(strcmp(sa, sd) != 0, "seeds 7 and 8 chose the same 5 documents");
  CHECK(e->n_val_docs == 1, "a tiny fraction holds out %lld documents, want 1", (long long)e->n_val_docs);
  lbbt_corpus_free(a);
  lbbt_corpus_free(b);
  lbbt_corpus_free(d);
  lbbt_corpus_free(e);
}

static void test_token_streams(void) {
  const char *src[1] = {hundred_docs()};
  lbbt_corpus *c = NULL;
  lbbt_tokenizer *tok = NULL;
  REQUIRE(load(src, 1, 0, 0.05, 1, &c) == LBBT_OK, "load: %s", lbbt_last_error());
  REQUIRE(lbbt_tokenizer_create_bytes(&tok) == LBBT_OK, "tokenizer");
  int32_t *train = NULL, *val = NULL;
  int64_t nt = 0, nv = 0, bt = 0, bv = 0;
  REQUIRE(lbbt_corpus_tokens(c, tok, 0, &train, &nt, &bt) == LBBT_OK &&
              lbbt_corpus_tokens(c, tok, 1, &val, &nv, &bv) == LBBT_OK,
          "tokens: %s", lbbt_last_error());
  CHECK(nt == c->train_bytes + (c->n_docs - c->n_val_docs) && bt == c->train_bytes,
        "train stream: %lld tokens for %lld bytes", (long long)nt, (long long)bt);
  CHECK(nv == c->val_bytes + c->n_val_docs && bv == c->val_bytes, "val stream: %lld tokens", (long long)nv);
  /* The first training document, byte for byte, then EOD. */
  int64_t first = 0;
  while (c->docs[first].val) first++;
  const lbbt_corpus_doc *d = &c->docs[first];
  int same = 1;
  for (int64_t k = 0; k < d->length; k++) same &= train[k] == (unsigned char)c->text[d->offset + k];
  CHECK(same && train[d->length] == LBBT_TOKEN_EOD, "stream does not start with doc %lld + EOD", (long long)first);
  CHECK(val[nv - 1] == LBBT_TOKEN_EOD && train[nt - 1] == LBBT_TOKEN_EOD, "streams do not end with EOD");
  int64_t eods = 0;
  for (int64_t i = 0; i < nv; i++) eods += val[i] == LBBT_TOKEN_EOD;
  CHECK(eods == c->n_val_docs, "%lld EODs in the validation stream", (long long)eods);
  free(train);
  free(val);
  lbbt_tokenizer_free(tok);
  lbbt_corpus_free(c);
}

static void test_default_corpus(void) {
  char srcs[4][LBBT_PATH_MAX];
  const char *old = getenv("LBBT_CORPORA");
  char saved[LBBT_PATH_MAX] = "";
  if (old) snprintf(saved, sizeof saved, "%s", old);
  mkdir(test_tmp_path("corpora"), 0755);
  WRITE_STR(test_tmp_path("corpora/tinyshakespeare.txt"), "KING:\nWell.\n\nQUEEN:\nIndeed.\n");
  setenv("LBBT_CORPORA", test_tmp_path("corpora"), 1);
  int n = lbbt_corpus_default_sources(srcs, 4);
  int fortunes = access(LBBT_FORTUNES_DIR, R_OK) == 0;
  CHECK(n == 1 + fortunes, "%d default sources, want %d", n, 1 + fortunes);
  CHECK(n >= 1 && strstr(srcs[n - 1], "corpora/tinyshakespeare.txt"), "tinyshakespeare not last");
  lbbt_corpus *c = NULL;
  REQUIRE(load(NULL, 0, 0, 0.05, 0, &c) == LBBT_OK, "default corpus: %s", lbbt_last_error());
  CHECK(doc_is(c, c->n_docs - 1, "QUEEN:\nIndeed.\n"), "the corpora file is not the last source");
  if (fortunes) {
    CHECK(c->n_docs >= FORTUNES_MIN_DOCS, "only %lld documents from fortunes", (long long)c->n_docs);
    int leaked = 0, off = 0;
    for (int64_t i = 0; i < c->n_docs; i++)
      leaked |= c->docs[i].length >= 2 && c->text[c->docs[i].offset] == '%' && c->text[c->docs[i].offset + 1] == '\n';
    for (int i = 0; i < c->n_files; i++) off |= strstr(c->files[i].path, "/off/") != NULL;
    CHECK(!leaked && !off, "a separator leaked into a document (%d) or off/ was read (%d)", leaked, off);
  }
  lbbt_corpus_free(c);
  if (saved[0]) setenv("LBBT_CORPORA", saved, 1);
  else unsetenv("LBBT_CORPORA");
}

/* ---- tokenizers ------------------------------------------------------------------------- */
static void test_bytes_tokenizer(void) {
  lbbt_tokenizer *t = NULL, *back = NULL;
  REQUIRE(lbbt_tokenizer_create_bytes(&t) == LBBT_OK, "create");
  CHECK(lbbt_tokenizer_vocab_size(t) == 257 && lbbt_tokenizer_kind_of(t) == LBBT_TOKENIZER_BYTES, "vocab");
  char all[256], out[300];
  int32_t ids[256];
  for (int i = 0; i < 256; i++) all[i] = (char)i;
  int64_t n = 0, len = 0;
  REQUIRE(lbbt_tokenizer_encode(t, all, 256, ids, &n) == LBBT_OK && n == 256, "encode");
  int same = 1;
  for (int i = 0; i < 256; i++) same &= ids[i] == i;
  CHECK(same, "byte ids are not the byte values");
  REQUIRE(lbbt_tokenizer_decode(t, ids, n, out, sizeof out, &len) == LBBT_OK, "decode: %s", lbbt_last_error());
  CHECK(len == 256 && !memcmp(out, all, 256), "byte round trip");
  int32_t with_eod[3] = {'h', LBBT_TOKEN_EOD, 'i'};
  CHECK(lbbt_tokenizer_decode(t, with_eod, 3, out, sizeof out, &len) == LBBT_OK && len == 2 &&
            !memcmp(out, "hi", 2),
        "EOD does not decode to nothing");
  int32_t bad = 257;
  CHECK(lbbt_tokenizer_decode(t, &bad, 1, out, sizeof out, &len) == LBBT_E_INPUT, "id 257 decoded");
  CHECK(lbbt_tokenizer_decode(t, ids, 10, out, 5, &len) == LBBT_E_INPUT, "overflow not reported");
  const char *path = test_tmp_path("bytes.json");
  REQUIRE(lbbt_tokenizer_save(t, path) == LBBT_OK, "save: %s", lbbt_last_error());
  REQUIRE(lbbt_tokenizer_load(path, &back) == LBBT_OK, "load: %s", lbbt_last_error());
  CHECK(lbbt_tokenizer_kind_of(back) == LBBT_TOKENIZER_BYTES && lbbt_tokenizer_vocab_size(back) == 257,
        "file round trip");
  lbbt_tokenizer_free(back);
  lbbt_tokenizer_free(t);
}

/* The merges of "aaab aaab aaab", worked by hand (counts weight each distinct chunk):
 *   chunks "aaab" x1, " aaab" x2.  (a,a) 6 -> 257 "aa"; then (a,b) 3 ties (aa,a) 3 and the
 *   smaller pair wins -> 258 "ab"; (aa,ab) 3 -> 259 "aaab"; (' ',aaab) 2 -> 260 " aaab";
 *   then no pair occurs twice, so training stops at 261 ids. */
static void test_bpe_by_hand(void) {
  lbbt_tokenizer *t = NULL;
  const char *text = "aaab aaab aaab";
  REQUIRE(lbbt_tokenizer_train_bpe(text, (int64_t)strlen(text), 1000, &t) == LBBT_OK, "train: %s",
          lbbt_last_error());
  CHECK(lbbt_tokenizer_vocab_size(t) == 261, "vocab %d, want 261", lbbt_tokenizer_vocab_size(t));
  static const char *const want[] = {"aa", "ab", "aaab", " aaab"};
  for (int i = 0; i < 4 && lbbt_tokenizer_vocab_size(t) > 257 + i; i++) {
    const char *b;
    int len;
    lbbt_tokenizer_token_bytes(t, 257 + i, &b, &len);
    CHECK(len == (int)strlen(want[i]) && !memcmp(b, want[i], (size_t)len), "token %d is '%.*s', want '%s'",
          257 + i, len, b, want[i]);
  }
  int32_t ids[32];
  int64_t n = 0;
  lbbt_tokenizer_encode(t, "aaab aaab", 9, ids, &n);
  CHECK(n == 2 && ids[0] == 259 && ids[1] == 260, "encode 'aaab aaab': %lld ids [%d, %d]", (long long)n,
        ids[0], n > 1 ? ids[1] : -1);
  /* (a,a) outranks (a,b): "aab" -> [aa, b], not [a, ab] */
  lbbt_tokenizer_encode(t, "aab.", 4, ids, &n);
  CHECK(n == 3 && ids[0] == 257 && ids[1] == 'b' && ids[2] == '.', "encode 'aab.': lowest rank first");
  lbbt_tokenizer_free(t);
}

/* English-like text from a small word list, seeded. */
static char *words_text(uint64_t seed, int n_words, int64_t *len) {
  static const char *const W[] = {"the", "king", "of", "a", "fortune", "cookie", "and", "his", "queen",
                                  "said", "never", "Unix", "is", "love", "time", "to"};
  lbbt_rng r;
  lbbt_rng_seed(&r, seed);
  char *s = malloc((size_t)n_words * 10 + 1);
  int64_t w = 0;
  for (int i = 0; i < n_words; i++) {
    const char *word = W[lbbt_rng_below(&r, 16)];
    w += sprintf(s + w, "%s%s", word, i % 9 == 8 ? ".\n" : " ");
  }
  *len = w;
  return s;
}

static void test_bpe_round_trip(void) {
  int64_t n = 0, m = 0;
  char *train = words_text(1, 3000, &n), *held = words_text(2, 300, &m);
  lbbt_tokenizer *t = NULL, *t2 = NULL, *back = NULL;
  REQUIRE(lbbt_tokenizer_train_bpe(train, n, 300, &t) == LBBT_OK, "train: %s", lbbt_last_error());
  REQUIRE(lbbt_tokenizer_train_bpe(train, n, 300, &t2) == LBBT_OK, "train again");
  CHECK(lbbt_tokenizer_vocab_size(t) == 300 && lbbt_tokenizer_kind_of(t) == LBBT_TOKENIZER_BPE, "vocab %d",
        lbbt_tokenizer_vocab_size(t));
  int32_t *ids = malloc((size_t)m * sizeof *ids), *ids2 = malloc((size_t)m * sizeof *ids2);
  char *dec = malloc((size_t)m);
  int64_t k = 0, k2 = 0, len = 0;
  REQUIRE(lbbt_tokenizer_encode(t, held, m, ids, &k) == LBBT_OK, "encode");
  CHECK((double)m / (double)k >= BPE_MIN_COMPRESSION, "%lld bytes -> %lld tokens", (long long)m, (long long)k);
  CHECK(lbbt_tokenizer_decode(t, ids, k, dec, m, &len) == LBBT_OK && len == m && !memcmp(dec, held, (size_t)m),
        "held-out text does not round-trip");
  lbbt_tokenizer_encode(t2, held, m, ids2, &k2);
  CHECK(k == k2 && !memcmp(ids, ids2, (size_t)k * sizeof *ids), "training is not deterministic");
  /* No merge crosses a chunk boundary: a token of 2+ bytes is [space] word-bytes. */
  int crossing = 0;
  for (int id = 257; id < lbbt_tokenizer_vocab_size(t); id++) {
    const char *b;
    int bl;
    lbbt_tokenizer_token_bytes(t, id, &b, &bl);
    for (int i = 0; i < bl; i++) {
      unsigned char ch = (unsigned char)b[i];
      int word = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch >= 0x80;
      if (!word && !(i == 0 && ch == ' ')) crossing = id;
    }
  }
  CHECK(!crossing, "token %d crosses a chunk boundary", crossing);
  /* Arbitrary bytes (NUL, high bytes, broken UTF-8) round-trip too. */
  char raw[512];
  lbbt_rng r;
  lbbt_rng_seed(&r, 3);
  for (int i = 0; i < 512; i++) raw[i] = (char)lbbt_rng_below(&r, 256);
  int32_t rid[512];
  char rdec[512];
  lbbt_tokenizer_encode(t, raw, 512, rid, &k);
  CHECK(lbbt_tokenizer_decode(t, rid, k, rdec, 512, &len) == LBBT_OK && len == 512 && !memcmp(raw, rdec, 512),
        "random bytes do not round-trip");
  /* File round trip: the same encodings. */
  const char *path = test_tmp_path("bpe.json");
  REQUIRE(lbbt_tokenizer_save(t, path) == LBBT_OK, "save: %s", lbbt_last_error());
  REQUIRE(lbbt_tokenizer_load(path, &back) == LBBT_OK, "load: %s", lbbt_last_error());
  lbbt_tokenizer_encode(back, held, m, ids2, &k2);
  lbbt_tokenizer_encode(t, held, m, ids, &k);
  CHECK(lbbt_tokenizer_vocab_size(back) == 300 && k == k2 && !memcmp(ids, ids2, (size_t)k * sizeof *ids),
        "loaded tokenizer encodes differently");
  lbbt_tokenizer_free(back);
  back = NULL;
  CHECK(lbbt_tokenizer_train_bpe(train, n, 257, &back) == LBBT_E_INPUT && !back, "vocab 257 accepted for bpe");
  free(ids);
  free(ids2);
  free(dec);
  free(train);
  free(held);
  lbbt_tokenizer_free(t);
  lbbt_tokenizer_free(t2);
}

static void test_tokenizer_file_errors(void) {
  lbbt_tokenizer *t = NULL;
  const char *p = test_tmp_path("bad1.json");
  WRITE_STR(p, "{\"format\": \"other/1\", \"type\": \"bytes\", \"vocab_size\": 257, \"eod\": 256}");
  CHECK(lbbt_tokenizer_load(p, &t) == LBBT_E_INPUT && !t, "wrong format accepted");
  p = test_tmp_path("bad2.json");
  WRITE_STR(p, "{\"format\": \"lbbt-tokenizer/1\", \"type\": \"bpe\", \"vocab_size\": 258, \"eod\": 256, "
               "\"merges\": [[97, 300]]}");
  CHECK(lbbt_tokenizer_load(p, &t) == LBBT_E_INPUT && !t, "merge of an undefined id accepted");
  CHECK(strstr(lbbt_last_error(), "merges[0]") != NULL, "message: %s", lbbt_last_error());
  p = test_tmp_path("bad3.json");
  WRITE_STR(p, "{\"format\": \"lbbt-tokenizer/1\", \"type\": \"bpe\", \"vocab_size\": 300, \"eod\": 256, "
               "\"merges\": [[97, 98]]}");
  CHECK(lbbt_tokenizer_load(p, &t) == LBBT_E_INPUT && !t, "vocab_size disagreeing with merges accepted");
}

/* ---- measures ------------------------------------------------------------------------------ */
static void test_bits_per_byte(void) {
  CHECK_CLOSE(lbbt_bits_per_byte(log(2.0), 100, 100), 1.0, EXACT_TOL, 0, "ln 2 nats per byte token");
  CHECK_CLOSE(lbbt_bits_per_byte(log(256.0), 1000, 1000), 8.0, EXACT_TOL, 0, "uniform over bytes");
  /* 10% more tokens than bytes (end-of-document tokens): bits per byte grow by 10%. */
  CHECK_CLOSE(lbbt_bits_per_byte(1.0, 110, 100), 1.1 / log(2.0), EXACT_TOL, 0, "tokens/bytes scaling");
  /* A BPE model at 2 nats per token with 4 bytes per token: 0.5 nats per byte. */
  CHECK_CLOSE(lbbt_bits_per_byte(2.0, 250, 1000), 0.5 / log(2.0), EXACT_TOL, 0, "bpe tokens");
  CHECK(isnan(lbbt_bits_per_byte(1.0, 1, 0)), "no bytes: not NaN");
}

static void test_unigram_measures(void) {
  const char *p = test_tmp_path("uni");
  REQUIRE(WRITE_STR(p, "ab\n%\nab\n%\n"), "write");
  const char *src[1] = {p};
  lbbt_corpus *c = NULL;
  REQUIRE(load(src, 1, 0, 0.0, 0, &c) == LBBT_OK, "load: %s", lbbt_last_error());
  /* bytes a, b, '\n' twice each: uniform over 3 values */
  CHECK_CLOSE(lbbt_corpus_unigram_entropy_bpb(c), log2(3.0), EXACT_TOL, 0, "entropy of a, b, newline");
  lbbt_corpus_free(c);
  const int32_t train[3] = {0, 0, 1}, eval[2] = {0, 1};
  double nats = 0;
  REQUIRE(lbbt_unigram_cross_entropy(train, 3, eval, 2, 2, &nats) == LBBT_OK, "cross-entropy");
  /* Laplace: p(0) = 3/5, p(1) = 2/5 */
  CHECK_CLOSE(nats, -(log(3.0 / 5) + log(2.0 / 5)) / 2, EXACT_TOL, 0, "Laplace unigram");
  const int32_t bad[1] = {2};
  CHECK(lbbt_unigram_cross_entropy(train, 3, bad, 1, 2, &nats) == LBBT_E_INPUT, "out-of-vocab token accepted");
}

TEST_MAIN_BEGIN("test_corpus")
TEST_RUN(test_fortune_folder);
TEST_RUN(test_paragraph_file);
TEST_RUN(test_sources_in_order);
TEST_RUN(test_bad_sources);
TEST_RUN(test_validation_split);
TEST_RUN(test_token_streams);
TEST_RUN(test_default_corpus);
TEST_RUN(test_bytes_tokenizer);
TEST_RUN(test_bpe_by_hand);
TEST_RUN(test_bpe_round_trip);
TEST_RUN(test_tokenizer_file_errors);
TEST_RUN(test_bits_per_byte);
TEST_RUN(test_unigram_measures);
remove_tmpdir();
TEST_MAIN_END()
