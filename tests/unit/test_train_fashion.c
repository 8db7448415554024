/* End-to-end training on real data: a small classifier of GPT-2 blocks (vit_gpt2.h: patch 4
 * on 28x28 = 49 tokens, learned positions, bidirectional attention, final LayerNorm, mean
 * pool, linear head) trained from scratch with AdamW on a 2,000-image class-balanced
 * Fashion-MNIST training subset must reach TEST_ACC_MIN top-1 accuracy on a 1,000-image
 * class-balanced test subset within EPOCHS epochs.  Everything goes through the library's
 * own pieces: lbbt_dataset_open (subsets), lbbt_batcher (shuffling), the tape, AdamW with the
 * no-decay rule, clip_grad_norm, a cosine schedule, top1_evaluate (plugins/tasks/shared).
 *
 * SKIPs when Fashion-MNIST is absent (Debian package dataset-fashion-mnist).
 *
 * MEASURED (seed 1): test accuracy by epoch with 1 thread 37.3, 45.8, 45.7, 51.7, 61.8, 64.5,
 * 67.7, 70.4, 71.3, 72.1, 73.0, 73.5% (train loss 0.53 at the end); with 2 threads the f32
 * rounding differs and it ends at 74.4%.  The pass mark is 68% after 12 epochs, 5.5 points
 * under the lower of the two, for runs whose rounding differs again (thread count, ISA);
 * PyTorch runs of the same recipe with other seeds ended at 72-74%.  75% is not reached in this
 * budget: the run is still improving (test loss falling) and PyTorch plateaus near 74% by
 * epoch 15 too (the 2,000-image subset is small for a ViT).
 * TIME: 30 s of CPU for the whole test (data loading, 12 epochs, 12 evaluations) with 1 or 2
 * threads, i.e. about 15-30 s of wall time on an idle 2-core machine.  Measured wall time on the
 * shared machine: 58 s at load 5 (OMP_WAIT_POLICY=PASSIVE), 80 s at load 12 with 1 thread; with
 * 2 spinning OpenMP threads on an oversubscribed machine it is many times slower (see
 * docs/BENCH.md, "OpenMP under load").
 */
#include <time.h>

#include "lbbt/dataset.h"
#include "lbbt/optim.h"
#include "lbbt/spec.h"
#include "lbbt/train.h"
#include "shared/top1.h"
#include "test.h"
#include "vit_gpt2.h"

/* Under AddressSanitizer the full run would take minutes: a short run on a small subset still
 * drives every code path (data, batcher, tape, optimizer, evaluation) but the accuracy is not
 * checked. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED_BUILD 1
#else
#define SANITIZED_BUILD 0
#endif

/* Model and schedule (AdamW peak lr 5e-3 was the best of 1e-3 .. 8e-3 tried in PyTorch and
 * lbbt on this subset; batch 32; cosine to 1e-4 after 40 warm-up steps). */
enum { DIM = 64, HEADS = 4, BLOCKS = 2, PATCH = 4, BATCH = 32, EVAL_BATCH = 250 };
enum { EPOCHS = SANITIZED_BUILD ? 1 : 12 };
enum { TRAIN_IMAGES = SANITIZED_BUILD ? 200 : 2000, TEST_IMAGES = SANITIZED_BUILD ? 100 : 1000 };
static const double LR = 5e-3, MIN_LR = 1e-4, WEIGHT_DECAY = 0.05, CLIP = 1.0;
static const int WARMUP_STEPS = 40;
static const uint64_t SEED = 1;
/* Pass mark: test top-1 accuracy after EPOCHS epochs (see MEASURED in the header). */
static const double TEST_ACC_MIN = 68.0;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fashion_mnist_reaches_accuracy(void) {
  lbbt_data_spec spec = {0};
  snprintf(spec.dataset, sizeof spec.dataset, "fashion-mnist");
  spec.limit = TRAIN_IMAGES;
  spec.test_limit = TEST_IMAGES;
  char root[LBBT_PATH_MAX], probe[LBBT_PATH_MAX + 64];
  REQUIRE(lbbt_dataset_default_root("fashion-mnist", root, sizeof root) == LBBT_OK, "%s",
          lbbt_last_error());
  snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte.gz", root);
  if (!test_file_exists(probe)) {
    snprintf(probe, sizeof probe, "%s/train-images-idx3-ubyte", root);
    if (!test_file_exists(probe)) SKIP("Fashion-MNIST not found in %s (dataset-fashion-mnist)", root);
  }
  lbbt_dataset *train = NULL, *test = NULL;
  lbbt_batcher *bt = NULL;
  lbbt_optim *opt = NULL;
  lbbt_tape *tape = NULL;
  lbbt_tensor *images = NULL;
  int32_t *labels = NULL;
  vit_gpt2 g = {0};
  lbbt_status s = lbbt_dataset_open(&spec, 1, &train);
  if (s == LBBT_OK) s = lbbt_dataset_open(&spec, 0, &test);
  CHECK(s == LBBT_OK, "dataset: %s", lbbt_last_error());
  if (s != LBBT_OK) goto done;
  CHECK(train->n == TRAIN_IMAGES && test->n == TEST_IMAGES, "subset sizes %lld / %lld",
        (long long)train->n, (long long)test->n);

  vit_gpt2_config c = {28, 1, PATCH, 10, DIM, HEADS, BLOCKS, 4, 1e-5f, 0};
  lbbt_batcher_config bc = {0};
  bc.batch_size = BATCH;
  bc.shuffle = 1;
  bc.seed = SEED;
  lbbt_optim_config oc;
  lbbt_optim_config_default(&oc, LBBT_OPT_ADAMW);
  oc.lr = LR;
  oc.weight_decay = WEIGHT_DECAY;
  int64_t ishape[4] = {BATCH, 1, 28, 28};
  s = vit_gpt2_build(&c, SEED, &g);
  if (s == LBBT_OK) s = lbbt_model_select_trainable(g.m, NULL, 1, 1);
  if (s == LBBT_OK) lbbt_model_apply_no_decay_rule(g.m);
  if (s == LBBT_OK) s = lbbt_optim_create_for_model(&opt, &oc, g.m);
  if (s == LBBT_OK) s = lbbt_batcher_create(train, &bc, &bt);
  if (s == LBBT_OK) s = lbbt_tape_create(&tape);
  if (s == LBBT_OK) s = lbbt_tensor_create(&images, 4, ishape);
  labels = malloc(BATCH * sizeof *labels);
  CHECK(s == LBBT_OK && labels, "setup: %s", lbbt_last_error());
  if (s != LBBT_OK || !labels) goto done;
  lbbt_tape_seed(tape, SEED);

  const int64_t per_epoch = lbbt_batcher_num_batches(bt);
  lbbt_lr_schedule sched = {LBBT_SCHEDULE_COSINE, LR, MIN_LR, WARMUP_STEPS, per_epoch * EPOCHS};
  double t0 = now_s(), acc = 0, test_loss = 0;
  int64_t step = 0;
  for (int epoch = 0; epoch < EPOCHS; epoch++) {
    lbbt_batcher_start_epoch(bt, epoch);
    double loss_sum = 0;
    int64_t seen = 0;
    for (int64_t b = 0; b < per_epoch; b++, step++) {
      int count = 0;
      s = lbbt_batcher_get(bt, b, images->data, labels, NULL, &count);
      if (s != LBBT_OK) break;
      images->shape[0] = count; /* a kept partial batch (none with 2000 / 50) */
      images->numel = (int64_t)count * 28 * 28;
      lbbt_tape_reset(tape);
      lbbt_tensor *logits, *loss;
      double norm;
      lbbt_optim_set_lr(opt, lbbt_lr_at(&sched, step));
      s = lbbt_vision_forward(g.m, &g.v, tape, images, NULL, &logits);
      if (s == LBBT_OK) s = lbbt_cross_entropy(tape, logits, labels, 0.0f, &loss);
      if (s == LBBT_OK && !isfinite(loss->data[0]))
        s = lbbt_fail_nonfinite(tape, "fashion", step, loss->data[0]);
      if (s == LBBT_OK) s = lbbt_tape_backward(tape, loss);
      if (s == LBBT_OK) s = lbbt_optim_clip_grad_norm(opt, CLIP, &norm);
      if (s == LBBT_OK) s = lbbt_optim_step(opt);
      if (s != LBBT_OK) break;
      lbbt_optim_zero_grad(opt);
      loss_sum += loss->data[0] * count;
      seen += count;
    }
    CHECK(s == LBBT_OK, "epoch %d: %s", epoch, lbbt_last_error());
    if (s != LBBT_OK) goto done;
    s = top1_evaluate(g.m, test, NULL, EVAL_BATCH, &acc, &test_loss);
    CHECK(s == LBBT_OK, "evaluate: %s", lbbt_last_error());
    if (s != LBBT_OK) goto done;
    printf("# epoch %d: train loss %.4f, test acc %.1f%%, test loss %.4f, %.1f s\n", epoch + 1,
           loss_sum / (double)seen, acc, test_loss, now_s() - t0);
    fflush(stdout);
  }
  if (SANITIZED_BUILD)
    printf("# sanitizer build: short run on %d images, accuracy not checked\n", TRAIN_IMAGES);
  else
    CHECK(acc >= TEST_ACC_MIN, "test accuracy %.1f%% < %.1f%% after %d epochs", acc, TEST_ACC_MIN,
          EPOCHS);
done:
  free(labels);
  lbbt_tensor_free(images);
  lbbt_tape_free(tape);
  lbbt_batcher_free(bt);
  lbbt_optim_free(opt);
  vit_gpt2_free(&g);
  lbbt_dataset_free(train);
  lbbt_dataset_free(test);
}

TEST_MAIN_BEGIN("test_train_fashion")
  TEST_RUN(fashion_mnist_reaches_accuracy);
TEST_MAIN_END()
