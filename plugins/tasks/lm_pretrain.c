/* Task plugin `lm-pretrain`: lbbt pretrains its own language model on text, so that the
 * cpu tier has a GPT-2-architecture backbone whose language pretraining it controls (how
 * much, on what), e.g. for experiments/pretrain-amount.yaml.
 *
 * The model is NOT the run's vision model: the task builds a new causal language model
 * (wte + wpe, GPT-2 blocks, tied head) through a backbone plugin's create_language, sized by
 * the stage's options, and trains it by next-token prediction on random contiguous windows of
 * `context` tokens of the training split (window starts drawn from lbbt_rng_derive(seed,
 * "lm-windows", step), so a run is reproducible and resumes exactly).  The stage declares
 * that it needs only text (its needs: LBBT_NEED_TEXT_CORPUS), so the runner loads no images
 * and builds no model: an experiment made of this stage writes no backbone and no data.
 *
 * Optimisation follows the stage: optimizer (AdamW), lr with linear warm-up over
 * warmup_epochs then cosine decay to lr * min_lr_ratio, weight_decay, clip, batch_size
 * (windows per step), train_layers/train_embed/train_head.  An epoch is steps_per_epoch
 * steps (the corpus is sampled, not swept).
 *
 * Options (typed keys, written under options: or in the stage; defaults in brackets):
 *   out            folder for the final model, Hugging Face layout (model.safetensors,
 *                  config.json) plus lbbt_tokenizer.json and lbbt_pretrain.json [required];
 *                  inside models/, results/, the results file's folder or LBBT_OUTPUT_ROOTS,
 *                  and not holding another run's model (lbbt/output_path.h)
 *   corpus         "default" or a comma-separated list of files/folders; "corpora:NAME" is
 *                  $LBBT_CORPORA/NAME (default ../shared/corpora) [default]
 *   offensive      also read fortunes' off/ folders [false]
 *   val_fraction   documents held out for validation [0.05];  split_seed [0]
 *   tokenizer      bytes | bpe [bytes];  bpe_vocab [1024] (bpe trained on the training split)
 *   plugin         backbone plugin that builds the model [gpt2]
 *   n_embd, n_layer, n_head [128, 4, 4], n_inner [4 n_embd]: model sizes
 *   context        tokens per window = the model's positions [128]
 *   steps_per_epoch [100];  min_lr_ratio [0.1]
 *   eval_tokens    about how many validation tokens to evaluate after each epoch, in windows
 *                  spread evenly over the split (every k-th window of `context` tokens); 0 =
 *                  all [0].  The final numbers always cover the whole split.
 *   snapshots      fractions of the training steps at which to save the model, e.g.
 *                  "0,0.1,0.3,1": after n = round(fraction * total steps) steps, into
 *                  <out>/frac-<fraction>/ with the fraction in shortest form ("%g": frac-0,
 *                  frac-0.1, frac-0.25, frac-1), so experiments name snapshots by share of
 *                  the schedule whatever its length; each folder's lbbt_pretrain.json
 *                  gives its fraction, steps and tokens seen
 *
 * Record, under "<stage>/":
 *   per epoch:  train_loss (mean over the epoch's steps, nats/token), val_loss, val_bpb (on
 *               the eval_tokens sample),
 *               tokens_per_s (training tokens / training seconds), lr, grad_norm, seconds,
 *               steps (done so far)
 *   per snapshot: snapshot_fraction, snapshot_steps, snapshot_val_bpb, snapshot_val_loss
 *   once:       val_loss_init, val_bpb_init (before training; sample), val_loss_final,
 *               val_bpb_final (after training, the whole validation split),
 *               unigram_entropy_bpb (entropy of the training bytes), val_unigram_bpb (a
 *               Laplace unigram model of the training tokens, measured on the whole
 *               validation split like the model), params, vocab_size, context, steps_total,
 *               corpus counts and sha256, val_tokens_evaluated, out, tokenizer
 * Bits per byte (corpus.h): bpb = loss / ln 2 * tokens / bytes over the predicted tokens of
 * the windows evaluated (their end-of-document tokens count as tokens with no bytes). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lbbt/checkpoint.h"
#include "lbbt/corpus.h"
#include "lbbt/dist.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/output_path.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"
#include "lbbt/tokenizer.h"
#include "lbbt/train.h"
#include "lbbt/train_loop.h"
#include "shared/snapshots.h"

#define PRETRAIN_INFO_FILE "lbbt_pretrain.json"

/* ---- options ---------------------------------------------------------------------------- */
typedef struct lm_options {
  char out[LBBT_PATH_MAX];
  char corpus[LBBT_PATH_MAX];
  int offensive;
  double val_fraction;
  int split_seed;
  lbbt_tokenizer_kind tokenizer;
  int bpe_vocab;
  char plugin[LBBT_NAME_MAX];
  int context, steps_per_epoch, eval_tokens;
  double min_lr_ratio;
  snapshot_list snaps;      /* ascending fractions of the steps, folder names frac-<%g> */
  lbbt_backbone_spec model; /* plugin, sizes as backbone options */
} lm_options;

/* The stage's keys as bound by the core (see options.h); parse_options derives lm_options. */
typedef struct lm_keys {
  char out[LBBT_PATH_MAX];
  char corpus[LBBT_PATH_MAX];
  int offensive;
  double val_fraction;
  int split_seed;
  int tokenizer; /* index into TOKENIZER_NAMES */
  int bpe_vocab;
  char plugin[LBBT_NAME_MAX];
  int n_embd, n_layer, n_head, n_inner;
  int context, steps_per_epoch, eval_tokens;
  double min_lr_ratio;
  char snapshots[LBBT_PATH_MAX];
  double label_smoothing;
} lm_keys;

#define K lm_keys
static const char *const TOKENIZER_NAMES[] = {"bytes", "bpe"};
static const lbbt_key KEYS[] = {
    {.name = "out", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(K, out), .def = NULL,
     .doc = "folder the pretrained model is written to (e.g. models/lbbt-gpt2-fortunes)"},
    {.name = "corpus", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(K, corpus), .def = "default",
     .doc = "default, or comma-separated files/folders; corpora:NAME is $LBBT_CORPORA/NAME"},
    {.name = "offensive", .type = LBBT_KEY_BOOL, LBBT_KEY_FIELD(K, offensive), .def = "false",
     .doc = "also read fortunes' off/ folders"},
    {.name = "val_fraction", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(K, val_fraction), .def = "0.05",
     LBBT_KEY_RANGE(0, 0.5), .flags = LBBT_KEY_MIN_EXCLUSIVE, .doc = "share of documents held out for validation"},
    {.name = "split_seed", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, split_seed), .def = "0",
     LBBT_KEY_RANGE(0, 1 << 30), .doc = "seed of the train/validation split"},
    {.name = "tokenizer", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(K, tokenizer), .def = "bytes",
     LBBT_KEY_NAMES(TOKENIZER_NAMES), .doc = "bytes, or a BPE trained on the training split"},
    {.name = "bpe_vocab", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, bpe_vocab), .def = "1024",
     LBBT_KEY_RANGE(LBBT_TOKENIZER_BYTES_VOCAB + 1, LBBT_TOKENIZER_MAX_VOCAB), .doc = "BPE vocabulary size"},
    {.name = "plugin", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(K, plugin), .def = "gpt2", .flags = LBBT_KEY_IDENT,
     .doc = "backbone plugin that builds the model (its create_language)"},
    {.name = "n_embd", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, n_embd), .def = "128", LBBT_KEY_RANGE(1, 1 << 16),
     .doc = "model width"},
    {.name = "n_layer", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, n_layer), .def = "4", LBBT_KEY_RANGE(1, 1 << 16),
     .doc = "transformer blocks"},
    {.name = "n_head", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, n_head), .def = "4", LBBT_KEY_RANGE(1, 1 << 16),
     .doc = "attention heads"},
    {.name = "n_inner", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, n_inner), .def = "0", LBBT_KEY_RANGE(0, 1 << 16),
     .doc = "MLP width; 0 = the backbone's own (4 n_embd)"},
    {.name = "context", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, context), .def = "128", LBBT_KEY_RANGE(2, 1 << 16),
     .doc = "tokens per window = the model's positions"},
    {.name = "steps_per_epoch", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, steps_per_epoch), .def = "100",
     LBBT_KEY_RANGE(1, 1 << 30), .doc = "optimizer steps per epoch (the corpus is sampled, not swept)"},
    {.name = "min_lr_ratio", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(K, min_lr_ratio), .def = "0.1",
     LBBT_KEY_RANGE(0, 1), .doc = "the cosine schedule ends at lr * this"},
    {.name = "eval_tokens", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, eval_tokens), .def = "0",
     LBBT_KEY_RANGE(0, 1 << 30), .doc = "validation tokens evaluated after each epoch (about); 0 = all"},
    {.name = "snapshots", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(K, snapshots), .def = "",
     .doc = "fractions of the steps after which to save the model into OUT/frac-F, e.g. \"0,0.1,1\""},
    {.name = "label_smoothing", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(K, label_smoothing), .def = "0",
     LBBT_KEY_RANGE(0, 1), .flags = LBBT_KEY_MAX_EXCLUSIVE, .doc = "next-token cross-entropy label smoothing"},
};
#undef K
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(lm_keys, KEYS, "The corpus, tokenizer, model size and "
                                                           "schedule of language pretraining (docs/lm-pretrain.md).");

static lbbt_status opt_fail(const char *file, const lbbt_stage_spec *s, const char *key, const char *value,
                            const char *what) {
  const lbbt_option *o = lbbt_option_find(s->options, s->n_options, key);
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s' (lm-pretrain): %s: '%s' %s", file, o ? o->line : 0,
                   o ? o->col : 0, s->name, key, value, what);
}

static lbbt_status parse_options(const lbbt_stage_spec *s, const char *file, lm_options *lo) {
  const lm_keys *k = lbbt_stage_options(s);
  memset(lo, 0, sizeof *lo);
  if (!k->out[0]) return opt_fail(file, s, "out", k->out, "is empty: name the model folder to write");
  if (!k->corpus[0]) return opt_fail(file, s, "corpus", k->corpus, "is empty: write default or list files/folders");
  snprintf(lo->out, sizeof lo->out, "%s", k->out);
  snprintf(lo->corpus, sizeof lo->corpus, "%s", k->corpus);
  lo->offensive = k->offensive;
  lo->val_fraction = k->val_fraction;
  lo->split_seed = k->split_seed;
  lo->tokenizer = k->tokenizer ? LBBT_TOKENIZER_BPE : LBBT_TOKENIZER_BYTES;
  lo->bpe_vocab = k->bpe_vocab;
  snprintf(lo->plugin, sizeof lo->plugin, "%s", k->plugin);
  lo->context = k->context;
  lo->steps_per_epoch = k->steps_per_epoch;
  lo->min_lr_ratio = k->min_lr_ratio;
  lo->eval_tokens = k->eval_tokens;
  char why[160];
  if (k->snapshots[0] && snapshots_parse(k->snapshots, &lo->snaps, why, sizeof why) != LBBT_OK)
    return opt_fail(file, s, "snapshots", k->snapshots, why);
  /* The model's sizes, passed to the backbone plugin as its size options (n_inner only when
   * written: otherwise the backbone's own rule). */
  const struct { const char *key; int value; } sizes[] = {
      {"n_embd", k->n_embd}, {"n_layer", k->n_layer}, {"n_head", k->n_head}, {"n_inner", k->n_inner}};
  lbbt_backbone_spec *m = &lo->model;
  for (int i = 0; i < 4; i++) {
    if (!strcmp(sizes[i].key, "n_inner") && !lbbt_stage_option_written(s, "n_inner")) continue;
    lbbt_option *o = &m->options[m->n_options++];
    snprintf(o->key, sizeof o->key, "%s", sizes[i].key);
    snprintf(o->value, sizeof o->value, "%d", sizes[i].value);
    const lbbt_option *w = lbbt_option_find(s->options, s->n_options, sizes[i].key);
    o->line = w ? w->line : 0;
    o->col = w ? w->col : 0;
  }
  snprintf(m->plugin, sizeof m->plugin, "%s", lo->plugin);
  m->init = LBBT_INIT_SCRATCH;
  return LBBT_OK;
}

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  if (s->epochs < 1) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': epochs must be >= 1", file, s->name);
  lm_options lo;
  return parse_options(s, file, &lo);
}

/* ---- corpus ------------------------------------------------------------------------------ */
/* options.corpus -> source paths ("default" expands to the default sources). */
static lbbt_status corpus_sources(const char *spec, char (*out)[LBBT_PATH_MAX], int *n) {
  *n = 0;
  char buf[LBBT_PATH_MAX];
  snprintf(buf, sizeof buf, "%s", spec);
  const char *env = getenv("LBBT_CORPORA");
  const char *corpora = env && *env ? env : "../shared/corpora";
  for (char *save = NULL, *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
    while (*item == ' ') item++;
    char *e = item + strlen(item);
    while (e > item && e[-1] == ' ') *--e = 0;
    if (!*item) continue;
    if (!strcmp(item, "default")) {
      int k = lbbt_corpus_default_sources(out + *n, LBBT_CORPUS_MAX_SOURCES - *n);
      if (k == 0)
        return lbbt_fail(LBBT_E_INPUT, "corpus: the default corpus is missing: install the Debian "
                         "package fortunes (tools/install-deps) or put tinyshakespeare.txt in "
                         "$LBBT_CORPORA (default ../shared/corpora)");
      *n += k;
      continue;
    }
    if (*n == LBBT_CORPUS_MAX_SOURCES)
      return lbbt_fail(LBBT_E_INPUT, "corpus: more than %d sources", LBBT_CORPUS_MAX_SOURCES);
    if (!strncmp(item, "corpora:", 8))
      snprintf(out[*n], LBBT_PATH_MAX, "%s/%s", corpora, item + 8);
    else
      snprintf(out[*n], LBBT_PATH_MAX, "%s", item);
    (*n)++;
  }
  if (*n == 0) return lbbt_fail(LBBT_E_INPUT, "corpus: options.corpus '%s' names no source", spec);
  return LBBT_OK;
}

/* ---- evaluation windows ------------------------------------------------------------------- */
/* Windows over the validation stream: each predicts the tokens [start + 1, start + len]
 * from [start, start + len).  `tokens` counts the predicted tokens, `bytes` their bytes, so
 * bits per byte = loss / ln 2 * tokens / bytes (corpus.h). */
typedef struct eval_set {
  int64_t *starts;
  int64_t n, tokens, bytes;
} eval_set;

static void eval_set_free(eval_set *e) {
  free(e->starts);
  memset(e, 0, sizeof *e);
}

/* Consecutive windows of T tokens (the last one shorter) when stride is 1, so every token
 * but the first is predicted once; with stride k only every k-th full window, spread evenly
 * over the whole split. */
static lbbt_status eval_set_build(const int32_t *val, int64_t n_val, int64_t T, int64_t stride,
                                  const lbbt_tokenizer *tok, eval_set *e) {
  memset(e, 0, sizeof *e);
  int64_t cap = (n_val - 1 + T - 1) / T + 1;
  e->starts = malloc((size_t)cap * sizeof *e->starts);
  if (!e->starts) return lbbt_fail(LBBT_E_NOMEM, "lm-pretrain: out of memory");
  for (int64_t p = 0; p + 1 < n_val; p += T * stride) {
    int64_t len = n_val - 1 - p < T ? n_val - 1 - p : T;
    if (stride > 1 && len < T) break;
    e->starts[e->n++] = p;
    e->tokens += len;
    for (int64_t i = p + 1; i <= p + len; i++) {
      const char *b;
      int bl;
      LBBT_TRY(lbbt_tokenizer_token_bytes(tok, val[i], &b, &bl));
      e->bytes += bl;
    }
  }
  return LBBT_OK;
}

/* ---- state ---------------------------------------------------------------------------------- */
typedef struct lm_state {
  lm_options o;
  lbbt_corpus *corpus;
  lbbt_tokenizer *tok;
  int32_t *train, *val;   /* token streams */
  int64_t n_train, n_val, val_bytes;
  double val_unigram_bpb;
  eval_set full, sample;  /* the whole validation split; the part evaluated each epoch */
  lbbt_model *model;
  lbbt_optim *opt;
  lbbt_tape *tape;
  int32_t *inputs, *targets; /* [B * T] */
  lbbt_tensor **param_t;     /* the model's tensors, saved as checkpoint extras */
  const char **param_names;
  uint64_t seed;             /* the run seed mixed with the stage name */
} lm_state;

static void lm_state_free(lm_state *s) {
  lbbt_corpus_free(s->corpus);
  lbbt_tokenizer_free(s->tok);
  eval_set_free(&s->full);
  eval_set_free(&s->sample);
  free(s->train);
  free(s->val);
  lbbt_optim_free(s->opt);
  lbbt_model_free(s->model);
  lbbt_tape_free(s->tape);
  free(s->inputs);
  free(s->targets);
  free(s->param_t);
  free(s->param_names);
}

static lbbt_status load_text(lbbt_stage_ctx *ctx, lm_state *s) {
  char (*sources)[LBBT_PATH_MAX] = malloc(LBBT_CORPUS_MAX_SOURCES * sizeof *sources);
  const char **ptrs = malloc(LBBT_CORPUS_MAX_SOURCES * sizeof *ptrs);
  lbbt_status st = sources && ptrs ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "lm-pretrain: out of memory");
  int n = 0;
  if (st == LBBT_OK) st = corpus_sources(s->o.corpus, sources, &n);
  for (int i = 0; i < n; i++) ptrs[i] = sources[i];
  lbbt_corpus_options co = {ptrs, n, s->o.offensive, s->o.val_fraction, (uint64_t)s->o.split_seed};
  if (st == LBBT_OK) st = lbbt_corpus_load(&co, &s->corpus);
  free(sources);
  free(ptrs);
  if (st != LBBT_OK) return st;
  const lbbt_corpus *c = s->corpus;
  if (s->o.tokenizer == LBBT_TOKENIZER_BPE) {
    /* Merges are learned from the training documents only, joined by newlines (a chunk
     * boundary), so validation text never shapes the vocabulary. */
    char *text = malloc((size_t)(c->train_bytes + c->n_docs + 1));
    if (!text) return lbbt_fail(LBBT_E_NOMEM, "lm-pretrain: out of memory");
    int64_t w = 0;
    for (int64_t i = 0; i < c->n_docs; i++) {
      if (c->docs[i].val) continue;
      memcpy(text + w, c->text + c->docs[i].offset, (size_t)c->docs[i].length);
      w += c->docs[i].length;
      text[w++] = '\n';
    }
    double t0 = lbbt_train_now();
    st = lbbt_tokenizer_train_bpe(text, w, s->o.bpe_vocab, &s->tok);
    free(text);
    if (st != LBBT_OK) return st;
    lbbt_progress_log(ctx->progress, "lm-pretrain: BPE of %d ids learned in %.1f s",
                      lbbt_tokenizer_vocab_size(s->tok), lbbt_train_now() - t0);
  } else {
    LBBT_TRY(lbbt_tokenizer_create_bytes(&s->tok));
  }
  LBBT_TRY(lbbt_corpus_tokens(c, s->tok, 0, &s->train, &s->n_train, NULL));
  LBBT_TRY(lbbt_corpus_tokens(c, s->tok, 1, &s->val, &s->n_val, &s->val_bytes));
  if (s->n_train < (int64_t)s->o.context + 2)
    return lbbt_fail(LBBT_E_INPUT, "lm-pretrain: the training split has %lld tokens, fewer than a "
                     "window of context %d + 1; use more text or a smaller context",
                     (long long)s->n_train, s->o.context);
  if (s->n_val < 2)
    return lbbt_fail(LBBT_E_INPUT, "lm-pretrain: the validation split has %lld tokens; raise "
                     "val_fraction or use more text", (long long)s->n_val);
  const int64_t T = s->o.context, windows = (s->n_val - 1 + T - 1) / T;
  int64_t want = s->o.eval_tokens > 0 ? (s->o.eval_tokens + T - 1) / T : windows;
  int64_t stride = want >= windows ? 1 : (windows + want - 1) / want; /* at most eval_tokens */
  LBBT_TRY(eval_set_build(s->val, s->n_val, T, 1, s->tok, &s->full));
  LBBT_TRY(eval_set_build(s->val, s->n_val, T, stride, s->tok, &s->sample));
  return LBBT_OK;
}

/* Corpus facts and the context-free baselines, recorded once (the same values again on
 * resume). */
static lbbt_status record_corpus(lbbt_stage_ctx *ctx, lm_state *s) {
  const lbbt_corpus *c = s->corpus;
  lbbt_status st;
  LBBT_TRY(lbbt_stage_string(ctx, "corpus_sha256", c->sha256));
  size_t cap = 256 + (size_t)c->n_files * (LBBT_PATH_MAX + 48);
  char *files = malloc(cap);
  if (!files) return lbbt_fail(LBBT_E_NOMEM, "lm-pretrain: out of memory");
  size_t used = 0;
  files[0] = 0;
  for (int i = 0; i < c->n_files && used + 1 < cap; i++) /* a longer list is cut, not overrun */
    used += (size_t)snprintf(files + used, cap - used, "%s%s %lld bytes, %lld documents%s", i ? "\n" : "",
                             c->files[i].path, (long long)c->files[i].bytes,
                             (long long)c->files[i].n_docs, c->files[i].fortune ? " (fortune format)" : "");
  st = lbbt_stage_string(ctx, "corpus_files", files);
  free(files);
  LBBT_TRY(st);
  LBBT_TRY(lbbt_stage_scalar(ctx, "corpus_docs", (double)c->n_docs));
  LBBT_TRY(lbbt_stage_scalar(ctx, "corpus_bytes", (double)c->n_bytes));
  LBBT_TRY(lbbt_stage_scalar(ctx, "val_docs", (double)c->n_val_docs));
  LBBT_TRY(lbbt_stage_scalar(ctx, "train_bytes", (double)c->train_bytes));
  LBBT_TRY(lbbt_stage_scalar(ctx, "val_bytes", (double)s->val_bytes));
  LBBT_TRY(lbbt_stage_scalar(ctx, "train_tokens", (double)s->n_train));
  LBBT_TRY(lbbt_stage_scalar(ctx, "val_tokens", (double)s->n_val));
  LBBT_TRY(lbbt_stage_scalar(ctx, "val_tokens_evaluated", (double)s->sample.tokens));
  LBBT_TRY(lbbt_stage_scalar(ctx, "val_bytes_evaluated", (double)s->sample.bytes));
  LBBT_TRY(lbbt_stage_string(ctx, "tokenizer", lbbt_tokenizer_kind_name(lbbt_tokenizer_kind_of(s->tok))));
  LBBT_TRY(lbbt_stage_scalar(ctx, "vocab_size", lbbt_tokenizer_vocab_size(s->tok)));
  LBBT_TRY(lbbt_stage_scalar(ctx, "unigram_entropy_bpb", lbbt_corpus_unigram_entropy_bpb(c)));
  double uni = 0;
  LBBT_TRY(lbbt_unigram_cross_entropy(s->train, s->n_train, s->val + 1, s->n_val - 1,
                                      lbbt_tokenizer_vocab_size(s->tok), &uni));
  s->val_unigram_bpb = lbbt_bits_per_byte(uni, s->full.tokens, s->full.bytes);
  LBBT_TRY(lbbt_stage_scalar(ctx, "val_unigram_bpb", s->val_unigram_bpb));
  lbbt_progress_log(ctx->progress,
                    "lm-pretrain: corpus %lld documents, %lld bytes (%d files; sha256 %.12s); "
                    "validation %lld documents, %lld tokens; %s tokenizer, vocab %d",
                    (long long)c->n_docs, (long long)c->n_bytes, c->n_files, c->sha256,
                    (long long)c->n_val_docs, (long long)s->n_val,
                    lbbt_tokenizer_kind_name(lbbt_tokenizer_kind_of(s->tok)),
                    lbbt_tokenizer_vocab_size(s->tok));
  return LBBT_OK;
}

static lbbt_status build_model(lbbt_stage_ctx *ctx, lm_state *s) {
  lbbt_registry *reg = ctx->registry ? ctx->registry : lbbt_registry_global();
  const lbbt_plugin *p = reg ? lbbt_registry_find(reg, LBBT_KIND_BACKBONE, s->o.plugin) : NULL;
  if (!p)
    return lbbt_fail(LBBT_E_INPUT, "lm-pretrain: backbone plugin '%s' is not installed (see lbbt plugins)",
                     s->o.plugin);
  if (!p->backbone->create_language)
    return lbbt_fail(LBBT_E_UNSUPPORTED,
                     "lm-pretrain: the %s plugin cannot build a new language model "
                     "(its backbone table has no create_language); use plugin: gpt2",
                     s->o.plugin);
  LBBT_TRY(p->backbone->create_language(&s->o.model, lbbt_tokenizer_vocab_size(s->tok), s->o.context,
                                        s->seed, &s->model));
  lbbt_model *m = s->model;
  if (!m->ops->forward_language || !m->ops->save)
    return lbbt_fail(LBBT_E_PLUGIN, "lm-pretrain: the %s plugin's language model lacks "
                     "forward_language or save", s->o.plugin);
  const lbbt_stage_spec *st = ctx->stage;
  LBBT_TRY(lbbt_model_select_trainable(m, &st->train_layers, st->train_embed, st->train_head));
  m->drop_path = 0;
  s->param_t = malloc((size_t)m->n_params * sizeof *s->param_t);
  s->param_names = malloc((size_t)m->n_params * sizeof *s->param_names);
  if (!s->param_t || !s->param_names) return lbbt_fail(LBBT_E_NOMEM, "lm-pretrain: out of memory");
  for (int i = 0; i < m->n_params; i++) {
    s->param_t[i] = m->params[i].t;
    s->param_names[i] = m->params[i].name;
  }
  lbbt_optim_config oc;
  lbbt_optim_config_from_stage(&oc, st);
  LBBT_TRY(lbbt_optim_create_for_model(&s->opt, &oc, m));
  LBBT_TRY(lbbt_tape_create(&s->tape));
  size_t bt = (size_t)st->batch_size * (size_t)s->o.context;
  s->inputs = malloc(bt * sizeof *s->inputs);
  s->targets = malloc(bt * sizeof *s->targets);
  if (!s->inputs || !s->targets) return lbbt_fail(LBBT_E_NOMEM, "lm-pretrain: out of memory");
  LBBT_TRY(lbbt_stage_scalar(ctx, "params", (double)lbbt_model_numel(m, 0)));
  LBBT_TRY(lbbt_stage_scalar(ctx, "context", s->o.context));
  return LBBT_OK;
}

/* ---- evaluation ------------------------------------------------------------------------------ */
/* Mean loss (nats/token) of the model over the windows of e, B windows of one length per
 * forward pass, in eval mode. */
static lbbt_status evaluate(lm_state *s, const eval_set *e, int B, double *loss_out) {
  const int64_t T = s->o.context, n = s->n_val;
  lbbt_model *m = s->model;
  double sum = 0;
  int64_t counted = 0;
  for (int64_t w = 0; w < e->n;) {
    const int64_t len = n - 1 - e->starts[w] < T ? n - 1 - e->starts[w] : T;
    int rows = 0;
    for (; rows < B && w < e->n; rows++, w++) {
      int64_t p = e->starts[w];
      if ((n - 1 - p < T ? n - 1 - p : T) != len) break; /* the short last window: own batch */
      memcpy(s->inputs + rows * len, s->val + p, (size_t)len * sizeof *s->inputs);
      memcpy(s->targets + rows * len, s->val + p + 1, (size_t)len * sizeof *s->targets);
    }
    lbbt_tape_reset(s->tape);
    lbbt_tape_set_recording(s->tape, 0);
    lbbt_tape_set_training(s->tape, 0);
    lbbt_tensor *logits, *flat, *loss;
    LBBT_TRY(m->ops->forward_language(m, s->tape, s->inputs, rows, len, NULL, &logits));
    int64_t shape[2] = {rows * len, m->vocab_size};
    LBBT_TRY(lbbt_reshape(s->tape, logits, 2, shape, &flat));
    LBBT_TRY(lbbt_cross_entropy(s->tape, flat, s->targets, 0.0f, &loss));
    sum += (double)loss->data[0] * (double)(rows * len);
    counted += rows * len;
  }
  lbbt_tape_reset(s->tape);
  lbbt_tape_set_recording(s->tape, 1);
  lbbt_tape_set_training(s->tape, 1);
  *loss_out = counted ? sum / (double)counted : NAN;
  return LBBT_OK;
}

static double bpb_of(const eval_set *e, double loss) { return lbbt_bits_per_byte(loss, e->tokens, e->bytes); }
static double val_bpb(const lm_state *s, double loss) { return bpb_of(&s->sample, loss); }

/* ---- saving models ----------------------------------------------------------------------------- */
/* The model (plugin's Hugging Face layout), its tokenizer and what made it, into dir.  Each
 * file is replaced atomically, so a kill leaves the previous or the new file.  `snapshot`
 * is the snapshot's folder name and `fraction` its requested share of the steps, or NULL
 * and 1 for the final model. */
static lbbt_status save_model(lbbt_stage_ctx *ctx, lm_state *s, const char *dir, int64_t steps,
                              const char *snapshot, double fraction, double loss, double bpb) {
  /* Under mpirun every rank trains the whole batch (the loop's unsharded path: replicas stay
   * equal without an allreduce); rank 0 alone writes the folder, as it alone writes results. */
  if (lbbt_dist_rank() != 0) return LBBT_OK;
  LBBT_TRY(snapshots_make_dirs(dir));
  LBBT_TRY(s->model->ops->save(s->model, dir));
  char path[LBBT_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, LBBT_TOKENIZER_FILE);
  LBBT_TRY(lbbt_tokenizer_save(s->tok, path));
  json_t *info = json_object();
  if (!info) return lbbt_fail(LBBT_E_NOMEM, "lm-pretrain: out of memory");
  json_object_set_new(info, "made_by", json_string("lbbt lm-pretrain"));
  json_object_set_new(info, "experiment", json_string(ctx->exp->name));
  json_object_set_new(info, "tier", json_string(ctx->exp->tier));
  json_object_set_new(info, "run_id", json_string(ctx->run->id));
  json_object_set_new(info, "stage", json_string(ctx->stage->name));
  if (snapshot) json_object_set_new(info, "snapshot", json_string(snapshot));
  json_object_set_new(info, "fraction", json_real(fraction));
  json_object_set_new(info, "steps", json_integer(steps));
  json_object_set_new(info, "steps_total", json_integer((json_int_t)ctx->stage->epochs * s->o.steps_per_epoch));
  json_object_set_new(info, "tokens_seen", json_integer(steps * ctx->stage->batch_size * s->o.context));
  json_object_set_new(info, "val_loss", json_real(loss));
  json_object_set_new(info, "val_bpb", json_real(bpb));
  json_object_set_new(info, "corpus_sha256", json_string(s->corpus->sha256));
  json_object_set_new(info, "tokenizer", json_string(LBBT_TOKENIZER_FILE));
  snprintf(path, sizeof path, "%s/%s", dir, PRETRAIN_INFO_FILE);
  lbbt_status st = lbbt_json_write_file(path, info);
  json_decref(info);
  return st;
}

/* The snapshots due after `steps` optimizer steps (two fractions may round to the same
 * step: each gets its folder <out>/frac-<fraction>/), evaluated once (unless the caller has
 * just evaluated this model: loss not NaN) and recorded. */
static lbbt_status snapshot(lbbt_stage_ctx *ctx, lm_state *s, int64_t steps, int64_t total, double loss) {
  if (isnan(loss)) LBBT_TRY(evaluate(s, &s->sample, ctx->stage->batch_size, &loss));
  for (int i = 0; i < s->o.snaps.n; i++) {
    if (snapshots_step(&s->o.snaps, i, total) != steps) continue;
    char dir[LBBT_PATH_MAX + SNAPSHOT_NAME_MAX + 2];
    snprintf(dir, sizeof dir, "%s/%s", s->o.out, s->o.snaps.name[i]);
    LBBT_TRY(save_model(ctx, s, dir, steps, s->o.snaps.name[i], s->o.snaps.fraction[i], loss, val_bpb(s, loss)));
    LBBT_TRY(lbbt_stage_append(ctx, "snapshot_fraction", s->o.snaps.fraction[i]));
    LBBT_TRY(lbbt_stage_append(ctx, "snapshot_steps", (double)steps));
    LBBT_TRY(lbbt_stage_append(ctx, "snapshot_val_loss", loss));
    LBBT_TRY(lbbt_stage_append(ctx, "snapshot_val_bpb", val_bpb(s, loss)));
    lbbt_progress_log(ctx->progress, "lm-pretrain: snapshot %s after %lld of %lld steps -> %s (val %.3f bits/byte)",
                      s->o.snaps.name[i], (long long)steps, (long long)total, dir, val_bpb(s, loss));
  }
  return LBBT_OK;
}

/* ---- training ------------------------------------------------------------------------------ */
/* B windows of T + 1 tokens at seeded random starts: inputs = the first T, targets = the
 * next T. */
static void sample_windows(lm_state *s, int B, int64_t step) {
  const int64_t T = s->o.context;
  lbbt_rng r;
  lbbt_rng_derive(&r, s->seed, "lm-windows", (uint64_t)step);
  uint64_t span = (uint64_t)(s->n_train - T); /* starts in [0, n_train - T - 1] */
  for (int b = 0; b < B; b++) {
    int64_t start = (int64_t)(lbbt_rng_u64(&r) % span);
    memcpy(s->inputs + b * T, s->train + start, (size_t)T * sizeof *s->inputs);
    memcpy(s->targets + b * T, s->train + start + 1, (size_t)T * sizeof *s->targets);
  }
}

/* The loop's view of the stage (train_loop.h callbacks). */
typedef struct lm_loop {
  lbbt_stage_ctx *ctx;
  lm_state *s;
  int64_t total;              /* optimizer steps in the stage */
  double train_seconds_all;   /* this session's training time and tokens, for the last line */
  int64_t trained_tokens;
} lm_loop;

/* Next-token cross-entropy (with the stage's label smoothing) of one step's windows;
 * dropout draws from a stream derived from the stage seed and the step. */
static lbbt_status batch_loss(void *user, lbbt_tape *tape, int64_t step, lbbt_train_batch *out) {
  lm_loop *l = user;
  lm_state *s = l->s;
  const int B = l->ctx->stage->batch_size;
  const int64_t T = s->o.context;
  lbbt_model *m = s->model;
  sample_windows(s, B, step);
  lbbt_rng_derive(lbbt_tape_rng(tape), s->seed, "lm-dropout", (uint64_t)step);
  lbbt_tensor *logits, *flat;
  LBBT_TRY(m->ops->forward_language(m, tape, s->inputs, B, T, NULL, &logits));
  int64_t shape[2] = {(int64_t)B * T, m->vocab_size};
  LBBT_TRY(lbbt_reshape(tape, logits, 2, shape, &flat));
  LBBT_TRY(lbbt_cross_entropy(tape, flat, s->targets, (float)((const lm_keys *)lbbt_stage_options(l->ctx->stage))->label_smoothing, &out->loss));
  out->weight = 1.0; /* train_loss: the mean over steps */
  out->items = (int64_t)B * T;
  return LBBT_OK;
}

/* Before the first epoch of a fresh stage: the untrained model's validation loss, and the
 * snapshot at fraction 0. */
static lbbt_status begin(void *user, int start_epoch) {
  lm_loop *l = user;
  lm_state *s = l->s;
  LBBT_TRY(lbbt_stage_scalar(l->ctx, "steps_total", (double)l->total));
  LBBT_TRY(lbbt_stage_string(l->ctx, "out", s->o.out));
  if (start_epoch > 0) return LBBT_OK;
  double loss0 = 0;
  LBBT_TRY(evaluate(s, &s->sample, l->ctx->stage->batch_size, &loss0));
  LBBT_TRY(lbbt_stage_scalar(l->ctx, "val_loss_init", loss0));
  LBBT_TRY(lbbt_stage_scalar(l->ctx, "val_bpb_init", val_bpb(s, loss0)));
  if (snapshots_due(&s->o.snaps, 0, l->total)) LBBT_TRY(snapshot(l->ctx, s, 0, l->total, loss0));
  return LBBT_OK;
}

/* Snapshots due mid-stage (the one after the last step reuses the epoch's evaluation, in
 * end_epoch). */
static lbbt_status after_step(void *user, int64_t steps_done) {
  lm_loop *l = user;
  if (steps_done < l->total && snapshots_due(&l->s->o.snaps, steps_done, l->total))
    LBBT_TRY(snapshot(l->ctx, l->s, steps_done, l->total, NAN));
  return LBBT_OK;
}

static lbbt_status end_epoch(void *user, const lbbt_train_epoch *e) {
  lm_loop *l = user;
  lbbt_stage_ctx *ctx = l->ctx;
  lm_state *s = l->s;
  const lbbt_stage_spec *st = ctx->stage;
  double vloss = 0;
  LBBT_TRY(evaluate(s, &s->sample, st->batch_size, &vloss));
  double tps = e->train_seconds > 0 ? (double)e->items / e->train_seconds : 0;
  l->train_seconds_all += e->train_seconds;
  l->trained_tokens += e->items;
  LBBT_TRY(lbbt_stage_append(ctx, "train_loss", e->mean_loss));
  LBBT_TRY(lbbt_stage_append(ctx, "val_loss", vloss));
  LBBT_TRY(lbbt_stage_append(ctx, "val_bpb", val_bpb(s, vloss)));
  LBBT_TRY(lbbt_stage_append(ctx, "tokens_per_s", tps));
  LBBT_TRY(lbbt_stage_append(ctx, "lr", e->lr));
  LBBT_TRY(lbbt_stage_append(ctx, "grad_norm", e->grad_norm));
  LBBT_TRY(lbbt_stage_append(ctx, "seconds", lbbt_train_now() - e->started));
  LBBT_TRY(lbbt_stage_append(ctx, "steps", (double)e->steps_done));
  lbbt_progress_log(ctx->progress,
                    "run %d/%d %s stage %s epoch %d/%d: train loss %.4f, val loss %.4f = %.3f "
                    "bits/byte, %.0f tokens/s",
                    ctx->run_index + 1, ctx->n_runs, ctx->run->id, st->name, e->epoch + 1, e->epochs,
                    e->mean_loss, vloss, val_bpb(s, vloss), tps);
  if (e->epoch + 1 < e->epochs) return LBBT_OK;
  /* The last epoch: the model folder is written before the checkpoint that marks the stage
   * done (the loop saves it after this returns), so a kill in between redoes this epoch. */
  const int64_t total = l->total;
  if (snapshots_due(&s->o.snaps, total, total)) LBBT_TRY(snapshot(ctx, s, total, total, vloss));
  /* The final numbers are over the whole validation split. */
  double full_loss = vloss;
  if (s->sample.n != s->full.n) LBBT_TRY(evaluate(s, &s->full, st->batch_size, &full_loss));
  LBBT_TRY(save_model(ctx, s, s->o.out, total, NULL, 1.0, full_loss, bpb_of(&s->full, full_loss)));
  LBBT_TRY(lbbt_stage_scalar(ctx, "val_loss_final", full_loss));
  LBBT_TRY(lbbt_stage_scalar(ctx, "val_bpb_final", bpb_of(&s->full, full_loss)));
  lbbt_progress_log(ctx->progress, "lm-pretrain: whole validation split (%lld tokens): loss %.4f = "
                    "%.3f bits/byte; unigram baseline %.3f bits/byte", (long long)s->full.tokens,
                    full_loss, bpb_of(&s->full, full_loss), s->val_unigram_bpb);
  lbbt_progress_log(ctx->progress, "lm-pretrain: model -> %s (%.0f tokens/s over this session's "
                    "%lld training tokens)", s->o.out,
                    l->train_seconds_all > 0 ? (double)l->trained_tokens / l->train_seconds_all : 0,
                    (long long)l->trained_tokens);
  return LBBT_OK;
}

static lbbt_status train(lbbt_stage_ctx *ctx, lm_state *s) {
  const lbbt_stage_spec *st = ctx->stage;
  lm_loop l = {ctx, s, (int64_t)st->epochs * s->o.steps_per_epoch, 0, 0};
  lbbt_train_loop loop = {0};
  loop.ctx = ctx;
  loop.opt = s->opt;
  loop.tape = s->tape;
  loop.epochs = st->epochs;
  loop.steps_per_epoch = s->o.steps_per_epoch;
  loop.lr = st->lr;
  loop.min_lr = st->lr * s->o.min_lr_ratio;
  loop.warmup_epochs = st->warmup_epochs;
  loop.clip = st->clip;
  loop.checkpoint = 1;
  /* the model is the task's own, not ctx->model: its parameters travel as extras */
  loop.extra = s->param_t;
  loop.extra_names = s->param_names;
  loop.n_extra = s->model->n_params;
  loop.user = &l;
  loop.batch = batch_loss;
  loop.begin = begin;
  loop.after_step = after_step;
  loop.end_epoch = end_epoch;
  return lbbt_train_loop_run(&loop);
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  lm_state s;
  memset(&s, 0, sizeof s);
  lbbt_status st = parse_options(ctx->stage, ctx->exp->file, &s.o);
  /* before any work: the folder is where lbbt may write, and no other run's model */
  if (st == LBBT_OK) st = lbbt_output_path_check(ctx, s.o.out, "lm-pretrain option out");
  if (st == LBBT_OK) st = lbbt_output_model_check(ctx, s.o.out, PRETRAIN_INFO_FILE);
  s.seed = ctx->run->seed ^ lbbt_hash_str(ctx->stage->name);
  if (st == LBBT_OK) st = load_text(ctx, &s);
  if (st == LBBT_OK) st = record_corpus(ctx, &s);
  if (st == LBBT_OK) st = build_model(ctx, &s);
  if (st == LBBT_OK) st = train(ctx, &s);
  lm_state_free(&s);
  return st;
}

/* Text named by the stage's options; the model is built here from them, so the runner
 * prepares nothing (an experiment made of this stage writes no backbone and no data). */
static lbbt_status needs(const lbbt_stage_spec *s, lbbt_task_needs *out) {
  (void)s;
  out->what = LBBT_NEED_TEXT_CORPUS;
  return LBBT_OK;
}

static const lbbt_task_ops TASK_OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .validate = validate,
    .run = run,
    .needs = needs,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_TASK,
    .name = "lm-pretrain",
    .summary = "pretrain a GPT-2-architecture language model on text (fortunes + Shakespeare by default); saves snapshots",
    .task = &TASK_OPS,
    .options = &OPTIONS,
};
