/* Task plugin `detr`: object detection with a DETR-form set-prediction detector whose
 * transformer is borrowed from the run's backbone (Section 6 and Table 6 of the paper:
 * "Language Bias DETR" copies GPT-2's blocks into every encoder and decoder layer and
 * initialises the decoder's cross-attention from GPT-2's attention weights; "DETR" is the
 * same architecture from scratch).
 *
 * The model (lbbt/set_detector.h): conv stem -> 1x1 projection -> encoder of the backbone's
 * first enc_layers blocks -> decoder whose layer i is the backbone's block i (its self-
 * attention and MLP) followed by cross-attention (copied from that block's attention, or
 * fresh) -> class head with a no-object class and sigmoid box head on every decoder layer.
 * Blocks come from lbbt_borrow_blocks with the run's backbone spec and seed, so the init
 * modes (scratch, language and the controls shuffled / moment-matched / scratch-rescaled)
 * are the same as every other task's.  Loss: DETR's set criterion (Hungarian matching with
 * costs class / L1 / GIoU, cross-entropy with the no-object class at eos_coef, L1 and GIoU
 * losses), with auxiliary decoding losses.  Trained by the core training loop (schedule,
 * clipping, checkpoints and resume: the task's own model travels as checkpoint extras, with
 * the stem's batch-norm running statistics).
 *
 * Evaluation (after the last epoch), on the test split: DETR's post-processing (per query,
 * score and class = the most probable real class; every query is a detection) scored by
 * lbbt_coco_evaluate, COCOeval's 12 numbers, in percent, under "<stage>/": AP, AP50, AP75,
 * APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl (-1 where COCOeval gives -1: no ground
 * truth in that area range).  Area ranges: COCO's 32^2 / 96^2 scaled to the canvas
 * (area_ranges: canvas, the cpu tier's) or COCO's own (coco, the paper tier's).
 * Per epoch: train_loss (the summed loss, aux included), loss_ce, loss_bbox, loss_giou
 * (the last decoder layer's unweighted parts), lr, grad_norm, images_per_s, seconds.
 * Once: trainable_params, queries_used (max boxes per training image), eval_images, and for
 * the figure (tools/plot/figure-detections.py) the first figure_images test canvases:
 * figure/images f32 [N, H, W] (grey in [0, 1]), figure/gt f32 [M, 6] (image, x0, y0, x1,
 * y1, class), figure/det f32 [P, 7] (image, x0, y0, x1, y1, class, score; score >=
 * figure_min_score).
 *
 * export (a folder): also writes <export>/<run id>-instances.json (the test split's ground
 * truth, a COCO instances file) and <export>/<run id>-results.json (every detection, a COCO
 * results file), so pycocotools or any COCO tool can score lbbt's detections
 * (docs/detection.md).  Image ids are test indices + 1, category ids classes + 1. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lbbt/analysis_util.h"
#include "lbbt/block_stack.h"
#include "lbbt/coco_eval.h"
#include "lbbt/coco_json.h"
#include "lbbt/dist.h"
#include "lbbt/optim.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"
#include "lbbt/set_detector.h"
#include "lbbt/train.h"
#include "lbbt/train_loop.h"

#define PLUGIN_NAME "detr"
#define MAX_DEC 64 /* decoder layers: the per-layer output arrays live on the stack */

/* ---- options --------------------------------------------------------------------------- */
enum { CROSS_COPY = 0, CROSS_FRESH = 1 };
enum { AREA_CANVAS = 0, AREA_COCO = 1 };

typedef struct detr_options {
  int queries;                 /* Q object queries */
  int enc_layers, dec_layers;  /* borrowed blocks; 0 = every block of the backbone */
  int cross_init;              /* CROSS_COPY | CROSS_FRESH */
  int cross_heads;             /* 0 = the decoder blocks' query heads */
  int stem_channels;
  double eos_coef;
  double cost_class, cost_bbox, cost_giou;
  double loss_ce, loss_bbox, loss_giou;
  int aux_loss;
  int area_ranges;             /* AREA_CANVAS | AREA_COCO */
  int eval_batch;
  char export_dir[LBBT_PATH_MAX];
  int figure_images;
  double figure_min_score;
} detr_options;

#define O detr_options
static const char *const CROSS_NAMES[] = {"copy", "fresh"};
static const char *const AREA_NAMES[] = {"canvas", "coco"};
static const lbbt_key KEYS[] = {
    {.name = "queries", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, queries), .def = "100", LBBT_KEY_RANGE(1, 10000),
     .doc = "object queries (predictions per image); at least the most objects an image has"},
    {.name = "enc_layers", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, enc_layers), .def = "0", LBBT_KEY_RANGE(0, 1000),
     .doc = "encoder layers: the backbone's first blocks; 0 = all of them"},
    {.name = "dec_layers", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, dec_layers), .def = "0", LBBT_KEY_RANGE(0, 1000),
     .doc = "decoder layers: the backbone's first blocks again, each + cross-attention; 0 = all"},
    {.name = "cross_init", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(O, cross_init), .def = "copy",
     LBBT_KEY_NAMES(CROSS_NAMES),
     .doc = "cross-attention: copy the decoder block's own attention weights (the paper) or fresh"},
    {.name = "cross_heads", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, cross_heads), .def = "0", LBBT_KEY_RANGE(0, 1024),
     .doc = "cross-attention heads; 0 = the decoder blocks' query heads"},
    {.name = "stem_channels", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, stem_channels), .def = "32",
     LBBT_KEY_RANGE(1, 4096), .doc = "the conv stem's first width (the second has twice as many)"},
    {.name = "eos_coef", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, eos_coef), .def = "0.1", LBBT_KEY_RANGE(0, 1),
     .flags = LBBT_KEY_MIN_EXCLUSIVE, .doc = "cross-entropy weight of the no-object class (DETR 0.1)"},
    {.name = "cost_class", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, cost_class), .def = "1", LBBT_KEY_RANGE(0, 1e6),
     .doc = "matching cost weight of the class probability (DETR 1)"},
    {.name = "cost_bbox", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, cost_bbox), .def = "5", LBBT_KEY_RANGE(0, 1e6),
     .doc = "matching cost weight of the L1 box distance (DETR 5)"},
    {.name = "cost_giou", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, cost_giou), .def = "2", LBBT_KEY_RANGE(0, 1e6),
     .doc = "matching cost weight of the GIoU (DETR 2)"},
    {.name = "loss_ce", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, loss_ce), .def = "1", LBBT_KEY_RANGE(0, 1e6),
     .doc = "loss weight of the cross-entropy (DETR 1)"},
    {.name = "loss_bbox", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, loss_bbox), .def = "5", LBBT_KEY_RANGE(0, 1e6),
     .doc = "loss weight of the L1 box loss (DETR 5)"},
    {.name = "loss_giou", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, loss_giou), .def = "2", LBBT_KEY_RANGE(0, 1e6),
     .doc = "loss weight of the GIoU loss (DETR 2)"},
    {.name = "aux_loss", .type = LBBT_KEY_BOOL, LBBT_KEY_FIELD(O, aux_loss), .def = "true",
     .doc = "add the loss of every decoder layer's outputs (DETR's auxiliary decoding losses)"},
    {.name = "area_ranges", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(O, area_ranges), .def = "canvas",
     LBBT_KEY_NAMES(AREA_NAMES),
     .doc = "small/medium/large bounds: COCO's scaled to the image side (canvas) or COCO's 32^2, 96^2 (coco)"},
    {.name = "eval_batch", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, eval_batch), .def = "64", LBBT_KEY_RANGE(1, 1 << 16),
     .doc = "test images per forward pass (memory only)"},
    {.name = "export", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, export_dir), .def = "",
     .doc = "folder for <run id>-instances.json and <run id>-results.json (COCO files); \"\" = none"},
    {.name = "figure_images", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, figure_images), .def = "8",
     LBBT_KEY_RANGE(0, 256), .doc = "test canvases whose boxes are recorded for figure-detections"},
    {.name = "figure_min_score", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, figure_min_score), .def = "0.3",
     LBBT_KEY_RANGE(0, 1), .doc = "the figure's detections: those scoring at least this"},
};
#undef O
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(detr_options, KEYS, "The DETR detector: queries, layers, cross-attention init, loss and evaluation.");

static const detr_options *opts(const lbbt_stage_spec *s) { return lbbt_stage_options(s); }

static lbbt_status option_fail(const lbbt_stage_spec *s, const char *file, const char *key, const char *fmt,
                               long long v) {
  const lbbt_option *o = lbbt_option_find(s->options, s->n_options, key);
  char what[256];
  snprintf(what, sizeof what, fmt, v);
  return lbbt_fail(LBBT_E_INPUT, "%s:%d:%d: stage '%s': %s: %s", file, o ? o->line : 0, o ? o->col : 0, s->name,
                   key, what);
}

static lbbt_status validate(const lbbt_stage_spec *s, const char *file) {
  if (s->batch_size < 1) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': batch_size must be >= 1", file, s->name);
  if (s->epochs < 1) return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': epochs must be >= 1", file, s->name);
  return LBBT_OK;
}

/* ---- the model ---------------------------------------------------------------------------- */
typedef struct detr_state {
  lbbt_stage_ctx *ctx;
  const detr_options *o;
  lbbt_model *model;
  lbbt_set_detector *det;
  lbbt_set_loss_config loss_cfg;
  lbbt_optim *opt;
  lbbt_tape *tape;
  lbbt_batcher *batcher;
  int image_side;
  float *images;             /* [B, C, S, S] */
  int32_t *labels;           /* [B * max boxes] */
  float *boxes;              /* [B * max boxes, 4] cxcywh in fractions */
  lbbt_set_target *targets;  /* [B] */
  lbbt_tensor **extra;       /* the model's parameters + the stem's running statistics */
  const char **extra_names;
  int n_extra;
  double ce, l1, giou, parts_weight; /* this epoch's running sums of the last layer's parts */
} detr_state;

static void state_free(detr_state *s) {
  lbbt_set_detector_free(s->det);
  lbbt_model_free(s->model);
  lbbt_optim_free(s->opt);
  lbbt_tape_free(s->tape);
  lbbt_batcher_free(s->batcher);
  free(s->images);
  free(s->labels);
  free(s->boxes);
  free(s->targets);
  free(s->extra);
  free(s->extra_names);
}

/* How many blocks the backbone has: a one-block borrow into a throwaway model says. */
static lbbt_status backbone_depth(lbbt_stage_ctx *ctx, uint64_t seed, int *depth) {
  lbbt_block_stack *probe = NULL;
  LBBT_TRY(lbbt_borrow_blocks(ctx->registry, &ctx->run->backbone, 1, seed, "probe.", 0, NULL, &probe));
  *depth = probe->n_backbone_blocks;
  lbbt_block_stack_free(probe);
  return LBBT_OK;
}

static const lbbt_model_ops NO_OPS = {.version = LBBT_MODEL_OPS_VERSION};

static lbbt_status build_model(detr_state *s) {
  lbbt_stage_ctx *ctx = s->ctx;
  const detr_options *o = s->o;
  const lbbt_dataset *ds = ctx->train;
  const char *file = ctx->exp->file;
  /* the blocks' seed is the runner's for the run's vision model, so borrowed blocks equal
   * what create_vision would give this run */
  uint64_t seed = ctx->run->seed + (uint64_t)ctx->run->backbone.init_seed_offset;
  if (ds->height != ds->width || ds->height % 8)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': detr wants square images whose side is a multiple of 8, "
                     "the data has %d x %d (set data.image_size or the canvas)", file, ctx->stage->name,
                     ds->height, ds->width);
  int64_t most = lbbt_dataset_max_boxes(ds);
  if (most > o->queries)
    return option_fail(ctx->stage, file, "queries", "an image of the training data has %lld objects, more than "
                       "the queries; raise queries (or lower the data's max_items)", (long long)most);
  int depth = 0, n_enc = o->enc_layers, n_dec = o->dec_layers;
  if (!n_enc || !n_dec) LBBT_TRY(backbone_depth(ctx, seed, &depth));
  if (!n_enc) n_enc = depth;
  if (!n_dec) n_dec = depth;
  if (n_dec > MAX_DEC)
    return option_fail(ctx->stage, file, "dec_layers", "%lld decoder layers, at most 64 are supported", (long long)n_dec);
  LBBT_TRY(lbbt_model_create(&s->model, &NO_OPS, "detr"));
  lbbt_block_stack *enc = NULL, *dec = NULL;
  LBBT_TRY(lbbt_borrow_blocks(ctx->registry, &ctx->run->backbone, n_enc, seed, "detr.encoder.", 0, s->model, &enc));
  lbbt_status st = lbbt_borrow_blocks(ctx->registry, &ctx->run->backbone, n_dec, seed, "detr.decoder.", n_enc,
                                      s->model, &dec);
  int heads = o->cross_heads;
  if (st == LBBT_OK && !heads) heads = dec->blocks[0].cfg.n_heads;
  lbbt_set_detector_config cfg = {ds->channels, ds->height, ds->num_classes, o->queries,
                                  o->stem_channels, heads, o->cross_init == CROSS_COPY};
  /* the detector's own tensors are seeded apart from the blocks' */
  if (st == LBBT_OK)
    st = lbbt_set_detector_create(&cfg, enc, dec, s->model, ctx->run->seed ^ lbbt_hash_str("detr-detector"),
                                  &s->det);
  if (st != LBBT_OK) {
    lbbt_block_stack_free(enc);
    lbbt_block_stack_free(dec);
    return st;
  }
  s->image_side = ds->height;
  return LBBT_OK;
}

/* ---- training ------------------------------------------------------------------------------ */
static lbbt_status begin_epoch(void *user, int epoch) {
  detr_state *s = user;
  lbbt_batcher_start_epoch(s->batcher, epoch);
  s->ce = s->l1 = s->giou = s->parts_weight = 0;
  return LBBT_OK;
}

/* Targets of samples [lo, hi) of the batch in the set loss's form: cxcywh fractions of the
 * image, crowds left out (DETR trains on non-crowd boxes only). */
static void batch_targets(detr_state *s, const lbbt_batch_targets *bt, int64_t lo, int64_t hi) {
  int64_t w = 0;
  for (int64_t j = lo; j < hi; j++) {
    lbbt_set_target *tg = &s->targets[j - lo];
    tg->labels = s->labels + w;
    tg->boxes = s->boxes + 4 * w;
    tg->n = 0;
    for (int64_t b = bt->box_start[j]; b < bt->box_start[j + 1]; b++) {
      const lbbt_box *x = &bt->boxes[b];
      if (x->iscrowd) continue;
      float xyxy[4] = {x->x0 / (float)bt->width, x->y0 / (float)bt->height, x->x1 / (float)bt->width,
                       x->y1 / (float)bt->height};
      lbbt_box_to_cxcywh(xyxy, s->boxes + 4 * w);
      s->labels[w++] = x->label;
      tg->n++;
    }
  }
}

static lbbt_status batch_loss(void *user, lbbt_tape *tape, int64_t step, lbbt_train_batch *out) {
  detr_state *s = user;
  const lbbt_dataset *ds = s->ctx->train;
  int64_t b = step % lbbt_batcher_num_batches(s->batcher);
  lbbt_batch_targets bt;
  LBBT_TRY(lbbt_batcher_get_targets(s->batcher, b, s->images, NULL, &bt));
  int64_t lo, hi;
  lbbt_train_shard(tape, bt.count, out, &lo, &hi);
  const int64_t n = hi - lo;
  if (n == 0) return LBBT_OK;
  batch_targets(s, &bt, lo, hi);
  lbbt_tensor *x, *logits[MAX_DEC], *boxes[MAX_DEC], *loss;
  int64_t shape[4] = {n, ds->channels, bt.height, bt.width};
  LBBT_TRY(lbbt_tape_input(tape, 4, shape, s->images + lo * lbbt_dataset_image_numel(ds), &x));
  LBBT_TRY(lbbt_set_detector_forward(tape, s->det, x, logits, boxes));
  lbbt_set_loss_parts parts;
  LBBT_TRY(lbbt_set_detector_loss(tape, s->det, logits, boxes, s->targets, &s->loss_cfg, s->o->aux_loss, &parts,
                                  &loss));
  s->ce += parts.ce * (double)n, s->l1 += parts.l1 * (double)n, s->giou += parts.giou * (double)n;
  s->parts_weight += (double)n;
  out->loss = loss;
  out->weight = (double)n;
  out->items = n;
  out->progress_metric = NAN;
  return LBBT_OK;
}

/* ---- evaluation ----------------------------------------------------------------------------- */
typedef struct eval_acc {
  const detr_state *s;
  lbbt_coco_det *det;
  int64_t n_det, cap;
} eval_acc;

/* DETR's PostProcess: per query, the most probable real class and its softmax probability
 * (the no-object class takes part in the softmax, not in the argmax); boxes to pixels. */
static lbbt_status eval_batch(lbbt_model *m, lbbt_tape *t, lbbt_tensor *images, const int32_t *labels,
                              int64_t start, int count, void *user) {
  (void)m, (void)labels;
  eval_acc *a = user;
  const lbbt_set_detector *d = a->s->det;
  lbbt_tensor *logits[MAX_DEC], *boxes[MAX_DEC];
  LBBT_TRY(lbbt_set_detector_forward(t, d, images, logits, boxes));
  const int L = d->decoder->n_blocks, Q = d->cfg.n_queries, K = d->cfg.num_classes;
  const double S = a->s->image_side;
  const lbbt_tensor *lg = logits[L - 1], *bx = boxes[L - 1];
  if (a->n_det + (int64_t)count * Q > a->cap) {
    int64_t cap = (a->n_det + (int64_t)count * Q) * 2;
    lbbt_coco_det *p = realloc(a->det, (size_t)cap * sizeof *p);
    if (!p) return lbbt_fail(LBBT_E_NOMEM, "detr evaluation: out of memory");
    a->det = p, a->cap = cap;
  }
  for (int i = 0; i < count; i++)
    for (int q = 0; q < Q; q++) {
      const float *l = lg->data + ((int64_t)i * Q + q) * (K + 1);
      const float *b = bx->data + ((int64_t)i * Q + q) * 4;
      double mx = l[0], z = 0;
      for (int k = 1; k <= K; k++) mx = fmax(mx, l[k]);
      for (int k = 0; k <= K; k++) z += exp(l[k] - mx);
      int best = 0;
      for (int k = 1; k < K; k++)
        if (l[k] > l[best]) best = k;
      lbbt_coco_det *o = &a->det[a->n_det++];
      o->image_id = start + i + 1;
      o->category_id = best + 1;
      o->score = exp(l[best] - mx) / z;
      o->bbox[0] = ((double)b[0] - 0.5 * b[2]) * S, o->bbox[1] = ((double)b[1] - 0.5 * b[3]) * S;
      o->bbox[2] = (double)b[2] * S, o->bbox[3] = (double)b[3] * S;
    }
  return LBBT_OK;
}

/* The test split's boxes as COCO ground truth, image ids 1..n, categories 1..K. */
static lbbt_status ground_truth(const lbbt_dataset *ds, lbbt_coco_gt **out, int64_t *n) {
  *n = ds->box_start[ds->n];
  *out = malloc((size_t)(*n > 0 ? *n : 1) * sizeof **out);
  if (!*out) return lbbt_fail(LBBT_E_NOMEM, "detr evaluation: out of memory");
  for (int64_t i = 0; i < ds->n; i++)
    for (int64_t b = ds->box_start[i]; b < ds->box_start[i + 1]; b++) {
      const lbbt_box *x = &ds->boxes[b];
      lbbt_coco_gt *g = &(*out)[b];
      g->image_id = i + 1, g->category_id = x->label + 1;
      g->bbox[0] = x->x0, g->bbox[1] = x->y0, g->bbox[2] = (double)x->x1 - x->x0, g->bbox[3] = (double)x->y1 - x->y0;
      g->area = -1; /* w * h, as a box-only annotation has */
      g->iscrowd = x->iscrowd;
    }
  return LBBT_OK;
}

static lbbt_status export_files(detr_state *s, const lbbt_coco_gt *gt, int64_t n_gt, const lbbt_coco_det *det,
                                int64_t n_det) {
  lbbt_stage_ctx *ctx = s->ctx;
  const lbbt_dataset *ds = ctx->test;
  const char *dir = s->o->export_dir;
  if (mkdir(dir, 0777) != 0) {
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
      return lbbt_fail(LBBT_E_IO, "detr export: cannot create the folder '%s' (option export of stage '%s')", dir,
                       ctx->stage->name);
  }
  lbbt_coco_image *images = malloc((size_t)ds->n * sizeof *images);
  lbbt_coco_category *cats = malloc((size_t)ds->num_classes * sizeof *cats);
  lbbt_status st = images && cats ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "detr export: out of memory");
  for (int64_t i = 0; st == LBBT_OK && i < ds->n; i++) images[i] = (lbbt_coco_image){i + 1, ds->width, ds->height, NULL};
  for (int k = 0; st == LBBT_OK && k < ds->num_classes; k++)
    cats[k] = (lbbt_coco_category){k + 1, ds->class_names ? ds->class_names[k] : NULL, NULL};
  char path[LBBT_PATH_MAX + 64], desc[512];
  snprintf(desc, sizeof desc, "lbbt run %s, stage %s: %s", ctx->run->id, ctx->stage->name,
           ds->source ? ds->source : "test split");
  if (st == LBBT_OK) {
    snprintf(path, sizeof path, "%s/%s-instances.json", dir, ctx->run->id);
    st = lbbt_coco_write_instances(path, desc, images, ds->n, cats, ds->num_classes, gt, n_gt);
  }
  if (st == LBBT_OK) {
    snprintf(path, sizeof path, "%s/%s-results.json", dir, ctx->run->id);
    st = lbbt_coco_write_results(path, det, n_det);
  }
  if (st == LBBT_OK)
    lbbt_progress_log(ctx->progress, "detr: COCO files -> %s/%s-{instances,results}.json", dir, ctx->run->id);
  free(images);
  free(cats);
  return st;
}

/* The first figure_images test canvases, their ground truth and confident detections. */
static lbbt_status record_figure(detr_state *s, const lbbt_coco_det *det, int64_t n_det) {
  const lbbt_dataset *ds = s->ctx->test;
  int64_t N = s->o->figure_images < ds->n ? s->o->figure_images : ds->n;
  if (N == 0) return LBBT_OK;
  const int64_t HW = (int64_t)ds->height * ds->width, M = ds->box_start[N];
  int64_t P = 0;
  for (int64_t i = 0; i < n_det; i++) P += det[i].image_id <= N && det[i].score >= s->o->figure_min_score;
  float *img = malloc((size_t)(N * HW) * sizeof *img), *g = malloc((size_t)(M > 0 ? M : 1) * 6 * sizeof *g);
  float *p = malloc((size_t)(P > 0 ? P : 1) * 7 * sizeof *p);
  lbbt_status st = img && g && p ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "detr figure: out of memory");
  if (st == LBBT_OK) {
    for (int64_t i = 0; i < N; i++) /* grey: the channels' mean (pixels are [n, C, H, W]) */
      for (int64_t j = 0; j < HW; j++) {
        double v = 0;
        for (int c = 0; c < ds->channels; c++) v += ds->pixels[(i * ds->channels + c) * HW + j];
        img[i * HW + j] = (float)(v / (255.0 * ds->channels));
      }
    for (int64_t b = 0; b < M; b++) {
      int64_t i = 0;
      while (ds->box_start[i + 1] <= b) i++;
      const lbbt_box *x = &ds->boxes[b];
      float row[6] = {(float)i, x->x0, x->y0, x->x1, x->y1, (float)x->label};
      memcpy(g + 6 * b, row, sizeof row);
    }
    int64_t w = 0;
    for (int64_t i = 0; i < n_det; i++) {
      const lbbt_coco_det *d = &det[i];
      if (d->image_id > N || d->score < s->o->figure_min_score) continue;
      float row[7] = {(float)(d->image_id - 1), (float)d->bbox[0], (float)d->bbox[1], (float)(d->bbox[0] + d->bbox[2]),
                      (float)(d->bbox[1] + d->bbox[3]), (float)(d->category_id - 1), (float)d->score};
      memcpy(p + 7 * w++, row, sizeof row);
    }
  }
  int64_t si[3] = {N, ds->height, ds->width}, sg[2] = {M, 6}, sp[2] = {P, 7};
  if (st == LBBT_OK) st = lbbt_stage_array_f32(s->ctx, "figure/images", 3, si, img);
  if (st == LBBT_OK) st = lbbt_stage_array_f32(s->ctx, "figure/gt", 2, sg, g);
  if (st == LBBT_OK) st = lbbt_stage_array_f32(s->ctx, "figure/det", 2, sp, p);
  free(img);
  free(g);
  free(p);
  return st;
}

static lbbt_status evaluate(detr_state *s) {
  lbbt_stage_ctx *ctx = s->ctx;
  const lbbt_dataset *ds = ctx->test;
  if (ds->target != LBBT_TARGET_BOXES)
    return lbbt_fail(LBBT_E_INPUT, "detr: the test split of %s has no boxes", ctx->run->data.dataset);
  eval_acc a = {s, NULL, 0, 0};
  lbbt_coco_gt *gt = NULL;
  int64_t n_gt = 0;
  int64_t *image_ids = malloc((size_t)(ds->n > 0 ? ds->n : 1) * sizeof *image_ids);
  int64_t *cat_ids = malloc((size_t)ds->num_classes * sizeof *cat_ids);
  lbbt_coco_eval *ev = NULL;
  lbbt_status st = image_ids && cat_ids ? LBBT_OK : lbbt_fail(LBBT_E_NOMEM, "detr evaluation: out of memory");
  if (st == LBBT_OK) st = lbbt_eval_pass(s->model, ds, NULL, s->o->eval_batch, eval_batch, &a);
  if (st == LBBT_OK) st = ground_truth(ds, &gt, &n_gt);
  for (int64_t i = 0; st == LBBT_OK && i < ds->n; i++) image_ids[i] = i + 1;
  for (int k = 0; st == LBBT_OK && k < ds->num_classes; k++) cat_ids[k] = k + 1;
  lbbt_coco_params p = lbbt_coco_params_default(s->o->area_ranges == AREA_CANVAS ? (double)ds->width : 0.0);
  if (st == LBBT_OK) st = lbbt_coco_evaluate(gt, n_gt, a.det, a.n_det, image_ids, ds->n, cat_ids, ds->num_classes, &p, &ev);
  for (int k = 0; st == LBBT_OK && k < LBBT_COCO_N_STATS; k++) {
    double v = ev->stats[k];
    st = lbbt_stage_scalar(ctx, lbbt_coco_stat_name((lbbt_coco_stat)k), v < 0 ? v : 100.0 * v);
  }
  if (st == LBBT_OK) st = lbbt_stage_scalar(ctx, "eval_images", (double)ds->n);
  if (st == LBBT_OK) st = record_figure(s, a.det, a.n_det);
  if (st == LBBT_OK && s->o->export_dir[0]) st = export_files(s, gt, n_gt, a.det, a.n_det);
  if (st == LBBT_OK) {
    char line[256] = "";
    for (int k = 0; k < 6; k++) /* AP ... APl; "-" where COCOeval has no ground truth (-1) */
      snprintf(line + strlen(line), sizeof line - strlen(line), ev->stats[k] < 0 ? " %s -" : " %s %.2f",
               lbbt_coco_stat_name((lbbt_coco_stat)k), 100 * ev->stats[k]);
    lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s: COCO%s on %lld test images", ctx->run_index + 1,
                      ctx->n_runs, ctx->run->id, ctx->stage->name, line, (long long)ds->n);
  }
  lbbt_coco_eval_free(ev);
  free(a.det);
  free(gt);
  free(image_ids);
  free(cat_ids);
  return st;
}

static lbbt_status end_epoch(void *user, const lbbt_train_epoch *e) {
  detr_state *s = user;
  lbbt_stage_ctx *ctx = s->ctx;
  double sums[4] = {s->ce, s->l1, s->giou, s->parts_weight}; /* over every rank */
  LBBT_TRY(lbbt_dist_sum(sums, 4));
  double w = sums[3] > 0 ? sums[3] : 1, per_s = e->train_seconds > 0 ? (double)e->items / e->train_seconds : 0;
  LBBT_TRY(lbbt_stage_append(ctx, "train_loss", e->mean_loss));
  LBBT_TRY(lbbt_stage_append(ctx, "loss_ce", sums[0] / w));
  LBBT_TRY(lbbt_stage_append(ctx, "loss_bbox", sums[1] / w));
  LBBT_TRY(lbbt_stage_append(ctx, "loss_giou", sums[2] / w));
  LBBT_TRY(lbbt_stage_append(ctx, "lr", e->lr));
  LBBT_TRY(lbbt_stage_append(ctx, "grad_norm", e->grad_norm));
  LBBT_TRY(lbbt_stage_append(ctx, "images_per_s", per_s));
  LBBT_TRY(lbbt_stage_append(ctx, "seconds", lbbt_train_now() - e->started));
  lbbt_progress_log(ctx->progress, "run %d/%d %s stage %s epoch %d/%d: loss %.4f (ce %.4f, L1 %.4f, GIoU %.4f), "
                    "%.0f img/s", ctx->run_index + 1, ctx->n_runs, ctx->run->id, ctx->stage->name, e->epoch + 1,
                    e->epochs, e->mean_loss, sums[0] / w, sums[1] / w, sums[2] / w, per_s);
  /* The last epoch evaluates; the loop's checkpoint after this marks the stage done, so a
   * kill in between redoes the epoch (the export files are rewritten whole). */
  if (e->epoch + 1 == e->epochs) LBBT_TRY(evaluate(s));
  return LBBT_OK;
}

/* Checkpoint extras: every parameter (the model is the task's, not ctx->model) and the
 * stem's batch-norm running statistics (buffers the evaluation uses). */
static lbbt_status make_extras(detr_state *s) {
  static const char *const BN[4] = {"detector.stem.bn1.running_mean", "detector.stem.bn1.running_var",
                                    "detector.stem.bn2.running_mean", "detector.stem.bn2.running_var"};
  const lbbt_model *m = s->model;
  s->n_extra = m->n_params + 4;
  s->extra = malloc((size_t)s->n_extra * sizeof *s->extra);
  s->extra_names = malloc((size_t)s->n_extra * sizeof *s->extra_names);
  if (!s->extra || !s->extra_names) return lbbt_fail(LBBT_E_NOMEM, "detr: out of memory");
  for (int i = 0; i < m->n_params; i++) s->extra[i] = m->params[i].t, s->extra_names[i] = m->params[i].name;
  lbbt_tensor *bn[4] = {s->det->bn1_mean, s->det->bn1_var, s->det->bn2_mean, s->det->bn2_var};
  for (int i = 0; i < 4; i++) s->extra[m->n_params + i] = bn[i], s->extra_names[m->n_params + i] = BN[i];
  return LBBT_OK;
}

static lbbt_status train(detr_state *s) {
  lbbt_stage_ctx *ctx = s->ctx;
  const lbbt_stage_spec *st = ctx->stage;
  const lbbt_dataset *ds = ctx->train;
  const detr_options *o = s->o;
  s->loss_cfg = lbbt_set_loss_config_detr();
  s->loss_cfg.eos_coef = (float)o->eos_coef;
  s->loss_cfg.match = (lbbt_match_weights){o->cost_class, o->cost_bbox, o->cost_giou};
  s->loss_cfg.w_ce = (float)o->loss_ce, s->loss_cfg.w_l1 = (float)o->loss_bbox, s->loss_cfg.w_giou = (float)o->loss_giou;
  LBBT_TRY(lbbt_model_select_trainable(s->model, &st->train_layers, st->train_embed, st->train_head));
  LBBT_TRY(lbbt_stage_scalar(ctx, "trainable_params", (double)lbbt_model_numel(s->model, 1)));
  LBBT_TRY(lbbt_stage_scalar(ctx, "queries_used", (double)lbbt_dataset_max_boxes(ds)));
  lbbt_optim_config oc;
  lbbt_optim_config_from_stage(&oc, st);
  LBBT_TRY(lbbt_optim_create_for_model(&s->opt, &oc, s->model));
  lbbt_batcher_config bc = {0};
  bc.batch_size = st->batch_size;
  bc.shuffle = 1;
  bc.flip = ctx->run->data.flip;
  bc.crop_padding = ctx->run->data.crop_padding;
  bc.seed = ctx->run->seed;
  LBBT_TRY(lbbt_batcher_create(ds, &bc, &s->batcher));
  int64_t most = lbbt_dataset_max_boxes(ds), B = st->batch_size;
  s->images = malloc((size_t)B * (size_t)lbbt_dataset_image_numel(ds) * sizeof *s->images);
  s->labels = malloc((size_t)(B * (most > 0 ? most : 1)) * sizeof *s->labels);
  s->boxes = malloc((size_t)(B * (most > 0 ? most : 1)) * 4 * sizeof *s->boxes);
  s->targets = calloc((size_t)B, sizeof *s->targets);
  if (!s->images || !s->labels || !s->boxes || !s->targets) return lbbt_fail(LBBT_E_NOMEM, "detr: out of memory");
  LBBT_TRY(make_extras(s));
  LBBT_TRY(lbbt_tape_create(&s->tape));
  lbbt_train_loop loop = {0};
  loop.ctx = ctx;
  loop.opt = s->opt;
  loop.tape = s->tape;
  loop.epochs = st->epochs;
  loop.steps_per_epoch = lbbt_batcher_num_batches(s->batcher);
  loop.lr = st->lr;
  loop.warmup_epochs = st->warmup_epochs;
  loop.clip = st->clip;
  loop.checkpoint = 1;
  loop.extra = s->extra;
  loop.extra_names = s->extra_names;
  loop.n_extra = s->n_extra;
  loop.user = s;
  loop.batch = batch_loss;
  loop.begin_epoch = begin_epoch;
  loop.end_epoch = end_epoch;
  return lbbt_train_loop_run(&loop);
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  detr_state s;
  memset(&s, 0, sizeof s);
  s.ctx = ctx;
  s.o = opts(ctx->stage);
  if (ctx->train->target != LBBT_TARGET_BOXES)
    return lbbt_fail(LBBT_E_INPUT, "%s: stage '%s': detr needs a detection dataset (boxes), %s has %s targets",
                     ctx->exp->file, ctx->stage->name, ctx->run->data.dataset,
                     lbbt_target_kind_name(ctx->train->target));
  lbbt_status st = build_model(&s);
  if (st == LBBT_OK) st = lbbt_stage_options_record(ctx, &OPTIONS);
  if (st == LBBT_OK) st = train(&s);
  state_free(&s);
  return st;
}

/* Images with boxes and the run's backbone lending blocks; the task builds its own model.
 * Not cacheable: it would be a run's only (and last) stage. */
static lbbt_status needs(const lbbt_stage_spec *s, lbbt_task_needs *out) {
  (void)s;
  out->what = LBBT_NEED_IMAGE_DATA | LBBT_NEED_BLOCK_STACK;
  out->targets = LBBT_TARGETS_BOXES;
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
    .summary = "DETR object detection on blocks borrowed from the backbone (Table 6); COCO evaluation and export",
    .task = &TASK_OPS,
    .options = &OPTIONS,
};
