/* Task plugin `ssl`: self-supervised pretraining of the run's vision model by a pretext task,
 * the baselines of the paper's Table 7 (docs/ssl.md).  The stage trains the same model a
 * bridge stage would, with the same loop (schedule, clipping, drop-path, checkpoints), for
 * its epochs over the training images (so the same images seen as a bridge of as many
 * epochs); its pretext head is the task's own and is dropped after the stage, so a following
 * linear-probe stage scores the backbone's pooled features exactly as it scores LBBT's.
 *
 *   method: rotation  each image rotated by k * 90 degrees, k drawn per image and epoch;
 *                     a linear head on the pooled features predicts k (4-way; Gidaris et
 *                     al. 2018).  Images get the run's data augmentation (crop, flip).
 *   method: simclr    two views of each image (random resized crop, flip, brightness /
 *                     contrast jitter, Gaussian blur: the batcher's view augmentations); a
 *                     projection MLP (Linear, ReLU, Linear) on the pooled features; NT-Xent
 *                     with `temperature`, the batch's other 2B - 2 views as negatives.
 *   method: mae       a share mask_ratio of the patches masked per image and epoch; the
 *                     encoder (the model's forward_vision_tokens) sees the visible ones; a
 *                     light decoder (linear embedding, mask token, new positions, decoder
 *                     blocks, norm, linear) reconstructs each patch's normalised pixels;
 *                     loss on the masked patches only (He et al. 2022).
 *
 * Per epoch under "<stage>/": train_loss, train_acc1 (the pretext accuracy: rotation
 * predicted, or the other view ranked first; absent for mae), lr, grad_norm, images_per_s,
 * seconds; once: trainable_params, pretext_params, epochs, and the options. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lbbt/analysis_util.h"
#include "lbbt/nn.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/param_init.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"
#include "lbbt/train.h"
#include "lbbt/train_loop.h"
#include "shared/pretext.h"

#define PLUGIN_NAME "ssl"
#define MAX_DECODER_DEPTH 8

/* ---- options ------------------------------------------------------------------------------ */
enum { METHOD_ROTATION, METHOD_MAE, METHOD_SIMCLR };
typedef struct ssl_options {
  int method;
  double temperature;
  int proj_hidden, proj_dim;
  double crop_scale_min, jitter_p, brightness, contrast, blur_p;
  double mask_ratio;
  int decoder_dim, decoder_depth, decoder_heads, norm_pix;
} ssl_options;

#define O ssl_options
static const char *const METHODS[] = {"rotation", "mae", "simclr"};
static const lbbt_key KEYS[] = {
    {.name = "method", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(O, method), .def = NULL, LBBT_KEY_NAMES(METHODS),
     .doc = "the pretext task: rotation (4-way), mae (masked patches), simclr (two views, NT-Xent)"},
    {.name = "temperature", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, temperature), .def = "0.2",
     LBBT_KEY_RANGE(0, 100), .flags = LBBT_KEY_MIN_EXCLUSIVE, .doc = "simclr: NT-Xent temperature"},
    {.name = "proj_hidden", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, proj_hidden), .def = "0",
     LBBT_KEY_RANGE(0, 1 << 16), .doc = "simclr: projection MLP hidden width; 0 = the model's width"},
    {.name = "proj_dim", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, proj_dim), .def = "64", LBBT_KEY_RANGE(1, 1 << 16),
     .doc = "simclr: projection output width"},
    {.name = "crop_scale_min", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, crop_scale_min), .def = "0.08",
     LBBT_KEY_RANGE(0, 1), .flags = LBBT_KEY_MIN_EXCLUSIVE, .doc = "simclr: smallest area share of a view's crop"},
    {.name = "jitter_p", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, jitter_p), .def = "0.8", LBBT_KEY_RANGE(0, 1),
     .doc = "simclr: probability of brightness/contrast jitter per view"},
    {.name = "brightness", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, brightness), .def = "0.4",
     LBBT_KEY_RANGE(0, 10), .doc = "simclr: brightness factor range 1 +- brightness"},
    {.name = "contrast", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, contrast), .def = "0.4", LBBT_KEY_RANGE(0, 10),
     .doc = "simclr: contrast factor range 1 +- contrast"},
    {.name = "blur_p", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, blur_p), .def = "0.5", LBBT_KEY_RANGE(0, 1),
     .doc = "simclr: probability of a Gaussian blur per view (sigma 0.1-2, kernel 10% of the side)"},
    {.name = "mask_ratio", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, mask_ratio), .def = "0.75",
     LBBT_KEY_RANGE(0, 1), .flags = LBBT_KEY_MIN_EXCLUSIVE | LBBT_KEY_MAX_EXCLUSIVE,
     .doc = "mae: share of each image's patches masked"},
    {.name = "decoder_dim", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, decoder_dim), .def = "64",
     LBBT_KEY_RANGE(1, 1 << 14), .doc = "mae: decoder width"},
    {.name = "decoder_depth", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, decoder_depth), .def = "1",
     LBBT_KEY_RANGE(1, MAX_DECODER_DEPTH), .doc = "mae: decoder transformer blocks"},
    {.name = "decoder_heads", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, decoder_heads), .def = "4",
     LBBT_KEY_RANGE(1, 256), .doc = "mae: decoder attention heads (must divide decoder_dim)"},
    {.name = "norm_pix", .type = LBBT_KEY_BOOL, LBBT_KEY_FIELD(O, norm_pix), .def = "true",
     .doc = "mae: reconstruct per-patch normalised pixels (MAE's norm_pix_loss)"},
};
#undef O
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(ssl_options, KEYS, "The pretext task and its settings (docs/ssl.md).");

static const ssl_options *opts(const lbbt_stage_spec *s) { return lbbt_stage_options(s); }

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  const ssl_options *o = opts(s);
  if (s->batch_size < 2)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': batch_size must be >= 2", file, s->name);
  if (o->method == METHOD_MAE && o->decoder_dim % o->decoder_heads) {
    const lbbt_option *w = lbbt_option_find(s->options, s->n_options, "decoder_heads");
    return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': decoder_heads %d does not divide decoder_dim %d", file,
                     w ? w->line : 0, w ? w->col : 0, s->name, o->decoder_heads, o->decoder_dim);
  }
  return LBBT_OK;
}

/* ---- the stage's state ----------------------------------------------------------------------- */
typedef struct ssl_job {
  lbbt_stage_ctx *ctx;
  const ssl_options *o;
  lbbt_batcher *views[2];  /* simclr: two; the others: views[0] */
  float *images;           /* [2B, C, H, W] (simclr: view 0 then view 1) */
  float *rotated;          /* rotation: [B, C, H, W] */
  int32_t *labels, *indices;
  lbbt_model *aux;         /* the pretext head / decoder: the task's own parameters */
  lbbt_optim *opt;
  int64_t correct, seen;
  /* mae */
  int patch, grid, n_patches, n_keep;
  int32_t *visible, *restore;
  uint8_t *mask;
  float *targets;
  lbbt_tensor *dec_embed_w, *dec_embed_b, *mask_token, *dec_pos, *dec_norm_w, *dec_norm_b, *pred_w, *pred_b;
  lbbt_block blocks[MAX_DECODER_DEPTH];
  lbbt_tensor *w1, *b1, *w2, *b2; /* rotation head (w1, b1) or simclr projection */
} ssl_job;

static lbbt_status add_linear(lbbt_model *aux, const char *name, int64_t out, int64_t in, uint64_t seed,
                              lbbt_tensor **w, lbbt_tensor **b) {
  char wn[128], bn[128];
  snprintf(wn, sizeof wn, "ssl.%s.weight", name);
  snprintf(bn, sizeof bn, "ssl.%s.bias", name);
  int64_t ws[2] = {out, in}, bs[1] = {out};
  LBBT_TRY(lbbt_model_add_param(aux, wn, LBBT_PART_HEAD, 0, 0, 2, ws, w));
  LBBT_TRY(lbbt_model_add_param(aux, bn, LBBT_PART_HEAD, 0, 1, 1, bs, b));
  /* nn.Linear's default init: U(-1/sqrt(in), 1/sqrt(in)) for both */
  double bound = 1.0 / sqrt((double)in);
  LBBT_TRY(lbbt_init_uniform(*w, seed, wn, -bound, bound));
  return lbbt_init_uniform(*b, seed, bn, -bound, bound);
}

/* The MAE decoder, as MAE's (decoder_embed, mask_token, decoder_pos_embed, decoder_blocks,
 * decoder_norm, decoder_pred) at the chosen width and depth; positions learned (MAE's are
 * fixed sin-cos: a simplification, docs/ssl.md). */
static lbbt_status build_decoder(ssl_job *j, int dim, int in_channels, uint64_t seed) {
  const ssl_options *o = j->o;
  const int Dd = o->decoder_dim, P = j->patch;
  LBBT_TRY(add_linear(j->aux, "decoder_embed", Dd, dim, seed, &j->dec_embed_w, &j->dec_embed_b));
  int64_t ms[1] = {Dd}, ps[2] = {j->n_patches, Dd};
  LBBT_TRY(lbbt_model_add_param(j->aux, "ssl.mask_token", LBBT_PART_EMBED, 0, 1, 1, ms, &j->mask_token));
  LBBT_TRY(lbbt_init_normal(j->mask_token, seed, "ssl.mask_token", 0, 0.02));
  LBBT_TRY(lbbt_model_add_param(j->aux, "ssl.decoder_pos_embed", LBBT_PART_EMBED, 0, 1, 2, ps, &j->dec_pos));
  LBBT_TRY(lbbt_init_trunc_normal(j->dec_pos, seed, "ssl.decoder_pos_embed", 0, 0.02, -2, 2));
  lbbt_block_config bc = {0};
  bc.dim = Dd;
  bc.n_heads = bc.n_kv_heads = o->decoder_heads;
  bc.head_dim = Dd / o->decoder_heads;
  bc.hidden_dim = 4 * Dd;
  bc.norm = LBBT_NORM_LAYERNORM;
  bc.norm_eps = 1e-6f;
  bc.mlp = LBBT_MLP_GELU;
  bc.gelu = LBBT_GELU_ERF;
  bc.layout = LBBT_W_OUT_IN;
  const lbbt_block_names names = {.norm1_w = "norm1.weight", .norm1_b = "norm1.bias", .norm2_w = "norm2.weight",
                                  .norm2_b = "norm2.bias", .q_w = "attn.q.weight", .q_b = "attn.q.bias",
                                  .k_w = "attn.k.weight", .k_b = "attn.k.bias", .v_w = "attn.v.weight",
                                  .v_b = "attn.v.bias", .o_w = "attn.proj.weight", .o_b = "attn.proj.bias",
                                  .fc_w = "mlp.fc1.weight", .fc_b = "mlp.fc1.bias", .proj_w = "mlp.fc2.weight",
                                  .proj_b = "mlp.fc2.bias"};
  int first = j->aux->n_params;
  for (int l = 0; l < o->decoder_depth; l++) {
    char prefix[64];
    snprintf(prefix, sizeof prefix, "ssl.decoder_blocks.%d.", l);
    LBBT_TRY(lbbt_block_register(j->aux, &j->blocks[l], &bc, &names, prefix, l));
  }
  /* timm ViT init (MAE's): xavier-uniform weights, zero biases, unit norm gains */
  for (int i = first; i < j->aux->n_params; i++) {
    lbbt_param *p = &j->aux->params[i];
    size_t n = strlen(p->name);
    if (strstr(p->name, "norm") && !strcmp(p->name + n - 7, ".weight")) lbbt_init_constant(p->t, 1.0f);
    else if (p->t->ndim == 1) lbbt_init_constant(p->t, 0.0f);
    else LBBT_TRY(lbbt_init_xavier_uniform(p->t, seed, p->name, 1.0));
  }
  int64_t ns[1] = {Dd};
  LBBT_TRY(lbbt_model_add_param(j->aux, "ssl.decoder_norm.weight", LBBT_PART_HEAD, 0, 1, 1, ns, &j->dec_norm_w));
  LBBT_TRY(lbbt_model_add_param(j->aux, "ssl.decoder_norm.bias", LBBT_PART_HEAD, 0, 1, 1, ns, &j->dec_norm_b));
  lbbt_init_constant(j->dec_norm_w, 1.0f);
  return add_linear(j->aux, "decoder_pred", (int64_t)P * P * in_channels, Dd, seed, &j->pred_w, &j->pred_b);
}

static void job_free(ssl_job *j) {
  lbbt_batcher_free(j->views[0]);
  lbbt_batcher_free(j->views[1]);
  free(j->images);
  free(j->rotated);
  free(j->labels);
  free(j->indices);
  free(j->visible);
  free(j->restore);
  free(j->mask);
  free(j->targets);
  lbbt_optim_free(j->opt);
  lbbt_model_free(j->aux);
}

/* ---- one step per method ---------------------------------------------------------------------- */
static lbbt_status rotation_step(ssl_job *j, lbbt_tape *tape, int64_t epoch, int n, lbbt_train_batch *out) {
  const lbbt_dataset *ds = j->ctx->train;
  const int64_t numel = lbbt_dataset_image_numel(ds);
  for (int i = 0; i < n; i++) {
    lbbt_rng r;
    lbbt_rng_derive(&r, j->ctx->run->seed, "ssl-rotation", (uint64_t)epoch << 32 | (uint32_t)j->indices[i]);
    j->labels[i] = (int32_t)lbbt_rng_below(&r, 4);
    pretext_rotate90(j->images + i * numel, ds->channels, ds->height, j->labels[i], j->rotated + i * numel);
  }
  lbbt_tensor *x, *f, *logits;
  int64_t shape[4] = {n, ds->channels, ds->height, ds->width};
  LBBT_TRY(lbbt_tape_input(tape, 4, shape, j->rotated, &x));
  LBBT_TRY(j->ctx->model->ops->forward_vision(j->ctx->model, tape, x, &f, NULL));
  LBBT_TRY(lbbt_linear(tape, f, j->w1, j->b1, &logits));
  LBBT_TRY(lbbt_cross_entropy(tape, logits, j->labels, 0.0f, &out->loss));
  for (int i = 0; i < n; i++) {
    const float *row = logits->data + i * 4;
    int best = 0;
    for (int k = 1; k < 4; k++)
      if (row[k] > row[best]) best = k;
    j->correct += best == j->labels[i];
  }
  j->seen += n;
  return LBBT_OK;
}

static lbbt_status simclr_step(ssl_job *j, lbbt_tape *tape, int n, lbbt_train_batch *out) {
  const lbbt_dataset *ds = j->ctx->train;
  lbbt_tensor *x, *f, *h, *z;
  int64_t shape[4] = {2 * n, ds->channels, ds->height, ds->width};
  LBBT_TRY(lbbt_tape_input(tape, 4, shape, j->images, &x));
  LBBT_TRY(j->ctx->model->ops->forward_vision(j->ctx->model, tape, x, &f, NULL));
  LBBT_TRY(lbbt_linear(tape, f, j->w1, j->b1, &h));
  LBBT_TRY(lbbt_relu(tape, h, &h));
  LBBT_TRY(lbbt_linear(tape, h, j->w2, j->b2, &z));
  int64_t correct = 0;
  LBBT_TRY(pretext_nt_xent(tape, z, (float)j->o->temperature, &out->loss, &correct));
  j->correct += correct;
  j->seen += 2 * n;
  return LBBT_OK;
}

static lbbt_status mae_step(ssl_job *j, lbbt_tape *tape, int64_t epoch, int n, lbbt_train_batch *out) {
  const lbbt_dataset *ds = j->ctx->train;
  lbbt_model *m = j->ctx->model;
  const int N = j->n_patches, K = j->n_keep, Dd = j->o->decoder_dim;
  for (int i = 0; i < n; i++) {
    lbbt_rng r;
    lbbt_rng_derive(&r, j->ctx->run->seed, "ssl-mae-mask", (uint64_t)epoch << 32 | (uint32_t)j->indices[i]);
    pretext_random_mask(&r, N, K, j->visible + (int64_t)i * K, j->mask + (int64_t)i * N, j->restore + (int64_t)i * N);
  }
  pretext_patch_targets(j->images, n, ds->channels, ds->height, j->patch, j->o->norm_pix, j->targets);
  lbbt_tensor *x, *tok, *e, *mt, *zeros, *full, *y, *pred;
  int64_t shape[4] = {n, ds->channels, ds->height, ds->width};
  LBBT_TRY(lbbt_tape_input(tape, 4, shape, j->images, &x));
  LBBT_TRY(m->ops->forward_vision_tokens(m, tape, x, j->visible, K, &tok));
  if (tok->shape[1] == K + 1) LBBT_TRY(lbbt_slice(tape, tok, 1, 1, K, &tok)); /* the class token */
  LBBT_TRY(lbbt_linear(tape, tok, j->dec_embed_w, j->dec_embed_b, &e));  /* [n, K, Dd] */
  int64_t zs[3] = {n, N - K, Dd};
  LBBT_TRY(lbbt_tape_tensor(tape, 3, zs, &zeros));
  memset(zeros->data, 0, (size_t)zeros->numel * sizeof(float));
  LBBT_TRY(lbbt_add(tape, zeros, j->mask_token, &mt));                   /* [n, N-K, Dd] */
  lbbt_tensor *parts[2] = {e, mt};
  LBBT_TRY(lbbt_concat(tape, parts, 2, 1, &full));                       /* [visible, masked] */
  LBBT_TRY(lbbt_gather_rows(tape, full, j->restore, N, &y));             /* patch order */
  LBBT_TRY(lbbt_add(tape, y, j->dec_pos, &y));
  for (int l = 0; l < j->o->decoder_depth; l++) {
    lbbt_block_inputs in = {0};
    in.layer = l;
    LBBT_TRY(lbbt_block_forward(tape, &j->blocks[l], y, &in, &y));
  }
  LBBT_TRY(lbbt_layernorm(tape, y, j->dec_norm_w, j->dec_norm_b, 1e-6f, &y));
  LBBT_TRY(lbbt_linear(tape, y, j->pred_w, j->pred_b, &pred));           /* [n, N, P*P*C] */
  return pretext_masked_mse(tape, pred, j->targets, j->mask, &out->loss);
}

static lbbt_status begin_epoch(void *user, int epoch) {
  ssl_job *j = user;
  for (int v = 0; v < 2; v++)
    if (j->views[v]) lbbt_batcher_start_epoch(j->views[v], epoch);
  j->correct = j->seen = 0;
  return LBBT_OK;
}

/* Not sharded over MPI ranks: NT-Xent's negatives are the whole batch; every rank computes
 * the whole step (train_loop.h). */
static lbbt_status batch_loss(void *user, lbbt_tape *tape, int64_t step, lbbt_train_batch *out) {
  ssl_job *j = user;
  lbbt_stage_ctx *ctx = j->ctx;
  const int64_t nb = lbbt_batcher_num_batches(j->views[0]), b = step % nb, epoch = step / nb;
  const int64_t numel = lbbt_dataset_image_numel(ctx->train);
  int n = 0, n1 = 0;
  LBBT_TRY(lbbt_batcher_get(j->views[0], b, j->images, NULL, j->indices, &n));
  if (j->views[1]) {
    LBBT_TRY(lbbt_batcher_get(j->views[1], b, j->images + n * numel, NULL, NULL, &n1));
    if (n1 != n) return lbbt_fail(LBBT_E_INTERNAL, "ssl: the two views' batches differ (%d, %d)", n, n1);
  }
  lbbt_rng_derive(lbbt_tape_rng(tape), ctx->run->seed, "drop-path", (uint64_t)step);
  switch (j->o->method) {
    case METHOD_ROTATION: LBBT_TRY(rotation_step(j, tape, epoch, n, out)); break;
    case METHOD_SIMCLR: LBBT_TRY(simclr_step(j, tape, n, out)); break;
    default: LBBT_TRY(mae_step(j, tape, epoch, n, out)); break;
  }
  out->weight = n;
  out->items = n;
  out->progress_metric = j->seen ? (double)j->correct / (double)j->seen : NAN;
  return LBBT_OK;
}

static lbbt_status end_epoch(void *user, const lbbt_train_epoch *e) {
  ssl_job *j = user;
  lbbt_stage_ctx *ctx = j->ctx;
  double acc = j->seen ? 100.0 * (double)j->correct / (double)j->seen : NAN;
  double per_s = e->train_seconds > 0 ? (double)e->items / e->train_seconds : 0;
  LBBT_TRY(lbbt_stage_append(ctx, "train_loss", e->mean_loss));
  /* MAE has no accuracy: the item is absent (not NaN, which marks a run diverged) */
  if (j->o->method != METHOD_MAE)
    LBBT_TRY(lbbt_stage_append(ctx, "train_acc1", acc));
  LBBT_TRY(lbbt_stage_append(ctx, "lr", e->lr));
  LBBT_TRY(lbbt_stage_append(ctx, "grad_norm", e->grad_norm));
  LBBT_TRY(lbbt_stage_append(ctx, "images_per_s", per_s));
  LBBT_TRY(lbbt_stage_append(ctx, "seconds", lbbt_train_now() - e->started));
  lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s (%s) epoch %d/%d: pretext loss %.4f acc %.2f%%, %.0f img/s",
                    ctx->run_index + 1, ctx->n_runs, ctx->run->id, ctx->stage->name, METHODS[j->o->method],
                    e->epoch + 1, e->epochs, e->mean_loss, j->o->method == METHOD_MAE ? NAN : acc, per_s);
  return LBBT_OK;
}

static lbbt_status setup(ssl_job *j) {
  lbbt_stage_ctx *ctx = j->ctx;
  const lbbt_stage_spec *s = ctx->stage;
  const ssl_options *o = j->o;
  const lbbt_dataset *ds = ctx->train;
  lbbt_model *m = ctx->model;
  const int64_t B = s->batch_size, numel = lbbt_dataset_image_numel(ds);
  const uint64_t seed = ctx->run->seed ^ lbbt_hash_str(s->name); /* the pretext head's init */
  if ((o->method == METHOD_ROTATION || o->method == METHOD_MAE) && ds->height != ds->width)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': %s needs square images, the data's are %dx%d", ctx->exp->file,
                     s->name, METHODS[o->method], ds->height, ds->width);
  LBBT_TRY(lbbt_model_create(&j->aux, NULL, "ssl-head"));
  j->images = malloc((size_t)(2 * B * numel) * sizeof(float));
  j->labels = malloc((size_t)B * sizeof(int32_t));
  j->indices = malloc((size_t)B * sizeof(int32_t));
  if (!j->images || !j->labels || !j->indices) return lbbt_fail(LBBT_E_NOMEM, "ssl: out of memory");
  lbbt_batcher_config bc = {0};
  bc.batch_size = (int)B;
  bc.shuffle = 1;
  bc.seed = ctx->run->seed;
  if (o->method == METHOD_SIMCLR) { /* SimCLR's views (colour-free for grey images) */
    bc.out_size = ds->height == ds->width ? ds->height : 0;
    bc.random_resized_crop = bc.out_size > 0;
    bc.scale_min = o->crop_scale_min;
    bc.scale_max = 1.0;
    bc.flip = 1;
    bc.jitter_p = o->jitter_p;
    bc.brightness = o->brightness;
    bc.contrast = o->contrast;
    bc.blur_p = o->blur_p;
    for (int v = 0; v < 2; v++) {
      bc.view = v;
      LBBT_TRY(lbbt_batcher_create(ds, &bc, &j->views[v]));
    }
    int hidden = o->proj_hidden ? o->proj_hidden : m->dim;
    LBBT_TRY(add_linear(j->aux, "projection.0", hidden, m->dim, seed, &j->w1, &j->b1));
    LBBT_TRY(add_linear(j->aux, "projection.2", o->proj_dim, hidden, seed, &j->w2, &j->b2));
  } else { /* the run's data augmentation, as the bridge stage gets it */
    bc.crop_padding = ctx->run->data.crop_padding;
    bc.flip = ctx->run->data.flip;
    LBBT_TRY(lbbt_batcher_create(ds, &bc, &j->views[0]));
  }
  if (o->method == METHOD_ROTATION) {
    j->rotated = malloc((size_t)(B * numel) * sizeof(float));
    if (!j->rotated) return lbbt_fail(LBBT_E_NOMEM, "ssl: out of memory");
    LBBT_TRY(add_linear(j->aux, "rotation_head", 4, m->dim, seed, &j->w1, &j->b1));
  }
  if (o->method == METHOD_MAE) {
    if (m->ops->version < 2 || !m->ops->forward_vision_tokens)
      return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': mae needs a model that encodes visible patches only "
                       "(forward_vision_tokens); %s's models do not", ctx->exp->file, s->name, m->arch);
    j->patch = ctx->run->backbone.patch_size;
    if (j->patch < 1 || ds->height % j->patch)
      return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': image side %d is not a multiple of patch_size %d",
                       ctx->exp->file, s->name, ds->height, j->patch);
    j->grid = ds->height / j->patch;
    j->n_patches = j->grid * j->grid;
    j->n_keep = (int)(j->n_patches * (1.0 - o->mask_ratio)); /* MAE: int(L * (1 - mask_ratio)) */
    if (j->n_patches > PRETEXT_MAX_PATCHES || j->n_keep < 1 || j->n_keep >= j->n_patches)
      return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': mask_ratio %g of %d patches leaves %d visible; need 1 to %d",
                       ctx->exp->file, s->name, o->mask_ratio, j->n_patches, j->n_keep, j->n_patches - 1);
    const int64_t N = j->n_patches;
    j->visible = malloc((size_t)(B * j->n_keep) * sizeof(int32_t));
    j->restore = malloc((size_t)(B * N) * sizeof(int32_t));
    j->mask = malloc((size_t)(B * N));
    j->targets = malloc((size_t)(B * numel) * sizeof(float));
    if (!j->visible || !j->restore || !j->mask || !j->targets) return lbbt_fail(LBBT_E_NOMEM, "ssl: out of memory");
    LBBT_TRY(build_decoder(j, m->dim, ds->channels, seed));
  }
  lbbt_optim_config oc;
  lbbt_optim_config_from_stage(&oc, s);
  LBBT_TRY(lbbt_optim_create_for_model(&j->opt, &oc, m));
  for (int i = 0; i < j->aux->n_params; i++) {
    lbbt_param *p = &j->aux->params[i];
    LBBT_TRY(lbbt_tensor_require_grad(p->t));
    p->trainable = 1;
    LBBT_TRY(lbbt_optim_add_param(j->opt, p->name, p->t, p->no_decay));
  }
  return LBBT_OK;
}

static lbbt_status train(ssl_job *j) {
  lbbt_stage_ctx *ctx = j->ctx;
  const lbbt_stage_spec *s = ctx->stage;
  lbbt_model *m = ctx->model;
  LBBT_TRY(lbbt_model_select_trainable(m, &s->train_layers, s->train_embed, s->train_head));
  LBBT_TRY(setup(j));
  LBBT_TRY(lbbt_stage_scalar(ctx, "trainable_params", (double)lbbt_model_numel(m, 1)));
  LBBT_TRY(lbbt_stage_scalar(ctx, "pretext_params", (double)lbbt_model_numel(j->aux, 0)));
  LBBT_TRY(lbbt_stage_options_record(ctx, &OPTIONS));
  const int n_extra = j->aux->n_params;
  lbbt_tensor **extra = malloc((size_t)n_extra * sizeof *extra);
  const char **names = malloc((size_t)n_extra * sizeof *names);
  lbbt_tape *tape = NULL;
  lbbt_status st = extra && names ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "ssl: out of memory");
  for (int i = 0; st == LBBT_OK && i < n_extra; i++) {
    extra[i] = j->aux->params[i].t;
    names[i] = j->aux->params[i].name;
  }
  if (st == LBBT_OK) st = lbbt_tape_create(&tape);
  m->drop_path = (float)s->drop_path;
  if (st == LBBT_OK) {
    lbbt_train_loop loop = {0};
    loop.ctx = ctx;
    loop.opt = j->opt;
    loop.tape = tape;
    loop.epochs = s->epochs;
    loop.steps_per_epoch = lbbt_batcher_num_batches(j->views[0]);
    loop.lr = s->lr;
    loop.warmup_epochs = s->warmup_epochs;
    loop.clip = s->clip;
    loop.checkpoint = 1;
    loop.extra = extra;
    loop.extra_names = names;
    loop.n_extra = n_extra;
    loop.user = j;
    loop.batch = batch_loss;
    loop.begin_epoch = begin_epoch;
    loop.end_epoch = end_epoch;
    st = lbbt_train_loop_run(&loop);
  }
  m->drop_path = 0;
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "epochs", s->epochs);
  lbbt_tape_free(tape);
  free(extra);
  free(names);
  return st;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  ssl_job j = {0};
  j.ctx = ctx;
  j.o = opts(ctx->stage);
  lbbt_status st = train(&j);
  job_free(&j);
  return st;
}

/* The run's vision model (its own head unused: the pretext head is the task's), images
 * without targets.  Its effect on the model is a function of the configuration (every
 * draw is seeded), so a later run may reuse the stage. */
static lbbt_status needs(const lbbt_stage_spec *s, lbbt_task_needs *out) {
  (void)s;
  out->what = LBBT_NEED_VISION_MODEL | LBBT_NEED_IMAGE_DATA;
  out->targets = LBBT_TARGETS_NONE;
  out->cacheable = 1;
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
    .name = PLUGIN_NAME,
    .summary = "self-supervised pretraining by a pretext task: rotation, mae or simclr (Table 7's baselines)",
    .task = &TASK_OPS,
    .options = &OPTIONS,
};
