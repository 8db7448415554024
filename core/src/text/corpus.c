/* Text corpora: reading sources into documents, the validation split, token streams and the
 * bits-per-byte measures; see corpus.h. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/corpus.h"
#include "lbbt/rng.h"
#include "lbbt/sha256.h"

/* ---- growing arrays -------------------------------------------------------------------- */
typedef struct builder {
  lbbt_corpus *c;
  int64_t text_cap, docs_cap;
  int files_cap;
  int include_offensive;
} builder;

static lbbt_status add_text(builder *b, const char *s, int64_t n, int source) {
  lbbt_corpus *c = b->c;
  if (c->n_bytes + n + 1 > b->text_cap) {
    int64_t cap = (c->n_bytes + n + 1) * 2;
    char *t = realloc(c->text, (size_t)cap);
    if (!t) return lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory (%lld bytes)", (long long)cap);
    c->text = t;
    b->text_cap = cap;
  }
  if (c->n_docs == b->docs_cap) {
    int64_t cap = b->docs_cap ? 2 * b->docs_cap : 1024;
    lbbt_corpus_doc *d = realloc(c->docs, (size_t)cap * sizeof *d);
    if (!d) return lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory (documents)");
    c->docs = d;
    b->docs_cap = cap;
  }
  memcpy(c->text + c->n_bytes, s, (size_t)n);
  c->docs[c->n_docs++] = (lbbt_corpus_doc){c->n_bytes, n, source, 0};
  c->n_bytes += n;
  c->text[c->n_bytes] = 0;
  c->files[source].bytes += n;
  c->files[source].n_docs++;
  return LBBT_OK;
}

/* A line [s, e) (without its '\n') holding only "%" (a '\r' before the '\n' allowed). */
static int is_percent_line(const char *s, const char *e) {
  if (e > s && e[-1] == '\r') e--;
  return e - s == 1 && s[0] == '%';
}
static int is_blank_line(const char *s, const char *e) {
  for (; s < e; s++)
    if (*s != ' ' && *s != '\t' && *s != '\r') return 0;
  return 1;
}
static int only_space(const char *s, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n' && s[i] != '\f' && s[i] != '\v') return 0;
  return 1;
}

static lbbt_status add_doc(builder *b, const char *s, int64_t n, int source) {
  if (n <= 0 || only_space(s, n)) return LBBT_OK;
  return add_text(b, s, n, source);
}

static int has_percent_line(const char *buf, int64_t n) {
  const char *p = buf, *end = buf + n;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    if (is_percent_line(p, le)) return 1;
    p = nl ? nl + 1 : end;
  }
  return 0;
}

/* Documents of one file's bytes: split at "%" lines (fortune) or at blank lines. */
static lbbt_status split_file(builder *b, const char *buf, int64_t n, int source, int fortune) {
  const char *p = buf, *end = buf + n, *doc = NULL;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end, *next = nl ? nl + 1 : end;
    if (fortune) {
      if (!doc) doc = p;
      if (is_percent_line(p, le)) {
        LBBT_TRY(add_doc(b, doc, p - doc, source));
        doc = next;
      }
    } else if (is_blank_line(p, le)) {
      if (doc) LBBT_TRY(add_doc(b, doc, p - doc, source));
      doc = NULL;
    } else if (!doc) {
      doc = p;
    }
    p = next;
  }
  if (doc) LBBT_TRY(add_doc(b, doc, end - doc, source));
  return LBBT_OK;
}

static lbbt_status read_whole(const char *path, char **buf, int64_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return lbbt_fail(LBBT_E_INPUT, "corpus: cannot open %s: %s", path, strerror(errno));
  lbbt_status st = LBBT_OK;
  int64_t cap = 1 << 16, len = 0;
  char *data = malloc((size_t)cap);
  while (data) {
    if (len == cap) {
      char *d = realloc(data, (size_t)cap * 2);
      if (!d) {
        free(data);
        data = NULL;
        break;
      }
      data = d;
      cap *= 2;
    }
    size_t got = fread(data + len, 1, (size_t)(cap - len), f);
    len += (int64_t)got;
    if (got == 0) break;
  }
  if (!data) st = lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory reading %s", path);
  else if (ferror(f)) st = lbbt_fail(LBBT_E_IO, "corpus: read error on %s", path);
  fclose(f);
  if (st != LBBT_OK) {
    free(data);
    return st;
  }
  *buf = data;
  *n = len;
  return LBBT_OK;
}

static lbbt_status read_file(builder *b, const char *path) {
  lbbt_corpus *c = b->c;
  if (c->n_files == b->files_cap) {
    int cap = b->files_cap ? 2 * b->files_cap : 64;
    lbbt_corpus_file *f = realloc(c->files, (size_t)cap * sizeof *f);
    if (!f) return lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory (files)");
    c->files = f;
    b->files_cap = cap;
  }
  lbbt_corpus_file *cf = &c->files[c->n_files];
  memset(cf, 0, sizeof *cf);
  cf->path = strdup(path);
  if (!cf->path) return lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory");
  int source = c->n_files++;
  char *buf = NULL;
  int64_t n = 0;
  LBBT_TRY(read_whole(path, &buf, &n));
  cf->fortune = has_percent_line(buf, n);
  lbbt_status st = split_file(b, buf, n, source, cf->fortune);
  free(buf);
  return st;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && !strcmp(s + a - b, suffix);
}
static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static lbbt_status read_source(builder *b, const char *path, int top);

static lbbt_status read_dir(builder *b, const char *path) {
  DIR *d = opendir(path);
  if (!d) return lbbt_fail(LBBT_E_INPUT, "corpus: cannot read folder %s: %s", path, strerror(errno));
  char **names = NULL;
  int n = 0, cap = 0;
  lbbt_status st = LBBT_OK;
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *nm = e->d_name;
    if (nm[0] == '.' || ends_with(nm, ".dat") || ends_with(nm, ".u8")) continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      char **nn = realloc(names, (size_t)cap * sizeof *nn);
      if (!nn) {
        st = lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory listing %s", path);
        break;
      }
      names = nn;
    }
    if (!(names[n] = strdup(nm))) {
      st = lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory listing %s", path);
      break;
    }
    n++;
  }
  closedir(d);
  if (st == LBBT_OK && n > 1) qsort(names, (size_t)n, sizeof *names, cmp_names);
  char full[LBBT_PATH_MAX * 2];
  for (int i = 0; i < n && st == LBBT_OK; i++) {
    snprintf(full, sizeof full, "%s/%s", path, names[i]);
    if (!b->include_offensive && !strcmp(names[i], "off")) {
      struct stat sb;
      if (stat(full, &sb) == 0 && S_ISDIR(sb.st_mode)) continue; /* offensive fortunes */
    }
    st = read_source(b, full, 0);
  }
  for (int i = 0; i < n; i++) free(names[i]);
  free(names);
  return st;
}

/* A source named by the user (top = 1) must exist; inside folders, symbolic links and
 * anything that is neither a file nor a folder are skipped. */
static lbbt_status read_source(builder *b, const char *path, int top) {
  struct stat sb;
  if (lstat(path, &sb) != 0) {
    if (top) return lbbt_fail(LBBT_E_INPUT, "corpus: %s: %s", path, strerror(errno));
    return LBBT_OK;
  }
  if (S_ISLNK(sb.st_mode)) {
    if (!top) return LBBT_OK; /* fortune's *.u8 and similar links duplicate real files */
    if (stat(path, &sb) != 0) return lbbt_fail(LBBT_E_INPUT, "corpus: %s: broken link", path);
  }
  if (S_ISDIR(sb.st_mode)) return read_dir(b, path);
  if (S_ISREG(sb.st_mode)) return read_file(b, path);
  return top ? lbbt_fail(LBBT_E_INPUT, "corpus: %s is neither a file nor a folder", path) : LBBT_OK;
}

int lbbt_corpus_default_sources(char (*out)[LBBT_PATH_MAX], int cap) {
  int n = 0;
  struct stat sb;
  if (n < cap && stat(LBBT_FORTUNES_DIR, &sb) == 0 && S_ISDIR(sb.st_mode))
    snprintf(out[n++], LBBT_PATH_MAX, "%s", LBBT_FORTUNES_DIR);
  const char *env = getenv("LBBT_CORPORA");
  char p[LBBT_PATH_MAX];
  snprintf(p, sizeof p, "%s/tinyshakespeare.txt", env && *env ? env : "../shared/corpora");
  if (n < cap && stat(p, &sb) == 0 && S_ISREG(sb.st_mode)) snprintf(out[n++], LBBT_PATH_MAX, "%s", p);
  return n;
}

/* ---- the split ---------------------------------------------------------------------------- */
static lbbt_status choose_validation(lbbt_corpus *c, double fraction, uint64_t seed) {
  int64_t k = (int64_t)llround(fraction * (double)c->n_docs);
  if (fraction > 0 && c->n_docs >= 2 && k < 1) k = 1;
  if (k >= c->n_docs) k = c->n_docs - 1; /* keep something to train on */
  if (k < 0) k = 0;
  if (c->n_docs > INT32_MAX) return lbbt_fail(LBBT_E_INPUT, "corpus: more than 2^31 documents");
  int32_t *idx = malloc((size_t)(c->n_docs ? c->n_docs : 1) * sizeof *idx);
  if (!idx) return lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory (split)");
  for (int64_t i = 0; i < c->n_docs; i++) idx[i] = (int32_t)i;
  lbbt_rng r;
  lbbt_rng_derive(&r, seed, "corpus-split", 0);
  lbbt_rng_shuffle_i32(&r, idx, c->n_docs);
  for (int64_t i = 0; i < k; i++) c->docs[idx[i]].val = 1;
  free(idx);
  c->n_val_docs = k;
  c->val_bytes = c->train_bytes = 0;
  for (int64_t i = 0; i < c->n_docs; i++) {
    if (c->docs[i].val)
      c->val_bytes += c->docs[i].length;
    else
      c->train_bytes += c->docs[i].length;
  }
  return LBBT_OK;
}

lbbt_status lbbt_corpus_load(const lbbt_corpus_options *o, lbbt_corpus **out) {
  *out = NULL;
  if (!(o->val_fraction >= 0 && o->val_fraction < 1))
    return lbbt_fail(LBBT_E_INPUT, "corpus: val_fraction %g must be in [0, 1)", o->val_fraction);
  char defaults[2][LBBT_PATH_MAX];
  const char *srcs[LBBT_CORPUS_MAX_SOURCES];
  int n = o->n_sources;
  if (n > LBBT_CORPUS_MAX_SOURCES)
    return lbbt_fail(LBBT_E_INPUT, "corpus: %d sources, at most %d", n, LBBT_CORPUS_MAX_SOURCES);
  for (int i = 0; i < n; i++) srcs[i] = o->sources[i];
  if (n == 0) {
    n = lbbt_corpus_default_sources(defaults, 2);
    for (int i = 0; i < n; i++) srcs[i] = defaults[i];
    if (n == 0)
      return lbbt_fail(LBBT_E_INPUT,
                       "corpus: the default corpus is missing: neither %s (Debian package "
                       "fortunes: run tools/install-deps) nor $LBBT_CORPORA/tinyshakespeare.txt "
                       "exists; install fortunes or name text files or folders in the stage's "
                       "options.corpus",
                       LBBT_FORTUNES_DIR);
  }
  lbbt_corpus *c = calloc(1, sizeof *c);
  if (!c) return lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory");
  builder b = {c, 0, 0, 0, o->include_offensive};
  lbbt_status st = LBBT_OK;
  for (int i = 0; i < n && st == LBBT_OK; i++) st = read_source(&b, srcs[i], 1);
  if (st == LBBT_OK && c->n_docs == 0) {
    char list[LBBT_PATH_MAX * 2] = "";
    for (int i = 0; i < n; i++) {
      size_t used = strlen(list);
      snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", srcs[i]);
    }
    st = lbbt_fail(LBBT_E_INPUT, "corpus: no text found in %s (folders skip *.dat, *.u8, links%s)",
                   list, o->include_offensive ? "" : " and off/");
  }
  if (st == LBBT_OK) st = choose_validation(c, o->val_fraction, o->split_seed);
  if (st != LBBT_OK) {
    lbbt_corpus_free(c);
    return st;
  }
  lbbt_sha256_hex(c->text, (size_t)c->n_bytes, c->sha256);
  *out = c;
  return LBBT_OK;
}

void lbbt_corpus_free(lbbt_corpus *c) {
  if (!c) return;
  for (int i = 0; i < c->n_files; i++) free(c->files[i].path);
  free(c->files);
  free(c->docs);
  free(c->text);
  free(c);
}

lbbt_status lbbt_corpus_tokens(const lbbt_corpus *c, const lbbt_tokenizer *tok, int val,
                               int32_t **ids, int64_t *n_ids, int64_t *n_bytes) {
  *ids = NULL;
  *n_ids = 0;
  int64_t bytes = val ? c->val_bytes : c->train_bytes, docs = val ? c->n_val_docs : c->n_docs - c->n_val_docs;
  int32_t *out = malloc((size_t)(bytes + docs + 1) * sizeof *out); /* tokens <= bytes, + EODs */
  if (!out) return lbbt_fail(LBBT_E_NOMEM, "corpus: out of memory (token stream)");
  int64_t w = 0;
  for (int64_t i = 0; i < c->n_docs; i++) {
    const lbbt_corpus_doc *d = &c->docs[i];
    if (d->val != (val != 0)) continue;
    int64_t got = 0;
    lbbt_status st = lbbt_tokenizer_encode(tok, c->text + d->offset, d->length, out + w, &got);
    if (st != LBBT_OK) {
      free(out);
      return st;
    }
    w += got;
    out[w++] = LBBT_TOKEN_EOD;
  }
  *ids = out;
  *n_ids = w;
  if (n_bytes) *n_bytes = bytes;
  return LBBT_OK;
}

/* ---- measures ------------------------------------------------------------------------------ */
double lbbt_bits_per_byte(double loss_nats_per_token, int64_t tokens, int64_t bytes) {
  if (bytes <= 0) return NAN;
  return loss_nats_per_token / log(2.0) * (double)tokens / (double)bytes;
}

double lbbt_corpus_unigram_entropy_bpb(const lbbt_corpus *c) {
  int64_t counts[256] = {0}, total = 0;
  for (int64_t i = 0; i < c->n_docs; i++) {
    const lbbt_corpus_doc *d = &c->docs[i];
    if (d->val) continue;
    const unsigned char *u = (const unsigned char *)c->text + d->offset;
    for (int64_t k = 0; k < d->length; k++) counts[u[k]]++;
    total += d->length;
  }
  double h = 0;
  for (int b = 0; b < 256; b++)
    if (counts[b]) {
      double p = (double)counts[b] / (double)total;
      h -= p * log2(p);
    }
  return h;
}

lbbt_status lbbt_unigram_cross_entropy(const int32_t *train, int64_t n_train, const int32_t *eval,
                                       int64_t n_eval, int vocab, double *nats_per_token) {
  if (vocab < 1 || n_eval < 1)
    return lbbt_fail(LBBT_E_INPUT, "unigram cross-entropy: vocab %d and eval tokens %lld must be >= 1",
                     vocab, (long long)n_eval);
  int64_t *counts = calloc((size_t)vocab, sizeof *counts);
  if (!counts) return lbbt_fail(LBBT_E_NOMEM, "unigram cross-entropy: out of memory");
  lbbt_status st = LBBT_OK;
  for (int64_t i = 0; i < n_train && st == LBBT_OK; i++) {
    if (train[i] < 0 || train[i] >= vocab)
      st = lbbt_fail(LBBT_E_INPUT, "unigram cross-entropy: training token %lld is %d, outside [0, %d)",
                     (long long)i, train[i], vocab);
    else
      counts[train[i]]++;
  }
  double total = (double)n_train + (double)vocab, sum = 0;
  for (int64_t i = 0; i < n_eval && st == LBBT_OK; i++) {
    if (eval[i] < 0 || eval[i] >= vocab)
      st = lbbt_fail(LBBT_E_INPUT, "unigram cross-entropy: eval token %lld is %d, outside [0, %d)",
                     (long long)i, eval[i], vocab);
    else
      sum -= log(((double)counts[eval[i]] + 1.0) / total);
  }
  free(counts);
  if (st == LBBT_OK) *nats_per_token = sum / (double)n_eval;
  return st;
}
