/* Training and inference throughput of lbbt on the reference workload (run by tools/bench;
 * not a test).
 *
 *   build/bench_train --dim 128 --layers 4 --heads 4 --batch 128 [--seconds 8]
 *   build/bench_train --sgemm [--size 1024]
 *   build/bench_train --lm [--dim 128 --layers 4 --heads 4 --batch 32 --context 128]
 *                     [--seconds 8] [--plugins DIR]
 *
 * Workload: a ViT-style classifier of GPT-2 blocks (tests/unit/vit_gpt2.h: patch 4 on 28x28
 * single-channel images = 49 tokens, learned positions, bidirectional attention, MLP 4x, final
 * LayerNorm, mean pool, 10-class head), f32, cross-entropy, clip_grad_norm 1.0, AdamW
 * (lr 1e-3, wd 0.01 on the no-decay rule's complement).  Random images and labels: the
 * speed does not depend on the data.
 *
 * Output: one line "RESULT key=value ..." (parsed by tools/bench) with
 *   train_img_s, infer_img_s        images per second (steady state, after warm-up steps)
 *   train_gflops, infer_gflops      achieved GFLOP/s counting matmul FLOPs only (below)
 *   fwd_mflop_per_img               the analytic forward count
 *   peak_rss_mb                     getrusage max RSS of the process
 *   tape_reserved_mb, tape_used_mb  activation arena after a training step
 *                                   (lbbt_tape_bytes_reserved / _used)
 *   train_img_cpu_s, infer_img_cpu_s  images per CPU-second of the process (all threads):
 *                                   the work per image, comparable on a loaded machine
 * and with --sgemm the best-of-N GFLOP/s of oneDNN's dnnl_sgemm on size^3 (the ceiling).
 *
 * FLOPs (multiply-adds count 2), per image, N tokens, C dim, L blocks, P patch, Cin, K classes:
 *   patch conv 2 N C Cin P^2;  per block: qkv 6 N C^2, scores and P@V 4 N^2 C, attn proj
 *   2 N C^2, MLP 16 N C^2  => 24 N C^2 + 4 N^2 C;  head 2 C K.
 * A training step counts 3x the forward (backward = 2 matmuls per forward matmul).
 *
 * --lm: the cpu tier's language model of `make models` (experiments/lm-pretrain.yaml: GPT-2,
 * byte vocabulary 257, context 128, 32 windows per step), built the way the lm-pretrain task
 * builds it: the gpt2 backbone plugin's create_language (loaded from DIR, default the
 * plugins/ folder next to this binary), forward_language with causal attention and the tied
 * head, cross-entropy over all B*T positions, backward, clip_grad_norm 1.0, the finite check,
 * AdamW (the stage's lr 0.004 and weight decay 0.1), zero grads.  Random token ids.  Training
 * only; prints train_tok_s, train_tok_cpu_s, train_gflops, peak RSS and the tape figures.
 * FLOPs per token (T context, V vocab): L (24 C^2 + 4 T C) + 2 C V (the head; attention
 * counted over the full T x T scores, as the kernels compute them). */
#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "lbbt/isa.h"
#include "lbbt/ops.h"
#include "lbbt/optim.h"
#include "lbbt/plugin.h"
#include "lbbt/rng.h"
#include "lbbt/tokenizer.h"
#include "vit_gpt2.h"

enum { IMAGE = 28, PATCH = 4, CLASSES = 10, WARMUP_STEPS = 2, MIN_STEPS = 3 };

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU seconds of the whole process (all threads): work done, whatever the machine's load. */
static double cpu_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double peak_rss_mb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0; /* KiB on Linux */
}

static double forward_flops_per_image(int C, int L) {
  const double N = (double)(IMAGE / PATCH) * (IMAGE / PATCH);
  double f = 2.0 * N * C * 1 * PATCH * PATCH;
  f += L * (24.0 * N * C * C + 4.0 * N * N * C);
  f += 2.0 * C * CLASSES;
  return f;
}

static int run_sgemm(int n, int reps) {
  float *a = malloc((size_t)n * n * sizeof *a), *b = malloc((size_t)n * n * sizeof *b),
        *c = malloc((size_t)n * n * sizeof *c);
  if (!a || !b || !c) return 1;
  lbbt_rng r;
  lbbt_rng_seed(&r, 1);
  for (int64_t i = 0; i < (int64_t)n * n; i++) {
    a[i] = (float)lbbt_rng_uniform(&r);
    b[i] = (float)lbbt_rng_uniform(&r);
  }
  double best = 1e30;
  for (int i = 0; i < reps + 1; i++) { /* the first call warms up (JIT kernels, pages) */
    double t0 = now_s();
    if (dnnl_sgemm('N', 'N', n, n, n, 1.0f, a, n, b, n, 0.0f, c, n) != dnnl_success) return 1;
    double dt = now_s() - t0;
    if (i > 0 && dt < best) best = dt;
  }
  const dnnl_version_t *v = dnnl_version();
  printf("RESULT impl=lbbt sgemm_n=%d sgemm_gflops=%.1f onednn=%d.%d.%d onednn_isa=0x%x "
         "onednn_isa_name=%s kernel_isa=%s\n",
         n, 2.0 * n * n * n / best * 1e-9, v->major, v->minor, v->patch,
         (unsigned)dnnl_get_effective_cpu_isa(), lbbt_isa_onednn(), lbbt_isa_name(lbbt_isa_active()));
  free(a);
  free(b);
  free(c);
  return 0;
}

static int fail(const char *what) {
  fprintf(stderr, "bench_train: %s: %s\n", what, lbbt_last_error());
  return 1;
}

/* One training step: forward, loss, backward, clip, AdamW, zero grads. */
static lbbt_status train_step(vit_gpt2 *g, lbbt_tape *t, lbbt_optim *o, lbbt_tensor *images,
                              const int32_t *labels) {
  lbbt_tensor *logits, *loss;
  double norm;
  lbbt_tape_reset(t);
  LBBT_TRY(lbbt_vision_forward(g->m, &g->v, t, images, NULL, &logits));
  LBBT_TRY(lbbt_cross_entropy(t, logits, labels, 0.0f, &loss));
  LBBT_TRY(lbbt_tape_backward(t, loss));
  LBBT_TRY(lbbt_optim_clip_grad_norm(o, 1.0, &norm));
  LBBT_TRY(lbbt_optim_step(o));
  lbbt_optim_zero_grad(o);
  return LBBT_OK;
}

/* ---- --lm: the lm-pretrain task's language model ----------------------------------------- */
typedef struct lm_bench {
  lbbt_model *m;
  lbbt_optim *o;
  lbbt_tape *t;
  int32_t *inputs, *targets; /* [B * T] */
  int64_t B, T;
} lm_bench;

/* As plugins/tasks/lm_pretrain.c's train_step, minus the lr schedule (a constant lr costs
 * the same). */
static lbbt_status lm_train_step(lm_bench *b) {
  lbbt_tensor *logits, *flat, *loss;
  double norm;
  lbbt_tape_reset(b->t);
  LBBT_TRY(b->m->ops->forward_language(b->m, b->t, b->inputs, b->B, b->T, NULL, &logits));
  int64_t shape[2] = {b->B * b->T, b->m->vocab_size};
  LBBT_TRY(lbbt_reshape(b->t, logits, 2, shape, &flat));
  LBBT_TRY(lbbt_cross_entropy(b->t, flat, b->targets, 0.0f, &loss));
  LBBT_TRY(lbbt_tape_backward(b->t, loss));
  LBBT_TRY(lbbt_optim_clip_grad_norm(b->o, 1.0, &norm));
  LBBT_TRY(lbbt_optim_check_finite(b->o));
  LBBT_TRY(lbbt_optim_step(b->o));
  lbbt_optim_zero_grad(b->o);
  return LBBT_OK;
}

static void add_option(lbbt_backbone_spec *spec, const char *key, int value) {
  lbbt_option *o = &spec->options[spec->n_options++];
  snprintf(o->key, sizeof o->key, "%s", key);
  snprintf(o->value, sizeof o->value, "%d", value);
}

static int run_lm(const char *plugin_dir, int dim, int layers, int heads, int batch, int context,
                  double seconds) {
  lbbt_registry *reg = NULL;
  if (lbbt_registry_load(&reg, plugin_dir, NULL) != LBBT_OK) return fail("plugins");
  const lbbt_plugin *p = lbbt_registry_find(reg, LBBT_KIND_BACKBONE, "gpt2");
  if (!p || !p->backbone->create_language) {
    fprintf(stderr, "bench_train: no gpt2 backbone plugin with create_language in %s\n", plugin_dir);
    lbbt_registry_free(reg);
    return 1;
  }
  lbbt_backbone_spec spec;
  memset(&spec, 0, sizeof spec);
  snprintf(spec.plugin, sizeof spec.plugin, "gpt2");
  spec.init = LBBT_INIT_SCRATCH;
  add_option(&spec, "n_embd", dim);
  add_option(&spec, "n_layer", layers);
  add_option(&spec, "n_head", heads);
  lm_bench b = {.B = batch, .T = context};
  const int vocab = LBBT_TOKENIZER_BYTES_VOCAB;
  if (p->backbone->create_language(&spec, vocab, context, 0, &b.m) != LBBT_OK) return fail("build");
  if (lbbt_model_select_trainable(b.m, NULL, 1, 1) != LBBT_OK) return fail("select_trainable");
  b.m->drop_path = 0;
  lbbt_optim_config oc;
  lbbt_optim_config_default(&oc, LBBT_OPT_ADAMW);
  oc.lr = 0.004;
  oc.weight_decay = 0.1;
  if (lbbt_optim_create_for_model(&b.o, &oc, b.m) != LBBT_OK) return fail("optimizer");
  if (lbbt_tape_create(&b.t) != LBBT_OK) return fail("tape");
  b.inputs = malloc((size_t)(b.B * b.T) * sizeof *b.inputs);
  b.targets = malloc((size_t)(b.B * b.T) * sizeof *b.targets);
  if (!b.inputs || !b.targets) return fail("inputs");
  lbbt_rng r;
  lbbt_rng_seed(&r, 7);
  for (int64_t i = 0; i < b.B * b.T; i++) {
    b.inputs[i] = (int32_t)lbbt_rng_below(&r, vocab);
    b.targets[i] = (int32_t)lbbt_rng_below(&r, vocab);
  }

  for (int i = 0; i < WARMUP_STEPS; i++)
    if (lm_train_step(&b) != LBBT_OK) return fail("train step");
  double tape_reserved = (double)lbbt_tape_bytes_reserved(b.t) / (1 << 20);
  double tape_used = (double)lbbt_tape_bytes_used(b.t) / (1 << 20);
  int steps = 0;
  double t0 = now_s(), c0 = cpu_s(), elapsed = 0;
  while (steps < MIN_STEPS || elapsed < seconds) {
    if (lm_train_step(&b) != LBBT_OK) return fail("train step");
    steps++;
    elapsed = now_s() - t0;
  }
  const double tokens = (double)steps * (double)(b.B * b.T);
  double tok_s = tokens / elapsed, tok_cpu_s = tokens / (cpu_s() - c0);
  const double C = dim, T = context;
  double fwd = layers * (24.0 * C * C + 4.0 * T * C) + 2.0 * C * vocab; /* per token */
  printf("RESULT impl=lbbt lm=1 dim=%d layers=%d heads=%d batch=%d context=%d vocab=%d "
         "train_steps=%d train_tok_s=%.1f train_tok_cpu_s=%.1f fwd_mflop_per_tok=%.4f "
         "train_gflops=%.2f peak_rss_mb=%.1f tape_reserved_mb=%.1f tape_used_mb=%.1f "
         "params=%lld\n",
         dim, layers, heads, batch, context, vocab, steps, tok_s, tok_cpu_s, fwd * 1e-6,
         tok_s * 3 * fwd * 1e-9, peak_rss_mb(), tape_reserved, tape_used,
         (long long)lbbt_model_numel(b.m, 0));
  free(b.inputs);
  free(b.targets);
  lbbt_tape_free(b.t);
  lbbt_optim_free(b.o);
  lbbt_model_free(b.m); /* before the registry closes the plugin that owns its code */
  lbbt_registry_free(reg);
  return 0;
}

int main(int argc, char **argv) {
  int dim = 128, layers = 4, heads = 4, batch = 128, sgemm = 0, size = 1024, lm = 0;
  int context = 128, batch_given = 0;
  char plugin_dir[1024];
  { /* default: the plugins/ folder next to this binary (build/plugins for build/bench_train) */
    const char *slash = strrchr(argv[0], '/');
    int n = slash ? (int)(slash - argv[0]) : 1;
    snprintf(plugin_dir, sizeof plugin_dir, "%.*s/plugins", n, slash ? argv[0] : ".");
  }
  /* The kernels' level first, so that an LBBT_MAX_ISA cap also caps oneDNN (lbbt/isa.h). */
  if (lbbt_isa_check_env() != LBBT_OK) {
    fprintf(stderr, "bench_train: %s\n", lbbt_last_error());
    return 2;
  }
  (void)lbbt_isa_active();
  double seconds = 8.0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--sgemm")) { sgemm = 1; continue; }
    if (!strcmp(a, "--lm")) { lm = 1; continue; }
    if (!v) { fprintf(stderr, "bench_train: %s needs a value\n", a); return 2; }
    if (!strcmp(a, "--dim")) dim = atoi(v);
    else if (!strcmp(a, "--layers")) layers = atoi(v);
    else if (!strcmp(a, "--heads")) heads = atoi(v);
    else if (!strcmp(a, "--batch")) { batch = atoi(v); batch_given = 1; }
    else if (!strcmp(a, "--context")) context = atoi(v);
    else if (!strcmp(a, "--plugins")) snprintf(plugin_dir, sizeof plugin_dir, "%s", v);
    else if (!strcmp(a, "--seconds")) seconds = atof(v);
    else if (!strcmp(a, "--size")) size = atoi(v);
    else { fprintf(stderr, "bench_train: unknown option %s\n", a); return 2; }
    i++;
  }
  if (sgemm) return run_sgemm(size, 5);
  if (dim < 1 || layers < 1 || heads < 1 || batch < 1 || context < 2) {
    fprintf(stderr, "bench_train: --dim, --layers, --heads, --batch must be >= 1, --context >= 2\n");
    return 2;
  }
  if (lm) return run_lm(plugin_dir, dim, layers, heads, batch_given ? batch : 32, context, seconds);

  vit_gpt2_config c = {IMAGE, 1, PATCH, CLASSES, dim, heads, layers, 4, 1e-5f, 0};
  vit_gpt2 g;
  if (vit_gpt2_build(&c, 0, &g) != LBBT_OK) return fail("build");
  lbbt_tensor *images = NULL;
  int64_t ishape[4] = {batch, 1, IMAGE, IMAGE};
  int32_t *labels = malloc((size_t)batch * sizeof *labels);
  if (!labels || lbbt_tensor_create(&images, 4, ishape) != LBBT_OK) return fail("inputs");
  lbbt_rng r;
  lbbt_rng_seed(&r, 7);
  for (int64_t i = 0; i < images->numel; i++) images->data[i] = (float)lbbt_rng_normal(&r);
  for (int i = 0; i < batch; i++) labels[i] = (int32_t)lbbt_rng_below(&r, CLASSES);

  lbbt_optim_config oc;
  lbbt_optim_config_default(&oc, LBBT_OPT_ADAMW);
  lbbt_optim *o = NULL;
  lbbt_tape *t = NULL;
  if (lbbt_model_select_trainable(g.m, NULL, 1, 1) != LBBT_OK) return fail("select_trainable");
  lbbt_model_apply_no_decay_rule(g.m);
  if (lbbt_optim_create_for_model(&o, &oc, g.m) != LBBT_OK) return fail("optimizer");
  if (lbbt_tape_create(&t) != LBBT_OK) return fail("tape");

  /* training */
  for (int i = 0; i < WARMUP_STEPS; i++)
    if (train_step(&g, t, o, images, labels) != LBBT_OK) return fail("train step");
  double tape_reserved = (double)lbbt_tape_bytes_reserved(t) / (1 << 20);
  double tape_used = (double)lbbt_tape_bytes_used(t) / (1 << 20);
  int steps = 0;
  double t0 = now_s(), c0 = cpu_s(), elapsed = 0;
  while (steps < MIN_STEPS || elapsed < seconds) {
    if (train_step(&g, t, o, images, labels) != LBBT_OK) return fail("train step");
    steps++;
    elapsed = now_s() - t0;
  }
  double train_img_s = steps * (double)batch / elapsed;
  double train_img_cpu_s = steps * (double)batch / (cpu_s() - c0);

  /* inference: nothing recorded, eval mode */
  lbbt_tape_set_recording(t, 0);
  lbbt_tape_set_training(t, 0);
  lbbt_tensor *logits;
  for (int i = 0; i < WARMUP_STEPS; i++) {
    lbbt_tape_reset(t);
    if (lbbt_vision_forward(g.m, &g.v, t, images, NULL, &logits) != LBBT_OK) return fail("infer");
  }
  int passes = 0;
  t0 = now_s();
  c0 = cpu_s();
  elapsed = 0;
  while (passes < MIN_STEPS || elapsed < seconds / 2) {
    lbbt_tape_reset(t);
    if (lbbt_vision_forward(g.m, &g.v, t, images, NULL, &logits) != LBBT_OK) return fail("infer");
    passes++;
    elapsed = now_s() - t0;
  }
  double infer_img_s = passes * (double)batch / elapsed;
  double infer_img_cpu_s = passes * (double)batch / (cpu_s() - c0);

  double fwd = forward_flops_per_image(dim, layers);
  printf("RESULT impl=lbbt dim=%d layers=%d heads=%d batch=%d train_steps=%d train_img_s=%.2f "
         "infer_img_s=%.2f fwd_mflop_per_img=%.3f train_gflops=%.2f infer_gflops=%.2f "
         "peak_rss_mb=%.1f tape_reserved_mb=%.1f tape_used_mb=%.1f params=%lld "
         "train_img_cpu_s=%.2f infer_img_cpu_s=%.2f\n",
         dim, layers, heads, batch, steps, train_img_s, infer_img_s, fwd * 1e-6,
         train_img_s * 3 * fwd * 1e-9, infer_img_s * fwd * 1e-9, peak_rss_mb(), tape_reserved,
         tape_used, (long long)lbbt_model_numel(g.m, 0), train_img_cpu_s, infer_img_cpu_s);
  lbbt_tape_free(t);
  lbbt_optim_free(o);
  lbbt_tensor_free(images);
  free(labels);
  vit_gpt2_free(&g);
  return 0;
}
