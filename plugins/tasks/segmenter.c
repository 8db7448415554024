/* Task plugin `segmenter`: semantic segmentation with Segmenter (Strudel et al. 2021) whose
 * mask-transformer decoder is initialised from the run's backbone blocks (the paper's
 * Section 6, Table 9): a ViT encoder trained from scratch, the decoder's first
 * `decoder_layers` blocks borrowed from the backbone (lbbt_borrow_blocks: language weights,
 * scratch, or a control init, per backbone.init), class embeddings and projections as in
 * Segmenter (core/include/lbbt/mask_transformer.h).
 *
 * Training (the core loop, lbbt/train_loop.h): crops of `crop` pixels (random resized crops
 * of area scale_min..scale_max, random flip when data.flip), per-pixel cross-entropy with
 * ignore label 255, the stage's optimizer, lr, schedule, clipping.  Evaluation after the
 * last epoch on the test images: single-scale (the image at its size, sliding windows of
 * `crop` at `window_stride` where it is larger) and, with multi_scale, Segmenter's ratios
 * 0.5..1.75 plus flips, logits averaged at full resolution (lbbt/dense_inference.h); scores
 * exactly as mmseg computes them (lbbt/seg_metrics.h).
 *
 * Record, under "<stage>/": per epoch train_loss, lr, grad_norm, seconds; at the end
 * miou_ss, aacc_ss, macc_ss (and _ms), in percent as mmseg prints them, iou_ss / iou_ms per
 * class, miou_floor (the mIoU of predicting the test set's most frequent class everywhere:
 * the floor a model that learned nothing reaches), trainable_params, encoder_dim, decoder_dim,
 * and examples/{image,gt,pred_ss} for the first `figure_images` test images (figures).
 * With write_masks: DIR/<run id>/{pred,gt}/NNNNNN.png, 8-bit index PNGs (lbbt/png_mask.h) of
 * the single-scale predictions and the ground truth, so any mIoU tool can score them. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/analysis_util.h"
#include "lbbt/dense_inference.h"
#include "lbbt/dist.h"
#include "lbbt/mask_transformer.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/options.h"
#include "lbbt/plugin.h"
#include "lbbt/png_mask.h"
#include "lbbt/runner.h"
#include "lbbt/seg_metrics.h"
#include "lbbt/train.h"
#include "lbbt/train_loop.h"

#define PLUGIN_NAME "segmenter"

/* ---- options ------------------------------------------------------------------------------ */
enum { WIDTH_DECODER = 0, WIDTH_ENCODER = 1 };
typedef struct seg_options {
  int width;          /* which side takes the backbone's width */
  int encoder_dim, encoder_depth, encoder_heads, encoder_mlp;
  int decoder_layers; /* blocks borrowed from the backbone */
  int patch, crop, window_stride;
  double scale_min, scale_max;
  int multi_scale;
  int eval_images, eval_batch, figure_images;
  char write_masks[LBBT_PATH_MAX];
} seg_options;

#define O seg_options
static const char *const WIDTH_NAMES[] = {"decoder", "encoder"};
static const lbbt_key KEYS[] = {
    {.name = "width", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(O, width), .def = "decoder", LBBT_KEY_NAMES(WIDTH_NAMES),
     .doc = "decoder: the decoder at the backbone's width, the encoder at encoder_dim with projections in and out; "
            "encoder: the encoder at the backbone's width too (encoder_dim unused)"},
    {.name = "encoder_dim", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, encoder_dim), .def = "192",
     LBBT_KEY_RANGE(1, 8192), .doc = "ViT encoder width (Segmenter-T: 192)"},
    {.name = "encoder_depth", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, encoder_depth), .def = "12",
     LBBT_KEY_RANGE(1, 256), .doc = "ViT encoder blocks (Segmenter-T: 12)"},
    {.name = "encoder_heads", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, encoder_heads), .def = "3",
     LBBT_KEY_RANGE(1, 256), .doc = "ViT encoder heads (Segmenter-T: 3); must divide the encoder width"},
    {.name = "encoder_mlp", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, encoder_mlp), .def = "768",
     LBBT_KEY_RANGE(1, 65536), .doc = "ViT encoder MLP width (Segmenter-T: 768)"},
    {.name = "decoder_layers", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, decoder_layers), .def = "2",
     LBBT_KEY_RANGE(1, 256), .doc = "mask-transformer blocks, borrowed from the backbone's first blocks (Segmenter: 2)"},
    {.name = "patch", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, patch), .def = "16", LBBT_KEY_RANGE(1, 1024),
     .doc = "encoder patch side in pixels (Segmenter Mask/16: 16)"},
    {.name = "crop", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, crop), .def = "512", LBBT_KEY_RANGE(1, 8192),
     .doc = "training crop and inference window side, a multiple of patch (Segmenter on ADE20K: 512)"},
    {.name = "window_stride", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, window_stride), .def = "0",
     LBBT_KEY_RANGE(0, 8192), .doc = "sliding-window stride; 0 = two thirds of crop (mmseg: 341 for 512)"},
    {.name = "scale_min", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, scale_min), .def = "0.25",
     LBBT_KEY_RANGE(0.01, 1), .doc = "training crops cover this fraction of the image area at least"},
    {.name = "scale_max", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, scale_max), .def = "1.0",
     LBBT_KEY_RANGE(0.01, 1), .doc = "... and at most"},
    {.name = "multi_scale", .type = LBBT_KEY_BOOL, LBBT_KEY_FIELD(O, multi_scale), .def = "true",
     .doc = "also evaluate multi-scale: ratios 0.5..1.75 and flips, logits averaged (miou_ms)"},
    {.name = "eval_images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, eval_images), .def = "0",
     LBBT_KEY_RANGE(0, 100000000), .doc = "test images scored (the first N); 0 = all"},
    {.name = "eval_batch", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, eval_batch), .def = "16",
     LBBT_KEY_RANGE(1, 4096), .doc = "windows per forward pass at inference (memory only)"},
    {.name = "figure_images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, figure_images), .def = "4",
     LBBT_KEY_RANGE(0, 64), .doc = "test images whose input, ground truth and prediction go into the record"},
    {.name = "write_masks", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, write_masks), .def = "",
     .doc = "folder for PNG index masks of predictions and ground truth (DIR/<run id>/{pred,gt}/); \"\" = none"},
};
#undef O
static const lbbt_option_table OPTIONS = LBBT_OPTION_TABLE(seg_options, KEYS, "Segmenter's sizes, crops and inference.");

static const seg_options *opts(const lbbt_stage_spec *s) { return lbbt_stage_options(s); }

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  const seg_options *o = opts(s);
  if (s->epochs < 1) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': epochs must be >= 1", file, s->name);
  if (s->batch_size < 1) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': batch_size must be >= 1", file, s->name);
  if (o->crop % o->patch)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': crop %d is not a multiple of patch %d", file, s->name, o->crop,
                     o->patch);
  if (o->window_stride > o->crop)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': window_stride %d is larger than crop %d (pixels would be "
                     "skipped)", file, s->name, o->window_stride, o->crop);
  if (o->scale_min > o->scale_max)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': scale_min %g is above scale_max %g", file, s->name, o->scale_min,
                     o->scale_max);
  if (o->width == WIDTH_DECODER && o->encoder_dim % o->encoder_heads)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': encoder_heads %d does not divide encoder_dim %d", file, s->name,
                     o->encoder_heads, o->encoder_dim);
  return LBBT_OK;
}

/* ---- the stage's state --------------------------------------------------------------------- */
typedef struct seg_state {
  lbbt_stage_ctx *ctx;
  const seg_options *o;
  lbbt_model *model;         /* the task's own: encoder, borrowed decoder, head */
  lbbt_mask_transformer *net;
  lbbt_optim *opt;
  lbbt_batcher *batcher;
  lbbt_tape *tape;
  float *images;             /* [B, C, crop, crop] */
  lbbt_tensor **param_t;     /* the model's tensors, saved as checkpoint extras */
  const char **param_names;
} seg_state;

static void state_free(seg_state *s) {
  lbbt_mask_transformer_free(s->net);
  lbbt_model_free(s->model);
  lbbt_optim_free(s->opt);
  lbbt_batcher_free(s->batcher);
  lbbt_tape_free(s->tape);
  free(s->images);
  free(s->param_t);
  free(s->param_names);
}

/* ---- model --------------------------------------------------------------------------------- */
static lbbt_status build_model(seg_state *s) {
  lbbt_stage_ctx *ctx = s->ctx;
  const seg_options *o = s->o;
  static const lbbt_model_ops NO_OPS = {.version = LBBT_MODEL_OPS_VERSION};
  LBBT_TRY(lbbt_model_create(&s->model, &NO_OPS, PLUGIN_NAME));
  /* the decoder's blocks as the backbone's create_vision would build them for this seed */
  uint64_t seed = ctx->run->seed + (uint64_t)ctx->run->backbone.init_seed_offset;
  lbbt_block_stack *dec = NULL;
  LBBT_TRY(lbbt_borrow_blocks(ctx->registry, &ctx->run->backbone, o->decoder_layers, seed, "mask_transformer.decoder.",
                              o->encoder_depth, s->model, &dec));
  if (o->width == WIDTH_ENCODER && dec->dim % o->encoder_heads) {
    lbbt_block_stack_free(dec);
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': width: encoder puts the encoder at the backbone's width %d, "
                     "which encoder_heads %d does not divide", ctx->exp->file, ctx->stage->name, dec->dim,
                     o->encoder_heads);
  }
  const lbbt_dataset *tr = ctx->train;
  lbbt_mask_transformer_config cfg = {
      .in_channels = tr->channels, .crop = o->crop, .patch = o->patch, .num_classes = tr->num_classes,
      .enc_dim = o->width == WIDTH_ENCODER ? 0 : o->encoder_dim, .enc_depth = o->encoder_depth,
      .enc_heads = o->encoder_heads, .enc_mlp = o->encoder_mlp};
  /* the encoder and head from the run seed alone: every arm of a seed starts them alike */
  lbbt_status st = lbbt_mask_transformer_create(&cfg, dec, s->model, ctx->run->seed, &s->net);
  if (st != LBBT_OK) {
    lbbt_block_stack_free(dec);
    return st;
  }
  const lbbt_stage_spec *sp = ctx->stage;
  LBBT_TRY(lbbt_model_select_trainable(s->model, &sp->train_layers, sp->train_embed, sp->train_head));
  lbbt_model *m = s->model;
  s->param_t = malloc((size_t)m->n_params * sizeof *s->param_t);
  s->param_names = malloc((size_t)m->n_params * sizeof *s->param_names);
  if (!s->param_t || !s->param_names) return lbbt_fail(LBBT_E_NOMEM, "segmenter: out of memory");
  for (int i = 0; i < m->n_params; i++) s->param_t[i] = m->params[i].t, s->param_names[i] = m->params[i].name;
  return LBBT_OK;
}

/* ---- training ------------------------------------------------------------------------------ */
static lbbt_status begin_epoch(void *user, int epoch) {
  seg_state *s = user;
  lbbt_batcher_start_epoch(s->batcher, epoch);
  return LBBT_OK;
}

static lbbt_status batch_loss(void *user, lbbt_tape *tape, int64_t step, lbbt_train_batch *out) {
  seg_state *s = user;
  const lbbt_dataset *ds = s->ctx->train;
  const int S = s->o->crop;
  lbbt_batch_targets tg;
  LBBT_TRY(lbbt_batcher_get_targets(s->batcher, step % lbbt_batcher_num_batches(s->batcher), s->images, NULL, &tg));
  int64_t lo, hi;
  lbbt_train_shard(tape, tg.count, out, &lo, &hi);
  const int64_t n = hi - lo;
  if (n == 0) return LBBT_OK; /* more ranks than samples: this one only joins the allreduce */
  const int64_t numel = (int64_t)ds->channels * S * S;
  lbbt_tensor *x, *logits;
  LBBT_TRY(lbbt_tape_input(tape, 4, (int64_t[]){n, ds->channels, S, S}, s->images + lo * numel, &x));
  LBBT_TRY(lbbt_mask_transformer_forward(tape, s->net, x, &logits));
  LBBT_TRY(lbbt_pixel_cross_entropy(tape, logits, tg.masks + lo * S * S, &out->loss));
  out->weight = (double)n;
  out->items = n;
  out->progress_metric = NAN;
  return LBBT_OK;
}

/* ---- evaluation ---------------------------------------------------------------------------- */
static lbbt_status dense_forward(void *user, lbbt_tape *t, lbbt_tensor *images, lbbt_tensor **logits) {
  return lbbt_mask_transformer_forward(t, ((seg_state *)user)->net, images, logits);
}

/* Argmax over K of logits [K, HW] into pred u8 [HW]. */
static void argmax(const float *logits, int K, int64_t hw, uint8_t *pred) {
  for (int64_t p = 0; p < hw; p++) {
    int best = 0;
    for (int k = 1; k < K; k++)
      if (logits[k * hw + p] > logits[best * hw + p]) best = k;
    pred[p] = (uint8_t)best;
  }
}

/* mkdir -p for the PNG folders. */
static lbbt_status make_dirs(const char *path) {
  char buf[LBBT_PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || !*p) {
      char c = *p;
      *p = 0;
      if (mkdir(buf, 0777) != 0 && errno != EEXIST)
        return lbbt_fail(LBBT_E_IO, "segmenter: cannot create folder '%s' (write_masks): %s", buf, strerror(errno));
      if (!c) break;
      *p = c;
    }
  }
  return LBBT_OK;
}

static lbbt_status record_scores(lbbt_stage_ctx *ctx, const lbbt_seg_confusion *conf, const char *suffix, int K) {
  lbbt_seg_scores sc;
  double *iou = malloc((size_t)K * sizeof *iou);
  if (!iou) return lbbt_fail(LBBT_E_NOMEM, "segmenter: out of memory");
  lbbt_status st = lbbt_seg_confusion_scores(conf, iou, NULL, &sc);
  char key[64];
  snprintf(key, sizeof key, "miou_%s", suffix);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, key, 100 * sc.miou);
  snprintf(key, sizeof key, "aacc_%s", suffix);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, key, 100 * sc.aacc);
  snprintf(key, sizeof key, "macc_%s", suffix);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, key, 100 * sc.macc);
  float *f = (float *)iou; /* narrowed in place: f[i] is written after iou[i] is read */
  for (int i = 0; i < K; i++) f[i] = (float)(100 * iou[i]);
  snprintf(key, sizeof key, "iou_%s", suffix);
  if (st == LBBT_OK) st = lbbt_stage_array_f32(ctx, key, 1, (int64_t[]){K}, f);
  free(iou);
  return st;
}

/* The test set's most frequent ground-truth class predicted everywhere: mIoU in percent. */
static lbbt_status floor_miou(const lbbt_dataset *te, int64_t n, double *out) {
  const int K = te->num_classes;
  const int64_t hw = (int64_t)te->height * te->width;
  uint64_t *freq = calloc((size_t)K, sizeof *freq);
  uint8_t *pred = malloc((size_t)hw);
  lbbt_seg_confusion *c = NULL;
  lbbt_status st = freq && pred ? lbbt_seg_confusion_create(K, LBBT_MASK_IGNORE, &c)
                                : lbbt_fail(LBBT_E_NOMEM, "segmenter: out of memory");
  for (int64_t i = 0; st == LBBT_OK && i < n * hw; i++)
    if (te->masks[i] < K) freq[te->masks[i]]++;
  int best = 0;
  for (int k = 1; k < K; k++) best = freq[k] > freq[best] ? k : best;
  if (st == LBBT_OK) memset(pred, best, (size_t)hw);
  for (int64_t i = 0; st == LBBT_OK && i < n; i++) st = lbbt_seg_confusion_add_u8(c, pred, te->masks + i * hw, hw);
  lbbt_seg_scores sc;
  if (st == LBBT_OK) st = lbbt_seg_confusion_scores(c, NULL, NULL, &sc);
  if (st == LBBT_OK) *out = 100 * sc.miou;
  lbbt_seg_confusion_free(c);
  free(freq);
  free(pred);
  return st;
}

static lbbt_status evaluate(seg_state *s) {
  lbbt_stage_ctx *ctx = s->ctx;
  const seg_options *o = s->o;
  const lbbt_dataset *te = ctx->test;
  const int K = te->num_classes, C = te->channels, H = te->height, W = te->width;
  const int64_t hw = (int64_t)H * W, n = o->eval_images && o->eval_images < te->n ? o->eval_images : te->n;
  const int n_fig = (int)(o->figure_images < n ? o->figure_images : n);
  lbbt_dense_inference d = {dense_forward, s, C, K, o->crop, o->window_stride ? o->window_stride : o->crop * 2 / 3,
                            o->eval_batch};
  if (d.stride < 1) d.stride = 1;
  const double ratios[] = LBBT_SEGMENTER_MS_RATIOS;
  float *img = malloc((size_t)C * hw * sizeof *img), *lg = malloc((size_t)K * hw * sizeof *lg);
  uint8_t *pred = malloc((size_t)hw);
  float *fig_img = malloc(((size_t)n_fig * C * hw + 1) * sizeof *fig_img);
  int32_t *fig_gt = malloc(((size_t)n_fig * hw + 1) * sizeof *fig_gt), *fig_pred = malloc(((size_t)n_fig * hw + 1) * sizeof *fig_pred);
  lbbt_seg_confusion *ss = NULL, *ms = NULL;
  lbbt_status st = img && lg && pred && fig_img && fig_gt && fig_pred ? LBBT_OK
                                                                      : lbbt_fail(LBBT_E_NOMEM, "segmenter: out of memory");
  if (st == LBBT_OK) st = lbbt_seg_confusion_create(K, LBBT_MASK_IGNORE, &ss);
  if (st == LBBT_OK && o->multi_scale) st = lbbt_seg_confusion_create(K, LBBT_MASK_IGNORE, &ms);
  char dir[LBBT_PATH_MAX] = "", path[LBBT_PATH_MAX + 64];
  if (st == LBBT_OK && o->write_masks[0]) {
    snprintf(dir, sizeof dir, "%s/%s", o->write_masks, ctx->run->id);
    snprintf(path, sizeof path, "%s/pred", dir);
    st = make_dirs(path);
    snprintf(path, sizeof path, "%s/gt", dir);
    if (st == LBBT_OK) st = make_dirs(path);
  }
  lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s: scoring %lld test images (single-scale%s)", ctx->run_index + 1,
                    ctx->n_runs, ctx->run->id, ctx->stage->name, (long long)n, o->multi_scale ? " and multi-scale" : "");
  for (int64_t i = 0; st == LBBT_OK && i < n; i++) {
    const uint8_t *gt = te->masks + i * hw;
    lbbt_dataset_image_f32(te, i, img);
    st = lbbt_dense_slide(&d, s->tape, img, H, W, lg);
    if (st != LBBT_OK) break;
    argmax(lg, K, hw, pred);
    st = lbbt_seg_confusion_add_u8(ss, pred, gt, hw);
    if (st == LBBT_OK && i < n_fig) {
      memcpy(fig_img + i * C * hw, img, (size_t)C * hw * sizeof *img);
      for (int64_t p = 0; p < hw; p++) fig_gt[i * hw + p] = gt[p], fig_pred[i * hw + p] = pred[p];
    }
    if (st == LBBT_OK && dir[0]) {
      snprintf(path, sizeof path, "%s/pred/%06lld.png", dir, (long long)i);
      st = lbbt_png_mask_write(path, pred, H, W);
      snprintf(path, sizeof path, "%s/gt/%06lld.png", dir, (long long)i);
      if (st == LBBT_OK) st = lbbt_png_mask_write(path, gt, H, W);
    }
    if (st == LBBT_OK && ms) {
      st = lbbt_dense_multiscale(&d, s->tape, img, H, W, ratios, (int)(sizeof ratios / sizeof *ratios), 1, lg);
      if (st == LBBT_OK) argmax(lg, K, hw, pred);
      if (st == LBBT_OK) st = lbbt_seg_confusion_add_u8(ms, pred, gt, hw);
    }
  }
  lbbt_tape_set_recording(s->tape, 1);
  if (st == LBBT_OK) st = record_scores(ctx, ss, "ss", K);
  if (st == LBBT_OK && ms) st = record_scores(ctx, ms, "ms", K);
  double fl = 0;
  if (st == LBBT_OK) st = floor_miou(te, n, &fl);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "miou_floor", fl);
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "eval_images", (double)n);
  if (st == LBBT_OK && n_fig > 0) {
    st = lbbt_stage_array_f32(ctx, "examples/image", 4, (int64_t[]){n_fig, C, H, W}, fig_img);
    if (st == LBBT_OK) st = lbbt_stage_array_i32(ctx, "examples/gt", 3, (int64_t[]){n_fig, H, W}, fig_gt);
    if (st == LBBT_OK) st = lbbt_stage_array_i32(ctx, "examples/pred_ss", 3, (int64_t[]){n_fig, H, W}, fig_pred);
  }
  lbbt_seg_confusion_free(ss);
  lbbt_seg_confusion_free(ms);
  free(img), free(lg), free(pred), free(fig_img), free(fig_gt), free(fig_pred);
  return st;
}

static lbbt_status end_epoch(void *user, const lbbt_train_epoch *e) {
  seg_state *s = user;
  lbbt_stage_ctx *ctx = s->ctx;
  LBBT_TRY(lbbt_stage_append(ctx, "train_loss", e->mean_loss));
  LBBT_TRY(lbbt_stage_append(ctx, "lr", e->lr));
  LBBT_TRY(lbbt_stage_append(ctx, "grad_norm", e->grad_norm));
  LBBT_TRY(lbbt_stage_append(ctx, "seconds", lbbt_train_now() - e->started));
  lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s epoch %d/%d: train loss %.4f", ctx->run_index + 1,
                    ctx->n_runs, ctx->run->id, ctx->stage->name, e->epoch + 1, e->epochs, e->mean_loss);
  if (e->epoch + 1 < e->epochs) return LBBT_OK;
  return evaluate(s);
}

static lbbt_status train(seg_state *s) {
  lbbt_stage_ctx *ctx = s->ctx;
  const lbbt_stage_spec *sp = ctx->stage;
  const lbbt_dataset *tr = ctx->train;
  LBBT_TRY(build_model(s));
  lbbt_optim_config oc;
  lbbt_optim_config_from_stage(&oc, sp);
  LBBT_TRY(lbbt_optim_create_for_model(&s->opt, &oc, s->model));
  lbbt_batcher_config bc = {0};
  bc.batch_size = sp->batch_size;
  bc.shuffle = 1;
  bc.flip = ctx->run->data.flip;
  bc.seed = ctx->run->seed;
  bc.out_size = s->o->crop;
  bc.random_resized_crop = 1;
  bc.scale_min = s->o->scale_min;
  bc.scale_max = s->o->scale_max;
  LBBT_TRY(lbbt_batcher_create(tr, &bc, &s->batcher));
  s->images = malloc((size_t)sp->batch_size * tr->channels * s->o->crop * s->o->crop * sizeof *s->images);
  if (!s->images) return lbbt_fail(LBBT_E_NOMEM, "segmenter: out of memory");
  LBBT_TRY(lbbt_tape_create(&s->tape));
  LBBT_TRY(lbbt_stage_scalar(ctx, "trainable_params", (double)lbbt_model_numel(s->model, 1)));
  LBBT_TRY(lbbt_stage_scalar(ctx, "encoder_dim", s->net->cfg.enc_dim));
  LBBT_TRY(lbbt_stage_scalar(ctx, "decoder_dim", s->net->dim));
  LBBT_TRY(lbbt_stage_options_record(ctx, &OPTIONS));
  lbbt_train_loop loop = {0};
  loop.ctx = ctx;
  loop.opt = s->opt;
  loop.tape = s->tape;
  loop.epochs = sp->epochs;
  loop.steps_per_epoch = lbbt_batcher_num_batches(s->batcher);
  loop.lr = sp->lr;
  loop.warmup_epochs = sp->warmup_epochs;
  loop.clip = sp->clip;
  loop.checkpoint = 1;
  /* the model is the task's own, not ctx->model: its parameters travel as extras */
  loop.extra = s->param_t;
  loop.extra_names = s->param_names;
  loop.n_extra = s->model->n_params;
  loop.user = s;
  loop.batch = batch_loss;
  loop.begin_epoch = begin_epoch;
  loop.end_epoch = end_epoch;
  return lbbt_train_loop_run(&loop);
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  seg_state s = {0};
  s.ctx = ctx;
  s.o = opts(ctx->stage);
  if (ctx->train->target != LBBT_TARGET_MASK || ctx->test->target != LBBT_TARGET_MASK)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': the data carry no masks", ctx->exp->file, ctx->stage->name);
  lbbt_status st = train(&s);
  state_free(&s);
  return st;
}

/* Images with masks; the backbone lends the decoder's blocks; the task builds its own model. */
static lbbt_status needs(const lbbt_stage_spec *s, lbbt_task_needs *out) {
  (void)s;
  out->what = LBBT_NEED_IMAGE_DATA | LBBT_NEED_BLOCK_STACK;
  out->targets = LBBT_TARGETS_MASK;
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
    .summary = "semantic segmentation: Segmenter, mask-transformer decoder borrowed from the backbone (Table 9)",
    .task = &TASK_OPS,
    .options = &OPTIONS,
};
