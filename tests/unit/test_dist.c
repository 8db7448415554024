/* Data parallelism's single-process pieces (lbbt/dist.h): a batch's shards, drop-path masks
 * on a sharded tape (a rank drops exactly the samples one process drops), the allreduce of
 * one rank.  Two real ranks: tests/cli/mpi.sh. */
#include "lbbt/dist.h"
#include "lbbt/ops.h"
#include "lbbt/rng.h"
#include "lbbt/tensor.h"
#include "lbbt/train.h"
#include "test.h"

enum { B = 12, C = 5, SEED = 42 };
static const float DROP_P = 0.5f; /* half the samples dropped: a shifted mask would show */

static void test_one_rank(void) {
  REQUIRE(lbbt_dist_init(NULL, NULL) == LBBT_OK, "init: %s", lbbt_last_error());
  CHECK(lbbt_dist_rank() == 0 && lbbt_dist_size() == 1, "rank %d of %d", lbbt_dist_rank(), lbbt_dist_size());
  int64_t lo = -1, hi = -1;
  lbbt_dist_shard(B, &lo, &hi);
  CHECK(lo == 0 && hi == B, "shard [%lld, %lld) of %d", (long long)lo, (long long)hi, B);
  double v[2] = {1.5, -2};
  CHECK(lbbt_dist_sum(v, 2) == LBBT_OK && v[0] == 1.5 && v[1] == -2, "sum of one rank changed its values");
  CHECK(lbbt_dist_barrier() == LBBT_OK, "barrier");
  lbbt_dist_finalize();
}

/* y = drop_path(x) on samples [lo, lo + n) of a batch of B, the tape seeded as the task does */
static lbbt_status drop(const float *x, int64_t lo, int64_t n, int sharded, float *y) {
  lbbt_tape *t = NULL;
  LBBT_TRY(lbbt_tape_create(&t));
  if (sharded) lbbt_tape_set_batch_shard(t, lo, B);
  lbbt_rng_derive(lbbt_tape_rng(t), SEED, "drop-path", 3);
  lbbt_tensor *in = NULL, *out = NULL;
  int64_t shape[2] = {n, C};
  lbbt_status st = lbbt_tape_input(t, 2, shape, x + lo * C, &in);
  if (st == LBBT_OK) st = lbbt_drop_path(t, in, DROP_P, &out);
  if (st == LBBT_OK) memcpy(y, out->data, (size_t)(n * C) * sizeof *y);
  lbbt_tape_free(t);
  return st;
}

static void test_sharded_drop_path(void) {
  float x[B * C], whole[B * C], part[B * C];
  for (int i = 0; i < B * C; i++) x[i] = 1.0f + (float)i;
  REQUIRE(drop(x, 0, B, 0, whole) == LBBT_OK, "whole batch: %s", lbbt_last_error());
  int dropped = 0;
  for (int s = 0; s < B; s++) dropped += whole[s * C] == 0.0f;
  REQUIRE(dropped > 0 && dropped < B, "%d of %d samples dropped: the masks test nothing", dropped, B);
  /* shards as 2 and 3 ranks cut them, and an unsharded tape on a part (draws from its start) */
  const int64_t cuts[][2] = {{0, 6}, {6, 6}, {0, 4}, {4, 4}, {8, 4}, {5, 1}};
  for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
    int64_t lo = cuts[k][0], n = cuts[k][1];
    REQUIRE(drop(x, lo, n, 1, part) == LBBT_OK, "shard: %s", lbbt_last_error());
    for (int64_t i = 0; i < n * C; i++)
      CHECK(part[i] == whole[lo * C + i], "shard [%lld, %lld): value %lld is %g, the whole batch's %g",
            (long long)lo, (long long)(lo + n), (long long)i, part[i], whole[lo * C + i]);
  }
  /* without the shard a later part takes the first masks: the test can tell */
  REQUIRE(drop(x, 6, 6, 0, part) == LBBT_OK, "part: %s", lbbt_last_error());
  int differ = 0;
  for (int i = 0; i < 6 * C; i++) differ += part[i] != whole[6 * C + i];
  CHECK(differ > 0, "an unsharded part drew the same masks as its place in the batch (seed too lucky)");
}

TEST_MAIN_BEGIN("test_dist")
  TEST_RUN(test_one_rank);
  TEST_RUN(test_sharded_drop_path);
TEST_MAIN_END()
