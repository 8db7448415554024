/* Analysis `activation-ratio` (Section 6, Eqs. 5-6, Figure 7): the share of (image, MLP
 * neuron) pairs whose token-averaged activation exceeds tau, per transformer block.
 *
 * The model's activation hook receives "mlp.act" [B, T, H] per block during an eval-mode
 * forward pass (no dropout or drop-path, nothing recorded for gradients): the MLP hidden
 * activations after the nonlinearity (GELU for GPT-2; SiLU of the gate for LLaMA's SwiGLU,
 * before the product with the up projection).  Visual tokens only: with `pool: cls` the
 * class token (position 0) is left out of the token average (lbbt/activation_ratio.h).
 *
 * Images: `images` of the `split` (default: 1000 test images, class-balanced, drawn with
 * subset_seed; all of them when the split has fewer), without augmentation.
 *
 * Records under "<stage>/":
 *   ratio              f32 [L]     r_l of Eq. 6 (fraction in [0, 1])
 *   neuron_frequency   f32 [L, H]  per neuron, the fraction of images that activate it
 *   mean_activation    f32 [L]     mean over images and neurons of the token average
 *   ratio_mean         scalar      mean of r_l over blocks
 *   images, hidden, first_token   scalars;  indices  i32 [N] (dataset indices used)
 *   options/<key>      the options in effect (tau among them) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/activation_ratio.h"
#include "lbbt/analysis_util.h"
#include "lbbt/plugin.h"
#include "lbbt/runner.h"
#include "lbbt/train.h"

#define PLUGIN_NAME "activation-ratio"

typedef struct activation_ratio_options {
  int images;
  double tau;
  char split[16];
  int batch_size;
  int subset_seed;
} activation_ratio_options;

#define O activation_ratio_options
static const char *const SPLIT_NAMES[] = {"test", "train"};
static const lbbt_key KEYS[] = {
    {.name = "images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, images), .def = "1000", LBBT_KEY_RANGE(1, 1e7),
     .doc = "images measured (class-balanced; all when fewer)"},
    {.name = "tau", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, tau), .def = "0", LBBT_KEY_RANGE(-1e6, 1e6),
     .doc = "a neuron is activated by an image when its token average exceeds tau"},
    {.name = "split", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, split), .def = "test", LBBT_KEY_NAMES(SPLIT_NAMES),
     .doc = "which split the images come from"},
    {.name = "batch_size", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, batch_size), .def = "100", LBBT_KEY_RANGE(1, 100000),
     .doc = "images per forward pass"},
    {.name = "subset_seed", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, subset_seed), .def = "0", LBBT_KEY_RANGE(0, 2147483647),
     .doc = "seed of the class-balanced image choice"},
};
#undef O
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(activation_ratio_options, KEYS, "Which images and the activation threshold.");

/* What the hook accumulates across batches. */
typedef struct hook_state {
  int n_layers;
  int64_t hidden;          /* H, from the first call (0 before) */
  int64_t first_token;     /* 1 with a class token */
  double tau;
  int64_t *counts;         /* [L, H] images activating each neuron */
  int64_t *pairs;          /* [L] */
  double *act_sum;         /* [L] sum of token averages over images and neurons */
  int *seen;               /* [L] calls in the current batch, to catch a missing block */
  lbbt_status st;          /* first failure inside the hook */
  char err[512];
  lbbt_activation_hook prev_hook;
  void *prev_user;
} hook_state;

static void on_activation(void *user, const char *what, int layer, const lbbt_tensor *x) {
  hook_state *h = user;
  if (h->prev_hook) h->prev_hook(h->prev_user, what, layer, x);
  if (strcmp(what, "mlp.act") || h->st != LBBT_OK) return;
  if (layer < 0 || layer >= h->n_layers || x->ndim != 3) {
    h->st = lbbt_fail(LBBT_E_INTERNAL, "activation-ratio: hook got mlp.act for block %d with %d dims "
                      "(model has %d blocks; expected [B, T, H])", layer, x->ndim, h->n_layers);
    snprintf(h->err, sizeof h->err, "%s", lbbt_last_error());
    return;
  }
  int64_t B = x->shape[0], T = x->shape[1], H = x->shape[2];
  if (!h->hidden) {
    h->hidden = H;
    h->counts = calloc((size_t)h->n_layers * (size_t)H, sizeof *h->counts);
    if (!h->counts) {
      h->st = lbbt_fail(LBBT_E_NOMEM, "activation-ratio: out of memory for %d x %lld counts",
                        h->n_layers, (long long)H);
      snprintf(h->err, sizeof h->err, "%s", lbbt_last_error());
      return;
    }
  }
  if (H != h->hidden) {
    h->st = lbbt_fail(LBBT_E_UNSUPPORTED, "activation-ratio: block %d has MLP width %lld, block 0 "
                      "%lld; varying widths are not supported", layer, (long long)H, (long long)h->hidden);
    snprintf(h->err, sizeof h->err, "%s", lbbt_last_error());
    return;
  }
  h->st = lbbt_activation_count(x->data, B, T, H, h->first_token, h->tau, h->counts + (int64_t)layer * H,
                                &h->pairs[layer]);
  if (h->st != LBBT_OK) {
    snprintf(h->err, sizeof h->err, "%s", lbbt_last_error());
    return;
  }
  /* mean of the token averages: sum over (b, j) of mean_t = sum over (b, t, j) / T' */
  double s = 0;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = h->first_token; t < T; t++) {
      const float *row = x->data + (b * T + t) * H;
      for (int64_t j = 0; j < H; j++) s += row[j];
    }
  h->act_sum[layer] += s / (double)(T - h->first_token);
  h->seen[layer]++;
}

static lbbt_status forward_all(lbbt_stage_ctx *ctx, const lbbt_dataset *ds, const int32_t *idx,
                               int64_t n, int batch, hook_state *h) {
  lbbt_model *m = ctx->model;
  int64_t per = lbbt_dataset_image_numel(ds);
  float *img = malloc((size_t)batch * (size_t)per * sizeof *img);
  lbbt_tape *t = NULL;
  lbbt_status st = img ? lbbt_tape_create(&t) : lbbt_fail(LBBT_E_NOMEM, "activation-ratio: out of memory");
  if (st != LBBT_OK) {
    free(img);
    return st;
  }
  lbbt_tape_set_training(t, 0);
  lbbt_tape_set_recording(t, 0);
  h->prev_hook = m->hook;
  h->prev_user = m->hook_user;
  m->hook = on_activation;
  m->hook_user = h;
  for (int64_t start = 0; start < n && st == LBBT_OK; start += batch) {
    int64_t count = n - start < batch ? n - start : batch;
    st = lbbt_dataset_gather_f32(ds, idx + start, count, NULL, img, NULL);
    if (st != LBBT_OK) break;
    lbbt_tape_reset(t);
    lbbt_tensor *x, *f;
    int64_t shape[4] = {count, ds->channels, ds->height, ds->width};
    memset(h->seen, 0, (size_t)h->n_layers * sizeof *h->seen);
    st = lbbt_tape_input(t, 4, shape, img, &x);
    if (st == LBBT_OK) st = m->ops->forward_vision(m, t, x, &f, NULL);
    if (st == LBBT_OK && h->st != LBBT_OK) st = lbbt_fail(h->st, "%s", h->err);
    for (int l = 0; l < h->n_layers && st == LBBT_OK; l++)
      if (h->seen[l] != 1)
        st = lbbt_fail(LBBT_E_UNSUPPORTED, "activation-ratio: block %d reported \"mlp.act\" %d times in "
                       "one forward pass (expected once); does the %s backbone call the hook?", l,
                       h->seen[l], m->arch);
  }
  m->hook = h->prev_hook;
  m->hook_user = h->prev_user;
  lbbt_tape_free(t);
  free(img);
  return st;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  const lbbt_stage_spec *s = ctx->stage;
  const activation_ratio_options *o = lbbt_stage_options(s);
  double images, tau, batch, subset_seed;
  images = o->images;
  tau = o->tau;
  batch = o->batch_size;
  subset_seed = o->subset_seed;
  const lbbt_dataset *ds = strcmp(o->split, "train") ? ctx->test : ctx->train;
  LBBT_TRY(lbbt_stage_options_record(ctx, &OPTIONS));
  int L = ctx->model->n_layers;
  if (L < 1)
    return lbbt_fail(LBBT_E_INPUT, "activation-ratio: the %s model has no transformer blocks", ctx->model->arch);
  int32_t *idx = NULL;
  int64_t n = 0;
  LBBT_TRY(lbbt_analysis_pick_images(ds, (int64_t)images, (uint64_t)subset_seed, "activation-ratio", &idx, &n));
  hook_state h;
  memset(&h, 0, sizeof h);
  h.n_layers = L;
  h.tau = tau;
  h.first_token = ctx->run->backbone.pool == LBBT_POOL_CLS ? 1 : 0;
  h.pairs = calloc((size_t)L, sizeof *h.pairs);
  h.act_sum = calloc((size_t)L, sizeof *h.act_sum);
  h.seen = calloc((size_t)L, sizeof *h.seen);
  float *ratio = malloc((size_t)L * sizeof *ratio), *mean_act = malloc((size_t)L * sizeof *mean_act);
  float *freq = NULL;
  lbbt_status st = h.pairs && h.act_sum && h.seen && ratio && mean_act
                       ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "activation-ratio: out of memory");
  if (st == LBBT_OK) st = forward_all(ctx, ds, idx, n, (int)batch, &h);
  if (st == LBBT_OK && !h.hidden)
    st = lbbt_fail(LBBT_E_UNSUPPORTED, "activation-ratio: the %s backbone never reported \"mlp.act\"",
                   ctx->model->arch);
  if (st == LBBT_OK) {
    freq = malloc((size_t)L * (size_t)h.hidden * sizeof *freq);
    if (!freq) st = lbbt_fail(LBBT_E_NOMEM, "activation-ratio: out of memory");
  }
  double ratio_mean = 0;
  if (st == LBBT_OK) {
    double pairs_total = (double)n * (double)h.hidden;
    for (int l = 0; l < L; l++) {
      ratio[l] = (float)((double)h.pairs[l] / pairs_total);
      mean_act[l] = (float)(h.act_sum[l] / pairs_total);
      ratio_mean += ratio[l] / L;
      for (int64_t j = 0; j < h.hidden; j++)
        freq[(int64_t)l * h.hidden + j] = (float)((double)h.counts[(int64_t)l * h.hidden + j] / (double)n);
    }
    int64_t s1[1] = {L}, s2[2] = {L, h.hidden}, si[1] = {n};
    LBBT_TRY_GOTO(st, lbbt_stage_array_f32(ctx, "ratio", 1, s1, ratio), done);
    LBBT_TRY_GOTO(st, lbbt_stage_array_f32(ctx, "mean_activation", 1, s1, mean_act), done);
    LBBT_TRY_GOTO(st, lbbt_stage_array_f32(ctx, "neuron_frequency", 2, s2, freq), done);
    LBBT_TRY_GOTO(st, lbbt_stage_array_i32(ctx, "indices", 1, si, idx), done);
    LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "ratio_mean", ratio_mean), done);
    LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "images", (double)n), done);
    LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "hidden", (double)h.hidden), done);
    LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "first_token", (double)h.first_token), done);
    char line[512] = "";
    for (int l = 0; l < L; l++) {
      char b[32];
      snprintf(b, sizeof b, "%s%.3f", l ? " " : "", ratio[l]);
      strncat(line, b, sizeof line - strlen(line) - 1);
    }
    lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s: activation ratio per block (tau %g, %lld images): %s",
                      ctx->run_index + 1, ctx->n_runs, ctx->run->id, s->name, tau, (long long)n, line);
  }
done:
  free(idx);
  free(h.counts);
  free(h.pairs);
  free(h.act_sum);
  free(h.seen);
  free(ratio);
  free(mean_act);
  free(freq);
  return st;
}

static const lbbt_analysis_ops OPS = {
    .version = LBBT_TASK_OPS_VERSION,
    .run = run,
};

LBBT_PLUGIN_EXPORT const lbbt_plugin lbbt_plugin_descriptor = {
    .abi_version = LBBT_ABI_VERSION,
    .struct_size = sizeof(lbbt_plugin),
    .kind = LBBT_KIND_ANALYSIS,
    .name = PLUGIN_NAME,
    .summary = "share of (image, MLP neuron) pairs whose token-averaged activation exceeds tau, per block (Eqs. 5-6)",
    .task = &OPS,
    .options = &OPTIONS,
};
