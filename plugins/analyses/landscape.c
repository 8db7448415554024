/* Analysis plugin `landscape` (Figure 4): the training loss on a 2-D grid around the model's
 * current weights, along two filter-normalised random directions (Li et al. 2018; see
 * core/include/lbbt/landscape.h), on a fixed, recorded batch.
 *
 * Stage keys it reads: batch_size (images), and its own (typed, see KEYS; labels and
 * label_ratio: true, or random by the classification task's own rule):
 *   size         21      grid points per axis (size x size loss evaluations)
 *   span         1.0     the grid covers [-span, span]^2 in units of the directions
 *   params       all     all | blocks: the parameters the directions move
 *   seed         the run seed   batch choice and directions
 *   chunk        64      images per forward pass (memory only)
 *   label_stage  this stage     the classification stage whose random labels to reuse
 * Writes under "<stage>/": grid (f32 [size, size], grid[i][j] = L(alpha_i, beta_j): first
 * index along direction 1), alphas, loss (the centre), loss_min, loss_max, local_minima,
 * direction_norm_1/2, direction_cosine, loss_evals, seconds, batch_indices and the options. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lbbt/fixed_batch.h"
#include "lbbt/landscape.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/runner.h"

#define PLUGIN_NAME "landscape"

/* ---- options ---------------------------------------------------------------------------- */
typedef struct landscape_options {
  int labels; /* lbbt_label_mode */
  double label_ratio;
  int size;
  double span;
  char params[16];
  uint64_t seed;
  int chunk;
  char label_stage[LBBT_NAME_MAX];
} landscape_options;

#define O landscape_options
static const char *const LABEL_NAMES[] = {"true", "random"};
static const char *const PARAMS_NAMES[] = {"all", "blocks"};
static const lbbt_key KEYS[] = {
    {.name = "labels", .type = LBBT_KEY_ENUM, LBBT_KEY_FIELD(O, labels), .def = "true", LBBT_KEY_NAMES(LABEL_NAMES),
     .doc = "the loss's labels: true, or random by the classification task's rule (see label_stage)"},
    {.name = "label_ratio", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, label_ratio), .def = "1.0",
     LBBT_KEY_RANGE(0, 1), .doc = "fraction of labels replaced by random ones when labels is random"},
    {.name = "size", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, size), .def = "21", LBBT_KEY_RANGE(2, 1001),
     .doc = "grid points per axis (size x size loss evaluations)"},
    {.name = "span", .type = LBBT_KEY_NUMBER, LBBT_KEY_FIELD(O, span), .def = "1.0", LBBT_KEY_RANGE(0, 100),
     .flags = LBBT_KEY_MIN_EXCLUSIVE, .doc = "half-width of the grid in direction units"},
    {.name = "params", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, params), .def = "all",
     LBBT_KEY_NAMES(PARAMS_NAMES), .doc = "the parameters the directions move"},
    {.name = "seed", .type = LBBT_KEY_SEED, LBBT_KEY_FIELD(O, seed), .def = "0",
     .doc = "seed of the batch and directions (not written: the run seed)"},
    {.name = "chunk", .type = LBBT_KEY_INT, LBBT_KEY_FIELD(O, chunk), .def = "64", LBBT_KEY_RANGE(1, 1 << 20),
     .doc = "images per forward pass (memory only)"},
    {.name = "label_stage", .type = LBBT_KEY_STRING, LBBT_KEY_FIELD(O, label_stage), .def = "",
     .flags = LBBT_KEY_IDENT, .doc = "stage whose random labels to reuse (\"\" = this stage)"},
};
#undef O
static const lbbt_option_table OPTIONS =
    LBBT_OPTION_TABLE(landscape_options, KEYS, "The loss's labels and the grid.");

/* ---- run -------------------------------------------------------------------------------- */
typedef struct progress_state {
  lbbt_stage_ctx *ctx;
} progress_state;

static void on_progress(void *user, int done, int total) {
  progress_state *p = user;
  int row = (int)sqrt((double)total);
  if (row > 0 && done % row == 0)
    lbbt_progress_log(p->ctx->progress, "run %d/%d stage %s: landscape %d/%d", p->ctx->run_index + 1,
                      p->ctx->n_runs, p->ctx->stage->name, done, total);
}

/* Strict local minima of the grid (lower than all 8 neighbours; edges compare with the
 * neighbours they have): a coarse count of the "many local minima" the paper sees. */
static int local_minima(const double *g, int n) {
  int count = 0;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      int is_min = 1;
      for (int di = -1; di <= 1 && is_min; di++)
        for (int dj = -1; dj <= 1; dj++) {
          int a = i + di, b = j + dj;
          if ((di || dj) && a >= 0 && a < n && b >= 0 && b < n && g[a * n + b] <= g[i * n + j]) {
            is_min = 0;
            break;
          }
        }
      count += is_min;
    }
  return count;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static lbbt_status record_f32(lbbt_stage_ctx *ctx, const char *name, const double *v, int ndim, int64_t d0,
                              int64_t d1) {
  int64_t shape[2] = {d0, d1}, n = ndim == 2 ? d0 * d1 : d0;
  float *f = malloc((size_t)n * sizeof *f);
  if (!f) return lbbt_fail(LBBT_E_NOMEM, "landscape: out of memory");
  for (int64_t i = 0; i < n; i++) f[i] = (float)v[i];
  lbbt_status st = lbbt_stage_array_f32(ctx, name, ndim, shape, f);
  free(f);
  return st;
}

static lbbt_status run(lbbt_stage_ctx *ctx) {
  const lbbt_stage_spec *s = ctx->stage;
  double t0 = now_s();
  const landscape_options *o = lbbt_stage_options(s);
  int size = o->size;
  double span = o->span;
  int chunk = o->chunk;
  lbbt_obj_params which = LBBT_OBJ_PARAMS_ALL;
  LBBT_TRY(lbbt_obj_params_parse(o->params, &which));
  uint64_t seed = lbbt_stage_option_written(s, "seed") ? o->seed : ctx->run->seed;
  const char *label_stage = o->label_stage[0] ? o->label_stage : s->name;
  lbbt_fixed_batch *batch = NULL;
  LBBT_TRY(lbbt_fixed_batch_create(ctx->train, s->batch_size, (lbbt_label_mode)o->labels, o->label_ratio,
                                   lbbt_label_seed(ctx->run->seed, label_stage), seed, &batch));
  lbbt_model_objective *mo = NULL;
  double *d1 = NULL, *d2 = NULL, *grid = NULL, *alphas = NULL;
  lbbt_status st = lbbt_model_objective_create(ctx->model, batch->images, batch->labels, batch->n, batch->channels,
                                               batch->height, batch->width, chunk, which, &mo);
  if (st != LBBT_OK) goto done;
  lbbt_objective *obj = lbbt_model_objective_base(mo);
  int64_t n = obj->n;
  d1 = malloc((size_t)n * sizeof *d1);
  d2 = malloc((size_t)n * sizeof *d2);
  grid = malloc((size_t)size * (size_t)size * sizeof *grid);
  alphas = malloc((size_t)size * sizeof *alphas);
  if (!d1 || !d2 || !grid || !alphas) {
    st = lbbt_fail(LBBT_E_NOMEM, "landscape: out of memory for %lld parameters", (long long)n);
    goto done;
  }
  int nseg;
  const lbbt_param_segment *segs = lbbt_model_objective_segments(mo, &nseg);
  const double *theta0 = lbbt_model_objective_theta0(mo);
  LBBT_TRY_GOTO(st, lbbt_landscape_direction(segs, nseg, theta0, n, seed, 0, d1), done);
  LBBT_TRY_GOTO(st, lbbt_landscape_direction(segs, nseg, theta0, n, seed, 1, d2), done);
  lbbt_progress_log(ctx->progress,
                    "run %d/%d stage %s: loss landscape %dx%d over [-%g, %g]^2, %lld parameters (%s), %lld images, "
                    "%s labels",
                    ctx->run_index + 1, ctx->n_runs, s->name, size, size, span, span, (long long)n,
                    lbbt_obj_params_name(which), (long long)batch->n,
                    o->labels == LBBT_LABELS_RANDOM ? "random" : "true");
  double loss0;
  LBBT_TRY_GOTO(st, lbbt_objective_eval(obj, theta0, &loss0, NULL), done);
  progress_state ps = {ctx};
  LBBT_TRY_GOTO(st, lbbt_landscape_grid(obj, theta0, d1, d2, size, span, grid, on_progress, &ps), done);
  lbbt_landscape_alphas(size, span, alphas);
  double lo = INFINITY, hi = -INFINITY, n1 = 0, n2 = 0, dot = 0;
  for (int i = 0; i < size * size; i++) {
    lo = fmin(lo, grid[i]);
    hi = fmax(hi, grid[i]);
  }
  for (int64_t i = 0; i < n; i++) {
    n1 += d1[i] * d1[i];
    n2 += d2[i] * d2[i];
    dot += d1[i] * d2[i];
  }
  LBBT_TRY_GOTO(st, record_f32(ctx, "grid", grid, 2, size, size), done);
  LBBT_TRY_GOTO(st, record_f32(ctx, "alphas", alphas, 1, size, 0), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "loss", loss0), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "loss_min", lo), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "loss_max", hi), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "local_minima", local_minima(grid, size)), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "direction_norm_1", sqrt(n1)), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "direction_norm_2", sqrt(n2)), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "direction_cosine", n1 > 0 && n2 > 0 ? dot / sqrt(n1 * n2) : 0), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "params", (double)n), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "loss_evals", (double)obj->n_loss_evals), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "seconds", now_s() - t0), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "options/size", size), done);
  LBBT_TRY_GOTO(st, lbbt_stage_scalar(ctx, "options/span", span), done);
  LBBT_TRY_GOTO(st, lbbt_stage_string(ctx, "options/params", lbbt_obj_params_name(which)), done);
  char seed_text[32];
  snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)seed);
  LBBT_TRY_GOTO(st, lbbt_stage_string(ctx, "options/seed", seed_text),
                done);
  LBBT_TRY_GOTO(st, lbbt_stage_string(ctx, "label_mode", o->labels == LBBT_LABELS_RANDOM ? "random" : "true"), done);
  LBBT_TRY_GOTO(st, lbbt_stage_string(ctx, "label_stage", label_stage),
                done);
  int64_t shape[1] = {batch->n};
  LBBT_TRY_GOTO(st, lbbt_stage_array_i32(ctx, "batch_indices", 1,
                                          shape, batch->indices), done);
  lbbt_progress_log(ctx->progress, "run %d/%d stage %s: loss %.4f at the centre, [%.4f, %.4f] on the grid, %d local "
                    "minima, %.0f s",
                    ctx->run_index + 1, ctx->n_runs, s->name, loss0, lo, hi, local_minima(grid, size), now_s() - t0);
done:
  lbbt_model_objective_free(mo); /* puts the weights back */
  lbbt_fixed_batch_free(batch);
  free(d1);
  free(d2);
  free(grid);
  free(alphas);
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
    .summary = "loss landscape on a 2-D grid along filter-normalised random directions (Figure 4)",
    .task = &OPS,
    .options = &OPTIONS,
};
