/* Task plugin `ts-pretrain`: lbbt pretrains its own Chronos-style time-series T5 (Ansari et
 * al. 2024), so that Table 13 (the paper's Appendix E: language vs time-series pretraining)
 * has a time-series-pretrained encoder whose pretraining lbbt controls.
 *
 * Data: a KernelSynth corpus (lbbt/series.h) of n_series synthetic Gaussian-process series of
 * series_length points (series i = lbbt_kernel_synth_series(corpus_seed, i, ...), made in
 * parallel, the same on any thread count); the last round(val_fraction * n_series) series are
 * held out.  A training window is a random series and start (lbbt_rng_derive(seed,
 * "ts-windows", step)), `context` points then `horizon` points; Chronos' tokenisation scales
 * both by the context's mean |x| and bins them (n_tokens, [-15, 15]):
 *   encoder input  = context tokens, EOS                   [B, context + 1]
 *   decoder input  = PAD, horizon tokens 0 .. horizon - 2  [B, horizon + 1]  (teacher forcing)
 *   labels         = horizon tokens, EOS                   [B, horizon + 1]
 * and the loss is the labels' mean cross-entropy (Chronos' training objective).
 *
 * The model: the chronos_t5 backbone's encoder (its create_language: shared embedding, T5
 * blocks, final norm) plus the T5 decoder (plugins/tasks/shared/t5_decoder.h) registered in the
 * same model; both initialised as T5PreTrainedModel._init_weights with initializer_factor.
 * Saved as a Hugging Face T5ForConditionalGeneration checkpoint (model.safetensors +
 * config.json with a chronos_config) that the chronos_t5 backbone reads (its encoder), plus
 * lbbt_pretrain.json; snapshots at fractions of the steps into <out>/frac-<f>/ as lm-pretrain.
 * Resume: the training loop's run checkpoint holds every parameter and the optimizer state.
 *
 * Held-out forecasting (so the model is shown to have learned): on eval_windows windows of
 * the held-out series (evenly spaced series and starts), the model forecasts the horizon
 * greedily (argmax token per step, fed back; decoded to bin centres times the scale) and is
 * scored by MASE: mean |forecast - truth| over the horizon divided by the context's in-sample
 * seasonal-naive error mean |y_t - y_{t-m}| (m = season; windows whose scale is 0 skipped), the
 * mean over windows.  Baselines on the same windows: seasonal naive (repeat the last m
 * values) and naive (repeat the last value).  mase_ratio = model / seasonal naive (< 1:
 * better than the baseline).
 *
 * Record, under "<stage>/": per epoch train_loss, val_loss (teacher-forced, nats/token), lr,
 * grad_norm, seconds, steps, windows_per_s; per snapshot snapshot_fraction, snapshot_steps,
 * snapshot_val_loss; once val_loss_init, val_loss_final, mase_model, mase_seasonal_naive,
 * mase_naive, mase_ratio, mase_windows, mase_model_init (the untrained model), params,
 * corpus_seconds, n_train_series, n_val_series, steps_total, out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lbbt/checkpoint.h"
#include "lbbt/dist.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/output_path.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"
#include "lbbt/series.h"
#include "lbbt/train.h"
#include "lbbt/train_loop.h"
#include "shared/snapshots.h"
#include "shared/t5_decoder.h"

#define PRETRAIN_INFO_FILE "lbbt_pretrain.json"

/* ---- options ---------------------------------------------------------------------------- */
typedef struct ts_keys {
  char out[LBBT_PATH_MAX];
  int n_series, series_length, max_kernels, corpus_seed;
  double val_fraction;
  int context, horizon, n_tokens;
  int d_model, num_layers, num_decoder_layers, num_heads, d_kv, d_ff;
  int ffn; /* index into FFN_NAMES */
  double initializer_factor;
  int steps_per_epoch, eval_windows, season;
  double min_lr_ratio;
  char snapshots[LBBT_PATH_MAX];
} ts_keys;

#define K ts_keys
static const char *const FFN_NAMES[] = {"relu", "gated-gelu"};
static const lbbt_key KEYS[] = {
    {.name = "out", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(K, out), .def = NULL,
     .doc = "folder the pretrained T5 is written to (e.g. models/lbbt-chronos-t5)"},
    {.name = "n_series", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, n_series), .def = "256",
     LBBT_KEY_RANGE(2, 1 << 24), .doc = "KernelSynth series in the corpus"},
    {.name = "series_length", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, series_length), .def = "1024",
     LBBT_KEY_RANGE(8, 1 << 14), .doc = "points per series (one GP sample each)"},
    {.name = "max_kernels", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, max_kernels), .def = "5",
     LBBT_KEY_RANGE(1, LBBT_KERNEL_MAX_TERMS), .doc = "kernels composed per series: 1 to this many"},
    {.name = "corpus_seed", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, corpus_seed), .def = "0",
     LBBT_KEY_RANGE(0, 1 << 30), .doc = "seed of the KernelSynth corpus"},
    {.name = "val_fraction", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(K, val_fraction), .def = "0.1",
     LBBT_KEY_RANGE(0, 0.5), .flags = LBBT_KEY_MIN_EXCLUSIVE, .doc = "share of the series held out"},
    {.name = "context", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, context), .def = "64",
     LBBT_KEY_RANGE(2, 1 << 14), .doc = "context points the encoder reads"},
    {.name = "horizon", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, horizon), .def = "16",
     LBBT_KEY_RANGE(1, 1 << 12), .doc = "points the decoder forecasts"},
    {.name = "n_tokens", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, n_tokens), .def = "4096",
     LBBT_KEY_RANGE(4, 1 << 16), .doc = "vocabulary: PAD, EOS, one unused id and n_tokens - 3 bins over [-15, 15]"},
    {.name = "d_model", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, d_model), .def = "128",
     LBBT_KEY_RANGE(1, 1 << 16), .doc = "model width"},
    {.name = "num_layers", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, num_layers), .def = "4",
     LBBT_KEY_RANGE(1, 1 << 10), .doc = "encoder blocks"},
    {.name = "num_decoder_layers", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, num_decoder_layers), .def = "4",
     LBBT_KEY_RANGE(1, 1 << 10), .doc = "decoder blocks"},
    {.name = "num_heads", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, num_heads), .def = "4",
     LBBT_KEY_RANGE(1, 1 << 10), .doc = "attention heads"},
    {.name = "d_kv", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, d_kv), .def = "32",
     LBBT_KEY_RANGE(1, 1 << 12), .doc = "width of each head"},
    {.name = "d_ff", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, d_ff), .def = "512",
     LBBT_KEY_RANGE(1, 1 << 16), .doc = "FFN width"},
    {.name = "feed_forward_proj", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(K, ffn), .def = "relu",
     LBBT_KEY_NAMES(FFN_NAMES), .doc = "relu (Chronos-T5) or gated-gelu (T5 v1.1)"},
    {.name = "initializer_factor", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(K, initializer_factor),
     .def = "0.05", LBBT_KEY_RANGE(0, 100), .flags = LBBT_KEY_MIN_EXCLUSIVE,
     .doc = "T5's init scale (the Chronos-T5 configs: 0.05)"},
    {.name = "steps_per_epoch", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, steps_per_epoch), .def = "100",
     LBBT_KEY_RANGE(1, 1 << 30), .doc = "optimizer steps per epoch (windows are sampled)"},
    {.name = "min_lr_ratio", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(K, min_lr_ratio), .def = "0.1",
     LBBT_KEY_RANGE(0, 1), .doc = "the cosine schedule ends at lr * this"},
    {.name = "eval_windows", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, eval_windows), .def = "256",
     LBBT_KEY_RANGE(1, 1 << 20), .doc = "held-out windows for the validation loss and MASE"},
    {.name = "season", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(K, season), .def = "24",
     LBBT_KEY_RANGE(1, 1 << 14), .doc = "season m of the MASE scale and the seasonal-naive baseline"},
    {.name = "snapshots", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(K, snapshots), .def = "",
     .doc = "fractions of the steps after which to save the model into OUT/frac-F, e.g. \"0,0.1,1\""},
};
#undef K
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(ts_keys, KEYS, "The KernelSynth corpus, "
                                                           "tokenisation, T5 size and schedule of "
                                                           "time-series pretraining (docs/timeseries.md).");

static lbbt_status opt_fail(const char *file, const lbbt_stage_spec *s, const char *key, const char *value,
                            const char *what) {
  const lbbt_option *o = lbbt_option_find(s->options, s->n_options, key);
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s' (ts-pretrain): %s: '%s' %s", file, o ? o->line : 0,
                   o ? o->col : 0, s->name, key, value, what);
}

/* Rules between keys, and the snapshot list. */
static lbbt_status check_options(const lbbt_stage_spec *s, const char *file, snapshot_list *snaps) {
  const ts_keys *k = lbbt_stage_options(s);
  char v[64], why[160];
  if (!k->out[0]) return opt_fail(file, s, "out", k->out, "is empty: name the model folder to write");
  if (k->context + k->horizon > k->series_length) {
    snprintf(v, sizeof v, "%d", k->context);
    snprintf(why, sizeof why, "plus horizon %d exceeds series_length %d: a window must fit in a series",
             k->horizon, k->series_length);
    return opt_fail(file, s, "context", v, why);
  }
  int n_val = (int)llround(k->val_fraction * k->n_series);
  if (n_val < 1 || n_val >= k->n_series) {
    snprintf(v, sizeof v, "%g", k->val_fraction);
    snprintf(why, sizeof why, "holds out %d of %d series: need at least one on each side", n_val, k->n_series);
    return opt_fail(file, s, "val_fraction", v, why);
  }
  memset(snaps, 0, sizeof *snaps);
  if (k->snapshots[0] && snapshots_parse(k->snapshots, snaps, why, sizeof why) != LBBT_OK)
    return opt_fail(file, s, "snapshots", k->snapshots, why);
  return LBBT_OK;
}

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  if (s->epochs < 1) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': epochs must be >= 1", file, s->name);
  snapshot_list snaps;
  return check_options(s, file, &snaps);
}

/* ---- state ---------------------------------------------------------------------------------- */
typedef struct ts_window {
  int32_t series;
  int32_t start;
} ts_window;

typedef struct ts_state {
  const ts_keys *k;
  snapshot_list snaps;
  lbbt_series_tokenizer tok;
  float *series;           /* [n_series, series_length] */
  int n_train, n_val;      /* series [0, n_train) train, [n_train, n_series) held out */
  ts_window *eval;         /* held-out windows */
  int n_eval;
  lbbt_model *model;       /* encoder (the backbone's) + decoder params */
  t5_decoder dec;
  t5_decoder_config dcfg;
  lbbt_optim *opt;
  lbbt_tape *tape;
  int32_t *enc_ids, *dec_ids, *labels; /* [B, context + 1], [B, horizon + 1] x 2 */
  double *scales;          /* [B] */
  int batch;               /* rows the buffers hold */
  lbbt_tensor **param_t;
  const char **param_names;
  uint64_t seed;
} ts_state;

static void ts_state_free(ts_state *s) {
  free(s->series);
  free(s->eval);
  t5_decoder_free(&s->dec);
  lbbt_optim_free(s->opt);
  lbbt_model_free(s->model);
  lbbt_tape_free(s->tape);
  free(s->enc_ids);
  free(s->dec_ids);
  free(s->labels);
  free(s->scales);
  free(s->param_t);
  free(s->param_names);
}

/* ---- corpus ------------------------------------------------------------------------------ */
static lbbt_status make_corpus(lbbt_stage_ctx *ctx, ts_state *s) {
  const ts_keys *k = s->k;
  const int L = k->series_length, N = k->n_series;
  s->series = malloc((size_t)N * (size_t)L * sizeof *s->series);
  if (!s->series) return lbbt_fail(LBBT_E_NOMEM, "ts-pretrain: out of memory for %d series of %d points", N, L);
  double t0 = lbbt_train_now();
  lbbt_status first = LBBT_OK;
  /* Each series has its own rng stream: the corpus is the same on any number of threads. */
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < N; i++) {
    lbbt_status st = lbbt_kernel_synth_series((uint64_t)k->corpus_seed, (uint64_t)i, L, k->max_kernels,
                                              s->series + (size_t)i * L, NULL);
    if (st != LBBT_OK) {
#pragma omp critical
      if (first == LBBT_OK) first = st;
    }
  }
  LBBT_TRY(first);
  s->n_val = (int)llround(k->val_fraction * N);
  s->n_train = N - s->n_val;
  double secs = lbbt_train_now() - t0;
  LBBT_TRY(lbbt_stage_scalar(ctx, "corpus_seconds", secs));
  LBBT_TRY(lbbt_stage_scalar(ctx, "n_train_series", s->n_train));
  LBBT_TRY(lbbt_stage_scalar(ctx, "n_val_series", s->n_val));
  lbbt_progress_log(ctx->progress, "ts-pretrain: KernelSynth corpus of %d series x %d points (seed %d, "
                    "up to %d kernels) in %.1f s; %d held out", N, L, k->corpus_seed, k->max_kernels,
                    secs, s->n_val);
  /* Held-out windows: series and starts spread evenly. */
  s->n_eval = k->eval_windows;
  s->eval = malloc((size_t)s->n_eval * sizeof *s->eval);
  if (!s->eval) return lbbt_fail(LBBT_E_NOMEM, "ts-pretrain: out of memory");
  const int span = L - k->context - k->horizon + 1;
  for (int w = 0; w < s->n_eval; w++) {
    s->eval[w].series = s->n_train + w % s->n_val;
    s->eval[w].start = (int32_t)(((int64_t)(w / s->n_val) * 7919 + w) % span);
  }
  return LBBT_OK;
}

/* Row b of the batch buffers from window w: scale, encoder, decoder and label tokens. */
static void tokenize_window(ts_state *s, int b, ts_window w) {
  const ts_keys *k = s->k;
  const int C = k->context, H = k->horizon;
  const float *x = s->series + (size_t)w.series * k->series_length + w.start;
  double scale = lbbt_series_scale(x, C);
  s->scales[b] = scale;
  int32_t *enc = s->enc_ids + (size_t)b * (C + 1), *lab = s->labels + (size_t)b * (H + 1),
          *dec = s->dec_ids + (size_t)b * (H + 1);
  lbbt_series_encode(&s->tok, x, C, scale, enc);
  enc[C] = LBBT_SERIES_EOS;
  lbbt_series_encode(&s->tok, x + C, H, scale, lab);
  lab[H] = LBBT_SERIES_EOS;
  dec[0] = LBBT_SERIES_PAD;
  memcpy(dec + 1, lab, (size_t)H * sizeof *dec);
}

/* ---- model ----------------------------------------------------------------------------- */
/* Elements of the decoder's own tensors (the shared embedding counts as the encoder's). */
static int64_t decoder_numel(const lbbt_model *m) {
  int64_t n = 0;
  for (int i = 0; i < m->n_params; i++)
    if (!strncmp(m->params[i].name, "decoder.", 8) || !strcmp(m->params[i].name, "lm_head.weight"))
      n += m->params[i].t->numel;
  return n;
}

static void add_size_option(lbbt_backbone_spec *m, const lbbt_stage_spec *s, const char *key,
                            const char *value) {
  lbbt_option *o = &m->options[m->n_options++];
  snprintf(o->key, sizeof o->key, "%s", key);
  snprintf(o->value, sizeof o->value, "%s", value);
  const lbbt_option *w = lbbt_option_find(s->options, s->n_options, key);
  o->line = w ? w->line : 0;
  o->col = w ? w->col : 0;
}

static lbbt_status build_model(lbbt_stage_ctx *ctx, ts_state *s) {
  const ts_keys *k = s->k;
  lbbt_registry *reg = ctx->registry ? ctx->registry : lbbt_registry_global();
  const lbbt_plugin *p = reg ? lbbt_registry_find(reg, LBBT_KIND_BACKBONE, "chronos_t5") : NULL;
  if (!p || !p->backbone->create_language)
    return lbbt_fail(LBBT_E_PLUGIN, "ts-pretrain: the chronos_t5 backbone plugin (with create_language) "
                     "is not installed (see lbbt plugins)");
  lbbt_backbone_spec spec;
  memset(&spec, 0, sizeof spec);
  snprintf(spec.plugin, sizeof spec.plugin, "chronos_t5");
  spec.init = LBBT_INIT_SCRATCH;
  const struct { const char *key; int v; } sizes[] = {
      {"d_model", k->d_model}, {"num_layers", k->num_layers}, {"num_heads", k->num_heads},
      {"d_kv", k->d_kv}, {"d_ff", k->d_ff}};
  char v[64];
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    snprintf(v, sizeof v, "%d", sizes[i].v);
    add_size_option(&spec, ctx->stage, sizes[i].key, v);
  }
  add_size_option(&spec, ctx->stage, "feed_forward_proj", FFN_NAMES[k->ffn]);
  snprintf(v, sizeof v, "%.17g", k->initializer_factor);
  add_size_option(&spec, ctx->stage, "initializer_factor", v);
  LBBT_TRY(p->backbone->create_language(&spec, k->n_tokens, k->context + 1, s->seed, &s->model));
  lbbt_model *m = s->model;
  s->dcfg = (t5_decoder_config){.dim = k->d_model, .n_layers = k->num_decoder_layers,
                                .n_heads = k->num_heads, .d_kv = k->d_kv, .d_ff = k->d_ff,
                                .vocab_size = k->n_tokens, .num_buckets = 32, .max_distance = 128,
                                .eps = 1e-6f, .gated = k->ffn == 1,
                                .init_factor = k->initializer_factor};
  const int n_enc = m->n_layers;
  LBBT_TRY(t5_decoder_register(m, &s->dcfg, n_enc, &s->dec));
  LBBT_TRY(t5_decoder_init(m, &s->dec, s->seed));
  m->n_layers = n_enc + k->num_decoder_layers; /* train_layers counts the decoder's blocks too */
  const lbbt_stage_spec *st = ctx->stage;
  LBBT_TRY(lbbt_model_select_trainable(m, &st->train_layers, st->train_embed, st->train_head));
  m->drop_path = 0;
  s->param_t = malloc((size_t)m->n_params * sizeof *s->param_t);
  s->param_names = malloc((size_t)m->n_params * sizeof *s->param_names);
  if (!s->param_t || !s->param_names) return lbbt_fail(LBBT_E_NOMEM, "ts-pretrain: out of memory");
  for (int i = 0; i < m->n_params; i++) {
    s->param_t[i] = m->params[i].t;
    s->param_names[i] = m->params[i].name;
  }
  lbbt_optim_config oc;
  lbbt_optim_config_from_stage(&oc, st);
  LBBT_TRY(lbbt_optim_create_for_model(&s->opt, &oc, m));
  LBBT_TRY(lbbt_tape_create(&s->tape));
  s->batch = st->batch_size > 64 ? st->batch_size : 64; /* evaluation runs 64 windows at a time */
  s->enc_ids = malloc((size_t)s->batch * (k->context + 1) * sizeof *s->enc_ids);
  s->dec_ids = malloc((size_t)s->batch * (k->horizon + 1) * sizeof *s->dec_ids);
  s->labels = malloc((size_t)s->batch * (k->horizon + 1) * sizeof *s->labels);
  s->scales = malloc((size_t)s->batch * sizeof *s->scales);
  if (!s->enc_ids || !s->dec_ids || !s->labels || !s->scales)
    return lbbt_fail(LBBT_E_NOMEM, "ts-pretrain: out of memory");
  LBBT_TRY(lbbt_stage_scalar(ctx, "params", (double)lbbt_model_numel(m, 0)));
  LBBT_TRY(lbbt_stage_scalar(ctx, "encoder_params", (double)(lbbt_model_numel(m, 0) - decoder_numel(m))));
  return LBBT_OK;
}

/* Logits [B, horizon + 1, V] of the rows in the buffers (teacher forcing), on tape. */
static lbbt_status forward(ts_state *s, lbbt_tape *tape, int B, int64_t dec_len, lbbt_tensor **logits) {
  lbbt_tensor *mem;
  LBBT_TRY(s->model->ops->forward_language(s->model, tape, s->enc_ids, B, s->k->context + 1, &mem, NULL));
  return t5_decoder_forward(tape, &s->dec, s->dec_ids, B, dec_len, mem, NULL, logits);
}

static lbbt_status token_loss(lbbt_tape *tape, lbbt_tensor *logits, const int32_t *labels, int64_t n,
                              lbbt_tensor **loss) {
  lbbt_tensor *flat;
  int64_t shape[2] = {n, logits->shape[2]};
  LBBT_TRY(lbbt_reshape(tape, logits, 2, shape, &flat));
  return lbbt_cross_entropy(tape, flat, labels, 0.0f, loss);
}

static void eval_mode(lbbt_tape *t, int on) {
  lbbt_tape_reset(t);
  lbbt_tape_set_recording(t, !on);
  lbbt_tape_set_training(t, !on);
}

/* Mean teacher-forced loss (nats/token) over the held-out windows. */
static lbbt_status evaluate_loss(ts_state *s, double *out) {
  const int H1 = s->k->horizon + 1;
  double sum = 0;
  int64_t count = 0;
  for (int w0 = 0; w0 < s->n_eval; w0 += s->batch) {
    int B = s->n_eval - w0 < s->batch ? s->n_eval - w0 : s->batch;
    for (int b = 0; b < B; b++) tokenize_window(s, b, s->eval[w0 + b]);
    eval_mode(s->tape, 1);
    lbbt_tensor *logits, *loss;
    LBBT_TRY(forward(s, s->tape, B, H1, &logits));
    LBBT_TRY(token_loss(s->tape, logits, s->labels, (int64_t)B * H1, &loss));
    sum += (double)loss->data[0] * B * H1;
    count += (int64_t)B * H1;
  }
  eval_mode(s->tape, 0);
  *out = sum / (double)count;
  return LBBT_OK;
}

/* The index of the largest bin logit (ids below n_special + 1 are not values). */
static int32_t argmax_bin(const float *logits, int V, int first) {
  int32_t best = first;
  for (int v = first + 1; v < V; v++)
    if (logits[v] > logits[best]) best = v;
  return best;
}

/* MASE of the model's greedy forecasts and of the two baselines over the held-out windows. */
typedef struct mase_result {
  double model, seasonal_naive, naive;
  int windows;
} mase_result;

static lbbt_status evaluate_mase(ts_state *s, mase_result *r) {
  const ts_keys *k = s->k;
  const int C = k->context, H = k->horizon, H1 = H + 1, V = k->n_tokens;
  const int m = k->season < C ? k->season : 1;
  double sum_model = 0, sum_snaive = 0, sum_naive = 0;
  int counted = 0;
  for (int w0 = 0; w0 < s->n_eval; w0 += s->batch) {
    int B = s->n_eval - w0 < s->batch ? s->n_eval - w0 : s->batch;
    for (int b = 0; b < B; b++) tokenize_window(s, b, s->eval[w0 + b]);
    /* greedy decoding: step j reads PAD + the j tokens forecast so far; the encoder runs
     * once per batch (the arena keeps its output across the steps) */
    eval_mode(s->tape, 1);
    lbbt_tensor *mem;
    LBBT_TRY(s->model->ops->forward_language(s->model, s->tape, s->enc_ids, B, C + 1, &mem, NULL));
    for (int j = 0; j < H; j++) {
      /* the decoder rows are H + 1 apart in the buffer; run length j + 1 on a packed copy */
      int32_t *packed = lbbt_tape_alloc(s->tape, (size_t)B * (j + 1) * sizeof *packed);
      if (!packed) return LBBT_E_NOMEM;
      for (int b = 0; b < B; b++)
        memcpy(packed + (size_t)b * (j + 1), s->dec_ids + (size_t)b * H1, (size_t)(j + 1) * sizeof *packed);
      lbbt_tensor *logits;
      LBBT_TRY(t5_decoder_forward(s->tape, &s->dec, packed, B, j + 1, mem, NULL, &logits));
      for (int b = 0; b < B; b++) {
        const float *row = logits->data + ((size_t)b * (j + 1) + j) * V;
        s->dec_ids[(size_t)b * H1 + j + 1] = argmax_bin(row, V, s->tok.n_special + 1);
      }
    }
    for (int b = 0; b < B; b++) {
      const ts_window w = s->eval[w0 + b];
      const float *x = s->series + (size_t)w.series * k->series_length + w.start;
      double scale = 0;
      for (int t = m; t < C; t++) scale += fabs((double)x[t] - x[t - m]);
      scale /= (double)(C - m);
      if (!(scale > 0)) continue; /* a constant context: MASE undefined */
      double em = 0, es = 0, en = 0;
      for (int h = 0; h < H; h++) {
        double truth = x[C + h];
        double fm = lbbt_series_decode(&s->tok, s->dec_ids[(size_t)b * H1 + h + 1], s->scales[b]);
        double fs = x[C - m + h % m];
        double fn = x[C - 1];
        em += fabs(fm - truth);
        es += fabs(fs - truth);
        en += fabs(fn - truth);
      }
      sum_model += em / H / scale;
      sum_snaive += es / H / scale;
      sum_naive += en / H / scale;
      counted++;
    }
  }
  eval_mode(s->tape, 0);
  r->windows = counted;
  r->model = counted ? sum_model / counted : NAN;
  r->seasonal_naive = counted ? sum_snaive / counted : NAN;
  r->naive = counted ? sum_naive / counted : NAN;
  return LBBT_OK;
}

/* ---- saving --------------------------------------------------------------------------------- */
/* The T5 (Hugging Face layout, config with chronos_config) and what made it, into dir. */
static lbbt_status save_model(lbbt_stage_ctx *ctx, ts_state *s, const char *dir, int64_t steps,
                              const char *snapshot, double fraction, double loss) {
  if (lbbt_dist_rank() != 0) return LBBT_OK;
  const ts_keys *k = s->k;
  LBBT_TRY(snapshots_make_dirs(dir));
  LBBT_TRY(s->model->ops->save(s->model, dir));
  json_t *chronos = json_pack("{s:{s:s, s:{s:f, s:f}, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:s}}",
                              "chronos_config", "tokenizer_class", "MeanScaleUniformBins",
                              "tokenizer_kwargs", "low_limit", s->tok.low, "high_limit", s->tok.high,
                              "n_tokens", k->n_tokens, "n_special_tokens", s->tok.n_special,
                              "pad_token_id", LBBT_SERIES_PAD, "eos_token_id", LBBT_SERIES_EOS,
                              "context_length", k->context, "prediction_length", k->horizon,
                              "use_eos_token", 1, "model_type", "seq2seq");
  if (!chronos) return lbbt_fail(LBBT_E_NOMEM, "ts-pretrain: out of memory");
  lbbt_status st = t5_decoder_patch_config(dir, &s->dcfg, chronos);
  json_decref(chronos);
  LBBT_TRY(st);
  json_t *info = json_object();
  if (!info) return lbbt_fail(LBBT_E_NOMEM, "ts-pretrain: out of memory");
  json_object_set_new(info, "made_by", json_string("lbbt ts-pretrain"));
  json_object_set_new(info, "experiment", json_string(ctx->exp->name));
  json_object_set_new(info, "tier", json_string(ctx->exp->tier));
  json_object_set_new(info, "run_id", json_string(ctx->run->id));
  json_object_set_new(info, "stage", json_string(ctx->stage->name));
  if (snapshot) json_object_set_new(info, "snapshot", json_string(snapshot));
  json_object_set_new(info, "fraction", json_real(fraction));
  json_object_set_new(info, "steps", json_integer(steps));
  json_object_set_new(info, "steps_total", json_integer((json_int_t)ctx->stage->epochs * k->steps_per_epoch));
  json_object_set_new(info, "windows_seen", json_integer(steps * ctx->stage->batch_size));
  json_object_set_new(info, "tokens_seen",
                      json_integer(steps * ctx->stage->batch_size * (k->context + k->horizon + 2)));
  json_object_set_new(info, "val_loss", json_real(loss));
  json_object_set_new(info, "corpus", json_pack("{s:s, s:i, s:i, s:i, s:i}", "kind", "KernelSynth",
                                                "n_series", k->n_series, "series_length",
                                                k->series_length, "max_kernels", k->max_kernels,
                                                "seed", k->corpus_seed));
  char path[LBBT_PATH_MAX + 64];
  snprintf(path, sizeof path, "%s/%s", dir, PRETRAIN_INFO_FILE);
  st = lbbt_json_write_file(path, info);
  json_decref(info);
  return st;
}

static lbbt_status snapshot(lbbt_stage_ctx *ctx, ts_state *s, int64_t steps, int64_t total, double loss) {
  if (isnan(loss)) LBBT_TRY(evaluate_loss(s, &loss));
  for (int i = 0; i < s->snaps.n; i++) {
    if (snapshots_step(&s->snaps, i, total) != steps) continue;
    char dir[LBBT_PATH_MAX + SNAPSHOT_NAME_MAX + 2];
    snprintf(dir, sizeof dir, "%s/%s", s->k->out, s->snaps.name[i]);
    LBBT_TRY(save_model(ctx, s, dir, steps, s->snaps.name[i], s->snaps.fraction[i], loss));
    LBBT_TRY(lbbt_stage_append(ctx, "snapshot_fraction", s->snaps.fraction[i]));
    LBBT_TRY(lbbt_stage_append(ctx, "snapshot_steps", (double)steps));
    LBBT_TRY(lbbt_stage_append(ctx, "snapshot_val_loss", loss));
    lbbt_progress_log(ctx->progress, "ts-pretrain: snapshot %s after %lld of %lld steps -> %s (val loss %.3f)",
                      s->snaps.name[i], (long long)steps, (long long)total, dir, loss);
  }
  return LBBT_OK;
}

/* ---- training ------------------------------------------------------------------------------ */
typedef struct ts_loop {
  lbbt_stage_ctx *ctx;
  ts_state *s;
  int64_t total;
} ts_loop;

static lbbt_status batch_loss(void *user, lbbt_tape *tape, int64_t step, lbbt_train_batch *out) {
  ts_loop *l = user;
  ts_state *s = l->s;
  const ts_keys *k = s->k;
  const int B = l->ctx->stage->batch_size, H1 = k->horizon + 1;
  lbbt_rng r;
  lbbt_rng_derive(&r, s->seed, "ts-windows", (uint64_t)step);
  const uint32_t span = (uint32_t)(k->series_length - k->context - k->horizon + 1);
  for (int b = 0; b < B; b++) {
    ts_window w = {(int32_t)lbbt_rng_below(&r, (uint32_t)s->n_train), 0};
    w.start = (int32_t)lbbt_rng_below(&r, span);
    tokenize_window(s, b, w);
  }
  lbbt_rng_derive(lbbt_tape_rng(tape), s->seed, "ts-dropout", (uint64_t)step);
  lbbt_tensor *logits;
  LBBT_TRY(forward(s, tape, B, H1, &logits));
  LBBT_TRY(token_loss(tape, logits, s->labels, (int64_t)B * H1, &out->loss));
  out->weight = 1.0;
  out->items = B; /* windows */
  return LBBT_OK;
}

static lbbt_status record_mase(lbbt_stage_ctx *ctx, ts_state *s, const char *prefix) {
  mase_result r;
  LBBT_TRY(evaluate_mase(s, &r));
  char key[64];
  snprintf(key, sizeof key, "%s", prefix);
  LBBT_TRY(lbbt_stage_scalar(ctx, key, r.model));
  if (!strcmp(prefix, "mase_model")) {
    LBBT_TRY(lbbt_stage_scalar(ctx, "mase_seasonal_naive", r.seasonal_naive));
    LBBT_TRY(lbbt_stage_scalar(ctx, "mase_naive", r.naive));
    LBBT_TRY(lbbt_stage_scalar(ctx, "mase_ratio", r.model / r.seasonal_naive));
    LBBT_TRY(lbbt_stage_scalar(ctx, "mase_windows", r.windows));
  }
  lbbt_progress_log(ctx->progress, "ts-pretrain: held-out MASE over %d windows (season %d): %s %.3f, "
                    "seasonal naive %.3f, naive %.3f", r.windows, s->k->season,
                    strcmp(prefix, "mase_model") ? "untrained model" : "model", r.model,
                    r.seasonal_naive, r.naive);
  return LBBT_OK;
}

static lbbt_status begin(void *user, int start_epoch) {
  ts_loop *l = user;
  ts_state *s = l->s;
  LBBT_TRY(lbbt_stage_scalar(l->ctx, "steps_total", (double)l->total));
  LBBT_TRY(lbbt_stage_string(l->ctx, "out", s->k->out));
  if (start_epoch > 0) return LBBT_OK;
  double loss0 = 0;
  LBBT_TRY(evaluate_loss(s, &loss0));
  LBBT_TRY(lbbt_stage_scalar(l->ctx, "val_loss_init", loss0));
  LBBT_TRY(record_mase(l->ctx, s, "mase_model_init"));
  if (snapshots_due(&s->snaps, 0, l->total)) LBBT_TRY(snapshot(l->ctx, s, 0, l->total, loss0));
  return LBBT_OK;
}

static lbbt_status after_step(void *user, int64_t steps_done) {
  ts_loop *l = user;
  if (steps_done < l->total && snapshots_due(&l->s->snaps, steps_done, l->total))
    LBBT_TRY(snapshot(l->ctx, l->s, steps_done, l->total, NAN));
  return LBBT_OK;
}

static lbbt_status end_epoch(void *user, const lbbt_train_epoch *e) {
  ts_loop *l = user;
  lbbt_stage_ctx *ctx = l->ctx;
  ts_state *s = l->s;
  double vloss = 0;
  LBBT_TRY(evaluate_loss(s, &vloss));
  double wps = e->train_seconds > 0 ? (double)e->items / e->train_seconds : 0;
  LBBT_TRY(lbbt_stage_append(ctx, "train_loss", e->mean_loss));
  LBBT_TRY(lbbt_stage_append(ctx, "val_loss", vloss));
  LBBT_TRY(lbbt_stage_append(ctx, "windows_per_s", wps));
  LBBT_TRY(lbbt_stage_append(ctx, "lr", e->lr));
  LBBT_TRY(lbbt_stage_append(ctx, "grad_norm", e->grad_norm));
  LBBT_TRY(lbbt_stage_append(ctx, "seconds", lbbt_train_now() - e->started));
  LBBT_TRY(lbbt_stage_append(ctx, "steps", (double)e->steps_done));
  lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s epoch %d/%d: train loss %.4f, val loss %.4f, "
                    "%.1f windows/s", ctx->run_index + 1, ctx->n_runs, ctx->run->id, ctx->stage->name,
                    e->epoch + 1, e->epochs, e->mean_loss, vloss, wps);
  if (e->epoch + 1 < e->epochs) return LBBT_OK;
  /* The last epoch: the model folder is written before the checkpoint that marks the stage
   * done (the loop saves it after this returns), so a kill in between redoes this epoch. */
  if (snapshots_due(&s->snaps, l->total, l->total)) LBBT_TRY(snapshot(ctx, s, l->total, l->total, vloss));
  LBBT_TRY(save_model(ctx, s, s->k->out, l->total, NULL, 1.0, vloss));
  LBBT_TRY(lbbt_stage_scalar(ctx, "val_loss_final", vloss));
  LBBT_TRY(record_mase(ctx, s, "mase_model"));
  lbbt_progress_log(ctx->progress, "ts-pretrain: model -> %s", s->k->out);
  return LBBT_OK;
}

static lbbt_status train(lbbt_stage_ctx *ctx, ts_state *s) {
  const lbbt_stage_spec *st = ctx->stage;
  ts_loop l = {ctx, s, (int64_t)st->epochs * s->k->steps_per_epoch};
  lbbt_train_loop loop = {0};
  loop.ctx = ctx;
  loop.opt = s->opt;
  loop.tape = s->tape;
  loop.epochs = st->epochs;
  loop.steps_per_epoch = s->k->steps_per_epoch;
  loop.lr = st->lr;
  loop.min_lr = st->lr * s->k->min_lr_ratio;
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
  ts_state s;
  memset(&s, 0, sizeof s);
  s.k = lbbt_stage_options(ctx->stage);
  lbbt_status st = check_options(ctx->stage, ctx->exp->file, &s.snaps);
  /* before any work: the folder is where lbbt may write, and no other run's model */
  if (st == LBBT_OK) st = lbbt_output_path_check(ctx, s.k->out, "ts-pretrain option out");
  if (st == LBBT_OK) st = lbbt_output_model_check(ctx, s.k->out, PRETRAIN_INFO_FILE);
  s.seed = ctx->run->seed ^ lbbt_hash_str(ctx->stage->name);
  if (st == LBBT_OK) st = lbbt_series_tokenizer_init(&s.tok, s.k->n_tokens, -15.0, 15.0);
  if (st == LBBT_OK && ctx->stage->batch_size < 1)
    st = lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': batch_size must be >= 1", ctx->exp->file, ctx->stage->name);
  if (st == LBBT_OK) st = make_corpus(ctx, &s);
  if (st == LBBT_OK) st = build_model(ctx, &s);
  if (st == LBBT_OK) st = train(ctx, &s);
  ts_state_free(&s);
  return st;
}

/* The stage builds its own data and model: the runner prepares nothing. */
static lbbt_status needs(const lbbt_stage_spec *s, lbbt_task_needs *out) {
  (void)s;
  out->what = 0;
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
    .name = "ts-pretrain",
    .summary = "pretrain a Chronos-style T5 encoder-decoder on KernelSynth time series; saves snapshots",
    .task = &TASK_OPS,
    .options = &OPTIONS,
};
